//! VolumeRestrictions: a `ReadWriteOncePod` claim already used by a pod
//! makes every node unschedulable for another pod using it (preemption of
//! the user can help). Claims must exist.

use std::sync::Arc;

use crate::cache::{pvc_keys, NodeInfo, Snapshot};
use crate::framework::{CycleState, FilterPlugin, Plugin, PluginArgs, PreFilterPlugin, PreFilterResult, Status};
use crate::podinfo::{PodInfo, PodRecord};

pub const NAME: &str = "VolumeRestrictions";
pub const ERR_REASON_RWOP: &str = "node has pod using PersistentVolumeClaim with the same name and ReadWriteOncePod access mode";

pub struct VolumeRestrictions;

#[derive(Clone)]
struct State {
    /// The pod's RWOP claims (`ns/name`).
    rwop: Vec<String>,
    /// How many other pods use them.
    conflicting: i64,
}

impl Plugin for VolumeRestrictions {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for VolumeRestrictions {
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (Option<PreFilterResult>, Status) {
        let claims = pvc_keys(&pod.pod);
        if claims.is_empty() {
            return (None, Status::skip());
        }
        let mut rwop = Vec::new();
        for key in claims {
            let (ns, name) = key.split_once('/').unwrap_or(("", &key));
            let Some(pvc) = snapshot.listers.pvc(ns, name) else {
                return (None, Status::unresolvable(format!("persistentvolumeclaim \"{name}\" not found")));
            };
            let modes = pvc.spec.as_ref().and_then(|s| s.access_modes.as_ref());
            if modes.is_some_and(|m| m.iter().any(|m| m == "ReadWriteOncePod")) {
                rwop.push(key);
            }
        }
        if rwop.is_empty() {
            return (None, Status::skip());
        }
        let conflicting = rwop.iter().filter(|k| snapshot.is_pvc_used(k)).count() as i64;
        state.write(NAME, State { rwop, conflicting });
        (None, Status::success())
    }

    fn add_pod(&self, state: &mut CycleState, _: &PodInfo, added: &Arc<PodRecord>, _: &NodeInfo, _: &Snapshot) -> Status {
        if let Some(s) = state.read_mut::<State>(NAME) {
            let used = &added.claims;
            s.conflicting += s.rwop.iter().filter(|k| used.contains(k)).count() as i64;
        }
        Status::success()
    }

    fn remove_pod(&self, state: &mut CycleState, _: &PodInfo, removed: &Arc<PodRecord>, _: &NodeInfo, _: &Snapshot) -> Status {
        if let Some(s) = state.read_mut::<State>(NAME) {
            let used = &removed.claims;
            s.conflicting -= s.rwop.iter().filter(|k| used.contains(k)).count() as i64;
        }
        Status::success()
    }
}

impl FilterPlugin for VolumeRestrictions {
    fn filter(&self, state: &CycleState, _: &PodInfo, _: &NodeInfo) -> Status {
        match state.read::<State>(NAME) {
            Some(s) if s.conflicting > 0 => Status::unschedulable(ERR_REASON_RWOP),
            _ => Status::success(),
        }
    }
}

pub fn new(_: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    Ok(Arc::new(VolumeRestrictions))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::framework::Code;
    use crate::testutil::{node, node_with, pod};
    use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PersistentVolumeClaimSpec, PersistentVolumeClaimVolumeSource, Volume};
    use kube::runtime::watcher;

    fn with_claim(b: crate::testutil::PodBuilder, claim: &str) -> crate::testutil::PodBuilder {
        let claim = claim.to_string();
        b.with(move |p| {
            p.spec.as_mut().unwrap().volumes = Some(vec![Volume {
                name: "v".into(),
                persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: claim, read_only: None }),
                ..Default::default()
            }])
        })
    }

    #[test]
    fn rwop_conflicts() {
        let (listers, mut w) = crate::listers::new();
        for (name, mode) in [("once", "ReadWriteOncePod"), ("many", "ReadWriteMany")] {
            let pvc = PersistentVolumeClaim {
                metadata: kube::api::ObjectMeta { name: Some(name.into()), namespace: Some("default".into()), ..Default::default() },
                spec: Some(PersistentVolumeClaimSpec { access_modes: Some(vec![mode.into()]), ..Default::default() }),
                status: None,
            };
            w.pvcs.apply_watcher_event(&watcher::Event::Apply(pvc));
        }
        let n = node_with(node("n"), vec![with_claim(pod("user"), "once").build(), with_claim(pod("user2"), "many").build()]);
        let snap = Snapshot::from_nodes(vec![n.clone()], listers);
        let cases = [
            ("rwop in use", with_claim(pod("p"), "once").info(), Code::Unschedulable),
            ("rwx shared", with_claim(pod("p"), "many").info(), Code::Success),
            ("missing claim", with_claim(pod("p"), "nope").info(), Code::UnschedulableAndUnresolvable),
        ];
        for (name, p, want) in cases {
            let mut st = CycleState::new();
            let (_, s) = VolumeRestrictions.pre_filter(&mut st, &p, &snap);
            let code = if s.is_success() { VolumeRestrictions.filter(&st, &p, &n).code } else if s.is_skip() { Code::Success } else { s.code };
            assert_eq!(code, want, "{name}");
        }
    }
}
