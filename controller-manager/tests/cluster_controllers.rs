//! The cluster controllers against a real apiserver: namespace deletion,
//! garbage collection (Background, Orphan, Foreground), default service
//! accounts and `kube-root-ca.crt`, Endpoints/EndpointSlices, Job backoff,
//! node lifecycle.
//!
//! Needs the binaries: `cargo build -p apiserver -p controller-manager`.
//! The controllers run with upstream's per-controller service accounts
//! (`--use-service-account-credentials`, the default) and bootstrap roles.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::time::Duration;

use cluster_harness::{eventually, Cluster, Process};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Endpoints, Namespace, Node, Pod, Secret, Service, ServiceAccount};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Api, Client};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(30);

async fn start(controllers: &str, extra: &[&str]) -> (Cluster, Client, Process) {
    let cluster = Cluster::start().await;
    let client = cluster.admin_client().await;
    let kubeconfig = cluster.kubeconfig("controller-manager").display().to_string();
    let mut args = vec!["--kubeconfig", kubeconfig.as_str(), "--leader-elect=false", "--controllers", controllers];
    args.extend_from_slice(extra);
    let cm = cluster.spawn("controller-manager", &args);
    (cluster, client, cm)
}

async fn create_ns(client: &Client, name: &str) {
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await.unwrap();
}

async fn configmap(api: &Api<ConfigMap>, name: &str, owners: serde_json::Value) -> ConfigMap {
    let cm: ConfigMap = serde_json::from_value(json!({"metadata": {"name": name, "ownerReferences": owners}, "data": {"k": "v"}})).unwrap();
    api.create(&PostParams::default(), &cm).await.unwrap()
}

fn owner_ref(owner: &ConfigMap, block: bool) -> serde_json::Value {
    json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": owner.metadata.name, "uid": owner.metadata.uid, "blockOwnerDeletion": block}])
}

/// [`eventually`], but a timeout shows the controller-manager's log.
async fn wait_for<T, F, Fut>(cm: &Process, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    match tokio::time::timeout(WAIT, eventually(WAIT + Duration::from_secs(5), what, check)).await {
        Ok(v) => v,
        Err(_) => panic!("timed out waiting for {what}; controller-manager log:\n{}", cm.log_tail()),
    }
}

async fn gone<K>(api: &Api<K>, name: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    matches!(api.get_opt(name).await, Ok(None))
}

#[tokio::test]
async fn namespace_deletion_removes_contents_then_the_namespace() {
    let (_cluster, client, cm) = start("namespace", &[]).await;
    create_ns(&client, "doomed").await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    configmap(&cms, "a", json!([])).await;
    let secret: Secret = serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"x": "y"}})).unwrap();
    Api::<Secret>::namespaced(client.clone(), "doomed").create(&PostParams::default(), &secret).await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    namespaces.delete("doomed", &DeleteParams::default()).await.unwrap();
    eventually(WAIT, "namespace doomed to be deleted", || async {
        gone(&namespaces, "doomed").await.then_some(())
    })
    .await;
    assert!(gone(&cms, "a").await, "content removed; cm log:\n{}", cm.log_tail());
}

#[tokio::test]
async fn garbage_collector_background_orphan_foreground() {
    let (_cluster, client, cm) = start("garbage-collector", &[]).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    // Background.
    let owner = configmap(&cms, "owner", json!([])).await;
    configmap(&cms, "dep-1", owner_ref(&owner, false)).await;
    configmap(&cms, "dep-2", owner_ref(&owner, true)).await;
    // Orphan.
    let owner2 = configmap(&cms, "owner2", json!([])).await;
    configmap(&cms, "dep-3", owner_ref(&owner2, true)).await;
    // Foreground.
    let owner3 = configmap(&cms, "owner3", json!([])).await;
    configmap(&cms, "dep-4", owner_ref(&owner3, true)).await;
    // A dependent whose owner never existed.
    configmap(&cms, "dangling", json!([{"apiVersion": "v1", "kind": "ConfigMap", "name": "nobody", "uid": "0000-nobody"}])).await;

    cms.delete("owner", &DeleteParams::background()).await.unwrap();
    cms.delete("owner2", &DeleteParams::orphan()).await.unwrap();
    cms.delete("owner3", &DeleteParams::foreground()).await.unwrap();

    eventually(WAIT, "background dependents deleted", || async {
        (gone(&cms, "dep-1").await && gone(&cms, "dep-2").await).then_some(())
    })
    .await;
    eventually(WAIT, "orphaning owner deleted", || async { gone(&cms, "owner2").await.then_some(()) }).await;
    let dep3 = cms.get("dep-3").await.unwrap();
    assert!(dep3.metadata.owner_references.unwrap_or_default().is_empty(), "dep-3 orphaned");
    eventually(WAIT, "foreground owner and dependent deleted", || async {
        (gone(&cms, "dep-4").await && gone(&cms, "owner3").await).then_some(())
    })
    .await;
    eventually(WAIT, "dependent of a never-existing owner deleted", || async { gone(&cms, "dangling").await.then_some(()) }).await;
    assert!(cms.get_opt("dep-3").await.unwrap().is_some(), "orphan survives; log:\n{}", cm.log_tail());
}

