//! The workload controllers against a real apiserver: Deployment rollout,
//! rollback and scaling; ReplicaSet adoption; ReplicationController;
//! StatefulSet ordering and claims; DaemonSet one pod per node.
//!
//! No scheduler or kubelet runs here: a small "ready marker" task plays the
//! kubelet by marking every pod of a namespace Running and Ready.
//!
//! Needs the binaries: `cargo build -p apiserver -p controller-manager`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use cluster_harness::{eventually, Cluster, Process};
use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Node, PersistentVolumeClaim, Pod, ReplicationController};
use kube::api::{ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(40);


async fn setup(controllers: &str) -> (Cluster, Process, Client) {
    let cluster = Cluster::start().await;
    let client = cluster.admin_client().await;
    let kubeconfig = cluster.kubeconfig("controller-manager").display().to_string();
    let cm = cluster.spawn(
        "controller-manager",
        &["--kubeconfig", &kubeconfig, "--leader-elect=false", "--controllers", controllers],
    );
    (cluster, cm, client)
}

/// Plays the kubelet: every pod of `ns` not being deleted becomes Running
/// and Ready.
fn spawn_ready_marker(client: Client, ns: &str) -> tokio::task::JoinHandle<()> {
    let pods: Api<Pod> = Api::namespaced(client, ns);
    tokio::spawn(async move {
        loop {
            if let Ok(list) = pods.list(&ListParams::default()).await {
                for p in list.items {
                    let ready = p
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                    if ready || p.metadata.deletion_timestamp.is_some() {
                        continue;
                    }
                    let now = k8s_openapi::jiff::Timestamp::now().to_string();
                    let patch = json!({"status": {"phase": "Running", "conditions": [
                        {"type": "Ready", "status": "True", "lastTransitionTime": now}
                    ]}});
                    let name = p.metadata.name.clone().unwrap_or_default();
                    let _ = pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(patch)).await;
                }
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}

fn deployment(name: &str, replicas: i32, image: &str) -> Deployment {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "c", "image": image}]}
            }
        }
    }))
    .unwrap()
}

fn annotation<'a>(meta: &'a k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta, key: &str) -> Option<&'a str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

fn replicas(rs: &ReplicaSet) -> i32 {
    rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(0)
}

async fn list<K>(api: &Api<K>) -> Vec<K>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(&ListParams::default()).await.unwrap().items
}

/// Waits until the deployment's rollout is complete as `kubectl rollout
/// status` judges it.
async fn wait_complete(deployments: &Api<Deployment>, name: &str, want: i32) {
    eventually(WAIT, &format!("deployment {name} complete with {want}"), || async {
        let d = deployments.get(name).await.ok()?;
        let s = d.status.clone()?;
        let done = s.observed_generation >= d.metadata.generation
            && s.updated_replicas == Some(want)
            && s.replicas == Some(want)
            && s.available_replicas == Some(want)
            && s.unavailable_replicas.is_none();
        done.then_some(())
    })
    .await;
}

