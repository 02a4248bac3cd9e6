//! The RBAC objects scenario e stores, as plain data (k8s-openapi types):
//! 1,000 RoleBindings spread over 100 namespaces binding users, groups and
//! service accounts to the `view` / `edit` ClusterRoles, and in one
//! namespace the Role and binding that let the three benchmark identities
//! read a ConfigMap. The same objects feed the API server (as JSON) and the
//! in-process authorizer micro-benchmark, so both views see one policy.

use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Namespaces holding RoleBindings.
pub const NAMESPACES: usize = 100;
/// RoleBindings per namespace (1,000 in all, the benchmark's own included).
pub const BINDINGS_PER_NAMESPACE: usize = 10;
/// Index of the namespace the measured requests read from.
const TARGET_INDEX: usize = 42;
/// The ConfigMap every measured GET reads.
pub const CONFIGMAP: &str = "bench-cm";
/// The service account whose tokens authenticate the JWT variant.
pub const SERVICE_ACCOUNT: &str = "bench-sa";
/// Grants `get configmaps`; bound last (by name) in the target namespace.
const READER_ROLE: &str = "bench-configmap-reader";
const READER_BINDING: &str = "zz-bench-readers";
/// Grants only `get pods`: bound to the benchmark identities' groups, so
/// RBAC evaluates (and rejects) a rule of theirs before the allowing one.
const DECOY_ROLE: &str = "bench-pod-reader";

pub fn namespace(i: usize) -> String {
    format!("bench-auth-{i:03}")
}

/// Where the measured requests go.
pub fn target_namespace() -> String {
    namespace(TARGET_INDEX)
}

/// The three authenticated identities (x509 user, static-token user,
/// service account) and their groups as the API server sees them.
pub struct Identities;

impl Identities {
    pub const CERT_USER: &'static str = "bench-cert-user";
    pub const CERT_GROUP: &'static str = "bench:cert-users";
    pub const TOKEN_USER: &'static str = "bench-token-user";
    pub const TOKEN_GROUP: &'static str = "bench:token-users";

    /// `system:serviceaccount:<ns>:bench-sa`.
    pub fn service_account_user() -> String {
        rbac::service_account_username(&target_namespace(), SERVICE_ACCOUNT)
    }

    /// The groups a service account's token carries.
    pub fn service_account_groups() -> Vec<String> {
        vec![
            "system:serviceaccounts".into(),
            format!("system:serviceaccounts:{}", target_namespace()),
            "system:authenticated".into(),
        ]
    }
}

fn meta(namespace: &str, name: &str) -> ObjectMeta {
    ObjectMeta { name: Some(name.into()), namespace: Some(namespace.into()), ..Default::default() }
}

fn subject(kind: &str, name: &str, namespace: Option<&str>) -> Subject {
    Subject {
        kind: kind.into(),
        name: name.into(),
        namespace: namespace.map(str::to_string),
        api_group: (kind != "ServiceAccount").then(|| rbac::RBAC_GROUP.to_string()),
    }
}

fn role(namespace: &str, name: &str, resource: &str) -> Role {
    Role {
        metadata: meta(namespace, name),
        rules: Some(vec![PolicyRule {
            verbs: vec!["get".into()],
            api_groups: Some(vec![String::new()]),
            resources: Some(vec![resource.into()]),
            ..Default::default()
        }]),
    }
}

fn binding(namespace: &str, name: &str, kind: &str, role: &str, subjects: Vec<Subject>) -> RoleBinding {
    RoleBinding {
        metadata: meta(namespace, name),
        role_ref: RoleRef { api_group: rbac::RBAC_GROUP.into(), kind: kind.into(), name: role.into() },
        subjects: Some(subjects),
    }
}

/// The Roles (both in the target namespace).
pub fn roles() -> Vec<Role> {
    let ns = target_namespace();
    vec![role(&ns, READER_ROLE, "configmaps"), role(&ns, DECOY_ROLE, "pods")]
}

/// Exactly `NAMESPACES × BINDINGS_PER_NAMESPACE` RoleBindings. Fillers bind
/// one to three users, groups or service accounts each to `view` (even
/// index) or `edit` (odd); in the target namespace `rb-03` binds the
/// benchmark identities' groups to the decoy Role and the last binding
/// grants the identities themselves the reader Role.
pub fn role_bindings() -> Vec<RoleBinding> {
    let target = target_namespace();
    let mut out = Vec::with_capacity(NAMESPACES * BINDINGS_PER_NAMESPACE);
    for i in 0..NAMESPACES {
        let ns = namespace(i);
        for j in 0..BINDINGS_PER_NAMESPACE {
            let name = format!("rb-{j:02}");
            if ns == target && j == BINDINGS_PER_NAMESPACE - 1 {
                out.push(binding(
                    &ns,
                    READER_BINDING,
                    "Role",
                    READER_ROLE,
                    vec![
                        subject("User", Identities::CERT_USER, None),
                        subject("User", Identities::TOKEN_USER, None),
                        subject("ServiceAccount", SERVICE_ACCOUNT, Some(&ns)),
                    ],
                ));
                continue;
            }
            if ns == target && j == 3 {
                out.push(binding(
                    &ns,
                    &name,
                    "Role",
                    DECOY_ROLE,
                    vec![
                        subject("Group", Identities::CERT_GROUP, None),
                        subject("Group", Identities::TOKEN_GROUP, None),
                        subject("Group", &format!("system:serviceaccounts:{ns}"), None),
                    ],
                ));
                continue;
            }
            let subjects = (0..=(i + j) % 3)
                .map(|k| match (j + k) % 3 {
                    0 => subject("User", &format!("user-{i}-{j}-{k}"), None),
                    1 => subject("Group", &format!("group-{}", (i * 7 + j + k) % 50), None),
                    _ => subject("ServiceAccount", &format!("sa-{j}-{k}"), Some(&ns)),
                })
                .collect();
            let cluster_role = if j % 2 == 0 { "view" } else { "edit" };
            out.push(binding(&ns, &name, "ClusterRole", cluster_role, subjects));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn one_thousand_bindings_one_of_them_for_the_identities() {
        let bindings = role_bindings();
        assert_eq!(bindings.len(), 1000);
        let readers: Vec<_> = bindings.iter().filter(|b| b.role_ref.name == READER_ROLE).collect();
        assert_eq!(readers.len(), 1);
        assert_eq!(readers[0].metadata.namespace.as_deref(), Some(target_namespace().as_str()));
    }
}
