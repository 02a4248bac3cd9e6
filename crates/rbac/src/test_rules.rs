//! PolicyRule builders shared by the unit tests.

use k8s_openapi::api::rbac::v1::PolicyRule;

fn strings(x: &[&str]) -> Option<Vec<String>> {
    if x.is_empty() {
        None
    } else {
        Some(x.iter().map(|s| s.to_string()).collect())
    }
}

/// A resource rule; empty slices mean "unset".
pub fn rule(verbs: &[&str], groups: &[&str], resources: &[&str], names: &[&str]) -> PolicyRule {
    PolicyRule {
        verbs: verbs.iter().map(|s| s.to_string()).collect(),
        api_groups: strings(groups),
        resources: strings(resources),
        resource_names: strings(names),
        non_resource_urls: None,
    }
}

/// A non-resource rule.
pub fn urls(verbs: &[&str], urls: &[&str]) -> PolicyRule {
    PolicyRule { verbs: verbs.iter().map(|s| s.to_string()).collect(), non_resource_urls: strings(urls), ..Default::default() }
}
