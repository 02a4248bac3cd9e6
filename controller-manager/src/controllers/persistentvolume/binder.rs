//! The pure core of the PersistentVolume binder (upstream
//! `pkg/controller/volume/persistentvolume/pv_controller.go`).
//!
//! Claims:
//! - an unbound claim is matched with the smallest Available volume of the
//!   same storage class whose capacity, access modes, volume mode and label
//!   selector fit (a volume pre-bound to the claim wins);
//! - without a match, a class whose provisioner is the built-in
//!   [`LOCAL_PATH_PROVISIONER`] gets a hostPath volume provisioned (pre-bound
//!   to the claim, reclaim policy from the class, node affinity to the
//!   `volume.kubernetes.io/selected-node` annotation); with
//!   `WaitForFirstConsumer` binding waits for that annotation;
//! - a bound claim whose volume vanished is `Lost`.
//!
//! Volumes: `Available` without a claim reference, `Bound` with a live
//! claim, `Released` once the claim is gone; released volumes with the
//! `Delete` policy are deleted (`Retain` ones stay Released).

use std::collections::BTreeMap;
use std::sync::Arc;

use apimachinery::selector::labels::LabelSelector;
use k8s_openapi::api::core::v1::{
    HostPathVolumeSource, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, ObjectReference, PersistentVolume, PersistentVolumeClaim,
    PersistentVolumeSpec, VolumeNodeAffinity,
};
use k8s_openapi::api::storage::v1::StorageClass;
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;

pub const LOCAL_PATH_PROVISIONER: &str = "ferrokube.io/local-path";
/// Where provisioned volumes live on the node unless the class sets `parameters.path`.
pub const DEFAULT_LOCAL_PATH_DIR: &str = "/var/lib/ferrokube/local-path";
pub const SELECTED_NODE: &str = "volume.kubernetes.io/selected-node";
pub const BIND_COMPLETED: &str = "pv.kubernetes.io/bind-completed";
pub const BOUND_BY_CONTROLLER: &str = "pv.kubernetes.io/bound-by-controller";
pub const PROVISIONED_BY: &str = "pv.kubernetes.io/provisioned-by";

fn storage(q: Option<&BTreeMap<String, Quantity>>) -> i128 {
    q.and_then(|m| m.get("storage")).and_then(|v| crate::controllers::resourcequota::parse_milli(&v.0)).unwrap_or(0)
}

pub fn claim_class(claim: &PersistentVolumeClaim) -> String {
    claim.spec.as_ref().and_then(|s| s.storage_class_name.clone()).unwrap_or_default()
}

fn claim_request(claim: &PersistentVolumeClaim) -> i128 {
    storage(claim.spec.as_ref().and_then(|s| s.resources.as_ref()).and_then(|r| r.requests.as_ref()))
}

pub fn claim_ref_matches(pv: &PersistentVolume, claim: &PersistentVolumeClaim) -> bool {
    let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else { return false };
    r.name == claim.metadata.name && r.namespace == claim.metadata.namespace && r.uid.as_ref().is_none_or(|u| Some(u) == claim.metadata.uid.as_ref())
}

/// Whether `pv` can satisfy `claim` (ignoring who it is bound to).
pub fn fits(claim: &PersistentVolumeClaim, pv: &PersistentVolume) -> bool {
    let (Some(cs), Some(ps)) = (claim.spec.as_ref(), pv.spec.as_ref()) else { return false };
    if ps.storage_class_name.clone().unwrap_or_default() != claim_class(claim) {
        return false;
    }
    if storage(ps.capacity.as_ref()) < claim_request(claim) {
        return false;
    }
    let pv_modes = ps.access_modes.clone().unwrap_or_default();
    if !cs.access_modes.iter().flatten().all(|m| pv_modes.contains(m)) {
        return false;
    }
    if cs.volume_mode.as_deref().unwrap_or("Filesystem") != ps.volume_mode.as_deref().unwrap_or("Filesystem") {
        return false;
    }
    if let Some(sel) = &cs.selector {
        let Ok(sel) = LabelSelector::from_k8s(sel) else { return false };
        if !sel.matches(&pv.metadata.labels.clone().unwrap_or_default()) {
            return false;
        }
    }
    true
}

/// What to do for one claim.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimAction {
    Nothing,
    /// Bind to this existing volume.
    Bind(String),
    /// Create this volume (pre-bound), then bind.
    Provision(Box<PersistentVolume>),
    /// Waiting for a consumer (WaitForFirstConsumer).
    WaitForConsumer,
    /// No volume and no way to provision one (event message).
    NoMatch(String),
    /// Bound claim: make sure its status says so.
    EnsureBound(String),
    /// Bound claim whose volume is gone.
    Lost,
}

