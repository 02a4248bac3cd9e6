//! The taint eviction controller (`taint-eviction-controller`): deletes
//! pods that do not tolerate their node's NoExecute taints.
//!
//! Upstream (`pkg/controller/tainteviction/taint_eviction.go`): a pod that
//! fails to tolerate any NoExecute taint is deleted at once; otherwise the
//! smallest `tolerationSeconds` among the tolerations used bounds how long
//! it may stay (no seconds: forever; zero or less: at once). Before the
//! deletion the pod gets a `DisruptionTarget` condition (reason
//! `DeletionByTaintManager`) and a `TaintManagerEviction` event. The
//! toleration window counts from the taint's `timeAdded` (upstream: from
//! when the controller noticed it, usually the same moment).

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::{Node, Pod, Taint};
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, Patch, PatchParams};
use kube::Api;
use serde_json::json;

use crate::controllers::Ctx;
use crate::runtime::cached_pod::CachedPod;
use crate::runtime::{run_workers, Change, EventRecorder, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "taint-eviction-controller";

/// Upstream `Toleration.ToleratesTaint`.
pub fn tolerates(t: &crate::runtime::cached_pod::Toleration, taint: &Taint) -> bool {
    if let Some(effect) = t.effect.as_deref().filter(|e| !e.is_empty()) {
        if effect != taint.effect {
            return false;
        }
    }
    let key = t.key.as_deref().unwrap_or("");
    if !key.is_empty() && key != taint.key {
        return false;
    }
    match t.operator.as_deref().unwrap_or("Equal") {
        "Exists" => true,
        "Equal" | "" => !key.is_empty() && t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        _ => false,
    }
}

/// When the pod must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Eviction {
    Never,
    Now,
    At(Timestamp),
}

pub fn eviction(pod: &CachedPod, node_taints: &[Taint], now: Timestamp) -> Eviction {
    let taints: Vec<&Taint> = node_taints.iter().filter(|t| t.effect == "NoExecute").collect();
    if taints.is_empty() {
        return Eviction::Never;
    }
    let tolerations: &[crate::runtime::cached_pod::Toleration] = pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or(&[]);
    let mut deadline: Option<Timestamp> = None;
    for taint in taints {
        let used: Vec<&crate::runtime::cached_pod::Toleration> = tolerations.iter().filter(|t| tolerates(t, taint)).collect();
        if used.is_empty() {
            return Eviction::Now;
        }
        let added = taint.time_added.as_ref().map(|t| t.0).unwrap_or(now);
        // Upstream `getMinTolerationTime`: any toleration without seconds
        // does not bound the stay, but the smallest bounded one does.
        for t in used {
            if let Some(secs) = t.toleration_seconds {
                if secs <= 0 {
                    return Eviction::Now;
                }
                let at = added.checked_add(SignedDuration::from_secs(secs)).unwrap_or(added);
                deadline = Some(deadline.map_or(at, |d| d.min(at)));
            }
        }
    }
    match deadline {
        None => Eviction::Never,
        Some(at) if at <= now => Eviction::Now,
        Some(at) => Eviction::At(at),
    }
}

struct State {
    client: kube::Client,
    pods: crate::runtime::Informer<CachedPod>,
    nodes: crate::runtime::Informer<Node>,
    recorder: EventRecorder,
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let Some(pod) = state.pods.get(&key.namespace, &key.name) else { return Ok(None) };
    if pod.metadata.deletion_timestamp.is_some() {
        return Ok(None);
    }
    let Some(node_name) = pod.spec.as_ref().and_then(|s| s.node_name.clone()) else { return Ok(None) };
    let Some(node) = state.nodes.get("", &node_name) else { return Ok(None) };
    let taints = node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default();
    let now = Timestamp::now();
    match eviction(&pod, &taints, now) {
        Eviction::Never => Ok(None),
        Eviction::At(at) => Ok(Some(Duration::try_from(at.duration_since(now)).unwrap_or(Duration::from_secs(1)).max(Duration::from_millis(100)))),
        Eviction::Now => {
            let api: Api<Pod> = Api::namespaced(state.client.clone(), &key.namespace);
            state.recorder.normal(&*pod, "TaintManagerEviction", format!("Marking for deletion Pod {key}"));
            let status = json!({"status": {"conditions": [{
                "type": "DisruptionTarget", "status": "True", "reason": "DeletionByTaintManager",
                "message": "Taint manager: deleting due to NoExecute taint",
                "lastTransitionTime": now.to_string(),
            }]}});
            if let Err(err) = api.patch_status(&key.name, &PatchParams::default(), &Patch::Strategic(&status)).await {
                tracing::debug!(pod = %key, error = %err, "could not add DisruptionTarget condition");
            }
            tracing::info!(pod = %key, node = %node_name, "evicting pod not tolerating NoExecute taint");
            match api.delete(&key.name, &DeleteParams::default()).await {
                Ok(_) => Ok(None),
                Err(err) if crate::runtime::owner::is_not_found(&err) => Ok(None),
                Err(err) => Err(err).with_context(|| format!("deleting pod {key}")),
            }
        }
    }
}

