//! Cluster benchmarks of issue 4, run by `hack/bench-cluster.sh`:
//!
//! - `sched`: scheduler throughput through the real API server (1,000 and
//!   5,000 simulated nodes, 10,000 pods; 5,000 directly created nodes
//!   without a simulator; required anti-affinity; topology spread),
//! - `deploy`: a 10,000-replica Deployment on 1,000 simulated nodes (time to
//!   all Ready, peak RSS of the controller-manager and the scheduler),
//! - `heartbeat`: 5,000 simulated nodes renewing Leases every 10 s (API
//!   server CPU, p99 Lease renewal latency).
//!
//! Every run starts its own API server (release binary, HTTPS, RBAC,
//! embedded store) and components as children of this process, in a scratch
//! dir under `$TMPDIR`. The report (Markdown) goes to stdout, progress to
//! stderr. Benchmarks, not tests: figures and ratios, nothing fails.

mod cluster;
mod deploy;
mod heartbeat;
mod nodes;
mod sched;
mod stats;

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use cluster::{format_cpu, Env};
use stats::median;

#[derive(Parser)]
struct Args {
    /// Directory holding the release binaries (apiserver, scheduler, ...).
    #[arg(long, default_value = "target/release")]
    bin_dir: PathBuf,
    /// Where component logs go.
    #[arg(long, default_value = "target/bench-cluster/logs")]
    logs: PathBuf,
    /// Small sizes, one run each (a smoke test of the harness).
    #[arg(long)]
    quick: bool,
    /// Scenarios to run: sched, deploy, heartbeat.
    #[arg(long, value_delimiter = ',', default_value = "sched,deploy,heartbeat")]
    scenarios: Vec<String>,
    /// Runs of each basic scheduler case (median reported).
    #[arg(long)]
    runs: Option<usize>,
    /// Only the scheduler cases with these names (e.g. `spread-5000`).
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
}

/// Sizes of one mode.
struct Sizes {
    runs: usize,
    sched: Vec<(&'static str, sched::Plan, usize)>,
    deploy: (usize, i32),
    heartbeat: (usize, Duration, Duration),
}

fn sizes(quick: bool, runs: Option<usize>) -> Sizes {
    use sched::{Plan, Workload::*};
    let p = |nodes, init_pods, pods, workload, simulator| Plan { nodes, init_pods, pods, workload, simulator };
    if quick {
        let runs = runs.unwrap_or(1);
        Sizes {
            runs,
            sched: vec![
                ("basic-200", p(200, 0, 1000, Basic, true), runs),
                ("basic-200-direct", p(200, 0, 1000, Basic, false), 1),
                ("anti-200", p(200, 50, 100, AntiAffinity, true), 1),
                ("spread-200", p(200, 500, 500, Spread, true), 1),
            ],
            deploy: (100, 1000),
            heartbeat: (500, Duration::from_secs(5), Duration::from_secs(15)),
        }
    } else {
        let runs = runs.unwrap_or(3);
        Sizes {
            runs,
            sched: vec![
                ("basic-1000", p(1000, 0, 10_000, Basic, true), runs),
                ("basic-5000", p(5000, 0, 10_000, Basic, true), runs),
                ("basic-5000-direct", p(5000, 0, 10_000, Basic, false), 1),
                // upstream SchedulingPodAntiAffinity/5000Nodes_2000Pods
                ("anti-5000", p(5000, 1000, 2000, AntiAffinity, true), 1),
                // upstream TopologySpreading/5000Nodes_5000Pods
                ("spread-5000", p(5000, 5000, 5000, Spread, true), 1),
            ],
            deploy: (1000, 10_000),
            heartbeat: (5000, Duration::from_secs(20), Duration::from_secs(60)),
        }
    }
}

/// Upstream scheduler_perf floors (pods/s, in-process, no real API server
/// round trips for binding) for the closest workload.
fn upstream_floor(w: sched::Workload) -> (&'static str, f64) {
    match w {
        sched::Workload::Basic => ("SchedulingBasic/5000Nodes_10000Pods", 680.0),
        sched::Workload::AntiAffinity => ("SchedulingPodAntiAffinity/5000Nodes_2000Pods", 60.0),
        sched::Workload::Spread => ("TopologySpreading/5000Nodes_5000Pods", 460.0),
    }
}

struct Report {
    rows: String,
}

impl Report {
    fn row(&mut self, scenario: &str, metric: &str, result: String, target: &str, status: &str) {
        let _ = writeln!(self.rows, "| {scenario} | {metric} | {result} | {target} | {status} |");
    }
}

fn pass(ok: bool) -> &'static str {
    if ok {
        "PASS"
    } else {
        "**MISS**"
    }
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg").map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" ")).unwrap_or_default()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    std::fs::create_dir_all(&args.logs)?;
    let scratch = std::env::temp_dir().join("clusterbench");
    std::fs::create_dir_all(&scratch)?;
    let env = Env { bin_dir: args.bin_dir.clone(), scratch, logs: args.logs.clone() };
    let s = sizes(args.quick, args.runs);
    let load_start = loadavg();
    let mut report = Report { rows: String::new() };
    let mut notes = String::new();
    let wants = |name: &str| args.scenarios.iter().any(|s| s == name);

