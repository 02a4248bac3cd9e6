//! Upstream's column sets per kind (`pkg/printers/internalversion/printers.go`).

use jiff::Timestamp;
use serde_json::{json, Value};

use super::{age, col, human_duration, name, wide, Printer, AGE, DEFAULT, NAME};

fn s<'a>(obj: &'a Value, ptr: &str) -> &'a str {
    obj.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

fn i(obj: &Value, ptr: &str) -> i64 {
    obj.pointer(ptr).and_then(Value::as_i64).unwrap_or(0)
}

fn arr<'a>(obj: &'a Value, ptr: &str) -> &'a [Value] {
    obj.pointer(ptr).and_then(Value::as_array).map_or(&[], Vec::as_slice)
}

fn none_if_empty(v: String) -> Value {
    json!(if v.is_empty() { "<none>".to_string() } else { v })
}

/// `k=v,k2=v2` for a label map, `<none>` when empty.
fn label_map(obj: &Value, ptr: &str) -> Value {
    let items: Vec<String> = obj
        .pointer(ptr)
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect())
        .unwrap_or_default();
    none_if_empty(items.join(","))
}

/// A `metav1.LabelSelector` rendered as upstream's `FormatLabelSelector`.
fn label_selector(obj: &Value, ptr: &str) -> Value {
    let Some(sel) = obj.pointer(ptr) else { return json!("<none>") };
    let mut parts: Vec<String> = sel
        .get("matchLabels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))).collect())
        .unwrap_or_default();
    for e in sel.get("matchExpressions").and_then(Value::as_array).into_iter().flatten() {
        let key = s(e, "/key");
        let values: Vec<&str> = arr(e, "/values").iter().filter_map(Value::as_str).collect();
        parts.push(match s(e, "/operator") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            op => format!("{key} {op}"),
        });
    }
    none_if_empty(parts.join(","))
}

fn containers_and_images(obj: &Value, ptr: &str) -> (Value, Value) {
    let cs = arr(obj, ptr);
    let names: Vec<&str> = cs.iter().map(|c| s(c, "/name")).collect();
    let images: Vec<&str> = cs.iter().map(|c| s(c, "/image")).collect();
    (json!(names.join(",")), json!(images.join(",")))
}

pub fn printer_for(group: &str, plural: &str) -> Printer {
    match (group, plural) {
        ("", "pods") => POD,
        ("", "nodes") => NODE,
        ("", "services") => SERVICE,
        ("", "namespaces") => NAMESPACE,
        ("", "configmaps") => CONFIGMAP,
        ("", "secrets") => SECRET,
        ("", "serviceaccounts") => SERVICEACCOUNT,
        ("", "endpoints") => ENDPOINTS,
        ("", "events") => EVENT,
        ("", "persistentvolumeclaims") => PVC,
        ("", "persistentvolumes") => PV,
        ("", "replicationcontrollers") => RC,
        ("apps", "deployments") => DEPLOYMENT,
        ("apps", "replicasets") => REPLICASET,
        ("apps", "statefulsets") => STATEFULSET,
        ("apps", "daemonsets") => DAEMONSET,
        ("batch", "jobs") => JOB,
        ("batch", "cronjobs") => CRONJOB,
        ("coordination.k8s.io", "leases") => LEASE,
        ("storage.k8s.io", "storageclasses") => STORAGECLASS,
        ("networking.k8s.io", "ingresses") => INGRESS,
        ("scheduling.k8s.io", "priorityclasses") => PRIORITYCLASS,
        ("rbac.authorization.k8s.io", "rolebindings") | ("rbac.authorization.k8s.io", "clusterrolebindings") => BINDING,
        ("rbac.authorization.k8s.io", "clusterroles") | ("rbac.authorization.k8s.io", "roles") => ROLE,
        ("policy", "poddisruptionbudgets") => PDB,
        ("discovery.k8s.io", "endpointslices") => ENDPOINTSLICE,
        ("autoscaling", "horizontalpodautoscalers") => HPA,
        _ => DEFAULT,
    }
}

