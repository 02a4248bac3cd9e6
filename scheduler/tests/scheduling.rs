#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The scheduler binary against a real apiserver: three hand-made nodes
//! (a tainted control plane and two 2-cpu workers), pods placed by
//! nodeSelector, taints and resources, an unschedulable pod with upstream's
//! FailedScheduling message, and preemption of a low-priority pod.

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_harness::{eventually, Cluster};
use k8s_openapi::api::core::v1::{Container, Event, Node, NodeCondition, NodeSpec, NodeStatus, Pod, PodSpec, ResourceRequirements, Taint, Toleration};
use k8s_openapi::api::scheduling::v1::PriorityClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{ObjectMeta, Patch, PatchParams, PostParams};
use kube::Api;

const WAIT: Duration = Duration::from_secs(30);

fn node(name: &str, cpu: &str, labels: &[(&str, &str)], taints: Vec<Taint>) -> Node {
    let mut l: BTreeMap<String, String> = labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    l.insert("kubernetes.io/hostname".into(), name.into());
    Node {
        metadata: ObjectMeta { name: Some(name.into()), labels: Some(l), ..Default::default() },
        spec: Some(NodeSpec { taints: Some(taints), ..Default::default() }),
        status: Some(node_status(cpu)),
    }
}

fn node_status(cpu: &str) -> NodeStatus {
    let resources: BTreeMap<String, Quantity> =
        [("cpu", cpu), ("memory", "8Gi"), ("pods", "110")].iter().map(|(k, v)| (k.to_string(), Quantity(v.to_string()))).collect();
    NodeStatus {
        allocatable: Some(resources.clone()),
        capacity: Some(resources),
        conditions: Some(vec![NodeCondition { type_: "Ready".into(), status: "True".into(), reason: Some("KubeletReady".into()), ..Default::default() }]),
        ..Default::default()
    }
}

struct PodSpecBuilder {
    pod: Pod,
}

