//! Subresources: `status`, `scale`, `pods/binding`, `pods/eviction`,
//! `namespaces/finalize`, `certificatesigningrequests/approval`,
//! `pods/ephemeralcontainers`, and the node-agent routes (log, exec, attach,
//! port-forward, proxy) that answer clearly until a node agent exists.

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::meta::{self, meta_str};
use super::patch::{apply_patch, parse_patch, patch_type};
use super::write::{delete_object, guaranteed_update, DeleteOptions, UpdateKind};
use super::{json_response, raw_json_response, Ctx};
use crate::codec;
use crate::error::{ApiError, ApiResult};

pub async fn handle(ctx: Ctx, sub: &str) -> ApiResult<Response> {
    let Some(def) = ctx.def.subresource(sub).copied() else {
        return Err(ApiError::NotFound {
            subject: Default::default(),
            message: format!("the server could not find the requested resource ({} {}/{sub})", ctx.info.verb, ctx.def.plural),
        });
    };
    if !def.verbs.contains(&ctx.info.verb) {
        return Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({} {}/{sub})",
            ctx.info.verb, ctx.def.plural
        )));
    }
    match (sub, ctx.info.verb) {
        ("status" | "approval" | "ephemeralcontainers", "get") => get_main(ctx).await,
        ("status", "update" | "patch") => write_part(ctx, Part::Status).await,
        ("approval", "update" | "patch") => write_part(ctx, Part::Field("/status/conditions")).await,
        ("ephemeralcontainers", "update" | "patch") => write_part(ctx, Part::Field("/spec/ephemeralContainers")).await,
        ("finalize", "update") => write_part(ctx, Part::Field("/spec/finalizers")).await,
        ("scale", "get") => get_scale(ctx).await,
        ("scale", "update" | "patch") => write_scale(ctx).await,
        ("binding", "create") => bind(ctx).await,
        ("eviction", "create") => evict(ctx).await,
        ("log" | "exec" | "attach" | "portforward" | "proxy", _) => Err(ApiError::ServiceUnavailable {
            message: format!(
                "{}/{sub} needs a node agent (kubelet), which this cluster does not run yet",
                ctx.def.plural
            ),
        }),
        ("token", "create") => token_request(ctx).await,
        _ => Err(ApiError::method_not_allowed(format!("{} is not supported on {}/{sub}", ctx.info.verb, ctx.def.plural))),
    }
}

async fn get_main(ctx: Ctx) -> ApiResult<Response> {
    let name = ctx.name().to_string();
    let kv = ctx.state.store.get(&ctx.key(&name)).await?.ok_or_else(|| ctx.not_found(&name))?;
    Ok(json_response(StatusCode::OK, &meta::decode_stored(&ctx.def, &kv)?, &[]))
}

#[derive(Clone, Copy)]
enum Part {
    Status,
    /// Only this JSON pointer of the body is taken.
    Field(&'static str),
}

/// The new object a subresource write asks for, from the body or a patch.
fn desired(ctx: &Ctx, current: &Value) -> ApiResult<Value> {
    if ctx.info.verb == "patch" {
        let ty = patch_type(ctx)?;
        let patch = parse_patch(ctx, ty)?;
        let mut base = current.clone();
        if let Some(m) = base.get_mut("metadata").and_then(Value::as_object_mut) {
            m.remove("resourceVersion");
        }
        let patched = apply_patch(&ctx.def, ty, &base, &patch)?;
        Ok(meta::normalize_object(ctx, &ctx.def, patched, Vec::new())?.value)
    } else {
        Ok(meta::decode_object(ctx)?.value)
    }
}

async fn write_part(ctx: Ctx, part: Part) -> ApiResult<Response> {
    let dry_run = ctx.params.dry_run()?;
    let name = ctx.name().to_string();
    let kind = match part {
        Part::Status => UpdateKind::Status,
        Part::Field(_) => UpdateKind::Raw,
    };
    let updated = guaranteed_update(&ctx, &name, kind, dry_run, |current| {
        let current = current.ok_or_else(|| ctx.not_found(&name))?;
        let new = desired(&ctx, current)?;
        match part {
            Part::Status => Ok(new),
            Part::Field(ptr) => {
                let mut out = current.clone();
                set_pointer(&mut out, ptr, new.pointer(ptr).cloned().unwrap_or(Value::Null));
                if let Some(rv) = new.pointer("/metadata/resourceVersion").cloned() {
                    out["metadata"]["resourceVersion"] = rv;
                } else if let Some(m) = out.get_mut("metadata").and_then(Value::as_object_mut) {
                    m.remove("resourceVersion");
                }
                Ok(out)
            }
        }
    })
    .await?;
    Ok(json_response(StatusCode::OK, &updated.object, &[]))
}

fn set_pointer(obj: &mut Value, ptr: &str, value: Value) {
    let parts: Vec<&str> = ptr.trim_start_matches('/').split('/').collect();
    let Some((last, parents)) = parts.split_last() else { return };
    let mut cur = obj;
    for p in parents {
        if !cur.get(*p).is_some_and(Value::is_object) {
            cur[*p] = json!({});
        }
        cur = &mut cur[*p];
    }
    if value.is_null() {
        if let Some(m) = cur.as_object_mut() {
            m.remove(*last);
        }
    } else {
        cur[*last] = value;
    }
}

/// `status.selector` of a Scale: the label selector as a string.
fn selector_string(obj: &Value) -> String {
    let sel = obj.pointer("/spec/selector");
    let Some(sel) = sel else { return String::new() };
    if sel.get("matchLabels").is_some() || sel.get("matchExpressions").is_some() {
        serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>(sel.clone())
            .ok()
            .and_then(|s| apimachinery::selector::labels::LabelSelector::from_k8s(&s).ok())
            .map(|s| s.to_string())
            .unwrap_or_default()
    } else {
        // ReplicationController: a plain map.
        sel.as_object()
            .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect::<Vec<_>>().join(","))
            .unwrap_or_default()
    }
}

