//! In-process views of the per-request authorization and authentication
//! work, free of HTTP, TLS and scheduling noise: the API server's RBAC
//! decision (`to_rbac_user` + `to_rbac_request` + `RbacIndex::authorize`,
//! as `RbacAuthorizer::authorize` does for a user outside
//! `system:masters`) over the bootstrap policy plus the scenario's 1,000
//! RoleBindings, and the service-account JWT check (`Issuer::verify`, the
//! RS256 signature and claims) with the API server's own key — and, for
//! comparison, the same RS256 signature check with ring (the crypto rustls
//! already links for TLS). Each call is timed on its own (`Instant` around
//! it, ~20–40 ns of the figure).

use std::path::Path;

use base64::Engine as _;
use rustls::pki_types::SignatureVerificationAlgorithm;
use x509_parser::prelude::FromDer as _;
use std::time::Instant;

use anyhow::{bail, Context};
use apiserver::auth::{Attributes, UserInfo};
use apiserver::rbac_authz::{to_rbac_request, to_rbac_user};
use apiserver::serviceaccount::Issuer;
use hyper::Method;
use k8s_openapi::api::rbac::v1::ClusterRole;
use serde_json::Value;

use super::policy::{self, Identities};

/// Per-call latencies in nanoseconds.
#[derive(Debug, Default, Clone)]
pub struct Nanos(Vec<u32>);

impl Nanos {
    fn push(&mut self, started: Instant) {
        self.0.push(u32::try_from(started.elapsed().as_nanos()).unwrap_or(u32::MAX));
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Nearest-rank percentile in microseconds.
    pub fn percentile_us(&mut self, p: f64) -> Option<f64> {
        if self.0.is_empty() {
            return None;
        }
        self.0.sort_unstable();
        let rank = ((p / 100.0) * self.0.len() as f64).ceil() as usize;
        Some(f64::from(self.0[rank.clamp(1, self.0.len()) - 1]) / 1000.0)
    }

    /// Calls per second of one core at the mean cost.
    pub fn rate_per_core(&self) -> Option<f64> {
        let total: u64 = self.0.iter().map(|&n| u64::from(n)).sum();
        (total > 0).then(|| self.0.len() as f64 * 1e9 / total as f64)
    }
}

/// The three identities as the API server's authenticators produce them.
pub fn users() -> [(&'static str, UserInfo); 3] {
    let user = |name: &str, groups: Vec<String>| UserInfo { name: name.into(), groups, ..Default::default() };
    [
        ("x509 client certificate", user(Identities::CERT_USER, vec![Identities::CERT_GROUP.into(), "system:authenticated".into()])),
        ("static token", user(Identities::TOKEN_USER, vec![Identities::TOKEN_GROUP.into(), "system:authenticated".into()])),
        ("service-account JWT", user(&Identities::service_account_user(), Identities::service_account_groups())),
    ]
}

/// The cluster roles as the API server stores them after aggregation
/// (`view`, `edit`, `admin` filled in from their selectors).
fn aggregated_cluster_roles() -> Vec<ClusterRole> {
    let mut roles = rbac::bootstrap_cluster_roles();
    for (name, rules) in rbac::aggregate(&roles) {
        if let Some(role) = roles.iter_mut().find(|r| r.metadata.name.as_deref() == Some(name.as_str())) {
            role.rules = Some(rules);
        }
    }
    roles
}

/// `calls` authorizations per identity, interleaved; one sample set per
/// identity, in the order of [`users`].
pub fn rbac_authorize(calls: usize) -> anyhow::Result<Vec<Nanos>> {
    let mut roles = rbac::bootstrap_roles();
    roles.extend(policy::roles());
    let mut bindings = rbac::bootstrap_role_bindings();
    bindings.extend(policy::role_bindings());
    let index = rbac::RbacIndex::new(&roles, &bindings, &aggregated_cluster_roles(), &rbac::bootstrap_cluster_role_bindings());
    let path = format!("/api/v1/namespaces/{}/configmaps/{}", policy::target_namespace(), policy::CONFIGMAP);
    let info = apiserver::request::parse(&Method::GET, &path, false).context("parsing the request path")?;
    let attrs = Attributes::from_request(&info);
    let users = users();
    for (label, user) in &users {
        let decision = index.authorize(&to_rbac_user(user), &to_rbac_request(&attrs));
        if !decision.is_allowed() {
            bail!("in-process RBAC denies the {label} identity: {}", decision.reason());
        }
    }
    let mut out = vec![Nanos::default(); users.len()];
    for _ in 0..calls {
        for ((_, user), samples) in users.iter().zip(out.iter_mut()) {
            let started = Instant::now();
            let decision = index.authorize(&to_rbac_user(user), &to_rbac_request(&attrs));
            std::hint::black_box(&decision);
            samples.push(started);
        }
    }
    Ok(out)
}

/// `calls` verifications of `token` with the key in `pki_dir`: the
/// unverified peek at the issuer the authenticator does first, and the
/// signature + claims check.
pub fn jwt_verify(pki_dir: &Path, token: &str, calls: usize) -> anyhow::Result<(Nanos, Nanos)> {
    let layout = pki::PkiLayout::new(pki_dir);
    let read = |p: &Path| std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()));
    let peeked = jsonwebtoken::dangerous::insecure_decode::<Value>(token).context("decoding the service-account token")?;
    let iss = peeked.claims.get("iss").and_then(Value::as_str).context("the token has no issuer")?.to_string();
    let issuer = Issuer::from_pem(&iss, &read(&layout.sa_key())?, &read(&layout.sa_pub())?).map_err(anyhow::Error::msg)?;
    let audiences = issuer.api_audiences.clone();
    issuer.verify(token, &audiences).map_err(anyhow::Error::msg).context("verifying the service-account token in process")?;
    let (mut peek, mut verify) = (Nanos::default(), Nanos::default());
    for _ in 0..calls {
        let started = Instant::now();
        let decoded = jsonwebtoken::dangerous::insecure_decode::<Value>(token);
        std::hint::black_box(&decoded);
        peek.push(started);
        let started = Instant::now();
        let claims = issuer.verify(token, &audiences);
        std::hint::black_box(&claims);
        verify.push(started);
    }
    Ok((peek, verify))
}

