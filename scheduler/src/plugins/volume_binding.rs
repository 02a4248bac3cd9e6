//! VolumeBinding: a pod's PersistentVolumeClaims must be satisfiable on the
//! node.
//!
//! - Bound claims: the PV must exist and its `nodeAffinity` must match.
//! - Unbound claims of a `WaitForFirstConsumer` class: a matching available
//!   PV (class, access modes, size, selector, volume mode, node affinity;
//!   the smallest wins) is reserved, or, when the class has a provisioner
//!   and its `allowedTopologies` admit the node, dynamic provisioning is
//!   requested in PreBind by annotating the claim with
//!   `volume.kubernetes.io/selected-node`.
//! - Unbound claims of an `Immediate` class make the pod unschedulable
//!   until the PV controller binds them.
//!
//! PreBind writes the PV's `claimRef` (static binding) or the claim's
//! annotation (provisioning). Unlike upstream it does not then wait for the
//! PV controller to finish binding.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim, Pod};
use kube::api::{Patch, PatchParams};
use kube::Api;

use super::helper::{node_selector_matches, requirement_matches};
use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{CycleState, FilterPlugin, Plugin, PluginArgs, PreBindPlugin, PreFilterPlugin, PreFilterResult, ReservePlugin, Status};
use crate::podinfo::PodInfo;
use crate::quantity;

pub const NAME: &str = "VolumeBinding";
pub const ERR_BIND_CONFLICT: &str = "node(s) didn't find available persistent volumes to bind";
pub const ERR_NODE_CONFLICT: &str = "node(s) had volume node affinity conflict";
pub const ERR_PV_NOT_EXIST: &str = "node(s) unavailable due to one or more pvc(s) bound to non-existent pv(s)";
pub const ERR_UNBOUND_IMMEDIATE: &str = "pod has unbound immediate PersistentVolumeClaims";
pub const ANN_SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
const NO_PROVISIONER: &str = "kubernetes.io/no-provisioner";

pub struct VolumeBinding {
    client: Option<kube::Client>,
    /// PV name → claim key, for PVs reserved but not yet seen bound.
    assumed: Mutex<HashMap<String, String>>,
}

#[derive(Clone, Default)]
struct State {
    bound: Vec<(String, Option<Arc<PersistentVolume>>)>,
    delayed: Vec<Delayed>,
    /// Filled by Reserve.
    decision: Decision,
}

/// An unbound WaitForFirstConsumer claim with its node-independent candidates.
#[derive(Clone)]
struct Delayed {
    pvc: Arc<PersistentVolumeClaim>,
    /// PVs matching everything but node affinity, smallest first.
    candidates: Vec<Arc<PersistentVolume>>,
    class: Option<Arc<k8s_openapi::api::storage::v1::StorageClass>>,
}

#[derive(Clone, Default, Debug, PartialEq, Eq)]
struct Decision {
    /// (PV name, claim)
    static_bindings: Vec<(String, String, String, Option<String>)>,
    /// Claims to provision: (namespace, name)
    provisions: Vec<(String, String)>,
}

fn pvc_key(pvc: &PersistentVolumeClaim) -> String {
    format!("{}/{}", pvc.metadata.namespace.as_deref().unwrap_or(""), pvc.metadata.name.as_deref().unwrap_or(""))
}

fn pv_node_ok(pv: &PersistentVolume, node: &NodeInfo) -> bool {
    match pv.spec.as_ref().and_then(|s| s.node_affinity.as_ref()).and_then(|a| a.required.as_ref()) {
        Some(sel) => node_selector_matches(sel, &node.node),
        None => true,
    }
}

fn storage_request(pvc: &PersistentVolumeClaim) -> i64 {
    pvc.spec.as_ref().and_then(|s| s.resources.as_ref()).and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage")).map(quantity::value).unwrap_or(0)
}

