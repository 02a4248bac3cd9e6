//! Pods as the scheduler holds them (upstream `framework.PodInfo`), in two
//! shapes:
//!
//! - [`PodRecord`]: everything any plugin, the cache or preemption reads of
//!   a pod that runs (or is assumed) on a node — identity, labels,
//!   priority, start time, whether it is terminating, the claims it uses —
//!   plus the precomputed effective requests, parsed affinity terms and host
//!   ports. It is a few hundred bytes, where the (stripped) API object is
//!   several kilobytes, mostly the fixed size of the generated structs; the
//!   cache keeps only records, so the scheduler's memory grows with the
//!   number of assigned pods by a record each (ARCHITECTURE.md, scheduler).
//! - [`PodInfo`]: the pod being scheduled (or nominated), which plugins read
//!   in full (node affinity, tolerations, spread constraints, volumes…): the
//!   API object and its record. It dereferences to the record, and the
//!   record is what the cache keeps when the pod is assumed (no copy).
//!
//! Label maps are shared between records through [`LabelInterner`]: the
//! pods of one workload carry the same labels.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::ops::Deref;
use std::sync::Arc;

use apimachinery::selector::labels::LabelSelector;
use k8s_openapi::api::core::v1::{Pod, PodAffinityTerm, WeightedPodAffinityTerm};

use crate::resources::{pod_requests, Resource};

/// Upstream `framework.AffinityTerm`: a pod (anti-)affinity term with its
/// selectors parsed. Empty `namespaces` and no `namespaceSelector` mean the
/// pod's own namespace.
#[derive(Debug, Clone)]
pub struct AffinityTerm {
    pub namespaces: BTreeSet<String>,
    pub selector: LabelSelector,
    pub topology_key: String,
    pub namespace_selector: LabelSelector,
}

impl AffinityTerm {
    pub fn new(pod_namespace: &str, term: &PodAffinityTerm) -> Option<AffinityTerm> {
        let selector = LabelSelector::from_k8s_opt(term.label_selector.as_ref()).ok()?;
        let mut namespaces: BTreeSet<String> = term.namespaces.iter().flatten().cloned().collect();
        if namespaces.is_empty() && term.namespace_selector.is_none() {
            namespaces.insert(pod_namespace.to_string());
        }
        let namespace_selector = LabelSelector::from_k8s_opt(term.namespace_selector.as_ref()).ok()?;
        Some(AffinityTerm { namespaces, selector, topology_key: term.topology_key.clone(), namespace_selector })
    }

    /// Upstream `AffinityTerm.Matches`: the namespace is listed or selected,
    /// and the labels match.
    pub fn matches(&self, pod: &PodRecord, namespace_labels: Option<&BTreeMap<String, String>>) -> bool {
        let ns_ok = self.namespaces.contains(pod.namespace())
            || (!self.namespace_selector.is_nothing() && self.namespace_selector.matches(namespace_labels.unwrap_or(&BTreeMap::new())));
        ns_ok && self.selector.matches(pod.labels())
    }
}

#[derive(Debug, Clone)]
pub struct WeightedAffinityTerm {
    pub term: AffinityTerm,
    pub weight: i64,
}

fn terms(ns: &str, list: Option<&Vec<PodAffinityTerm>>) -> Vec<AffinityTerm> {
    list.into_iter().flatten().filter_map(|t| AffinityTerm::new(ns, t)).collect()
}

fn weighted(ns: &str, list: Option<&Vec<WeightedPodAffinityTerm>>) -> Vec<WeightedAffinityTerm> {
    list.into_iter()
        .flatten()
        .filter_map(|w| AffinityTerm::new(ns, &w.pod_affinity_term).map(|term| WeightedAffinityTerm { term, weight: w.weight as i64 }))
        .collect()
}

/// One host port in use: (host IP, protocol, port); the IP defaults to 0.0.0.0.
pub type HostPort = (String, String, i32);

/// A label map shared by the records of pods with equal labels.
pub type Labels = Arc<BTreeMap<String, String>>;

