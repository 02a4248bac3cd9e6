//! The PersistentVolume binder (`persistentvolume-binder`) with the
//! built-in `ferrokube.io/local-path` provisioner; semantics in [`binder`].
//!
//! Shell: claim, volume and StorageClass informers feed one queue of
//! claims and volumes. Binding writes, in upstream's order, the volume's
//! `claimRef`, its `Bound` phase, the claim's `volumeName` (annotated
//! `pv.kubernetes.io/bind-completed`) and the claim's `Bound` status with
//! the volume's capacity and access modes; every step is idempotent, so a
//! failure midway is finished by the next sync.

pub mod binder;

use std::fmt;
use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::core::v1::{PersistentVolume, PersistentVolumeClaim};
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{DeleteParams, PostParams};
use kube::Api;

use self::binder::{ClaimAction, VolumeAction};
use crate::controllers::Ctx;
use crate::runtime::{run_workers, EventRecorder, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "persistentvolume-binder";

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Key {
    Claim(ObjectKey),
    Volume(String),
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Key::Claim(k) => write!(f, "claim {k}"),
            Key::Volume(n) => write!(f, "volume {n}"),
        }
    }
}

struct State {
    client: kube::Client,
    claims: crate::runtime::Informer<PersistentVolumeClaim>,
    volumes: crate::runtime::Informer<PersistentVolume>,
    classes: crate::runtime::Informer<StorageClass>,
    recorder: EventRecorder,
}

