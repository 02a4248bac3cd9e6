//! Shared controller machinery: level-triggered reconcilers over a
//! deduplicating, rate-limited work queue, fed by shared informers. This is
//! client-go's informer + workqueue contract (which upstream's controllers
//! are written against) in small Rust pieces.
//!
//! Why not `kube::runtime::Controller`? It keeps one private watch per
//! `.owns()`/`.watches()`, so six controllers watching pods would open six
//! pod watches and none of them could read the others' caches; upstream's
//! controllers read shared caches (list the pods of a namespace, find the
//! ReplicaSets selecting an orphan pod). [`Informers`] gives one watch per
//! kind for the whole process, and any controller can read any cache.
//!
//! # Writing a controller
//!
//! ```ignore
//! pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
//!     let rs = ctx.informers.get::<ReplicaSet>();          // shared cache + feed
//!     let pods = ctx.informers.get::<CachedPod>();          // pods: the slim cached type
//!     let queue = WorkQueue::<ObjectKey>::new();
//!     // handlers only enqueue keys; keep the guards alive while running
//!     let _g1 = rs.add_handler({ let q = queue.clone(); move |c| q.add(ObjectKey::of(&**c.object())) });
//!     let _g2 = pods.add_handler({ let q = queue.clone(); move |c| { /* map pod -> owner key */ } });
//!     rs.wait_synced().await?;
//!     pods.wait_synced().await?;
//!     run_workers("replicaset", queue, ctx.settings.concurrent_syncs, move |key| sync(state.clone(), key)).await;
//!     Ok(())
//! }
//! async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult { /* Ok(None) | Ok(Some(requeue_after)) | Err */ }
//! ```
//!
//! - [`Informers::get`]`::<K>()` → [`Informer<K>`]: `list()`, `list_namespace(ns)`,
//!   `list_filter(f)`, `get(ns, name)`, `wait_synced()`, `add_handler(f) -> HandlerGuard`
//!   (handler gets [`Change::Applied { old, new }`] / [`Change::Deleted`]; a late
//!   handler first sees all cached objects; dropping the guard unregisters).
//! - [`WorkQueue<K>`]: `add`, `add_after`, `add_rate_limited` (5 ms → 1000 s per key),
//!   `forget`, `get`, `done`, `shut_down` — a key is never synced by two workers at once.
//! - [`run_workers`]: N workers, one `sync` span per key; `Err` requeues with backoff,
//!   `Ok(Some(d))` re-syncs after `d`, `Ok(None)` resets the backoff.
//! - [`CachedPod`]: the pod informer's type, the fields controllers read with
//!   `k8s_openapi`'s names and nesting (see [`cached_pod`] for what is kept);
//!   `CachedPod::from(pod)` converts a full pod. Create pods as full
//!   `k8s_openapi` pods (`Api<Pod>`); patch or claim cached ones through
//!   `Api<CachedPod>` (responses decode into the slim type).
//! - [`ObjectKey`]: `namespace/name` (namespace empty for cluster-scoped).
//! - [`expectations::Expectations`]: upstream ControllerExpectations (creations /
//!   deletions by uid, 5 min timeout), time passed in.
//! - [`owner`]: `controller_of`, `is_controlled_by`, `controller_ref(owner)`,
//!   `plan_claims` (pure) + `claim` (adopt/release via strategic merge patch),
//!   `is_not_found`, `is_conflict`, `patch_params(manager)`.
//! - [`pod_util`]: `is_active`, `is_ready`, `is_available(pod, minReadySeconds, now)`,
//!   `time_until_available`, `restarts`.
//! - [`patch::status_merge_patch`]: `{"status": new}` merge patch that nulls dropped fields.
//! - [`pod_util::pod_from_template`]: upstream GetPodFromTemplate (generateName `<prefix>-`).
//! - [`slow_start::slow_start_batch`]: creations in batches 1, 2, 4, ...
//! - [`events::EventRecorder`]: `normal`/`warning` core/v1 events with
//!   upstream's component name, correlated (aggregation, count patches, spam filter) and written in the background.

pub mod cached_pod;
pub mod events;
pub mod expectations;
pub mod informer;
pub mod key;
pub mod owner;
pub mod patch;
pub mod pod_util;
pub mod queue;
pub mod slow_start;
pub mod transform;
pub mod worker;

pub use cached_pod::CachedPod;
pub use events::EventRecorder;
pub use expectations::Expectations;
pub use informer::{Change, HandlerGuard, Informer, Informers};
pub use key::ObjectKey;
pub use queue::WorkQueue;
pub use worker::{run_workers, SyncResult};