    if wants("sched") {
        for (name, plan, runs) in &s.sched {
            if !args.only.is_empty() && !args.only.iter().any(|o| o == name) {
                continue;
            }
            eprintln!("sched {name}: {} nodes ({}), {} init + {} measured pods, {} ({runs} run(s))", plan.nodes, if plan.simulator { "simulated" } else { "direct" }, plan.init_pods, plan.pods, plan.workload.name());
            let mut outcomes = Vec::new();
            for r in 0..*runs {
                match sched::run(&env, &format!("{name}-{r}"), plan).await {
                    Ok(o) => outcomes.push(o),
                    Err(e) => {
                        eprintln!("  {name} run {r} failed: {e:#}");
                        let _ = writeln!(notes, "- {name} run {r} failed: {}", format!("{e:#}").lines().next().unwrap_or(""));
                    }
                }
            }
            if outcomes.is_empty() {
                report.row(name, "pods/s end to end", "failed".into(), "", "");
                continue;
            }
            let rate = median(&outcomes.iter().map(|o| o.pods_per_s).collect::<Vec<_>>());
            let creates = median(&outcomes.iter().map(|o| o.creates_per_s).collect::<Vec<_>>());
            let runs_txt = outcomes.iter().map(|o| format!("{:.0}", o.pods_per_s)).collect::<Vec<_>>().join(", ");
            let metric = format!(
                "{} pods/s, {} nodes ({}), {} pods{}",
                plan.workload.name(),
                plan.nodes,
                if plan.simulator { "sim" } else { "direct" },
                plan.pods,
                if plan.init_pods > 0 { format!(" after {} init", plan.init_pods) } else { String::new() }
            );
            let (floor_name, floor) = upstream_floor(plan.workload);
            if plan.workload == sched::Workload::Basic {
                report.row(name, &metric, format!("{rate:.0} (runs: {runs_txt}; creates {creates:.0}/s)"), "≥ 1,000", pass(rate >= 1000.0));
                report.row(name, "ratio to target 1,000 / to upstream floor 680", format!("{:.2} / {:.2}", rate / 1000.0, rate / floor), "", "");
            } else {
                report.row(name, &metric, format!("{rate:.0} (creates {creates:.0}/s)"), &format!("upstream {floor_name}: {floor:.0}"), "");
                report.row(name, "ratio to upstream floor", format!("{:.2}", rate / floor), "≥ 1", pass(rate >= floor));
            }
            let last = &outcomes[outcomes.len() - 1];
            report.row(name, "cores during the measured window (last run)", format_cpu(&last.cpu), "", "");
            report.row(name, "scheduler peak RSS (last run)", format!("{:.0} MiB", last.scheduler_hwm_mib), "", "");
        }
    }

