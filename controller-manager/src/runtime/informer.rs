//! Shared informers: one watch (kube-rs `watcher`) per resource type for the
//! whole process, as upstream's `SharedInformerFactory`, feeding one cache
//! that every controller reads and fanning every change out to the handlers
//! that controllers register. Handlers only enqueue keys; reconcilers read
//! the cache.
//!
//! Memory: each object is held once, as an `Arc` shared by the cache and
//! the change feed, indexed by namespace (so `list_namespace` does not scan
//! other namespaces). Before an object is stored, [`strip`] drops what no
//! controller reads (`metadata.managedFields`, as upstream's
//! kube-controller-manager's informer transform; see [`super::transform`]).
//! Pods are watched as [`super::cached_pod::CachedPod`], which decodes only
//! the fields controllers read: `Informers::get::<CachedPod>()` is the pod
//! informer (no controller watches the full `k8s_openapi` `Pod`).
//!
//! A handler registered late first receives every object already in the
//! cache (as `Applied { old: None, .. }`), as upstream's late
//! `AddEventHandler` does. After a re-list, objects that vanished while the
//! watch was down are reported as `Deleted`, so no deletion goes unnoticed.

use std::any::{Any, TypeId};
use std::collections::{BTreeMap, HashMap};
use std::fmt::Debug;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use futures::StreamExt;
use kube::runtime::watcher;
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use serde::de::DeserializeOwned;

use super::transform::strip;

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

/// Objects by namespace (empty for cluster-scoped kinds), then by name.
type Objects<K> = HashMap<String, HashMap<String, Arc<K>>>;

/// The cache proper.
struct Cache<K> {
    objects: RwLock<Objects<K>>,
    /// Becomes true once the first list has landed.
    synced: tokio::sync::watch::Sender<bool>,
}

