//! The scheduler cache (upstream `internal/cache`): every node with the pods
//! assigned or assumed onto it, aggregated into a [`NodeInfo`] (summed
//! requests, host ports, pods with affinity, images, PVC users), and the
//! per-cycle [`Snapshot`] built from it incrementally.
//!
//! Pods are kept as [`PodRecord`]s, not API objects: the cache is the only
//! place that holds every assigned pod, and a record is a small fraction of
//! the object's size. Records of assigned pods share their label maps
//! (`LabelInterner`).
//!
//! Pods are *assumed* when the scheduling cycle picks a node (so the next
//! cycle already sees the space taken), *forgotten* if binding fails and
//! *confirmed* when the informer shows the pod with its `nodeName`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Node, Pod};

use crate::listers::Listers;
use crate::podinfo::{HostPort, LabelInterner, PodInfo, PodRecord};
use crate::resources::Resource;

/// Upstream `nextGeneration`: a process-wide counter stamping every
/// version of every [`NodeInfo`], so that a stamp names one content of one
/// node for the life of the process. Plugins keeping per-node indexes across
/// cycles (PodTopologySpread's domain counts) compare stamps to find the
/// nodes that changed. Starts at 1: 0 means "never seen".
static NEXT_GENERATION: AtomicU64 = AtomicU64::new(1);

fn next_generation() -> u64 {
    NEXT_GENERATION.fetch_add(1, Ordering::Relaxed)
}

/// One node and what runs (or is assumed to run) on it.
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node: Arc<Node>,
    /// Changes (to a value never used before) whenever the node or its pods
    /// change through the methods below; a clone keeps it, as it keeps the
    /// content. Never 0.
    generation: u64,
    pub pods: Vec<Arc<PodRecord>>,
    pub pods_with_affinity: Vec<Arc<PodRecord>>,
    pub pods_with_required_anti_affinity: Vec<Arc<PodRecord>>,
    pub requested: Resource,
    pub non_zero_requested: Resource,
    pub allocatable: Resource,
    pub used_ports: HashMap<HostPort, u32>,
    /// Normalised image name → size in bytes.
    pub image_sizes: HashMap<String, i64>,
    /// `namespace/claim` → number of pods on this node using it.
    pub pvc_ref_counts: HashMap<String, u32>,
}

/// Upstream `normalizedImageName`: an image without tag or digest is `:latest`.
pub fn normalized_image_name(name: &str) -> String {
    let last = name.rsplit('/').next().unwrap_or(name);
    if name.contains('@') || last.contains(':') {
        name.to_string()
    } else {
        format!("{name}:latest")
    }
}

impl NodeInfo {
    pub fn new(node: Arc<Node>) -> NodeInfo {
        let mut info = NodeInfo {
            node: node.clone(),
            generation: next_generation(),
            pods: Vec::new(),
            pods_with_affinity: Vec::new(),
            pods_with_required_anti_affinity: Vec::new(),
            requested: Resource::default(),
            non_zero_requested: Resource::default(),
            allocatable: Resource::default(),
            used_ports: HashMap::new(),
            image_sizes: HashMap::new(),
            pvc_ref_counts: HashMap::new(),
        };
        info.set_node(node);
        info
    }

    pub fn set_node(&mut self, node: Arc<Node>) {
        self.generation = next_generation();
        let status = node.status.as_ref();
        self.allocatable = Resource::from_list(status.and_then(|s| s.allocatable.as_ref()));
        self.image_sizes.clear();
        for image in status.and_then(|s| s.images.as_ref()).into_iter().flatten() {
            for name in image.names.iter().flatten() {
                self.image_sizes.insert(normalized_image_name(name), image.size_bytes.unwrap_or(0));
            }
        }
        self.node = node;
    }

    pub fn name(&self) -> &str {
        self.node.metadata.name.as_deref().unwrap_or("")
    }

    pub fn labels(&self) -> Option<&BTreeMap<String, String>> {
        self.node.metadata.labels.as_ref()
    }

    /// This version's stamp (see [`NodeInfo`]`::generation`).
    pub fn generation(&self) -> u64 {
        self.generation
    }

