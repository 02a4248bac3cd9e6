//! Escalation prevention: a user may only create or update a Role /
//! ClusterRole, or bind one, if they already hold every permission it
//! grants (upstream `Covers` in `component-helpers/auth/rbac/validation`,
//! `CompactRules` and `ConfirmNoEscalation` in
//! `pkg/registry/rbac/validation`). The `escalate` and `bind` verbs and the
//! `system:masters` short-circuit are the caller's (see [`escalate_request`]
//! and [`bind_request`]).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::rbac::v1::{PolicyRule, RoleRef};

use crate::request::{Request, User, RBAC_GROUP};
use crate::rule::{
    aggregate_errors, compact_string, go_quote, go_quote_list, list, url_covers, ALL,
};

/// Splits a rule into atoms of one group, one resource, one verb and at
/// most one resource name (non-resource URLs: one URL and one verb).
pub fn breakdown_rule(rule: &PolicyRule) -> Vec<PolicyRule> {
    let one = |s: &String| Some(vec![s.clone()]);
    let mut atoms = Vec::new();
    for group in list(&rule.api_groups) {
        for resource in list(&rule.resources) {
            for verb in &rule.verbs {
                let base = PolicyRule {
                    api_groups: one(group),
                    resources: one(resource),
                    verbs: vec![verb.clone()],
                    ..Default::default()
                };
                let names = list(&rule.resource_names);
                if names.is_empty() {
                    atoms.push(base);
                } else {
                    atoms.extend(names.iter().map(|n| PolicyRule {
                        resource_names: one(n),
                        ..base.clone()
                    }));
                }
            }
        }
    }
    for url in list(&rule.non_resource_urls) {
        for verb in &rule.verbs {
            atoms.push(PolicyRule {
                non_resource_urls: one(url),
                verbs: vec![verb.clone()],
                ..Default::default()
            });
        }
    }
    atoms
}

/// Whether `owner` holds every permission in `requested`. `Err` carries the
/// uncovered atoms (see [`breakdown_rule`]) in order.
pub fn covers(owner: &[PolicyRule], requested: &[PolicyRule]) -> Result<(), Vec<PolicyRule>> {
    let uncovered: Vec<PolicyRule> = requested
        .iter()
        .flat_map(breakdown_rule)
        .filter(|atom| !owner.iter().any(|o| rule_covers(o, atom)))
        .collect();
    if uncovered.is_empty() {
        Ok(())
    } else {
        Err(uncovered)
    }
}

fn has(set: &[String], e: &str) -> bool {
    set.iter().any(|s| s == e)
}

fn has_all(set: &[String], wanted: &[String]) -> bool {
    wanted.iter().all(|w| has(set, w))
}

fn resources_cover_all(owner: &[String], wanted: &[String]) -> bool {
    if has(owner, ALL) || has_all(owner, wanted) {
        return true;
    }
    wanted.iter().all(|path| {
        has(owner, path)
            || match path.split_once('/') {
                Some((_, sub)) => has(owner, &format!("*/{sub}")),
                None => false,
            }
    })
}

/// `owner` (any shape) covers `atom` (one verb / resource / name or URL).
fn rule_covers(owner: &PolicyRule, atom: &PolicyRule) -> bool {
    let verbs = has(&owner.verbs, ALL) || has_all(&owner.verbs, &atom.verbs);
    let owner_groups = list(&owner.api_groups);
    let groups = has(owner_groups, ALL) || has_all(owner_groups, list(&atom.api_groups));
    let resources = resources_cover_all(list(&owner.resources), list(&atom.resources));
    let owner_urls = list(&owner.non_resource_urls);
    let urls = list(&atom.non_resource_urls)
        .iter()
        .all(|u| owner_urls.iter().any(|o| url_covers(o, u)));
    let owner_names = list(&owner.resource_names);
    let atom_names = list(&atom.resource_names);
    let names = if atom_names.is_empty() {
        owner_names.is_empty()
    } else {
        owner_names.is_empty() || has_all(owner_names, atom_names)
    };
    verbs && groups && resources && urls && names
}

