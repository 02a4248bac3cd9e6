//! `apibench`: API server benchmarks whose figures are measured side by side
//! in one run and printed as medians and ratios (a Markdown report on
//! stdout, progress on stderr). Run it through `hack/bench.sh`, which builds
//! the release binaries, raises the open-files limit and cleans up.
//!
//! ```text
//! apibench --apiserver target/release/apiserver [--quick] [--scenarios a,b,c,d,e] [--logs DIR]
//! ```
//!
//! Scenarios (each starts its own servers on free loopback ports):
//! * a: create / get / update / list throughput and p50/p99 through the API
//!   server, embedded store and etcd, 1 and 64 clients, with raw etcd put and
//!   range from the same harness as reference;
//! * b: watch fan-out, many watchers while a writer creates pods at a fixed rate;
//! * c: LIST of many realistic pods from the watch cache, and RSS;
//! * d: cold start to `/readyz` with those pods on the embedded store;
//! * e: authentication + authorization overhead per request (x509, static
//!   token, service-account JWT) with 1,000 RoleBindings, and TokenReview
//!   throughput.
//!
//! The API server runs as a child process (as deployed); the harness uses
//! hyper's client with one keep-alive connection per simulated client and
//! shares the machine with it, so client CPU is part of every figure.

mod apibench {
    pub mod auth;
    pub mod biglist;
    pub mod client;
    pub mod load;
    pub mod server;
    pub mod stats;
    pub mod throughput;
    pub mod watch;
}

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;

pub(crate) use apibench::{client, load, server, stats};
use apibench::{auth, biglist, throughput, watch};
use stats::Report;

#[derive(Debug, Parser)]
#[command(name = "apibench", about = "API server benchmarks (see hack/bench.sh and BENCHMARKS.md)")]
struct Args {
    /// The apiserver binary to benchmark.
    #[arg(long)]
    apiserver: PathBuf,
    /// A short smoke run (fewer repetitions, objects and watchers).
    #[arg(long)]
    quick: bool,
    /// Which scenarios to run.
    #[arg(long, value_delimiter = ',', default_value = "a,b,c,d,e")]
    scenarios: Vec<String>,
    /// Where to keep the API servers' logs (default: inside the work directory).
    #[arg(long)]
    logs: Option<PathBuf>,
    /// An extra flag for both etcds of scenario a, the raw reference and the
    /// one behind the API server (repeatable), e.g.
    /// `--etcd-flag=--backend-batch-interval=10ms`.
    #[arg(long = "etcd-flag", allow_hyphen_values = true)]
    etcd_flags: Vec<String>,
}

/// Sizes and durations of a run.
#[derive(Debug, Clone)]
pub struct Plan {
    pub reps: usize,
    pub phase: Duration,
    pub client_counts: Vec<usize>,
    pub list_objects: usize,
    pub watchers: usize,
    pub watch_rate: u32,
    pub watch_secs: f64,
    pub watch_runs: usize,
    pub pods: usize,
    pub lists: usize,
    pub restarts: usize,
    pub auth: auth::AuthPlan,
}

impl Plan {
    fn full() -> Plan {
        Plan {
            reps: 5,
            phase: Duration::from_secs(2),
            client_counts: vec![1, 64],
            list_objects: 1000,
            watchers: 1000,
            watch_rate: 200,
            watch_secs: 10.0,
            watch_runs: 3,
            pods: 50_000,
            lists: 10,
            restarts: 3,
            auth: auth::AuthPlan::full(),
        }
    }

    fn quick() -> Plan {
        Plan {
            reps: 1,
            phase: Duration::from_millis(500),
            client_counts: vec![1, 64],
            list_objects: 1000,
            watchers: 200,
            watch_rate: 200,
            watch_secs: 3.0,
            watch_runs: 1,
            pods: 5_000,
            lists: 3,
            restarts: 3,
            auth: auth::AuthPlan::quick(),
        }
    }
}

/// What every scenario gets.
pub struct Ctx {
    pub bin: PathBuf,
    /// Scratch directory for data dirs (removed at the end).
    pub work: PathBuf,
    pub logs: PathBuf,
    pub plan: Plan,
    /// Extra flags for both etcds of scenario a.
    pub etcd_flags: Vec<String>,
}