    pub fn add_pod(&mut self, info: Arc<PodRecord>) {
        self.generation = next_generation();
        self.requested.add(&info.requests);
        self.non_zero_requested.add(&info.non_zero_requests);
        for p in &info.host_ports {
            *self.used_ports.entry(p.clone()).or_insert(0) += 1;
        }
        for claim in &info.claims {
            *self.pvc_ref_counts.entry(claim.clone()).or_insert(0) += 1;
        }
        if info.has_affinity() {
            self.pods_with_affinity.push(info.clone());
        }
        if !info.required_anti_affinity.is_empty() {
            self.pods_with_required_anti_affinity.push(info.clone());
        }
        self.pods.push(info);
    }

    /// Removes the pod with `key`; false when it was not here.
    pub fn remove_pod(&mut self, key: &str) -> bool {
        let Some(idx) = self.pods.iter().position(|p| p.key == key) else { return false };
        self.generation = next_generation();
        let info = self.pods.swap_remove(idx);
        self.requested.sub(&info.requests);
        self.non_zero_requested.sub(&info.non_zero_requests);
        for p in &info.host_ports {
            if let Some(c) = self.used_ports.get_mut(p) {
                *c -= 1;
                if *c == 0 {
                    self.used_ports.remove(p);
                }
            }
        }
        for claim in &info.claims {
            if let Some(c) = self.pvc_ref_counts.get_mut(claim) {
                *c -= 1;
                if *c == 0 {
                    self.pvc_ref_counts.remove(claim);
                }
            }
        }
        self.pods_with_affinity.retain(|p| p.key != key);
        self.pods_with_required_anti_affinity.retain(|p| p.key != key);
        true
    }
}

pub use crate::podinfo::pvc_keys;

#[derive(Debug, Clone)]
struct PodState {
    node: String,
    assumed: bool,
}

/// Nodes and the pods on them; owned by the scheduling loop.
#[derive(Default)]
pub struct Cache {
    nodes: HashMap<String, Arc<NodeInfo>>,
    /// Pods whose node the cache has not seen yet.
    orphans: HashMap<String, Vec<Arc<PodRecord>>>,
    pods: HashMap<String, PodState>,
    labels: LabelInterner,
    dirty: HashSet<String>,
    structure_changed: bool,
    image_counts: HashMap<String, usize>,
    images_changed: bool,
}

impl Cache {
    pub fn new() -> Cache {
        Cache { structure_changed: true, ..Default::default() }
    }

    pub fn node_count(&self) -> usize {
        self.nodes.len()
    }

    pub fn node(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.nodes.get(name)
    }

    pub fn add_or_update_node(&mut self, node: Node) {
        let Some(name) = node.metadata.name.clone() else { return };
        let node = Arc::new(node);
        match self.nodes.get_mut(&name) {
            Some(info) => {
                let old: Vec<String> = info.image_sizes.keys().cloned().collect();
                let info = Arc::make_mut(info);
                info.set_node(node);
                if old.len() != info.image_sizes.len() || old.iter().any(|i| !info.image_sizes.contains_key(i)) {
                    let new: Vec<String> = info.image_sizes.keys().cloned().collect();
                    self.count_images(&old, -1);
                    self.count_images(&new, 1);
                }
            }
            None => {
                let mut info = NodeInfo::new(node);
                let images: Vec<String> = info.image_sizes.keys().cloned().collect();
                self.count_images(&images, 1);
                for p in self.orphans.remove(&name).unwrap_or_default() {
                    info.add_pod(p);
                }
                self.nodes.insert(name.clone(), Arc::new(info));
                self.structure_changed = true;
            }
        }
        self.dirty.insert(name);
    }

    pub fn remove_node(&mut self, name: &str) {
        if let Some(info) = self.nodes.remove(name) {
            let images: Vec<String> = info.image_sizes.keys().cloned().collect();
            self.count_images(&images, -1);
            // Pods stay known (as upstream's ghost node) until their deletion arrives.
            if !info.pods.is_empty() {
                self.orphans.insert(name.to_string(), info.pods.clone());
            }
            self.structure_changed = true;
        }
    }

    fn count_images(&mut self, images: &[String], delta: isize) {
        for i in images {
            let c = self.image_counts.entry(i.clone()).or_insert(0);
            *c = c.saturating_add_signed(delta);
            if *c == 0 {
                self.image_counts.remove(i);
            }
        }
        self.images_changed = true;
    }

