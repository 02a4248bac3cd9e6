//! The certificates controllers (upstream `pkg/controller/certificates`):
//! - `csrsigning`: signs approved CSRs for the built-in signers
//!   (`kube-apiserver-client`, `kube-apiserver-client-kubelet`,
//!   `kubelet-serving`) with the cluster CA (`--cluster-signing-*-file`),
//!   or marks them `Failed` when the signer's policy refuses them;
//! - `csrapproving`: approves kubelet client CSRs whose requester may
//!   `create` `certificatesigningrequests/nodeclient` (a bootstrapping node)
//!   or `/selfnodeclient` (a node renewing), asked by SubjectAccessReview;
//! - `csrcleaner`: deletes finished CSRs after an hour, pending ones after a
//!   day.
//!
//! The pure rules are in [`policy`]; this file is the shell.

pub mod policy;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use k8s_openapi::api::authorization::v1::{ResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec};
use k8s_openapi::api::certificates::v1::{CertificateSigningRequest, CertificateSigningRequestCondition};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, DeleteParams, PostParams};

use super::Ctx;
use crate::runtime::{run_workers, ObjectKey, SyncResult, WorkQueue};
use policy::CsrState;

/// `--cluster-signing-duration` (upstream default: one year).
const SIGNING_DURATION: Duration = Duration::from_secs(365 * 24 * 3600);
const CLEANER_INTERVAL: Duration = Duration::from_secs(60);

fn state_of(csr: &CertificateSigningRequest) -> CsrState {
    let status = csr.status.as_ref();
    let has = |ty: &str| status.and_then(|s| s.conditions.as_ref()).into_iter().flatten().any(|c| c.type_ == ty && c.status == "True");
    if has("Failed") {
        CsrState::Failed
    } else if has("Denied") {
        CsrState::Denied
    } else if status.and_then(|s| s.certificate.as_ref()).is_some_and(|c| !c.0.is_empty()) {
        CsrState::Issued
    } else if has("Approved") {
        CsrState::Approved
    } else {
        CsrState::Pending
    }
}

fn condition(ty: &str, reason: &str, message: String) -> CertificateSigningRequestCondition {
    let now = Time(k8s_openapi::jiff::Timestamp::now());
    CertificateSigningRequestCondition {
        type_: ty.to_string(),
        status: "True".to_string(),
        reason: Some(reason.to_string()),
        message: Some(message),
        last_update_time: Some(now.clone()),
        last_transition_time: Some(now),
    }
}

