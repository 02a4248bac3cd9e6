//! The StatefulSet controller (upstream `pkg/controller/statefulset`).
//!
//! Pods get stable names `<set>-<ordinal>` (hostname = name, subdomain =
//! `serviceName`, labels `statefulset.kubernetes.io/pod-name`,
//! `apps.kubernetes.io/pod-index`, `controller-revision-hash: <revision
//! name>`) and claims `<template>-<set>-<ordinal>` from
//! `volumeClaimTemplates`. Templates are versioned as ControllerRevisions
//! ([`super::history`]); `status.currentRevision`/`updateRevision` name them.
//! [`pods::plan`] decides, in upstream's order (create/repair ascending,
//! scale down descending, roll outdated pods from the highest ordinal down to
//! the partition), and this shell performs the steps.

pub mod pods;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use apimachinery::selector::labels::LabelSelector;
use k8s_openapi::api::apps::v1::{ControllerRevision, StatefulSet, StatefulSetStatus};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::runtime::cached_pod::CachedPod;
use super::history;
use crate::controllers::Ctx;
use crate::runtime::owner::{self, controller_of, controller_ref};
use crate::runtime::patch::status_merge_patch;
use crate::runtime::{run_workers, Change, EventRecorder, Informer, ObjectKey, SyncResult, WorkQueue};

pub const COMPONENT: &str = "statefulset-controller";

struct Shared {
    client: kube::Client,
    sets: Informer<StatefulSet>,
    pods: Informer<CachedPod>,
    revisions: Informer<ControllerRevision>,
    claims: Informer<PersistentVolumeClaim>,
    recorder: EventRecorder,
    queue: WorkQueue<ObjectKey>,
}

/// Entry point of the `statefulset` controller.
pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        client: ctx.client.clone(),
        sets: ctx.informers.get::<StatefulSet>(),
        pods: ctx.informers.get::<CachedPod>(),
        revisions: ctx.informers.get::<ControllerRevision>(),
        claims: ctx.informers.get::<PersistentVolumeClaim>(),
        recorder: EventRecorder::new(ctx.client.clone(), COMPONENT),
        queue: WorkQueue::new(),
    });
    let _sets = shared.sets.add_handler({
        let s = shared.clone();
        move |c: &Change<StatefulSet>| s.queue.add(ObjectKey::of(&**c.object()))
    });
    let _pods = shared.pods.add_handler({
        let s = shared.clone();
        move |c| s.on_pod(c)
    });
    shared.sets.wait_synced().await?;
    shared.pods.wait_synced().await?;
    shared.revisions.wait_synced().await?;
    shared.claims.wait_synced().await?;
    let queue = shared.queue.clone();
    run_workers("statefulset", queue, ctx.settings.concurrent_syncs, move |key| {
        let s = shared.clone();
        async move { s.sync(key).await }
    })
    .await;
    Ok(())
}

fn selector_of(set: &StatefulSet) -> Option<LabelSelector> {
    let sel = LabelSelector::from_k8s(&set.spec.as_ref()?.selector).ok()?;
    Some(if sel.is_everything() { LabelSelector::nothing() } else { sel })
}

fn retention(set: &StatefulSet) -> (String, String) {
    let p = set.spec.as_ref().and_then(|s| s.persistent_volume_claim_retention_policy.as_ref());
    (
        p.and_then(|p| p.when_deleted.clone()).unwrap_or_else(|| "Retain".into()),
        p.and_then(|p| p.when_scaled.clone()).unwrap_or_else(|| "Retain".into()),
    )
}

fn plain_ref(r: &OwnerReference) -> OwnerReference {
    OwnerReference { controller: None, block_owner_deletion: Some(true), ..r.clone() }
}

impl Shared {
    fn resolve(&self, ns: &str, r: &OwnerReference) -> Option<Arc<StatefulSet>> {
        if r.kind != "StatefulSet" {
            return None;
        }
        self.sets.get(ns, &r.name).filter(|s| s.metadata.uid.as_deref() == Some(r.uid.as_str()))
    }

