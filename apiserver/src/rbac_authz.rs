//! RBAC in the API server: the authorizer over an index of the RBAC objects
//! in the watch cache (rebuilt whenever one changes), the default policy
//! reconciled on every start without clobbering user edits, and the
//! aggregation of ClusterRoles with an `aggregationRule`.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use axum::Router;
use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use parking_lot::RwLock;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{json, Value};

use crate::auth::{Attributes, Authorizer, Decision, UserInfo};
use crate::cache::{Filter, WatchCache};
use crate::registry::Registry;
use rbac::{BindingChange, RbacIndex};

const GROUP: &str = "rbac.authorization.k8s.io";

pub fn to_rbac_user(u: &UserInfo) -> rbac::User {
    rbac::User { name: u.name.clone(), uid: u.uid.clone(), groups: u.groups.clone(), extra: u.extra.clone() }
}

pub fn to_rbac_request(a: &Attributes) -> rbac::Request {
    match &a.path {
        Some(p) => rbac::Request::non_resource(&a.verb, p),
        None => rbac::Request::resource(&a.verb, &a.group, &a.resource)
            .in_namespace(&a.namespace)
            .named(&a.name)
            .subresource(&a.subresource),
    }
}

/// The RBAC authorizer; `system:masters` is the superuser group.
#[derive(Default)]
pub struct RbacAuthorizer {
    index: RwLock<Arc<RbacIndex>>,
}

impl RbacAuthorizer {
    pub fn index(&self) -> Arc<RbacIndex> {
        self.index.read().clone()
    }

    fn replace(&self, index: RbacIndex) {
        *self.index.write() = Arc::new(index);
    }
}

impl Authorizer for RbacAuthorizer {
    fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Decision {
        if user.groups.iter().any(|g| g == rbac::SYSTEM_MASTERS) {
            return Decision::Allow { reason: "user is in the system:masters group".into() };
        }
        match self.index().authorize(&to_rbac_user(user), &to_rbac_request(attrs)) {
            rbac::Decision::Allow(reason) => Decision::Allow { reason },
            rbac::Decision::NoOpinion(reason) if reason.is_empty() => Decision::NoOpinion,
            rbac::Decision::NoOpinion(reason) => Decision::Deny { reason },
        }
    }
}

fn typed<T: DeserializeOwned>(cache: &WatchCache, registry: &Registry, plural: &str) -> Vec<T> {
    let Some(def) = registry.get(GROUP, "v1", plural) else { return Vec::new() };
    let (snapshot, _) = cache.list(def, &Filter::default(), None, 0);
    snapshot.items.iter().filter_map(|o| serde_json::from_slice(&o.json).ok()).collect()
}

/// Rebuild the index from the cache now.
pub fn rebuild(authz: &RbacAuthorizer, cache: &WatchCache, registry: &Registry) -> Vec<ClusterRole> {
    let roles: Vec<Role> = typed(cache, registry, "roles");
    let bindings: Vec<RoleBinding> = typed(cache, registry, "rolebindings");
    let cluster_roles: Vec<ClusterRole> = typed(cache, registry, "clusterroles");
    let cluster_bindings: Vec<ClusterRoleBinding> = typed(cache, registry, "clusterrolebindings");
    authz.replace(RbacIndex::new(&roles, &bindings, &cluster_roles, &cluster_bindings));
    cluster_roles
}

