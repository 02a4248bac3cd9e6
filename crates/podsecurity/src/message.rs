//! Rendering check results as upstream's admission messages
//! (`policy/checks.go` `AggregateCheckResult`, `admission/admission.go`).
//!
//! - Enforce (pods only): the request fails with `403 Forbidden`,
//!   `pods "<name>" is forbidden: ` + [`forbidden_message`].
//! - Warn (pods and workload templates): a `Warning` header per
//!   [`warning_message`]; upstream adds no warning to a request it rejects.
//! - Audit: the annotation `pod-security.kubernetes.io/audit-violations`
//!   with the [`warning_message`] text for the audit policy.
//! - A namespace whose enforce label is tightened gets warnings for its
//!   existing pods: [`namespace_pod_warnings`].

use std::collections::BTreeMap;

use crate::checks::CheckResult;
use crate::level::Policy;

/// Audit annotation key carrying the audit-mode violations.
pub const AUDIT_VIOLATIONS_ANNOTATION: &str = "pod-security.kubernetes.io/audit-violations";
/// Audit annotation key carrying the enforced policy (`restricted:latest`).
pub const ENFORCE_POLICY_ANNOTATION: &str = "pod-security.kubernetes.io/enforce-policy";

/// The reasons alone, comma-separated (upstream's `ForbiddenReason()`):
/// `privileged, hostPort`.
pub fn forbidden_reasons(results: &[CheckResult]) -> String {
    let reasons: Vec<&str> = results.iter().map(reason).collect();
    reasons.join(", ")
}

/// Every reason followed by its detail in parentheses when there is one,
/// comma-separated (upstream's `ForbiddenDetail()`).
pub fn forbidden_detail(results: &[CheckResult]) -> String {
    let parts: Vec<String> = results
        .iter()
        .map(|r| {
            if r.forbidden_detail.is_empty() {
                reason(r).to_string()
            } else {
                format!("{} ({})", reason(r), r.forbidden_detail)
            }
        })
        .collect();
    parts.join(", ")
}

/// Upstream substitutes this for a check that forbids without a reason.
fn reason(r: &CheckResult) -> &str {
    if r.forbidden_reason.is_empty() {
        "unknown forbidden reason"
    } else {
        &r.forbidden_reason
    }
}

/// `violates PodSecurity "restricted:latest": privileged (container "nginx"
/// must not set securityContext.privileged=true), ...` — the enforce
/// rejection; the caller wraps it as `pods "<name>" is forbidden: <this>`.
pub fn forbidden_message(policy: Policy, results: &[CheckResult]) -> String {
    format!(
        "violates PodSecurity \"{policy}\": {}",
        forbidden_detail(results)
    )
}

/// `would violate PodSecurity "baseline:latest": ...` — the warn-mode
/// warning and the audit-mode annotation value.
pub fn warning_message(policy: Policy, results: &[CheckResult]) -> String {
    format!(
        "would violate PodSecurity \"{policy}\": {}",
        forbidden_detail(results)
    )
}

