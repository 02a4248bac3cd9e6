//! Preemption (upstream `framework/preemption` + `defaultpreemption`), pure:
//! given the failed pod, the snapshot and each node's rejection, find the
//! node where evicting the fewest / least important lower-priority pods
//! lets the pod fit, and say which pods to evict. The shell carries it out
//! (deletes victims, clears lower-priority nominations, sets
//! `status.nominatedNodeName`).
//!
//! Per node (`select_victims_on_node`): remove every lower-priority pod; if
//! the pod still does not fit, the node is not a candidate. Otherwise add
//! victims back, most important first — PDB-violating ones first — keeping
//! each one whose return still lets the pod fit. Between candidates
//! (`pick_one_node`): fewest PDB violations, then lowest highest-victim
//! priority, then smallest priority sum, then fewest victims, then latest
//! start of the highest-priority victims, then the first.

use std::cmp::Ordering;
use std::sync::Arc;

use apimachinery::selector::labels::LabelSelector;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;

use crate::cache::{NodeInfo, Snapshot};
use crate::events::FitError;
use crate::events::Diagnosis;
use crate::framework::{Code, CycleState, Framework, NodeStatuses, PostFilterResult, Status};
use crate::podinfo::{PodInfo, PodRecord};

pub const NOT_HELPFUL: &str = "Preemption is not helpful for scheduling";
pub const NO_VICTIMS: &str = "No preemption victims found for incoming pod";
/// Upstream `minCandidateNodesPercentage` / `minCandidateNodesAbsolute`.
pub const MIN_CANDIDATE_NODES_PERCENTAGE: usize = 10;
pub const MIN_CANDIDATE_NODES_ABSOLUTE: usize = 100;

#[derive(Debug, Clone)]
pub struct Candidate {
    pub node: String,
    /// Most important first.
    pub victims: Vec<Arc<PodRecord>>,
    pub num_pdb_violations: i64,
}

/// Upstream `MoreImportantPod`: higher priority, then earlier start
/// (a pod that has not started counts as starting now, i.e. last).
pub fn more_important(a: &PodRecord, b: &PodRecord) -> Ordering {
    b.priority.cmp(&a.priority).then_with(|| match (a.start_time, b.start_time) {
        (Some(x), Some(y)) => x.cmp(&y),
        (Some(_), None) => Ordering::Less,
        (None, Some(_)) => Ordering::Greater,
        (None, None) => Ordering::Equal,
    })
}

/// Upstream `PodEligibleToPreemptOthers`; the error is the PostFilter message.
pub fn eligible(pod: &PodInfo, snapshot: &Snapshot, statuses: &NodeStatuses) -> Result<(), String> {
    let spec = pod.pod.spec.as_ref();
    if spec.and_then(|s| s.preemption_policy.as_deref()) == Some("Never") {
        return Err("not eligible due to preemptionPolicy=Never.".into());
    }
    let nominated = pod.pod.status.as_ref().and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty());
    if let Some(n) = nominated {
        if statuses.get(n).code == Code::UnschedulableAndUnresolvable {
            return Ok(());
        }
        if let Some(node) = snapshot.get(n) {
            let prio = pod.priority();
            if node.pods.iter().any(|p| p.terminating && p.priority() < prio) {
                return Err("not eligible due to a terminating pod on the nominated node.".into());
            }
        }
    }
    Ok(())
}

/// Splits `victims` into (PDB-violating, non-violating), as upstream
/// `filterPodsWithPDBViolation` (each match uses up one allowed disruption).
pub fn split_by_pdb(victims: &[Arc<PodRecord>], pdbs: &[Arc<PodDisruptionBudget>]) -> (Vec<Arc<PodRecord>>, Vec<Arc<PodRecord>>) {
    let mut allowed: Vec<i64> = pdbs.iter().map(|p| p.status.as_ref().map(|s| s.disruptions_allowed as i64).unwrap_or(0)).collect();
    let selectors: Vec<Option<LabelSelector>> = pdbs
        .iter()
        .map(|p| p.spec.as_ref().and_then(|s| s.selector.as_ref()).and_then(|s| LabelSelector::from_k8s(s).ok()).filter(|s| !s.is_everything()))
        .collect();
    let (mut violating, mut ok) = (Vec::new(), Vec::new());
    for v in victims {
        let mut violated = false;
        if !v.labels().is_empty() {
            for (i, pdb) in pdbs.iter().enumerate() {
                if pdb.metadata.namespace.as_deref() != Some(v.namespace()) {
                    continue;
                }
                let Some(sel) = &selectors[i] else { continue };
                if !sel.matches(v.labels()) {
                    continue;
                }
                let name = v.name();
                if pdb.status.as_ref().and_then(|s| s.disrupted_pods.as_ref()).is_some_and(|d| d.contains_key(name)) {
                    continue;
                }
                allowed[i] -= 1;
                if allowed[i] < 0 {
                    violated = true;
                }
            }
        }
        if violated {
            violating.push(v.clone());
        } else {
            ok.push(v.clone());
        }
    }
    (violating, ok)
}