/// Queue every CSR change; run `sync` on the keys.
async fn run_over_csrs<F, Fut>(ctx: &Ctx, name: &'static str, sync: F) -> anyhow::Result<()>
where
    F: Fn(ObjectKey) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = SyncResult> + Send,
{
    let informer = ctx.informers.get::<CertificateSigningRequest>();
    let queue = WorkQueue::<ObjectKey>::new();
    let _guard = informer.add_handler({
        let queue = queue.clone();
        move |change| queue.add(ObjectKey::of(&**change.object()))
    });
    informer.wait_synced().await?;
    run_workers(name, queue, ctx.settings.concurrent_syncs, sync).await;
    Ok(())
}

/// `csrsigning`.
pub async fn run_signer(ctx: Ctx) -> anyhow::Result<()> {
    let (Some(cert), Some(key)) = (&ctx.settings.cluster_signing_cert_file, &ctx.settings.cluster_signing_key_file) else {
        tracing::warn!("csrsigning: no --cluster-signing-cert-file/--cluster-signing-key-file; not signing");
        return std::future::pending().await;
    };
    let cert_pem = std::fs::read_to_string(cert).with_context(|| format!("reading {}", cert.display()))?;
    let key_pem = std::fs::read_to_string(key).with_context(|| format!("reading {}", key.display()))?;
    let ca = Arc::new(pki::Ca::from_pem(&cert_pem, &key_pem).context("loading the cluster signing CA")?);
    let informer = ctx.informers.get::<CertificateSigningRequest>();
    let api: Api<CertificateSigningRequest> = Api::all(ctx.client.clone());
    run_over_csrs(&ctx, "csrsigning", move |key: ObjectKey| {
        let (informer, api, ca) = (informer.clone(), api.clone(), ca.clone());
        async move {
            let Some(csr) = informer.get("", &key.name) else { return Ok(None) };
            sign(&api, &ca, &csr).await
        }
    })
    .await
}

async fn sign(api: &Api<CertificateSigningRequest>, ca: &pki::Ca, csr: &CertificateSigningRequest) -> SyncResult {
    if state_of(csr) != CsrState::Approved || !policy::is_built_in_signer(&csr.spec.signer_name) {
        return Ok(None);
    }
    let name = csr.metadata.name.clone().unwrap_or_default();
    let usages = csr.spec.usages.clone().unwrap_or_default();
    let pem = String::from_utf8_lossy(&csr.spec.request.0).to_string();
    let verdict = pki::parse_csr(&pem)
        .map_err(|e| format!("unable to parse csr {name:?}: {e}"))
        .and_then(|request| policy::validate_for_signer(&csr.spec.signer_name, &request, &usages));
    let mut updated = csr.clone();
    let status = updated.status.get_or_insert_with(Default::default);
    match verdict {
        Err(message) => {
            status.conditions.get_or_insert_with(Vec::new).push(condition("Failed", "SignerValidationFailure", message));
        }
        Ok(()) => {
            let parsed_usages: Vec<pki::Usage> = usages.iter().filter_map(|u| pki::Usage::from_k8s(u)).collect();
            let duration = policy::certificate_duration(csr.spec.expiration_seconds, SIGNING_DURATION);
            let now = SystemTime::now();
            let validity = pki::Validity::new(now - pki::CLOCK_SKEW_BACKDATE, now + duration);
            let certificate = ca.sign_csr(&pem, &parsed_usages, validity).with_context(|| format!("signing {name}"))?;
            status.certificate = Some(k8s_openapi::ByteString(certificate.into_bytes()));
        }
    }
    api.replace_status(&name, &PostParams::default(), &updated)
        .await
        .with_context(|| format!("updating the status of {name}"))?;
    tracing::info!(csr = %name, signer = %csr.spec.signer_name, "signed or failed the CSR");
    Ok(None)
}

/// `csrapproving`.
pub async fn run_approver(ctx: Ctx) -> anyhow::Result<()> {
    let informer = ctx.informers.get::<CertificateSigningRequest>();
    let client = ctx.client.clone();
    run_over_csrs(&ctx, "csrapproving", move |key: ObjectKey| {
        let (informer, client) = (informer.clone(), client.clone());
        async move {
            let Some(csr) = informer.get("", &key.name) else { return Ok(None) };
            approve(&client, &csr).await
        }
    })
    .await
}

async fn approve(client: &kube::Client, csr: &CertificateSigningRequest) -> SyncResult {
    if state_of(csr) != CsrState::Pending {
        return Ok(None);
    }
    let name = csr.metadata.name.clone().unwrap_or_default();
    let requester = csr.spec.username.clone().unwrap_or_default();
    let usages = csr.spec.usages.clone().unwrap_or_default();
    let request = match pki::parse_csr(&String::from_utf8_lossy(&csr.spec.request.0)) {
        Ok(request) => request,
        Err(e) => {
            tracing::debug!(csr = %name, error = %e, "not a parsable CSR; leaving it");
            return Ok(None);
        }
    };
    let Some(check) = policy::approval_check(&csr.spec.signer_name, &request, &usages, &requester) else {
        tracing::debug!(csr = %name, signer = %csr.spec.signer_name, "not a kubelet client CSR; leaving it");
        return Ok(None);
    };
    let review = SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: Some(requester.clone()),
            uid: csr.spec.uid.clone(),
            groups: csr.spec.groups.clone(),
            extra: csr.spec.extra.clone(),
            resource_attributes: Some(ResourceAttributes {
                group: Some("certificates.k8s.io".into()),
                resource: Some("certificatesigningrequests".into()),
                subresource: Some(check.subresource.into()),
                verb: Some("create".into()),
                ..Default::default()
            }),
            ..Default::default()
        },
        ..Default::default()
    };
    let reviews: Api<SubjectAccessReview> = Api::all(client.clone());
    let answer = reviews.create(&PostParams::default(), &review).await.context("asking the authorizer")?;
    if !answer.status.as_ref().is_some_and(|s| s.allowed) {
        tracing::debug!(csr = %name, %requester, subresource = check.subresource, status = ?answer.status, "requester may not have it approved");
        return Ok(None);
    }
    let mut updated = csr.clone();
    let status = updated.status.get_or_insert_with(Default::default);
    status.conditions.get_or_insert_with(Vec::new).push(condition("Approved", "AutoApproved", check.message.to_string()));
    let api: Api<CertificateSigningRequest> = Api::all(client.clone());
    // An update (PUT) of the approval subresource: the verb upstream's
    // certificate-controller role grants.
    api.replace_subresource("approval", &name, &PostParams::default(), &updated)
        .await
        .with_context(|| format!("approving {name}"))?;
    tracing::info!(csr = %name, %requester, "auto-approved the kubelet client CSR");
    Ok(None)
}

/// `csrcleaner`: a periodic sweep.
pub async fn run_cleaner(ctx: Ctx) -> anyhow::Result<()> {
    let informer = ctx.informers.get::<CertificateSigningRequest>();
    informer.wait_synced().await?;
    let api: Api<CertificateSigningRequest> = Api::all(ctx.client.clone());
    loop {
        let now = k8s_openapi::jiff::Timestamp::now();
        for csr in informer.list() {
            let Some(created) = csr.metadata.creation_timestamp.as_ref() else { continue };
            let age = Duration::try_from(now.duration_since(created.0)).unwrap_or_default();
            if policy::expired(state_of(&csr), age) {
                let name = csr.metadata.name.clone().unwrap_or_default();
                match api.delete(&name, &DeleteParams::default()).await {
                    Ok(_) => tracing::info!(csr = %name, "cleaned up an old CSR"),
                    Err(e) => tracing::warn!(csr = %name, error = %e, "deleting an old CSR failed"),
                }
            }
        }
        tokio::time::sleep(CLEANER_INTERVAL).await;
    }
}
