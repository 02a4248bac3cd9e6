//! One Deployment sync (upstream `syncDeployment` and the `sync.go`,
//! `rolling.go`, `recreate.go`, `progress.go` steps it runs). The decisions
//! come from [`super::util`]; this file performs the API calls and keeps the
//! local copies of the deployment and its ReplicaSets current.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use anyhow::Context;
use apimachinery::selector::labels::LabelSelector;
use k8s_openapi::api::apps::v1::{Deployment, DeploymentStatus, ReplicaSet, ReplicaSetSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use super::util::{self, rs_replicas};
use super::{Shared, COMPONENT};
use crate::runtime::owner::{self, controller_ref, is_controlled_by};
use crate::runtime::patch::status_merge_patch;
use crate::runtime::{ObjectKey, SyncResult};

/// The working state of one sync.
struct Run<'a> {
    s: &'a Shared,
    d: Deployment,
    sets: Vec<ReplicaSet>,
    now: Timestamp,
    rs_api: Api<ReplicaSet>,
    d_api: Api<Deployment>,
}

/// Upstream `syncDeployment`.
pub(crate) async fn sync(s: &Shared, key: ObjectKey) -> SyncResult {
    let Some(cached) = s.deployments.get(&key.namespace, &key.name) else { return Ok(None) };
    let d = (*cached).clone();
    let Some(spec) = d.spec.as_ref() else { return Ok(None) };
    let rs_api = Api::<ReplicaSet>::namespaced(s.client.clone(), &key.namespace);
    let d_api = Api::<Deployment>::namespaced(s.client.clone(), &key.namespace);
    let now = Timestamp::now();
    if spec.selector == Default::default() {
        s.recorder.warning(&d, "SelectingAll", "This deployment is selecting all pods. A non-empty selector is required.".into());
        let observed = d.status.as_ref().and_then(|st| st.observed_generation).unwrap_or(0);
        if observed < d.metadata.generation.unwrap_or(0) {
            let patch = json!({"status": {"observedGeneration": d.metadata.generation}});
            d_api.patch_status(&key.name, &owner::patch_params(COMPONENT), &Patch::Merge(patch)).await?;
        }
        return Ok(None);
    }
    let selector = LabelSelector::from_k8s(&spec.selector).context("invalid selector")?;
    let candidates = s.sets.list_namespace(&key.namespace);
    let deleting = d.metadata.deletion_timestamp.is_some();
    let owner_ref = controller_ref(&d);
    let uid = owner_ref.uid.clone();
    let claimed = owner::claim(&rs_api, &candidates, &owner_ref, &selector, deleting, COMPONENT, || async {
        let fresh = d_api.get_opt(&key.name).await?;
        Ok(fresh.is_some_and(|f| f.metadata.uid.as_deref() == Some(uid.as_str()) && f.metadata.deletion_timestamp.is_none()))
    })
    .await?;
    let sets = claimed.iter().map(|r| (**r).clone()).collect();
    let mut run = Run { s, d, sets, now, rs_api, d_api };
    if deleting {
        run.sync_status_only().await?;
        return Ok(None);
    }
    run.check_paused_conditions().await?;
    let paused = run.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
    if paused || run.is_scaling_event() {
        run.sync_scale(paused).await?;
        return Ok(None);
    }
    if util::is_rolling(&run.d) {
        run.rollout_rolling().await
    } else {
        run.rollout_recreate().await
    }
}

