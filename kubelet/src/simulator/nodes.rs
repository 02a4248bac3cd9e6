//! The simulated nodes: registration, Lease heartbeats, periodic status
//! posts, and a watch that follows IPAM's `spec.podCIDR` and deletions.
//!
//! Heartbeats and status posts are spread evenly over their interval
//! (node `i` of `n` at `i/n` of it) with bounded concurrency, so 5,000 nodes
//! at 10 s are a steady 500 lease renewals a second, not a burst.

use std::collections::HashMap;
use std::future::Future;
use std::net::Ipv4Addr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use anyhow::Context as _;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Node;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::{watcher, WatchStreamExt};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tracing::Instrument;

use crate::ipam::{Cidr, IpPool};
use crate::lease::{node_lease, renew_patch, NODE_LEASE_NAMESPACE};
use crate::node_status::{self, NodeTemplate};

/// One simulated node's state.
#[derive(Debug)]
pub struct NodeState {
    pub template: NodeTemplate,
    pub uid: Option<String>,
    /// Deleted by someone: no more heartbeats, its pods are left alone.
    pub gone: bool,
    /// When this simulator started posting Ready for it.
    pub ready_since: Timestamp,
    /// Pod addresses: from `spec.podCIDR` once IPAM set it, else from the
    /// simulator's fallback range.
    pub pool: IpPool,
    pub pool_from_spec: bool,
}

/// All simulated nodes, by name.
pub struct Nodes {
    names: Vec<String>,
    map: Mutex<HashMap<String, NodeState>>,
}

impl Nodes {
    pub fn new(states: Vec<NodeState>) -> Nodes {
        let names = states.iter().map(|s| s.template.name.clone()).collect();
        let map = states.into_iter().map(|s| (s.template.name.clone(), s)).collect();
        Nodes { names, map: Mutex::new(map) }
    }

    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn lock(&self) -> MutexGuard<'_, HashMap<String, NodeState>> {
        self.map.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether `name` is one of ours, registered and still simulated.
    pub fn is_live(&self, name: &str) -> bool {
        self.lock().get(name).is_some_and(|n| !n.gone && n.uid.is_some())
    }

    /// Whether `name` is one of ours (live or not).
    pub fn contains(&self, name: &str) -> bool {
        self.lock().contains_key(name)
    }

    fn template(&self, name: &str) -> Option<(NodeTemplate, Timestamp, Option<String>)> {
        self.lock().get(name).filter(|n| !n.gone).map(|n| (n.template.clone(), n.ready_since, n.uid.clone()))
    }

    /// Records what the API says about one of our nodes.
    fn observe(&self, node: &Node) {
        let Some(name) = node.metadata.name.as_deref() else { return };
        let mut map = self.lock();
        let Some(state) = map.get_mut(name) else { return };
        if state.uid.is_none() {
            state.uid = node.metadata.uid.clone();
        }
        let cidr = node.spec.as_ref().and_then(|s| s.pod_cidr.as_deref()).and_then(|c| Cidr::parse(c).ok());
        if let Some(cidr) = cidr {
            if !state.pool_from_spec || state.pool.cidr() != cidr {
                tracing::info!(node = name, %cidr, "using the pod range IPAM assigned");
                state.pool = IpPool::new(cidr);
                state.pool_from_spec = true;
            }
        }
    }

    fn mark_gone(&self, name: &str) {
        if let Some(state) = self.lock().get_mut(name) {
            if !state.gone {
                tracing::warn!(node = name, "node deleted; no longer simulating it");
                state.gone = true;
            }
        }
    }

    /// Allocates a pod address on `node`.
    pub fn allocate_ip(&self, node: &str) -> Option<Ipv4Addr> {
        self.lock().get_mut(node).and_then(|n| n.pool.allocate())
    }

    pub fn reserve_ip(&self, node: &str, ip: Ipv4Addr) {
        if let Some(n) = self.lock().get_mut(node) {
            n.pool.reserve(ip);
        }
    }

    pub fn release_ip(&self, node: &str, ip: Ipv4Addr) {
        if let Some(n) = self.lock().get_mut(node) {
            n.pool.release(ip);
        }
    }

