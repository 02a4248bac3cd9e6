//! The ReplicaSet controller (upstream `pkg/controller/replicaset`), also
//! driving ReplicationControllers through [`Kind`] (upstream converts RCs to
//! ReplicaSets the same way).
//!
//! `sync(key)`: claim the namespace's active pods (adopt matching orphans,
//! release non-matching owned pods), then — if the expectations of the last
//! round are met — create (slow-start batches, `generateName: <rs>-`) or
//! delete (ranked, see [`ranking`]) pods to reach `spec.replicas`, and always
//! recompute the status.

pub mod ranking;
pub mod status;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use apimachinery::selector::labels::LabelSelector;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PostParams};
use kube::{Api, Resource, ResourceExt};
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::controllers::Ctx;
use crate::runtime::cached_pod::CachedPod;
use crate::runtime::owner::{self, controller_of};
use crate::runtime::patch::status_merge_patch;
use crate::runtime::slow_start::{slow_start_batch, MAX_IN_FLIGHT};
use crate::runtime::{pod_util, run_workers, Change, EventRecorder, Expectations, Informer, ObjectKey, SyncResult, WorkQueue};

/// Upstream's `BurstReplicas`: at most this many creations/deletions per sync.
pub const BURST_REPLICAS: usize = 500;

/// A kind managed like a ReplicaSet.
pub trait Kind: Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope> + Clone + DeserializeOwned + Serialize + std::fmt::Debug + Send + Sync + 'static {
    /// Queue / log name (`replicaset`).
    const CONTROLLER: &'static str;
    /// Event reporting component (`replicaset-controller`).
    const COMPONENT: &'static str;
    /// The object as a ReplicaSet (spec and status).
    fn view(&self) -> ReplicaSet;
}

impl Kind for ReplicaSet {
    const CONTROLLER: &'static str = "replicaset";
    const COMPONENT: &'static str = "replicaset-controller";
    fn view(&self) -> ReplicaSet {
        self.clone()
    }
}

/// Entry point of the `replicaset` controller.
pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    run_kind::<ReplicaSet>(ctx).await
}

struct Shared<K: Kind> {
    client: kube::Client,
    sets: Informer<K>,
    pods: Informer<CachedPod>,
    expectations: Expectations<ObjectKey>,
    recorder: EventRecorder,
    queue: WorkQueue<ObjectKey>,
}

/// Runs the controller for `K` until dropped.
pub async fn run_kind<K: Kind>(ctx: Ctx) -> anyhow::Result<()> {
    let shared = Arc::new(Shared::<K> {
        client: ctx.client.clone(),
        sets: ctx.informers.get::<K>(),
        pods: ctx.informers.get::<CachedPod>(),
        expectations: Expectations::new(),
        recorder: EventRecorder::new(ctx.client.clone(), K::COMPONENT),
        queue: WorkQueue::new(),
    });
    let _sets = shared.sets.add_handler({
        let s = shared.clone();
        move |c| s.on_set(c)
    });
    let _pods = shared.pods.add_handler({
        let s = shared.clone();
        move |c| s.on_pod(c)
    });
    shared.sets.wait_synced().await?;
    shared.pods.wait_synced().await?;
    let queue = shared.queue.clone();
    run_workers(K::CONTROLLER, queue, ctx.settings.concurrent_syncs, move |key| {
        let s = shared.clone();
        async move { s.sync(key).await }
    })
    .await;
    Ok(())
}

/// The set's selector; `None` when invalid. An empty selector selects
/// nothing here (the apiserver rejects it; an RC without selector and
/// template labels must not grab every pod).
fn selector_of(rs: &ReplicaSet) -> Option<LabelSelector> {
    let spec = rs.spec.as_ref()?;
    let sel = LabelSelector::from_k8s(&spec.selector).ok()?;
    Some(if sel.is_everything() { LabelSelector::nothing() } else { sel })
}

impl<K: Kind> Shared<K> {
    fn on_set(&self, change: &Change<K>) {
        let key = ObjectKey::of(&**change.object());
        if let Change::Deleted(_) = change {
            self.expectations.forget(&key);
        }
        self.queue.add(key);
    }

    /// The set a controller reference points at, if it is one of ours.
    fn resolve(&self, namespace: &str, r: &OwnerReference) -> Option<Arc<K>> {
        if r.kind != K::kind(&()) {
            return None;
        }
        self.sets.get(namespace, &r.name).filter(|s| s.meta().uid.as_deref() == Some(r.uid.as_str()))
    }