pub fn claim_action(claim: &PersistentVolumeClaim, pvs: &[Arc<PersistentVolume>], class: Option<&StorageClass>) -> ClaimAction {
    if claim.metadata.deletion_timestamp.is_some() {
        return ClaimAction::Nothing;
    }
    if let Some(name) = claim.spec.as_ref().and_then(|s| s.volume_name.as_ref()).filter(|n| !n.is_empty()) {
        let Some(pv) = pvs.iter().find(|p| p.metadata.name.as_ref() == Some(name)) else {
            let bound = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
            return if bound { ClaimAction::Lost } else { ClaimAction::Nothing };
        };
        let pv_ok = claim_ref_matches(pv, claim) && pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
        let claim_ok = claim.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound");
        return if pv_ok && claim_ok { ClaimAction::Nothing } else { ClaimAction::EnsureBound(name.clone()) };
    }
    // Pre-bound volumes first, then the smallest fitting Available one.
    if let Some(pv) = pvs.iter().find(|p| claim_ref_matches(p, claim) && fits(claim, p)) {
        return ClaimAction::Bind(pv.metadata.name.clone().unwrap_or_default());
    }
    let wait = class.is_some_and(|c| c.volume_binding_mode.as_deref() == Some("WaitForFirstConsumer"));
    let selected = claim.metadata.annotations.as_ref().and_then(|a| a.get(SELECTED_NODE)).cloned();
    if wait && selected.is_none() {
        return ClaimAction::WaitForConsumer;
    }
    let best = pvs
        .iter()
        .filter(|p| p.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).is_none() && p.metadata.deletion_timestamp.is_none())
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()).is_none_or(|ph| ph == "Available" || ph == "Pending"))
        .filter(|p| fits(claim, p))
        .min_by_key(|p| storage(p.spec.as_ref().and_then(|s| s.capacity.as_ref())));
    if let Some(pv) = best {
        return ClaimAction::Bind(pv.metadata.name.clone().unwrap_or_default());
    }
    match class {
        Some(c) if c.provisioner == LOCAL_PATH_PROVISIONER => ClaimAction::Provision(Box::new(provisioned_volume(claim, c, selected.as_deref()))),
        Some(c) => ClaimAction::NoMatch(format!("waiting for a volume to be created by the external provisioner {:?}", c.provisioner)),
        None if claim_class(claim).is_empty() => ClaimAction::NoMatch("no persistent volumes available for this claim and no storage class is set".into()),
        None => ClaimAction::NoMatch(format!("storageclass.storage.k8s.io {:?} not found", claim_class(claim))),
    }
}

pub fn claim_reference(claim: &PersistentVolumeClaim) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("PersistentVolumeClaim".into()),
        name: claim.metadata.name.clone(),
        namespace: claim.metadata.namespace.clone(),
        uid: claim.metadata.uid.clone(),
        resource_version: claim.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// The hostPath volume the built-in local-path provisioner creates.
pub fn provisioned_volume(claim: &PersistentVolumeClaim, class: &StorageClass, node: Option<&str>) -> PersistentVolume {
    let uid = claim.metadata.uid.clone().unwrap_or_default();
    let name = format!("pvc-{uid}");
    let dir = class.parameters.as_ref().and_then(|p| p.get("path")).cloned().unwrap_or_else(|| DEFAULT_LOCAL_PATH_DIR.to_string());
    let ns = claim.metadata.namespace.clone().unwrap_or_default();
    let claim_name = claim.metadata.name.clone().unwrap_or_default();
    let path = format!("{}/{name}_{ns}_{claim_name}", dir.trim_end_matches('/'));
    let request = claim.spec.as_ref().and_then(|s| s.resources.as_ref()).and_then(|r| r.requests.as_ref()).and_then(|r| r.get("storage")).cloned();
    let node_affinity = node.map(|n| VolumeNodeAffinity {
        required: Some(NodeSelector {
            node_selector_terms: vec![NodeSelectorTerm {
                match_expressions: Some(vec![NodeSelectorRequirement { key: "kubernetes.io/hostname".into(), operator: "In".into(), values: Some(vec![n.to_string()]) }]),
                match_fields: None,
            }],
        }),
    });
    PersistentVolume {
        metadata: kube::api::ObjectMeta {
            name: Some(name),
            annotations: Some(BTreeMap::from([(PROVISIONED_BY.to_string(), LOCAL_PATH_PROVISIONER.to_string())])),
            ..Default::default()
        },
        spec: Some(PersistentVolumeSpec {
            capacity: request.map(|q| BTreeMap::from([("storage".to_string(), q)])),
            access_modes: claim.spec.as_ref().and_then(|s| s.access_modes.clone()),
            volume_mode: claim.spec.as_ref().and_then(|s| s.volume_mode.clone()),
            storage_class_name: class.metadata.name.clone(),
            persistent_volume_reclaim_policy: Some(class.reclaim_policy.clone().unwrap_or_else(|| "Delete".into())),
            claim_ref: Some(claim_reference(claim)),
            host_path: Some(HostPathVolumeSource { path, type_: Some("DirectoryOrCreate".into()) }),
            node_affinity,
            mount_options: class.mount_options.clone(),
            ..Default::default()
        }),
        status: None,
    }
}

