//! The DaemonSet controller (upstream `pkg/controller/daemon`).
//!
//! One pod per eligible node ([`eligibility::should_run`]: nodeSelector,
//! required node affinity, taints against the template's tolerations plus
//! the ones upstream adds to every daemon pod). Pods are created with
//! `generateName: <ds>-` and a required node affinity `metadata.name In
//! [node]` (the scheduler binds them, as upstream). Templates are versioned
//! as ControllerRevisions `<ds>-<hash>`; pods carry `controller-revision-hash:
//! <hash>`. RollingUpdate replaces pods within maxUnavailable (or surges
//! within maxSurge); OnDelete waits for the user.

pub mod eligibility;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use apimachinery::selector::labels::LabelSelector;
use k8s_openapi::api::apps::v1::{ControllerRevision, DaemonSet, DaemonSetStatus};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::apimachinery::pkg::runtime::RawExtension;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PostParams};
use kube::{Api, ResourceExt};
use serde_json::json;

use crate::runtime::cached_pod::CachedPod;
use super::deployment::util::{compute_hash, scaled_value};
use super::history::{self, HASH_LABEL};
use crate::controllers::Ctx;
use crate::runtime::owner::{self, controller_of, controller_ref};
use crate::runtime::patch::status_merge_patch;
use crate::runtime::slow_start::slow_start_batch;
use crate::runtime::{pod_util, run_workers, Change, EventRecorder, Expectations, Informer, ObjectKey, SyncResult, WorkQueue};

pub const COMPONENT: &str = "daemonset-controller";
/// Upstream's DaemonSet `BurstReplicas`.
pub const BURST_REPLICAS: usize = 250;
/// Label carrying the (deprecated) template generation.
pub const TEMPLATE_GENERATION_LABEL: &str = "pod-template-generation";
pub const TEMPLATE_GENERATION_ANNOTATION: &str = "deprecated.daemonset.template.generation";

struct Shared {
    client: kube::Client,
    sets: Informer<DaemonSet>,
    pods: Informer<CachedPod>,
    nodes: Informer<Node>,
    revisions: Informer<ControllerRevision>,
    expectations: Expectations<ObjectKey>,
    recorder: EventRecorder,
    queue: WorkQueue<ObjectKey>,
}

/// Entry point of the `daemonset` controller.
pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        client: ctx.client.clone(),
        sets: ctx.informers.get::<DaemonSet>(),
        pods: ctx.informers.get::<CachedPod>(),
        nodes: ctx.informers.get::<Node>(),
        revisions: ctx.informers.get::<ControllerRevision>(),
        expectations: Expectations::new(),
        recorder: EventRecorder::new(ctx.client.clone(), COMPONENT),
        queue: WorkQueue::new(),
    });
    let _sets = shared.sets.add_handler({
        let s = shared.clone();
        move |c: &Change<DaemonSet>| {
            let key = ObjectKey::of(&**c.object());
            if let Change::Deleted(_) = c {
                s.expectations.forget(&key);
            }
            s.queue.add(key)
        }
    });
    let _pods = shared.pods.add_handler({
        let s = shared.clone();
        move |c| s.on_pod(c)
    });
    let _nodes = shared.nodes.add_handler({
        let s = shared.clone();
        move |c| s.on_node(c)
    });
    shared.sets.wait_synced().await?;
    shared.pods.wait_synced().await?;
    shared.nodes.wait_synced().await?;
    shared.revisions.wait_synced().await?;
    let queue = shared.queue.clone();
    run_workers("daemonset", queue, ctx.settings.concurrent_syncs, move |key| {
        let s = shared.clone();
        async move { s.sync(key).await }
    })
    .await;
    Ok(())
}

fn selector_of(ds: &DaemonSet) -> Option<LabelSelector> {
    let sel = LabelSelector::from_k8s(&ds.spec.as_ref()?.selector).ok()?;
    Some(if sel.is_everything() { LabelSelector::nothing() } else { sel })
}

