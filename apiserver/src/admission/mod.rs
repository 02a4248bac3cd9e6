//! The admission chain, run on every write after defaulting: mutating
//! `admit` hooks first, then validation, then validating hooks, as upstream.
//! Plugins are kept in upstream's order; the secure-access issue adds
//! LimitRanger, ServiceAccount, NodeRestriction, PodSecurity, ResourceQuota...
//! StorageObjectInUseProtection follows DefaultStorageClass, as in
//! upstream's `AllOrderedPlugins`.

mod limit_ranger;
mod node_restriction;
mod pod_security;
mod resource_quota;
mod storage_protection;

pub use limit_ranger::LimitRanger;
pub use node_restriction::NodeRestriction;
pub use pod_security::PodSecurity;
pub use resource_quota::ResourceQuota;
pub use storage_protection::{StorageObjectInUseProtection, PVC_PROTECTION_FINALIZER, PV_PROTECTION_FINALIZER};

use async_trait::async_trait;
use serde_json::Value;

use crate::error::{ApiError, ApiResult};
use crate::handlers::Ctx;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
}

#[async_trait]
pub trait AdmissionPlugin: Send + Sync {
    fn name(&self) -> &'static str;

    /// May change the object.
    async fn admit(&self, _ctx: &Ctx, _op: Operation, _obj: &mut Value, _old: Option<&Value>) -> ApiResult<()> {
        Ok(())
    }

    /// May only accept or reject.
    async fn validate(&self, _ctx: &Ctx, _op: Operation, _obj: &Value, _old: Option<&Value>) -> ApiResult<()> {
        Ok(())
    }

    /// May refuse a delete of `obj` (as stored).
    async fn validate_delete(&self, _ctx: &Ctx, _obj: &Value) -> ApiResult<()> {
        Ok(())
    }
}

/// Look something up in the watch cache; on a miss (which may only mean the
/// cache has not caught up), look again once it is consistent with storage.
async fn cached_or_consistent<T>(ctx: &Ctx, lookup: impl Fn() -> Option<T>) -> ApiResult<Option<T>> {
    if let Some(found) = lookup() {
        return Ok(Some(found));
    }
    crate::handlers::await_consistent(ctx).await?;
    Ok(lookup())
}

/// The default chain.
pub fn default_chain() -> Vec<std::sync::Arc<dyn AdmissionPlugin>> {
    vec![
        std::sync::Arc::new(NamespaceLifecycle),
        std::sync::Arc::new(LimitRanger),
        std::sync::Arc::new(ServiceAccount),
        std::sync::Arc::new(NodeRestriction),
        std::sync::Arc::new(PodSecurity),
        std::sync::Arc::new(DefaultStorageClass),
        std::sync::Arc::new(StorageObjectInUseProtection),
        std::sync::Arc::new(DefaultTolerationSeconds),
        std::sync::Arc::new(Priority),
        std::sync::Arc::new(RbacEscalation),
        std::sync::Arc::new(ResourceQuota),
    ]
}

/// RBAC escalation prevention (upstream does it in the RBAC registry): a
/// user may create or change a role only with permissions they already hold
/// (or the `escalate` verb), and bind a role only if they hold its
/// permissions (or the `bind` verb).
pub struct RbacEscalation;

#[async_trait]
impl AdmissionPlugin for RbacEscalation {
    fn name(&self) -> &'static str {
        "RBACEscalation"
    }

    async fn validate(&self, ctx: &Ctx, _op: Operation, obj: &Value, _old: Option<&Value>) -> ApiResult<()> {
        let Some(authz) = &ctx.state.rbac else { return Ok(()) };
        if ctx.def.group != "rbac.authorization.k8s.io" || ctx.user.groups.iter().any(|g| g == rbac::SYSTEM_MASTERS) {
            return Ok(());
        }
        let index = authz.index();
        let user = crate::rbac_authz::to_rbac_user(&ctx.user);
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let namespace = ctx.namespace().unwrap_or("");
        let forbidden = |msg: String| ApiError::forbidden(ctx.def.group, ctx.def.plural, name, &msg);
        match ctx.def.plural {
            "roles" | "clusterroles" => {
                let kind = if ctx.def.plural == "roles" { "Role" } else { "ClusterRole" };
                if let Some(req) = rbac::escalate_request(kind, name, namespace) {
                    if index.authorize(&user, &req).is_allowed() {
                        return Ok(());
                    }
                }
                let rules: Vec<k8s_openapi::api::rbac::v1::PolicyRule> =
                    obj.get("rules").cloned().and_then(|r| serde_json::from_value(r).ok()).unwrap_or_default();
                index.confirm_no_escalation(&user, namespace, &rules).map_err(forbidden)
            }
            "rolebindings" | "clusterrolebindings" => {
                let role_ref: k8s_openapi::api::rbac::v1::RoleRef = obj
                    .get("roleRef")
                    .cloned()
                    .and_then(|r| serde_json::from_value(r).ok())
                    .ok_or_else(|| ApiError::bad_request("roleRef is required"))?;
                if let Some(req) = rbac::bind_request(&role_ref, namespace) {
                    if index.authorize(&user, &req).is_allowed() {
                        return Ok(());
                    }
                }
                let rules = index.role_ref_rules(&role_ref, namespace).map_err(forbidden)?;
                index.confirm_no_escalation(&user, namespace, &rules).map_err(forbidden)
            }
            _ => Ok(()),
        }
    }
}