    fn place(&mut self, node: &str, info: Arc<PodRecord>) {
        match self.nodes.get_mut(node) {
            Some(n) => {
                Arc::make_mut(n).add_pod(info);
                self.dirty.insert(node.to_string());
            }
            None => self.orphans.entry(node.to_string()).or_default().push(info),
        }
    }

    fn unplace(&mut self, node: &str, key: &str) {
        match self.nodes.get_mut(node) {
            Some(n) => {
                if Arc::make_mut(n).remove_pod(key) {
                    self.dirty.insert(node.to_string());
                }
            }
            None => {
                if let Some(list) = self.orphans.get_mut(node) {
                    list.retain(|p| p.key != key);
                }
            }
        }
    }

    /// Assumes `pod` runs on `node`.
    pub fn assume_pod(&mut self, pod: Arc<Pod>, node: &str) {
        self.assume(PodInfo::new(pod).record, node);
    }

    /// Assumes the pod of `info` runs on `node`: the cycle's own record is
    /// kept (no copy; the informer's version replaces it on confirmation).
    pub fn assume(&mut self, info: Arc<PodRecord>, node: &str) {
        let key = info.key.clone();
        if let Some(old) = self.pods.remove(&key) {
            self.unplace(&old.node, &key);
        }
        self.place(node, info);
        self.pods.insert(key, PodState { node: node.to_string(), assumed: true });
    }

    /// Binding failed: undo the assumption (only if still merely assumed).
    pub fn forget_pod(&mut self, key: &str) {
        if self.pods.get(key).is_some_and(|p| p.assumed) {
            if let Some(old) = self.pods.remove(key) {
                self.unplace(&old.node, key);
            }
        }
    }

    pub fn is_assumed(&self, key: &str) -> bool {
        self.pods.get(key).is_some_and(|p| p.assumed)
    }

    /// An assigned pod seen by the informer (add or update): confirms an
    /// assumed pod or records/updates it. Only its [`PodRecord`] is kept.
    pub fn add_or_update_pod(&mut self, pod: &Pod) {
        let Some(node) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else { return };
        let mut record = PodRecord::new(pod);
        record.intern_labels(&mut self.labels);
        let key = record.key.clone();
        if let Some(old) = self.pods.remove(&key) {
            self.unplace(&old.node, &key);
        }
        self.place(&node, Arc::new(record));
        self.pods.insert(key, PodState { node, assumed: false });
    }

    pub fn remove_pod(&mut self, key: &str) {
        if let Some(old) = self.pods.remove(key) {
            self.unplace(&old.node, key);
        }
    }

    /// Which node the cache has `key` on.
    pub fn pod_node(&self, key: &str) -> Option<&str> {
        self.pods.get(key).map(|p| p.node.as_str())
    }

    /// Brings `snapshot` up to date: replaces changed nodes, rebuilds the
    /// node list only when nodes were added or removed.
    pub fn update_snapshot(&mut self, snapshot: &mut Snapshot) {
        if self.structure_changed {
            let mut names: Vec<&String> = self.nodes.keys().collect();
            names.sort();
            snapshot.nodes = names.iter().filter_map(|n| self.nodes.get(*n).cloned()).collect();
            snapshot.index = snapshot.nodes.iter().enumerate().map(|(i, n)| (n.name().to_string(), i)).collect();
            snapshot.rebuild_affinity_lists();
            self.structure_changed = false;
            self.dirty.clear();
        } else {
            for name in self.dirty.drain() {
                if let (Some(&i), Some(info)) = (snapshot.index.get(&name), self.nodes.get(&name)) {
                    snapshot.nodes[i] = info.clone();
                    snapshot.update_affinity_lists(i);
                }
            }
        }
        if self.images_changed {
            snapshot.image_counts = Arc::new(self.image_counts.clone());
            self.images_changed = false;
        }
    }
}

