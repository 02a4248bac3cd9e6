//! What the shared informers drop from an object before caching it
//! (upstream's informer `TransformFunc`; kube-controller-manager installs
//! `TransformStripManagedFields` on its shared informers): every kind
//! loses `metadata.managedFields`, which no controller reads and which is
//! often the largest part of an object.
//!
//! Pods are not transformed here: the pod informer caches
//! [`super::cached_pod::CachedPod`], decoded from the watch stream with
//! only the fields controllers read, so no full pod is built to be trimmed.

use kube::Resource;

/// The object as the informer caches it.
pub fn strip<K: Resource + 'static>(mut obj: K) -> K {
    obj.meta_mut().managed_fields = None;
    obj
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Node;
    use serde_json::json;

    #[test]
    fn other_kinds_only_lose_managed_fields() {
        let node: Node = serde_json::from_value(json!({
            "metadata": {"name": "n", "labels": {"a": "b"}, "managedFields": [{"manager": "kubelet"}]},
            "spec": {"podCIDR": "10.0.0.0/24"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let stripped = strip(node.clone());
        assert!(stripped.metadata.managed_fields.is_none());
        assert_eq!(stripped.metadata.labels, node.metadata.labels);
        assert_eq!(stripped.spec, node.spec);
    }
}
