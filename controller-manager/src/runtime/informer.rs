//! Shared informers: one watch (kube-rs `watcher` + reflector `Store`) per
//! resource type for the whole process, as upstream's
//! `SharedInformerFactory`, fanning every change out to the handlers that
//! controllers register. Handlers only enqueue keys; reconcilers read the
//! store.
//!
//! A handler registered late first receives every object already in the
//! store (as `Applied { old: None, .. }`), as upstream's late
//! `AddEventHandler` does. After a re-list, objects that vanished while the
//! watch was down are reported as `Deleted`, so no deletion goes unnoticed.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

/// What a handler is told.
#[derive(Debug)]
pub enum Change<K> {
    /// Added (`old` is `None`) or updated.
    Applied { old: Option<Arc<K>>, new: Arc<K> },
    /// Deleted; the last state seen.
    Deleted(Arc<K>),
}

impl<K> Change<K> {
    /// The object as it is now (or was when deleted).
    pub fn object(&self) -> &Arc<K> {
        match self {
            Change::Applied { new, .. } => new,
            Change::Deleted(obj) => obj,
        }
    }

    /// The previous state of an update, if any.
    pub fn old(&self) -> Option<&Arc<K>> {
        match self {
            Change::Applied { old, .. } => old.as_ref(),
            Change::Deleted(_) => None,
        }
    }
}

type Handler<K> = Arc<dyn Fn(&Change<K>) + Send + Sync>;

struct Handlers<K> {
    next: AtomicU64,
    map: RwLock<BTreeMap<u64, Handler<K>>>,
}

/// A shared, read-only cache of one resource type plus its change feed.
pub struct Informer<K: Resource<DynamicType = ()> + 'static> {
    store: Store<K>,
    handlers: Arc<Handlers<K>>,
}

impl<K: Resource<DynamicType = ()> + 'static> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Informer { store: self.store.clone(), handlers: self.handlers.clone() }
    }
}

/// Unregisters its handler when dropped (so a restarted controller does not
/// leave stale handlers behind).
#[must_use = "the handler is removed when the guard is dropped"]
pub struct HandlerGuard {
    remove: Option<Box<dyn FnOnce() + Send + Sync>>,
}

impl Drop for HandlerGuard {
    fn drop(&mut self) {
        if let Some(remove) = self.remove.take() {
            remove();
        }
    }
}

impl<K> Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static,
{
    /// The reflector store (read-only view).
    pub fn store(&self) -> &Store<K> {
        &self.store
    }

    /// Every cached object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.store.state()
    }

    /// Cached objects passing `filter`.
    pub fn list_filter(&self, filter: impl Fn(&K) -> bool) -> Vec<Arc<K>> {
        self.store.state_filter(|o| filter(o))
    }

    /// Cached objects in `namespace`.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.store.state_filter(|o| o.meta().namespace.as_deref().unwrap_or("") == namespace)
    }

    /// One cached object (`namespace` empty for cluster-scoped kinds).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        let mut r = ObjectRef::<K>::new(name);
        if !namespace.is_empty() {
            r = r.within(namespace);
        }
        self.store.get(&r)
    }

    /// Waits until the first list has landed in the store
    /// (upstream `WaitForCacheSync`).
    pub async fn wait_synced(&self) -> anyhow::Result<()> {
        self.store
            .wait_until_ready()
            .await
            .map_err(|_| anyhow::anyhow!("informer for {} stopped before syncing", K::kind(&())))
    }

    /// Registers `handler`; it first sees every cached object. Keep the
    /// guard for as long as the handler should run.
    pub fn add_handler(&self, handler: impl Fn(&Change<K>) + Send + Sync + 'static) -> HandlerGuard {
        let handler: Handler<K> = Arc::new(handler);
        let id = self.handlers.next.fetch_add(1, Ordering::Relaxed);
        {
            let mut map = self.handlers.map.write().unwrap_or_else(|e| e.into_inner());
            for obj in self.store.state() {
                handler(&Change::Applied { old: None, new: obj });
            }
            map.insert(id, handler);
        }
        let handlers = self.handlers.clone();
        HandlerGuard {
            remove: Some(Box::new(move || {
                handlers.map.write().unwrap_or_else(|e| e.into_inner()).remove(&id);
            })),
        }
    }

    fn dispatch(handlers: &Handlers<K>, change: &Change<K>) {
        let map = handlers.map.read().unwrap_or_else(|e| e.into_inner());
        for handler in map.values() {
            handler(change);
        }
    }
}

fn start<K>(client: kube::Client) -> Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let (store, mut writer) = reflector::store::<K>();
    let handlers = Arc::new(Handlers { next: AtomicU64::new(0), map: RwLock::new(BTreeMap::new()) });
    let informer = Informer { store: store.clone(), handlers: handlers.clone() };
    let api: Api<K> = Api::all(client);
    tokio::spawn(async move {
        let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        let mut relisted: Vec<K> = Vec::new();
        while let Some(event) = stream.next().await {
            let event = match event {
                Ok(e) => e,
                Err(err) => {
                    tracing::warn!(kind = K::kind(&()).as_ref(), error = %err, "watch failed; retrying");
                    continue;
                }
            };
            match &event {
                watcher::Event::Apply(obj) => {
                    let old = store.get(&ObjectRef::from_obj(obj));
                    writer.apply_watcher_event(&event);
                    Informer::dispatch(&handlers, &Change::Applied { old, new: Arc::new(obj.clone()) });
                }
                watcher::Event::Delete(obj) => {
                    writer.apply_watcher_event(&event);
                    Informer::dispatch(&handlers, &Change::Deleted(Arc::new(obj.clone())));
                }
                watcher::Event::Init => {
                    relisted.clear();
                    writer.apply_watcher_event(&event);
                }
                watcher::Event::InitApply(obj) => {
                    relisted.push(obj.clone());
                    writer.apply_watcher_event(&event);
                }
                watcher::Event::InitDone => {
                    let before: HashMap<ObjectRef<K>, Arc<K>> =
                        store.state().into_iter().map(|o| (ObjectRef::from_obj(&*o), o)).collect();
                    writer.apply_watcher_event(&event);
                    let mut seen = std::collections::HashSet::new();
                    for obj in relisted.drain(..) {
                        let r = ObjectRef::from_obj(&obj);
                        let old = before.get(&r).cloned();
                        seen.insert(r);
                        Informer::dispatch(&handlers, &Change::Applied { old, new: Arc::new(obj) });
                    }
                    for (r, obj) in before {
                        if !seen.contains(&r) {
                            Informer::dispatch(&handlers, &Change::Deleted(obj));
                        }
                    }
                }
            }
        }
    });
    informer
}

/// The process-wide informer factory; clone freely.
#[derive(Clone)]
pub struct Informers {
    client: kube::Client,
    map: Arc<Mutex<HashMap<TypeId, Box<dyn Any + Send + Sync>>>>,
}

impl Informers {
    pub fn new(client: kube::Client) -> Informers {
        Informers { client, map: Arc::default() }
    }

    /// The informer for `K`, started (one cluster-wide watch) on first use.
    pub fn get<K>(&self) -> Informer<K>
    where
        K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
    {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(existing) = map.get(&TypeId::of::<K>()).and_then(|b| b.downcast_ref::<Informer<K>>()) {
            return existing.clone();
        }
        let informer = start::<K>(self.client.clone());
        map.insert(TypeId::of::<K>(), Box::new(informer.clone()));
        informer
    }
}
