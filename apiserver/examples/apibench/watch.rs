//! Scenario b: watch fan-out. Many watchers (each its own HTTP connection,
//! watching pods in one namespace) while a writer creates pods at a fixed
//! rate. Each pod carries its sequence number in an annotation; the writer
//! records when it sent and when the API server acknowledged each write, the
//! watchers when each event arrived, all on one monotonic clock.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::Method;
use tokio::sync::{mpsc, watch, Semaphore};

use crate::client::{excerpt, find, resource_version, Conn};
use crate::load::{self, http_error_kind};
use crate::server::{ApiServer, Backend, CpuMeter, CpuUse};
use crate::stats::{median, ms, thousands, Errors, Report, Samples};
use crate::Ctx;

const SEQ_MARK: &[u8] = b"\"bench.ferrokube.io/seq\":\"";
/// Watch connections opened at the same time while setting up.
const CONNECT_CONCURRENCY: usize = 50;
/// Writer connections (slots are spread over them so that one slow write
/// does not hold back the schedule).
const WRITER_CONNS: usize = 8;
/// How long to wait for the last events after the writer finished.
const DRAIN_GRACE: Duration = Duration::from_secs(15);
const UNSET: u64 = u64::MAX;

fn pod(ns: &str, seq: usize) -> Bytes {
    Bytes::from(format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"w-{seq}","namespace":"{ns}","labels":{{"app":"watch-bench"}},"annotations":{{"bench.ferrokube.io/seq":"{seq}"}}}},"spec":{{"containers":[{{"name":"app","image":"registry.k8s.io/pause:3.10","resources":{{"requests":{{"cpu":"10m","memory":"16Mi"}}}}}}]}}}}"#
    ))
}

#[derive(Default)]
struct WatcherOut {
    /// (sequence number, arrival in µs since the run's base instant).
    arrivals: Vec<(u32, u64)>,
    connect_error: Option<String>,
    /// Why the stream ended before we stopped it, if it did.
    ended: Option<String>,
    error_events: usize,
}

#[allow(clippy::too_many_arguments)]
async fn watcher(
    addr: SocketAddr,
    path: Arc<String>,
    gate: Arc<Semaphore>,
    ready: mpsc::Sender<Result<(), String>>,
    mut stop: watch::Receiver<bool>,
    delivered: Arc<AtomicU64>,
    base: Instant,
) -> WatcherOut {
    let mut out = WatcherOut::default();
    let permit = gate.acquire_owned().await;
    let started = async {
        let mut conn = Conn::connect(addr).await?;
        let response = conn.start(Method::GET, &path, None).await?;
        if !response.status().is_success() {
            let status = response.status();
            let body = response.into_body().collect().await.map(|b| b.to_bytes()).unwrap_or_default();
            anyhow::bail!("watch: HTTP {status}: {}", excerpt(&body));
        }
        Ok((conn, response))
    }
    .await;
    drop(permit);
    let (conn, response) = match started {
        Ok(x) => x,
        Err(e) => {
            let message = format!("{e:#}");
            let _ = ready.send(Err(message.clone())).await;
            out.connect_error = Some(message);
            return out;
        }
    };
    let _ = ready.send(Ok(())).await;
    let mut body = response.into_body();
    let mut pending: Vec<u8> = Vec::with_capacity(4096);
    loop {
        tokio::select! {
            biased;
            frame = body.frame() => match frame {
                Some(Ok(frame)) => {
                    let Ok(data) = frame.into_data() else { continue };
                    let now = base.elapsed().as_micros() as u64;
                    pending.extend_from_slice(&data);
                    let mut consumed = 0;
                    let mut events = 0;
                    while let Some(nl) = pending[consumed..].iter().position(|&b| b == b'\n') {
                        let line = &pending[consumed..consumed + nl];
                        if let Some(seq) = sequence(line) {
                            out.arrivals.push((seq, now));
                            events += 1;
                        } else if find(line, b"\"type\":\"ERROR\"").is_some() {
                            out.error_events += 1;
                        }
                        consumed += nl + 1;
                    }
                    pending.drain(..consumed);
                    delivered.fetch_add(events, Ordering::Relaxed);
                }
                Some(Err(e)) => {
                    out.ended = Some(format!("watch stream failed: {e}"));
                    break;
                }
                None => {
                    out.ended = Some("the server ended the watch".into());
                    break;
                }
            },
            _ = stop.changed() => break,
        }
    }
    drop(conn);
    out
}

