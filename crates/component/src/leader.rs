//! Leader election on a `coordination.k8s.io/v1` Lease (kube-lease-manager).
//!
//! As upstream's components do, a replica that loses the lease stops its work
//! and exits, so a restart begins again from clean informers. Upstream
//! defaults: lease 15 s, renew before 10 s (grace 5 s), retry 2 s.

use std::future::Future;

use anyhow::Context;
use kube_lease_manager::{LeaseCreateMode, LeaseManagerBuilder};

/// Where and as whom to hold the lease.
#[derive(Debug, Clone)]
pub struct LeaderElection {
    /// `--leader-elect`; when false the work runs at once.
    pub enabled: bool,
    pub namespace: String,
    /// The Lease's name: `kube-scheduler`, `kube-controller-manager`.
    pub lease_name: String,
    /// This replica's identity (hostname + random suffix, as upstream).
    pub identity: String,
    pub lease_duration_seconds: u64,
    pub grace_seconds: u64,
}

impl LeaderElection {
    /// Upstream's defaults for a component's lease in `kube-system`.
    pub fn new(lease_name: &str, enabled: bool) -> LeaderElection {
        LeaderElection {
            enabled,
            namespace: "kube-system".to_string(),
            lease_name: lease_name.to_string(),
            identity: default_identity(),
            lease_duration_seconds: 15,
            grace_seconds: 5,
        }
    }
}

/// `<hostname>_<random>`, as upstream's `id + "_" + uuid`.
pub fn default_identity() -> String {
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_else(|_| "localhost".into());
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.subsec_nanos()).unwrap_or(0);
    format!("{host}_{:08x}{:08x}", std::process::id(), nanos)
}

/// How the work ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Leadership {
    /// The work future returned by itself.
    WorkFinished,
    /// The lease was lost (or could not be renewed): stop and exit.
    Lost,
}

/// Runs `work` only while this replica holds the lease. Waits (as a standby)
/// until the lease is acquired; returns [`Leadership::Lost`] as soon as it
/// is lost, dropping `work`.
pub async fn run_as_leader<F>(client: kube::Client, election: &LeaderElection, work: F) -> anyhow::Result<Leadership>
where
    F: Future<Output = anyhow::Result<()>>,
{
    if !election.enabled {
        work.await?;
        return Ok(Leadership::WorkFinished);
    }
    let manager = LeaseManagerBuilder::new(client, &election.lease_name)
        .with_namespace(&election.namespace)
        .with_identity(&election.identity)
        .with_duration(election.lease_duration_seconds)
        .with_grace(election.grace_seconds)
        // One field manager per replica: the lease manager acquires a free
        // lease with a non-forced server-side apply, so only distinct
        // managers conflict; a shared one would let every replica win.
        .with_field_manager(format!("{}-leader-election-{}", election.lease_name, election.identity))
        .with_create_mode(LeaseCreateMode::AutoCreate)
        .build()
        .await
        .with_context(|| format!("preparing leader election on lease {}/{}", election.namespace, election.lease_name))?;
    let (mut leading, _task) = manager.watch().await;
    tracing::info!(lease = %election.lease_name, identity = %election.identity, "waiting to acquire the lease");
    while !*leading.borrow_and_update() {
        leading.changed().await.context("leader election stopped before the lease was acquired")?;
    }
    tracing::info!(lease = %election.lease_name, identity = %election.identity, "acquired the lease; leading");
    tokio::pin!(work);
    loop {
        tokio::select! {
            result = &mut work => {
                result?;
                return Ok(Leadership::WorkFinished);
            }
            changed = leading.changed() => {
                if changed.is_err() || !*leading.borrow_and_update() {
                    tracing::warn!(lease = %election.lease_name, "lost the lease; stopping");
                    return Ok(Leadership::Lost);
                }
            }
        }
    }
}