fn pv_capacity(pv: &PersistentVolume) -> i64 {
    pv.spec.as_ref().and_then(|s| s.capacity.as_ref()).and_then(|c| c.get("storage")).map(quantity::value).unwrap_or(0)
}

fn class_of_pvc(pvc: &PersistentVolumeClaim) -> String {
    pvc.spec.as_ref().and_then(|s| s.storage_class_name.clone()).unwrap_or_default()
}

/// Whether `pv` could be bound to `pvc`, node aside (upstream `FindMatchingVolume` checks).
fn pv_matches(pv: &PersistentVolume, pvc: &PersistentVolumeClaim) -> bool {
    let Some(spec) = pv.spec.as_ref() else { return false };
    if pv.metadata.deletion_timestamp.is_some() {
        return false;
    }
    if let Some(cr) = spec.claim_ref.as_ref() {
        let same = cr.namespace.as_deref() == pvc.metadata.namespace.as_deref()
            && cr.name.as_deref() == pvc.metadata.name.as_deref()
            && cr.uid.as_ref().is_none_or(|u| Some(u) == pvc.metadata.uid.as_ref());
        if !same {
            return false;
        }
    }
    if matches!(pv.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Released" | "Failed")) {
        return false;
    }
    if spec.storage_class_name.clone().unwrap_or_default() != class_of_pvc(pvc) {
        return false;
    }
    let pvc_spec = pvc.spec.as_ref();
    let mode = |m: Option<&String>| m.cloned().unwrap_or_else(|| "Filesystem".into());
    if mode(spec.volume_mode.as_ref()) != mode(pvc_spec.and_then(|s| s.volume_mode.as_ref())) {
        return false;
    }
    let pv_modes = spec.access_modes.as_deref().unwrap_or(&[]);
    if !pvc_spec.and_then(|s| s.access_modes.as_ref()).into_iter().flatten().all(|m| pv_modes.contains(m)) {
        return false;
    }
    if pv_capacity(pv) < storage_request(pvc) {
        return false;
    }
    if let Some(sel) = pvc_spec.and_then(|s| s.selector.as_ref()) {
        match apimachinery::selector::labels::LabelSelector::from_k8s(sel) {
            Ok(s) if s.matches(&pv.metadata) => {}
            _ => return false,
        }
    }
    true
}

impl VolumeBinding {
    /// For each delayed claim: Some(PV name) to bind, None to provision; Err(reason) if neither.
    fn find(&self, delayed: &[Delayed], node: &NodeInfo) -> Result<Decision, &'static str> {
        let assumed = self.assumed.lock().map(|a| a.clone()).unwrap_or_default();
        let mut taken: Vec<String> = Vec::new();
        let mut decision = Decision::default();
        for d in delayed {
            let pvc = &d.pvc;
            let key = pvc_key(pvc);
            let best = d.candidates.iter().find(|pv| {
                let name = pv.metadata.name.as_deref().unwrap_or("");
                !taken.iter().any(|t| t == name) && assumed.get(name).is_none_or(|by| *by == key) && pv_node_ok(pv, node)
            });
            if let Some(pv) = best {
                let name = pv.metadata.name.clone().unwrap_or_default();
                taken.push(name.clone());
                decision.static_bindings.push((
                    name,
                    pvc.metadata.namespace.clone().unwrap_or_default(),
                    pvc.metadata.name.clone().unwrap_or_default(),
                    pvc.metadata.uid.clone(),
                ));
                continue;
            }
            let Some(class) = d.class.as_ref().filter(|c| c.provisioner != NO_PROVISIONER) else { return Err(ERR_BIND_CONFLICT) };
            if let Some(topologies) = class.allowed_topologies.as_ref().filter(|t| !t.is_empty()) {
                let labels = node.labels();
                let ok = topologies.iter().any(|term| {
                    term.match_label_expressions.iter().flatten().all(|e| {
                        let req = k8s_openapi::api::core::v1::NodeSelectorRequirement {
                            key: e.key.clone(),
                            operator: "In".into(),
                            values: Some(e.values.clone()),
                        };
                        requirement_matches(&req, labels)
                    })
                });
                if !ok {
                    return Err(ERR_BIND_CONFLICT);
                }
            }
            decision.provisions.push((pvc.metadata.namespace.clone().unwrap_or_default(), pvc.metadata.name.clone().unwrap_or_default()));
        }
        Ok(decision)
    }
}