fn noexecute(node: &Node) -> Vec<Taint> {
    node.spec.as_ref().and_then(|s| s.taints.clone()).unwrap_or_default().into_iter().filter(|t| t.effect == "NoExecute").collect()
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let pods = ctx.informers.get::<CachedPod>();
    let nodes = ctx.informers.get::<Node>();
    let queue = WorkQueue::<ObjectKey>::new();
    let _g1 = pods.add_handler({
        let q = queue.clone();
        move |c| {
            if let Change::Applied { new, .. } = c {
                if new.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some() {
                    q.add(ObjectKey::of(&**new));
                }
            }
        }
    });
    let _g2 = nodes.add_handler({
        let q = queue.clone();
        let pods = pods.clone();
        move |c| {
            let Change::Applied { old, new } = c else { return };
            let taints = noexecute(new);
            if taints.is_empty() || old.as_ref().is_some_and(|o| noexecute(o) == taints) {
                return;
            }
            let name = new.metadata.name.clone().unwrap_or_default();
            for p in pods.list_filter(|p| p.spec.as_ref().and_then(|s| s.node_name.as_deref()) == Some(name.as_str())) {
                q.add(ObjectKey::of(&*p));
            }
        }
    });
    pods.wait_synced().await?;
    nodes.wait_synced().await?;
    let state = Arc::new(State { client: ctx.client.clone(), pods, nodes, recorder: EventRecorder::new(ctx.client.clone(), "taint-eviction-controller") });
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(state.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Toleration;
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn tol(key: &str, op: &str, effect: &str, secs: Option<i64>) -> Toleration {
        Toleration {
            key: (!key.is_empty()).then(|| key.to_string()),
            operator: Some(op.into()),
            effect: (!effect.is_empty()).then(|| effect.to_string()),
            toleration_seconds: secs,
            value: None,
        }
    }

    fn pod(tolerations: Vec<Toleration>) -> Pod {
        Pod { spec: Some(PodSpec { tolerations: Some(tolerations), ..Default::default() }), ..Default::default() }
    }

    fn taint(key: &str, added: i64) -> Taint {
        Taint { key: key.into(), effect: "NoExecute".into(), value: None, time_added: Some(Time(at(added))) }
    }

    #[test]
    fn eviction_table() {
        let unreachable = "node.kubernetes.io/unreachable";
        let cases = vec![
            ("no taints", pod(vec![]), vec![], Eviction::Never),
            ("untolerated", pod(vec![]), vec![taint(unreachable, 0)], Eviction::Now),
            ("tolerated forever", pod(vec![tol(unreachable, "Exists", "NoExecute", None)]), vec![taint(unreachable, 0)], Eviction::Never),
            ("tolerated 300s", pod(vec![tol(unreachable, "Exists", "NoExecute", Some(300))]), vec![taint(unreachable, 100)], Eviction::At(at(400))),
            ("window over", pod(vec![tol(unreachable, "Exists", "NoExecute", Some(300))]), vec![taint(unreachable, -500)], Eviction::Now),
            ("wildcard", pod(vec![tol("", "Exists", "", None)]), vec![taint(unreachable, 0), taint("x", 0)], Eviction::Never),
            ("one of two untolerated", pod(vec![tol(unreachable, "Exists", "", None)]), vec![taint(unreachable, 0), taint("x", 0)], Eviction::Now),
            ("zero seconds", pod(vec![tol(unreachable, "Exists", "NoExecute", Some(0))]), vec![taint(unreachable, 0)], Eviction::Now),
        ];
        for (name, p, taints, want) in cases {
            assert_eq!(eviction(&CachedPod::from(p), &taints, at(10)), want, "{name}");
        }
    }

    #[test]
    fn toleration_matching() {
        let t = Taint { key: "k".into(), value: Some("v".into()), effect: "NoSchedule".into(), time_added: None };
        let eq = |v: &str| Toleration { key: Some("k".into()), operator: Some("Equal".into()), value: Some(v.into()), effect: None, toleration_seconds: None };
        assert!(tolerates(&eq("v").into(), &t));
        assert!(!tolerates(&eq("w").into(), &t));
        assert!(!tolerates(&tol("k", "Exists", "NoExecute", None).into(), &t));
        assert!(tolerates(&tol("k", "Exists", "NoSchedule", None).into(), &t));
    }
}