fn to_scale(obj: &Value) -> Value {
    let m = meta::meta(obj);
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": {
            "name": m.get("name"), "namespace": m.get("namespace"), "uid": m.get("uid"),
            "resourceVersion": m.get("resourceVersion"), "creationTimestamp": m.get("creationTimestamp"),
        },
        "spec": {"replicas": obj.pointer("/spec/replicas").and_then(Value::as_i64).unwrap_or(0)},
        "status": {
            "replicas": obj.pointer("/status/replicas").and_then(Value::as_i64).unwrap_or(0),
            "selector": selector_string(obj),
        },
    })
}

async fn get_scale(ctx: Ctx) -> ApiResult<Response> {
    let name = ctx.name().to_string();
    let kv = ctx.state.store.get(&ctx.key(&name)).await?.ok_or_else(|| ctx.not_found(&name))?;
    Ok(json_response(StatusCode::OK, &to_scale(&meta::decode_stored(&ctx.def, &kv)?), &[]))
}

async fn write_scale(ctx: Ctx) -> ApiResult<Response> {
    let dry_run = ctx.params.dry_run()?;
    let name = ctx.name().to_string();
    let updated = guaranteed_update(&ctx, &name, UpdateKind::Main, dry_run, |current| {
        let current = current.ok_or_else(|| ctx.not_found(&name))?;
        let scale = if ctx.info.verb == "patch" {
            let ty = patch_type(&ctx)?;
            let patch = parse_patch(&ctx, ty)?;
            let mut base = to_scale(current);
            base["metadata"].as_object_mut().map(|m| m.remove("resourceVersion"));
            let scale_def = ScaleDef;
            scale_def.patch(ty, &base, &patch)?
        } else {
            let decoded = codec::decode(codec::body_format(&ctx.headers)?, &ctx.body)?;
            decoded.value
        };
        let replicas = match scale.pointer("/spec/replicas") {
            None | Some(Value::Null) => 0,
            Some(v) => v.as_i64().ok_or_else(|| ApiError::bad_request("Scale.spec.replicas must be an integer"))?,
        };
        if replicas < 0 {
            return Err(ApiError::invalid("autoscaling", "Scale", &name, vec![crate::error::FieldError::invalid(
                "spec.replicas",
                &json!(replicas),
                "must be greater than or equal to 0",
            )]));
        }
        let mut out = current.clone();
        out["spec"]["replicas"] = json!(replicas);
        match scale.pointer("/metadata/resourceVersion").and_then(Value::as_str).filter(|s| !s.is_empty()) {
            Some(rv) => out["metadata"]["resourceVersion"] = json!(rv),
            None => {
                out["metadata"].as_object_mut().map(|m| m.remove("resourceVersion"));
            }
        }
        Ok(out)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &to_scale(&updated.object), &[]))
}

/// Patching a Scale (no strategic metadata needed: it has no lists).
struct ScaleDef;