    fn on_pod(&self, change: &Change<CachedPod>) {
        let pod = change.object();
        let ns = pod.namespace().unwrap_or_default();
        if let Some(old) = change.old() {
            if let Some(set) = controller_of(&old.metadata).and_then(|r| self.resolve(&ns, r)) {
                self.queue.add(ObjectKey::of(&*set));
            }
        }
        match controller_of(&pod.metadata) {
            Some(r) => {
                if let Some(set) = self.resolve(&ns, r) {
                    self.queue.add(ObjectKey::of(&*set));
                }
            }
            None if !matches!(change, Change::Deleted(_)) => {
                for set in self.sets.list_namespace(&ns) {
                    if selector_of(&set).is_some_and(|s| s.matches(&pod.metadata.labels)) {
                        self.queue.add(ObjectKey::of(&*set));
                    }
                }
            }
            None => {}
        }
    }

    async fn sync(&self, key: ObjectKey) -> SyncResult {
        let Some(set) = self.sets.get(&key.namespace, &key.name) else { return Ok(None) };
        let set = (*set).clone();
        let Some(spec) = set.spec.clone() else { return Ok(None) };
        let Some(selector) = selector_of(&set) else { return Ok(None) };
        let owner_ref = controller_ref(&set);
        let uid = owner_ref.uid.clone();
        let pods_api = Api::<Pod>::namespaced(self.client.clone(), &key.namespace);
        let set_api = Api::<StatefulSet>::namespaced(self.client.clone(), &key.namespace);
        let cr_api = Api::<ControllerRevision>::namespaced(self.client.clone(), &key.namespace);
        let candidates: Vec<Arc<CachedPod>> = self
            .pods
            .list_namespace(&key.namespace)
            .into_iter()
            .filter(|p| owner::is_controlled_by(&p.metadata, &uid) || pods::is_member(&set, p))
            .collect();
        let deleting = set.metadata.deletion_timestamp.is_some();
        // Adoption and release patch cached pods: their responses decode as `CachedPod`.
        let claim_api = Api::<CachedPod>::namespaced(self.client.clone(), &key.namespace);
        let claimed = owner::claim(&claim_api, &candidates, &owner_ref, &selector, deleting, COMPONENT, || async {
            let fresh = set_api.get_opt(&key.name).await?;
            Ok(fresh.is_some_and(|f| f.metadata.uid.as_deref() == Some(uid.as_str()) && f.metadata.deletion_timestamp.is_none()))
        })
        .await?;

        // Revisions (upstream getStatefulSetRevisions).
        let mut revisions: Vec<ControllerRevision> = self
            .revisions
            .list_namespace(&key.namespace)
            .iter()
            .filter(|r| owner::is_controlled_by(&r.metadata, &uid))
            .map(|r| (**r).clone())
            .collect();
        history::sort(&mut revisions);
        let mut collision_count = set.status.as_ref().and_then(|s| s.collision_count).unwrap_or(0);
        let template_labels = spec.template.metadata.as_ref().and_then(|m| m.labels.as_ref());
        let data = history::template_patch(&spec.template);
        let candidate = history::new_revision(
            owner_ref.clone(),
            &key.namespace,
            template_labels,
            data.clone(),
            history::next_revision(&revisions),
            Some(collision_count),
        );
        let equal: Vec<&ControllerRevision> = revisions.iter().filter(|r| history::equal_revision(r, &candidate)).collect();
        let update_rev = match (equal.last(), revisions.last()) {
            (Some(eq), Some(last)) if history::equal_revision(last, eq) => last.clone(),
            (Some(eq), _) => {
                let patch = json!({"revision": candidate.revision});
                cr_api
                    .patch(&eq.name_any(), &owner::patch_params(COMPONENT), &Patch::Merge(patch))
                    .await
                    .context("bumping a rolled-back revision")?
            }
            (None, _) => {
                history::create(&cr_api, owner_ref.clone(), &key.namespace, template_labels, data, candidate.revision, &mut collision_count)
                    .await?
            }
        };
        let update_name = update_rev.name_any();
        let status_current = set.status.as_ref().and_then(|s| s.current_revision.clone());
        let current_rev = revisions
            .iter()
            .find(|r| Some(r.name_any()) == status_current)
            .cloned()
            .unwrap_or_else(|| update_rev.clone());
        let current_name = current_rev.name_any();
        let current_template = history::template_of(&current_rev).unwrap_or_else(|| spec.template.clone());
        let update_template = history::template_of(&update_rev).unwrap_or_else(|| spec.template.clone());

        let now = Timestamp::now();
        let plan = pods::plan(&set, &claimed, &current_name, &update_name, now);
        let mut status = plan.status;
        status.collision_count = Some(collision_count);
        let mut first_err: Option<anyhow::Error> = None;
        for step in plan.steps {
            let result = match &step {
                pods::Step::Create { ordinal, update_revision } => {
                    let (template, rev) = if *update_revision { (&update_template, &update_name) } else { (&current_template, &current_name) };
                    let r = self.create_pod(&set, &pods_api, template, *ordinal, rev, &owner_ref).await;
                    if r.is_ok() {
                        status.replicas += 1;
                        if *rev == current_name {
                            status.current_replicas = Some(status.current_replicas.unwrap_or(0) + 1);
                        }
                        if *rev == update_name {
                            status.updated_replicas = Some(status.updated_replicas.unwrap_or(0) + 1);
                        }
                    }
                    r
                }
                pods::Step::Delete { name, condemned } => self.delete_pod(&set, &pods_api, &claimed, name, *condemned).await,
                pods::Step::FixIdentity { name } => self.fix_identity(&pods_api, name).await,
            };
            if let Err(e) = result {
                first_err.get_or_insert(e);
                break;
            }
        }
        pods::complete_rolling_update(&set, &mut status);
        if !same(set.status.as_ref(), &status) {
            let patch = status_merge_patch(set.status.as_ref(), &status);
            match set_api.patch_status(&key.name, &owner::patch_params(COMPONENT), &Patch::Merge(patch)).await {
                Ok(_) => {}
                Err(e) if owner::is_not_found(&e) => return Ok(None),
                Err(e) => return Err(anyhow::Error::new(e).context("updating status")),
            }
        }
        if let Some(e) = first_err {
            return Err(e);
        }
        self.truncate_history(&set, &claimed, &revisions, &current_name, &update_name, &cr_api).await?;
        let min_ready = spec.min_ready_seconds.unwrap_or(0);
        if min_ready > 0 && status.available_replicas.unwrap_or(0) < status.ready_replicas.unwrap_or(0) {
            return Ok(Some(Duration::from_secs(min_ready as u64)));
        }
        Ok(None)
    }