impl Run<'_> {
    fn name(&self) -> String {
        self.d.name_any()
    }

    fn status(&self) -> DeploymentStatus {
        self.d.status.clone().unwrap_or_default()
    }

    async fn write_status(&mut self, new: DeploymentStatus) -> anyhow::Result<()> {
        let patch = status_merge_patch(self.d.status.as_ref(), &new);
        let updated = self
            .d_api
            .patch_status(&self.name(), &owner::patch_params(COMPONENT), &Patch::Merge(patch))
            .await
            .context("updating deployment status")?;
        self.d.status = updated.status;
        self.d.metadata.resource_version = updated.metadata.resource_version;
        Ok(())
    }

    /// Upstream `SetDeploymentRevision`, written to the deployment's metadata.
    async fn set_deployment_revision(&mut self, revision: &str) -> anyhow::Result<()> {
        if util::annotation(&self.d.metadata, util::REVISION) == Some(revision) {
            return Ok(());
        }
        let patch = json!({"metadata": {"annotations": {util::REVISION: revision}}});
        let updated = self
            .d_api
            .patch(&self.name(), &owner::patch_params(COMPONENT), &Patch::Merge(patch))
            .await
            .context("setting the deployment's revision")?;
        self.d.metadata.annotations = updated.metadata.annotations;
        Ok(())
    }

    /// Indices of the new set (if any) and of the old ones.
    fn split(&self) -> (Option<usize>, Vec<usize>) {
        let new = util::find_new(&self.d, &self.sets);
        (new, (0..self.sets.len()).filter(|i| Some(*i) != new).collect())
    }

    /// Upstream `getAllReplicaSetsAndSyncRevision` / `getNewReplicaSet`.
    async fn get_all(&mut self, create: bool) -> anyhow::Result<(Option<usize>, Vec<usize>)> {
        let (new, old) = self.split();
        let new_revision = util::max_revision(old.iter().map(|&i| &self.sets[i])) + 1;
        if let Some(i) = new {
            let mut copy = self.sets[i].clone();
            let changed = util::set_new_rs_annotations(&self.d, &mut copy, new_revision, true);
            let min_ready = self.d.spec.as_ref().and_then(|s| s.min_ready_seconds);
            let spec = copy.spec.get_or_insert_with(ReplicaSetSpec::default);
            let min_ready_changed = spec.min_ready_seconds != min_ready;
            if changed || min_ready_changed {
                spec.min_ready_seconds = min_ready;
                self.sets[i] = self.rs_api.replace(&copy.name_any(), &PostParams::default(), &copy).await.context("updating the new replica set")?;
            }
            if let Some(rev) = util::annotation(&self.sets[i].metadata, util::REVISION).map(str::to_string) {
                self.set_deployment_revision(&rev).await?;
            }
            let mut status = self.status();
            if util::condition(&status, "Progressing").is_none() {
                let msg = format!("Found new replica set {:?}", self.sets[i].name_any());
                util::set_condition(&mut status, util::new_condition("Progressing", "True", util::FOUND_NEW_RS, msg, self.now));
                self.write_status(status).await?;
            }
            return Ok((Some(i), old));
        }
        if !create {
            return Ok((None, old));
        }
        let Some(spec) = self.d.spec.clone() else { anyhow::bail!("deployment has no spec") };
        let collision_count = self.status().collision_count;
        let hash = util::compute_hash(&spec.template, collision_count);
        let mut template = spec.template.clone();
        let tmeta = template.metadata.get_or_insert_with(ObjectMeta::default);
        tmeta.labels.get_or_insert_with(BTreeMap::new).insert(util::POD_TEMPLATE_HASH.into(), hash.clone());
        let labels = tmeta.labels.clone();
        let mut selector = spec.selector.clone();
        selector.match_labels.get_or_insert_with(BTreeMap::new).insert(util::POD_TEMPLATE_HASH.into(), hash.clone());
        let name = format!("{}-{}", self.name(), hash);
        let mut rs = ReplicaSet {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                namespace: self.d.namespace(),
                owner_references: Some(vec![controller_ref(&self.d)]),
                labels,
                ..ObjectMeta::default()
            },
            spec: Some(ReplicaSetSpec {
                replicas: Some(0),
                min_ready_seconds: spec.min_ready_seconds,
                selector,
                template: Some(template),
            }),
            status: None,
        };
        let all: Vec<&ReplicaSet> = old.iter().map(|&i| &self.sets[i]).chain(std::iter::once(&rs)).collect();
        let count = util::new_rs_new_replicas(&self.d, &all, &rs);
        if let Some(s) = rs.spec.as_mut() {
            s.replicas = Some(count);
        }
        util::set_new_rs_annotations(&self.d, &mut rs, new_revision, false);
        let mut already_exists = false;
        let created = match self.rs_api.create(&PostParams::default(), &rs).await {
            Ok(created) => created,
            Err(e) if owner::is_conflict(&e) => {
                let existing = self.rs_api.get(&name).await.context("reading the existing replica set")?;
                let ours = existing.metadata.uid.is_some()
                    && is_controlled_by(&existing.metadata, self.d.metadata.uid.as_deref().unwrap_or(""))
                    && existing.spec.as_ref().and_then(|s| s.template.as_ref()).is_some_and(|t| util::equal_ignore_hash(t, &spec.template));
                if !ours {
                    let mut status = self.status();
                    status.collision_count = Some(status.collision_count.unwrap_or(0) + 1);
                    self.write_status(status).await?;
                    anyhow::bail!("hash collision for replica set {name}; collisionCount raised");
                }
                already_exists = true;
                existing
            }
            Err(e) => {
                let msg = format!("Failed to create new replica set {name:?}: {e}");
                self.s.recorder.warning(&self.d, util::FAILED_RS_CREATE, msg.clone());
                if util::progress_deadline(&self.d).is_some() {
                    let mut status = self.status();
                    util::set_condition(&mut status, util::new_condition("Progressing", "False", util::FAILED_RS_CREATE, msg, self.now));
                    self.write_status(status).await?;
                }
                return Err(anyhow::Error::new(e).context("creating the new replica set"));
            }
        };
        if !already_exists && count > 0 {
            self.s.recorder.normal(&self.d, "ScalingReplicaSet", format!("Scaled up replica set {name} from 0 to {count}"));
        }
        self.sets.push(created);
        let idx = self.sets.len() - 1;
        self.set_deployment_revision(&new_revision.to_string()).await?;
        if !already_exists && util::progress_deadline(&self.d).is_some() {
            let mut status = self.status();
            let msg = format!("Created new replica set {name:?}");
            util::set_condition(&mut status, util::new_condition("Progressing", "True", util::NEW_RS_CREATED, msg, self.now));
            self.write_status(status).await?;
        }
        Ok((Some(idx), old))
    }

    /// Upstream `scaleReplicaSet`: size and replicas annotations in one update.
    async fn scale_rs(&mut self, i: usize, new_scale: i32) -> anyhow::Result<bool> {
        let rs = &self.sets[i];
        let old_scale = rs_replicas(rs);
        let desired = util::replicas(&self.d);
        let max = desired + util::max_surge(&self.d);
        let size_changed = old_scale != new_scale;
        if !size_changed && !util::replicas_annotations_need_update(rs, desired, max) {
            return Ok(false);
        }
        let mut copy = rs.clone();
        copy.spec.get_or_insert_with(ReplicaSetSpec::default).replicas = Some(new_scale);
        util::set_replicas_annotations(&mut copy, desired, max);
        let updated = self.rs_api.replace(&copy.name_any(), &PostParams::default(), &copy).await.context("scaling replica set")?;
        if size_changed {
            let op = if old_scale < new_scale { "up" } else { "down" };
            self.s.recorder.normal(
                &self.d,
                "ScalingReplicaSet",
                format!("Scaled {op} replica set {} from {old_scale} to {new_scale}", updated.name_any()),
            );
        }
        self.sets[i] = updated;
        Ok(size_changed)
    }

    /// Upstream `scaleReplicaSetAndRecordEvent`.
    async fn scale_if_needed(&mut self, i: usize, new_scale: i32) -> anyhow::Result<bool> {
        if rs_replicas(&self.sets[i]) == new_scale {
            return Ok(false);
        }
        self.scale_rs(i, new_scale).await
    }

    fn is_scaling_event(&self) -> bool {
        let desired = util::replicas(&self.d);
        self.sets
            .iter()
            .filter(|r| rs_replicas(r) > 0)
            .any(|r| util::desired_annotation(r).is_some_and(|v| v != desired))
    }

    /// Upstream `checkPausedConditions`.
    async fn check_paused_conditions(&mut self) -> anyhow::Result<()> {
        if util::progress_deadline(&self.d).is_none() {
            return Ok(());
        }
        let mut status = self.status();
        let reason = util::condition(&status, "Progressing").and_then(|c| c.reason.clone());
        if reason.as_deref() == Some(util::TIMED_OUT) {
            return Ok(());
        }
        let paused = self.d.spec.as_ref().and_then(|s| s.paused).unwrap_or(false);
        let paused_cond = reason.as_deref() == Some(util::PAUSED);
        let c = if paused && !paused_cond {
            util::new_condition("Progressing", "Unknown", util::PAUSED, "Deployment is paused".into(), self.now)
        } else if !paused && paused_cond {
            util::new_condition("Progressing", "Unknown", util::RESUMED, "Deployment is resumed".into(), self.now)
        } else {
            return Ok(());
        };
        util::set_condition(&mut status, c);
        self.write_status(status).await
    }

    /// Upstream `sync`: scale only (paused or a scaling event).
    async fn sync_scale(&mut self, paused: bool) -> anyhow::Result<()> {
        let (new, old) = self.get_all(false).await?;
        self.scale(new, &old).await?;
        if paused {
            self.cleanup(&old).await?;
        }
        self.sync_status(new).await
    }

    async fn sync_status_only(&mut self) -> anyhow::Result<()> {
        let (new, _) = self.get_all(false).await?;
        self.sync_status(new).await
    }

    /// Upstream `syncDeploymentStatus`.
    async fn sync_status(&mut self, new: Option<usize>) -> anyhow::Result<()> {
        let all: Vec<&ReplicaSet> = self.sets.iter().collect();
        let status = util::calculate_status(&all, new.map(|i| &self.sets[i]), &self.d, self.now);
        if !same_status(self.d.status.as_ref(), &status) {
            self.write_status(status).await?;
        }
        Ok(())
    }

    /// Upstream `scale`.
    async fn scale(&mut self, new: Option<usize>, old: &[usize]) -> anyhow::Result<()> {
        let desired = util::replicas(&self.d);
        let old_refs: Vec<&ReplicaSet> = old.iter().map(|&i| &self.sets[i]).collect();
        if let Some(target) = util::find_active_or_latest(new.map(|i| &self.sets[i]), &old_refs) {
            let name = target.name_any();
            if rs_replicas(target) == desired {
                return Ok(());
            }
            if let Some(i) = self.index_of(&name) {
                self.scale_if_needed(i, desired).await?;
            }
            return Ok(());
        }
        if util::is_saturated(&self.d, new.map(|i| &self.sets[i])) {
            for &i in old {
                if rs_replicas(&self.sets[i]) > 0 {
                    self.scale_if_needed(i, 0).await?;
                }
            }
            return Ok(());
        }
        if util::is_rolling(&self.d) {
            let active: Vec<&ReplicaSet> = old.iter().copied().chain(new).map(|i| &self.sets[i]).filter(|r| rs_replicas(r) > 0).collect();
            let sizes = util::proportional_sizes(&self.d, &active);
            for (name, size) in sizes {
                if let Some(i) = self.index_of(&name) {
                    self.scale_rs(i, size).await?;
                }
            }
        }
        Ok(())
    }

    fn index_of(&self, name: &str) -> Option<usize> {
        self.sets.iter().position(|r| r.metadata.name.as_deref() == Some(name))
    }

    /// Upstream `cleanupDeployment`: delete the oldest idle sets beyond
    /// `revisionHistoryLimit`.
    async fn cleanup(&mut self, old: &[usize]) -> anyhow::Result<()> {
        let Some(limit) = self.d.spec.as_ref().and_then(|s| s.revision_history_limit) else { return Ok(()) };
        let mut cleanable: Vec<&ReplicaSet> = old.iter().map(|&i| &self.sets[i]).filter(|r| r.metadata.deletion_timestamp.is_none()).collect();
        let diff = cleanable.len() as i64 - i64::from(limit);
        if diff <= 0 {
            return Ok(());
        }
        cleanable.sort_by(|a, b| util::by_revision(a, b));
        let victims: Vec<String> = cleanable
            .iter()
            .take(diff as usize)
            .filter(|r| {
                util::rs_actual(r) == 0
                    && rs_replicas(r) == 0
                    && r.metadata.generation <= r.status.as_ref().and_then(|s| s.observed_generation)
            })
            .map(|r| r.name_any())
            .collect();
        for name in victims {
            match self.rs_api.delete(&name, &DeleteParams::default()).await {
                Ok(_) => {}
                Err(e) if owner::is_not_found(&e) => {}
                Err(e) => return Err(anyhow::Error::new(e).context(format!("deleting old replica set {name}"))),
            }
        }
        Ok(())
    }

    /// Upstream `rolloutRolling`.
    async fn rollout_rolling(&mut self) -> SyncResult {
        let (new, old) = self.get_all(true).await?;
        let Some(n) = new else { anyhow::bail!("no new replica set") };
        // Scale up, if we can.
        let desired = util::replicas(&self.d);
        let new_size = rs_replicas(&self.sets[n]);
        let scaled_up = if new_size == desired {
            false
        } else if new_size > desired {
            self.scale_if_needed(n, desired).await?
        } else {
            let all: Vec<&ReplicaSet> = self.sets.iter().collect();
            let count = util::new_rs_new_replicas(&self.d, &all, &self.sets[n]);
            self.scale_if_needed(n, count).await?
        };
        if scaled_up {
            return self.sync_rollout_status(new).await;
        }
        // Scale down, if we can.
        if self.reconcile_old(n, &old).await? {
            return self.sync_rollout_status(new).await;
        }
        if util::complete(&self.d, &self.status()) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(new).await
    }

    /// Upstream `reconcileOldReplicaSets`: unhealthy old pods first, then
    /// healthy ones while availability stays above the minimum.
    async fn reconcile_old(&mut self, n: usize, old: &[usize]) -> anyhow::Result<bool> {
        let mut active_old: Vec<usize> = old.iter().copied().filter(|&i| rs_replicas(&self.sets[i]) > 0).collect();
        if active_old.is_empty() {
            return Ok(false);
        }
        let all: Vec<&ReplicaSet> = self.sets.iter().collect();
        let max_scaled_down = util::max_scaled_down(&self.d, &all, &self.sets[n]);
        if max_scaled_down <= 0 {
            return Ok(false);
        }
        // cleanupUnhealthyReplicas
        active_old.sort_by(|&a, &b| util::by_creation(&self.sets[a], &self.sets[b]));
        let mut cleaned = 0;
        for &i in &active_old {
            if cleaned >= max_scaled_down {
                break;
            }
            let rs = &self.sets[i];
            let (size, available) = (rs_replicas(rs), util::rs_available(rs));
            if size == 0 || size == available {
                continue;
            }
            let count = (max_scaled_down - cleaned).min(size - available);
            self.scale_if_needed(i, size - count).await?;
            cleaned += count;
        }
        // scaleDownOldReplicaSetsForRollingUpdate
        let min_available = util::replicas(&self.d) - util::max_unavailable(&self.d);
        let available: i32 = active_old.iter().chain(std::iter::once(&n)).map(|&i| util::rs_available(&self.sets[i])).sum();
        let mut scaled = 0;
        if available > min_available {
            let budget = available - min_available;
            for &i in &active_old {
                if scaled >= budget {
                    break;
                }
                let size = rs_replicas(&self.sets[i]);
                if size == 0 {
                    continue;
                }
                let count = size.min(budget - scaled);
                self.scale_if_needed(i, size - count).await?;
                scaled += count;
            }
        }
        Ok(cleaned + scaled > 0)
    }

    /// Upstream `rolloutRecreate`.
    async fn rollout_recreate(&mut self) -> SyncResult {
        let (mut new, mut old) = self.get_all(false).await?;
        let mut scaled_down = false;
        for &i in &old {
            if rs_replicas(&self.sets[i]) != 0 {
                self.scale_if_needed(i, 0).await?;
                scaled_down = true;
            }
        }
        if scaled_down || self.old_pods_running(new, &old) {
            return self.sync_rollout_status(new).await;
        }
        if new.is_none() {
            (new, old) = self.get_all(true).await?;
        }
        if let Some(n) = new {
            let desired = util::replicas(&self.d);
            self.scale_if_needed(n, desired).await?;
        }
        if util::complete(&self.d, &self.status()) {
            self.cleanup(&old).await?;
        }
        self.sync_rollout_status(new).await
    }

    /// Upstream `oldPodsRunning`.
    fn old_pods_running(&self, new: Option<usize>, old: &[usize]) -> bool {
        if old.iter().map(|&i| util::rs_actual(&self.sets[i])).sum::<i32>() > 0 {
            return true;
        }
        let new_uid = new.and_then(|i| self.sets[i].metadata.uid.clone());
        let old_uids: HashSet<String> = old.iter().filter_map(|&i| self.sets[i].metadata.uid.clone()).collect();
        let ns = self.d.namespace().unwrap_or_default();
        self.s.pods.list_namespace(&ns).iter().any(|p| {
            let Some(r) = owner::controller_of(&p.metadata) else { return false };
            if Some(&r.uid) == new_uid.as_ref() || !old_uids.contains(&r.uid) {
                return false;
            }
            !matches!(crate::runtime::pod_util::phase(p), "Failed" | "Succeeded")
        })
    }

    /// Upstream `syncRolloutStatus`.
    async fn sync_rollout_status(&mut self, new: Option<usize>) -> SyncResult {
        let all: Vec<&ReplicaSet> = self.sets.iter().collect();
        let new_rs = new.map(|i| &self.sets[i]);
        let mut status = util::calculate_status(&all, new_rs, &self.d, self.now);
        util::update_progress(&self.d, &mut status, new_rs, self.now);
        // ReplicaFailure conditions of the sets (new one first).
        let failure = new_rs
            .into_iter()
            .chain(all.iter().copied())
            .filter_map(|r| r.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == "ReplicaFailure"))
            .next()
            .cloned();
        match failure {
            Some(c) => util::set_condition(
                &mut status,
                k8s_openapi::api::apps::v1::DeploymentCondition {
                    type_: "ReplicaFailure".into(),
                    status: c.status,
                    reason: c.reason,
                    message: c.message,
                    last_update_time: c.last_transition_time.clone(),
                    last_transition_time: c.last_transition_time,
                },
            ),
            None => util::remove_condition(&mut status, "ReplicaFailure"),
        }
        if same_status(self.d.status.as_ref(), &status) {
            return Ok(util::requeue_stuck(&self.d, &status, self.now));
        }
        self.write_status(status).await?;
        Ok(None)
    }
}

fn same_status(old: Option<&DeploymentStatus>, new: &DeploymentStatus) -> bool {
    old.cloned().unwrap_or_default() == *new
}

#[allow(dead_code)]
fn _assert_send(s: &Arc<Shared>, key: ObjectKey) -> impl std::future::Future<Output = SyncResult> + Send + '_ {
    sync(s, key)
}
