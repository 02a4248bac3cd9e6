//! The garbage collector (`garbage-collector`): deletes objects whose
//! owners are gone and carries out the `orphan` and `foregroundDeletion`
//! finalizers the apiserver adds for `propagationPolicy` Orphan and
//! Foreground (see [`graph`] for the semantics).
//!
//! Shell: discovery (re-run every 30 s so new CRDs are picked up) starts one
//! metadata-only watch ([`meta_object::MetaObject`]) per deletable resource (events excepted); every
//! change updates the [`graph::Graph`] and enqueues [`graph::Work`]; workers
//! classify owners (from the graph, or a live GET for owners it has not
//! seen) and act through the API with uid and resourceVersion
//! preconditions.
//!
//! Memory: the graph holds every object in the cluster, so a node is kept
//! small: strings many objects repeat (API version, kind, namespace, owner
//! names and uids) are shared through the graph's [`graph::Interner`], and
//! an object's uid is one `Arc<str>` shared by its node, the node map's
//! key, the dependents index and the monitor's set of known uids.

pub mod discovery;
pub mod graph;
pub mod meta_object;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use anyhow::Context;
use futures::StreamExt;
use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, Preconditions};
use kube::runtime::{watcher, WatchStreamExt};
use kube::Api;
use serde_json::json;

use self::discovery::{DiscoveredResource, Resources};
use self::meta_object::MetaObject;
use self::graph::{decide, foreground_step, Decision, ForegroundStep, Graph, Identity, Node, Owner, OwnerState, Work};
use crate::controllers::Ctx;
use crate::runtime::queue::WorkQueue;
use crate::runtime::worker::run_workers;

const NAME: &str = "garbage-collector";
const RESYNC_DISCOVERY: Duration = Duration::from_secs(30);

impl fmt::Display for Work {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Work::AttemptToDelete(uid) => write!(f, "delete?{uid}"),
            Work::AttemptToOrphan(uid) => write!(f, "orphan?{uid}"),
        }
    }
}

struct Collector {
    client: kube::Client,
    graph: Mutex<Graph>,
    resources: RwLock<Resources>,
    queue: WorkQueue<Work>,
}

