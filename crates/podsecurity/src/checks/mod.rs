//! The Pod Security Standards checks and their registry, as upstream's
//! `k8s.io/pod-security-admission/policy` at Kubernetes 1.33.
//!
//! Each check looks at a pod's metadata and spec and either allows it or
//! returns a short *reason* plus a *detail* naming the offending containers,
//! volumes or values. The registry decides which checks run for a
//! [`Policy`]:
//!
//! - `privileged`: none.
//! - `baseline`: every baseline check.
//! - `restricted`: every baseline check except those a restricted check
//!   *overrides* (`capabilities_restricted` replaces `capabilities_baseline`
//!   from v1.22, `seccompProfile_restricted` replaces
//!   `seccompProfile_baseline` from v1.19, `restrictedVolumes` replaces
//!   `hostPathVolumes`), plus the restricted checks active at the version.
//!
//! Results come in upstream's order: baseline check IDs sorted
//! (byte-wise), then restricted check IDs sorted; that order is what the
//! forbidden message lists.
//!
//! Versions: every check keeps its version history (see each module), and
//! `latest` evaluates as [`MAX_POLICY_MINOR`](crate::MAX_POLICY_MINOR). Not
//! modelled: the relaxations for user-namespace pods (`hostUsers: false`)
//! that 1.33 only applies behind the alpha, default-off
//! `UserNamespacesPodSecurityStandards` feature gate, and exemptions.

use k8s_openapi::api::core::v1::{Container, ContainerPort, PodSpec, SecurityContext};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::fmt;

use crate::level::{Level, Policy};

mod app_armor;
mod capabilities;
mod host_namespaces;
mod host_ports;
mod privilege_escalation;
mod privileged;
mod proc_mount;
mod run_as;
mod se_linux;
mod seccomp;
mod sysctls;
mod volumes;
mod windows_host_process;

#[cfg(test)]
mod tests;

/// Identifies a check; [`CheckId::as_str`] is upstream's check ID.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum CheckId {
    // Baseline, in upstream's (sorted) evaluation order.
    /// `appArmorProfile`
    AppArmorProfile,
    /// `capabilities_baseline`
    CapabilitiesBaseline,
    /// `hostNamespaces`
    HostNamespaces,
    /// `hostPathVolumes`
    HostPathVolumes,
    /// `hostPorts`
    HostPorts,
    /// `privileged`
    Privileged,
    /// `procMount`
    ProcMount,
    /// `seLinuxOptions`
    SeLinuxOptions,
    /// `seccompProfile_baseline`
    SeccompProfileBaseline,
    /// `sysctls`
    Sysctls,
    /// `windowsHostProcess`
    WindowsHostProcess,
    // Restricted, in upstream's (sorted) evaluation order.
    /// `allowPrivilegeEscalation`
    AllowPrivilegeEscalation,
    /// `capabilities_restricted`
    CapabilitiesRestricted,
    /// `restrictedVolumes`
    RestrictedVolumes,
    /// `runAsNonRoot`
    RunAsNonRoot,
    /// `runAsUser`
    RunAsUser,
    /// `seccompProfile_restricted`
    SeccompProfileRestricted,
}

impl CheckId {
    /// Upstream's check ID.
    pub fn as_str(self) -> &'static str {
        match self {
            CheckId::AppArmorProfile => "appArmorProfile",
            CheckId::CapabilitiesBaseline => "capabilities_baseline",
            CheckId::HostNamespaces => "hostNamespaces",
            CheckId::HostPathVolumes => "hostPathVolumes",
            CheckId::HostPorts => "hostPorts",
            CheckId::Privileged => "privileged",
            CheckId::ProcMount => "procMount",
            CheckId::SeLinuxOptions => "seLinuxOptions",
            CheckId::SeccompProfileBaseline => "seccompProfile_baseline",
            CheckId::Sysctls => "sysctls",
            CheckId::WindowsHostProcess => "windowsHostProcess",
            CheckId::AllowPrivilegeEscalation => "allowPrivilegeEscalation",
            CheckId::CapabilitiesRestricted => "capabilities_restricted",
            CheckId::RestrictedVolumes => "restrictedVolumes",
            CheckId::RunAsNonRoot => "runAsNonRoot",
            CheckId::RunAsUser => "runAsUser",
            CheckId::SeccompProfileRestricted => "seccompProfile_restricted",
        }
    }
}