#[tokio::test]
async fn deployment_rollout_rollback_and_scale() {
    let (cluster, cm, client) = setup("deployment,replicaset").await;
    let _marker = spawn_ready_marker(client.clone(), "default");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    deployments.create(&PostParams::default(), &deployment("web", 3, "nginx:1.25")).await.unwrap();

    wait_complete(&deployments, "web", 3).await;
    let first = list(&sets).await;
    assert_eq!(first.len(), 1, "{}", cm.log_tail());
    let rs1 = first[0].clone();
    let rs1_name = rs1.metadata.name.clone().unwrap();
    let hash = rs1_name.strip_prefix("web-").unwrap();
    assert!((8..=10).contains(&hash.len()) && hash.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)), "{rs1_name}");
    assert_eq!(rs1.metadata.labels.as_ref().unwrap()["pod-template-hash"], hash);
    assert_eq!(annotation(&rs1.metadata, "deployment.kubernetes.io/revision"), Some("1"));
    assert_eq!(annotation(&rs1.metadata, "deployment.kubernetes.io/desired-replicas"), Some("3"));
    assert_eq!(annotation(&rs1.metadata, "deployment.kubernetes.io/max-replicas"), Some("4"));
    let p = list(&pods).await;
    assert_eq!(p.len(), 3);
    assert!(p.iter().all(|p| p.metadata.name.as_ref().unwrap().starts_with(&format!("{rs1_name}-"))));
    let d = deployments.get("web").await.unwrap();
    assert_eq!(annotation(&d.metadata, "deployment.kubernetes.io/revision"), Some("1"));
    let conds = d.status.unwrap().conditions.unwrap();
    let progressing = conds.iter().find(|c| c.type_ == "Progressing").unwrap();
    assert_eq!(progressing.reason.as_deref(), Some("NewReplicaSetAvailable"));
    let available = conds.iter().find(|c| c.type_ == "Available").unwrap();
    assert_eq!((available.status.as_str(), available.reason.as_deref()), ("True", Some("MinimumReplicasAvailable")));
    let out = cluster.kubectl(&["rollout", "status", "deployment/web", "--timeout=20s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // A template change rolls out a second ReplicaSet.
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:1.26"}]}}}});
    deployments.patch("web", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
    wait_complete(&deployments, "web", 3).await;
    let rs2 = eventually(WAIT, "old replica set scaled to 0", || async {
        let all = list(&sets).await;
        let old = all.iter().find(|r| r.metadata.name.as_deref() == Some(rs1_name.as_str()))?;
        let new = all.iter().find(|r| r.metadata.name.as_deref() != Some(rs1_name.as_str()))?;
        (replicas(old) == 0 && replicas(new) == 3).then(|| new.clone())
    })
    .await;
    assert_eq!(annotation(&rs2.metadata, "deployment.kubernetes.io/revision"), Some("2"));
    let d = deployments.get("web").await.unwrap();
    assert_eq!(annotation(&d.metadata, "deployment.kubernetes.io/revision"), Some("2"));
    let out = cluster.kubectl(&["rollout", "history", "deployment/web"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // Rolling back (what `kubectl rollout undo` does) reuses the first set.
    let out = cluster.kubectl(&["rollout", "undo", "deployment/web"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually(WAIT, "first replica set back at revision 3", || async {
        let rs = sets.get(&rs1_name).await.ok()?;
        (annotation(&rs.metadata, "deployment.kubernetes.io/revision") == Some("3") && replicas(&rs) == 3).then_some(())
    })
    .await;
    wait_complete(&deployments, "web", 3).await;
    assert_eq!(list(&sets).await.len(), 2);
    let rs1 = sets.get(&rs1_name).await.unwrap();
    assert_eq!(annotation(&rs1.metadata, "deployment.kubernetes.io/revision-history"), Some("1"));

    // Scaling.
    deployments.patch("web", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 5}}))).await.unwrap();
    wait_complete(&deployments, "web", 5).await;
    eventually(WAIT, "5 pods", || async { (list(&pods).await.len() == 5).then_some(()) }).await;
    let rs1 = sets.get(&rs1_name).await.unwrap();
    assert_eq!(replicas(&rs1), 5);
    assert_eq!(annotation(&rs1.metadata, "deployment.kubernetes.io/desired-replicas"), Some("5"));
    drop(cm);
}

#[tokio::test]
async fn replicaset_adopts_orphans_and_rc_creates_pods() {
    let (_cluster, cm, client) = setup("replicaset,replicationcontroller").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let orphan: Pod = serde_json::from_value(json!({
        "metadata": {"name": "orphan", "labels": {"app": "adopt"}},
        "spec": {"containers": [{"name": "c", "image": "nginx"}]}
    }))
    .unwrap();
    pods.create(&PostParams::default(), &orphan).await.unwrap();
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "adopter"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "adopt"}},
            "template": {"metadata": {"labels": {"app": "adopt"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        }
    }))
    .unwrap();
    let rs = Api::<ReplicaSet>::namespaced(client.clone(), "default").create(&PostParams::default(), &rs).await.unwrap();
    let uid = rs.metadata.uid.clone().unwrap();
    eventually(WAIT, "orphan adopted and one pod created", || async {
        let all = list(&pods).await;
        let owned: Vec<_> = all
            .iter()
            .filter(|p| p.metadata.owner_references.iter().flatten().any(|r| r.uid == uid && r.controller == Some(true)))
            .collect();
        (owned.len() == 2 && all.len() == 2 && owned.iter().any(|p| p.metadata.name.as_deref() == Some("orphan"))).then_some(())
    })
    .await;
    let created = list(&pods).await.into_iter().find(|p| p.metadata.name.as_deref() != Some("orphan")).unwrap();
    assert!(created.metadata.name.unwrap().starts_with("adopter-"));
    eventually(WAIT, "replicaset status", || async {
        let rs = Api::<ReplicaSet>::namespaced(client.clone(), "default").get("adopter").await.ok()?;
        let s = rs.status?;
        (s.replicas == 2 && s.fully_labeled_replicas == Some(2) && s.observed_generation == Some(1)).then_some(())
    })
    .await;

    let rc: ReplicationController = serde_json::from_value(json!({
        "metadata": {"name": "legacy"},
        "spec": {
            "replicas": 2,
            "selector": {"app": "legacy"},
            "template": {"metadata": {"labels": {"app": "legacy"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        }
    }))
    .unwrap();
    Api::<ReplicationController>::namespaced(client.clone(), "default").create(&PostParams::default(), &rc).await.unwrap();
    eventually(WAIT, "rc pods and status", || async {
        let rc = Api::<ReplicationController>::namespaced(client.clone(), "default").get("legacy").await.ok()?;
        let n = list(&pods).await.iter().filter(|p| p.metadata.name.as_deref().is_some_and(|n| n.starts_with("legacy-"))).count();
        (n == 2 && rc.status?.replicas == 2).then_some(())
    })
    .await;
    drop(cm);
}

#[tokio::test]
async fn statefulset_creates_pods_in_order_with_claims() {
    let (_cluster, cm, client) = setup("statefulset").await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "serviceName": "nginx",
            "selector": {"matchLabels": {"app": "nginx"}},
            "template": {
                "metadata": {"labels": {"app": "nginx"}},
                "spec": {"containers": [{"name": "c", "image": "nginx", "volumeMounts": [{"name": "www", "mountPath": "/usr/share/nginx/html"}]}]}
            },
            "volumeClaimTemplates": [{
                "metadata": {"name": "www"},
                "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
            }]
        }
    }))
    .unwrap();
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &sts).await.unwrap();
    let web0 = eventually(WAIT, "web-0", || async { pods.get("web-0").await.ok() }).await;
    let labels = web0.metadata.labels.clone().unwrap();
    assert_eq!(labels["statefulset.kubernetes.io/pod-name"], "web-0");
    assert_eq!(labels["apps.kubernetes.io/pod-index"], "0");
    assert!(labels["controller-revision-hash"].starts_with("web-"));
    let spec = web0.spec.clone().unwrap();
    assert_eq!((spec.hostname.as_deref(), spec.subdomain.as_deref()), (Some("web-0"), Some("nginx")));
    let vol = spec.volumes.unwrap().into_iter().find(|v| v.name == "www").unwrap();
    assert_eq!(vol.persistent_volume_claim.unwrap().claim_name, "www-web-0");
    claims.get("www-web-0").await.unwrap();
    // OrderedReady: web-1 waits for web-0 to be ready.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(pods.get_opt("web-1").await.unwrap().is_none(), "web-1 created before web-0 was ready");
    let _marker = spawn_ready_marker(client.clone(), "default");
    eventually(WAIT, "web-1 and its claim", || async {
        pods.get("web-1").await.ok()?;
        claims.get("www-web-1").await.ok()
    })
    .await;
    eventually(WAIT, "statefulset status", || async {
        let s = sets.get("web").await.ok()?.status?;
        (s.replicas == 2
            && s.ready_replicas == Some(2)
            && s.updated_replicas == Some(2)
            && s.current_revision.is_some()
            && s.current_revision == s.update_revision)
            .then_some(())
    })
    .await;
    drop(cm);
}

