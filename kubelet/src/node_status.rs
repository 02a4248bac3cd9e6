//! The Node object a kubelet registers and the status it keeps posting.
//!
//! Mirrors upstream's `pkg/kubelet/kubelet_node_status.go` and
//! `pkg/kubelet/nodestatus/setters.go`: default labels
//! (`kubernetes.io/hostname`, `kubernetes.io/os`, `kubernetes.io/arch`,
//! `node.kubernetes.io/instance-type` and their beta twins), taints given at
//! registration (`--register-with-taints`), capacity and allocatable
//! (allocatable = capacity minus the default hard eviction thresholds
//! `memory.available<100Mi` and `nodefs.available<10%`), the four
//! conditions in upstream's order with upstream's reasons and messages,
//! addresses, `nodeInfo` and the kubelet endpoint. Pure: time is passed in.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;

use k8s_openapi::api::core::v1::{
    DaemonEndpoint, Node, NodeAddress, NodeCondition, NodeDaemonEndpoints, NodeSpec, NodeStatus, NodeSystemInfo, Taint,
};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;

use crate::units::{format_kibibytes, parse_quantity, UnitError};

/// The kubelet version simulated nodes report.
pub const KUBELET_VERSION: &str = "v1.33.0";
/// The kubelet's default port (`daemonEndpoints.kubeletEndpoint`).
pub const KUBELET_PORT: i32 = 10250;
/// Upstream's default hard eviction threshold for memory.
const EVICTION_MEMORY_BYTES: f64 = 100.0 * 1024.0 * 1024.0;
/// Upstream's default hard eviction threshold for the node filesystem.
const EVICTION_NODEFS_FRACTION: f64 = 0.10;

/// What one simulated node looks like.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeTemplate {
    pub name: String,
    /// User labels (`--labels`), on top of the defaults.
    pub labels: BTreeMap<String, String>,
    /// Taints set at registration (`--taints`).
    pub taints: Vec<Taint>,
    /// CPU capacity, a quantity (`4`, `3500m`).
    pub cpu: String,
    /// Memory capacity, a quantity (`16Gi`).
    pub memory: String,
    pub ephemeral_storage: String,
    pub max_pods: u32,
    /// `node.kubernetes.io/instance-type`, when set.
    pub instance_type: Option<String>,
    pub internal_ip: Ipv4Addr,
    pub kubelet_version: String,
}

/// Errors in a template's quantities.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("node resources: {0}")]
    Unit(#[from] UnitError),
    #[error("invalid label {0:?}: expected key=value")]
    Label(String),
    #[error("invalid taint {0:?}: expected key[=value]:NoSchedule|PreferNoSchedule|NoExecute")]
    Taint(String),
}

impl NodeTemplate {
    /// Checks that the quantities parse.
    pub fn validate(&self) -> Result<(), TemplateError> {
        parse_quantity(&self.cpu)?;
        parse_quantity(&self.memory)?;
        parse_quantity(&self.ephemeral_storage)?;
        Ok(())
    }
}

/// Parses `k=v,k2=v2` (empty input gives no labels).
pub fn parse_labels(text: &str) -> Result<BTreeMap<String, String>, TemplateError> {
    let mut labels = BTreeMap::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (k, v) = item.split_once('=').ok_or_else(|| TemplateError::Label(item.to_string()))?;
        if k.trim().is_empty() {
            return Err(TemplateError::Label(item.to_string()));
        }
        labels.insert(k.trim().to_string(), v.trim().to_string());
    }
    Ok(labels)
}

/// Parses `key=value:Effect` or `key:Effect` items, comma-separated, as
/// upstream's `--register-with-taints`.
pub fn parse_taints(text: &str) -> Result<Vec<Taint>, TemplateError> {
    let mut taints = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let err = || TemplateError::Taint(item.to_string());
        let (kv, effect) = item.rsplit_once(':').ok_or_else(err)?;
        if !matches!(effect, "NoSchedule" | "PreferNoSchedule" | "NoExecute") {
            return Err(err());
        }
        let (key, value) = match kv.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (kv, None),
        };
        if key.is_empty() {
            return Err(err());
        }
        taints.push(Taint { key: key.to_string(), value, effect: effect.to_string(), time_added: None });
    }
    Ok(taints)
}

