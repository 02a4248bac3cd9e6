#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Resilience end to end (issue #4): leader failover of the scheduler and
//! the controller-manager, a node that stops heartbeating, and a CronJob
//! firing every minute, against the real binaries and the real kubectl.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_harness::{Cluster, Process};
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

/// kubectl that must succeed; returns stdout.
fn ok(cluster: &Cluster, args: &[&str]) -> String {
    cluster.kubectl_ok(args)
}

/// Polls `kubectl args` until its stdout satisfies `check`.
fn until(cluster: &Cluster, timeout: Duration, args: &[&str], check: impl Fn(&str) -> bool) -> String {
    cluster.kubectl_until(timeout, args, check)
}

fn apply(cluster: &Cluster, yaml: &str) -> String {
    cluster.kubectl_apply(yaml)
}

fn path(p: std::path::PathBuf) -> String {
    p.display().to_string()
}

/// Controller-manager flags common to every test (CSR signing, root CA,
/// node IPAM), as `Cluster::spawn_components` passes them.
fn controller_manager_args(cluster: &Cluster) -> Vec<String> {
    let pki = cluster.pki_dir();
    let ca_crt = path(pki.join("ca.crt"));
    let ca_key = path(pki.join("ca.key"));
    [
        "--kubeconfig", &path(cluster.kubeconfig("controller-manager")),
        "--cluster-signing-cert-file", &ca_crt, "--cluster-signing-key-file", &ca_key, "--root-ca-file", &ca_crt,
        "--cluster-cidr", "10.244.0.0/16", "--allocate-node-cidrs",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

fn spawn(cluster: &Cluster, binary: &str, base: &[String], extra: &[&str]) -> Process {
    let args: Vec<&str> = base.iter().map(String::as_str).chain(extra.iter().copied()).collect();
    cluster.spawn(binary, &args)
}

fn ready_nodes(cluster: &Cluster, n: usize) {
    until(cluster, Duration::from_secs(60), &["get", "nodes", "--no-headers"], |t| t.lines().filter(|l| l.contains(" Ready")).count() == n);
}

/// The pid inside a leader-election identity (`<host>_<pid:08x><nanos:08x>`,
/// `component::leader::default_identity`).
fn identity_pid(identity: &str) -> Option<u32> {
    let suffix = identity.rsplit('_').next()?;
    u32::from_str_radix(suffix.get(..8)?, 16).ok()
}

async fn lease_holder(leases: &Api<Lease>, name: &str) -> Option<String> {
    let lease = leases.get_opt(name).await.ok()??;
    lease.spec?.holder_identity.filter(|h| !h.is_empty())
}

/// Upstream's default `maxSurge` (25 %, rounded up).
fn max_surge(replicas: i32) -> i32 {
    (replicas + 3) / 4
}

/// Watches (by polling every 100 ms) that no ReplicaSet ever has more live
/// pods than its `spec.replicas` and no Deployment more than its desired
/// count plus maxSurge; records every violation.
fn watch_pod_counts(client: kube::Client, desired: Arc<Mutex<BTreeMap<String, i32>>>) -> (Arc<Mutex<Vec<String>>>, tokio::task::JoinHandle<()>) {
    let violations = Arc::new(Mutex::new(Vec::new()));
    let found = violations.clone();
    let task = tokio::spawn(async move {
        let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
        let sets: Api<ReplicaSet> = Api::namespaced(client, "default");
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let Ok(pod_list) = pods.list(&ListParams::default()).await else { continue };
            // Listed after the pods: replicas only grow in this test, so
            // these are at least the counts the pods were made for.
            let Ok(set_list) = sets.list(&ListParams::default()).await else { continue };
            let live: Vec<&Pod> = pod_list.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).collect();
            let mut by_owner: BTreeMap<String, i32> = BTreeMap::new();
            let mut by_app: BTreeMap<String, i32> = BTreeMap::new();
            for pod in &live {
                if let Some(owner) = pod.metadata.owner_references.iter().flatten().find(|o| o.controller == Some(true)) {
                    *by_owner.entry(owner.uid.clone()).or_default() += 1;
                }
                if let Some(app) = pod.metadata.labels.as_ref().and_then(|l| l.get("app")) {
                    *by_app.entry(app.clone()).or_default() += 1;
                }
            }
            let mut seen = Vec::new();
            for rs in &set_list.items {
                let uid = rs.metadata.uid.clone().unwrap_or_default();
                let want = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
                let have = by_owner.get(&uid).copied().unwrap_or(0);
                if have > want {
                    seen.push(format!("ReplicaSet {} had {have} live pods for {want} replicas", rs.metadata.name.clone().unwrap_or_default()));
                }
            }
            for (app, want) in desired.lock().unwrap().iter() {
                let have = by_app.get(app).copied().unwrap_or(0);
                if have > want + max_surge(*want) {
                    seen.push(format!("Deployment {app} had {have} live pods for {want} replicas"));
                }
            }
            found.lock().unwrap().extend(seen);
        }
    });
    (violations, task)
}

