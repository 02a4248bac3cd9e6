//! The default RBAC policy the apiserver creates (and reconciles) at
//! start-up, as data: upstream `plugin/pkg/auth/authorizer/rbac/bootstrappolicy`
//! (`policy.go`, `controller_policy.go`, `namespace_policy.go`) for
//! Kubernetes 1.33 with its default feature gates. Every object carries the
//! label `kubernetes.io/bootstrapping: rbac-defaults` and the annotation
//! `rbac.authorization.kubernetes.io/autoupdate: "true"`; rule fields are
//! sorted as upstream's rule builder sorts them.

mod cluster_roles;
mod controller_roles;
mod namespace_roles;

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef,
    Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::request::{
    AUTOUPDATE_ANNOTATION, BOOTSTRAPPING_LABEL, BOOTSTRAPPING_LABEL_VALUE, RBAC_GROUP,
};

pub use cluster_roles::{AGGREGATE_TO_ADMIN, AGGREGATE_TO_EDIT, AGGREGATE_TO_VIEW};

/// Prefix of the per-controller ClusterRoles (`system:controller:<name>`),
/// each bound to the ServiceAccount `kube-system/<name>`.
pub const CONTROLLER_ROLE_PREFIX: &str = "system:controller:";

/// Every default ClusterRole: the general ones, then the controllers'.
pub fn bootstrap_cluster_roles() -> Vec<ClusterRole> {
    let mut roles = cluster_roles::cluster_roles();
    roles.extend(controller_roles::controller_roles());
    roles
}

/// Every default ClusterRoleBinding: the general ones, then the controllers'.
pub fn bootstrap_cluster_role_bindings() -> Vec<ClusterRoleBinding> {
    let mut bindings = cluster_roles::cluster_role_bindings();
    bindings.extend(controller_roles::controller_role_bindings());
    bindings
}

/// Default Roles in `kube-system` and `kube-public`.
pub fn bootstrap_roles() -> Vec<Role> {
    namespace_roles::roles()
}

/// Default RoleBindings in `kube-system` and `kube-public`.
pub fn bootstrap_role_bindings() -> Vec<RoleBinding> {
    namespace_roles::role_bindings()
}

// ---- builders (upstream `rbacv1helpers.NewRule(...)...RuleOrDie()`) ----

pub(crate) const READ: &[&str] = &["get", "list", "watch"];
pub(crate) const READ_WRITE: &[&str] = &[
    "get",
    "list",
    "watch",
    "create",
    "update",
    "patch",
    "delete",
    "deletecollection",
];
pub(crate) const WRITE: &[&str] = &["create", "update", "patch", "delete", "deletecollection"];
pub(crate) const READ_UPDATE: &[&str] = &["get", "list", "watch", "update", "patch"];

const LEGACY: &str = "";
const EVENTS_GROUP: &str = "events.k8s.io";

fn sorted(v: &[&str]) -> Vec<String> {
    let mut out: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    out.sort();
    out
}

fn sorted_opt(v: &[&str]) -> Option<Vec<String>> {
    if v.is_empty() {
        None
    } else {
        Some(sorted(v))
    }
}

/// `verbs` on `resources` in `groups`.
pub(crate) fn rule(verbs: &[&str], groups: &[&str], resources: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: sorted(verbs),
        api_groups: sorted_opt(groups),
        resources: sorted_opt(resources),
        ..Default::default()
    }
}

/// [`rule`] restricted to `names`.
pub(crate) fn named(
    verbs: &[&str],
    groups: &[&str],
    resources: &[&str],
    names: &[&str],
) -> PolicyRule {
    PolicyRule {
        resource_names: sorted_opt(names),
        ..rule(verbs, groups, resources)
    }
}

/// `verbs` on non-resource `urls`.
pub(crate) fn urls(verbs: &[&str], urls: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: sorted(verbs),
        non_resource_urls: sorted_opt(urls),
        ..Default::default()
    }
}

/// Upstream `eventsRule()`: write events in both event groups.
pub(crate) fn events_rule() -> PolicyRule {
    rule(
        &["create", "update", "patch"],
        &[LEGACY, EVENTS_GROUP],
        &["events"],
    )
}

