//! Load generator for rehearsals: creates `--pods` pods bound round-robin to
//! `<prefix>0..<prefix>N-1` (no scheduler needed), `--concurrency` at a
//! time, then waits until they are all Running, printing the rate.
//!
//! ```sh
//! cargo run -p kubelet --example podload -- --kubeconfig admin.conf --pods 150000 --nodes 5000
//! ```

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Parser;
use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams, PostParams};

#[derive(Parser)]
struct Args {
    #[arg(long)]
    kubeconfig: Option<std::path::PathBuf>,
    #[arg(long, default_value_t = 1000)]
    pods: usize,
    #[arg(long, default_value_t = 3)]
    nodes: usize,
    #[arg(long, default_value = "sim-node-")]
    node_name_prefix: String,
    #[arg(long, default_value = "default")]
    namespace: String,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let client = component::client_from_kubeconfig(&component::ClientOptions::new(args.kubeconfig.clone())).await?;
    let api: Api<Pod> = Api::namespaced(client, &args.namespace);
    let started = Instant::now();
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..args.pods)
        .map(|i| {
            let api = api.clone();
            let node = format!("{}{}", args.node_name_prefix, i % args.nodes.max(1));
            async move {
                let pod: Pod = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": format!("load-{i}"), "labels": {"app": "podload"}},
                    "spec": {"nodeName": node, "containers": [{"name": "c", "image": "nginx:1.27",
                        "resources": {"requests": {"cpu": "10m", "memory": "16Mi"}}}]}
                }))?;
                api.create(&PostParams::default(), &pod).await.with_context(|| format!("creating load-{i}"))?;
                Ok(())
            }
        })
        .buffer_unordered(args.concurrency.max(1))
        .collect()
        .await;
    let failed = results.iter().filter(|r| r.is_err()).count();
    if let Some(Err(e)) = results.iter().find(|r| r.is_err()) {
        eprintln!("first error: {e:#}");
    }
    let created = started.elapsed();
    println!("created {} pods ({failed} failed) in {created:?} ({:.0}/s)", args.pods - failed, (args.pods - failed) as f64 / created.as_secs_f64());
    loop {
        let list = api.list(&ListParams::default().labels("app=podload").fields("status.phase=Running")).await?;
        println!("{:>8.1}s running: {}", started.elapsed().as_secs_f64(), list.items.len());
        if list.items.len() >= args.pods - failed {
            break;
        }
        tokio::time::sleep(Duration::from_secs(5)).await;
    }
    println!("all running after {:?}", started.elapsed());
    Ok(())
}
