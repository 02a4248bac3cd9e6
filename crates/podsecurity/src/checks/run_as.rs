//! Running as root.
//!
//! - `runAsNonRoot` (restricted, v1.0+): the pod must set
//!   `securityContext.runAsNonRoot=true`, or every container must; nobody
//!   may set it to false.
//! - `runAsUser` (restricted, v1.23+): neither the pod nor any container
//!   may set `runAsUser=0` (unset is fine).
//!
//! Not modelled: 1.33's relaxation of both for `hostUsers: false` pods,
//! which only applies behind the alpha `UserNamespacesPodSecurityStandards`
//! gate.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{containers, containers_phrase, Forbidden};

pub(super) fn run_as_non_root(_: &ObjectMeta, spec: &PodSpec, _: u64) -> Option<Forbidden> {
    const REASON: &str = "runAsNonRoot != true";
    let mut setters = Vec::new();
    let pod = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.run_as_non_root);
    if pod == Some(false) {
        setters.push("pod".to_string());
    }
    let pod_non_root = pod == Some(true);
    let mut explicit = Vec::new();
    let mut implicit = Vec::new();
    for c in containers(spec) {
        match c.security_context.and_then(|sc| sc.run_as_non_root) {
            Some(false) => explicit.push(c.name),
            Some(true) => {}
            None if !pod_non_root => implicit.push(c.name),
            None => {}
        }
    }
    if !explicit.is_empty() {
        setters.push(containers_phrase(&explicit));
    }
    if !setters.is_empty() {
        return Some(Forbidden::new(
            REASON,
            format!(
                "{} must not set securityContext.runAsNonRoot=false",
                setters.join(" and ")
            ),
        ));
    }
    (!implicit.is_empty()).then(|| {
        Forbidden::new(
            REASON,
            format!(
                "pod or {} must set securityContext.runAsNonRoot=true",
                containers_phrase(&implicit)
            ),
        )
    })
}

pub(super) fn run_as_user(_: &ObjectMeta, spec: &PodSpec, _: u64) -> Option<Forbidden> {
    let mut setters = Vec::new();
    if spec.security_context.as_ref().and_then(|sc| sc.run_as_user) == Some(0) {
        setters.push("pod".to_string());
    }
    let bad: Vec<&str> = containers(spec)
        .filter(|c| c.security_context.and_then(|sc| sc.run_as_user) == Some(0))
        .map(|c| c.name)
        .collect();
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    (!setters.is_empty()).then(|| {
        Forbidden::new(
            "runAsUser=0",
            format!("{} must not set runAsUser=0", setters.join(" and ")),
        )
    })
}
