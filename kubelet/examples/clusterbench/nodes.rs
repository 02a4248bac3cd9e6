//! Nodes for the scenarios: registered by the node simulator (and waited
//! for), or created directly through the API with a Ready status and no
//! simulator at all (to separate the simulator's load from the scheduler's).

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use futures::StreamExt;
use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};

pub const ZONE_LABEL: &str = "topology.kubernetes.io/zone";

/// Zone of node `i` (three zones, as upstream's scheduler_perf).
pub fn zone(i: usize) -> String {
    format!("moon-{}", i % 3 + 1)
}

fn is_ready(n: &Node) -> bool {
    n.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .is_some_and(|c| c.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// Waits until `count` nodes are Ready; returns the time it took.
pub async fn wait_ready(client: &kube::Client, count: usize, timeout: Duration) -> anyhow::Result<Duration> {
    let api: Api<Node> = Api::all(client.clone());
    let start = Instant::now();
    loop {
        let ready = api.list(&ListParams::default()).await.map(|l| l.items.iter().filter(|n| is_ready(n)).count()).unwrap_or(0);
        if ready >= count {
            return Ok(start.elapsed());
        }
        if start.elapsed() > timeout {
            bail!("only {ready}/{count} nodes Ready after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// Labels simulated node `<prefix>i` with its zone (the simulator gives all
/// nodes the same labels).
pub async fn label_zones(client: &kube::Client, prefix: &str, count: usize) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                let name = format!("{prefix}{i}");
                let patch = serde_json::json!({"metadata": {"labels": {ZONE_LABEL: zone(i)}}});
                api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await.with_context(|| format!("labelling {name}"))?;
                Ok(())
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    results.into_iter().collect()
}

/// Creates `count` Ready nodes `<prefix>i` (4 CPU, 16Gi, 110 pods, zone
/// labels) directly, with no kubelet or simulator behind them.
pub async fn create_direct(client: &kube::Client, prefix: &str, count: usize) -> anyhow::Result<()> {
    let api: Api<Node> = Api::all(client.clone());
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..count)
        .map(|i| {
            let api = api.clone();
            async move {
                let name = format!("{prefix}{i}");
                let node: Node = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": name, "labels": {
                        "kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", ZONE_LABEL: zone(i)}},
                }))?;
                api.create(&PostParams::default(), &node).await.with_context(|| format!("creating {name}"))?;
                let capacity = serde_json::json!({"cpu": "4", "memory": "16Gi", "ephemeral-storage": "100Gi", "pods": "110"});
                let status = serde_json::json!({"status": {
                    "capacity": capacity, "allocatable": capacity,
                    "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "direct",
                        "lastHeartbeatTime": "2026-01-01T00:00:00Z", "lastTransitionTime": "2026-01-01T00:00:00Z"}],
                }});
                api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&status)).await.with_context(|| format!("status of {name}"))?;
                Ok(())
            }
        })
        .buffer_unordered(64)
        .collect()
        .await;
    results.into_iter().collect()
}