fn sequence(line: &[u8]) -> Option<u32> {
    let at = find(line, SEQ_MARK)? + SEQ_MARK.len();
    let digits = line[at..].iter().take_while(|b| b.is_ascii_digit()).count();
    std::str::from_utf8(&line[at..at + digits]).ok()?.parse().ok()
}

struct WriterOut {
    errors: Errors,
    secs: f64,
    /// Size of a created pod as the server returned it (≈ the event's object).
    pod_bytes: usize,
}

/// The writer, on its own thread and runtime so that the watchers' load
/// does not disturb its schedule: write `i` is due at `start + i × interval`.
#[allow(clippy::too_many_arguments)]
fn writer(
    addr: SocketAddr,
    ns: String,
    total: usize,
    interval: Duration,
    base: Instant,
    sent: Arc<Vec<AtomicU64>>,
    acked: Arc<Vec<AtomicU64>>,
) -> anyhow::Result<WriterOut> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().context("building the writer runtime")?;
    runtime.block_on(async move {
        let mut conns = Vec::new();
        for _ in 0..WRITER_CONNS {
            conns.push(Conn::connect(addr).await?);
        }
        let start = tokio::time::Instant::now() + Duration::from_millis(50);
        let started = Instant::now();
        let mut tasks = Vec::new();
        for (k, mut conn) in conns.into_iter().enumerate() {
            let (ns, sent, acked) = (ns.clone(), sent.clone(), acked.clone());
            tasks.push(tokio::spawn(async move {
                let mut errors = Errors::default();
                let mut pod_bytes = 0;
                let path = format!("/api/v1/namespaces/{ns}/pods");
                for i in (k..total).step_by(WRITER_CONNS) {
                    tokio::time::sleep_until(start + interval * i as u32).await;
                    sent[i].store(base.elapsed().as_micros() as u64, Ordering::Relaxed);
                    match conn.call(Method::POST, &path, Some(pod(&ns, i))).await {
                        Ok((status, body)) if status.is_success() => {
                            acked[i].store(base.elapsed().as_micros() as u64, Ordering::Relaxed);
                            pod_bytes = body.len();
                        }
                        Ok((status, body)) => errors.add_example(http_error_kind(status, &body), excerpt(&body)),
                        Err(e) => {
                            errors.add_example("transport error", format!("{e:#}"));
                            match Conn::connect(addr).await {
                                Ok(c) => conn = c,
                                Err(e) => {
                                    errors.add(format!("reconnect: {e:#}"));
                                    break;
                                }
                            }
                        }
                    }
                }
                (errors, pod_bytes)
            }));
        }
        let mut errors = Errors::default();
        let mut pod_bytes = 0;
        for task in tasks {
            let (task_errors, bytes) = task.await.context("a writer task panicked")?;
            errors.merge(&task_errors);
            pod_bytes = pod_bytes.max(bytes);
        }
        Ok(WriterOut { errors, secs: started.elapsed().as_secs_f64(), pod_bytes })
    })
}

struct RunOut {
    established: usize,
    connect_errors: Errors,
    writes_ok: usize,
    write_rate: f64,
    writer_errors: Errors,
    lat_ack: Samples,
    lat_sent: Samples,
    min_events: usize,
    max_events: usize,
    starved: usize,
    ended_early: Errors,
    error_events: usize,
    cpu: CpuUse,
    pod_bytes: usize,
}

