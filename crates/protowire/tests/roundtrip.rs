//! encode -> decode gives back the JSON object, for realistic objects of every kind that
//! kubectl sends as protobuf (and a few more that exercise the special JSON forms).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use serde_json::{json, Value};

/// Encodes `input`, decodes the body and compares with `expected`.
fn check_to(input: Value, expected: Value) {
    let body =
        protowire::encode(&input).unwrap_or_else(|e| panic!("encode {}: {e}", input["kind"]));
    assert_eq!(&body[..4], b"k8s\0");
    let decoded =
        protowire::decode(&body).unwrap_or_else(|e| panic!("decode {}: {e}", input["kind"]));
    assert_eq!(decoded, expected, "\n got: {decoded:#}\nwant: {expected:#}");
    let keys: Vec<&String> = decoded
        .as_object()
        .map(|o| o.keys().take(2).collect())
        .unwrap_or_default();
    assert_eq!(
        keys,
        ["apiVersion", "kind"],
        "apiVersion and kind come first"
    );
}

/// The common case: the input is already in the decoder's normal form.
fn check(input: Value) {
    check_to(input.clone(), input);
}

#[test]
fn deployment_with_full_pod_template() {
    check(json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": "shop",
            "labels": {"app": "web", "tier": ""},
            "annotations": {"deployment.kubernetes.io/revision": "3"},
            "creationTimestamp": "2024-01-02T03:04:05Z",
            "ownerReferences": [{"apiVersion": "v1", "kind": "Namespace", "name": "shop", "uid": "1234", "controller": true}],
            "managedFields": [{
                "manager": "kubectl-create",
                "operation": "Update",
                "apiVersion": "apps/v1",
                "time": "2024-01-02T03:04:05Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:replicas": {}}}
            }]
        },
        "spec": {
            "replicas": 3,
            "selector": {
                "matchLabels": {"app": "web"},
                "matchExpressions": [{"key": "tier", "operator": "In", "values": ["front", "back"]}]
            },
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "initContainers": [{"name": "init", "image": "busybox", "command": ["sh", "-c", "true"]}],
                    "containers": [{
                        "name": "nginx",
                        "image": "nginx:1.27",
                        "args": ["--port", "8080", ""],
                        "ports": [
                            {"name": "http", "containerPort": 8080, "protocol": "TCP"},
                            {"containerPort": 9090, "hostPort": 9090, "hostIP": "127.0.0.1"}
                        ],
                        "env": [
                            {"name": "MODE", "value": "prod"},
                            {"name": "PASSWORD", "valueFrom": {"secretKeyRef": {"name": "creds", "key": "password", "optional": false}}},
                            {"name": "LEVEL", "valueFrom": {"configMapKeyRef": {"name": "cfg", "key": "level"}}},
                            {"name": "POD_IP", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "status.podIP"}}},
                            {"name": "LIMIT", "valueFrom": {"resourceFieldRef": {"resource": "limits.memory", "divisor": "1Mi"}}}
                        ],
                        "envFrom": [{"prefix": "CFG_", "configMapRef": {"name": "cfg"}}, {"secretRef": {"name": "creds", "optional": true}}],
                        "resources": {
                            "limits": {"cpu": "500m", "memory": "128Mi", "nvidia.com/gpu": "1"},
                            "requests": {"cpu": "250m", "memory": "64Mi"}
                        },
                        "volumeMounts": [
                            {"name": "config", "mountPath": "/etc/nginx", "readOnly": true},
                            {"name": "cache", "mountPath": "/cache", "subPath": "nginx"}
                        ],
                        "livenessProbe": {
                            "httpGet": {"path": "/healthz", "port": "http", "scheme": "HTTP",
                                        "httpHeaders": [{"name": "X-Probe", "value": "1"}]},
                            "initialDelaySeconds": 5,
                            "periodSeconds": 10,
                            "failureThreshold": 3
                        },
                        "readinessProbe": {"tcpSocket": {"port": 8080}, "timeoutSeconds": 2},
                        "startupProbe": {"exec": {"command": ["cat", "/tmp/ready"]}},
                        "lifecycle": {"preStop": {"sleep": {"seconds": 5}}},
                        "securityContext": {
                            "runAsNonRoot": true,
                            "runAsUser": 1000,
                            "allowPrivilegeEscalation": false,
                            "capabilities": {"drop": ["ALL"]},
                            "readOnlyRootFilesystem": true
                        },
                        "imagePullPolicy": "IfNotPresent"
                    }],
                    "volumes": [
                        {"name": "config", "configMap": {"name": "nginx-conf", "defaultMode": 420,
                                                         "items": [{"key": "nginx.conf", "path": "nginx.conf"}]}},
                        {"name": "cache", "emptyDir": {"medium": "Memory", "sizeLimit": "1Gi"}},
                        {"name": "creds", "secret": {"secretName": "creds", "optional": true}},
                        {"name": "data", "persistentVolumeClaim": {"claimName": "data"}},
                        {"name": "token", "projected": {"sources": [
                            {"serviceAccountToken": {"audience": "api", "expirationSeconds": 3600, "path": "token"}},
                            {"configMap": {"name": "ca", "items": [{"key": "ca.crt", "path": "ca.crt"}]}}
                        ]}}
                    ],
                    "nodeSelector": {"kubernetes.io/os": "linux"},
                    "tolerations": [{"key": "dedicated", "operator": "Equal", "value": "web", "effect": "NoSchedule", "tolerationSeconds": 60}],
                    "affinity": {"podAntiAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [{
                        "weight": 100,
                        "podAffinityTerm": {"labelSelector": {"matchLabels": {"app": "web"}}, "topologyKey": "kubernetes.io/hostname"}
                    }]}},
                    "securityContext": {"fsGroup": 2000, "supplementalGroups": [3000, 4000]},
                    "serviceAccountName": "web",
                    "terminationGracePeriodSeconds": 30,
                    "dnsConfig": {"options": [{"name": "ndots", "value": "2"}]},
                    "hostNetwork": false
                }
            },
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": 1}},
            "minReadySeconds": 0,
            "revisionHistoryLimit": 10,
            "progressDeadlineSeconds": 600
        },
        "status": {}
    }));
}