/// Upstream `podByCreationTimestampAndPhase`: scheduled first, then oldest.
fn pod_order(a: &CachedPod, b: &CachedPod) -> std::cmp::Ordering {
    let scheduled = |p: &CachedPod| p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some_and(|n| !n.is_empty());
    scheduled(b)
        .cmp(&scheduled(a))
        .then_with(|| a.metadata.creation_timestamp.as_ref().map(|t| t.0).cmp(&b.metadata.creation_timestamp.as_ref().map(|t| t.0)))
        .then_with(|| a.metadata.name.cmp(&b.metadata.name))
}

fn template_generation(ds: &DaemonSet) -> Option<String> {
    ds.metadata.annotations.as_ref()?.get(TEMPLATE_GENERATION_ANNOTATION).cloned()
}

/// Upstream `IsPodUpdated`.
fn is_updated(pod: &CachedPod, hash: &str, generation: Option<&str>) -> bool {
    let labels = pod.metadata.labels.as_ref();
    let hash_matches = !hash.is_empty() && labels.and_then(|l| l.get(HASH_LABEL)).map(String::as_str) == Some(hash);
    let gen_matches = generation.is_some() && labels.and_then(|l| l.get(TEMPLATE_GENERATION_LABEL)).map(String::as_str) == generation;
    hash_matches || gen_matches
}

/// Upstream `findUpdatedPodsOnNode`: `None` when there are several new or
/// several old pods (manage will fix that first).
fn updated_and_old<'a>(pods: &'a [Arc<CachedPod>], hash: &str, generation: Option<&str>) -> Option<(Option<&'a CachedPod>, Option<&'a CachedPod>)> {
    let (mut new, mut old) = (None, None);
    for p in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        let slot = if is_updated(p, hash, generation) { &mut new } else { &mut old };
        if slot.is_some() {
            return None;
        }
        *slot = Some(&**p);
    }
    Some((new, old))
}

/// The rolling-update decision (upstream `rollingUpdate`): pods to delete
/// and nodes to surge onto. `node_pods` has an entry (maybe empty) for every
/// node that should run the daemon.
pub fn rolling_plan(
    ds: &DaemonSet,
    node_pods: &BTreeMap<String, Vec<Arc<CachedPod>>>,
    desired: i32,
    hash: &str,
    now: Timestamp,
) -> (Vec<String>, Vec<String>) {
    let generation = template_generation(ds);
    let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let ru = ds.spec.as_ref().and_then(|s| s.update_strategy.as_ref()).and_then(|s| s.rolling_update.as_ref());
    let mut max_unavailable =
        scaled_value(ru.and_then(|r| r.max_unavailable.as_ref()).unwrap_or(&IntOrString::Int(1)), desired, true).unwrap_or(1);
    let max_surge = scaled_value(ru.and_then(|r| r.max_surge.as_ref()).unwrap_or(&IntOrString::Int(0)), desired, true).unwrap_or(0);
    if desired > 0 && max_unavailable == 0 && max_surge == 0 {
        max_unavailable = 1;
    }
    let available = |p: &CachedPod| pod_util::is_available(p, min_ready, now);
    if max_surge == 0 {
        let mut unavailable = 0;
        let (mut replace, mut candidates) = (Vec::new(), Vec::new());
        for pods in node_pods.values() {
            let Some((new, old)) = updated_and_old(pods, hash, generation.as_deref()) else {
                unavailable += 1;
                continue;
            };
            match (new, old) {
                (None, None) | (Some(_), Some(_)) => unavailable += 1,
                (Some(n), None) => {
                    if !available(n) {
                        unavailable += 1;
                    }
                }
                (None, Some(o)) => {
                    if !available(o) {
                        replace.push(o.name_any());
                    } else if unavailable < max_unavailable {
                        candidates.push(o.name_any());
                    }
                }
            }
        }
        let remaining = (max_unavailable - unavailable).clamp(0, candidates.len() as i32) as usize;
        replace.extend(candidates.into_iter().take(remaining));
        return (replace, Vec::new());
    }
    let mut surge = 0;
    let (mut delete, mut allowed, mut candidates) = (Vec::new(), Vec::new(), Vec::new());
    for (node, pods) in node_pods {
        let Some((new, old)) = updated_and_old(pods, hash, generation.as_deref()) else {
            surge += 1;
            continue;
        };
        match (new, old) {
            (_, None) => {}
            (None, Some(o)) => {
                if !available(o) {
                    allowed.push(node.clone());
                } else if surge < max_surge {
                    candidates.push(node.clone());
                }
            }
            (Some(n), Some(o)) => {
                if !available(n) {
                    surge += 1;
                } else {
                    delete.push(o.name_any());
                }
            }
        }
    }
    let remaining = (max_surge - surge).clamp(0, candidates.len() as i32) as usize;
    allowed.extend(candidates.into_iter().take(remaining));
    (delete, allowed)
}

