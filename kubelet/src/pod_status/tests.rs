#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use serde_json::{json, Value};

const T0: &str = "2026-01-01T00:00:00Z";

fn at(secs: u64) -> Timestamp {
    add(T0.parse().unwrap(), Duration::from_secs(secs))
}

fn ctx() -> Context {
    Context {
        accepted: at(0),
        start: at(0),
        placement: Placement { host_ip: "127.1.0.1".parse().unwrap(), pod_ip: Some("10.244.0.2".parse().unwrap()) },
        termination: Duration::from_secs(1),
    }
}

fn pod(v: Value) -> PodFacts {
    let mut base = json!({
        "metadata": {"namespace": "default", "name": "p", "uid": "u1"},
        "spec": {"nodeName": "sim-node-0", "containers": [{"name": "c", "image": "nginx"}]},
    });
    merge(&mut base, v);
    PodFacts::from_pod(&serde_json::from_value(base).unwrap(), Duration::from_secs(2)).unwrap()
}

fn merge(base: &mut Value, patch: Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                merge(b.entry(k).or_insert(Value::Null), v);
            }
        }
        (b, p) => *b = p,
    }
}

fn running(restarts: u32, ready: u16, terminated: u16) -> Stage {
    Stage::Running { restarts, ready, terminated }
}

/// What a plan did: (stage, writes a status?, deletes?, wake in seconds from T0).
type Want = (Stage, bool, bool, Option<u64>);

/// One step: the pod observed in `observed` at `now` → (stage, writes a
/// status?, deletes?, next wake in seconds from T0).
fn check(name: &str, facts: &PodFacts, observed: Stage, now: u64, want: Want) {
    let mut facts = facts.clone();
    facts.observed.stage = observed;
    let p = plan(&facts, &ctx(), at(now));
    let wake = p.wake_at.map(|w| since(at(0), w).as_secs());
    assert_eq!((p.stage, p.status.is_some(), p.delete, wake), want, "{name}");
}

#[test]
fn transitions() {
    let long = pod(json!({}));
    let job = pod(json!({"spec": {"restartPolicy": "Never"}}));
    let failing = pod(json!({"metadata": {"annotations": {"sim.ferrokube.io/exit-after": "3s", "sim.ferrokube.io/exit-code": "2"}},
                             "spec": {"restartPolicy": "Never"}}));
    let crashing = pod(json!({"metadata": {"annotations": {"sim.ferrokube.io/exit-after": "3s", "sim.ferrokube.io/exit-code": "1"}}}));
    let on_failure_ok = pod(json!({"spec": {"restartPolicy": "OnFailure"}}));
    let probed = pod(json!({"spec": {"containers": [{"name": "c", "image": "nginx", "readinessProbe": {"initialDelaySeconds": 5}}]}}));
    let two = pod(json!({"spec": {"restartPolicy": "Never", "containers": [
        {"name": "a", "image": "busybox", "command": ["sleep", "1"]},
        {"name": "b", "image": "busybox", "command": ["sh", "-c", "sleep 4; exit 1"]}]}}));
    let cases: Vec<(&str, &PodFacts, Stage, u64, Want)> = vec![
        ("long-running starts ready", &long, Stage::Pending, 0, (running(0, 1, 0), true, false, None)),
        ("already written: nothing", &long, running(0, 1, 0), 100, (running(0, 1, 0), false, false, None)),
        ("job pod runs", &job, Stage::Pending, 0, (running(0, 1, 0), true, false, Some(2))),
        ("job pod succeeds", &job, running(0, 1, 0), 2, (Stage::Succeeded, true, false, None)),
        ("seen late: straight to Succeeded", &job, Stage::Pending, 10, (Stage::Succeeded, true, false, None)),
        ("terminal: nothing", &job, Stage::Succeeded, 10, (Stage::Succeeded, false, false, None)),
        ("exit code 2 fails", &failing, running(0, 1, 0), 3, (Stage::Failed, true, false, None)),
        ("Always restarts", &crashing, running(0, 1, 0), 7, (running(2, 1, 0), true, false, Some(9))),
        ("OnFailure exit 0 succeeds", &on_failure_ok, running(0, 1, 0), 2, (Stage::Succeeded, true, false, None)),
        ("probe: running not ready", &probed, Stage::Pending, 1, (running(0, 0, 0), true, false, Some(5))),
        ("probe: ready after delay", &probed, running(0, 0, 0), 5, (running(0, 1, 0), true, false, None)),
        ("two containers: one done", &two, running(0, 2, 0), 1, (running(0, 1, 1), true, false, Some(4))),
        ("two containers: one failed", &two, running(0, 1, 1), 4, (Stage::Failed, true, false, None)),
    ];
    for (name, facts, observed, now, want) in cases {
        check(name, facts, observed, now, want);
    }
}

