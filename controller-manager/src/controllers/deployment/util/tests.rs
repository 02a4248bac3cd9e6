#![allow(clippy::unwrap_used, clippy::expect_used)]
use super::*;
use k8s_openapi::api::apps::v1::{DeploymentSpec, DeploymentStrategy, ReplicaSetSpec, ReplicaSetStatus, RollingUpdateDeployment};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

fn ios(s: &str) -> IntOrString {
    match s.parse::<i32>() {
        Ok(i) => IntOrString::Int(i),
        Err(_) => IntOrString::String(s.into()),
    }
}

fn deploy(replicas: i32, surge: &str, unavailable: &str) -> Deployment {
    Deployment {
        metadata: ObjectMeta { name: Some("web".into()), generation: Some(1), ..Default::default() },
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            strategy: Some(DeploymentStrategy {
                type_: Some("RollingUpdate".into()),
                rolling_update: Some(RollingUpdateDeployment { max_surge: Some(ios(surge)), max_unavailable: Some(ios(unavailable)) }),
            }),
            ..Default::default()
        }),
        status: None,
    }
}

fn rs(name: &str, replicas: i32, available: i32, created: i64) -> ReplicaSet {
    ReplicaSet {
        metadata: ObjectMeta {
            name: Some(name.into()),
            creation_timestamp: Some(Time(Timestamp::from_second(created).unwrap())),
            ..Default::default()
        },
        spec: Some(ReplicaSetSpec { replicas: Some(replicas), ..Default::default() }),
        status: Some(ReplicaSetStatus {
            replicas,
            available_replicas: Some(available),
            ready_replicas: Some(available),
            ..Default::default()
        }),
    }
}

#[test]
fn fenceposts_table() {
    // (replicas, maxSurge, maxUnavailable) -> (surge, unavailable)
    let cases = [
        (10, "25%", "25%", 3, 2),
        (4, "25%", "25%", 1, 1),
        (1, "25%", "25%", 1, 0),
        (3, "0", "0%", 0, 1),
        (3, "0", "0", 0, 1),
        (5, "1", "0", 1, 0),
        (10, "50%", "10%", 5, 1),
        (0, "25%", "25%", 0, 0),
    ];
    for (replicas, s, u, want_s, want_u) in cases {
        let d = deploy(replicas, s, u);
        assert_eq!((max_surge(&d), max_unavailable(&d)), (want_s, want_u), "{replicas} {s} {u}");
    }
    let mut recreate = deploy(3, "1", "1");
    recreate.spec.as_mut().unwrap().strategy = Some(DeploymentStrategy { type_: Some("Recreate".into()), rolling_update: None });
    assert_eq!((max_surge(&recreate), max_unavailable(&recreate)), (0, 0));
    assert!(scaled_value(&IntOrString::String("x".into()), 3, true).is_err());
}

#[test]
fn new_rs_replicas_table() {
    // 3 replicas, surge 1: old=3, new=0 -> new may go to 1
    let d = deploy(3, "1", "0");
    let (old, new) = (rs("old", 3, 3, 1), rs("new", 0, 0, 2));
    assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 1);
    // already at max total
    let (old, new) = (rs("old", 3, 3, 1), rs("new", 1, 0, 2));
    assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 1);
    // old scaled down: room for more, capped at replicas
    let (old, new) = (rs("old", 0, 0, 1), rs("new", 1, 1, 2));
    assert_eq!(new_rs_new_replicas(&d, &[&old, &new], &new), 3);
    // max scaled down: all 4 pods, minAvailable 3, new has 1 unavailable -> 0
    let (old, new) = (rs("old", 3, 3, 1), rs("new", 1, 0, 2));
    assert_eq!(max_scaled_down(&d, &[&old, &new], &new), 0);
    let (old, new) = (rs("old", 3, 3, 1), rs("new", 1, 1, 2));
    assert_eq!(max_scaled_down(&d, &[&old, &new], &new), 1);
}