impl Shared {
    fn resolve(&self, ns: &str, meta: &ObjectMeta) -> Option<Arc<DaemonSet>> {
        let r = controller_of(meta)?;
        if r.kind != "DaemonSet" {
            return None;
        }
        self.sets.get(ns, &r.name).filter(|d| d.metadata.uid.as_deref() == Some(r.uid.as_str()))
    }

    fn on_pod(&self, change: &Change<CachedPod>) {
        let pod = change.object();
        let ns = pod.namespace().unwrap_or_default();
        let uid = pod.metadata.uid.as_deref().unwrap_or("");
        if let Some(ds) = self.resolve(&ns, &pod.metadata) {
            let key = ObjectKey::of(&*ds);
            match change {
                Change::Deleted(_) => self.expectations.deletion_observed(&key, uid),
                Change::Applied { old, new } => {
                    if new.metadata.deletion_timestamp.is_some() {
                        if old.as_ref().is_none_or(|o| o.metadata.deletion_timestamp.is_none()) {
                            self.expectations.deletion_observed(&key, uid);
                        }
                    } else if old.is_none() {
                        self.expectations.creation_observed(&key);
                    }
                }
            }
            self.queue.add(key);
            return;
        }
        if controller_of(&pod.metadata).is_none() && !matches!(change, Change::Deleted(_)) {
            for ds in self.sets.list_namespace(&ns) {
                if selector_of(&ds).is_some_and(|s| s.matches(&pod.metadata.labels)) {
                    self.queue.add(ObjectKey::of(&*ds));
                }
            }
        }
    }

    /// Nodes joining, leaving or changing labels/taints/conditions: every
    /// DaemonSet re-checks (upstream filters by shouldRun changes).
    fn on_node(&self, change: &Change<Node>) {
        if let Change::Applied { old: Some(old), new } = change {
            if old.metadata.labels == new.metadata.labels && old.spec == new.spec {
                return;
            }
        }
        for ds in self.sets.list() {
            self.queue.add(ObjectKey::of(&*ds));
        }
    }

