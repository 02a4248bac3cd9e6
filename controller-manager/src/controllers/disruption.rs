//! The disruption controller (`disruption`): PodDisruptionBudget status,
//! which the apiserver's eviction check reads (`disruptionsAllowed`).
//!
//! Upstream (`pkg/controller/disruption/disruption.go`):
//! - the budget's pods are those of its namespace matching its selector;
//! - `minAvailable` as a number: `expectedPods` = the pod count and
//!   `desiredHealthy` = the number; otherwise (`maxUnavailable`, or a
//!   percentage) `expectedPods` is the sum of the scales of the pods'
//!   controllers (ReplicaSet, or its Deployment; ReplicationController;
//!   StatefulSet) and `desiredHealthy` = expected − maxUnavailable, or
//!   ⌈expected × minAvailable%⌉ (maxUnavailable % rounds up too);
//! - `currentHealthy` = Ready pods not being deleted and not listed in
//!   `disruptedPods` (evictions the apiserver recorded; entries expire
//!   after 2 minutes or when the pod goes);
//! - `disruptionsAllowed` = max(currentHealthy − desiredHealthy, 0), 0 when
//!   nothing is expected; condition `DisruptionAllowed` True
//!   (`SufficientPods`) / False (`InsufficientPods`, or `SyncFailed` with the
//!   error, e.g. a pod without controller).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use anyhow::Context;
use apimachinery::selector::labels::LabelSelector;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::ReplicationController;
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, OwnerReference, Time};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::PostParams;
use kube::Api;

use crate::controllers::Ctx;
use crate::runtime::cached_pod::CachedPod;
use crate::runtime::{run_workers, EventRecorder, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "disruption";
/// Upstream `DeletionTimeout`: how long an eviction stays in `disruptedPods`.
pub const DELETION_TIMEOUT: SignedDuration = SignedDuration::from_secs(120);

/// The pods a budget covers (policy/v1: an empty selector selects all).
pub fn selects(pdb: &PodDisruptionBudget, pod: &CachedPod) -> bool {
    let Some(sel) = pdb.spec.as_ref().and_then(|s| s.selector.as_ref()) else { return false };
    let Ok(sel) = LabelSelector::from_k8s(sel) else { return false };
    sel.matches(&pod.metadata.labels.clone().unwrap_or_default())
}

fn percent(v: &IntOrString) -> Option<f64> {
    match v {
        IntOrString::String(s) => s.strip_suffix('%').and_then(|n| n.trim().parse::<f64>().ok()),
        IntOrString::Int(_) => None,
    }
}

/// `(expectedPods, desiredHealthy)`; `scales` gives the total scale of the
/// pods' controllers, or an error message.
pub fn expectations(pdb: &PodDisruptionBudget, pod_count: i32, scales: impl FnOnce() -> Result<i32, String>) -> Result<(i32, i32), String> {
    let spec = pdb.spec.clone().unwrap_or_default();
    if let Some(max) = &spec.max_unavailable {
        let expected = scales()?;
        let unavailable = match (max, percent(max)) {
            (IntOrString::Int(n), _) => *n,
            (_, Some(p)) => (f64::from(expected) * p / 100.0).ceil() as i32,
            _ => return Err(format!("invalid maxUnavailable {max:?}")),
        };
        return Ok((expected, (expected - unavailable).max(0)));
    }
    match &spec.min_available {
        Some(IntOrString::Int(n)) => Ok((pod_count, *n)),
        Some(v) => {
            let p = percent(v).ok_or_else(|| format!("invalid minAvailable {v:?}"))?;
            let expected = scales()?;
            Ok((expected, (f64::from(expected) * p / 100.0).ceil() as i32))
        }
        None => Ok((pod_count, 0)),
    }
}

/// The new status. `scales` as in [`expectations`].
pub fn compute(pdb: &PodDisruptionBudget, pods: &[Arc<CachedPod>], scales: impl FnOnce() -> Result<i32, String>, now: Timestamp) -> PodDisruptionBudgetStatus {
    let old = pdb.status.clone().unwrap_or_default();
    // Keep recent evictions of pods that still exist and are not yet being deleted.
    let mut disrupted: BTreeMap<String, Time> = BTreeMap::new();
    for (name, t) in old.disrupted_pods.clone().unwrap_or_default() {
        let alive = pods.iter().any(|p| p.metadata.name.as_deref() == Some(name.as_str()) && p.metadata.deletion_timestamp.is_none());
        if alive && t.0 + DELETION_TIMEOUT > now {
            disrupted.insert(name, t);
        }
    }
    let healthy = i32::try_from(
        pods.iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none() && crate::runtime::pod_util::is_ready(p))
            .filter(|p| !p.metadata.name.as_ref().is_some_and(|n| disrupted.contains_key(n)))
            .count(),
    )
    .unwrap_or(i32::MAX);
    let pod_count = i32::try_from(pods.len()).unwrap_or(i32::MAX);
    let (expected, desired, allowed, condition) = match expectations(pdb, pod_count, scales) {
        Ok((expected, desired)) => {
            let allowed = if expected <= 0 { 0 } else { (healthy - desired).max(0) };
            let cond = if allowed > 0 { ("True", "SufficientPods", String::new()) } else { ("False", "InsufficientPods", String::new()) };
            (expected, desired, allowed, cond)
        }
        Err(e) => (0, 0, 0, ("False", "SyncFailed", e)),
    };
    let mut conditions = old.conditions.clone().unwrap_or_default();
    let (st, reason, message) = condition;
    match conditions.iter_mut().find(|c| c.type_ == "DisruptionAllowed") {
        Some(c) => {
            if c.status != st {
                c.last_transition_time = Time(now);
            }
            c.status = st.into();
            c.reason = reason.into();
            c.message = message;
            c.observed_generation = pdb.metadata.generation;
        }
        None => conditions.push(Condition {
            type_: "DisruptionAllowed".into(),
            status: st.into(),
            reason: reason.into(),
            message,
            last_transition_time: Time(now),
            observed_generation: pdb.metadata.generation,
        }),
    }
    PodDisruptionBudgetStatus {
        current_healthy: healthy,
        desired_healthy: desired,
        disruptions_allowed: allowed,
        expected_pods: expected,
        observed_generation: pdb.metadata.generation,
        disrupted_pods: (!disrupted.is_empty()).then_some(disrupted),
        conditions: Some(conditions),
    }
}

