//! The scheduler shell: informers feed one loop that owns the cache, the
//! queue and the snapshot; each popped pod goes through one scheduling cycle
//! (synchronous, over the snapshot) and, when a node is found, is assumed in
//! the cache and bound in a spawned task (PreBind + Bind) while the loop
//! moves on. Binding results come back through the same channel as watch
//! events, so all state changes happen on the loop.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, Node, PersistentVolume, PersistentVolumeClaim, Pod, ReplicationController, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::reflector::{self, store::Writer};
use kube::runtime::watcher::{self, Event};
use kube::runtime::WatchStreamExt;
use kube::{Api, Resource};
use tokio::sync::{mpsc, Semaphore};
use tracing::Instrument;

use crate::algorithm::{schedule_pod, ScheduleError, SearchState};
use crate::cache::{Cache, Snapshot};
use crate::config::Config;
use crate::events::scheduled_message;
use crate::framework::{Code, CycleState, Framework, Status};
use crate::listers::{self, Listers};
use crate::plugins::in_tree_registry;
use crate::podinfo::{pod_key, PodInfo};
use crate::queue::{ClusterEvent, QueuedPod, SchedulingQueue};
use crate::recorder::{PodRef, Recorder};
use crate::strip::{strip_node, strip_object, strip_pod};

/// How many binding requests may be in flight at once. kube-rs speaks
/// HTTP/1.1, so each one in flight is a connection of its own: a few dozen
/// keep the API server busy without a connection (and TLS handshake) per
/// pod during a burst.
const MAX_CONCURRENT_BINDINGS: usize = 64;
/// Assumed pods whose binding has not finished, beyond which the loop stops
/// popping pods until bindings complete: each holds its cycle state, so this
/// bounds memory when the API server falls behind.
const MAX_PENDING_BINDINGS: usize = 1024;

enum Msg {
    Node(Box<Event<Node>>),
    Pod(Box<Event<Pod>>),
    Cluster(ClusterEvent),
    Bound(Box<BindOutcome>),
}

struct BindOutcome {
    key: String,
    pod: Arc<Pod>,
    node: String,
    profile: String,
    state: CycleState,
    status: Status,
}

/// Everything the loop owns.
struct Scheduler {
    frameworks: HashMap<String, Arc<Framework>>,
    global_pct: Option<i32>,
    cache: Cache,
    queue: SchedulingQueue,
    snapshot: Snapshot,
    search: SearchState,
    /// Unassigned pods of our profiles that exist (per the informer).
    unassigned: HashSet<String>,
    nominated_version: u64,
    recorder: Recorder,
    tx: mpsc::UnboundedSender<Msg>,
    bind_slots: Arc<Semaphore>,
    /// Bindings spawned whose outcome has not come back yet.
    pending_bindings: usize,
    relist_nodes: Option<HashSet<String>>,
    relist_pods: Option<HashSet<String>>,
    nodes_synced: bool,
    pods_synced: bool,
}

fn node_changed(old: &Node, new: &Node) -> bool {
    let conds = |n: &Node| -> Vec<(String, String)> {
        n.status.as_ref().and_then(|s| s.conditions.as_ref()).into_iter().flatten().map(|c| (c.type_.clone(), c.status.clone())).collect()
    };
    old.metadata.labels != new.metadata.labels
        || old.metadata.annotations != new.metadata.annotations
        || old.spec.as_ref().map(|s| (&s.taints, s.unschedulable)) != new.spec.as_ref().map(|s| (&s.taints, s.unschedulable))
        || old.status.as_ref().map(|s| &s.allocatable) != new.status.as_ref().map(|s| &s.allocatable)
        || conds(old) != conds(new)
}

fn is_terminal(pod: &Pod) -> bool {
    matches!(pod.status.as_ref().and_then(|s| s.phase.as_deref()), Some("Succeeded" | "Failed"))
}

fn assigned(pod: &Pod) -> bool {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty())
}

fn scheduler_name(pod: &Pod) -> &str {
    pod.spec.as_ref().and_then(|s| s.scheduler_name.as_deref()).unwrap_or(crate::config::DEFAULT_SCHEDULER_NAME)
}

impl Scheduler {
    fn handle(&mut self, msg: Msg) {
        let now = Instant::now();
        match msg {
            Msg::Node(ev) => self.on_node(*ev, now),
            Msg::Pod(ev) => self.on_pod(*ev, now),
            Msg::Cluster(e) => self.queue.move_on_event(e, now),
            Msg::Bound(outcome) => self.on_bound(*outcome, now),
        }
    }