#[tokio::test]
async fn daemonset_runs_one_pod_per_eligible_node() {
    let (_cluster, cm, client) = setup("daemonset").await;
    let nodes: Api<Node> = Api::all(client.clone());
    let node = |name: &str, taint: bool| -> Node {
        let mut v = json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}});
        if taint {
            v["spec"] = json!({"taints": [{"key": "dedicated", "value": "x", "effect": "NoSchedule"}]});
        }
        serde_json::from_value(v).unwrap()
    };
    for (n, t) in [("n1", false), ("n2", false), ("tainted", true)] {
        nodes.create(&PostParams::default(), &node(n, t)).await.unwrap();
    }
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "agent"},
        "spec": {
            "selector": {"matchLabels": {"app": "agent"}},
            "template": {"metadata": {"labels": {"app": "agent"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}
        }
    }))
    .unwrap();
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &ds).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let pinned = |p: &Pod| {
        p.spec.as_ref()?.affinity.as_ref()?.node_affinity.as_ref()?.required_during_scheduling_ignored_during_execution.as_ref()?.node_selector_terms[0]
            .match_fields
            .as_ref()?[0]
            .values
            .as_ref()?
            .first()
            .cloned()
    };
    let nodes_with_pods = |want: usize| {
        let pods = pods.clone();
        async move {
            eventually(WAIT, &format!("{want} daemon pods"), || async {
                let all = list(&pods).await;
                let mut on: Vec<String> = all.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).filter_map(pinned).collect();
                on.sort();
                (on.len() == want).then_some(on)
            })
            .await
        }
    };
    assert_eq!(nodes_with_pods(2).await, ["n1", "n2"]);
    let p = list(&pods).await.remove(0);
    assert!(p.metadata.name.unwrap().starts_with("agent-"));
    let tolerations = p.spec.unwrap().tolerations.unwrap();
    assert!(tolerations.iter().any(|t| t.key.as_deref() == Some("node.kubernetes.io/unreachable") && t.effect.as_deref() == Some("NoExecute")));
    assert!(p.metadata.labels.unwrap().contains_key("controller-revision-hash"));

    nodes.create(&PostParams::default(), &node("n3", false)).await.unwrap();
    assert_eq!(nodes_with_pods(3).await, ["n1", "n2", "n3"]);
    eventually(WAIT, "daemonset status", || async {
        let s = sets.get("agent").await.ok()?.status?;
        (s.desired_number_scheduled == 3 && s.current_number_scheduled == 3 && s.updated_number_scheduled == Some(3)).then_some(())
    })
    .await;
    nodes.delete("n3", &Default::default()).await.unwrap();
    assert_eq!(nodes_with_pods(2).await, ["n1", "n2"]);
    drop(cm);
}