impl ScaleDef {
    fn patch(&self, ty: super::patch::PatchType, base: &Value, patch: &Value) -> ApiResult<Value> {
        use super::patch::PatchType;
        match ty {
            PatchType::Json => {
                let ops: json_patch::Patch = serde_json::from_value(patch.clone()).map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
                let mut doc = base.clone();
                json_patch::patch(&mut doc, &ops).map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
                Ok(doc)
            }
            _ => {
                let mut doc = base.clone();
                json_patch::merge(&mut doc, patch);
                Ok(doc)
            }
        }
    }
}

/// `POST pods/<name>/binding`: assign the pod to a node, once.
async fn bind(ctx: Ctx) -> ApiResult<Response> {
    let name = ctx.name().to_string();
    bind_with_name(ctx, name).await
}

/// `POST namespaces/<ns>/bindings`: the pod is the Binding's own name.
pub async fn bind_named(ctx: Ctx) -> ApiResult<Response> {
    let decoded = codec::decode(codec::body_format(&ctx.headers)?, &ctx.body)?;
    let name = decoded.value.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("").to_string();
    if name.is_empty() {
        return Err(ApiError::invalid("", "Binding", "", vec![crate::error::FieldError::required("metadata.name", "")]));
    }
    let pods = ctx.state.registry.get("", "v1", "pods").cloned().ok_or_else(|| ApiError::internal("pods are not registered"))?;
    let ctx = Ctx { def: pods, ..ctx };
    bind_with_name(ctx, name).await
}

async fn bind_with_name(ctx: Ctx, name: String) -> ApiResult<Response> {
    let decoded = codec::decode(codec::body_format(&ctx.headers)?, &ctx.body)?;
    let binding = decoded.value;
    let target = binding.pointer("/target/name").and_then(Value::as_str).unwrap_or("").to_string();
    if target.is_empty() {
        return Err(ApiError::invalid("", "Binding", &name, vec![crate::error::FieldError::required("target.name", "")]));
    }
    let now = ctx.state.now_rfc3339();
    let dry_run = ctx.params.dry_run()?;
    bind_pod(&ctx, &name, &target, &now, dry_run).await?;
    Ok(json_response(StatusCode::CREATED, &json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201}), &[]))
}

pub async fn bind_pod(ctx: &Ctx, name: &str, node: &str, now: &str, dry_run: bool) -> ApiResult<()> {
    guaranteed_update(ctx, name, UpdateKind::Raw, dry_run, |current| {
        let current = current.ok_or_else(|| ctx.not_found(name))?;
        if current.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
            return Err(ApiError::conflict("", "pods", name, "pod is being deleted, cannot be assigned to a host"));
        }
        let existing = current.pointer("/spec/nodeName").and_then(Value::as_str).unwrap_or("");
        if !existing.is_empty() {
            return Err(ApiError::conflict("", "pods", name, &format!("pod {name} is already assigned to node {existing:?}")));
        }
        let mut out = current.clone();
        out["metadata"].as_object_mut().map(|m| m.remove("resourceVersion"));
        out["spec"]["nodeName"] = json!(node);
        let mut conditions: Vec<Value> = out.pointer("/status/conditions").and_then(Value::as_array).cloned().unwrap_or_default();
        conditions.retain(|c| c.get("type").and_then(Value::as_str) != Some("PodScheduled"));
        conditions.push(json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}));
        if !out.get("status").is_some_and(Value::is_object) {
            out["status"] = json!({});
        }
        out["status"]["conditions"] = Value::Array(conditions);
        Ok(out)
    })
    .await
    .map(|_| ())
}

/// `POST pods/<name>/eviction`: delete the pod unless a disruption budget
/// forbids it (429, as upstream).
async fn evict(ctx: Ctx) -> ApiResult<Response> {
    let decoded = codec::decode(codec::body_format(&ctx.headers)?, &ctx.body)?;
    let eviction = decoded.value;
    let name = ctx.name().to_string();
    let kv = ctx.state.store.get(&ctx.key(&name)).await?.ok_or_else(|| ctx.not_found(&name))?;
    let pod = meta::decode_stored(&ctx.def, &kv)?;
    crate::disruption::check_eviction(&ctx, &pod).await?;
    let opts = DeleteOptions {
        grace_period: eviction.pointer("/deleteOptions/gracePeriodSeconds").and_then(Value::as_i64),
        dry_run: ctx.params.dry_run()? || eviction.pointer("/deleteOptions/dryRun").and_then(Value::as_array).is_some_and(|d| d.iter().any(|x| x == "All")),
        precondition_uid: eviction.pointer("/deleteOptions/preconditions/uid").and_then(Value::as_str).map(str::to_string),
        ..Default::default()
    };
    delete_object(&ctx, meta_str(&pod, "name"), &opts).await?;
    let body = serde_json::to_vec(&json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "code": 201})).unwrap_or_default();
    Ok(raw_json_response(StatusCode::CREATED, body, &[]))
}