#[test]
fn configmap() {
    check(json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "game-config", "namespace": "default"},
        "data": {"game.properties": "enemies=aliens\nlives=3\n", "empty": ""},
        "binaryData": {"logo.png": "iVBORw0KGgo="},
        "immutable": true
    }));
}

#[test]
fn secret_with_binary_data() {
    check(json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "tls", "namespace": "default"},
        "type": "kubernetes.io/tls",
        // Arbitrary bytes, including invalid UTF-8 and NUL.
        "data": {"tls.key": "AAH/gICA/v8=", "tls.crt": "LS0tLS1CRUdJTg=="},
        "stringData": {"note": "plain"}
    }));
}

#[test]
fn namespace() {
    check(json!({
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": "shop", "labels": {"team": "a"}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {}
    }));
}

#[test]
fn service_with_named_and_numbered_target_ports() {
    check(json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "type": "ClusterIP",
            "selector": {"app": "web"},
            "ports": [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": "http"},
                {"name": "metrics", "port": 9090, "targetPort": 9091}
            ],
            "clusterIP": "10.0.0.10",
            "clusterIPs": ["10.0.0.10"],
            "ipFamilies": ["IPv4"],
            "sessionAffinity": "ClientIP",
            "sessionAffinityConfig": {"clientIP": {"timeoutSeconds": 10800}}
        }
    }));
}

#[test]
fn rbac() {
    check(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": "admins", "namespace": "shop"},
        "subjects": [
            {"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "alice"},
            {"kind": "ServiceAccount", "name": "robot", "namespace": "shop"}
        ],
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"}
    }));
    check(json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "reader"},
        "rules": [
            {"verbs": ["get", "list", "watch"], "apiGroups": ["", "apps"], "resources": ["pods", "deployments"], "resourceNames": ["a"]},
            {"verbs": ["get"], "nonResourceURLs": ["/healthz"]}
        ],
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.example.com/aggregate": "true"}}]}
    }));
}

#[test]
fn authorization_reviews() {
    check(json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "metadata": {},
        "spec": {"resourceAttributes": {"namespace": "default", "verb": "create", "resource": "pods", "subresource": "exec"}}
    }));
    check(json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectAccessReview",
        "spec": {"nonResourceAttributes": {"path": "/logs", "verb": "get"}}
    }));
    check(json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SelfSubjectRulesReview",
        "spec": {"namespace": "default"}
    }));
    // ExtraValue is a protobuf wrapper around []string: a plain array in JSON.
    check(json!({
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "resourceAttributes": {"verb": "list", "resource": "secrets"},
            "user": "alice",
            "groups": ["devs"],
            "extra": {"scopes": ["a", "b"], "empty": []},
            "uid": "42"
        },
        "status": {"allowed": true, "reason": "RBAC"}
    }));
}