/// Keep the index fresh and aggregated ClusterRoles up to date: wake on
/// every change to an RBAC object (debounced), rebuild, write back
/// aggregated rules through the API.
pub async fn run(authz: Arc<RbacAuthorizer>, cache: Arc<WatchCache>, registry: Arc<Registry>, router: Router) {
    while !cache.is_ready() {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    loop {
        let mut subs = Vec::new();
        for plural in ["roles", "rolebindings", "clusterroles", "clusterrolebindings"] {
            if let Some(def) = registry.get(GROUP, "v1", plural) {
                if let Ok(s) = cache.subscribe(def, Filter::default(), Some(cache.revision())) {
                    subs.push(s.live);
                }
            }
        }
        let cluster_roles = rebuild(&authz, &cache, &registry);
        aggregate_into_api(&router, &cluster_roles).await;
        // Wait for any change on any of the four resources.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<bool>(1);
        let mut forwarders = Vec::new();
        for mut s in subs {
            let tx = tx.clone();
            forwarders.push(tokio::spawn(async move {
                let alive = s.recv().await.is_some();
                let _ = tx.send(alive).await;
            }));
        }
        drop(tx);
        let _ = rx.recv().await;
        for f in forwarders {
            f.abort();
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn get_typed<T: DeserializeOwned>(router: &Router, uri: &str) -> Result<Option<T>, String> {
    let (code, body) = crate::bootstrap::call(router, Method::GET, uri, None).await?;
    match code {
        StatusCode::OK => serde_json::from_value(body).map(Some).map_err(|e| format!("decoding {uri}: {e}")),
        StatusCode::NOT_FOUND => Ok(None),
        other => Err(format!("GET {uri}: {other}: {}", body["message"])),
    }
}

async fn write<T: Serialize>(router: &Router, method: Method, uri: &str, obj: &T) -> Result<(), String> {
    let body = serde_json::to_value(obj).map_err(|e| e.to_string())?;
    let (code, resp) = crate::bootstrap::call(router, method.clone(), uri, Some(&body)).await?;
    if code.is_success() || code == StatusCode::CONFLICT && method == Method::POST {
        Ok(())
    } else {
        Err(format!("{method} {uri}: {code}: {}", resp["message"]))
    }
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> String {
    meta.name.clone().unwrap_or_default()
}

/// Create or reconcile the default roles and bindings (idempotent, keeps user edits).
pub async fn bootstrap(router: &Router) -> Result<(), String> {
    let base = format!("/apis/{GROUP}/v1");
    for default in rbac::bootstrap_cluster_roles() {
        let uri = format!("{base}/clusterroles/{}", name_of(&default.metadata));
        let existing: Option<ClusterRole> = get_typed(router, &uri).await?;
        if let Some(new) = rbac::reconcile(existing.as_ref(), &default) {
            upsert(router, &format!("{base}/clusterroles"), &uri, existing.is_some(), &new).await?;
        }
    }
    for default in rbac::bootstrap_cluster_role_bindings() {
        let uri = format!("{base}/clusterrolebindings/{}", name_of(&default.metadata));
        let existing: Option<ClusterRoleBinding> = get_typed(router, &uri).await?;
        apply_binding_change(router, &format!("{base}/clusterrolebindings"), &uri, rbac::reconcile_cluster_role_binding(existing.as_ref(), &default)).await?;
    }
    for default in rbac::bootstrap_roles() {
        let ns = default.metadata.namespace.clone().unwrap_or_default();
        let uri = format!("{base}/namespaces/{ns}/roles/{}", name_of(&default.metadata));
        let existing: Option<Role> = get_typed(router, &uri).await?;
        if let Some(new) = rbac::reconcile_role(existing.as_ref(), &default) {
            upsert(router, &format!("{base}/namespaces/{ns}/roles"), &uri, existing.is_some(), &new).await?;
        }
    }
    for default in rbac::bootstrap_role_bindings() {
        let ns = default.metadata.namespace.clone().unwrap_or_default();
        let uri = format!("{base}/namespaces/{ns}/rolebindings/{}", name_of(&default.metadata));
        let existing: Option<RoleBinding> = get_typed(router, &uri).await?;
        apply_binding_change(router, &format!("{base}/namespaces/{ns}/rolebindings"), &uri, rbac::reconcile_role_binding(existing.as_ref(), &default)).await?;
    }
    Ok(())
}

/// PUT over an existing object, else POST to its collection.
async fn upsert<T: Serialize>(router: &Router, collection: &str, uri: &str, exists: bool, obj: &T) -> Result<(), String> {
    if exists {
        write(router, Method::PUT, uri, obj).await
    } else {
        write(router, Method::POST, collection, obj).await
    }
}

async fn apply_binding_change<T: Serialize>(router: &Router, collection: &str, uri: &str, change: Option<BindingChange<T>>) -> Result<(), String> {
    match change {
        None => Ok(()),
        Some(BindingChange::Create(b)) => upsert(router, collection, uri, false, &b).await,
        Some(BindingChange::Update(b)) => upsert(router, collection, uri, true, &b).await,
        Some(BindingChange::Recreate(b)) => {
            crate::bootstrap::call(router, Method::DELETE, uri, None).await?;
            write(router, Method::POST, collection, &b).await
        }
    }
}

/// Write the computed rules of every aggregated ClusterRole that differs.
async fn aggregate_into_api(router: &Router, cluster_roles: &[ClusterRole]) {
    for (name, rules) in rbac::aggregate(cluster_roles) {
        let Some(current) = cluster_roles.iter().find(|r| r.metadata.name.as_deref() == Some(name.as_str())) else { continue };
        if current.rules.clone().unwrap_or_default() == rules {
            continue;
        }
        let mut updated = current.clone();
        updated.rules = Some(rules);
        let uri = format!("/apis/{GROUP}/v1/clusterroles/{name}");
        if let Err(e) = write(router, Method::PUT, &uri, &updated).await {
            tracing::warn!(role = %name, error = %e, "could not write aggregated ClusterRole rules");
        }
    }
}

/// Rules for SelfSubjectRulesReview as JSON.
pub fn rules_review_status(authz: &RbacAuthorizer, user: &UserInfo, namespace: &str) -> Value {
    if user.groups.iter().any(|g| g == rbac::SYSTEM_MASTERS) {
        return json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        });
    }
    let rules = authz.index().rules_for(&to_rbac_user(user), namespace);
    let mut v = json!({
        "resourceRules": rules.resource_rules,
        "nonResourceRules": rules.non_resource_rules,
        "incomplete": rules.incomplete,
    });
    if !rules.evaluation_error.is_empty() {
        v["evaluationError"] = json!(rules.evaluation_error);
    }
    v
}
