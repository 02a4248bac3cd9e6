//! The strategic merge patches kubectl sends, applied with the real schemas.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use serde_json::{json, Value};

use super::{check, check_diff};
use crate::patch::k8s_meta::for_type;

fn deployment(containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": containers}
            }
        }
    })
}

fn with(mut base: Value, pointer: &str, value: Value) -> Value {
    if let Some(slot) = base.pointer_mut(pointer) {
        *slot = value;
    }
    base
}

#[test]
fn set_image() {
    let meta = for_type::<Deployment>();
    let before = deployment(json!([{"name": "nginx", "image": "nginx:1.24"}]));
    let after = deployment(json!([{"name": "nginx", "image": "nginx:1.25"}]));
    let patch = json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"image":"nginx:1.25","name":"nginx"}]}}}});
    check(before.clone(), patch, &meta, Ok(after.clone()));
    // kubectl computes exactly that patch (byte for byte) with a two-way diff.
    check_diff(
        before,
        after,
        &meta,
        Ok(
            r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"image":"nginx:1.25","name":"nginx"}]}}}}"#,
        ),
    );
    // With a sidecar that the order list leaves out, the sidecar stays put.
    let before = deployment(
        json!([{"name": "nginx", "image": "nginx:1.24"}, {"name": "log", "image": "busybox"}]),
    );
    let after = deployment(
        json!([{"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}]),
    );
    let patch = json!({"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"nginx"}],"containers":[{"image":"nginx:1.25","name":"nginx"}]}}}});
    check(before, patch, &meta, Ok(after));
}

#[test]
fn apply_adds_container_in_order() {
    let meta = for_type::<Deployment>();
    let before = deployment(json!([{"name": "web", "image": "nginx"}]));
    let patch = json!({
        "metadata": {"annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}},
        "spec": {
            "replicas": 3,
            "template": {"spec": {
                "$setElementOrder/containers": [{"name": "web"}, {"name": "log"}],
                "containers": [{"image": "busybox", "name": "log"}]
            }}
        }
    });
    let after = with(
        with(
            deployment(
                json!([{"name": "web", "image": "nginx"}, {"name": "log", "image": "busybox"}]),
            ),
            "/spec/replicas",
            json!(3),
        ),
        "/metadata",
        json!({"name": "web", "namespace": "default", "labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}\n"}}),
    );
    check(before, patch, &meta, Ok(after));
}

#[test]
fn patch_without_order_prepends_new_container() {
    // `kubectl patch --type=strategic` with a new container: upstream puts it first.
    let meta = for_type::<Deployment>();
    let before = deployment(json!([{"name": "web", "image": "nginx"}]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "log", "image": "busybox"}]}}}});
    let after =
        deployment(json!([{"name": "log", "image": "busybox"}, {"name": "web", "image": "nginx"}]));
    check(before, patch, &meta, Ok(after));
}

#[test]
fn delete_container() {
    let meta = for_type::<Deployment>();
    let before =
        deployment(json!([{"name": "web", "image": "nginx"}, {"name": "log", "image": "busybox"}]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"$patch": "delete", "name": "log"}]}}}});
    check(
        before.clone(),
        patch,
        &meta,
        Ok(deployment(json!([{"name": "web", "image": "nginx"}]))),
    );
    // The same via kubectl edit / apply (two-way diff).
    check_diff(
        before,
        deployment(json!([{"name": "web", "image": "nginx"}])),
        &meta,
        Ok(
            r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"$patch":"delete","name":"log"}]}}}}"#,
        ),
    );
}

#[test]
fn env_ports_and_mounts_merge_by_key() {
    let meta = for_type::<Deployment>();
    let before = deployment(json!([{
        "name": "web",
        "image": "nginx",
        "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "ports": [{"containerPort": 80, "protocol": "TCP"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data"}],
        "args": ["--a", "--b"]
    }]));
    let patch = json!({"spec": {"template": {"spec": {"containers": [{
        "name": "web",
        "env": [{"name": "B", "value": "3"}, {"name": "A", "$patch": "delete"}],
        "ports": [{"containerPort": 443, "protocol": "TCP"}],
        "volumeMounts": [{"mountPath": "/data", "readOnly": true}],
        "args": ["--c"]
    }]}}}});
    let after = deployment(json!([{
        "name": "web",
        "image": "nginx",
        "env": [{"name": "B", "value": "3"}],
        "ports": [{"containerPort": 443, "protocol": "TCP"}, {"containerPort": 80, "protocol": "TCP"}],
        "volumeMounts": [{"name": "data", "mountPath": "/data", "readOnly": true}],
        "args": ["--c"]
    }]));
    check(before, patch, &meta, Ok(after));
}

