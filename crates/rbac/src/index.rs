//! The RBAC authorizer over an immutable snapshot of Roles, ClusterRoles
//! and their bindings (upstream `plugin/pkg/auth/authorizer/rbac/rbac.go` +
//! `DefaultRuleResolver` in `pkg/registry/rbac/validation/rule.go`).
//!
//! Upstream lists every binding on every check. Here bindings are indexed
//! by subject (user name, group name; a ServiceAccount subject is indexed
//! as its user name `system:serviceaccount:<ns>:<name>`), per namespace for
//! RoleBindings, and role references are resolved once at build time, so a
//! check touches only the bindings that name the user or one of its groups.
//! Rebuild the index when any RBAC object changes (cheap: one pass, rule
//! lists shared by `Arc`).
//!
//! Order and texts follow upstream: ClusterRoleBindings first, then the
//! RoleBindings of the request's namespace (each sorted by name here, as
//! upstream's order is the cache's); the first allowing rule wins with
//! `RBAC: allowed by ClusterRoleBinding "cluster-admin" of ClusterRole
//! "cluster-admin" to Group "system:masters"`.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::api::authorization::v1::{NonResourceRule, ResourceRule};
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};

use crate::escalation::{covers, escalation_message};
use crate::request::{service_account_username, Decision, Request, User};
use crate::rule::{aggregate_errors, go_quote, list, rule_allows};

type Rules = Arc<[PolicyRule]>;

#[derive(Debug)]
struct Binding {
    /// `ClusterRoleBinding "name"` or `RoleBinding "name/namespace"`.
    describe: String,
    /// The namespace a ServiceAccount subject without one defaults to.
    namespace: String,
    role_ref: RoleRef,
    subjects: Vec<Subject>,
    rules: Result<Rules, String>,
}

/// (binding index, subject index within the binding).
type Hit = (u32, u32);

#[derive(Debug, Default)]
struct SubjectIndex {
    users: HashMap<String, Vec<Hit>>,
    groups: HashMap<String, Vec<Hit>>,
}

impl SubjectIndex {
    fn collect(&self, user: &User, out: &mut Vec<Hit>) {
        if let Some(hits) = self.users.get(user.name.as_str()) {
            out.extend_from_slice(hits);
        }
        for g in &user.groups {
            if let Some(hits) = self.groups.get(g.as_str()) {
                out.extend_from_slice(hits);
            }
        }
    }
}

/// The rules a user holds in a namespace, for SelfSubjectRulesReview
/// (`kubectl auth can-i --list`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct SubjectRules {
    /// Rules with `resources` (cluster-wide ones first).
    pub resource_rules: Vec<ResourceRule>,
    /// Rules with `nonResourceURLs`.
    pub non_resource_rules: Vec<NonResourceRule>,
    /// Some binding of the user could not be resolved (missing role).
    pub incomplete: bool,
    /// Those resolution errors, upstream's aggregate text ("" when complete).
    pub evaluation_error: String,
}

/// The authorizer's view of all RBAC objects; see the module docs.
#[derive(Debug, Default)]
pub struct RbacIndex {
    roles: HashMap<(String, String), Rules>,
    cluster_roles: HashMap<String, Rules>,
    bindings: Vec<Binding>,
    cluster: SubjectIndex,
    namespaced: HashMap<String, SubjectIndex>,
}

fn name_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

fn namespace_of(meta: &k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("")
}

fn rules_of(rules: &Option<Vec<PolicyRule>>) -> Rules {
    rules.as_deref().unwrap_or(&[]).into()
}

