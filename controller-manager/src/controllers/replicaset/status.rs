//! ReplicaSet status from its pods (upstream `calculateStatus`), pure.

use std::sync::Arc;

use k8s_openapi::api::apps::v1::{ReplicaSet, ReplicaSetCondition, ReplicaSetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

use crate::runtime::cached_pod::CachedPod;
use crate::runtime::pod_util;

/// Why the last manage step failed, for the `ReplicaFailure` condition.
#[derive(Debug, Clone)]
pub struct ManageError {
    /// Creating (`FailedCreate`) or deleting (`FailedDelete`).
    pub creating: bool,
    pub message: String,
}

/// Whether all of the template's labels are on the pod with equal values.
pub fn fully_labeled(pod: &CachedPod, template_labels: Option<&std::collections::BTreeMap<String, String>>) -> bool {
    let labels = pod.metadata.labels.as_ref();
    template_labels.into_iter().flatten().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v))
}

/// The status the ReplicaSet should report given its claimed active pods.
pub fn calculate(rs: &ReplicaSet, pods: &[Arc<CachedPod>], manage_err: Option<&ManageError>, now: Timestamp) -> ReplicaSetStatus {
    let spec = rs.spec.as_ref();
    let min_ready = spec.and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let template_labels = spec.and_then(|s| s.template.as_ref()).and_then(|t| t.metadata.as_ref()).and_then(|m| m.labels.as_ref());
    let fully = pods.iter().filter(|p| fully_labeled(p, template_labels)).count() as i32;
    let ready = pods.iter().filter(|p| pod_util::is_ready(p)).count() as i32;
    let available = pods.iter().filter(|p| pod_util::is_available(p, min_ready, now)).count() as i32;
    let old = rs.status.clone().unwrap_or_default();
    let mut conditions: Vec<ReplicaSetCondition> = old.conditions.clone().unwrap_or_default();
    let has_failure = conditions.iter().any(|c| c.type_ == "ReplicaFailure");
    match manage_err {
        Some(err) if !has_failure => conditions.push(ReplicaSetCondition {
            type_: "ReplicaFailure".into(),
            status: "True".into(),
            reason: Some(if err.creating { "FailedCreate" } else { "FailedDelete" }.into()),
            message: Some(err.message.clone()),
            last_transition_time: Some(Time(now)),
        }),
        None if has_failure => conditions.retain(|c| c.type_ != "ReplicaFailure"),
        _ => {}
    }
    let nonzero = |n: i32| (n != 0).then_some(n);
    ReplicaSetStatus {
        replicas: pods.len() as i32,
        fully_labeled_replicas: nonzero(fully),
        ready_replicas: nonzero(ready),
        available_replicas: nonzero(available),
        observed_generation: rs.metadata.generation,
        conditions: (!conditions.is_empty()).then_some(conditions),
        terminating_replicas: None,
    }
}

/// Equality ignoring condition timestamps' precision issues (plain `==`).
pub fn same(a: &ReplicaSetStatus, b: &ReplicaSetStatus) -> bool {
    a == b
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::apps::v1::ReplicaSetSpec;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus, PodTemplateSpec};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

    fn pod(labels: &[(&str, &str)], ready_at: Option<i64>) -> Arc<CachedPod> {
        let mut p = Pod::default();
        p.metadata.labels = Some(labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect());
        p.status = Some(PodStatus {
            phase: Some("Running".into()),
            conditions: ready_at.map(|at| {
                vec![PodCondition {
                    type_: "Ready".into(),
                    status: "True".into(),
                    last_transition_time: Some(Time(Timestamp::from_second(at).unwrap())),
                    ..Default::default()
                }]
            }),
            ..Default::default()
        });
        Arc::new(CachedPod::from(p))
    }

    #[test]
    fn status_table() {
        let mut rs = ReplicaSet::default();
        rs.metadata.generation = Some(4);
        rs.spec = Some(ReplicaSetSpec {
            min_ready_seconds: Some(30),
            template: Some(PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some([("app".to_string(), "web".to_string()), ("tier".to_string(), "fe".to_string())].into()),
                    ..Default::default()
                }),
                spec: None,
            }),
            ..Default::default()
        });
        let now = Timestamp::from_second(1000).unwrap();
        let pods = vec![
            pod(&[("app", "web"), ("tier", "fe")], Some(900)),
            pod(&[("app", "web"), ("tier", "fe")], Some(990)),
            pod(&[("app", "web")], None),
        ];
        let s = calculate(&rs, &pods, None, now);
        assert_eq!(s.replicas, 3);
        assert_eq!(s.fully_labeled_replicas, Some(2));
        assert_eq!(s.ready_replicas, Some(2));
        assert_eq!(s.available_replicas, Some(1));
        assert_eq!(s.observed_generation, Some(4));
        assert!(s.conditions.is_none());
        let err = ManageError { creating: true, message: "quota".into() };
        let s = calculate(&rs, &[], Some(&err), now);
        let c = &s.conditions.as_ref().unwrap()[0];
        assert_eq!((c.type_.as_str(), c.reason.as_deref()), ("ReplicaFailure", Some("FailedCreate")));
        assert_eq!(s.ready_replicas, None);
        rs.status = Some(s);
        assert!(calculate(&rs, &[], None, now).conditions.is_none());
    }
}
