//! The node lifecycle controller (`node-lifecycle`).
//!
//! Upstream (`pkg/controller/nodelifecycle/node_lifecycle_controller.go`),
//! every `--node-monitor-period` (5 s):
//! - a node is healthy while its Ready condition's heartbeat or its Lease in
//!   `kube-node-lease` keeps changing; the controller remembers *when it saw*
//!   the last change (its own clock, never the kubelet's). After
//!   `--node-monitor-grace-period` without one, Ready, MemoryPressure,
//!   DiskPressure and PIDPressure become `Unknown` (reason
//!   `NodeStatusUnknown`, message "Kubelet stopped posting node status.";
//!   `NodeStatusNeverUpdated` / "Kubelet never posted node status." for a
//!   condition never reported), and the node's pods get `Ready=False`;
//! - taints follow conditions: `not-ready` (Ready False) and `unreachable`
//!   (Ready Unknown) as NoSchedule at once and as NoExecute through one
//!   rate limiter per zone (`topology.kubernetes.io/region` + `zone`, the
//!   `failure-domain.beta` labels first). A zone's rate follows its state:
//!   `--node-eviction-rate` 0.1/s normally; when at least 55 %
//!   (`--unhealthy-zone-threshold`) and at least 3 of its nodes are not
//!   ready, `--secondary-node-eviction-rate` 0.01/s if the zone has more
//!   than 50 nodes (`--large-cluster-size-threshold`), else none; a zone
//!   with no Ready node at all is tainted at the normal rate, unless
//!   *every* zone is down: then the control plane is presumed cut off
//!   ("master disruption mode"), no node is NoExecute-tainted and the
//!   existing not-ready/unreachable NoExecute taints are removed. Details
//!   and the pure core in [`zones`]. An existing NoExecute taint is swapped
//!   between not-ready and unreachable without the limiter;
//! - `memory-pressure`, `disk-pressure`, `pid-pressure`,
//!   `network-unavailable` and `unschedulable` become NoSchedule taints.
//!
//! Differences: NoExecute taints are added in the monitor pass, in
//! node-list order, instead of upstream's separate 100 ms loop over a
//! per-zone queue; the eviction flags are fixed at upstream's defaults; a
//! node seen for the first time (e.g. after a restart) keeps its NoExecute
//! taint, where upstream removes it and re-adds it through the limiter.

pub mod taint_eviction;
pub mod zones;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Node, NodeCondition, Pod, Taint};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;
use tracing::Instrument;

use crate::controllers::Ctx;
use crate::runtime::EventRecorder;
use crate::runtime::cached_pod::CachedPod;

const NAME: &str = "node-lifecycle";
pub const MONITOR_PERIOD: Duration = Duration::from_secs(5);
/// Upstream `--node-startup-grace-period`.
pub const STARTUP_GRACE: Duration = Duration::from_secs(60);
pub const TAINT_NOT_READY: &str = "node.kubernetes.io/not-ready";
pub const TAINT_UNREACHABLE: &str = "node.kubernetes.io/unreachable";
pub const LEASE_NAMESPACE: &str = "kube-node-lease";

/// Condition-driven NoSchedule taints (upstream `nodeConditionToTaintKeyStatusMap`).
const CONDITION_TAINTS: &[(&str, &str, &str)] = &[
    ("Ready", "False", TAINT_NOT_READY),
    ("Ready", "Unknown", TAINT_UNREACHABLE),
    ("MemoryPressure", "True", "node.kubernetes.io/memory-pressure"),
    ("DiskPressure", "True", "node.kubernetes.io/disk-pressure"),
    ("PIDPressure", "True", "node.kubernetes.io/pid-pressure"),
    ("NetworkUnavailable", "True", "node.kubernetes.io/network-unavailable"),
];
pub const TAINT_UNSCHEDULABLE: &str = "node.kubernetes.io/unschedulable";

/// What the controller remembers per node (upstream `nodeHealthData`).
#[derive(Debug, Clone, PartialEq)]
pub struct Health {
    /// When this controller last saw a heartbeat or lease renewal change.
    pub probe: Timestamp,
    pub heartbeat: Option<Timestamp>,
    pub lease_renew: Option<Timestamp>,
}

