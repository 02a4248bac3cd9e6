//! What the shared informers drop from an object before caching it
//! (upstream's informer `TransformFunc`; kube-controller-manager installs
//! `TransformStripManagedFields` on its shared informers).
//!
//! - Every kind: `metadata.managedFields`, which no controller reads and
//!   which is often the largest part of an object.
//! - Pods: the volumes the kubelet alone materialises (`projected`,
//!   `configMap`, `secret`, `downwardAPI`, `emptyDir`, `hostPath`; e.g. the
//!   `kube-api-access-*` volume the service-account admission adds to every
//!   pod). No controller reads them, and one such volume costs ~6 KiB in
//!   memory per pod, a third of a cached pod. Volumes naming storage
//!   (`persistentVolumeClaim`, `ephemeral`, CSI and the other sources) are
//!   kept for controllers that follow pods to their claims. Lists are
//!   also trimmed to their length.

use std::any::Any;

use k8s_openapi::api::core::v1::{Pod, Volume};
use kube::Resource;

/// The object as the informer caches it.
pub fn strip<K: Resource + 'static>(mut obj: K) -> K {
    obj.meta_mut().managed_fields = None;
    if let Some(pod) = (&mut obj as &mut dyn Any).downcast_mut::<Pod>() {
        slim_pod(pod);
    }
    obj
}

/// Whether only the kubelet reads this volume.
fn node_local(v: &Volume) -> bool {
    v.projected.is_some()
        || v.config_map.is_some()
        || v.secret.is_some()
        || v.downward_api.is_some()
        || v.empty_dir.is_some()
        || v.host_path.is_some()
}

fn slim_pod(pod: &mut Pod) {
    if let Some(spec) = pod.spec.as_mut() {
        if let Some(volumes) = spec.volumes.as_mut() {
            volumes.retain(|v| !node_local(v));
            volumes.shrink_to_fit();
        }
        if spec.volumes.as_ref().is_some_and(Vec::is_empty) {
            spec.volumes = None;
        }
        spec.containers.shrink_to_fit();
        if let Some(t) = spec.tolerations.as_mut() {
            t.shrink_to_fit();
        }
    }
    if let Some(status) = pod.status.as_mut() {
        for list in [&mut status.conditions].into_iter().flatten() {
            list.shrink_to_fit();
        }
        for list in [&mut status.container_statuses, &mut status.init_container_statuses].into_iter().flatten() {
            list.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Node;
    use serde_json::json;

    #[test]
    fn strips_managed_fields_and_node_local_pod_volumes() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "managedFields": [{"manager": "kubelet"}]},
            "spec": {
                "containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}],
                "volumes": [
                    {"name": "kube-api-access-x", "projected": {"sources": []}},
                    {"name": "cm", "configMap": {"name": "c"}},
                    {"name": "s", "secret": {"secretName": "s"}},
                    {"name": "scratch", "emptyDir": {}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data-0"}},
                    {"name": "eph", "ephemeral": {}}
                ]
            },
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let pod = strip(pod);
        assert!(pod.metadata.managed_fields.is_none());
        let spec = pod.spec.as_ref().unwrap_or_else(|| panic!("spec kept"));
        let names: Vec<&str> = spec.volumes.iter().flatten().map(|v| v.name.as_str()).collect();
        assert_eq!(names, ["data", "eph"]);
        assert_eq!(spec.containers[0].volume_mounts.as_ref().map(Vec::len), Some(1));
        assert_eq!(pod.status.and_then(|s| s.conditions).map(|c| c.len()), Some(1));

        let only_local: Pod = serde_json::from_value(json!({"spec": {"containers": [], "volumes": [{"name": "t", "projected": {}}]}}))
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(strip(only_local).spec.and_then(|s| s.volumes).is_none());
    }

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
