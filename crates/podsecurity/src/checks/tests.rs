//! Table-driven tests of every check. Pods are written as JSON merge
//! patches over a pod that passes `restricted:latest`; expected reasons and
//! details follow the shapes of upstream's `check_*_test.go` fixtures.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::{json, Value};

use super::*;
use crate::level::Version;

/// A pod that satisfies `restricted:latest`.
fn compliant() -> Value {
    json!({
        "metadata": {"name": "p"},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{"name": "a", "image": "x", "securityContext": sc(json!({}))}],
        }
    })
}

/// A compliant container security context with `extra` merged in.
fn sc(extra: Value) -> Value {
    let mut base = json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}});
    merge(&mut base, &extra);
    base
}

/// RFC 7386 JSON merge patch.
fn merge(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = json!({});
            }
            if let Value::Object(t) = target {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(k);
                    } else {
                        merge(t.entry(k.clone()).or_insert(Value::Null), v);
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

fn pod(patch: &Value) -> (ObjectMeta, PodSpec) {
    let mut p = compliant();
    merge(&mut p, patch);
    let meta = serde_json::from_value(p["metadata"].clone()).unwrap();
    let spec = serde_json::from_value(p["spec"].clone()).unwrap();
    (meta, spec)
}

type Expected<'a> = &'a [(CheckId, &'a str, &'a str)];

fn run(policy: Policy, patch: &Value) -> Vec<(CheckId, String, String)> {
    let (meta, spec) = pod(patch);
    check_pod(policy, &meta, &spec)
        .into_iter()
        .map(|r| (r.id, r.forbidden_reason, r.forbidden_detail))
        .collect()
}

fn owned(e: Expected<'_>) -> Vec<(CheckId, String, String)> {
    e.iter()
        .map(|(id, r, d)| (*id, r.to_string(), d.to_string()))
        .collect()
}

/// Every check, passing and failing, at baseline and restricted (latest).
/// Privileged allows everything.
#[test]
fn every_check_at_each_level() {
    use CheckId::*;
    let cases: Vec<(&str, Value, Expected<'_>, Expected<'_>)> = vec![
        ("compliant", json!({}), &[], &[]),
        // hostNamespaces
        (
            "host namespaces",
            json!({"spec": {"hostNetwork": true, "hostPID": true, "hostIPC": true}}),
            &[(
                HostNamespaces,
                "host namespaces",
                "hostNetwork=true, hostPID=true, hostIPC=true",
            )],
            &[(
                HostNamespaces,
                "host namespaces",
                "hostNetwork=true, hostPID=true, hostIPC=true",
            )],
        ),
        (
            "host namespaces false",
            json!({"spec": {"hostNetwork": false, "hostPID": false}}),
            &[],
            &[],
        ),
        // privileged, init containers first
        (
            "privileged",
            json!({"spec": {
                "initContainers": [{"name": "i", "securityContext": sc(json!({"privileged": true}))}],
                "containers": [{"name": "a", "securityContext": sc(json!({"privileged": true}))}],
            }}),
            &[(
                Privileged,
                "privileged",
                r#"containers "i", "a" must not set securityContext.privileged=true"#,
            )],
            &[(
                Privileged,
                "privileged",
                r#"containers "i", "a" must not set securityContext.privileged=true"#,
            )],
        ),
        (
            "privileged false",
            json!({"spec": {"containers": [{"name": "a", "securityContext": sc(json!({"privileged": false}))}]}}),
            &[],
            &[],
        ),
        // capabilities
        (
            "capabilities add NET_RAW",
            json!({"spec": {"containers": [{"name": "a", "securityContext": sc(json!({"capabilities": {"add": ["NET_RAW", "CHOWN"]}}))}]}}),
            &[(
                CapabilitiesBaseline,
                "non-default capabilities",
                r#"container "a" must not include "NET_RAW" in securityContext.capabilities.add"#,
            )],
            &[(
                CapabilitiesRestricted,
                "unrestricted capabilities",
                r#"container "a" must not include "CHOWN", "NET_RAW" in securityContext.capabilities.add"#,
            )],
        ),
        (
            "capabilities default set passes baseline only",
            json!({"spec": {"containers": [{"name": "a", "securityContext": sc(json!({"capabilities": {"add": ["CHOWN"]}}))}]}}),
            &[],
            &[(
                CapabilitiesRestricted,
                "unrestricted capabilities",
                r#"container "a" must not include "CHOWN" in securityContext.capabilities.add"#,
            )],
        ),
        (
            "capabilities NET_BIND_SERVICE",
            json!({"spec": {"containers": [{"name": "a", "securityContext": sc(json!({"capabilities": {"add": ["NET_BIND_SERVICE"]}}))}]}}),
            &[],
            &[],
        ),
        (
            "capabilities drop missing and add forbidden",
            json!({"spec": {"containers": [
                {"name": "a", "securityContext": {"allowPrivilegeEscalation": false}},
                {"name": "b", "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["NET_RAW"], "add": ["SYS_ADMIN"]}}},
            ]}}),
            &[(
                CapabilitiesBaseline,
                "non-default capabilities",
                r#"container "b" must not include "SYS_ADMIN" in securityContext.capabilities.add"#,
            )],
            &[(
                CapabilitiesRestricted,
                "unrestricted capabilities",
                r#"containers "a", "b" must set securityContext.capabilities.drop=["ALL"]; container "b" must not include "SYS_ADMIN" in securityContext.capabilities.add"#,
            )],
        ),
        // volumes
        (
            "hostPath volume",
            json!({"spec": {"volumes": [{"name": "h", "hostPath": {"path": "/"}}, {"name": "e", "emptyDir": {}}]}}),
            &[(HostPathVolumes, "hostPath volumes", r#"volume "h""#)],
            &[(
                RestrictedVolumes,
                "restricted volume types",
                r#"volume "h" uses restricted volume type "hostPath""#,
            )],
        ),
        (
            "restricted volume types",
            json!({"spec": {"volumes": [
                {"name": "n", "nfs": {"server": "s", "path": "/"}},
                {"name": "g", "gitRepo": {"repository": "r"}},
                {"name": "n2", "nfs": {"server": "s", "path": "/x"}},
                {"name": "u"},
            ]}}),
            &[],
            &[(
                RestrictedVolumes,
                "restricted volume types",
                r#"volumes "n", "g", "n2", "u" use restricted volume types "gitRepo", "nfs", "unknown""#,
            )],
        ),
        (
            "allowed volume types",
            json!({"spec": {"volumes": [
                {"name": "c", "configMap": {"name": "c"}},
                {"name": "s", "secret": {"secretName": "s"}},
                {"name": "e", "emptyDir": {}},
                {"name": "i", "image": {"reference": "img"}},
                {"name": "p", "persistentVolumeClaim": {"claimName": "p"}},
                {"name": "d", "downwardAPI": {}},
                {"name": "pr", "projected": {}},
                {"name": "csi", "csi": {"driver": "d"}},
            ]}}),
            &[],
            &[],
        ),
        // hostPorts: ports deduplicated, sorted as text
        (
            "host ports",
            json!({"spec": {"containers": [
                {"name": "a", "securityContext": sc(json!({})), "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 81, "hostPort": 10}]},
                {"name": "b", "securityContext": sc(json!({})), "ports": [{"containerPort": 80, "hostPort": 8080}, {"containerPort": 82, "hostPort": 0}]},
            ]}}),
            &[(
                HostPorts,
                "hostPort",
                r#"containers "a", "b" use hostPorts 10, 8080"#,
            )],
            &[(
                HostPorts,
                "hostPort",
                r#"containers "a", "b" use hostPorts 10, 8080"#,
            )],
        ),
        (
            "one host port",
            json!({"spec": {"containers": [{"name": "a", "securityContext": sc(json!({})), "ports": [{"containerPort": 80, "hostPort": 80}]}]}}),
            &[(HostPorts, "hostPort", r#"container "a" uses hostPort 80"#)],
            &[(HostPorts, "hostPort", r#"container "a" uses hostPort 80"#)],
        ),
        (
            "host port zero",
            json!({"spec": {"containers": [{"name": "a", "securityContext": sc(json!({})), "ports": [{"containerPort": 80, "hostPort": 0}]}]}}),
            &[],
            &[],
        ),
        // appArmorProfile
        (
            "apparmor field and annotation",
            json!({
                "metadata": {"annotations": {"container.apparmor.security.beta.kubernetes.io/a": "unconfined"}},
                "spec": {"securityContext": {"appArmorProfile": {"type": "Unconfined"}}},
            }),
            &[(
                AppArmorProfile,
                "forbidden AppArmor profiles",
                r#"pod and annotation must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/a="unconfined"""#,
            )],
            &[(
                AppArmorProfile,
                "forbidden AppArmor profiles",
                r#"pod and annotation must not set AppArmor profile type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/a="unconfined"""#,
            )],
        ),
        (
            "apparmor container",
            json!({"spec": {"containers": [{"name": "foo", "securityContext": sc(json!({"appArmorProfile": {"type": "Unconfined"}}))}]}}),
            &[(
                AppArmorProfile,
                "forbidden AppArmor profile",
                r#"container "foo" must not set AppArmor profile type to "Unconfined""#,
            )],
            &[(
                AppArmorProfile,
                "forbidden AppArmor profile",
                r#"container "foo" must not set AppArmor profile type to "Unconfined""#,
            )],
        ),
        (
            "apparmor allowed",
            json!({
                "metadata": {"annotations": {
                    "container.apparmor.security.beta.kubernetes.io/a": "localhost/foo",
                    "container.apparmor.security.beta.kubernetes.io/b": "runtime/default",
                    "container.apparmor.security.beta.kubernetes.io/c": "",
                }},
                "spec": {"securityContext": {"appArmorProfile": {"type": "Localhost", "localhostProfile": "p"}},
                         "containers": [{"name": "a", "securityContext": sc(json!({"appArmorProfile": {"type": "RuntimeDefault"}}))}]},
            }),
            &[],
            &[],
        ),
        // seLinuxOptions
        (
            "selinux pod and containers",
            json!({"spec": {
                "securityContext": {"seLinuxOptions": {"type": "foo", "user": "bar", "role": "baz"}},
                "containers": [
                    {"name": "a", "securityContext": sc(json!({"seLinuxOptions": {"type": "container_t"}}))},
                    {"name": "e", "securityContext": sc(json!({"seLinuxOptions": {"type": "bar"}}))},
                    {"name": "f", "securityContext": sc(json!({"seLinuxOptions": {"user": "bar"}}))},
                    {"name": "g", "securityContext": sc(json!({"seLinuxOptions": {"role": "baz", "level": "s0"}}))},
                ],
            }}),
            &[(
                SeLinuxOptions,
                "seLinuxOptions",
                r#"pod and containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; user may not be set; role may not be set"#,
            )],
            &[(
                SeLinuxOptions,
                "seLinuxOptions",
                r#"pod and containers "e", "f", "g" set forbidden securityContext.seLinuxOptions: types "bar", "foo"; user may not be set; role may not be set"#,
            )],
        ),
        (
            "selinux user only",
            json!({"spec": {"securityContext": {"seLinuxOptions": {"user": "bad"}}}}),
            &[(
                SeLinuxOptions,
                "seLinuxOptions",
                "pod set forbidden securityContext.seLinuxOptions: user may not be set",
            )],
            &[(
                SeLinuxOptions,
                "seLinuxOptions",
                "pod set forbidden securityContext.seLinuxOptions: user may not be set",
            )],
        ),
        (
            "selinux allowed types",
            json!({"spec": {"securityContext": {"seLinuxOptions": {"type": "container_engine_t", "level": "s0:c1"}}}}),
            &[],
            &[],
        ),
        // procMount
        (
            "procMount unmasked",
            json!({"spec": {"containers": [{"name": "a", "securityContext": sc(json!({"procMount": "Unmasked"}))}]}}),
            &[(
                ProcMount,
                "procMount",
                r#"container "a" must not set securityContext.procMount to "Unmasked""#,
            )],
            &[(
                ProcMount,
                "procMount",
                r#"container "a" must not set securityContext.procMount to "Unmasked""#,
            )],
        ),
        (
            "procMount default",
            json!({"spec": {"containers": [{"name": "a", "securityContext": sc(json!({"procMount": "Default"}))}]}}),
            &[],
            &[],
        ),
        // seccompProfile
        (
            "seccomp unconfined",
            json!({"spec": {
                "securityContext": {"seccompProfile": {"type": "Unconfined"}},
                "containers": [
                    {"name": "a", "securityContext": sc(json!({"seccompProfile": {"type": "Unconfined"}}))},
                    {"name": "b", "securityContext": sc(json!({}))},
                ],
            }}),
            &[(
                SeccompProfileBaseline,
                "seccompProfile",
                r#"pod and container "a" must not set securityContext.seccompProfile.type to "Unconfined""#,
            )],
            &[(
                SeccompProfileRestricted,
                "seccompProfile",
                r#"pod and container "a" must not set securityContext.seccompProfile.type to "Unconfined""#,
            )],
        ),
        (
            "seccomp unset",
            json!({"spec": {"securityContext": {"seccompProfile": null}, "containers": [
                {"name": "a", "securityContext": sc(json!({}))},
                {"name": "b", "securityContext": sc(json!({"seccompProfile": {"type": "Localhost", "localhostProfile": "x"}}))},
                {"name": "c", "securityContext": sc(json!({}))},
            ]}}),
            &[],
            &[(
                SeccompProfileRestricted,
                "seccompProfile",
                r#"pod or containers "a", "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost""#,
            )],
        ),
        (
            "seccomp on every container",
            json!({"spec": {"securityContext": {"seccompProfile": null}, "containers": [
                {"name": "a", "securityContext": sc(json!({"seccompProfile": {"type": "RuntimeDefault"}}))},
            ]}}),
            &[],
            &[],
        ),
        // sysctls
        (
            "sysctls",
            json!({"spec": {"securityContext": {"sysctls": [
                {"name": "kernel.msgmax", "value": "1"},
                {"name": "net.ipv4.tcp_rmem", "value": "1"},
                {"name": "net.core.somaxconn", "value": "1"},
            ]}}}),
            &[(
                Sysctls,
                "forbidden sysctls",
                "kernel.msgmax, net.core.somaxconn",
            )],
            &[(
                Sysctls,
                "forbidden sysctls",
                "kernel.msgmax, net.core.somaxconn",
            )],
        ),
        (
            "safe sysctls",
            json!({"spec": {"securityContext": {"sysctls": [
                {"name": "kernel.shm_rmid_forced", "value": "1"},
                {"name": "net.ipv4.ip_local_reserved_ports", "value": "1"},
                {"name": "net.ipv4.tcp_keepalive_probes", "value": "1"},
                {"name": "net.ipv4.tcp_wmem", "value": "1"},
            ]}}}),
            &[],
            &[],
        ),
        // windowsHostProcess
        (
            "windows host process",
            json!({"spec": {
                "securityContext": {"windowsOptions": {"hostProcess": true}},
                "containers": [{"name": "a", "securityContext": sc(json!({"windowsOptions": {"hostProcess": true}}))}],
            }}),
            &[(
                WindowsHostProcess,
                "hostProcess",
                r#"pod and container "a" must not set securityContext.windowsOptions.hostProcess=true"#,
            )],
            &[(
                WindowsHostProcess,
                "hostProcess",
                r#"pod and container "a" must not set securityContext.windowsOptions.hostProcess=true"#,
            )],
        ),
        (
            "windows host process false",
            json!({"spec": {"securityContext": {"windowsOptions": {"hostProcess": false}}}}),
            &[],
            &[],
        ),
        // allowPrivilegeEscalation, ephemeral containers last
        (
            "allowPrivilegeEscalation",
            json!({"spec": {
                "containers": [{"name": "a", "securityContext": sc(json!({"allowPrivilegeEscalation": true}))}],
                "ephemeralContainers": [{"name": "dbg", "image": "busybox", "securityContext": {"capabilities": {"drop": ["ALL"]}}}],
            }}),
            &[],
            &[(
                AllowPrivilegeEscalation,
                "allowPrivilegeEscalation != false",
                r#"containers "a", "dbg" must set securityContext.allowPrivilegeEscalation=false"#,
            )],
        ),
        // runAsNonRoot
        (
            "runAsNonRoot false",
            json!({"spec": {
                "securityContext": {"runAsNonRoot": false},
                "containers": [{"name": "a", "securityContext": sc(json!({"runAsNonRoot": false}))}],
            }}),
            &[],
            &[(
                RunAsNonRoot,
                "runAsNonRoot != true",
                r#"pod and container "a" must not set securityContext.runAsNonRoot=false"#,
            )],
        ),
        (
            "runAsNonRoot unset",
            json!({"spec": {"securityContext": {"runAsNonRoot": null}, "containers": [
                {"name": "a", "securityContext": sc(json!({}))},
                {"name": "b", "securityContext": sc(json!({"runAsNonRoot": true}))},
            ]}}),
            &[],
            &[(
                RunAsNonRoot,
                "runAsNonRoot != true",
                r#"pod or container "a" must set securityContext.runAsNonRoot=true"#,
            )],
        ),
        (
            "runAsNonRoot on every container",
            json!({"spec": {"securityContext": {"runAsNonRoot": null}, "containers": [
                {"name": "a", "securityContext": sc(json!({"runAsNonRoot": true}))},
            ]}}),
            &[],
            &[],
        ),
        // runAsUser
        (
            "runAsUser 0",
            json!({"spec": {
                "securityContext": {"runAsUser": 0},
                "containers": [
                    {"name": "a", "securityContext": sc(json!({"runAsUser": 0}))},
                    {"name": "b", "securityContext": sc(json!({"runAsUser": 0}))},
                ],
            }}),
            &[],
            &[(
                RunAsUser,
                "runAsUser=0",
                r#"pod and containers "a", "b" must not set runAsUser=0"#,
            )],
        ),
        (
            "runAsUser non-zero",
            json!({"spec": {"securityContext": {"runAsUser": 1000}}}),
            &[],
            &[],
        ),
    ];
    for (name, patch, baseline, restricted) in cases {
        assert_eq!(
            run(Policy::latest(Level::Privileged), &patch),
            vec![],
            "{name}: privileged"
        );
        assert_eq!(
            run(Policy::latest(Level::Baseline), &patch),
            owned(baseline),
            "{name}: baseline"
        );
        assert_eq!(
            run(Policy::latest(Level::Restricted), &patch),
            owned(restricted),
            "{name}: restricted"
        );
    }
}

/// Version-dependent behaviour: (policy, pod, failing check IDs).
#[test]
fn versions() {
    use CheckId::*;
    let restricted = |v: Version| Policy::new(Level::Restricted, v);
    let baseline = |v: Version| Policy::new(Level::Baseline, v);
    let windows_bare = json!({"spec": {
        "os": {"name": "windows"},
        "securityContext": null,
        "containers": [{"name": "a", "image": "x"}],
    }});
    let bad_caps = json!({"spec": {"containers": [{"name": "a", "securityContext": {
        "allowPrivilegeEscalation": false, "capabilities": {"add": ["NET_RAW"]}}}]}});
    let seccomp_annotation = json!({
        "metadata": {"annotations": {
            "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
            "container.seccomp.security.alpha.kubernetes.io/a": "runtime/default",
        }},
        "spec": {"securityContext": {"seccompProfile": null}},
    });
    let cases: Vec<(Policy, Value, &[CheckId])> = vec![
        // Windows pods skip the Linux-only restricted checks from v1.25.
        (
            restricted(Version::Latest),
            windows_bare.clone(),
            &[RunAsNonRoot],
        ),
        (
            restricted(Version::V1(25)),
            windows_bare.clone(),
            &[RunAsNonRoot],
        ),
        (
            restricted(Version::V1(24)),
            windows_bare.clone(),
            &[
                AllowPrivilegeEscalation,
                CapabilitiesRestricted,
                RunAsNonRoot,
                SeccompProfileRestricted,
            ],
        ),
        // capabilities_restricted from v1.22; before, the baseline check runs.
        (
            restricted(Version::V1(22)),
            bad_caps.clone(),
            &[CapabilitiesRestricted],
        ),
        (
            restricted(Version::V1(21)),
            bad_caps.clone(),
            &[CapabilitiesBaseline],
        ),
        // allowPrivilegeEscalation from v1.8.
        (
            restricted(Version::V1(7)),
            windows_bare.clone(),
            &[RunAsNonRoot],
        ),
        (
            restricted(Version::V1(8)),
            windows_bare.clone(),
            &[AllowPrivilegeEscalation, RunAsNonRoot],
        ),
        // seccomp: annotations before v1.19, the field after.
        (
            baseline(Version::V1(18)),
            seccomp_annotation.clone(),
            &[SeccompProfileBaseline],
        ),
        (baseline(Version::V1(19)), seccomp_annotation.clone(), &[]),
        (
            restricted(Version::V1(18)),
            seccomp_annotation.clone(),
            &[SeccompProfileBaseline],
        ),
        (
            restricted(Version::V1(19)),
            seccomp_annotation.clone(),
            &[SeccompProfileRestricted],
        ),
        // runAsUser from v1.23.
        (
            restricted(Version::V1(23)),
            json!({"spec": {"securityContext": {"runAsUser": 0}}}),
            &[RunAsUser],
        ),
        (
            restricted(Version::V1(22)),
            json!({"spec": {"securityContext": {"runAsUser": 0}}}),
            &[],
        ),
        // sysctls safe list grows at v1.27, v1.29, v1.32.
        (
            baseline(Version::V1(31)),
            json!({"spec": {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "1"}]}}}),
            &[Sysctls],
        ),
        (
            baseline(Version::V1(32)),
            json!({"spec": {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_rmem", "value": "1"}]}}}),
            &[],
        ),
        (
            baseline(Version::V1(26)),
            json!({"spec": {"securityContext": {"sysctls": [{"name": "net.ipv4.ip_local_reserved_ports", "value": "1"}]}}}),
            &[Sysctls],
        ),
        (
            baseline(Version::V1(28)),
            json!({"spec": {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_fin_timeout", "value": "1"}]}}}),
            &[Sysctls],
        ),
        // SELinux container_engine_t from v1.31.
        (
            baseline(Version::V1(30)),
            json!({"spec": {"securityContext": {"seLinuxOptions": {"type": "container_engine_t"}}}}),
            &[SeLinuxOptions],
        ),
        (
            baseline(Version::V1(31)),
            json!({"spec": {"securityContext": {"seLinuxOptions": {"type": "container_engine_t"}}}}),
            &[],
        ),
        // Future versions clamp to the newest known.
        (
            baseline(Version::V1(40)),
            json!({"spec": {"securityContext": {"sysctls": [{"name": "net.ipv4.tcp_wmem", "value": "1"}]}}}),
            &[],
        ),
    ];
    for (policy, patch, want) in cases {
        let (meta, spec) = pod(&patch);
        let got: Vec<CheckId> = check_pod(policy, &meta, &spec)
            .into_iter()
            .map(|r| r.id)
            .collect();
        assert_eq!(got, want, "{policy} {patch}");
    }
}

#[test]
fn seccomp_annotation_detail() {
    let (meta, spec) = pod(&json!({"metadata": {"annotations": {
        "seccomp.security.alpha.kubernetes.io/pod": "unconfined",
        "container.seccomp.security.alpha.kubernetes.io/a": "bad\"value",
    }}}));
    let results = check_pod(Policy::new(Level::Baseline, Version::V1(18)), &meta, &spec);
    assert_eq!(
        results[0].forbidden_detail,
        r#"forbidden annotations container.seccomp.security.alpha.kubernetes.io/a="bad\"value", seccomp.security.alpha.kubernetes.io/pod="unconfined""#
    );
}

#[test]
fn registry_order_and_overrides() {
    use CheckId::*;
    assert_eq!(checks_for(Policy::latest(Level::Privileged)), vec![]);
    assert_eq!(
        checks_for(Policy::latest(Level::Baseline)),
        vec![
            AppArmorProfile,
            CapabilitiesBaseline,
            HostNamespaces,
            HostPathVolumes,
            HostPorts,
            Privileged,
            ProcMount,
            SeLinuxOptions,
            SeccompProfileBaseline,
            Sysctls,
            WindowsHostProcess,
        ]
    );
    assert_eq!(
        checks_for(Policy::latest(Level::Restricted)),
        vec![
            AppArmorProfile,
            HostNamespaces,
            HostPorts,
            Privileged,
            ProcMount,
            SeLinuxOptions,
            Sysctls,
            WindowsHostProcess,
            AllowPrivilegeEscalation,
            CapabilitiesRestricted,
            RestrictedVolumes,
            RunAsNonRoot,
            RunAsUser,
            SeccompProfileRestricted,
        ]
    );
    assert_eq!(
        checks_for(Policy::new(Level::Restricted, Version::V1(0))),
        vec![
            AppArmorProfile,
            CapabilitiesBaseline,
            HostNamespaces,
            HostPorts,
            Privileged,
            ProcMount,
            SeLinuxOptions,
            SeccompProfileBaseline,
            Sysctls,
            WindowsHostProcess,
            RestrictedVolumes,
            RunAsNonRoot,
        ]
    );
    // The registry is sorted by upstream ID within each level.
    let ids: Vec<&str> = REGISTRY
        .iter()
        .filter(|e| e.level == Level::Baseline)
        .map(|e| e.id.as_str())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
    let ids: Vec<&str> = REGISTRY
        .iter()
        .filter(|e| e.level == Level::Restricted)
        .map(|e| e.id.as_str())
        .collect();
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(ids, sorted);
}

#[test]
fn template_entry_matches_pod_entry() {
    let (meta, spec) =
        pod(&json!({"spec": {"hostNetwork": true, "securityContext": {"runAsNonRoot": null}}}));
    let policy = Policy::latest(Level::Restricted);
    assert_eq!(
        check_pod_template(policy, &meta, &spec),
        check_pod(policy, &meta, &spec)
    );
    assert_eq!(check_pod_template(policy, &meta, &spec).len(), 2);
}

#[test]
fn go_quote_escapes_like_strconv_quote() {
    let cases = [
        ("plain", r#""plain""#),
        ("a\"b", r#""a\"b""#),
        ("back\\slash", r#""back\\slash""#),
        ("tab\tnl\n", r#""tab\tnl\n""#),
        ("\u{1}", r#""\x01""#),
        ("ünï", "\"ünï\""),
    ];
    for (input, want) in cases {
        assert_eq!(go_quote(input), want, "{input:?}");
    }
}
