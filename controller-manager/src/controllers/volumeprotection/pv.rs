//! The PV protection controller (`pv-protection`, upstream
//! `pkg/controller/volume/pvprotection`): a volume being deleted keeps
//! `kubernetes.io/pv-protection` while its `status.phase` is `Bound` (the
//! binder marks it `Released` once its claim is gone).

use k8s_openapi::api::core::v1::PersistentVolume;
use kube::Api;

use super::{decide, settle, wants_sync, Decision, PV_PROTECTION_FINALIZER};
use crate::controllers::Ctx;
use crate::runtime::{run_workers, Change, SyncResult, WorkQueue};

const NAME: &str = "pv-protection";

/// Upstream `isBeingUsed`: the binder's `Bound` phase.
pub fn is_bound(pv: &PersistentVolume) -> bool {
    pv.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Bound")
}

pub fn decide_volume(pv: &PersistentVolume) -> Decision {
    decide(&pv.metadata, PV_PROTECTION_FINALIZER, || is_bound(pv))
}

async fn sync(client: kube::Client, volumes: crate::runtime::Informer<PersistentVolume>, name: String) -> SyncResult {
    let Some(pv) = volumes.get("", &name) else { return Ok(None) };
    settle(Api::<PersistentVolume>::all(client), &*pv, &name, PV_PROTECTION_FINALIZER, decide_volume(&pv), "volume").await
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let volumes = ctx.informers.get::<PersistentVolume>();
    let queue = WorkQueue::<String>::new();
    let _g = volumes.add_handler({
        let q = queue.clone();
        move |c| {
            if let Change::Applied { new, .. } = c {
                if wants_sync(&new.metadata, PV_PROTECTION_FINALIZER) {
                    q.add(new.metadata.name.clone().unwrap_or_default());
                }
            }
        }
    });
    volumes.wait_synced().await?;
    let client = ctx.client.clone();
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |name| sync(client.clone(), volumes.clone(), name)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::PersistentVolumeStatus;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
    use k8s_openapi::jiff::Timestamp;

    const F: &str = PV_PROTECTION_FINALIZER;

    fn pv(deleting: bool, finalizers: &[&str], phase: &str) -> PersistentVolume {
        PersistentVolume {
            metadata: ObjectMeta {
                name: Some("pv".into()),
                deletion_timestamp: deleting.then_some(Time(Timestamp::UNIX_EPOCH)),
                finalizers: Some(finalizers.iter().map(|f| f.to_string()).collect()),
                ..Default::default()
            },
            status: (!phase.is_empty()).then(|| PersistentVolumeStatus { phase: Some(phase.into()), ..Default::default() }),
            ..Default::default()
        }
    }

    #[test]
    fn volume_decisions() {
        let cases = [
            ("deleted while bound", pv(true, &[F], "Bound"), Decision::InUse),
            ("deleted, released", pv(true, &[F], "Released"), Decision::RemoveFinalizer),
            ("deleted, available", pv(true, &[F], "Available"), Decision::RemoveFinalizer),
            ("deleted, no status", pv(true, &[F], ""), Decision::RemoveFinalizer),
            ("deleted, finalizer gone", pv(true, &[], "Bound"), Decision::Nothing),
            ("live, protected", pv(false, &[F], "Bound"), Decision::Nothing),
            ("live, unprotected", pv(false, &[], "Available"), Decision::AddFinalizer),
        ];
        for (what, v, want) in cases {
            assert_eq!(decide_volume(&v), want, "{what}");
        }
    }
}