fn condition<'a>(node: &'a Node, ty: &str) -> Option<&'a NodeCondition> {
    node.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == ty)
}

pub fn ready_status(node: &Node) -> Option<&str> {
    condition(node, "Ready").map(|c| c.status.as_str())
}

/// Folds a new observation into the remembered health.
pub fn observe(prev: Option<&Health>, node: &Node, lease: Option<&Lease>, now: Timestamp) -> Health {
    let heartbeat = condition(node, "Ready").and_then(|c| c.last_heartbeat_time.as_ref()).map(|t| t.0);
    let lease_renew = lease.and_then(|l| l.spec.as_ref()?.renew_time.as_ref()).map(|t| t.0);
    match prev {
        None => Health {
            probe: now,
            heartbeat,
            lease_renew,
        },
        Some(p) => {
            let changed = heartbeat != p.heartbeat || (lease_renew.is_some() && lease_renew != p.lease_renew);
            Health { probe: if changed { now } else { p.probe }, heartbeat, lease_renew }
        }
    }
}

/// Whether the node stopped reporting: no observed change for the grace
/// period (the startup grace for a node that never reported Ready).
pub fn stale(health: &Health, node: &Node, grace: Duration, now: Timestamp) -> bool {
    let grace = if condition(node, "Ready").is_none() { grace.max(STARTUP_GRACE) } else { grace };
    let grace = SignedDuration::try_from(grace).unwrap_or(SignedDuration::MAX);
    health.probe.checked_add(grace).is_ok_and(|deadline| deadline < now)
}

/// The conditions after marking the node Unknown, or `None` when they
/// already are.
pub fn unknown_conditions(node: &Node, now: Timestamp) -> Option<Vec<NodeCondition>> {
    let mut conditions = node.status.as_ref().and_then(|s| s.conditions.clone()).unwrap_or_default();
    let mut changed = false;
    for ty in ["Ready", "MemoryPressure", "DiskPressure", "PIDPressure"] {
        match conditions.iter_mut().find(|c| c.type_ == ty) {
            None => {
                conditions.push(NodeCondition {
                    type_: ty.into(),
                    status: "Unknown".into(),
                    reason: Some("NodeStatusNeverUpdated".into()),
                    message: Some("Kubelet never posted node status.".into()),
                    last_heartbeat_time: Some(Time(now)),
                    last_transition_time: Some(Time(now)),
                });
                changed = true;
            }
            Some(c) if c.status != "Unknown" => {
                c.status = "Unknown".into();
                c.reason = Some("NodeStatusUnknown".into());
                c.message = Some("Kubelet stopped posting node status.".into());
                c.last_transition_time = Some(Time(now));
                changed = true;
            }
            Some(_) => {}
        }
    }
    changed.then_some(conditions)
}

/// The NoSchedule taint keys the node's conditions call for.
pub fn noschedule_keys(node: &Node) -> Vec<&'static str> {
    let mut keys: Vec<&'static str> = CONDITION_TAINTS
        .iter()
        .filter(|(ty, status, _)| condition(node, ty).is_some_and(|c| c.status == *status))
        .map(|(_, _, key)| *key)
        .collect();
    if node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false) {
        keys.push(TAINT_UNSCHEDULABLE);
    }
    keys
}

/// The NoExecute taint key the Ready condition calls for.
pub fn noexecute_key(node: &Node) -> Option<&'static str> {
    match ready_status(node) {
        Some("False") => Some(TAINT_NOT_READY),
        Some("Unknown") => Some(TAINT_UNREACHABLE),
        _ => None,
    }
}

fn managed_noschedule(key: &str) -> bool {
    key == TAINT_UNSCHEDULABLE || CONDITION_TAINTS.iter().any(|(_, _, k)| *k == key)
}

/// What may happen to the not-ready/unreachable NoExecute taints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NoExecute {
    /// The zone's limiter lets a *new* taint in.
    Allow,
    /// Only an existing taint is kept, or swapped between not-ready and
    /// unreachable (upstream `SwapNodeControllerTaint`).
    Keep,
    /// Entering master disruption mode: removed (upstream
    /// `markNodeAsReachable` on every node).
    Remove,
}