    if wants("deploy") {
        let (node_count, replicas) = s.deploy;
        eprintln!("deploy: {replicas} replicas on {node_count} simulated nodes");
        match deploy::run(&env, "deploy", node_count, replicas).await {
            Ok(o) => {
                let secs = o.to_ready.as_secs_f64();
                report.row("deploy", &format!("Deployment of {replicas} replicas on {node_count} nodes: create → all Ready"), format!("{secs:.1} s"), "< 30 s", pass(secs < 30.0));
                report.row("deploy", "ratio to target", format!("{:.2}", secs / 30.0), "≤ 1", "");
                if let Some(c) = o.to_created {
                    report.row("deploy", "create → all pods created (status.replicas)", format!("{:.1} s", c.as_secs_f64()), "", "");
                }
                for (name, mib) in &o.hwm {
                    let target = matches!(name.as_str(), "controller-manager" | "scheduler");
                    report.row("deploy", &format!("{name} peak RSS (VmHWM)"), format!("{mib:.0} MiB"), if target { "< 100 MB" } else { "" }, if target { pass(mib * 1.048_576 < 100.0) } else { "" });
                }
                report.row("deploy", "cores, create → all Ready", format_cpu(&o.cpu), "", "");
            }
            Err(e) => {
                eprintln!("  deploy failed: {e:#}");
                report.row("deploy", "Deployment to all Ready", "failed".into(), "< 30 s", "**MISS**");
                let _ = writeln!(notes, "- deploy failed: {}", format!("{e:#}").lines().next().unwrap_or(""));
            }
        }
    }

    if wants("heartbeat") {
        let (node_count, settle, window) = s.heartbeat;
        eprintln!("heartbeat: {node_count} simulated nodes, Leases every 10 s");
        match heartbeat::run(&env, "heartbeat", node_count, settle, window).await {
            Ok(o) => {
                report.row("heartbeat", &format!("apiserver CPU, {node_count} nodes, steady {}s window", window.as_secs()), format!("{:.1}% of one core", o.apiserver_cores * 100.0), "", "");
                report.row(
                    "heartbeat",
                    &format!("Lease renewal p99 (harness, {} probe leases, {} samples, {} errors)", heartbeat::PROBES, o.probe_samples, o.probe_errors),
                    format!("{:.1} ms (p50 {:.1}, max {:.1})", o.probe_p99_ms, o.probe_p50_ms, o.probe_max_ms),
                    "< 50 ms",
                    pass(o.probe_p99_ms < 50.0),
                );
                report.row("heartbeat", "ratio to target", format!("{:.2}", o.probe_p99_ms / 50.0), "≤ 1", "");
                report.row(
                    "heartbeat",
                    "server histogram: lease patches/s, share ≤ 50 ms, p99 bucket",
                    format!("{:.0}/s, {:.2}%, {}", o.server_patches_per_s, o.server_under_50ms * 100.0, o.server_p99_bucket),
                    "",
                    "",
                );
                report.row("heartbeat", "cores in the window", format_cpu(&o.cpu), "", "");
                report.row("heartbeat", "apiserver peak RSS", format!("{:.0} MiB", o.apiserver_hwm_mib), "", "");
            }
            Err(e) => {
                eprintln!("  heartbeat failed: {e:#}");
                report.row("heartbeat", "Lease renewal p99", "failed".into(), "< 50 ms", "**MISS**");
                let _ = writeln!(notes, "- heartbeat failed: {}", format!("{e:#}").lines().next().unwrap_or(""));
            }
        }
    }

    let load_end = loadavg();
    println!("### clusterbench results ({} run)\n", if args.quick { "quick" } else { "full" });
    println!("Load average at start / end: {load_start} / {load_end}. Basic scheduler cases: median of {} run(s); others one run.\n", s.runs);
    println!("| scenario | metric | result | target / reference | status |\n|---|---|---|---|---|");
    print!("{}", report.rows);
    if !notes.is_empty() {
        println!("\nFailures:\n{notes}");
    }
    Ok(())
}