    fn on_node(&mut self, ev: Event<Node>, now: Instant) {
        match ev {
            Event::Init => self.relist_nodes = Some(HashSet::new()),
            Event::InitApply(n) | Event::Apply(n) => {
                let Some(name) = n.metadata.name.clone() else { return };
                if let Some(seen) = self.relist_nodes.as_mut() {
                    seen.insert(name.clone());
                }
                let event = match self.cache.node(&name) {
                    None => Some(ClusterEvent::NodeAdd),
                    Some(old) if node_changed(&old.node, &n) => Some(ClusterEvent::NodeUpdate),
                    Some(_) => None,
                };
                self.cache.add_or_update_node(n);
                if let Some(e) = event {
                    self.queue.move_on_event(e, now);
                }
            }
            Event::Delete(n) => {
                if let Some(name) = n.metadata.name.as_deref() {
                    self.cache.remove_node(name);
                }
            }
            Event::InitDone => {
                if let Some(seen) = self.relist_nodes.take() {
                    let gone: Vec<String> = self.snapshot_node_names().into_iter().filter(|n| !seen.contains(n)).collect();
                    for n in gone {
                        self.cache.remove_node(&n);
                    }
                }
                self.nodes_synced = true;
            }
        }
    }

    fn snapshot_node_names(&mut self) -> Vec<String> {
        self.cache.update_snapshot(&mut self.snapshot);
        self.snapshot.nodes.iter().map(|n| n.name().to_string()).collect()
    }

    fn on_pod(&mut self, ev: Event<Pod>, now: Instant) {
        match ev {
            Event::Init => self.relist_pods = Some(HashSet::new()),
            Event::InitApply(p) | Event::Apply(p) => {
                let key = pod_key(&p);
                if let Some(seen) = self.relist_pods.as_mut() {
                    seen.insert(key.clone());
                }
                if is_terminal(&p) {
                    self.forget_pod(&key, now);
                    return;
                }
                if assigned(&p) {
                    // Only the pod's record is kept from here on (the cache).
                    self.unassigned.remove(&key);
                    self.queue.delete(&key);
                    let is_new = self.cache.pod_node(&key).is_none();
                    self.cache.add_or_update_pod(&p);
                    self.queue.move_on_event(if is_new { ClusterEvent::AssignedPodAdd } else { ClusterEvent::AssignedPodUpdate }, now);
                    return;
                }
                let pod = Arc::new(p);
                if !self.frameworks.contains_key(scheduler_name(&pod)) {
                    return;
                }
                if pod.metadata.deletion_timestamp.is_some() {
                    self.unassigned.remove(&key);
                    self.queue.delete(&key);
                    return;
                }
                self.unassigned.insert(key.clone());
                // SchedulingGates (PreEnqueue): gated pods stay out of the queue.
                if pod.spec.as_ref().and_then(|s| s.scheduling_gates.as_ref()).is_some_and(|g| !g.is_empty()) {
                    self.queue.delete(&key);
                    return;
                }
                if self.cache.is_assumed(&key) {
                    // Being bound; the assigned version will follow.
                    return;
                }
                self.queue.update(pod, now);
            }
            Event::Delete(p) => {
                let key = pod_key(&p);
                self.forget_pod(&key, now);
            }
            Event::InitDone => {
                if let Some(seen) = self.relist_pods.take() {
                    let gone: Vec<String> = self.unassigned.iter().filter(|k| !seen.contains(*k)).cloned().collect();
                    for k in gone {
                        self.forget_pod(&k, now);
                    }
                }
                self.pods_synced = true;
            }
        }
    }

    fn forget_pod(&mut self, key: &str, now: Instant) {
        self.unassigned.remove(key);
        self.queue.delete(key);
        if self.cache.pod_node(key).is_some() {
            self.cache.remove_pod(key);
            self.queue.move_on_event(ClusterEvent::AssignedPodDelete, now);
        }
    }

    fn refresh_snapshot(&mut self) {
        self.cache.update_snapshot(&mut self.snapshot);
        let v = self.queue.nominated_version();
        if v != self.nominated_version {
            self.nominated_version = v;
            let by_node: HashMap<String, Vec<Arc<PodInfo>>> = self
                .queue
                .nominated_by_node()
                .into_iter()
                .map(|(n, pods)| (n, pods.into_iter().map(|p| Arc::new(PodInfo::new(p))).collect()))
                .collect();
            self.snapshot.nominated = Arc::new(by_node);
        }
    }