/// Merges rules that have exactly one group and one resource and nothing
/// but verbs besides, by (group, resource); other rules pass through.
/// Upstream `CompactRules`, used to shorten the escalation message.
pub fn compact_rules(rules: &[PolicyRule]) -> Vec<PolicyRule> {
    let mut out = Vec::new();
    let mut simple: BTreeMap<(String, String), PolicyRule> = BTreeMap::new();
    for rule in rules {
        let groups = list(&rule.api_groups);
        let resources = list(&rule.resources);
        let is_simple = list(&rule.resource_names).is_empty()
            && list(&rule.non_resource_urls).is_empty()
            && groups.len() == 1
            && resources.len() == 1;
        if !is_simple {
            out.push(rule.clone());
            continue;
        }
        let key = (groups[0].clone(), resources[0].clone());
        match simple.get_mut(&key) {
            Some(existing) => existing.verbs.extend(rule.verbs.iter().cloned()),
            None => {
                simple.insert(key, rule.clone());
            }
        }
    }
    out.extend(simple.into_values());
    out
}

/// Upstream's escalation error text:
/// `user "x" (groups=["a" "b"]) is attempting to grant RBAC permissions not currently held:`
/// followed by one compacted rule per line, sorted and unique; then
/// `; resolution errors: [...]` when some of the user's bindings could not
/// be resolved.
pub fn escalation_message(
    user: &User,
    uncovered: &[PolicyRule],
    resolution_errors: &[String],
) -> String {
    let lines: BTreeSet<String> = compact_rules(uncovered)
        .iter()
        .map(compact_string)
        .collect();
    let lines: Vec<String> = lines.into_iter().collect();
    let mut msg = format!(
        "user {} (groups={}) is attempting to grant RBAC permissions not currently held:\n{}",
        go_quote(&user.name),
        go_quote_list(&user.groups),
        lines.join("\n")
    );
    if !resolution_errors.is_empty() {
        let errors: Vec<&str> = resolution_errors.iter().map(String::as_str).collect();
        msg.push_str(&format!(
            "; resolution errors: [{}]",
            aggregate_errors(&errors)
        ));
    }
    msg
}

/// The request a user must be allowed to escalate through a Role /
/// ClusterRole write without holding its permissions (upstream
/// `RoleEscalationAuthorized`): verb `escalate` on `roles` / `clusterroles`.
/// `kind` is `"Role"` or `"ClusterRole"`; `namespace` is empty for a ClusterRole.
pub fn escalate_request(kind: &str, name: &str, namespace: &str) -> Option<Request> {
    let resource = match kind {
        "Role" => "roles",
        "ClusterRole" => "clusterroles",
        _ => return None,
    };
    Some(
        Request::resource("escalate", RBAC_GROUP, resource)
            .named(name)
            .in_namespace(namespace),
    )
}