#[tokio::test]
async fn new_namespace_gets_default_service_account_and_root_ca() {
    let cluster = Cluster::start().await;
    let client = cluster.admin_client().await;
    let kubeconfig = cluster.kubeconfig("controller-manager").display().to_string();
    let ca_path = cluster.pki_dir().join("ca.crt");
    let ca = std::fs::read_to_string(&ca_path).unwrap();
    let ca_arg = ca_path.display().to_string();
    let _cm = cluster.spawn(
        "controller-manager",
        &["--kubeconfig", &kubeconfig, "--leader-elect=false", "--controllers", "serviceaccount,root-ca-cert-publisher", "--root-ca-file", &ca_arg],
    );
    create_ns(&client, "fresh").await;
    let sas: Api<ServiceAccount> = Api::namespaced(client.clone(), "fresh");
    eventually(WAIT, "default service account", || async { sas.get_opt("default").await.ok().flatten() }).await;
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), "fresh");
    let data_of = |cm: &ConfigMap| cm.data.clone().unwrap_or_default().get("ca.crt").cloned();
    let published = eventually(WAIT, "kube-root-ca.crt", || async { cms.get_opt("kube-root-ca.crt").await.ok().flatten() }).await;
    assert_eq!(data_of(&published).as_deref(), Some(ca.as_str()));
    // Edited: restored.
    cms.patch("kube-root-ca.crt", &PatchParams::default(), &Patch::Merge(json!({"data": {"ca.crt": "tampered"}}))).await.unwrap();
    eventually(WAIT, "kube-root-ca.crt restored", || async {
        let cm = cms.get("kube-root-ca.crt").await.ok()?;
        (data_of(&cm).as_deref() == Some(ca.as_str())).then_some(())
    })
    .await;
    // Deleted: recreated; the default service account too.
    cms.delete("kube-root-ca.crt", &DeleteParams::default()).await.unwrap();
    sas.delete("default", &DeleteParams::default()).await.unwrap();
    eventually(WAIT, "kube-root-ca.crt recreated", || async { cms.get_opt("kube-root-ca.crt").await.ok().flatten() }).await;
    eventually(WAIT, "default service account recreated", || async { sas.get_opt("default").await.ok().flatten() }).await;
}

async fn make_pod(pods: &Api<Pod>, name: &str, ip: &str, ready: bool) {
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": name, "labels": {"app": "web"}},
        "spec": {"containers": [{"name": "c", "image": "nginx", "ports": [{"name": "http", "containerPort": 8080}]}]},
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();
    let status = json!({"status": {
        "phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
        "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
    }});
    pods.patch_status(name, &PatchParams::default(), &Patch::Merge(status)).await.unwrap();
}

