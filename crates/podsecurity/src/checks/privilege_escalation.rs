//! `allowPrivilegeEscalation` (restricted, v1.8+): every container must set
//! `securityContext.allowPrivilegeEscalation=false` explicitly (unset
//! means true). From v1.25 pods with `spec.os.name: windows` are exempt.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{containers, containers_phrase, is_windows, Forbidden};

pub(super) fn allow_privilege_escalation(
    _: &ObjectMeta,
    spec: &PodSpec,
    minor: u64,
) -> Option<Forbidden> {
    if minor >= 25 && is_windows(spec) {
        return None;
    }
    let bad: Vec<&str> = containers(spec)
        .filter(|c| {
            c.security_context
                .and_then(|sc| sc.allow_privilege_escalation)
                != Some(false)
        })
        .map(|c| c.name)
        .collect();
    (!bad.is_empty()).then(|| {
        Forbidden::new(
            "allowPrivilegeEscalation != false",
            format!(
                "{} must set securityContext.allowPrivilegeEscalation=false",
                containers_phrase(&bad)
            ),
        )
    })
}
