//! PodTopologySpread: spread matching pods across topology domains.
//!
//! - Constraints come from `spec.topologySpreadConstraints`; without any,
//!   the system defaults apply (hostname maxSkew 3 and zone maxSkew 5, both
//!   `ScheduleAnyway`) with a selector built from the Services,
//!   ReplicationControllers, ReplicaSets and StatefulSets selecting the pod
//!   (none → no constraints). `defaultingType: List` with
//!   `defaultConstraints` replaces them.
//! - Filter (`DoNotSchedule`): `matching pods in the node's domain + self
//!   match - global minimum ≤ maxSkew`, counted over nodes that pass the
//!   inclusion policies (node affinity honoured, taints ignored by default)
//!   and carry every constraint's key; fewer domains than `minDomains`
//!   makes the minimum 0. A node without the key is unresolvable.
//! - Score (`ScheduleAnyway`): matching pods in the domain weighted by
//!   `ln(domains + 2)`, plus `maxSkew - 1`; normalised so fewer is better.
//!   Default weight 2.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use apimachinery::selector::labels::{LabelSelector, Operator, Requirement};
use k8s_openapi::api::core::v1::{Pod, TopologySpreadConstraint};
use serde::Deserialize;

use super::helper::{find_untolerated, node_taints, pod_matches_node_selector_and_affinity, pod_tolerations};
use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{
    CycleState, FilterPlugin, NodeScore, Plugin, PluginArgs, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::podinfo::PodInfo;

pub const NAME: &str = "PodTopologySpread";
pub const ERR_CONSTRAINTS_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints";
pub const ERR_NODE_LABEL_NOT_MATCH: &str = "node(s) didn't match pod topology spread constraints (missing required label)";
const HOSTNAME: &str = "kubernetes.io/hostname";
const ZONE: &str = "topology.kubernetes.io/zone";

#[derive(Debug, Clone)]
pub struct Constraint {
    pub max_skew: i64,
    pub topology_key: String,
    pub hard: bool,
    pub selector: LabelSelector,
    pub min_domains: i64,
    pub honor_node_affinity: bool,
    pub honor_taints: bool,
}

pub struct PodTopologySpread {
    /// `None`: system defaults.
    default_constraints: Option<Vec<TopologySpreadConstraint>>,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
struct Args {
    #[serde(default)]
    default_constraints: Vec<TopologySpreadConstraint>,
    #[serde(default)]
    defaulting_type: Option<String>,
}

fn system_defaults() -> Vec<(String, i64)> {
    vec![(HOSTNAME.to_string(), 3), (ZONE.to_string(), 5)]
}

/// Upstream `helper.DefaultSelector`: labels of selecting Services and RCs,
/// plus the controlling ReplicaSet's / StatefulSet's selector.
pub fn default_selector(pod: &Pod, snapshot: &Snapshot) -> LabelSelector {
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let labels = pod.metadata.labels.clone().unwrap_or_default();
    let mut set: BTreeMap<String, String> = BTreeMap::new();
    for svc in snapshot.listers.services.state() {
        if svc.metadata.namespace.as_deref() != Some(ns) {
            continue;
        }
        let Some(sel) = svc.spec.as_ref().and_then(|s| s.selector.as_ref()).filter(|s| !s.is_empty()) else { continue };
        if sel.iter().all(|(k, v)| labels.get(k) == Some(v)) {
            set.extend(sel.clone());
        }
    }
    let owner = pod.metadata.owner_references.iter().flatten().find(|o| o.controller == Some(true));
    let mut extra: Vec<Requirement> = Vec::new();
    if let Some(o) = owner {
        use kube::runtime::reflector::ObjectRef;
        match (o.api_version.as_str(), o.kind.as_str()) {
            ("v1", "ReplicationController") => {
                if let Some(rc) = snapshot.listers.replication_controllers.get(&ObjectRef::new(&o.name).within(ns)) {
                    set.extend(rc.spec.as_ref().and_then(|s| s.selector.clone()).unwrap_or_default());
                }
            }
            ("apps/v1", "ReplicaSet") => {
                if let Some(rs) = snapshot.listers.replica_sets.get(&ObjectRef::new(&o.name).within(ns)) {
                    if let Some(sel) = rs.spec.as_ref().map(|s| &s.selector) {
                        if let Ok(s) = LabelSelector::from_k8s(sel) {
                            extra.extend(s.requirements().iter().cloned());
                        }
                    }
                }
            }
            ("apps/v1", "StatefulSet") => {
                if let Some(ss) = snapshot.listers.stateful_sets.get(&ObjectRef::new(&o.name).within(ns)) {
                    if let Some(sel) = ss.spec.as_ref().map(|s| &s.selector) {
                        if let Ok(s) = LabelSelector::from_k8s(sel) {
                            extra.extend(s.requirements().iter().cloned());
                        }
                    }
                }
            }
            _ => {}
        }
    }
    let mut reqs: Vec<Requirement> = set.into_iter().filter_map(|(k, v)| Requirement::new(k, Operator::Equals, vec![v]).ok()).collect();
    reqs.extend(extra);
    LabelSelector::from_requirements(reqs)
}

fn convert(pod: &Pod, c: &TopologySpreadConstraint) -> Option<Constraint> {
    let mut selector = LabelSelector::from_k8s_opt(c.label_selector.as_ref()).ok()?;
    // matchLabelKeys: AND `key in (pod's value)` for each key the pod has.
    if let Some(keys) = c.match_label_keys.as_ref().filter(|k| !k.is_empty()) {
        if !selector.is_nothing() {
            let labels = pod.metadata.labels.clone().unwrap_or_default();
            let mut reqs = selector.requirements().to_vec();
            for k in keys {
                if let Some(v) = labels.get(k) {
                    reqs.extend(Requirement::new(k.clone(), Operator::In, vec![v.clone()]).ok());
                }
            }
            selector = LabelSelector::from_requirements(reqs);
        }
    }
    Some(Constraint {
        max_skew: c.max_skew as i64,
        topology_key: c.topology_key.clone(),
        hard: c.when_unsatisfiable == "DoNotSchedule",
        selector,
        min_domains: c.min_domains.unwrap_or(1) as i64,
        honor_node_affinity: c.node_affinity_policy.as_deref() != Some("Ignore"),
        honor_taints: c.node_taints_policy.as_deref() == Some("Honor"),
    })
}

impl PodTopologySpread {
    /// The pod's constraints (own or defaulted), and whether they were system-defaulted.
    pub fn constraints(&self, pod: &Pod, snapshot: &Snapshot) -> (Vec<Constraint>, bool) {
        let own = pod.spec.as_ref().and_then(|s| s.topology_spread_constraints.as_ref()).filter(|c| !c.is_empty());
        if let Some(own) = own {
            return (own.iter().filter_map(|c| convert(pod, c)).collect(), false);
        }
        let selector = default_selector(pod, snapshot);
        if selector.is_everything() {
            return (Vec::new(), self.default_constraints.is_none());
        }
        match &self.default_constraints {
            None => (
                system_defaults()
                    .into_iter()
                    .map(|(key, skew)| Constraint {
                        max_skew: skew,
                        topology_key: key,
                        hard: false,
                        selector: selector.clone(),
                        min_domains: 1,
                        honor_node_affinity: true,
                        honor_taints: false,
                    })
                    .collect(),
                true,
            ),
            Some(list) => (
                list.iter()
                    .filter_map(|c| {
                        let mut c = convert(pod, c)?;
                        c.selector = selector.clone();
                        Some(c)
                    })
                    .collect(),
                false,
            ),
        }
    }
}

fn has_all_keys(node: &NodeInfo, constraints: &[Constraint]) -> bool {
    let labels = node.labels();
    constraints.iter().all(|c| labels.is_some_and(|l| l.contains_key(&c.topology_key)))
}

fn passes_inclusion(c: &Constraint, pod: &Pod, node: &NodeInfo) -> bool {
    if c.honor_node_affinity && !pod_matches_node_selector_and_affinity(pod, &node.node) {
        return false;
    }
    if c.honor_taints && find_untolerated(node_taints(&node.node), pod_tolerations(pod), |t| t.effect == "NoSchedule" || t.effect == "NoExecute").is_some() {
        return false;
    }
    true
}

/// Upstream `countPodsMatchSelector`: same namespace, not terminating.
pub fn count_matching(pods: &[Arc<PodInfo>], selector: &LabelSelector, ns: &str) -> i64 {
    pods.iter()
        .filter(|p| p.pod.metadata.deletion_timestamp.is_none() && p.namespace() == ns && selector.matches(&p.pod.metadata))
        .count() as i64
}

/// Per constraint: matching pods per domain of the constraint's key, with
/// the global minimum kept up to date (upstream `preFilterState`
/// `TpValueToMatchNum` + `CriticalPaths`, computed once in PreFilter, so
/// Filter is O(constraints) per node instead of a scan of every domain).
#[derive(Clone)]
struct FilterState {
    constraints: Vec<Constraint>,
    /// Per constraint: 1 when the incoming pod matches its selector.
    self_match: Vec<i64>,
    /// Per constraint: domain value → matching pods.
    counts: Vec<DomainCounts>,
}

impl FilterState {
    /// Upstream `minMatchNum`: the smallest domain count, or 0 when fewer
    /// domains than `minDomains` exist.
    fn min_match(&self, i: usize) -> i64 {
        let d = &self.counts[i];
        if (d.len() as i64) < self.constraints[i].min_domains {
            return 0;
        }
        d.min().unwrap_or(0)
    }

    /// Upstream `updateWithPod` (AddPod/RemovePod for nominated pods and
    /// preemption's what-ifs).
    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        if !has_all_keys(node, &self.constraints) || other.namespace() != pod.namespace() {
            return;
        }
        for (c, counts) in self.constraints.iter().zip(self.counts.iter_mut()) {
            if !passes_inclusion(c, &pod.pod, node) || !c.selector.matches(&other.pod.metadata) {
                continue;
            }
            let value = node.labels().and_then(|l| l.get(&c.topology_key)).map(String::as_str).unwrap_or("");
            counts.add(value, delta);
        }
    }
}

/// Domain value → matching pods. foldhash: PreFilter hashes every node's
/// value (5,000 hostnames on 5,000 nodes) for every pod, and SipHash's
/// DoS resistance buys nothing for label values the cluster already holds.
type Counts = HashMap<String, i64, foldhash::fast::RandomState>;

/// Counts per domain value with an exact running minimum: the minimum and
/// how many domains hold it are updated in O(1), and only a rise of the
/// last domain at the minimum rescans (upstream keeps the two smallest
/// domains, `criticalPaths`, which can go stale after AddPod; this never
/// does). Domains stay when their count drops to 0, as upstream's map.
#[derive(Clone, Debug, Default)]
struct DomainCounts {
    counts: Counts,
    min: i64,
    /// Domains whose count equals `min` (0 only when empty).
    at_min: usize,
}

impl DomainCounts {
    fn from_counts(counts: Counts) -> DomainCounts {
        let mut d = DomainCounts { counts, min: 0, at_min: 0 };
        d.rescan();
        d
    }

    fn rescan(&mut self) {
        self.min = self.counts.values().copied().min().unwrap_or(0);
        self.at_min = self.counts.values().filter(|n| **n == self.min).count();
    }

    fn len(&self) -> usize {
        self.counts.len()
    }

    fn get(&self, value: &str) -> i64 {
        self.counts.get(value).copied().unwrap_or(0)
    }

    fn min(&self) -> Option<i64> {
        (!self.counts.is_empty()).then_some(self.min)
    }

    fn add(&mut self, value: &str, delta: i64) {
        let Some(count) = self.counts.get_mut(value) else {
            let was_empty = self.counts.is_empty();
            self.counts.insert(value.to_string(), delta);
            if was_empty || delta < self.min {
                (self.min, self.at_min) = (delta, 1);
            } else if delta == self.min {
                self.at_min += 1;
            }
            return;
        };
        let old = *count;
        *count += delta;
        let new = *count;
        if old == self.min {
            self.at_min -= 1;
        }
        if new < self.min || (self.at_min == 0 && new < old) {
            (self.min, self.at_min) = (new, 1);
        } else if self.at_min == 0 {
            self.rescan();
        } else if new == self.min {
            self.at_min += 1;
        }
    }
}

#[derive(Clone)]
struct ScoreState {
    constraints: Vec<Constraint>,
    ignored: HashSet<String>,
    /// Per constraint: domain value → matching pods (empty for hostname).
    counts: Vec<HashMap<String, i64>>,
    weights: Vec<f64>,
}

impl Plugin for PodTopologySpread {
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

impl PreFilterPlugin for PodTopologySpread {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (Option<PreFilterResult>, Status) {
        let hard: Vec<Constraint> = self.constraints(&pod.pod, snapshot).0.into_iter().filter(|c| c.hard).collect();
        if hard.is_empty() {
            return (None, Status::skip());
        }
        // Constraints with the same selector (the usual case) share one
        // count of matching pods per node.
        let same_as: Vec<usize> = (0..hard.len()).map(|i| (0..i).find(|&j| hard[j].selector == hard[i].selector).unwrap_or(i)).collect();
        let mut counts: Vec<Counts> = vec![Counts::default(); hard.len()];
        let mut values: Vec<&str> = Vec::with_capacity(hard.len());
        let mut on_node: Vec<Option<i64>> = vec![None; hard.len()];
        for node in &snapshot.nodes {
            // Upstream `nodeLabelsMatchSpreadConstraints`: every key present.
            let Some(labels) = node.labels() else { continue };
            values.clear();
            values.extend(hard.iter().map_while(|c| labels.get(&c.topology_key).map(String::as_str)));
            if values.len() != hard.len() {
                continue;
            }
            on_node.fill(None);
            for (i, c) in hard.iter().enumerate() {
                if !passes_inclusion(c, &pod.pod, node) {
                    continue;
                }
                let n = match on_node[same_as[i]] {
                    Some(n) => n,
                    None => count_matching(&node.pods, &c.selector, pod.namespace()),
                };
                on_node[i] = Some(n);
                match counts[i].get_mut(values[i]) {
                    Some(total) => *total += n,
                    None => {
                        counts[i].insert(values[i].to_string(), n);
                    }
                }
            }
        }
        let self_match = hard.iter().map(|c| i64::from(c.selector.matches(&pod.pod.metadata))).collect();
        let counts = counts.into_iter().map(DomainCounts::from_counts).collect();
        state.write(NAME, FilterState { constraints: hard, self_match, counts });
        (None, Status::success())
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &Arc<PodInfo>, node: &NodeInfo, _: &Snapshot) -> Status {
        if let Some(s) = state.read_mut::<FilterState>(NAME) {
            s.update(pod, added, node, 1);
        }
        Status::success()
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, removed: &Arc<PodInfo>, node: &NodeInfo, _: &Snapshot) -> Status {
        if let Some(s) = state.read_mut::<FilterState>(NAME) {
            s.update(pod, removed, node, -1);
        }
        Status::success()
    }
}

impl FilterPlugin for PodTopologySpread {
    fn filter(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<FilterState>(NAME) else { return Status::success() };
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(value) = node.labels().and_then(|l| l.get(&c.topology_key)) else {
                return Status::unresolvable(ERR_NODE_LABEL_NOT_MATCH);
            };
            if s.counts[i].get(value) + s.self_match[i] - s.min_match(i) > c.max_skew {
                return Status::unschedulable(ERR_CONSTRAINTS_NOT_MATCH);
            }
        }
        Status::success()
    }
}

impl PreScorePlugin for PodTopologySpread {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, nodes: &[Arc<NodeInfo>], snapshot: &Snapshot) -> Status {
        let (all, system_defaulted) = self.constraints(&pod.pod, snapshot);
        let constraints: Vec<Constraint> = all.into_iter().filter(|c| !c.hard).collect();
        if constraints.is_empty() {
            return Status::skip();
        }
        let own = pod.pod.spec.as_ref().and_then(|s| s.topology_spread_constraints.as_ref()).is_some_and(|c| !c.is_empty());
        let require_all = own || !system_defaulted;
        let mut ignored = HashSet::new();
        // Per constraint (except hostname, counted on the node in Score):
        // domain value → matching pods, over the domains of scored nodes.
        let mut counts: Vec<HashMap<String, i64>> = vec![HashMap::new(); constraints.len()];
        let mut sizes = vec![0usize; constraints.len()];
        for n in nodes {
            if require_all && !has_all_keys(n, &constraints) {
                ignored.insert(n.name().to_string());
                continue;
            }
            for (i, c) in constraints.iter().enumerate() {
                if c.topology_key == HOSTNAME {
                    continue;
                }
                let Some(v) = n.labels().and_then(|l| l.get(&c.topology_key)) else { continue };
                if !counts[i].contains_key(v.as_str()) {
                    counts[i].insert(v.clone(), 0);
                    sizes[i] += 1;
                }
            }
        }
        for (i, c) in constraints.iter().enumerate() {
            if c.topology_key == HOSTNAME {
                sizes[i] = nodes.len() - ignored.len();
            }
        }
        let weights = sizes.iter().map(|s| ((*s + 2) as f64).ln()).collect();
        if counts.iter().any(|m| !m.is_empty()) {
            for n in &snapshot.nodes {
                if require_all && !has_all_keys(n, &constraints) {
                    continue;
                }
                for (c, counts) in constraints.iter().zip(counts.iter_mut()) {
                    if c.topology_key == HOSTNAME || counts.is_empty() || !passes_inclusion(c, &pod.pod, n) {
                        continue;
                    }
                    let Some(v) = n.labels().and_then(|l| l.get(&c.topology_key)) else { continue };
                    if let Some(count) = counts.get_mut(v.as_str()) {
                        *count += count_matching(&n.pods, &c.selector, pod.namespace());
                    }
                }
            }
        }
        state.write(NAME, ScoreState { constraints, ignored, counts, weights });
        Status::success()
    }
}