/// What the scheduler keeps of a pod on a node (see the module docs). Built
/// from the API object by [`PodRecord::new`]; immutable afterwards.
#[derive(Debug, Clone)]
pub struct PodRecord {
    /// `namespace/name`.
    pub key: String,
    /// Length of the namespace prefix of `key`.
    ns_len: usize,
    pub uid: String,
    /// `metadata.resourceVersion` (the `regarding` reference of events
    /// about the pod, e.g. `Preempted`).
    pub resource_version: String,
    labels: Labels,
    /// `spec.priority` (0 when unset).
    pub priority: i32,
    /// `status.startTime` (upstream `GetPodStartTime`, for preemption).
    pub start_time: Option<jiff::Timestamp>,
    /// `metadata.deletionTimestamp` is set.
    pub terminating: bool,
    /// `namespace/claimName` of every claim-backed volume (see [`pvc_keys`]).
    pub claims: Vec<String>,
    pub requests: Resource,
    pub non_zero_requests: Resource,
    pub required_affinity: Vec<AffinityTerm>,
    pub required_anti_affinity: Vec<AffinityTerm>,
    pub preferred_affinity: Vec<WeightedAffinityTerm>,
    pub preferred_anti_affinity: Vec<WeightedAffinityTerm>,
    pub host_ports: Vec<HostPort>,
}

/// `namespace/name`.
pub fn pod_key(pod: &Pod) -> String {
    format!("{}/{}", pod.metadata.namespace.as_deref().unwrap_or(""), pod.metadata.name.as_deref().unwrap_or(""))
}

pub fn pod_priority(pod: &Pod) -> i32 {
    pod.spec.as_ref().and_then(|s| s.priority).unwrap_or(0)
}

/// Upstream `schedutil.GetHostPorts`-like: every container's host ports.
pub fn host_ports(pod: &Pod) -> Vec<HostPort> {
    let mut out = Vec::new();
    let Some(spec) = pod.spec.as_ref() else { return out };
    for c in spec.containers.iter().chain(spec.init_containers.iter().flatten()) {
        for p in c.ports.iter().flatten() {
            if let Some(hp) = p.host_port.filter(|hp| *hp > 0) {
                let ip = p.host_ip.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "0.0.0.0".into());
                let proto = p.protocol.clone().filter(|s| !s.is_empty()).unwrap_or_else(|| "TCP".into());
                out.push((ip, proto, hp));
            }
        }
    }
    out
}

/// `namespace/claimName` of every PVC volume of the pod.
pub fn pvc_keys(pod: &Pod) -> Vec<String> {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    pod.spec
        .as_ref()
        .and_then(|s| s.volumes.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|v| v.persistent_volume_claim.as_ref().map(|c| format!("{ns}/{}", c.claim_name)))
        .collect()
}

impl PodRecord {
    pub fn new(pod: &Pod) -> PodRecord {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        let shrunk = |mut v: Vec<String>| {
            v.shrink_to_fit();
            v
        };
        PodRecord {
            key: pod_key(pod),
            ns_len: ns.len(),
            uid: pod.metadata.uid.clone().unwrap_or_default(),
            resource_version: pod.metadata.resource_version.clone().unwrap_or_default(),
            labels: Arc::new(pod.metadata.labels.clone().unwrap_or_default()),
            priority: pod_priority(pod),
            start_time: pod.status.as_ref().and_then(|s| s.start_time.as_ref()).map(|t| t.0),
            terminating: pod.metadata.deletion_timestamp.is_some(),
            claims: shrunk(pvc_keys(pod)),
            requests: pod_requests(pod, false),
            non_zero_requests: pod_requests(pod, true),
            required_affinity: terms(ns, pa.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())),
            required_anti_affinity: terms(ns, paa.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())),
            preferred_affinity: weighted(ns, pa.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())),
            preferred_anti_affinity: weighted(ns, paa.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())),
            host_ports: host_ports(pod),
        }
    }

    pub fn has_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }

    pub fn priority(&self) -> i32 {
        self.priority
    }

    pub fn namespace(&self) -> &str {
        &self.key[..self.ns_len]
    }

    pub fn name(&self) -> &str {
        self.key.get(self.ns_len + 1..).unwrap_or("")
    }

    /// `metadata.labels` (empty when unset).
    pub fn labels(&self) -> &BTreeMap<String, String> {
        &self.labels
    }

    /// Shares the label map with earlier records of equal labels.
    pub fn intern_labels(&mut self, interner: &mut LabelInterner) {
        self.labels = interner.intern(&self.labels);
    }
}