impl<K: Resource> Cache<K> {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, Objects<K>> {
        self.objects.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Objects<K>> {
        self.objects.write().unwrap_or_else(|e| e.into_inner())
    }
}

/// The namespace and name an object is cached under.
fn key_of<K: Resource>(obj: &K) -> (String, String) {
    let meta = obj.meta();
    (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
}

/// Inserts `obj`, returning the previous state.
fn insert<K: Resource>(objects: &mut Objects<K>, obj: Arc<K>) -> Option<Arc<K>> {
    let (ns, name) = key_of(&*obj);
    objects.entry(ns).or_default().insert(name, obj)
}

/// Removes the object cached under `obj`'s key, returning it.
fn remove<K: Resource>(objects: &mut Objects<K>, obj: &K) -> Option<Arc<K>> {
    let (ns, name) = key_of(obj);
    let names = objects.get_mut(&ns)?;
    let removed = names.remove(&name);
    if names.is_empty() {
        objects.remove(&ns);
    }
    removed
}

/// A shared, read-only cache of one resource type plus its change feed.
pub struct Informer<K: Resource<DynamicType = ()> + 'static> {
    cache: Arc<Cache<K>>,
    handlers: Arc<Handlers<K>>,
}

impl<K: Resource<DynamicType = ()> + 'static> Clone for Informer<K> {
    fn clone(&self) -> Self {
        Informer { cache: self.cache.clone(), handlers: self.handlers.clone() }
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
    K: Resource<DynamicType = ()> + Send + Sync + 'static,
{
    fn empty() -> Informer<K> {
        let (synced, _) = tokio::sync::watch::channel(false);
        Informer {
            cache: Arc::new(Cache { objects: RwLock::new(HashMap::new()), synced }),
            handlers: Arc::new(Handlers { next: AtomicU64::new(0), map: RwLock::new(BTreeMap::new()) }),
        }
    }

    /// Every cached object.
    pub fn list(&self) -> Vec<Arc<K>> {
        self.cache.read().values().flat_map(|names| names.values().cloned()).collect()
    }

    /// Cached objects passing `filter`.
    pub fn list_filter(&self, filter: impl Fn(&K) -> bool) -> Vec<Arc<K>> {
        self.cache.read().values().flat_map(|names| names.values()).filter(|o| filter(o)).cloned().collect()
    }

    /// Cached objects in `namespace`.
    pub fn list_namespace(&self, namespace: &str) -> Vec<Arc<K>> {
        self.cache.read().get(namespace).map(|names| names.values().cloned().collect()).unwrap_or_default()
    }

    /// One cached object (`namespace` empty for cluster-scoped kinds).
    pub fn get(&self, namespace: &str, name: &str) -> Option<Arc<K>> {
        self.cache.read().get(namespace)?.get(name).cloned()
    }

    /// Whether the first list has landed.
    pub fn is_synced(&self) -> bool {
        *self.cache.synced.borrow()
    }

    /// Waits until the first list has landed in the cache
    /// (upstream `WaitForCacheSync`).
    pub async fn wait_synced(&self) -> anyhow::Result<()> {
        let mut rx = self.cache.synced.subscribe();
        rx.wait_for(|synced| *synced)
            .await
            .map(|_| ())
            .map_err(|_| anyhow::anyhow!("informer for {} stopped before syncing", K::kind(&())))
    }

    /// Registers `handler`; it first sees every cached object. Keep the
    /// guard for as long as the handler should run.
    pub fn add_handler(&self, handler: impl Fn(&Change<K>) + Send + Sync + 'static) -> HandlerGuard {
        let handler: Handler<K> = Arc::new(handler);
        let id = self.handlers.next.fetch_add(1, Ordering::Relaxed);
        {
            // Holding the handler map's write lock while replaying keeps a
            // concurrent change from reaching the handler before its replay.
            let mut map = self.handlers.map.write().unwrap_or_else(|e| e.into_inner());
            for obj in self.list() {
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

    fn dispatch(&self, change: &Change<K>) {
        let map = self.handlers.map.read().unwrap_or_else(|e| e.into_inner());
        for handler in map.values() {
            handler(change);
        }
    }

    /// An added or updated object (from the watch).
    fn apply(&self, obj: K) {
        let new = Arc::new(strip(obj));
        let old = insert(&mut self.cache.write(), new.clone());
        self.dispatch(&Change::Applied { old, new });
    }

    /// A deleted object (from the watch).
    fn delete(&self, obj: K) {
        let removed = remove(&mut self.cache.write(), &obj);
        self.dispatch(&Change::Deleted(removed.unwrap_or_else(|| Arc::new(strip(obj)))));
    }

    /// A complete (re-)list: replaces the cache, then reports every listed
    /// object as applied and every vanished one as deleted.
    fn replace(&self, listed: Objects<K>) {
        let before = std::mem::replace(&mut *self.cache.write(), listed.clone());
        self.cache.synced.send_replace(true);
        let mut before = before;
        for (ns, names) in listed {
            for (name, new) in names {
                let old = before.get_mut(&ns).and_then(|b| b.remove(&name));
                self.dispatch(&Change::Applied { old, new });
            }
        }
        for obj in before.into_values().flat_map(HashMap::into_values) {
            self.dispatch(&Change::Deleted(obj));
        }
    }
}

fn start<K>(client: kube::Client) -> Informer<K>
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + Debug + Send + Sync + 'static,
{
    let informer = Informer::<K>::empty();
    let feed = informer.clone();
    let api: Api<K> = Api::all(client);
    tokio::spawn(async move {
        let stream = watcher::watcher(api, watcher::Config::default()).default_backoff();
        futures::pin_mut!(stream);
        // Objects of a re-list in progress.
        let mut relisted: Objects<K> = HashMap::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(obj)) => feed.apply(obj),
                Ok(watcher::Event::Delete(obj)) => feed.delete(obj),
                Ok(watcher::Event::Init) => relisted.clear(),
                Ok(watcher::Event::InitApply(obj)) => {
                    insert(&mut relisted, Arc::new(strip(obj)));
                }
                Ok(watcher::Event::InitDone) => feed.replace(std::mem::take(&mut relisted)),
                Err(err) => {
                    tracing::warn!(kind = K::kind(&()).as_ref(), error = %err, "watch failed; retrying");
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

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta};

    fn pod(ns: &str, name: &str, rv: &str) -> Pod {
        Pod {
            metadata: ObjectMeta {
                namespace: Some(ns.into()),
                name: Some(name.into()),
                resource_version: Some(rv.into()),
                managed_fields: Some(vec![ManagedFieldsEntry { manager: Some("kubelet".into()), ..Default::default() }]),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    fn recorder(informer: &Informer<Pod>) -> (Arc<Mutex<Vec<String>>>, HandlerGuard) {
        let seen = Arc::new(Mutex::new(Vec::new()));
        let guard = informer.add_handler({
            let seen = seen.clone();
            move |c| {
                let describe = |p: &Pod| format!("{}@{}", p.metadata.name.as_deref().unwrap_or(""), p.metadata.resource_version.as_deref().unwrap_or(""));
                let line = match c {
                    Change::Applied { old: None, new } => format!("add {}", describe(new)),
                    Change::Applied { old: Some(old), new } => format!("update {} -> {}", describe(old), describe(new)),
                    Change::Deleted(obj) => format!("delete {}", describe(obj)),
                };
                seen.lock().unwrap_or_else(|e| e.into_inner()).push(line);
            }
        });
        (seen, guard)
    }

    #[tokio::test]
    async fn caches_stripped_objects_and_reports_changes() {
        let informer = Informer::<Pod>::empty();
        assert!(!informer.is_synced());
        let (seen, _guard) = recorder(&informer);
        let mut listed = HashMap::new();
        insert(&mut listed, Arc::new(strip(pod("a", "p1", "1"))));
        insert(&mut listed, Arc::new(strip(pod("b", "p2", "1"))));
        informer.replace(listed);
        informer.wait_synced().await.unwrap_or_else(|e| panic!("{e}"));
        informer.apply(pod("a", "p1", "2"));
        informer.apply(pod("a", "p3", "1"));
        informer.delete(pod("b", "p2", "1"));
        let cached = informer.get("a", "p1").unwrap_or_else(|| panic!("p1 cached"));
        assert_eq!(cached.metadata.resource_version.as_deref(), Some("2"));
        assert!(cached.metadata.managed_fields.is_none());
        assert_eq!(informer.list_namespace("a").len(), 2);
        assert!(informer.list_namespace("b").is_empty());
        assert_eq!(informer.list().len(), 2);
        let mut lines = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        lines[..2].sort();
        assert_eq!(lines, ["add p1@1", "add p2@1", "update p1@1 -> p1@2", "add p3@1", "delete p2@1"]);
    }

    #[tokio::test]
    async fn relist_reports_vanished_objects_and_late_handlers_replay() {
        let informer = Informer::<Pod>::empty();
        informer.apply(pod("a", "p1", "1"));
        informer.apply(pod("a", "p2", "1"));
        let (seen, _guard) = recorder(&informer);
        let mut listed = HashMap::new();
        insert(&mut listed, Arc::new(strip(pod("a", "p1", "5"))));
        informer.replace(listed);
        let mut lines = seen.lock().unwrap_or_else(|e| e.into_inner()).clone();
        lines[..2].sort();
        assert_eq!(lines, ["add p1@1", "add p2@1", "update p1@1 -> p1@5", "delete p2@1"]);
        assert!(informer.get("a", "p2").is_none());
    }
}
