//! The pods bound to simulated nodes: one watch of every bound pod
//! (`spec.nodeName!=`), a compact table of [`PodFacts`] per pod (never the
//! whole Pod), a deduplicating work queue, and a bounded pool of workers
//! that apply [`pod_status::plan`]: status writes through `pods/status`
//! (strategic merge, as the kubelet's status manager), final deletes with
//! `gracePeriodSeconds: 0` and a uid precondition, and timed wake-ups for
//! the next transition.

use std::collections::{HashMap, HashSet};
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, Patch, PatchParams, Preconditions};
use kube::runtime::{watcher, WatchStreamExt};
use tokio::time::Instant;
use tracing::Instrument;

use super::nodes::Nodes;
use super::workqueue::WorkQueue;
use crate::pod_status::{self, add, since, Context, Placement, PodFacts};

/// How pods are simulated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PodSettings {
    /// Run time of a finite container without `sleep N` or annotation.
    pub job_pod_duration: Duration,
    /// From first seeing a bound pod to its containers running.
    pub startup_delay: Duration,
    /// Cap on the time from a graceful DELETE to the final delete.
    pub termination: Duration,
    /// Concurrent API writes.
    pub workers: usize,
}

struct Entry {
    facts: Arc<PodFacts>,
    first_seen: Timestamp,
    /// The address this pod holds in its node's pool.
    pod_ip: Option<Ipv4Addr>,
    failures: u32,
    /// The final DELETE went out (a pod held by finalizers stays a while;
    /// it is not deleted again on every update).
    deleted: bool,
}

/// Shared by the watch task and the workers.
pub struct PodSim {
    client: kube::Client,
    nodes: Arc<Nodes>,
    settings: PodSettings,
    table: Mutex<HashMap<String, Entry>>,
    queue: WorkQueue<String>,
}

impl PodSim {
    pub fn new(client: kube::Client, nodes: Arc<Nodes>, settings: PodSettings) -> Arc<PodSim> {
        Arc::new(PodSim { client, nodes, settings, table: Mutex::new(HashMap::new()), queue: WorkQueue::new() })
    }

    fn table(&self) -> MutexGuard<'_, HashMap<String, Entry>> {
        self.table.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Pods tracked (not yet terminal) and keys waiting.
    pub fn stats(&self) -> (usize, usize) {
        (self.table().len(), self.queue.len())
    }

    /// Spawns the watch and the workers.
    pub fn spawn(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        let mut tasks = vec![tokio::spawn(self.clone().watch())];
        for _ in 0..self.settings.workers.max(1) {
            tasks.push(tokio::spawn(self.clone().work()));
        }
        tasks
    }

    pub fn shut_down(&self) {
        self.queue.shut_down();
    }

