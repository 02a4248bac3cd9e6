//! The PVC protection controller (`pvc-protection`, upstream
//! `pkg/controller/volume/pvcprotection`): a claim being deleted keeps
//! `kubernetes.io/pvc-protection` while some pod uses it.
//!
//! A pod uses a claim (upstream `podUsesPVC`) when it is scheduled
//! (`spec.nodeName` set: the kubelet only sees scheduled pods and refuses
//! to start one whose claim is being deleted) and either
//! - a `persistentVolumeClaim` volume names the claim, whatever the pod's
//!   phase (a finished pod still counts until it is deleted, as upstream
//!   since 1.2x: its volume may still be mounted), or
//! - an `ephemeral` volume's claim `<pod>-<volume>` is this claim, the
//!   claim is controlled by the pod (upstream `ephemeral.VolumeIsForPod`),
//!   and the pod is not shut down (deleted with grace period 0: the
//!   kubelet is done with it, or it was force-deleted).
//!
//! The informer's cache is asked first; before releasing a claim, the pods
//! of its namespace are listed live (upstream `askAPIServer`), so a pod the
//! cache has not seen yet still holds the claim.
//!
//! Pod events enqueue the pod's claims only when the pod can no longer
//! hold them (deleted, terminated, or not scheduled), as upstream's
//! `enqueuePVCs`; a pod replaced by one of the same name releases the old
//! pod's claims.

use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use kube::api::ListParams;
use kube::Api;

use super::{decide, settle, wants_sync, Decision, PVC_PROTECTION_FINALIZER};
use crate::controllers::Ctx;
use crate::runtime::{owner, run_workers, CachedPod, Change, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "pvc-protection";

/// Upstream `ephemeral.VolumeClaimName`: the claim of a generic ephemeral
/// volume is named `<pod>-<volume>`.
pub fn ephemeral_claim_name(pod_name: &str, volume_name: &str) -> String {
    format!("{pod_name}-{volume_name}")
}

/// The names of the claims `pod`'s volumes refer to (upstream
/// `PodPVCIndexFunc`).
pub fn claim_names(pod: &CachedPod) -> Vec<String> {
    let pod_name = pod.metadata.name.as_deref().unwrap_or("");
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_deref());
    volumes
        .into_iter()
        .flatten()
        .filter_map(|v| match (&v.persistent_volume_claim, &v.ephemeral) {
            (Some(source), _) => Some(source.claim_name.clone()),
            (None, Some(_)) => Some(ephemeral_claim_name(pod_name, &v.name)),
            (None, None) => None,
        })
        .filter(|name| !name.is_empty())
        .collect()
}

/// Upstream `podIsShutDown`: deleted with a zero grace period (the kubelet
/// finished with it, or it was force-deleted).
pub fn pod_is_shut_down(pod: &CachedPod) -> bool {
    pod.metadata.deletion_timestamp.is_some() && pod.metadata.deletion_grace_period_seconds == Some(0)
}

/// Upstream `volumeutil.IsPodTerminated`: Succeeded or Failed, or being
/// deleted with no container running (ephemeral containers, which the
/// cache does not keep, are taken as not running).
pub fn pod_is_terminated(pod: &CachedPod) -> bool {
    let status = pod.status.as_ref();
    let phase = status.and_then(|s| s.phase.as_deref()).unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" {
        return true;
    }
    let not_running = |list: Option<&Vec<crate::runtime::cached_pod::ContainerStatus>>| {
        list.into_iter().flatten().all(|c| c.state.as_ref().is_some_and(|s| s.terminated.is_some() || s.waiting.is_some()))
    };
    pod.metadata.deletion_timestamp.is_some()
        && not_running(status.and_then(|s| s.init_container_statuses.as_ref()))
        && not_running(status.and_then(|s| s.container_statuses.as_ref()))
}