const POD: Printer = Printer {
    columns: &[
        NAME,
        col("Ready", "string", "The aggregate readiness state of this pod for accepting traffic."),
        col("Status", "string", "The aggregate status of the containers in this pod."),
        col("Restarts", "string", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
        AGE,
        wide("IP", "string", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated."),
        wide("Node", "string", "NodeName is a request to schedule this pod onto a specific node. If it is non-empty, the scheduler simply schedules this pod onto that node, assuming that it fits resource requirements."),
        wide("Nominated Node", "string", "nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods. This field does not guarantee that the pod will be scheduled on this node. Scheduler may decide to place the pod elsewhere if other nodes become available sooner. Scheduler may also decide to give the resources on this node to a higher priority pod that is created after preemption. As a result, this field may be different than PodSpec.nodeName when the pod is scheduled."),
        wide("Readiness Gates", "string", "If specified, all readiness gates will be evaluated for pod readiness. A pod is ready when all its containers are ready AND all conditions specified in the readiness gates have status equal to \"True\" More info: https://git.k8s.io/enhancements/keps/sig-network/580-pod-readiness-gates"),
    ],
    row: pod_row,
};

fn pod_row(obj: &Value, now: Timestamp) -> Vec<Value> {
    let total = arr(obj, "/spec/containers").len();
    let statuses = arr(obj, "/status/containerStatuses");
    let ready = statuses.iter().filter(|c| c.get("ready").and_then(Value::as_bool) == Some(true)).count();
    let restarts: i64 = statuses.iter().map(|c| i(c, "/restartCount")).sum();
    let mut reason = s(obj, "/status/reason").to_string();
    if reason.is_empty() {
        reason = s(obj, "/status/phase").to_string();
    }
    for c in statuses {
        if let Some(r) = c.pointer("/state/waiting/reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
            reason = r.to_string();
        } else if let Some(r) = c.pointer("/state/terminated/reason").and_then(Value::as_str).filter(|r| !r.is_empty()) {
            reason = r.to_string();
        }
    }
    if obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
        reason = if s(obj, "/status/reason") == "NodeLost" { "Unknown".into() } else { "Terminating".into() };
    }
    if reason == "Pending" && !arr(obj, "/spec/schedulingGates").is_empty() {
        reason = "SchedulingGated".into();
    }
    let gates = arr(obj, "/spec/readinessGates");
    let gates_cell = if gates.is_empty() {
        json!("<none>")
    } else {
        let conds = arr(obj, "/status/conditions");
        let true_count = gates
            .iter()
            .filter(|g| conds.iter().any(|c| s(c, "/type") == s(g, "/conditionType") && s(c, "/status") == "True"))
            .count();
        json!(format!("{true_count}/{}", gates.len()))
    };
    vec![
        name(obj),
        json!(format!("{ready}/{total}")),
        json!(reason),
        json!(restarts.to_string()),
        age(obj, now),
        none_if_empty(s(obj, "/status/podIP").to_string()),
        none_if_empty(s(obj, "/spec/nodeName").to_string()),
        none_if_empty(s(obj, "/status/nominatedNodeName").to_string()),
        gates_cell,
    ]
}

const NODE: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string", "The status of the node"),
        col("Roles", "string", "The roles of the node"),
        AGE,
        col("Version", "string", "Kubelet Version reported by the node."),
        wide("Internal-IP", "string", "List of addresses reachable to the node. Queried from cloud provider, if available."),
        wide("External-IP", "string", "List of addresses reachable to the node. Queried from cloud provider, if available."),
        wide("OS-Image", "string", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
        wide("Kernel-Version", "string", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64)."),
        wide("Container-Runtime", "string", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2)."),
    ],
    row: |obj, now| {
        let ready = arr(obj, "/status/conditions").iter().find(|c| s(c, "/type") == "Ready").map(|c| s(c, "/status"));
        let mut status = match ready {
            Some("True") => "Ready".to_string(),
            _ => "NotReady".to_string(),
        };
        if obj.pointer("/spec/unschedulable").and_then(Value::as_bool) == Some(true) {
            status.push_str(",SchedulingDisabled");
        }
        let mut roles: Vec<String> = obj
            .pointer("/metadata/labels")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .filter_map(|(k, v)| {
                        k.strip_prefix("node-role.kubernetes.io/")
                            .map(str::to_string)
                            .or_else(|| (k == "kubernetes.io/role").then(|| v.as_str().unwrap_or("").to_string()))
                    })
                    .filter(|r| !r.is_empty())
                    .collect()
            })
            .unwrap_or_default();
        roles.sort();
        let addr = |ty: &str| {
            arr(obj, "/status/addresses").iter().find(|a| s(a, "/type") == ty).map(|a| s(a, "/address").to_string()).unwrap_or_default()
        };
        vec![
            name(obj),
            json!(status),
            none_if_empty(roles.join(",")),
            age(obj, now),
            json!(s(obj, "/status/nodeInfo/kubeletVersion")),
            none_if_empty(addr("InternalIP")),
            none_if_empty(addr("ExternalIP")),
            json!(if s(obj, "/status/nodeInfo/osImage").is_empty() { "<unknown>" } else { s(obj, "/status/nodeInfo/osImage") }),
            json!(if s(obj, "/status/nodeInfo/kernelVersion").is_empty() { "<unknown>" } else { s(obj, "/status/nodeInfo/kernelVersion") }),
            json!(if s(obj, "/status/nodeInfo/containerRuntimeVersion").is_empty() { "<unknown>" } else { s(obj, "/status/nodeInfo/containerRuntimeVersion") }),
        ]
    },
};

