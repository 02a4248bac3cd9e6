//! Scenarios c and d on one embedded-store server: idle memory, loading many
//! realistic pods, full LISTs from the watch cache and memory with them
//! stored (c); then cold starts on the same data directory (d).

use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use hyper::Method;
use serde::de::IgnoredAny;
use storage::test_etcd::TestEtcd;

use crate::client::Conn;
use crate::load;
use crate::server::{ApiServer, Backend, Memory};
use crate::stats::{mb, median, ms, rate, Report, Samples};
use crate::Ctx;

/// Pods are spread over this many namespaces.
const NAMESPACES: usize = 10;
const LOAD_CLIENTS: usize = 64;

/// A pod as a Deployment would create it: ~1.5 KB once defaulted, before
/// the managedFields the server adds.
fn realistic_pod(i: usize) -> (String, Bytes) {
    let ns = format!("bench-{}", i % NAMESPACES);
    let app = format!("app-{}", i % 50);
    let body = format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"{app}-7c9d8f6b5-{i:06}","namespace":"{ns}","generateName":"{app}-7c9d8f6b5-","labels":{{"app.kubernetes.io/name":"{app}","pod-template-hash":"7c9d8f6b5"}},"annotations":{{"prometheus.io/scrape":"true"}},"ownerReferences":[{{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"{app}-7c9d8f6b5","uid":"6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f","controller":true,"blockOwnerDeletion":true}}]}},"spec":{{"containers":[{{"name":"web","image":"registry.example.com/shop/{app}:1.27.3","ports":[{{"name":"http","containerPort":8080,"protocol":"TCP"}}],"env":[{{"name":"LOG_LEVEL","value":"info"}}],"resources":{{"requests":{{"cpu":"100m","memory":"128Mi"}},"limits":{{"cpu":"500m","memory":"256Mi"}}}},"readinessProbe":{{"httpGet":{{"path":"/healthz","port":8080}},"periodSeconds":10}},"volumeMounts":[{{"name":"config","mountPath":"/etc/{app}","readOnly":true}}]}}],"volumes":[{{"name":"config","configMap":{{"name":"{app}-config"}}}}],"terminationGracePeriodSeconds":30}}}}"#
    );
    (format!("/api/v1/namespaces/{ns}/pods"), Bytes::from(body))
}

#[derive(serde::Deserialize)]
struct ListShape {
    items: Vec<IgnoredAny>,
}

/// GET a list and return (time to the last byte, item count if `count`).
async fn timed_list(conn: &mut Conn, path: &str, count: bool) -> anyhow::Result<(Duration, Option<usize>, usize)> {
    let started = Instant::now();
    let body = conn.call_ok(Method::GET, path, None).await?;
    let took = started.elapsed();
    let items = if count {
        let shape: ListShape = serde_json::from_slice(&body).with_context(|| format!("decoding the list from {path}"))?;
        Some(shape.items.len())
    } else {
        None
    };
    Ok((took, items, body.len()))
}

/// What loading the pods and listing them found.
struct Listed {
    created: u64,
    /// (p50, p99) of the consistent LISTs and of the `resourceVersion=0` LISTs.
    consistent: (Option<f64>, Option<f64>),
    any: (Option<f64>, Option<f64>),
    items: usize,
    list_bytes: usize,
    load_rate: f64,
    stored_bytes: f64,
    after_load: Memory,
    after_lists: Option<Memory>,
}

/// Create the pods, then (if `lists`) time the full LISTs.
async fn load_and_list(ctx: &Ctx, report: &mut Report, server: &ApiServer, scope: &str, lists: bool) -> anyhow::Result<Listed> {
    let plan = &ctx.plan;
    eprintln!("apibench: {scope} creating {} pods from {LOAD_CLIENTS} clients", plan.pods);
    for n in 0..NAMESPACES {
        load::namespace(server.addr, &format!("bench-{n}")).await?;
    }
    let loaded = load::bulk_create(server.addr, LOAD_CLIENTS, plan.pods, realistic_pod).await?;
    let stored_bytes = loaded.bytes as f64 / (loaded.created.max(1)) as f64;
    let load_rate = loaded.created as f64 / loaded.secs.max(f64::EPSILON);
    eprintln!("apibench: {scope} created {} pods in {:.1} s ({}), {stored_bytes:.0} B each", loaded.created, loaded.secs, rate(Some(load_rate)));
    if loaded.errors.total() > 0 {
        report.problem(format!("{scope} loading pods: {} failed: {}", loaded.errors.total(), loaded.errors.summary()));
    }
    let after_load = server.memory()?;
    let mut listed = Listed {
        created: loaded.created,
        consistent: (None, None),
        any: (None, None),
        items: 0,
        list_bytes: 0,
        load_rate,
        stored_bytes,
        after_load,
        after_lists: None,
    };
    if !lists {
        return Ok(listed);
    }
    let mut conn = Conn::connect(server.addr).await?;
    // A first list (untimed) checks the count: a consistent LIST must hold
    // every acknowledged create.
    let (_, items, bytes) = timed_list(&mut conn, "/api/v1/pods", true).await?;
    listed.items = items.unwrap_or(0);
    listed.list_bytes = bytes;
    if listed.items != loaded.created as usize {
        report.problem(format!("{scope} LIST returned {} pods, {} were created", listed.items, loaded.created));
    }
    let mut consistent = Samples::default();
    let mut any = Samples::default();
    for _ in 0..plan.lists {
        let (took, _, _) = timed_list(&mut conn, "/api/v1/pods", false).await?;
        consistent.push(took.as_micros());
        let (took, _, _) = timed_list(&mut conn, "/api/v1/pods?resourceVersion=0", false).await?;
        any.push(took.as_micros());
    }
    listed.after_lists = Some(server.memory()?);
    listed.consistent = (consistent.percentile_ms(50.0), consistent.percentile_ms(99.0));
    listed.any = (any.percentile_ms(50.0), any.percentile_ms(99.0));
    Ok(listed)
}