impl RbacIndex {
    /// Builds the index. Accepts owned objects or `Arc`s (anything that
    /// borrows as the k8s-openapi type).
    pub fn new<R, RB, CR, CRB>(
        roles: &[R],
        role_bindings: &[RB],
        cluster_roles: &[CR],
        cluster_role_bindings: &[CRB],
    ) -> Self
    where
        R: Borrow<Role>,
        RB: Borrow<RoleBinding>,
        CR: Borrow<ClusterRole>,
        CRB: Borrow<ClusterRoleBinding>,
    {
        let mut index = RbacIndex::default();
        for r in roles {
            let r = r.borrow();
            index.roles.insert(
                (
                    namespace_of(&r.metadata).to_string(),
                    name_of(&r.metadata).to_string(),
                ),
                rules_of(&r.rules),
            );
        }
        for cr in cluster_roles {
            let cr = cr.borrow();
            index
                .cluster_roles
                .insert(name_of(&cr.metadata).to_string(), rules_of(&cr.rules));
        }

        let mut crbs: Vec<&ClusterRoleBinding> =
            cluster_role_bindings.iter().map(Borrow::borrow).collect();
        crbs.sort_by(|a, b| name_of(&a.metadata).cmp(name_of(&b.metadata)));
        for crb in crbs {
            let name = name_of(&crb.metadata);
            let binding = Binding {
                describe: format!("ClusterRoleBinding {}", go_quote(name)),
                namespace: String::new(),
                rules: index.role_ref_rules(&crb.role_ref, ""),
                role_ref: crb.role_ref.clone(),
                subjects: crb.subjects.clone().unwrap_or_default(),
            };
            let idx = index.bindings.len();
            index.bindings.push(binding);
            let (bindings, cluster) = (&index.bindings, &mut index.cluster);
            index_subjects(cluster, idx, &bindings[idx]);
        }

        let mut rbs: Vec<&RoleBinding> = role_bindings.iter().map(Borrow::borrow).collect();
        rbs.sort_by(|a, b| {
            (namespace_of(&a.metadata), name_of(&a.metadata))
                .cmp(&(namespace_of(&b.metadata), name_of(&b.metadata)))
        });
        for rb in rbs {
            let (name, ns) = (name_of(&rb.metadata), namespace_of(&rb.metadata));
            if ns.is_empty() {
                continue;
            }
            let binding = Binding {
                describe: format!("RoleBinding {}", go_quote(&format!("{name}/{ns}"))),
                namespace: ns.to_string(),
                rules: index.role_ref_rules(&rb.role_ref, ns),
                role_ref: rb.role_ref.clone(),
                subjects: rb.subjects.clone().unwrap_or_default(),
            };
            let idx = index.bindings.len();
            index.bindings.push(binding);
            let sub = index.namespaced.entry(ns.to_string()).or_default();
            index_subjects(sub, idx, &index.bindings[idx]);
        }
        index
    }

