//! NodeResourcesBalancedAllocation: favours nodes whose cpu and memory
//! utilisation (with the pod, actual requests) are close:
//! `(1 - std(fractions)) * 100`. Skipped for best-effort pods. Default
//! weight 1.

use std::sync::Arc;

use serde::Deserialize;

use super::node_resources_fit::{default_resources, ResourceSpec};
use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{CycleState, Plugin, PluginArgs, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::podinfo::PodInfo;
use crate::resources::{CPU, EPHEMERAL_STORAGE, MEMORY};

pub const NAME: &str = "NodeResourcesBalancedAllocation";

pub struct Balanced {
    resources: Vec<ResourceSpec>,
}

#[derive(Clone)]
struct PreScoreState {
    pod_requests: Vec<i64>,
}

impl Balanced {
    fn pod_requests(&self, pod: &PodInfo) -> Vec<i64> {
        self.resources.iter().map(|r| pod.requests.get(&r.name)).collect()
    }

    pub fn score_node(&self, node: &NodeInfo, pod_requests: &[i64]) -> i64 {
        let mut fractions = Vec::with_capacity(self.resources.len());
        for (i, r) in self.resources.iter().enumerate() {
            let pr = pod_requests.get(i).copied().unwrap_or(0);
            let (alloc, req) = match r.name.as_str() {
                CPU => (node.allocatable.milli_cpu, node.requested.milli_cpu + pr),
                MEMORY => (node.allocatable.memory, node.requested.memory + pr),
                EPHEMERAL_STORAGE => (node.allocatable.ephemeral_storage, node.requested.ephemeral_storage + pr),
                other => {
                    if pr == 0 {
                        continue;
                    }
                    (node.allocatable.get(other), node.requested.get(other) + pr)
                }
            };
            if alloc == 0 {
                continue;
            }
            fractions.push((req as f64 / alloc as f64).min(1.0));
        }
        let std = match fractions.len() {
            0 | 1 => 0.0,
            2 => ((fractions[0] - fractions[1]) / 2.0).abs(),
            n => {
                let mean = fractions.iter().sum::<f64>() / n as f64;
                (fractions.iter().map(|f| (f - mean) * (f - mean)).sum::<f64>() / n as f64).sqrt()
            }
        };
        ((1.0 - std) * MAX_NODE_SCORE as f64) as i64
    }
}

impl Plugin for Balanced {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        Some(self)
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        Some(self)
    }
}

impl PreScorePlugin for Balanced {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[Arc<NodeInfo>], _: &Snapshot) -> Status {
        let pod_requests = self.pod_requests(pod);
        if pod_requests.iter().all(|r| *r == 0) {
            return Status::skip();
        }
        state.write(NAME, PreScoreState { pod_requests });
        Status::success()
    }
}

impl ScorePlugin for Balanced {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Result<i64, Status> {
        let owned;
        let reqs = match state.read::<PreScoreState>(NAME) {
            Some(s) => &s.pod_requests,
            None => {
                owned = self.pod_requests(pod);
                &owned
            }
        };
        Ok(self.score_node(node, reqs))
    }
}

#[derive(Deserialize, Default)]
struct Args {
    #[serde(default)]
    resources: Option<Vec<ResourceSpec>>,
}

pub fn new(args: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    let a: Args = match &args.args {
        Some(v) if !v.is_null() => serde_json::from_value(v.clone())?,
        _ => Args::default(),
    };
    Ok(Arc::new(Balanced { resources: a.resources.filter(|r| !r.is_empty()).unwrap_or_else(default_resources) }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{node, node_with, pod};

    #[test]
    fn score_table() {
        let b = Balanced { resources: default_resources() };
        let cases = [
            // 50% cpu, 50% memory: perfectly balanced.
            (node("n").cpu("4").mem("4Gi").info(), pod("p").cpu("2").mem("2Gi").info(), 100),
            // 100% cpu, 25% memory: std = 0.375.
            (node_with(node("n").cpu("4").mem("4Gi"), vec![pod("a").cpu("2").build()]), pod("p").cpu("2").mem("1Gi").info(), 62),
        ];
        for (n, p, want) in cases {
            assert_eq!(b.score_node(&n, &b.pod_requests(&p)), want);
        }
        let mut st = CycleState::new();
        assert!(b.pre_score(&mut st, &pod("be").info(), &[], &Snapshot::default()).is_skip());
    }
}
