//! TaintToleration: Filter rejects nodes with an untolerated `NoSchedule` or
//! `NoExecute` taint; Score counts untolerated `PreferNoSchedule` taints,
//! normalised in reverse (fewer is better). Default weight 3.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Toleration;

use super::helper::{default_normalize_max, find_untolerated, node_taints, pod_tolerations, tolerates};
use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{CycleState, FilterPlugin, NodeScore, Plugin, PluginArgs, PreScorePlugin, ScorePlugin, Status};
use crate::podinfo::PodInfo;

pub const NAME: &str = "TaintToleration";

pub struct TaintToleration;

#[derive(Clone)]
struct PreScoreState {
    prefer_no_schedule: Vec<Toleration>,
}

impl Plugin for TaintToleration {
    fn name(&self) -> &'static str {
        NAME
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

impl FilterPlugin for TaintToleration {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let taints = node_taints(&node.node);
        match find_untolerated(taints, pod_tolerations(&pod.pod), |t| t.effect == "NoSchedule" || t.effect == "NoExecute") {
            None => Status::success(),
            Some(t) => Status::unresolvable(format!("node(s) had untolerated taint {{{}: {}}}", t.key, t.value.as_deref().unwrap_or(""))),
        }
    }
}

impl PreScorePlugin for TaintToleration {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[Arc<NodeInfo>], _: &Snapshot) -> Status {
        let prefer_no_schedule = pod_tolerations(&pod.pod)
            .iter()
            .filter(|t| t.effect.as_deref().is_none_or(|e| e.is_empty() || e == "PreferNoSchedule"))
            .cloned()
            .collect();
        state.write(NAME, PreScoreState { prefer_no_schedule });
        Status::success()
    }
}

impl ScorePlugin for TaintToleration {
    fn score(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Result<i64, Status> {
        let tolerations: &[Toleration] = state.read::<PreScoreState>(NAME).map(|s| s.prefer_no_schedule.as_slice()).unwrap_or(&[]);
        let count = node_taints(&node.node)
            .iter()
            .filter(|t| t.effect == "PreferNoSchedule" && !tolerations.iter().any(|tol| tolerates(tol, t)))
            .count();
        Ok(count as i64)
    }

    fn normalize(&self, _: &CycleState, _: &PodInfo, scores: &mut [NodeScore]) -> Status {
        default_normalize_max(true, scores);
        Status::success()
    }
}

pub fn new(_: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    Ok(Arc::new(TaintToleration))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testutil::{node, pod};

    #[test]
    fn filter_table() {
        let tol = Toleration { key: Some("dedicated".into()), operator: Some("Equal".into()), value: Some("gpu".into()), ..Default::default() };
        let cases = [
            ("no taints", pod("p").info(), node("n").info(), Code::Success, ""),
            (
                "control plane",
                pod("p").info(),
                node("n").taint("node-role.kubernetes.io/control-plane", "", "NoSchedule").info(),
                Code::UnschedulableAndUnresolvable,
                "node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }",
            ),
            ("tolerated", pod("p").toleration(tol).info(), node("n").taint("dedicated", "gpu", "NoExecute").info(), Code::Success, ""),
            ("prefer is not a filter", pod("p").info(), node("n").taint("x", "y", "PreferNoSchedule").info(), Code::Success, ""),
        ];
        for (name, p, n, code, msg) in cases {
            let s = TaintToleration.filter(&CycleState::new(), &p, &n);
            assert_eq!((s.code, s.message().as_str()), (code, msg), "{name}");
        }
    }

    #[test]
    fn score_prefers_fewer_untolerated_prefer_taints() {
        let p = pod("p").info();
        let nodes = [node("a").info(), node("b").taint("x", "1", "PreferNoSchedule").info(), node("c").taint("x", "1", "PreferNoSchedule").taint("y", "", "PreferNoSchedule").info()];
        let mut state = CycleState::new();
        let snap = Snapshot::default();
        TaintToleration.pre_score(&mut state, &p, &[], &snap);
        let mut scores: Vec<NodeScore> =
            nodes.iter().map(|n| NodeScore { name: n.name().into(), score: TaintToleration.score(&state, &p, n, &snap).unwrap_or(-1) }).collect();
        TaintToleration.normalize(&state, &p, &mut scores);
        assert_eq!(scores.iter().map(|s| s.score).collect::<Vec<_>>(), [100, 50, 0]);
    }
}