const SERVICE: Printer = Printer {
    columns: &[
        NAME,
        col("Type", "string", "The type of the service (ClusterIP, NodePort, LoadBalancer or ExternalName)."),
        col("Cluster-IP", "string", "The IP address of the service (if any)."),
        col("External-IP", "string", "The external IP address(es) of the service."),
        col("Port(s)", "string", "The port(s) of the service."),
        AGE,
        wide("Selector", "string", "Route service traffic to pods with label keys and values matching this selector."),
    ],
    row: |obj, now| {
        let ty = s(obj, "/spec/type");
        let ports: Vec<String> = arr(obj, "/spec/ports")
            .iter()
            .map(|p| {
                let np = i(p, "/nodePort");
                let proto = if s(p, "/protocol").is_empty() { "TCP" } else { s(p, "/protocol") };
                if np > 0 {
                    format!("{}:{np}/{proto}", i(p, "/port"))
                } else {
                    format!("{}/{proto}", i(p, "/port"))
                }
            })
            .collect();
        let mut external: Vec<String> = arr(obj, "/spec/externalIPs").iter().filter_map(Value::as_str).map(str::to_string).collect();
        let external_cell = match ty {
            "ExternalName" => s(obj, "/spec/externalName").to_string(),
            "LoadBalancer" => {
                for ing in arr(obj, "/status/loadBalancer/ingress") {
                    let v = if s(ing, "/ip").is_empty() { s(ing, "/hostname") } else { s(ing, "/ip") };
                    external.push(v.to_string());
                }
                if external.is_empty() { "<pending>".to_string() } else { external.join(",") }
            }
            _ => external.join(","),
        };
        vec![
            name(obj),
            json!(ty),
            none_if_empty(s(obj, "/spec/clusterIP").to_string()),
            none_if_empty(external_cell),
            none_if_empty(ports.join(",")),
            age(obj, now),
            label_map(obj, "/spec/selector"),
        ]
    },
};

const NAMESPACE: Printer = Printer {
    columns: &[NAME, col("Status", "string", "The status of the namespace"), AGE],
    row: |obj, now| vec![name(obj), json!(s(obj, "/status/phase")), age(obj, now)],
};

const CONFIGMAP: Printer = Printer {
    columns: &[NAME, col("Data", "string", "Number of data in configmap"), AGE],
    row: |obj, now| {
        let n = obj.get("data").and_then(Value::as_object).map_or(0, |m| m.len())
            + obj.get("binaryData").and_then(Value::as_object).map_or(0, |m| m.len());
        vec![name(obj), json!(n), age(obj, now)]
    },
};

const SECRET: Printer = Printer {
    columns: &[NAME, col("Type", "string", "The type of the secret"), col("Data", "string", "The number of data entries in the secret"), AGE],
    row: |obj, now| {
        let n = obj.get("data").and_then(Value::as_object).map_or(0, |m| m.len());
        vec![name(obj), json!(s(obj, "/type")), json!(n), age(obj, now)]
    },
};

