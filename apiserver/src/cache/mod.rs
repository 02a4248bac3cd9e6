//! The watch cache: one storage watch over the whole registry prefix keeps an
//! in-memory copy of every object plus a bounded event history per resource.
//! Lists and watches are served from it; every watcher gets its own bounded
//! queue, and a watcher that falls behind is cut off (its stream ends, the
//! client re-watches) so it never stalls the others.
//!
//! Invariant: the cache applies storage events in revision order, and its
//! `revision` is the revision of the last event applied (or of the initial
//! list). A read that must be consistent first waits until the cache has
//! caught up with the store's current revision.

mod filter;
pub mod object;
mod summary;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use parking_lot::RwLock;
use tokio::sync::{mpsc, watch};

pub use filter::Filter;
pub use object::CachedObject;

use crate::registry::{Registry, ResourceDef};
use storage::{DynStore, ListOptions, WatchEvent};

/// How many events of history each resource keeps for resuming watches (default).
pub const HISTORY_PER_RESOURCE: usize = 10_000;
/// Capacity of one watcher's queue before it is cut off.
pub const WATCHER_QUEUE: usize = 4_096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    Added,
    Modified,
    Deleted,
}

impl EventType {
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// A change as the cache records it.
#[derive(Debug)]
pub struct CacheEvent {
    pub kind: EventType,
    pub object: Arc<CachedObject>,
    pub prev: Option<Arc<CachedObject>>,
    pub revision: i64,
}

/// What a watcher receives (already filtered and typed for it).
#[derive(Debug, Clone)]
pub struct WatchOut {
    pub kind: EventType,
    pub object: Arc<CachedObject>,
}

struct Watcher {
    id: u64,
    filter: Filter,
    tx: mpsc::Sender<WatchOut>,
}

#[derive(Default)]
struct ResourceState {
    objects: BTreeMap<String, Arc<CachedObject>>,
    history: VecDeque<Arc<CacheEvent>>,
    /// Watches may resume from any revision >= this one.
    oldest_resumable: i64,
    watchers: Vec<Watcher>,
}

struct State {
    resources: HashMap<&'static str, ResourceState>,
    revision: i64,
    next_watcher: u64,
    ready: bool,
}

pub struct WatchCache {
    registry: Arc<Registry>,
    root: String,
    history_limit: usize,
    state: RwLock<State>,
    revision_tx: watch::Sender<i64>,
}

/// A consistent snapshot of one resource's matching objects.
pub struct ListSnapshot {
    pub items: Vec<Arc<CachedObject>>,
    pub revision: i64,
}

/// A watch registered in the cache: the backlog to send first, then live events.
pub struct Subscription {
    pub initial: Vec<WatchOut>,
    pub live: mpsc::Receiver<WatchOut>,
    pub revision: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("too old resource version: {requested} ({oldest})")]
    TooOld { requested: i64, oldest: i64 },
    #[error("the watch cache is not ready yet")]
    NotReady,
}

impl WatchCache {
    pub fn new(registry: Arc<Registry>, root: String, history_limit: usize) -> Arc<Self> {
        let (revision_tx, _) = watch::channel(0);
        Arc::new(WatchCache {
            registry,
            root,
            history_limit: history_limit.max(1),
            state: RwLock::new(State { resources: HashMap::new(), revision: 0, next_watcher: 0, ready: false }),
            revision_tx,
        })
    }

    pub fn revision(&self) -> i64 {
        self.state.read().revision
    }

    pub fn is_ready(&self) -> bool {
        self.state.read().ready
    }

