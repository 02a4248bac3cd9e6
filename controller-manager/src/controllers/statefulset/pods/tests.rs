#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use serde_json::json;

fn set(replicas: i32, extra: serde_json::Value) -> StatefulSet {
    let mut spec = json!({
        "replicas": replicas,
        "serviceName": "svc",
        "selector": {"matchLabels": {"app": "w"}},
        "template": {"metadata": {"labels": {"app": "w"}}, "spec": {"containers": []}},
        "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {}}]
    });
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    serde_json::from_value(json!({"metadata": {"name": "web", "namespace": "ns", "generation": 2}, "spec": spec})).unwrap()
}

/// `state`: "ready", "pending", "terminating", "failed".
fn pod(ordinal: i32, revision: &str, state: &str) -> Arc<CachedPod> {
    let mut p = Pod::default();
    p.metadata.name = Some(format!("web-{ordinal}"));
    p.metadata.namespace = Some("ns".into());
    p.metadata.labels = Some(
        [
            (POD_NAME_LABEL.to_string(), format!("web-{ordinal}")),
            (POD_INDEX_LABEL.to_string(), ordinal.to_string()),
            (HASH_LABEL.to_string(), revision.to_string()),
        ]
        .into(),
    );
    if state == "terminating" {
        p.metadata.deletion_timestamp = Some(Time(Timestamp::from_second(1).unwrap()));
    }
    let phase = match state {
        "pending" => "Pending",
        "failed" => "Failed",
        _ => "Running",
    };
    p.status = Some(PodStatus {
        phase: Some(phase.into()),
        conditions: (state == "ready" || state == "terminating").then(|| {
            vec![PodCondition {
                type_: "Ready".into(),
                status: "True".into(),
                last_transition_time: Some(Time(Timestamp::from_second(1).unwrap())),
                ..Default::default()
            }]
        }),
        ..Default::default()
    });
    Arc::new(CachedPod::from(p))
}

fn check(set: &StatefulSet, pods: &[Arc<CachedPod>], want: &[Step]) {
    let now = Timestamp::from_second(1000).unwrap();
    let plan = plan(set, pods, "web-r1", "web-r2", now);
    assert_eq!(plan.steps, want);
}

fn create(ordinal: i32) -> Step {
    Step::Create { ordinal, update_revision: true }
}
fn delete(ordinal: i32, condemned: bool) -> Step {
    Step::Delete { name: format!("web-{ordinal}"), condemned }
}

#[test]
fn ordinal_decisions_table() {
    let ordered = set(3, json!({}));
    let parallel = set(3, json!({"podManagementPolicy": "Parallel"}));
    // empty: OrderedReady creates web-0 only; Parallel creates all
    check(&ordered, &[], &[create(0)]);
    check(&parallel, &[], &[create(0), create(1), create(2)]);
    // web-0 not ready yet: wait
    check(&ordered, &[pod(0, "web-r2", "pending")], &[]);
    // web-0 ready: next ordinal
    check(&ordered, &[pod(0, "web-r2", "ready")], &[create(1)]);
    // failed pod is deleted (then recreated)
    check(&ordered, &[pod(0, "web-r2", "failed")], &[delete(0, false)]);
    // scale down: highest ordinal first, one at a time
    let small = set(1, json!({}));
    check(&small, &[pod(0, "web-r2", "ready"), pod(1, "web-r2", "ready"), pod(2, "web-r2", "ready")], &[delete(2, true)]);
    check(&small, &[pod(0, "web-r2", "ready"), pod(1, "web-r2", "ready"), pod(2, "web-r2", "terminating")], &[]);
    // rolling update from the highest ordinal
    let all_old = [pod(0, "web-r1", "ready"), pod(1, "web-r1", "ready"), pod(2, "web-r1", "ready")];
    check(&ordered, &all_old, &[delete(2, false)]);
    // partition 2: only ordinals >= 2 update
    let part = set(3, json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 2}}}));
    check(&part, &[pod(0, "web-r1", "ready"), pod(1, "web-r1", "ready"), pod(2, "web-r2", "ready")], &[]);
    // OnDelete: nothing
    let on_delete = set(3, json!({"updateStrategy": {"type": "OnDelete"}}));
    check(&on_delete, &all_old, &[]);
    // maxUnavailable 2: two at once
    let mu = set(3, json!({"updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 2}}}));
    check(&mu, &all_old, &[delete(2, false), delete(1, false)]);
}

#[test]
fn identity_claims_and_status() {
    let s = set(2, json!({}));
    let owner = OwnerReference { name: "web".into(), uid: "u".into(), ..Default::default() };
    let template = s.spec.as_ref().unwrap().template.clone();
    let p = new_pod(&s, &template, 1, "web-r2", owner);
    assert_eq!(p.metadata.name.as_deref(), Some("web-1"));
    let spec = p.spec.clone().unwrap();
    assert_eq!((spec.hostname.as_deref(), spec.subdomain.as_deref()), (Some("web-1"), Some("svc")));
    assert_eq!(spec.volumes.unwrap()[0].persistent_volume_claim.as_ref().unwrap().claim_name, "data-web-1");
    assert!(identity_matches(&s, &CachedPod::from(&p)));
    let claims = claims_for(&s, 1);
    assert_eq!(claims[0].metadata.name.as_deref(), Some("data-web-1"));
    assert_eq!(claims[0].metadata.labels.as_ref().unwrap()["app"], "w");
    assert_eq!(parent_and_ordinal("my-web-12"), Some(("my-web", 12)));
    assert_eq!(parent_and_ordinal("web-x"), None);

    let now = Timestamp::from_second(1000).unwrap();
    let pods = [pod(0, "web-r1", "ready"), pod(1, "web-r2", "pending")];
    let mut status = plan(&s, &pods, "web-r1", "web-r2", now).status;
    assert_eq!(status.replicas, 2);
    assert_eq!((status.ready_replicas, status.current_replicas, status.updated_replicas), (Some(1), Some(1), Some(1)));
    assert_eq!(status.observed_generation, Some(2));
    complete_rolling_update(&s, &mut status);
    assert_eq!(status.current_revision.as_deref(), Some("web-r1"));
    let pods = [pod(0, "web-r2", "ready"), pod(1, "web-r2", "ready")];
    let mut status = plan(&s, &pods, "web-r1", "web-r2", now).status;
    complete_rolling_update(&s, &mut status);
    assert_eq!(status.current_revision.as_deref(), Some("web-r2"));
    assert_eq!(status.current_replicas, Some(2));
}