    async fn sync(&self, key: ObjectKey) -> SyncResult {
        let Some(ds) = self.sets.get(&key.namespace, &key.name) else {
            self.expectations.forget(&key);
            return Ok(None);
        };
        let ds = (*ds).clone();
        let Some(spec) = ds.spec.clone() else { return Ok(None) };
        if ds.metadata.deletion_timestamp.is_some() {
            return Ok(None);
        }
        if spec.selector == Default::default() {
            self.recorder.warning(&ds, "SelectingAll", "This daemon set is selecting all pods. A non-empty selector is required.".into());
            return Ok(None);
        }
        let Some(selector) = selector_of(&ds) else { return Ok(None) };
        let owner_ref = controller_ref(&ds);
        let uid = owner_ref.uid.clone();
        let pods_api = Api::<Pod>::namespaced(self.client.clone(), &key.namespace);
        let ds_api = Api::<DaemonSet>::namespaced(self.client.clone(), &key.namespace);
        let candidates = self.pods.list_namespace(&key.namespace);
        // Adoption and release patch cached pods: their responses decode as `CachedPod`.
        let claim_api = Api::<CachedPod>::namespaced(self.client.clone(), &key.namespace);
        let claimed = owner::claim(&claim_api, &candidates, &owner_ref, &selector, false, COMPONENT, || async {
            let fresh = ds_api.get_opt(&key.name).await?;
            Ok(fresh.is_some_and(|f| f.metadata.uid.as_deref() == Some(uid.as_str()) && f.metadata.deletion_timestamp.is_none()))
        })
        .await?;
        let (hash, old_revisions) = self.construct_history(&ds).await?;
        let nodes = self.nodes.list();
        let mut node_pods: BTreeMap<String, Vec<Arc<CachedPod>>> = BTreeMap::new();
        for p in &claimed {
            if let Some(node) = eligibility::target_node(p.spec.as_ref()) {
                node_pods.entry(node).or_default().push(p.clone());
            }
        }
        for pods in node_pods.values_mut() {
            pods.sort_by(|a, b| pod_order(a, b));
        }
        let now = Timestamp::now();
        let mut result = Ok(());
        if self.expectations.satisfied(&key, Instant::now()) {
            result = self.manage(&ds, &key, &nodes, &node_pods, &hash, &pods_api).await;
            if result.is_ok() && self.expectations.satisfied(&key, Instant::now()) {
                let strategy = spec.update_strategy.as_ref().and_then(|s| s.type_.as_deref()).unwrap_or("RollingUpdate");
                if strategy == "RollingUpdate" {
                    let mut wanted: BTreeMap<String, Vec<Arc<CachedPod>>> = BTreeMap::new();
                    let mut desired = 0;
                    for node in &nodes {
                        if eligibility::should_run(&ds, node).0 {
                            desired += 1;
                            let name = node.name_any();
                            wanted.insert(name.clone(), node_pods.get(&name).cloned().unwrap_or_default());
                        }
                    }
                    let (delete, surge) = rolling_plan(&ds, &wanted, desired, &hash, now);
                    result = self.sync_nodes(&ds, &key, &delete, &surge, &hash, &claimed, &pods_api).await;
                }
                if result.is_ok() {
                    result = self.cleanup_history(&ds, &claimed, old_revisions).await;
                }
            }
        }
        let requeue = self.update_status(&ds, &nodes, &node_pods, &hash, now, &ds_api).await?;
        result?;
        Ok(requeue)
    }

