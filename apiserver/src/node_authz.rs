//! The Node authorizer (upstream `plugin/pkg/auth/authorizer/node`): a
//! kubelet (`system:node:<name>` in `system:nodes`) gets the `system:node`
//! rules, narrowed for the objects that carry other workloads' data: it may
//! read only the secrets, configmaps, claims and volumes referenced by pods
//! bound to its node, mint tokens only for those pods' service accounts and
//! touch only its own Lease. Modifications of Nodes and Pods are narrowed
//! further by the NodeRestriction admission plugin.
//!
//! Upstream keeps a graph updated by informers; here the relationships are
//! read from the watch cache per request (pods are indexed by namespace;
//! only cluster-scoped persistent volumes scan every pod of the node).
//!
//! Runs before RBAC (`--authorization-mode=Node,RBAC`): a request the Node
//! authorizer does not allow is still offered to RBAC, so an administrator
//! may grant a node more; when neither allows, the Node authorizer's reason
//! is shown.

use std::sync::Arc;

use k8s_openapi::api::rbac::v1::PolicyRule;
use serde_json::Value;

use crate::auth::{Attributes, Authorizer, Decision, UserInfo};
use crate::cache::{Filter, WatchCache};
use crate::registry::Registry;

pub const NODES_GROUP: &str = "system:nodes";
pub const NODE_USER_PREFIX: &str = "system:node:";
const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";

/// The node a user speaks for: `system:node:<name>` in `system:nodes`.
pub fn node_identity(user: &UserInfo) -> Option<&str> {
    let name = user.name.strip_prefix(NODE_USER_PREFIX)?;
    (!name.is_empty() && user.groups.iter().any(|g| g == NODES_GROUP)).then_some(name)
}

pub struct NodeAuthorizer {
    cache: Arc<WatchCache>,
    registry: Arc<Registry>,
    rules: Vec<PolicyRule>,
}

impl NodeAuthorizer {
    pub fn new(cache: Arc<WatchCache>, registry: Arc<Registry>) -> NodeAuthorizer {
        NodeAuthorizer { cache, registry, rules: rbac::node_rules() }
    }

    /// Pods bound to `node` in `namespace` (every namespace when `None`).
    fn pods_on_node(&self, node: &str, namespace: Option<&str>) -> Vec<Value> {
        let Some(def) = self.registry.get("", "v1", "pods") else { return Vec::new() };
        let filter = Filter { namespace: namespace.map(str::to_string), ..Default::default() };
        let (snapshot, _) = self.cache.list(def, &filter, None, 0);
        snapshot
            .items
            .iter()
            .filter(|o| o.fields.iter().any(|(k, v)| *k == "spec.nodeName" && v == node))
            .filter_map(|o| serde_json::from_slice(&o.json).ok())
            .collect()
    }

    fn claim_volume(&self, namespace: &str, claim: &str) -> Option<String> {
        let def = self.registry.get("", "v1", "persistentvolumeclaims")?;
        let obj = self.cache.get(def, &def.object_key(self.cache.root(), Some(namespace), claim))?;
        obj.value().pointer("/spec/volumeName").and_then(Value::as_str).map(str::to_string)
    }

    fn related(&self, node: &str, kind: Kind, namespace: &str, name: &str) -> bool {
        match kind {
            Kind::PersistentVolume => self.pods_on_node(node, None).iter().any(|pod| {
                let ns = pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("");
                references(pod, Kind::PersistentVolumeClaim).iter().any(|claim| self.claim_volume(ns, claim).as_deref() == Some(name))
            }),
            kind => self.pods_on_node(node, Some(namespace)).iter().any(|pod| references(pod, kind).iter().any(|r| r == name)),
        }
    }