#[tokio::test]
async fn deployment_recreate_restart_pause_and_history_limit() {
    let (cluster, cm, client) = setup("deployment,replicaset").await;
    let _marker = spawn_ready_marker(client.clone(), "default");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), "default");
    let sets: Api<ReplicaSet> = Api::namespaced(client.clone(), "default");
    let mut d = deployment("app", 2, "nginx:1");
    let spec = d.spec.as_mut().unwrap();
    spec.strategy = Some(serde_json::from_value(json!({"type": "Recreate"})).unwrap());
    spec.revision_history_limit = Some(1);
    deployments.create(&PostParams::default(), &d).await.unwrap();
    wait_complete(&deployments, "app", 2).await;

    // `kubectl rollout restart` changes a template annotation: a new set.
    for round in 2..=3 {
        // kubectl stamps restartedAt with second precision.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let out = cluster.kubectl(&["rollout", "restart", "deployment/app"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        eventually(WAIT, &format!("revision {round} rolled out"), || async {
            let all = list(&sets).await;
            let new = all.iter().find(|r| annotation(&r.metadata, "deployment.kubernetes.io/revision") == Some(&round.to_string()))?;
            let others_idle = all.iter().filter(|r| r.metadata.uid != new.metadata.uid).all(|r| replicas(r) == 0);
            (replicas(new) == 2 && others_idle).then_some(())
        })
        .await;
        wait_complete(&deployments, "app", 2).await;
    }
    // revisionHistoryLimit 1: one old set kept besides the new one.
    eventually(WAIT, "old sets cleaned up", || async { (list(&sets).await.len() == 2).then_some(()) }).await;

    // Paused: template changes wait for resume.
    let out = cluster.kubectl(&["rollout", "pause", "deployment/app"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "nginx:2"}]}}}});
    deployments.patch("app", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
    eventually(WAIT, "paused condition", || async {
        let d = deployments.get("app").await.ok()?;
        let c = d.status?.conditions?.into_iter().find(|c| c.type_ == "Progressing")?;
        (c.reason.as_deref() == Some("DeploymentPaused")).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    // (Paused deployments still clean up history, as upstream: only the active set may remain.)
    let image_of = |r: &ReplicaSet| r.spec.as_ref()?.template.as_ref()?.spec.as_ref()?.containers[0].image.clone();
    assert!(
        list(&sets).await.iter().all(|r| image_of(r).as_deref() != Some("nginx:2")),
        "a paused deployment must not roll out"
    );
    let out = cluster.kubectl(&["rollout", "resume", "deployment/app"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually(WAIT, "revision 4 after resume", || async {
        let all = list(&sets).await;
        all.iter()
            .any(|r| annotation(&r.metadata, "deployment.kubernetes.io/revision") == Some("4") && replicas(r) == 2)
            .then_some(())
    })
    .await;
    wait_complete(&deployments, "app", 2).await;
    let out = cluster.kubectl(&["rollout", "status", "deployment/app", "--timeout=20s"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    drop(cm);
}

#[tokio::test]
async fn statefulset_rolling_update_and_scale_down() {
    let (_cluster, cm, client) = setup("statefulset").await;
    let _marker = spawn_ready_marker(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let sets: Api<StatefulSet> = Api::namespaced(client.clone(), "default");
    let sts: StatefulSet = serde_json::from_value(json!({
        "metadata": {"name": "db"},
        "spec": {
            "replicas": 3,
            "serviceName": "db",
            "podManagementPolicy": "Parallel",
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Delete"},
            "selector": {"matchLabels": {"app": "db"}},
            "template": {"metadata": {"labels": {"app": "db"}}, "spec": {"containers": [{"name": "c", "image": "db:1"}]}},
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}}]
        }
    }))
    .unwrap();
    sets.create(&PostParams::default(), &sts).await.unwrap();
    let first_rev = eventually(WAIT, "3 ready replicas", || async {
        let s = sets.get("db").await.ok()?.status?;
        (s.ready_replicas == Some(3) && s.current_revision == s.update_revision).then_some(s.update_revision?)
    })
    .await;
    let claim = claims.get("data-db-0").await.unwrap();
    assert!(claim.metadata.owner_references.unwrap().iter().any(|r| r.kind == "StatefulSet" && r.name == "db"));

    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "db:2"}]}}}});
    sets.patch("db", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
    let second_rev = eventually(WAIT, "rolling update complete", || async {
        let s = sets.get("db").await.ok()?.status?;
        let all = list(&pods).await;
        let updated = all.iter().all(|p| p.metadata.labels.as_ref().and_then(|l| l.get("controller-revision-hash")) == s.update_revision.as_ref());
        (s.update_revision != Some(first_rev.clone())
            && s.current_revision == s.update_revision
            && s.updated_replicas == Some(3)
            && s.ready_replicas == Some(3)
            && all.len() == 3
            && updated)
            .then_some(s.update_revision?)
    })
    .await;
    assert!(second_rev.starts_with("db-"));

    sets.patch("db", &PatchParams::default(), &Patch::Merge(json!({"spec": {"replicas": 1}}))).await.unwrap();
    eventually(WAIT, "scaled down to db-0", || async {
        let names: Vec<String> = list(&pods).await.into_iter().filter_map(|p| p.metadata.name).collect();
        (names == ["db-0"]).then_some(())
    })
    .await;
    // whenScaled=Delete: the condemned pods' claims point at their pods for the garbage collector.
    let claim = claims.get("data-db-2").await.unwrap();
    assert!(claim.metadata.owner_references.unwrap().iter().any(|r| r.kind == "Pod" && r.name == "db-2"));
    drop(cm);
}