    /// Upstream `manage`: which nodes need a pod, which pods must go.
    async fn manage(
        &self,
        ds: &DaemonSet,
        key: &ObjectKey,
        nodes: &[Arc<Node>],
        node_pods: &BTreeMap<String, Vec<Arc<CachedPod>>>,
        hash: &str,
        pods_api: &Api<Pod>,
    ) -> anyhow::Result<()> {
        let surge_allowed = ds
            .spec
            .as_ref()
            .and_then(|s| s.update_strategy.as_ref())
            .and_then(|s| s.rolling_update.as_ref())
            .and_then(|r| r.max_surge.as_ref())
            .is_some_and(|s| !matches!(s, IntOrString::Int(0)) && !matches!(s, IntOrString::String(v) if v == "0%"));
        let generation = template_generation(ds);
        let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
        let now = Timestamp::now();
        let mut need: Vec<String> = Vec::new();
        let mut delete: Vec<String> = Vec::new();
        let node_names: HashSet<String> = nodes.iter().map(|n| n.name_any()).collect();
        for node in nodes {
            let name = node.name_any();
            let (run, keep) = eligibility::should_run(ds, node);
            let pods = node_pods.get(&name);
            match pods {
                None if run => need.push(name),
                Some(pods) if keep => {
                    let mut running: Vec<&CachedPod> = Vec::new();
                    for p in pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
                        match pod_util::phase(p) {
                            "Failed" | "Succeeded" => delete.push(p.name_any()),
                            _ => running.push(p),
                        }
                    }
                    if running.is_empty() && run && pods.iter().all(|p| p.metadata.deletion_timestamp.is_none()) {
                        need.push(name.clone());
                    }
                    if !surge_allowed {
                        delete.extend(running.iter().skip(1).map(|p| p.name_any()));
                    } else if running.len() > 1 {
                        let (mut oldest_new, mut oldest_old) = (None, None);
                        for p in running {
                            let slot = if is_updated(p, hash, generation.as_deref()) { &mut oldest_new } else { &mut oldest_old };
                            if slot.is_none() {
                                *slot = Some(p);
                            } else {
                                delete.push(p.name_any());
                            }
                        }
                        if let (Some(n), Some(o)) = (oldest_new, oldest_old) {
                            if !pod_util::is_ready(o) || pod_util::is_available(n, min_ready, now) {
                                delete.push(o.name_any());
                            }
                        }
                    }
                }
                Some(pods) if !keep => {
                    delete.extend(pods.iter().filter(|p| p.metadata.deletion_timestamp.is_none()).map(|p| p.name_any()));
                }
                _ => {}
            }
        }
        // Pods pinned to nodes that no longer exist and never scheduled.
        for (node, pods) in node_pods {
            if !node_names.contains(node) {
                for p in pods {
                    let scheduled = p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some_and(|n| !n.is_empty());
                    if !scheduled && p.metadata.deletion_timestamp.is_none() {
                        delete.push(p.name_any());
                    }
                }
            }
        }
        let claimed: Vec<Arc<CachedPod>> = node_pods.values().flatten().cloned().collect();
        self.sync_nodes(ds, key, &delete, &need, hash, &claimed, pods_api).await
    }

    /// Upstream `syncNodes`: create pods for `need` (slow start) and delete
    /// `delete`, with expectations.
    #[allow(clippy::too_many_arguments)]
    async fn sync_nodes(
        &self,
        ds: &DaemonSet,
        key: &ObjectKey,
        delete: &[String],
        need: &[String],
        hash: &str,
        claimed: &[Arc<CachedPod>],
        pods_api: &Api<Pod>,
    ) -> anyhow::Result<()> {
        let need = &need[..need.len().min(BURST_REPLICAS)];
        let delete = &delete[..delete.len().min(BURST_REPLICAS)];
        if need.is_empty() && delete.is_empty() {
            return Ok(());
        }
        let uids: Vec<String> = delete
            .iter()
            .filter_map(|n| claimed.iter().find(|p| p.metadata.name.as_deref() == Some(n.as_str())))
            .filter_map(|p| p.metadata.uid.clone())
            .collect();
        self.expectations.expect(key, need.len(), uids, Instant::now());
        let Some(spec) = ds.spec.as_ref() else { return Ok(()) };
        let mut template = spec.template.clone();
        let tmeta = template.metadata.get_or_insert_with(ObjectMeta::default);
        let labels = tmeta.labels.get_or_insert_with(BTreeMap::new);
        labels.insert(HASH_LABEL.into(), hash.to_string());
        if let Some(generation) = template_generation(ds) {
            labels.insert(TEMPLATE_GENERATION_LABEL.into(), generation);
        }
        let pod_spec = template.spec.get_or_insert_with(Default::default);
        eligibility::add_daemon_tolerations(pod_spec);
        let ns = key.namespace.clone();
        let owner_ref = controller_ref(ds);
        let (ok, err) = slow_start_batch(need.len(), 1, |i| {
            let mut pod = pod_util::pod_from_template(&template, &ns, &key.name, Some(owner_ref.clone()));
            if let Some(s) = pod.spec.as_mut() {
                s.affinity = Some(eligibility::pin_to_node(s.affinity.take(), &need[i]));
            }
            async move {
                match pods_api.create(&PostParams::default(), &pod).await {
                    Ok(created) => {
                        self.recorder.normal(ds, "SuccessfulCreate", format!("Created pod: {}", created.name_any()));
                        Ok(())
                    }
                    Err(e) => {
                        self.recorder.warning(ds, "FailedCreate", format!("Error creating: {e}"));
                        Err(e)
                    }
                }
            }
        })
        .await;
        if need.len() > ok {
            self.expectations.lower_creations(key, need.len() - ok);
        }
        let mut first_err = err.map(|e| anyhow::Error::new(e).context("creating daemon pods"));
        for name in delete {
            let uid = claimed.iter().find(|p| p.metadata.name.as_deref() == Some(name.as_str())).and_then(|p| p.metadata.uid.clone());
            match pods_api.delete(name, &DeleteParams::default()).await {
                Ok(_) => self.recorder.normal(ds, "SuccessfulDelete", format!("Deleted pod: {name}")),
                Err(e) if owner::is_not_found(&e) => self.expectations.deletion_observed(key, uid.as_deref().unwrap_or("")),
                Err(e) => {
                    self.expectations.deletion_observed(key, uid.as_deref().unwrap_or(""));
                    self.recorder.warning(ds, "FailedDelete", format!("Error deleting: {e}"));
                    first_err.get_or_insert(anyhow::Error::new(e).context(format!("deleting pod {name}")));
                }
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Upstream `constructHistory`: the current revision's hash (creating
    /// or renumbering it as needed) and the old revisions.
    async fn construct_history(&self, ds: &DaemonSet) -> anyhow::Result<(String, Vec<ControllerRevision>)> {
        let ns = ds.namespace().unwrap_or_default();
        let uid = ds.metadata.uid.clone().unwrap_or_default();
        let api = Api::<ControllerRevision>::namespaced(self.client.clone(), &ns);
        let Some(spec) = ds.spec.as_ref() else { anyhow::bail!("no spec") };
        let data = history::template_patch(&spec.template);
        let mut current: Vec<ControllerRevision> = Vec::new();
        let mut old: Vec<ControllerRevision> = Vec::new();
        for r in self.revisions.list_namespace(&ns).iter().filter(|r| owner::is_controlled_by(&r.metadata, &uid)) {
            let matches = r.data.as_ref().map(|d| history::canonical(&d.0)) == Some(data.clone());
            if matches {
                current.push((**r).clone());
            } else {
                old.push((**r).clone());
            }
        }
        let next = old.iter().map(|r| r.revision).max().unwrap_or(0) + 1;
        current.sort_by_key(|r| std::cmp::Reverse(r.revision));
        let cur = match current.first() {
            Some(cur) => {
                for dup in current.iter().skip(1) {
                    let _ = api.delete(&dup.name_any(), &DeleteParams::default()).await;
                }
                if cur.revision < next {
                    api.patch(&cur.name_any(), &owner::patch_params(COMPONENT), &Patch::Merge(json!({"revision": next})))
                        .await
                        .context("renumbering the current revision")?
                } else {
                    cur.clone()
                }
            }
            None => {
                let collision = ds.status.as_ref().and_then(|s| s.collision_count);
                let hash = compute_hash(&spec.template, collision);
                let mut labels = spec.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default();
                labels.insert(HASH_LABEL.into(), hash.clone());
                let cr = ControllerRevision {
                    metadata: ObjectMeta {
                        name: Some(history::revision_name(&ds.name_any(), &hash)),
                        namespace: Some(ns.clone()),
                        labels: Some(labels),
                        annotations: ds.metadata.annotations.clone(),
                        owner_references: Some(vec![controller_ref(ds)]),
                        ..ObjectMeta::default()
                    },
                    data: Some(RawExtension(data.clone())),
                    revision: next,
                };
                match api.create(&PostParams::default(), &cr).await {
                    Ok(c) => c,
                    Err(e) if owner::is_conflict(&e) => {
                        let existing = api.get(&cr.name_any()).await?;
                        if history::equal_revision(&existing, &cr) {
                            existing
                        } else {
                            let ds_api = Api::<DaemonSet>::namespaced(self.client.clone(), &ns);
                            let patch = json!({"status": {"collisionCount": collision.unwrap_or(0) + 1}});
                            ds_api.patch_status(&ds.name_any(), &owner::patch_params(COMPONENT), &Patch::Merge(patch)).await?;
                            anyhow::bail!("hash collision for daemon set revision {}", cr.name_any());
                        }
                    }
                    Err(e) => return Err(anyhow::Error::new(e).context("creating controller revision")),
                }
            }
        };
        let hash = cur.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).cloned().unwrap_or_else(|| cur.name_any());
        Ok((hash, old))
    }

    /// Upstream `cleanupHistory`.
    async fn cleanup_history(&self, ds: &DaemonSet, pods: &[Arc<CachedPod>], mut old: Vec<ControllerRevision>) -> anyhow::Result<()> {
        let limit = ds.spec.as_ref().and_then(|s| s.revision_history_limit).unwrap_or(10);
        let live: HashSet<String> = pods
            .iter()
            .filter_map(|p| p.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL)).cloned())
            .collect();
        history::sort(&mut old);
        let excess = old.len() as i64 - i64::from(limit);
        if excess <= 0 {
            return Ok(());
        }
        let api = Api::<ControllerRevision>::namespaced(self.client.clone(), &ds.namespace().unwrap_or_default());
        let mut killed = 0;
        for r in &old {
            if killed >= excess {
                break;
            }
            let hash = r.metadata.labels.as_ref().and_then(|l| l.get(HASH_LABEL));
            if hash.is_some_and(|h| live.contains(h)) {
                continue;
            }
            match api.delete(&r.name_any(), &DeleteParams::default()).await {
                Ok(_) => killed += 1,
                Err(e) if owner::is_not_found(&e) => killed += 1,
                Err(e) => return Err(anyhow::Error::new(e).context("deleting old revision")),
            }
        }
        Ok(())
    }

    /// Upstream `updateDaemonSetStatus`.
    async fn update_status(
        &self,
        ds: &DaemonSet,
        nodes: &[Arc<Node>],
        node_pods: &BTreeMap<String, Vec<Arc<CachedPod>>>,
        hash: &str,
        now: Timestamp,
        api: &Api<DaemonSet>,
    ) -> anyhow::Result<Option<Duration>> {
        let status = compute_status(ds, nodes, node_pods, hash, now);
        if ds.status.clone().unwrap_or_default() != status {
            let patch = status_merge_patch(ds.status.as_ref(), &status);
            match api.patch_status(&ds.name_any(), &owner::patch_params(COMPONENT), &Patch::Merge(patch)).await {
                Ok(_) => {}
                Err(e) if owner::is_not_found(&e) => return Ok(None),
                Err(e) => return Err(anyhow::Error::new(e).context("updating status")),
            }
        }
        let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
        if min_ready > 0 && status.number_ready != status.number_available.unwrap_or(0) {
            return Ok(Some(Duration::from_secs(min_ready as u64)));
        }
        Ok(None)
    }
}