impl Collector {
    fn graph(&self) -> std::sync::MutexGuard<'_, Graph> {
        self.graph.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn resources(&self) -> Resources {
        self.resources.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    fn enqueue(&self, work: Vec<Work>) {
        for w in work {
            self.queue.add(w);
        }
    }

    fn api_for(&self, api_version: &str, kind: &str, namespace: Option<&str>) -> Option<(Api<DynamicObject>, DiscoveredResource)> {
        let resources = self.resources.read().unwrap_or_else(|e| e.into_inner());
        let r = resources.for_kind(api_version, kind)?.clone();
        let api = match (r.namespaced, namespace) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &r.resource),
            (true, None) => return None,
            (false, _) => Api::all_with(self.client.clone(), &r.resource),
        };
        Some((api, r))
    }

    async fn process(self: Arc<Self>, work: Work) -> crate::runtime::worker::SyncResult {
        match work {
            Work::AttemptToDelete(uid) => self.attempt_to_delete(&uid).await,
            Work::AttemptToOrphan(uid) => self.attempt_to_orphan(&uid).await,
        }
    }

    async fn attempt_to_delete(&self, uid: &str) -> crate::runtime::worker::SyncResult {
        let Some(node) = self.graph().node(uid).cloned() else { return Ok(None) };
        if node.deleting_dependents() {
            let step = foreground_step(&self.graph(), uid);
            return match step {
                ForegroundStep::RemoveFinalizer => {
                    self.remove_finalizer(&node.identity, graph::FINALIZER_FOREGROUND).await?;
                    Ok(None)
                }
                ForegroundStep::DeleteDependents(deps) => {
                    self.enqueue(deps.into_iter().map(Work::AttemptToDelete).collect());
                    Ok(Some(Duration::from_secs(15)))
                }
                ForegroundStep::Wait => Ok(Some(Duration::from_secs(15))),
            };
        }
        if node.deleting || node.owners.is_empty() {
            return Ok(None);
        }
        let mut states = Vec::new();
        for owner in &node.owners {
            states.push((owner.clone(), self.classify(&node, owner).await?));
        }
        let has_dependents = !self.graph().dependents(uid).is_empty();
        match decide(&node, &states, has_dependents) {
            Decision::Keep => Ok(None),
            Decision::RemoveOwnerReferences(uids) => {
                tracing::info!(object = %describe(&node.identity), owners = ?uids, "removing dangling owner references");
                self.patch_owner_references(&node.identity, &uids).await?;
                Ok(None)
            }
            Decision::Delete(policy) => {
                tracing::info!(object = %describe(&node.identity), propagation = policy.as_str(), "deleting object whose owners are gone");
                let Some((api, _)) = self.api_for(&node.identity.api_version, &node.identity.kind, node.identity.namespace.as_deref()) else {
                    anyhow::bail!("no resource for {}", describe(&node.identity));
                };
                let dp = DeleteParams {
                    propagation_policy: Some(match policy {
                        graph::Propagation::Orphan => kube::api::PropagationPolicy::Orphan,
                        graph::Propagation::Background => kube::api::PropagationPolicy::Background,
                        graph::Propagation::Foreground => kube::api::PropagationPolicy::Foreground,
                    }),
                    preconditions: Some(Preconditions { uid: Some(node.identity.uid.to_string()), resource_version: None }),
                    ..DeleteParams::default()
                };
                match api.delete(&node.identity.name, &dp).await {
                    Ok(_) => Ok(None),
                    Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => Ok(None),
                    Err(e) => Err(e).with_context(|| format!("deleting {}", describe(&node.identity))),
                }
            }
        }
    }

    /// Classify one owner reference: from the graph when the owner was
    /// observed, otherwise with a live GET (upstream verifies "virtual"
    /// owners the same way).
    async fn classify(&self, dependent: &Node, owner: &Owner) -> anyhow::Result<OwnerState> {
        if let Some(o) = self.graph().node(&owner.uid) {
            return Ok(if o.deleting_dependents() { OwnerState::WaitingForDependentsDeletion } else { OwnerState::Solid });
        }
        let resources = self.resources();
        let Some(r) = resources.for_kind(&owner.api_version, &owner.kind) else {
            // Unknown kind: keep the object (upstream retries the REST mapping).
            tracing::debug!(kind = %owner.kind, api_version = %owner.api_version, "owner kind not served; keeping dependent");
            return Ok(OwnerState::Solid);
        };
        let api: Api<DynamicObject> = match (r.namespaced, dependent.identity.namespace.as_deref()) {
            (true, Some(ns)) => Api::namespaced_with(self.client.clone(), ns, &r.resource),
            // A cluster-scoped dependent cannot have a namespaced owner.
            (true, None) => return Ok(OwnerState::Dangling),
            (false, _) => Api::all_with(self.client.clone(), &r.resource),
        };
        match api.get_opt(&owner.name).await.with_context(|| format!("getting owner {} {}", owner.kind, owner.name))? {
            None => Ok(OwnerState::Dangling),
            Some(obj) if obj.metadata.uid.as_deref() != Some(&*owner.uid) => Ok(OwnerState::Dangling),
            Some(obj) => {
                let deleting = obj.metadata.deletion_timestamp.is_some();
                let fg = obj.metadata.finalizers.iter().flatten().any(|f| f == graph::FINALIZER_FOREGROUND);
                Ok(if deleting && fg { OwnerState::WaitingForDependentsDeletion } else { OwnerState::Solid })
            }
        }
    }

    async fn attempt_to_orphan(&self, uid: &str) -> crate::runtime::worker::SyncResult {
        let Some(owner) = self.graph().node(uid).cloned() else { return Ok(None) };
        if !owner.orphaning() {
            return Ok(None);
        }
        let dependents: Vec<Identity> = self.graph().dependents(uid).into_iter().map(|d| d.identity.clone()).collect();
        for dep in &dependents {
            tracing::info!(object = %describe(dep), owner = %describe(&owner.identity), "orphaning dependent");
            self.patch_owner_references(dep, &[uid.to_string()]).await?;
        }
        self.remove_finalizer(&owner.identity, graph::FINALIZER_ORPHAN).await?;
        Ok(None)
    }

    /// Drops references to `uids` from the object, re-reading it first and
    /// patching with its resourceVersion as precondition.
    async fn patch_owner_references(&self, id: &Identity, uids: &[String]) -> anyhow::Result<()> {
        let Some((api, _)) = self.api_for(&id.api_version, &id.kind, id.namespace.as_deref()) else {
            anyhow::bail!("no resource for {}", describe(id));
        };
        let Some(current) = api.get_opt(&id.name).await.with_context(|| format!("getting {}", describe(id)))? else { return Ok(()) };
        if current.metadata.uid.as_deref() != Some(&*id.uid) {
            return Ok(());
        }
        let owners = current.metadata.owner_references.clone().unwrap_or_default();
        let remaining = graph::without_owners(&owners, uids);
        if remaining.len() == owners.len() {
            return Ok(());
        }
        let patch = json!({"metadata": {
            "ownerReferences": if remaining.is_empty() { serde_json::Value::Null } else { serde_json::to_value(&remaining)? },
            "resourceVersion": current.metadata.resource_version,
            "uid": &*id.uid,
        }});
        match api.patch(&id.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing owner references from {}", describe(id))),
        }
    }

    async fn remove_finalizer(&self, id: &Identity, finalizer: &str) -> anyhow::Result<()> {
        let Some((api, _)) = self.api_for(&id.api_version, &id.kind, id.namespace.as_deref()) else {
            anyhow::bail!("no resource for {}", describe(id));
        };
        let Some(current) = api.get_opt(&id.name).await.with_context(|| format!("getting {}", describe(id)))? else { return Ok(()) };
        let finalizers = current.metadata.finalizers.clone().unwrap_or_default();
        if current.metadata.uid.as_deref() != Some(&*id.uid) || !finalizers.iter().any(|f| f == finalizer) {
            return Ok(());
        }
        let rest = graph::without_finalizer(&finalizers, finalizer);
        let patch = json!({"metadata": {
            "finalizers": if rest.is_empty() { serde_json::Value::Null } else { json!(rest) },
            "resourceVersion": current.metadata.resource_version,
        }});
        tracing::info!(object = %describe(id), finalizer, "removing finalizer");
        match api.patch(&id.name, &PatchParams::default(), &Patch::Merge(&patch)).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(e)) if e.code == 404 => Ok(()),
            Err(e) => Err(e).with_context(|| format!("removing finalizer {finalizer} from {}", describe(id))),
        }
    }
}

