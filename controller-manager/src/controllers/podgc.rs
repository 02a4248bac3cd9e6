//! The pod garbage collector (`pod-garbage-collector`).
//!
//! Upstream (`pkg/controller/podgc/gc_controller.go`), every 20 s:
//! - terminated pods (`Succeeded`/`Failed`) beyond
//!   `--terminated-pod-gc-threshold` are deleted, oldest first;
//! - pods bound to a node that no longer exists are force-deleted, after a
//!   live check that the node is really gone, with a `DisruptionTarget`
//!   condition (reason `DeletionByPodGC`) and phase `Failed` recorded first;
//! - terminating pods that were never scheduled are force-deleted;
//! - terminating pods on a not-ready node tainted
//!   `node.kubernetes.io/out-of-service` are force-deleted.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::Api;
use serde_json::json;
use tracing::Instrument;

use crate::controllers::Ctx;
use crate::runtime::ObjectKey;
use crate::runtime::cached_pod::CachedPod;

const NAME: &str = "pod-garbage-collector";
pub const GC_CHECK_PERIOD: Duration = Duration::from_secs(20);
pub const OUT_OF_SERVICE_TAINT: &str = "node.kubernetes.io/out-of-service";

/// Why a pod is collected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// Over the terminated-pod threshold (plain delete).
    Terminated,
    /// Bound to a node that does not exist (force delete, after a live check).
    Orphaned,
    /// Terminating and never scheduled (force delete).
    UnscheduledTerminating,
    /// Terminating on an out-of-service node (force delete).
    OutOfService,
}

fn is_terminated(pod: &CachedPod) -> bool {
    matches!(crate::runtime::pod_util::phase(pod), "Succeeded" | "Failed")
}

fn node_name(pod: &CachedPod) -> &str {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).unwrap_or("")
}

fn out_of_service(node: &Node) -> bool {
    let not_ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"))
        .is_none_or(|c| c.status != "True");
    let tainted = node.spec.as_ref().and_then(|s| s.taints.as_ref()).is_some_and(|t| t.iter().any(|t| t.key == OUT_OF_SERVICE_TAINT && t.effect == "NoExecute"));
    not_ready && tainted
}

/// What to collect. `threshold` 0 disables the terminated-pod rule.
pub fn plan(pods: &[Arc<CachedPod>], nodes: &[Arc<Node>], threshold: usize) -> Vec<(ObjectKey, Reason)> {
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    let node_names: HashSet<&str> = nodes.iter().filter_map(|n| n.metadata.name.as_deref()).collect();
    let oos: HashSet<&str> = nodes.iter().filter(|n| out_of_service(n)).filter_map(|n| n.metadata.name.as_deref()).collect();
    if threshold > 0 {
        let mut terminated: Vec<&Arc<CachedPod>> = pods.iter().filter(|p| is_terminated(p)).collect();
        if terminated.len() > threshold {
            terminated.sort_by(|a, b| a.metadata.creation_timestamp.cmp(&b.metadata.creation_timestamp).then(a.metadata.name.cmp(&b.metadata.name)));
            for p in &terminated[..terminated.len() - threshold] {
                let key = ObjectKey::of(&***p);
                seen.insert(key.clone());
                out.push((key, Reason::Terminated));
            }
        }
    }
    for p in pods {
        let key = ObjectKey::of(&**p);
        if seen.contains(&key) {
            continue;
        }
        let node = node_name(p);
        let terminating = p.metadata.deletion_timestamp.is_some();
        let reason = if !node.is_empty() && !node_names.contains(node) {
            Some(Reason::Orphaned)
        } else if node.is_empty() && terminating {
            Some(Reason::UnscheduledTerminating)
        } else if terminating && oos.contains(node) {
            Some(Reason::OutOfService)
        } else {
            None
        };
        if let Some(r) = reason {
            out.push((key, r));
        }
    }
    out
}