    /// One scheduling cycle for `qp`.
    fn schedule_one(&mut self, qp: QueuedPod) {
        let pod = qp.pod.clone();
        let key = qp.key.clone();
        let span = tracing::debug_span!("schedule", pod = %key, attempt = qp.attempts);
        let _enter = span.enter();
        let Some(fwk) = self.frameworks.get(scheduler_name(&pod)).cloned() else {
            self.queue.done(&key);
            return;
        };
        if pod.metadata.deletion_timestamp.is_some() || self.cache.pod_node(&key).is_some() {
            self.queue.done(&key);
            return;
        }
        self.refresh_snapshot();
        let info = PodInfo::new(pod.clone());
        let mut state = CycleState::new();
        let now = Instant::now();
        match schedule_pod(&fwk, &mut state, &info, &self.snapshot, &mut self.search, self.global_pct) {
            Ok(result) => {
                let host = result.suggested_host;
                self.cache.assume(info.record.clone(), &host);
                let s = fwk.run_reserve(&mut state, &info, &host, &self.snapshot);
                if !s.is_success() {
                    fwk.run_unreserve(&mut state, &info, &host);
                    self.cache.forget_pod(&key);
                    self.fail(&fwk, &qp, &s.message(), s.code != Code::Error, [s.plugin.to_string()].into(), None, now);
                    return;
                }
                let (s, wait) = fwk.run_permit(&state, &info, &host);
                if !s.is_success() && s.code != Code::Wait {
                    fwk.run_unreserve(&mut state, &info, &host);
                    self.cache.forget_pod(&key);
                    self.fail(&fwk, &qp, &s.message(), s.code != Code::Error, [s.plugin.to_string()].into(), None, now);
                    return;
                }
                self.queue.done(&key);
                tracing::debug!(node = %host, evaluated = result.evaluated_nodes, feasible = result.feasible_nodes, "assumed");
                self.spawn_binding(fwk, key, pod, host, state, if s.code == Code::Wait { Some(wait) } else { None });
            }
            Err(ScheduleError::Fit(mut fit)) => {
                let mut nominated = None;
                let (result, s) = fwk.run_post_filter(&state, &info, &self.snapshot, &fit.diagnosis.statuses);
                fit.diagnosis.post_filter_msg = s.message();
                if s.code == Code::Error {
                    tracing::warn!(error = %s.message(), "preemption failed");
                }
                if let Some(r) = result {
                    if let Some(node) = r.nominated_node_name.clone() {
                        self.recorder.preempt(&fwk.scheduler_name, &pod, &node, r.victims, r.clear_nominations);
                        nominated = Some(node);
                    }
                }
                let plugins = fit.diagnosis.unschedulable_plugins.iter().cloned().collect();
                self.fail(&fwk, &qp, &fit.message(), true, plugins, nominated, now);
            }
            Err(ScheduleError::Error(s)) => {
                let s = *s;
                self.fail(&fwk, &qp, &s.message(), false, Default::default(), None, now);
            }
        }
    }

    /// Upstream `handleSchedulingFailure`: event, condition, back to the queue.
    #[allow(clippy::too_many_arguments)]
    fn fail(
        &mut self,
        fwk: &Framework,
        qp: &QueuedPod,
        message: &str,
        rejected: bool,
        plugins: std::collections::BTreeSet<String>,
        nominated: Option<String>,
        now: Instant,
    ) {
        let reason = if rejected { "Unschedulable" } else { "SchedulerError" };
        tracing::debug!(pod = %qp.key, reason, message, "unschedulable");
        self.recorder.event(&fwk.scheduler_name, PodRef::of_pod(&qp.pod), "Warning", "FailedScheduling", "Scheduling", message.to_string());
        self.recorder.update_status(&qp.pod, reason, message, nominated.as_deref());
        let mut pod = qp.pod.clone();
        if let Some(n) = nominated {
            let mut p = (*pod).clone();
            p.status.get_or_insert_with(Default::default).nominated_node_name = Some(n);
            pod = Arc::new(p);
        }
        if self.queue.contains(&qp.key) || self.unassigned.contains(&qp.key) {
            self.queue.add_unschedulable(&qp.key, pod, plugins, !rejected, now);
        }
    }