impl ScorePlugin for PodTopologySpread {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Result<i64, Status> {
        let Some(s) = state.read::<ScoreState>(NAME) else { return Ok(0) };
        if s.ignored.contains(node.name()) {
            return Ok(0);
        }
        let mut score = 0.0;
        for (i, c) in s.constraints.iter().enumerate() {
            let Some(v) = node.labels().and_then(|l| l.get(&c.topology_key)) else { continue };
            let cnt = if c.topology_key == HOSTNAME {
                count_matching(&node.pods, &c.selector, pod.namespace())
            } else {
                s.counts[i].get(v.as_str()).copied().unwrap_or(0)
            };
            score += cnt as f64 * s.weights[i] + (c.max_skew - 1) as f64;
        }
        Ok(score.round() as i64)
    }

    fn normalize(&self, state: &CycleState, _: &PodInfo, scores: &mut [NodeScore]) -> Status {
        let Some(s) = state.read::<ScoreState>(NAME) else { return Status::success() };
        let (mut min, mut max) = (i64::MAX, 0i64);
        for sc in scores.iter() {
            if s.ignored.contains(&sc.name) {
                continue;
            }
            min = min.min(sc.score);
            max = max.max(sc.score);
        }
        for sc in scores.iter_mut() {
            if s.ignored.contains(&sc.name) {
                sc.score = 0;
                continue;
            }
            if max == 0 {
                sc.score = MAX_NODE_SCORE;
                continue;
            }
            sc.score = MAX_NODE_SCORE * (max + min - sc.score) / max;
        }
        Status::success()
    }
}