    fn enqueue_matching(&self, pod: &CachedPod) {
        let ns = pod.namespace().unwrap_or_default();
        for set in self.sets.list_namespace(&ns) {
            if selector_of(&set.view()).is_some_and(|sel| sel.matches(&pod.metadata.labels)) {
                self.queue.add(ObjectKey::of(&*set));
            }
        }
    }

    /// Upstream addPod / updatePod / deletePod: observe expectations and
    /// enqueue the owner (or, for orphans, every set that selects the pod).
    fn on_pod(&self, change: &Change<CachedPod>) {
        let pod = change.object();
        let ns = pod.namespace().unwrap_or_default();
        let owner = controller_of(&pod.metadata).and_then(|r| self.resolve(&ns, r));
        match change {
            Change::Deleted(_) => {
                if let Some(set) = owner {
                    let key = ObjectKey::of(&*set);
                    self.expectations.deletion_observed(&key, pod.metadata.uid.as_deref().unwrap_or(""));
                    self.queue.add(key);
                }
            }
            Change::Applied { old, new } => {
                if let Some(old) = old {
                    let old_ref = controller_of(&old.metadata);
                    if old_ref.map(|r| &r.uid) != controller_of(&new.metadata).map(|r| &r.uid) {
                        if let Some(set) = old_ref.and_then(|r| self.resolve(&ns, r)) {
                            self.queue.add(ObjectKey::of(&*set));
                        }
                    }
                }
                match owner {
                    Some(set) => {
                        let key = ObjectKey::of(&*set);
                        if new.metadata.deletion_timestamp.is_some() {
                            if old.as_ref().is_none_or(|o| o.metadata.deletion_timestamp.is_none()) {
                                self.expectations.deletion_observed(&key, new.metadata.uid.as_deref().unwrap_or(""));
                            }
                        } else if old.is_none() {
                            self.expectations.creation_observed(&key);
                        }
                        self.queue.add(key);
                    }
                    None => {
                        let labels_changed = old.as_ref().is_none_or(|o| o.metadata.labels != new.metadata.labels);
                        let became_orphan = old.as_ref().is_some_and(|o| controller_of(&o.metadata).is_some());
                        if controller_of(&new.metadata).is_none() && (labels_changed || became_orphan) {
                            self.enqueue_matching(new);
                        }
                    }
                }
            }
        }
    }

    async fn can_adopt(&self, namespace: &str, name: &str, uid: &str) -> anyhow::Result<bool> {
        let fresh = Api::<K>::namespaced(self.client.clone(), namespace).get_opt(name).await.context("re-reading the owner")?;
        Ok(fresh.is_some_and(|f| f.meta().uid.as_deref() == Some(uid) && f.meta().deletion_timestamp.is_none()))
    }

    async fn sync(&self, key: ObjectKey) -> SyncResult {
        let Some(set) = self.sets.get(&key.namespace, &key.name) else {
            self.expectations.forget(&key);
            return Ok(None);
        };
        let rs = set.view();
        let needs_sync = self.expectations.satisfied(&key, Instant::now());
        let Some(selector) = selector_of(&rs) else {
            tracing::warn!("invalid selector; skipping");
            return Ok(None);
        };
        let active: Vec<Arc<CachedPod>> =
            self.pods.list_namespace(&key.namespace).into_iter().filter(|p| pod_util::is_active(p)).collect();
        let owner_ref = owner::controller_ref(&*set);
        let pods_api = Api::<Pod>::namespaced(self.client.clone(), &key.namespace);
        let deleting = rs.metadata.deletion_timestamp.is_some();
        // Adoption and release patch cached pods: their responses decode as `CachedPod`.
        let claim_api = Api::<CachedPod>::namespaced(self.client.clone(), &key.namespace);
        let claimed = owner::claim(&claim_api, &active, &owner_ref, &selector, deleting, K::COMPONENT, || {
            self.can_adopt(&key.namespace, &key.name, &owner_ref.uid)
        })
        .await?;
        let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as usize;
        let mut manage_err = None;
        if needs_sync && !deleting {
            if let Err(err) = self.manage(&key, &set, &rs, &claimed, &owner_ref, &pods_api).await {
                manage_err = Some(status::ManageError { creating: claimed.len() < desired, message: format!("{err:#}") });
            }
        }
        let now = Timestamp::now();
        let new_status = status::calculate(&rs, &claimed, manage_err.as_ref(), now);
        if rs.status.as_ref() != Some(&new_status) {
            let api = Api::<K>::namespaced(self.client.clone(), &key.namespace);
            let patch = status_merge_patch(rs.status.as_ref(), &new_status);
            match api.patch_status(&key.name, &owner::patch_params(K::COMPONENT), &Patch::Merge(patch)).await {
                Ok(_) => {}
                Err(e) if owner::is_not_found(&e) => return Ok(None),
                Err(e) => return Err(anyhow::Error::new(e).context("updating status")),
            }
        }
        if let Some(err) = manage_err {
            anyhow::bail!("{}", err.message);
        }
        let min_ready = rs.spec.as_ref().and_then(|s| s.min_ready_seconds).unwrap_or(0);
        if min_ready > 0
            && new_status.ready_replicas.unwrap_or(0) == new_status.replicas
            && new_status.available_replicas.unwrap_or(0) != new_status.replicas
        {
            return Ok(Some(Duration::from_secs(min_ready as u64)));
        }
        Ok(None)
    }