    /// Keep the cache in sync with `store` until the task is dropped:
    /// list everything, then follow one watch; on any watch failure, re-list.
    pub async fn run(self: Arc<Self>, store: DynStore) {
        loop {
            match self.sync_once(&store).await {
                Ok(()) => tracing::warn!("storage watch ended; re-listing"),
                Err(e) => tracing::warn!(error = %e, "watch cache sync failed; re-listing"),
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    async fn sync_once(&self, store: &DynStore) -> Result<(), storage::StorageError> {
        let prefix = format!("{}/", self.root);
        let mut revision = None;
        let mut start_after = None;
        let mut fresh: HashMap<&'static str, ResourceState> = HashMap::new();
        let mut count = 0usize;
        loop {
            let page = store
                .list(ListOptions { prefix: prefix.clone(), start_after: start_after.clone(), limit: Some(10_000), revision })
                .await?;
            revision = Some(page.revision);
            for kv in &page.kvs {
                if let Some((def, _)) = self.resource_of(&kv.key) {
                    match CachedObject::from_stored(&def, &kv.key, &kv.value, kv.mod_revision) {
                        Ok(obj) => {
                            fresh.entry(def.storage_name).or_default().objects.insert(kv.key.clone(), Arc::new(obj));
                            count += 1;
                        }
                        Err(e) => tracing::error!(key = %kv.key, error = %e, "undecodable object in storage; skipped"),
                    }
                }
            }
            start_after = page.kvs.last().map(|kv| kv.key.clone());
            if !page.more {
                break;
            }
        }
        let revision = revision.unwrap_or(0);
        tracing::info!(prefix = %prefix, objects = count, revision, "watch cache loaded");
        let mut stream = store.watch_changes(&prefix, revision).await?;
        {
            let mut st = self.state.write();
            for (_, res) in st.resources.drain() {
                drop(res.watchers); // closing their queues ends their streams
            }
            for res in fresh.values_mut() {
                res.oldest_resumable = revision;
            }
            st.resources = fresh;
            st.revision = revision;
            st.ready = true;
        }
        self.revision_tx.send_replace(revision);
        while let Some(event) = stream.next().await {
            let event = event?;
            self.apply(event);
        }
        Ok(())
    }

    /// The resource a storage key belongs to, with the key's namespace/name part.
    fn resource_of(&self, key: &str) -> Option<(Arc<ResourceDef>, String)> {
        let rest = key.strip_prefix(&self.root)?.strip_prefix('/')?;
        let (storage_name, tail) = rest.split_once('/')?;
        let def = self.registry.by_storage_name(storage_name)?.clone();
        Some((def, tail.to_string()))
    }

    fn apply(&self, event: WatchEvent) {
        let revision = event.revision();
        let resolved = self.resource_of(event.key());
        let mut st = self.state.write();
        st.revision = revision;
        if let Some((def, _)) = resolved {
            let res = st.resources.entry(def.storage_name).or_default();
            let cache_event = match event {
                WatchEvent::Put { kv, .. } => match CachedObject::from_stored(&def, &kv.key, &kv.value, kv.mod_revision) {
                    Ok(obj) => {
                        let obj = Arc::new(obj);
                        let prev = res.objects.insert(kv.key.clone(), obj.clone());
                        let kind = if prev.is_some() { EventType::Modified } else { EventType::Added };
                        Some(CacheEvent { kind, object: obj, prev, revision })
                    }
                    Err(e) => {
                        tracing::error!(key = %kv.key, error = %e, "undecodable object in storage; skipped");
                        None
                    }
                },
                WatchEvent::Delete { prev, .. } => res.objects.remove(&prev.key).map(|last| CacheEvent {
                    kind: EventType::Deleted,
                    object: last.at_revision(&def, revision),
                    prev: Some(last),
                    revision,
                }),
            };
            if let Some(ev) = cache_event {
                let ev = Arc::new(ev);
                dispatch(res, &ev);
                res.history.push_back(ev);
                while res.history.len() > self.history_limit {
                    if let Some(old) = res.history.pop_front() {
                        res.oldest_resumable = old.revision;
                    }
                }
            }
        }
        drop(st);
        self.revision_tx.send_replace(revision);
    }

    /// Wait until the cache has applied `revision` (or `timeout` passes).
    pub async fn wait_for(&self, revision: i64, timeout: Duration) -> bool {
        let mut rx = self.revision_tx.subscribe();
        let ready = |r: &i64| *r >= revision;
        let outcome = tokio::time::timeout(timeout, rx.wait_for(ready)).await;
        matches!(outcome, Ok(Ok(_)))
    }

    /// One object by key.
    pub fn get(&self, def: &ResourceDef, key: &str) -> Option<Arc<CachedObject>> {
        let st = self.state.read();
        st.resources.get(def.storage_name).and_then(|r| r.objects.get(key).cloned())
    }

    /// Matching objects in key order, starting after `start_after`, at most
    /// `limit` (0 = all). Returns the snapshot and whether more remain.
    pub fn list(&self, def: &ResourceDef, filter: &Filter, start_after: Option<&str>, limit: usize) -> (ListSnapshot, bool) {
        let st = self.state.read();
        let revision = st.revision;
        let Some(res) = st.resources.get(def.storage_name) else {
            return (ListSnapshot { items: Vec::new(), revision }, false);
        };
        let prefix = match (&filter.namespace, def.namespaced) {
            (Some(ns), true) => def.namespace_prefix(&self.root, ns),
            _ => def.storage_prefix(&self.root),
        };
        let lower = match start_after {
            Some(k) => std::ops::Bound::Excluded(k.to_string()),
            None => std::ops::Bound::Included(prefix.clone()),
        };
        let mut items = Vec::new();
        let mut more = false;
        for (key, obj) in res.objects.range((lower, std::ops::Bound::Unbounded)) {
            if !key.starts_with(&prefix) {
                break;
            }
            if !filter.matches(obj) {
                continue;
            }
            if limit > 0 && items.len() == limit {
                more = true;
                break;
            }
            items.push(obj.clone());
        }
        (ListSnapshot { items, revision }, more)
    }

    /// Register a watch. `from`: `None` = send the current state as ADDED
    /// events first; `Some(rv)` = replay history after `rv`.
    pub fn subscribe(&self, def: &ResourceDef, filter: Filter, from: Option<i64>) -> Result<Subscription, CacheError> {
        let mut st = self.state.write();
        if !st.ready {
            return Err(CacheError::NotReady);
        }
        let revision = st.revision;
        st.next_watcher += 1;
        let id = st.next_watcher;
        let res = st.resources.entry(def.storage_name).or_default();
        let initial = match from {
            None => res
                .objects
                .values()
                .filter(|o| filter.matches(o))
                .map(|o| WatchOut { kind: EventType::Added, object: o.clone() })
                .collect(),
            Some(rv) => {
                if rv < res.oldest_resumable {
                    return Err(CacheError::TooOld { requested: rv, oldest: res.oldest_resumable });
                }
                res.history.iter().filter(|e| e.revision > rv).filter_map(|e| filter.translate(e)).collect()
            }
        };
        let (tx, live) = mpsc::channel(WATCHER_QUEUE);
        res.watchers.push(Watcher { id, filter, tx });
        Ok(Subscription { initial, live, revision })
    }

    /// Number of registered watchers (for metrics).
    pub fn watcher_count(&self) -> usize {
        self.state.read().resources.values().map(|r| r.watchers.len()).sum()
    }

    /// Number of cached objects (for metrics and readiness detail).
    pub fn object_count(&self) -> usize {
        self.state.read().resources.values().map(|r| r.objects.len()).sum()
    }

    pub fn root(&self) -> &str {
        &self.root
    }
}

/// Send an event to every interested watcher; cut off those that are full or gone.
fn dispatch(res: &mut ResourceState, ev: &CacheEvent) {
    res.watchers.retain(|w| {
        let Some(out) = w.filter.translate(ev) else { return true };
        match w.tx.try_send(out) {
            Ok(()) => true,
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::warn!(watcher = w.id, "watcher too slow; closing its watch");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        }
    });
}