    pub fn host_ip(&self, node: &str) -> Option<Ipv4Addr> {
        self.lock().get(node).map(|n| n.template.internal_ip)
    }
}

fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Registers every node (create, or re-post labels and status when it
/// exists) and its Lease, `concurrency` at a time.
pub async fn register_all(client: &kube::Client, nodes: &Arc<Nodes>, concurrency: usize) -> anyhow::Result<()> {
    let started = Instant::now();
    futures::stream::iter(nodes.names().to_vec())
        .map(|name| {
            let client = client.clone();
            let nodes = nodes.clone();
            async move {
                let mut delay = Duration::from_millis(200);
                for attempt in 1..=6 {
                    match register(&client, &nodes, &name).await {
                        Ok(()) => return Ok(()),
                        Err(e) if attempt < 6 => {
                            tracing::warn!(node = %name, attempt, error = format!("{e:#}"), "registration failed; retrying");
                            tokio::time::sleep(delay).await;
                            delay = (delay * 2).min(Duration::from_secs(5));
                        }
                        Err(e) => return Err(e),
                    }
                }
                Ok(())
            }
        })
        .buffer_unordered(concurrency.max(1))
        .try_collect::<Vec<()>>()
        .await?;
    tracing::info!(nodes = nodes.names().len(), elapsed = ?started.elapsed(), "nodes registered");
    Ok(())
}

async fn register(client: &kube::Client, nodes: &Nodes, name: &str) -> anyhow::Result<()> {
    let Some((template, ready_since, _)) = nodes.template(name) else { return Ok(()) };
    let api: Api<Node> = Api::all(client.clone());
    let now = Timestamp::now();
    let node = match api.create(&PostParams::default(), &node_status::node(&template, ready_since, now)).await {
        Ok(node) => node,
        Err(e) if is_status(&e, 409) => {
            let pp = PatchParams::default();
            let labels = serde_json::json!({"metadata": {"labels": node_status::labels(&template)}});
            api.patch(name, &pp, &Patch::Strategic(labels)).await.with_context(|| format!("updating node {name}"))?;
            api.patch_status(name, &pp, &Patch::Strategic(node_status::status_patch(&template, ready_since, now)))
                .await
                .with_context(|| format!("posting status of node {name}"))?
        }
        Err(e) => return Err(e).with_context(|| format!("creating node {name}")),
    };
    let leases: Api<Lease> = Api::namespaced(client.clone(), NODE_LEASE_NAMESPACE);
    let lease = node_lease(name, node.metadata.uid.as_deref(), now);
    match leases.create(&PostParams::default(), &lease).await {
        Ok(_) => {}
        Err(e) if is_status(&e, 409) => {
            leases
                .patch(name, &PatchParams::default(), &Patch::Merge(renew_patch(name, now)))
                .await
                .with_context(|| format!("renewing lease {name}"))?;
        }
        Err(e) => return Err(e).with_context(|| format!("creating lease {name}")),
    }
    // Registered (uid known) only now, so heartbeats start after the lease exists.
    nodes.observe(&node);
    Ok(())
}

/// Runs `work(node)` for every live node once per `interval` from `first`,
/// spread over the interval, at most `concurrency` at a time. Never returns.
pub async fn spread<F, Fut>(
    nodes: Arc<Nodes>,
    first: Instant,
    interval: Duration,
    concurrency: usize,
    what: &'static str,
    work: F,
) where
    F: Fn(String) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let count = nodes.names().len().max(1);
    let mut round = first;
    loop {
        for (i, name) in nodes.names().iter().enumerate() {
            let due = round + interval.mul_f64(i as f64 / count as f64);
            if due > Instant::now() + Duration::from_millis(5) {
                tokio::time::sleep_until(due).await;
            }
            if !nodes.is_live(name) {
                continue;
            }
            let Ok(permit) = permits.clone().acquire_owned().await else { return };
            let job = work(name.clone());
            tokio::spawn(async move {
                job.await;
                drop(permit);
            });
        }
        round += interval;
        let now = Instant::now();
        if round < now {
            // Late by more than a tenth of the interval: the API server (or
            // this process) cannot keep up; say so, and start afresh.
            if now - round > interval / 10 {
                tracing::warn!(what, behind = ?(now - round), "a round took longer than its interval");
            }
            round = now;
        }
    }
}

