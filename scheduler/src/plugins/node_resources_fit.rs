//! NodeResourcesFit: Filter checks the pod's effective requests (see
//! [`crate::resources::pod_requests`]) against allocatable minus what the
//! node's pods request, and the pod count; every shortage is a reason
//! (`Insufficient cpu`, `Too many pods`, ...). Score follows the configured
//! `scoringStrategy`: `LeastAllocated` (default, cpu and memory weight 1),
//! `MostAllocated`, or `RequestedToCapacityRatio` with a utilisation→score
//! shape. Scoring counts missing cpu/memory requests as 100m/200Mi. Default
//! weight 1.

use std::sync::Arc;

use anyhow::bail;
use serde::Deserialize;

use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{CycleState, FilterPlugin, Plugin, PluginArgs, PreFilterPlugin, PreFilterResult, PreScorePlugin, ScorePlugin, Status, MAX_NODE_SCORE};
use crate::podinfo::PodInfo;
use crate::resources::{Resource, CPU, EPHEMERAL_STORAGE, MEMORY};


pub const NAME: &str = "NodeResourcesFit";

#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct ResourceSpec {
    pub name: String,
    #[serde(default = "one")]
    pub weight: i64,
}

fn one() -> i64 {
    1
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq)]
pub struct ShapePoint {
    pub utilization: i64,
    pub score: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Strategy {
    LeastAllocated,
    MostAllocated,
    /// Shape scores already scaled to 0..=100.
    RequestedToCapacityRatio(Vec<ShapePoint>),
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawStrategy {
    #[serde(rename = "type", default)]
    type_: Option<String>,
    #[serde(default)]
    resources: Option<Vec<ResourceSpec>>,
    #[serde(default)]
    requested_to_capacity_ratio: Option<RawShape>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawShape {
    #[serde(default)]
    shape: Vec<ShapePoint>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawArgs {
    #[serde(default)]
    scoring_strategy: Option<RawStrategy>,
}

pub fn default_resources() -> Vec<ResourceSpec> {
    vec![ResourceSpec { name: CPU.into(), weight: 1 }, ResourceSpec { name: MEMORY.into(), weight: 1 }]
}

/// Scores resources per a strategy (upstream `resourceAllocationScorer`).
#[derive(Debug, Clone)]
pub struct Scorer {
    pub strategy: Strategy,
    pub resources: Vec<ResourceSpec>,
    /// Use actual requests (BalancedAllocation) rather than non-zero ones.
    pub use_requested: bool,
}

impl Scorer {
    /// The pod's request for each scored resource.
    pub fn pod_requests(&self, pod: &PodInfo) -> Vec<i64> {
        let r = if self.use_requested { &pod.requests } else { &pod.non_zero_requests };
        self.resources.iter().map(|s| r.get(&s.name)).collect()
    }

    /// (allocatable, requested incl. the pod) for one resource; (0, 0) means skip.
    fn alloc_and_request(&self, node: &NodeInfo, name: &str, pod_request: i64) -> (i64, i64) {
        let requested: &Resource = if self.use_requested { &node.requested } else { &node.non_zero_requested };
        match name {
            CPU => (node.allocatable.milli_cpu, requested.milli_cpu + pod_request),
            MEMORY => (node.allocatable.memory, requested.memory + pod_request),
            EPHEMERAL_STORAGE => (node.allocatable.ephemeral_storage, node.requested.ephemeral_storage + pod_request),
            other => {
                if pod_request == 0 {
                    return (0, 0);
                }
                match node.allocatable.scalar.get(other) {
                    Some(a) => (*a, node.requested.get(other) + pod_request),
                    None => (0, 0),
                }
            }
        }
    }

    pub fn score(&self, node: &NodeInfo, pod_requests: &[i64]) -> i64 {
        let (mut node_score, mut weight_sum) = (0i64, 0i64);
        let mut rtcr_score = 0i64;
        for (i, r) in self.resources.iter().enumerate() {
            let (alloc, req) = self.alloc_and_request(node, &r.name, pod_requests.get(i).copied().unwrap_or(0));
            if alloc == 0 {
                continue;
            }
            match &self.strategy {
                Strategy::LeastAllocated => {
                    node_score += least_requested_score(req, alloc) * r.weight;
                    weight_sum += r.weight;
                }
                Strategy::MostAllocated => {
                    node_score += most_requested_score(req, alloc) * r.weight;
                    weight_sum += r.weight;
                }
                Strategy::RequestedToCapacityRatio(shape) => {
                    let util = if req > alloc { 100 } else { req * 100 / alloc };
                    let s = broken_linear(shape, util);
                    if s > 0 {
                        rtcr_score += s * r.weight;
                        weight_sum += r.weight;
                    }
                }
            }
        }
        if weight_sum == 0 {
            return 0;
        }
        match self.strategy {
            Strategy::RequestedToCapacityRatio(_) => (rtcr_score as f64 / weight_sum as f64).round() as i64,
            _ => node_score / weight_sum,
        }
    }
}

/// `(capacity - requested) * 100 / capacity`, 0 when over capacity.
pub fn least_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 || requested > capacity {
        return 0;
    }
    (capacity - requested) * MAX_NODE_SCORE / capacity
}

/// `requested * 100 / capacity`, capped at capacity.
pub fn most_requested_score(requested: i64, capacity: i64) -> i64 {
    if capacity == 0 {
        return 0;
    }
    requested.min(capacity) * MAX_NODE_SCORE / capacity
}

/// Upstream `buildBrokenLinearFunction`.
pub fn broken_linear(shape: &[ShapePoint], p: i64) -> i64 {
    for i in 0..shape.len() {
        if p <= shape[i].utilization {
            if i == 0 {
                return shape[0].score;
            }
            let (a, b) = (shape[i - 1], shape[i]);
            return a.score + (b.score - a.score) * (p - a.utilization) / (b.utilization - a.utilization);
        }
    }
    shape.last().map(|s| s.score).unwrap_or(0)
}

/// Parses `NodeResourcesFitArgs.scoringStrategy`.
pub fn parse_strategy(args: Option<&serde_json::Value>) -> anyhow::Result<(Strategy, Vec<ResourceSpec>)> {
    let raw: RawArgs = match args {
        Some(v) if !v.is_null() => serde_json::from_value(v.clone())?,
        _ => RawArgs::default(),
    };
    let s = raw.scoring_strategy.unwrap_or_default();
    let resources = s.resources.filter(|r| !r.is_empty()).unwrap_or_else(default_resources);
    let strategy = match s.type_.as_deref().unwrap_or("LeastAllocated") {
        "LeastAllocated" => Strategy::LeastAllocated,
        "MostAllocated" => Strategy::MostAllocated,
        "RequestedToCapacityRatio" => {
            let mut shape = s.requested_to_capacity_ratio.map(|r| r.shape).unwrap_or_default();
            if shape.is_empty() {
                shape = vec![ShapePoint { utilization: 0, score: 10 }, ShapePoint { utilization: 100, score: 0 }];
            }
            for w in shape.windows(2) {
                if w[1].utilization <= w[0].utilization {
                    bail!("scoringStrategy.requestedToCapacityRatio.shape: utilization values must be sorted in increasing order");
                }
            }
            // Shape scores are 0..=10 (MaxCustomPriorityScore); scale to 0..=100.
            Strategy::RequestedToCapacityRatio(shape.into_iter().map(|p| ShapePoint { utilization: p.utilization, score: p.score * 10 }).collect())
        }
        other => bail!("scoringStrategy.type: Unsupported value: {other:?}"),
    };
    Ok((strategy, resources))
}

pub struct Fit {
    scorer: Scorer,
}

/// Upstream `fitsRequest`: every shortage, in upstream's order.
pub fn insufficient(pod: &PodInfo, node: &NodeInfo) -> Vec<String> {
    let mut out = Vec::new();
    if node.pods.len() as i64 + 1 > node.allocatable.allowed_pod_number {
        out.push("Too many pods".to_string());
    }
    let req = &pod.requests;
    if req.is_zero() {
        return out;
    }
    let (a, r) = (&node.allocatable, &node.requested);
    if req.milli_cpu > 0 && req.milli_cpu > a.milli_cpu - r.milli_cpu {
        out.push("Insufficient cpu".into());
    }
    if req.memory > 0 && req.memory > a.memory - r.memory {
        out.push("Insufficient memory".into());
    }
    if req.ephemeral_storage > 0 && req.ephemeral_storage > a.ephemeral_storage - r.ephemeral_storage {
        out.push("Insufficient ephemeral-storage".into());
    }
    for (name, q) in &req.scalar {
        if *q == 0 {
            continue;
        }
        if *q > a.get(name) - r.get(name) {
            out.push(format!("Insufficient {name}"));
        }
    }
    out
}

impl Plugin for Fit {
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

impl PreFilterPlugin for Fit {
    fn pre_filter(&self, _: &mut CycleState, _: &PodInfo, _: &Snapshot) -> (Option<PreFilterResult>, Status) {
        // The requests are precomputed on the PodInfo.
        (None, Status::success())
    }
}

impl FilterPlugin for Fit {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        let reasons = insufficient(pod, node);
        if reasons.is_empty() {
            Status::success()
        } else {
            Status::with_reasons(crate::framework::Code::Unschedulable, reasons)
        }
    }
}

#[derive(Clone)]
struct PreScoreState {
    pod_requests: Vec<i64>,
}

impl PreScorePlugin for Fit {
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, _: &[Arc<NodeInfo>], _: &Snapshot) -> Status {
        state.write(NAME, PreScoreState { pod_requests: self.scorer.pod_requests(pod) });
        Status::success()
    }
}

impl ScorePlugin for Fit {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, _: &Snapshot) -> Result<i64, Status> {
        match state.read::<PreScoreState>(NAME) {
            Some(s) => Ok(self.scorer.score(node, &s.pod_requests)),
            None => Ok(self.scorer.score(node, &self.scorer.pod_requests(pod))),
        }
    }
}

pub fn new(args: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    let (strategy, resources) = parse_strategy(args.args.as_ref())?;
    Ok(Arc::new(Fit { scorer: Scorer { strategy, resources, use_requested: false } }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::testutil::{node, node_with, pod};

    #[test]
    fn filter_table() {
        let cases = [
            ("fits", pod("p").cpu("1").info(), node_with(node("n").cpu("2").mem("1Gi"), vec![pod("a").cpu("1").build()]), vec![]),
            ("cpu", pod("p").cpu("2").info(), node_with(node("n").cpu("2").mem("1Gi"), vec![pod("a").cpu("1").build()]), vec!["Insufficient cpu"]),
            ("cpu and memory", pod("p").cpu("3").mem("2Gi").info(), node("n").cpu("2").mem("1Gi").info(), vec!["Insufficient cpu", "Insufficient memory"]),
            ("pods", pod("p").info(), node_with(node("n").cpu("2").pods("1"), vec![pod("a").build()]), vec!["Too many pods"]),
            ("best effort fits anywhere", pod("p").info(), node("n").info(), vec![]),
            (
                "extended",
                pod("p").with(|p| {
                    p.spec.as_mut().unwrap().containers[0].resources.get_or_insert_default().requests.get_or_insert_default().insert(
                        "example.com/gpu".into(),
                        k8s_openapi::apimachinery::pkg::api::resource::Quantity("1".into()),
                    );
                })
                .info(),
                node("n").info(),
                vec!["Insufficient example.com/gpu"],
            ),
        ];
        for (name, p, n, want) in cases {
            assert_eq!(insufficient(&p, &n), want, "{name}");
        }
    }

    fn scorer(strategy: Strategy) -> Scorer {
        Scorer { strategy, resources: default_resources(), use_requested: false }
    }

    #[test]
    fn score_table() {
        // node 4 cpu / 8Gi, 1 cpu + 2Gi requested; pod 1 cpu + 2Gi.
        let n = node_with(node("n").cpu("4").mem("8Gi"), vec![pod("a").cpu("1").mem("2Gi").build()]);
        let p = pod("p").cpu("1").mem("2Gi").info();
        let rtcr = parse_strategy(Some(&serde_json::json!({"scoringStrategy": {"type": "RequestedToCapacityRatio",
            "requestedToCapacityRatio": {"shape": [{"utilization": 0, "score": 0}, {"utilization": 100, "score": 10}]}}})))
        .unwrap()
        .0;
        let cases = [(Strategy::LeastAllocated, 50), (Strategy::MostAllocated, 50), (rtcr, 50)];
        for (s, want) in cases {
            let sc = scorer(s.clone());
            assert_eq!(sc.score(&n, &sc.pod_requests(&p)), want, "{s:?}");
        }
        // Zero requests count as 100m / 200Mi for scoring.
        let sc = scorer(Strategy::LeastAllocated);
        let empty = node("e").cpu("1").mem("1000Mi").info();
        assert_eq!(sc.score(&empty, &sc.pod_requests(&pod("z").info())), (90 + 80) / 2);
    }

    #[test]
    fn strategy_parsing() {
        assert_eq!(parse_strategy(None).unwrap().0, Strategy::LeastAllocated);
        assert_eq!(parse_strategy(Some(&serde_json::json!({"scoringStrategy": {"type": "MostAllocated"}}))).unwrap().0, Strategy::MostAllocated);
        assert!(parse_strategy(Some(&serde_json::json!({"scoringStrategy": {"type": "Bogus"}}))).is_err());
        assert_eq!(broken_linear(&[ShapePoint { utilization: 0, score: 100 }, ShapePoint { utilization: 100, score: 0 }], 30), 70);
    }
}