/// The status from nodes and their daemon pods (upstream
/// `updateDaemonSetStatus` counting).
pub fn compute_status(
    ds: &DaemonSet,
    nodes: &[Arc<Node>],
    node_pods: &BTreeMap<String, Vec<Arc<CachedPod>>>,
    hash: &str,
    now: Timestamp,
) -> DaemonSetStatus {
    let min_ready = ds.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
    let generation = template_generation(ds);
    let (mut desired, mut current, mut misscheduled, mut ready, mut available, mut updated) = (0, 0, 0, 0, 0, 0);
    let empty = Vec::new();
    let by_name: HashMap<String, &Vec<Arc<CachedPod>>> = node_pods.iter().map(|(k, v)| (k.clone(), v)).collect();
    for node in nodes {
        let name = node.name_any();
        let pods = by_name.get(&name).copied().unwrap_or(&empty);
        let scheduled = !pods.is_empty();
        if eligibility::should_run(ds, node).0 {
            desired += 1;
            if !scheduled {
                continue;
            }
            current += 1;
            let mut sorted: Vec<&Arc<CachedPod>> = pods.iter().collect();
            sorted.sort_by(|a, b| pod_order(a, b));
            let pod = sorted[0];
            if pod_util::is_ready(pod) {
                ready += 1;
                if pod_util::is_available(pod, min_ready, now) {
                    available += 1;
                }
            }
            if is_updated(pod, hash, generation.as_deref()) {
                updated += 1;
            }
        } else if scheduled {
            misscheduled += 1;
        }
    }
    let nz = |v: i32| (v != 0).then_some(v);
    DaemonSetStatus {
        collision_count: ds.status.as_ref().and_then(|s| s.collision_count),
        conditions: ds.status.as_ref().and_then(|s| s.conditions.clone()),
        current_number_scheduled: current,
        desired_number_scheduled: desired,
        number_available: nz(available),
        number_misscheduled: misscheduled,
        number_ready: ready,
        number_unavailable: nz(desired - available),
        observed_generation: ds.metadata.generation,
        updated_number_scheduled: nz(updated),
    }
}