impl Plugin for VolumeBinding {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
    fn as_reserve(&self) -> Option<&dyn ReservePlugin> {
        Some(self)
    }
    fn as_pre_bind(&self) -> Option<&dyn PreBindPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for VolumeBinding {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (Option<PreFilterResult>, Status) {
        let claims = crate::cache::pvc_keys(&pod.pod);
        if claims.is_empty() {
            return (None, Status::skip());
        }
        let mut s = State::default();
        for key in claims {
            let (ns, name) = key.split_once('/').unwrap_or(("", &key));
            let Some(pvc) = snapshot.listers.pvc(ns, name) else {
                return (None, Status::unresolvable(format!("persistentvolumeclaim \"{name}\" not found")));
            };
            if pvc.metadata.deletion_timestamp.is_some() {
                return (None, Status::unresolvable(format!("persistentvolumeclaim \"{name}\" is being deleted")));
            }
            match pvc.spec.as_ref().and_then(|s| s.volume_name.clone()).filter(|v| !v.is_empty()) {
                Some(pv) => {
                    let found = snapshot.listers.pv(&pv);
                    s.bound.push((pv, found));
                }
                None => {
                    let class = snapshot.listers.storage_class(&class_of_pvc(&pvc));
                    let wffc = class.as_ref().and_then(|c| c.volume_binding_mode.as_deref()) == Some("WaitForFirstConsumer");
                    if !wffc {
                        return (None, Status::unresolvable(ERR_UNBOUND_IMMEDIATE));
                    }
                    let mut candidates: Vec<Arc<PersistentVolume>> = snapshot.listers.pvs.state().into_iter().filter(|pv| pv_matches(pv, &pvc)).collect();
                    candidates.sort_by_key(|pv| pv_capacity(pv));
                    s.delayed.push(Delayed { pvc, candidates, class });
                }
            }
        }
        state.write(NAME, s);
        (None, Status::success())
    }
}

impl FilterPlugin for VolumeBinding {
    fn filter(&self, state: &CycleState, _: &PodInfo, node: &NodeInfo) -> Status {
        let Some(s) = state.read::<State>(NAME) else { return Status::success() };
        let mut reasons = Vec::new();
        for (_, pv) in &s.bound {
            match pv {
                None => return Status::unresolvable(ERR_PV_NOT_EXIST),
                Some(pv) if !pv_node_ok(pv, node) => {
                    reasons.push(ERR_NODE_CONFLICT.to_string());
                    break;
                }
                _ => {}
            }
        }
        if !s.delayed.is_empty() {
            if let Err(r) = self.find(&s.delayed, node) {
                reasons.push(r.to_string());
            }
        }
        if reasons.is_empty() {
            Status::success()
        } else {
            Status::with_reasons(crate::framework::Code::UnschedulableAndUnresolvable, reasons)
        }
    }
}

impl ReservePlugin for VolumeBinding {
    fn reserve(&self, state: &mut CycleState, _: &PodInfo, node: &str, snapshot: &Snapshot) -> Status {
        let Some(s) = state.read::<State>(NAME).cloned() else { return Status::success() };
        if s.delayed.is_empty() {
            return Status::success();
        }
        let Some(node_info) = snapshot.get(node) else { return Status::error(format!("node {node:?} not in snapshot")) };
        match self.find(&s.delayed, node_info) {
            Ok(decision) => {
                if let Ok(mut a) = self.assumed.lock() {
                    for (pv, ns, name, _) in &decision.static_bindings {
                        a.insert(pv.clone(), format!("{ns}/{name}"));
                    }
                }
                if let Some(st) = state.read_mut::<State>(NAME) {
                    st.decision = decision;
                }
                Status::success()
            }
            Err(r) => Status::unschedulable(r),
        }
    }