fn is_scheduled(pod: &CachedPod) -> bool {
    pod.spec.as_ref().and_then(|s| s.node_name.as_deref()).is_some_and(|n| !n.is_empty())
}

/// Upstream `podUsesPVC` (see the module docs).
pub fn pod_uses_claim(pod: &CachedPod, claim: &PersistentVolumeClaim) -> bool {
    if !is_scheduled(pod) || pod.metadata.namespace != claim.metadata.namespace {
        return false;
    }
    let claim_name = claim.metadata.name.as_deref().unwrap_or("");
    let pod_name = pod.metadata.name.as_deref().unwrap_or("");
    let pod_uid = pod.metadata.uid.as_deref().unwrap_or("");
    let volumes = pod.spec.as_ref().and_then(|s| s.volumes.as_deref());
    volumes.into_iter().flatten().any(|v| {
        let by_name = v.persistent_volume_claim.as_ref().is_some_and(|s| s.claim_name == claim_name);
        let ephemeral = v.ephemeral.is_some()
            && !pod_is_shut_down(pod)
            && ephemeral_claim_name(pod_name, &v.name) == claim_name
            && owner::is_controlled_by(&claim.metadata, pod_uid);
        by_name || ephemeral
    })
}

/// What a sync decides from the pods it can see.
pub fn decide_claim<'a>(claim: &PersistentVolumeClaim, pods: impl IntoIterator<Item = &'a CachedPod>) -> Decision {
    decide(&claim.metadata, PVC_PROTECTION_FINALIZER, || pods.into_iter().any(|p| pod_uses_claim(p, claim)))
}

/// The claims (names in the pod's namespace) a pod event should re-check
/// (upstream `enqueuePVCs`): none while the pod may still hold them.
pub fn claims_to_recheck(pod: &CachedPod, deleted: bool) -> Vec<String> {
    if !deleted && !pod_is_terminated(pod) && is_scheduled(pod) {
        return Vec::new();
    }
    claim_names(pod)
}

struct State {
    client: kube::Client,
    claims: crate::runtime::Informer<PersistentVolumeClaim>,
    pods: crate::runtime::Informer<CachedPod>,
}

