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
use std::sync::{Arc, Mutex, PoisonError};

use apimachinery::selector::labels::{LabelSelector, Operator, Requirement};
use k8s_openapi::api::core::v1::{Pod, TopologySpreadConstraint};
use serde::Deserialize;

use super::helper::{find_untolerated, node_taints, pod_matches_node_selector_and_affinity, pod_tolerations};
use super::spread_index::{DomainCounts, DomainView, ViewKey, Views};
use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{
    CycleState, FilterPlugin, NodeScore, Plugin, PluginArgs, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE,
};
use crate::podinfo::{PodInfo, PodRecord};

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
    /// Domain counts kept across cycles (see `spread_index`).
    views: Mutex<Views>,
}

impl PodTopologySpread {
    fn with_defaults(default_constraints: Option<Vec<TopologySpreadConstraint>>) -> PodTopologySpread {
        PodTopologySpread { default_constraints, views: Mutex::new(Views::default()) }
    }
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

/// What `node` adds to constraint `c`'s domain counts (upstream PreFilter's
/// per-node step): nothing unless it carries every key in `required_keys`
/// and passes `c`'s inclusion policies; else its value of `c`'s key and
/// the pods on it counted by [`count_matching`].
fn contribution<'n>(c: &Constraint, required_keys: &[String], pod: &Pod, ns: &str, node: &'n NodeInfo) -> Option<(&'n str, i64)> {
    let labels = node.labels()?;
    if !required_keys.iter().all(|k| labels.contains_key(k)) || !passes_inclusion(c, pod, node) {
        return None;
    }
    let value = labels.get(&c.topology_key)?;
    Some((value.as_str(), count_matching(&node.pods, &c.selector, ns)))
}

/// The view of constraint `c` for `pod`: everything [`contribution`] reads
/// besides the node. `None` if the pod's fields cannot be serialised (the
/// counts are then computed without a view).
fn view_key(c: &Constraint, required_keys: &[String], pod: &Pod, ns: &str) -> Option<ViewKey> {
    let spec = pod.spec.as_ref();
    let (node_selector, required_affinity) = if c.honor_node_affinity {
        (
            spec.and_then(|s| s.node_selector.as_ref()),
            spec.and_then(|s| s.affinity.as_ref()).and_then(|a| a.node_affinity.as_ref()).and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref()),
        )
    } else {
        (None, None)
    };
    let tolerations = if c.honor_taints { spec.and_then(|s| s.tolerations.as_ref()) } else { None };
    let inclusion = serde_json::to_string(&(node_selector, required_affinity, c.honor_taints, tolerations)).ok()?;
    let mut keys = required_keys.to_vec();
    keys.sort();
    keys.dedup();
    Some(ViewKey { namespace: ns.to_string(), selector: c.selector.clone(), topology_key: c.topology_key.clone(), required_keys: keys, inclusion })
}

/// Gives a closure the signature [`DomainView::refresh`] needs (its result
/// borrows from its argument), which a `let` binding cannot infer.
fn per_node<F: Fn(&NodeInfo) -> Option<(&str, i64)>>(f: F) -> F {
    f
}

impl PodTopologySpread {
    /// Matching pods per domain of `c` over the snapshot's nodes, from the
    /// view kept across cycles (brought up to date here), handed to `read`.
    fn with_domain_counts<R>(&self, c: &Constraint, required_keys: &[String], pod: &PodInfo, snapshot: &Snapshot, read: impl FnOnce(&DomainCounts) -> R) -> R {
        let ns = pod.namespace();
        let contribute = per_node(|n| contribution(c, required_keys, &pod.pod, ns, n));
        self.with_view(view_key(c, required_keys, &pod.pod, ns), snapshot, contribute, read)
    }

    /// Score's hostname count (upstream `countPodsMatchSelector` over the
    /// node's own pods, whatever its labels): one "domain" per node, named
    /// by the node, so [`DomainCounts::node_count`] answers for every node
    /// of this snapshot.
    fn with_pods_per_node<R>(&self, c: &Constraint, pod: &PodInfo, snapshot: &Snapshot, read: impl FnOnce(&DomainCounts) -> R) -> R {
        let ns = pod.namespace();
        let contribute = per_node(|n| Some((n.name(), count_matching(&n.pods, &c.selector, ns))));
        // An empty topology key (no label key is empty) marks the per-node view.
        let key = ViewKey { namespace: ns.to_string(), selector: c.selector.clone(), topology_key: String::new(), required_keys: Vec::new(), inclusion: String::new() };
        self.with_view(Some(key), snapshot, contribute, read)
    }

