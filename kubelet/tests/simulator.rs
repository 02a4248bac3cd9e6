//! The node simulator against a real API server (cluster-harness).
//! Needs the binaries: `cargo build -p apiserver -p kubelet`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cluster_harness::{eventually, Cluster};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

fn is_ready_node(n: &Node) -> bool {
    n.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == "Ready" && c.status == "True")
}

fn pod_ready(p: &Pod) -> bool {
    p.status.iter().flat_map(|s| s.conditions.iter().flatten()).any(|c| c.type_ == "Ready" && c.status == "True")
}

fn phase(p: &Pod) -> String {
    p.status.as_ref().and_then(|s| s.phase.clone()).unwrap_or_default()
}

async fn create(pods: &Api<Pod>, v: serde_json::Value) -> Pod {
    pods.create(&PostParams::default(), &serde_json::from_value(v).unwrap()).await.unwrap()
}

fn pod_json(name: &str, node: &str, extra_spec: serde_json::Value, annotations: serde_json::Value) -> serde_json::Value {
    let mut spec = json!({"nodeName": node, "containers": [{"name": "c", "image": "nginx"}]});
    if let (Some(s), Some(e)) = (spec.as_object_mut(), extra_spec.as_object()) {
        s.extend(e.clone());
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "annotations": annotations}, "spec": spec})
}

async fn wait_pod(pods: &Api<Pod>, name: &str, what: &str, check: impl Fn(&Pod) -> bool) -> Pod {
    eventually(WAIT, what, || async {
        let p = pods.get_opt(name).await.ok().flatten()?;
        check(&p).then_some(p)
    })
    .await
}