/// The node's taints with the controller-managed ones reconciled.
/// `None`: unchanged.
pub fn reconcile_taints(node: &Node, noexecute: NoExecute, now: Timestamp) -> Option<Vec<Taint>> {
    let current = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let wanted_ns = noschedule_keys(node);
    let wanted_ne = if noexecute == NoExecute::Remove { None } else { noexecute_key(node) };
    let allow_noexecute = noexecute == NoExecute::Allow;
    let has_ne = current.iter().any(|t| t.effect == "NoExecute" && (t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE));
    let mut out: Vec<Taint> = current
        .iter()
        .filter(|t| match t.effect.as_str() {
            "NoSchedule" if managed_noschedule(&t.key) => wanted_ns.contains(&t.key.as_str()),
            "NoExecute" if t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE => Some(t.key.as_str()) == wanted_ne,
            _ => true,
        })
        .cloned()
        .collect();
    for key in wanted_ns {
        if !out.iter().any(|t| t.key == key && t.effect == "NoSchedule") {
            out.push(Taint { key: key.into(), effect: "NoSchedule".into(), value: None, time_added: None });
        }
    }
    if let Some(key) = wanted_ne {
        if !out.iter().any(|t| t.key == key && t.effect == "NoExecute") && (has_ne || allow_noexecute) {
            out.push(Taint { key: key.into(), effect: "NoExecute".into(), value: None, time_added: Some(Time(now)) });
        }
    }
    (out != current).then_some(out)
}

/// Whether the node needs a new NoExecute taint (the limiter decides).
pub fn wants_new_noexecute(node: &Node) -> bool {
    let Some(key) = noexecute_key(node) else { return false };
    let taints = node.spec.as_ref().and_then(|s| s.taints.as_ref());
    !taints.is_some_and(|t| t.iter().any(|t| t.effect == "NoExecute" && (t.key == key || t.key == TAINT_NOT_READY || t.key == TAINT_UNREACHABLE)))
}

/// The pod's `Ready` condition set to False (upstream `MarkPodsNotReady`),
/// or `None` when already not ready or not reported. Sent alone as a
/// strategic merge patch (conditions merge by `type`), so the pod's other
/// conditions and the fields of this one the cache does not hold (reason,
/// message) stay as they are on the server.
pub fn pod_not_ready_condition(pod: &CachedPod, now: Timestamp) -> Option<k8s_openapi::api::core::v1::PodCondition> {
    let c = pod.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "Ready")?;
    if c.status == "False" {
        return None;
    }
    let mut c = k8s_openapi::api::core::v1::PodCondition::from(c);
    c.status = "False".into();
    c.last_transition_time = Some(Time(now));
    Some(c)
}

struct Monitor {
    client: kube::Client,
    grace: Duration,
    nodes: crate::runtime::Informer<Node>,
    leases: crate::runtime::Informer<Lease>,
    pods: crate::runtime::Informer<CachedPod>,
    health: HashMap<String, Health>,
    zones: zones::Zones,
    recorder: EventRecorder,
}

impl Monitor {
    async fn pass(&mut self) {
        let now = Timestamp::now();
        let nodes = self.nodes.list();
        let names: BTreeMap<String, ()> = nodes.iter().filter_map(|n| n.metadata.name.clone()).map(|n| (n, ())).collect();
        self.health.retain(|n, _| names.contains_key(n));
        for node in &nodes {
            let Some(name) = node.metadata.name.clone() else { continue };
            let lease = self.leases.get(LEASE_NAMESPACE, &name);
            let health = observe(self.health.get(&name), node, lease.as_deref(), now);
            let is_stale = stale(&health, node, self.grace, now);
            self.health.insert(name.clone(), health);
            if is_stale {
                if let Some(conditions) = unknown_conditions(node, now) {
                    if let Err(err) = self.mark_unknown(node, conditions).await {
                        tracing::warn!(node = %name, error = format!("{err:#}"), "could not mark node Unknown");
                    }
                }
            }
        }
        // Zone states and taints from the (possibly just updated) cache.
        let nodes = self.nodes.list();
        let mode = self.handle_disruption(&nodes, now);
        for node in &nodes {
            let zone = zones::zone_key(node.metadata.labels.as_ref());
            let noexecute = if mode == zones::Mode::EnterMasterDisruption {
                NoExecute::Remove
            } else if wants_new_noexecute(node) && self.zones.try_taint(&zone, now) {
                NoExecute::Allow
            } else {
                NoExecute::Keep
            };
            if let Some(taints) = reconcile_taints(node, noexecute, now) {
                if let Err(err) = self.set_taints(node, taints).await {
                    tracing::warn!(node = ?node.metadata.name, error = format!("{err:#}"), "could not update node taints");
                }
            }
        }
    }