/// No new objects in namespaces that are missing or terminating.
pub struct NamespaceLifecycle;

#[async_trait]
impl AdmissionPlugin for NamespaceLifecycle {
    fn name(&self) -> &'static str {
        "NamespaceLifecycle"
    }

    async fn admit(&self, ctx: &Ctx, op: Operation, _obj: &mut Value, _old: Option<&Value>) -> ApiResult<()> {
        let (Operation::Create, Some(namespace)) = (op, ctx.namespace()) else { return Ok(()) };
        let Some(ns_def) = ctx.state.registry.get("", "v1", "namespaces") else { return Ok(()) };
        let key = ns_def.object_key(&ctx.state.root, None, namespace);
        let active = |o: &std::sync::Arc<crate::cache::CachedObject>| !o.deleting;
        // An active namespace in the cache is enough (as upstream's informer);
        // missing or terminating is confirmed against a consistent view.
        let found = cached_or_consistent(ctx, || ctx.state.cache.get(ns_def, &key).filter(|o| active(o))).await?;
        if found.is_some() {
            return Ok(());
        }
        match ctx.state.cache.get(ns_def, &key) {
            None => Err(ApiError::not_found("", "namespaces", namespace)),
            Some(ns) if ns.deleting => Err(ApiError::forbidden(
                ctx.def.group,
                ctx.def.plural,
                "",
                &format!("unable to create new content in namespace {namespace} because it is being terminated"),
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Run every plugin's `admit`.
pub async fn admit(ctx: &Ctx, op: Operation, obj: &mut Value, old: Option<&Value>) -> ApiResult<()> {
    for plugin in &ctx.state.admission {
        let span = tracing::debug_span!("admit", plugin = plugin.name());
        let _e = span.enter();
        drop(_e);
        plugin.admit(ctx, op, obj, old).await?;
    }
    Ok(())
}

/// Run every plugin's `validate_delete`.
pub async fn validate_delete(ctx: &Ctx, obj: &Value) -> ApiResult<()> {
    for plugin in &ctx.state.admission {
        plugin.validate_delete(ctx, obj).await?;
    }
    Ok(())
}

/// Run every plugin's `validate`.
pub async fn validate(ctx: &Ctx, op: Operation, obj: &Value, old: Option<&Value>) -> ApiResult<()> {
    for plugin in &ctx.state.admission {
        plugin.validate(ctx, op, obj, old).await?;
    }
    Ok(())
}

/// Pods tolerate `not-ready` and `unreachable` NoExecute taints for 300 s
/// unless they say otherwise (upstream DefaultTolerationSeconds).
pub struct DefaultTolerationSeconds;

#[async_trait]
impl AdmissionPlugin for DefaultTolerationSeconds {
    fn name(&self) -> &'static str {
        "DefaultTolerationSeconds"
    }

    async fn admit(&self, ctx: &Ctx, op: Operation, obj: &mut Value, _old: Option<&Value>) -> ApiResult<()> {
        if op != Operation::Create || !is_pods(ctx) {
            return Ok(());
        }
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
        let tolerations = spec.entry("tolerations").or_insert_with(|| Value::Array(Vec::new()));
        let Some(list) = tolerations.as_array_mut() else { return Ok(()) };
        for key in ["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"] {
            let covered = list.iter().any(|t| {
                let effect = t.get("effect").and_then(Value::as_str).unwrap_or("");
                let tkey = t.get("key").and_then(Value::as_str).unwrap_or("");
                (tkey == key || (tkey.is_empty() && t.get("operator").and_then(Value::as_str) == Some("Exists"))) && (effect.is_empty() || effect == "NoExecute")
            });
            if !covered {
                list.push(serde_json::json!({"key": key, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}));
            }
        }
        Ok(())
    }
}

fn is_pods(ctx: &Ctx) -> bool {
    ctx.def.group.is_empty() && ctx.def.plural == "pods" && ctx.info.subresource.is_none()
}

/// `spec.priorityClassName` → `spec.priority` (and the global default class),
/// with upstream's two built-in system classes.
pub struct Priority;

pub const SYSTEM_PRIORITY_CLASSES: &[(&str, i64, &str)] = &[
    ("system-cluster-critical", 2_000_000_000, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
    ("system-node-critical", 2_000_001_000, "Used for system critical pods that must not be moved from their current node."),
];

#[async_trait]
impl AdmissionPlugin for Priority {
    fn name(&self) -> &'static str {
        "Priority"
    }

    async fn admit(&self, ctx: &Ctx, op: Operation, obj: &mut Value, _old: Option<&Value>) -> ApiResult<()> {
        if op != Operation::Create || !is_pods(ctx) {
            return Ok(());
        }
        let Some(pc_def) = ctx.state.registry.get("scheduling.k8s.io", "v1", "priorityclasses").cloned() else { return Ok(()) };
        let requested = obj.pointer("/spec/priorityClassName").and_then(Value::as_str).unwrap_or("").to_string();
        let list = |ctx: &Ctx| -> Vec<PriorityClassView> {
            let (snapshot, _) = ctx.state.cache.list(&pc_def, &crate::cache::Filter::default(), None, 0);
            snapshot.items.iter().filter_map(|o| serde_json::from_slice(&o.json).ok()).collect()
        };
        let named = |classes: &[PriorityClassView]| classes.iter().any(|c| c.metadata.name == requested);
        let classes = if requested.is_empty() {
            list(ctx)
        } else {
            cached_or_consistent(ctx, || Some(list(ctx)).filter(|c| named(c))).await?.unwrap_or_else(|| list(ctx))
        };
        let chosen = if requested.is_empty() {
            classes.into_iter().filter(|c| c.global_default).min_by_key(|c| c.value)
        } else {
            match classes.into_iter().find(|c| c.metadata.name == requested) {
                Some(c) => Some(c),
                None => {
                    return Err(ApiError::forbidden("", "pods", obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""), &format!("no PriorityClass with name {requested} was found")));
                }
            }
        };
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
        match chosen {
            Some(c) => {
                spec.insert("priority".into(), serde_json::json!(c.value));
                spec.insert("priorityClassName".into(), serde_json::json!(c.metadata.name));
                let policy = c.preemption_policy.unwrap_or_else(|| "PreemptLowerPriority".to_string());
                spec.insert("preemptionPolicy".into(), serde_json::json!(policy));
            }
            None => {
                spec.insert("priority".into(), serde_json::json!(0));
            }
        }
        Ok(())
    }
}

/// What Priority admission reads of a PriorityClass (serde skips the rest).
#[derive(serde::Deserialize)]
struct PriorityClassView {
    metadata: NameOnly,
    #[serde(default)]
    value: i32,
    #[serde(default, rename = "globalDefault")]
    global_default: bool,
    #[serde(default, rename = "preemptionPolicy")]
    preemption_policy: Option<String>,
}

#[derive(serde::Deserialize)]
struct NameOnly {
    #[serde(default)]
    name: String,
}

/// PVCs without a class get the default StorageClass (upstream DefaultStorageClass).
pub struct DefaultStorageClass;

#[async_trait]
impl AdmissionPlugin for DefaultStorageClass {
    fn name(&self) -> &'static str {
        "DefaultStorageClass"
    }

    async fn admit(&self, ctx: &Ctx, op: Operation, obj: &mut Value, _old: Option<&Value>) -> ApiResult<()> {
        if op != Operation::Create || !(ctx.def.group.is_empty() && ctx.def.plural == "persistentvolumeclaims") {
            return Ok(());
        }
        if obj.pointer("/spec/storageClassName").is_some_and(|v| !v.is_null()) {
            return Ok(());
        }
        let Some(sc_def) = ctx.state.registry.get("storage.k8s.io", "v1", "storageclasses").cloned() else { return Ok(()) };
        let find_default = || {
            let (snapshot, _) = ctx.state.cache.list(&sc_def, &crate::cache::Filter::default(), None, 0);
            snapshot
                .items
                .iter()
                .map(|o| o.value())
                .filter(|c| c.pointer("/metadata/annotations/storageclass.kubernetes.io~1is-default-class").and_then(Value::as_str) == Some("true"))
                .max_by(|a, b| {
                    let t = |v: &Value| v.pointer("/metadata/creationTimestamp").and_then(Value::as_str).unwrap_or("").to_string();
                    t(a).cmp(&t(b))
                })
        };
        let default = cached_or_consistent(ctx, find_default).await?;
        if let (Some(class), Some(spec)) = (default, obj.get_mut("spec").and_then(Value::as_object_mut)) {
            if let Some(name) = class.pointer("/metadata/name") {
                spec.insert("storageClassName".into(), name.clone());
            }
        }
        Ok(())
    }
}

/// Pods run as a service account (`default` unless named) and, unless
/// `automountServiceAccountToken: false`, get the projected
/// `kube-api-access-*` volume (token, `kube-root-ca.crt`, namespace) mounted
/// at `/var/run/secrets/kubernetes.io/serviceaccount` (upstream ServiceAccount).
/// Until the service-account controller creates `default` accounts, a pod
/// whose account does not exist is admitted without the volume.
pub struct ServiceAccount;

pub const SERVICE_ACCOUNT_MOUNT: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

#[async_trait]
impl AdmissionPlugin for ServiceAccount {
    fn name(&self) -> &'static str {
        "ServiceAccount"
    }

    async fn admit(&self, ctx: &Ctx, op: Operation, obj: &mut Value, _old: Option<&Value>) -> ApiResult<()> {
        if op != Operation::Create || !is_pods(ctx) {
            return Ok(());
        }
        let namespace = ctx.namespace().unwrap_or("").to_string();
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
        let name = spec.get("serviceAccountName").and_then(Value::as_str).filter(|s| !s.is_empty()).unwrap_or("default").to_string();
        spec.insert("serviceAccountName".into(), serde_json::json!(name));
        spec.insert("serviceAccount".into(), serde_json::json!(name));
        let Some(sa_def) = ctx.state.registry.get("", "v1", "serviceaccounts").cloned() else { return Ok(()) };
        let sa_key = sa_def.object_key(&ctx.state.root, Some(&namespace), &name);
        let sa = cached_or_consistent(ctx, || ctx.state.cache.get(&sa_def, &sa_key)).await?;
        let Some(spec) = obj.get_mut("spec").and_then(Value::as_object_mut) else { return Ok(()) };
        let Some(sa) = sa else { return Ok(()) };
        let sa = sa.value();
        let automount = spec
            .get("automountServiceAccountToken")
            .and_then(Value::as_bool)
            .or_else(|| sa.get("automountServiceAccountToken").and_then(Value::as_bool))
            .unwrap_or(true);
        if !automount {
            return Ok(());
        }
        let mounted = ["containers", "initContainers"].iter().any(|k| {
            spec.get(*k).and_then(Value::as_array).into_iter().flatten().any(|c| {
                c.get("volumeMounts").and_then(Value::as_array).into_iter().flatten().any(|m| m.get("mountPath").and_then(Value::as_str) == Some(SERVICE_ACCOUNT_MOUNT))
            })
        });
        if mounted {
            return Ok(());
        }
        let suffix: String = uuid::Uuid::new_v4().simple().to_string().chars().filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit()).take(5).collect();
        let volume_name = format!("kube-api-access-{suffix}");
        let volume = serde_json::json!({
            "name": volume_name,
            "projected": {
                "defaultMode": 420,
                "sources": [
                    {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                    {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                    {"downwardAPI": {"items": [{"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}, "path": "namespace"}]}},
                ],
            },
        });
        if let Some(volumes) = spec.entry("volumes").or_insert_with(|| Value::Array(Vec::new())).as_array_mut() {
            volumes.push(volume);
        }
        for key in ["containers", "initContainers"] {
            for c in spec.get_mut(key).and_then(Value::as_array_mut).into_iter().flatten() {
                let mounts = c.as_object_mut().map(|m| m.entry("volumeMounts").or_insert_with(|| Value::Array(Vec::new())));
                if let Some(Value::Array(list)) = mounts {
                    list.push(serde_json::json!({"name": volume_name, "readOnly": true, "mountPath": SERVICE_ACCOUNT_MOUNT}));
                }
            }
        }
        Ok(())
    }
}

/// Every object of one resource in `namespace`, typed, from the watch cache.
pub(crate) fn cached_in_namespace<T: serde::de::DeserializeOwned>(ctx: &Ctx, group: &str, plural: &str, namespace: &str) -> Vec<T> {
    let Some(def) = ctx.state.registry.get(group, "v1", plural) else { return Vec::new() };
    let filter = crate::cache::Filter { namespace: Some(namespace.to_string()), ..Default::default() };
    let (snapshot, _) = ctx.state.cache.list(def, &filter, None, 0);
    snapshot.items.iter().filter_map(|o| serde_json::from_slice(&o.json).ok()).collect()
}

/// Upstream's `utilerrors.NewAggregate(errs).Error()`: one message as is,
/// several as `[a, b]`.
pub(crate) fn aggregate(errors: &[String]) -> String {
    match errors {
        [one] => one.clone(),
        many => format!("[{}]", many.join(", ")),
    }
}
