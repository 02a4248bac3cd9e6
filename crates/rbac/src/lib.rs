//! The pure core of Kubernetes RBAC (1.33 semantics), independent of the
//! apiserver: no I/O, no clock, no global state.
//!
//! - [`rule`]: one `PolicyRule` against one [`Request`] (verbs, groups,
//!   resources incl. `*` and `*/subresource`, resourceNames, URLs).
//! - [`RbacIndex`]: the authorizer over a snapshot of Roles, ClusterRoles
//!   and bindings, indexed by subject; also the rules for
//!   SelfSubjectRulesReview and the escalation check against a user's rules.
//! - [`aggregate`]: the rules of aggregated ClusterRoles.
//! - [`covers`] / [`escalation_message`]: escalation prevention.
//! - [`bootstrap_cluster_roles`] & co.: the default policy, as data;
//!   [`reconcile`] & co.: bringing stored objects up to it without
//!   clobbering user edits.
//!
//! `system:masters` is the caller's business (the apiserver treats its
//! members as superusers before asking RBAC), as upstream.

mod aggregate;
mod bootstrap;
mod escalation;
mod index;
mod reconcile;
mod request;
pub mod rule;
#[cfg(test)]
mod test_rules;

pub use aggregate::{aggregate, selector_matches};
pub use bootstrap::{
    bootstrap_cluster_role_bindings, bootstrap_cluster_roles, bootstrap_role_bindings,
    bootstrap_roles, AGGREGATE_TO_ADMIN, AGGREGATE_TO_EDIT, AGGREGATE_TO_VIEW,
    CONTROLLER_ROLE_PREFIX, node_rules,
};
pub use escalation::{
    bind_request, breakdown_rule, compact_rules, covers, escalate_request, escalation_message,
};
pub use index::{RbacIndex, SubjectRules};
pub use reconcile::{
    reconcile, reconcile_cluster_role_binding, reconcile_role, reconcile_role_binding,
    BindingChange,
};
pub use request::{
    service_account_username, Decision, Request, User, ALL_AUTHENTICATED, ALL_SERVICE_ACCOUNTS,
    ALL_UNAUTHENTICATED, AUTOUPDATE_ANNOTATION, BOOTSTRAPPING_LABEL, BOOTSTRAPPING_LABEL_VALUE,
    RBAC_GROUP, SERVICE_ACCOUNT_USER_PREFIX, SYSTEM_MASTERS,
};
pub use rule::{compact_string, rule_allows, rules_allow};