#[tokio::test]
async fn simulated_nodes_and_pods() {
    let cluster = Cluster::start().await;
    let client = cluster.admin_client().await;
    let kubeconfig = cluster.kubeconfig("node-simulator");
    let mut sim = cluster.spawn(
        "node-simulator",
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--nodes",
            "3",
            "--heartbeat-interval",
            "1s",
            "--node-status-update",
            "5s",
            "--job-pod-duration",
            "1s",
            "--labels",
            "ferrokube.io/pool=sim",
            "--taints",
            "sim.ferrokube.io/fake=true:PreferNoSchedule",
        ],
    );

    // Three nodes, registered Ready with the labels and taints asked for.
    let nodes: Api<Node> = Api::all(client.clone());
    let ready = eventually(WAIT, "3 Ready nodes", || async {
        let list = nodes.list(&ListParams::default()).await.ok()?;
        let ready: Vec<Node> = list.items.into_iter().filter(is_ready_node).collect();
        (ready.len() == 3).then_some(ready)
    })
    .await;
    let n1 = ready.iter().find(|n| n.metadata.name.as_deref() == Some("sim-node-1")).expect("sim-node-1");
    let labels = n1.metadata.labels.clone().unwrap();
    assert_eq!(labels.get("kubernetes.io/hostname").map(String::as_str), Some("sim-node-1"));
    assert_eq!(labels.get("ferrokube.io/pool").map(String::as_str), Some("sim"));
    let taints = n1.spec.as_ref().and_then(|s| s.taints.clone()).unwrap();
    assert_eq!(taints[0].key, "sim.ferrokube.io/fake");
    let status = n1.status.as_ref().unwrap();
    assert_eq!(status.capacity.as_ref().unwrap().get("pods").map(|q| q.0.as_str()), Some("110"));
    assert_eq!(status.addresses.as_ref().unwrap()[0].address, "127.1.0.2");

    // Leases renew.
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let renew = |l: Lease| l.spec.and_then(|s| s.renew_time).map(|t| t.0);
    let first = renew(leases.get("sim-node-0").await.unwrap()).unwrap();
    let owner = leases.get("sim-node-0").await.unwrap().metadata.owner_references.unwrap();
    assert_eq!(owner[0].kind, "Node");
    eventually(WAIT, "lease renewal", || async {
        let t = renew(leases.get("sim-node-0").await.ok()?)?;
        (t > first).then_some(())
    })
    .await;

    // A long-running pod: Running, Ready, with an address from the node's range.
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    create(&pods, pod_json("web", "sim-node-1", json!({}), json!({}))).await;
    let web = wait_pod(&pods, "web", "web Running and Ready", |p| phase(p) == "Running" && pod_ready(p)).await;
    let st = web.status.unwrap();
    assert!(st.pod_ip.as_deref().unwrap().starts_with("10.244.1."), "{:?}", st.pod_ip);
    assert_eq!(st.host_ip.as_deref(), Some("127.1.0.2"));
    assert!(st.container_statuses.unwrap()[0].state.as_ref().unwrap().running.is_some());
    // The scheduler's PodScheduled condition would survive: conditions merge by type.
    assert!(st.conditions.unwrap().iter().any(|c| c.type_ == "Initialized"));

    // A pod bound the scheduler's way keeps its PodScheduled condition
    // (status writes are strategic merges: conditions merge by type).
    let mut unbound = pod_json("bound", "", json!({}), json!({}));
    unbound["spec"].as_object_mut().unwrap().remove("nodeName");
    create(&pods, unbound).await;
    let binding = json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "bound"}, "target": {"kind": "Node", "name": "sim-node-0"}});
    pods.create_subresource::<_, serde_json::Value>("binding", "bound", &PostParams::default(), &binding)
        .await
        .unwrap();
    let bound = wait_pod(&pods, "bound", "bound pod Ready", pod_ready).await;
    let types: Vec<String> = bound.status.unwrap().conditions.unwrap().into_iter().map(|c| c.type_).collect();
    for t in ["PodScheduled", "PodReadyToStartContainers", "Initialized", "ContainersReady", "Ready"] {
        assert!(types.iter().any(|x| x == t), "{t} in {types:?}");
    }

    // A readiness probe delays Ready.
    let probed = json!({"containers": [{"name": "c", "image": "nginx", "readinessProbe": {"initialDelaySeconds": 2, "httpGet": {"port": 80}}}]});
    create(&pods, pod_json("probed", "sim-node-0", probed, json!({}))).await;
    let p = wait_pod(&pods, "probed", "probed Running", |p| phase(p) == "Running").await;
    assert!(!pod_ready(&p), "not ready before the probe's initial delay");
    wait_pod(&pods, "probed", "probed Ready", pod_ready).await;

    // Finite pods: a Job-style pod succeeds; the exit annotations make one fail.
    create(&pods, pod_json("job", "sim-node-2", json!({"restartPolicy": "Never"}), json!({}))).await;
    let failing = json!({"sim.ferrokube.io/exit-after": "1s", "sim.ferrokube.io/exit-code": "3"});
    create(&pods, pod_json("failing", "sim-node-2", json!({"restartPolicy": "Never"}), failing)).await;
    let job = wait_pod(&pods, "job", "job Succeeded", |p| phase(p) == "Succeeded").await;
    let t = job.status.unwrap().container_statuses.unwrap()[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (0, Some("Completed")));
    let failed = wait_pod(&pods, "failing", "failing Failed", |p| phase(p) == "Failed").await;
    let t = failed.status.unwrap().container_statuses.unwrap()[0].state.clone().unwrap().terminated.unwrap();
    assert_eq!((t.exit_code, t.reason.as_deref()), (3, Some("Error")));

    // A pod on a node that is not ours is left alone.
    create(&pods, pod_json("elsewhere", "real-node", json!({}), json!({}))).await;

    // Graceful deletion: terminated, then removed, well before the grace period.
    let started = std::time::Instant::now();
    pods.delete("web", &DeleteParams { grace_period_seconds: Some(30), ..DeleteParams::default() }).await.unwrap();
    eventually(WAIT, "web deleted", || async { pods.get_opt("web").await.ok()?.is_none().then_some(()) }).await;
    assert!(started.elapsed() < Duration::from_secs(15), "took {:?}", started.elapsed());

    let elsewhere = pods.get("elsewhere").await.unwrap();
    assert_eq!(phase(&elsewhere), "Pending");

    // kubectl sees the nodes Ready.
    let out = cluster.kubectl(&["get", "nodes"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    for n in ["sim-node-0", "sim-node-1", "sim-node-2"] {
        let line = text.lines().find(|l| l.starts_with(n)).unwrap_or_else(|| panic!("{n} in {text}"));
        assert!(line.contains(" Ready"), "{line}");
    }

    // A deleted node is no longer simulated: its lease stops renewing.
    nodes.delete("sim-node-2", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let before = leases.get_opt("sim-node-2").await.unwrap().and_then(renew);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = leases.get_opt("sim-node-2").await.unwrap().and_then(renew);
    assert_eq!(before, after, "lease of a deleted node not renewed");
    assert!(sim.exited().is_none(), "simulator still running: {}", sim.log_tail());
}

/// 5,000 nodes (the scale check proper is a benchmark in hack/).
#[tokio::test]
#[ignore = "scale smoke test: minutes and a lot of API load"]
async fn five_thousand_nodes() {
    let cluster = Cluster::start().await;
    let client = cluster.admin_client().await;
    let kubeconfig = cluster.kubeconfig("node-simulator");
    let mut sim = cluster.spawn(
        "node-simulator",
        &["--kubeconfig", kubeconfig.to_str().unwrap(), "--nodes", "5000", "--pod-cidr-base", "10.0.0.0/8"],
    );
    let nodes: Api<Node> = Api::all(client.clone());
    eventually(Duration::from_secs(600), "5000 Ready nodes", || async {
        let list = nodes.list(&ListParams::default()).await.ok()?;
        (list.items.iter().filter(|n| is_ready_node(n)).count() == 5000).then_some(())
    })
    .await;
    let leases: Api<Lease> = Api::namespaced(client, "kube-node-lease");
    let count = leases.list(&ListParams::default()).await.unwrap().items.len();
    assert!(count >= 5000, "{count} leases");
    assert!(sim.exited().is_none(), "{}", sim.log_tail());
}
