//! Scenario a: create / get / update / list throughput and latency through
//! the API server on the embedded store and on etcd, with raw etcd put /
//! range from the same harness (same value size, same client counts) as the
//! reference, and raw etcd's create-if-absent txn: the one request any API
//! server's create costs etcd, so the ceiling of creates on that etcd. Repetitions interleave the targets so that load from the rest
//! of the machine affects them alike; figures are medians over repetitions.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use bytes::Bytes;
use hyper::{Method, StatusCode};
use storage::etcd::etcd_client::{Compare, CompareOp, Txn, TxnOp};
use storage::etcd::{EtcdConfig, EtcdStore};
use storage::test_etcd::TestEtcd;
use storage::{ListOptions, Store};
use tokio::sync::Barrier;

use crate::client::{excerpt, resource_version, Conn};
use crate::load::{self, http_error_kind, Phase, WorkerOut};
use crate::server::{find_pid, ApiServer, Backend, CpuMeter, CpuUse};
use crate::stats::{median, ms, rate, Errors, Report};
use crate::Ctx;

/// Namespace of the single-object operations.
const NS: &str = "default";
/// Namespace holding the objects the list operation reads.
const LIST_NS: &str = "apibench-list";
/// Raw etcd key prefixes (outside the API server's `/registry`).
const RAW_PREFIX: &str = "/apibench-raw";
const RAW_LIST_PREFIX: &str = "/apibench-raw-list/";
/// Size of the ConfigMap's `payload` value.
const PAYLOAD_BYTES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Target {
    RawEtcd,
    Embedded,
    OnEtcd,
}

