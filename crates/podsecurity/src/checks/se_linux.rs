//! `seLinuxOptions` (baseline): the SELinux `type` of the pod and every
//! container is limited to the container types, and `user`/`role` must
//! not be set. Allowed types: `""`, `container_t`, `container_init_t`,
//! `container_kvm_t`, and from v1.31 `container_engine_t`. (`level` is
//! free.)

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{PodSpec, SELinuxOptions};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::{containers, containers_phrase, join_quote, pluralize, Forbidden};

fn allowed_type(t: &str, minor: u64) -> bool {
    matches!(
        t,
        "" | "container_t" | "container_init_t" | "container_kvm_t"
    ) || (minor >= 31 && t == "container_engine_t")
}

#[derive(Default)]
struct Findings<'a> {
    types: BTreeSet<&'a str>,
    user: bool,
    role: bool,
}

impl<'a> Findings<'a> {
    /// Records what is wrong with `opts`; true when nothing is.
    fn valid(&mut self, opts: &'a SELinuxOptions, minor: u64) -> bool {
        let mut valid = true;
        let t = opts.type_.as_deref().unwrap_or_default();
        if !allowed_type(t, minor) {
            valid = false;
            self.types.insert(t);
        }
        if opts.user.as_deref().is_some_and(|u| !u.is_empty()) {
            valid = false;
            self.user = true;
        }
        if opts.role.as_deref().is_some_and(|r| !r.is_empty()) {
            valid = false;
            self.role = true;
        }
        valid
    }
}

pub(super) fn se_linux_options(_: &ObjectMeta, spec: &PodSpec, minor: u64) -> Option<Forbidden> {
    let mut findings = Findings::default();
    let mut setters = Vec::new();
    if let Some(opts) = spec
        .security_context
        .as_ref()
        .and_then(|sc| sc.se_linux_options.as_ref())
    {
        if !findings.valid(opts, minor) {
            setters.push("pod".to_string());
        }
    }
    let mut bad = Vec::new();
    for c in containers(spec) {
        if let Some(opts) = c
            .security_context
            .and_then(|sc| sc.se_linux_options.as_ref())
        {
            if !findings.valid(opts, minor) {
                bad.push(c.name);
            }
        }
    }
    if !bad.is_empty() {
        setters.push(containers_phrase(&bad));
    }
    if setters.is_empty() {
        return None;
    }
    let mut data = Vec::new();
    if !findings.types.is_empty() {
        data.push(format!(
            "{} {}",
            pluralize("type", "types", findings.types.len()),
            join_quote(&findings.types)
        ));
    }
    if findings.user {
        data.push("user may not be set".to_string());
    }
    if findings.role {
        data.push("role may not be set".to_string());
    }
    Some(Forbidden::new(
        "seLinuxOptions",
        format!(
            "{} set forbidden securityContext.seLinuxOptions: {}",
            setters.join(" and "),
            data.join("; ")
        ),
    ))
}