/// What one scheduling cycle sees: every node's info (shared, immutable),
/// image spread and the API object listers.
#[derive(Clone, Default)]
pub struct Snapshot {
    pub nodes: Vec<Arc<NodeInfo>>,
    index: HashMap<String, usize>,
    /// Normalised image → number of nodes having it (ImageLocality spread).
    pub image_counts: Arc<HashMap<String, usize>>,
    pub listers: Listers,
    /// Pods nominated (by preemption) to each node, not yet bound.
    pub nominated: Arc<HashMap<String, Vec<Arc<PodInfo>>>>,
    /// Positions in `nodes` of the nodes with pods that have affinity
    /// terms, ascending (upstream `havePodsWithAffinityNodeInfoList`).
    with_affinity: Vec<usize>,
    /// Positions of the nodes with pods that have required anti-affinity
    /// (upstream `havePodsWithRequiredAntiAffinityNodeInfoList`).
    with_required_anti_affinity: Vec<usize>,
}

/// Keeps the ascending position list `list` in step with whether node
/// `i` belongs to it.
fn set_member(list: &mut Vec<usize>, i: usize, member: bool) {
    match (list.binary_search(&i), member) {
        (Ok(at), false) => {
            list.remove(at);
        }
        (Err(at), true) => list.insert(at, i),
        _ => {}
    }
}

impl Snapshot {
    pub fn new(listers: Listers) -> Snapshot {
        Snapshot { listers, ..Default::default() }
    }

    /// For tests and preemption's what-if: a snapshot over these nodes.
    pub fn from_nodes(nodes: Vec<NodeInfo>, listers: Listers) -> Snapshot {
        let nodes: Vec<Arc<NodeInfo>> = nodes.into_iter().map(Arc::new).collect();
        let index = nodes.iter().enumerate().map(|(i, n)| (n.name().to_string(), i)).collect();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for n in &nodes {
            for image in n.image_sizes.keys() {
                *counts.entry(image.clone()).or_insert(0) += 1;
            }
        }
        let mut snapshot = Snapshot { nodes, index, image_counts: Arc::new(counts), listers, ..Default::default() };
        snapshot.rebuild_affinity_lists();
        snapshot
    }

    fn rebuild_affinity_lists(&mut self) {
        self.with_affinity = (0..self.nodes.len()).filter(|&i| !self.nodes[i].pods_with_affinity.is_empty()).collect();
        self.with_required_anti_affinity = (0..self.nodes.len()).filter(|&i| !self.nodes[i].pods_with_required_anti_affinity.is_empty()).collect();
    }

    /// Node `i` was replaced: update its membership of the affinity lists.
    fn update_affinity_lists(&mut self, i: usize) {
        let n = &self.nodes[i];
        let (affinity, anti) = (!n.pods_with_affinity.is_empty(), !n.pods_with_required_anti_affinity.is_empty());
        set_member(&mut self.with_affinity, i, affinity);
        set_member(&mut self.with_required_anti_affinity, i, anti);
    }

