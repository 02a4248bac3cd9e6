#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Memory held per pod and per node by the scheduler's cache, measured
//! as the growth of this process's resident set (one test in this binary,
//! so nothing else allocates meanwhile), for
//! the objects of the `deploy` cluster benchmark: a ReplicaSet's pod as the
//! API server serves it once it runs, and a simulated node.


use k8s_openapi::api::core::v1::{Node, Pod};
use scheduler::cache::{Cache, Snapshot};
use scheduler::strip::{strip_node, strip_pod};

/// Resident bytes of this process (`/proc/self/statm`, second field).
fn rss() -> i64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: i64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}

/// A pod of the benchmark's Deployment after the ReplicaSet controller,
/// admission (service account token volume, default tolerations), binding
/// and the node simulator (Running, Ready) — managed fields included, as
/// the API server sends them.
fn running_pod(i: usize, node: &str) -> Pod {
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": format!("bench-7d9f8c6b5-{i:05x}"),
            "generateName": "bench-7d9f8c6b5-",
            "namespace": "default",
            "uid": format!("0b6f3c2e-8d4a-4f7e-9c1b-{i:012x}"),
            "resourceVersion": format!("{}", 100_000 + i),
            "creationTimestamp": "2026-11-22T15:00:00Z",
            "labels": {"app": "bench", "pod-template-hash": "7d9f8c6b5"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "bench-7d9f8c6b5",
                "uid": "5f1e2d3c-4b5a-6978-8a9b-0c1d2e3f4a5b", "controller": true, "blockOwnerDeletion": true}],
            "managedFields": [{"manager": "controller-manager", "operation": "Update", "apiVersion": "v1",
                "time": "2026-11-22T15:00:00Z", "fieldsType": "FieldsV1",
                "fieldsV1": {"f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {}, "f:pod-template-hash": {}}}}}]
        },
        "spec": {
            "volumes": [{"name": "kube-api-access-abcde", "projected": {"defaultMode": 420, "sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt", "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
                {"downwardAPI": {"items": [{"path": "namespace", "fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}]}}]}}],
            "containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}},
                "volumeMounts": [{"name": "kube-api-access-abcde", "readOnly": true, "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount"}],
                "terminationMessagePath": "/dev/termination-log", "terminationMessagePolicy": "File", "imagePullPolicy": "IfNotPresent"}],
            "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
            "serviceAccountName": "default", "serviceAccount": "default", "nodeName": node,
            "securityContext": {}, "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}],
            "priority": 0, "enableServiceLinks": true, "preemptionPolicy": "PreemptLowerPriority"
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": "PodReadyToStartContainers", "status": "True", "lastTransitionTime": "2026-11-22T15:00:01Z"},
                {"type": "Initialized", "status": "True", "lastTransitionTime": "2026-11-22T15:00:01Z"},
                {"type": "Ready", "status": "True", "lastTransitionTime": "2026-11-22T15:00:01Z"},
                {"type": "ContainersReady", "status": "True", "lastTransitionTime": "2026-11-22T15:00:01Z"},
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": "2026-11-22T15:00:00Z"}],
            "hostIP": "10.0.0.1", "hostIPs": [{"ip": "10.0.0.1"}],
            "podIP": "10.1.2.3", "podIPs": [{"ip": "10.1.2.3"}],
            "startTime": "2026-11-22T15:00:01Z",
            "containerStatuses": [{"name": "pause", "state": {"running": {"startedAt": "2026-11-22T15:00:01Z"}},
                "ready": true, "restartCount": 0, "image": "registry.k8s.io/pause:3.10",
                "imageID": "registry.k8s.io/pause@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a",
                "containerID": "sim://0123456789abcdef", "started": true}],
            "qosClass": "Burstable"
        }
    }))
    .unwrap()
}

/// A node of the node simulator (4 CPU, 16Gi, 110 pods).
fn sim_node(i: usize) -> Node {
    let name = format!("sim-node-{i:05}");
    serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": name, "uid": format!("1a2b3c4d-0000-4000-8000-{i:012x}"), "resourceVersion": "12345",
            "creationTimestamp": "2026-11-22T15:00:00Z",
            "labels": {"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux", "beta.kubernetes.io/arch": "amd64", "node.kubernetes.io/instance-type": "simulated"},
            "annotations": {"node.alpha.kubernetes.io/ttl": "0"}
        },
        "spec": {"podCIDR": "10.0.1.0/24", "podCIDRs": ["10.0.1.0/24"]},
        "status": {
            "capacity": {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "allocatable": {"cpu": "4", "memory": "16Gi", "pods": "110", "ephemeral-storage": "100Gi"},
            "conditions": [
                {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": "2026-11-22T15:00:00Z", "lastTransitionTime": "2026-11-22T15:00:00Z", "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
                {"type": "DiskPressure", "status": "False", "lastHeartbeatTime": "2026-11-22T15:00:00Z", "lastTransitionTime": "2026-11-22T15:00:00Z", "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure"},
                {"type": "PIDPressure", "status": "False", "lastHeartbeatTime": "2026-11-22T15:00:00Z", "lastTransitionTime": "2026-11-22T15:00:00Z", "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available"},
                {"type": "Ready", "status": "True", "lastHeartbeatTime": "2026-11-22T15:00:00Z", "lastTransitionTime": "2026-11-22T15:00:00Z", "reason": "KubeletReady", "message": "kubelet is posting ready status"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {"machineID": "m", "systemUUID": "s", "bootID": "b", "kernelVersion": "6.1.0", "osImage": "Simulated",
                "containerRuntimeVersion": "sim://1.0", "kubeletVersion": "v1.33.0", "kubeProxyVersion": "v1.33.0",
                "operatingSystem": "linux", "architecture": "amd64"},
            "images": [{"names": ["registry.k8s.io/pause:3.10"], "sizeBytes": 300000}]
        }
    }))
    .unwrap()
}

const NODES: usize = 1000;
const PODS: usize = 10_000;

#[test]
fn bytes_per_node_and_per_assigned_pod() {
    let mut cache = Cache::new();
    let mut snapshot = Snapshot::default();
    // Warm up the allocator and the JSON paths.
    drop((sim_node(0), running_pod(0, "x")));
    let start = rss();
    for i in 0..NODES {
        let mut n = sim_node(i);
        strip_node(&mut n);
        cache.add_or_update_node(n);
    }
    cache.update_snapshot(&mut snapshot);
    let after_nodes = rss();
    for i in 0..PODS {
        let mut p = running_pod(i, &format!("sim-node-{:05}", i % NODES));
        strip_pod(&mut p);
        cache.add_or_update_pod(&p);
    }
    cache.update_snapshot(&mut snapshot);
    let after_pods = rss();
    let per_node = (after_nodes - start) as f64 / NODES as f64;
    let per_pod = (after_pods - after_nodes) as f64 / PODS as f64;
    eprintln!("resident per node: {per_node:.0} B, per assigned pod: {per_pod:.0} B");
    // A pod's record is ~0.8 KB; the stripped object kept whole was ~8.7 KB.
    assert!(per_pod < 2000.0, "an assigned pod costs {per_pod:.0} B in the cache");
    eprintln!(
        "size_of: Pod {}, PodSpec {}, PodStatus {}, ObjectMeta {}, Container {}, Node {}",
        std::mem::size_of::<Pod>(),
        std::mem::size_of::<k8s_openapi::api::core::v1::PodSpec>(),
        std::mem::size_of::<k8s_openapi::api::core::v1::PodStatus>(),
        std::mem::size_of::<k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta>(),
        std::mem::size_of::<k8s_openapi::api::core::v1::Container>(),
        std::mem::size_of::<Node>(),
    );
}
