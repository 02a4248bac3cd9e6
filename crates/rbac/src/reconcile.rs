//! Start-up reconciliation of the bootstrap policy without clobbering user
//! edits (upstream `component-helpers/auth/rbac/reconciliation`, in its
//! "union" mode as the apiserver's `ensure-rbac` post-start hook runs it):
//! a missing object is created; an object annotated
//! `rbac.authorization.kubernetes.io/autoupdate: "false"` is left alone;
//! otherwise missing labels, annotations, rules (as atoms), aggregation
//! selectors and subjects are added and everything already there is kept
//! (existing label and annotation values win).

use std::collections::BTreeMap;

use k8s_openapi::api::rbac::v1::{
    AggregationRule, ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

use crate::escalation::covers;
use crate::request::AUTOUPDATE_ANNOTATION;

/// What to write for a binding. `Recreate`: the role reference differs and
/// is immutable, so delete the existing binding and create this one.
#[derive(Debug, Clone, PartialEq)]
pub enum BindingChange<T> {
    Create(T),
    Update(T),
    Recreate(T),
}

impl<T> BindingChange<T> {
    pub fn object(&self) -> &T {
        match self {
            BindingChange::Create(t) | BindingChange::Update(t) | BindingChange::Recreate(t) => t,
        }
    }
}

fn protected(meta: &ObjectMeta) -> bool {
    meta.annotations
        .as_ref()
        .and_then(|a| a.get(AUTOUPDATE_ANNOTATION))
        .is_some_and(|v| v == "false")
}

/// Expected entries added, existing values kept. `None` only when both are.
fn merge(
    expected: &Option<BTreeMap<String, String>>,
    existing: &Option<BTreeMap<String, String>>,
) -> Option<BTreeMap<String, String>> {
    if expected.is_none() && existing.is_none() {
        return None;
    }
    let mut out = expected.clone().unwrap_or_default();
    out.extend(existing.clone().unwrap_or_default());
    Some(out)
}

fn map_eq(a: &Option<BTreeMap<String, String>>, b: &Option<BTreeMap<String, String>>) -> bool {
    a.as_ref().filter(|m| !m.is_empty()) == b.as_ref().filter(|m| !m.is_empty())
}

/// Merges labels and annotations into `meta`; true if anything changed.
fn merge_meta(meta: &mut ObjectMeta, expected: &ObjectMeta) -> bool {
    let annotations = merge(&expected.annotations, &meta.annotations);
    let labels = merge(&expected.labels, &meta.labels);
    let changed = !map_eq(&annotations, &meta.annotations) || !map_eq(&labels, &meta.labels);
    meta.annotations = annotations;
    meta.labels = labels;
    changed
}

/// Missing rules of `expected` (as atoms) appended to `rules`; true if any.
fn add_missing_rules(rules: &mut Option<Vec<PolicyRule>>, expected: &[PolicyRule]) -> bool {
    match covers(rules.as_deref().unwrap_or(&[]), expected) {
        Ok(()) => false,
        Err(missing) => {
            rules.get_or_insert_with(Vec::new).extend(missing);
            true
        }
    }
}

fn selector_eq(a: &LabelSelector, b: &LabelSelector) -> bool {
    let norm = |s: &LabelSelector| {
        (
            s.match_labels.clone().unwrap_or_default(),
            s.match_expressions
                .iter()
                .flatten()
                .map(|e| {
                    (
                        e.key.clone(),
                        e.operator.clone(),
                        e.values.clone().unwrap_or_default(),
                    )
                })
                .collect::<Vec<_>>(),
        )
    };
    norm(a) == norm(b)
}

/// Upstream `computeReconciledRole` in union mode (for a ClusterRole).
/// `None` = nothing to write (up to date, or protected by
/// `autoupdate: "false"`); otherwise the object to create (when `existing`
/// is `None`) or to update.
pub fn reconcile(existing: Option<&ClusterRole>, default: &ClusterRole) -> Option<ClusterRole> {
    let Some(existing) = existing else {
        return Some(default.clone());
    };
    if protected(&existing.metadata) {
        return None;
    }
    let mut out = existing.clone();
    let mut changed = merge_meta(&mut out.metadata, &default.metadata);
    changed |= add_missing_rules(&mut out.rules, default.rules.as_deref().unwrap_or(&[]));

    match (&default.aggregation_rule, &existing.aggregation_rule) {
        (None, Some(_)) => {
            out.aggregation_rule = None;
            changed = true;
        }
        (Some(expected), existing_rule) => {
            let have: Vec<LabelSelector> = existing_rule
                .as_ref()
                .and_then(|a| a.cluster_role_selectors.clone())
                .unwrap_or_default();
            let missing: Vec<LabelSelector> = expected
                .cluster_role_selectors
                .iter()
                .flatten()
                .filter(|s| !have.iter().any(|h| selector_eq(h, s)))
                .cloned()
                .collect();
            if !missing.is_empty() {
                let mut selectors = have;
                selectors.extend(missing);
                out.aggregation_rule = Some(AggregationRule {
                    cluster_role_selectors: Some(selectors),
                });
                changed = true;
            }
        }
        (None, None) => {}
    }
    changed.then_some(out)
}

/// [`reconcile`] for a namespaced Role (no aggregation).
pub fn reconcile_role(existing: Option<&Role>, default: &Role) -> Option<Role> {
    let Some(existing) = existing else {
        return Some(default.clone());
    };
    if protected(&existing.metadata) {
        return None;
    }
    let mut out = existing.clone();
    let mut changed = merge_meta(&mut out.metadata, &default.metadata);
    changed |= add_missing_rules(&mut out.rules, default.rules.as_deref().unwrap_or(&[]));
    changed.then_some(out)
}

fn add_missing_subjects(
    subjects: &mut Option<Vec<Subject>>,
    expected: &Option<Vec<Subject>>,
) -> bool {
    let mut changed = false;
    for s in expected.iter().flatten() {
        let have = subjects.get_or_insert_with(Vec::new);
        if !have.contains(s) {
            have.push(s.clone());
            changed = true;
        }
    }
    changed
}

/// Upstream `computeReconciledRoleBinding` in union mode (for a
/// ClusterRoleBinding): a different roleRef means recreate; otherwise
/// missing labels, annotations and subjects are added.
pub fn reconcile_cluster_role_binding(
    existing: Option<&ClusterRoleBinding>,
    default: &ClusterRoleBinding,
) -> Option<BindingChange<ClusterRoleBinding>> {
    let Some(existing) = existing else {
        return Some(BindingChange::Create(default.clone()));
    };
    if protected(&existing.metadata) {
        return None;
    }
    if existing.role_ref != default.role_ref {
        return Some(BindingChange::Recreate(default.clone()));
    }
    let mut out = existing.clone();
    let mut changed = merge_meta(&mut out.metadata, &default.metadata);
    changed |= add_missing_subjects(&mut out.subjects, &default.subjects);
    changed.then_some(BindingChange::Update(out))
}

/// [`reconcile_cluster_role_binding`] for a namespaced RoleBinding.
pub fn reconcile_role_binding(
    existing: Option<&RoleBinding>,
    default: &RoleBinding,
) -> Option<BindingChange<RoleBinding>> {
    let Some(existing) = existing else {
        return Some(BindingChange::Create(default.clone()));
    };
    if protected(&existing.metadata) {
        return None;
    }
    if existing.role_ref != default.role_ref {
        return Some(BindingChange::Recreate(default.clone()));
    }
    let mut out = existing.clone();
    let mut changed = merge_meta(&mut out.metadata, &default.metadata);
    changed |= add_missing_subjects(&mut out.subjects, &default.subjects);
    changed.then_some(BindingChange::Update(out))
}