    /// The view for `key` refreshed with `contribute` (a throwaway one when
    /// there is no key), handed to `read`.
    fn with_view<F, R>(&self, key: Option<ViewKey>, snapshot: &Snapshot, contribute: F, read: impl FnOnce(&DomainCounts) -> R) -> R
    where
        F: Fn(&NodeInfo) -> Option<(&str, i64)>,
    {
        let Some(key) = key else {
            let mut view = DomainView::default();
            view.refresh(&snapshot.nodes, contribute);
            return read(view.domains());
        };
        let mut views = self.views.lock().unwrap_or_else(PoisonError::into_inner);
        let view = views.view(&key);
        view.refresh(&snapshot.nodes, contribute);
        read(view.domains())
    }
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
pub fn count_matching(pods: &[Arc<PodRecord>], selector: &LabelSelector, ns: &str) -> i64 {
    pods.iter()
        .filter(|p| !p.terminating && p.namespace() == ns && selector.matches(p.labels()))
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
    fn update(&mut self, pod: &PodInfo, other: &PodRecord, node: &NodeInfo, delta: i64) {
        if !has_all_keys(node, &self.constraints) || other.namespace() != pod.namespace() {
            return;
        }
        for (c, counts) in self.constraints.iter().zip(self.counts.iter_mut()) {
            if !passes_inclusion(c, &pod.pod, node) || !c.selector.matches(other.labels()) {
                continue;
            }
            let value = node.labels().and_then(|l| l.get(&c.topology_key)).map(String::as_str).unwrap_or("");
            counts.add(value, delta);
        }
    }
}

#[derive(Clone)]
struct ScoreState {
    constraints: Vec<Constraint>,
    ignored: HashSet<String>,
    /// Per constraint: domain value → matching pods (empty for hostname).
    counts: Vec<HashMap<String, i64>>,
    /// Per hostname constraint: matching pods per node of the snapshot.
    per_node: Vec<Option<DomainCounts>>,
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
        // Upstream `nodeLabelsMatchSpreadConstraints`: a node counts only
        // if it carries every constraint's key.
        let keys: Vec<String> = hard.iter().map(|c| c.topology_key.clone()).collect();
        let counts: Vec<DomainCounts> = hard.iter().map(|c| self.with_domain_counts(c, &keys, pod, snapshot, DomainCounts::clone)).collect();
        let self_match = hard.iter().map(|c| i64::from(c.selector.matches(&pod.pod.metadata))).collect();
        state.write(NAME, FilterState { constraints: hard, self_match, counts });
        (None, Status::success())
    }