#[test]
fn not_started_yet_or_no_address() {
    let p = pod(json!({}));
    let mut c = ctx();
    c.start = at(5);
    let mut waiting = p.clone();
    waiting.observed.stage = Stage::Creating;
    let plan1 = plan(&waiting, &c, at(1));
    assert_eq!((plan1.status.is_some(), plan1.wake_at), (false, Some(at(5))));
    let mut c = ctx();
    c.placement.pod_ip = None;
    let plan2 = plan(&p, &c, at(1));
    assert_eq!((plan2.stage, plan2.status.is_some(), plan2.wake_at), (Stage::Pending, false, Some(at(1 + NO_ADDRESS_RETRY.as_secs()))));
    // host-network pods use the node's address
    let hn = pod(json!({"spec": {"hostNetwork": true}}));
    let s = plan(&hn, &c, at(1)).status.unwrap();
    assert_eq!(s.pod_ip.as_deref(), Some("127.1.0.1"));
}

#[test]
fn graceful_deletion() {
    // DELETE at T0+10 with 30 s grace: deletionTimestamp = T0+40.
    let deleting = json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:40Z", "deletionGracePeriodSeconds": 30}});
    let p = pod(deleting.clone());
    assert_eq!(p.deletion, Some(Deletion { requested_at: at(10), grace: Duration::from_secs(30) }));
    let cases: Vec<(&str, Stage, u64, Want)> = vec![
        ("waits for the termination time", running(0, 1, 0), 10, (running(0, 1, 0), false, false, Some(11))),
        ("then terminates and deletes", running(0, 1, 0), 11, (Stage::Succeeded, true, true, None)),
        ("never started: just deletes", Stage::Pending, 11, (Stage::Pending, false, true, None)),
    ];
    for (name, observed, now, want) in cases {
        check(name, &p, observed, now, want);
    }
    // a short grace period wins over the termination duration
    let quick = pod(json!({"metadata": {"deletionTimestamp": "2026-01-01T00:00:10Z", "deletionGracePeriodSeconds": 0}}));
    check("grace 0", &quick, running(0, 1, 0), 10, (Stage::Succeeded, true, true, None));
    let mut f = p.clone();
    f.observed.stage = running(0, 1, 0);
    let s = plan(&f, &ctx(), at(11)).status.unwrap();
    let c = &s.container_statuses.unwrap()[0];
    let t = c.state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref(), t.finished_at.clone()), (0, Some("Completed"), Some(Time(at(11)))));
}

#[test]
fn running_status_shape() {
    let p = pod(json!({"spec": {"initContainers": [
        {"name": "init", "image": "busybox"},
        {"name": "sidecar", "image": "envoy", "restartPolicy": "Always"}]}}));
    let s = plan(&p, &ctx(), at(3)).status.unwrap();
    let v = serde_json::to_value(&s).unwrap();
    assert_eq!(v["phase"], "Running");
    assert_eq!(v["podIP"], "10.244.0.2");
    assert_eq!(v["podIPs"], json!([{"ip": "10.244.0.2"}]));
    assert_eq!(v["hostIP"], "127.1.0.1");
    assert_eq!(v["startTime"], T0);
    let conds: Vec<(String, String)> = s
        .conditions
        .unwrap()
        .into_iter()
        .map(|c| (c.type_, c.status))
        .collect();
    let want = [("PodReadyToStartContainers", "True"), ("Initialized", "True"), ("Ready", "True"), ("ContainersReady", "True")];
    assert_eq!(conds, want.map(|(a, b)| (a.to_string(), b.to_string())));
    let c = &v["containerStatuses"][0];
    assert_eq!(c["name"], "c");
    assert_eq!(c["image"], "nginx");
    assert_eq!(c["ready"], true);
    assert_eq!(c["started"], true);
    assert_eq!(c["state"]["running"]["startedAt"], T0);
    assert!(c["containerID"].as_str().unwrap().starts_with("containerd://"));
    assert_eq!(v["initContainerStatuses"][0]["state"]["terminated"]["reason"], "Completed");
    assert_eq!(v["initContainerStatuses"][1]["state"]["running"]["startedAt"], T0);
    // the same inputs give the same status (writes are idempotent)
    assert_eq!(plan(&p, &ctx(), at(3)).status, plan(&p, &ctx(), at(4)).status);
}