    /// Upstream `handleDisruption`: per-zone states and limiters; on leaving
    /// master disruption mode every node gets a fresh grace period.
    fn handle_disruption(&mut self, nodes: &[Arc<Node>], now: Timestamp) -> zones::Mode {
        let mut zone_ready: BTreeMap<String, Vec<bool>> = BTreeMap::new();
        for node in nodes {
            let labels = node.metadata.labels.as_ref();
            let zone = zones::zone_key(labels);
            self.zones.observe_zone(&zone, now);
            if !zones::excluded_from_disruption(labels) {
                zone_ready.entry(zone).or_default().push(ready_status(node) == Some("True"));
            }
        }
        let outcome = self.zones.handle_disruption(&zone_ready, now);
        for (zone, state) in &outcome.changed {
            tracing::info!(zone = %zone.replace('\0', ""), state = %state, rate = ?self.zones.rate(zone), "zone is now in a new state");
        }
        match outcome.mode {
            zones::Mode::EnterMasterDisruption => {
                tracing::info!("all nodes are not Ready; entering master disruption mode (no NoExecute tainting)");
            }
            zones::Mode::ExitMasterDisruption => {
                tracing::info!("some nodes are Ready; exiting master disruption mode");
                for health in self.health.values_mut() {
                    health.probe = now;
                }
            }
            zones::Mode::Steady => {}
        }
        outcome.mode
    }

