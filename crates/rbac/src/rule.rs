//! Matching one `PolicyRule` against a request, exactly as upstream
//! `pkg/apis/rbac/v1/evaluation_helpers.go` and `RuleAllows` in
//! `plugin/pkg/auth/authorizer/rbac/rbac.go`.

use k8s_openapi::api::rbac::v1::PolicyRule;

use crate::request::Request;

/// `*` in verbs, apiGroups, resources or nonResourceURLs.
pub const ALL: &str = "*";

/// An optional list as a slice (`None` = empty, as a nil Go slice).
pub(crate) fn list(v: &Option<Vec<String>>) -> &[String] {
    v.as_deref().unwrap_or(&[])
}

pub fn verb_matches(rule: &PolicyRule, verb: &str) -> bool {
    rule.verbs.iter().any(|v| v == ALL || v == verb)
}

pub fn api_group_matches(rule: &PolicyRule, group: &str) -> bool {
    list(&rule.api_groups)
        .iter()
        .any(|g| g == ALL || g == group)
}

/// `combined` is `resource` or `resource/subresource`. A rule resource
/// matches when it is `*`, equal to `combined`, or `*/<subresource>`.
/// (`pods/*` is not a pattern upstream: it only matches the literal
/// resource `pods/*`.)
pub fn resource_matches(rule: &PolicyRule, combined: &str, subresource: &str) -> bool {
    list(&rule.resources).iter().any(|r| {
        r == ALL
            || r == combined
            || (!subresource.is_empty()
                && r.strip_prefix("*/").is_some_and(|sub| sub == subresource))
    })
}

/// An empty `resourceNames` allows every name (and nameless requests such
/// as list or create); a non-empty one only the names it lists.
pub fn resource_name_matches(rule: &PolicyRule, name: &str) -> bool {
    let names = list(&rule.resource_names);
    names.is_empty() || names.iter().any(|n| n == name)
}

/// Exact match, `*`, or a prefix match for a URL ending in `*`.
pub fn non_resource_url_matches(rule: &PolicyRule, path: &str) -> bool {
    list(&rule.non_resource_urls)
        .iter()
        .any(|u| url_covers(u, path))
}

/// `owner` (maybe ending in `*`) covers `path`.
pub(crate) fn url_covers(owner: &str, path: &str) -> bool {
    if owner == ALL || owner == path {
        return true;
    }
    match owner.strip_suffix('*') {
        Some(_) => path.starts_with(owner.trim_end_matches('*')),
        None => false,
    }
}

/// Whether `rule` allows `request` (upstream `RuleAllows`).
pub fn rule_allows(rule: &PolicyRule, request: &Request) -> bool {
    match &request.path {
        None => {
            let combined;
            let resource = if request.subresource.is_empty() {
                request.resource.as_str()
            } else {
                combined = format!("{}/{}", request.resource, request.subresource);
                combined.as_str()
            };
            verb_matches(rule, &request.verb)
                && api_group_matches(rule, &request.api_group)
                && resource_matches(rule, resource, &request.subresource)
                && resource_name_matches(rule, &request.name)
        }
        Some(path) => verb_matches(rule, &request.verb) && non_resource_url_matches(rule, path),
    }
}

/// Whether any of `rules` allows `request` (upstream `RulesAllow`).
pub fn rules_allow(rules: &[PolicyRule], request: &Request) -> bool {
    rules.iter().any(|r| rule_allows(r, request))
}

/// Upstream `CompactString`: `{APIGroups:["apps"], Resources:["deployments"], Verbs:["create"]}`
/// (only non-empty fields, Go `%q` quoting of each list).
pub fn compact_string(rule: &PolicyRule) -> String {
    let mut parts = Vec::new();
    let fields: [(&str, &[String]); 5] = [
        ("APIGroups", list(&rule.api_groups)),
        ("Resources", list(&rule.resources)),
        ("NonResourceURLs", list(&rule.non_resource_urls)),
        ("ResourceNames", list(&rule.resource_names)),
        ("Verbs", &rule.verbs),
    ];
    for (label, values) in fields {
        if !values.is_empty() {
            parts.push(format!("{label}:{}", go_quote_list(values)));
        }
    }
    format!("{{{}}}", parts.join(", "))
}

/// Go's `fmt.Sprintf("%q", []string{...})`: `["a" "b"]`.
pub(crate) fn go_quote_list<S: AsRef<str>>(values: &[S]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| go_quote(v.as_ref())).collect();
    format!("[{}]", quoted.join(" "))
}

pub(crate) use apimachinery::gofmt::quote as go_quote;

/// Two rules are equal as upstream's `equality.Semantic.DeepEqual` sees
/// them: a missing list equals an empty one.
pub(crate) fn rule_eq(a: &PolicyRule, b: &PolicyRule) -> bool {
    a.verbs == b.verbs
        && list(&a.api_groups) == list(&b.api_groups)
        && list(&a.resources) == list(&b.resources)
        && list(&a.resource_names) == list(&b.resource_names)
        && list(&a.non_resource_urls) == list(&b.non_resource_urls)
}