impl State {
    async fn sync(&self, key: &ObjectKey) -> SyncResult {
        let Some(claim) = self.claims.get(&key.namespace, &key.name) else { return Ok(None) };
        let cached = self.pods.list_namespace(&key.namespace);
        let mut decision = decide_claim(&claim, cached.iter().map(|p| &**p));
        if decision == Decision::RemoveFinalizer {
            // The cache may not have seen a new pod yet: confirm live.
            let pods: Api<CachedPod> = Api::namespaced(self.client.clone(), &key.namespace);
            let live = pods.list(&ListParams::default()).await.with_context(|| format!("listing pods in {}", key.namespace))?;
            decision = decide_claim(&claim, live.items.iter());
        }
        let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &key.namespace);
        settle(api, &*claim, &key.name, PVC_PROTECTION_FINALIZER, decision, "claim").await
    }
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let state = Arc::new(State {
        client: ctx.client.clone(),
        claims: ctx.informers.get::<PersistentVolumeClaim>(),
        pods: ctx.informers.get::<CachedPod>(),
    });
    let queue = WorkQueue::<ObjectKey>::new();
    let _claims = state.claims.add_handler({
        let q = queue.clone();
        move |c| {
            if let Change::Applied { new, .. } = c {
                if wants_sync(&new.metadata, PVC_PROTECTION_FINALIZER) {
                    q.add(ObjectKey::of(&**new));
                }
            }
        }
    });
    let _pods = state.pods.add_handler({
        let q = queue.clone();
        move |c| {
            let enqueue = |pod: &CachedPod, deleted: bool| {
                let ns = pod.metadata.namespace.clone().unwrap_or_default();
                for name in claims_to_recheck(pod, deleted) {
                    q.add(ObjectKey::new(ns.clone(), name));
                }
            };
            match c {
                Change::Applied { old, new } => {
                    enqueue(new, false);
                    // A pod replaced by another of the same name.
                    if let Some(old) = old.as_ref().filter(|o| o.metadata.uid != new.metadata.uid) {
                        enqueue(old, true);
                    }
                }
                Change::Deleted(pod) => enqueue(pod, true),
            }
        }
    });
    state.claims.wait_synced().await?;
    state.pods.wait_synced().await?;
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| {
        let state = state.clone();
        async move { state.sync(&key).await }
    })
    .await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::cached_pod::{ContainerState, ContainerStatus, EphemeralVolumeSource, PersistentVolumeClaimVolumeSource, PodSpec, PodStatus, Volume};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
    use k8s_openapi::jiff::Timestamp;

    const F: &str = PVC_PROTECTION_FINALIZER;

    #[derive(Clone, Copy)]
    enum Vol {
        Claim(&'static str),
        Ephemeral(&'static str),
    }

    #[derive(Clone, Copy, Default)]
    struct P {
        name: &'static str,
        uid: &'static str,
        node: &'static str,
        phase: &'static str,
        /// Deletion grace period, if being deleted.
        deleting: Option<i64>,
    }

    fn pod(p: P, vols: &[Vol]) -> CachedPod {
        let volumes = vols
            .iter()
            .map(|v| match *v {
                Vol::Claim(c) => Volume {
                    name: format!("v-{c}"),
                    persistent_volume_claim: Some(PersistentVolumeClaimVolumeSource { claim_name: c.into() }),
                    ephemeral: None,
                },
                Vol::Ephemeral(n) => Volume { name: n.into(), persistent_volume_claim: None, ephemeral: Some(EphemeralVolumeSource {}) },
            })
            .collect::<Vec<_>>();
        CachedPod {
            metadata: ObjectMeta {
                name: Some(p.name.into()),
                namespace: Some("ns".into()),
                uid: Some(p.uid.into()),
                deletion_timestamp: p.deleting.map(|_| Time(Timestamp::UNIX_EPOCH)),
                deletion_grace_period_seconds: p.deleting,
                ..Default::default()
            },
            spec: Some(PodSpec {
                node_name: (!p.node.is_empty()).then(|| p.node.into()),
                volumes: (!volumes.is_empty()).then(|| Box::new(volumes)),
                ..Default::default()
            }),
            status: Some(PodStatus { phase: (!p.phase.is_empty()).then(|| p.phase.into()), ..Default::default() }),
        }
    }

    fn claim(name: &str, deleting: bool, finalizers: &[&str], controlled_by: Option<&str>) -> PersistentVolumeClaim {
        PersistentVolumeClaim {
            metadata: ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
                finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()),
                owner_references: controlled_by.map(|uid| {
                    vec![OwnerReference { api_version: "v1".into(), kind: "Pod".into(), name: "x".into(), uid: uid.into(), controller: Some(true), ..Default::default() }]
                }),
                ..Default::default()
            },
            ..Default::default()
        }
    }

    const RUNNING: P = P { name: "web", uid: "u1", node: "n1", phase: "Running", deleting: None };

    #[test]
    fn which_pods_use_a_claim() {
        let data = claim("data", true, &[F], None);
        let eph = claim("web-scratch", true, &[F], Some("u1"));
        let eph_foreign = claim("web-scratch", true, &[F], Some("someone-else"));
        let cases = [
            ("running pod naming the claim", pod(RUNNING, &[Vol::Claim("data")]), &data, true),
            ("other claim", pod(RUNNING, &[Vol::Claim("logs")]), &data, false),
            ("unscheduled pod", pod(P { node: "", phase: "Pending", ..RUNNING }, &[Vol::Claim("data")]), &data, false),
            ("pending scheduled pod", pod(P { phase: "Pending", ..RUNNING }, &[Vol::Claim("data")]), &data, true),
            // Upstream: a finished pod still holds its claims until deleted.
            ("succeeded pod", pod(P { phase: "Succeeded", ..RUNNING }, &[Vol::Claim("data")]), &data, true),
            ("failed pod", pod(P { phase: "Failed", ..RUNNING }, &[Vol::Claim("data")]), &data, true),
            ("terminating pod", pod(P { deleting: Some(30), ..RUNNING }, &[Vol::Claim("data")]), &data, true),
            ("shut-down pod, plain claim", pod(P { deleting: Some(0), ..RUNNING }, &[Vol::Claim("data")]), &data, true),
            ("ephemeral claim of this pod", pod(RUNNING, &[Vol::Ephemeral("scratch")]), &eph, true),
            ("ephemeral claim of another pod uid", pod(RUNNING, &[Vol::Ephemeral("scratch")]), &eph_foreign, false),
            ("ephemeral claim, pod shut down", pod(P { deleting: Some(0), ..RUNNING }, &[Vol::Ephemeral("scratch")]), &eph, false),
            ("ephemeral claim, pod terminating", pod(P { deleting: Some(30), ..RUNNING }, &[Vol::Ephemeral("scratch")]), &eph, true),
            ("ephemeral name is pod-volume", pod(P { name: "api", ..RUNNING }, &[Vol::Ephemeral("scratch")]), &eph, false),
        ];
        for (what, p, c, want) in cases {
            assert_eq!(pod_uses_claim(&p, c), want, "{what}");
        }
    }

    #[test]
    fn claim_decisions() {
        let users = [pod(RUNNING, &[Vol::Claim("data")])];
        let cases = [
            ("deleted, used", claim("data", true, &[F], None), &users[..], Decision::InUse),
            ("deleted, unused", claim("data", true, &[F], None), &[][..], Decision::RemoveFinalizer),
            ("deleted, finalizer gone", claim("data", true, &[], None), &[][..], Decision::Nothing),
            ("live, protected", claim("data", false, &[F], None), &users[..], Decision::Nothing),
            ("live, unprotected", claim("data", false, &[], None), &users[..], Decision::AddFinalizer),
        ];
        for (what, c, pods, want) in cases {
            assert_eq!(decide_claim(&c, pods.iter()), want, "{what}");
        }
    }

    #[test]
    fn pod_events_recheck_claims_only_when_the_pod_lets_go() {
        let vols = [Vol::Claim("data"), Vol::Ephemeral("scratch")];
        let both = vec!["data".to_string(), "web-scratch".to_string()];
        let exited = ContainerStatus {
            name: "c".into(),
            state: Some(ContainerState { terminated: Some(Box::default()), ..Default::default() }),
            ..Default::default()
        };
        let mut deleting_exited = pod(P { deleting: Some(30), ..RUNNING }, &vols);
        if let Some(s) = deleting_exited.status.as_mut() {
            s.container_statuses = Some(vec![exited]);
        }
        let running_container = ContainerStatus { name: "c".into(), state: Some(ContainerState::default()), ..Default::default() };
        let mut deleting_running = pod(P { deleting: Some(30), ..RUNNING }, &vols);
        if let Some(s) = deleting_running.status.as_mut() {
            s.container_statuses = Some(vec![running_container]);
        }
        let cases = [
            ("running", pod(RUNNING, &vols), false, vec![]),
            ("deleted", pod(RUNNING, &vols), true, both.clone()),
            ("succeeded", pod(P { phase: "Succeeded", ..RUNNING }, &vols), false, both.clone()),
            ("unscheduled", pod(P { node: "", ..RUNNING }, &vols), false, both.clone()),
            ("terminating, containers exited", deleting_exited, false, both.clone()),
            ("terminating, container running", deleting_running, false, vec![]),
            ("no claims", pod(RUNNING, &[]), true, vec![]),
        ];
        for (what, p, deleted, want) in cases {
            assert_eq!(claims_to_recheck(&p, deleted), want, "{what}");
        }
    }
}
