//! Scenario 1: scheduler throughput through the real API server.
//!
//! A fresh cluster per run: nodes (simulated, or created directly), the
//! release scheduler, one warm-up pod, optional initial pods (bound before
//! timing, as upstream's `initPods`), then the measured pods. A watch on the
//! measured namespace is open before the first create; the figure is
//! measured pods / (last pod seen with `spec.nodeName` − first create
//! sent). Pods are created **while the scheduler runs** by one client with
//! `CREATE_CONCURRENCY` requests in flight, so the figure is end to end:
//! admission and storage of the create, the scheduling cycle, the binding
//! write and its watch event.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{Namespace, Pod, ServiceAccount};
use kube::api::{Api, PostParams};
use kube::runtime::watcher;

use crate::cluster::{format_cpu, Cluster, CpuWindow, Env};
use crate::nodes;

/// Requests in flight while creating pods.
pub const CREATE_CONCURRENCY: usize = 64;
const SIM_PREFIX: &str = "sim-node-";
const DIRECT_PREFIX: &str = "node-";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Workload {
    /// upstream `pod-default.yaml`: 100m CPU, 500Mi, nothing else.
    Basic,
    /// upstream `pod-with-pod-anti-affinity.yaml`: label `color=green`,
    /// required anti-affinity to `color=green` by hostname.
    AntiAffinity,
    /// upstream `pod-with-topology-spreading.yaml`: label `color=blue`,
    /// maxSkew 5 by hostname and by zone, DoNotSchedule.
    Spread,
}

impl Workload {
    pub fn name(self) -> &'static str {
        match self {
            Workload::Basic => "basic",
            Workload::AntiAffinity => "required anti-affinity",
            Workload::Spread => "topology spread",
        }
    }
}

#[derive(Debug, Clone)]
pub struct Plan {
    pub nodes: usize,
    pub init_pods: usize,
    pub pods: usize,
    pub workload: Workload,
    /// Nodes from the simulator (else created directly, no simulator).
    pub simulator: bool,
}

#[derive(Debug, Clone)]
pub struct Outcome {
    /// Measured pods / (last bound − first create).
    pub pods_per_s: f64,
    /// Measured pods / time to send all creates.
    pub creates_per_s: f64,
    pub cpu: Vec<(String, f64)>,
    pub scheduler_hwm_mib: f64,
}

fn pod(name: &str, workload: Workload, init: bool) -> anyhow::Result<Pod> {
    let requests = serde_json::json!({"cpu": "100m", "memory": "500Mi"});
    let container = serde_json::json!([{"name": "pause", "image": "registry.k8s.io/pause:3.10", "resources": {"requests": requests, "limits": requests}}]);
    let value = match (workload, init) {
        (Workload::Basic, _) | (Workload::Spread, true) => serde_json::json!({
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": container},
        }),
        (Workload::AntiAffinity, _) => serde_json::json!({
            "metadata": {"name": name, "labels": {"color": "green", "name": "test"}},
            "spec": {"containers": container, "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [
                {"labelSelector": {"matchLabels": {"color": "green"}}, "topologyKey": "kubernetes.io/hostname"}]}}},
        }),
        (Workload::Spread, false) => serde_json::json!({
            "metadata": {"name": name, "labels": {"color": "blue"}},
            "spec": {"containers": container, "topologySpreadConstraints": [
                {"maxSkew": 5, "topologyKey": "kubernetes.io/hostname", "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"color": "blue"}}},
                {"maxSkew": 5, "topologyKey": nodes::ZONE_LABEL, "whenUnsatisfiable": "DoNotSchedule", "labelSelector": {"matchLabels": {"color": "blue"}}}]},
        }),
    };
    Ok(serde_json::from_value(value)?)
}

/// A namespace with its `default` ServiceAccount (the controller-manager
/// would create it; admission looks it up on every pod create).
pub async fn namespace(client: &kube::Client, name: &str) -> anyhow::Result<()> {
    let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": name}}))?;
    ignore_exists(Api::<Namespace>::all(client.clone()).create(&PostParams::default(), &ns).await)?;
    let sa: ServiceAccount = serde_json::from_value(serde_json::json!({"metadata": {"name": "default"}}))?;
    ignore_exists(Api::<ServiceAccount>::namespaced(client.clone(), name).create(&PostParams::default(), &sa).await)?;
    Ok(())
}

fn ignore_exists<T>(r: kube::Result<T>) -> anyhow::Result<()> {
    match r {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(e)) if e.code == 409 => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// Creates `count` pods `<prefix>i` in `ns` with `CREATE_CONCURRENCY` in flight.
async fn create_pods(client: &kube::Client, ns: &str, prefix: &str, count: usize, workload: Workload, init: bool) -> anyhow::Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                let p = pod(&format!("{prefix}{i}"), workload, init)?;
                api.create(&PostParams::default(), &p).await.with_context(|| format!("creating {prefix}{i}"))?;
                anyhow::Ok(())
            }
        })
        .buffer_unordered(CREATE_CONCURRENCY)
        .try_collect::<Vec<()>>()
        .await?;
    Ok(())
}