    fn authorize_node(&self, node: &str, a: &Attributes) -> Decision {
        let no_relationship = || Decision::Deny { reason: format!("no relationship found between node '{node}' and this object") };
        let guarded = match (a.group.as_str(), a.resource.as_str()) {
            ("", "secrets") => Some(Kind::Secret),
            ("", "configmaps") => Some(Kind::ConfigMap),
            ("", "persistentvolumeclaims") => Some(Kind::PersistentVolumeClaim),
            ("", "persistentvolumes") => Some(Kind::PersistentVolume),
            _ => None,
        };
        if let Some(kind) = guarded {
            if a.subresource == "status" && kind == Kind::PersistentVolumeClaim {
                if !matches!(a.verb.as_str(), "get" | "update" | "patch") {
                    return Decision::Deny { reason: "can only get, update, or patch the status of a persistentvolumeclaim".into() };
                }
            } else if !a.subresource.is_empty() {
                return Decision::Deny { reason: format!("cannot access subresource {}", a.subresource) };
            } else if matches!(kind, Kind::Secret | Kind::ConfigMap) {
                if !matches!(a.verb.as_str(), "get" | "list" | "watch") {
                    return Decision::Deny { reason: "can only read resources of this type".into() };
                }
            } else if a.verb != "get" {
                return Decision::Deny { reason: "can only get individual resources of this type".into() };
            }
            if a.name.is_empty() {
                return Decision::Deny { reason: "can only read namespaced object of this type".into() };
            }
            return if self.related(node, kind, &a.namespace, &a.name) { allow() } else { no_relationship() };
        }
        match (a.group.as_str(), a.resource.as_str(), a.subresource.as_str()) {
            ("", "serviceaccounts", "token") => {
                if a.verb != "create" {
                    return Decision::Deny { reason: "can only create tokens for individual service accounts".into() };
                }
                if self.related(node, Kind::ServiceAccount, &a.namespace, &a.name) {
                    allow()
                } else {
                    no_relationship()
                }
            }
            ("coordination.k8s.io", "leases", _) => {
                if !matches!(a.verb.as_str(), "get" | "create" | "update" | "patch" | "delete") {
                    return Decision::Deny { reason: "can only get, create, update, patch, or delete a node lease".into() };
                }
                if a.namespace != NODE_LEASE_NAMESPACE {
                    return Decision::Deny { reason: format!("can only access leases in the {NODE_LEASE_NAMESPACE} namespace") };
                }
                if a.verb != "create" && a.name != node {
                    return Decision::Deny { reason: "can only access node lease with the same name as the requesting node".into() };
                }
                allow()
            }
            _ => {
                let request = crate::rbac_authz::to_rbac_request(a);
                if rbac::rules_allow(&self.rules, &request) {
                    allow()
                } else {
                    Decision::NoOpinion
                }
            }
        }
    }
}

fn allow() -> Decision {
    Decision::Allow { reason: String::new() }
}

impl Authorizer for NodeAuthorizer {
    fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Decision {
        match node_identity(user) {
            Some(node) if attrs.path.is_none() => self.authorize_node(node, attrs),
            _ => Decision::NoOpinion,
        }
    }
}

/// Authorizers asked in order: the first Allow wins; otherwise the first
/// denial's reason is reported (upstream's union authorizer).
pub struct Union(pub Vec<Arc<dyn Authorizer>>);