    fn spawn_binding(&mut self, fwk: Arc<Framework>, key: String, pod: Arc<Pod>, node: String, state: CycleState, wait: Option<Duration>) {
        self.pending_bindings += 1;
        let state = fwk.binding_state(state);
        let tx = self.tx.clone();
        let slots = self.bind_slots.clone();
        let recorder = self.recorder.clone();
        let span = tracing::debug_span!("bind", pod = %key, node = %node);
        tokio::spawn(
            async move {
                let _permit = slots.acquire_owned().await;
                let status = if let Some(w) = wait {
                    // No in-tree plugin waits; nothing can allow the pod, so the wait times out.
                    tokio::time::sleep(w).await;
                    Status::unschedulable("rejected due to timeout after waiting at permit").with_plugin("Permit")
                } else {
                    let s = fwk.run_pre_bind(&state, &pod, &node).await;
                    if s.is_success() {
                        fwk.run_bind(&state, &pod, &node).await
                    } else {
                        s
                    }
                };
                if status.is_success() {
                    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
                    let name = pod.metadata.name.as_deref().unwrap_or("");
                    recorder.event(&fwk.scheduler_name, PodRef::of_pod(&pod), "Normal", "Scheduled", "Binding", scheduled_message(ns, name, &node));
                    tracing::debug!("bound");
                }
                let profile = fwk.scheduler_name.clone();
                let _ = tx.send(Msg::Bound(Box::new(BindOutcome { key, pod, node, profile, state, status })));
            }
            .instrument(span),
        );
    }

    fn on_bound(&mut self, mut o: BindOutcome, now: Instant) {
        self.pending_bindings = self.pending_bindings.saturating_sub(1);
        if o.status.is_success() {
            return;
        }
        tracing::warn!(pod = %o.key, node = %o.node, error = %o.status.message(), "binding failed");
        let Some(fwk) = self.frameworks.get(&o.profile).cloned() else { return };
        let info = PodInfo::new(o.pod.clone());
        fwk.run_unreserve(&mut o.state, &info, &o.node);
        self.cache.forget_pod(&o.key);
        self.queue.move_on_event(ClusterEvent::AssignedPodDelete, now);
        let qp = QueuedPod {
            pod: o.pod.clone(),
            key: o.key.clone(),
            timestamp: now,
            initial_attempt: Some(now),
            attempts: 1,
            unschedulable_plugins: Default::default(),
        };
        let rejected = o.status.is_rejected();
        self.fail(&fwk, &qp, &o.status.message(), rejected, Default::default(), None, now);
    }
}

/// Drives a watcher into the loop's channel.
fn spawn_watch<K>(api: Api<K>, tx: mpsc::UnboundedSender<Msg>, wrap: fn(Event<K>) -> Msg, config: watcher::Config)
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    tokio::spawn(async move {
        let mut stream = watcher(api, config).default_backoff().boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(ev) => {
                    if tx.send(wrap(ev)).is_err() {
                        return;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "watch failed; retrying"),
            }
        }
    });
}

/// A reflector for a lister; every change becomes `event` for the queue.
fn spawn_lister<K>(api: Api<K>, writer: Writer<K>, tx: mpsc::UnboundedSender<Msg>, event: ClusterEvent)
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
    K::DynamicType: Default + Eq + std::hash::Hash + Clone,
{
    tokio::spawn(async move {
        let mut stream = reflector::reflector(writer, watcher(api, watcher::Config::default()).default_backoff().modify(strip_object::<K>)).boxed();
        while let Some(ev) = stream.next().await {
            match ev {
                Ok(Event::Apply(_) | Event::Delete(_) | Event::InitDone) => {
                    if tx.send(Msg::Cluster(event)).is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "lister watch failed; retrying"),
            }
        }
    });
}

fn watcher<K>(api: Api<K>, config: watcher::Config) -> impl futures::Stream<Item = watcher::Result<Event<K>>> + Send
where
    K: Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    watcher::watcher(api, config)
}

fn start_listers(client: &kube::Client, tx: &mpsc::UnboundedSender<Msg>) -> Listers {
    let (listers, w) = listers::new();
    let c = client.clone();
    spawn_lister(Api::<PersistentVolumeClaim>::all(c.clone()), w.pvcs, tx.clone(), ClusterEvent::Storage);
    spawn_lister(Api::<PersistentVolume>::all(c.clone()), w.pvs, tx.clone(), ClusterEvent::Storage);
    spawn_lister(Api::<StorageClass>::all(c.clone()), w.storage_classes, tx.clone(), ClusterEvent::Storage);
    spawn_lister(Api::<PodDisruptionBudget>::all(c.clone()), w.pdbs, tx.clone(), ClusterEvent::Workload);
    spawn_lister(Api::<Namespace>::all(c.clone()), w.namespaces, tx.clone(), ClusterEvent::Namespace);
    spawn_lister(Api::<Service>::all(c.clone()), w.services, tx.clone(), ClusterEvent::Workload);
    spawn_lister(Api::<ReplicaSet>::all(c.clone()), w.replica_sets, tx.clone(), ClusterEvent::Workload);
    spawn_lister(Api::<StatefulSet>::all(c.clone()), w.stateful_sets, tx.clone(), ClusterEvent::Workload);
    spawn_lister(Api::<ReplicationController>::all(c), w.replication_controllers, tx.clone(), ClusterEvent::Workload);
    listers
}

