//! Storage-object-in-use protection: the `pvc-protection` and
//! `pv-protection` controllers (upstream `pkg/controller/volume/pvcprotection`
//! and `pvprotection`). The apiserver's StorageObjectInUseProtection
//! admission puts `kubernetes.io/pvc-protection` on every new claim and
//! `kubernetes.io/pv-protection` on every new volume; a delete then only
//! marks the object, and these controllers remove the finalizer once the
//! claim is used by no pod ([`pvc`]) or the volume is not `Bound` ([`pv`]).
//! Both also add the finalizer to objects that lack it and are not being
//! deleted (objects created before admission added it).
//!
//! Writes are PUTs of the cached object with only the finalizer list
//! changed (the bootstrap roles grant `update`, not `patch`); a conflict
//! re-queues the key and the next sync reads the newer object.

pub mod pv;
pub mod pvc;

use std::fmt::Debug;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::PostParams;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::runtime::{owner, SyncResult};

/// Upstream `volumeutil.PVCProtectionFinalizer`.
pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
/// Upstream `volumeutil.PVProtectionFinalizer`.
pub const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";

/// What a sync does with one claim or volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Neither being deleted without the finalizer's release, nor missing it.
    Nothing,
    /// Not being deleted and missing the finalizer.
    AddFinalizer,
    /// Being deleted, holding the finalizer, and no longer in use.
    RemoveFinalizer,
    /// Being deleted, holding the finalizer, still in use: wait.
    InUse,
}

fn has_finalizer(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.finalizers.iter().flatten().any(|f| f == finalizer)
}

/// Upstream `protectionutil.IsDeletionCandidate`: being deleted and still
/// holding `finalizer`.
pub fn is_deletion_candidate(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.deletion_timestamp.is_some() && has_finalizer(meta, finalizer)
}

/// Upstream `protectionutil.NeedToAddFinalizer`: not being deleted and
/// missing `finalizer`.
pub fn needs_finalizer(meta: &ObjectMeta, finalizer: &str) -> bool {
    meta.deletion_timestamp.is_none() && !has_finalizer(meta, finalizer)
}

/// Whether an event about an object is worth a sync: it needs the
/// finalizer, or it may be ready to lose it.
pub fn wants_sync(meta: &ObjectMeta, finalizer: &str) -> bool {
    needs_finalizer(meta, finalizer) || is_deletion_candidate(meta, finalizer)
}

/// Upstream's order of checks: a deletion candidate is released when
/// `in_use()` says no; otherwise a live object gets the finalizer.
/// `in_use` is only asked about deletion candidates.
pub fn decide(meta: &ObjectMeta, finalizer: &str, in_use: impl FnOnce() -> bool) -> Decision {
    if is_deletion_candidate(meta, finalizer) {
        return if in_use() { Decision::InUse } else { Decision::RemoveFinalizer };
    }
    if needs_finalizer(meta, finalizer) {
        return Decision::AddFinalizer;
    }
    Decision::Nothing
}

/// `meta`'s finalizers after `decision` (unchanged for `Nothing`/`InUse`).
pub fn apply(meta: &mut ObjectMeta, finalizer: &str, decision: Decision) {
    match decision {
        Decision::AddFinalizer => meta.finalizers.get_or_insert_with(Vec::new).push(finalizer.to_string()),
        Decision::RemoveFinalizer => {
            if let Some(list) = meta.finalizers.as_mut() {
                list.retain(|f| f != finalizer);
            }
        }
        Decision::Nothing | Decision::InUse => {}
    }
}

/// Carry out `decision` for `object` (called `name`, `what` in logs): a PUT
/// of the cached object with only the finalizer list changed. A conflict
/// re-queues the key (a newer object is on its way through the informer);
/// an object already gone needs nothing.
pub async fn settle<K>(api: Api<K>, object: &K, name: &str, finalizer: &str, decision: Decision, what: &str) -> SyncResult
where
    K: Resource + Clone + Debug + Serialize + DeserializeOwned,
{
    match decision {
        Decision::Nothing => Ok(None),
        Decision::InUse => {
            tracing::debug!(what, name, "keeping the protection finalizer: still in use");
            Ok(None)
        }
        Decision::AddFinalizer | Decision::RemoveFinalizer => {
            let mut updated = object.clone();
            apply(updated.meta_mut(), finalizer, decision);
            match api.replace(name, &PostParams::default(), &updated).await {
                Ok(_) => {
                    tracing::info!(what, name, ?decision, "updated protection finalizer");
                    Ok(None)
                }
                Err(err) if owner::is_not_found(&err) => Ok(None),
                Err(err) if owner::is_conflict(&err) => Ok(Some(Duration::from_millis(100))),
                Err(err) => Err(err).with_context(|| format!("{decision:?} on {what} {name}")),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use k8s_openapi::jiff::Timestamp;

    fn meta(deleting: bool, finalizers: &[&str]) -> ObjectMeta {
        ObjectMeta {
            deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
            finalizers: (!finalizers.is_empty()).then(|| finalizers.iter().map(|f| f.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn decisions() {
        const F: &str = PVC_PROTECTION_FINALIZER;
        let cases = [
            // (deleting, finalizers, in use, decision)
            (false, vec![], false, Decision::AddFinalizer),
            (false, vec!["other"], true, Decision::AddFinalizer),
            (false, vec![F], true, Decision::Nothing),
            (true, vec![F], true, Decision::InUse),
            (true, vec!["other", F], false, Decision::RemoveFinalizer),
            // Being deleted without the finalizer: not ours to hold.
            (true, vec!["other"], true, Decision::Nothing),
            (true, vec![], false, Decision::Nothing),
        ];
        for (deleting, finalizers, in_use, want) in cases {
            assert_eq!(decide(&meta(deleting, &finalizers), F, || in_use), want, "deleting={deleting} {finalizers:?} in_use={in_use}");
        }
    }

    #[test]
    fn applying_a_decision_edits_only_our_finalizer() {
        const F: &str = PV_PROTECTION_FINALIZER;
        let cases = [
            (vec![], Decision::AddFinalizer, vec![F]),
            (vec!["a"], Decision::AddFinalizer, vec!["a", F]),
            (vec!["a", F, "b"], Decision::RemoveFinalizer, vec!["a", "b"]),
            (vec![F], Decision::InUse, vec![F]),
        ];
        for (before, decision, after) in cases {
            let mut m = meta(false, &before);
            apply(&mut m, F, decision);
            assert_eq!(m.finalizers.unwrap_or_default(), after, "{before:?} {decision:?}");
        }
    }
}
