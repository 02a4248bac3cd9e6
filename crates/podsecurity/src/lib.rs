//! Pod Security Standards checks, as upstream's
//! `k8s.io/pod-security-admission` at Kubernetes 1.33 — pure: no I/O, no
//! clock, no global state.
//!
//! - [`level`]: [`Level`], [`Version`], [`Policy`] (`restricted:latest`)
//!   and [`NamespacePolicies`] from the `pod-security.kubernetes.io/*`
//!   namespace labels.
//! - [`checks`]: the baseline and restricted checks and their versioned
//!   registry; [`check_pod`] / [`check_pod_template`] return the failed
//!   checks in upstream's order.
//! - [`message`]: upstream's texts: [`forbidden_message`] (enforce),
//!   [`warning_message`] (warn/audit), [`namespace_pod_warnings`].
//! - [`template`]: which kinds carry a pod template and how to extract it
//!   from JSON; which pod updates need re-checking.
//!
//! How upstream's admission plugin uses these (for the apiserver's chain):
//! pods (create, and updates where [`is_significant_pod_update`]; not the
//! `exec`/`attach`/`binding`/`eviction`/`log`/`portforward`/`proxy`/
//! `status` subresources) are checked against the namespace's enforce,
//! audit and warn policies; enforce failures reject with 403
//! `pods "<name>" is forbidden: <forbidden_message>`, warn failures add a
//! warning (only if not rejected). Workload templates (no subresources)
//! only get audit and warn. Namespaces: create with an invalid label is
//! rejected 422 Invalid (one cause per [`LabelError`]); an update that
//! tightens enforce returns [`namespace_pod_warnings`] for existing pods.

pub mod checks;
pub mod level;
pub mod message;
pub mod template;

pub use checks::{check_pod, check_pod_template, checks_for, CheckId, CheckResult};
pub use level::{
    LabelError, Level, NamespacePolicies, Policy, Version, AUDIT_LEVEL_LABEL, AUDIT_VERSION_LABEL,
    ENFORCE_LEVEL_LABEL, ENFORCE_VERSION_LABEL, MAX_POLICY_MINOR, WARN_LEVEL_LABEL,
    WARN_VERSION_LABEL,
};
pub use message::{
    forbidden_detail, forbidden_message, forbidden_reasons, namespace_pod_warnings,
    warning_message, AUDIT_VIOLATIONS_ANNOTATION, ENFORCE_POLICY_ANNOTATION,
};
pub use template::{extract_pod_template, is_significant_pod_update, pod_template_path};
