//! The registry of controllers. Add a controller by writing
//! `controllers/<name>.rs` with `pub async fn run(ctx: Ctx) -> anyhow::Result<()>`
//! (runs until the process stops) and one line in [`REGISTRY`].

pub mod certificates;
pub mod daemonset;
pub mod disruption;
pub mod deployment;
pub mod endpoints;
pub mod endpointslice;
pub mod endpointslice_mirroring;
pub mod cronjob;
pub mod garbagecollector;
pub mod job;
pub mod history;
pub mod namespace;
pub mod nodeipam;
pub mod nodelifecycle;
pub mod persistentvolume;
pub mod podgc;
pub mod replicaset;
pub mod replication;
pub mod resourcequota;
pub mod root_ca;
pub mod serviceaccount;
pub mod ttl_after_finished;
pub mod volumeprotection;
pub mod statefulset;

use std::future::Future;
use std::pin::Pin;

/// What every controller gets.
#[derive(Clone)]
pub struct Ctx {
    /// The controller-manager's client (its own kubeconfig identity).
    pub client: kube::Client,
    /// Settings shared by the controllers (flags).
    pub settings: std::sync::Arc<Settings>,
    /// Shared informers (one watch per kind for the process); see `crate::runtime`.
    pub informers: crate::runtime::Informers,
}

impl Ctx {
    pub fn new(client: kube::Client, settings: Settings) -> Ctx {
        let informers = crate::runtime::Informers::new(client.clone());
        Ctx { client, settings: std::sync::Arc::new(settings), informers }
    }
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
    Registration { name: "replicaset", on_by_default: true, run: |ctx| Box::pin(replicaset::run(ctx)) },
    Registration { name: "replicationcontroller", on_by_default: true, run: |ctx| Box::pin(replication::run(ctx)) },
    Registration { name: "deployment", on_by_default: true, run: |ctx| Box::pin(deployment::run(ctx)) },
    Registration { name: "statefulset", on_by_default: true, run: |ctx| Box::pin(statefulset::run(ctx)) },
    Registration { name: "daemonset", on_by_default: true, run: |ctx| Box::pin(daemonset::run(ctx)) },
    Registration { name: "garbage-collector", on_by_default: true, run: |ctx| Box::pin(garbagecollector::run(ctx)) },
    Registration { name: "namespace", on_by_default: true, run: |ctx| Box::pin(namespace::run(ctx)) },
    Registration { name: "serviceaccount", on_by_default: true, run: |ctx| Box::pin(serviceaccount::run(ctx)) },
    Registration { name: "root-ca-cert-publisher", on_by_default: true, run: |ctx| Box::pin(root_ca::run(ctx)) },
    Registration { name: "endpoint", on_by_default: true, run: |ctx| Box::pin(endpoints::run(ctx)) },
    Registration { name: "endpointslice", on_by_default: true, run: |ctx| Box::pin(endpointslice::run(ctx)) },
    Registration { name: "endpointslice-mirroring", on_by_default: true, run: |ctx| Box::pin(endpointslice_mirroring::run(ctx)) },
    Registration { name: "pod-garbage-collector", on_by_default: true, run: |ctx| Box::pin(podgc::run(ctx)) },
    Registration { name: "node-lifecycle", on_by_default: true, run: |ctx| Box::pin(nodelifecycle::run(ctx)) },
    Registration { name: "csrsigning", on_by_default: true, run: |ctx| Box::pin(certificates::run_signer(ctx)) },
    Registration { name: "csrapproving", on_by_default: true, run: |ctx| Box::pin(certificates::run_approver(ctx)) },
    Registration { name: "csrcleaner", on_by_default: true, run: |ctx| Box::pin(certificates::run_cleaner(ctx)) },
    Registration { name: "taint-eviction-controller", on_by_default: true, run: |ctx| Box::pin(nodelifecycle::taint_eviction::run(ctx)) },
    Registration { name: "node-ipam", on_by_default: true, run: |ctx| Box::pin(nodeipam::run(ctx)) },
    Registration { name: "job", on_by_default: true, run: |ctx| Box::pin(job::run(ctx)) },
    Registration { name: "cronjob", on_by_default: true, run: |ctx| Box::pin(cronjob::run(ctx)) },
    Registration { name: "ttl-after-finished", on_by_default: true, run: |ctx| Box::pin(ttl_after_finished::run(ctx)) },
    Registration { name: "disruption", on_by_default: true, run: |ctx| Box::pin(disruption::run(ctx)) },
    Registration { name: "resourcequota", on_by_default: true, run: |ctx| Box::pin(resourcequota::run(ctx)) },
    Registration { name: "persistentvolume-binder", on_by_default: true, run: |ctx| Box::pin(persistentvolume::run(ctx)) },
    Registration { name: "pvc-protection", on_by_default: true, run: |ctx| Box::pin(volumeprotection::pvc::run(ctx)) },
    Registration { name: "pv-protection", on_by_default: true, run: |ctx| Box::pin(volumeprotection::pv::run(ctx)) },
];