#[tokio::test]
async fn daemonset_rolling_update() {
    let (_cluster, cm, client) = setup("daemonset").await;
    let _marker = spawn_ready_marker(client.clone(), "default");
    let nodes: Api<Node> = Api::all(client.clone());
    for n in ["a", "b", "c"] {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": n}})).unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
    }
    let ds: DaemonSet = serde_json::from_value(json!({
        "metadata": {"name": "logs"},
        "spec": {
            "selector": {"matchLabels": {"app": "logs"}},
            "template": {"metadata": {"labels": {"app": "logs"}}, "spec": {"containers": [{"name": "c", "image": "logs:1"}]}}
        }
    }))
    .unwrap();
    let sets: Api<DaemonSet> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    sets.create(&PostParams::default(), &ds).await.unwrap();
    let status_done = || async {
        eventually(WAIT, "daemonset rolled out and available", || async {
            let ds = sets.get("logs").await.ok()?;
            let s = ds.status?;
            (s.observed_generation == ds.metadata.generation
                && s.desired_number_scheduled == 3
                && s.updated_number_scheduled == Some(3)
                && s.number_available == Some(3)
                && s.number_ready == 3
                && list(&pods).await.len() == 3)
                .then_some(())
        })
        .await
    };
    status_done().await;
    let image = |p: &Pod| p.spec.as_ref().unwrap().containers[0].image.clone().unwrap();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "logs:2"}]}}}});
    sets.patch("logs", &PatchParams::default(), &Patch::Strategic(patch)).await.unwrap();
    eventually(WAIT, "every daemon pod at logs:2", || async {
        let all = list(&pods).await;
        (all.len() == 3 && all.iter().all(|p| image(p) == "logs:2")).then_some(())
    })
    .await;
    status_done().await;
    drop(cm);
}

#[tokio::test]
async fn leader_election_holds_the_lease_and_works() {
    let cluster = Cluster::start().await;
    let client = cluster.admin_client().await;
    let kubeconfig = cluster.kubeconfig("controller-manager").display().to_string();
    let cm = cluster.spawn("controller-manager", &["--kubeconfig", &kubeconfig, "--controllers", "replicaset"]);
    let leases: Api<k8s_openapi::api::coordination::v1::Lease> = Api::namespaced(client.clone(), "kube-system");
    eventually(WAIT, "kube-controller-manager lease held", || async {
        let lease = leases.get("kube-controller-manager").await.ok()?;
        lease.spec?.holder_identity.filter(|h| !h.is_empty())
    })
    .await;
    let rs: ReplicaSet = serde_json::from_value(json!({
        "metadata": {"name": "led"},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "led"}},
            "template": {"metadata": {"labels": {"app": "led"}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}
        }
    }))
    .unwrap();
    Api::<ReplicaSet>::namespaced(client.clone(), "default").create(&PostParams::default(), &rs).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    eventually(WAIT, "pod created by the leader", || async { (list(&pods).await.len() == 1).then_some(()) }).await;
    drop(cm);
}