#[tokio::test]
async fn endpoints_and_slices_follow_pod_readiness() {
    let (_cluster, client, cm) = start("endpoint,endpointslice", &[]).await;
    let svcs: Api<Service> = Api::namespaced(client.clone(), "default");
    let svc: Service = serde_json::from_value(json!({
        "metadata": {"name": "web", "labels": {"tier": "front"}},
        "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]},
    }))
    .unwrap();
    svcs.create(&PostParams::default(), &svc).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    make_pod(&pods, "web-a", "10.10.0.1", true).await;
    make_pod(&pods, "web-b", "10.10.0.2", false).await;

    let eps: Api<Endpoints> = Api::namespaced(client.clone(), "default");
    let ep = eventually(WAIT, "endpoints with one ready and one not-ready address", || async {
        let ep = eps.get_opt("web").await.ok().flatten()?;
        let subset = ep.subsets.clone()?.into_iter().next()?;
        let ready: Vec<String> = subset.addresses.clone().unwrap_or_default().into_iter().map(|a| a.ip).collect();
        let not_ready: Vec<String> = subset.not_ready_addresses.clone().unwrap_or_default().into_iter().map(|a| a.ip).collect();
        (ready == ["10.10.0.1"] && not_ready == ["10.10.0.2"]).then_some(ep)
    })
    .await;
    let subset = ep.subsets.clone().unwrap().remove(0);
    assert_eq!(subset.ports.unwrap()[0].port, 8080, "named target port resolved");
    assert!(ep.metadata.annotations.unwrap_or_default().contains_key("endpoints.kubernetes.io/last-change-trigger-time"));
    assert_eq!(ep.metadata.labels.unwrap_or_default().get("tier").map(String::as_str), Some("front"));

    let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), "default");
    let lp = ListParams::default().labels("kubernetes.io/service-name=web");
    let slice = eventually(WAIT, "endpoint slice with both endpoints", || async {
        let list = slices.list(&lp).await.ok()?;
        list.items.into_iter().find(|s| s.endpoints.len() == 2)
    })
    .await;
    let labels = slice.metadata.labels.clone().unwrap_or_default();
    assert_eq!(labels.get("endpointslice.kubernetes.io/managed-by").map(String::as_str), Some("endpointslice-controller.k8s.io"));
    let ready: BTreeMap<String, bool> = slice
        .endpoints
        .iter()
        .map(|e| (e.addresses[0].clone(), e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false)))
        .collect();
    assert_eq!(ready, BTreeMap::from([("10.10.0.1".to_string(), true), ("10.10.0.2".to_string(), false)]));
    assert_eq!(slice.ports.clone().unwrap()[0].port, Some(8080));
    assert_eq!(slice.metadata.owner_references.clone().unwrap()[0].kind, "Service");

    // b becomes ready: both addresses ready.
    pods.patch_status("web-b", &PatchParams::default(), &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "True"}]}})))
        .await
        .unwrap();
    eventually(WAIT, "both addresses ready", || async {
        let ep = eps.get_opt("web").await.ok().flatten()?;
        let subset = ep.subsets?.into_iter().next()?;
        (subset.addresses.unwrap_or_default().len() == 2 && subset.not_ready_addresses.is_none()).then_some(())
    })
    .await;
    // The apiserver's own default/kubernetes endpoints are left alone.
    let kubernetes = eps.get_opt("kubernetes").await.unwrap();
    assert!(kubernetes.is_none_or(|e| !e.metadata.labels.unwrap_or_default().contains_key("tier")), "log:\n{}", cm.log_tail());
}

#[tokio::test]
async fn job_reaches_backoff_limit() {
    let (_cluster, client, cm) = start("job", &[]).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "flaky"},
        "spec": {
            "backoffLimit": 1,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
        },
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let lp = ListParams::default().labels("batch.kubernetes.io/job-name=flaky");
    // Fail pods as they appear; the second comes after the 10 s backoff.
    let mut failed = std::collections::BTreeSet::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let list = pods.list(&lp).await.unwrap();
        for p in &list.items {
            let name = p.metadata.name.clone().unwrap();
            assert!(p.metadata.finalizers.is_none() || failed.contains(&name) || p.metadata.finalizers.clone().unwrap().contains(&"batch.kubernetes.io/job-tracking".to_string()));
            if !failed.contains(&name) {
                pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Failed"}}))).await.unwrap();
                failed.insert(name);
            }
        }
        let current = jobs.get("flaky").await.unwrap();
        let conds = current.status.clone().and_then(|s| s.conditions).unwrap_or_default();
        if let Some(c) = conds.iter().find(|c| c.type_ == "Failed" && c.status == "True") {
            assert_eq!(c.reason.as_deref(), Some("BackoffLimitExceeded"));
            assert_eq!(c.message.as_deref(), Some("Job has reached the specified backoff limit"));
            assert!(conds.iter().any(|c| c.type_ == "FailureTarget"));
            break;
        }
        assert!(std::time::Instant::now() < deadline, "job did not fail; status {:?}; log:\n{}", current.status, cm.log_tail());
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(failed.len(), 2, "one replacement after the first failure; job {:?}; log:\n{}", jobs.get("flaky").await.unwrap().status, cm.log());
    eventually(WAIT, "failures counted and finalizers removed", || async {
        let j = jobs.get("flaky").await.ok()?;
        let list = pods.list(&lp).await.ok()?;
        let clean = list.items.iter().all(|p| p.metadata.finalizers.clone().unwrap_or_default().is_empty());
        (j.status?.failed == Some(2) && clean).then_some(())
    })
    .await;
}

