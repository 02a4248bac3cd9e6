//! InterPodAffinity: required and preferred pod affinity and anti-affinity,
//! both the incoming pod's terms and existing pods' terms, with namespace
//! lists and namespace selectors.
//!
//! Filter rejects a node when (upstream order and messages):
//! 1. the pod's required affinity terms have no matching pod in the node's
//!    domain (unless no pod anywhere matches and the pod matches its own
//!    terms — the first pod of a group), or the node lacks a topology key;
//! 2. a pod matching its required anti-affinity terms runs in the domain;
//! 3. an existing pod's required anti-affinity term matches the pod in the
//!    domain.
//!
//! Score sums, per topology domain, preferred term weights (incoming pod's
//! terms ±, existing pods' preferred terms ±, existing pods' required
//! affinity terms × hardPodAffinityWeight 1), min–max normalised. Default
//! weight 2.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{
    CycleState, FilterPlugin, NodeScore, Plugin, PluginArgs, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::podinfo::{AffinityTerm, PodInfo, PodRecord, WeightedAffinityTerm};

pub const NAME: &str = "InterPodAffinity";
pub const ERR_AFFINITY: &str = "node(s) didn't match pod affinity rules";
pub const ERR_ANTI_AFFINITY: &str = "node(s) didn't match pod anti-affinity rules";
pub const ERR_EXISTING_ANTI_AFFINITY: &str = "node(s) didn't satisfy existing pods anti-affinity rules";

pub struct InterPodAffinity {
    hard_pod_affinity_weight: i64,
}

/// Matching-term counts per topology pair (upstream `topologyToMatchedTermCount`),
/// as topology key → value → count so that lookups borrow the node's labels
/// instead of building a `(String, String)` key per node. Pairs whose count
/// returns to 0 are removed.
#[derive(Clone, Default, Debug, PartialEq)]
struct PairCounts(HashMap<String, HashMap<String, i64>>);

impl PairCounts {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn get(&self, key: &str, value: &str) -> i64 {
        self.0.get(key).and_then(|m| m.get(value)).copied().unwrap_or(0)
    }

    fn add(&mut self, key: &str, value: &str, delta: i64) {
        let values = match self.0.get_mut(key) {
            Some(m) => m,
            None => self.0.entry(key.to_string()).or_default(),
        };
        let count = match values.get_mut(value) {
            Some(c) => c,
            None => values.entry(value.to_string()).or_insert(0),
        };
        *count += delta;
        if *count == 0 {
            values.remove(value);
            if values.is_empty() {
                self.0.remove(key);
            }
        }
    }
}

#[derive(Clone, Default)]
struct FilterState {
    existing_anti: PairCounts,
    affinity: PairCounts,
    anti: PairCounts,
    ns_labels: BTreeMap<String, String>,
}

fn bump(m: &mut PairCounts, node: &NodeInfo, key: &str, delta: i64) {
    if let Some(v) = node.labels().and_then(|l| l.get(key)) {
        m.add(key, v, delta);
    }
}

/// A namespace's labels, looked up once per cycle.
fn cached_namespace_labels<'a>(
    cache: &'a mut HashMap<String, Option<BTreeMap<String, String>>>,
    snapshot: &Snapshot,
    ns: &str,
) -> Option<&'a BTreeMap<String, String>> {
    if !cache.contains_key(ns) {
        cache.insert(ns.to_string(), snapshot.namespace_labels(ns));
    }
    cache.get(ns).and_then(Option::as_ref)
}

/// Whether any of `terms` selects namespaces by label.
fn uses_namespace_selector<'a>(mut terms: impl Iterator<Item = &'a AffinityTerm>) -> bool {
    terms.any(|t| !t.namespace_selector.is_nothing())
}

fn matches_all(terms: &[AffinityTerm], pod: &PodRecord, ns_labels: Option<&BTreeMap<String, String>>) -> bool {
    !terms.is_empty() && terms.iter().all(|t| t.matches(pod, ns_labels))
}

impl FilterState {
    /// Account for `other` on `node` (upstream `updateWithPod`).
    fn update(&mut self, pod: &PodInfo, other: &PodRecord, node: &NodeInfo, snapshot: &Snapshot, delta: i64) {
        for t in &other.required_anti_affinity {
            if t.matches(pod, Some(&self.ns_labels)) {
                bump(&mut self.existing_anti, node, &t.topology_key, delta);
            }
        }
        let other_ns = snapshot.namespace_labels(other.namespace());
        if matches_all(&pod.required_affinity, other, other_ns.as_ref()) {
            for t in &pod.required_affinity {
                bump(&mut self.affinity, node, &t.topology_key, delta);
            }
        }
        for t in &pod.required_anti_affinity {
            if t.matches(other, other_ns.as_ref()) {
                bump(&mut self.anti, node, &t.topology_key, delta);
            }
        }
    }
}

