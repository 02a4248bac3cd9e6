//! NodeRestriction (upstream `plugin/pkg/admission/noderestriction`): a
//! kubelet may create only mirror pods bound to itself, change the status
//! of and delete or evict only its own pods, create and change only its own
//! Node, never its taints, and never labels in the `kubernetes.io` /
//! `k8s.io` namespaces beyond the ones kubelets set themselves.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::Value;

use super::{AdmissionPlugin, Operation};
use crate::error::{ApiError, ApiResult};
use crate::handlers::Ctx;
use crate::node_authz::node_identity;

const MIRROR_ANNOTATION: &str = "kubernetes.io/config.mirror";

/// Labels kubelets set on their Node (upstream `kubeletapis.KubeletLabels`).
const KUBELET_LABELS: [&str; 11] = [
    "kubernetes.io/hostname",
    "kubernetes.io/os",
    "kubernetes.io/arch",
    "beta.kubernetes.io/os",
    "beta.kubernetes.io/arch",
    "beta.kubernetes.io/instance-type",
    "node.kubernetes.io/instance-type",
    "failure-domain.beta.kubernetes.io/region",
    "failure-domain.beta.kubernetes.io/zone",
    "topology.kubernetes.io/region",
    "topology.kubernetes.io/zone",
];
/// Label namespaces kubelets may use freely.
const KUBELET_LABEL_NAMESPACES: [&str; 2] = ["kubelet.kubernetes.io", "node.kubernetes.io"];

pub struct NodeRestriction;

#[async_trait]
impl AdmissionPlugin for NodeRestriction {
    fn name(&self) -> &'static str {
        "NodeRestriction"
    }

    async fn validate(&self, ctx: &Ctx, op: Operation, obj: &Value, old: Option<&Value>) -> ApiResult<()> {
        let Some(node) = node_identity(&ctx.user) else { return Ok(()) };
        if !ctx.def.group.is_empty() {
            return Ok(());
        }
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(ctx.name());
        let forbidden = |reason: String| ApiError::forbidden("", ctx.def.plural, name, &reason);
        let result = match (ctx.def.plural, ctx.info.subresource.as_deref()) {
            ("pods", None) if op == Operation::Create => check_pod_create(node, obj),
            ("pods", Some("status")) => check_own_pod(node, old.unwrap_or(obj), "update pod status for pods"),
            ("pods", Some("eviction")) => check_own_pod(node, old.unwrap_or(obj), "evict pods"),
            ("pods", None) => check_own_pod(node, old.unwrap_or(obj), "update pods"),
            ("nodes", _) => check_node(node, op, obj, old),
            _ => Ok(()),
        };
        result.map_err(forbidden)
    }

    async fn validate_delete(&self, ctx: &Ctx, obj: &Value) -> ApiResult<()> {
        let Some(node) = node_identity(&ctx.user) else { return Ok(()) };
        if !ctx.def.group.is_empty() {
            return Ok(());
        }
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let result = match ctx.def.plural {
            "pods" => check_own_pod(node, obj, "delete pods"),
            "nodes" if name != node => Err(format!("node {node:?} is not allowed to modify node {name:?}")),
            _ => Ok(()),
        };
        result.map_err(|reason| ApiError::forbidden("", ctx.def.plural, name, &reason))
    }
}

fn str_at<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

pub fn check_pod_create(node: &str, pod: &Value) -> Result<(), String> {
    if pod.pointer(&format!("/metadata/annotations/{}", MIRROR_ANNOTATION.replace('/', "~1"))).is_none() {
        return Err(format!("pod does not have {MIRROR_ANNOTATION:?} annotation, node {node:?} can only create mirror pods"));
    }
    if str_at(pod, "/spec/nodeName") != node {
        return Err(format!("node {node:?} can only create pods with spec.nodeName set to itself"));
    }
    Ok(())
}

/// `action` completes upstream's sentence: "update pod status for pods",
/// "delete pods", "evict pods".
pub fn check_own_pod(node: &str, pod: &Value, action: &str) -> Result<(), String> {
    if str_at(pod, "/spec/nodeName") != node {
        return Err(format!("node {node:?} can only {action} with spec.nodeName set to itself"));
    }
    Ok(())
}

fn labels(obj: Option<&Value>) -> BTreeMap<String, String> {
    obj.and_then(|o| o.pointer("/metadata/labels"))
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default()
}