impl fmt::Display for CheckId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed check (upstream's `CheckResult` with `Allowed: false`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckResult {
    /// Which check failed.
    pub id: CheckId,
    /// Short, always shown: e.g. `privileged`, `hostPort`.
    pub forbidden_reason: String,
    /// The specifics, shown in parentheses after the reason; may be empty.
    pub forbidden_detail: String,
}

/// What a check function returns when it forbids the pod.
pub(crate) struct Forbidden {
    reason: String,
    detail: String,
}

impl Forbidden {
    fn new(reason: impl Into<String>, detail: impl Into<String>) -> Forbidden {
        Forbidden {
            reason: reason.into(),
            detail: detail.into(),
        }
    }
}

/// A check: pod metadata, pod spec and the effective policy minor version.
type CheckFn = fn(&ObjectMeta, &PodSpec, u64) -> Option<Forbidden>;

/// One registered check.
struct Entry {
    id: CheckId,
    level: Level,
    /// First policy minor version the check exists at.
    since: u64,
    /// Baseline check this (restricted) check replaces while active.
    overrides: Option<CheckId>,
    check: CheckFn,
}

/// The registry, in upstream's evaluation order.
const REGISTRY: &[Entry] = &[
    baseline(CheckId::AppArmorProfile, app_armor::app_armor_profile),
    baseline(
        CheckId::CapabilitiesBaseline,
        capabilities::capabilities_baseline,
    ),
    baseline(CheckId::HostNamespaces, host_namespaces::host_namespaces),
    baseline(CheckId::HostPathVolumes, volumes::host_path_volumes),
    baseline(CheckId::HostPorts, host_ports::host_ports),
    baseline(CheckId::Privileged, privileged::privileged),
    baseline(CheckId::ProcMount, proc_mount::proc_mount),
    baseline(CheckId::SeLinuxOptions, se_linux::se_linux_options),
    baseline(
        CheckId::SeccompProfileBaseline,
        seccomp::seccomp_profile_baseline,
    ),
    baseline(CheckId::Sysctls, sysctls::sysctls),
    baseline(
        CheckId::WindowsHostProcess,
        windows_host_process::windows_host_process,
    ),
    restricted(
        CheckId::AllowPrivilegeEscalation,
        8,
        None,
        privilege_escalation::allow_privilege_escalation,
    ),
    restricted(
        CheckId::CapabilitiesRestricted,
        22,
        Some(CheckId::CapabilitiesBaseline),
        capabilities::capabilities_restricted,
    ),
    restricted(
        CheckId::RestrictedVolumes,
        0,
        Some(CheckId::HostPathVolumes),
        volumes::restricted_volumes,
    ),
    restricted(CheckId::RunAsNonRoot, 0, None, run_as::run_as_non_root),
    restricted(CheckId::RunAsUser, 23, None, run_as::run_as_user),
    restricted(
        CheckId::SeccompProfileRestricted,
        19,
        Some(CheckId::SeccompProfileBaseline),
        seccomp::seccomp_profile_restricted,
    ),
];

const fn baseline(id: CheckId, check: CheckFn) -> Entry {
    Entry {
        id,
        level: Level::Baseline,
        since: 0,
        overrides: None,
        check,
    }
}

const fn restricted(id: CheckId, since: u64, overrides: Option<CheckId>, check: CheckFn) -> Entry {
    Entry {
        id,
        level: Level::Restricted,
        since,
        overrides,
        check,
    }
}

/// The checks that run for `policy`, in evaluation order.
pub fn checks_for(policy: Policy) -> Vec<CheckId> {
    active(policy).map(|e| e.id).collect()
}