/// Report the WARN/ERROR lines a server logged.
pub fn note_log_problems(report: &mut Report, scope: &str, server: &server::ApiServer) {
    let problems = server.log_problems();
    if problems.warn + problems.error > 0 {
        report.problem(format!(
            "{scope}: server log {} has {} WARN and {} ERROR lines, e.g. {}",
            server.log_path().display(),
            problems.warn,
            problems.error,
            problems.examples.iter().map(|e| format!("`{}`", e.replace('`', "'"))).collect::<Vec<_>>().join(", ")
        ));
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("apibench: building the tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(args)) {
        Ok((report, failed)) => {
            print!("{}", report.render());
            if failed {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("apibench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Machine and run description for the report header.
fn header(args: &Args, plan: &Plan, load_at_start: &str) -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("model name").map(|r| r.trim_start_matches([' ', '\t', ':']).to_string()))
        .unwrap_or_else(|| "unknown CPU".into());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let etcd = std::process::Command::new("etcd")
        .arg("--version")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).lines().next().map(str::to_string))
        .unwrap_or_else(|| "etcd: unknown version".into());
    let etcd_flags = match args.etcd_flags.as_slice() {
        [] => String::new(),
        flags => format!(" Both etcds of scenario a (the raw reference and the one behind the API server) run with `{}`.", flags.join(" ")),
    };
    format!(
        "## apibench results ({} run, {})\n\nMachine: {cores} cores ({cpu}), {:.1} GiB RAM, Linux {}; {etcd}. \
         Load average at start / end of the run: {load_at_start} / {}.\n\
         Plan: {} repetition(s) × {:.1} s per cell, clients {:?}; {} watchers at {} writes/s for {:.0} s × {} run(s); \
         {} pods, {} LISTs of each kind; {} cold starts.{etcd_flags}\n",
        if args.quick { "quick" } else { "full" },
        jiff::Timestamp::now().strftime("%Y-%m-%d %H:%M UTC"),
        mem_kib as f64 / 1024.0 / 1024.0,
        kernel.trim(),
        load_average(),
        plan.reps,
        plan.phase.as_secs_f64(),
        plan.client_counts,
        plan.watchers,
        plan.watch_rate,
        plan.watch_secs,
        plan.watch_runs,
        plan.pods,
        plan.lists,
        plan.restarts,
    )
}

/// `/proc/loadavg`'s 1, 5 and 15 minute figures (other work on the machine
/// shows up here and in the "other" CPU column).
fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().take(3).collect::<Vec<_>>().join(" ")
}

async fn run(args: Args) -> anyhow::Result<(Report, bool)> {
    let load_at_start = load_average();
    let plan = if args.quick { Plan::quick() } else { Plan::full() };
    let bin = std::fs::canonicalize(&args.apiserver).with_context(|| format!("finding the apiserver binary {}", args.apiserver.display()))?;
    let work = tempfile::Builder::new().prefix("apibench-").tempdir().context("creating a work directory")?;
    let logs = match &args.logs {
        Some(dir) => dir.clone(),
        None => work.path().join("logs"),
    };
    std::fs::create_dir_all(&logs).with_context(|| format!("creating {}", logs.display()))?;
    let wanted = |s: &str| args.scenarios.iter().any(|x| x.trim() == s);
    let ctx = Ctx { bin, work: work.path().to_path_buf(), logs, plan: plan.clone(), etcd_flags: args.etcd_flags.clone() };
    let mut report = Report::default();
    let mut failed = false;
    let started = Instant::now();
    let mut scenario = |name: &str, result: anyhow::Result<()>, report: &mut Report| {
        if let Err(e) = result {
            failed = true;
            report.problem(format!("scenario {name} aborted: {e:#}"));
        }
    };
    if wanted("a") {
        let result = throughput::run(&ctx, &mut report).await;
        scenario("a", result, &mut report);
    }
    if wanted("b") {
        let result = watch::run(&ctx, &mut report).await;
        scenario("b", result, &mut report);
    }
    if wanted("c") || wanted("d") {
        let result = biglist::run(&ctx, &mut report, wanted("c"), wanted("d")).await;
        scenario("c/d", result, &mut report);
    }
    if wanted("e") {
        let result = auth::run(&ctx, &mut report).await;
        scenario("e", result, &mut report);
    }
    eprintln!("apibench: done in {:.0} s", started.elapsed().as_secs_f64());
    // Stable: keeps each scenario's rows in the order they were added.
    report.rows.sort_by_key(|r| r.scenario);
    report.header = header(&args, &plan, &load_at_start);
    Ok((report, failed))
}