/// Whether a kubelet may set this label key on its Node.
pub fn is_restricted_label(key: &str) -> bool {
    let Some((namespace, _)) = key.split_once('/') else { return false };
    let namespace = namespace.to_ascii_lowercase();
    if KUBELET_LABELS.contains(&key) {
        return false;
    }
    if KUBELET_LABEL_NAMESPACES.iter().any(|ns| namespace == *ns || namespace.ends_with(&format!(".{ns}"))) {
        return false;
    }
    ["kubernetes.io", "k8s.io"].iter().any(|ns| namespace == *ns || namespace.ends_with(&format!(".{ns}")))
}

pub fn check_node(node: &str, op: Operation, obj: &Value, old: Option<&Value>) -> Result<(), String> {
    let name = str_at(obj, "/metadata/name");
    if name != node {
        return Err(format!("node {node:?} is not allowed to modify node {name:?}"));
    }
    let new_labels = labels(Some(obj));
    let old_labels = labels(old);
    let mut changed: Vec<&str> = new_labels
        .iter()
        .filter(|(k, v)| old_labels.get(*k) != Some(*v))
        .map(|(k, _)| k.as_str())
        .chain(old_labels.keys().filter(|k| !new_labels.contains_key(*k)).map(String::as_str))
        .filter(|k| is_restricted_label(k))
        .collect();
    changed.sort_unstable();
    changed.dedup();
    if !changed.is_empty() {
        let verb = if op == Operation::Create { "set the following labels" } else { "modify labels" };
        return Err(format!("node {node:?} is not allowed to {verb}: {}", changed.join(", ")));
    }
    if let Some(old) = old {
        if obj.pointer("/spec/taints") != old.pointer("/spec/taints") {
            return Err(format!("node {node:?} is not allowed to modify taints"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn restricted_labels_table() {
        let cases = [
            ("kubernetes.io/hostname", false),
            ("topology.kubernetes.io/zone", false),
            ("node.kubernetes.io/exclude-from-external-load-balancers", false),
            ("foo.node.kubernetes.io/bar", false),
            ("kubelet.kubernetes.io/x", false),
            ("node-role.kubernetes.io/control-plane", true),
            ("node-restriction.kubernetes.io/secure", true),
            ("example.k8s.io/x", true),
            ("example.com/team", false),
            ("plain", false),
        ];
        for (key, want) in cases {
            assert_eq!(is_restricted_label(key), want, "{key}");
        }
    }

    #[test]
    fn node_changes_table() {
        let node = |labels: Value, taints: Value| json!({"metadata": {"name": "n1", "labels": labels}, "spec": {"taints": taints}});
        let base = node(json!({"kubernetes.io/hostname": "n1"}), json!([]));
        assert_eq!(check_node("n1", Operation::Update, &base, Some(&base)), Ok(()));
        assert_eq!(
            check_node("n2", Operation::Update, &base, Some(&base)).unwrap_err(),
            "node \"n2\" is not allowed to modify node \"n1\""
        );
        let labelled = node(json!({"kubernetes.io/hostname": "n1", "node-role.kubernetes.io/control-plane": ""}), json!([]));
        assert_eq!(
            check_node("n1", Operation::Update, &labelled, Some(&base)).unwrap_err(),
            "node \"n1\" is not allowed to modify labels: node-role.kubernetes.io/control-plane"
        );
        assert_eq!(
            check_node("n1", Operation::Create, &labelled, None).unwrap_err(),
            "node \"n1\" is not allowed to set the following labels: node-role.kubernetes.io/control-plane"
        );
        let untainted = node(json!({"kubernetes.io/hostname": "n1"}), json!([{"key": "k", "effect": "NoSchedule"}]));
        assert_eq!(check_node("n1", Operation::Update, &base, Some(&untainted)).unwrap_err(), "node \"n1\" is not allowed to modify taints");
    }

    #[test]
    fn pods_table() {
        let pod = |node: &str, mirror: bool| {
            let annotations = if mirror { json!({MIRROR_ANNOTATION: "x"}) } else { json!({}) };
            json!({"metadata": {"name": "p", "annotations": annotations}, "spec": {"nodeName": node}})
        };
        assert_eq!(check_pod_create("n1", &pod("n1", true)), Ok(()));
        assert_eq!(
            check_pod_create("n1", &pod("n1", false)).unwrap_err(),
            "pod does not have \"kubernetes.io/config.mirror\" annotation, node \"n1\" can only create mirror pods"
        );
        assert_eq!(check_own_pod("n1", &pod("n1", false), "update pod status for pods"), Ok(()));
        assert_eq!(
            check_own_pod("n1", &pod("n2", false), "update pod status for pods").unwrap_err(),
            "node \"n1\" can only update pod status for pods with spec.nodeName set to itself"
        );
        assert_eq!(
            check_own_pod("n1", &pod("n2", false), "delete pods").unwrap_err(),
            "node \"n1\" can only delete pods with spec.nodeName set to itself"
        );
    }
}