/// Warnings for the existing pods of `namespace` when its enforce policy
/// becomes `enforce` (upstream's `EvaluatePodsInNamespace`), given each
/// pod's name and its failed checks under `enforce`, in list order.
///
/// Pods are grouped by their reasons (not details); each group becomes
/// `<first pod name>[ (and N other pod[s])]: <reasons>`, sorted, after the
/// headline `existing pods in namespace "<ns>" violate the new PodSecurity
/// enforce level "<policy>"`. `checked`/`total` produce upstream's
/// `new PodSecurity enforce level only checked against the first N of M
/// existing pods` when the caller stopped early (upstream caps at 3000
/// pods and a timeout).
pub fn namespace_pod_warnings(
    namespace: &str,
    enforce: Policy,
    pods: &[(String, Vec<CheckResult>)],
    checked: usize,
    total: usize,
) -> Vec<String> {
    // reasons -> (lexically first pod name, count)
    let mut groups: BTreeMap<String, (String, usize)> = BTreeMap::new();
    for (name, results) in pods {
        if results.is_empty() {
            continue;
        }
        let entry = groups
            .entry(forbidden_reasons(results))
            .or_insert_with(|| (name.clone(), 0));
        if *name < entry.0 {
            entry.0 = name.clone();
        }
        entry.1 += 1;
    }
    let mut warnings = Vec::new();
    if checked < total {
        warnings.push(format!(
            "new PodSecurity enforce level only checked against the first {checked} of {total} existing pods"
        ));
    }
    if !groups.is_empty() {
        warnings.push(format!(
            "existing pods in namespace \"{namespace}\" violate the new PodSecurity enforce level \"{enforce}\""
        ));
    }
    let mut pod_warnings: Vec<String> = groups
        .into_iter()
        .map(|(reasons, (name, count))| match count {
            1 => format!("{name}: {reasons}"),
            2 => format!("{name} (and 1 other pod): {reasons}"),
            n => format!("{name} (and {} other pods): {reasons}", n - 1),
        })
        .collect();
    pod_warnings.sort();
    warnings.extend(pod_warnings);
    warnings
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::checks::{check_pod, CheckId};
    use crate::level::{Level, Version};
    use k8s_openapi::api::core::v1::PodSpec;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
    use serde_json::{json, Value};

    fn pod(v: Value) -> (ObjectMeta, PodSpec) {
        (
            serde_json::from_value(v["metadata"].clone()).unwrap(),
            serde_json::from_value(v["spec"].clone()).unwrap(),
        )
    }

    /// (policy, pod, exact enforce message) — the shapes kubectl shows.
    #[test]
    fn forbidden_messages() {
        let privileged_nginx = json!({"metadata": {"name": "nginx"}, "spec": {"containers": [
            {"name": "nginx", "image": "nginx", "securityContext": {"privileged": true}}
        ]}});
        let plain_nginx = json!({"metadata": {"name": "nginx"}, "spec": {"containers": [
            {"name": "nginx", "image": "nginx"}
        ]}});
        let host_stuff = json!({"metadata": {"name": "h"}, "spec": {
            "hostNetwork": true,
            "volumes": [{"name": "data", "hostPath": {"path": "/data"}}],
            "containers": [{"name": "nginx", "image": "nginx", "securityContext": {"privileged": true},
                            "ports": [{"containerPort": 80, "hostPort": 80}]}],
        }});
        let two_containers = json!({"metadata": {"name": "two"}, "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "initContainers": [{"name": "init", "image": "x"}],
            "containers": [{"name": "app", "image": "x", "securityContext": {"allowPrivilegeEscalation": false}}],
        }});
        let cases: Vec<(Policy, Value, &str)> = vec![
            (
                Policy::latest(Level::Restricted),
                privileged_nginx.clone(),
                r#"violates PodSecurity "restricted:latest": privileged (container "nginx" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#,
            ),
            (
                Policy::new(Level::Restricted, Version::V1(25)),
                plain_nginx.clone(),
                r#"violates PodSecurity "restricted:v1.25": allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#,
            ),
            (
                Policy::latest(Level::Baseline),
                privileged_nginx,
                r#"violates PodSecurity "baseline:latest": privileged (container "nginx" must not set securityContext.privileged=true)"#,
            ),
            (
                Policy::latest(Level::Baseline),
                host_stuff.clone(),
                r#"violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true), hostPath volumes (volume "data"), hostPort (container "nginx" uses hostPort 80), privileged (container "nginx" must not set securityContext.privileged=true)"#,
            ),
            (
                Policy::latest(Level::Restricted),
                host_stuff,
                r#"violates PodSecurity "restricted:latest": host namespaces (hostNetwork=true), hostPort (container "nginx" uses hostPort 80), privileged (container "nginx" must not set securityContext.privileged=true), allowPrivilegeEscalation != false (container "nginx" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "nginx" must set securityContext.capabilities.drop=["ALL"]), restricted volume types (volume "data" uses restricted volume type "hostPath"), runAsNonRoot != true (pod or container "nginx" must set securityContext.runAsNonRoot=true), seccompProfile (pod or container "nginx" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#,
            ),
            (
                Policy::latest(Level::Restricted),
                two_containers,
                r#"violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false (container "init" must set securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (containers "init", "app" must set securityContext.capabilities.drop=["ALL"])"#,
            ),
        ];
        for (policy, v, want) in cases {
            let (meta, spec) = pod(v);
            let results = check_pod(policy, &meta, &spec);
            assert_eq!(forbidden_message(policy, &results), want);
        }
    }

    #[test]
    fn warning_and_reason_forms() {
        let (meta, spec) =
            pod(json!({"metadata": {}, "spec": {"hostPID": true, "containers": [{"name": "c"}]}}));
        let policy = Policy::latest(Level::Baseline);
        let results = check_pod(policy, &meta, &spec);
        assert_eq!(
            warning_message(policy, &results),
            r#"would violate PodSecurity "baseline:latest": host namespaces (hostPID=true)"#
        );
        let synthetic = vec![
            CheckResult {
                id: CheckId::Privileged,
                forbidden_reason: "a".into(),
                forbidden_detail: String::new(),
            },
            CheckResult {
                id: CheckId::HostPorts,
                forbidden_reason: String::new(),
                forbidden_detail: "d".into(),
            },
        ];
        assert_eq!(forbidden_reasons(&synthetic), "a, unknown forbidden reason");
        assert_eq!(
            forbidden_detail(&synthetic),
            "a, unknown forbidden reason (d)"
        );
    }

    #[test]
    fn namespace_warnings() {
        let policy = Policy::latest(Level::Baseline);
        let priv_result = |name: &str| {
            let (meta, spec) = pod(json!({"metadata": {}, "spec": {"containers": [
                {"name": name, "securityContext": {"privileged": true}}
            ]}}));
            check_pod(policy, &meta, &spec)
        };
        let pods = vec![
            ("web-2".to_string(), priv_result("a")),
            ("web-1".to_string(), priv_result("b")),
            ("ok".to_string(), vec![]),
            ("net".to_string(), {
                let (meta, spec) =
                    pod(json!({"metadata": {}, "spec": {"hostNetwork": true, "containers": []}}));
                check_pod(policy, &meta, &spec)
            }),
        ];
        assert_eq!(
            namespace_pod_warnings("ns", policy, &pods, 4, 4),
            vec![
                r#"existing pods in namespace "ns" violate the new PodSecurity enforce level "baseline:latest""#,
                "net: host namespaces",
                "web-1 (and 1 other pod): privileged",
            ]
        );
        assert_eq!(
            namespace_pod_warnings("ns", policy, &[], 0, 5000)[0],
            "new PodSecurity enforce level only checked against the first 0 of 5000 existing pods"
        );
        assert!(namespace_pod_warnings("ns", policy, &[("ok".into(), vec![])], 1, 1).is_empty());
    }
}