/// What to do for one volume. `claim_uid`: the uid of the claim its
/// reference names, if that claim exists.
#[derive(Debug, Clone, PartialEq)]
pub enum VolumeAction {
    Nothing,
    SetPhase(&'static str),
    Delete,
}

///
/// A volume whose claim is gone is first marked `Released` (upstream
/// `syncVolume`; pv-protection only lets a volume go once it is not
/// `Bound`), then reclaimed: the Delete policy deletes it, unless it is
/// already being deleted.
pub fn volume_action(pv: &PersistentVolume, claim_uid: Option<&str>) -> VolumeAction {
    let deleting = pv.metadata.deletion_timestamp.is_some();
    let phase = pv.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("");
    let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) else {
        return if phase == "Available" { VolumeAction::Nothing } else { VolumeAction::SetPhase("Available") };
    };
    let live = match (r.uid.as_deref(), claim_uid) {
        (_, None) => false,
        (None, Some(_)) => {
            // Pre-bound to a claim that exists but is not bound yet.
            return if phase == "Available" { VolumeAction::Nothing } else { VolumeAction::SetPhase("Available") };
        }
        (Some(a), Some(b)) => a == b,
    };
    if live {
        return if phase == "Bound" { VolumeAction::Nothing } else { VolumeAction::SetPhase("Bound") };
    }
    if r.uid.is_none() {
        // Pre-bound to a claim that does not exist (yet).
        return if phase == "Available" { VolumeAction::Nothing } else { VolumeAction::SetPhase("Available") };
    }
    if phase != "Released" && phase != "Failed" {
        return VolumeAction::SetPhase("Released");
    }
    match pv.spec.as_ref().and_then(|s| s.persistent_volume_reclaim_policy.as_deref()).unwrap_or("Retain") {
        "Delete" if !deleting => VolumeAction::Delete,
        _ => VolumeAction::Nothing,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, PersistentVolumeStatus, VolumeResourceRequirements};