/// Upstream `SelectVictimsOnNode`.
pub fn select_victims_on_node(
    fwk: &Framework,
    state: &CycleState,
    pod: &PodInfo,
    node: &NodeInfo,
    snapshot: &Snapshot,
    pdbs: &[Arc<PodDisruptionBudget>],
) -> Result<Candidate, Status> {
    let mut state = state.clone();
    let mut node = node.clone();
    let prio = pod.priority();
    let mut potential: Vec<Arc<PodRecord>> = node.pods.iter().filter(|p| p.priority() < prio).cloned().collect();
    if potential.is_empty() {
        return Err(Status::unresolvable(NO_VICTIMS));
    }
    for v in &potential {
        node.remove_pod(&v.key);
        let s = fwk.run_pre_filter_remove_pod(&mut state, pod, v, &node, snapshot);
        if !s.is_success() {
            return Err(s);
        }
    }
    let nominated = snapshot.nominated_on(node.name());
    let s = fwk.run_filter_with_nominated(&state, pod, &node, nominated, snapshot);
    if !s.is_success() {
        return Err(s);
    }
    potential.sort_by(|a, b| more_important(a, b));
    let (violating, non_violating) = split_by_pdb(&potential, pdbs);
    let mut victims = Vec::new();
    let mut violations = 0;
    for (group, is_violating) in [(violating, true), (non_violating, false)] {
        for v in group {
            node.add_pod(v.clone());
            let s = fwk.run_pre_filter_add_pod(&mut state, pod, &v, &node, snapshot);
            if !s.is_success() {
                return Err(s);
            }
            if !fwk.run_filter_with_nominated(&state, pod, &node, nominated, snapshot).is_success() {
                node.remove_pod(&v.key);
                let s = fwk.run_pre_filter_remove_pod(&mut state, pod, &v, &node, snapshot);
                if !s.is_success() {
                    return Err(s);
                }
                if is_violating {
                    violations += 1;
                }
                victims.push(v);
            }
        }
    }
    if victims.is_empty() {
        return Err(Status::error(format!("expected at least one victim pod on node {:?}", node.name())));
    }
    Ok(Candidate { node: node.name().to_string(), victims, num_pdb_violations: violations })
}

fn highest_priority(c: &Candidate) -> i32 {
    c.victims.first().map(|v| v.priority()).unwrap_or(i32::MIN)
}

fn earliest_start_of_highest(c: &Candidate) -> Option<jiff::Timestamp> {
    let hp = highest_priority(c);
    c.victims.iter().filter(|v| v.priority() == hp).filter_map(|v| v.start_time).min()
}

/// Upstream `pickOneNodeForPreemption`; returns an index into `candidates`.
pub fn pick_one_node(candidates: &[Candidate]) -> Option<usize> {
    if candidates.is_empty() {
        return None;
    }
    if let Some(i) = candidates.iter().position(|c| c.victims.is_empty()) {
        return Some(i);
    }
    let mut idx: Vec<usize> = (0..candidates.len()).collect();
    let keep_min = |idx: &mut Vec<usize>, f: &dyn Fn(&Candidate) -> i64| {
        let min = idx.iter().map(|&i| f(&candidates[i])).min().unwrap_or(0);
        idx.retain(|&i| f(&candidates[i]) == min);
    };
    keep_min(&mut idx, &|c| c.num_pdb_violations);
    keep_min(&mut idx, &|c| highest_priority(c) as i64);
    keep_min(&mut idx, &|c| c.victims.iter().map(|v| v.priority() as i64 + i32::MAX as i64 + 1).sum());
    keep_min(&mut idx, &|c| c.victims.len() as i64);
    if idx.len() > 1 {
        // Latest "earliest start time of the highest-priority victims"; unknown counts as now (latest).
        let key = |i: usize| earliest_start_of_highest(&candidates[i]);
        let mut best = idx[0];
        for &i in &idx[1..] {
            let better = match (key(i), key(best)) {
                (None, Some(_)) => true,
                (Some(a), Some(b)) => a > b,
                _ => false,
            };
            if better {
                best = i;
            }
        }
        return Some(best);
    }
    idx.first().copied()
}

