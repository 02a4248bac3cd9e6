//! PodTopologySpread's domain counts, kept from one scheduling cycle to the
//! next.
//!
//! Upstream's PreFilter (and PreScore) walk every node for every pod and
//! match the constraint's selector against every pod on it: with 5,000
//! nodes and 10,000 pods that walk was most of the scheduler's time. What
//! a constraint counts depends only on a few inputs, its [`ViewKey`]: the
//! namespace, the selector, the topology key, the keys a node must carry
//! (all the pod's constraints' keys, upstream
//! `nodeLabelsMatchSpreadConstraints`) and the pod fields the node
//! inclusion policies read. Pods of one workload share it, so a
//! [`DomainView`] per key keeps each node's contribution (its domain and
//! its matching pods) and the per-domain sums, and each cycle only
//! recomputes the nodes whose [`NodeInfo`] generation changed: O(nodes)
//! integer compares plus the old per-node work for the few changed nodes.
//! The result, a [`DomainCounts`], is exactly what the full walk would
//! produce (tests check random sequences against a recomputation).

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use apimachinery::selector::labels::LabelSelector;

use crate::cache::NodeInfo;

type Ids = HashMap<String, u32, foldhash::fast::RandomState>;

/// Matching pods per domain (topology value) of one constraint, with the
/// exact minimum over the domains that exist. A domain exists when at
/// least one counted node carries the value (upstream's
/// `TpValueToMatchNum` keys), even with 0 pods, and once added by
/// [`DomainCounts::add`] (upstream `updateWithPod` inserts into the map).
///
/// Values are interned to dense ids shared (`Arc`) with the view they come
/// from, so a per-cycle copy is two flat vectors and a small histogram,
/// not one string per domain.
#[derive(Clone, Debug, Default)]
pub struct DomainCounts {
    ids: Arc<Ids>,
    /// Per id: matching pods.
    counts: Vec<i64>,
    /// Per id: counted nodes carrying the value; 0 = the domain does not exist.
    nodes: Vec<u32>,
    /// Domains added by [`DomainCounts::add`] for values without an id.
    extra: HashMap<String, i64, foldhash::fast::RandomState>,
    /// Count → number of existing domains with that count.
    histogram: BTreeMap<i64, u32>,
    /// Existing domains with an id.
    present: usize,
    /// [`NodeInfo::generation`] of each counted node → its domain id, so
    /// Filter finds a node's count without walking its label map (the
    /// labels of 5,000 nodes do not stay in cache). A node not here (not
    /// counted, or a what-if copy with nominated pods) is looked up by label.
    by_generation: HashMap<u64, u32, foldhash::fast::RandomState>,
}

