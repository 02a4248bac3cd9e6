//! The node simulator's engine (in the spirit of KWOK and kubemark): one
//! process plays N nodes through the real API. It registers the nodes,
//! heartbeats their Leases, re-posts their status, and drives the pods
//! bound to them through their lifecycle with the pure logic of
//! [`crate::node_status`], [`crate::lease`] and [`crate::pod_status`].
//! Nothing runs: no containers, no networking (pod IPs are bookkeeping).
//!
//! Killing the process is how a node dies: leases stop, and the node
//! lifecycle controller marks the nodes `Unknown` after its grace period.

pub mod flags;
pub mod nodes;
pub mod pods;
pub mod workqueue;

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use k8s_openapi::api::core::v1::Taint;
use k8s_openapi::jiff::Timestamp;

use crate::ipam::{node_ip, node_pod_cidr, Cidr, IpPool};
use crate::node_status::{NodeTemplate, KUBELET_VERSION};
use nodes::{NodeState, Nodes};
pub use pods::PodSettings;

/// Everything the simulator is told.
#[derive(Debug, Clone)]
pub struct Config {
    pub nodes: u64,
    pub node_name_prefix: String,
    pub cpu: String,
    pub memory: String,
    pub ephemeral_storage: String,
    pub max_pods: u32,
    pub instance_type: Option<String>,
    pub labels: BTreeMap<String, String>,
    pub taints: Vec<Taint>,
    pub heartbeat_interval: Duration,
    pub node_status_interval: Duration,
    pub pod_cidr_base: Cidr,
    pub node_cidr_mask_size: u8,
    pub node_ip_base: Cidr,
    pub pods: PodSettings,
    /// Concurrent node registrations, lease renewals and status posts.
    pub node_concurrency: usize,
}

impl Config {
    /// Node `i`'s name.
    pub fn node_name(&self, i: u64) -> String {
        format!("{}{i}", self.node_name_prefix)
    }

    /// The initial state of every node; errors when the ranges are too
    /// small for the node count.
    pub fn node_states(&self, now: Timestamp) -> anyhow::Result<Vec<NodeState>> {
        (0..self.nodes)
            .map(|i| {
                let cidr = node_pod_cidr(self.pod_cidr_base, self.node_cidr_mask_size, i, self.nodes)?;
                let ip = node_ip(self.node_ip_base, i).with_context(|| {
                    format!("--node-ip-base {} has no address for node {i}; pass a wider range", self.node_ip_base)
                })?;
                let template = NodeTemplate {
                    name: self.node_name(i),
                    labels: self.labels.clone(),
                    taints: self.taints.clone(),
                    cpu: self.cpu.clone(),
                    memory: self.memory.clone(),
                    ephemeral_storage: self.ephemeral_storage.clone(),
                    max_pods: self.max_pods,
                    instance_type: self.instance_type.clone(),
                    internal_ip: ip,
                    kubelet_version: KUBELET_VERSION.to_string(),
                };
                template.validate()?;
                Ok(NodeState {
                    template,
                    uid: None,
                    gone: false,
                    ready_since: now,
                    pool: IpPool::new(cidr),
                    pool_from_spec: false,
                })
            })
            .collect()
    }
}

/// Runs the simulation until `shutdown` resolves (or a task dies).
pub async fn run(client: kube::Client, config: Config, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let nodes = Arc::new(Nodes::new(config.node_states(Timestamp::now())?));
    tracing::info!(
        nodes = config.nodes,
        prefix = %config.node_name_prefix,
        heartbeat = ?config.heartbeat_interval,
        "starting the node simulator"
    );
    let mut tasks = vec![
        tokio::spawn(log_errors("node watch", nodes::watch_nodes(client.clone(), nodes.clone()))),
        nodes::spawn_heartbeats(&client, &nodes, config.heartbeat_interval, config.node_concurrency),
    ];
    tokio::pin!(shutdown);
    tokio::select! {
        result = nodes::register_all(&client, &nodes, config.node_concurrency) => result?,
        _ = &mut shutdown => {
            abort(&tasks);
            return Ok(());
        }
    }
    tasks.push(nodes::spawn_status_updates(&client, &nodes, config.node_status_interval, config.node_concurrency));
    let pods = pods::PodSim::new(client.clone(), nodes.clone(), config.pods);
    tasks.extend(pods.spawn());
    tasks.push(tokio::spawn(report(pods.clone(), nodes.clone())));
    let any_task = futures::future::select_all(tasks.iter_mut());
    tokio::select! {
        _ = &mut shutdown => tracing::info!("shutting down"),
        (result, index, _) = any_task => tracing::error!(task = index, ?result, "a simulator task ended"),
    }
    pods.shut_down();
    abort(&tasks);
    Ok(())
}

fn abort(tasks: &[tokio::task::JoinHandle<()>]) {
    for t in tasks {
        t.abort();
    }
}

async fn log_errors(what: &'static str, fut: impl Future<Output = anyhow::Result<()>>) {
    if let Err(e) = fut.await {
        tracing::error!(task = what, error = format!("{e:#}"), "task failed");
    }
}

/// A line every 30 s for people rehearsing at scale.
async fn report(pods: Arc<pods::PodSim>, nodes: Arc<Nodes>) {
    let mut tick = tokio::time::interval(Duration::from_secs(30));
    tick.tick().await;
    loop {
        tick.tick().await;
        let (tracked, queued) = pods.stats();
        let live = nodes.names().iter().filter(|n| nodes.is_live(n)).count();
        tracing::info!(nodes = live, pods = tracked, queued, "simulating");
    }
}
