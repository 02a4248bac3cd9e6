//! The pod as the shared informer caches it: only the fields controllers
//! read, decoded by serde straight from the watch stream (every other
//! field of the JSON is skipped without being built), so a full
//! `k8s_openapi` `Pod` never exists for a cached pod.
//!
//! Why: the fixed sizes of the `k8s_openapi` structs dominate a cached pod
//! (`Pod` 2,176 B, each `Container` 2,120 B, `ContainerStatus` 752 B, each
//! `PodCondition` 160 B), whatever the pod holds. A controller-manager with
//! 10,000 pods spent ~78 MB on them (7.8 KB per pod after trimming); this
//! type holds the same information controllers use in about a third of that
//! (see `tests/cached_pod_memory.rs`, which keeps the budget).
//!
//! Shape: field names, nesting and most field types are those of
//! `k8s_openapi` (`pod.spec.as_ref()?.node_name`, `status.conditions`,
//! `c.state.as_ref()?.terminated.as_ref()?.exit_code`), so controller code
//! reads a `CachedPod` as it would read a `Pod`. The differences:
//! - `metadata` is an `ObjectMeta` without `managedFields` and `selfLink`
//!   (upstream kube-controller-manager strips managed fields too);
//! - pod conditions' `type`, `status` and the phase are [`Interned`]:
//!   well-known values (`Ready`, `True`, `Running`, ...) cost no
//!   allocation;
//! - resource lists are a [`ResourceList`] (a short vector, not a
//!   `BTreeMap`, whose smallest node is ~540 B);
//! - lists are decoded to their exact length (serde would leave room for
//!   four containers in a one-container pod);
//! - the terminated and waiting container states are boxed (most pods
//!   are running).
//!
//! Kept (what some controller reads): metadata; spec `nodeName`,
//! containers and init containers (name, ports, resources, restartPolicy),
//! `hostname`, `subdomain`, `restartPolicy`, `activeDeadlineSeconds`,
//! `tolerations` (taint eviction), `overhead` (quota), `priority`, the
//! required node affinity (DaemonSet pods' target node), the volumes that
//! name a claim (`persistentVolumeClaim` with its `claimName`, or
//! `ephemeral` without its template: PVC protection); status
//! `phase`, conditions (type, status, lastTransitionTime; no controller
//! reads a pod condition's reason or message), container and init-container statuses (name,
//! ready, restartCount, started, state and lastState with exit codes and
//! reasons), `podIP(s)`, `hostIP`, `startTime`, `reason`.
//!
//! Dropped (only the kubelet, the scheduler or people read them): images,
//! commands, env, mounts and all other volumes, probes, security contexts, other
//! affinities, node selectors, DNS settings, service accounts, scheduling gates,
//! container IDs, QoS class. No controller writes a cached pod back whole:
//! pods are created from templates as full `k8s_openapi` pods, and cached
//! pods are only patched (with patches naming the fields they change) and
//! deleted, so nothing dropped here can be lost on the server.

use std::borrow::{Borrow, Cow};
use std::fmt;
use std::ops::Deref;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::core::NamespaceResourceScope;
use kube::Resource;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A cached pod (see the module docs for what it keeps).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct CachedPod {
    #[serde(default, deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<PodSpec>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<PodStatus>,
}

impl Resource for CachedPod {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        "Pod".into()
    }

    fn group(_: &()) -> Cow<'_, str> {
        "".into()
    }

    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }

    fn api_version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }

    fn plural(_: &()) -> Cow<'_, str> {
        "pods".into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodSpec {
    pub node_name: Option<String>,
    #[serde(deserialize_with = "exact_vec")]
    pub containers: Vec<Container>,
    #[serde(deserialize_with = "exact_opt_vec")]
    pub init_containers: Option<Vec<Container>>,
    pub hostname: Option<String>,
    pub subdomain: Option<String>,
    pub restart_policy: Option<String>,
    pub active_deadline_seconds: Option<i64>,
    #[serde(deserialize_with = "exact_opt_vec")]
    pub tolerations: Option<Vec<Toleration>>,
    pub overhead: Option<ResourceList>,
    pub priority: Option<i32>,
    /// Only the required node affinity (DaemonSet pods are pinned to their
    /// node with it until scheduled); boxed, as most pods have none.
    pub affinity: Option<Box<Affinity>>,
    /// Only the volumes that name a PersistentVolumeClaim (see [`Volume`]);
    /// `None` when there are none, so most pods (whose only volume is the
    /// service-account token) pay one pointer; boxed to keep that at 8 B.
    #[allow(clippy::box_collection)] // one pointer inline: most pods have no claims
    #[serde(deserialize_with = "claim_volumes")]
    pub volumes: Option<Box<Vec<Volume>>>,
}