impl DomainCounts {
    /// Number of existing domains.
    pub fn len(&self) -> usize {
        self.present + self.extra.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Matching pods in the domain `value` (0 for an unknown domain).
    pub fn get(&self, value: &str) -> i64 {
        match self.ids.get(value) {
            Some(&id) => self.counts[id as usize],
            None => self.extra.get(value).copied().unwrap_or(0),
        }
    }

    /// Matching pods in `node`'s domain of `topology_key`; `None` when the
    /// node does not carry the key.
    pub fn for_node(&self, node: &NodeInfo, topology_key: &str) -> Option<i64> {
        if let Some(count) = self.node_count(node) {
            return Some(count);
        }
        node.labels().and_then(|l| l.get(topology_key)).map(|v| self.get(v))
    }

    /// Matching pods of `node`'s domain if the view counted this very
    /// node version (by generation); `None` otherwise.
    pub fn node_count(&self, node: &NodeInfo) -> Option<i64> {
        self.by_generation.get(&node.generation()).map(|&id| self.counts[id as usize])
    }

    /// The smallest count over existing domains; `None` without domains.
    pub fn min(&self) -> Option<i64> {
        self.histogram.first_key_value().map(|(count, _)| *count)
    }

    /// Every existing domain and its count (tests and diagnostics).
    pub fn domains(&self) -> BTreeMap<String, i64> {
        let mut out: BTreeMap<String, i64> = self.extra.iter().map(|(v, n)| (v.clone(), *n)).collect();
        for (value, &id) in self.ids.iter() {
            if self.nodes[id as usize] > 0 {
                out.insert(value.clone(), self.counts[id as usize]);
            }
        }
        out
    }

    /// Upstream `TpValueToMatchNum[value] += delta` (AddPod/RemovePod):
    /// creates the domain when it does not exist.
    pub fn add(&mut self, value: &str, delta: i64) {
        if let Some(&id) = self.ids.get(value) {
            let i = id as usize;
            if self.nodes[i] > 0 {
                self.unrecord(self.counts[i]);
            } else {
                // Exists from now on; no node carries it in this copy, but
                // the copy is never refreshed, only read and added to.
                self.nodes[i] = 1;
                self.present += 1;
            }
            self.counts[i] += delta;
            self.record(self.counts[i]);
            return;
        }
        let old = self.extra.get(value).copied();
        if let Some(old) = old {
            self.unrecord(old);
        }
        let new = old.unwrap_or(0) + delta;
        self.extra.insert(value.to_string(), new);
        self.record(new);
    }

    fn record(&mut self, count: i64) {
        *self.histogram.entry(count).or_insert(0) += 1;
    }

    fn unrecord(&mut self, count: i64) {
        if let Some(n) = self.histogram.get_mut(&count) {
            *n -= 1;
            if *n == 0 {
                self.histogram.remove(&count);
            }
        }
    }

    fn intern(&mut self, value: &str) -> u32 {
        if let Some(&id) = self.ids.get(value) {
            return id;
        }
        let id = self.counts.len() as u32;
        Arc::make_mut(&mut self.ids).insert(value.to_string(), id);
        self.counts.push(0);
        self.nodes.push(0);
        id
    }

    /// A node joins (`nodes = 1`) or leaves (`-1`) domain `id` with
    /// `pods` matching pods (negative when leaving).
    fn change(&mut self, id: u32, pods: i64, nodes: i32) {
        let i = id as usize;
        if self.nodes[i] > 0 {
            self.unrecord(self.counts[i]);
            self.present -= 1;
        }
        self.counts[i] += pods;
        self.nodes[i] = self.nodes[i].saturating_add_signed(nodes);
        if self.nodes[i] > 0 {
            self.record(self.counts[i]);
            self.present += 1;
        }
    }

    /// Ids no node carries any more: a view rebuilds when they pile up
    /// (node churn with unique hostnames).
    fn stale_ids(&self) -> usize {
        self.counts.len() - self.present
    }
}

/// What one node contributes to a view: its domain and matching pods.
#[derive(Clone, Copy, Debug, Default)]
struct Entry {
    /// The [`NodeInfo::generation`] this was computed from; 0 = never.
    generation: u64,
    domain: Option<u32>,
    pods: i64,
}

/// Everything a constraint's domain counts depend on besides the nodes:
/// equal keys give equal counts over the same snapshot.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ViewKey {
    pub namespace: String,
    pub selector: LabelSelector,
    pub topology_key: String,
    /// Keys a node must carry to count, sorted and deduplicated.
    pub required_keys: Vec<String>,
    /// The pod fields the inclusion policies read (node selector and
    /// required node affinity when honoured, tolerations when taints are),
    /// serialised.
    pub inclusion: String,
}

/// One view's per-node contributions (aligned with the snapshot's node
/// list) and their per-domain sums.
#[derive(Debug, Default)]
pub struct DomainView {
    entries: Vec<Entry>,
    domains: DomainCounts,
    last_used: u64,
}

impl DomainView {
    /// Brings the sums up to date with `nodes`: every node whose generation
    /// differs from the one its entry was computed from is recomputed with
    /// `contribution` (`None`: the node is not counted; else its domain
    /// value and matching pods). Entries are matched by position, which is
    /// safe because a generation names one content of one node.
    pub fn refresh<F>(&mut self, nodes: &[Arc<NodeInfo>], contribution: F)
    where
        F: Fn(&NodeInfo) -> Option<(&str, i64)>,
    {
        if self.domains.stale_ids() > self.domains.present + 64 {
            self.entries.clear();
            self.domains = DomainCounts::default();
        }
        let Self { entries, domains, .. } = self;
        for gone in entries.drain(nodes.len().min(entries.len())..) {
            if let Some(id) = gone.domain {
                domains.change(id, -gone.pods, -1);
                domains.by_generation.remove(&gone.generation);
            }
        }
        entries.resize(nodes.len(), Entry::default());
        // Two passes: when nodes shift position (a node added or removed),
        // one node's generation leaves one entry and joins another, so all
        // old contributions go before any new one is recorded.
        let changed: Vec<usize> = (0..nodes.len()).filter(|&i| entries[i].generation != nodes[i].generation()).collect();
        for &i in &changed {
            let old = entries[i];
            if let Some(id) = old.domain {
                domains.change(id, -old.pods, -1);
                domains.by_generation.remove(&old.generation);
            }
        }
        for &i in &changed {
            let node = &nodes[i];
            entries[i] = match contribution(node) {
                Some((value, pods)) => {
                    let id = domains.intern(value);
                    domains.change(id, pods, 1);
                    domains.by_generation.insert(node.generation(), id);
                    Entry { generation: node.generation(), domain: Some(id), pods }
                }
                None => Entry { generation: node.generation(), domain: None, pods: 0 },
            };
        }
    }