    /// The rules a role reference grants (upstream `GetRoleReferenceRules`);
    /// `binding_namespace` is empty for a ClusterRoleBinding. Errors carry
    /// upstream's texts (`clusterrole.rbac.authorization.k8s.io "x" not found`).
    pub fn role_ref_rules(
        &self,
        role_ref: &RoleRef,
        binding_namespace: &str,
    ) -> Result<Arc<[PolicyRule]>, String> {
        match role_ref.kind.as_str() {
            "Role" => self
                .roles
                .get(&(binding_namespace.to_string(), role_ref.name.clone()))
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "role.rbac.authorization.k8s.io {} not found",
                        go_quote(&role_ref.name)
                    )
                }),
            "ClusterRole" => self
                .cluster_roles
                .get(role_ref.name.as_str())
                .cloned()
                .ok_or_else(|| {
                    format!(
                        "clusterrole.rbac.authorization.k8s.io {} not found",
                        go_quote(&role_ref.name)
                    )
                }),
            other => Err(format!(
                "unsupported role reference kind: {}",
                go_quote(other)
            )),
        }
    }

    /// The bindings that apply to `user` in `namespace` (cluster ones
    /// first, then the namespace's; each with its first matching subject).
    fn applicable(&self, user: &User, namespace: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        self.cluster.collect(user, &mut hits);
        if !namespace.is_empty() {
            if let Some(ns) = self.namespaced.get(namespace) {
                ns.collect(user, &mut hits);
            }
        }
        hits.sort_unstable();
        hits.dedup_by_key(|h| h.0);
        hits
    }

    fn describe(&self, (b, s): Hit) -> String {
        let binding = &self.bindings[b as usize];
        let subject = binding
            .subjects
            .get(s as usize)
            .map(|s| describe_subject(s, &binding.namespace))
            .unwrap_or_default();
        format!(
            "{} of {} {} to {}",
            binding.describe,
            binding.role_ref.kind,
            go_quote(&binding.role_ref.name),
            subject
        )
    }

    /// Upstream `RBACAuthorizer.Authorize`.
    pub fn authorize(&self, user: &User, request: &Request) -> Decision {
        let mut errors: Vec<&str> = Vec::new();
        for hit in self.applicable(user, request.effective_namespace()) {
            match &self.bindings[hit.0 as usize].rules {
                Ok(rules) => {
                    if rules.iter().any(|r| rule_allows(r, request)) {
                        return Decision::Allow(format!("RBAC: allowed by {}", self.describe(hit)));
                    }
                }
                Err(e) => errors.push(e),
            }
        }
        if errors.is_empty() {
            Decision::NoOpinion(String::new())
        } else {
            Decision::NoOpinion(format!("RBAC: {}", aggregate_errors(&errors)))
        }
    }

    /// Every rule `user` holds in `namespace` (cluster-wide ones first) and
    /// the resolution errors met (upstream `RulesFor`). Used for escalation
    /// checks.
    pub fn policy_rules_for(&self, user: &User, namespace: &str) -> (Vec<PolicyRule>, Vec<String>) {
        let mut rules = Vec::new();
        let mut errors = Vec::new();
        for (b, _) in self.applicable(user, namespace) {
            match &self.bindings[b as usize].rules {
                Ok(r) => rules.extend(r.iter().cloned()),
                Err(e) => errors.push(e.clone()),
            }
        }
        (rules, errors)
    }

    /// The rules for a SelfSubjectRulesReview: each rule with resources
    /// becomes a resource rule, each with URLs a non-resource rule
    /// (upstream `RBACAuthorizer.RulesFor`; no merging or deduplication).
    pub fn rules_for(&self, user: &User, namespace: &str) -> SubjectRules {
        let (rules, errors) = self.policy_rules_for(user, namespace);
        let mut out = SubjectRules::default();
        for rule in rules {
            if !list(&rule.resources).is_empty() {
                out.resource_rules.push(ResourceRule {
                    verbs: rule.verbs.clone(),
                    api_groups: rule.api_groups.clone(),
                    resources: rule.resources.clone(),
                    resource_names: rule.resource_names.clone(),
                });
            }
            if !list(&rule.non_resource_urls).is_empty() {
                out.non_resource_rules.push(NonResourceRule {
                    verbs: rule.verbs.clone(),
                    non_resource_urls: rule.non_resource_urls.clone(),
                });
            }
        }
        if !errors.is_empty() {
            let refs: Vec<&str> = errors.iter().map(String::as_str).collect();
            out.incomplete = true;
            out.evaluation_error = aggregate_errors(&refs);
        }
        out
    }

    /// Upstream `ConfirmNoEscalation`: `Ok` when `user` already holds, in
    /// `namespace` (empty for cluster-scoped objects), every permission in
    /// `requested`; otherwise upstream's error message.
    pub fn confirm_no_escalation(
        &self,
        user: &User,
        namespace: &str,
        requested: &[PolicyRule],
    ) -> Result<(), String> {
        let (owner, errors) = self.policy_rules_for(user, namespace);
        covers(&owner, requested).map_err(|uncovered| escalation_message(user, &uncovered, &errors))
    }
}

fn index_subjects(index: &mut SubjectIndex, binding_idx: usize, binding: &Binding) {
    let b = binding_idx as u32;
    for (i, s) in binding.subjects.iter().enumerate() {
        let hit = (b, i as u32);
        match s.kind.as_str() {
            "User" => index.users.entry(s.name.clone()).or_default().push(hit),
            "Group" => index.groups.entry(s.name.clone()).or_default().push(hit),
            "ServiceAccount" => {
                let ns = s
                    .namespace
                    .as_deref()
                    .filter(|n| !n.is_empty())
                    .unwrap_or(&binding.namespace);
                if !ns.is_empty() {
                    index
                        .users
                        .entry(service_account_username(ns, &s.name))
                        .or_default()
                        .push(hit);
                }
            }
            _ => {}
        }
    }
}

/// Upstream `describeSubject` (note its `name/namespace` order for service accounts).
fn describe_subject(s: &Subject, binding_namespace: &str) -> String {
    match s.kind.as_str() {
        "ServiceAccount" => {
            let ns = s
                .namespace
                .as_deref()
                .filter(|n| !n.is_empty())
                .unwrap_or(binding_namespace);
            format!("{} {}", s.kind, go_quote(&format!("{}/{}", s.name, ns)))
        }
        _ => format!("{} {}", s.kind, go_quote(&s.name)),
    }
}