fn meta(name: &str, namespace: Option<&str>, extra_labels: &[(&str, &str)]) -> ObjectMeta {
    let mut labels = BTreeMap::from([(
        BOOTSTRAPPING_LABEL.to_string(),
        BOOTSTRAPPING_LABEL_VALUE.to_string(),
    )]);
    labels.extend(
        extra_labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string())),
    );
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some(labels),
        annotations: Some(BTreeMap::from([(
            AUTOUPDATE_ANNOTATION.to_string(),
            "true".to_string(),
        )])),
        ..Default::default()
    }
}

pub(crate) fn cluster_role(name: &str, rules: Vec<PolicyRule>) -> ClusterRole {
    ClusterRole {
        metadata: meta(name, None, &[]),
        rules: Some(rules),
        aggregation_rule: None,
    }
}

/// A ClusterRole with `labels` besides the bootstrapping one.
pub(crate) fn labelled_cluster_role(
    name: &str,
    labels: &[(&str, &str)],
    rules: Vec<PolicyRule>,
) -> ClusterRole {
    ClusterRole {
        metadata: meta(name, None, labels),
        rules: Some(rules),
        aggregation_rule: None,
    }
}

/// An aggregated ClusterRole (no rules of its own) selecting `selector_label: "true"`.
pub(crate) fn aggregated_cluster_role(
    name: &str,
    labels: &[(&str, &str)],
    selector_label: &str,
) -> ClusterRole {
    ClusterRole {
        metadata: meta(name, None, labels),
        rules: None,
        aggregation_rule: Some(AggregationRule {
            cluster_role_selectors: Some(vec![LabelSelector {
                match_labels: Some(BTreeMap::from([(
                    selector_label.to_string(),
                    "true".to_string(),
                )])),
                match_expressions: None,
            }]),
        }),
    }
}

pub(crate) fn role(name: &str, namespace: &str, rules: Vec<PolicyRule>) -> Role {
    Role {
        metadata: meta(name, Some(namespace), &[]),
        rules: Some(rules),
    }
}

pub(crate) fn group(name: &str) -> Subject {
    Subject {
        kind: "Group".into(),
        api_group: Some(RBAC_GROUP.into()),
        name: name.into(),
        namespace: None,
    }
}

pub(crate) fn user(name: &str) -> Subject {
    Subject {
        kind: "User".into(),
        api_group: Some(RBAC_GROUP.into()),
        name: name.into(),
        namespace: None,
    }
}

pub(crate) fn service_account(namespace: &str, name: &str) -> Subject {
    Subject {
        kind: "ServiceAccount".into(),
        api_group: None,
        name: name.into(),
        namespace: Some(namespace.into()),
    }
}

fn role_ref(kind: &str, name: &str) -> RoleRef {
    RoleRef {
        api_group: RBAC_GROUP.into(),
        kind: kind.into(),
        name: name.into(),
    }
}

/// Upstream `NewClusterBinding(role)`: the binding is named after the ClusterRole.
pub(crate) fn cluster_binding(role: &str, subjects: Vec<Subject>) -> ClusterRoleBinding {
    named_cluster_binding(role, role, subjects)
}

pub(crate) fn named_cluster_binding(
    name: &str,
    role: &str,
    subjects: Vec<Subject>,
) -> ClusterRoleBinding {
    ClusterRoleBinding {
        metadata: meta(name, None, &[]),
        role_ref: role_ref("ClusterRole", role),
        subjects: if subjects.is_empty() {
            None
        } else {
            Some(subjects)
        },
    }
}

/// A RoleBinding named `name` in `namespace` to the Role `role`.
pub(crate) fn role_binding(
    name: &str,
    namespace: &str,
    role: &str,
    subjects: Vec<Subject>,
) -> RoleBinding {
    RoleBinding {
        metadata: meta(name, Some(namespace), &[]),
        role_ref: role_ref("Role", role),
        subjects: Some(subjects),
    }
}

/// The rules of `system:node`, which the Node authorizer grants every
/// kubelet (upstream `NodeRules()`); the authorizer narrows secrets,
/// configmaps, claims, volumes, tokens and leases to the node's own.
pub fn node_rules() -> Vec<PolicyRule> {
    cluster_roles::node_rules()
}
