//! Trimming objects before the scheduler keeps them (upstream's informer
//! transform, `kube-scheduler` strips `metadata.managedFields`).
//!
//! Every watched object loses `metadata.managedFields` and the
//! `kubectl.kubernetes.io/last-applied-configuration` annotation: nothing in
//! the scheduler reads them, and a pod's field-ownership tree alone is
//! several times the size of the rest of the object in memory. Pods keep
//! only what the plugins, the queue and the recorder read:
//! - status: `phase`, `startTime`, `nominatedNodeName`, the `PodScheduled`
//!   condition (the per-container statuses and other conditions go);
//! - containers and init containers: `name`, `image` (ImageLocality),
//!   `ports` (NodePorts), `resources` and `restartPolicy` (requests,
//!   sidecars); the rest (command, env, probes, mounts, security context…)
//!   goes, as do ephemeral containers (no resources);
//! - volumes: only claim-backed ones (`persistentVolumeClaim`, `ephemeral`:
//!   VolumeBinding, VolumeRestrictions); projected, secret, config map,
//!   emptyDir… volumes are never consulted.
//!
//!
//! Nodes keep their metadata (labels, annotations), `spec.taints` and
//! `spec.unschedulable`, and of their status `allocatable`, `images`
//! (ImageLocality) and each condition's `type` and `status` (the queue's
//! node-update check); capacity, addresses, node info, daemon endpoints,
//! volumes, pod CIDRs and the conditions' reasons, messages and times go.
//!
//! A plugin that starts reading another field must keep it here.
//! Assigned pods are trimmed much further: the cache keeps only their
//! [`PodRecord`](crate::podinfo::PodRecord).
//!
//! Pure functions over the typed objects; the shell applies them to watch
//! events (`scheduler.rs`).

use k8s_openapi::api::core::v1::{Container, Node, NodeCondition, NodeSpec, NodeStatus, Pod};
use kube::api::ObjectMeta;
use kube::Resource;

/// Upstream `kubectl.kubernetes.io/last-applied-configuration`.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// Drops what no scheduler code reads from any object's metadata.
pub fn strip_meta(meta: &mut ObjectMeta) {
    meta.managed_fields = None;
    if let Some(a) = meta.annotations.as_mut() {
        a.remove(LAST_APPLIED);
        if a.is_empty() {
            meta.annotations = None;
        }
    }
}

/// [`strip_meta`] for any resource (lister transforms).
pub fn strip_object<K: Resource>(obj: &mut K) {
    strip_meta(obj.meta_mut());
}

/// The container fields the scheduler reads (see the module docs).
fn strip_container(c: &mut Container) {
    *c = Container {
        name: std::mem::take(&mut c.name),
        image: c.image.take(),
        ports: c.ports.take(),
        resources: c.resources.take(),
        restart_policy: c.restart_policy.take(),
        ..Default::default()
    };
}

/// [`strip_meta`] plus the parts of a pod the scheduler never reads.
pub fn strip_pod(pod: &mut Pod) {
    strip_meta(&mut pod.metadata);
    if let Some(spec) = pod.spec.as_mut() {
        spec.containers.iter_mut().for_each(strip_container);
        spec.init_containers.iter_mut().flatten().for_each(strip_container);
        spec.ephemeral_containers = None;
        if let Some(v) = spec.volumes.as_mut() {
            v.retain(|v| v.persistent_volume_claim.is_some() || v.ephemeral.is_some());
            if v.is_empty() {
                spec.volumes = None;
            }
        }
    }
    if let Some(s) = pod.status.as_mut() {
        s.container_statuses = None;
        s.init_container_statuses = None;
        s.ephemeral_container_statuses = None;
        if let Some(c) = s.conditions.as_mut() {
            c.retain(|c| c.type_ == "PodScheduled");
            if c.is_empty() {
                s.conditions = None;
            }
        }
    }
}