async fn collect(client: &kube::Client, key: &ObjectKey, reason: Reason, pod: &CachedPod) -> anyhow::Result<()> {
    let api: Api<Pod> = Api::namespaced(client.clone(), &key.namespace);
    if reason == Reason::Orphaned {
        // Make sure the node is really gone (the cache may lag).
        let nodes: Api<Node> = Api::all(client.clone());
        if nodes.get_opt(node_name(pod)).await.context("checking the pod's node")?.is_some() {
            return Ok(());
        }
        if !is_terminated(pod) {
            let status = json!({"status": {
                "phase": "Failed",
                "conditions": [{
                    "type": "DisruptionTarget", "status": "True", "reason": "DeletionByPodGC",
                    "message": "PodGC: node no longer exists",
                    "lastTransitionTime": k8s_openapi::jiff::Timestamp::now().to_string(),
                }],
            }});
            if let Err(err) = api.patch_status(&key.name, &PatchParams::default(), &Patch::Strategic(&status)).await {
                if !crate::runtime::owner::is_not_found(&err) {
                    tracing::warn!(pod = %key, error = %err, "could not record DisruptionTarget before force deletion");
                }
            }
        }
    }
    let dp = match reason {
        Reason::Terminated => DeleteParams::default(),
        _ => DeleteParams { grace_period_seconds: Some(0), ..DeleteParams::default() },
    };
    tracing::info!(pod = %key, ?reason, "garbage collecting pod");
    match api.delete(&key.name, &dp).await {
        Ok(_) => Ok(()),
        Err(err) if crate::runtime::owner::is_not_found(&err) => Ok(()),
        Err(err) => Err(err).with_context(|| format!("deleting pod {key}")),
    }
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let pods = ctx.informers.get::<CachedPod>();
    let nodes = ctx.informers.get::<Node>();
    pods.wait_synced().await?;
    nodes.wait_synced().await?;
    let mut tick = tokio::time::interval(GC_CHECK_PERIOD);
    loop {
        tick.tick().await;
        let pass = async {
            let decisions = plan(&pods.list(), &nodes.list(), ctx.settings.terminated_pod_gc_threshold);
            for (key, reason) in decisions {
                let Some(pod) = pods.get(&key.namespace, &key.name) else { continue };
                if let Err(err) = collect(&ctx.client, &key, reason, &pod).await {
                    tracing::warn!(pod = %key, error = format!("{err:#}"), "pod garbage collection failed");
                }
            }
        };
        pass.instrument(tracing::info_span!("sync", controller = NAME)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::{NodeCondition, NodeSpec, NodeStatus, PodSpec, PodStatus, Taint};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn pod(name: &str, node: &str, phase: &str, created: i64, terminating: bool) -> Arc<CachedPod> {
        Arc::new(CachedPod::from(Pod {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                creation_timestamp: k8s_openapi::jiff::Timestamp::from_second(created).ok().map(Time),
                deletion_timestamp: terminating.then_some(Time(k8s_openapi::jiff::Timestamp::UNIX_EPOCH)),
                ..Default::default()
            },
            spec: Some(PodSpec { node_name: (!node.is_empty()).then(|| node.to_string()), ..Default::default() }),
            status: Some(PodStatus { phase: Some(phase.into()), ..Default::default() }),
        }))
    }

    fn node(name: &str, ready: bool, oos: bool) -> Arc<Node> {
        Arc::new(Node {
            metadata: kube::api::ObjectMeta { name: Some(name.into()), ..Default::default() },
            spec: Some(NodeSpec {
                taints: oos.then(|| vec![Taint { key: OUT_OF_SERVICE_TAINT.into(), effect: "NoExecute".into(), ..Default::default() }]),
                ..Default::default()
            }),
            status: Some(NodeStatus {
                conditions: Some(vec![NodeCondition { type_: "Ready".into(), status: if ready { "True" } else { "False" }.into(), ..Default::default() }]),
                ..Default::default()
            }),
        })
    }

    #[test]
    fn plan_table() {
        let nodes = vec![node("n1", true, false), node("n2", false, true)];
        let pods = vec![
            pod("done-new", "n1", "Succeeded", 30, false),
            pod("done-old", "n1", "Failed", 10, false),
            pod("done-mid", "n1", "Succeeded", 20, false),
            pod("running", "n1", "Running", 1, false),
            pod("orphan", "gone", "Running", 1, false),
            pod("unscheduled-term", "", "Pending", 1, true),
            pod("unscheduled", "", "Pending", 1, false),
            pod("oos", "n2", "Running", 1, true),
            pod("not-oos", "n1", "Running", 1, true),
        ];
        let got: Vec<(String, Reason)> = plan(&pods, &nodes, 1).into_iter().map(|(k, r)| (k.name, r)).collect();
        assert_eq!(
            got,
            vec![
                ("done-old".into(), Reason::Terminated),
                ("done-mid".into(), Reason::Terminated),
                ("orphan".into(), Reason::Orphaned),
                ("unscheduled-term".into(), Reason::UnscheduledTerminating),
                ("oos".into(), Reason::OutOfService),
            ]
        );
        // Threshold 0 disables the terminated rule.
        assert!(plan(&pods, &nodes, 0).iter().all(|(_, r)| *r != Reason::Terminated));
    }
}