    fn unreserve(&self, state: &mut CycleState, _: &PodInfo, _: &str) {
        if let Some(s) = state.read::<State>(NAME) {
            if let Ok(mut a) = self.assumed.lock() {
                for (pv, ..) in &s.decision.static_bindings {
                    a.remove(pv);
                }
            }
        }
    }
}

#[async_trait::async_trait]
impl PreBindPlugin for VolumeBinding {
    async fn pre_bind(&self, state: &CycleState, _: &Pod, node: &str) -> Status {
        let Some(s) = state.read::<State>(NAME) else { return Status::success() };
        let d = &s.decision;
        if d.static_bindings.is_empty() && d.provisions.is_empty() {
            return Status::success();
        }
        let Some(client) = self.client.clone() else { return Status::error("VolumeBinding has no API client") };
        let pp = PatchParams::default();
        for (pv, ns, name, uid) in &d.static_bindings {
            let patch = serde_json::json!({"spec": {"claimRef": {
                "apiVersion": "v1", "kind": "PersistentVolumeClaim", "namespace": ns, "name": name, "uid": uid}}});
            if let Err(e) = Api::<PersistentVolume>::all(client.clone()).patch(pv, &pp, &Patch::Merge(&patch)).await {
                return Status::error(format!("binding volume {pv} to claim {ns}/{name}: {e}"));
            }
        }
        for (ns, name) in &d.provisions {
            let annotations: BTreeMap<&str, &str> = [(ANN_SELECTED_NODE, node)].into_iter().collect();
            let patch = serde_json::json!({"metadata": {"annotations": annotations}});
            if let Err(e) = Api::<PersistentVolumeClaim>::namespaced(client.clone(), ns).patch(name, &pp, &Patch::Merge(&patch)).await {
                return Status::error(format!("selecting node {node} for claim {ns}/{name}: {e}"));
            }
        }
        Status::success()
    }
}

pub fn new(args: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    Ok(Arc::new(VolumeBinding { client: args.client.clone(), assumed: Mutex::new(HashMap::new()) }))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::framework::Code;
    use crate::testutil::{node, pod};
    use k8s_openapi::api::core::v1::{
        NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, PersistentVolumeSpec,
        VolumeNodeAffinity, VolumeResourceRequirements, Volume,
    };
    use k8s_openapi::api::storage::v1::StorageClass;
    use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
    use kube::api::ObjectMeta;
    use kube::runtime::watcher::Event;

    fn pvc(name: &str, class: &str, volume: Option<&str>) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta { name: Some(name.into()), namespace: Some("default".into()), ..Default::default() },
            spec: Some(PersistentVolumeClaimSpec {
                storage_class_name: Some(class.into()),
                volume_name: volume.map(Into::into),
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                resources: Some(VolumeResourceRequirements { requests: Some([("storage".to_string(), Quantity("1Gi".into()))].into()), ..Default::default() }),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn pv(name: &str, class: &str, size: &str, host: Option<&str>) -> PersistentVolume {
        PersistentVolume {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: Some(PersistentVolumeSpec {
                storage_class_name: Some(class.into()),
                capacity: Some([("storage".to_string(), Quantity(size.into()))].into()),
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                node_affinity: host.map(|h| VolumeNodeAffinity {
                    required: Some(NodeSelector {
                        node_selector_terms: vec![NodeSelectorTerm {
                            match_expressions: Some(vec![NodeSelectorRequirement {
                                key: "kubernetes.io/hostname".into(),
                                operator: "In".into(),
                                values: Some(vec![h.into()]),
                            }]),
                            match_fields: None,
                        }],
                    }),
                }),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn class(name: &str, mode: &str, provisioner: &str) -> StorageClass {
        StorageClass {
            metadata: ObjectMeta { name: Some(name.into()), ..Default::default() },
            provisioner: provisioner.into(),
            volume_binding_mode: Some(mode.into()),
            ..Default::default()
        }
    }

    fn using(claim: &str) -> PodInfo {
        let claim = claim.to_string();
        pod("p")
            .with(move |p| {
                p.spec.as_mut().unwrap().volumes = Some(vec![Volume {
                    name: "v".into(),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim, read_only: None }),
                    ..Default::default()
                }])
            })
            .info()
    }

    #[test]
    fn filter_table() {
        let (listers, mut w) = crate::listers::new();
        for c in [pvc("bound", "local", Some("pv-a")), pvc("wffc", "local", None), pvc("prov", "fast", None), pvc("imm", "slow", None)] {
            w.pvcs.apply_watcher_event(&Event::Apply(c));
        }
        let mut bound_pv = pv("pv-a", "local", "1Gi", Some("a"));
        bound_pv.spec.as_mut().unwrap().claim_ref =
            Some(k8s_openapi::api::core::v1::ObjectReference { namespace: Some("default".into()), name: Some("bound".into()), ..Default::default() });
        for v in [bound_pv, pv("pv-b", "local", "5Gi", Some("b")), pv("pv-b-small", "local", "2Gi", Some("b"))] {
            w.pvs.apply_watcher_event(&Event::Apply(v));
        }
        for c in [class("local", "WaitForFirstConsumer", NO_PROVISIONER), class("fast", "WaitForFirstConsumer", "csi.example"), class("slow", "Immediate", "csi.example")] {
            w.storage_classes.apply_watcher_event(&Event::Apply(c));
        }
        let snap = Snapshot::from_nodes(vec![node("a").info(), node("b").info(), node("c").info()], listers);
        let plugin = VolumeBinding { client: None, assumed: Mutex::new(HashMap::new()) };
        let cases: Vec<(&str, &str, Option<Code>, [Code; 3])> = vec![
            ("bound PV follows its node affinity", "bound", None, [Code::Success, Code::UnschedulableAndUnresolvable, Code::UnschedulableAndUnresolvable]),
            ("WFFC finds local PVs", "wffc", None, [Code::UnschedulableAndUnresolvable, Code::Success, Code::UnschedulableAndUnresolvable]),
            ("WFFC provisioning fits anywhere", "prov", None, [Code::Success, Code::Success, Code::Success]),
            ("immediate unbound", "imm", Some(Code::UnschedulableAndUnresolvable), [Code::Success; 3]),
            ("missing claim", "nope", Some(Code::UnschedulableAndUnresolvable), [Code::Success; 3]),
        ];
        for (name, claim, pre, want) in cases {
            let p = using(claim);
            let mut st = CycleState::new();
            let (_, s) = plugin.pre_filter(&mut st, &p, &snap);
            if let Some(code) = pre {
                assert_eq!(s.code, code, "{name}");
                continue;
            }
            assert!(s.is_success(), "{name}: {s:?}");
            let got: Vec<Code> = snap.nodes.iter().map(|n| plugin.filter(&st, &p, n).code).collect();
            assert_eq!(got, want, "{name}");
        }

        // Reserve picks the smallest matching PV on b and assumes it.
        let p = using("wffc");
        let mut st = CycleState::new();
        plugin.pre_filter(&mut st, &p, &snap);
        assert!(plugin.reserve(&mut st, &p, "b", &snap).is_success());
        assert_eq!(st.read::<State>(NAME).unwrap().decision.static_bindings[0].0, "pv-b-small");
        assert!(plugin.assumed.lock().unwrap().contains_key("pv-b-small"));
        plugin.unreserve(&mut st, &p, "b");
        assert!(plugin.assumed.lock().unwrap().is_empty());
    }
}