impl State {
    /// Binds with PUTs only (the persistent-volume-binder role may update,
    /// not patch), each based on the object the previous step returned.
    async fn bind(&self, claim: &PersistentVolumeClaim, pv: &PersistentVolume) -> anyhow::Result<()> {
        let pv_name = pv.metadata.name.clone().unwrap_or_default();
        let ns = claim.metadata.namespace.clone().unwrap_or_default();
        let claim_name = claim.metadata.name.clone().unwrap_or_default();
        let pvs: Api<PersistentVolume> = Api::all(self.client.clone());
        let claims: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &ns);
        let mut pv = pv.clone();
        if !binder::claim_ref_matches(&pv, claim) || pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).and_then(|r| r.uid.as_ref()).is_none() {
            pv.spec.get_or_insert_with(Default::default).claim_ref = Some(binder::claim_reference(claim));
            pv.metadata.annotations.get_or_insert_with(Default::default).insert(binder::BOUND_BY_CONTROLLER.into(), "yes".into());
            pv = pvs.replace(&pv_name, &PostParams::default(), &pv).await.with_context(|| format!("binding volume {pv_name} to claim {ns}/{claim_name}"))?;
        }
        if pv.status.as_ref().and_then(|s| s.phase.as_deref()) != Some("Bound") {
            pv.status.get_or_insert_with(Default::default).phase = Some("Bound".into());
            pv = pvs.replace_status(&pv_name, &PostParams::default(), &pv).await.context("marking volume Bound")?;
        }
        let mut claim = claim.clone();
        if claim.spec.as_ref().and_then(|s| s.volume_name.as_deref()) != Some(pv_name.as_str()) {
            claim.spec.get_or_insert_with(Default::default).volume_name = Some(pv_name.clone());
            let annotations = claim.metadata.annotations.get_or_insert_with(Default::default);
            annotations.insert(binder::BIND_COMPLETED.into(), "yes".into());
            annotations.insert(binder::BOUND_BY_CONTROLLER.into(), "yes".into());
            claim = claims.replace(&claim_name, &PostParams::default(), &claim).await.context("setting the claim's volumeName")?;
        }
        let spec = pv.spec.clone().unwrap_or_default();
        let status = claim.status.get_or_insert_with(Default::default);
        if status.phase.as_deref() != Some("Bound") || status.capacity != spec.capacity {
            status.phase = Some("Bound".into());
            status.capacity = spec.capacity.clone();
            status.access_modes = spec.access_modes.clone();
            claims.replace_status(&claim_name, &PostParams::default(), &claim).await.context("marking claim Bound")?;
        }
        tracing::info!(claim = %format!("{ns}/{claim_name}"), volume = %pv_name, "bound claim to volume");
        Ok(())
    }

    async fn sync_claim(&self, key: &ObjectKey) -> SyncResult {
        let Some(claim) = self.claims.get(&key.namespace, &key.name) else { return Ok(None) };
        let class_name = binder::claim_class(&claim);
        let class = (!class_name.is_empty()).then(|| self.classes.get("", &class_name)).flatten();
        let volumes = self.volumes.list();
        match binder::claim_action(&claim, &volumes, class.as_deref()) {
            ClaimAction::Nothing => Ok(None),
            ClaimAction::Bind(name) | ClaimAction::EnsureBound(name) => {
                let Some(pv) = self.volumes.get("", &name) else { return Ok(None) };
                self.bind(&claim, &pv).await?;
                Ok(None)
            }
            ClaimAction::Provision(pv) => {
                let api: Api<PersistentVolume> = Api::all(self.client.clone());
                let name = pv.metadata.name.clone().unwrap_or_default();
                let created = match api.create(&PostParams::default(), &pv).await {
                    Ok(created) => {
                        self.recorder.normal(&*claim, "ProvisioningSucceeded", format!("Successfully provisioned volume {name} using {}", binder::LOCAL_PATH_PROVISIONER));
                        created
                    }
                    Err(kube::Error::Api(e)) if e.code == 409 => api.get(&name).await.context("reading the provisioned volume")?,
                    Err(err) => {
                        self.recorder.warning(&*claim, "ProvisioningFailed", format!("Failed to provision volume: {err}"));
                        return Err(err).context("provisioning a local-path volume");
                    }
                };
                self.bind(&claim, &created).await?;
                Ok(None)
            }
            ClaimAction::WaitForConsumer => {
                self.recorder.normal(&*claim, "WaitForFirstConsumer", "waiting for first consumer to be created before binding".into());
                Ok(None)
            }
            ClaimAction::NoMatch(message) => {
                let reason = if message.contains("external provisioner") { "ExternalProvisioning" } else { "FailedBinding" };
                self.recorder.normal(&*claim, reason, message);
                Ok(None)
            }
            ClaimAction::Lost => {
                let api: Api<PersistentVolumeClaim> = Api::namespaced(self.client.clone(), &key.namespace);
                let mut lost = (*claim).clone();
                lost.status.get_or_insert_with(Default::default).phase = Some("Lost".into());
                api.replace_status(&key.name, &PostParams::default(), &lost).await.context("marking claim Lost")?;
                self.recorder.warning(&*claim, "ClaimLost", "Bound claim has lost its PersistentVolume. Data on the volume is lost!".into());
                Ok(None)
            }
        }
    }

    async fn sync_volume(&self, name: &str) -> SyncResult {
        let Some(pv) = self.volumes.get("", name) else { return Ok(None) };
        let claim_uid = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()).and_then(|r| {
            let claim = self.claims.get(r.namespace.as_deref().unwrap_or(""), r.name.as_deref().unwrap_or(""))?;
            claim.metadata.uid.clone()
        });
        let api: Api<PersistentVolume> = Api::all(self.client.clone());
        match binder::volume_action(&pv, claim_uid.as_deref()) {
            VolumeAction::Nothing => Ok(None),
            VolumeAction::SetPhase(phase) => {
                let mut updated = (*pv).clone();
                updated.status.get_or_insert_with(Default::default).phase = Some(phase.into());
                api.replace_status(name, &PostParams::default(), &updated).await.with_context(|| format!("setting volume {name} phase {phase}"))?;
                Ok(None)
            }
            VolumeAction::Delete => {
                tracing::info!(volume = %name, "deleting released volume (reclaim policy Delete)");
                match api.delete(name, &DeleteParams::background()).await {
                    Ok(_) => Ok(None),
                    Err(err) if crate::runtime::owner::is_not_found(&err) => Ok(None),
                    Err(err) => Err(err).with_context(|| format!("deleting volume {name}")),
                }
            }
        }
    }
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let state = Arc::new(State {
        client: ctx.client.clone(),
        claims: ctx.informers.get::<PersistentVolumeClaim>(),
        volumes: ctx.informers.get::<PersistentVolume>(),
        classes: ctx.informers.get::<StorageClass>(),
        recorder: EventRecorder::new(ctx.client.clone(), "persistentvolume-controller"),
    });
    let queue = WorkQueue::<Key>::new();
    let _g1 = state.claims.add_handler({
        let q = queue.clone();
        let volumes = state.volumes.clone();
        move |c| {
            let claim = c.object();
            q.add(Key::Claim(ObjectKey::of(&**claim)));
            // Volumes referring to a deleted claim get released.
            if let Some(v) = claim.spec.as_ref().and_then(|s| s.volume_name.clone()) {
                q.add(Key::Volume(v));
            }
            for v in volumes.list_filter(|v| binder::claim_ref_matches(v, claim)) {
                q.add(Key::Volume(v.metadata.name.clone().unwrap_or_default()));
            }
        }
    });
    let _g2 = state.volumes.add_handler({
        let q = queue.clone();
        let claims = state.claims.clone();
        move |c| {
            let pv = c.object();
            q.add(Key::Volume(pv.metadata.name.clone().unwrap_or_default()));
            if let Some(r) = pv.spec.as_ref().and_then(|s| s.claim_ref.as_ref()) {
                q.add(Key::Claim(ObjectKey::new(r.namespace.clone().unwrap_or_default(), r.name.clone().unwrap_or_default())));
            }
            // A new volume may satisfy a pending claim.
            if c.old().is_none() {
                for claim in claims.list_filter(|cl| cl.spec.as_ref().and_then(|s| s.volume_name.as_ref()).is_none()) {
                    q.add(Key::Claim(ObjectKey::of(&*claim)));
                }
            }
        }
    });
    state.claims.wait_synced().await?;
    state.volumes.wait_synced().await?;
    state.classes.wait_synced().await?;
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| {
        let state = state.clone();
        async move {
            match key {
                Key::Claim(k) => state.sync_claim(&k).await,
                Key::Volume(n) => state.sync_volume(&n).await,
            }
        }
    })
    .await;
    Ok(())
}