/// Builds one framework per profile.
pub fn build_frameworks(config: &Config, client: Option<kube::Client>) -> anyhow::Result<HashMap<String, Arc<Framework>>> {
    let registry = in_tree_registry();
    let mut out = HashMap::new();
    for p in &config.profiles {
        let fwk = Framework::new(p, &registry, client.clone()).with_context(|| format!("profile {:?}", p.scheduler_name))?;
        for (point, names) in fwk.describe() {
            tracing::debug!(profile = %p.scheduler_name, ?point, plugins = ?names, "plugins");
        }
        out.insert(p.scheduler_name.clone(), Arc::new(fwk));
    }
    Ok(out)
}

/// Runs the scheduler until `shutdown` resolves.
pub async fn run(client: kube::Client, config: Config, shutdown: impl std::future::Future<Output = ()>) -> anyhow::Result<()> {
    let frameworks = build_frameworks(&config, Some(client.clone()))?;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let listers = start_listers(&client, &tx);
    spawn_watch(Api::<Node>::all(client.clone()), tx.clone(), |e| Msg::Node(Box::new(e.modify(strip_node))), watcher::Config::default());
    spawn_watch(
        Api::<Pod>::all(client.clone()),
        tx.clone(),
        |e| Msg::Pod(Box::new(e.modify(strip_pod))),
        watcher::Config::default().fields("status.phase!=Succeeded,status.phase!=Failed"),
    );
    let first = frameworks.keys().next().cloned().unwrap_or_default();
    let seed = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
    let mut s = Scheduler {
        frameworks,
        global_pct: config.percentage_of_nodes_to_score,
        cache: Cache::new(),
        queue: SchedulingQueue::default(),
        snapshot: Snapshot::new(listers.clone()),
        search: SearchState::new(seed),
        unassigned: HashSet::new(),
        nominated_version: 0,
        recorder: Recorder::new(client.clone(), &first),
        tx,
        bind_slots: Arc::new(Semaphore::new(MAX_CONCURRENT_BINDINGS)),
        pending_bindings: 0,
        relist_nodes: None,
        relist_pods: None,
        nodes_synced: false,
        pods_synced: false,
    };
    // Give the listers a moment to fill (upstream waits for informer sync).
    let ready = async {
        let _ = listers.pvcs.wait_until_ready().await;
        let _ = listers.pvs.wait_until_ready().await;
        let _ = listers.storage_classes.wait_until_ready().await;
        let _ = listers.pdbs.wait_until_ready().await;
        let _ = listers.namespaces.wait_until_ready().await;
        let _ = listers.services.wait_until_ready().await;
        let _ = listers.replica_sets.wait_until_ready().await;
    };
    if tokio::time::timeout(Duration::from_secs(10), ready).await.is_err() {
        tracing::warn!("some listers did not sync within 10s; scheduling anyway");
    }
    tracing::info!(profiles = ?s.frameworks.keys().collect::<Vec<_>>(), "scheduler started");
    tokio::pin!(shutdown);
    let mut since_yield = 0u32;
    loop {
        while let Ok(msg) = rx.try_recv() {
            s.handle(msg);
        }
        let now = Instant::now();
        if s.nodes_synced && s.pods_synced && s.pending_bindings < MAX_PENDING_BINDINGS {
            if let Some(qp) = s.queue.pop(now) {
                s.schedule_one(qp);
                since_yield += 1;
                if since_yield >= 16 {
                    since_yield = 0;
                    tokio::task::yield_now().await;
                }
                continue;
            }
        }
        let wake = s.queue.next_wakeup().unwrap_or(now + Duration::from_secs(1)).min(now + Duration::from_secs(1));
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(m) => s.handle(m),
                None => anyhow::bail!("all watchers stopped"),
            },
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(wake)) => {}
            _ = &mut shutdown => {
                tracing::info!("shutting down");
                return Ok(());
            }
        }
    }
}
