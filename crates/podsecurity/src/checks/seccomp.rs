//! Seccomp.
//!
//! - `seccompProfile_baseline` (baseline): the profile, where set, must
//!   not be `Unconfined`. Before v1.19 this looks at the alpha annotations
//!   (`seccomp.security.alpha.kubernetes.io/pod`,
//!   `container.seccomp.security.alpha.kubernetes.io/<name>`: allowed
//!   `runtime/default`, `docker/default`, `localhost/*`); from v1.19 at
//!   `securityContext.seccompProfile.type` of the pod and every container
//!   (allowed `RuntimeDefault`, `Localhost`, unset).
//! - `seccompProfile_restricted` (restricted, v1.19+, overrides the
//!   baseline check): the type must be `RuntimeDefault` or `Localhost`
//!   and must be set, at pod level or on every container. From v1.25 pods
//!   with `spec.os.name: windows` are exempt.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{
    containers, containers_phrase, go_quote, is_windows, join_quote, pluralize, Forbidden,
};

const ANNOTATION_POD: &str = "seccomp.security.alpha.kubernetes.io/pod";
const ANNOTATION_CONTAINER_PREFIX: &str = "container.seccomp.security.alpha.kubernetes.io/";

fn valid_type(t: &str) -> bool {
    t == "Localhost" || t == "RuntimeDefault"
}

fn valid_annotation_value(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

pub(super) fn seccomp_profile_baseline(
    meta: &ObjectMeta,
    spec: &PodSpec,
    minor: u64,
) -> Option<Forbidden> {
    if minor < 19 {
        annotations_baseline(meta, spec)
    } else {
        field_baseline(spec)
    }
}

/// The pre-1.19 annotation check.
fn annotations_baseline(meta: &ObjectMeta, spec: &PodSpec) -> Option<Forbidden> {
    let annotations = meta.annotations.as_ref()?;
    let mut forbidden = BTreeSet::new();
    if let Some(v) = annotations.get(ANNOTATION_POD) {
        if !valid_annotation_value(v) {
            forbidden.insert(format!("{ANNOTATION_POD}={}", go_quote(v)));
        }
    }
    for c in containers(spec) {
        let key = format!("{ANNOTATION_CONTAINER_PREFIX}{}", c.name);
        if let Some(v) = annotations.get(&key) {
            if !valid_annotation_value(v) {
                forbidden.insert(format!("{key}={}", go_quote(v)));
            }
        }
    }
    (!forbidden.is_empty()).then(|| {
        let list: Vec<String> = forbidden.into_iter().collect();
        Forbidden::new(
            "seccompProfile",
            format!(
                "forbidden {} {}",
                pluralize("annotation", "annotations", list.len()),
                list.join(", ")
            ),
        )
    })
}

/// Who set a bad type, and to what; plus the containers that set nothing.
struct Survey<'a> {
    setters: Vec<String>,
    bad_values: BTreeSet<&'a str>,
    pod_valid: bool,
    unset: Vec<&'a str>,
}

fn survey(spec: &PodSpec) -> Survey<'_> {
    let mut s = Survey {
        setters: Vec::new(),
        bad_values: BTreeSet::new(),
        pod_valid: false,
        unset: Vec::new(),
    };
    if let Some(p) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.seccomp_profile.as_ref())
    {
        if valid_type(&p.type_) {
            s.pod_valid = true;
        } else {
            s.setters.push("pod".to_string());
            s.bad_values.insert(&p.type_);
        }
    }
    let mut explicit = Vec::new();
    for c in containers(spec) {
        match c
            .security_context
            .and_then(|sc| sc.seccomp_profile.as_ref())
        {
            Some(p) if !valid_type(&p.type_) => {
                explicit.push(c.name);
                s.bad_values.insert(&p.type_);
            }
            Some(_) => {}
            None => s.unset.push(c.name),
        }
    }
    if !explicit.is_empty() {
        s.setters.push(containers_phrase(&explicit));
    }
    s
}

fn explicitly_bad(s: &Survey<'_>) -> Option<Forbidden> {
    (!s.setters.is_empty()).then(|| {
        Forbidden::new(
            "seccompProfile",
            format!(
                "{} must not set securityContext.seccompProfile.type to {}",
                s.setters.join(" and "),
                join_quote(&s.bad_values)
            ),
        )
    })
}

fn field_baseline(spec: &PodSpec) -> Option<Forbidden> {
    explicitly_bad(&survey(spec))
}

pub(super) fn seccomp_profile_restricted(
    _: &ObjectMeta,
    spec: &PodSpec,
    minor: u64,
) -> Option<Forbidden> {
    if minor >= 25 && is_windows(spec) {
        return None;
    }
    let s = survey(spec);
    if let Some(f) = explicitly_bad(&s) {
        return Some(f);
    }
    (!s.pod_valid && !s.unset.is_empty()).then(|| {
        Forbidden::new(
            "seccompProfile",
            format!(
                r#"pod or {} must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
                containers_phrase(&s.unset)
            ),
        )
    })
}
