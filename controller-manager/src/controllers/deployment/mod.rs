//! The Deployment controller (upstream `pkg/controller/deployment`).
//!
//! A Deployment owns ReplicaSets named `<deployment>-<pod-template-hash>`.
//! Each sync claims the matching ReplicaSets, finds the "new" one (template
//! equal ignoring the hash label; a matching old RS is reused, which is how
//! `kubectl rollout undo` works) and either only scales (paused, or a
//! scaling event: proportional scaling across active sets) or rolls out
//! (RollingUpdate within maxSurge/maxUnavailable, or Recreate), cleans up
//! old sets beyond `revisionHistoryLimit` once complete, and writes the
//! status and the `Progressing`/`Available` conditions `kubectl rollout
//! status` reads. Pure rules are in [`util`]; [`sync`] performs them.

pub mod sync;
pub mod util;

use std::sync::Arc;

use apimachinery::selector::labels::LabelSelector;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use kube::ResourceExt;

use crate::controllers::Ctx;
use crate::runtime::cached_pod::CachedPod;
use crate::runtime::owner::controller_of;
use crate::runtime::{run_workers, Change, EventRecorder, Informer, ObjectKey, WorkQueue};

/// Event reporting component, as upstream.
pub const COMPONENT: &str = "deployment-controller";

pub(crate) struct Shared {
    pub client: kube::Client,
    pub deployments: Informer<Deployment>,
    pub sets: Informer<ReplicaSet>,
    pub pods: Informer<CachedPod>,
    pub recorder: EventRecorder,
    pub queue: WorkQueue<ObjectKey>,
}

/// Entry point of the `deployment` controller.
pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let shared = Arc::new(Shared {
        client: ctx.client.clone(),
        deployments: ctx.informers.get::<Deployment>(),
        sets: ctx.informers.get::<ReplicaSet>(),
        pods: ctx.informers.get::<CachedPod>(),
        recorder: EventRecorder::new(ctx.client.clone(), COMPONENT),
        queue: WorkQueue::new(),
    });
    let _d = shared.deployments.add_handler({
        let s = shared.clone();
        move |c: &Change<Deployment>| s.queue.add(ObjectKey::of(&**c.object()))
    });
    let _rs = shared.sets.add_handler({
        let s = shared.clone();
        move |c| s.on_replica_set(c)
    });
    let _pods = shared.pods.add_handler({
        let s = shared.clone();
        move |c| s.on_pod(c)
    });
    shared.deployments.wait_synced().await?;
    shared.sets.wait_synced().await?;
    shared.pods.wait_synced().await?;
    let queue = shared.queue.clone();
    run_workers("deployment", queue, ctx.settings.concurrent_syncs, move |key| {
        let s = shared.clone();
        async move { sync::sync(&s, key).await }
    })
    .await;
    Ok(())
}

impl Shared {
    fn owner_of(&self, namespace: &str, meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> Option<Arc<Deployment>> {
        let r = controller_of(meta)?;
        if r.kind != "Deployment" {
            return None;
        }
        self.deployments.get(namespace, &r.name).filter(|d| d.metadata.uid.as_deref() == Some(r.uid.as_str()))
    }

    /// Upstream add/update/deleteReplicaSet: the owner, or for orphans every
    /// deployment whose selector matches.
    fn on_replica_set(&self, change: &Change<ReplicaSet>) {
        let rs = change.object();
        let ns = rs.namespace().unwrap_or_default();
        if let Some(old) = change.old() {
            if controller_of(&old.metadata).map(|r| &r.uid) != controller_of(&rs.metadata).map(|r| &r.uid) {
                if let Some(d) = self.owner_of(&ns, &old.metadata) {
                    self.queue.add(ObjectKey::of(&*d));
                }
            }
        }
        if let Some(d) = self.owner_of(&ns, &rs.metadata) {
            self.queue.add(ObjectKey::of(&*d));
            return;
        }
        if controller_of(&rs.metadata).is_some() || matches!(change, Change::Deleted(_)) {
            return;
        }
        for d in self.deployments.list_namespace(&ns) {
            let Some(spec) = d.spec.as_ref() else { continue };
            if let Ok(sel) = LabelSelector::from_k8s(&spec.selector) {
                if !sel.is_everything() && sel.matches(&rs.metadata.labels) {
                    self.queue.add(ObjectKey::of(&*d));
                }
            }
        }
    }

    /// Upstream deletePod: a Recreate deployment waits for old pods to go.
    fn on_pod(&self, change: &Change<CachedPod>) {
        let Change::Deleted(pod) = change else { return };
        let ns = pod.namespace().unwrap_or_default();
        let Some(r) = controller_of(&pod.metadata) else { return };
        if r.kind != "ReplicaSet" {
            return;
        }
        let Some(rs) = self.sets.get(&ns, &r.name) else { return };
        if let Some(d) = self.owner_of(&ns, &rs.metadata) {
            if !util::is_rolling(&d) {
                self.queue.add(ObjectKey::of(&*d));
            }
        }
    }
}