#[tokio::test]
async fn node_lifecycle_marks_silent_node_unknown_and_taints_it() {
    let (_cluster, client, cm) = start("node-lifecycle", &["--node-monitor-grace-period", "3s"]).await;
    // Two nodes: with every node silent upstream presumes the control plane
    // is cut off and adds no NoExecute taint ("master disruption mode").
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    for name in ["silent", "alive"] {
        let node: Node = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
        nodes.create(&PostParams::default(), &node).await.unwrap();
        let now = k8s_openapi::jiff::Timestamp::now().to_string();
        nodes
            .patch_status(
                name,
                &PatchParams::default(),
                &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "lastHeartbeatTime": now, "lastTransitionTime": now}]}})),
            )
            .await
            .unwrap();
        let lease: Lease = serde_json::from_value(json!({
            "metadata": {"name": name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": name, "leaseDurationSeconds": 40, "renewTime": k8s_openapi::jiff::Timestamp::now().to_string()},
        }))
        .unwrap();
        leases.create(&PostParams::default(), &lease).await.unwrap();
    }
    // "alive" keeps renewing its lease.
    let renewer = tokio::spawn({
        let leases = leases.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(500)).await;
                let patch = json!({"spec": {"renewTime": k8s_openapi::jiff::Timestamp::now().to_string()}});
                let _ = leases.patch("alive", &PatchParams::default(), &Patch::Merge(patch)).await;
            }
        }
    });
    let node = wait_for(&cm, "node Ready=Unknown with unreachable taints", || async {
        let n = nodes.get("silent").await.ok()?;
        let ready = n.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")?.clone();
        let taints = n.spec.as_ref()?.taints.clone().unwrap_or_default();
        let has = |effect: &str| taints.iter().any(|t| t.key == "node.kubernetes.io/unreachable" && t.effect == effect);
        (ready.status == "Unknown" && has("NoSchedule") && has("NoExecute")).then_some(n)
    })
    .await;
    let ready = node.status.unwrap().conditions.unwrap().into_iter().find(|c| c.type_ == "Ready").unwrap();
    assert_eq!(ready.reason.as_deref(), Some("NodeStatusUnknown"));
    assert_eq!(ready.message.as_deref(), Some("Kubelet stopped posting node status."), "log:\n{}", cm.log_tail());
    let alive = nodes.get("alive").await.unwrap();
    let alive_ready = alive.status.clone().unwrap().conditions.unwrap_or_default().into_iter().find(|c| c.type_ == "Ready");
    let alive_ready = alive_ready.unwrap_or_else(|| panic!("alive: {:?}\nlog:\n{}", alive.status, cm.log_tail()));
    assert_eq!(alive_ready.status, "True", "a node renewing its lease stays Ready");
    assert!(alive.spec.and_then(|s| s.taints).unwrap_or_default().is_empty());
    renewer.abort();
}

#[tokio::test]
async fn persistent_volume_binder_binds_and_provisions() {
    use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
    use k8s_openapi::api::storage::v1::StorageClass;
    // With the protection controllers: admission puts their finalizers on
    // every claim and volume, so deletes finish only with them running.
    let (_cluster, client, cm) = start("persistentvolume-binder,pvc-protection,pv-protection", &[]).await;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": {"name": "manual"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/manual"}, "storageClassName": "", "persistentVolumeReclaimPolicy": "Retain"},
    }))
    .unwrap();
    pvs.create(&PostParams::default(), &pv).await.unwrap();
    let claim = |name: &str, class: &str| -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": class, "resources": {"requests": {"storage": "500Mi"}}},
        }))
        .unwrap()
    };
    claims.create(&PostParams::default(), &claim("static", "")).await.unwrap();
    wait_for(&cm, "static claim bound to the manual volume", || async {
        let c = claims.get("static").await.ok()?;
        let v = pvs.get("manual").await.ok()?;
        let bound = c.status?.phase.as_deref() == Some("Bound") && v.status?.phase.as_deref() == Some("Bound");
        (bound && c.spec?.volume_name.as_deref() == Some("manual")).then_some(())
    })
    .await;

    let sc: StorageClass = serde_json::from_value(json!({
        "metadata": {"name": "local"}, "provisioner": "ferrokube.io/local-path", "reclaimPolicy": "Delete", "volumeBindingMode": "Immediate",
    }))
    .unwrap();
    Api::<StorageClass>::all(client.clone()).create(&PostParams::default(), &sc).await.unwrap();
    let created = claims.create(&PostParams::default(), &claim("dynamic", "local")).await.unwrap();
    let pv_name = format!("pvc-{}", created.metadata.uid.clone().unwrap());
    let provisioned = wait_for(&cm, "dynamic claim bound to a provisioned volume", || async {
        let c = claims.get("dynamic").await.ok()?;
        let v = pvs.get_opt(&pv_name).await.ok()??;
        (c.status?.phase.as_deref() == Some("Bound") && c.spec?.volume_name.as_deref() == Some(pv_name.as_str())).then_some(v)
    })
    .await;
    let spec = provisioned.spec.unwrap();
    assert!(spec.host_path.unwrap().path.starts_with("/var/lib/ferrokube/local-path/"));
    assert_eq!(spec.storage_class_name.as_deref(), Some("local"));
    // Deleting the claim deletes the volume (reclaim policy Delete).
    claims.delete("dynamic", &DeleteParams::default()).await.unwrap();
    wait_for(&cm, "provisioned volume deleted with its claim", || async { gone(&pvs, &pv_name).await.then_some(()) }).await;
}

