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
//! - Pods, too: what only the kubelet, the scheduler or people read: the
//!   containers' mounts of the dropped volumes, image, command, args,
//!   pull policy and termination-message settings; the container
//!   statuses' image, image ID and container ID; the pod's DNS policy,
//!   scheduler name, service account and preemption policy, and its QoS
//!   class. Each is a small heap string, ~0.8 KiB per pod in all (10,000
//!   pods: ~8 MB). Everything a controller reads stays: names, ports,
//!   resources, env, restart policies, states, exit codes, conditions.
//!   No controller writes a cached pod back whole (pods are only patched
//!   and deleted), so nothing stripped here can be lost on the server.

use std::any::Any;

use k8s_openapi::api::core::v1::{Container, ContainerStatus, Pod, Volume};
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
        let mut dropped = Vec::new();
        if let Some(volumes) = spec.volumes.as_mut() {
            volumes.retain(|v| {
                let local = node_local(v);
                if local {
                    dropped.push(v.name.clone());
                }
                !local
            });
            volumes.shrink_to_fit();
        }
        if spec.volumes.as_ref().is_some_and(Vec::is_empty) {
            spec.volumes = None;
        }
        for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
            slim_container(c, &dropped);
        }
        spec.containers.shrink_to_fit();
        if let Some(t) = spec.tolerations.as_mut() {
            t.shrink_to_fit();
        }
        spec.dns_policy = None;
        spec.scheduler_name = None;
        spec.service_account = None;
        spec.service_account_name = None;
        spec.preemption_policy = None;
    }
    if let Some(status) = pod.status.as_mut() {
        for list in [&mut status.conditions].into_iter().flatten() {
            list.shrink_to_fit();
        }
        for list in [&mut status.container_statuses, &mut status.init_container_statuses].into_iter().flatten() {
            list.iter_mut().for_each(slim_container_status);
            list.shrink_to_fit();
        }
        status.qos_class = None;
    }
}

/// Drops what only the kubelet reads from a container: its mounts of the
/// dropped volumes, image, command, args, pull policy, termination-message
/// settings.
fn slim_container(c: &mut Container, dropped_volumes: &[String]) {
    if let Some(mounts) = c.volume_mounts.as_mut() {
        mounts.retain(|m| !dropped_volumes.contains(&m.name));
        mounts.shrink_to_fit();
    }
    if c.volume_mounts.as_ref().is_some_and(Vec::is_empty) {
        c.volume_mounts = None;
    }
    c.image = None;
    c.command = None;
    c.args = None;
    c.image_pull_policy = None;
    c.termination_message_path = None;
    c.termination_message_policy = None;
}

/// Drops the image and runtime identifiers of a container status.
fn slim_container_status(s: &mut ContainerStatus) {
    s.image = String::new();
    s.image_id = String::new();
    s.container_id = None;
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
    fn keeps_what_controllers_read_and_drops_kubelet_only_strings() {
        let pod: Pod = serde_json::from_value(json!({
            "metadata": {"name": "p", "labels": {"app": "a"}},
            "spec": {
                "containers": [{
                    "name": "c", "image": "i", "command": ["run"], "args": ["x"], "imagePullPolicy": "IfNotPresent",
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File",
                    "env": [{"name": "E", "value": "v"}],
                    "ports": [{"name": "http", "containerPort": 8080}],
                    "resources": {"requests": {"cpu": "10m"}},
                    "volumeMounts": [{"name": "kube-api-access-x", "mountPath": "/var/run/secrets"}, {"name": "data", "mountPath": "/d"}]
                }],
                "initContainers": [{"name": "i", "image": "i", "volumeMounts": [{"name": "kube-api-access-x", "mountPath": "/s"}]}],
                "volumes": [{"name": "kube-api-access-x", "projected": {}}, {"name": "data", "persistentVolumeClaim": {"claimName": "d"}}],
                "nodeName": "n1", "restartPolicy": "Never", "hostname": "h", "subdomain": "s", "priorityClassName": "high",
                "dnsPolicy": "ClusterFirst", "schedulerName": "default-scheduler", "serviceAccountName": "default",
                "serviceAccount": "default", "preemptionPolicy": "PreemptLowerPriority",
                "tolerations": [{"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute"}]
            },
            "status": {
                "phase": "Running", "podIP": "10.0.0.5", "podIPs": [{"ip": "10.0.0.5"}], "hostIP": "10.1.0.1", "qosClass": "Burstable",
                "conditions": [{"type": "Ready", "status": "True"}, {"type": "Initialized", "status": "True"}],
                "containerStatuses": [{
                    "name": "c", "ready": true, "restartCount": 2, "image": "i", "imageID": "sha256:x", "containerID": "containerd://y",
                    "state": {"running": {"startedAt": "2026-01-01T00:00:00Z"}},
                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}
                }]
            }
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let slim = strip(pod.clone());
        let (spec, full_spec) = (slim.spec.as_ref().unwrap_or_else(|| panic!("spec")), pod.spec.as_ref().unwrap_or_else(|| panic!("spec")));
        let c = &spec.containers[0];
        let full = &full_spec.containers[0];
        assert_eq!((&c.name, &c.env, &c.ports, &c.resources), (&full.name, &full.env, &full.ports, &full.resources));
        let mounts: Vec<&str> = c.volume_mounts.iter().flatten().map(|m| m.name.as_str()).collect();
        assert_eq!(mounts, ["data"]);
        assert!(spec.init_containers.as_ref().is_some_and(|i| i[0].volume_mounts.is_none() && i[0].image.is_none()));
        assert_eq!((&c.image, &c.command, &c.args, &c.image_pull_policy), (&None, &None, &None, &None));
        assert_eq!((&c.termination_message_path, &c.termination_message_policy), (&None, &None));
        assert_eq!((&spec.node_name, &spec.restart_policy, &spec.hostname, &spec.subdomain), (&full_spec.node_name, &full_spec.restart_policy, &full_spec.hostname, &full_spec.subdomain));
        assert_eq!((&spec.priority_class_name, &spec.tolerations), (&full_spec.priority_class_name, &full_spec.tolerations));
        assert_eq!((&spec.dns_policy, &spec.scheduler_name, &spec.service_account_name, &spec.service_account), (&None, &None, &None, &None));
        assert_eq!(spec.preemption_policy, None);

        let (status, full_status) = (slim.status.as_ref().unwrap_or_else(|| panic!("status")), pod.status.as_ref().unwrap_or_else(|| panic!("status")));
        assert_eq!((&status.phase, &status.pod_ip, &status.pod_ips, &status.host_ip), (&full_status.phase, &full_status.pod_ip, &full_status.pod_ips, &full_status.host_ip));
        assert_eq!(status.conditions, full_status.conditions);
        assert_eq!(status.qos_class, None);
        let (cs, full_cs) = (&status.container_statuses.as_ref().unwrap_or_else(|| panic!("statuses"))[0], &full_status.container_statuses.as_ref().unwrap_or_else(|| panic!("statuses"))[0]);
        assert_eq!((&cs.name, cs.ready, cs.restart_count, &cs.state, &cs.last_state), (&full_cs.name, full_cs.ready, full_cs.restart_count, &full_cs.state, &full_cs.last_state));
        assert_eq!((cs.image.as_str(), cs.image_id.as_str(), &cs.container_id), ("", "", &None));
        assert_eq!(slim.metadata.labels, pod.metadata.labels);
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
