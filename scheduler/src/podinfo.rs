//! A pod with everything the plugins need precomputed once (upstream
//! `framework.PodInfo`): effective requests, parsed affinity terms, host ports.

use std::collections::{BTreeMap, BTreeSet};
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
    pub fn matches(&self, pod: &Pod, namespace_labels: Option<&BTreeMap<String, String>>) -> bool {
        let ns = pod.metadata.namespace.as_deref().unwrap_or("");
        let ns_ok = self.namespaces.contains(ns)
            || (!self.namespace_selector.is_nothing() && self.namespace_selector.matches(namespace_labels.unwrap_or(&BTreeMap::new())));
        ns_ok && self.selector.matches(&pod.metadata)
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

#[derive(Debug, Clone)]
pub struct PodInfo {
    pub pod: Arc<Pod>,
    pub key: String,
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

impl PodInfo {
    pub fn new(pod: Arc<Pod>) -> PodInfo {
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let affinity = pod.spec.as_ref().and_then(|s| s.affinity.as_ref());
        let pa = affinity.and_then(|a| a.pod_affinity.as_ref());
        let paa = affinity.and_then(|a| a.pod_anti_affinity.as_ref());
        PodInfo {
            key: pod_key(&pod),
            requests: pod_requests(&pod, false),
            non_zero_requests: pod_requests(&pod, true),
            required_affinity: terms(&ns, pa.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())),
            required_anti_affinity: terms(&ns, paa.and_then(|a| a.required_during_scheduling_ignored_during_execution.as_ref())),
            preferred_affinity: weighted(&ns, pa.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())),
            preferred_anti_affinity: weighted(&ns, paa.and_then(|a| a.preferred_during_scheduling_ignored_during_execution.as_ref())),
            host_ports: host_ports(&pod),
            pod,
        }
    }

    pub fn has_affinity(&self) -> bool {
        !(self.required_affinity.is_empty()
            && self.required_anti_affinity.is_empty()
            && self.preferred_affinity.is_empty()
            && self.preferred_anti_affinity.is_empty())
    }

    pub fn priority(&self) -> i32 {
        pod_priority(&self.pod)
    }

    pub fn namespace(&self) -> &str {
        self.pod.metadata.namespace.as_deref().unwrap_or("")
    }
}
