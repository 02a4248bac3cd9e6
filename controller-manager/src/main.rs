//! `controller-manager`: runs the selected controllers while holding the
//! `kube-system/kube-controller-manager` lease.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use controller_manager::controllers::{Ctx, Registration, Settings, REGISTRY};
use anyhow::Context;
use controller_manager::{credentials, selection};

/// Flags, named as upstream's kube-controller-manager.
#[derive(Debug, Parser)]
#[command(name = "controller-manager", version, about = "Runs the ferrokube controllers")]
struct Args {
    /// Kubeconfig with the controller-manager's identity.
    #[arg(long)]
    kubeconfig: Option<PathBuf>,
    /// Controllers to run: `*` (all on by default), `name`, `-name`.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    controllers: Vec<String>,
    /// Hold the `kube-system/kube-controller-manager` lease before working.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    leader_elect: bool,
    /// Pod CIDR range of the cluster (node IPAM).
    #[arg(long, default_value = "")]
    cluster_cidr: String,
    /// Mask size of each node's pod CIDR.
    #[arg(long, default_value_t = 24)]
    node_cidr_mask_size: u8,
    /// Whether node IPAM assigns `spec.podCIDR` (needs `--cluster-cidr`).
    #[arg(long, default_value_t = false, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    allocate_node_cidrs: bool,
    /// CA certificate used to sign approved CSRs.
    #[arg(long)]
    cluster_signing_cert_file: Option<PathBuf>,
    /// CA key used to sign approved CSRs.
    #[arg(long)]
    cluster_signing_key_file: Option<PathBuf>,
    /// CA bundle published as the `kube-root-ca.crt` ConfigMap.
    #[arg(long)]
    root_ca_file: Option<PathBuf>,
    /// Time after which a silent node is marked unhealthy (e.g. `50s`, `1m`).
    #[arg(long, default_value = "50s", value_parser = parse_duration)]
    node_monitor_grace_period: Duration,
    /// Terminated pods kept before podgc deletes the oldest.
    #[arg(long, default_value_t = 12500)]
    terminated_pod_gc_threshold: usize,
    /// Run each controller as its own service account in kube-system
    /// (`system:controller:<name>` roles), as kubeadm configures upstream.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    use_service_account_credentials: bool,
    /// Concurrent workers per controller.
    #[arg(long, default_value_t = 5)]
    concurrent_syncs: usize,
}

/// Go-style durations: `40s`, `5m`, `1h30m`, `500ms`, or plain seconds.
fn parse_duration(s: &str) -> Result<Duration, String> {
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    let mut total = Duration::ZERO;
    let mut rest = s;
    while !rest.is_empty() {
        let digits = rest.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(|| format!("invalid duration {s:?}"))?;
        let value: f64 = rest[..digits].parse().map_err(|_| format!("invalid duration {s:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest.find(|c: char| c.is_ascii_digit()).unwrap_or(rest.len());
        let factor = match &rest[..unit_len] {
            "ms" => 0.001,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            other => return Err(format!("invalid duration unit {other:?} in {s:?}")),
        };
        total += Duration::from_secs_f64(value * factor);
        rest = &rest[unit_len..];
    }
    Ok(total)
}

fn settings(args: &Args) -> Settings {
    Settings {
        cluster_cidr: if args.allocate_node_cidrs { args.cluster_cidr.clone() } else { String::new() },
        node_cidr_mask_size: args.node_cidr_mask_size,
        cluster_signing_cert_file: args.cluster_signing_cert_file.clone(),
        cluster_signing_key_file: args.cluster_signing_key_file.clone(),
        root_ca_file: args.root_ca_file.clone(),
        node_monitor_grace_period: args.node_monitor_grace_period,
        terminated_pod_gc_threshold: args.terminated_pod_gc_threshold,
        concurrent_syncs: args.concurrent_syncs,
    }
}

/// Runs one controller forever: an error (or an early return) is logged
/// and the controller restarted after a backoff, so one failing controller
/// never stops the others.
async fn supervise(ctx: Ctx, registration: &'static Registration) {
    let mut backoff = Duration::from_secs(1);
    loop {
        tracing::info!(controller = registration.name, "starting controller");
        let started = tokio::time::Instant::now();
        match (registration.run)(ctx.clone()).await {
            Ok(()) => tracing::warn!(controller = registration.name, "controller returned; restarting"),
            Err(err) => tracing::error!(controller = registration.name, error = format!("{err:#}"), "controller failed; restarting"),
        }
        if started.elapsed() > Duration::from_secs(60) {
            backoff = Duration::from_secs(1);
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(60));
    }
}

/// A client acting as `kube-system/<account>`; retried with backoff, since
/// the API server may still be reconciling its bootstrap RBAC policy.
async fn client_for_account(
    accounts: &component::service_account::ServiceAccountClients,
    controller: &str,
    account: &str,
) -> kube::Client {
    let mut backoff = Duration::from_millis(500);
    loop {
        match accounts.client_for(account).await {
            Ok(client) => return client,
            Err(err) => {
                let err = err.context(format!("credentials of the {controller} controller (service account kube-system/{account})"));
                tracing::warn!(error = format!("{err:#}"), "retrying in {backoff:?}");
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let known: Vec<&str> = REGISTRY.iter().map(|r| r.name).collect();
    let unknown = selection::unknown(&args.controllers, &known);
    if !unknown.is_empty() {
        anyhow::bail!("unknown controllers in --controllers: {} (known: {})", unknown.join(", "), known.join(", "));
    }
    let enabled: Vec<&'static Registration> =
        REGISTRY.iter().filter(|r| selection::is_enabled(&args.controllers, r.name, r.on_by_default)).collect();
    let config = component::config_from_options(&component::ClientOptions::new(args.kubeconfig.clone())).await?;
    let client = kube::Client::try_from(config.clone()).context("building the API client")?;
    let ctx = Ctx::new(client.clone(), settings(&args));
    let ctx_client = client.clone();
    let election = component::LeaderElection::new("kube-controller-manager", args.leader_elect);
    let use_sa = args.use_service_account_credentials;
    let work = async move {
        tracing::info!(controllers = ?enabled.iter().map(|r| r.name).collect::<Vec<_>>(), "running controllers");
        let accounts = component::service_account::ServiceAccountClients::new(config, client.clone(), "kube-system")?;
        let mut tasks = Vec::new();
        for registration in enabled {
            let mut controller_ctx = ctx.clone();
            if use_sa {
                let account = credentials::service_account_for(registration.name);
                controller_ctx.client = client_for_account(&accounts, registration.name, account).await;
            }
            tasks.push(supervise(controller_ctx, registration));
        }
        futures::future::join_all(tasks).await;
        Ok(())
    };
    tokio::select! {
        result = component::run_as_leader(ctx_client, &election, work) => {
            if result? == component::Leadership::Lost {
                anyhow::bail!("lost the kube-controller-manager lease");
            }
        }
        () = component::shutdown::signal() => tracing::info!("shutting down"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> ExitCode {
    component::telemetry::init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("controller-manager: {err:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("40s"), Ok(Duration::from_secs(40)));
        assert_eq!(parse_duration("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("12"), Ok(Duration::from_secs(12)));
        assert!(parse_duration("5x").is_err());
    }
}