struct State {
    client: kube::Client,
    pdbs: crate::runtime::Informer<PodDisruptionBudget>,
    pods: crate::runtime::Informer<CachedPod>,
    replicasets: crate::runtime::Informer<ReplicaSet>,
    deployments: crate::runtime::Informer<Deployment>,
    statefulsets: crate::runtime::Informer<StatefulSet>,
    rcs: crate::runtime::Informer<ReplicationController>,
    recorder: EventRecorder,
}

impl State {
    /// Scale of the controller owning a pod (upstream's finder functions).
    fn scale_of(&self, ns: &str, r: &OwnerReference) -> Option<(String, i32)> {
        match (r.api_version.split('/').next().unwrap_or(""), r.kind.as_str()) {
            ("apps", "ReplicaSet") => {
                let rs = self.replicasets.get(ns, &r.name).filter(|rs| rs.metadata.uid.as_deref() == Some(r.uid.as_str()))?;
                if let Some(d) = crate::runtime::owner::controller_of(&rs.metadata).filter(|o| o.kind == "Deployment") {
                    let dep = self.deployments.get(ns, &d.name).filter(|x| x.metadata.uid.as_deref() == Some(d.uid.as_str()))?;
                    return Some((d.uid.clone(), dep.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)));
                }
                Some((r.uid.clone(), rs.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)))
            }
            ("apps", "StatefulSet") => {
                let ss = self.statefulsets.get(ns, &r.name).filter(|x| x.metadata.uid.as_deref() == Some(r.uid.as_str()))?;
                Some((r.uid.clone(), ss.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)))
            }
            ("v1", "ReplicationController") => {
                let rc = self.rcs.get(ns, &r.name).filter(|x| x.metadata.uid.as_deref() == Some(r.uid.as_str()))?;
                Some((r.uid.clone(), rc.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1)))
            }
            _ => None,
        }
    }

    fn total_scale(&self, ns: &str, pods: &[Arc<CachedPod>]) -> Result<i32, String> {
        let mut seen = BTreeSet::new();
        let mut total = 0;
        for p in pods {
            let name = p.metadata.name.clone().unwrap_or_default();
            let r = crate::runtime::owner::controller_of(&p.metadata).ok_or_else(|| format!("found no controller ref for pod {name:?}"))?;
            let (uid, scale) = self.scale_of(ns, r).ok_or_else(|| format!("found no controllers for pod {name:?}"))?;
            if seen.insert(uid) {
                total += scale;
            }
        }
        Ok(total)
    }
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let Some(pdb) = state.pdbs.get(&key.namespace, &key.name) else { return Ok(None) };
    let pods: Vec<Arc<CachedPod>> = state.pods.list_namespace(&key.namespace).into_iter().filter(|p| selects(&pdb, p)).collect();
    let now = Timestamp::now();
    let mut scale_error = None;
    let status = compute(
        &pdb,
        &pods,
        || {
            state.total_scale(&key.namespace, &pods).inspect_err(|e| scale_error = Some(e.clone()))
        },
        now,
    );
    if let Some(e) = scale_error {
        state.recorder.warning(&*pdb, "NoControllers", e);
    }
    // Re-check when a recorded eviction expires.
    let requeue = status
        .disrupted_pods
        .as_ref()
        .and_then(|m| m.values().map(|t| t.0 + DELETION_TIMEOUT).min())
        .map(|t| std::time::Duration::try_from(t.duration_since(now)).unwrap_or_default());
    let mut old = pdb.status.clone().unwrap_or_default();
    let mut new = status.clone();
    // Ignore transition-time-only differences.
    for c in old.conditions.iter_mut().flatten().chain(new.conditions.iter_mut().flatten()) {
        c.last_transition_time = Time(Timestamp::UNIX_EPOCH);
    }
    if old != new {
        let api: Api<PodDisruptionBudget> = Api::namespaced(state.client.clone(), &key.namespace);
        // PUT (the disruption-controller role may only update the status).
        let mut updated = (*pdb).clone();
        updated.status = Some(status);
        api.replace_status(&key.name, &PostParams::default(), &updated).await.with_context(|| format!("updating PodDisruptionBudget {key} status"))?;
    }
    Ok(requeue)
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let state = Arc::new(State {
        client: ctx.client.clone(),
        pdbs: ctx.informers.get::<PodDisruptionBudget>(),
        pods: ctx.informers.get::<CachedPod>(),
        replicasets: ctx.informers.get::<ReplicaSet>(),
        deployments: ctx.informers.get::<Deployment>(),
        statefulsets: ctx.informers.get::<StatefulSet>(),
        rcs: ctx.informers.get::<ReplicationController>(),
        recorder: EventRecorder::new(ctx.client.clone(), "controllermanager"),
    });
    let queue = WorkQueue::<ObjectKey>::new();
    let _g1 = state.pdbs.add_handler({
        let q = queue.clone();
        move |c| q.add(ObjectKey::of(&**c.object()))
    });
    let _g2 = state.pods.add_handler({
        let q = queue.clone();
        let pdbs = state.pdbs.clone();
        move |c| {
            let pod = c.object();
            let ns = pod.metadata.namespace.clone().unwrap_or_default();
            for pdb in pdbs.list_namespace(&ns) {
                if selects(&pdb, pod) || c.old().is_some_and(|o| selects(&pdb, o)) {
                    q.add(ObjectKey::of(&*pdb));
                }
            }
        }
    });
    // Scale changes of controllers change expectations: resync the namespace's budgets.
    fn ns_handler<K: kube::Resource<DynamicType = ()>>(pdbs: crate::runtime::Informer<PodDisruptionBudget>, q: WorkQueue<ObjectKey>) -> impl Fn(&crate::runtime::Change<K>) + Send + Sync + 'static {
        move |c| {
            let ns = c.object().meta().namespace.clone().unwrap_or_default();
            for pdb in pdbs.list_namespace(&ns) {
                q.add(ObjectKey::of(&*pdb));
            }
        }
    }
    let _g3 = state.replicasets.add_handler(ns_handler(state.pdbs.clone(), queue.clone()));
    let _g4 = state.deployments.add_handler(ns_handler(state.pdbs.clone(), queue.clone()));
    let _g5 = state.statefulsets.add_handler(ns_handler(state.pdbs.clone(), queue.clone()));
    let _g6 = state.rcs.add_handler(ns_handler(state.pdbs.clone(), queue.clone()));
    state.pdbs.wait_synced().await?;
    state.pods.wait_synced().await?;
    state.replicasets.wait_synced().await?;
    state.deployments.wait_synced().await?;
    state.statefulsets.wait_synced().await?;
    state.rcs.wait_synced().await?;
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(state.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::core::v1::{PodCondition, PodStatus};
    use k8s_openapi::api::policy::v1::PodDisruptionBudgetSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector as K8sSelector;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn pdb(min: Option<IntOrString>, max: Option<IntOrString>) -> PodDisruptionBudget {
        PodDisruptionBudget {
            metadata: kube::api::ObjectMeta { name: Some("b".into()), generation: Some(3), ..Default::default() },
            spec: Some(PodDisruptionBudgetSpec {
                min_available: min,
                max_unavailable: max,
                selector: Some(K8sSelector { match_labels: Some([("app".to_string(), "x".to_string())].into()), match_expressions: None }),
                unhealthy_pod_eviction_policy: None,
            }),
            status: None,
        }
    }

    fn pod(name: &str, ready: bool) -> Arc<CachedPod> {
        Arc::new(CachedPod::from(Pod {
            metadata: kube::api::ObjectMeta { name: Some(name.into()), labels: Some([("app".to_string(), "x".to_string())].into()), ..Default::default() },
            spec: None,
            status: Some(PodStatus {
                conditions: Some(vec![PodCondition { type_: "Ready".into(), status: if ready { "True" } else { "False" }.into(), ..Default::default() }]),
                ..Default::default()
            }),
        }))
    }

    /// (healthy, desired, allowed, expected, condition reason)
    type Want = (i32, i32, i32, i32, &'static str);

    #[test]
    fn status_table() {
        let pods = vec![pod("a", true), pod("b", true), pod("c", false)];
        let cases: Vec<(&str, PodDisruptionBudget, Result<i32, String>, Want)> = vec![
            ("minAvailable 1", pdb(Some(IntOrString::Int(1)), None), Ok(9), (2, 1, 1, 3, "SufficientPods")),
            ("minAvailable 2", pdb(Some(IntOrString::Int(2)), None), Ok(9), (2, 2, 0, 3, "InsufficientPods")),
            ("maxUnavailable 1 of scale 3", pdb(None, Some(IntOrString::Int(1))), Ok(3), (2, 2, 0, 3, "InsufficientPods")),
            ("maxUnavailable 50% of 4", pdb(None, Some(IntOrString::String("50%".into()))), Ok(4), (2, 2, 0, 4, "InsufficientPods")),
            ("minAvailable 30% of 3", pdb(Some(IntOrString::String("30%".into())), None), Ok(3), (2, 1, 1, 3, "SufficientPods")),
            ("no controller", pdb(None, Some(IntOrString::Int(1))), Err("found no controllers".into()), (2, 0, 0, 0, "SyncFailed")),
        ];
        for (name, b, scale, (healthy, desired, allowed, expected, reason)) in cases {
            let s = compute(&b, &pods, || scale, at(0));
            assert_eq!((s.current_healthy, s.desired_healthy, s.disruptions_allowed, s.expected_pods), (healthy, desired, allowed, expected), "{name}");
            assert_eq!(s.conditions.unwrap_or_default()[0].reason, reason, "{name}");
            assert_eq!(s.observed_generation, Some(3));
        }
    }

    #[test]
    fn recent_evictions_are_not_healthy() {
        let mut b = pdb(Some(IntOrString::Int(1)), None);
        b.status = Some(PodDisruptionBudgetStatus {
            disrupted_pods: Some([("a".to_string(), Time(at(100))), ("b".to_string(), Time(at(-500)))].into()),
            ..Default::default()
        });
        let pods = vec![pod("a", true), pod("b", true)];
        let s = compute(&b, &pods, || Ok(2), at(150));
        assert_eq!(s.current_healthy, 1);
        assert_eq!(s.disrupted_pods.map(|m| m.keys().cloned().collect::<Vec<_>>()), Some(vec!["a".to_string()]));
    }
}