/// A pod volume that names a claim: `persistentVolumeClaim.claimName`, or a
/// generic `ephemeral` volume, whose claim is `<pod>-<volume>` (the claim
/// template is not kept).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Volume {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persistent_volume_claim: Option<PersistentVolumeClaimVolumeSource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral: Option<EphemeralVolumeSource>,
}

impl Volume {
    fn names_a_claim(&self) -> bool {
        self.persistent_volume_claim.is_some() || self.ephemeral.is_some()
    }
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PersistentVolumeClaimVolumeSource {
    pub claim_name: String,
}

/// Marks a generic ephemeral volume; its `volumeClaimTemplate` is skipped.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct EphemeralVolumeSource {}

/// A toleration; key, operator and effect are [`Interned`] (every pod
/// carries the `not-ready` and `unreachable` NoExecute tolerations that
/// admission adds).
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Toleration {
    pub key: Option<Interned>,
    pub operator: Option<Interned>,
    pub value: Option<String>,
    pub effect: Option<Interned>,
    pub toleration_seconds: Option<i64>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Affinity {
    pub node_affinity: Option<NodeAffinity>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NodeAffinity {
    pub required_during_scheduling_ignored_during_execution: Option<core::NodeSelector>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Container {
    pub name: String,
    #[serde(deserialize_with = "exact_opt_vec")]
    pub ports: Option<Vec<core::ContainerPort>>,
    pub resources: Option<ResourceRequirements>,
    /// `Always` marks a sidecar init container.
    pub restart_policy: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(default)]
pub struct ResourceRequirements {
    pub limits: Option<ResourceList>,
    pub requests: Option<ResourceList>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodStatus {
    pub phase: Option<Interned>,
    #[serde(deserialize_with = "exact_opt_vec")]
    pub conditions: Option<Vec<PodCondition>>,
    #[serde(deserialize_with = "exact_opt_vec")]
    pub container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(deserialize_with = "exact_opt_vec")]
    pub init_container_statuses: Option<Vec<ContainerStatus>>,
    #[serde(rename = "podIP")]
    pub pod_ip: Option<String>,
    #[serde(deserialize_with = "exact_opt_vec")]
    #[serde(rename = "podIPs")]
    pub pod_ips: Option<Vec<core::PodIP>>,
    #[serde(rename = "hostIP")]
    pub host_ip: Option<String>,
    pub start_time: Option<Time>,
    pub reason: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PodCondition {
    #[serde(rename = "type")]
    pub type_: Interned,
    pub status: Interned,
    pub last_transition_time: Option<Time>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStatus {
    pub name: String,
    pub ready: bool,
    pub restart_count: i32,
    pub started: Option<bool>,
    pub state: Option<ContainerState>,
    pub last_state: Option<ContainerState>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerState {
    pub running: Option<core::ContainerStateRunning>,
    pub terminated: Option<Box<ContainerStateTerminated>>,
    pub waiting: Option<Box<core::ContainerStateWaiting>>,
}

#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerStateTerminated {
    pub exit_code: i32,
    pub signal: Option<i32>,
    pub reason: Option<String>,
    pub message: Option<String>,
    pub started_at: Option<Time>,
    pub finished_at: Option<Time>,
}

/// A list decoded to its exact length. Serde grows a vector as elements
/// arrive (capacity 4, 8, ...: JSON gives no length up front), so one
/// container would hold room for four; cached for the life of the pod,
/// that slack was a quarter of the cache.
fn exact_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    let mut v = Vec::<T>::deserialize(d)?;
    v.shrink_to_fit();
    Ok(v)
}

/// [`exact_vec`] for an optional list.
fn exact_opt_vec<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Vec<T>>, D::Error> {
    let mut v = Option::<Vec<T>>::deserialize(d)?;
    if let Some(v) = v.as_mut() {
        v.shrink_to_fit();
    }
    Ok(v)
}

/// The claim-naming volumes of `spec.volumes` (others are decoded only
/// to be dropped), at exact length; `None` if there are none.
#[allow(clippy::box_collection)]
fn claim_volumes<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Box<Vec<Volume>>>, D::Error> {
    Ok(keep_claim_volumes(Option::<Vec<Volume>>::deserialize(d)?))
}

#[allow(clippy::box_collection)]
fn keep_claim_volumes(volumes: Option<Vec<Volume>>) -> Option<Box<Vec<Volume>>> {
    let mut volumes = volumes?;
    volumes.retain(Volume::names_a_claim);
    volumes.shrink_to_fit();
    (!volumes.is_empty()).then(|| Box::new(volumes))
}

/// `metadata` without `managedFields` and `selfLink`, skipped while
/// decoding.
fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Default, Deserialize)]
    #[serde(rename_all = "camelCase", default)]
    struct Wire {
        name: Option<String>,
        generate_name: Option<String>,
        namespace: Option<String>,
        uid: Option<String>,
        resource_version: Option<String>,
        generation: Option<i64>,
        creation_timestamp: Option<Time>,
        deletion_timestamp: Option<Time>,
        deletion_grace_period_seconds: Option<i64>,
        labels: Option<std::collections::BTreeMap<String, String>>,
        annotations: Option<std::collections::BTreeMap<String, String>>,
        #[serde(deserialize_with = "exact_opt_vec")]
        owner_references: Option<Vec<OwnerReference>>,
        #[serde(deserialize_with = "exact_opt_vec")]
        finalizers: Option<Vec<String>>,
    }
    let w = Option::<Wire>::deserialize(d)?.unwrap_or_default();
    Ok(ObjectMeta {
        name: w.name,
        generate_name: w.generate_name,
        namespace: w.namespace,
        uid: w.uid,
        resource_version: w.resource_version,
        generation: w.generation,
        creation_timestamp: w.creation_timestamp,
        deletion_timestamp: w.deletion_timestamp,
        deletion_grace_period_seconds: w.deletion_grace_period_seconds,
        labels: w.labels,
        annotations: w.annotations,
        owner_references: w.owner_references,
        finalizers: w.finalizers,
        managed_fields: None,
        self_link: None,
    })
}

/// A string whose well-known values (condition types and statuses, pod
/// phases, the default tolerations' keys, operators and effects) are static and cost no allocation; any other value is owned.
/// Compares with `&str` and derefs to `str`, as a `String` does.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Interned(Cow<'static, str>);

/// The values [`Interned`] shares.
const WELL_KNOWN: &[&str] = &[
    "True",
    "False",
    "Unknown",
    "Ready",
    "ContainersReady",
    "Initialized",
    "PodScheduled",
    "PodReadyToStartContainers",
    "DisruptionTarget",
    "PodResizePending",
    "PodResizeInProgress",
    "Pending",
    "Running",
    "Succeeded",
    "Failed",
    "node.kubernetes.io/not-ready",
    "node.kubernetes.io/unreachable",
    "Exists",
    "Equal",
    "NoExecute",
    "NoSchedule",
    "PreferNoSchedule",
];

impl Interned {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl From<&str> for Interned {
    fn from(s: &str) -> Interned {
        match WELL_KNOWN.iter().find(|k| **k == s) {
            Some(k) => Interned(Cow::Borrowed(k)),
            None => Interned(Cow::Owned(s.to_string())),
        }
    }
}

impl From<String> for Interned {
    fn from(s: String) -> Interned {
        match WELL_KNOWN.iter().find(|k| **k == s) {
            Some(k) => Interned(Cow::Borrowed(k)),
            None => Interned(Cow::Owned(s)),
        }
    }
}

impl From<Interned> for String {
    fn from(s: Interned) -> String {
        s.0.into_owned()
    }
}

impl Deref for Interned {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Interned {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Interned {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl PartialEq<str> for Interned {
    fn eq(&self, other: &str) -> bool {
        *self.0 == *other
    }
}

impl PartialEq<&str> for Interned {
    fn eq(&self, other: &&str) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<String> for Interned {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl fmt::Debug for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl fmt::Display for Interned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl Serialize for Interned {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Interned {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Interned, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Interned;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<Interned, E> {
                Ok(Interned::from(s))
            }
            fn visit_string<E: serde::de::Error>(self, s: String) -> Result<Interned, E> {
                Ok(Interned::from(s))
            }
        }
        d.deserialize_str(V)
    }
}

/// A resource list (`requests`, `limits`, `overhead`): names and
/// quantities in a short vector, in the order received. Lookups are
/// linear; pods name a handful of resources.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResourceList(Vec<(String, Quantity)>);

impl ResourceList {
    pub fn get(&self, name: &str) -> Option<&Quantity> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Quantity)> {
        self.0.iter().map(|(k, v)| (k.as_str(), v))
    }
}

impl<K: Into<String>> FromIterator<(K, Quantity)> for ResourceList {
    fn from_iter<I: IntoIterator<Item = (K, Quantity)>>(iter: I) -> ResourceList {
        let mut list: Vec<(String, Quantity)> = iter.into_iter().map(|(k, v)| (k.into(), v)).collect();
        list.shrink_to_fit();
        ResourceList(list)
    }
}

impl Serialize for ResourceList {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.0.iter().map(|(k, v)| (k, v)))
    }
}

impl<'de> Deserialize<'de> for ResourceList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<ResourceList, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ResourceList;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a map of resource names to quantities")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ResourceList, A::Error> {
                let mut list = Vec::with_capacity(map.size_hint().unwrap_or(0));
                while let Some((k, v)) = map.next_entry::<String, Quantity>()? {
                    list.push((k, v));
                }
                list.shrink_to_fit();
                Ok(ResourceList(list))
            }
        }
        d.deserialize_map(V)
    }
}