/// `utilerrors.NewAggregate(errs).Error()`: one message as is, several
/// (deduplicated) as `[a, b]`.
pub(crate) fn aggregate_errors(errors: &[&str]) -> String {
    let mut unique: Vec<&str> = Vec::new();
    for e in errors {
        if !unique.contains(e) {
            unique.push(e);
        }
    }
    match unique.as_slice() {
        [one] => one.to_string(),
        many => format!("[{}]", many.join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::test_rules::{rule, urls};

    #[track_caller]
    fn check(rule: &PolicyRule, req: Request, expected: bool) {
        assert_eq!(
            rule_allows(rule, &req),
            expected,
            "rule {} request {req:?}",
            compact_string(rule)
        );
    }

    #[test]
    fn resource_rules() {
        let pods = rule(&["get", "list"], &[""], &["pods"], &[]);
        check(
            &pods,
            Request::resource("get", "", "pods").in_namespace("a"),
            true,
        );
        check(&pods, Request::resource("list", "", "pods"), true);
        check(&pods, Request::resource("create", "", "pods"), false);
        check(&pods, Request::resource("get", "apps", "pods"), false);
        check(
            &pods,
            Request::resource("get", "", "pods").subresource("log"),
            false,
        );
        check(&pods, Request::resource("get", "", "services"), false);

        let star = rule(&["*"], &["*"], &["*"], &[]);
        check(
            &star,
            Request::resource("delete", "apps", "deployments").subresource("scale"),
            true,
        );
        check(&star, Request::non_resource("get", "/healthz"), false);

        let log = rule(&["get"], &[""], &["pods/log"], &[]);
        check(
            &log,
            Request::resource("get", "", "pods").subresource("log"),
            true,
        );
        check(&log, Request::resource("get", "", "pods"), false);
        check(
            &log,
            Request::resource("get", "", "pods").subresource("exec"),
            false,
        );

        let any_scale = rule(&["get"], &["*"], &["*/scale"], &[]);
        check(
            &any_scale,
            Request::resource("get", "apps", "deployments").subresource("scale"),
            true,
        );
        check(
            &any_scale,
            Request::resource("get", "apps", "deployments"),
            false,
        );
        check(
            &any_scale,
            Request::resource("get", "apps", "deployments").subresource("status"),
            false,
        );

        // upstream has no `resource/*` pattern: it matches only the literal resource
        let pods_star = rule(&["get"], &[""], &["pods/*"], &[]);
        check(
            &pods_star,
            Request::resource("get", "", "pods").subresource("log"),
            false,
        );
        check(&pods_star, Request::resource("get", "", "pods"), false);
    }

    #[test]
    fn resource_names() {
        let named = rule(
            &["get", "list", "create", "update"],
            &[""],
            &["configmaps"],
            &["cm1", "cm2"],
        );
        check(
            &named,
            Request::resource("get", "", "configmaps").named("cm1"),
            true,
        );
        check(
            &named,
            Request::resource("update", "", "configmaps").named("cm2"),
            true,
        );
        check(
            &named,
            Request::resource("get", "", "configmaps").named("other"),
            false,
        );
        // a nameless request (list, create without a name) never matches a names-restricted rule
        check(&named, Request::resource("list", "", "configmaps"), false);
        check(&named, Request::resource("create", "", "configmaps"), false);
    }

    #[test]
    fn non_resource_urls() {
        let r = urls(&["get"], &["/healthz", "/api/*"]);
        check(&r, Request::non_resource("get", "/healthz"), true);
        check(&r, Request::non_resource("get", "/healthz/etcd"), false);
        check(&r, Request::non_resource("get", "/api/v1"), true);
        check(&r, Request::non_resource("get", "/api/"), true);
        check(&r, Request::non_resource("get", "/api"), false);
        check(&r, Request::non_resource("post", "/healthz"), false);
        check(&r, Request::resource("get", "", "pods"), false);
        check(
            &urls(&["*"], &["*"]),
            Request::non_resource("post", "/anything"),
            true,
        );
    }

    #[test]
    fn aggregate_error_text() {
        assert_eq!(aggregate_errors(&["a"]), "a");
        assert_eq!(aggregate_errors(&["a", "b", "a"]), "[a, b]");
    }

    #[test]
    fn compact_string_matches_go() {
        let r = rule(&["create"], &["apps"], &["deployments"], &[]);
        assert_eq!(
            compact_string(&r),
            r#"{APIGroups:["apps"], Resources:["deployments"], Verbs:["create"]}"#
        );
        let r = rule(&["get", "update"], &[""], &["configmaps"], &["a\"b"]);
        assert_eq!(
            compact_string(&r),
            r#"{APIGroups:[""], Resources:["configmaps"], ResourceNames:["a\"b"], Verbs:["get" "update"]}"#
        );
        assert_eq!(
            compact_string(&urls(&["get"], &["/healthz"])),
            r#"{NonResourceURLs:["/healthz"], Verbs:["get"]}"#
        );
        assert_eq!(go_quote("a\tb\u{1}é"), "\"a\\tb\\x01é\"");
    }
}