    /// Active pods of this set and of its siblings (same controller owner),
    /// for the "doubled up on a node" rank.
    fn related_pods(&self, rs: &ReplicaSet, claimed: &[Arc<CachedPod>]) -> Vec<Arc<CachedPod>> {
        let Some(parent) = controller_of(&rs.metadata) else { return claimed.to_vec() };
        let ns = rs.namespace().unwrap_or_default();
        let sibling_uids: std::collections::HashSet<String> = self
            .sets
            .list_namespace(&ns)
            .iter()
            .filter(|s| controller_of(s.meta()).is_some_and(|r| r.uid == parent.uid))
            .filter_map(|s| s.meta().uid.clone())
            .collect();
        self.pods
            .list_namespace(&ns)
            .into_iter()
            .filter(|p| pod_util::is_active(p) && controller_of(&p.metadata).is_some_and(|r| sibling_uids.contains(&r.uid)))
            .collect()
    }

    async fn manage(
        &self,
        key: &ObjectKey,
        set: &K,
        rs: &ReplicaSet,
        claimed: &[Arc<CachedPod>],
        owner_ref: &OwnerReference,
        pods_api: &Api<Pod>,
    ) -> anyhow::Result<()> {
        let desired = rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1).max(0) as usize;
        if claimed.len() < desired {
            let n = (desired - claimed.len()).min(BURST_REPLICAS);
            let Some(template) = rs.spec.as_ref().and_then(|s| s.template.as_ref()) else {
                anyhow::bail!("spec.template is missing");
            };
            let started = Instant::now();
            self.expectations.expect_creations(key, n, started);
            let pod = pod_util::pod_from_template(template, &key.namespace, &key.name, Some(owner_ref.clone()));
            let (ok, err) = slow_start_batch(n, 1, |_| async {
                match pods_api.create(&PostParams::default(), &pod).await {
                    Ok(created) => {
                        self.recorder.normal(set, "SuccessfulCreate", format!("Created pod: {}", created.name_any()));
                        Ok(())
                    }
                    Err(e) => {
                        self.recorder.warning(set, "FailedCreate", format!("Error creating: {e}"));
                        Err(e)
                    }
                }
            })
            .await;
            tracing::debug!(requested = n, created = ok, elapsed_ms = started.elapsed().as_millis() as u64, "created pods");
            if n > ok {
                self.expectations.lower_creations(key, n - ok);
            }
            if let Some(e) = err {
                return Err(anyhow::Error::new(e).context("creating pods"));
            }
        } else if claimed.len() > desired {
            let n = (claimed.len() - desired).min(BURST_REPLICAS);
            let related = self.related_pods(rs, claimed);
            let victims = ranking::pods_to_delete(claimed, &related, n, Timestamp::now());
            self.expectations.expect_deletions(key, victims.iter().filter_map(|p| p.metadata.uid.clone()), Instant::now());
            // At most MAX_IN_FLIGHT at once: one connection per request (see slow_start).
            let deletes: Vec<_> = victims.iter().map(|p| async move {
                let name = p.name_any();
                match pods_api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => {
                        self.recorder.normal(set, "SuccessfulDelete", format!("Deleted pod: {name}"));
                        Ok(())
                    }
                    Err(e) if owner::is_not_found(&e) => {
                        self.expectations.deletion_observed(key, p.metadata.uid.as_deref().unwrap_or(""));
                        Ok(())
                    }
                    Err(e) => {
                        self.expectations.deletion_observed(key, p.metadata.uid.as_deref().unwrap_or(""));
                        self.recorder.warning(set, "FailedDelete", format!("Error deleting: {e}"));
                        Err(e)
                    }
                }
            }).collect();
            let results: Vec<Result<(), kube::Error>> = futures::stream::iter(deletes).buffer_unordered(MAX_IN_FLIGHT).collect().await;
            if let Some(Err(e)) = results.into_iter().find(Result::is_err) {
                return Err(anyhow::Error::new(e).context("deleting pods"));
            }
        }
        Ok(())
    }
}