    fn claim(class: &str, size: &str, annotations: &[(&str, &str)]) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: kube::api::ObjectMeta {
                name: Some("data".into()),
                namespace: Some("ns".into()),
                uid: Some("c-uid".into()),
                annotations: Some(annotations.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()),
                ..Default::default()
            },
            spec: Some(PersistentVolumeClaimSpec {
                storage_class_name: Some(class.into()),
                access_modes: Some(vec!["ReadWriteOnce".into()]),
                resources: Some(VolumeResourceRequirements { requests: Some([("storage".to_string(), Quantity(size.into()))].into()), limits: None }),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn pv(name: &str, class: &str, size: &str, claim_ref: Option<ObjectReference>, phase: &str, policy: &str) -> Arc<PersistentVolume> {
        Arc::new(PersistentVolume {
            metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: Some(PersistentVolumeSpec {
                storage_class_name: Some(class.into()),
                capacity: Some([("storage".to_string(), Quantity(size.into()))].into()),
                access_modes: Some(vec!["ReadWriteOnce".into(), "ReadOnlyMany".into()]),
                claim_ref,
                persistent_volume_reclaim_policy: Some(policy.into()),
                ..Default::default()
            }),
            status: Some(PersistentVolumeStatus { phase: Some(phase.into()), ..Default::default() }),
        })
    }

    fn class(mode: &str) -> StorageClass {
        StorageClass {
            metadata: kube::api::ObjectMeta { name: Some("local".into()), ..Default::default() },
            provisioner: LOCAL_PATH_PROVISIONER.into(),
            volume_binding_mode: Some(mode.into()),
            reclaim_policy: Some("Delete".into()),
            ..Default::default()
        }
    }

    #[test]
    fn binds_the_smallest_fitting_volume() {
        let pvs = vec![pv("big", "", "10Gi", None, "Available", "Retain"), pv("small", "", "2Gi", None, "Available", "Retain"), pv("tiny", "", "512Mi", None, "Available", "Retain"), pv("other", "x", "2Gi", None, "Available", "Retain")];
        assert_eq!(claim_action(&claim("", "1Gi", &[]), &pvs, None), ClaimAction::Bind("small".into()));
        assert!(matches!(claim_action(&claim("", "20Gi", &[]), &pvs, None), ClaimAction::NoMatch(_)));
        // Pre-bound wins even if bigger.
        let c = claim("", "1Gi", &[]);
        let pre = vec![pv("small", "", "2Gi", None, "Available", "Retain"), pv("mine", "", "10Gi", Some(claim_reference(&c)), "Available", "Retain")];
        assert_eq!(claim_action(&c, &pre, None), ClaimAction::Bind("mine".into()));
    }

    #[test]
    fn provisions_local_path_volumes() {
        let wffc = class("WaitForFirstConsumer");
        assert_eq!(claim_action(&claim("local", "1Gi", &[]), &[], Some(&wffc)), ClaimAction::WaitForConsumer);
        let ClaimAction::Provision(v) = claim_action(&claim("local", "1Gi", &[(SELECTED_NODE, "node-1")]), &[], Some(&wffc)) else { panic!("expected provisioning") };
        let spec = v.spec.clone().unwrap_or_default();
        assert_eq!(v.metadata.name.as_deref(), Some("pvc-c-uid"));
        assert_eq!(spec.host_path.map(|h| h.path), Some(format!("{DEFAULT_LOCAL_PATH_DIR}/pvc-c-uid_ns_data")));
        assert_eq!(spec.persistent_volume_reclaim_policy.as_deref(), Some("Delete"));
        let terms = spec.node_affinity.and_then(|a| a.required).map(|r| r.node_selector_terms).unwrap_or_default();
        assert_eq!(terms[0].match_expressions.as_ref().and_then(|m| m[0].values.clone()), Some(vec!["node-1".to_string()]));
        assert!(matches!(claim_action(&claim("local", "1Gi", &[]), &[], Some(&class("Immediate"))), ClaimAction::Provision(_)));
    }

    #[test]
    fn volume_phases() {
        let c = claim("", "1Gi", &[]);
        let mut bound_ref = claim_reference(&c);
        bound_ref.uid = Some("c-uid".into());
        assert_eq!(volume_action(&pv("a", "", "1Gi", None, "", "Retain"), None), VolumeAction::SetPhase("Available"));
        assert_eq!(volume_action(&pv("a", "", "1Gi", Some(bound_ref.clone()), "Available", "Retain"), Some("c-uid")), VolumeAction::SetPhase("Bound"));
        assert_eq!(volume_action(&pv("a", "", "1Gi", Some(bound_ref.clone()), "Bound", "Retain"), None), VolumeAction::SetPhase("Released"));
        assert_eq!(volume_action(&pv("a", "", "1Gi", Some(bound_ref.clone()), "Released", "Retain"), None), VolumeAction::Nothing);
        // Claim gone (or replaced): Released first, then the Delete policy deletes.
        assert_eq!(volume_action(&pv("a", "", "1Gi", Some(bound_ref.clone()), "Bound", "Delete"), Some("other-uid")), VolumeAction::SetPhase("Released"));
        assert_eq!(volume_action(&pv("a", "", "1Gi", Some(bound_ref.clone()), "Released", "Delete"), Some("other-uid")), VolumeAction::Delete);
        assert_eq!(volume_action(&pv("a", "", "1Gi", Some(bound_ref.clone()), "Failed", "Delete"), None), VolumeAction::Delete);
        // Already being deleted (held by pv-protection): marked Released so
        // it can go, never deleted again; while its claim lives it stays Bound.
        let deleting = |phase: &str| {
            let mut v = (*pv("a", "", "1Gi", Some(bound_ref.clone()), phase, "Delete")).clone();
            v.metadata.deletion_timestamp = Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH));
            v
        };
        assert_eq!(volume_action(&deleting("Bound"), None), VolumeAction::SetPhase("Released"));
        assert_eq!(volume_action(&deleting("Released"), None), VolumeAction::Nothing);
        assert_eq!(volume_action(&deleting("Bound"), Some("c-uid")), VolumeAction::Nothing);
    }
}