#[test]
fn rollout_restart_pause_and_labels() {
    let meta = for_type::<Deployment>();
    let before = deployment(json!([{"name": "web", "image": "nginx"}]));
    let restart = json!({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2025-01-01T00:00:00Z"}}}}});
    let after = with(
        before.clone(),
        "/spec/template/metadata",
        json!({"labels": {"app": "web"}, "annotations": {"kubectl.kubernetes.io/restartedAt": "2025-01-01T00:00:00Z"}}),
    );
    check(before.clone(), restart, &meta, Ok(after));
    let pause = json!({"spec": {"paused": true}});
    let mut paused = before.clone();
    if let Some(spec) = paused.pointer_mut("/spec").and_then(Value::as_object_mut) {
        spec.insert("paused".into(), json!(true));
    }
    check(before.clone(), pause, &meta, Ok(paused));
    // `kubectl label web app- tier=fe` style: null deletes, new keys add.
    let label = json!({"metadata": {"labels": {"app": null, "tier": "fe"}}});
    let relabeled = with(before.clone(), "/metadata/labels", json!({"tier": "fe"}));
    check(before, label, &meta, Ok(relabeled));
}

#[test]
fn deployment_strategy_retain_keys() {
    let meta = for_type::<Deployment>();
    let before = deployment(json!([{"name": "web", "image": "nginx"}]));
    let patch = json!({"spec": {"strategy": {"$retainKeys": ["type"], "rollingUpdate": null, "type": "Recreate"}}});
    let after = with(
        before.clone(),
        "/spec/strategy",
        json!({"type": "Recreate"}),
    );
    check(before.clone(), patch, &meta, Ok(after.clone()));
    // kubectl's diff builds the directive because the field is `retainKeys`.
    check_diff(
        before,
        after,
        &meta,
        Ok(
            r#"{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"}}}"#,
        ),
    );
}

fn node(spec: Value) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": "n1"},
        "spec": spec,
        "status": {"conditions": [
            {"type": "Ready", "status": "True"},
            {"type": "MemoryPressure", "status": "False"}
        ]}
    })
}

#[test]
fn cordon_and_taint() {
    let meta = for_type::<Node>();
    let before =
        node(json!({"podCIDR": "10.0.0.0/24", "taints": [{"key": "a", "effect": "NoSchedule"}]}));
    check(
        before.clone(),
        json!({"spec": {"unschedulable": true}}),
        &meta,
        Ok(node(
            json!({"podCIDR": "10.0.0.0/24", "taints": [{"key": "a", "effect": "NoSchedule"}], "unschedulable": true}),
        )),
    );
    // Taints have no patch strategy: kubectl taint sends the whole new list.
    let taints = json!([{"effect": "NoSchedule", "key": "k", "value": "v"}, {"effect": "NoSchedule", "key": "a"}]);
    check(
        before.clone(),
        json!({"spec": {"taints": taints}}),
        &meta,
        Ok(node(json!({"podCIDR": "10.0.0.0/24", "taints": taints}))),
    );
    check(
        before,
        json!({"spec": {"taints": []}}),
        &meta,
        Ok(node(json!({"podCIDR": "10.0.0.0/24", "taints": []}))),
    );
}