/// Renews one node's Lease (recreating it if someone deleted it).
pub async fn renew_lease(client: kube::Client, nodes: Arc<Nodes>, name: String) {
    let leases: Api<Lease> = Api::namespaced(client, NODE_LEASE_NAMESPACE);
    let now = Timestamp::now();
    let result = match leases.patch(&name, &PatchParams::default(), &Patch::Merge(renew_patch(&name, now))).await {
        Err(e) if is_status(&e, 404) => {
            let uid = nodes.template(&name).and_then(|(_, _, uid)| uid);
            match leases.create(&PostParams::default(), &node_lease(&name, uid.as_deref(), now)).await {
                Err(e) if is_status(&e, 409) => Ok(()),
                other => other.map(|_| ()),
            }
        }
        other => other.map(|_| ()),
    };
    if let Err(e) = result {
        tracing::warn!(node = %name, error = %e, "lease renewal failed");
    }
}

/// Re-posts one node's status (conditions with a fresh heartbeat time).
pub async fn post_status(client: kube::Client, nodes: Arc<Nodes>, name: String) {
    let Some((template, ready_since, _)) = nodes.template(&name) else { return };
    let api: Api<Node> = Api::all(client);
    let patch = node_status::status_patch(&template, ready_since, Timestamp::now());
    match api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(patch)).await {
        Ok(_) => {}
        Err(e) if is_status(&e, 404) => nodes.mark_gone(&name),
        Err(e) => tracing::warn!(node = %name, error = %e, "node status update failed"),
    }
}

/// Follows our nodes: IPAM's pod ranges, and deletions (after which the
/// node is no longer simulated, as a kubelet does not re-register a node
/// deleted under it until restarted).
pub async fn watch_nodes(client: kube::Client, nodes: Arc<Nodes>) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(client);
    let mut events = watcher(api, watcher::Config::default()).default_backoff().boxed();
    while let Some(event) = events.next().await {
        match event {
            Ok(watcher::Event::Apply(node) | watcher::Event::InitApply(node)) => {
                let name = node.metadata.name.clone().unwrap_or_default();
                let span = tracing::debug_span!("node_event", node = %name);
                span.in_scope(|| nodes.observe(&node));
            }
            Ok(watcher::Event::Delete(node)) => {
                if let Some(name) = node.metadata.name.as_deref() {
                    nodes.mark_gone(name);
                }
            }
            Ok(watcher::Event::Init | watcher::Event::InitDone) => {}
            Err(e) => tracing::warn!(error = %e, "node watch error; retrying"),
        }
    }
    Ok(())
}

/// Spawns the Lease heartbeat loop (from now: it skips nodes not yet
/// registered, so heartbeats start while thousands of nodes register).
pub fn spawn_heartbeats(client: &kube::Client, nodes: &Arc<Nodes>, interval: Duration, concurrency: usize) -> tokio::task::JoinHandle<()> {
    let (client, n) = (client.clone(), nodes.clone());
    tokio::spawn(spread(nodes.clone(), Instant::now(), interval, concurrency, "lease heartbeats", move |name| {
        let span = tracing::debug_span!("renew_lease", node = %name);
        renew_lease(client.clone(), n.clone(), name).instrument(span)
    }))
}

/// Spawns the periodic node status loop (first round one interval from now).
pub fn spawn_status_updates(client: &kube::Client, nodes: &Arc<Nodes>, interval: Duration, concurrency: usize) -> tokio::task::JoinHandle<()> {
    let (client, n) = (client.clone(), nodes.clone());
    tokio::spawn(spread(nodes.clone(), Instant::now() + interval, interval, concurrency, "node status updates", move |name| {
        let span = tracing::debug_span!("post_node_status", node = %name);
        post_status(client.clone(), n.clone(), name).instrument(span)
    }))
}