pub fn new(args: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    let a: Args = match &args.args {
        Some(v) if !v.is_null() => serde_json::from_value(v.clone())?,
        _ => Args::default(),
    };
    let default_constraints = match a.defaulting_type.as_deref().unwrap_or("System") {
        "System" => {
            if !a.default_constraints.is_empty() {
                anyhow::bail!("defaultConstraints: Invalid value: when .defaultingType is \"System\", .defaultConstraints must be empty");
            }
            None
        }
        "List" => Some(a.default_constraints),
        other => anyhow::bail!("defaultingType: Unsupported value: {other:?}"),
    };
    Ok(Arc::new(PodTopologySpread { default_constraints }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::framework::Code;
    use crate::listers::Listers;
    use crate::testutil::{node, node_with, pod, PodBuilder};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as K8sSelector;

    fn spread(b: PodBuilder, key: &str, skew: i32, hard: bool) -> PodBuilder {
        let key = key.to_string();
        b.with(move |p| {
            p.spec.as_mut().unwrap().topology_spread_constraints = Some(vec![TopologySpreadConstraint {
                max_skew: skew,
                topology_key: key,
                when_unsatisfiable: if hard { "DoNotSchedule" } else { "ScheduleAnyway" }.into(),
                label_selector: Some(K8sSelector { match_labels: Some([("app".to_string(), "web".to_string())].into()), ..Default::default() }),
                ..Default::default()
            }])
        })
    }

    fn web(name: &str) -> Pod {
        pod(name).label("app", "web").build()
    }

    #[test]
    fn hard_constraint_filter() {
        // zone a: 2 web pods, zone b: 0, node c has no zone label.
        let nodes = vec![
            node_with(node("a1").label(ZONE, "a"), vec![web("w1"), web("w2")]),
            node("b1").label(ZONE, "b").info(),
            node("c1").info(),
        ];
        let snap = Snapshot::from_nodes(nodes, Listers::default());
        let plugin = PodTopologySpread { default_constraints: None };
        let p = spread(pod("new").label("app", "web"), ZONE, 1, true).info();
        let mut st = CycleState::new();
        assert!(plugin.pre_filter(&mut st, &p, &snap).1.is_success());
        let got: Vec<(Code, String)> = snap.nodes.iter().map(|n| plugin.filter(&st, &p, n)).map(|s| (s.code, s.message())).collect();
        assert_eq!(
            got,
            [
                (Code::Unschedulable, ERR_CONSTRAINTS_NOT_MATCH.to_string()),
                (Code::Success, String::new()),
                (Code::UnschedulableAndUnresolvable, ERR_NODE_LABEL_NOT_MATCH.to_string()),
            ]
        );
        // Removing one pod from zone a (preemption what-if) still leaves skew 2.
        let removed = snap.nodes[0].pods[0].clone();
        plugin.remove_pod(&mut st, &p, &removed, &snap.nodes[0], &snap);
        assert_eq!(plugin.filter(&st, &p, &snap.nodes[0]).code, Code::Unschedulable);
        plugin.remove_pod(&mut st, &p, &snap.nodes[0].pods[1].clone(), &snap.nodes[0], &snap);
        assert!(plugin.filter(&st, &p, &snap.nodes[0]).is_success());
    }

    /// The pre-index Filter, kept as the reference: the minimum is a scan
    /// of every (key, value) count for each node and constraint.
    fn reference_filter(pods: &[(usize, Pod)], nodes: &[NodeInfo], c: &Constraint, p: &Pod, node: &NodeInfo) -> Code {
        let mut pair_counts: HashMap<String, i64> = HashMap::new();
        for (i, n) in nodes.iter().enumerate() {
            let Some(v) = n.labels().and_then(|l| l.get(&c.topology_key)) else { continue };
            if !passes_inclusion(c, p, n) {
                continue;
            }
            let matching = pods.iter().filter(|(at, q)| *at == i && q.metadata.deletion_timestamp.is_none() && c.selector.matches(&q.metadata)).count();
            *pair_counts.entry(v.clone()).or_insert(0) += matching as i64;
        }
        let Some(v) = node.labels().and_then(|l| l.get(&c.topology_key)) else { return Code::UnschedulableAndUnresolvable };
        let min = if (pair_counts.len() as i64) < c.min_domains { 0 } else { pair_counts.values().copied().min().unwrap_or(0) };
        let own = pair_counts.get(v).copied().unwrap_or(0) + i64::from(c.selector.matches(&p.metadata));
        if own - min > c.max_skew {
            Code::Unschedulable
        } else {
            Code::Success
        }
    }

    fn hard(b: PodBuilder, key: &str, skew: i32, min_domains: Option<i32>) -> PodBuilder {
        spread(b, key, skew, true).with(move |p| p.spec.as_mut().unwrap().topology_spread_constraints.as_mut().unwrap()[0].min_domains = min_domains)
    }

    #[test]
    fn filter_matches_the_reference_scan() {
        // (case, zones of the nodes ("" = no label), node index of each web pod, maxSkew, minDomains)
        type Case<'a> = (&'a str, &'a [&'a str], &'a [usize], i32, Option<i32>);
        let cases: &[Case] = &[
            ("balanced", &["a", "b", "c"], &[0, 1, 2], 1, None),
            ("one zone ahead", &["a", "b", "c"], &[0, 0, 1, 2], 1, None),
            ("empty zone is the minimum", &["a", "b", "c"], &[0, 0, 1], 1, None),
            ("two nodes per zone", &["a", "a", "b", "b"], &[0, 1, 1, 2], 1, None),
            ("larger skew", &["a", "b"], &[0, 0, 0], 2, None),
            ("unlabelled node", &["a", "", "b"], &[0, 1, 1, 1], 1, None),
            ("minDomains above domains", &["a", "b"], &[0, 1], 1, Some(3)),
            ("minDomains met", &["a", "b", "c"], &[0, 1, 1], 1, Some(3)),
            ("no pods", &["a", "b", "c"], &[], 1, None),
        ];
        let plugin = PodTopologySpread { default_constraints: None };
        for (name, zones, placed, skew, min_domains) in cases {
            let pods: Vec<(usize, Pod)> = placed.iter().enumerate().map(|(i, at)| (*at, web(&format!("w{i}")))).collect();
            let nodes: Vec<NodeInfo> = zones
                .iter()
                .enumerate()
                .map(|(i, z)| {
                    let b = if z.is_empty() { node(&format!("n{i}")) } else { node(&format!("n{i}")).label(ZONE, z) };
                    node_with(b, pods.iter().filter(|(at, _)| *at == i).map(|(_, p)| p.clone()).collect())
                })
                .collect();
            let snap = Snapshot::from_nodes(nodes.clone(), Listers::default());
            let p = hard(pod("new").label("app", "web"), ZONE, *skew, *min_domains).info();
            let c = plugin.constraints(&p.pod, &snap).0.remove(0);
            let mut st = CycleState::new();
            assert!(plugin.pre_filter(&mut st, &p, &snap).1.is_success(), "{name}");
            let got: Vec<Code> = snap.nodes.iter().map(|n| plugin.filter(&st, &p, n).code).collect();
            let want: Vec<Code> = nodes.iter().map(|n| reference_filter(&pods, &nodes, &c, &p.pod, n)).collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn several_constraints_match_the_reference_scan() {
        // Zone and hostname constraints, with the same selector (one count per
        // node shared) or different ones; the first failing constraint decides.
        let sel = |app: &str| Some(K8sSelector { match_labels: Some([("app".to_string(), app.to_string())].into()), ..Default::default() });
        let tsc = |key: &str, skew: i32, app: &str| TopologySpreadConstraint {
            max_skew: skew,
            topology_key: key.into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            label_selector: sel(app),
            ..Default::default()
        };
        let db = |name: &str| pod(name).label("app", "db").build();
        let nodes = vec![
            node_with(node("a1").label(ZONE, "a").label(HOSTNAME, "a1"), vec![web("w1"), web("w2"), db("d1")]),
            node_with(node("a2").label(ZONE, "a").label(HOSTNAME, "a2"), vec![db("d2"), db("d3")]),
            node_with(node("b1").label(ZONE, "b").label(HOSTNAME, "b1"), vec![web("w3")]),
            node("c1").label(HOSTNAME, "c1").info(),
        ];
        let placed: Vec<(usize, Pod)> =
            nodes.iter().enumerate().flat_map(|(i, n)| n.pods.iter().map(move |p| (i, (*p.pod).clone()))).collect();
        let snap = Snapshot::from_nodes(nodes.clone(), Listers::default());
        let plugin = PodTopologySpread { default_constraints: None };
        let cases = [
            ("same selector", vec![tsc(ZONE, 1, "web"), tsc(HOSTNAME, 1, "web")]),
            ("different selectors", vec![tsc(HOSTNAME, 1, "db"), tsc(ZONE, 2, "web")]),
            ("hostname only", vec![tsc(HOSTNAME, 1, "web")]),
        ];
        for (name, constraints) in cases {
            let p = pod("new").label("app", "web").with(move |p| p.spec.as_mut().unwrap().topology_spread_constraints = Some(constraints)).info();
            let cs = plugin.constraints(&p.pod, &snap).0;
            let mut st = CycleState::new();
            assert!(plugin.pre_filter(&mut st, &p, &snap).1.is_success(), "{name}");
            let got: Vec<Code> = snap.nodes.iter().map(|n| plugin.filter(&st, &p, n).code).collect();
            let want: Vec<Code> = nodes
                .iter()
                .map(|n| {
                    // Only nodes carrying every key count (upstream), so the
                    // reference sees just those.
                    let eligible: Vec<NodeInfo> = nodes.iter().filter(|m| has_all_keys(m, &cs)).cloned().collect();
                    let pods: Vec<(usize, Pod)> = placed
                        .iter()
                        .filter(|(i, _)| has_all_keys(&nodes[*i], &cs))
                        .map(|(i, p)| (eligible.iter().position(|m| m.name() == nodes[*i].name()).unwrap(), p.clone()))
                        .collect();
                    cs.iter().map(|c| reference_filter(&pods, &eligible, c, &p.pod, n)).find(|c| *c != Code::Success).unwrap_or(Code::Success)
                })
                .collect();
            assert_eq!(got, want, "{name}");
        }
    }

    #[test]
    fn add_and_remove_pod_keep_the_minimum_exact() {
        // Three zones; pods move in and out through AddPod/RemovePod (as
        // nominated pods and preemption do) and every step is checked
        // against a fresh PreFilter over the same placement.
        let zones = ["a", "b", "c"];
        let plugin = PodTopologySpread { default_constraints: None };
        let p = hard(pod("new").label("app", "web"), ZONE, 1, None).info();
        let empty: Vec<NodeInfo> = zones.iter().map(|z| node(&format!("n-{z}")).label(ZONE, z).info()).collect();
        let mut placed: Vec<Vec<Pod>> = vec![vec![web("w0")], vec![web("w1"), web("w2")], vec![]];
        let build = |placed: &Vec<Vec<Pod>>| {
            let nodes = zones.iter().zip(placed).map(|(z, pods)| node_with(node(&format!("n-{z}")).label(ZONE, z), pods.clone())).collect();
            Snapshot::from_nodes(nodes, Listers::default())
        };
        let snap = build(&placed);
        let mut st = CycleState::new();
        plugin.pre_filter(&mut st, &p, &snap);
        // (add?, zone index)
        let steps = [(true, 2), (true, 2), (true, 0), (false, 1), (false, 1), (true, 1), (false, 0), (false, 2), (true, 0), (true, 0), (true, 0), (false, 0)];
        for (n, (add, z)) in steps.into_iter().enumerate() {
            if add {
                let new = web(&format!("x{n}"));
                placed[z].push(new.clone());
                plugin.add_pod(&mut st, &p, &Arc::new(PodInfo::new(Arc::new(new))), &empty[z], &snap);
            } else {
                let gone = placed[z].pop().unwrap();
                plugin.remove_pod(&mut st, &p, &Arc::new(PodInfo::new(Arc::new(gone))), &empty[z], &snap);
            }
            let fresh = build(&placed);
            let mut want = CycleState::new();
            plugin.pre_filter(&mut want, &p, &fresh);
            let got: Vec<Code> = empty.iter().map(|node| plugin.filter(&st, &p, node).code).collect();
            let expected: Vec<Code> = empty.iter().map(|node| plugin.filter(&want, &p, node).code).collect();
            assert_eq!(got, expected, "step {n}: {placed:?}");
            let (a, b) = (st.read::<FilterState>(NAME).unwrap(), want.read::<FilterState>(NAME).unwrap());
            assert_eq!(a.min_match(0), b.min_match(0), "step {n}");
        }
    }

    #[test]
    fn domain_counts_track_the_minimum() {
        // A deterministic pseudo-random walk over 6 domains; after each
        // step the running minimum equals a full scan.
        let mut d = DomainCounts::from_counts(Counts::default());
        assert_eq!(d.min(), None);
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        for step in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let value = format!("d{}", x % 6);
            let delta = [1, 1, -1, 2, 0][(x >> 8) as usize % 5];
            d.add(&value, delta);
            let scan = d.counts.values().copied().min();
            assert_eq!(d.min(), scan, "step {step}");
            assert_eq!(d.at_min, d.counts.values().filter(|n| Some(**n) == scan).count(), "step {step}");
        }
    }

    #[test]
    fn soft_constraint_scores_emptier_nodes_higher() {
        let nodes = vec![node_with(node("a"), vec![web("w1"), web("w2")]), node_with(node("b"), vec![web("w3")]), node("c").info()];
        let snap = Snapshot::from_nodes(nodes, Listers::default());
        let plugin = PodTopologySpread { default_constraints: None };
        let p = spread(pod("new").label("app", "web"), HOSTNAME, 1, false).info();
        let mut st = CycleState::new();
        assert!(plugin.pre_score(&mut st, &p, &snap.nodes, &snap).is_success());
        let mut scores: Vec<NodeScore> =
            snap.nodes.iter().map(|n| NodeScore { name: n.name().into(), score: plugin.score(&st, &p, n, &snap).unwrap() }).collect();
        // raw: cnt * ln(5): a=2*1.609=3.2→3, b=1.609→2, c=0
        assert_eq!(scores.iter().map(|s| s.score).collect::<Vec<_>>(), [3, 2, 0]);
        plugin.normalize(&st, &p, &mut scores);
        assert_eq!(scores.iter().map(|s| s.score).collect::<Vec<_>>(), [0, 33, 100]);
    }

    #[test]
    fn system_defaults_need_a_selecting_workload() {
        let plugin = PodTopologySpread { default_constraints: None };
        let snap = Snapshot::default();
        let (c, defaulted) = plugin.constraints(&pod("bare").label("app", "web").build(), &snap);
        assert!(c.is_empty() && defaulted);
        let (listers, mut w) = crate::listers::new();
        let svc = k8s_openapi::api::core::v1::Service {
            metadata: kube::api::ObjectMeta { name: Some("web".into()), namespace: Some("default".into()), ..Default::default() },
            spec: Some(k8s_openapi::api::core::v1::ServiceSpec { selector: Some([("app".to_string(), "web".to_string())].into()), ..Default::default() }),
            status: None,
        };
        w.services.apply_watcher_event(&kube::runtime::watcher::Event::Apply(svc));
        let snap = Snapshot::from_nodes(vec![], listers);
        let (c, _) = plugin.constraints(&pod("p").label("app", "web").build(), &snap);
        assert_eq!(c.iter().map(|c| (c.topology_key.as_str(), c.max_skew, c.hard)).collect::<Vec<_>>(), [(HOSTNAME, 3, false), (ZONE, 5, false)]);
    }
}
