//! `node-simulator` command-line flags.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use super::{Config, PodSettings};
use crate::ipam::Cidr;
use crate::node_status::{parse_labels, parse_taints};
use crate::units::parse_duration;

/// Simulates N Kubernetes nodes (registration, Lease heartbeats, node
/// status) and the pods bound to them (Pending → Running → Ready, Succeeded
/// or Failed, graceful deletion) without running anything.
#[derive(Debug, Clone, Parser)]
#[command(name = "node-simulator", version)]
pub struct Flags {
    /// Kubeconfig to use (else $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
    /// How many nodes to simulate.
    #[arg(long, default_value_t = 3)]
    pub nodes: u64,
    /// Node names are `<prefix><i>`, i from 0.
    #[arg(long, default_value = "sim-node-")]
    pub node_name_prefix: String,
    /// CPU capacity of each node.
    #[arg(long, default_value = "4")]
    pub cpu: String,
    /// Memory capacity of each node.
    #[arg(long, default_value = "16Gi")]
    pub memory: String,
    /// Ephemeral-storage capacity of each node.
    #[arg(long, default_value = "100Gi")]
    pub ephemeral_storage: String,
    /// Pod capacity of each node.
    #[arg(long, default_value_t = 110)]
    pub max_pods: u32,
    /// `node.kubernetes.io/instance-type` label, if any.
    #[arg(long)]
    pub instance_type: Option<String>,
    /// Extra node labels: `k=v,k2=v2`.
    #[arg(long, default_value = "")]
    pub labels: String,
    /// Taints set at registration: `k=v:NoSchedule,k2:NoExecute`.
    #[arg(long, default_value = "")]
    pub taints: String,
    /// Lease renewal interval (upstream: 10s).
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub heartbeat_interval: Duration,
    /// Node status re-post interval (upstream nodeStatusReportFrequency).
    #[arg(long, default_value = "1m", value_parser = duration)]
    pub node_status_update: Duration,
    /// Where node pod ranges come from when IPAM has not set spec.podCIDR.
    #[arg(long, default_value = "10.244.0.0/16")]
    pub pod_cidr_base: String,
    /// Prefix length of each node's fallback pod range.
    #[arg(long, default_value_t = 24)]
    pub node_cidr_mask_size: u8,
    /// Node InternalIPs are taken from here (loopback: nothing that follows
    /// them leaves the machine).
    #[arg(long, default_value = "127.1.0.0/16")]
    pub node_ip_base: String,
    /// How long a finite (Job) container runs without `sleep N` or the
    /// `sim.ferrokube.io/exit-after` annotation.
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub job_pod_duration: Duration,
    /// From seeing a bound pod to its containers running.
    #[arg(long, default_value = "0s", value_parser = duration)]
    pub startup_delay: Duration,
    /// Longest time from a graceful DELETE to the pod's removal (the grace
    /// period, when shorter, wins).
    #[arg(long, default_value = "1s", value_parser = duration)]
    pub termination_duration: Duration,
    /// Concurrent pod status writes and deletes.
    #[arg(long, default_value_t = 32)]
    pub workers: usize,
    /// Concurrent node registrations, lease renewals and status posts.
    #[arg(long, default_value_t = 64)]
    pub node_concurrency: usize,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s).map_err(|e| e.to_string())
}

impl Flags {
    /// The engine's configuration.
    pub fn config(&self) -> anyhow::Result<Config> {
        Ok(Config {
            nodes: self.nodes,
            node_name_prefix: self.node_name_prefix.clone(),
            cpu: self.cpu.clone(),
            memory: self.memory.clone(),
            ephemeral_storage: self.ephemeral_storage.clone(),
            max_pods: self.max_pods,
            instance_type: self.instance_type.clone(),
            labels: parse_labels(&self.labels)?,
            taints: parse_taints(&self.taints)?,
            heartbeat_interval: self.heartbeat_interval,
            node_status_interval: self.node_status_update,
            pod_cidr_base: Cidr::parse(&self.pod_cidr_base)?,
            node_cidr_mask_size: self.node_cidr_mask_size,
            node_ip_base: Cidr::parse(&self.node_ip_base)?,
            pods: PodSettings {
                job_pod_duration: self.job_pod_duration,
                startup_delay: self.startup_delay,
                termination: self.termination_duration,
                workers: self.workers,
            },
            node_concurrency: self.node_concurrency,
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use k8s_openapi::jiff::Timestamp;

    #[test]
    fn defaults_and_overrides() {
        let f = Flags::try_parse_from(["node-simulator"]).unwrap();
        let c = f.config().unwrap();
        assert_eq!((c.nodes, c.node_name(2).as_str()), (3, "sim-node-2"));
        assert_eq!(c.heartbeat_interval, Duration::from_secs(10));
        assert_eq!(c.node_status_interval, Duration::from_secs(60));
        let states = c.node_states(Timestamp::UNIX_EPOCH).unwrap();
        assert_eq!(states[1].template.internal_ip.to_string(), "127.1.0.2");
        assert_eq!(states[1].pool.cidr().to_string(), "10.244.1.0/24");

        let f = Flags::try_parse_from([
            "node-simulator", "--nodes", "5000", "--pod-cidr-base", "10.0.0.0/8", "--labels", "a=b",
            "--taints", "k=v:NoSchedule", "--heartbeat-interval", "2s", "--job-pod-duration", "500ms",
        ])
        .unwrap();
        let c = f.config().unwrap();
        assert_eq!(c.labels.get("a").map(String::as_str), Some("b"));
        assert_eq!(c.taints.len(), 1);
        assert_eq!(c.pods.job_pod_duration, Duration::from_millis(500));
        assert_eq!(c.node_states(Timestamp::UNIX_EPOCH).unwrap().len(), 5000);
    }

    #[test]
    fn too_many_nodes_for_the_default_range() {
        let f = Flags::try_parse_from(["node-simulator", "--nodes", "300"]).unwrap();
        let err = f.config().unwrap().node_states(Timestamp::UNIX_EPOCH).unwrap_err();
        assert!(format!("{err:#}").contains("--pod-cidr-base"), "{err:#}");
        assert!(Flags::try_parse_from(["node-simulator", "--heartbeat-interval", "soon"]).is_err());
        assert!(Flags::try_parse_from(["node-simulator", "--taints", "k=v"]).unwrap().config().is_err());
    }
}
