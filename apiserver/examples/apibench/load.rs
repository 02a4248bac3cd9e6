//! Bulk loading through the API (namespaces, many objects from many
//! clients) and the phase runner the throughput scenario uses.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hyper::{Method, StatusCode};
use tokio::sync::Barrier;

use crate::client::{excerpt, Conn};
use crate::stats::{Errors, Samples};

/// Create a namespace (an existing one is fine).
pub async fn namespace(addr: SocketAddr, name: &str) -> anyhow::Result<()> {
    let mut conn = Conn::connect(addr).await?;
    let body = format!(r#"{{"apiVersion":"v1","kind":"Namespace","metadata":{{"name":"{name}"}}}}"#);
    let (status, response) = conn.call(Method::POST, "/api/v1/namespaces", Some(Bytes::from(body))).await?;
    if status.is_success() || status == StatusCode::CONFLICT {
        Ok(())
    } else {
        anyhow::bail!("creating namespace {name}: HTTP {status}: {}", excerpt(&response))
    }
}

/// What a bulk load did.
#[derive(Debug, Default)]
pub struct Loaded {
    pub created: u64,
    pub secs: f64,
    pub errors: Errors,
    /// Sum of the created objects' encoded sizes (the create responses).
    pub bytes: u64,
}

/// POST `total` objects from `clients` concurrent connections; `make(i)`
/// gives the collection path and body of object `i`.
pub async fn bulk_create<F>(addr: SocketAddr, clients: usize, total: usize, make: F) -> anyhow::Result<Loaded>
where
    F: Fn(usize) -> (String, Bytes) + Send + Sync + 'static,
{
    let make = Arc::new(make);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for _ in 0..clients {
        let make = make.clone();
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Loaded::default();
            let mut conn = match Conn::connect(addr).await {
                Ok(c) => c,
                Err(e) => {
                    out.errors.add(format!("connect: {e:#}"));
                    return out;
                }
            };
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= total {
                    break;
                }
                let (path, body) = make(i);
                match conn.call(Method::POST, &path, Some(body)).await {
                    Ok((status, response)) if status.is_success() => {
                        out.created += 1;
                        out.bytes += response.len() as u64;
                    }
                    Ok((status, response)) => out.errors.add_example(http_error_kind(status, &response), excerpt(&response)),
                    Err(e) => {
                        out.errors.add_example("transport error", format!("{e:#}"));
                        match Conn::connect(addr).await {
                            Ok(c) => conn = c,
                            Err(e) => {
                                out.errors.add(format!("reconnect: {e:#}"));
                                break;
                            }
                        }
                    }
                }
            }
            out
        }));
    }
    let mut total_out = Loaded::default();
    for task in tasks {
        let out = task.await.context("a loading client panicked")?;
        total_out.created += out.created;
        total_out.bytes += out.bytes;
        total_out.errors.merge(&out.errors);
    }
    total_out.secs = started.elapsed().as_secs_f64();
    Ok(total_out)
}

/// "HTTP 409 Conflict" from a `Status` body (the reason, not the message,
/// so that errors about different objects count together).
pub fn http_error_kind(status: StatusCode, body: &[u8]) -> String {
    const MARK: &[u8] = b"\"reason\":\"";
    let reason = crate::client::find(body, MARK)
        .map(|at| {
            let rest = &body[at + MARK.len()..];
            let end = rest.iter().position(|&b| b == b'"').unwrap_or(rest.len());
            String::from_utf8_lossy(&rest[..end]).into_owned()
        })
        .unwrap_or_default();
    format!("HTTP {} {reason}", status.as_u16())
}

/// What one simulated client did in a timed phase.
#[derive(Debug, Default)]
pub struct WorkerOut {
    pub ops: u64,
    pub lat: Samples,
    pub errors: Errors,
    /// Objects this client owns afterwards (name or key, resourceVersion).
    pub objs: Vec<(String, u64)>,
}

/// A timed phase over all clients.
#[derive(Debug, Default)]
pub struct Phase {
    pub ops: u64,
    pub secs: f64,
    pub lat: Samples,
    pub errors: Errors,
}

impl Phase {
    pub fn rate(&self) -> Option<f64> {
        (self.secs > 0.0 && self.ops > 0).then(|| self.ops as f64 / self.secs)
    }
}

/// Run `clients` workers; each gets its index and a barrier to wait on
/// once connected (the clock starts when all are connected) and runs for
/// `duration` after it. Returns the phase and each client's objects.
pub async fn run_phase<F, Fut>(clients: usize, make: F) -> anyhow::Result<(Phase, Vec<Vec<(String, u64)>>)>
where
    F: Fn(usize, Arc<Barrier>) -> Fut,
    Fut: Future<Output = WorkerOut> + Send + 'static,
{
    let barrier = Arc::new(Barrier::new(clients + 1));
    let tasks: Vec<_> = (0..clients).map(|c| tokio::spawn(make(c, barrier.clone()))).collect();
    barrier.wait().await;
    let started = Instant::now();
    let mut phase = Phase::default();
    let mut objs = Vec::with_capacity(clients);
    for task in tasks {
        let out = task.await.context("a benchmark client panicked")?;
        phase.ops += out.ops;
        phase.lat.extend(out.lat);
        phase.errors.merge(&out.errors);
        objs.push(out.objs);
    }
    phase.secs = started.elapsed().as_secs_f64();
    Ok((phase, objs))
}

/// The deadline of a phase that starts now.
pub fn deadline(duration: Duration) -> Instant {
    Instant::now() + duration
}