    async fn watch(self: Arc<Self>) {
        let api: Api<Pod> = Api::all(self.client.clone());
        let config = watcher::Config::default().fields("spec.nodeName!=");
        let mut events = watcher(api, config).default_backoff().boxed();
        let mut relisted: Option<HashSet<String>> = None;
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(pod)) => {
                    self.on_pod(&pod);
                }
                Ok(watcher::Event::InitApply(pod)) => {
                    if let Some(key) = self.on_pod(&pod) {
                        relisted.get_or_insert_with(HashSet::new).insert(key);
                    }
                }
                Ok(watcher::Event::Delete(pod)) => {
                    self.forget(&format!(
                        "{}/{}",
                        pod.metadata.namespace.as_deref().unwrap_or_default(),
                        pod.metadata.name.as_deref().unwrap_or_default()
                    ));
                }
                Ok(watcher::Event::Init) => relisted = Some(HashSet::new()),
                Ok(watcher::Event::InitDone) => {
                    // Pods that vanished while the watch was down.
                    let seen = relisted.take().unwrap_or_default();
                    let stale: Vec<String> = self.table().keys().filter(|k| !seen.contains(*k)).cloned().collect();
                    for key in stale {
                        self.forget(&key);
                    }
                    let (pods, queued) = self.stats();
                    tracing::info!(pods, queued, "pod list synced");
                }
                Err(e) => tracing::warn!(error = %e, "pod watch error; retrying"),
            }
        }
    }

    /// Takes in a pod from the watch; returns its key when it is ours.
    fn on_pod(&self, pod: &Pod) -> Option<String> {
        let node = pod.spec.as_ref().and_then(|s| s.node_name.as_deref())?;
        if !self.nodes.contains(node) {
            return None;
        }
        let facts = PodFacts::from_pod(pod, self.settings.job_pod_duration)?;
        let key = facts.key();
        if facts.observed.stage.is_terminal() && facts.deletion.is_none() {
            // Finished: the sandbox is gone, its address is free.
            self.forget(&key);
            return Some(key);
        }
        self.update(&key, facts, true);
        self.queue.add(key.clone());
        Some(key)
    }

    /// Stores fresh facts for `key`, keeping the address bookkeeping right.
    fn update(&self, key: &str, facts: PodFacts, insert: bool) {
        let mut table = self.table();
        if !insert && !table.contains_key(key) {
            return;
        }
        let node = facts.node_name.clone();
        let entry = table.entry(key.to_string()).or_insert_with(|| Entry {
            facts: Arc::new(facts.clone()),
            first_seen: Timestamp::now(),
            pod_ip: None,
            failures: 0,
            deleted: false,
        });
        if entry.facts.uid != facts.uid {
            // Same name, new pod.
            if let Some(ip) = entry.pod_ip.take() {
                self.nodes.release_ip(&entry.facts.node_name, ip);
            }
            entry.first_seen = Timestamp::now();
            entry.deleted = false;
        }
        if let Some(ip) = facts.observed.pod_ip.filter(|_| !facts.host_network) {
            if entry.pod_ip != Some(ip) {
                if let Some(old) = entry.pod_ip {
                    self.nodes.release_ip(&node, old);
                }
                self.nodes.reserve_ip(&node, ip);
                entry.pod_ip = Some(ip);
            }
        }
        entry.facts = Arc::new(facts);
    }

    fn forget(&self, key: &str) {
        let removed = self.table().remove(key);
        if let Some(Entry { facts, pod_ip: Some(ip), .. }) = removed {
            self.nodes.release_ip(&facts.node_name, ip);
        }
    }

    async fn work(self: Arc<Self>) {
        while let Some(key) = self.queue.get().await {
            let span = tracing::debug_span!("sync_pod", pod = %key);
            let result = self.sync(&key).instrument(span).await;
            if let Err(e) = result {
                let failures = {
                    let mut table = self.table();
                    table.get_mut(&key).map(|e| {
                        e.failures += 1;
                        e.failures
                    })
                };
                if let Some(n) = failures {
                    let delay = Duration::from_millis(200u64.saturating_mul(1 << n.min(8))).min(Duration::from_secs(30));
                    tracing::warn!(pod = %key, error = format!("{e:#}"), retry_in = ?delay, "pod sync failed");
                    self.queue.add_at(key.clone(), Instant::now() + delay);
                }
            }
            self.queue.done(&key);
        }
    }

    /// One step of one pod's simulation.
    async fn sync(&self, key: &str) -> anyhow::Result<()> {
        let Some((facts, first_seen, held_ip, deleted)) =
            self.table().get(key).map(|e| (e.facts.clone(), e.first_seen, e.pod_ip, e.deleted))
        else {
            return Ok(());
        };
        if !self.nodes.is_live(&facts.node_name) {
            return Ok(());
        }
        let Some(host_ip) = self.nodes.host_ip(&facts.node_name) else { return Ok(()) };
        let mut pod_ip = held_ip;
        let needs_ip = !facts.host_network && facts.deletion.is_none() && !facts.observed.stage.is_terminal();
        if pod_ip.is_none() && needs_ip {
            pod_ip = self.nodes.allocate_ip(&facts.node_name);
            if let Some(ip) = pod_ip {
                let mut table = self.table();
                match table.get_mut(key).filter(|e| e.facts.uid == facts.uid) {
                    Some(e) => e.pod_ip = Some(ip),
                    None => {
                        drop(table);
                        self.nodes.release_ip(&facts.node_name, ip);
                        return Ok(());
                    }
                }
            }
        }
        let accepted = facts.observed.start_time.unwrap_or_else(|| whole_second(first_seen));
        let ctx = Context {
            accepted,
            start: add(accepted, self.settings.startup_delay),
            placement: Placement { host_ip, pod_ip },
            termination: self.settings.termination,
        };
        let now = Timestamp::now();
        let plan = pod_status::plan(&facts, &ctx, now);
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &facts.namespace);
        if let Some(status) = plan.status {
            let patch = serde_json::json!({ "metadata": { "uid": facts.uid }, "status": status });
            match api.patch_status(&facts.name, &PatchParams::default(), &Patch::Strategic(patch)).await {
                Ok(pod) => {
                    if let Some(fresh) = PodFacts::from_pod(&pod, self.settings.job_pod_duration) {
                        self.update(key, fresh, false);
                    }
                    tracing::debug!(stage = ?plan.stage, "status written");
                }
                Err(e) if is_gone(&e) => return Ok(()),
                Err(e) => return Err(anyhow::Error::new(e).context(format!("writing status of pod {key}"))),
            }
        }
        if plan.delete && !deleted {
            let params = DeleteParams {
                grace_period_seconds: Some(0),
                preconditions: Some(Preconditions { uid: Some(facts.uid.clone()), resource_version: None }),
                ..DeleteParams::default()
            };
            match api.delete(&facts.name, &params).await {
                Ok(_) => {
                    if let Some(e) = self.table().get_mut(key).filter(|e| e.facts.uid == facts.uid) {
                        e.deleted = true;
                    }
                    tracing::debug!("deleted");
                }
                Err(e) if is_gone(&e) => {}
                Err(e) => return Err(anyhow::Error::new(e).context(format!("deleting pod {key}"))),
            }
        }
        if let Some(table_entry) = self.table().get_mut(key) {
            table_entry.failures = 0;
        }
        if let Some(wake) = plan.wake_at {
            self.queue.add_at(key.to_string(), Instant::now() + since(Timestamp::now(), wake));
        }
        Ok(())
    }
}

/// Not found, or a uid precondition that no longer holds: the pod we
/// simulated is gone.
fn is_gone(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404 || s.code == 409)
}

/// `t` without its fraction of a second (API times have whole seconds, and
/// a start time must read back as written).
fn whole_second(t: Timestamp) -> Timestamp {
    Timestamp::from_second(t.as_second()).unwrap_or(t)
}