fn pod(name: &str, cpu: &str) -> PodSpecBuilder {
    PodSpecBuilder {
        pod: Pod {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "app".into(),
                    image: Some("registry.k8s.io/pause:3.10".into()),
                    resources: Some(ResourceRequirements {
                        requests: Some([("cpu".to_string(), Quantity(cpu.into()))].into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: None,
        },
    }
}

impl PodSpecBuilder {
    fn selector(mut self, k: &str, v: &str) -> Self {
        self.pod.spec.as_mut().unwrap().node_selector.get_or_insert_with(BTreeMap::new).insert(k.into(), v.into());
        self
    }
    fn tolerate_control_plane(mut self) -> Self {
        self.pod.spec.as_mut().unwrap().tolerations = Some(vec![Toleration {
            key: Some("node-role.kubernetes.io/control-plane".into()),
            operator: Some("Exists".into()),
            effect: Some("NoSchedule".into()),
            ..Default::default()
        }]);
        self
    }
    fn priority_class(mut self, class: &str) -> Self {
        self.pod.spec.as_mut().unwrap().priority_class_name = Some(class.into());
        self
    }
}

async fn node_of(pods: &Api<Pod>, name: &str, scheduler: &cluster_harness::Process) -> String {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Some(n) = pods.get(name).await.ok().and_then(|p| p.spec.and_then(|s| s.node_name)) {
            return n;
        }
        if std::time::Instant::now() > deadline {
            panic!("pod {name} was not bound; scheduler log:\n{}", scheduler.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn schedules_pods_reports_failures_and_preempts() {
    let cluster = Cluster::start().await;
    let client = cluster.admin_client().await;

    let nodes: Api<Node> = Api::all(client.clone());
    let control_plane_taint = Taint { key: "node-role.kubernetes.io/control-plane".into(), effect: "NoSchedule".into(), value: None, time_added: None };
    for n in [
        node("cp", "4", &[("node-role.kubernetes.io/control-plane", "")], vec![control_plane_taint]),
        node("w1", "2", &[("disk", "ssd")], vec![]),
        node("w2", "2", &[], vec![]),
    ] {
        let name = n.metadata.name.clone().unwrap();
        let status = n.status.clone();
        nodes.create(&PostParams::default(), &n).await.expect("create node");
        // In case the create dropped the status.
        let patch = serde_json::json!({ "status": status });
        nodes.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.expect("node status");
    }
    let classes: Api<PriorityClass> = Api::all(client.clone());
    for (name, value) in [("low", 10), ("high", 1000)] {
        let pc = PriorityClass { metadata: ObjectMeta { name: Some(name.into()), ..Default::default() }, value, ..Default::default() };
        classes.create(&PostParams::default(), &pc).await.expect("priority class");
    }

    // kube-lease-manager renews with PATCH; upstream's bootstrap role only
    // grants get/update on the kube-scheduler lease (reported to the lead).

    let kubeconfig = cluster.kubeconfig("scheduler");
    let scheduler = cluster.spawn("scheduler", &["--kubeconfig", kubeconfig.to_str().unwrap()]);

    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let create = |p: PodSpecBuilder| {
        let pods = pods.clone();
        async move { pods.create(&PostParams::default(), &p.pod).await.expect("create pod") }
    };

    // Placement by nodeSelector, taints and resources.
    create(pod("on-ssd", "500m").selector("disk", "ssd")).await;
    create(pod("on-cp", "100m").tolerate_control_plane().selector("kubernetes.io/hostname", "cp")).await;
    create(pod("victim", "1500m").priority_class("low").selector("kubernetes.io/hostname", "w2")).await;
    assert_eq!(node_of(&pods, "on-ssd", &scheduler).await, "w1");
    assert_eq!(node_of(&pods, "on-cp", &scheduler).await, "cp");
    assert_eq!(node_of(&pods, "victim", &scheduler).await, "w2");
    create(pod("anywhere", "100m")).await;
    let n = node_of(&pods, "anywhere", &scheduler).await;
    assert!(n == "w1" || n == "w2", "the tainted control plane must be avoided, got {n}");

    // The Scheduled event.
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let scheduled = eventually(WAIT, "the Scheduled event", || {
        let events = events.clone();
        async move {
            let list = events.list(&Default::default()).await.ok()?;
            list.items.into_iter().find(|e| e.reason.as_deref() == Some("Scheduled") && e.involved_object.name.as_deref() == Some("on-ssd"))
        }
    })
    .await;
    assert_eq!(scheduled.message.as_deref(), Some("Successfully assigned default/on-ssd to w1"));
    assert_eq!(scheduled.type_.as_deref(), Some("Normal"));

    // Too big for any worker: FailedScheduling with upstream's message shape.
    create(pod("huge", "3")).await;
    let expected = "0/3 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 2 Insufficient cpu. \
                    preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.";
    let failed = eventually(WAIT, "the FailedScheduling event", || {
        let events = events.clone();
        async move {
            let list = events.list(&Default::default()).await.ok()?;
            list.items.into_iter().find(|e| e.reason.as_deref() == Some("FailedScheduling") && e.involved_object.name.as_deref() == Some("huge"))
        }
    })
    .await;
    assert_eq!(failed.message.as_deref(), Some(expected));
    assert_eq!(failed.type_.as_deref(), Some("Warning"));
    let condition = eventually(WAIT, "the PodScheduled=False condition", || {
        let pods = pods.clone();
        async move {
            let p = pods.get("huge").await.ok()?;
            p.status?.conditions?.into_iter().find(|c| c.type_ == "PodScheduled")
        }
    })
    .await;
    assert_eq!((condition.status.as_str(), condition.reason.as_deref()), ("False", Some("Unschedulable")));
    assert_eq!(condition.message.as_deref(), Some(expected));

    // A high-priority pod that only fits on w2 by evicting the low-priority one.
    create(pod("vip", "1500m").priority_class("high").selector("kubernetes.io/hostname", "w2")).await;
    eventually(WAIT, "the victim to be deleted", || {
        let pods = pods.clone();
        async move { pods.get_opt("victim").await.ok().and_then(|p| if p.is_none_or(|p| p.metadata.deletion_timestamp.is_some()) { Some(()) } else { None }) }
    })
    .await;
    // The victim has no kubelet to finish its deletion; remove it for good.
    let _ = pods.delete("victim", &kube::api::DeleteParams { grace_period_seconds: Some(0), ..Default::default() }).await;
    assert_eq!(node_of(&pods, "vip", &scheduler).await, "w2");
    let preempted = eventually(WAIT, "the Preempted event", || {
        let events = events.clone();
        async move {
            let list = events.list(&Default::default()).await.ok()?;
            list.items.into_iter().find(|e| e.reason.as_deref() == Some("Preempted") && e.involved_object.name.as_deref() == Some("victim"))
        }
    })
    .await;
    assert!(preempted.message.as_deref().unwrap_or("").ends_with("on node w2"), "{preempted:?}");
    drop(scheduler);
}

/// End-to-end rate with debug binaries: 100 nodes, 1,000 pods created
/// concurrently, time until all are bound.
/// `cargo test -p scheduler --test scheduling -- --ignored --nocapture`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark"]
async fn end_to_end_rate() {
    let cluster = Cluster::start().await;
    let client = cluster.admin_client().await;
    let nodes: Api<Node> = Api::all(client.clone());
    for i in 0..100 {
        let n = node(&format!("n{i}"), "64", &[], vec![]);
        let status = n.status.clone();
        nodes.create(&PostParams::default(), &n).await.expect("node");
        nodes.patch_status(&format!("n{i}"), &PatchParams::default(), &Patch::Merge(&serde_json::json!({ "status": status }))).await.expect("status");
    }
    let kubeconfig = cluster.kubeconfig("scheduler");
    let scheduler = cluster.spawn("scheduler", &["--kubeconfig", kubeconfig.to_str().unwrap(), "--leader-elect=false"]);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let total = 1000;
    let start = std::time::Instant::now();
    let mut tasks = Vec::new();
    for chunk in 0..20 {
        let pods = pods.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..total / 20 {
                let p = pod(&format!("p-{chunk}-{i}"), "10m").pod;
                pods.create(&PostParams::default(), &p).await.expect("pod");
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let created = start.elapsed();
    loop {
        let list = pods.list(&Default::default()).await.unwrap();
        let bound = list.items.iter().filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some()).count();
        if bound == total {
            break;
        }
        if start.elapsed() > Duration::from_secs(120) {
            panic!("only {bound}/{total} bound; log:\n{}", scheduler.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let all = start.elapsed();
    println!("created {total} pods in {created:?}; all bound after {all:?} ({:.0} pods/s)", total as f64 / all.as_secs_f64());
}