// Conversions from full pods: for pods a controller has just created or
// read live, and for tests, which build pods with `k8s_openapi` types.

impl From<core::Pod> for CachedPod {
    fn from(p: core::Pod) -> CachedPod {
        let mut metadata = p.metadata;
        metadata.managed_fields = None;
        metadata.self_link = None;
        CachedPod { metadata, spec: p.spec.map(PodSpec::from), status: p.status.map(PodStatus::from) }
    }
}

impl From<&core::Pod> for CachedPod {
    fn from(p: &core::Pod) -> CachedPod {
        CachedPod::from(p.clone())
    }
}

fn resource_list(m: Option<std::collections::BTreeMap<String, Quantity>>) -> Option<ResourceList> {
    m.map(|m| m.into_iter().collect())
}

impl From<core::PodSpec> for PodSpec {
    fn from(s: core::PodSpec) -> PodSpec {
        PodSpec {
            node_name: s.node_name,
            containers: s.containers.into_iter().map(Container::from).collect(),
            init_containers: s.init_containers.map(|c| c.into_iter().map(Container::from).collect()),
            hostname: s.hostname,
            subdomain: s.subdomain,
            restart_policy: s.restart_policy,
            active_deadline_seconds: s.active_deadline_seconds,
            tolerations: s.tolerations.map(|l| l.into_iter().map(Toleration::from).collect()),
            overhead: resource_list(s.overhead),
            priority: s.priority,
            affinity: s.affinity.and_then(|a| a.node_affinity).and_then(|n| n.required_during_scheduling_ignored_during_execution).map(|required| {
                Box::new(Affinity { node_affinity: Some(NodeAffinity { required_during_scheduling_ignored_during_execution: Some(required) }) })
            }),
            volumes: keep_claim_volumes(s.volumes.map(|l| {
                l.into_iter()
                    .map(|v| Volume {
                        name: v.name,
                        persistent_volume_claim: v.persistent_volume_claim.map(|c| PersistentVolumeClaimVolumeSource { claim_name: c.claim_name }),
                        ephemeral: v.ephemeral.map(|_| EphemeralVolumeSource {}),
                    })
                    .collect()
            })),
        }
    }
}