#[tokio::test]
async fn disruption_budget_status_follows_ready_pods() {
    use k8s_openapi::api::policy::v1::PodDisruptionBudget;
    let (_cluster, client, cm) = start("disruption", &[]).await;
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    make_pod(&pods, "web-a", "10.10.0.1", true).await;
    make_pod(&pods, "web-b", "10.10.0.2", true).await;
    let pdbs: Api<PodDisruptionBudget> = Api::namespaced(client.clone(), "default");
    let pdb: PodDisruptionBudget = serde_json::from_value(json!({
        "metadata": {"name": "web"}, "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": "web"}}},
    }))
    .unwrap();
    pdbs.create(&PostParams::default(), &pdb).await.unwrap();
    wait_for(&cm, "budget allows one disruption", || async {
        let s = pdbs.get("web").await.ok()?.status?;
        let allowed = s.conditions.unwrap_or_default().iter().any(|c| c.type_ == "DisruptionAllowed" && c.status == "True" && c.reason == "SufficientPods");
        (s.current_healthy == 2 && s.desired_healthy == 1 && s.expected_pods == 2 && s.disruptions_allowed == 1 && allowed).then_some(())
    })
    .await;
    pods.patch_status("web-b", &PatchParams::default(), &Patch::Merge(json!({"status": {"conditions": [{"type": "Ready", "status": "False"}]}})))
        .await
        .unwrap();
    wait_for(&cm, "budget allows no disruption", || async {
        let s = pdbs.get("web").await.ok()?.status?;
        (s.current_healthy == 1 && s.disruptions_allowed == 0).then_some(())
    })
    .await;
}

