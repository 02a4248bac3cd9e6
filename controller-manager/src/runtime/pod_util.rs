//! Pod predicates shared by the workload controllers (upstream
//! `pkg/api/v1/pod` and `pkg/controller` helpers). `now` is passed in.

use k8s_openapi::api::core::v1::{Pod, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::runtime::cached_pod::{CachedPod, PodCondition};

/// A pod from an owner's template (upstream `GetPodFromTemplate`): the
/// template's labels, annotations, finalizers and spec, `generateName`
/// `<prefix>-`, and the owner's controller reference.
pub fn pod_from_template(template: &PodTemplateSpec, namespace: &str, prefix: &str, owner: Option<OwnerReference>) -> Pod {
    let tm = template.metadata.clone().unwrap_or_default();
    Pod {
        metadata: ObjectMeta {
            generate_name: Some(format!("{prefix}-")),
            namespace: Some(namespace.to_string()),
            labels: tm.labels,
            annotations: tm.annotations,
            finalizers: tm.finalizers,
            owner_references: owner.map(|o| vec![o]),
            ..ObjectMeta::default()
        },
        spec: template.spec.clone(),
        status: None,
    }
}

/// Not succeeded, not failed, not being deleted (upstream `IsPodActive`).
pub fn is_active(pod: &CachedPod) -> bool {
    let phase = phase(pod);
    phase != "Succeeded" && phase != "Failed" && pod.metadata.deletion_timestamp.is_none()
}

/// `status.phase` or "" when unset.
pub fn phase(pod: &CachedPod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

/// The `Ready` condition, if reported.
pub fn ready_condition(pod: &CachedPod) -> Option<&PodCondition> {
    pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")
}

/// `Ready` is `True` (upstream `IsPodReady`).
pub fn is_ready(pod: &CachedPod) -> bool {
    ready_condition(pod).is_some_and(|c| c.status == "True")
}

/// Ready for at least `min_ready_seconds` (upstream `IsPodAvailable`):
/// with 0 any ready pod is available; otherwise the Ready condition's
/// lastTransitionTime + minReadySeconds must be before `now`.
pub fn is_available(pod: &CachedPod, min_ready_seconds: i32, now: Timestamp) -> bool {
    let Some(c) = ready_condition(pod) else { return false };
    if c.status != "True" {
        return false;
    }
    if min_ready_seconds <= 0 {
        return true;
    }
    match &c.last_transition_time {
        Some(t) => t.0 + SignedDuration::from_secs(i64::from(min_ready_seconds)) < now,
        None => false,
    }
}

/// For a ready pod not yet available: how long until it becomes available
/// (so the controller can re-check then).
pub fn time_until_available(pod: &CachedPod, min_ready_seconds: i32, now: Timestamp) -> Option<std::time::Duration> {
    if min_ready_seconds <= 0 || !is_ready(pod) || is_available(pod, min_ready_seconds, now) {
        return None;
    }
    let t = ready_condition(pod)?.last_transition_time.as_ref()?.0;
    let at = t + SignedDuration::from_secs(i64::from(min_ready_seconds));
    let left = at.duration_since(now);
    std::time::Duration::try_from(left).ok().map(|d| d + std::time::Duration::from_millis(100))
}

/// Sum of container restart counts (for pod ranking).
pub fn restarts(pod: &CachedPod) -> i32 {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .map(|cs| cs.iter().map(|c| c.restart_count).sum())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::runtime::cached_pod::PodStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn pod(phase: &str, ready: Option<(&str, i64)>) -> CachedPod {
        CachedPod {
            status: Some(PodStatus {
                phase: Some(phase.into()),
                conditions: ready.map(|(s, at)| {
                    vec![PodCondition {
                        type_: "Ready".into(),
                        status: s.into(),
                        last_transition_time: Some(Time(Timestamp::from_second(at).unwrap())),
                    }]
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn availability_table() {
        let now = Timestamp::from_second(1000).unwrap();
        let cases = [
            (pod("Running", Some(("True", 990))), 0, true),
            (pod("Running", Some(("True", 990))), 5, true),
            (pod("Running", Some(("True", 990))), 10, false),
            (pod("Running", Some(("True", 990))), 20, false),
            (pod("Running", Some(("False", 990))), 0, false),
            (pod("Pending", None), 0, false),
        ];
        for (i, (p, min, want)) in cases.iter().enumerate() {
            assert_eq!(is_available(p, *min, now), *want, "case {i}");
        }
        assert!(is_active(&pod("Running", None)));
        assert!(!is_active(&pod("Failed", None)));
        let wait = time_until_available(&cases[3].0, 20, now).unwrap();
        assert!(wait > std::time::Duration::from_secs(9) && wait < std::time::Duration::from_secs(11));
    }
}