#[test]
fn pod_template_hash_shape_and_collisions() {
    let t = PodTemplateSpec::default();
    let h = compute_hash(&t, None);
    assert!(h.len() >= 6 && h.len() <= 10 && h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{h}");
    assert_eq!(h, compute_hash(&t, None));
    assert_ne!(h, compute_hash(&t, Some(1)));
    // '0' is 48: 48 % 27 = 21 -> '4'
    assert_eq!(safe_encode("0"), "4");
    assert_eq!(fnv32a(&[b""]), 0x811c_9dc5);
    assert_eq!(fnv32a(&[b"a"]), 0xe40c_292c);
    // equal ignoring the hash label
    let a = PodTemplateSpec {
        metadata: Some(ObjectMeta { labels: Some([("app".to_string(), "x".to_string())].into()), ..Default::default() }),
        spec: None,
    };
    let mut b = a.clone();
    b.metadata.as_mut().unwrap().labels.as_mut().unwrap().insert(POD_TEMPLATE_HASH.into(), "abc".into());
    assert!(equal_ignore_hash(&a, &b));
    b.metadata.as_mut().unwrap().labels.as_mut().unwrap().insert("app".into(), "y".into());
    assert!(!equal_ignore_hash(&a, &b));
}

#[test]
fn revision_annotations() {
    let mut d = deploy(3, "1", "0");
    d.metadata.annotations = Some([("team".to_string(), "a".to_string()), (LAST_APPLIED.to_string(), "{}".to_string())].into());
    let mut r = rs("web-x", 0, 0, 1);
    assert!(set_new_rs_annotations(&d, &mut r, 1, false));
    let anns = r.metadata.annotations.clone().unwrap();
    assert_eq!(anns[REVISION], "1");
    assert_eq!(anns["team"], "a");
    assert!(!anns.contains_key(LAST_APPLIED));
    assert_eq!((anns[DESIRED_REPLICAS].as_str(), anns[MAX_REPLICAS].as_str()), ("3", "4"));
    // rollback: revision 1 -> 3 records history "1"
    assert!(set_new_rs_annotations(&d, &mut r, 3, true));
    let anns = r.metadata.annotations.clone().unwrap();
    assert_eq!((anns[REVISION].as_str(), anns[REVISION_HISTORY].as_str()), ("3", "1"));
    // no change when the revision is already newer
    assert!(!set_new_rs_annotations(&d, &mut r, 2, true));
}

#[test]
fn proportional_scaling_table() {
    // upstream TestScale "proportional scaling: 5 -> 10 with 2 sets 4/1" style
    let mut d = deploy(10, "3", "2");
    let mut a = rs("a", 4, 4, 1);
    let mut b = rs("b", 1, 1, 2);
    for r in [&mut a, &mut b] {
        set_replicas_annotations(r, 5, 8);
    }
    d.status = Some(DeploymentStatus { replicas: Some(5), ..Default::default() });
    let sizes = proportional_sizes(&d, &[&a, &b]);
    let total: i32 = sizes.iter().map(|(_, s)| s).sum();
    assert_eq!(total, 13);
    assert_eq!(sizes.iter().find(|(n, _)| n == "a").unwrap().1, 11);
    assert_eq!(sizes.iter().find(|(n, _)| n == "b").unwrap().1, 2);
    // scale down to 0
    let d0 = deploy(0, "3", "2");
    let sizes = proportional_sizes(&d0, &[&a, &b]);
    assert!(sizes.iter().all(|(_, s)| *s == 0), "{sizes:?}");
}

#[test]
fn active_or_latest_and_saturation() {
    let (a, b) = (rs("a", 0, 0, 1), rs("b", 3, 3, 2));
    assert_eq!(find_active_or_latest(Some(&b), &[&a]).unwrap().metadata.name.as_deref(), Some("b"));
    let c = rs("c", 0, 0, 3);
    assert_eq!(find_active_or_latest(Some(&c), &[&a]).unwrap().metadata.name.as_deref(), Some("c"));
    let d2 = rs("d", 1, 1, 4);
    assert!(find_active_or_latest(Some(&b), &[&d2]).is_none());
    let d = deploy(3, "1", "0");
    let mut sat = rs("s", 3, 3, 1);
    assert!(!is_saturated(&d, Some(&sat)));
    set_replicas_annotations(&mut sat, 3, 4);
    assert!(is_saturated(&d, Some(&sat)));
}

#[test]
fn status_and_progress_conditions() {
    let now = Timestamp::from_second(10_000).unwrap();
    let mut d = deploy(3, "1", "0");
    d.spec.as_mut().unwrap().progress_deadline_seconds = Some(600);
    let old = rs("old", 1, 1, 1);
    let new = rs("new", 3, 2, 2);
    let mut s = calculate_status(&[&old, &new], Some(&new), &d, now);
    assert_eq!((s.replicas, s.updated_replicas, s.available_replicas, s.unavailable_replicas), (Some(4), Some(3), Some(3), Some(1)));
    assert_eq!(condition(&s, "Available").unwrap().reason.as_deref(), Some(MIN_AVAILABLE));
    update_progress(&d, &mut s, Some(&new), now);
    assert_eq!(condition(&s, "Progressing").unwrap().reason.as_deref(), Some(RS_UPDATED));
    assert!(!complete(&d, &s));
    // complete
    let done = rs("new", 3, 3, 2);
    let mut s = calculate_status(&[&done], Some(&done), &d, now);
    update_progress(&d, &mut s, Some(&done), now);
    let c = condition(&s, "Progressing").unwrap();
    assert_eq!(c.reason.as_deref(), Some(NEW_RS_AVAILABLE));
    assert_eq!(c.message.as_deref(), Some("ReplicaSet \"new\" has successfully progressed."));
    // timed out: no progress since the last update long ago
    let mut stuck = d.clone();
    let mut st = calculate_status(&[&new], Some(&new), &d, now);
    set_condition(
        &mut st,
        new_condition("Progressing", "True", RS_UPDATED, "x".into(), Timestamp::from_second(1000).unwrap()),
    );
    stuck.status = Some(st.clone());
    let mut s = calculate_status(&[&new], Some(&new), &stuck, now);
    update_progress(&stuck, &mut s, Some(&new), now);
    let c = condition(&s, "Progressing").unwrap();
    assert_eq!((c.status.as_str(), c.reason.as_deref()), ("False", Some(TIMED_OUT)));
    // requeue before the deadline
    let later = Timestamp::from_second(1100).unwrap();
    assert!(requeue_stuck(&stuck, &st, later).unwrap() > std::time::Duration::from_secs(400));
    // unavailable
    let low = rs("new", 3, 1, 2);
    let s = calculate_status(&[&low], Some(&low), &d, now);
    assert_eq!(condition(&s, "Available").unwrap().reason.as_deref(), Some(MIN_UNAVAILABLE));
}