async fn one_run(server: &ApiServer, run: usize, ctx: &Ctx) -> anyhow::Result<RunOut> {
    let plan = &ctx.plan;
    let addr = server.addr;
    let ns = format!("watch-bench-{run}");
    load::namespace(addr, &ns).await?;
    let mut conn = Conn::connect(addr).await?;
    let list = conn.call_ok(Method::GET, &format!("/api/v1/namespaces/{ns}/pods"), None).await?;
    let rv = resource_version(&list).context("the pod list has no resourceVersion")?;
    drop(conn);
    let path = Arc::new(format!("/api/v1/namespaces/{ns}/pods?watch=true&resourceVersion={rv}&timeoutSeconds=600"));

    let base = Instant::now();
    let delivered = Arc::new(AtomicU64::new(0));
    let (stop_tx, stop_rx) = watch::channel(false);
    let (ready_tx, mut ready_rx) = mpsc::channel(plan.watchers);
    let gate = Arc::new(Semaphore::new(CONNECT_CONCURRENCY));
    let watchers: Vec<_> = (0..plan.watchers)
        .map(|_| {
            tokio::spawn(watcher(addr, path.clone(), gate.clone(), ready_tx.clone(), stop_rx.clone(), delivered.clone(), base))
        })
        .collect();
    drop(ready_tx);
    let mut established = 0;
    let mut connect_errors = Errors::default();
    let setup = Instant::now();
    while established + (connect_errors.total() as usize) < plan.watchers {
        match tokio::time::timeout(Duration::from_secs(60), ready_rx.recv()).await {
            Ok(Some(Ok(()))) => established += 1,
            Ok(Some(Err(e))) => connect_errors.add(e),
            Ok(None) => break,
            Err(_) => {
                connect_errors.add("watch not established within 60 s");
                break;
            }
        }
    }
    eprintln!("apibench: [b] run {}: {established} watchers established in {:.1} s", run + 1, setup.elapsed().as_secs_f64());

    let total = (f64::from(plan.watch_rate) * plan.watch_secs).round() as usize;
    let interval = Duration::from_secs_f64(1.0 / f64::from(plan.watch_rate));
    let sent: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(UNSET)).collect());
    let acked: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(UNSET)).collect());
    let meter = CpuMeter::start(server.pid(), None);
    let writer_out = {
        let (ns, sent, acked) = (ns.clone(), sent.clone(), acked.clone());
        let thread = std::thread::Builder::new()
            .name("apibench-writer".into())
            .spawn(move || writer(addr, ns, total, interval, base, sent, acked))
            .context("starting the writer thread")?;
        tokio::task::spawn_blocking(move || thread.join())
            .await
            .context("joining the writer thread")?
            .map_err(|_| anyhow::anyhow!("the writer thread panicked"))??
    };
    let writes_ok = acked.iter().filter(|a| a.load(Ordering::Relaxed) != UNSET).count();
    let expected = (writes_ok * established) as u64;
    let drain_until = Instant::now() + DRAIN_GRACE;
    while delivered.load(Ordering::Relaxed) < expected && Instant::now() < drain_until {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = stop_tx.send(true);
    let cpu = meter.finish();

    let mut lat_ack = Samples::default();
    let mut lat_sent = Samples::default();
    let mut counts = Vec::new();
    let mut ended_early = Errors::default();
    let mut error_events = 0;
    for task in watchers {
        let out = task.await.context("a watcher panicked")?;
        if out.connect_error.is_some() {
            continue;
        }
        if let Some(why) = out.ended {
            ended_early.add(why);
        }
        error_events += out.error_events;
        counts.push(out.arrivals.len());
        for (seq, at) in out.arrivals {
            let Some(slot) = sent.get(seq as usize) else { continue };
            let s = slot.load(Ordering::Relaxed);
            if s != UNSET {
                lat_sent.push(u128::from(at.saturating_sub(s)));
            }
            let a = acked[seq as usize].load(Ordering::Relaxed);
            if a != UNSET {
                lat_ack.push(u128::from(at.saturating_sub(a)));
            }
        }
    }
    let min_events = counts.iter().copied().min().unwrap_or(0);
    let max_events = counts.iter().copied().max().unwrap_or(0);
    let starved = counts.iter().filter(|&&c| c < writes_ok).count();
    Ok(RunOut {
        established,
        connect_errors,
        writes_ok,
        write_rate: writes_ok as f64 / writer_out.secs.max(f64::EPSILON),
        writer_errors: writer_out.errors,
        lat_ack,
        lat_sent,
        min_events,
        max_events,
        starved,
        ended_early,
        error_events,
        cpu,
        pod_bytes: writer_out.pod_bytes,
    })
}

/// The figures of one run that the summary uses.
struct RunFigures {
    established: usize,
    writes_ok: usize,
    write_rate: f64,
    p50_ack: Option<f64>,
    p99_ack: Option<f64>,
    max_ack: Option<f64>,
    p50_sent: Option<f64>,
    p99_sent: Option<f64>,
    min_events: usize,
    max_events: usize,
    starved: usize,
    cpu: CpuUse,
    pod_bytes: usize,
}

