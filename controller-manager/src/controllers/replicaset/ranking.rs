//! Which pods a ReplicaSet deletes first when scaling down: upstream's
//! `ActivePodsWithRanks` order (with the default-on `PodDeletionCost` and
//! `LogarithmicScaleDown` gates). Earlier in the order = deleted first:
//!
//! 1. unassigned < assigned;
//! 2. Pending < Unknown < Running;
//! 3. not ready < ready;
//! 4. lower `controller.kubernetes.io/pod-deletion-cost` < higher;
//! 5. more related pods on the same node < fewer (doubled-up first);
//! 6. ready for less time < more (log2 buckets of age; ties by uid);
//! 7. more container restarts < fewer;
//! 8. newer < older (log2 buckets of age; ties by uid); no timestamp first.

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::jiff::Timestamp;

use crate::runtime::cached_pod::CachedPod;
use crate::runtime::pod_util;

/// Upstream's pod deletion cost annotation.
pub const POD_DELETION_COST: &str = "controller.kubernetes.io/pod-deletion-cost";

fn phase_ordinal(pod: &CachedPod) -> u8 {
    match pod_util::phase(pod) {
        "Pending" => 0,
        "Unknown" => 1,
        "Running" => 2,
        _ => 3,
    }
}

fn deletion_cost(pod: &CachedPod) -> i32 {
    pod.metadata
        .annotations
        .as_ref()
        .and_then(|a| a.get(POD_DELETION_COST))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn node_name(pod: &CachedPod) -> &str {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("")
}

fn ready_time(pod: &CachedPod) -> Option<Timestamp> {
    if !pod_util::is_ready(pod) {
        return None;
    }
    pod_util::ready_condition(pod)?.last_transition_time.as_ref().map(|t| t.0)
}

fn max_restarts(pod: &CachedPod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .and_then(|cs| cs.iter().map(|c| c.restart_count).max())
        .unwrap_or(0)
}

/// `floor(log2(now - t))` in nanoseconds; -1 when not in the past.
fn log_bucket(t: Timestamp, now: Timestamp) -> i64 {
    let d = now.duration_since(t).as_nanos();
    if d <= 0 {
        -1
    } else {
        (d as f64).log2() as i64
    }
}

/// Upstream `afterOrZero` as a "less" result: a missing time sorts first,
/// otherwise the later time.
fn after_or_zero(a: Option<Timestamp>, b: Option<Timestamp>) -> bool {
    match (a, b) {
        (None, _) | (_, None) => a.is_none(),
        (Some(a), Some(b)) => a > b,
    }
}

fn time_less(a: Option<Timestamp>, b: Option<Timestamp>, pa: &CachedPod, pb: &CachedPod, now: Timestamp) -> bool {
    match (a, b) {
        (Some(ta), Some(tb)) => {
            let diff = log_bucket(ta, now) - log_bucket(tb, now);
            if diff == 0 {
                pa.metadata.uid < pb.metadata.uid
            } else {
                diff < 0
            }
        }
        _ => after_or_zero(a, b),
    }
}

/// Upstream `ActivePodsWithRanks.Less`.
fn less(a: &CachedPod, ra: usize, b: &CachedPod, rb: usize, now: Timestamp) -> bool {
    let (na, nb) = (node_name(a), node_name(b));
    if na != nb && (na.is_empty() || nb.is_empty()) {
        return na.is_empty();
    }
    let (pa, pb) = (phase_ordinal(a), phase_ordinal(b));
    if pa != pb {
        return pa < pb;
    }
    let (ready_a, ready_b) = (pod_util::is_ready(a), pod_util::is_ready(b));
    if ready_a != ready_b {
        return !ready_a;
    }
    let (ca, cb) = (deletion_cost(a), deletion_cost(b));
    if ca != cb {
        return ca < cb;
    }
    if ra != rb {
        return ra > rb;
    }
    if ready_a && ready_b {
        let (ta, tb) = (ready_time(a), ready_time(b));
        if ta != tb {
            return time_less(ta, tb, a, b, now);
        }
    }
    let (xa, xb) = (max_restarts(a), max_restarts(b));
    if xa != xb {
        return xa > xb;
    }
    let (ta, tb) = (a.metadata.creation_timestamp.as_ref().map(|t| t.0), b.metadata.creation_timestamp.as_ref().map(|t| t.0));
    if ta != tb {
        return time_less(ta, tb, a, b, now);
    }
    false
}

/// The first `count` pods of `pods` in deletion order. `related` are the
/// active pods of the owner and its siblings (same Deployment): a pod's
/// rank is how many of them share its node.
pub fn pods_to_delete(pods: &[Arc<CachedPod>], related: &[Arc<CachedPod>], count: usize, now: Timestamp) -> Vec<Arc<CachedPod>> {
    let mut on_node: HashMap<&str, usize> = HashMap::new();
    for p in related {
        let n = node_name(p);
        if !n.is_empty() {
            *on_node.entry(n).or_default() += 1;
        }
    }
    let mut ranked: Vec<(Arc<CachedPod>, usize)> = pods
        .iter()
        .map(|p| {
            let n = node_name(p);
            let rank = if n.is_empty() { 0 } else { on_node.get(n).copied().unwrap_or(0) };
            (p.clone(), rank)
        })
        .collect();
    if count < ranked.len() {
        ranked.sort_by(|(a, ra), (b, rb)| {
            if less(a, *ra, b, *rb, now) {
                Ordering::Less
            } else if less(b, *rb, a, *ra, now) {
                Ordering::Greater
            } else {
                Ordering::Equal
            }
        });
    }
    ranked.into_iter().take(count).map(|(p, _)| p).collect()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::core::v1::{ContainerStatus, PodCondition, PodSpec, PodStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    struct P {
        name: &'static str,
        node: &'static str,
        phase: &'static str,
        ready_at: Option<i64>,
        restarts: i32,
        created: i64,
    }

    fn build(p: &P) -> Arc<CachedPod> {
        let mut pod = Pod::default();
        pod.metadata.name = Some(p.name.into());
        pod.metadata.uid = Some(p.name.into());
        pod.metadata.creation_timestamp = Some(Time(Timestamp::from_second(p.created).unwrap()));
        pod.spec = Some(PodSpec { node_name: (!p.node.is_empty()).then(|| p.node.to_string()), ..Default::default() });
        pod.status = Some(PodStatus {
            phase: Some(p.phase.into()),
            conditions: p.ready_at.map(|at| {
                vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(Timestamp::from_second(at).unwrap())),
                    ..Default::default()
                }]
            }),
            container_statuses: Some(vec![ContainerStatus { restart_count: p.restarts, ..Default::default() }]),
            ..Default::default()
        });
        Arc::new(CachedPod::from(pod))
    }

    fn check(pods: &[P], count: usize, want: &[&str]) {
        let pods: Vec<_> = pods.iter().map(build).collect();
        let now = Timestamp::from_second(1_000_000).unwrap();
        let got: Vec<_> =
            pods_to_delete(&pods, &pods, count, now).iter().map(|p| p.metadata.name.clone().unwrap()).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn ranking_table() {
        let base = |name, node, phase, ready_at, restarts, created| P { name, node, phase, ready_at, restarts, created };
        // unassigned first
        check(&[base("a", "n1", "Running", Some(10), 0, 1), base("b", "", "Pending", None, 0, 1)], 1, &["b"]);
        // pending < running
        check(&[base("a", "n1", "Running", None, 0, 1), base("b", "n2", "Pending", None, 0, 1)], 1, &["b"]);
        // not ready < ready
        check(&[base("a", "n1", "Running", Some(10), 0, 1), base("b", "n2", "Running", None, 0, 1)], 1, &["b"]);
        // doubled up first
        check(
            &[base("a", "n1", "Running", None, 0, 1), base("b", "n2", "Running", None, 0, 1), base("c", "n2", "Running", None, 0, 1)],
            1,
            &["b"],
        );
        // more restarts first
        check(&[base("a", "n1", "Running", None, 0, 1), base("b", "n2", "Running", None, 3, 1)], 1, &["b"]);
        // ready more recently first (different log buckets)
        check(&[base("a", "n1", "Running", Some(10), 0, 1), base("b", "n2", "Running", Some(999_990), 0, 1)], 1, &["b"]);
        // newer first
        check(&[base("a", "n1", "Running", None, 0, 1), base("b", "n2", "Running", None, 0, 999_000)], 1, &["b"]);
        // deleting everything keeps the input order
        check(&[base("a", "n1", "Running", None, 0, 1), base("b", "", "Pending", None, 0, 1)], 2, &["a", "b"]);
    }
}