    pub fn domains(&self) -> &DomainCounts {
        &self.domains
    }

    pub fn into_domains(self) -> DomainCounts {
        self.domains
    }
}

/// The views in use, least recently used evicted beyond [`MAX_VIEWS`].
#[derive(Debug, Default)]
pub struct Views {
    views: HashMap<ViewKey, DomainView>,
    tick: u64,
}

/// Distinct (workload, constraint) pairs scheduled in turn that stay
/// incremental; each view holds a few words per node.
pub const MAX_VIEWS: usize = 32;

impl Views {
    /// The view for `key`, created empty (a first refresh walks every node).
    pub fn view(&mut self, key: &ViewKey) -> &mut DomainView {
        self.tick += 1;
        if !self.views.contains_key(key) && self.views.len() >= MAX_VIEWS {
            if let Some(oldest) = self.views.iter().min_by_key(|(_, v)| v.last_used).map(|(k, _)| k.clone()) {
                self.views.remove(&oldest);
            }
        }
        let view = self.views.entry(key.clone()).or_default();
        view.last_used = self.tick;
        view
    }

    pub fn len(&self) -> usize {
        self.views.len()
    }

    pub fn is_empty(&self) -> bool {
        self.views.is_empty()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::podinfo::pod_key;
    use crate::testutil::{node, pod};

    fn check_min(d: &DomainCounts, what: &str) {
        let all = d.domains();
        assert_eq!(d.len(), all.len(), "{what}");
        assert_eq!(d.min(), all.values().copied().min(), "{what}");
    }

    #[test]
    fn add_creates_domains_and_keeps_the_minimum() {
        // (value, delta) steps and the domains expected after all of them.
        type Case<'a> = (&'a str, &'a [(&'a str, i64)], &'a [(&'a str, i64)], Option<i64>);
        let cases: &[Case] = &[
            ("empty", &[], &[], None),
            ("one domain", &[("a", 2)], &[("a", 2)], Some(2)),
            ("zero count still exists", &[("a", 1), ("a", -1)], &[("a", 0)], Some(0)),
            ("min moves up", &[("a", 1), ("b", 1), ("a", 1), ("b", 2)], &[("a", 2), ("b", 3)], Some(2)),
            ("negative what-if", &[("a", 0), ("a", -1)], &[("a", -1)], Some(-1)),
        ];
        for (name, steps, want, min) in cases {
            let mut d = DomainCounts::default();
            for (v, delta) in *steps {
                d.add(v, *delta);
                check_min(&d, name);
            }
            let want: BTreeMap<String, i64> = want.iter().map(|(v, n)| (v.to_string(), *n)).collect();
            assert_eq!(d.domains(), want, "{name}");
            assert_eq!(d.min(), *min, "{name}");
        }
    }

    #[test]
    fn random_adds_track_the_minimum() {
        // Ids from a view (interned) and extra values mixed.
        let mut d = DomainCounts::default();
        for v in ["d0", "d1", "d2"] {
            let id = d.intern(v);
            d.change(id, 0, 1);
        }
        let mut rng = crate::testutil::rng(0x9E37_79B9_7F4A_7C15);
        for step in 0..3000 {
            let value = format!("d{}", rng(6));
            let delta = [1, 1, -1, 2, 0][rng(5)];
            d.add(&value, delta);
            check_min(&d, &format!("step {step}"));
        }
    }

    /// The contribution used by the tests: nodes with a `zone` label count
    /// their pods labelled `app=web`.
    fn web_in_zone(n: &NodeInfo) -> Option<(&str, i64)> {
        let zone = n.labels()?.get("zone")?;
        Some((zone.as_str(), n.pods.iter().filter(|p| p.labels().get("app").is_some_and(|a| a == "web")).count() as i64))
    }

    fn full(nodes: &[Arc<NodeInfo>]) -> BTreeMap<String, i64> {
        let mut out = BTreeMap::new();
        for n in nodes {
            if let Some((v, pods)) = web_in_zone(n) {
                *out.entry(v.to_string()).or_insert(0) += pods;
            }
        }
        out
    }

    #[test]
    fn view_follows_cache_changes() {
        // Random assume / forget / confirm / remove of pods and node
        // add / relabel / remove through the real cache; after each step the
        // view, refreshed from the snapshot, equals a full recomputation.
        let mut cache = crate::cache::Cache::new();
        let mut snap = crate::cache::Snapshot::default();
        let mut view = DomainView::default();
        let mut rng = crate::testutil::rng(0x2545_F491_4F6C_DD1D);
        let mut pods: Vec<(String, String, bool)> = Vec::new(); // (name, node, assumed)
        let node_names: Vec<String> = (0..8).map(|i| format!("n{i}")).collect();
        let mut exists = vec![false; node_names.len()];
        for step in 0..4000 {
            let n = rng(node_names.len() as u64);
            match rng(8) {
                0 => {
                    // add or relabel the node: zone a/b/c, or none
                    let zone = ["a", "b", "c", ""][rng(4)];
                    let b = node(&node_names[n]);
                    let b = if zone.is_empty() { b } else { b.label("zone", zone) };
                    cache.add_or_update_node(b.build());
                    exists[n] = true;
                }
                1 if rng(4) == 0 => {
                    cache.remove_node(&node_names[n]);
                    exists[n] = false;
                }
                2 | 3 => {
                    let name = format!("p{step}");
                    let app = if rng(3) == 0 { "db" } else { "web" };
                    let p = Arc::new(pod(&name).label("app", app).node(&node_names[n]).build());
                    if rng(2) == 0 {
                        cache.assume_pod(p, &node_names[n]);
                        pods.push((name, node_names[n].clone(), true));
                    } else {
                        cache.add_or_update_pod(&p);
                        pods.push((name, node_names[n].clone(), false));
                    }
                }
                4 if !pods.is_empty() => {
                    // forget (only affects assumed pods)
                    let i = rng(pods.len() as u64);
                    let key = format!("default/{}", pods[i].0);
                    cache.forget_pod(&key);
                    if pods[i].2 {
                        pods.swap_remove(i);
                    }
                }
                5 if !pods.is_empty() => {
                    // confirm an assumed pod, possibly on another node
                    let i = rng(pods.len() as u64);
                    let to = if rng(4) == 0 { node_names[n].clone() } else { pods[i].1.clone() };
                    let p = pod(&pods[i].0).label("app", "web").node(&to).build();
                    assert_eq!(pod_key(&p), format!("default/{}", pods[i].0));
                    cache.add_or_update_pod(&p);
                    pods[i] = (pods[i].0.clone(), to, false);
                }
                6 if !pods.is_empty() => {
                    let i = rng(pods.len() as u64);
                    cache.remove_pod(&format!("default/{}", pods[i].0));
                    pods.swap_remove(i);
                }
                _ => {}
            }
            cache.update_snapshot(&mut snap);
            view.refresh(&snap.nodes, web_in_zone);
            assert_eq!(view.domains().domains(), full(&snap.nodes), "step {step}");
            check_min(view.domains(), &format!("step {step}"));
            for n in &snap.nodes {
                let by_label = n.labels().and_then(|l| l.get("zone")).map(|v| view.domains().get(v));
                assert_eq!(view.domains().for_node(n, "zone"), by_label, "step {step}, node {}", n.name());
                // Every counted node is found by its generation.
                assert_eq!(view.domains().node_count(n), by_label, "step {step}, node {}", n.name());
            }
        }
        assert!(exists.iter().any(|e| *e));
    }

    #[test]
    fn view_survives_node_churn_and_rebuilds_stale_ids() {
        // Nodes with unique zones come and go: ids of vanished domains are
        // dropped by a rebuild, and the counts stay exact.
        let mut view = DomainView::default();
        for round in 0..300 {
            let nodes: Vec<Arc<NodeInfo>> = (0..3)
                .map(|i| {
                    let name = format!("n{round}-{i}");
                    Arc::new(crate::testutil::node_with(node(&name).label("zone", &name), vec![pod("w").label("app", "web").build()]))
                })
                .collect();
            view.refresh(&nodes, web_in_zone);
            assert_eq!(view.domains().domains(), full(&nodes), "round {round}");
            // A rebuild once stale ids exceed present + 64: at most that,
            // plus the ids of one more round before it and this round's.
            assert!(view.domains().counts.len() <= 3 + (3 + 64) + 3 + 3, "round {round}: {} ids", view.domains().counts.len());
        }
    }

    #[test]
    fn views_evict_the_least_recently_used() {
        let key = |i: usize| ViewKey {
            namespace: format!("ns{i}"),
            selector: LabelSelector::everything(),
            topology_key: "zone".into(),
            required_keys: vec!["zone".into()],
            inclusion: String::new(),
        };
        let mut views = Views::default();
        let nodes = vec![Arc::new(node("a").label("zone", "a").info())];
        for i in 0..MAX_VIEWS {
            views.view(&key(i)).refresh(&nodes, web_in_zone);
        }
        views.view(&key(0)); // 0 is now the most recent; 1 the oldest
        views.view(&key(MAX_VIEWS));
        assert_eq!(views.len(), MAX_VIEWS);
        assert!(views.views.contains_key(&key(0)));
        assert!(!views.views.contains_key(&key(1)));
        // A kept view is still up to date (refreshing changes nothing).
        let v = views.view(&key(0));
        assert_eq!(v.domains().domains(), full(&nodes));
    }
}