const SERVICEACCOUNT: Printer = Printer {
    columns: &[NAME, col("Secrets", "string", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."), AGE],
    row: |obj, now| vec![name(obj), json!(arr(obj, "/secrets").len()), age(obj, now)],
};

const ENDPOINTS: Printer = Printer {
    columns: &[NAME, col("Endpoints", "string", "Endpoints is the list of endpoints comprising a service."), AGE],
    row: |obj, now| {
        let mut eps = Vec::new();
        for subset in arr(obj, "/subsets") {
            for addr in arr(subset, "/addresses") {
                let ports = arr(subset, "/ports");
                if ports.is_empty() {
                    eps.push(s(addr, "/ip").to_string());
                }
                for p in ports {
                    eps.push(format!("{}:{}", s(addr, "/ip"), i(p, "/port")));
                }
            }
        }
        let shown = if eps.len() > 3 { format!("{} + {} more...", eps[..3].join(","), eps.len() - 3) } else { eps.join(",") };
        vec![name(obj), none_if_empty(shown), age(obj, now)]
    },
};

const EVENT: Printer = Printer {
    columns: &[
        col("Last Seen", "string", "Time when last event occurred"),
        col("Type", "string", "Type of this event (Normal, Warning), new types could be added in the future"),
        col("Reason", "string", "Reason why the action was taken. It is human-readable. This field cannot be empty for new Events and it can have at most 128 characters."),
        col("Object", "string", "The object this Event is about"),
        col("Message", "string", "A human-readable description of the status of this operation."),
        wide("Subobject", "string", "The field path of the object this Event is about"),
        wide("Source", "string", "The component reporting this event"),
        wide("First Seen", "string", "Time when this Event was first observed"),
        wide("Count", "string", "The number of times this event has occurred"),
        NAME,
    ],
    row: |obj, now| {
        let since = |ptr: &str| {
            obj.pointer(ptr)
                .and_then(Value::as_str)
                .and_then(|t| t.parse::<Timestamp>().ok())
                .map_or_else(|| "<unknown>".to_string(), |t| human_duration(now.as_second() - t.as_second()))
        };
        let last = if obj.pointer("/lastTimestamp").is_some_and(|v| !v.is_null()) {
            since("/lastTimestamp")
        } else if obj.pointer("/eventTime").is_some_and(|v| !v.is_null()) {
            since("/eventTime")
        } else {
            since("/metadata/creationTimestamp")
        };
        let object = format!("{}/{}", s(obj, "/involvedObject/kind").to_lowercase(), s(obj, "/involvedObject/name"));
        vec![
            json!(last),
            json!(s(obj, "/type")),
            json!(s(obj, "/reason")),
            json!(object),
            json!(s(obj, "/message").trim()),
            json!(s(obj, "/involvedObject/fieldPath")),
            json!(s(obj, "/source/component")),
            json!(since("/firstTimestamp")),
            json!(i(obj, "/count").max(1)),
            name(obj),
        ]
    },
};

const PVC: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string", "The phase of the claim"),
        col("Volume", "string", "The name of the bound volume"),
        col("Capacity", "string", "The capacity of the bound volume"),
        col("Access Modes", "string", "The access modes of the claim"),
        col("StorageClass", "string", "The storage class of the claim"),
        col("VolumeAttributesClass", "string", "The volume attributes class of the claim"),
        AGE,
        wide("VolumeMode", "string", "The volume mode of the claim"),
    ],
    row: |obj, now| {
        let bound = s(obj, "/status/phase") == "Bound";
        vec![
            name(obj),
            json!(s(obj, "/status/phase")),
            json!(s(obj, "/spec/volumeName")),
            json!(if bound { s(obj, "/status/capacity/storage") } else { "" }),
            json!(access_modes(arr(obj, "/status/accessModes"))),
            json!(s(obj, "/spec/storageClassName")),
            none_if_empty(s(obj, "/spec/volumeAttributesClassName").to_string()),
            age(obj, now),
            json!(s(obj, "/spec/volumeMode")),
        ]
    },
};

fn access_modes(modes: &[Value]) -> String {
    modes
        .iter()
        .filter_map(Value::as_str)
        .map(|m| match m {
            "ReadWriteOnce" => "RWO",
            "ReadOnlyMany" => "ROX",
            "ReadWriteMany" => "RWX",
            "ReadWriteOncePod" => "RWOP",
            other => other,
        })
        .collect::<Vec<_>>()
        .join(",")
}

const PV: Printer = Printer {
    columns: &[
        NAME,
        col("Capacity", "string", "The capacity of the volume"),
        col("Access Modes", "string", "The access modes of the volume"),
        col("Reclaim Policy", "string", "The reclaim policy of the volume"),
        col("Status", "string", "The phase of the volume"),
        col("Claim", "string", "The claim bound to the volume"),
        col("StorageClass", "string", "The storage class of the volume"),
        col("VolumeAttributesClass", "string", "The volume attributes class of the volume"),
        col("Reason", "string", "The reason of the phase"),
        AGE,
        wide("VolumeMode", "string", "The volume mode of the volume"),
    ],
    row: |obj, now| {
        let claim = if s(obj, "/spec/claimRef/name").is_empty() {
            String::new()
        } else {
            format!("{}/{}", s(obj, "/spec/claimRef/namespace"), s(obj, "/spec/claimRef/name"))
        };
        vec![
            name(obj),
            json!(s(obj, "/spec/capacity/storage")),
            json!(access_modes(arr(obj, "/spec/accessModes"))),
            json!(s(obj, "/spec/persistentVolumeReclaimPolicy")),
            json!(s(obj, "/status/phase")),
            json!(claim),
            json!(s(obj, "/spec/storageClassName")),
            none_if_empty(s(obj, "/spec/volumeAttributesClassName").to_string()),
            json!(s(obj, "/status/reason")),
            age(obj, now),
            json!(s(obj, "/spec/volumeMode")),
        ]
    },
};

