//! The registry of controllers. Add a controller by writing
//! `controllers/<name>.rs` with `pub async fn run(ctx: Ctx) -> anyhow::Result<()>`
//! (runs until the process stops) and one line in [`REGISTRY`].

use std::future::Future;
use std::pin::Pin;

/// What every controller gets.
#[derive(Clone)]
pub struct Ctx {
    /// The controller-manager's client (its own kubeconfig identity).
    pub client: kube::Client,
    /// Settings shared by the controllers (flags).
    pub settings: std::sync::Arc<Settings>,
}

/// Controller-manager flags the controllers read.
#[derive(Debug, Clone)]
pub struct Settings {
    /// `--cluster-cidr` for node IPAM (empty: IPAM off).
    pub cluster_cidr: String,
    /// `--node-cidr-mask-size`.
    pub node_cidr_mask_size: u8,
    /// `--cluster-signing-cert-file` / `--cluster-signing-key-file` (CSR signing).
    pub cluster_signing_cert_file: Option<std::path::PathBuf>,
    pub cluster_signing_key_file: Option<std::path::PathBuf>,
    /// `--root-ca-file` published as `kube-root-ca.crt`.
    pub root_ca_file: Option<std::path::PathBuf>,
    /// `--node-monitor-grace-period` (upstream 40 s; 50 s since 1.32).
    pub node_monitor_grace_period: std::time::Duration,
    /// `--terminated-pod-gc-threshold` (upstream 12500).
    pub terminated_pod_gc_threshold: usize,
    /// Worker count per controller (`--concurrent-*-syncs`, upstream 5).
    pub concurrent_syncs: usize,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            cluster_cidr: String::new(),
            node_cidr_mask_size: 24,
            cluster_signing_cert_file: None,
            cluster_signing_key_file: None,
            root_ca_file: None,
            node_monitor_grace_period: std::time::Duration::from_secs(50),
            terminated_pod_gc_threshold: 12500,
            concurrent_syncs: 5,
        }
    }
}

pub type RunFn = fn(Ctx) -> Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send>>;

/// One registered controller: upstream's name, whether `*` enables it, and
/// its entry point.
pub struct Registration {
    pub name: &'static str,
    pub on_by_default: bool,
    pub run: RunFn,
}

/// Every controller, by upstream's `--controllers` name.
pub static REGISTRY: &[Registration] = &[
    // (registrations are added here, one line per controller)
];