/// `calls` checks of `token`'s RS256 signature (only the signature: no
/// claims) with ring's RSA PKCS#1 v1.5 SHA-256 verifier, from rustls's
/// ring provider, and the public key in `pki_dir`.
pub fn ring_rs256(pki_dir: &Path, token: &str, calls: usize) -> anyhow::Result<Nanos> {
    let path = pki::PkiLayout::new(pki_dir).sa_pub();
    let pem = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
    let body: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
    let der = base64::engine::general_purpose::STANDARD.decode(body.trim()).context("decoding sa.pub")?;
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&der).map_err(|e| anyhow::anyhow!("parsing sa.pub: {e}"))?;
    let key = spki.subject_public_key.data.to_vec();
    let (message, signature) = token.rsplit_once('.').context("the token has no signature")?;
    let signature = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(signature).context("decoding the token's signature")?;
    let provider = rustls::crypto::ring::default_provider();
    let verifier: &dyn SignatureVerificationAlgorithm = *provider
        .signature_verification_algorithms
        .mapping
        .iter()
        .find(|(scheme, _)| *scheme == rustls::SignatureScheme::RSA_PKCS1_SHA256)
        .and_then(|(_, algorithms)| algorithms.first())
        .context("rustls's ring provider has no RSA PKCS#1 SHA-256 verifier")?;
    if verifier.verify_signature(&key, message.as_bytes(), &signature).is_err() {
        bail!("ring rejects the token's RS256 signature");
    }
    let mut out = Nanos::default();
    for _ in 0..calls {
        let started = Instant::now();
        let ok = verifier.verify_signature(&key, message.as_bytes(), &signature);
        std::hint::black_box(&ok);
        out.push(started);
    }
    Ok(out)
}
