//! Command-line options, kept apart from the logic that uses them.

use std::net::IpAddr;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StorageBackend {
    /// The embedded store (redb): one node, no external service.
    Embedded,
    /// A real etcd v3 cluster.
    Etcd3,
}

#[derive(Debug, Clone, Parser)]
#[command(name = "apiserver", about = "The ferrokube API server: the Kubernetes 1.33 REST API over an embedded store or etcd.")]
pub struct Options {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1", env = "APISERVER_BIND_ADDRESS")]
    pub bind_address: IpAddr,
    /// Port to listen on (plain HTTP until TLS arrives; keep it on loopback).
    #[arg(long, default_value_t = 6443, env = "APISERVER_PORT")]
    pub port: u16,
    /// The address published in the `kubernetes` Service's endpoints (defaults to the bind address).
    #[arg(long)]
    pub advertise_address: Option<IpAddr>,
    /// Storage backend.
    #[arg(long, value_enum, default_value_t = StorageBackend::Embedded)]
    pub storage_backend: StorageBackend,
    /// Data directory of the embedded store.
    #[arg(long, default_value = "/var/lib/ferrokube/apiserver")]
    pub data_dir: PathBuf,
    /// etcd endpoints, comma separated (with --storage-backend etcd3).
    #[arg(long, value_delimiter = ',', default_value = "http://127.0.0.1:2379")]
    pub etcd_servers: Vec<String>,
    /// Key prefix of every object in storage (lets clusters share one etcd).
    #[arg(long, default_value = "/registry")]
    pub etcd_prefix: String,
    /// CIDR that Service ClusterIPs come from.
    #[arg(long, default_value = "10.96.0.0/12")]
    pub service_cluster_ip_range: String,
    /// Range of NodePorts, `min-max`.
    #[arg(long, default_value = "30000-32767")]
    pub service_node_port_range: String,
    /// Largest accepted request body in bytes.
    #[arg(long, default_value_t = 3 * 1024 * 1024)]
    pub max_request_body_bytes: usize,
}

impl Options {
    pub fn node_port_range(&self) -> Result<(u16, u16), String> {
        let bad = || format!("--service-node-port-range {:?} must look like 30000-32767", self.service_node_port_range);
        let (a, b) = self.service_node_port_range.split_once('-').ok_or_else(bad)?;
        let (a, b): (u16, u16) = (a.trim().parse().map_err(|_| bad())?, b.trim().parse().map_err(|_| bad())?);
        if a >= b {
            return Err(bad());
        }
        Ok((a, b))
    }
}