impl Plugin for InterPodAffinity {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for InterPodAffinity {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (Option<PreFilterResult>, Status) {
        let mut s = FilterState { ns_labels: snapshot.namespace_labels(pod.namespace()).unwrap_or_default(), ..Default::default() };
        for node in snapshot.nodes_with_required_anti_affinity() {
            for existing in &node.pods_with_required_anti_affinity {
                for t in &existing.required_anti_affinity {
                    if t.matches(pod, Some(&s.ns_labels)) {
                        bump(&mut s.existing_anti, node, &t.topology_key, 1);
                    }
                }
            }
        }
        let has_own = !pod.required_affinity.is_empty() || !pod.required_anti_affinity.is_empty();
        if !has_own && s.existing_anti.is_empty() {
            return (None, Status::skip());
        }
        if has_own {
            let mut ns_cache: HashMap<String, Option<BTreeMap<String, String>>> = HashMap::new();
            // Namespace labels only matter to terms with a namespace selector.
            let needs_ns = uses_namespace_selector(pod.required_affinity.iter().chain(&pod.required_anti_affinity));
            for node in &snapshot.nodes {
                for existing in &node.pods {
                    let ns = if needs_ns { cached_namespace_labels(&mut ns_cache, snapshot, existing.namespace()) } else { None };
                    if matches_all(&pod.required_affinity, existing, ns) {
                        for t in &pod.required_affinity {
                            bump(&mut s.affinity, node, &t.topology_key, 1);
                        }
                    }
                    for t in &pod.required_anti_affinity {
                        if t.matches(existing, ns) {
                            bump(&mut s.anti, node, &t.topology_key, 1);
                        }
                    }
                }
            }
        }
        state.write(NAME, s);
        (None, Status::success())
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &Arc<PodRecord>, node: &NodeInfo, snapshot: &Snapshot) -> Status {
        if let Some(s) = state.read_mut::<FilterState>(NAME) {
            s.update(pod, added, node, snapshot, 1);
        }
        Status::success()
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, removed: &Arc<PodRecord>, node: &NodeInfo, snapshot: &Snapshot) -> Status {
        if let Some(s) = state.read_mut::<FilterState>(NAME) {
            s.update(pod, removed, node, snapshot, -1);
        }
        Status::success()
    }
}

impl FilterPlugin for InterPodAffinity {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<FilterState>(NAME) else { return Status::success() };
        let labels = node.labels();
        // 1. required affinity
        let mut pods_exist = true;
        for t in &pod.required_affinity {
            match labels.and_then(|l| l.get(&t.topology_key)) {
                None => return Status::unresolvable(ERR_AFFINITY),
                Some(v) => {
                    if s.affinity.get(&t.topology_key, v) <= 0 {
                        pods_exist = false;
                    }
                }
            }
        }
        let first_of_group = s.affinity.is_empty() && matches_all(&pod.required_affinity, pod, Some(&s.ns_labels));
        if !pods_exist && !first_of_group {
            return Status::unresolvable(ERR_AFFINITY);
        }
        // 2. required anti-affinity
        if !s.anti.is_empty() {
            for t in &pod.required_anti_affinity {
                if let Some(v) = labels.and_then(|l| l.get(&t.topology_key)) {
                    if s.anti.get(&t.topology_key, v) > 0 {
                        return Status::unschedulable(ERR_ANTI_AFFINITY);
                    }
                }
            }
        }
        // 3. existing pods' anti-affinity
        if !s.existing_anti.is_empty() {
            for (k, v) in labels.into_iter().flatten() {
                if s.existing_anti.get(k, v) > 0 {
                    return Status::unschedulable(ERR_EXISTING_ANTI_AFFINITY);
                }
            }
        }
        Status::success()
    }
}

#[derive(Clone, Default)]
struct ScoreState {
    /// topology key → value → score
    topology_score: HashMap<String, HashMap<String, i64>>,
}

fn process_terms(
    m: &mut HashMap<String, HashMap<String, i64>>,
    terms: &[WeightedAffinityTerm],
    target: &PodRecord,
    ns_labels: Option<&BTreeMap<String, String>>,
    node: &NodeInfo,
    multiplier: i64,
) {
    for w in terms {
        process_term(m, &w.term, w.weight, target, ns_labels, node, multiplier);
    }
}

fn process_term(
    m: &mut HashMap<String, HashMap<String, i64>>,
    term: &AffinityTerm,
    weight: i64,
    target: &PodRecord,
    ns_labels: Option<&BTreeMap<String, String>>,
    node: &NodeInfo,
    multiplier: i64,
) {
    if !term.matches(target, ns_labels) {
        return;
    }
    if let Some(v) = node.labels().and_then(|l| l.get(&term.topology_key)) {
        *m.entry(term.topology_key.clone()).or_default().entry(v.clone()).or_insert(0) += weight * multiplier;
    }
}