fn describe(id: &Identity) -> String {
    match &id.namespace {
        Some(ns) => format!("{} {}/{} ({})", id.kind, ns, id.name, id.uid),
        None => format!("{} {} ({})", id.kind, id.name, id.uid),
    }
}

/// The graph node for a watched object, its shared strings taken from the
/// graph (call with the graph locked).
fn node_of(graph: &mut Graph, r: &DiscoveredResource, obj: MetaObject) -> Option<Node> {
    let meta = obj.metadata;
    let strings = &mut graph.strings;
    Some(Node {
        identity: Identity {
            api_version: strings.get(&r.resource.api_version),
            kind: strings.get(&r.resource.kind),
            namespace: meta.namespace.as_deref().map(|ns| strings.get(ns)),
            name: meta.name?.into_boxed_str(),
            uid: Arc::from(meta.uid?),
        },
        owners: meta.owner_references.iter().flatten().map(|o| strings.owner(o)).collect(),
        deleting: meta.deletion_timestamp.is_some(),
        finalizers: meta.finalizers.map(|mut f| {
            f.shrink_to_fit();
            f
        }).unwrap_or_default(),
    })
}

/// Adds or updates `obj` in the graph and queues the work it triggers;
/// returns its uid (shared with the graph) for the monitor's bookkeeping.
fn observe(gc: &Collector, r: &DiscoveredResource, obj: MetaObject) -> Option<Arc<str>> {
    let (uid, work) = {
        let mut graph = gc.graph();
        let node = node_of(&mut graph, r, obj)?;
        let uid = node.identity.uid.clone();
        (uid, graph.observe(node))
    };
    gc.enqueue(work);
    Some(uid)
}

