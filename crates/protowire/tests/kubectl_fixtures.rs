//! Bodies captured from a real kubectl 1.33 (tests/fixtures/capture.py) decode to the JSON
//! kubectl would have sent, and that JSON survives a round trip through the k8s-openapi
//! types (so every field name is one the Kubernetes JSON schema knows).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::api::{apps, authorization, batch, core, rbac};
use k8s_openapi::serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

fn check<T: DeserializeOwned + Serialize>(fixture: &str, expected: Value) {
    let path = format!("{}/tests/fixtures/{fixture}.pb", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let decoded = protowire::decode(&body).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    assert_eq!(decoded, expected, "\n got: {decoded:#}\nwant: {expected:#}");

    let typed: T =
        serde_json::from_value(decoded.clone()).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let typed = serde_json::to_value(&typed).expect("serialize");
    assert_eq!(
        typed,
        decoded,
        "a field was lost through k8s-openapi's {}",
        std::any::type_name::<T>()
    );
}

#[test]
fn create_configmap() {
    // kubectl create configmap game-config --from-literal=a=b --from-literal=empty=
    check::<core::v1::ConfigMap>(
        "configmap",
        json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "game-config", "namespace": "default", "generation": 0},
            "data": {"a": "b", "empty": ""}
        }),
    );
}

#[test]
fn create_secret_generic() {
    // kubectl create secret generic creds --from-literal=password=s3crét
    check::<core::v1::Secret>(
        "secret",
        json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "creds", "namespace": "default", "generation": 0},
            "data": {"password": "czNjcsOpdA=="}
        }),
    );
}

#[test]
fn create_deployment() {
    // kubectl create deployment web --image=nginx:1.27 --port=80 --replicas=2
    check::<apps::v1::Deployment>(
        "deployment",
        json!({
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "generation": 0, "labels": {"app": "web"}},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"generation": 0, "labels": {"app": "web"}},
                    "spec": {
                        "containers": [{
                            "name": "nginx",
                            "image": "nginx:1.27",
                            "ports": [{"hostPort": 0, "containerPort": 80}],
                            "resources": {},
                            "stdin": false,
                            "stdinOnce": false,
                            "tty": false
                        }],
                        "hostNetwork": false,
                        "hostPID": false,
                        "hostIPC": false
                    }
                },
                "strategy": {},
                "minReadySeconds": 0,
                "paused": false
            },
            "status": {
                "observedGeneration": 0,
                "replicas": 0,
                "updatedReplicas": 0,
                "availableReplicas": 0,
                "unavailableReplicas": 0,
                "readyReplicas": 0
            }
        }),
    );
}

#[test]
fn create_service_clusterip() {
    // kubectl create service clusterip web --tcp=80:8080
    check::<core::v1::Service>(
        "service",
        json!({
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "web", "namespace": "default", "generation": 0, "labels": {"app": "web"}},
            "spec": {
                "ports": [{"name": "80-8080", "protocol": "TCP", "port": 80, "targetPort": 8080, "nodePort": 0}],
                "selector": {"app": "web"},
                "type": "ClusterIP",
                "healthCheckNodePort": 0,
                "publishNotReadyAddresses": false
            },
            "status": {"loadBalancer": {}}
        }),
    );
}

#[test]
fn create_rolebinding() {
    // kubectl create rolebinding admin-binding --clusterrole=admin --user=alice --serviceaccount=default:robot
    check::<rbac::v1::RoleBinding>(
        "rolebinding",
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": "admin-binding", "namespace": "default", "generation": 0},
            "subjects": [
                {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
                {"kind": "ServiceAccount", "name": "robot", "namespace": "default"}
            ],
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"}
        }),
    );
}

#[test]
fn create_cronjob() {
    // kubectl create cronjob tick --image=busybox --schedule='*/5 * * * *' -- echo hi
    check::<batch::v1::CronJob>(
        "cronjob",
        json!({
            "apiVersion": "batch/v1",
            "kind": "CronJob",
            "metadata": {"name": "tick", "namespace": "default", "generation": 0},
            "spec": {
                "schedule": "*/5 * * * *",
                "jobTemplate": {
                    "metadata": {"name": "tick", "generation": 0},
                    "spec": {"template": {
                        "metadata": {"generation": 0},
                        "spec": {
                            "containers": [{
                                "name": "tick",
                                "image": "busybox",
                                "command": ["echo", "hi"],
                                "resources": {},
                                "stdin": false,
                                "stdinOnce": false,
                                "tty": false
                            }],
                            "restartPolicy": "OnFailure",
                            "hostNetwork": false,
                            "hostPID": false,
                            "hostIPC": false
                        }
                    }}
                }
            },
            "status": {}
        }),
    );
}

#[test]
fn auth_can_i() {
    // kubectl auth can-i create pods -n default
    check::<authorization::v1::SelfSubjectAccessReview>(
        "selfsubjectaccessreview",
        json!({
            "apiVersion": "authorization.k8s.io/v1",
            "kind": "SelfSubjectAccessReview",
            "metadata": {"generation": 0},
            "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods"}},
            "status": {"allowed": false, "denied": false}
        }),
    );
}
