//! The resource quota controller (`resourcequota`): recomputes
//! `status.used` (and copies `spec.hard` to `status.hard`) for every
//! ResourceQuota (upstream `pkg/controller/resourcequota` with the
//! evaluators of `pkg/quota/v1/evaluator/core`).
//!
//! Usage counted per namespace, only for resources named in `spec.hard`:
//! - pods (`pods`, `count/pods`) that are not terminal, with their
//!   effective requests/limits (`requests.cpu` or `cpu`, `requests.memory`
//!   or `memory`, `limits.cpu`, `limits.memory`, `*.ephemeral-storage`):
//!   max(sum of containers, largest init container) plus overhead;
//!   quota scopes `Terminating`, `NotTerminating`, `BestEffort`,
//!   `NotBestEffort` filter them;
//! - `services`, `services.loadbalancers`, `services.nodeports`;
//! - `persistentvolumeclaims`, `requests.storage` and their
//!   `<class>.storageclass.storage.k8s.io/...` variants;
//! - any `count/<resource>[.<group>]` and the legacy object counts
//!   (`configmaps`, `secrets`, `replicationcontrollers`, `resourcequotas`)
//!   by listing the resource.
//!
//! Quotas are resynced every 5 minutes (`--resource-quota-sync-period`)
//! and whenever a pod, service or claim of their namespace changes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, ResourceQuota, Service};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use kube::api::{DynamicObject, ListParams, PostParams};
use kube::Api;