impl From<core::Toleration> for Toleration {
    fn from(t: core::Toleration) -> Toleration {
        Toleration {
            key: t.key.map(Interned::from),
            operator: t.operator.map(Interned::from),
            value: t.value,
            effect: t.effect.map(Interned::from),
            toleration_seconds: t.toleration_seconds,
        }
    }
}

impl From<core::Container> for Container {
    fn from(c: core::Container) -> Container {
        Container {
            name: c.name,
            ports: c.ports,
            resources: c.resources.map(|r| ResourceRequirements { limits: resource_list(r.limits), requests: resource_list(r.requests) }),
            restart_policy: c.restart_policy,
        }
    }
}

impl From<core::PodStatus> for PodStatus {
    fn from(s: core::PodStatus) -> PodStatus {
        let statuses = |l: Option<Vec<core::ContainerStatus>>| l.map(|l| l.into_iter().map(ContainerStatus::from).collect());
        PodStatus {
            phase: s.phase.map(Interned::from),
            conditions: s.conditions.map(|l| l.into_iter().map(PodCondition::from).collect()),
            container_statuses: statuses(s.container_statuses),
            init_container_statuses: statuses(s.init_container_statuses),
            pod_ip: s.pod_ip,
            pod_ips: s.pod_ips,
            host_ip: s.host_ip,
            start_time: s.start_time,
            reason: s.reason,
        }
    }
}