#[test]
fn node_status_conditions_merge_by_type() {
    let meta = for_type::<Node>();
    let before = node(json!({}));
    let patch = json!({"status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}});
    let mut after = node(json!({}));
    if let Some(c) = after.pointer_mut("/status/conditions/0") {
        *c = json!({"type": "Ready", "status": "False", "reason": "KubeletNotReady"});
    }
    check(before, patch, &meta, Ok(after));
}

#[test]
fn metadata_lists() {
    let meta = for_type::<Pod>();
    let pod = |metadata: Value| json!({"metadata": metadata, "spec": {"containers": [{"name": "c", "image": "i"}]}});
    let owner = |uid: &str, name: &str| json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": name, "uid": uid});
    check(
        pod(json!({"name": "p", "finalizers": ["a"]})),
        json!({"metadata": {"finalizers": ["b"]}}),
        &meta,
        Ok(pod(json!({"name": "p", "finalizers": ["b", "a"]}))),
    );
    check(
        pod(json!({"name": "p", "finalizers": ["a", "b"]})),
        json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        &meta,
        Ok(pod(json!({"name": "p", "finalizers": ["b"]}))),
    );
    check(
        pod(json!({"name": "p", "finalizers": ["a"]})),
        json!({"metadata": {"finalizers": null}}),
        &meta,
        Ok(pod(json!({"name": "p"}))),
    );
    check(
        pod(json!({"name": "p", "ownerReferences": [owner("u1", "rs1")]})),
        json!({"metadata": {"ownerReferences": [{"uid": "u1", "controller": true}, owner("u2", "rs2")]}}),
        &meta,
        Ok(pod(json!({"name": "p", "ownerReferences": [
            {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs1", "uid": "u1", "controller": true},
            owner("u2", "rs2")
        ]}))),
    );
}

#[test]
fn pod_spec_lists() {
    let meta = for_type::<Pod>();
    let pod = |spec: Value| json!({"metadata": {"name": "p"}, "spec": spec});
    // Tolerations are replaced; volumes merge by name with $retainKeys.
    check(
        pod(json!({
            "containers": [{"name": "c", "image": "i"}],
            "tolerations": [{"key": "a", "operator": "Exists"}],
            "volumes": [{"name": "data", "emptyDir": {}}, {"name": "cfg", "configMap": {"name": "x"}}]
        })),
        json!({"spec": {
            "tolerations": [{"key": "b", "operator": "Exists"}],
            "volumes": [{"$retainKeys": ["hostPath", "name"], "hostPath": {"path": "/x"}, "name": "data"}]
        }}),
        &meta,
        Ok(pod(json!({
            "containers": [{"name": "c", "image": "i"}],
            "tolerations": [{"key": "b", "operator": "Exists"}],
            "volumes": [{"name": "data", "hostPath": {"path": "/x"}}, {"name": "cfg", "configMap": {"name": "x"}}]
        }))),
    );
    // The same volume change computed by a diff carries $retainKeys.
    check_diff(
        pod(
            json!({"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "data", "emptyDir": {}}]}),
        ),
        pod(
            json!({"containers": [{"name": "c", "image": "i"}], "volumes": [{"name": "data", "hostPath": {"path": "/x"}}]}),
        ),
        &meta,
        Ok(
            r#"{"spec":{"$setElementOrder/volumes":[{"name":"data"}],"volumes":[{"$retainKeys":["hostPath","name"],"emptyDir":null,"hostPath":{"path":"/x"},"name":"data"}]}}"#,
        ),
    );
    // imagePullSecrets by name, hostAliases by ip, topologySpreadConstraints by topologyKey.
    check(
        pod(json!({
            "containers": [{"name": "c", "image": "i"}],
            "imagePullSecrets": [{"name": "a"}],
            "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["a"]}],
            "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 1, "whenUnsatisfiable": "DoNotSchedule"}],
            "nodeSelector": {"disk": "ssd"}
        })),
        json!({"spec": {
            "imagePullSecrets": [{"name": "b"}],
            "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}],
            "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2}],
            "nodeSelector": {"zone": "a"}
        }}),
        &meta,
        Ok(pod(json!({
            "containers": [{"name": "c", "image": "i"}],
            "imagePullSecrets": [{"name": "b"}, {"name": "a"}],
            "hostAliases": [{"ip": "1.1.1.1", "hostnames": ["b"]}],
            "topologySpreadConstraints": [{"topologyKey": "zone", "maxSkew": 2, "whenUnsatisfiable": "DoNotSchedule"}],
            "nodeSelector": {"disk": "ssd", "zone": "a"}
        }))),
    );
    // Containers need their merge key.
    check(
        pod(json!({"containers": [{"name": "c", "image": "i"}]})),
        json!({"spec": {"containers": [{"image": "j"}]}}),
        &meta,
        Err("map: map[image:j] does not contain declared merge key: name"),
    );
}

#[test]
fn service_ports_merge_by_port() {
    let meta = for_type::<Service>();
    let svc = |ports: Value| json!({"metadata": {"name": "s"}, "spec": {"selector": {"app": "web"}, "ports": ports}});
    check(
        svc(json!([{"name": "http", "port": 80, "targetPort": 8080}])),
        json!({"spec": {"ports": [{"port": 80, "targetPort": 9090}, {"name": "https", "port": 443}]}}),
        &meta,
        Ok(svc(
            json!([{"name": "http", "port": 80, "targetPort": 9090}, {"name": "https", "port": 443}]),
        )),
    );
}

#[test]
fn custom_resources_fall_back_to_json_merge() {
    // Fields unknown to the schema: maps merge, lists replace.
    let meta = for_type::<Deployment>();
    check(
        json!({"spec": {"extra": {"a": [1, 2], "m": {"x": 1}}}}),
        json!({"spec": {"extra": {"a": [3], "m": {"y": 2}}}}),
        &meta,
        Ok(json!({"spec": {"extra": {"a": [3], "m": {"x": 1, "y": 2}}}})),
    );
}
