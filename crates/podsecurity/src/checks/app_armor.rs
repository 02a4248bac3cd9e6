//! `appArmorProfile` (baseline, v1.0+): AppArmor must not be disabled or
//! overridden with something other than the runtime default or a
//! localhost profile. Two channels, both checked at every version (the
//! field check was patched into the v1.0 check in 1.30):
//!
//! - `securityContext.appArmorProfile.type` of the pod and every
//!   container: `RuntimeDefault` or `Localhost`;
//! - the deprecated annotations
//!   `container.apparmor.security.beta.kubernetes.io/*`: empty,
//!   `runtime/default` or `localhost/*`.

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{containers, containers_phrase, go_quote, join_quote, pluralize, Forbidden};

const ANNOTATION_PREFIX: &str = "container.apparmor.security.beta.kubernetes.io/";

fn allowed_type(t: &str) -> bool {
    t == "RuntimeDefault" || t == "Localhost"
}

fn allowed_annotation_value(v: &str) -> bool {
    v.is_empty() || v == "runtime/default" || v.starts_with("localhost/")
}

pub(super) fn app_armor_profile(meta: &ObjectMeta, spec: &PodSpec, _: u64) -> Option<Forbidden> {
    let mut setters = Vec::new();
    let mut bad_values = BTreeSet::new();

    if let Some(profile) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.app_armor_profile.as_ref())
    {
        if !allowed_type(&profile.type_) {
            setters.push("pod".to_string());
            bad_values.insert(profile.type_.clone());
        }
    }
    let mut bad_containers = Vec::new();
    for c in containers(spec) {
        if let Some(profile) = c
            .security_context
            .and_then(|sc| sc.app_armor_profile.as_ref())
        {
            if !allowed_type(&profile.type_) {
                bad_containers.push(c.name);
                bad_values.insert(profile.type_.clone());
            }
        }
    }
    if !bad_containers.is_empty() {
        setters.push(containers_phrase(&bad_containers));
    }

    let mut annotations: Vec<String> = meta
        .annotations
        .iter()
        .flatten()
        .filter(|(k, v)| k.starts_with(ANNOTATION_PREFIX) && !allowed_annotation_value(v))
        .map(|(k, v)| format!("{k}={}", go_quote(v)))
        .collect();
    let mut values: Vec<String> = bad_values.into_iter().collect();
    if !annotations.is_empty() {
        annotations.sort();
        setters.push(pluralize("annotation", "annotations", annotations.len()).to_string());
        values.extend(annotations);
    }

    (!setters.is_empty()).then(|| {
        Forbidden::new(
            pluralize(
                "forbidden AppArmor profile",
                "forbidden AppArmor profiles",
                values.len(),
            ),
            format!(
                "{} must not set AppArmor profile type to {}",
                setters.join(" and "),
                join_quote(&values)
            ),
        )
    })
}