impl From<core::PodCondition> for PodCondition {
    fn from(c: core::PodCondition) -> PodCondition {
        PodCondition {
            type_: c.type_.into(),
            status: c.status.into(),
            last_transition_time: c.last_transition_time,
        }
    }
}

impl From<&PodCondition> for core::PodCondition {
    fn from(c: &PodCondition) -> core::PodCondition {
        core::PodCondition {
            type_: c.type_.to_string(),
            status: c.status.to_string(),
            last_transition_time: c.last_transition_time.clone(),
            ..core::PodCondition::default()
        }
    }
}

impl From<core::ContainerStatus> for ContainerStatus {
    fn from(c: core::ContainerStatus) -> ContainerStatus {
        ContainerStatus {
            name: c.name,
            ready: c.ready,
            restart_count: c.restart_count,
            started: c.started,
            state: c.state.map(ContainerState::from),
            last_state: c.last_state.map(ContainerState::from),
        }
    }
}

impl From<core::ContainerState> for ContainerState {
    fn from(s: core::ContainerState) -> ContainerState {
        ContainerState {
            running: s.running,
            terminated: s.terminated.map(|t| {
                Box::new(ContainerStateTerminated {
                    exit_code: t.exit_code,
                    signal: t.signal,
                    reason: t.reason,
                    message: t.message,
                    started_at: t.started_at,
                    finished_at: t.finished_at,
                })
            }),
            waiting: s.waiting.map(Box::new),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A pod as the API server sends it after the kubelet reported it
    /// Running and Ready, with what admission and the scheduler add.
    pub(crate) fn running_pod_json() -> serde_json::Value {
        json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "bench-6d4cf56db6-x7k2p", "generateName": "bench-6d4cf56db6-", "namespace": "default",
                "uid": "6f1c1d9e-8a51-4d5e-9c0e-3f2b6a1d2e4f", "resourceVersion": "123456",
                "creationTimestamp": "2026-11-22T14:00:00Z",
                "labels": {"app": "bench", "pod-template-hash": "6d4cf56db6"},
                "annotations": {"controller.kubernetes.io/pod-deletion-cost": "3"},
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "bench-6d4cf56db6",
                    "uid": "0b7a9c1e-2f3d-4e5f-8a9b-c0d1e2f3a4b5", "controller": true, "blockOwnerDeletion": true}],
                "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1",
                    "time": "2026-11-22T14:00:00Z", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {}}}}]
            },
            "spec": {
                "volumes": [{"name": "kube-api-access-abcde", "projected": {"sources": [{"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}}]}}],
                "containers": [{
                    "name": "c", "image": "registry.k8s.io/pause:3.10",
                    "ports": [{"name": "http", "containerPort": 8080, "protocol": "TCP"}],
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                    "volumeMounts": [{"name": "kube-api-access-abcde", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                    "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"
                }],
                "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
                "serviceAccountName": "default", "serviceAccount": "default", "nodeName": "node-0042",
                "securityContext": {}, "schedulerName": "default-scheduler",
                "tolerations": [
                    {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                    {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
                ],
                "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority"
            },
            "status": {
                "phase": "Running",
                "conditions": [
                    {"type": "PodReadyToStartContainers", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T14:00:01Z"},
                    {"type": "Initialized", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T14:00:01Z"},
                    {"type": "Ready", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T14:00:02Z"},
                    {"type": "ContainersReady", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T14:00:02Z"},
                    {"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": "2026-11-22T14:00:00Z"}
                ],
                "hostIP": "10.1.0.42", "hostIPs": [{"ip": "10.1.0.42"}], "podIP": "10.0.42.7", "podIPs": [{"ip": "10.0.42.7"}],
                "startTime": "2026-11-22T14:00:01Z",
                "containerStatuses": [{
                    "name": "c", "state": {"running": {"startedAt": "2026-11-22T14:00:01Z"}}, "lastState": {},
                    "ready": true, "restartCount": 0, "image": "registry.k8s.io/pause:3.10",
                    "imageID": "registry.k8s.io/pause@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a",
                    "containerID": "containerd://6f1c1d9e8a514d5e9c0e3f2b6a1d2e4f", "started": true
                }],
                "qosClass": "Burstable"
            }
        })
    }

    #[test]
    fn decodes_what_controllers_read_from_the_wire() {
        let pod: CachedPod = serde_json::from_value(running_pod_json()).unwrap_or_else(|e| panic!("{e}"));
        let m = &pod.metadata;
        assert_eq!((m.name.as_deref(), m.namespace.as_deref()), (Some("bench-6d4cf56db6-x7k2p"), Some("default")));
        assert!(m.managed_fields.is_none());
        assert_eq!(m.labels.as_ref().map(|l| l.len()), Some(2));
        assert_eq!(m.owner_references.as_ref().map(|o| o[0].kind.as_str()), Some("ReplicaSet"));
        let spec = pod.spec.as_ref().unwrap_or_else(|| panic!("spec"));
        assert_eq!(spec.node_name.as_deref(), Some("node-0042"));
        let c = &spec.containers[0];
        assert_eq!(c.ports.as_ref().map(|p| p[0].container_port), Some(8080));
        let requests = c.resources.as_ref().and_then(|r| r.requests.as_ref()).unwrap_or_else(|| panic!("requests"));
        assert_eq!((requests.get("cpu").map(|q| q.0.as_str()), requests.get("memory").map(|q| q.0.as_str())), (Some("10m"), Some("16Mi")));
        assert_eq!(spec.tolerations.as_ref().map(Vec::len), Some(2));
        let status = pod.status.as_ref().unwrap_or_else(|| panic!("status"));
        assert_eq!(status.phase.as_deref(), Some("Running"));
        let ready = status.conditions.iter().flatten().find(|c| c.type_ == "Ready").unwrap_or_else(|| panic!("Ready"));
        assert_eq!(ready.status, "True");
        assert!(ready.last_transition_time.is_some());
        let cs = &status.container_statuses.as_ref().unwrap_or_else(|| panic!("statuses"))[0];
        assert_eq!((cs.name.as_str(), cs.ready, cs.restart_count, cs.started), ("c", true, 0, Some(true)));
        assert!(cs.state.as_ref().is_some_and(|s| s.running.is_some()));
        assert_eq!(status.pod_ip.as_deref(), Some("10.0.42.7"));
    }

    #[test]
    fn wire_decoding_matches_conversion_from_a_full_pod() {
        let full: core::Pod = serde_json::from_value(running_pod_json()).unwrap_or_else(|e| panic!("{e}"));
        let wire: CachedPod = serde_json::from_value(running_pod_json()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(CachedPod::from(full), wire);
    }

    #[test]
    fn only_claim_volumes_are_kept() {
        let decode = |volumes: serde_json::Value| -> Option<Box<Vec<Volume>>> {
            let wire = json!({"metadata": {"name": "p"}, "spec": {"containers": [], "volumes": volumes}});
            let pod: CachedPod = serde_json::from_value(wire.clone()).unwrap_or_else(|e| panic!("{e}"));
            let full: core::Pod = serde_json::from_value(wire).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(CachedPod::from(full).spec.and_then(|s| s.volumes), pod.spec.clone().and_then(|s| s.volumes), "conversion agrees");
            pod.spec.and_then(|s| s.volumes)
        };
        let pvc = |name: &str, claim: &str| Volume {
            name: name.into(),
            persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim.into() }),
            ephemeral: None,
        };
        let eph = |name: &str| Volume { name: name.into(), persistent_volume_claim: None, ephemeral: Some(EphemeralVolumeSource {}) };
        let cases = [
            (json!(null), None),
            (json!([{"name": "token", "projected": {"sources": []}}, {"name": "cfg", "configMap": {"name": "c"}}]), None),
            (
                json!([
                    {"name": "token", "projected": {"sources": []}},
                    {"name": "data", "persistentVolumeClaim": {"claimName": "data-0", "readOnly": true}},
                    {"name": "scratch", "ephemeral": {"volumeClaimTemplate": {"spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}}}
                ]),
                Some(Box::new(vec![pvc("data", "data-0"), eph("scratch")])),
            ),
        ];
        for (volumes, want) in cases {
            assert_eq!(decode(volumes.clone()), want, "{volumes}");
        }
    }

    #[test]
    fn terminated_states_keep_exit_codes_and_reasons() {
        let pod: CachedPod = serde_json::from_value(json!({
            "metadata": {"name": "p"},
            "status": {"phase": "Failed", "reason": "DeadlineExceeded", "containerStatuses": [{
                "name": "c", "ready": false, "restartCount": 3, "image": "i", "imageID": "",
                "state": {"terminated": {"exitCode": 137, "reason": "OOMKilled", "finishedAt": "2026-01-01T00:00:00Z", "containerID": "x"}},
                "lastState": {"terminated": {"exitCode": 1, "reason": "Error"}}
            }]}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let status = pod.status.as_ref().unwrap_or_else(|| panic!("status"));
        assert_eq!(status.reason.as_deref(), Some("DeadlineExceeded"));
        let cs = &status.container_statuses.as_ref().unwrap_or_else(|| panic!("statuses"))[0];
        let t = cs.state.as_ref().and_then(|s| s.terminated.as_ref()).unwrap_or_else(|| panic!("terminated"));
        assert_eq!((t.exit_code, t.reason.as_deref()), (137, Some("OOMKilled")));
        assert!(t.finished_at.is_some());
        assert_eq!(cs.last_state.as_ref().and_then(|s| s.terminated.as_ref()).map(|t| t.exit_code), Some(1));
    }

    #[test]
    fn interned_strings_compare_like_strings_and_share_well_known_values() {
        let cases = [("True", true), ("Ready", true), ("Running", true), ("SomethingElse", false)];
        for (s, shared) in cases {
            let i = Interned::from(s);
            assert_eq!(i, s);
            assert_eq!(i.as_str(), s);
            assert_eq!(matches!(i.0, Cow::Borrowed(_)), shared, "{s}");
            let decoded: Interned = serde_json::from_value(json!(s)).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(decoded, i);
            assert_eq!(serde_json::to_value(&i).unwrap_or_default(), json!(s));
        }
    }

    #[test]
    fn resource_lists_round_trip_as_maps() {
        let list: ResourceList = serde_json::from_value(json!({"cpu": "1", "memory": "1Gi"})).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!((list.len(), list.get("cpu").map(|q| q.0.as_str()), list.get("gpu")), (2, Some("1"), None));
        assert_eq!(serde_json::to_value(&list).unwrap_or_default(), json!({"cpu": "1", "memory": "1Gi"}));
    }

    /// The fixed sizes that make up most of a cached pod (64-bit targets);
    /// growing them costs ~10,000 × the growth in a large cluster.
    #[test]
    fn inline_sizes_stay_small() {
        use std::mem::size_of;
        let sizes = [
            // 808: + 8 B for the boxed claim volumes (PVC protection).
            ("CachedPod", size_of::<CachedPod>(), 808),
            ("Container", size_of::<Container>(), 120),
            ("ContainerStatus", size_of::<ContainerStatus>(), 112),
            ("PodCondition", size_of::<PodCondition>(), 72),
        ];
        for (name, size, budget) in sizes {
            assert!(size <= budget, "{name}: {size} B > {budget} B");
        }
    }
}
