//! Controller ownerReferences: who controls an object, building the
//! reference an owner stamps on what it creates, and upstream's
//! `ControllerRefManager` claim logic (adopt matching orphans, release owned
//! objects that no longer match), split into a pure plan and a patching shell.

use std::future::Future;
use std::sync::Arc;

use apimachinery::selector::labels::LabelSelector;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference};
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource};
use serde::de::DeserializeOwned;
use serde_json::json;

/// The controller ownerReference (`controller: true`), if any.
pub fn controller_of(meta: &ObjectMeta) -> Option<&OwnerReference> {
    meta.owner_references.iter().flatten().find(|r| r.controller == Some(true))
}

/// Whether the object's controller is the owner with `uid`.
pub fn is_controlled_by(meta: &ObjectMeta, uid: &str) -> bool {
    controller_of(meta).is_some_and(|r| r.uid == uid)
}

/// The controller reference an owner puts on objects it creates
/// (`controller` and `blockOwnerDeletion` true, as upstream's
/// `NewControllerRef`).
pub fn controller_ref<K: Resource<DynamicType = ()>>(owner: &K) -> OwnerReference {
    let meta = owner.meta();
    OwnerReference {
        api_version: K::api_version(&()).into_owned(),
        kind: K::kind(&()).into_owned(),
        name: meta.name.clone().unwrap_or_default(),
        uid: meta.uid.clone().unwrap_or_default(),
        controller: Some(true),
        block_owner_deletion: Some(true),
    }
}

/// What claiming decided for a set of candidate objects.
#[derive(Debug)]
pub struct ClaimPlan<T> {
    /// Controlled by the owner and still matching: kept.
    pub owned: Vec<Arc<T>>,
    /// Orphans that match: to adopt.
    pub adopt: Vec<Arc<T>>,
    /// Controlled by the owner but no longer matching: to release.
    pub release: Vec<Arc<T>>,
}

/// Upstream `ClaimObject` over candidates (the owner's namespace):
/// - controlled by us: keep if the selector matches, else release (unless
///   the owner is being deleted, then keep it out without releasing);
/// - controlled by someone else: ignore;
/// - orphan: adopt when it matches and neither it nor the owner is being
///   deleted.
pub fn plan_claims<T: Resource>(
    candidates: &[Arc<T>],
    owner_uid: &str,
    selector: &LabelSelector,
    owner_deleting: bool,
) -> ClaimPlan<T> {
    let mut plan = ClaimPlan { owned: Vec::new(), adopt: Vec::new(), release: Vec::new() };
    for obj in candidates {
        let meta = obj.meta();
        let matches = selector.matches(&meta.labels);
        match controller_of(meta) {
            Some(r) if r.uid == owner_uid => {
                if matches {
                    plan.owned.push(obj.clone());
                } else if !owner_deleting && meta.deletion_timestamp.is_none() {
                    plan.release.push(obj.clone());
                }
            }
            Some(_) => {}
            None => {
                if matches && !owner_deleting && meta.deletion_timestamp.is_none() {
                    plan.adopt.push(obj.clone());
                }
            }
        }
    }
    plan
}

/// Sets `owner` as controller of `obj` (strategic merge on ownerReferences,
/// keyed by uid, with the object's uid as precondition).
pub async fn adopt<T>(api: &Api<T>, obj: &T, owner: &OwnerReference, manager: &str) -> kube::Result<T>
where
    T: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let meta = obj.meta();
    let patch = json!({"metadata": {"ownerReferences": [owner], "uid": meta.uid}});
    api.patch(meta.name.as_deref().unwrap_or_default(), &patch_params(manager), &Patch::Strategic(patch))
        .await
}