    fn add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &Arc<PodRecord>, node: &NodeInfo, _: &Snapshot) -> Status {
        if let Some(s) = state.read_mut::<FilterState>(NAME) {
            s.update(pod, added, node, 1);
        }
        Status::success()
    }

    fn remove_pod(&self, state: &mut CycleState, pod: &PodInfo, removed: &Arc<PodRecord>, node: &NodeInfo, _: &Snapshot) -> Status {
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
            let Some(count) = s.counts[i].for_node(node, &c.topology_key) else {
                return Status::unresolvable(ERR_NODE_LABEL_NOT_MATCH);
            };
            if count + s.self_match[i] - s.min_match(i) > c.max_skew {
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
        // Matching pods per domain over every node of the snapshot (not
        // only the scored ones) that carries the keys (all of them unless
        // system-defaulted) and passes the inclusion policies.
        for (i, c) in constraints.iter().enumerate() {
            if c.topology_key == HOSTNAME || counts[i].is_empty() {
                continue;
            }
            let keys: Vec<String> = if require_all { constraints.iter().map(|c| c.topology_key.clone()).collect() } else { vec![c.topology_key.clone()] };
            self.with_domain_counts(c, &keys, pod, snapshot, |domains| {
                for (value, count) in counts[i].iter_mut() {
                    *count = domains.get(value);
                }
            });
        }
        let per_node =
            constraints.iter().map(|c| (c.topology_key == HOSTNAME).then(|| self.with_pods_per_node(c, pod, snapshot, DomainCounts::clone))).collect();
        state.write(NAME, ScoreState { constraints, ignored, counts, per_node, weights });
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
                // A node not in the snapshot's view (a what-if copy) is counted here.
                s.per_node[i].as_ref().and_then(|d| d.node_count(node)).unwrap_or_else(|| count_matching(&node.pods, &c.selector, pod.namespace()))
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
    Ok(Arc::new(PodTopologySpread::with_defaults(default_constraints)))
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
        let plugin = PodTopologySpread::with_defaults(None);
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
        let plugin = PodTopologySpread::with_defaults(None);
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
            nodes.iter().enumerate().flat_map(|(i, n)| n.pods.iter().map(move |p| (i, pod(p.name()).with(|q| q.metadata.labels = Some(p.labels().clone())).build()))).collect();
        let snap = Snapshot::from_nodes(nodes.clone(), Listers::default());
        let plugin = PodTopologySpread::with_defaults(None);
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
        let plugin = PodTopologySpread::with_defaults(None);
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
                plugin.add_pod(&mut st, &p, &PodInfo::new(Arc::new(new)).record, &empty[z], &snap);
            } else {
                let gone = placed[z].pop().unwrap();
                plugin.remove_pod(&mut st, &p, &PodInfo::new(Arc::new(gone)).record, &empty[z], &snap);
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
    fn kept_views_match_a_fresh_walk_across_cycles() {
        // One plugin (views kept across cycles) and a fresh plugin (first
        // walk) see the same cache after random assume / forget / confirm /
        // remove / relabel steps; their Filter states must agree for pods
        // with two hard constraints, with a node selector (inclusion policy
        // honoured or ignored) and in another namespace.
        let tsc = |key: &str, skew: i32, policy: Option<&str>| TopologySpreadConstraint {
            max_skew: skew,
            topology_key: key.into(),
            when_unsatisfiable: "DoNotSchedule".into(),
            label_selector: Some(K8sSelector { match_labels: Some([("app".to_string(), "web".to_string())].into()), ..Default::default() }),
            node_affinity_policy: policy.map(str::to_string),
            ..Default::default()
        };
        let incoming: Vec<PodInfo> = vec![
            pod("a").label("app", "web").with(move |p| p.spec.as_mut().unwrap().topology_spread_constraints = Some(vec![tsc(HOSTNAME, 5, None), tsc(ZONE, 5, None)])).info(),
            pod("b")
                .label("app", "web")
                .node_selector("disk", "ssd")
                .with(move |p| p.spec.as_mut().unwrap().topology_spread_constraints = Some(vec![tsc(ZONE, 1, None)]))
                .info(),
            pod("c")
                .label("app", "web")
                .node_selector("disk", "ssd")
                .with(move |p| p.spec.as_mut().unwrap().topology_spread_constraints = Some(vec![tsc(ZONE, 1, Some("Ignore"))]))
                .info(),
            pod("d")
                .label("app", "web")
                .with(|p| {
                    p.metadata.namespace = Some("other".into());
                    p.spec.as_mut().unwrap().topology_spread_constraints = Some(vec![tsc(ZONE, 2, None)]);
                })
                .info(),
        ];
        let kept = PodTopologySpread::with_defaults(None);
        let mut cache = crate::cache::Cache::new();
        let mut snap = Snapshot::default();
        let mut rnd = crate::testutil::rng(0x9E37_79B9_7F4A_7C15);
        let mut placed: Vec<String> = Vec::new();
        for step in 0..600 {
            let n = format!("n{}", rnd(12));
            match rnd(7) {
                0 => {
                    let mut b = node(&n).label(HOSTNAME, &n);
                    let zone = rnd(4);
                    if zone < 3 {
                        b = b.label(ZONE, ["z1", "z2", "z3"][zone]);
                    }
                    if rnd(2) == 0 {
                        b = b.label("disk", "ssd");
                    }
                    cache.add_or_update_node(b.build());
                }
                1 if rnd(5) == 0 => cache.remove_node(&n),
                2 | 3 => {
                    let name = format!("p{step}");
                    let ns = if rnd(4) == 0 { "other" } else { "default" };
                    let app = if rnd(3) == 0 { "db" } else { "web" };
                    let p = Arc::new(pod(&name).label("app", app).node(&n).with(|p| p.metadata.namespace = Some(ns.into())).build());
                    if rnd(2) == 0 {
                        cache.assume_pod(p, &n);
                    } else {
                        cache.add_or_update_pod(&p);
                    }
                    placed.push(format!("{ns}/{name}"));
                }
                4 if !placed.is_empty() => cache.forget_pod(&placed[rnd(placed.len() as u64)]),
                5 if !placed.is_empty() => {
                    let i = rnd(placed.len() as u64);
                    cache.remove_pod(&placed.swap_remove(i));
                }
                _ => {}
            }
            cache.update_snapshot(&mut snap);
            for p in &incoming {
                let fresh = PodTopologySpread::with_defaults(None);
                let (mut got, mut want) = (CycleState::new(), CycleState::new());
                kept.pre_filter(&mut got, p, &snap);
                fresh.pre_filter(&mut want, p, &snap);
                let (g, w) = (got.read::<FilterState>(NAME).unwrap(), want.read::<FilterState>(NAME).unwrap());
                for i in 0..g.counts.len() {
                    assert_eq!(g.counts[i].domains(), w.counts[i].domains(), "step {step}, pod {}, constraint {i}", p.key);
                    assert_eq!(g.min_match(i), w.min_match(i), "step {step}, pod {}", p.key);
                }
                let codes = |st: &CycleState| snap.nodes.iter().map(|n| kept.filter(st, p, n).code).collect::<Vec<_>>();
                assert_eq!(codes(&got), codes(&want), "step {step}, pod {}", p.key);
            }
        }
        assert!(kept.views.lock().unwrap().len() >= 4);
    }

    #[test]
    fn kept_views_score_like_a_fresh_walk_across_cycles() {
        // Soft hostname + zone constraints scored by one plugin across
        // random cache changes equal a fresh plugin's scores, and the
        // per-node counts equal a direct count of each node's pods.
        let soft = |key: &str| TopologySpreadConstraint {
            max_skew: 2,
            topology_key: key.into(),
            when_unsatisfiable: "ScheduleAnyway".into(),
            label_selector: Some(K8sSelector { match_labels: Some([("app".to_string(), "web".to_string())].into()), ..Default::default() }),
            ..Default::default()
        };
        let p = pod("e").label("app", "web").with(move |p| p.spec.as_mut().unwrap().topology_spread_constraints = Some(vec![soft(HOSTNAME), soft(ZONE)])).info();
        let kept = PodTopologySpread::with_defaults(None);
        let mut cache = crate::cache::Cache::new();
        let mut snap = Snapshot::default();
        let mut rnd = crate::testutil::rng(0x0123_4567_89AB_CDEF);
        let mut placed: Vec<String> = Vec::new();
        for step in 0..400 {
            let n = format!("n{}", rnd(10));
            match rnd(6) {
                0 => {
                    let mut b = node(&n).label(HOSTNAME, &n);
                    if rnd(4) > 0 {
                        b = b.label(ZONE, ["z1", "z2"][rnd(2)]);
                    }
                    cache.add_or_update_node(b.build());
                }
                1 if rnd(5) == 0 => cache.remove_node(&n),
                2 | 3 => {
                    let name = format!("p{step}");
                    let app = if rnd(3) == 0 { "db" } else { "web" };
                    cache.assume_pod(Arc::new(pod(&name).label("app", app).node(&n).build()), &n);
                    placed.push(format!("default/{name}"));
                }
                4 if !placed.is_empty() => {
                    let i = rnd(placed.len() as u64);
                    cache.remove_pod(&placed.swap_remove(i));
                }
                _ => {}
            }
            cache.update_snapshot(&mut snap);
            let fresh = PodTopologySpread::with_defaults(None);
            let (mut got, mut want) = (CycleState::new(), CycleState::new());
            let (a, b) = (kept.pre_score(&mut got, &p, &snap.nodes, &snap), fresh.pre_score(&mut want, &p, &snap.nodes, &snap));
            assert_eq!(a.code, b.code, "step {step}");
            let Some(state) = got.read::<ScoreState>(NAME) else { continue };
            for n in &snap.nodes {
                let direct = count_matching(&n.pods, &state.constraints[0].selector, "default");
                assert_eq!(state.per_node[0].as_ref().unwrap().node_count(n), Some(direct), "step {step}, node {}", n.name());
                assert_eq!(kept.score(&got, &p, n, &snap).unwrap(), fresh.score(&want, &p, n, &snap).unwrap(), "step {step}, node {}", n.name());
            }
        }
    }

    #[test]
    fn soft_constraint_scores_emptier_nodes_higher() {
        let nodes = vec![node_with(node("a"), vec![web("w1"), web("w2")]), node_with(node("b"), vec![web("w3")]), node("c").info()];
        let snap = Snapshot::from_nodes(nodes, Listers::default());
        let plugin = PodTopologySpread::with_defaults(None);
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
        let plugin = PodTopologySpread::with_defaults(None);
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