/// Upstream's default node labels plus the user's (the user's win).
pub fn labels(template: &NodeTemplate) -> BTreeMap<String, String> {
    let mut labels = BTreeMap::from([
        ("kubernetes.io/hostname".to_string(), template.name.clone()),
        ("kubernetes.io/os".to_string(), "linux".to_string()),
        ("kubernetes.io/arch".to_string(), "amd64".to_string()),
        ("beta.kubernetes.io/os".to_string(), "linux".to_string()),
        ("beta.kubernetes.io/arch".to_string(), "amd64".to_string()),
    ]);
    if let Some(t) = &template.instance_type {
        labels.insert("node.kubernetes.io/instance-type".to_string(), t.clone());
        labels.insert("beta.kubernetes.io/instance-type".to_string(), t.clone());
    }
    labels.extend(template.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
    labels
}

/// `status.capacity`: cpu, memory (in Ki), pods, ephemeral-storage and the
/// zero hugepages an ordinary amd64 node reports.
pub fn capacity(template: &NodeTemplate) -> BTreeMap<String, Quantity> {
    let memory = parse_quantity(&template.memory).unwrap_or(0.0);
    let storage = parse_quantity(&template.ephemeral_storage).unwrap_or(0.0);
    BTreeMap::from([
        ("cpu".to_string(), Quantity(template.cpu.clone())),
        ("memory".to_string(), Quantity(format_kibibytes(memory))),
        ("pods".to_string(), Quantity(template.max_pods.to_string())),
        ("ephemeral-storage".to_string(), Quantity(format_kibibytes(storage))),
        ("hugepages-1Gi".to_string(), Quantity("0".to_string())),
        ("hugepages-2Mi".to_string(), Quantity("0".to_string())),
    ])
}

/// `status.allocatable`: capacity minus the default hard eviction
/// thresholds (no system or kube reserved).
pub fn allocatable(template: &NodeTemplate) -> BTreeMap<String, Quantity> {
    let memory = parse_quantity(&template.memory).unwrap_or(0.0);
    let storage = parse_quantity(&template.ephemeral_storage).unwrap_or(0.0);
    let mut out = capacity(template);
    out.insert("memory".to_string(), Quantity(format_kibibytes((memory - EVICTION_MEMORY_BYTES).max(0.0))));
    out.insert(
        "ephemeral-storage".to_string(),
        Quantity(((storage * (1.0 - EVICTION_NODEFS_FRACTION)).floor() as u64).to_string()),
    );
    out
}

/// The four conditions, in upstream's order, all healthy.
/// `ready_since` is when this kubelet started posting Ready (the
/// conditions' `lastTransitionTime`); `now` is the heartbeat.
pub fn conditions(ready_since: Timestamp, now: Timestamp) -> Vec<NodeCondition> {
    let cond = |type_: &str, status: &str, reason: &str, message: &str| NodeCondition {
        type_: type_.to_string(),
        status: status.to_string(),
        reason: Some(reason.to_string()),
        message: Some(message.to_string()),
        last_heartbeat_time: Some(Time(now)),
        last_transition_time: Some(Time(ready_since)),
    };
    vec![
        cond("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
        cond("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
        cond("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        cond("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]
}

/// `status.nodeInfo`, with IDs derived from the node's name so that they
/// stay the same across simulator restarts.
pub fn node_info(template: &NodeTemplate) -> NodeSystemInfo {
    let id = stable_hex(&template.name, 32);
    NodeSystemInfo {
        architecture: "amd64".to_string(),
        boot_id: stable_hex(&format!("boot/{}", template.name), 32),
        container_runtime_version: "ferrokube-sim://0.1.0".to_string(),
        kernel_version: "6.1.0-ferrokube-sim".to_string(),
        kube_proxy_version: String::new(),
        kubelet_version: template.kubelet_version.clone(),
        machine_id: id.clone(),
        operating_system: "linux".to_string(),
        os_image: "ferrokube simulated node".to_string(),
        system_uuid: id,
        ..NodeSystemInfo::default()
    }
}

/// The whole status.
pub fn status(template: &NodeTemplate, ready_since: Timestamp, now: Timestamp) -> NodeStatus {
    NodeStatus {
        addresses: Some(vec![
            NodeAddress { type_: "InternalIP".to_string(), address: template.internal_ip.to_string() },
            NodeAddress { type_: "Hostname".to_string(), address: template.name.clone() },
        ]),
        allocatable: Some(allocatable(template)),
        capacity: Some(capacity(template)),
        conditions: Some(conditions(ready_since, now)),
        daemon_endpoints: Some(NodeDaemonEndpoints { kubelet_endpoint: Some(DaemonEndpoint { port: KUBELET_PORT }) }),
        node_info: Some(node_info(template)),
        ..NodeStatus::default()
    }
}

/// The Node to register: metadata, taints and the full status (the API
/// keeps a node's status on create, as upstream's node strategy does).
pub fn node(template: &NodeTemplate, ready_since: Timestamp, now: Timestamp) -> Node {
    Node {
        metadata: ObjectMeta {
            name: Some(template.name.clone()),
            labels: Some(labels(template)),
            annotations: Some(BTreeMap::from([(
                "node.alpha.kubernetes.io/ttl".to_string(),
                "0".to_string(),
            )])),
            ..ObjectMeta::default()
        },
        spec: Some(NodeSpec {
            taints: (!template.taints.is_empty()).then(|| template.taints.clone()),
            ..NodeSpec::default()
        }),
        status: Some(status(template, ready_since, now)),
    }
}

/// The periodic status patch (strategic merge on `nodes/status`):
/// conditions merge by `type`, so others' conditions survive.
pub fn status_patch(template: &NodeTemplate, ready_since: Timestamp, now: Timestamp) -> serde_json::Value {
    serde_json::json!({ "status": status(template, ready_since, now) })
}

/// The patch an already-registered node gets at start: default and user
/// labels (merged), and the full status.
pub fn reregister_patch(template: &NodeTemplate, ready_since: Timestamp, now: Timestamp) -> serde_json::Value {
    serde_json::json!({ "metadata": { "labels": labels(template) } , "status": status(template, ready_since, now) })
}

/// `len` hex digits derived from `seed` (not cryptographic; stable).
pub fn stable_hex(seed: &str, len: usize) -> String {
    use std::hash::{Hash, Hasher};
    let mut out = String::with_capacity(len + 16);
    let mut round = 0u64;
    while out.len() < len {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (seed, round).hash(&mut h);
        out.push_str(&format!("{:016x}", h.finish()));
        round += 1;
    }
    out.truncate(len);
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn template() -> NodeTemplate {
        NodeTemplate {
            name: "sim-node-0".to_string(),
            labels: BTreeMap::from([("topology.kubernetes.io/zone".to_string(), "zone-a".to_string())]),
            taints: vec![],
            cpu: "4".to_string(),
            memory: "16Gi".to_string(),
            ephemeral_storage: "100Gi".to_string(),
            max_pods: 110,
            instance_type: Some("sim.large".to_string()),
            internal_ip: "127.1.0.1".parse().unwrap(),
            kubelet_version: KUBELET_VERSION.to_string(),
        }
    }

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn labels_have_defaults_and_user_values() {
        let mut t = template();
        t.labels.insert("kubernetes.io/os".to_string(), "plan9".to_string());
        let l = labels(&t);
        let cases = [
            ("kubernetes.io/hostname", Some("sim-node-0")),
            ("kubernetes.io/os", Some("plan9")),
            ("kubernetes.io/arch", Some("amd64")),
            ("node.kubernetes.io/instance-type", Some("sim.large")),
            ("topology.kubernetes.io/zone", Some("zone-a")),
            ("absent", None),
        ];
        for (k, want) in cases {
            assert_eq!(l.get(k).map(String::as_str), want, "{k}");
        }
    }

    #[test]
    fn capacity_and_allocatable() {
        let cap = capacity(&template());
        let alloc = allocatable(&template());
        let cases = [
            ("cpu", "4", "4"),
            ("memory", "16777216Ki", "16674816Ki"),
            ("pods", "110", "110"),
            ("ephemeral-storage", "104857600Ki", "96636764160"),
        ];
        for (k, c, a) in cases {
            assert_eq!(cap.get(k).map(|q| q.0.as_str()), Some(c), "capacity {k}");
            assert_eq!(alloc.get(k).map(|q| q.0.as_str()), Some(a), "allocatable {k}");
        }
    }

    #[test]
    fn conditions_in_upstream_order_with_reasons() {
        let since = ts("2026-01-01T00:00:00Z");
        let now = ts("2026-01-01T00:05:00Z");
        let got: Vec<_> = conditions(since, now)
            .into_iter()
            .map(|c| (c.type_, c.status, c.reason.unwrap_or_default(), c.last_heartbeat_time, c.last_transition_time))
            .collect();
        let want = [
            ("MemoryPressure", "False", "KubeletHasSufficientMemory"),
            ("DiskPressure", "False", "KubeletHasNoDiskPressure"),
            ("PIDPressure", "False", "KubeletHasSufficientPID"),
            ("Ready", "True", "KubeletReady"),
        ];
        assert_eq!(got.len(), want.len());
        for (g, w) in got.iter().zip(want) {
            assert_eq!((g.0.as_str(), g.1.as_str(), g.2.as_str()), w);
            assert_eq!(g.3, Some(Time(now)));
            assert_eq!(g.4, Some(Time(since)));
        }
    }

    #[test]
    fn node_object() {
        let mut t = template();
        t.taints = parse_taints("dedicated=sim:NoSchedule").unwrap();
        let n = node(&t, ts("2026-01-01T00:00:00Z"), ts("2026-01-01T00:00:00Z"));
        let v = serde_json::to_value(&n).unwrap();
        assert_eq!(v["metadata"]["name"], "sim-node-0");
        assert_eq!(v["spec"]["taints"][0]["key"], "dedicated");
        assert_eq!(v["status"]["addresses"][0], serde_json::json!({"type": "InternalIP", "address": "127.1.0.1"}));
        assert_eq!(v["status"]["addresses"][1]["type"], "Hostname");
        assert_eq!(v["status"]["daemonEndpoints"]["kubeletEndpoint"]["Port"], 10250);
        assert_eq!(v["status"]["nodeInfo"]["kubeletVersion"], "v1.33.0");
        assert_eq!(v["status"]["nodeInfo"]["machineID"].as_str().map(str::len), Some(32));
        assert_eq!(node_info(&t), node_info(&template()), "IDs are stable");
    }

    #[test]
    fn label_and_taint_flags() {
        assert_eq!(parse_labels("").unwrap(), BTreeMap::new());
        assert_eq!(parse_labels("a=1, b=").unwrap().get("b").map(String::as_str), Some(""));
        assert!(parse_labels("novalue").is_err());
        type Parsed<'a> = Option<(&'a str, Option<&'a str>, &'a str)>;
        let taint_cases: &[(&str, Parsed)] = &[
            ("k=v:NoSchedule", Some(("k", Some("v"), "NoSchedule"))),
            ("k:NoExecute", Some(("k", None, "NoExecute"))),
            ("example.com/k=a:b:PreferNoSchedule", Some(("example.com/k", Some("a:b"), "PreferNoSchedule"))),
            ("k=v", None),
            ("k=v:Sometimes", None),
            (":NoSchedule", None),
        ];
        for (input, want) in taint_cases {
            let got = parse_taints(input).ok().map(|t| t.into_iter().next().unwrap());
            let got = got.as_ref().map(|t| (t.key.as_str(), t.value.as_deref(), t.effect.as_str()));
            assert_eq!(got, *want, "{input}");
        }
    }
}