#[test]
fn authentication() {
    check(
        json!({"apiVersion": "authentication.k8s.io/v1", "kind": "SelfSubjectReview", "metadata": {}}),
    );
    check(json!({
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "metadata": {"name": "robot", "namespace": "default"},
        "spec": {"audiences": ["https://kubernetes.default.svc"], "expirationSeconds": 3600,
                 "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "p", "uid": "u"}},
        "status": {"token": "abc", "expirationTimestamp": "2030-01-01T00:00:00Z"}
    }));
}

#[test]
fn batch() {
    let pod_template = json!({
        "spec": {
            "containers": [{"name": "pi", "image": "perl", "command": ["perl", "-Mbignum=bpi", "-wle", "print bpi(2000)"]}],
            "restartPolicy": "Never"
        }
    });
    check(json!({
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": "pi", "namespace": "default"},
        "spec": {
            "parallelism": 2,
            "completions": 4,
            "backoffLimit": 4,
            "activeDeadlineSeconds": 600,
            "ttlSecondsAfterFinished": 100,
            "completionMode": "Indexed",
            "podFailurePolicy": {"rules": [{"action": "FailJob", "onExitCodes": {"operator": "In", "values": [42]}}]},
            "template": pod_template
        }
    }));
    check(json!({
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "metadata": {"name": "tick", "namespace": "default"},
        "spec": {
            "schedule": "*/5 * * * *",
            "timeZone": "Etc/UTC",
            "concurrencyPolicy": "Forbid",
            "suspend": false,
            "successfulJobsHistoryLimit": 3,
            "failedJobsHistoryLimit": 1,
            "jobTemplate": {"metadata": {"labels": {"cron": "tick"}}, "spec": {"template": pod_template}}
        },
        "status": {"lastScheduleTime": "2024-05-06T07:08:09Z"}
    }));
}

#[test]
fn networking_policy_scheduling_autoscaling() {
    // IngressRule embeds IngressRuleValue inline: `http` sits next to `host`.
    check(json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "ingressClassName": "nginx",
            "tls": [{"hosts": ["example.com"], "secretName": "tls"}],
            "rules": [{"host": "example.com", "http": {"paths": [{
                "path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "web", "port": {"number": 80}}}
            }]}}]
        }
    }));
    check(json!({
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"minAvailable": "50%", "selector": {"matchLabels": {"app": "web"}}}
    }));
    check(json!({
        "apiVersion": "scheduling.k8s.io/v1",
        "kind": "PriorityClass",
        "metadata": {"name": "high"},
        "value": 1000000,
        "globalDefault": false,
        "description": "important",
        "preemptionPolicy": "Never"
    }));
    check(json!({
        "apiVersion": "autoscaling/v1",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
                 "minReplicas": 1, "maxReplicas": 10, "targetCPUUtilizationPercentage": 80}
    }));
    check(json!({
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "scaleTargetRef": {"kind": "Deployment", "name": "web", "apiVersion": "apps/v1"},
            "minReplicas": 1,
            "maxReplicas": 10,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 80}}}]
        }
    }));
    check(json!({
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {"name": "quota", "namespace": "default"},
        "spec": {"hard": {"cpu": "1", "memory": "1Gi", "pods": "10"}, "scopes": ["BestEffort"]}
    }));
    check(json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "robot", "namespace": "default"},
        "secrets": [{"name": "robot-token"}],
        "imagePullSecrets": [{"name": "registry"}],
        "automountServiceAccountToken": false
    }));
}

#[test]
fn micro_times_and_raw_extensions() {
    check(json!({
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": "leader", "namespace": "kube-system"},
        "spec": {"holderIdentity": "node-1", "leaseDurationSeconds": 15,
                 "acquireTime": "2024-01-02T03:04:05.000000Z", "renewTime": "2024-01-02T03:04:20.123456Z"}
    }));
    check(json!({
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": "e1", "namespace": "default"},
        "eventTime": "2024-01-02T03:04:05.999999Z",
        "reportingController": "kubelet",
        "reportingInstance": "node-1",
        "action": "Pulling",
        "reason": "Pulling",
        "regarding": {"kind": "Pod", "namespace": "default", "name": "p"},
        "note": "pulling image",
        "type": "Normal",
        "series": {"count": 2, "lastObservedTime": "2024-01-02T03:05:00.000001Z"}
    }));
    // RawExtension carries arbitrary JSON (ControllerRevision.data).
    check(json!({
        "apiVersion": "apps/v1",
        "kind": "ControllerRevision",
        "metadata": {"name": "web-1", "namespace": "default"},
        "data": {"spec": {"template": {"$patch": "replace"}}, "list": [1, "two", null]},
        "revision": 1
    }));
    // List items are RawExtensions: JSON ones are parsed ...
    let list = json!({"apiVersion": "v1", "kind": "List", "metadata": {}, "items": [{"apiVersion": "v1", "kind": "ConfigMap"}]});
    check(list);
    // ... and protobuf ones (how Go embeds objects in a protobuf body) are decoded.
    let nested = protowire::encode(
        &json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "inner"}}),
    )
    .expect("nested");
    let raw_extension = field(1, &nested);
    let list_message = field(2, &raw_extension);
    let type_meta = [field(1, b"v1"), field(2, b"List")].concat();
    let body = [
        &b"k8s\0"[..],
        &field(1, &type_meta),
        &field(2, &list_message),
    ]
    .concat();
    assert_eq!(
        protowire::decode(&body).expect("decode list"),
        json!({"apiVersion": "v1", "kind": "List", "items": [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "inner"}}]})
    );
}