const RC: Printer = Printer {
    columns: &[
        NAME,
        col("Desired", "integer", "Replicas is the number of desired replicas."),
        col("Current", "integer", "Replicas is the most recently observed number of replicas."),
        col("Ready", "integer", "The number of ready replicas for this replication controller."),
        AGE,
        wide("Containers", "string", "Names of each container in the template."),
        wide("Images", "string", "Images referenced by each container in the template."),
        wide("Selector", "string", "Selector is a label query over pods that should match the Replicas count."),
    ],
    row: |obj, now| {
        let (c, im) = containers_and_images(obj, "/spec/template/spec/containers");
        vec![name(obj), json!(i(obj, "/spec/replicas")), json!(i(obj, "/status/replicas")), json!(i(obj, "/status/readyReplicas")), age(obj, now), c, im, label_map(obj, "/spec/selector")]
    },
};

const DEPLOYMENT: Printer = Printer {
    columns: &[
        NAME,
        col("Ready", "string", "Number of the pod with ready state"),
        col("Up-to-date", "string", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
        col("Available", "string", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
        AGE,
        wide("Containers", "string", "Names of each container in the template."),
        wide("Images", "string", "Images referenced by each container in the template."),
        wide("Selector", "string", "Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."),
    ],
    row: |obj, now| {
        let (c, im) = containers_and_images(obj, "/spec/template/spec/containers");
        vec![
            name(obj),
            json!(format!("{}/{}", i(obj, "/status/readyReplicas"), i(obj, "/spec/replicas"))),
            json!(i(obj, "/status/updatedReplicas")),
            json!(i(obj, "/status/availableReplicas")),
            age(obj, now),
            c,
            im,
            label_selector(obj, "/spec/selector"),
        ]
    },
};

const REPLICASET: Printer = Printer {
    columns: &[
        NAME,
        col("Desired", "integer", "Replicas is the number of desired pods."),
        col("Current", "integer", "Replicas is the most recently observed number of replicas."),
        col("Ready", "integer", "The number of ready replicas for this replica set."),
        AGE,
        wide("Containers", "string", "Names of each container in the template."),
        wide("Images", "string", "Images referenced by each container in the template."),
        wide("Selector", "string", "Selector is a label query over pods that should match the replica count."),
    ],
    row: |obj, now| {
        let (c, im) = containers_and_images(obj, "/spec/template/spec/containers");
        vec![name(obj), json!(i(obj, "/spec/replicas")), json!(i(obj, "/status/replicas")), json!(i(obj, "/status/readyReplicas")), age(obj, now), c, im, label_selector(obj, "/spec/selector")]
    },
};

const STATEFULSET: Printer = Printer {
    columns: &[
        NAME,
        col("Ready", "string", "Number of the pod with ready state"),
        AGE,
        wide("Containers", "string", "Names of each container in the template."),
        wide("Images", "string", "Images referenced by each container in the template."),
    ],
    row: |obj, now| {
        let (c, im) = containers_and_images(obj, "/spec/template/spec/containers");
        vec![name(obj), json!(format!("{}/{}", i(obj, "/status/readyReplicas"), i(obj, "/spec/replicas"))), age(obj, now), c, im]
    },
};

const DAEMONSET: Printer = Printer {
    columns: &[
        NAME,
        col("Desired", "integer", "The total number of nodes that should be running the daemon pod (including nodes correctly running the daemon pod)."),
        col("Current", "integer", "The number of nodes that are running at least 1 daemon pod and are supposed to run the daemon pod."),
        col("Ready", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and ready."),
        col("Up-to-date", "integer", "The total number of nodes that are running updated daemon pod"),
        col("Available", "integer", "The number of nodes that should be running the daemon pod and have one or more of the daemon pod running and available (ready for at least spec.minReadySeconds)"),
        col("Node Selector", "string", "NodeSelector is a selector which must be true for the pod to fit on a node. Selector which must match a node's labels for the pod to be scheduled on that node. More info: https://kubernetes.io/docs/concepts/configuration/assign-pod-node/"),
        AGE,
        wide("Containers", "string", "Names of each container in the template."),
        wide("Images", "string", "Images referenced by each container in the template."),
        wide("Selector", "string", "A label query over pods that are managed by the daemon set. Must match in order to be controlled. It must match the pod template's labels. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"),
    ],
    row: |obj, now| {
        let (c, im) = containers_and_images(obj, "/spec/template/spec/containers");
        vec![
            name(obj),
            json!(i(obj, "/status/desiredNumberScheduled")),
            json!(i(obj, "/status/currentNumberScheduled")),
            json!(i(obj, "/status/numberReady")),
            json!(i(obj, "/status/updatedNumberScheduled")),
            json!(i(obj, "/status/numberAvailable")),
            label_map(obj, "/spec/template/spec/nodeSelector"),
            age(obj, now),
            c,
            im,
            label_selector(obj, "/spec/selector"),
        ]
    },
};

const JOB: Printer = Printer {
    columns: &[
        NAME,
        col("Status", "string", "Status of the job."),
        col("Completions", "string", "The desired number of successfully finished pods the job should be run with."),
        col("Duration", "string", "Time required to complete the job."),
        AGE,
        wide("Containers", "string", "Names of each container in the template."),
        wide("Images", "string", "Images referenced by each container in the template."),
        wide("Selector", "string", "A label query over pods that should match the pod count."),
    ],
    row: |obj, now| {
        let (c, im) = containers_and_images(obj, "/spec/template/spec/containers");
        let completions = match obj.pointer("/spec/completions").and_then(Value::as_i64) {
            Some(n) => format!("{}/{n}", i(obj, "/status/succeeded")),
            None => format!("{}/1 of {}", i(obj, "/status/succeeded"), i(obj, "/spec/parallelism")),
        };
        let cond = |t: &str| arr(obj, "/status/conditions").iter().any(|c| s(c, "/type") == t && s(c, "/status") == "True");
        let status = if cond("Complete") {
            "Complete"
        } else if cond("Failed") {
            "Failed"
        } else if obj.pointer("/metadata/deletionTimestamp").is_some_and(|v| !v.is_null()) {
            "Terminating"
        } else if cond("FailureTarget") {
            "FailureTarget"
        } else if cond("SuccessCriteriaMet") {
            "SuccessCriteriaMet"
        } else if cond("Suspended") {
            "Suspended"
        } else {
            "Running"
        };
        let ts = |p: &str| obj.pointer(p).and_then(Value::as_str).and_then(|t| t.parse::<Timestamp>().ok());
        let duration = match (ts("/status/startTime"), ts("/status/completionTime")) {
            (Some(st), Some(ct)) => human_duration(ct.as_second() - st.as_second()),
            (Some(st), None) => human_duration(now.as_second() - st.as_second()),
            _ => String::new(),
        };
        vec![name(obj), json!(status), json!(completions), json!(duration), age(obj, now), c, im, label_selector(obj, "/spec/selector")]
    },
};

const CRONJOB: Printer = Printer {
    columns: &[
        NAME,
        col("Schedule", "string", "The schedule in Cron format, see https://en.wikipedia.org/wiki/Cron."),
        col("Timezone", "string", "The time zone name for the given schedule, see https://en.wikipedia.org/wiki/List_of_tz_database_time_zones."),
        col("Suspend", "boolean", "This flag tells the controller to suspend subsequent executions, it does not apply to already started executions.  Defaults to false."),
        col("Active", "integer", "A list of pointers to currently running jobs."),
        col("Last Schedule", "string", "Information when was the last time the job was successfully scheduled."),
        AGE,
        wide("Containers", "string", "Names of each container in the template."),
        wide("Images", "string", "Images referenced by each container in the template."),
        wide("Selector", "string", "A label query over pods that should match the pod count."),
    ],
    row: |obj, now| {
        let (c, im) = containers_and_images(obj, "/spec/jobTemplate/spec/template/spec/containers");
        let last = obj
            .pointer("/status/lastScheduleTime")
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok())
            .map_or_else(|| "<none>".to_string(), |t| human_duration(now.as_second() - t.as_second()));
        vec![
            name(obj),
            json!(s(obj, "/spec/schedule")),
            none_if_empty(s(obj, "/spec/timeZone").to_string()),
            json!(if obj.pointer("/spec/suspend").and_then(Value::as_bool).unwrap_or(false) { "True" } else { "False" }),
            json!(arr(obj, "/status/active").len()),
            json!(last),
            age(obj, now),
            c,
            im,
            label_selector(obj, "/spec/jobTemplate/spec/selector"),
        ]
    },
};

const LEASE: Printer = Printer {
    columns: &[NAME, col("Holder", "string", "The holder of the lease"), AGE],
    row: |obj, now| vec![name(obj), json!(s(obj, "/spec/holderIdentity")), age(obj, now)],
};

const STORAGECLASS: Printer = Printer {
    columns: &[
        NAME,
        col("Provisioner", "string", "Indicates the type of the provisioner."),
        col("ReclaimPolicy", "string", "Indicates the type of the reclaim policy."),
        col("VolumeBindingMode", "string", "Indicates how PersistentVolumeClaims should be provisioned and bound."),
        col("AllowVolumeExpansion", "string", "Indicates whether the storage class allow volume expand."),
        AGE,
    ],
    row: |obj, now| {
        let default = obj.pointer("/metadata/annotations/storageclass.kubernetes.io~1is-default-class").and_then(Value::as_str) == Some("true");
        let n = if default { format!("{} (default)", s(obj, "/metadata/name")) } else { s(obj, "/metadata/name").to_string() };
        let reclaim = if s(obj, "/reclaimPolicy").is_empty() { "Delete" } else { s(obj, "/reclaimPolicy") };
        let mode = if s(obj, "/volumeBindingMode").is_empty() { "Immediate" } else { s(obj, "/volumeBindingMode") };
        vec![json!(n), json!(s(obj, "/provisioner")), json!(reclaim), json!(mode), json!(obj.get("allowVolumeExpansion").and_then(Value::as_bool).unwrap_or(false)), age(obj, now)]
    },
};

const INGRESS: Printer = Printer {
    columns: &[
        NAME,
        col("Class", "string", "The name of the IngressClass resource that should be used for ingress."),
        col("Hosts", "string", "Hosts that incoming requests are matched against before the ingress rule"),
        col("Address", "string", "Address is a list containing ingress points for the load-balancer"),
        col("Ports", "string", "Ports of TLS configurations that open"),
        AGE,
    ],
    row: |obj, now| {
        let hosts: Vec<&str> = arr(obj, "/spec/rules").iter().map(|r| s(r, "/host")).filter(|h| !h.is_empty()).collect();
        let addrs: Vec<&str> = arr(obj, "/status/loadBalancer/ingress").iter().map(|a| if s(a, "/ip").is_empty() { s(a, "/hostname") } else { s(a, "/ip") }).collect();
        let ports = if arr(obj, "/spec/tls").is_empty() { "80" } else { "80, 443" };
        vec![
            name(obj),
            none_if_empty(s(obj, "/spec/ingressClassName").to_string()),
            json!(if hosts.is_empty() { "*".to_string() } else { hosts.join(",") }),
            json!(addrs.join(",")),
            json!(ports),
            age(obj, now),
        ]
    },
};

const PRIORITYCLASS: Printer = Printer {
    columns: &[
        NAME,
        col("Value", "integer", "The value of this priority class. This is the actual priority that pods receive when they have the name of this class in their pod spec."),
        col("Global-Default", "boolean", "globalDefault specifies whether this PriorityClass should be considered as the default priority for pods that do not have any priority class. Only one PriorityClass can be marked as `globalDefault`. However, if more than one PriorityClasses exists with their `globalDefault` field set to true, the smallest value of such global default PriorityClasses will be used as the default priority."),
        AGE,
        col("PreemptionPolicy", "string", "PreemptionPolicy is the Policy for preempting pods with lower priority. One of Never, PreemptLowerPriority. Defaults to PreemptLowerPriority if unset."),
    ],
    row: |obj, now| {
        vec![
            name(obj),
            json!(i(obj, "/value")),
            json!(obj.get("globalDefault").and_then(Value::as_bool).unwrap_or(false)),
            age(obj, now),
            json!(if s(obj, "/preemptionPolicy").is_empty() { "PreemptLowerPriority" } else { s(obj, "/preemptionPolicy") }),
        ]
    },
};

const BINDING: Printer = Printer {
    columns: &[
        NAME,
        col("Role", "string", "Role references the role this binding grants."),
        AGE,
        wide("Users", "string", "Users in the binding"),
        wide("Groups", "string", "Groups in the binding"),
        wide("ServiceAccounts", "string", "ServiceAccounts in the binding"),
    ],
    row: |obj, now| {
        let subjects = arr(obj, "/subjects");
        let of = |kind: &str| -> Value {
            json!(subjects
                .iter()
                .filter(|x| s(x, "/kind") == kind)
                .map(|x| if kind == "ServiceAccount" { format!("{}/{}", s(x, "/namespace"), s(x, "/name")) } else { s(x, "/name").to_string() })
                .collect::<Vec<_>>()
                .join(", "))
        };
        vec![name(obj), json!(format!("{}/{}", s(obj, "/roleRef/kind"), s(obj, "/roleRef/name"))), age(obj, now), of("User"), of("Group"), of("ServiceAccount")]
    },
};

const ROLE: Printer = Printer {
    columns: &[NAME, col("Created At", "date", "CreationTimestamp is a timestamp representing the server time when this object was created.")],
    row: |obj, _| vec![name(obj), json!(s(obj, "/metadata/creationTimestamp"))],
};

const PDB: Printer = Printer {
    columns: &[
        NAME,
        col("Min Available", "string", "The minimum number of pods that must be available"),
        col("Max Unavailable", "string", "The maximum number of pods that may be unavailable"),
        col("Allowed Disruptions", "integer", "Calculated number of pods that may be disrupted at this time"),
        AGE,
    ],
    row: |obj, now| {
        let show = |p: &str| match obj.pointer(p) {
            Some(Value::String(s)) => json!(s),
            Some(Value::Number(n)) => json!(n.to_string()),
            _ => json!("N/A"),
        };
        vec![name(obj), show("/spec/minAvailable"), show("/spec/maxUnavailable"), json!(i(obj, "/status/disruptionsAllowed")), age(obj, now)]
    },
};


const ENDPOINTSLICE: Printer = Printer {
    columns: &[
        NAME,
        col("AddressType", "string", "The type of address carried by this EndpointSlice."),
        col("Ports", "string", "Ports that are exposed by the endpoints."),
        col("Endpoints", "string", "Addresses of the endpoints."),
        AGE,
    ],
    row: |obj, now| {
        let ports: Vec<String> = arr(obj, "/ports").iter().map(|p| i(p, "/port").to_string()).collect();
        let addrs: Vec<&str> = arr(obj, "/endpoints").iter().flat_map(|e| arr(e, "/addresses")).filter_map(Value::as_str).collect();
        let shown = if addrs.len() > 3 { format!("{} + {} more...", addrs[..3].join(","), addrs.len() - 3) } else { addrs.join(",") };
        vec![name(obj), json!(s(obj, "/addressType")), none_if_empty(ports.join(",")), none_if_empty(shown), age(obj, now)]
    },
};

const HPA: Printer = Printer {
    columns: &[
        NAME,
        col("Reference", "string", "Reference to the target of the autoscaler"),
        col("Targets", "string", "Current and desired metric values"),
        col("MinPods", "string", "Lower limit for the number of pods"),
        col("MaxPods", "string", "Upper limit for the number of pods"),
        col("Replicas", "string", "Current number of replicas"),
        AGE,
    ],
    row: |obj, now| {
        let reference = format!("{}/{}", s(obj, "/spec/scaleTargetRef/kind"), s(obj, "/spec/scaleTargetRef/name"));
        // autoscaling/v2 metrics, or v1's CPU target.
        let mut targets: Vec<String> = arr(obj, "/spec/metrics")
            .iter()
            .filter(|m| s(m, "/type") == "Resource")
            .map(|m| {
                let name = s(m, "/resource/name");
                let current = arr(obj, "/status/currentMetrics")
                    .iter()
                    .find(|c| s(c, "/resource/name") == name)
                    .and_then(|c| c.pointer("/resource/current/averageUtilization").and_then(Value::as_i64))
                    .map_or_else(|| "<unknown>".to_string(), |v| format!("{v}%"));
                format!("{name}: {current}/{}%", i(m, "/resource/target/averageUtilization"))
            })
            .collect();
        if let Some(t) = obj.pointer("/spec/targetCPUUtilizationPercentage").and_then(Value::as_i64) {
            let current = obj.pointer("/status/currentCPUUtilizationPercentage").and_then(Value::as_i64).map_or_else(|| "<unknown>".to_string(), |v| format!("{v}%"));
            targets.push(format!("cpu: {current}/{t}%"));
        }
        let min = obj.pointer("/spec/minReplicas").and_then(Value::as_i64).map_or_else(|| "<unset>".to_string(), |v| v.to_string());
        vec![
            name(obj),
            json!(reference),
            none_if_empty(targets.join(", ")),
            json!(min),
            json!(i(obj, "/spec/maxReplicas").to_string()),
            json!(i(obj, "/status/currentReplicas").to_string()),
            age(obj, now),
        ]
    },
};
