#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End to end on simulated nodes: the real apiserver, scheduler,
//! controller-manager and node simulator, driven by the real kubectl as a
//! user would drive upstream Kubernetes.

use std::time::Duration;

use cluster_harness::Cluster;

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

fn seed(name: &str) -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../apiserver/tests/fixtures/seeds").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

async fn cluster_with_nodes(nodes: usize) -> (Cluster, Vec<cluster_harness::Process>) {
    let cluster = Cluster::start().await;
    let components = cluster.spawn_components(nodes);
    until(&cluster, Duration::from_secs(60), &["get", "nodes", "--no-headers"], |t| t.lines().filter(|l| l.contains(" Ready")).count() == nodes);
    (cluster, components)
}

#[tokio::test(flavor = "multi_thread")]
async fn deployment_rollouts_with_kubectl() {
    let (c, _components) = cluster_with_nodes(3).await;
    ok(&c, &["create", "deployment", "web", "--image=nginx:1.25", "--replicas=3"]);
    let out = ok(&c, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    assert!(out.contains("successfully rolled out"), "{out}");
    let pods = ok(&c, &["get", "pods", "-l", "app=web", "-o", "wide", "--no-headers"]);
    assert_eq!(pods.lines().filter(|l| l.contains("Running") && l.contains("1/1")).count(), 3, "{pods}");
    assert!(pods.lines().all(|l| l.contains("sim-node-")), "every pod is bound to a simulated node: {pods}");

    ok(&c, &["set", "image", "deployment/web", "nginx=nginx:1.26"]);
    ok(&c, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    let history = ok(&c, &["rollout", "history", "deployment/web"]);
    assert!(history.lines().any(|l| l.trim_start().starts_with('1')) && history.lines().any(|l| l.trim_start().starts_with('2')), "{history}");
    let rs = ok(&c, &["get", "rs", "-l", "app=web", "--no-headers"]);
    assert_eq!(rs.lines().count(), 2, "{rs}");

    ok(&c, &["rollout", "undo", "deployment/web", "--to-revision=1"]);
    ok(&c, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    let image = ok(&c, &["get", "deployment", "web", "-o", "jsonpath={.spec.template.spec.containers[0].image}"]);
    assert_eq!(image, "nginx:1.25");
    let revision = ok(&c, &["get", "deployment", "web", "-o", "jsonpath={.metadata.annotations.deployment\\.kubernetes\\.io/revision}"]);
    assert_eq!(revision, "3");

    ok(&c, &["scale", "deployment/web", "--replicas=5"]);
    ok(&c, &["rollout", "status", "deployment/web", "--timeout=90s"]);
    until(&c, Duration::from_secs(30), &["get", "deployment", "web", "-o", "jsonpath={.status.readyReplicas}"], |t| t == "5");

    ok(&c, &["rollout", "restart", "deployment/web"]);
    ok(&c, &["rollout", "status", "deployment/web", "--timeout=120s"]);

    ok(&c, &["rollout", "pause", "deployment/web"]);
    ok(&c, &["set", "image", "deployment/web", "nginx=nginx:1.27"]);
    std::thread::sleep(Duration::from_secs(2));
    let rs_before = ok(&c, &["get", "rs", "-l", "app=web", "--no-headers"]).lines().count();
    ok(&c, &["rollout", "resume", "deployment/web"]);
    ok(&c, &["rollout", "status", "deployment/web", "--timeout=120s"]);
    let rs_after = ok(&c, &["get", "rs", "-l", "app=web", "--no-headers"]).lines().count();
    assert_eq!(rs_after, rs_before + 1, "a paused deployment creates no ReplicaSet until resumed");

    // Cascading delete: the garbage collector removes the ReplicaSets and pods.
    ok(&c, &["delete", "deployment", "web"]);
    until(&c, Duration::from_secs(60), &["get", "pods,rs", "-l", "app=web", "--no-headers"], |t| t.trim().is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn seed_workloads_reconcile() {
    let (c, _components) = cluster_with_nodes(3).await;
    apply(&c, &seed("workloads.yaml"));
    // DaemonSet: one pod per node.
    until(&c, Duration::from_secs(60), &["get", "ds", "nginx-daemonset", "-o", "jsonpath={.status.numberReady}"], |t| t == "3");
    let ds_pods = ok(&c, &["get", "pods", "-l", "app=nginx-ds", "-o", "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}"]);
    let mut nodes: Vec<&str> = ds_pods.lines().collect();
    nodes.sort_unstable();
    nodes.dedup();
    assert_eq!(nodes.len(), 3, "{ds_pods}");
    // Job: completes.
    ok(&c, &["wait", "--for=condition=complete", "job/pi", "--timeout=90s"]);
    let succeeded = ok(&c, &["get", "job", "pi", "-o", "jsonpath={.status.succeeded}"]);
    assert_eq!(succeeded, "1");
    // StatefulSet with its headless Service: ordered, stable names.
    apply(
        &c,
        r#"
apiVersion: v1
kind: Service
metadata: {name: db}
spec: {clusterIP: None, selector: {app: db}, ports: [{port: 5432}]}
---
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: db}
spec:
  serviceName: db
  replicas: 2
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec: {containers: [{name: pg, image: postgres:16}]}
"#,
    );
    ok(&c, &["rollout", "status", "statefulset/db", "--timeout=90s"]);
    let pods = ok(&c, &["get", "pods", "-l", "app=db", "-o", "jsonpath={range .items[*]}{.metadata.name}/{.spec.hostname}.{.spec.subdomain}{\"\\n\"}{end}"]);
    assert_eq!(pods.lines().collect::<Vec<_>>(), vec!["db-0/db-0.db", "db-1/db-1.db"]);
    // Endpoints of the headless Service list both pods.
    until(&c, Duration::from_secs(30), &["get", "endpoints", "db", "-o", "jsonpath={.subsets[0].addresses[*].hostname}"], |t| t == "db-0 db-1" || t == "db-1 db-0");
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduling_taints_cordon_drain_and_failures() {
    let (c, _components) = cluster_with_nodes(3).await;
    ok(&c, &["taint", "node", "sim-node-0", "dedicated=infra:NoSchedule"]);
    ok(&c, &["create", "deployment", "app", "--image=nginx", "--replicas=4"]);
    ok(&c, &["rollout", "status", "deployment/app", "--timeout=90s"]);
    let placed = ok(&c, &["get", "pods", "-l", "app=app", "-o", "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}"]);
    assert!(!placed.contains("sim-node-0"), "no pod on the tainted node: {placed}");

    // Cordon and drain: the pods move off the drained node.
    ok(&c, &["cordon", "sim-node-1"]);
    let out = ok(&c, &["drain", "sim-node-1", "--ignore-daemonsets", "--delete-emptydir-data", "--timeout=90s"]);
    assert!(out.contains("drained"), "{out}");
    ok(&c, &["rollout", "status", "deployment/app", "--timeout=90s"]);
    let placed = ok(&c, &["get", "pods", "-l", "app=app", "--field-selector=status.phase=Running", "-o", "jsonpath={range .items[*]}{.spec.nodeName}{\"\\n\"}{end}"]);
    assert!(placed.lines().all(|n| n == "sim-node-2"), "{placed}");

    // An unschedulable pod gets upstream's FailedScheduling message.
    ok(&c, &["run", "huge", "--image=nginx", "--overrides", r#"{"spec":{"containers":[{"name":"huge","image":"nginx","resources":{"requests":{"cpu":"100"}}}]}}"#]);
    let events = until(&c, Duration::from_secs(30), &["get", "events", "--field-selector=involvedObject.name=huge,reason=FailedScheduling", "-o", "jsonpath={.items[*].message}"], |t| !t.is_empty());
    assert!(events.contains("0/3 nodes are available:"), "{events}");
    assert!(events.contains("Insufficient cpu"), "{events}");
    assert!(events.contains("node(s) were unschedulable") || events.contains("untolerated taint"), "{events}");

    // A failing Job stops at its backoffLimit.
    apply(
        &c,
        r#"
apiVersion: batch/v1
kind: Job
metadata: {name: fails}
spec:
  backoffLimit: 1
  template:
    metadata: {annotations: {sim.ferrokube.io/exit-after: 1s, sim.ferrokube.io/exit-code: "1"}}
    spec: {restartPolicy: Never, containers: [{name: c, image: busybox, command: [sh, -c, "exit 1"]}]}
"#,
    );
    ok(&c, &["wait", "--for=condition=failed", "job/fails", "--timeout=120s"]);
    let reason = ok(&c, &["get", "job", "fails", "-o", "jsonpath={.status.conditions[?(@.type==\"Failed\")].reason}"]);
    assert_eq!(reason, "BackoffLimitExceeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn deletes_cascade_orphan_and_empty_namespaces() {
    let (c, _components) = cluster_with_nodes(2).await;
    ok(&c, &["create", "namespace", "scratch"]);
    ok(&c, &["create", "deployment", "kept", "--image=nginx", "--replicas=2", "-n", "scratch"]);
    ok(&c, &["rollout", "status", "deployment/kept", "-n", "scratch", "--timeout=90s"]);
    // Orphan: the ReplicaSet and pods stay.
    ok(&c, &["delete", "deployment", "kept", "-n", "scratch", "--cascade=orphan"]);
    std::thread::sleep(Duration::from_secs(3));
    let rs = ok(&c, &["get", "rs", "-n", "scratch", "-l", "app=kept", "--no-headers"]);
    assert_eq!(rs.lines().count(), 1, "{rs}");
    // Foreground: the owner goes last.
    let rs_name = ok(&c, &["get", "rs", "-n", "scratch", "-l", "app=kept", "-o", "jsonpath={.items[0].metadata.name}"]);
    ok(&c, &["delete", "rs", &rs_name, "-n", "scratch", "--cascade=foreground", "--timeout=60s"]);
    let pods = ok(&c, &["get", "pods", "-n", "scratch", "-l", "app=kept", "--no-headers"]);
    assert!(pods.trim().is_empty(), "{pods}");
    // Namespace deletion empties it, then removes it.
    ok(&c, &["create", "deployment", "gone", "--image=nginx", "-n", "scratch"]);
    ok(&c, &["create", "configmap", "cfg", "--from-literal=k=v", "-n", "scratch"]);
    ok(&c, &["delete", "namespace", "scratch", "--timeout=90s"]);
    let out = c.kubectl(&["get", "namespace", "scratch"]);
    assert!(!out.status.success());
}