impl Authorizer for Union {
    fn authorize(&self, user: &UserInfo, attrs: &Attributes) -> Decision {
        let mut denial = None;
        for authorizer in &self.0 {
            match authorizer.authorize(user, attrs) {
                Decision::Allow { reason } => return Decision::Allow { reason },
                Decision::Deny { reason } => {
                    denial.get_or_insert(reason);
                }
                Decision::NoOpinion => {}
            }
        }
        match denial {
            Some(reason) => Decision::Deny { reason },
            None => Decision::NoOpinion,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Secret,
    ConfigMap,
    PersistentVolumeClaim,
    PersistentVolume,
    ServiceAccount,
}

/// Names of objects of `kind` a pod references (volumes, projected
/// sources, env and envFrom of every container, image pull secrets, its
/// service account).
fn references(pod: &Value, kind: Kind) -> Vec<String> {
    let mut out = Vec::new();
    let spec = pod.get("spec").unwrap_or(&Value::Null);
    let mut push = |v: Option<&Value>| {
        if let Some(s) = v.and_then(Value::as_str).filter(|s| !s.is_empty()) {
            out.push(s.to_string());
        }
    };
    if kind == Kind::ServiceAccount {
        push(spec.get("serviceAccountName"));
        return out;
    }
    let volumes = spec.get("volumes").and_then(Value::as_array).into_iter().flatten();
    for v in volumes {
        match kind {
            Kind::Secret => {
                push(v.pointer("/secret/secretName"));
                for key in ["/cephfs/secretRef/name", "/flexVolume/secretRef/name", "/rbd/secretRef/name", "/iscsi/secretRef/name", "/azureFile/secretName", "/csi/nodePublishSecretRef/name"] {
                    push(v.pointer(key));
                }
            }
            Kind::ConfigMap => push(v.pointer("/configMap/name")),
            Kind::PersistentVolumeClaim => {
                push(v.pointer("/persistentVolumeClaim/claimName"));
                if v.pointer("/ephemeral").is_some() {
                    // Generic ephemeral volumes: the claim is `<pod>-<volume>`.
                    let pod_name = pod.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
                    let vol_name = v.get("name").and_then(Value::as_str).unwrap_or("");
                    push(Some(&Value::String(format!("{pod_name}-{vol_name}"))));
                }
            }
            _ => {}
        }
        for source in v.pointer("/projected/sources").and_then(Value::as_array).into_iter().flatten() {
            match kind {
                Kind::Secret => push(source.pointer("/secret/name")),
                Kind::ConfigMap => push(source.pointer("/configMap/name")),
                _ => {}
            }
        }
    }
    if kind == Kind::Secret {
        for s in spec.get("imagePullSecrets").and_then(Value::as_array).into_iter().flatten() {
            push(s.get("name"));
        }
    }
    for key in ["containers", "initContainers", "ephemeralContainers"] {
        for c in spec.get(key).and_then(Value::as_array).into_iter().flatten() {
            for e in c.get("envFrom").and_then(Value::as_array).into_iter().flatten() {
                match kind {
                    Kind::Secret => push(e.pointer("/secretRef/name")),
                    Kind::ConfigMap => push(e.pointer("/configMapRef/name")),
                    _ => {}
                }
            }
            for e in c.get("env").and_then(Value::as_array).into_iter().flatten() {
                match kind {
                    Kind::Secret => push(e.pointer("/valueFrom/secretKeyRef/name")),
                    Kind::ConfigMap => push(e.pointer("/valueFrom/configMapKeyRef/name")),
                    _ => {}
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn pods_reference_their_objects() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {
            "serviceAccountName": "sa",
            "imagePullSecrets": [{"name": "pull"}],
            "volumes": [
                {"name": "a", "secret": {"secretName": "vol-secret"}},
                {"name": "b", "configMap": {"name": "vol-cm"}},
                {"name": "c", "persistentVolumeClaim": {"claimName": "data"}},
                {"name": "d", "projected": {"sources": [{"secret": {"name": "proj-secret"}}, {"configMap": {"name": "kube-root-ca.crt"}}]}},
                {"name": "e", "ephemeral": {"volumeClaimTemplate": {}}}
            ],
            "containers": [{"name": "c", "envFrom": [{"secretRef": {"name": "env-secret"}}], "env": [{"name": "X", "valueFrom": {"configMapKeyRef": {"name": "env-cm", "key": "k"}}}]}]
        }});
        assert_eq!(references(&pod, Kind::Secret), vec!["vol-secret", "proj-secret", "pull", "env-secret"]);
        assert_eq!(references(&pod, Kind::ConfigMap), vec!["vol-cm", "kube-root-ca.crt", "env-cm"]);
        assert_eq!(references(&pod, Kind::PersistentVolumeClaim), vec!["data", "p-e"]);
        assert_eq!(references(&pod, Kind::ServiceAccount), vec!["sa"]);
    }

    #[test]
    fn node_identity_needs_the_group() {
        let user = |name: &str, groups: &[&str]| UserInfo { name: name.into(), groups: groups.iter().map(|g| g.to_string()).collect(), ..Default::default() };
        assert_eq!(node_identity(&user("system:node:n1", &["system:nodes"])), Some("n1"));
        assert_eq!(node_identity(&user("system:node:n1", &[])), None);
        assert_eq!(node_identity(&user("alice", &["system:nodes"])), None);
    }
}