pub async fn run(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let plan = &ctx.plan;
    eprintln!("apibench: [b] {} watchers, {} writes/s for {:.0} s, {} run(s)", plan.watchers, plan.watch_rate, plan.watch_secs, plan.watch_runs);
    let (server, _) = ApiServer::start(&ctx.bin, "b-watch", &ctx.work.join("b-watch"), Backend::Embedded, &ctx.logs).await?;
    let mut runs = Vec::new();
    for run in 0..plan.watch_runs {
        let mut out = one_run(&server, run, ctx).await?;
        let figures = RunFigures {
            established: out.established,
            writes_ok: out.writes_ok,
            write_rate: out.write_rate,
            p50_ack: out.lat_ack.percentile_ms(50.0),
            p99_ack: out.lat_ack.percentile_ms(99.0),
            max_ack: out.lat_ack.percentile_ms(100.0),
            p50_sent: out.lat_sent.percentile_ms(50.0),
            p99_sent: out.lat_sent.percentile_ms(99.0),
            min_events: out.min_events,
            max_events: out.max_events,
            starved: out.starved,
            cpu: out.cpu,
            pod_bytes: out.pod_bytes,
        };
        eprintln!(
            "apibench: [b] run {}: {} writes ({:.0}/s), {} deliveries; from ack p50 {} p99 {} max {}; from send p50 {} p99 {}; events/watcher {}..{}; cpu {}",
            run + 1,
            figures.writes_ok,
            figures.write_rate,
            thousands(out.lat_ack.len() as u64),
            ms(figures.p50_ack),
            ms(figures.p99_ack),
            ms(figures.max_ack),
            ms(figures.p50_sent),
            ms(figures.p99_sent),
            figures.min_events,
            figures.max_events,
            figures.cpu.render()
        );
        if out.connect_errors.total() > 0 {
            report.problem(format!("[b] run {}: {} watches could not be established: {}", run + 1, out.connect_errors.total(), out.connect_errors.summary()));
        }
        if out.writer_errors.total() > 0 {
            report.problem(format!("[b] run {}: writer errors: {}", run + 1, out.writer_errors.summary()));
        }
        if out.ended_early.total() > 0 {
            report.problem(format!("[b] run {}: {} watches ended early: {}", run + 1, out.ended_early.total(), out.ended_early.summary()));
        }
        if out.error_events > 0 {
            report.problem(format!("[b] run {}: {} ERROR events on watches", run + 1, out.error_events));
        }
        runs.push(figures);
    }
    let p50_ack = median(runs.iter().map(|r| r.p50_ack));
    let p99_ack = median(runs.iter().map(|r| r.p99_ack));
    let p50_sent = median(runs.iter().map(|r| r.p50_sent));
    let p99_sent = median(runs.iter().map(|r| r.p99_sent));
    let worst_max = runs.iter().filter_map(|r| r.max_ack).reduce(f64::max);
    let min_events = runs.iter().map(|r| r.min_events).min().unwrap_or(0);
    let max_events = runs.iter().map(|r| r.max_events).max().unwrap_or(0);
    let writes = runs.iter().map(|r| r.writes_ok).min().unwrap_or(0);
    let established = runs.iter().map(|r| r.established).min().unwrap_or(0);
    let starved: usize = runs.iter().map(|r| r.starved).sum();
    let write_rate = median(runs.iter().map(|r| Some(r.write_rate)));
    let n = runs.len();
    let cpu = CpuUse {
        apiserver: median(runs.iter().map(|r| r.cpu.apiserver)),
        etcd: None,
        harness: median(runs.iter().map(|r| r.cpu.harness)),
        other: median(runs.iter().map(|r| r.cpu.other)),
    };
    report.info("b", "watchers established (min over runs)", format!("{established} / {}", plan.watchers));
    let pod_bytes = runs.iter().map(|r| r.pod_bytes).max().unwrap_or(0);
    report.info(
        "b",
        "writer rate achieved (median)",
        format!("{:.0} pod creates/s ({writes} per run; pods of {pod_bytes} B)", write_rate.unwrap_or(0.0)),
    );
    report.check(
        "b",
        format!("delivery latency from write ack, p50 / p99 (median of {n} run{})", if n == 1 { "" } else { "s" }),
        format!("{} / {} (worst max {})", ms(p50_ack), ms(p99_ack), ms(worst_max)),
        "p99 < 100 ms",
        p99_ack.map(|p| p < 100.0),
    );
    report.info("b", "delivery latency from write sent, p50 / p99", format!("{} / {}", ms(p50_sent), ms(p99_sent)));
    report.info("b", "CPU cores while writing: apiserver / etcd / harness / other", cpu.render());
    report.check(
        "b",
        "events received per watcher, min / max",
        format!("{min_events} / {max_events} (expected {writes}; {starved} watcher-runs short)"),
        "min = writes (none starved)",
        Some(starved == 0 && min_events >= writes && established == plan.watchers),
    );
    crate::note_log_problems(report, "[b]", &server);
    drop(server);
    Ok(())
}