/// Removes the ownerReference with `owner_uid` from `obj`.
pub async fn release<T>(api: &Api<T>, obj: &T, owner_uid: &str, manager: &str) -> kube::Result<T>
where
    T: Resource + Clone + DeserializeOwned + std::fmt::Debug,
{
    let meta = obj.meta();
    let patch = json!({"metadata": {"ownerReferences": [{"$patch": "delete", "uid": owner_uid}], "uid": meta.uid}});
    api.patch(meta.name.as_deref().unwrap_or_default(), &patch_params(manager), &Patch::Strategic(patch))
        .await
}

/// Patch parameters naming the controller as field manager.
pub fn patch_params(manager: &str) -> PatchParams {
    PatchParams { field_manager: Some(manager.to_string()), ..PatchParams::default() }
}

/// Whether a kube error is a 404 (the object went away: nothing to do).
pub fn is_not_found(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 404)
}

/// Whether a kube error is a 409 conflict / already exists.
pub fn is_conflict(err: &kube::Error) -> bool {
    matches!(err, kube::Error::Api(s) if s.code == 409)
}

/// Claims candidates for `owner` (see [`plan_claims`]) and performs the
/// patches. `can_adopt` re-reads the owner from the API (not the cache) and
/// says whether it still exists with the same uid and is not being deleted;
/// it is called at most once, and only when there is something to adopt.
/// Returns the objects the owner now controls.
pub async fn claim<T, Fut>(
    api: &Api<T>,
    candidates: &[Arc<T>],
    owner: &OwnerReference,
    selector: &LabelSelector,
    owner_deleting: bool,
    manager: &str,
    can_adopt: impl FnOnce() -> Fut,
) -> anyhow::Result<Vec<Arc<T>>>
where
    T: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    Fut: Future<Output = anyhow::Result<bool>>,
{
    let plan = plan_claims(candidates, &owner.uid, selector, owner_deleting);
    let mut claimed = plan.owned;
    if !plan.adopt.is_empty() && can_adopt().await? {
        for obj in plan.adopt {
            match adopt(api, &obj, owner, manager).await {
                Ok(updated) => claimed.push(Arc::new(updated)),
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(anyhow::Error::new(e).context(format!("adopting {}", obj.meta().name.as_deref().unwrap_or("")))),
            }
        }
    }
    for obj in plan.release {
        match release(api, &obj, &owner.uid, manager).await {
            Ok(_) => {}
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(anyhow::Error::new(e).context(format!("releasing {}", obj.meta().name.as_deref().unwrap_or("")))),
        }
    }
    Ok(claimed)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use k8s_openapi::api::core::v1::Pod;

    fn pod(name: &str, app: &str, controller: Option<&str>) -> Arc<Pod> {
        let mut p = Pod::default();
        p.metadata.name = Some(name.into());
        p.metadata.labels = Some([("app".to_string(), app.to_string())].into());
        if let Some(uid) = controller {
            p.metadata.owner_references = Some(vec![OwnerReference {
                uid: uid.into(),
                controller: Some(true),
                ..Default::default()
            }]);
        }
        Arc::new(p)
    }

    #[test]
    fn claim_plan_table() {
        let sel = LabelSelector::parse("app=web").unwrap();
        let pods = vec![
            pod("mine", "web", Some("me")),
            pod("mine-mismatch", "db", Some("me")),
            pod("other", "web", Some("you")),
            pod("orphan", "web", None),
            pod("orphan-mismatch", "db", None),
        ];
        let names = |v: &[Arc<Pod>]| v.iter().map(|p| p.metadata.name.clone().unwrap()).collect::<Vec<_>>();
        let plan = plan_claims(&pods, "me", &sel, false);
        assert_eq!(names(&plan.owned), ["mine"]);
        assert_eq!(names(&plan.adopt), ["orphan"]);
        assert_eq!(names(&plan.release), ["mine-mismatch"]);
        let plan = plan_claims(&pods, "me", &sel, true);
        assert_eq!(names(&plan.owned), ["mine"]);
        assert!(plan.adopt.is_empty() && plan.release.is_empty());
    }
}