impl PreScorePlugin for InterPodAffinity {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[Arc<NodeInfo>], snapshot: &Snapshot) -> Status {
        let has_constraints = !pod.preferred_affinity.is_empty() || !pod.preferred_anti_affinity.is_empty();
        let own_ns = snapshot.namespace_labels(pod.namespace());
        let mut m: HashMap<String, HashMap<String, i64>> = HashMap::new();
        let mut ns_cache: HashMap<String, Option<BTreeMap<String, String>>> = HashMap::new();
        // Without terms of its own, only pods with affinity terms matter:
        // only the nodes holding such pods are visited.
        let nodes: Box<dyn Iterator<Item = &Arc<NodeInfo>>> = if has_constraints { Box::new(snapshot.nodes.iter()) } else { Box::new(snapshot.nodes_with_affinity()) };
        for node in nodes {
            if node.labels().is_none_or(|l| l.is_empty()) {
                continue;
            }
            let pods = if has_constraints { &node.pods } else { &node.pods_with_affinity };
            let needs_ns = uses_namespace_selector(pod.preferred_affinity.iter().chain(&pod.preferred_anti_affinity).map(|w| &w.term));
            for existing in pods {
                let ns = if needs_ns { cached_namespace_labels(&mut ns_cache, snapshot, existing.namespace()) } else { None };
                process_terms(&mut m, &pod.preferred_affinity, existing, ns, node, 1);
                process_terms(&mut m, &pod.preferred_anti_affinity, existing, ns, node, -1);
                if self.hard_pod_affinity_weight > 0 {
                    for t in &existing.required_affinity {
                        process_term(&mut m, t, self.hard_pod_affinity_weight, pod, own_ns.as_ref(), node, 1);
                    }
                }
                process_terms(&mut m, &existing.preferred_affinity, pod, own_ns.as_ref(), node, 1);
                process_terms(&mut m, &existing.preferred_anti_affinity, pod, own_ns.as_ref(), node, -1);
            }
        }
        if m.is_empty() {
            return Status::skip();
        }
        state.write(NAME, ScoreState { topology_score: m });
        Status::success()
    }
}

impl ScorePlugin for InterPodAffinity {
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Result<i64, Status> {
        let Some(s) = state.read::<ScoreState>(NAME) else { return Ok(0) };
        let mut score = 0;
        for (key, values) in &s.topology_score {
            if let Some(v) = node.labels().and_then(|l| l.get(key)) {
                score += values.get(v).copied().unwrap_or(0);
            }
        }
        Ok(score)
    }

    fn normalize(&self, state: &CycleState, _: &PodInfo, scores: &mut [NodeScore]) -> Status {
        if state.read::<ScoreState>(NAME).is_none_or(|s| s.topology_score.is_empty()) {
            return Status::success();
        }
        let min = scores.iter().map(|s| s.score).min().unwrap_or(0);
        let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
        let diff = max - min;
        for s in scores.iter_mut() {
            s.score = if diff > 0 { (MAX_NODE_SCORE as f64 * ((s.score - min) as f64 / diff as f64)) as i64 } else { 0 };
        }
        Status::success()
    }
}

#[derive(serde::Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Args {
    #[serde(default)]
    hard_pod_affinity_weight: Option<i64>,
}

