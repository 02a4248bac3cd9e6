//! Bodies captured from a real kubectl 1.33 (tests/fixtures/capture.py) decode to the JSON
//! kubectl would have sent, and that JSON survives a round trip through the k8s-openapi
//! types (so every field name is one the Kubernetes JSON schema knows).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use k8s_openapi::api::{
    apps, authentication, authorization, batch, core, networking, policy, rbac, scheduling,
};
use k8s_openapi::serde::{de::DeserializeOwned, Serialize};
use serde_json::{json, Value};

/// Decodes the fixture and compares with the expected JSON.
fn check_json(fixture: &str, expected: Value) -> Value {
    let path = format!("{}/tests/fixtures/{fixture}.pb", env!("CARGO_MANIFEST_DIR"));
    let body = std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let decoded = protowire::decode(&body).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    assert_eq!(decoded, expected, "\n got: {decoded:#}\nwant: {expected:#}");
    decoded
}

/// [`check_json`], then a round trip through the k8s-openapi type `T`.
fn check<T: DeserializeOwned + Serialize>(fixture: &str, expected: Value) {
    let decoded = check_json(fixture, expected);

    let typed: T =
        serde_json::from_value(decoded.clone()).unwrap_or_else(|e| panic!("{fixture}: {e}"));
    let typed = serde_json::to_value(&typed).expect("serialize");
    // k8s-openapi adds its required fields (`resourceRules: []`) but must keep all of ours.
    assert_subset(&decoded, &typed, std::any::type_name::<T>());
}

fn assert_subset(part: &Value, whole: &Value, at: &str) {
    match (part, whole) {
        (Value::Object(p), Value::Object(w)) => {
            for (k, v) in p {
                let inner = w
                    .get(k)
                    .unwrap_or_else(|| panic!("{at}.{k} was lost through k8s-openapi"));
                assert_subset(v, inner, &format!("{at}.{k}"));
            }
        }
        (Value::Array(p), Value::Array(w)) if p.len() == w.len() => {
            for (i, (pv, wv)) in p.iter().zip(w).enumerate() {
                assert_subset(pv, wv, &format!("{at}[{i}]"));
            }
        }
        _ => assert_eq!(part, whole, "{at} changed through k8s-openapi"),
    }
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

/// The other kinds kubectl 1.33 creates as protobuf (commands in tests/fixtures/capture.py).
#[test]
fn other_create_commands() {
    type Check = fn(&str, Value);
    let cases: Vec<(&str, Check, Value)> = vec![
        (
            "namespace",
            check::<core::v1::Namespace>,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "generation": 0}, "spec": {}, "status": {}}),
        ),
        (
            "serviceaccount",
            check::<core::v1::ServiceAccount>,
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "robot", "namespace": "default", "generation": 0}}),
        ),
        (
            "job",
            check::<batch::v1::Job>,
            json!({
                "apiVersion": "batch/v1", "kind": "Job",
                "metadata": {"name": "pi", "namespace": "default", "generation": 0},
                "spec": {"template": {"metadata": {"generation": 0}, "spec": {
                    "containers": [{"name": "pi", "image": "perl", "command": ["perl", "-e", "1"], "resources": {},
                                    "stdin": false, "stdinOnce": false, "tty": false}],
                    "restartPolicy": "Never", "hostNetwork": false, "hostPID": false, "hostIPC": false
                }}},
                "status": {"active": 0, "succeeded": 0, "failed": 0}
            }),
        ),
        (
            "role",
            check::<rbac::v1::Role>,
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role",
                "metadata": {"name": "reader", "namespace": "default", "generation": 0},
                "rules": [
                    {"verbs": ["get", "list"], "apiGroups": [""], "resources": ["pods"], "resourceNames": ["web"]},
                    {"verbs": ["get", "list"], "apiGroups": ["apps"], "resources": ["deployments"], "resourceNames": ["web"]}
                ]
            }),
        ),
        (
            "clusterrole",
            check::<rbac::v1::ClusterRole>,
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "metrics", "generation": 0},
                "rules": [{"verbs": ["get"], "nonResourceURLs": ["/metrics"]}]
            }),
        ),
        (
            "clusterrolebinding",
            check::<rbac::v1::ClusterRoleBinding>,
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding",
                "metadata": {"name": "metrics", "generation": 0},
                "subjects": [{"kind": "Group", "apiGroup": "rbac.authorization.k8s.io", "name": "ops"}],
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "metrics"}
            }),
        ),
        (
            "ingress",
            check::<networking::v1::Ingress>,
            json!({
                "apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                "metadata": {"name": "web", "namespace": "default", "generation": 0},
                "spec": {
                    "tls": [{"hosts": ["example.com"], "secretName": "web-tls"}],
                    "rules": [{"host": "example.com", "http": {"paths": [
                        {"path": "/", "backend": {"service": {"name": "web", "port": {"number": 80}}}, "pathType": "Prefix"}
                    ]}}],
                    "ingressClassName": "nginx"
                },
                "status": {"loadBalancer": {}}
            }),
        ),
        (
            "poddisruptionbudget",
            check::<policy::v1::PodDisruptionBudget>,
            json!({
                "apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
                "metadata": {"name": "web", "namespace": "default", "generation": 0},
                "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}},
                "status": {"observedGeneration": 0, "disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0}
            }),
        ),
        (
            "resourcequota",
            check::<core::v1::ResourceQuota>,
            json!({
                "apiVersion": "v1", "kind": "ResourceQuota",
                "metadata": {"name": "q", "namespace": "default", "generation": 0},
                "spec": {"hard": {"cpu": "1", "memory": "1Gi", "pods": "10"}, "scopes": ["BestEffort"]},
                "status": {}
            }),
        ),
        (
            "priorityclass",
            check::<scheduling::v1::PriorityClass>,
            json!({
                "apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass",
                "metadata": {"name": "high", "generation": 0},
                "value": 1000, "globalDefault": false, "description": "important", "preemptionPolicy": "Never"
            }),
        ),
        (
            // kubectl create token robot --audience=api --duration=1h
            // (Not through k8s-openapi: its TokenRequestStatus requires expirationTimestamp,
            // which a zero status lacks; Go's JSON would carry `null` there.)
            "tokenrequest",
            |fixture, expected| {
                check_json(fixture, expected);
            },
            json!({
                "apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                "metadata": {"generation": 0},
                "spec": {"audiences": ["api"], "expirationSeconds": 3600},
                "status": {}
            }),
        ),
        (
            // kubectl auth can-i --list
            "selfsubjectrulesreview",
            check::<authorization::v1::SelfSubjectRulesReview>,
            json!({
                "apiVersion": "authorization.k8s.io/v1", "kind": "SelfSubjectRulesReview",
                "metadata": {"generation": 0},
                "spec": {"namespace": "default"},
                "status": {"incomplete": false}
            }),
        ),
        (
            // kubectl auth whoami
            "selfsubjectreview",
            check::<authentication::v1::SelfSubjectReview>,
            json!({
                "apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview",
                "metadata": {"generation": 0},
                "status": {"userInfo": {}}
            }),
        ),
    ];
    for (fixture, check, expected) in cases {
        check(fixture, expected);
    }
}