    /// The nodes with at least one pod that has affinity terms (InterPodAffinity
    /// scoring for a pod without terms of its own looks only at these).
    pub fn nodes_with_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_affinity.iter().filter_map(|&i| self.nodes.get(i))
    }

    /// The nodes with at least one pod that has required anti-affinity.
    pub fn nodes_with_required_anti_affinity(&self) -> impl Iterator<Item = &Arc<NodeInfo>> {
        self.with_required_anti_affinity.iter().filter_map(|&i| self.nodes.get(i))
    }

    pub fn get(&self, name: &str) -> Option<&Arc<NodeInfo>> {
        self.index.get(name).map(|&i| &self.nodes[i])
    }

    pub fn nominated_on(&self, node: &str) -> &[Arc<PodInfo>] {
        self.nominated.get(node).map(|v| v.as_slice()).unwrap_or(&[])
    }

    pub fn num_nodes(&self) -> usize {
        self.nodes.len()
    }

    /// Whether any pod on any node uses claim `ns/name` (VolumeRestrictions).
    pub fn is_pvc_used(&self, claim: &str) -> bool {
        self.nodes.iter().any(|n| n.pvc_ref_counts.contains_key(claim))
    }

    /// Namespace labels (for namespace selectors of affinity terms).
    pub fn namespace_labels(&self, ns: &str) -> Option<BTreeMap<String, String>> {
        self.listers.namespace_labels(ns)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::testutil::{node, pod};

    #[test]
    fn assume_forget_confirm() {
        let mut cache = Cache::new();
        cache.add_or_update_node(node("n1").cpu("4").build());
        cache.add_or_update_node(node("n2").cpu("4").build());
        let mut snap = Snapshot::default();
        cache.update_snapshot(&mut snap);
        assert_eq!(snap.num_nodes(), 2);

        let p = Arc::new(pod("p").cpu("1").node("n1").build());
        cache.assume_pod(p.clone(), "n1");
        assert!(cache.is_assumed("default/p"));
        cache.update_snapshot(&mut snap);
        assert_eq!(snap.get("n1").unwrap().requested.milli_cpu, 1000);

        cache.forget_pod("default/p");
        cache.update_snapshot(&mut snap);
        assert_eq!(snap.get("n1").unwrap().requested.milli_cpu, 0);

        cache.assume_pod(p.clone(), "n1");
        cache.add_or_update_pod(&p);
        assert!(!cache.is_assumed("default/p"));
        cache.forget_pod("default/p"); // confirmed pods are not forgotten
        cache.update_snapshot(&mut snap);
        assert_eq!(snap.get("n1").unwrap().requested.milli_cpu, 1000);
        assert_eq!(snap.get("n1").unwrap().pods.len(), 1);

        cache.remove_pod("default/p");
        cache.update_snapshot(&mut snap);
        assert_eq!(snap.get("n1").unwrap().pods.len(), 0);
    }

    #[test]
    fn affinity_lists_follow_the_cache() {
        // Random placements and removals of pods with and without
        // (anti-)affinity and node adds/removes; the snapshot's lists always
        // equal a scan of its nodes.
        use k8s_openapi::api::core::v1::{Affinity, PodAffinityTerm, PodAntiAffinity};
        let term = || PodAffinityTerm { topology_key: "kubernetes.io/hostname".into(), ..Default::default() };
        let anti = Affinity {
            pod_anti_affinity: Some(PodAntiAffinity { required_during_scheduling_ignored_during_execution: Some(vec![term()]), ..Default::default() }),
            ..Default::default()
        };
        let mut cache = Cache::new();
        let mut snap = Snapshot::default();
        let mut rnd = crate::testutil::rng(0x2545_F491_4F6C_DD1D);
        let mut placed: Vec<String> = Vec::new();
        for step in 0..1500 {
            let n = format!("n{}", rnd(10));
            match rnd(6) {
                0 => cache.add_or_update_node(node(&n).build()),
                1 if rnd(4) == 0 => cache.remove_node(&n),
                2 | 3 => {
                    let name = format!("p{step}");
                    let b = pod(&name).node(&n);
                    let b = if rnd(2) == 0 { b.affinity(anti.clone()) } else { b };
                    cache.assume_pod(Arc::new(b.build()), &n);
                    placed.push(format!("default/{name}"));
                }
                4 if !placed.is_empty() => {
                    let i = rnd(placed.len() as u64);
                    cache.remove_pod(&placed.swap_remove(i));
                }
                _ => {}
            }
            cache.update_snapshot(&mut snap);
            let names = |it: &mut dyn Iterator<Item = &Arc<NodeInfo>>| it.map(|n| n.name().to_string()).collect::<Vec<_>>();
            let want_aff = names(&mut snap.nodes.iter().filter(|n| !n.pods_with_affinity.is_empty()));
            let want_anti = names(&mut snap.nodes.iter().filter(|n| !n.pods_with_required_anti_affinity.is_empty()));
            assert_eq!(names(&mut snap.nodes_with_affinity()), want_aff, "step {step}");
            assert_eq!(names(&mut snap.nodes_with_required_anti_affinity()), want_anti, "step {step}");
        }
    }

    #[test]
    fn pods_before_their_node() {
        let mut cache = Cache::new();
        cache.add_or_update_pod(&pod("p").cpu("1").node("late").build());
        cache.add_or_update_node(node("late").cpu("2").build());
        let mut snap = Snapshot::default();
        cache.update_snapshot(&mut snap);
        assert_eq!(snap.get("late").unwrap().requested.milli_cpu, 1000);
    }

    #[test]
    fn image_names() {
        assert_eq!(normalized_image_name("nginx"), "nginx:latest");
        assert_eq!(normalized_image_name("nginx:1.2"), "nginx:1.2");
        assert_eq!(normalized_image_name("reg:5000/nginx"), "reg:5000/nginx:latest");
        assert_eq!(normalized_image_name("a@sha256:x"), "a@sha256:x");
    }
}