/// Upstream `calculateNumCandidates`.
pub fn num_candidates(num_nodes: usize) -> usize {
    let n = (num_nodes * MIN_CANDIDATE_NODES_PERCENTAGE / 100).max(MIN_CANDIDATE_NODES_ABSOLUTE);
    n.min(num_nodes)
}

/// The whole PostFilter: eligibility, dry runs, choice; the message on
/// failure is `preemption: <FitError message>` (or the ineligibility reason).
pub fn preempt(fwk: &Framework, state: &CycleState, pod: &PodInfo, snapshot: &Snapshot, statuses: &NodeStatuses, offset: usize) -> (Option<PostFilterResult>, Status) {
    if let Err(msg) = eligible(pod, snapshot, statuses) {
        return (None, Status::unschedulable(format!("preemption: {msg}")));
    }
    let all = snapshot.num_nodes();
    let potential: Vec<&Arc<NodeInfo>> = snapshot.nodes.iter().filter(|n| statuses.get(n.name()).code == Code::Unschedulable).collect();
    let not_helpful = || FitError {
        num_all_nodes: all,
        diagnosis: Diagnosis { statuses: NodeStatuses { map: Default::default(), absent: Status::unresolvable(NOT_HELPFUL) }, ..Default::default() },
    };
    if potential.is_empty() {
        return (None, Status::unschedulable(format!("preemption: {}", not_helpful().message())));
    }
    let pdbs = snapshot.listers.pdbs.state();
    let want = num_candidates(potential.len());
    let mut candidates = Vec::new();
    let mut non_violating = 0;
    let mut dry_run = NodeStatuses { map: Default::default(), absent: Status::unresolvable(NOT_HELPFUL) };
    for i in 0..potential.len() {
        let node = potential[(offset + i) % potential.len()];
        match select_victims_on_node(fwk, state, pod, node, snapshot, &pdbs) {
            Ok(c) => {
                if c.num_pdb_violations == 0 {
                    non_violating += 1;
                }
                candidates.push(c);
                if non_violating > 0 && candidates.len() >= want {
                    break;
                }
            }
            Err(s) => {
                if s.code == Code::Error {
                    return (None, s);
                }
                dry_run.map.insert(node.name().to_string(), s);
            }
        }
    }
    let Some(best) = pick_one_node(&candidates) else {
        let err = FitError { num_all_nodes: all, diagnosis: Diagnosis { statuses: dry_run, ..Default::default() } };
        return (None, Status::unschedulable(format!("preemption: {}", err.message())));
    };
    let c = &candidates[best];
    let prio = pod.priority();
    let clear = snapshot.nominated_on(&c.node).iter().filter(|n| n.priority() < prio && n.key != pod.key).map(|n| n.pod.clone()).collect();
    let result = PostFilterResult {
        nominated_node_name: Some(c.node.clone()),
        victims: c.victims.clone(),
        clear_nominations: clear,
    };
    (Some(result), Status::success())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::Profile;
    use crate::listers::Listers;
    use crate::plugins::in_tree_registry;
    use crate::testutil::{node, node_with, pod};

    fn fwk() -> Framework {
        Framework::new(&Profile::default_profile("default-scheduler"), &in_tree_registry(), None).unwrap()
    }

    fn statuses_for(fwk: &Framework, state: &CycleState, p: &PodInfo, snap: &Snapshot) -> NodeStatuses {
        let mut st = NodeStatuses::default();
        for n in &snap.nodes {
            let s = fwk.run_filter(state, p, n);
            if !s.is_success() {
                st.map.insert(n.name().to_string(), s);
            }
        }
        st
    }

    fn run(snap: &Snapshot, p: &PodInfo) -> (Option<PostFilterResult>, Status) {
        let f = fwk();
        let mut state = CycleState::new();
        let (_, s) = f.run_pre_filter(&mut state, p, snap);
        assert!(s.is_success());
        let st = statuses_for(&f, &state, p, snap);
        preempt(&f, &state, p, snap, &st, 0)
    }

    #[test]
    fn picks_node_with_lowest_priority_victims() {
        let snap = Snapshot::from_nodes(
            vec![
                node_with(node("a").cpu("2"), vec![pod("a-mid").cpu("2").priority(50).build()]),
                node_with(node("b").cpu("2"), vec![pod("b-low").cpu("1").priority(10).build(), pod("b-low2").cpu("1").priority(10).build()]),
                node_with(node("c").cpu("2"), vec![pod("c-high").cpu("2").priority(1000).build()]),
            ],
            Listers::default(),
        );
        let (r, s) = run(&snap, &pod("p").cpu("1").priority(100).info());
        assert!(s.is_success(), "{s:?}");
        let r = r.unwrap();
        assert_eq!(r.nominated_node_name.as_deref(), Some("b"));
        // Only one of the two low pods needs to go.
        assert_eq!(r.victims.len(), 1);
    }

    #[test]
    fn minimal_victim_set_reprieves_more_important_pods() {
        let snap = Snapshot::from_nodes(
            vec![node_with(
                node("a").cpu("3"),
                vec![pod("v1").cpu("1").priority(1).build(), pod("v2").cpu("1").priority(5).build(), pod("v3").cpu("1").priority(3).build()],
            )],
            Listers::default(),
        );
        let (r, _) = run(&snap, &pod("p").cpu("2").priority(10).info());
        let mut names: Vec<String> = r.unwrap().victims.iter().map(|v| v.name().to_string()).collect();
        names.sort();
        assert_eq!(names, ["v1", "v3"]);
    }

    #[test]
    fn failure_messages() {
        let snap = Snapshot::from_nodes(
            vec![
                node("tainted").cpu("4").taint("node-role.kubernetes.io/control-plane", "", "NoSchedule").info(),
                node_with(node("full").cpu("1"), vec![pod("big").cpu("1").priority(1000).build()]),
            ],
            Listers::default(),
        );
        let (r, s) = run(&snap, &pod("p").cpu("1").priority(100).info());
        assert!(r.is_none());
        assert_eq!(s.message(), "preemption: 0/2 nodes are available: 1 No preemption victims found for incoming pod, 1 Preemption is not helpful for scheduling.");

        let never = pod("p").cpu("1").priority(100).with(|p| p.spec.as_mut().unwrap().preemption_policy = Some("Never".into())).info();
        assert_eq!(run(&snap, &never).1.message(), "preemption: not eligible due to preemptionPolicy=Never.");

        let only_tainted = Snapshot::from_nodes(vec![node("t").cpu("4").taint("k", "", "NoSchedule").info()], Listers::default());
        assert_eq!(run(&only_tainted, &pod("p").info()).1.message(), "preemption: 0/1 nodes are available: 1 Preemption is not helpful for scheduling.");
    }

    #[test]
    fn pdb_violations_count() {
        use k8s_openapi::api::policy::v1::{PodDisruptionBudgetSpec, PodDisruptionBudgetStatus};
        use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as K8sSelector;
        let pdb = PodDisruptionBudget {
            metadata: kube::api::ObjectMeta { name: Some("pdb".into()), namespace: Some("default".into()), ..Default::default() },
            spec: Some(PodDisruptionBudgetSpec {
                selector: Some(K8sSelector { match_labels: Some([("app".to_string(), "db".to_string())].into()), ..Default::default() }),
                ..Default::default()
            }),
            status: Some(PodDisruptionBudgetStatus { disruptions_allowed: 1, ..Default::default() }),
        };
        let victims: Vec<Arc<PodRecord>> = ["a", "b", "c"].iter().map(|n| pod(n).label("app", "db").info().record).collect();
        let (violating, ok) = split_by_pdb(&victims, &[Arc::new(pdb)]);
        assert_eq!((violating.len(), ok.len()), (2, 1));
    }

    #[test]
    fn pick_one_node_criteria() {
        let v = |name: &str, prio: i32| pod(name).priority(prio).info().record;
        let c = |node: &str, victims: Vec<Arc<PodRecord>>, pdb: i64| Candidate { node: node.into(), victims, num_pdb_violations: pdb };
        let cases: Vec<(&str, Vec<Candidate>, &str)> = vec![
            ("fewest pdb violations", vec![c("a", vec![v("x", 1)], 1), c("b", vec![v("y", 5)], 0)], "b"),
            ("lowest highest priority", vec![c("a", vec![v("x", 5)], 0), c("b", vec![v("y", 3), v("z", 1)], 0)], "b"),
            ("smallest sum", vec![c("a", vec![v("x", 3), v("w", 3)], 0), c("b", vec![v("y", 3), v("z", 1)], 0)], "b"),
            ("fewest victims", vec![c("a", vec![v("x", -1), v("w", -1)], 0), c("b", vec![v("y", -2)], 0)], "b"),
        ];
        for (name, cands, want) in cases {
            assert_eq!(cands[pick_one_node(&cands).unwrap()].node, want, "{name}");
        }
        assert_eq!(num_candidates(50), 50);
        assert_eq!(num_candidates(5000), 500);
        assert_eq!(num_candidates(500), 100);
    }
}