#[test]
fn not_ready_and_terminal_conditions() {
    let probed = pod(json!({"spec": {"containers": [{"name": "c", "image": "nginx", "readinessProbe": {"initialDelaySeconds": 5}}]}}));
    let s = plan(&probed, &ctx(), at(1)).status.unwrap();
    let ready = s.conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.reason.as_deref(), Some("ContainersNotReady"));
    assert_eq!(ready.message.as_deref(), Some("containers with unready status: [c]"));

    let failing = pod(json!({"metadata": {"annotations": {"sim.ferrokube.io/exit-after": "3s", "sim.ferrokube.io/exit-code": "1"}},
                             "spec": {"restartPolicy": "Never"}}));
    let s = plan(&failing, &ctx(), at(5)).status.unwrap();
    assert_eq!(s.phase.as_deref(), Some("Failed"));
    let t = s.container_statuses.unwrap()[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref(), t.finished_at), (1, Some("Error"), Some(Time(at(3)))));
    let ready = s.conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!((ready.status.as_str(), ready.reason.as_deref()), ("False", Some("PodCompleted")));

    let crashing = pod(json!({"metadata": {"annotations": {"sim.ferrokube.io/exit-after": "3s"}}}));
    let s = plan(&crashing, &ctx(), at(7)).status.unwrap();
    let c = &s.container_statuses.unwrap()[0];
    assert_eq!(c.restart_count, 2);
    assert_eq!(c.state.as_ref().unwrap().running.as_ref().unwrap().started_at, Some(Time(at(6))));
    let last = c.last_state.as_ref().unwrap().terminated.as_ref().unwrap();
    assert_eq!((last.started_at.clone(), last.finished_at.clone()), (Some(Time(at(3))), Some(Time(at(6)))));
}

#[test]
fn observing_statuses() {
    let cases: Vec<(Value, Stage)> = vec![
        (json!(null), Stage::Pending),
        (json!({"phase": "Pending"}), Stage::Pending),
        (json!({"phase": "Succeeded"}), Stage::Succeeded),
        (json!({"phase": "Failed"}), Stage::Failed),
        (
            json!({"phase": "Running", "containerStatuses": [
                {"name": "a", "image": "x", "imageID": "", "ready": true, "restartCount": 2, "state": {"running": {}}},
                {"name": "b", "image": "x", "imageID": "", "ready": false, "restartCount": 1, "state": {"terminated": {"exitCode": 0}}}]}),
            running(3, 1, 1),
        ),
    ];
    for (status, want) in cases {
        let s: Option<PodStatus> = serde_json::from_value(status.clone()).unwrap();
        assert_eq!(observe(s.as_ref()).stage, want, "{status}");
    }
    let s: PodStatus = serde_json::from_value(json!({"phase": "Running", "podIP": "10.244.0.9", "startTime": T0})).unwrap();
    let o = observe(Some(&s));
    assert_eq!((o.pod_ip, o.start_time), (Some("10.244.0.9".parse().unwrap()), Some(at(0))));
}

#[test]
fn unbound_pods_have_no_facts() {
    let p: Pod = serde_json::from_value(json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "x"}]}})).unwrap();
    assert_eq!(PodFacts::from_pod(&p, Duration::from_secs(2)), None);
}

#[test]
fn startup_delay_shows_container_creating() {
    let p = pod(json!({}));
    let mut c = ctx();
    c.start = at(3);
    let first = plan(&p, &c, at(1));
    assert_eq!((first.stage, first.wake_at), (Stage::Creating, Some(at(3))));
    let s = first.status.unwrap();
    assert_eq!(s.phase.as_deref(), Some("Pending"));
    assert_eq!(s.pod_ip, None);
    assert_eq!(s.host_ip.as_deref(), Some("127.1.0.1"));
    assert_eq!(s.start_time, Some(Time(at(0))));
    let waiting = s.container_statuses.clone().unwrap()[0].state.clone().unwrap().waiting.unwrap();
    assert_eq!(waiting.reason.as_deref(), Some("ContainerCreating"));
    assert_eq!(observe(Some(&s)).stage, Stage::Creating);
    // then Running, startTime still when the node acknowledged the pod
    let mut f = p.clone();
    f.observed = observe(Some(&s));
    let running = plan(&f, &c, at(3)).status.unwrap();
    assert_eq!(running.phase.as_deref(), Some("Running"));
    assert_eq!(running.start_time, Some(Time(at(0))));
    let started = running.container_statuses.unwrap()[0].state.clone().unwrap().running.unwrap().started_at;
    assert_eq!(started, Some(Time(at(3))));
}