/// Watches `ns` and resolves with the instant at which `count` distinct pods
/// have been seen bound. `ready` fires once the watch is established.
fn watch_bound(client: &kube::Client, ns: &str, count: usize, ready: tokio::sync::oneshot::Sender<()>) -> tokio::task::JoinHandle<anyhow::Result<Instant>> {
    let api: Api<Pod> = Api::namespaced(client.clone(), ns);
    tokio::spawn(async move {
        let mut ready = Some(ready);
        let mut bound: HashSet<String> = HashSet::with_capacity(count);
        let mut stream = watcher(api, watcher::Config::default()).boxed();
        while let Some(event) = stream.next().await {
            let pod = match event.context("pod watch")? {
                watcher::Event::InitDone => {
                    if let Some(tx) = ready.take() {
                        let _ = tx.send(());
                    }
                    None
                }
                watcher::Event::Apply(p) | watcher::Event::InitApply(p) => Some(p),
                _ => None,
            };
            if let Some(p) = pod {
                if p.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                    bound.insert(p.metadata.name.unwrap_or_default());
                    if bound.len() >= count {
                        return Ok(Instant::now());
                    }
                }
            }
        }
        bail!("pod watch ended with {}/{count} bound", bound.len())
    })
}

async fn all_bound(client: &kube::Client, ns: &str, count: usize, create: impl std::future::Future<Output = anyhow::Result<()>>, timeout: Duration) -> anyhow::Result<(Instant, Instant, Instant)> {
    let (tx, rx) = tokio::sync::oneshot::channel();
    let watch = watch_bound(client, ns, count, tx);
    rx.await.context("the pod watch did not start")?;
    let start = Instant::now();
    create.await?;
    let created = Instant::now();
    let done = tokio::time::timeout(timeout, watch).await.with_context(|| format!("not all {count} pods bound within {timeout:?}"))???;
    Ok((start, created, done))
}

pub async fn run(env: &Env, label: &str, plan: &Plan) -> anyhow::Result<Outcome> {
    let setup_start = Instant::now();
    let cluster = Cluster::start(env, label).await?;
    let admin = cluster.client("admin").await?;
    for ns in ["sched-0", "sched-1"] {
        namespace(&admin, ns).await?;
    }
    let node_timeout = Duration::from_secs(120 + plan.nodes as u64 / 20);
    let simulator = if plan.simulator {
        let sim = cluster.simulator(plan.nodes, &[])?;
        nodes::wait_ready(&admin, plan.nodes, node_timeout).await.with_context(|| sim.log_tail())?;
        if plan.workload == Workload::Spread {
            nodes::label_zones(&admin, SIM_PREFIX, plan.nodes).await?;
        }
        Some(sim)
    } else {
        nodes::create_direct(&admin, DIRECT_PREFIX, plan.nodes).await?;
        None
    };
    let scheduler = cluster.scheduler()?;
    // Warm-up: the scheduler has synced its informers once this pod is bound.
    let warm = all_bound(&admin, "sched-0", 1, create_pods(&admin, "sched-0", "warmup-", 1, Workload::Basic, true), Duration::from_secs(120)).await;
    warm.with_context(|| format!("warm-up pod; scheduler log:\n{}", scheduler.log_tail()))?;
    if plan.init_pods > 0 {
        let timeout = Duration::from_secs(120 + plan.init_pods as u64 / 20);
        all_bound(&admin, "sched-0", plan.init_pods + 1, create_pods(&admin, "sched-0", "init-", plan.init_pods, plan.workload, true), timeout)
            .await
            .context("initial pods")?;
    }
    let setup = setup_start.elapsed();
    let mut procs = vec![&cluster.apiserver, &scheduler];
    if let Some(sim) = &simulator {
        procs.push(sim);
    }
    let cpu = CpuWindow::start(&procs);
    let timeout = Duration::from_secs(120 + plan.pods as u64 / 20);
    let (start, created, done) = all_bound(&admin, "sched-1", plan.pods, create_pods(&admin, "sched-1", "p-", plan.pods, plan.workload, false), timeout)
        .await
        .with_context(|| format!("measured pods; scheduler log:\n{}", scheduler.log_tail()))?;
    let cpu = cpu.finish();
    let elapsed = done - start;
    let outcome = Outcome {
        pods_per_s: plan.pods as f64 / elapsed.as_secs_f64(),
        creates_per_s: plan.pods as f64 / (created - start).as_secs_f64(),
        cpu,
        scheduler_hwm_mib: scheduler.peak_rss_mib().unwrap_or(f64::NAN),
    };
    eprintln!(
        "  {label}: {} pods bound in {:.2}s = {:.0} pods/s (creates {:.0}/s; setup {:.0}s); cores: {}",
        plan.pods,
        elapsed.as_secs_f64(),
        outcome.pods_per_s,
        outcome.creates_per_s,
        setup.as_secs_f64(),
        format_cpu(&outcome.cpu)
    );
    drop(scheduler);
    drop(simulator);
    Ok(outcome)
}