pub fn new(args: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    let a: Args = match &args.args {
        Some(v) if !v.is_null() => serde_json::from_value(v.clone())?,
        _ => Args::default(),
    };
    let w = a.hard_pod_affinity_weight.unwrap_or(1);
    if !(0..=100).contains(&w) {
        anyhow::bail!("hardPodAffinityWeight: Invalid value: {w}: not in valid range [0-100]");
    }
    Ok(Arc::new(InterPodAffinity { hard_pod_affinity_weight: w }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::framework::Code;
    use crate::listers::Listers;
    use crate::testutil::{node, node_with, pod, PodBuilder};
    use k8s_openapi::api::core::v1::{Affinity, PodAffinity, PodAffinityTerm, PodAntiAffinity, WeightedPodAffinityTerm};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as K8sSelector;

    const ZONE: &str = "topology.kubernetes.io/zone";

    fn term(app: &str, key: &str) -> PodAffinityTerm {
        PodAffinityTerm {
            label_selector: Some(K8sSelector { match_labels: Some([("app".to_string(), app.to_string())].into()), ..Default::default() }),
            topology_key: key.into(),
            ..Default::default()
        }
    }

    fn affinity(b: PodBuilder, app: &str) -> PodBuilder {
        b.affinity(Affinity {
            pod_affinity: Some(PodAffinity { required_during_scheduling_ignored_during_execution: Some(vec![term(app, ZONE)]), ..Default::default() }),
            ..Default::default()
        })
    }

    fn anti(b: PodBuilder, app: &str) -> PodBuilder {
        b.affinity(Affinity {
            pod_anti_affinity: Some(PodAntiAffinity { required_during_scheduling_ignored_during_execution: Some(vec![term(app, ZONE)]), ..Default::default() }),
            ..Default::default()
        })
    }

    fn run(snap: &Snapshot, p: &PodInfo) -> Vec<Code> {
        let plugin = InterPodAffinity { hard_pod_affinity_weight: 1 };
        let mut st = CycleState::new();
        let (_, s) = plugin.pre_filter(&mut st, p, snap);
        if s.is_skip() {
            return snap.nodes.iter().map(|_| Code::Success).collect();
        }
        snap.nodes.iter().map(|n| plugin.filter(&st, p, n).code).collect()
    }

    #[test]
    fn filter_table() {
        let snap = Snapshot::from_nodes(
            vec![
                node_with(node("a").label(ZONE, "z1"), vec![pod("db").label("app", "db").build()]),
                node("b").label(ZONE, "z2").info(),
                node("c").info(),
            ],
            Listers::default(),
        );
        let (ok, no, unres) = (Code::Success, Code::Unschedulable, Code::UnschedulableAndUnresolvable);
        let cases = [
            ("affinity to db zone", affinity(pod("p"), "db").info(), [ok, unres, unres]),
            ("anti-affinity to db zone", anti(pod("p"), "db").info(), [no, ok, ok]),
            ("first pod of a self-affine group", affinity(pod("p").label("app", "cache"), "cache").info(), [ok, ok, unres]),
            ("no match, not self-affine", affinity(pod("p"), "cache").info(), [unres, unres, unres]),
            ("no terms", pod("p").info(), [ok, ok, ok]),
        ];
        for (name, p, want) in cases {
            assert_eq!(run(&snap, &p), want, "{name}");
        }
        // Existing pod's anti-affinity repels matching pods from its zone.
        let snap = Snapshot::from_nodes(
            vec![node_with(node("a").label(ZONE, "z1"), vec![anti(pod("loner"), "web").build()]), node("b").label(ZONE, "z2").info()],
            Listers::default(),
        );
        assert_eq!(run(&snap, &pod("w").label("app", "web").info()), [no, ok]);
        assert_eq!(run(&snap, &pod("x").label("app", "other").info()), [ok, ok]);
    }

    #[test]
    fn pair_counts_drop_zero_entries() {
        // (key, value, delta) steps → (count of (zone, z1), empty afterwards)
        let steps = [(ZONE, "z1", 1, 1, false), (ZONE, "z1", 1, 2, false), ("host", "h", 1, 2, false), (ZONE, "z1", -2, 0, false), ("host", "h", -1, 0, true), (ZONE, "z1", -1, -1, false)];
        let mut c = PairCounts::default();
        for (i, (key, value, delta, want, empty)) in steps.into_iter().enumerate() {
            c.add(key, value, delta);
            assert_eq!((c.get(ZONE, "z1"), c.is_empty()), (want, empty), "step {i}");
        }
    }

    #[test]
    fn preferred_scores() {
        let snap = Snapshot::from_nodes(
            vec![
                node_with(node("a").label(ZONE, "z1"), vec![pod("db").label("app", "db").build()]),
                node("b").label(ZONE, "z2").info(),
                node_with(node("c").label(ZONE, "z3"), vec![pod("noisy").label("app", "noisy").build()]),
            ],
            Listers::default(),
        );
        let p = pod("p")
            .affinity(Affinity {
                pod_affinity: Some(PodAffinity {
                    preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm { weight: 10, pod_affinity_term: term("db", ZONE) }]),
                    ..Default::default()
                }),
                pod_anti_affinity: Some(PodAntiAffinity {
                    preferred_during_scheduling_ignored_during_execution: Some(vec![WeightedPodAffinityTerm { weight: 5, pod_affinity_term: term("noisy", ZONE) }]),
                    ..Default::default()
                }),
                ..Default::default()
            })
            .info();
        let plugin = InterPodAffinity { hard_pod_affinity_weight: 1 };
        let mut st = CycleState::new();
        assert!(plugin.pre_score(&mut st, &p, &snap.nodes, &snap).is_success());
        let mut scores: Vec<NodeScore> =
            snap.nodes.iter().map(|n| NodeScore { name: n.name().into(), score: plugin.score(&st, &p, n, &snap).unwrap() }).collect();
        assert_eq!(scores.iter().map(|s| s.score).collect::<Vec<_>>(), [10, 0, -5]);
        plugin.normalize(&st, &p, &mut scores);
        assert_eq!(scores.iter().map(|s| s.score).collect::<Vec<_>>(), [100, 33, 0]);
    }
}
