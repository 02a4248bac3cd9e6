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

#[derive(Clone)]
struct FilterState {
    constraints: Vec<Constraint>,
    /// (key, value) → matching pods.
    pair_counts: HashMap<(String, String), i64>,
}

impl FilterState {
    fn min_match(&self, c: &Constraint) -> i64 {
        let values: Vec<i64> = self.pair_counts.iter().filter(|((k, _), _)| *k == c.topology_key).map(|(_, n)| *n).collect();
        if (values.len() as i64) < c.min_domains {
            return 0;
        }
        values.into_iter().min().unwrap_or(0)
    }

    fn update(&mut self, pod: &PodInfo, other: &PodInfo, node: &NodeInfo, delta: i64) {
        if !has_all_keys(node, &self.constraints) || other.namespace() != pod.namespace() {
            return;
        }
        for c in &self.constraints {
            if !passes_inclusion(c, &pod.pod, node) || !c.selector.matches(&other.pod.metadata) {
                continue;
            }
            let value = node.labels().and_then(|l| l.get(&c.topology_key)).cloned().unwrap_or_default();
            *self.pair_counts.entry((c.topology_key.clone(), value)).or_insert(0) += delta;
        }
    }
}

#[derive(Clone)]
struct ScoreState {
    constraints: Vec<Constraint>,
    ignored: HashSet<String>,
    pair_counts: HashMap<(String, String), i64>,
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
        let mut pair_counts: HashMap<(String, String), i64> = HashMap::new();
        for node in &snapshot.nodes {
            if !has_all_keys(node, &hard) {
                continue;
            }
            for c in &hard {
                if !passes_inclusion(c, &pod.pod, node) {
                    continue;
                }
                let value = node.labels().and_then(|l| l.get(&c.topology_key)).cloned().unwrap_or_default();
                *pair_counts.entry((c.topology_key.clone(), value)).or_insert(0) += count_matching(&node.pods, &c.selector, pod.namespace());
            }
        }
        state.write(NAME, FilterState { constraints: hard, pair_counts });
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
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<FilterState>(NAME) else { return Status::success() };
        for c in &s.constraints {
            let Some(value) = node.labels().and_then(|l| l.get(&c.topology_key)) else {
                return Status::unresolvable(ERR_NODE_LABEL_NOT_MATCH);
            };
            let self_match = i64::from(c.selector.matches(&pod.pod.metadata));
            let count = s.pair_counts.get(&(c.topology_key.clone(), value.clone())).copied().unwrap_or(0);
            if count + self_match - s.min_match(c) > c.max_skew {
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
        let mut pair_counts: HashMap<(String, String), i64> = HashMap::new();
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
                if let std::collections::hash_map::Entry::Vacant(e) = pair_counts.entry((c.topology_key.clone(), v.clone())) {
                    e.insert(0);
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
        if !pair_counts.is_empty() {
            for n in &snapshot.nodes {
                if require_all && !has_all_keys(n, &constraints) {
                    continue;
                }
                for c in &constraints {
                    if c.topology_key == HOSTNAME || !passes_inclusion(c, &pod.pod, n) {
                        continue;
                    }
                    let Some(v) = n.labels().and_then(|l| l.get(&c.topology_key)) else { continue };
                    if let Some(count) = pair_counts.get_mut(&(c.topology_key.clone(), v.clone())) {
                        *count += count_matching(&n.pods, &c.selector, pod.namespace());
                    }
                }
            }
        }
        state.write(NAME, ScoreState { constraints, ignored, pair_counts, weights });
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
                s.pair_counts.get(&(c.topology_key.clone(), v.clone())).copied().unwrap_or(0)
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