use crate::controllers::Ctx;
use crate::runtime::cached_pod::{CachedPod, ResourceList};
use crate::runtime::{run_workers, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "resourcequota";
pub const RESYNC: Duration = Duration::from_secs(300);
const STORAGE_CLASS_SUFFIX: &str = ".storageclass.storage.k8s.io/";

/// A quantity in thousandths (milli-units), via `apimachinery::quantity`.
pub fn parse_milli(q: &str) -> Option<i128> {
    apimachinery::quantity::Quantity::parse(q).ok().map(|q| q.millis)
}

/// Canonical text of a milli-unit amount (`500m`, `2`, `1Gi`, `1536Mi`),
/// binary suffixes preferred as for memory and storage.
pub fn format_milli(v: i128) -> String {
    apimachinery::quantity::Quantity::from_millis(v, apimachinery::quantity::Format::BinarySi).canonical()
}

fn q(pod_map: Option<&ResourceList>, key: &str) -> i128 {
    pod_map.and_then(|m| m.get(key)).and_then(|v| parse_milli(&v.0)).unwrap_or(0)
}

/// Effective pod request/limit of one resource (upstream `PodRequests`).
pub fn pod_amount(pod: &CachedPod, limits: bool, resource: &str) -> i128 {
    let Some(spec) = pod.spec.as_ref() else { return 0 };
    let pick = |c: &crate::runtime::cached_pod::Container| {
        let r = c.resources.as_ref();
        let m = if limits { r.and_then(|r| r.limits.as_ref()) } else { r.and_then(|r| r.requests.as_ref()) };
        q(m, resource)
    };
    let sum: i128 = spec.containers.iter().map(pick).sum();
    let init: i128 = spec.init_containers.iter().flatten().map(pick).max().unwrap_or(0);
    sum.max(init) + q(spec.overhead.as_ref(), resource)
}

fn is_best_effort(pod: &CachedPod) -> bool {
    pod.spec.as_ref().is_none_or(|s| {
        s.containers.iter().chain(s.init_containers.iter().flatten()).all(|c| {
            c.resources.as_ref().is_none_or(|r| r.requests.as_ref().is_none_or(ResourceList::is_empty) && r.limits.as_ref().is_none_or(ResourceList::is_empty))
        })
    })
}

fn pod_in_scope(pod: &CachedPod, scopes: &[String]) -> bool {
    scopes.iter().all(|s| match s.as_str() {
        "Terminating" => pod.spec.as_ref().and_then(|s| s.active_deadline_seconds).is_some(),
        "NotTerminating" => pod.spec.as_ref().and_then(|s| s.active_deadline_seconds).is_none(),
        "BestEffort" => is_best_effort(pod),
        "NotBestEffort" => !is_best_effort(pod),
        _ => true,
    })
}

fn counts_against_quota(pod: &CachedPod) -> bool {
    !matches!(crate::runtime::pod_util::phase(pod), "Succeeded" | "Failed")
}

/// Usage of the pod/service/claim resources named in `hard`. Resources
/// this function does not know are left out (the shell counts them).
pub fn usage(hard: &BTreeMap<String, Quantity>, scopes: &[String], pods: &[Arc<CachedPod>], services: &[Arc<Service>], pvcs: &[Arc<PersistentVolumeClaim>]) -> BTreeMap<String, Quantity> {
    let pods: Vec<&Arc<CachedPod>> = pods.iter().filter(|p| counts_against_quota(p) && pod_in_scope(p, scopes)).collect();
    let mut used = BTreeMap::new();
    for name in hard.keys() {
        let n = name.as_str();
        let value: Option<i128> = match n {
            "pods" | "count/pods" => Some(i128::try_from(pods.len()).unwrap_or(0) * 1000),
            "cpu" | "requests.cpu" => Some(pods.iter().map(|p| pod_amount(p, false, "cpu")).sum()),
            "memory" | "requests.memory" => Some(pods.iter().map(|p| pod_amount(p, false, "memory")).sum()),
            "ephemeral-storage" | "requests.ephemeral-storage" => Some(pods.iter().map(|p| pod_amount(p, false, "ephemeral-storage")).sum()),
            "limits.cpu" => Some(pods.iter().map(|p| pod_amount(p, true, "cpu")).sum()),
            "limits.memory" => Some(pods.iter().map(|p| pod_amount(p, true, "memory")).sum()),
            "limits.ephemeral-storage" => Some(pods.iter().map(|p| pod_amount(p, true, "ephemeral-storage")).sum()),
            "services" | "count/services" => Some(i128::try_from(services.len()).unwrap_or(0) * 1000),
            "services.loadbalancers" => Some(
                i128::try_from(services.iter().filter(|s| s.spec.as_ref().and_then(|s| s.type_.as_deref()) == Some("LoadBalancer")).count()).unwrap_or(0) * 1000,
            ),
            "services.nodeports" => Some(
                services
                    .iter()
                    .filter(|s| matches!(s.spec.as_ref().and_then(|s| s.type_.as_deref()), Some("NodePort" | "LoadBalancer")))
                    .map(|s| i128::try_from(s.spec.as_ref().and_then(|s| s.ports.as_ref()).map_or(0, |p| p.iter().filter(|p| p.node_port.is_some()).count())).unwrap_or(0))
                    .sum::<i128>()
                    * 1000,
            ),
            "persistentvolumeclaims" | "count/persistentvolumeclaims" => Some(i128::try_from(pvcs.len()).unwrap_or(0) * 1000),
            "requests.storage" => Some(pvcs.iter().map(|c| pvc_request(c)).sum()),
            _ => n.split_once(STORAGE_CLASS_SUFFIX).and_then(|(class, what)| {
                let of_class: Vec<&Arc<PersistentVolumeClaim>> = pvcs.iter().filter(|c| c.spec.as_ref().and_then(|s| s.storage_class_name.as_deref()) == Some(class)).collect();
                match what {
                    "requests.storage" => Some(of_class.iter().map(|c| pvc_request(c)).sum()),
                    "persistentvolumeclaims" => Some(i128::try_from(of_class.len()).unwrap_or(0) * 1000),
                    _ => None,
                }
            }),
        };
        if let Some(v) = value {
            used.insert(name.clone(), Quantity(format_milli(v)));
        }
    }
    used
}

fn pvc_request(c: &PersistentVolumeClaim) -> i128 {
    let requests = c.spec.as_ref().and_then(|s| s.resources.as_ref()).and_then(|r| r.requests.as_ref());
    requests.and_then(|m| m.get("storage")).and_then(|v| parse_milli(&v.0)).unwrap_or(0)
}

/// `(resource, group)` for an object-count quota name: `count/deployments.apps`,
/// `configmaps`, ...
pub fn object_count_target(name: &str) -> Option<(String, String)> {
    if let Some(rest) = name.strip_prefix("count/") {
        return Some(match rest.split_once('.') {
            Some((r, g)) => (r.to_string(), g.to_string()),
            None => (rest.to_string(), String::new()),
        });
    }
    matches!(name, "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas").then(|| (name.to_string(), String::new()))
}

struct State {
    client: kube::Client,
    quotas: crate::runtime::Informer<ResourceQuota>,
    pods: crate::runtime::Informer<CachedPod>,
    services: crate::runtime::Informer<Service>,
    pvcs: crate::runtime::Informer<PersistentVolumeClaim>,
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let Some(quota) = state.quotas.get(&key.namespace, &key.name) else { return Ok(None) };
    let hard = quota.spec.as_ref().and_then(|s| s.hard.clone()).unwrap_or_default();
    let scopes = quota.spec.as_ref().and_then(|s| s.scopes.clone()).unwrap_or_default();
    let mut used = usage(
        &hard,
        &scopes,
        &state.pods.list_namespace(&key.namespace),
        &state.services.list_namespace(&key.namespace),
        &state.pvcs.list_namespace(&key.namespace),
    );
    let wanted: Vec<(String, (String, String))> = hard.keys().filter(|k| !used.contains_key(*k)).filter_map(|k| Some((k.clone(), object_count_target(k)?))).collect();
    if !wanted.is_empty() {
        let resources = super::garbagecollector::discovery::discover(&state.client).await?;
        for (name, (resource, group)) in wanted {
            let Some(r) = resources.all.iter().find(|r| r.resource.plural == resource && r.resource.group == group && r.namespaced) else { continue };
            let api: Api<DynamicObject> = Api::namespaced_with(state.client.clone(), &key.namespace, &r.resource);
            let n = api.list(&ListParams::default()).await.with_context(|| format!("counting {}", r.group_resource()))?.items.len();
            used.insert(name, Quantity(n.to_string()));
        }
    }
    let status = quota.status.clone().unwrap_or_default();
    if status.hard.as_ref() != Some(&hard) || status.used.as_ref() != Some(&used) {
        let api: Api<ResourceQuota> = Api::namespaced(state.client.clone(), &key.namespace);
        // PUT (the resourcequota-controller role may only update the status).
        let mut updated = (*quota).clone();
        updated.status = Some(k8s_openapi::api::core::v1::ResourceQuotaStatus { hard: Some(hard), used: Some(used) });
        api.replace_status(&key.name, &PostParams::default(), &updated).await.with_context(|| format!("updating ResourceQuota {key} status"))?;
    }
    Ok(Some(RESYNC))
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let state = Arc::new(State {
        client: ctx.client.clone(),
        quotas: ctx.informers.get::<ResourceQuota>(),
        pods: ctx.informers.get::<CachedPod>(),
        services: ctx.informers.get::<Service>(),
        pvcs: ctx.informers.get::<PersistentVolumeClaim>(),
    });
    let queue = WorkQueue::<ObjectKey>::new();
    let _g1 = state.quotas.add_handler({
        let q = queue.clone();
        move |c| q.add(ObjectKey::of(&**c.object()))
    });
    fn ns_handler<K: kube::Resource<DynamicType = ()>>(quotas: crate::runtime::Informer<ResourceQuota>, q: WorkQueue<ObjectKey>) -> impl Fn(&crate::runtime::Change<K>) + Send + Sync + 'static {
        move |c| {
            let ns = c.object().meta().namespace.clone().unwrap_or_default();
            for quota in quotas.list_namespace(&ns) {
                q.add(ObjectKey::of(&*quota));
            }
        }
    }
    let _g2 = state.pods.add_handler(ns_handler(state.quotas.clone(), queue.clone()));
    let _g3 = state.services.add_handler(ns_handler(state.quotas.clone(), queue.clone()));
    let _g4 = state.pvcs.add_handler(ns_handler(state.quotas.clone(), queue.clone()));
    state.quotas.wait_synced().await?;
    state.pods.wait_synced().await?;
    state.services.wait_synced().await?;
    state.pvcs.wait_synced().await?;
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(state.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodStatus, ResourceRequirements};

    #[test]
    fn quantities() {
        let cases = [("500m", 500), ("2", 2000), ("1.5", 1500), ("1Gi", 1024 * 1024 * 1024 * 1000), ("128Mi", 128 * 1024 * 1024 * 1000), ("1k", 1_000_000), ("1e3", 1_000_000)];
        for (s, want) in cases {
            assert_eq!(parse_milli(s), Some(want), "{s}");
        }
        assert_eq!(format_milli(1500), "1500m");
        assert_eq!(format_milli(2000), "2");
        assert_eq!(format_milli(1024 * 1024 * 1024 * 1000), "1Gi");
        assert_eq!(format_milli(1536 * 1024 * 1024 * 1000), "1536Mi");
        assert_eq!(format_milli(0), "0");
        assert_eq!(parse_milli("1x"), None);
    }

    fn pod(cpu: Option<&str>, phase: &str) -> Arc<CachedPod> {
        Arc::new(CachedPod::from(Pod {
            metadata: Default::default(),
            spec: Some(PodSpec {
                containers: vec![Container {
                    name: "c".into(),
                    resources: cpu.map(|c| ResourceRequirements {
                        requests: Some([("cpu".to_string(), Quantity(c.into())), ("memory".to_string(), Quantity("64Mi".into()))].into()),
                        limits: Some([("memory".to_string(), Quantity("128Mi".into()))].into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            status: Some(PodStatus { phase: Some(phase.into()), ..Default::default() }),
        }))
    }

    #[test]
    fn usage_table() {
        let hard: BTreeMap<String, Quantity> = ["pods", "requests.cpu", "limits.memory", "services", "count/deployments.apps"].iter().map(|k| (k.to_string(), Quantity("10".into()))).collect();
        let pods = vec![pod(Some("250m"), "Running"), pod(Some("1"), "Pending"), pod(Some("4"), "Succeeded"), pod(None, "Running")];
        let used = usage(&hard, &[], &pods, &[Arc::new(Service::default())], &[]);
        let get = |k: &str| used.get(k).map(|q| q.0.clone());
        assert_eq!(get("pods").as_deref(), Some("3"));
        assert_eq!(get("requests.cpu").as_deref(), Some("1250m"));
        assert_eq!(get("limits.memory").as_deref(), Some("256Mi"));
        assert_eq!(get("services").as_deref(), Some("1"));
        assert_eq!(get("count/deployments.apps"), None, "counted by the shell");
        let best_effort = usage(&hard, &["BestEffort".to_string()], &pods, &[], &[]);
        assert_eq!(best_effort.get("pods").map(|q| q.0.as_str()), Some("1"));
        assert_eq!(object_count_target("count/deployments.apps"), Some(("deployments".into(), "apps".into())));
        assert_eq!(object_count_target("configmaps"), Some(("configmaps".into(), String::new())));
        assert_eq!(object_count_target("pods"), None);
    }
}