    async fn mark_unknown(&self, node: &Node, conditions: Vec<NodeCondition>) -> anyhow::Result<()> {
        let name = node.metadata.name.clone().unwrap_or_default();
        let api: Api<Node> = Api::all(self.client.clone());
        let was_ready = ready_status(node) == Some("True");
        let mut updated = node.clone();
        updated.status.get_or_insert_with(Default::default).conditions = Some(conditions);
        api.replace_status(&name, &PostParams::default(), &updated).await.with_context(|| format!("updating node {name} status"))?;
        tracing::info!(node = %name, "node stopped posting status; marked Unknown");
        if was_ready {
            self.recorder.normal(node, "NodeNotReady", format!("Node {name} status is now: NodeNotReady"));
        }
        // Upstream `MarkPodsNotReady`.
        let now = Timestamp::now();
        for pod in self.pods.list_filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())) {
            let Some(ready) = pod_not_ready_condition(&pod, now) else { continue };
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            let pod_name = pod.metadata.name.clone().unwrap_or_default();
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
            let patch = json!({"status": {"conditions": [ready]}});
            if let Err(err) = pods.patch_status(&pod_name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
                tracing::warn!(pod = %format!("{ns}/{pod_name}"), error = %err, "could not mark pod not ready");
            } else {
                self.recorder.warning(&*pod, "NodeNotReady", "Node is not ready".to_string());
            }
        }
        Ok(())
    }

    async fn set_taints(&self, node: &Node, taints: Vec<Taint>) -> anyhow::Result<()> {
        let name = node.metadata.name.clone().unwrap_or_default();
        let api: Api<Node> = Api::all(self.client.clone());
        let patch = json!({"metadata": {"resourceVersion": node.metadata.resource_version}, "spec": {"taints": taints}});
        api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.with_context(|| format!("patching node {name} taints"))?;
        tracing::info!(node = %name, taints = ?taints.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>(), "node taints updated");
        Ok(())
    }
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let nodes = ctx.informers.get::<Node>();
    let leases = ctx.informers.get::<Lease>();
    let pods = ctx.informers.get::<CachedPod>();
    nodes.wait_synced().await?;
    leases.wait_synced().await?;
    pods.wait_synced().await?;
    let mut monitor = Monitor {
        client: ctx.client.clone(),
        grace: ctx.settings.node_monitor_grace_period,
        nodes,
        leases,
        pods,
        health: HashMap::new(),
        zones: zones::Zones::new(zones::EvictionConfig::default()),
        recorder: EventRecorder::new(ctx.client.clone(), "node-controller"),
    };
    let period = MONITOR_PERIOD.min(ctx.settings.node_monitor_grace_period / 2).max(Duration::from_millis(200));
    let mut tick = tokio::time::interval(period);
    loop {
        tick.tick().await;
        monitor.pass().instrument(tracing::info_span!("sync", controller = NAME)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeSpec, NodeStatus};

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    #[test]
    fn pods_marked_not_ready_patch_only_their_ready_condition() {
        let pod = |ready: Option<&str>| -> CachedPod {
            serde_json::from_value(serde_json::json!({"status": {"conditions": ready.map(|r| vec![
                serde_json::json!({"type": "PodScheduled", "status": "True"}),
                serde_json::json!({"type": "Ready", "status": r, "lastTransitionTime": "2026-01-01T00:00:00Z"}),
            ])}}))
            .unwrap_or_default()
        };
        let c = pod_not_ready_condition(&pod(Some("True")), at(100)).unwrap_or_else(|| panic!("marked"));
        assert_eq!((c.type_.as_str(), c.status.as_str(), c.last_transition_time), ("Ready", "False", Some(Time(at(100)))));
        assert_eq!(pod_not_ready_condition(&pod(Some("Unknown")), at(100)).map(|c| c.status), Some("False".to_string()));
        assert_eq!(pod_not_ready_condition(&pod(Some("False")), at(100)), None);
        assert_eq!(pod_not_ready_condition(&pod(None), at(100)), None);
    }

    fn node(ready: Option<&str>, taints: Vec<Taint>) -> Node {
        Node {
            metadata: kube::api::ObjectMeta { name: Some("n".into()), ..Default::default() },
            spec: Some(NodeSpec { taints: (!taints.is_empty()).then_some(taints), ..Default::default() }),
            status: Some(NodeStatus {
                conditions: ready.map(|s| {
                    vec![NodeCondition { type_: "Ready".into(), status: s.into(), last_heartbeat_time: Some(Time(at(100))), ..Default::default() }]
                }),
                ..Default::default()
            }),
        }
    }

    fn taint(key: &str, effect: &str) -> Taint {
        Taint { key: key.into(), effect: effect.into(), value: None, time_added: None }
    }

    #[test]
    fn health_tracks_local_observation_time() {
        let n = node(Some("True"), vec![]);
        let h = observe(None, &n, None, at(1000));
        assert_eq!(h.probe, at(1000));
        let grace = Duration::from_secs(40);
        assert!(!stale(&h, &n, grace, at(1030)));
        // Nothing changed: the probe time stays, so the node goes stale.
        let h2 = observe(Some(&h), &n, None, at(1050));
        assert_eq!(h2.probe, at(1000));
        assert!(stale(&h2, &n, grace, at(1050)));
        // A lease renewal refreshes it.
        let lease = Lease { spec: Some(k8s_openapi::api::coordination::v1::LeaseSpec { renew_time: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(at(5))), ..Default::default() }), ..Default::default() };
        let h3 = observe(Some(&h2), &n, Some(&lease), at(1060));
        assert_eq!(h3.probe, at(1060));
        // A node that never reported gets the startup grace.
        let fresh = node(None, vec![]);
        let hf = observe(None, &fresh, None, at(0));
        assert!(!stale(&hf, &fresh, grace, at(50)));
        assert!(stale(&hf, &fresh, grace, at(61)));
    }

    #[test]
    fn unknown_conditions_messages() {
        let n = node(Some("True"), vec![]);
        let conds = unknown_conditions(&n, at(200)).unwrap_or_default();
        let ready = conds.iter().find(|c| c.type_ == "Ready").cloned().unwrap_or_default();
        assert_eq!((ready.status.as_str(), ready.reason.as_deref(), ready.message.as_deref()), ("Unknown", Some("NodeStatusUnknown"), Some("Kubelet stopped posting node status.")));
        assert_eq!(ready.last_heartbeat_time, Some(Time(at(100))), "heartbeat kept");
        let mem = conds.iter().find(|c| c.type_ == "MemoryPressure").cloned().unwrap_or_default();
        assert_eq!(mem.reason.as_deref(), Some("NodeStatusNeverUpdated"));
        let mut marked = n.clone();
        marked.status = Some(NodeStatus { conditions: Some(conds), ..Default::default() });
        assert!(unknown_conditions(&marked, at(300)).is_none());
    }

    #[test]
    fn taints_table() {
        let keys = |t: Option<Vec<Taint>>| t.map(|v| v.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>());
        // Unknown: unreachable NoSchedule + NoExecute when allowed.
        assert_eq!(
            keys(reconcile_taints(&node(Some("Unknown"), vec![]), NoExecute::Allow, at(0))),
            Some(vec![format!("{TAINT_UNREACHABLE}:NoSchedule"), format!("{TAINT_UNREACHABLE}:NoExecute")])
        );
        // Not allowed by the limiter: only NoSchedule.
        assert_eq!(keys(reconcile_taints(&node(Some("Unknown"), vec![]), NoExecute::Keep, at(0))), Some(vec![format!("{TAINT_UNREACHABLE}:NoSchedule")]));
        // Swap not-ready -> unreachable without the limiter.
        let swapped = reconcile_taints(&node(Some("Unknown"), vec![taint(TAINT_NOT_READY, "NoSchedule"), taint(TAINT_NOT_READY, "NoExecute")]), NoExecute::Keep, at(0));
        assert_eq!(keys(swapped), Some(vec![format!("{TAINT_UNREACHABLE}:NoSchedule"), format!("{TAINT_UNREACHABLE}:NoExecute")]));
        // Ready again: managed taints go, others stay.
        let healed = reconcile_taints(&node(Some("True"), vec![taint(TAINT_UNREACHABLE, "NoExecute"), taint("user", "NoSchedule")]), NoExecute::Keep, at(0));
        assert_eq!(keys(healed), Some(vec!["user:NoSchedule".to_string()]));
        assert_eq!(reconcile_taints(&node(Some("True"), vec![]), NoExecute::Allow, at(0)), None);
        // Unschedulable.
        let mut cordoned = node(Some("True"), vec![]);
        if let Some(s) = cordoned.spec.as_mut() {
            s.unschedulable = Some(true);
        }
        assert_eq!(keys(reconcile_taints(&cordoned, NoExecute::Keep, at(0))), Some(vec![format!("{TAINT_UNSCHEDULABLE}:NoSchedule")]));
    }

    #[test]
    fn master_disruption_removes_noexecute_taints() {
        let keys = |t: Option<Vec<Taint>>| t.map(|v| v.iter().map(|t| format!("{}:{}", t.key, t.effect)).collect::<Vec<_>>());
        let tainted = node(Some("Unknown"), vec![taint(TAINT_UNREACHABLE, "NoSchedule"), taint(TAINT_UNREACHABLE, "NoExecute"), taint("user", "NoExecute")]);
        assert_eq!(
            keys(reconcile_taints(&tainted, NoExecute::Remove, at(0))),
            Some(vec![format!("{TAINT_UNREACHABLE}:NoSchedule"), "user:NoExecute".to_string()])
        );
        // Kept otherwise; a not-yet-tainted node gets none.
        assert_eq!(reconcile_taints(&tainted, NoExecute::Keep, at(0)), None);
        let bare = node(Some("Unknown"), vec![taint(TAINT_UNREACHABLE, "NoSchedule")]);
        assert_eq!(reconcile_taints(&bare, NoExecute::Remove, at(0)), None);
        assert!(wants_new_noexecute(&bare));
    }
}