impl Target {
    fn label(self) -> &'static str {
        match self {
            Target::RawEtcd => "raw etcd",
            Target::Embedded => "apiserver (embedded)",
            Target::OnEtcd => "apiserver (etcd)",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Op {
    Create,
    /// Raw etcd only: the create-if-absent txn an API server sends for a
    /// create (`create_revision == 0` then put), the ceiling of any API
    /// server's creates on that etcd.
    CreateTxn,
    Get,
    Update,
    List,
}

impl Op {
    fn label(self, target: Target, list_objects: usize) -> String {
        match (target, self) {
            (Target::RawEtcd, Op::Create) => "put".into(),
            (_, Op::CreateTxn) => "create-if-absent txn".into(),
            (Target::RawEtcd, Op::Get) => "range (1 key)".into(),
            (Target::RawEtcd, Op::List) => format!("range ({list_objects} keys)"),
            (_, Op::Create) => "create".into(),
            (_, Op::Get) => "get".into(),
            (_, Op::Update) => "update".into(),
            (_, Op::List) => format!("list ({list_objects} objects)"),
        }
    }
}

/// One repetition's figures of one (target, op, clients).
#[derive(Debug, Clone, Copy)]
struct Figures {
    rate: Option<f64>,
    p50: Option<f64>,
    p99: Option<f64>,
    cpu: CpuUse,
}

#[derive(Default)]
struct Results {
    runs: BTreeMap<(Target, Op, usize), Vec<Figures>>,
    errors: BTreeMap<(Target, Op, usize), Errors>,
}

impl Results {
    fn record(&mut self, key: (Target, Op, usize), mut phase: Phase, cpu: CpuUse) {
        let figures = Figures { rate: phase.rate(), p50: phase.lat.percentile_ms(50.0), p99: phase.lat.percentile_ms(99.0), cpu };
        eprintln!(
            "apibench:   {:<22} {:<8} {:>2} clients: {:>9}  p50 {:>9}  p99 {:>9}  errors {}  cpu {}",
            key.0.label(),
            format!("{:?}", key.1).to_lowercase(),
            key.2,
            rate(figures.rate),
            ms(figures.p50),
            ms(figures.p99),
            phase.errors.total(),
            cpu.render()
        );
        self.runs.entry(key).or_default().push(figures);
        self.errors.entry(key).or_default().merge(&phase.errors);
    }

    fn median(&self, key: (Target, Op, usize)) -> Figures {
        let runs = self.runs.get(&key).map(Vec::as_slice).unwrap_or(&[]);
        Figures {
            rate: median(runs.iter().map(|f| f.rate)),
            p50: median(runs.iter().map(|f| f.p50)),
            p99: median(runs.iter().map(|f| f.p99)),
            cpu: CpuUse {
                apiserver: median(runs.iter().map(|f| f.cpu.apiserver)),
                etcd: median(runs.iter().map(|f| f.cpu.etcd)),
                harness: median(runs.iter().map(|f| f.cpu.harness)),
                other: median(runs.iter().map(|f| f.cpu.other)),
            },
        }
    }
}

/// The ConfigMap the API operations write.
fn configmap(name: &str, ns: &str, rv: Option<u64>, counter: usize) -> Bytes {
    let rv = rv.map(|rv| format!(r#","resourceVersion":"{rv}""#)).unwrap_or_default();
    let payload = "x".repeat(PAYLOAD_BYTES);
    Bytes::from(format!(
        r#"{{"apiVersion":"v1","kind":"ConfigMap","metadata":{{"name":"{name}","namespace":"{ns}"{rv},"labels":{{"app":"apibench"}}}},"data":{{"counter":"{counter}","payload":"{payload}"}}}}"#
    ))
}

#[derive(Clone)]
struct ApiJob {
    addr: SocketAddr,
    op: Op,
    name_prefix: String,
    duration: std::time::Duration,
}

async fn api_worker(job: ApiJob, mut objs: Vec<(String, u64)>, barrier: Arc<Barrier>) -> WorkerOut {
    let conn = Conn::connect(job.addr).await;
    barrier.wait().await;
    let mut out = WorkerOut::default();
    let mut conn = match conn {
        Ok(c) => c,
        Err(e) => {
            out.errors.add(format!("connect: {e:#}"));
            return out;
        }
    };
    let end = load::deadline(job.duration);
    let collection = format!("/api/v1/namespaces/{NS}/configmaps");
    let list_path = format!("/api/v1/namespaces/{LIST_NS}/configmaps");
    let mut i = 0usize;
    while Instant::now() < end {
        let slot = if objs.is_empty() { 0 } else { i % objs.len() };
        let (method, path, body, name) = match job.op {
            Op::Create => {
                let name = format!("{}-{i}", job.name_prefix);
                (Method::POST, collection.clone(), Some(configmap(&name, NS, None, i)), name)
            }
            Op::Update | Op::Get if objs.is_empty() => {
                out.errors.add("no objects left from the create phase");
                break;
            }
            Op::Update => {
                let (name, rv) = &objs[slot];
                (Method::PUT, format!("{collection}/{name}"), Some(configmap(name, NS, Some(*rv), i)), name.clone())
            }
            Op::Get => {
                let name = objs[slot].0.clone();
                (Method::GET, format!("{collection}/{name}"), None, name)
            }
            Op::List => (Method::GET, list_path.clone(), None, String::new()),
            Op::CreateTxn => {
                out.errors.add("create-if-absent txn is a raw etcd operation");
                break;
            }
        };
        let started = Instant::now();
        match conn.call(method, &path, body).await {
            Ok((status, response)) if status.is_success() => {
                out.lat.push(started.elapsed().as_micros());
                out.ops += 1;
                match (job.op, resource_version(&response)) {
                    (Op::Create, Some(rv)) => objs.push((name, rv)),
                    (Op::Update, Some(rv)) => objs[slot].1 = rv,
                    (Op::Create | Op::Update, None) => out.errors.add_example("response without resourceVersion", excerpt(&response)),
                    _ => {}
                }
            }
            Ok((status, response)) => {
                out.errors.add_example(http_error_kind(status, &response), format!("{path}: {}", excerpt(&response)));
                if job.op == Op::Update && status == StatusCode::CONFLICT {
                    // Someone else wrote it (should not happen: clients own their objects).
                    if let Ok(current) = conn.call_ok(Method::GET, &path, None).await {
                        if let Some(rv) = resource_version(&current) {
                            objs[slot].1 = rv;
                        }
                    }
                }
            }
            Err(e) => {
                out.errors.add_example("transport error", format!("{e:#}"));
                match Conn::connect(job.addr).await {
                    Ok(c) => conn = c,
                    Err(e) => {
                        out.errors.add(format!("reconnect: {e:#}"));
                        break;
                    }
                }
            }
        }
        i += 1;
    }
    out.objs = objs;
    out
}

#[derive(Clone)]
struct RawJob {
    store: EtcdStore,
    op: Op,
    key_prefix: String,
    value: Bytes,
    list_expect: usize,
    duration: std::time::Duration,
}

async fn raw_worker(job: RawJob, objs: Vec<(String, u64)>, barrier: Arc<Barrier>) -> WorkerOut {
    let mut kv = job.store.client().kv_client();
    barrier.wait().await;
    let mut out = WorkerOut::default();
    let end = load::deadline(job.duration);
    let mut i = 0usize;
    let mut created = Vec::new();
    while Instant::now() < end {
        let started = Instant::now();
        let result: anyhow::Result<()> = match job.op {
            Op::Create => {
                let key = format!("{}/{i}", job.key_prefix);
                match kv.put(key.clone(), job.value.to_vec(), None).await {
                    Ok(_) => {
                        created.push((key, 0));
                        Ok(())
                    }
                    Err(e) => Err(e.into()),
                }
            }
            Op::Get => match objs.get(i % objs.len().max(1)) {
                None => {
                    out.errors.add("no keys left from the put phase");
                    break;
                }
                Some((key, _)) => match kv.get(key.clone(), None).await {
                    Ok(r) if r.kvs().len() == 1 => Ok(()),
                    Ok(_) => Err(anyhow::anyhow!("key {key} missing")),
                    Err(e) => Err(e.into()),
                },
            },
            Op::List => match job.store.list(ListOptions { prefix: RAW_LIST_PREFIX.into(), ..Default::default() }).await {
                Ok(r) if r.kvs.len() == job.list_expect => Ok(()),
                Ok(r) => Err(anyhow::anyhow!("range returned {} keys, expected {}", r.kvs.len(), job.list_expect)),
                Err(e) => Err(e.into()),
            },
            Op::CreateTxn => {
                let key = format!("{}/t{i}", job.key_prefix);
                let txn = Txn::new()
                    .when([Compare::create_revision(key.clone(), CompareOp::Equal, 0)])
                    .and_then([TxnOp::put(key.clone(), job.value.to_vec(), None)]);
                match kv.txn(txn).await {
                    Ok(r) if r.succeeded() => Ok(()),
                    Ok(_) => Err(anyhow::anyhow!("key {key} exists")),
                    Err(e) => Err(e.into()),
                }
            }
            Op::Update => Err(anyhow::anyhow!("no raw update operation")),
        };
        match result {
            Ok(()) => {
                out.lat.push(started.elapsed().as_micros());
                out.ops += 1;
            }
            Err(e) => out.errors.add_example("etcd error", format!("{e:#}")),
        }
        i += 1;
    }
    out.objs = if job.op == Op::Create { created } else { objs };
    out
}

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let plan = &ctx.plan;
    eprintln!("apibench: [a] starting two etcds and two API servers");
    // The raw reference gets its own etcd: writes outside the API server's
    // prefix would otherwise move etcd's revision past the watch cache's and
    // stall the API server's consistent reads (see BENCHMARKS.md).
    let etcd = start_etcd(&ctx.etcd_flags).await?;
    let raw_etcd = start_etcd(&ctx.etcd_flags).await?;
    let store = EtcdStore::connect(&[raw_etcd.endpoint()], EtcdConfig::default()).await.context("connecting to etcd")?;
    let (embedded, _) = ApiServer::start(&ctx.bin, "a-embedded", &ctx.work.join("a-embedded"), Backend::Embedded, &ctx.logs).await?;
    let (on_etcd, _) =
        ApiServer::start(&ctx.bin, "a-etcd", &ctx.work.join("a-etcd"), Backend::Etcd { endpoint: etcd.endpoint() }, &ctx.logs).await?;
    let servers = [(Target::Embedded, &embedded), (Target::OnEtcd, &on_etcd)];
    let etcd_pid = find_pid("etcd", &format!("--listen-client-urls={}", etcd.endpoint()));
    let raw_etcd_pid = find_pid("etcd", &format!("--listen-client-urls={}", raw_etcd.endpoint()));
    if etcd_pid.is_none() || raw_etcd_pid.is_none() {
        eprintln!("apibench: [a] etcd's pid not found; its CPU counts as \"other\"");
    }

    // The stored size of the ConfigMaps, for raw values of the same size.
    let mut probe = Conn::connect(embedded.addr).await?;
    let created = probe
        .call_ok(Method::POST, &format!("/api/v1/namespaces/{NS}/configmaps"), Some(configmap("apibench-probe", NS, None, 0)))
        .await
        .context("creating a probe ConfigMap")?;
    let value = Bytes::from(vec![b'v'; created.len()]);
    drop(probe);

    eprintln!("apibench: [a] loading {} objects to list on each target", plan.list_objects);
    for (target, server) in servers {
        load::namespace(server.addr, LIST_NS).await?;
        let loaded = load::bulk_create(server.addr, 16, plan.list_objects, |i| {
            (format!("/api/v1/namespaces/{LIST_NS}/configmaps"), configmap(&format!("cm-{i}"), LIST_NS, None, i))
        })
        .await?;
        if loaded.errors.total() > 0 {
            report.problem(format!("[a] loading the list namespace on {}: {}", target.label(), loaded.errors.summary()));
        }
    }
    let mut kv = store.client().kv_client();
    for i in 0..plan.list_objects {
        kv.put(format!("{RAW_LIST_PREFIX}{i:06}"), value.to_vec(), None).await.context("loading raw etcd keys")?;
    }

    let mut results = Results::default();
    for rep in 0..plan.reps {
        for &clients in &plan.client_counts {
            eprintln!("apibench: [a] repetition {}/{}, {clients} clients", rep + 1, plan.reps);
            // Raw etcd reference.
            let mut keys = Vec::new();
            for op in [Op::Create, Op::CreateTxn, Op::Get, Op::List] {
                let job = RawJob {
                    store: store.clone(),
                    op,
                    key_prefix: String::new(),
                    value: value.clone(),
                    list_expect: plan.list_objects,
                    duration: plan.phase,
                };
                let meter = CpuMeter::start(None, raw_etcd_pid);
                let (phase, objs) = load::run_phase(clients, |c, barrier| {
                    let mut job = job.clone();
                    job.key_prefix = format!("{RAW_PREFIX}/r{rep}/n{clients}/c{c}");
                    raw_worker(job, keys.get(c).cloned().unwrap_or_default(), barrier)
                })
                .await?;
                if op == Op::Create {
                    keys = objs;
                }
                results.record((Target::RawEtcd, op, clients), phase, meter.finish());
            }
            // Through the API server, on each backend.
            for (target, server) in servers {
                let mut objects = Vec::new();
                for op in [Op::Create, Op::Get, Op::Update, Op::List] {
                    let job = ApiJob { addr: server.addr, op, name_prefix: String::new(), duration: plan.phase };
                    let meter = CpuMeter::start(server.pid(), etcd_pid);
                    let (phase, objs) = load::run_phase(clients, |c, barrier| {
                        let mut job = job.clone();
                        job.name_prefix = format!("cm-r{rep}-n{clients}-c{c}");
                        api_worker(job, objects.get(c).cloned().unwrap_or_default(), barrier)
                    })
                    .await?;
                    if matches!(op, Op::Create | Op::Update) {
                        objects = objs;
                    }
                    results.record((target, op, clients), phase, meter.finish());
                }
            }
        }
    }

    summarise(ctx, report, &results, value.len());
    for (target, server) in servers {
        crate::note_log_problems(report, &format!("[a] {}", target.label()), server);
    }
    drop(embedded);
    drop(on_etcd);
    drop(etcd);
    drop(raw_etcd);
    Ok(())
}

async fn start_etcd(flags: &[String]) -> anyhow::Result<TestEtcd> {
    let flags = flags.to_vec();
    tokio::task::spawn_blocking(move || TestEtcd::start_with(&flags))
        .await
        .context("starting etcd")?
        .map_err(anyhow::Error::msg)
        .context("starting etcd")
}

fn summarise(ctx: &Ctx, report: &mut Report, results: &Results, value_bytes: usize) {
    let plan = &ctx.plan;
    let max_clients = plan.client_counts.iter().copied().max().unwrap_or(1);
    let raw_put = |clients| results.median((Target::RawEtcd, Op::Create, clients)).rate;
    let ratio = |num: Option<f64>, den: Option<f64>| match (num, den) {
        (Some(n), Some(d)) if d > 0.0 => Some(n / d),
        _ => None,
    };
    let pct = |r: Option<f64>| r.map_or("n/a".to_string(), |r| format!("{:.0}%", r * 100.0));
    for &clients in &plan.client_counts {
        for (target, floor) in [(Target::OnEtcd, 0.60), (Target::Embedded, 1.00)] {
            for op in [Op::Create, Op::Update] {
                let r = ratio(results.median((target, op, clients)).rate, raw_put(clients));
                let metric = format!("{} {} / raw etcd put, {clients} client{}", target.label(), op.label(target, 0), if clients == 1 { "" } else { "s" });
                if clients == max_clients {
                    report.check("a", metric, pct(r), format!("≥ {:.0}%", floor * 100.0), r.map(|r| r >= floor));
                } else {
                    report.info("a", metric, pct(r));
                }
            }
        }
    }
    // What etcd itself allows: any API server's create on etcd is one
    // create-if-absent txn, so the raw txn rate bounds it.
    for &clients in &plan.client_counts {
        let s = if clients == 1 { "" } else { "s" };
        let raw_txn = results.median((Target::RawEtcd, Op::CreateTxn, clients)).rate;
        report.info("a", format!("raw etcd create-if-absent txn / raw etcd put, {clients} client{s}"), pct(ratio(raw_txn, raw_put(clients))));
        let api_create = results.median((Target::OnEtcd, Op::Create, clients)).rate;
        report.info("a", format!("apiserver (etcd) create / raw etcd create-if-absent txn, {clients} client{s}"), pct(ratio(api_create, raw_txn)));
    }
    for target in [Target::Embedded, Target::OnEtcd] {
        for op in [Op::Create, Op::Update] {
            let p99 = results.median((target, op, max_clients)).p99;
            report.check(
                "a",
                format!("{} {} p99, {max_clients} clients", target.label(), op.label(target, 0)),
                ms(p99),
                "< 50 ms",
                p99.map(|p| p < 50.0),
            );
        }
    }
    let mut failed = 0;
    let mut table = String::new();
    let _ = writeln!(
        table,
        "### a. Throughput and latency (median of {} repetition{} × {:.1} s per cell; ConfigMaps of {value_bytes} B stored, raw etcd values of the same size)\n",
        plan.reps,
        if plan.reps == 1 { "" } else { "s" },
        plan.phase.as_secs_f64()
    );
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let _ = writeln!(
        table,
        "CPU columns: cores used during the cell by the API server, by etcd (the one behind the API server, or the raw \
         reference), by this harness, and by other processes on the machine ({cores} cores in all).\n"
    );
    let _ = writeln!(table, "| target | operation | clients | throughput | p50 | p99 | errors | CPU cores: apiserver / etcd / harness / other |");
    let _ = writeln!(table, "|---|---|---|---|---|---|---|---|");
    for &(target, op, clients) in results.runs.keys() {
        let f = results.median((target, op, clients));
        let errors = results.errors.get(&(target, op, clients)).map(Errors::total).unwrap_or(0);
        failed += errors;
        let _ = writeln!(
            table,
            "| {} | {} | {clients} | {} | {} | {} | {errors} | {} |",
            target.label(),
            op.label(target, plan.list_objects),
            rate(f.rate),
            ms(f.p50),
            ms(f.p99),
            f.cpu.render()
        );
    }
    report.details.push(table);
    if failed > 0 {
        for ((target, op, clients), errors) in &results.errors {
            if errors.total() > 0 {
                report.problem(format!("[a] {} {} with {clients} clients: {}", target.label(), op.label(*target, plan.list_objects), errors.summary()));
            }
        }
    }
}
