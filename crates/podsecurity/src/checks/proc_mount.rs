//! `procMount` (baseline, v1.0+): containers must keep the default `/proc`
//! masks (`securityContext.procMount` unset or `Default`).
//!
//! Not modelled: 1.33's relaxation for `hostUsers: false` pods, which only
//! applies behind the alpha `UserNamespacesPodSecurityStandards` gate.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{containers, containers_phrase, join_quote, Forbidden};

pub(super) fn proc_mount(_: &ObjectMeta, spec: &PodSpec, _: u64) -> Option<Forbidden> {
    let mut bad = Vec::new();
    let mut types = BTreeSet::new();
    for c in containers(spec) {
        if let Some(pm) = c.security_context.and_then(|sc| sc.proc_mount.as_deref()) {
            if pm != "Default" {
                bad.push(c.name);
                types.insert(pm);
            }
        }
    }
    (!bad.is_empty()).then(|| {
        Forbidden::new(
            "procMount",
            format!(
                "{} must not set securityContext.procMount to {}",
                containers_phrase(&bad),
                join_quote(&types)
            ),
        )
    })
}
