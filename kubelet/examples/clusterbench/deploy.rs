//! Scenario 2: one Deployment of N replicas on simulated nodes, with the
//! release controller-manager, scheduler and node simulator. Timed from the
//! Deployment create to `status.readyReplicas == N` (polled every 100 ms);
//! peak RSS (`VmHWM`) of each component read at the end.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ServiceAccount;
use kube::api::{Api, PostParams};

use crate::cluster::{format_cpu, Cluster, CpuWindow, Env};
use crate::nodes;

#[derive(Debug, Clone)]
pub struct Outcome {
    pub to_ready: Duration,
    /// When `status.replicas` first reached N (all pods created).
    pub to_created: Option<Duration>,
    /// `(component, VmHWM MiB)`.
    pub hwm: Vec<(String, f64)>,
    pub cpu: Vec<(String, f64)>,
}

pub async fn run(env: &Env, label: &str, node_count: usize, replicas: i32) -> anyhow::Result<Outcome> {
    let cluster = Cluster::start(env, label).await?;
    let admin = cluster.client("admin").await?;
    let cm = cluster.controller_manager()?;
    let sim = cluster.simulator(node_count, &[])?;
    nodes::wait_ready(&admin, node_count, Duration::from_secs(120 + node_count as u64 / 20)).await.with_context(|| sim.log_tail())?;
    let scheduler = cluster.scheduler()?;
    // The serviceaccount controller is up once `default/default` exists.
    let sas: Api<ServiceAccount> = Api::namespaced(admin.clone(), "default");
    let deadline = Instant::now() + Duration::from_secs(60);
    while sas.get_opt("default").await?.is_none() {
        if Instant::now() > deadline {
            bail!("default/default ServiceAccount not created; controller-manager log:\n{}", cm.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;

    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), "default");
    let deployment: Deployment = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "bench"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "bench"}},
            "template": {
                "metadata": {"labels": {"app": "bench"}},
                "spec": {"containers": [{"name": "pause", "image": "registry.k8s.io/pause:3.10",
                    "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]},
            },
        },
    }))?;
    let cpu = CpuWindow::start(&[&cluster.apiserver, &cm, &scheduler, &sim]);
    let start = Instant::now();
    deployments.create(&PostParams::default(), &deployment).await.context("creating the Deployment")?;
    let timeout = Duration::from_secs(60 + replicas as u64 / 20);
    let mut to_created = None;
    let mut last_report = Instant::now();
    loop {
        let d = deployments.get("bench").await.context("reading the Deployment")?;
        let status = d.status.unwrap_or_default();
        if to_created.is_none() && status.replicas.unwrap_or(0) >= replicas {
            to_created = Some(start.elapsed());
        }
        if status.ready_replicas.unwrap_or(0) >= replicas {
            break;
        }
        if last_report.elapsed() > Duration::from_secs(10) {
            eprintln!("    {:.0}s: replicas {:?}, ready {:?}", start.elapsed().as_secs_f64(), status.replicas, status.ready_replicas);
            last_report = Instant::now();
        }
        if start.elapsed() > timeout {
            bail!("only {:?}/{replicas} ready after {timeout:?}; controller-manager log:\n{}", status.ready_replicas, cm.log_tail());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let to_ready = start.elapsed();
    let cpu = cpu.finish();
    let hwm = [&cm, &scheduler, &cluster.apiserver, &sim].iter().map(|p| (p.name.clone(), p.peak_rss_mib().unwrap_or(f64::NAN))).collect();
    let outcome = Outcome { to_ready, to_created, hwm, cpu };
    eprintln!(
        "  {label}: {replicas} replicas Ready in {:.2}s (all created at {:.2}s); peak RSS MiB {:?}; cores: {}",
        to_ready.as_secs_f64(),
        to_created.map(|d| d.as_secs_f64()).unwrap_or(f64::NAN),
        outcome.hwm,
        format_cpu(&outcome.cpu)
    );
    drop(scheduler);
    drop(sim);
    drop(cm);
    Ok(outcome)
}
