//! `privileged` (baseline, v1.0+): no container may set
//! `securityContext.privileged=true`.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{containers, containers_phrase, Forbidden};

pub(super) fn privileged(_: &ObjectMeta, spec: &PodSpec, _: u64) -> Option<Forbidden> {
    let bad: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|sc| sc.privileged) == Some(true))
        .map(|c| c.name)
        .collect();
    (!bad.is_empty()).then(|| {
        Forbidden::new(
            "privileged",
            format!(
                "{} must not set securityContext.privileged=true",
                containers_phrase(&bad)
            ),
        )
    })
}