pub async fn run(ctx: &Ctx, report: &mut Report, do_c: bool, do_d: bool) -> anyhow::Result<()> {
    let plan = &ctx.plan;
    let (mut server, start_empty) = ApiServer::start(&ctx.bin, "cd", &ctx.work.join("cd-data"), Backend::Embedded, &ctx.logs).await?;
    eprintln!("apibench: [c] empty server ready in {}", ms(Some(start_empty.as_secs_f64() * 1000.0)));
    // "Right after start": once ready and the start-up work has settled.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let idle = server.memory()?;
    if do_c {
        report.check("c", "idle RSS after start, empty store", format!("{:.1} MB", mb(idle.rss_kib)), "< 40 MB", Some(mb(idle.rss_kib) < 40.0));
    }
    let loaded = load_and_list(ctx, report, &server, "[c]", do_c).await?;
    let request = realistic_pod(0).1.len();
    report.info(
        "c",
        format!("load: {} pods ({request} B request, {:.0} B as stored) from {LOAD_CLIENTS} clients", loaded.created, loaded.stored_bytes),
        rate(Some(loaded.load_rate)),
    );
    if let Some(after_lists) = loaded.after_lists {
        let mbytes = loaded.list_bytes as f64 / 1e6;
        for (label, (p50, p99)) in [("GET /api/v1/pods", loaded.consistent), ("GET /api/v1/pods?resourceVersion=0", loaded.any)] {
            report.check(
                "c",
                format!("{label}: {} pods, {mbytes:.0} MB, p50 / p99 of {}", loaded.items, plan.lists),
                format!("{} / {}", ms(p50), ms(p99)),
                "p99 < 1 s",
                p99.map(|p| p < 1000.0),
            );
        }
        report.info("c", "RSS after loading the pods", format!("{:.1} MB", mb(loaded.after_load.rss_kib)));
        report.check(
            "c",
            format!("RSS with {} pods stored, after the LISTs (peak)", loaded.items),
            format!("{:.1} MB ({:.1} MB)", mb(after_lists.rss_kib), mb(after_lists.hwm_kib)),
            "< 400 MB",
            Some(mb(after_lists.rss_kib) < 400.0),
        );
    }

    if do_d {
        eprintln!("apibench: [d] {} cold starts with {} pods", plan.restarts, loaded.created);
        let mut starts = Vec::new();
        let mut stops = Vec::new();
        for k in 0..plan.restarts {
            let stop = server.stop().await.context("stopping the server with SIGTERM")?;
            let start = server.restart().await.context("starting the server again")?;
            eprintln!("apibench: [d] restart {}: stopped in {}, ready in {}", k + 1, ms(Some(stop.as_secs_f64() * 1000.0)), ms(Some(start.as_secs_f64() * 1000.0)));
            stops.push(Some(stop.as_secs_f64() * 1000.0));
            starts.push(Some(start.as_secs_f64() * 1000.0));
        }
        let mut conn = Conn::connect(server.addr).await?;
        let (_, items, _) = timed_list(&mut conn, "/api/v1/pods", true).await?;
        if items != Some(loaded.created as usize) {
            report.problem(format!("[d] after restarts LIST returned {items:?} pods, {} were created", loaded.created));
        }
        let start_med = median(starts.clone());
        report.check(
            "d",
            format!("cold start to /readyz 200 with {} objects, median of {}", loaded.created, starts.len()),
            format!("{} (runs: {})", ms(start_med), starts.iter().map(|s| ms(*s)).collect::<Vec<_>>().join(", ")),
            "< 2 s",
            start_med.map(|s| s < 2000.0),
        );
        report.info("d", "SIGTERM to exit, median", ms(median(stops)));
        report.info("d", "start to ready on an empty store (for comparison)", ms(Some(start_empty.as_secs_f64() * 1000.0)));
    }
    crate::note_log_problems(report, "[c/d]", &server);
    drop(server);
    if do_c {
        compare_on_etcd(ctx, report).await?;
    }
    Ok(())
}

/// The same load and LISTs on the etcd backend: shows how much of the
/// memory is the watch cache and how much the embedded store.
async fn compare_on_etcd(ctx: &Ctx, report: &mut Report) -> anyhow::Result<()> {
    let etcd = tokio::task::spawn_blocking(TestEtcd::start)
        .await
        .context("starting etcd")?
        .map_err(anyhow::Error::msg)
        .context("starting etcd")?;
    let (server, _) =
        ApiServer::start(&ctx.bin, "c-etcd", &ctx.work.join("c-etcd"), Backend::Etcd { endpoint: etcd.endpoint() }, &ctx.logs).await?;
    let listed = load_and_list(ctx, report, &server, "[c etcd]", true).await?;
    report.info(
        "c",
        format!("etcd backend (for comparison): LIST p99 consistent / rv=0, {} pods", listed.items),
        format!("{} / {}", ms(listed.consistent.1), ms(listed.any.1)),
    );
    if let Some(after_lists) = listed.after_lists {
        report.info(
            "c",
            format!("etcd backend (for comparison): apiserver RSS with {} pods, after the LISTs (peak)", listed.items),
            format!("{:.1} MB ({:.1} MB)", mb(after_lists.rss_kib), mb(after_lists.hwm_kib)),
        );
    }
    crate::note_log_problems(report, "[c etcd]", &server);
    drop(server);
    drop(etcd);
    Ok(())
}