/// `POST serviceaccounts/<name>/token`: a TokenRequest answered with a signed JWT.
async fn token_request(ctx: Ctx) -> ApiResult<Response> {
    let Some(sa) = ctx.state.service_accounts.clone() else {
        return Err(ApiError::ServiceUnavailable {
            message: "service-account tokens are disabled: start the API server with --pki-dir or --service-account-signing-key-file/--service-account-key-file".into(),
        });
    };
    let decoded = codec::decode(codec::body_format(&ctx.headers)?, &ctx.body)?;
    let mut request = decoded.value;
    let name = ctx.name().to_string();
    let namespace = ctx.namespace().unwrap_or("").to_string();
    let sa_obj = ctx.state.store.get(&ctx.key(&name)).await?.ok_or_else(|| ctx.not_found(&name))?;
    let sa_obj = meta::decode_stored(&ctx.def, &sa_obj)?;
    let sa_uid = meta_str(&sa_obj, "uid").to_string();
    let spec = request.get("spec").cloned().unwrap_or(json!({}));
    let expiration = spec.get("expirationSeconds").and_then(Value::as_i64).unwrap_or(3600);
    if expiration < 600 {
        return Err(ApiError::invalid("authentication.k8s.io", "TokenRequest", &name, vec![crate::error::FieldError::invalid(
            "spec.expirationSeconds",
            &json!(expiration),
            "may not specify a duration less than 10 minutes",
        )]));
    }
    let audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .filter(|a: &Vec<String>| !a.is_empty())
        .unwrap_or_else(|| sa.issuer.api_audiences.clone());
    let pod = match spec.get("boundObjectRef").filter(|b| !b.is_null()) {
        None => None,
        Some(b) => {
            let kind = b.get("kind").and_then(Value::as_str).unwrap_or("");
            let pod_name = b.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            if kind != "Pod" {
                return Err(ApiError::invalid("authentication.k8s.io", "TokenRequest", &name, vec![crate::error::FieldError::not_supported(
                    "spec.boundObjectRef.kind",
                    &json!(kind),
                    &["Pod"],
                )]));
            }
            let pods = ctx.state.registry.get("", "v1", "pods").cloned().ok_or_else(|| ApiError::internal("pods are not registered"))?;
            let key = pods.object_key(&ctx.state.root, Some(&namespace), &pod_name);
            let kv = ctx.state.store.get(&key).await?.ok_or_else(|| ApiError::not_found("", "pods", &pod_name))?;
            let pod = meta::decode_stored(&pods, &kv)?;
            let uid = meta_str(&pod, "uid").to_string();
            if let Some(want) = b.get("uid").and_then(Value::as_str).filter(|u| !u.is_empty()) {
                if want != uid {
                    return Err(ApiError::conflict("", "pods", &pod_name, &format!("the UID in the bound object reference ({want}) does not match the UID in record. The object might have been deleted and then recreated")));
                }
            }
            Some(crate::serviceaccount::Ref { name: pod_name, uid })
        }
    };
    let now = ctx.state.now().as_second();
    let claims = crate::serviceaccount::Claims {
        iss: sa.issuer.issuer.clone(),
        sub: format!("system:serviceaccount:{namespace}:{name}"),
        aud: audiences.clone(),
        exp: now + expiration,
        iat: now,
        nbf: now,
        jti: uuid::Uuid::new_v4().to_string(),
        kubernetes: crate::serviceaccount::KubernetesClaims {
            namespace: namespace.clone(),
            serviceaccount: crate::serviceaccount::Ref { name: name.clone(), uid: sa_uid },
            pod,
        },
    };
    let token = sa.issuer.sign(&claims).map_err(ApiError::internal)?;
    let expires = jiff::Timestamp::from_second(now + expiration).map(|t| t.to_string()).unwrap_or_default();
    request["apiVersion"] = json!("authentication.k8s.io/v1");
    request["kind"] = json!("TokenRequest");
    if !request.get("metadata").is_some_and(Value::is_object) {
        request["metadata"] = json!({});
    }
    request["metadata"]["name"] = json!(name);
    request["metadata"]["namespace"] = json!(namespace);
    request["metadata"]["creationTimestamp"] = Value::Null;
    request["spec"]["audiences"] = json!(audiences);
    request["spec"]["expirationSeconds"] = json!(expiration);
    request["status"] = json!({"token": token, "expirationTimestamp": expires});
    Ok(json_response(StatusCode::CREATED, &request, &[]))
}
