//! Scenario 3: N simulated nodes renewing their Leases every 10 s (the
//! simulator spreads renewals evenly; node status every 5 m, upstream's
//! `nodeStatusReportFrequency`). After registration and a settle period, a
//! steady window: the API server's CPU from `/proc/<pid>/stat`, and the
//! latency of Lease renewals measured by this harness, which holds `PROBES`
//! extra Leases in `kube-node-lease` and renews each every 10 s with the
//! same merge patch the simulator sends. The API server's own histogram
//! (`apiserver_request_duration_seconds{verb="patch",resource="leases"}`,
//! scraped before and after the window) gives the server-side share of all
//! renewals under 50 ms.

use std::time::{Duration, Instant};

use anyhow::Context;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, Patch, PatchParams, PostParams};

use crate::cluster::{format_cpu, Cluster, CpuWindow, Env};
use crate::nodes;
use crate::stats::percentile;

/// Extra Leases renewed by the harness.
pub const PROBES: usize = 100;
const INTERVAL: Duration = Duration::from_secs(10);

#[derive(Debug, Clone)]
pub struct Outcome {
    pub apiserver_cores: f64,
    pub cpu: Vec<(String, f64)>,
    pub probe_p50_ms: f64,
    pub probe_p99_ms: f64,
    pub probe_max_ms: f64,
    pub probe_samples: usize,
    pub probe_errors: usize,
    /// Lease patches served during the window (all clients), per second.
    pub server_patches_per_s: f64,
    /// Share of those under 50 ms per the server's histogram, and the
    /// histogram bucket holding the p99.
    pub server_under_50ms: f64,
    pub server_p99_bucket: String,
    pub apiserver_hwm_mib: f64,
}

/// Cumulative `(le, count)` of the lease patch histogram.
fn lease_buckets(metrics: &str) -> Vec<(String, f64)> {
    metrics
        .lines()
        .filter(|l| l.starts_with("apiserver_request_duration_seconds_bucket{") && l.contains("verb=\"patch\"") && l.contains("resource=\"leases\""))
        .filter_map(|l| {
            let le = l.split("le=\"").nth(1)?.split('"').next()?.to_string();
            let count: f64 = l.rsplit(' ').next()?.parse().ok()?;
            Some((le, count))
        })
        .collect()
}

pub async fn run(env: &Env, label: &str, node_count: usize, settle: Duration, window: Duration) -> anyhow::Result<Outcome> {
    let cluster = Cluster::start(env, label).await?;
    let admin = cluster.client("admin").await?;
    let sim = cluster.simulator(node_count, &["--heartbeat-interval", "10s", "--node-status-update", "5m"])?;
    nodes::wait_ready(&admin, node_count, Duration::from_secs(120 + node_count as u64 / 20)).await.with_context(|| sim.log_tail())?;

    let leases: Api<Lease> = Api::namespaced(admin.clone(), "kube-node-lease");
    for i in 0..PROBES {
        let lease: Lease = serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("bench-probe-{i}")},
            "spec": {"holderIdentity": format!("bench-probe-{i}"), "leaseDurationSeconds": 40},
        }))?;
        leases.create(&PostParams::default(), &lease).await.context("creating a probe lease")?;
    }
    // Renewals: one every INTERVAL / PROBES, round robin, each its own task
    // so that a slow one does not delay the next.
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Option<Duration>)>();
    let renewer = {
        let leases = leases.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(INTERVAL / PROBES as u32);
            for n in 0usize.. {
                tick.tick().await;
                let (leases, tx) = (leases.clone(), tx.clone());
                let name = format!("bench-probe-{}", n % PROBES);
                tokio::spawn(async move {
                    let patch = serde_json::json!({"spec": {"holderIdentity": name, "leaseDurationSeconds": 40,
                        "renewTime": k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime(k8s_openapi::jiff::Timestamp::now())}});
                    let sent = Instant::now();
                    let ok = leases.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.is_ok();
                    let _ = tx.send((sent, ok.then(|| sent.elapsed())));
                });
            }
        })
    };
    eprintln!("    {node_count} nodes Ready; settling {settle:?}, then a {window:?} window");
    tokio::time::sleep(settle).await;
    let before = cluster.raw_get("/metrics").await?;
    let cpu = CpuWindow::start(&[&cluster.apiserver, &sim]);
    let window_start = Instant::now();
    tokio::time::sleep(window).await;
    let cpu = cpu.finish();
    let window_end = Instant::now();
    let after = cluster.raw_get("/metrics").await?;
    renewer.abort();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let mut samples = Vec::new();
    let mut errors = 0;
    while let Ok((sent, latency)) = rx.try_recv() {
        if sent < window_start || sent > window_end {
            continue;
        }
        match latency {
            Some(l) => samples.push(l.as_secs_f64() * 1000.0),
            None => errors += 1,
        }
    }
    let (b0, b1) = (lease_buckets(&before), lease_buckets(&after));
    let delta: Vec<(String, f64)> = b1.iter().map(|(le, c)| (le.clone(), c - b0.iter().find(|(l, _)| l == le).map(|(_, c)| *c).unwrap_or(0.0))).collect();
    let total = delta.iter().find(|(le, _)| le == "+Inf").map(|(_, c)| *c).unwrap_or(0.0);
    let under_50 = delta.iter().find(|(le, _)| le == "0.05").map(|(_, c)| *c).unwrap_or(0.0);
    let p99_bucket = delta.iter().find(|(_, c)| total > 0.0 && *c >= 0.99 * total).map(|(le, _)| format!("≤ {le} s")).unwrap_or_else(|| "n/a".into());
    let apiserver_cores = cpu.first().map(|(_, c)| *c).unwrap_or(f64::NAN);
    let outcome = Outcome {
        apiserver_cores,
        cpu,
        probe_p50_ms: percentile(&samples, 50.0),
        probe_p99_ms: percentile(&samples, 99.0),
        probe_max_ms: percentile(&samples, 100.0),
        probe_samples: samples.len(),
        probe_errors: errors,
        server_patches_per_s: total / window.as_secs_f64(),
        server_under_50ms: if total > 0.0 { under_50 / total } else { f64::NAN },
        server_p99_bucket: p99_bucket,
        apiserver_hwm_mib: cluster.apiserver.peak_rss_mib().unwrap_or(f64::NAN),
    };
    eprintln!(
        "  {label}: apiserver {:.1}% of a core; probe p50 {:.1} ms p99 {:.1} ms max {:.1} ms ({} samples, {} errors); server: {:.0} lease patches/s, {:.2}% ≤ 50 ms; cores: {}",
        outcome.apiserver_cores * 100.0,
        outcome.probe_p50_ms,
        outcome.probe_p99_ms,
        outcome.probe_max_ms,
        outcome.probe_samples,
        outcome.probe_errors,
        outcome.server_patches_per_s,
        outcome.server_under_50ms * 100.0,
        format_cpu(&outcome.cpu)
    );
    drop(sim);
    Ok(outcome)
}