/// [`strip_meta`] plus the parts of a node the scheduler never reads (see
/// the module docs).
pub fn strip_node(node: &mut Node) {
    strip_meta(&mut node.metadata);
    if let Some(spec) = node.spec.as_mut() {
        *spec = NodeSpec { taints: spec.taints.take(), unschedulable: spec.unschedulable.take(), ..Default::default() };
    }
    if let Some(status) = node.status.as_mut() {
        let conditions = status.conditions.take().map(|list| {
            list.into_iter().map(|c| NodeCondition { type_: c.type_, status: c.status, ..Default::default() }).collect()
        });
        *status = NodeStatus { allocatable: status.allocatable.take(), images: status.images.take(), conditions, ..Default::default() };
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::testutil::{node, pod};
    use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ManagedFieldsEntry;

    fn cond(t: &str) -> PodCondition {
        PodCondition { type_: t.into(), status: "True".into(), ..Default::default() }
    }

    #[test]
    fn pods_keep_what_the_scheduler_reads() {
        let mut p = pod("p")
            .label("app", "web")
            .node("n1")
            .with(|p| {
                p.metadata.managed_fields = Some(vec![ManagedFieldsEntry { manager: Some("kubectl".into()), ..Default::default() }]);
                p.metadata.annotations = Some([(LAST_APPLIED.to_string(), "{}".to_string()), ("keep".to_string(), "me".to_string())].into());
                let s = p.status.get_or_insert_with(Default::default);
                s.phase = Some("Running".into());
                s.nominated_node_name = Some("n2".into());
                s.container_statuses = Some(vec![ContainerStatus { name: "c".into(), ..Default::default() }]);
                s.conditions = Some(vec![cond("Ready"), cond("PodScheduled"), cond("Initialized")]);
            })
            .build();
        let requests_before = (crate::resources::pod_requests(&p, false), crate::resources::pod_requests(&p, true));
        strip_pod(&mut p);
        assert!(p.metadata.managed_fields.is_none());
        assert_eq!(p.metadata.annotations, Some([("keep".to_string(), "me".to_string())].into()));
        assert_eq!(p.metadata.labels.as_ref().and_then(|l| l.get("app")).map(String::as_str), Some("web"));
        assert_eq!((crate::resources::pod_requests(&p, false), crate::resources::pod_requests(&p, true)), requests_before);
        assert_eq!(p.spec.as_ref().and_then(|s| s.node_name.as_deref()), Some("n1"));
        let s = p.status.as_ref().unwrap();
        assert_eq!(s.phase.as_deref(), Some("Running"));
        assert_eq!(s.nominated_node_name.as_deref(), Some("n2"));
        assert!(s.container_statuses.is_none());
        assert_eq!(s.conditions.as_ref().map(|c| c.iter().map(|c| c.type_.as_str()).collect::<Vec<_>>()), Some(vec!["PodScheduled"]));
    }

    #[test]
    fn containers_and_volumes_keep_what_plugins_read() {
        use k8s_openapi::api::core::v1::{EnvVar, PersistentVolumeClaimVolumeSource, ProjectedVolumeSource, Volume, VolumeMount};
        let mut p = pod("p")
            .cpu("250m")
            .host_port(8080)
            .image("nginx:1.2")
            .with(|p| {
                let spec = p.spec.as_mut().unwrap();
                let c = &mut spec.containers[0];
                c.env = Some(vec![EnvVar { name: "A".into(), value: Some("b".into()), ..Default::default() }]);
                c.command = Some(vec!["/bin/app".into()]);
                c.volume_mounts = Some(vec![VolumeMount { name: "token".into(), mount_path: "/var/run".into(), ..Default::default() }]);
                let mut sidecar = c.clone();
                sidecar.name = "sidecar".into();
                sidecar.restart_policy = Some("Always".into());
                spec.init_containers = Some(vec![sidecar]);
                spec.volumes = Some(vec![
                    Volume { name: "token".into(), projected: Some(ProjectedVolumeSource::default()), ..Default::default() },
                    Volume {
                        name: "data".into(),
                        persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: "claim".into(), read_only: None }),
                        ..Default::default()
                    },
                ]);
            })
            .build();
        let before = (crate::podinfo::host_ports(&p), crate::resources::pod_requests(&p, true), crate::cache::pvc_keys(&p));
        strip_pod(&mut p);
        assert_eq!((crate::podinfo::host_ports(&p), crate::resources::pod_requests(&p, true), crate::cache::pvc_keys(&p)), before);
        let spec = p.spec.as_ref().unwrap();
        let c = &spec.containers[0];
        assert_eq!((c.image.as_deref(), c.env.as_ref(), c.command.as_ref(), c.volume_mounts.as_ref()), (Some("nginx:1.2"), None, None, None));
        let init = &spec.init_containers.as_ref().unwrap()[0];
        assert_eq!((init.name.as_str(), init.restart_policy.as_deref(), init.env.as_ref()), ("sidecar", Some("Always"), None));
        assert_eq!(spec.volumes.as_ref().map(|v| v.iter().map(|v| v.name.as_str()).collect::<Vec<_>>()), Some(vec!["data"]));
    }

    #[test]
    fn nodes_keep_what_plugins_and_the_queue_read() {
        use k8s_openapi::api::core::v1::{NodeAddress, NodeCondition, NodeSystemInfo, Taint};
        let mut n = node("n1").cpu("4").label("zone", "a").taint("k", "v", "NoSchedule").unschedulable().image("pause:3.10", 1).build();
        n.spec.as_mut().unwrap().pod_cidr = Some("10.0.0.0/24".into());
        let s = n.status.as_mut().unwrap();
        s.capacity = s.allocatable.clone();
        s.addresses = Some(vec![NodeAddress { type_: "InternalIP".into(), address: "10.0.0.1".into() }]);
        s.node_info = Some(NodeSystemInfo { kubelet_version: "v1.33.0".into(), ..Default::default() });
        s.conditions = Some(vec![NodeCondition {
            type_: "Ready".into(),
            status: "True".into(),
            reason: Some("KubeletReady".into()),
            message: Some("kubelet is posting ready status".into()),
            ..Default::default()
        }]);
        let allocatable = n.status.as_ref().unwrap().allocatable.clone();
        strip_node(&mut n);
        assert_eq!(n.metadata.labels.as_ref().and_then(|l| l.get("zone")).map(String::as_str), Some("a"));
        let spec = n.spec.as_ref().unwrap();
        assert_eq!((spec.unschedulable, spec.pod_cidr.as_ref()), (Some(true), None));
        assert_eq!(spec.taints.as_ref().map(|t| t.iter().map(|t: &Taint| t.key.as_str()).collect::<Vec<_>>()), Some(vec!["k"]));
        let s = n.status.as_ref().unwrap();
        assert_eq!(s.allocatable, allocatable);
        assert_eq!((s.capacity.as_ref(), s.addresses.as_ref(), s.node_info.as_ref()), (None, None, None));
        assert_eq!(s.images.as_ref().map(Vec::len), Some(1));
        assert_eq!(s.conditions, Some(vec![NodeCondition { type_: "Ready".into(), status: "True".into(), ..Default::default() }]));
    }

    #[test]
    fn annotations_emptied_by_stripping_are_dropped() {
        // (annotations before, annotation keys after)
        type Case<'a> = (&'a [(&'a str, &'a str)], Option<&'a [&'a str]>);
        let cases: &[Case] = &[(&[(LAST_APPLIED, "{}")], None), (&[(LAST_APPLIED, "{}"), ("a", "b")], Some(&["a"])), (&[], None)];
        for (annotations, want) in cases {
            let mut n = node("n").build();
            if !annotations.is_empty() {
                n.metadata.annotations = Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
            }
            strip_node(&mut n);
            let got = n.metadata.annotations.as_ref().map(|a| a.keys().map(String::as_str).collect::<Vec<_>>());
            assert_eq!(got.as_deref(), *want, "{annotations:?}");
        }
    }
}
