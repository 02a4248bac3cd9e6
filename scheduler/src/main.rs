//! `scheduler`: ferrokube's kube-scheduler. Parses flags and the optional
//! KubeSchedulerConfiguration, then schedules while holding the
//! `kube-system/kube-scheduler` lease.

use std::path::PathBuf;

use anyhow::Context;
use clap::Parser;
use component::{Leadership, LeaderElection};
use scheduler::config::{Config, DEFAULT_SCHEDULER_NAME};

#[derive(Parser, Debug)]
#[command(name = "scheduler", about = "Assigns pods to nodes (kube-scheduler).")]
struct Args {
    /// Path to a kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster).
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// KubeSchedulerConfiguration file (kubescheduler.config.k8s.io/v1).
    #[arg(long)]
    config: Option<PathBuf>,
    /// Hold the kube-system/kube-scheduler lease before scheduling.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    leader_elect: bool,
    #[arg(long, default_value = "15s", value_parser = parse_seconds)]
    leader_elect_lease_duration: u64,
    /// Accepted for compatibility; the lease is renewed `lease - grace` after acquisition.
    #[arg(long, default_value = "10s", value_parser = parse_seconds)]
    leader_elect_renew_deadline: u64,
    #[arg(long, default_value = "2s", value_parser = parse_seconds)]
    leader_elect_retry_period: u64,
    #[arg(long, default_value = "kube-system")]
    leader_elect_resource_namespace: String,
    #[arg(long, default_value = "kube-scheduler")]
    leader_elect_resource_name: String,
    /// Name of the (single) profile when no --config is given.
    #[arg(long)]
    scheduler_name: Option<String>,
}

/// `15s`, `1m`, or a bare number of seconds.
fn parse_seconds(s: &str) -> Result<u64, String> {
    let (num, mult) = if let Some(n) = s.strip_suffix("ms") {
        return n.parse::<u64>().map(|v| v.div_ceil(1000).max(1)).map_err(|e| e.to_string());
    } else if let Some(n) = s.strip_suffix('s') {
        (n, 1)
    } else if let Some(n) = s.strip_suffix('m') {
        (n, 60)
    } else {
        (s, 1)
    };
    num.parse::<u64>().map(|v| v * mult).map_err(|e| format!("invalid duration {s:?}: {e}"))
}

fn load_config(args: &Args) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
            Config::parse(&text).with_context(|| format!("loading {}", path.display()))?
        }
        None => Config::default_with_name(DEFAULT_SCHEDULER_NAME),
    };
    if let Some(name) = &args.scheduler_name {
        if args.config.is_some() && config.profiles.len() > 1 {
            anyhow::bail!("--scheduler-name cannot be combined with a multi-profile --config");
        }
        if let Some(p) = config.profiles.first_mut() {
            p.scheduler_name = name.clone();
        }
    }
    Ok(config)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    component::telemetry::init();
    let args = Args::parse();
    let config = load_config(&args)?;
    let client = component::client_from_kubeconfig(&component::ClientOptions::new(args.kubeconfig.clone())).await?;
    let mut election = LeaderElection::new(&args.leader_elect_resource_name, args.leader_elect);
    election.namespace = args.leader_elect_resource_namespace.clone();
    election.lease_duration_seconds = args.leader_elect_lease_duration;
    election.grace_seconds = args.leader_elect_lease_duration.saturating_sub(args.leader_elect_renew_deadline).max(1);
    let work = scheduler::scheduler::run(client.clone(), config, component::shutdown::signal());
    match component::run_as_leader(client, &election, work).await? {
        Leadership::WorkFinished => Ok(()),
        Leadership::Lost => anyhow::bail!("lost the kube-scheduler lease"),
    }
}