/// The request a user must be allowed to bind `role_ref` without holding
/// its permissions (upstream `BindingAuthorized`): verb `bind` on the
/// referenced role, in the binding's namespace (empty for a ClusterRoleBinding).
pub fn bind_request(role_ref: &RoleRef, binding_namespace: &str) -> Option<Request> {
    let resource = match role_ref.kind.as_str() {
        "ClusterRole" => "clusterroles",
        "Role" => "roles",
        _ => return None,
    };
    Some(
        Request::resource("bind", &role_ref.api_group, resource)
            .named(&role_ref.name)
            .in_namespace(binding_namespace),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rules::{rule as r, urls as u};

    #[track_caller]
    fn check(owner: &[PolicyRule], requested: &[PolicyRule], uncovered: &[PolicyRule]) {
        match covers(owner, requested) {
            Ok(()) => assert!(uncovered.is_empty(), "expected uncovered {uncovered:?}"),
            Err(got) => assert_eq!(got, uncovered),
        }
    }

    #[test]
    fn covers_table() {
        // star covers everything resource-shaped
        check(
            &[r(&["*"], &["*"], &["*"], &[])],
            &[r(
                &["get", "create"],
                &["", "apps"],
                &["pods", "deployments/scale"],
                &["x"],
            )],
            &[],
        );
        // star does not cover non-resource URLs
        check(
            &[r(&["*"], &["*"], &["*"], &[])],
            &[u(&["get"], &["/healthz"])],
            &[u(&["get"], &["/healthz"])],
        );
        check(
            &[u(&["get"], &["/api/*"])],
            &[u(&["get"], &["/api/v1", "/apis"])],
            &[u(&["get"], &["/apis"])],
        );
        // atoms may be covered by different owner rules
        check(
            &[
                r(&["get"], &[""], &["pods"], &[]),
                r(&["list"], &[""], &["pods"], &[]),
            ],
            &[r(&["get", "list", "delete"], &[""], &["pods"], &[])],
            &[r(&["delete"], &[""], &["pods"], &[])],
        );
        // */subresource
        check(
            &[r(&["get"], &["*"], &["*/scale"], &[])],
            &[r(&["get"], &["apps"], &["deployments/scale"], &[])],
            &[],
        );
        check(
            &[r(&["get"], &["*"], &["*/scale"], &[])],
            &[r(&["get"], &["apps"], &["deployments"], &[])],
            &[r(&["get"], &["apps"], &["deployments"], &[])],
        );
        // resource names: unrestricted owner covers names; named owner does not cover unrestricted
        check(
            &[r(&["get"], &[""], &["secrets"], &[])],
            &[r(&["get"], &[""], &["secrets"], &["a"])],
            &[],
        );
        check(
            &[r(&["get"], &[""], &["secrets"], &["a", "b"])],
            &[r(&["get"], &[""], &["secrets"], &["a"])],
            &[],
        );
        check(
            &[r(&["get"], &[""], &["secrets"], &["a"])],
            &[r(&["get"], &[""], &["secrets"], &[])],
            &[r(&["get"], &[""], &["secrets"], &[])],
        );
    }

    #[test]
    fn message_matches_upstream() {
        let user = User::new("x", &["a", "b"]);
        let uncovered = [
            r(&["create"], &["apps"], &["deployments"], &[]),
            r(&["delete"], &["apps"], &["deployments"], &[]),
        ];
        assert_eq!(
            escalation_message(&user, &uncovered, &[]),
            "user \"x\" (groups=[\"a\" \"b\"]) is attempting to grant RBAC permissions not currently held:\n\
             {APIGroups:[\"apps\"], Resources:[\"deployments\"], Verbs:[\"create\" \"delete\"]}"
        );
        let user = User::new("y", &[]);
        let msg = escalation_message(
            &user,
            &[
                u(&["get"], &["/metrics"]),
                r(&["get"], &[""], &["pods"], &[]),
            ],
            &[],
        );
        assert_eq!(
            msg,
            "user \"y\" (groups=[]) is attempting to grant RBAC permissions not currently held:\n\
             {APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\"]}\n{NonResourceURLs:[\"/metrics\"], Verbs:[\"get\"]}"
        );
    }

    #[test]
    fn message_with_resolution_errors() {
        let user = User::new("x", &["g"]);
        let msg = escalation_message(
            &user,
            &[r(&["get"], &[""], &["pods"], &[])],
            &["e1".into(), "e2".into()],
        );
        assert!(msg.ends_with("{APIGroups:[\"\"], Resources:[\"pods\"], Verbs:[\"get\"]}; resolution errors: [[e1, e2]]"), "{msg}");
    }

    #[test]
    fn bind_and_escalate_requests() {
        let rr = RoleRef {
            api_group: RBAC_GROUP.into(),
            kind: "ClusterRole".into(),
            name: "admin".into(),
        };
        let req = bind_request(&rr, "team-a");
        assert_eq!(
            req,
            Some(
                Request::resource("bind", RBAC_GROUP, "clusterroles")
                    .named("admin")
                    .in_namespace("team-a")
            )
        );
        assert_eq!(
            escalate_request("Role", "r", "ns").map(|r| r.resource),
            Some("roles".to_string())
        );
        assert_eq!(escalate_request("Pod", "r", "ns"), None);
    }
}