fn active(policy: Policy) -> impl Iterator<Item = &'static Entry> {
    let minor = policy.version.effective_minor();
    let level = policy.level;
    let in_level =
        move |e: &Entry| level != Level::Privileged && e.level <= level && e.since <= minor;
    REGISTRY.iter().filter(move |e| {
        in_level(e)
            && !REGISTRY
                .iter()
                .any(|r| r.overrides == Some(e.id) && in_level(r))
    })
}

/// Evaluates a pod against `policy` and returns the failed checks, in
/// upstream's order (empty: allowed). `privileged` always allows.
pub fn check_pod(policy: Policy, meta: &ObjectMeta, spec: &PodSpec) -> Vec<CheckResult> {
    let minor = policy.version.effective_minor();
    active(policy)
        .filter_map(|e| {
            (e.check)(meta, spec, minor).map(|f| CheckResult {
                id: e.id,
                forbidden_reason: f.reason,
                forbidden_detail: f.detail,
            })
        })
        .collect()
}

/// Evaluates the pod template of a workload (Deployment, ReplicaSet,
/// StatefulSet, DaemonSet, Job, CronJob, ReplicationController,
/// PodTemplate): the same checks as [`check_pod`] over the template's
/// metadata and spec. Upstream never enforces on templates; it only audits
/// and warns (`would violate PodSecurity ...`, see
/// [`warning_message`](crate::warning_message)).
pub fn check_pod_template(
    policy: Policy,
    template_meta: &ObjectMeta,
    template_spec: &PodSpec,
) -> Vec<CheckResult> {
    check_pod(policy, template_meta, template_spec)
}

// ----------------------------------------------------------------- helpers

/// A container of any kind, as upstream's visitor sees it.
pub(crate) struct ContainerRef<'a> {
    pub name: &'a str,
    pub security_context: Option<&'a SecurityContext>,
    pub ports: &'a [ContainerPort],
}

/// Every container of the pod in upstream's visiting order: init
/// containers, containers, ephemeral containers.
pub(crate) fn containers(spec: &PodSpec) -> impl Iterator<Item = ContainerRef<'_>> {
    let init = spec.init_containers.iter().flatten().map(regular);
    let main = spec.containers.iter().map(regular);
    let ephemeral = spec
        .ephemeral_containers
        .iter()
        .flatten()
        .map(|c| ContainerRef {
            name: &c.name,
            security_context: c.security_context.as_ref(),
            ports: c.ports.as_deref().unwrap_or_default(),
        });
    init.chain(main).chain(ephemeral)
}

/// `"a", "b"` (upstream's `joinQuote`: plain double quotes, no escaping).
pub(crate) fn join_quote<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> String {
    let quoted: Vec<String> = items
        .into_iter()
        .map(|s| format!("\"{}\"", s.as_ref()))
        .collect();
    quoted.join(", ")
}

/// Upstream's `pluralize`: the singular only for exactly one.
pub(crate) fn pluralize<'a>(singular: &'a str, plural: &'a str, count: usize) -> &'a str {
    if count == 1 {
        singular
    } else {
        plural
    }
}

/// `container "a"` / `containers "a", "b"`.
pub(crate) fn containers_phrase(names: &[&str]) -> String {
    format!(
        "{} {}",
        pluralize("container", "containers", names.len()),
        join_quote(names)
    )
}

fn regular(c: &Container) -> ContainerRef<'_> {
    ContainerRef {
        name: &c.name,
        security_context: c.security_context.as_ref(),
        ports: c.ports.as_deref().unwrap_or_default(),
    }
}

pub(crate) use apimachinery::gofmt::quote as go_quote;

/// `spec.os.name == "windows"` (the 1.25+ restricted checks skip such
/// pods: the Linux-only fields they require are invalid on Windows).
pub(crate) fn is_windows(spec: &PodSpec) -> bool {
    spec.os.as_ref().is_some_and(|os| os.name == "windows")
}
