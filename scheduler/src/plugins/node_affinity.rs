//! NodeAffinity: Filter on `spec.nodeSelector` and required node affinity
//! (terms ORed, expressions ANDed); Score sums the weights of matching
//! preferred terms, normalised against the best node. Default weight 2.
//! A required term selecting `metadata.name` narrows the candidate nodes in
//! PreFilter, as upstream.

use std::collections::BTreeSet;
use std::sync::Arc;

use super::helper::{default_normalize_max, pod_matches_node_selector_and_affinity, term_matches};
use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{CycleState, FilterPlugin, NodeScore, Plugin, PluginArgs, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Status};
use crate::podinfo::PodInfo;

pub const NAME: &str = "NodeAffinity";
pub const ERR_REASON: &str = "node(s) didn't match Pod's node affinity/selector";

pub struct NodeAffinity;

impl Plugin for NodeAffinity {
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

fn node_affinity(pod: &PodInfo) -> Option<&k8s_openapi::api::core::v1::NodeAffinity> {
    pod.pod.spec.as_ref().and_then(|s| s.affinity.as_ref()).and_then(|a| a.node_affinity.as_ref())
}

impl PreFilterPlugin for NodeAffinity {
    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> (Option<PreFilterResult>, Status) {
        let spec = pod.pod.spec.as_ref();
        let required = node_affinity(pod).and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref());
        let has_selector = spec.and_then(|s| s.node_selector.as_ref()).is_some_and(|s| !s.is_empty());
        let Some(required) = required else {
            return (None, if has_selector { Status::success() } else { Status::skip() });
        };
        // Upstream: if every term has a `metadata.name In [...]` field, only those nodes can match.
        let mut names: BTreeSet<String> = BTreeSet::new();
        for term in &required.node_selector_terms {
            let fields = term.match_fields.as_deref().unwrap_or(&[]);
            let Some(f) = fields.iter().find(|f| f.key == "metadata.name" && f.operator == "In") else {
                return (None, Status::success());
            };
            names.extend(f.values.iter().flatten().cloned());
        }
        if names.is_empty() {
            return (None, Status::unresolvable(ERR_REASON));
        }
        (Some(PreFilterResult::nodes(names)), Status::success())
    }
}

impl FilterPlugin for NodeAffinity {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if pod_matches_node_selector_and_affinity(&pod.pod, &node.node) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON)
        }
    }
}

impl PreScorePlugin for NodeAffinity {
    fn pre_score(&self, _: &mut CycleState, pod: &PodInfo, _: &[Arc<NodeInfo>], _: &Snapshot) -> Status {
        let preferred = node_affinity(pod).and_then(|na| na.preferred_during_scheduling_ignored_during_execution.as_ref());
        if preferred.is_none_or(|p| p.is_empty()) {
            return Status::skip();
        }
        Status::success()
    }
}

impl ScorePlugin for NodeAffinity {
    fn score(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Result<i64, Status> {
        let mut score = 0;
        for p in node_affinity(pod).and_then(|na| na.preferred_during_scheduling_ignored_during_execution.as_ref()).into_iter().flatten() {
            if p.weight != 0 && term_matches(&p.preference, &node.node) {
                score += p.weight as i64;
            }
        }
        Ok(score)
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [NodeScore]) -> Status {
        default_normalize_max(false, scores);
        Status::success()
    }
}

pub fn new(_: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    Ok(Arc::new(NodeAffinity))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testutil::{node, pod};
    use k8s_openapi::api::core::v1::{Affinity, NodeAffinity as K8sNodeAffinity, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PreferredSchedulingTerm};

    fn term(key: &str, op: &str, values: &[&str]) -> NodeSelectorTerm {
        NodeSelectorTerm {
            match_expressions: Some(vec![NodeSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: Some(values.iter().map(|s| s.to_string()).collect()),
            }]),
            match_fields: None,
        }
    }

    fn required(terms: Vec<NodeSelectorTerm>) -> Affinity {
        Affinity {
            node_affinity: Some(K8sNodeAffinity {
                required_during_scheduling_ignored_during_execution: Some(NodeSelector { node_selector_terms: terms }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn filter_table() {
        let cases = [
            ("nothing required", pod("p").info(), node("n").info(), Code::Success),
            ("selector matches", pod("p").node_selector("disk", "ssd").info(), node("n").label("disk", "ssd").info(), Code::Success),
            ("selector misses", pod("p").node_selector("disk", "ssd").info(), node("n").label("disk", "hdd").info(), Code::UnschedulableAndUnresolvable),
            (
                "terms are ORed",
                pod("p").affinity(required(vec![term("zone", "In", &["a"]), term("zone", "In", &["b"])])).info(),
                node("n").label("zone", "b").info(),
                Code::Success,
            ),
            (
                "NotIn on missing label",
                pod("p").affinity(required(vec![term("zone", "NotIn", &["a"])])).info(),
                node("n").info(),
                Code::Success,
            ),
            ("empty term matches nothing", pod("p").affinity(required(vec![NodeSelectorTerm::default()])).info(), node("n").info(), Code::UnschedulableAndUnresolvable),
        ];
        for (name, p, n, want) in cases {
            assert_eq!(NodeAffinity.filter(&CycleState::new(), &p, &n).code, want, "{name}");
        }
    }

    #[test]
    fn score_preferred() {
        let aff = Affinity {
            node_affinity: Some(K8sNodeAffinity {
                preferred_during_scheduling_ignored_during_execution: Some(vec![
                    PreferredSchedulingTerm { weight: 2, preference: term("zone", "In", &["a"]) },
                    PreferredSchedulingTerm { weight: 6, preference: term("disk", "In", &["ssd"]) },
                ]),
                ..Default::default()
            }),
            ..Default::default()
        };
        let p = pod("p").affinity(aff).info();
        let nodes = [node("a").label("zone", "a").info(), node("b").label("disk", "ssd").label("zone", "a").info(), node("c").info()];
        let snap = Snapshot::default();
        let st = CycleState::new();
        let mut scores: Vec<NodeScore> = nodes.iter().map(|n| NodeScore { name: n.name().into(), score: NodeAffinity.score(&st, &p, n, &snap).unwrap_or(-1) }).collect();
        NodeAffinity.normalize(&st, &p, &mut scores);
        assert_eq!(scores.iter().map(|s| s.score).collect::<Vec<_>>(), [25, 100, 0]);
    }
}