/// Shares equal label maps between [`PodRecord`]s (pods of one workload
/// carry the same labels: one map instead of one per pod). Maps no record
/// uses any more are dropped every time the set has doubled since the last
/// sweep, so the cost is amortised O(1) per insertion.
#[derive(Debug, Default)]
pub struct LabelInterner {
    set: HashSet<Labels>,
    sweep_at: usize,
}

/// Below this many distinct maps the interner never sweeps.
const MIN_SWEEP: usize = 1024;

impl LabelInterner {
    /// The shared map equal to `labels`, adding `labels` if it is new.
    pub fn intern(&mut self, labels: &Labels) -> Labels {
        if let Some(shared) = self.set.get(&**labels) {
            return shared.clone();
        }
        if self.set.len() >= self.sweep_at.max(MIN_SWEEP) {
            self.set.retain(|l| Arc::strong_count(l) > 1);
            self.sweep_at = self.set.len() * 2;
        }
        self.set.insert(labels.clone());
        labels.clone()
    }

    /// Distinct maps held (tests).
    pub fn len(&self) -> usize {
        self.set.len()
    }

    pub fn is_empty(&self) -> bool {
        self.set.is_empty()
    }
}

/// The pod being scheduled (or nominated to a node): the API object, which
/// plugins read in full, and its [`PodRecord`], which the cache keeps when
/// the pod is assumed. Dereferences to the record.
#[derive(Debug, Clone)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    pub record: Arc<PodRecord>,
}

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        PodInfo { record: Arc::new(PodRecord::new(&pod)), pod }
    }
}

impl Deref for PodInfo {
    type Target = PodRecord;

    fn deref(&self) -> &PodRecord {
        &self.record
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::testutil::pod;

    #[test]
    fn record_keeps_what_plugins_read() {
        let p = pod("web-1")
            .label("app", "web")
            .priority(7)
            .cpu("250m")
            .host_port(8080)
            .with(|p| {
                p.metadata.namespace = Some("prod".into());
                p.metadata.resource_version = Some("42".into());
                p.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::UNIX_EPOCH));
                p.status.get_or_insert_with(Default::default).start_time =
                    Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(jiff::Timestamp::from_second(60).unwrap()));
                p.spec.as_mut().unwrap().volumes = Some(vec![k8s_openapi::api::core::v1::Volume {
                    name: "data".into(),
                    persistent_volume_claim: Some(k8s_openapi::api::core::v1::PersistentVolumeClaimVolumeSource { claim_name: "c".into(), read_only: None }),
                    ..Default::default()
                }]);
            })
            .build();
        let r = PodRecord::new(&p);
        assert_eq!((r.key.as_str(), r.namespace(), r.name(), r.uid.as_str(), r.resource_version.as_str()), ("prod/web-1", "prod", "web-1", "uid-web-1", "42"));
        assert_eq!(r.labels().get("app").map(String::as_str), Some("web"));
        assert_eq!((r.priority(), r.terminating, r.start_time), (7, true, Some(jiff::Timestamp::from_second(60).unwrap())));
        assert_eq!(r.claims, vec!["prod/c".to_string()]);
        assert_eq!((r.requests.milli_cpu, r.host_ports.len()), (250, 1));
        let bare = PodRecord::new(&Pod::default());
        assert_eq!((bare.key.as_str(), bare.namespace(), bare.name(), bare.labels().len()), ("/", "", "", 0));
    }

    #[test]
    fn interner_shares_equal_maps_and_forgets_unused_ones() {
        let mut interner = LabelInterner::default();
        let records: Vec<PodRecord> = (0..3)
            .map(|i| {
                let mut r = PodRecord::new(&pod(&format!("p{i}")).label("app", "web").build());
                r.intern_labels(&mut interner);
                r
            })
            .collect();
        assert!(Arc::ptr_eq(&records[0].labels, &records[2].labels));
        assert_eq!(interner.len(), 1);
        drop(records);
        // Past the sweep threshold, maps only the interner holds go.
        for i in 0..(MIN_SWEEP + 1) {
            let mut r = PodRecord::new(&pod("p").label("app", &format!("a{i}")).build());
            r.intern_labels(&mut interner);
        }
        assert!(interner.len() < MIN_SWEEP, "{}", interner.len());
    }
}