    async fn create_pod(
        &self,
        set: &StatefulSet,
        pods_api: &Api<Pod>,
        template: &k8s_openapi::api::core::v1::PodTemplateSpec,
        ordinal: i32,
        revision: &str,
        owner_ref: &OwnerReference,
    ) -> anyhow::Result<()> {
        let ns = set.namespace().unwrap_or_default();
        let set_name = set.name_any();
        let pod = pods::new_pod(set, template, ordinal, revision, owner_ref.clone());
        let pod_name = pod.name_any();
        let claims_api = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), &ns);
        let (when_deleted, _) = retention(set);
        for mut claim in pods::claims_for(set, ordinal) {
            let claim_name = claim.name_any();
            if self.claims.get(&ns, &claim_name).is_some() {
                continue;
            }
            if when_deleted == "Delete" {
                claim.metadata.owner_references = Some(vec![plain_ref(owner_ref)]);
            }
            match claims_api.create(&PostParams::default(), &claim).await {
                Ok(_) => self.recorder.normal(
                    set,
                    "SuccessfulCreate",
                    format!("create Claim {claim_name} Pod {pod_name} in StatefulSet {set_name} success"),
                ),
                Err(e) if owner::is_conflict(&e) => {}
                Err(e) => {
                    self.recorder.warning(
                        set,
                        "FailedCreate",
                        format!("create Claim {claim_name} for Pod {pod_name} in StatefulSet {set_name} failed error: {e}"),
                    );
                    return Err(anyhow::Error::new(e).context(format!("creating claim {claim_name}")));
                }
            }
        }
        match pods_api.create(&PostParams::default(), &pod).await {
            Ok(_) => {
                self.recorder.normal(set, "SuccessfulCreate", format!("create Pod {pod_name} in StatefulSet {set_name} successful"));
                Ok(())
            }
            Err(e) => {
                self.recorder.warning(set, "FailedCreate", format!("create Pod {pod_name} in StatefulSet {set_name} failed error: {e}"));
                Err(anyhow::Error::new(e).context(format!("creating pod {pod_name}")))
            }
        }
    }

    async fn delete_pod(&self, set: &StatefulSet, pods_api: &Api<Pod>, claimed: &[Arc<CachedPod>], name: &str, condemned: bool) -> anyhow::Result<()> {
        let (_, when_scaled) = retention(set);
        if condemned && when_scaled == "Delete" {
            if let (Some(pod), Some(ord)) = (claimed.iter().find(|p| p.metadata.name.as_deref() == Some(name)), pods::parent_and_ordinal(name).map(|x| x.1)) {
                let ns = set.namespace().unwrap_or_default();
                let claims_api = Api::<PersistentVolumeClaim>::namespaced(self.client.clone(), &ns);
                let pod_ref = OwnerReference {
                    api_version: "v1".into(),
                    kind: "Pod".into(),
                    name: name.to_string(),
                    uid: pod.metadata.uid.clone().unwrap_or_default(),
                    controller: None,
                    block_owner_deletion: Some(true),
                };
                for claim in pods::claims_for(set, ord) {
                    let patch = json!({"metadata": {"ownerReferences": [pod_ref]}});
                    match claims_api.patch(&claim.name_any(), &owner::patch_params(COMPONENT), &Patch::Strategic(patch)).await {
                        Ok(_) => {}
                        Err(e) if owner::is_not_found(&e) => {}
                        Err(e) => return Err(anyhow::Error::new(e).context("setting claim owner for scale-down")),
                    }
                }
            }
        }
        let set_name = set.name_any();
        match pods_api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {
                self.recorder.normal(set, "SuccessfulDelete", format!("delete Pod {name} in StatefulSet {set_name} successful"));
                Ok(())
            }
            Err(e) if owner::is_not_found(&e) => Ok(()),
            Err(e) => {
                self.recorder.warning(set, "FailedDelete", format!("delete Pod {name} in StatefulSet {set_name} failed error: {e}"));
                Err(anyhow::Error::new(e).context(format!("deleting pod {name}")))
            }
        }
    }

    async fn fix_identity(&self, pods_api: &Api<Pod>, name: &str) -> anyhow::Result<()> {
        let Some((_, ord)) = pods::parent_and_ordinal(name) else { return Ok(()) };
        let patch = json!({"metadata": {"labels": {pods::POD_NAME_LABEL: name, pods::POD_INDEX_LABEL: ord.to_string()}}});
        pods_api.patch(name, &owner::patch_params(COMPONENT), &Patch::Merge(patch)).await.context("restoring pod identity")?;
        Ok(())
    }

    /// Upstream `truncateHistory`.
    async fn truncate_history(
        &self,
        set: &StatefulSet,
        pods: &[Arc<CachedPod>],
        revisions: &[ControllerRevision],
        current: &str,
        update: &str,
        api: &Api<ControllerRevision>,
    ) -> anyhow::Result<()> {
        let mut live: std::collections::HashSet<String> = pods.iter().map(|p| pods::revision_of(p).to_string()).collect();
        live.insert(current.to_string());
        live.insert(update.to_string());
        let limit = set.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
        for name in history::to_prune(revisions, &live, limit) {
            match api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if owner::is_not_found(&e) => {}
                Err(e) => return Err(anyhow::Error::new(e).context(format!("deleting revision {name}"))),
            }
        }
        Ok(())
    }
}

fn same(old: Option<&StatefulSetStatus>, new: &StatefulSetStatus) -> bool {
    old.cloned().unwrap_or_default() == *new
}