/// Failover: with two replicas each of the scheduler and the
/// controller-manager, killing both leaders hands the leases to the standbys
/// within a lease duration, and the workloads go on without duplicate pods.
#[tokio::test(flavor = "multi_thread")]
async fn leaders_fail_over_without_duplicate_pods() {
    let c = Cluster::start().await;
    let cm_args = controller_manager_args(&c);
    let sched_args: Vec<String> = ["--kubeconfig", &path(c.kubeconfig("scheduler"))].iter().map(|s| s.to_string()).collect();
    let mut managers: Vec<Process> = (0..2).map(|_| spawn(&c, "controller-manager", &cm_args, &["--leader-elect=true"])).collect();
    let mut schedulers: Vec<Process> = (0..2).map(|_| spawn(&c, "scheduler", &sched_args, &["--leader-elect=true"])).collect();
    let _sim = c.spawn("node-simulator", &["--kubeconfig", &path(c.kubeconfig("node-simulator")), "--nodes", "3"]);
    ready_nodes(&c, 3);

    let client = c.admin_client().await;
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-system");
    let desired = Arc::new(Mutex::new(BTreeMap::from([("web".to_string(), 3)])));
    let (violations, monitor) = watch_pod_counts(client.clone(), desired.clone());

    ok(&c, &["create", "deployment", "web", "--image=nginx", "--replicas=3"]);
    ok(&c, &["rollout", "status", "deployment/web", "--timeout=90s"]);

    // Each lease is held by one of our replicas; the other waits.
    let mut leaders = Vec::new();
    for (lease, procs) in [("kube-scheduler", &schedulers), ("kube-controller-manager", &managers)] {
        let holder = cluster_harness::eventually(Duration::from_secs(30), &format!("a holder of {lease}"), || {
            let leases = leases.clone();
            async move { lease_holder(&leases, lease).await }
        })
        .await;
        let pid = identity_pid(&holder).unwrap_or_else(|| panic!("no pid in identity {holder:?}"));
        let index = procs.iter().position(|p| p.pid() == pid).unwrap_or_else(|| panic!("{lease} holder {holder} is none of our replicas"));
        let standby = &procs[1 - index];
        cluster_harness::eventually(Duration::from_secs(30), &format!("the {lease} standby to wait for the lease"), || {
            let waiting = standby.log().contains("waiting to acquire the lease");
            async move { waiting.then_some(()) }
        })
        .await;
        leaders.push((lease, holder, index));
    }

    // SIGKILL both leaders at once, then time each takeover.
    let killed = Instant::now();
    schedulers[leaders[0].2].kill();
    managers[leaders[1].2].kill();
    let mut takeover: BTreeMap<&str, Duration> = BTreeMap::new();
    while takeover.len() < leaders.len() {
        for (lease, old, _) in &leaders {
            if takeover.contains_key(lease) {
                continue;
            }
            if let Some(holder) = lease_holder(&leases, lease).await {
                if &holder != old {
                    takeover.insert(lease, killed.elapsed());
                }
            }
        }
        assert!(killed.elapsed() < Duration::from_secs(40), "no takeover within 40 s: {takeover:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    println!("takeover after SIGKILL of the leader: {takeover:?}");
    for (lease, elapsed) in &takeover {
        assert!(*elapsed <= Duration::from_secs(17), "{lease}: the standby took {elapsed:?} to take over (lease 15 s + 2 s tolerance)");
    }

    // The new leaders work: scale up and a new Deployment.
    desired.lock().unwrap().insert("web".into(), 6);
    desired.lock().unwrap().insert("api".into(), 2);
    ok(&c, &["scale", "deployment/web", "--replicas=6"]);
    ok(&c, &["create", "deployment", "api", "--image=nginx", "--replicas=2"]);
    ok(&c, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    ok(&c, &["rollout", "status", "deployment/api", "--timeout=90s"]);
    std::thread::sleep(Duration::from_secs(2));
    monitor.abort();

    let violations = violations.lock().unwrap().clone();
    assert!(violations.is_empty(), "pod counts went above desired: {violations:#?}");
    // Exactly the replicas at the end: one ReplicaSet each, no duplicates.
    for (app, want) in [("web", 6), ("api", 2)] {
        let rs = ok(&c, &["get", "rs", "-l", &format!("app={app}"), "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.replicas}{\"\\n\"}{end}"]);
        assert_eq!(rs.lines().count(), 1, "{rs}");
        let pods = ok(&c, &["get", "pods", "-l", &format!("app={app}"), "-o", "jsonpath={range .items[*]}{.metadata.name} {.metadata.deletionTimestamp}{\"\\n\"}{end}"]);
        assert_eq!(pods.lines().count(), want as usize, "{app}: {pods}");
        assert_eq!(rs.split_whitespace().nth(1), Some(want.to_string().as_str()), "{rs}");
    }
    // A split brain would show as surplus pods deleted by a ReplicaSet.
    let deleted = ok(&c, &["get", "events", "--field-selector=reason=SuccessfulDelete", "--no-headers"]);
    assert!(deleted.trim().is_empty(), "pods deleted as surplus: {deleted}");
}

/// NoExecute tolerations of 5 s for both node-condition taints (without
/// them DefaultTolerationSeconds admission gives every pod 300 s).
const SHORT_TOLERATIONS: &str = r#"
      - {key: node.kubernetes.io/unreachable, operator: Exists, effect: NoExecute, tolerationSeconds: 5}
      - {key: node.kubernetes.io/not-ready, operator: Exists, effect: NoExecute, tolerationSeconds: 5}"#;

/// A node whose simulator dies goes Unknown, is tainted unreachable, its
/// pods are evicted after their tolerationSeconds and replaced elsewhere.
#[tokio::test(flavor = "multi_thread")]
async fn dead_node_is_tainted_and_its_pods_evicted() {
    let c = Cluster::start().await;
    let cm_args = controller_manager_args(&c);
    let _cm = spawn(&c, "controller-manager", &cm_args, &["--leader-elect=false", "--node-monitor-grace-period=5s"]);
    let _sched = c.spawn("scheduler", &["--kubeconfig", &path(c.kubeconfig("scheduler")), "--leader-elect=false"]);
    let sim = path(c.kubeconfig("node-simulator"));
    let _stay = c.spawn("node-simulator", &["--kubeconfig", &sim, "--nodes", "2", "--node-name-prefix", "stay-", "--heartbeat-interval", "1s"]);
    let mut dies = c.spawn(
        "node-simulator",
        &["--kubeconfig", &sim, "--nodes", "1", "--node-name-prefix", "dies-", "--heartbeat-interval", "1s", "--node-ip-base", "127.2.0.0/16", "--pod-cidr-base", "10.245.0.0/16"],
    );
    ready_nodes(&c, 3);

    apply(
        &c,
        &format!(
            r#"
apiVersion: v1
kind: Pod
metadata: {{name: pinned}}
spec:
  nodeName: dies-0
  tolerations:{SHORT_TOLERATIONS}
  containers: [{{name: c, image: nginx}}]
---
apiVersion: apps/v1
kind: Deployment
metadata: {{name: app}}
spec:
  replicas: 6
  selector: {{matchLabels: {{app: app}}}}
  template:
    metadata: {{labels: {{app: app}}}}
    spec:
      topologySpreadConstraints:
      - {{maxSkew: 1, topologyKey: kubernetes.io/hostname, whenUnsatisfiable: ScheduleAnyway, labelSelector: {{matchLabels: {{app: app}}}}}}
      tolerations:{SHORT_TOLERATIONS}
      containers: [{{name: c, image: nginx}}]
"#
        ),
    );
    ok(&c, &["rollout", "status", "deployment/app", "--timeout=90s"]);
    until(&c, Duration::from_secs(30), &["get", "pod", "pinned", "-o", "jsonpath={.status.phase}"], |t| t == "Running");
    let on_dead: Vec<String> = ok(&c, &["get", "pods", "-l", "app=app", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName}{\"\\n\"}{end}"])
        .lines()
        .filter(|l| l.ends_with(" dies-0"))
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    assert!(!on_dead.is_empty(), "the spread puts some of the Deployment's pods on dies-0");

    dies.kill();
    let killed = Instant::now();
    until(&c, Duration::from_secs(30), &["get", "node", "dies-0", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status}"], |t| t == "Unknown");
    println!("dies-0 Ready=Unknown after {:?}", killed.elapsed());
    let taint_added = until(
        &c,
        Duration::from_secs(30),
        &["get", "node", "dies-0", "-o", "jsonpath={.spec.taints[?(@.effect==\"NoExecute\")].key} {.spec.taints[?(@.effect==\"NoExecute\")].timeAdded}"],
        |t| t.starts_with("node.kubernetes.io/unreachable "),
    );
    println!("dies-0 tainted unreachable:NoExecute after {:?}", killed.elapsed());
    let taint_added = taint_added.split_whitespace().nth(1).unwrap().parse::<k8s_openapi::jiff::Timestamp>().unwrap();
    // The surviving nodes stay Ready.
    let stay = ok(&c, &["get", "nodes", "--no-headers"]);
    assert_eq!(stay.lines().filter(|l| l.starts_with("stay-") && l.contains(" Ready ")).count(), 2, "{stay}");

    // The pinned pod is evicted once its 5 s toleration has run out.
    let evicted = until(
        &c,
        Duration::from_secs(30),
        &["get", "pod", "pinned", "-o", "jsonpath={.metadata.deletionTimestamp} {.status.conditions[?(@.type==\"DisruptionTarget\")].reason} {.status.conditions[?(@.type==\"DisruptionTarget\")].lastTransitionTime}"],
        |t| t.split_whitespace().count() == 3,
    );
    println!("pinned pod evicted after {:?}: {evicted}", killed.elapsed());
    let fields: Vec<&str> = evicted.split_whitespace().collect();
    assert_eq!(fields[1], "DeletionByTaintManager", "{evicted}");
    let evicted_at = fields[2].parse::<k8s_openapi::jiff::Timestamp>().unwrap();
    let waited = evicted_at.duration_since(taint_added);
    assert!(waited >= k8s_openapi::jiff::SignedDuration::from_secs(4), "evicted {waited:?} after the taint, before its 5 s toleration ran out");

    // The Deployment's pods from dies-0 are evicted too and replaced on the
    // surviving nodes.
    for pod in &on_dead {
        until(&c, Duration::from_secs(30), &["get", "pod", pod, "-o", "jsonpath={.metadata.deletionTimestamp}", "--ignore-not-found"], |t| !t.is_empty());
    }
    let live = until(
        &c,
        Duration::from_secs(60),
        &["get", "pods", "-l", "app=app", "-o", "jsonpath={range .items[*]}{.metadata.name} {.spec.nodeName} {.status.phase} {.metadata.deletionTimestamp}{\"\\n\"}{end}"],
        |t| t.lines().filter(|l| l.split_whitespace().count() == 3 && l.contains(" stay-") && l.trim_end().ends_with(" Running")).count() == 6,
    );
    println!("replaced after {:?}:\n{live}", killed.elapsed());
    until(&c, Duration::from_secs(30), &["get", "deployment", "app", "-o", "jsonpath={.status.readyReplicas}"], |t| t == "6");
}

/// A CronJob every minute: Jobs named `<cronjob>-<minutes since epoch>`,
/// successful history pruned to its limit, LAST SCHEDULE shown.
#[tokio::test(flavor = "multi_thread")]
async fn cronjob_every_minute_prunes_history() {
    let c = Cluster::start().await;
    let _components = c.spawn_components(1);
    ready_nodes(&c, 1);
    let started = k8s_openapi::jiff::Timestamp::now();
    apply(
        &c,
        r#"
apiVersion: batch/v1
kind: CronJob
metadata: {name: tick}
spec:
  schedule: "*/1 * * * *"
  successfulJobsHistoryLimit: 1
  failedJobsHistoryLimit: 1
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          containers: [{name: c, image: busybox, command: [sh, -c, "true"]}]
"#,
    );
    // Every Job the CronJob creates, as seen while polling.
    let mut seen: BTreeSet<String> = BTreeSet::new();
    let jobs_of = |c: &Cluster| -> Vec<(String, String)> {
        ok(c, &["get", "jobs", "-o", "jsonpath={range .items[?(@.metadata.ownerReferences[0].name==\"tick\")]}{.metadata.name} {.status.succeeded}{\"\\n\"}{end}"])
            .lines()
            .map(|l| {
                let mut f = l.split_whitespace();
                (f.next().unwrap_or("").to_string(), f.next().unwrap_or("").to_string())
            })
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(180);
    loop {
        let jobs = jobs_of(&c);
        seen.extend(jobs.iter().map(|(n, _)| n.clone()));
        // Two Jobs so far, the latest done and the older one pruned.
        if seen.len() >= 2 && jobs.len() == 1 && jobs[0].1 == "1" && Some(&jobs[0].0) == seen.iter().max() {
            break;
        }
        assert!(Instant::now() < deadline, "the CronJob did not run twice and prune: seen {seen:?}, now {jobs:?}");
        std::thread::sleep(Duration::from_secs(1));
    }
    println!("jobs seen: {seen:?}");

    // Names are `tick-<scheduled time in minutes since the epoch>`, one a minute.
    let minutes: Vec<i64> = seen.iter().map(|n| n.strip_prefix("tick-").unwrap_or_else(|| panic!("{n}")).parse().unwrap()).collect();
    for pair in minutes.windows(2) {
        assert_eq!(pair[1] - pair[0], 1, "{seen:?}");
    }
    let first = minutes[0] * 60;
    assert!(first >= started.as_second() - 60 && first <= started.as_second() + 60, "first run at {first}, created at {started}");

    // Status and kubectl's LAST SCHEDULE.
    let latest = *minutes.last().unwrap();
    let last = ok(&c, &["get", "cronjob", "tick", "-o", "jsonpath={.status.lastScheduleTime} {.status.lastSuccessfulTime}"]);
    let mut fields = last.split_whitespace();
    let scheduled = fields.next().unwrap_or("").parse::<k8s_openapi::jiff::Timestamp>().unwrap();
    assert!(scheduled.as_second() >= latest * 60, "lastScheduleTime {scheduled} before the latest Job's {latest}");
    assert!(fields.next().is_some(), "lastSuccessfulTime is set: {last}");
    let table = ok(&c, &["get", "cronjob", "tick"]);
    let header = table.lines().next().unwrap();
    let row = table.lines().nth(1).unwrap();
    assert!(row.starts_with("tick ") && row.contains("*/1 * * * *"), "{table}");
    let column = header.find("LAST SCHEDULE").unwrap_or_else(|| panic!("no LAST SCHEDULE column: {table}"));
    let shown = row.get(column..).and_then(|r| r.split_whitespace().next()).unwrap_or("");
    assert!(!shown.is_empty() && shown != "<none>", "LAST SCHEDULE is shown: {table}");
    // Successful history is pruned to its limit of 1.
    let jobs = jobs_of(&c);
    assert!(jobs.len() <= 2 && jobs.iter().filter(|(_, s)| s == "1").count() <= 1, "{jobs:?}");
}