/// A length-delimited protobuf field (`tag` < 16, `bytes` < 128 long).
fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
    let len = u8::try_from(bytes.len()).expect("short field");
    assert!(len < 128 && tag < 16);
    [&[tag << 3 | 2, len][..], bytes].concat()
}

#[test]
fn normalisation() {
    // Empty strings are "absent", bare numbers are valid quantities, sub-second times are
    // written at second precision (Go's metav1.Time), microseconds are padded.
    check_to(
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "namespace": "", "creationTimestamp": "2024-01-02T03:04:05.678Z"},
            "spec": {"containers": [{"name": "c", "image": "", "resources": {"limits": {"cpu": 2}}}], "nodeName": null}
        }),
        json!({
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "p", "creationTimestamp": "2024-01-02T03:04:05Z"},
            "spec": {"containers": [{"name": "c", "resources": {"limits": {"cpu": "2"}}}]}
        }),
    );
    check_to(
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {"renewTime": "2024-01-02T03:04:05.5+01:00"}}),
        json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "spec": {"renewTime": "2024-01-02T02:04:05.500000Z"}}),
    );
    // A pointer string where "" is meaningful survives.
    check(json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": "data"},
        "spec": {"accessModes": ["ReadWriteOnce"], "storageClassName": "", "resources": {"requests": {"storage": "1Gi"}}}
    }));
}

#[test]
fn every_kind_kubectl_creates_round_trips() {
    // Minimal objects of each kind kubectl's typed clients POST as protobuf.
    let kinds = [
        ("apps/v1", "Deployment"),
        ("v1", "Namespace"),
        ("v1", "ConfigMap"),
        ("v1", "Secret"),
        ("v1", "ServiceAccount"),
        ("batch/v1", "Job"),
        ("batch/v1", "CronJob"),
        ("v1", "Service"),
        ("rbac.authorization.k8s.io/v1", "Role"),
        ("rbac.authorization.k8s.io/v1", "RoleBinding"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
        ("networking.k8s.io/v1", "Ingress"),
        ("policy/v1", "PodDisruptionBudget"),
        ("policy/v1", "Eviction"),
        ("v1", "ResourceQuota"),
        ("scheduling.k8s.io/v1", "PriorityClass"),
        ("authentication.k8s.io/v1", "TokenRequest"),
        ("autoscaling/v1", "HorizontalPodAutoscaler"),
        ("autoscaling/v2", "HorizontalPodAutoscaler"),
        ("authorization.k8s.io/v1", "SelfSubjectAccessReview"),
        ("authorization.k8s.io/v1", "SelfSubjectRulesReview"),
        ("authentication.k8s.io/v1", "SelfSubjectReview"),
        ("v1", "Pod"),
        ("v1", "Node"),
        ("v1", "Event"),
        ("v1", "Endpoints"),
        ("v1", "PersistentVolume"),
        ("v1", "LimitRange"),
        ("apps/v1", "StatefulSet"),
        ("apps/v1", "DaemonSet"),
        ("apps/v1", "ReplicaSet"),
        ("coordination.k8s.io/v1", "Lease"),
        ("discovery.k8s.io/v1", "EndpointSlice"),
        ("storage.k8s.io/v1", "StorageClass"),
        ("certificates.k8s.io/v1", "CertificateSigningRequest"),
        ("events.k8s.io/v1", "Event"),
        ("node.k8s.io/v1", "RuntimeClass"),
        ("networking.k8s.io/v1", "NetworkPolicy"),
        (
            "admissionregistration.k8s.io/v1",
            "ValidatingWebhookConfiguration",
        ),
        ("flowcontrol.apiserver.k8s.io/v1", "FlowSchema"),
        ("v1", "DeleteOptions"),
    ];
    for (api_version, kind) in kinds {
        let metadata = if kind == "DeleteOptions" {
            json!(null)
        } else {
            json!({"name": "x"})
        };
        let mut object = json!({"apiVersion": api_version, "kind": kind});
        if !metadata.is_null() {
            object["metadata"] = metadata;
        }
        check(object);
    }
}