/// One watch feeding the graph. `synced` is signalled after the first list.
async fn monitor(gc: Arc<Collector>, r: DiscoveredResource, synced: tokio::sync::mpsc::Sender<()>) {
    let api: Api<MetaObject> = Api::all_with(gc.client.clone(), &r.resource);
    let mut stream = watcher::watcher(api, watcher::Config::default()).default_backoff().boxed();
    // Uids of this resource's objects (shared with the graph's nodes).
    let mut known: HashSet<Arc<str>> = HashSet::new();
    let mut relist: HashSet<Arc<str>> = HashSet::new();
    let mut signalled = false;
    while let Some(event) = stream.next().await {
        match event {
            Ok(watcher::Event::Init) => relist.clear(),
            Ok(watcher::Event::InitApply(obj)) => {
                if let Some(uid) = observe(&gc, &r, obj) {
                    relist.insert(uid.clone());
                    known.insert(uid);
                }
            }
            Ok(watcher::Event::InitDone) => {
                let gone: Vec<Arc<str>> = known.difference(&relist).cloned().collect();
                relist.clear();
                relist.shrink_to_fit();
                for uid in gone {
                    known.remove(&uid);
                    let work = gc.graph().forget(&uid);
                    gc.enqueue(work);
                }
                if !signalled {
                    signalled = true;
                    let _ = synced.send(()).await;
                }
            }
            Ok(watcher::Event::Apply(obj)) => {
                if let Some(uid) = observe(&gc, &r, obj) {
                    known.insert(uid);
                }
            }
            Ok(watcher::Event::Delete(obj)) => {
                if let Some(uid) = obj.metadata.uid.as_deref() {
                    known.remove(uid);
                    let work = gc.graph().forget(uid);
                    gc.enqueue(work);
                }
            }
            Err(err) => tracing::warn!(resource = %r.group_resource(), error = %err, "garbage collector watch failed; retrying"),
        }
    }
}

/// Starts monitors for newly discovered resources (and stops those whose
/// resource went away). Returns how many were started.
fn sync_monitors(
    gc: &Arc<Collector>,
    monitors: &mut HashMap<String, tokio::task::JoinHandle<()>>,
    synced: &tokio::sync::mpsc::Sender<()>,
) -> usize {
    let resources = gc.resources();
    let wanted: HashMap<String, DiscoveredResource> = resources
        .deletable()
        .filter(|r| !discovery::ignored_by_gc(&r.resource.group, &r.resource.plural))
        .map(|r| (format!("{}/{}", r.resource.api_version, r.resource.plural), r.clone()))
        .collect();
    monitors.retain(|key, handle| {
        let keep = wanted.contains_key(key);
        if !keep {
            handle.abort();
        }
        keep
    });
    let mut started = 0;
    for (key, r) in wanted {
        if monitors.contains_key(&key) {
            continue;
        }
        started += 1;
        monitors.insert(key, tokio::spawn(monitor(gc.clone(), r, synced.clone())));
    }
    started
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let resources = discovery::discover(&ctx.client).await?;
    let gc = Arc::new(Collector {
        client: ctx.client.clone(),
        graph: Mutex::new(Graph::default()),
        resources: RwLock::new(resources),
        queue: WorkQueue::new(),
    });
    let (synced_tx, mut synced_rx) = tokio::sync::mpsc::channel(1024);
    let mut monitors = HashMap::new();
    let started = sync_monitors(&gc, &mut monitors, &synced_tx);
    // Wait for the first list of every resource (upstream waits for the
    // graph to sync) so owners are known before dependents are judged.
    let wait = async {
        for _ in 0..started {
            if synced_rx.recv().await.is_none() {
                break;
            }
        }
    };
    if tokio::time::timeout(Duration::from_secs(60), wait).await.is_err() {
        tracing::warn!("garbage collector: not every resource synced within 60 s; starting anyway");
    }
    tracing::info!(resources = monitors.len(), objects = gc.graph().len(), "garbage collector synced");
    let rediscover = {
        let gc = gc.clone();
        async move {
            loop {
                tokio::time::sleep(RESYNC_DISCOVERY).await;
                while synced_rx.try_recv().is_ok() {}
                match discovery::discover(&gc.client).await {
                    Ok(resources) => {
                        *gc.resources.write().unwrap_or_else(|e| e.into_inner()) = resources;
                        let n = sync_monitors(&gc, &mut monitors, &synced_tx);
                        if n > 0 {
                            tracing::info!(started = n, "garbage collector: watching newly discovered resources");
                        }
                    }
                    Err(err) => tracing::warn!(error = format!("{err:#}"), "garbage collector: discovery failed"),
                }
            }
        }
    };
    let workers = {
        let gc = gc.clone();
        run_workers(NAME, gc.queue.clone(), ctx.settings.concurrent_syncs.max(1) * 4, move |w| gc.clone().process(w))
    };
    tokio::join!(rediscover, workers);
    Ok(())
}
