//! PodSecurity (upstream `pod-security-admission`, built in since 1.25):
//! the namespace's `pod-security.kubernetes.io/{enforce,warn,audit}` labels
//! choose a Pod Security Standard; pods violating `enforce` are refused,
//! `warn` violations come back as `Warning` headers, and workload templates
//! (Deployments, Jobs, ...) only ever warn. Namespaces with invalid labels
//! are refused with 422. The checks themselves are the pure `podsecurity`
//! crate. (Audit annotations are not recorded yet.)

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::core::v1::Pod;
use podsecurity::{check_pod, NamespacePolicies, Policy};
use serde_json::Value;

use super::{cached_or_consistent, AdmissionPlugin, Operation};
use crate::error::{ApiError, ApiResult, FieldError};
use crate::handlers::Ctx;

pub struct PodSecurity;

/// Pod subresources PodSecurity ignores (as upstream).
const IGNORED_SUBRESOURCES: [&str; 8] = ["exec", "attach", "binding", "eviction", "log", "portforward", "proxy", "status"];

#[async_trait]
impl AdmissionPlugin for PodSecurity {
    fn name(&self) -> &'static str {
        "PodSecurity"
    }

    async fn validate(&self, ctx: &Ctx, op: Operation, obj: &Value, old: Option<&Value>) -> ApiResult<()> {
        match (ctx.def.group, ctx.def.plural) {
            ("", "namespaces") => validate_namespace(ctx, op, obj, old),
            ("", "pods") => validate_pod(ctx, op, obj, old).await,
            (group, _) if ctx.info.subresource.is_none() => warn_template(ctx, group, obj).await,
            _ => Ok(()),
        }
    }
}

fn labels_of(obj: &Value) -> BTreeMap<String, String> {
    obj.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default()
}

fn validate_namespace(ctx: &Ctx, op: Operation, obj: &Value, old: Option<&Value>) -> ApiResult<()> {
    if ctx.info.subresource.is_some() {
        return Ok(());
    }
    let (_, errors) = NamespacePolicies::resolve(&labels_of(obj), NamespacePolicies::default());
    if errors.is_empty() {
        return Ok(());
    }
    if op == Operation::Update {
        let (_, before) = NamespacePolicies::resolve(&labels_of(old.unwrap_or(&Value::Null)), NamespacePolicies::default());
        if before.iter().map(ToString::to_string).eq(errors.iter().map(ToString::to_string)) {
            return Ok(());
        }
    }
    let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
    let causes = errors
        .iter()
        .map(|e| FieldError { reason: "FieldValueInvalid", field: e.field(), message: e.to_string() })
        .collect();
    Err(ApiError::invalid("", "Namespace", name, causes))
}

/// The namespace's policies (privileged when it has no labels).
async fn namespace_policies(ctx: &Ctx) -> ApiResult<Option<NamespacePolicies>> {
    let Some(namespace) = ctx.namespace() else { return Ok(None) };
    let Some(ns_def) = ctx.state.registry.get("", "v1", "namespaces").cloned() else { return Ok(None) };
    let key = ns_def.object_key(&ctx.state.root, None, namespace);
    let Some(ns) = cached_or_consistent(ctx, || ctx.state.cache.get(&ns_def, &key)).await? else { return Ok(None) };
    let (policies, _) = NamespacePolicies::resolve(&ns.labels, NamespacePolicies::default());
    Ok((!policies.fully_privileged()).then_some(policies))
}

fn pod_parts(obj: &Value) -> Option<Pod> {
    serde::Deserialize::deserialize(obj).ok()
}

async fn validate_pod(ctx: &Ctx, op: Operation, obj: &Value, old: Option<&Value>) -> ApiResult<()> {
    if ctx.info.subresource.as_deref().is_some_and(|s| IGNORED_SUBRESOURCES.contains(&s)) {
        return Ok(());
    }
    // A fully privileged namespace (the common case) needs no decoding.
    let Some(policies) = namespace_policies(ctx).await? else { return Ok(()) };
    let Some(pod) = pod_parts(obj) else { return Ok(()) };
    let spec = pod.spec.clone().unwrap_or_default();
    if op == Operation::Update && ctx.info.subresource.is_none() {
        let Some(before) = old.and_then(pod_parts) else { return Ok(()) };
        if !podsecurity::is_significant_pod_update(&pod.metadata, &spec, &before.metadata, &before.spec.clone().unwrap_or_default()) {
            return Ok(());
        }
    }
    let violations = check_pod(policies.enforce, &pod.metadata, &spec);
    if !violations.is_empty() {
        let name = pod.metadata.name.as_deref().unwrap_or("");
        return Err(ApiError::forbidden("", "pods", name, &podsecurity::forbidden_message(policies.enforce, &violations)));
    }
    warn(ctx, policies.warn, policies.enforce, &pod.metadata, &spec);
    Ok(())
}

fn warn(ctx: &Ctx, warn: Policy, enforce: Policy, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, spec: &k8s_openapi::api::core::v1::PodSpec) {
    if warn == enforce || warn.level == podsecurity::Level::Privileged {
        return;
    }
    let violations = check_pod(warn, meta, spec);
    if !violations.is_empty() {
        ctx.warnings.add(podsecurity::warning_message(warn, &violations));
    }
}

async fn warn_template(ctx: &Ctx, group: &str, obj: &Value) -> ApiResult<()> {
    let kind = ctx.def.kind;
    if podsecurity::pod_template_path(group, kind).is_none() {
        return Ok(());
    }
    let Ok(Some((meta, spec))) = podsecurity::extract_pod_template(group, kind, obj) else { return Ok(()) };
    let Some(policies) = namespace_policies(ctx).await? else { return Ok(()) };
    // Templates are never refused; both enforce and warn violations warn.
    for policy in [policies.enforce, policies.warn] {
        if policy.level == podsecurity::Level::Privileged {
            continue;
        }
        let violations = check_pod(policy, &meta, &spec);
        if !violations.is_empty() {
            ctx.warnings.add(podsecurity::warning_message(policy, &violations));
        }
    }
    Ok(())
}