#[tokio::test]
async fn completed_job_is_deleted_after_its_ttl() {
    let (_cluster, client, cm) = start("job,ttl-after-finished", &[]).await;
    let jobs: Api<Job> = Api::namespaced(client.clone(), "default");
    let job: Job = serde_json::from_value(json!({
        "metadata": {"name": "once"},
        "spec": {
            // Timestamps have whole seconds: with a TTL of 1 s the Job can be
            // deleted a few milliseconds after it completes, before a poll
            // sees it Complete.
            "ttlSecondsAfterFinished": 3,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
        },
    }))
    .unwrap();
    jobs.create(&PostParams::default(), &job).await.unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let lp = ListParams::default().labels("batch.kubernetes.io/job-name=once");
    let pod = wait_for(&cm, "the job's pod", || async { pods.list(&lp).await.ok()?.items.into_iter().next() }).await;
    assert_eq!(pod.metadata.finalizers.clone().unwrap_or_default(), vec!["batch.kubernetes.io/job-tracking".to_string()]);
    assert_eq!(pod.metadata.owner_references.clone().unwrap()[0].kind, "Job");
    let name = pod.metadata.name.clone().unwrap();
    pods.patch_status(&name, &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Succeeded"}}))).await.unwrap();
    wait_for(&cm, "job Complete with one success", || async {
        let j = jobs.get_opt("once").await.ok()??;
        let status = j.status?;
        let complete = status.conditions.unwrap_or_default().iter().any(|c| c.type_ == "Complete" && c.status == "True" && c.reason.as_deref() == Some("CompletionsReached"));
        (complete && status.succeeded == Some(1) && status.completion_time.is_some()).then_some(())
    })
    .await;
    wait_for(&cm, "job deleted after its TTL", || async { gone(&jobs, "once").await.then_some(()) }).await;
}

fn finalizers<K: kube::Resource>(obj: &K) -> Vec<String> {
    obj.meta().finalizers.clone().unwrap_or_default()
}

#[tokio::test]
async fn claim_used_by_a_pod_stays_terminating_until_the_pod_is_gone() {
    use k8s_openapi::api::core::v1::PersistentVolumeClaim;
    let (_cluster, client, cm) = start("pvc-protection", &[]).await;
    let claims: Api<PersistentVolumeClaim> = Api::namespaced(client.clone(), "default");
    let pods: Api<Pod> = Api::namespaced(client.clone(), "default");
    let claim = |name: &str| -> PersistentVolumeClaim {
        serde_json::from_value(json!({
            "metadata": {"name": name},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}},
        }))
        .unwrap()
    };
    let created = claims.create(&PostParams::default(), &claim("data")).await.unwrap();
    assert_eq!(finalizers(&created), ["kubernetes.io/pvc-protection"], "added by admission");
    let pod: Pod = serde_json::from_value(json!({
        "metadata": {"name": "user"},
        "spec": {
            "nodeName": "node-a",
            "containers": [{"name": "c", "image": "nginx", "volumeMounts": [{"name": "d", "mountPath": "/data"}]}],
            "volumes": [{"name": "d", "persistentVolumeClaim": {"claimName": "data"}}],
        },
    }))
    .unwrap();
    pods.create(&PostParams::default(), &pod).await.unwrap();

    claims.delete("data", &DeleteParams::default()).await.unwrap();
    // The controller looks at the claim (and keeps it) right away; give it
    // time to act wrongly before checking it did not.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = claims.get("data").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some(), "Terminating");
    assert_eq!(finalizers(&held), ["kubernetes.io/pvc-protection"], "kept while the pod uses it; log:\n{}", cm.log_tail());

    // No kubelet here: delete the pod with grace period 0 (gone at once).
    pods.delete("user", &DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() }).await.unwrap();
    wait_for(&cm, "claim deleted once its pod is gone", || async { gone(&claims, "data").await.then_some(()) }).await;

    // A claim that lost its finalizer (created before admission added it)
    // gets it back.
    let legacy = claims.create(&PostParams::default(), &claim("legacy")).await.unwrap();
    let mut stripped = legacy.clone();
    stripped.metadata.finalizers = Some(Vec::new());
    claims.replace("legacy", &PostParams::default(), &stripped).await.unwrap();
    wait_for(&cm, "finalizer restored on a live claim", || async {
        let c = claims.get("legacy").await.ok()?;
        (finalizers(&c) == ["kubernetes.io/pvc-protection"]).then_some(())
    })
    .await;
    // An unused claim goes at once.
    claims.delete("legacy", &DeleteParams::default()).await.unwrap();
    wait_for(&cm, "unused claim deleted", || async { gone(&claims, "legacy").await.then_some(()) }).await;
}

#[tokio::test]
async fn bound_volume_stays_terminating_until_released() {
    use k8s_openapi::api::core::v1::PersistentVolume;
    let (_cluster, client, cm) = start("pv-protection", &[]).await;
    let pvs: Api<PersistentVolume> = Api::all(client.clone());
    let pv: PersistentVolume = serde_json::from_value(json!({
        "metadata": {"name": "disk"},
        "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/disk"}, "persistentVolumeReclaimPolicy": "Retain"},
    }))
    .unwrap();
    let created = pvs.create(&PostParams::default(), &pv).await.unwrap();
    assert_eq!(finalizers(&created), ["kubernetes.io/pv-protection"], "added by admission");
    // What the binder writes once bound.
    pvs.patch_status("disk", &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Bound"}}))).await.unwrap();
    pvs.delete("disk", &DeleteParams::default()).await.unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let held = pvs.get("disk").await.unwrap();
    assert!(held.metadata.deletion_timestamp.is_some(), "Terminating");
    assert_eq!(finalizers(&held), ["kubernetes.io/pv-protection"], "kept while Bound; log:\n{}", cm.log_tail());
    pvs.patch_status("disk", &PatchParams::default(), &Patch::Merge(json!({"status": {"phase": "Released"}}))).await.unwrap();
    wait_for(&cm, "released volume deleted", || async { gone(&pvs, "disk").await.then_some(()) }).await;
}
