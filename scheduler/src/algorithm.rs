//! One scheduling attempt's algorithm (upstream `schedule_one.go`
//! `schedulePod`), pure over a snapshot: PreFilter, Filter over nodes
//! (stopping once enough feasible nodes are found, starting where the last
//! search stopped), PreScore/Score, and the pick among the best-scored.

use std::sync::Arc;

use crate::cache::{NodeInfo, Snapshot};
use crate::events::{Diagnosis, FitError, NO_NODES_AVAILABLE};
use crate::framework::{CycleState, Framework, NodeStatuses, Status};
use crate::podinfo::PodInfo;

/// Upstream `minFeasibleNodesToFind`.
pub const MIN_FEASIBLE_NODES_TO_FIND: usize = 100;
/// Upstream `minFeasibleNodesPercentageToFind`.
pub const MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND: i64 = 5;

/// Upstream `numFeasibleNodesToFind`: all nodes below 100; otherwise the
/// configured percentage (the profile's if set, else the global one), or adaptively
/// `50 - nodes/125` percent (at least 5 %), and never fewer than 100.
pub fn num_feasible_nodes_to_find(profile_pct: Option<i32>, global_pct: Option<i32>, num_all: usize) -> usize {
    if num_all < MIN_FEASIBLE_NODES_TO_FIND {
        return num_all;
    }
    // A profile's value, even an explicit 0 (adaptive), wins over the global one.
    let mut pct = profile_pct.or(global_pct).unwrap_or(0) as i64;
    if pct == 0 {
        pct = (50 - num_all as i64 / 125).max(MIN_FEASIBLE_NODES_PERCENTAGE_TO_FIND);
    }
    let n = (num_all as i64 * pct / 100) as usize;
    n.max(MIN_FEASIBLE_NODES_TO_FIND)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleResult {
    pub suggested_host: String,
    pub evaluated_nodes: usize,
    pub feasible_nodes: usize,
}

#[derive(Debug)]
pub enum ScheduleError {
    /// No node fits: the diagnosis drives PostFilter, the event and the queue.
    Fit(Box<FitError>),
    /// Internal error (a plugin returned Error, or no nodes at all).
    Error(Box<Status>),
}

/// Mutable state kept between attempts by the loop.
#[derive(Debug, Default)]
pub struct SearchState {
    /// Where the next feasible-node search starts (round robin).
    pub next_start_index: usize,
    rng: u64,
}

impl SearchState {
    pub fn new(seed: u64) -> SearchState {
        SearchState { next_start_index: 0, rng: seed | 1 }
    }

    fn next_random(&mut self) -> u64 {
        // xorshift64*
        let mut x = self.rng.max(1);
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.rng = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Runs PreFilter/Filter/Score and picks a node.
pub fn schedule_pod(
    fwk: &Framework,
    state: &mut CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
    search: &mut SearchState,
    global_pct: Option<i32>,
) -> Result<ScheduleResult, ScheduleError> {
    if snapshot.num_nodes() == 0 {
        return Err(ScheduleError::Error(Box::new(Status::error(NO_NODES_AVAILABLE))));
    }
    let (feasible, diagnosis) = find_nodes_that_fit(fwk, state, pod, snapshot, search, global_pct)?;
    if feasible.is_empty() {
        return Err(ScheduleError::Fit(Box::new(FitError { num_all_nodes: snapshot.num_nodes(), diagnosis })));
    }
    let evaluated = feasible.len() + diagnosis.statuses.map.len();
    if feasible.len() == 1 {
        return Ok(ScheduleResult { suggested_host: feasible[0].name().to_string(), evaluated_nodes: evaluated, feasible_nodes: 1 });
    }
    let s = fwk.run_pre_score(state, pod, &feasible, snapshot);
    if !s.is_success() {
        return Err(ScheduleError::Error(Box::new(s)));
    }
    let scores = fwk.run_score(state, pod, &feasible, snapshot).map_err(|s| ScheduleError::Error(Box::new(s)))?;
    // Upstream `selectHost`: the best score, ties broken uniformly at random (reservoir sampling).
    let mut best = 0usize;
    let mut ties = 0u64;
    for (i, s) in scores.iter().enumerate() {
        if i == 0 || s.score > scores[best].score {
            best = i;
            ties = 1;
        } else if s.score == scores[best].score {
            ties += 1;
            if search.next_random().is_multiple_of(ties) {
                best = i;
            }
        }
    }
    Ok(ScheduleResult { suggested_host: scores[best].name.clone(), evaluated_nodes: evaluated, feasible_nodes: feasible.len() })
}

/// Upstream `findNodesThatFitPod` + `findNodesThatPassFilters`.
fn find_nodes_that_fit(
    fwk: &Framework,
    state: &mut CycleState,
    pod: &PodInfo,
    snapshot: &Snapshot,
    search: &mut SearchState,
    global_pct: Option<i32>,
) -> Result<(Vec<Arc<NodeInfo>>, Diagnosis), ScheduleError> {
    let mut diagnosis = Diagnosis::default();
    let (pre_result, s) = fwk.run_pre_filter(state, pod, snapshot);
    if !s.is_success() {
        if !s.is_rejected() {
            return Err(ScheduleError::Error(Box::new(s)));
        }
        diagnosis.pre_filter_msg = s.message();
        if !s.plugin.is_empty() {
            diagnosis.unschedulable_plugins.insert(s.plugin.to_string());
        }
        diagnosis.statuses = NodeStatuses { map: Default::default(), absent: s };
        return Ok((Vec::new(), diagnosis));
    }

    // A pod nominated by an earlier preemption tries its node first.
    if let Some(nominated) = pod.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty()) {
        if let Some(node) = snapshot.get(nominated) {
            if pre_result.as_ref().and_then(|r| r.node_names.as_ref()).is_none_or(|n| n.contains(nominated)) {
                let s = fwk.run_filter_with_nominated(state, pod, node, snapshot.nominated_on(nominated), snapshot);
                if s.is_success() {
                    return Ok((vec![node.clone()], diagnosis));
                }
            }
        }
    }

    let narrowed: Option<Vec<Arc<NodeInfo>>> = pre_result.as_ref().and_then(|r| r.node_names.as_ref()).map(|names| names.iter().filter_map(|n| snapshot.get(n).cloned()).collect());
    if let Some(r) = pre_result.as_ref().filter(|r| r.node_names.is_some()) {
        diagnosis.statuses.absent = Status::unresolvable(format!("node(s) didn't satisfy plugin(s) [{}]", r.narrowed_by.join(" ")));
    }
    let nodes: &[Arc<NodeInfo>] = narrowed.as_deref().unwrap_or(&snapshot.nodes);
    let to_find = num_feasible_nodes_to_find(fwk.percentage_of_nodes_to_score, global_pct, nodes.len());
    let mut feasible = Vec::with_capacity(to_find.min(nodes.len()));
    let n = nodes.len();
    if n == 0 {
        return Ok((feasible, diagnosis));
    }
    let start = search.next_start_index % n;
    let mut processed = 0;
    for i in 0..n {
        if feasible.len() >= to_find {
            break;
        }
        let node = &nodes[(start + i) % n];
        processed += 1;
        let s = if fwk.has_filters() { fwk.run_filter_with_nominated(state, pod, node, snapshot.nominated_on(node.name()), snapshot) } else { Status::success() };
        if s.is_success() {
            feasible.push(node.clone());
        } else if s.is_rejected() {
            if !s.plugin.is_empty() {
                diagnosis.unschedulable_plugins.insert(s.plugin.to_string());
            }
            diagnosis.statuses.map.insert(node.name().to_string(), s);
        } else {
            return Err(ScheduleError::Error(Box::new(s)));
        }
    }
    search.next_start_index = (start + processed) % n;
    Ok((feasible, diagnosis))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::Profile;
    use crate::listers::Listers;
    use crate::plugins::in_tree_registry;
    use crate::testutil::{node, node_with, pod};

    #[test]
    fn feasible_node_counts() {
        let cases = [
            (None, None, 50, 50),
            (None, None, 100, 100),
            (None, None, 1000, 420),
            (None, None, 5000, 500),
            (None, None, 6000, 300),
            (None, None, 100_000, 5000),
            (Some(30), None, 1000, 300),
            (None, Some(70), 1000, 700),
            (Some(1), None, 1000, 100),
            (Some(100), Some(10), 1000, 1000),
            (Some(0), Some(70), 1000, 420),
            (None, Some(0), 1000, 420),
        ];
        for (profile, global, n, want) in cases {
            assert_eq!(num_feasible_nodes_to_find(profile, global, n), want, "{profile:?} {global:?} {n}");
        }
    }

    fn fwk() -> Framework {
        Framework::new(&Profile::default_profile("default-scheduler"), &in_tree_registry(), None).unwrap()
    }

    #[test]
    fn end_to_end_over_a_snapshot() {
        let snap = Snapshot::from_nodes(
            vec![
                node("cp").cpu("8").mem("8Gi").taint("node-role.kubernetes.io/control-plane", "", "NoSchedule").info(),
                node_with(node("w1").cpu("2").mem("4Gi"), vec![pod("x").cpu("1500m").build()]),
                node("w2").cpu("4").mem("4Gi").label("disk", "ssd").info(),
            ],
            Listers::default(),
        );
        let f = fwk();
        let mut search = SearchState::new(7);
        let p = pod("p").cpu("1").info();
        let r = schedule_pod(&f, &mut CycleState::new(), &p, &snap, &mut search, None).unwrap();
        assert_eq!(r.suggested_host, "w2");
        assert_eq!(r.feasible_nodes, 1);

        let sel = pod("s").node_selector("disk", "hdd").info();
        let Err(ScheduleError::Fit(e)) = schedule_pod(&f, &mut CycleState::new(), &sel, &snap, &mut search, None) else { panic!("expected a fit error") };
        assert_eq!(
            e.message(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 node(s) didn't match Pod's node affinity/selector."
        );
        assert!(e.diagnosis.unschedulable_plugins.contains("NodeAffinity"));

        let big = pod("b").cpu("5").info();
        let Err(ScheduleError::Fit(e)) = schedule_pod(&f, &mut CycleState::new(), &big, &snap, &mut search, None) else { panic!("expected a fit error") };
        assert_eq!(
            e.message(),
            "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu."
        );

        let empty = Snapshot::default();
        assert!(matches!(schedule_pod(&f, &mut CycleState::new(), &p, &empty, &mut search, None), Err(ScheduleError::Error(_))));
    }

    #[test]
    fn least_allocated_spreads() {
        let snap = Snapshot::from_nodes(
            vec![node_with(node("busy").cpu("4").mem("8Gi"), vec![pod("x").cpu("3").mem("1Gi").build()]), node("idle").cpu("4").mem("8Gi").info()],
            Listers::default(),
        );
        let r = schedule_pod(&fwk(), &mut CycleState::new(), &pod("p").cpu("500m").mem("1Gi").info(), &snap, &mut SearchState::new(1), None).unwrap();
        assert_eq!(r.suggested_host, "idle");
    }
}
