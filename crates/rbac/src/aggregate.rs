//! ClusterRole aggregation (upstream
//! `pkg/controller/clusterroleaggregation`): a ClusterRole with an
//! `aggregationRule` has as rules the union of the rules of every other
//! ClusterRole whose labels match any of its `clusterRoleSelectors`.

use std::borrow::Borrow;
use std::collections::{BTreeMap, HashMap};

use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

use crate::rule::rule_eq;

/// Whether `selector` selects `labels` (`metav1.LabelSelectorAsSelector`
/// semantics: an empty selector selects everything). `Err` for an invalid
/// operator or an `In`/`NotIn` without values.
pub fn selector_matches(
    selector: &LabelSelector,
    labels: &BTreeMap<String, String>,
) -> Result<bool, String> {
    let mut ok = true;
    for (k, v) in selector.match_labels.iter().flatten() {
        ok &= labels.get(k) == Some(v);
    }
    for req in selector.match_expressions.iter().flatten() {
        let values = req.values.as_deref().unwrap_or(&[]);
        let value = labels.get(&req.key);
        let matched = match req.operator.as_str() {
            "In" | "NotIn" if values.is_empty() => {
                return Err(format!(
                    "for '{}', '{}' operator, values set can't be empty",
                    req.key, req.operator
                ))
            }
            "In" => value.is_some_and(|v| values.contains(v)),
            "NotIn" => value.is_none_or(|v| !values.contains(v)),
            "Exists" => value.is_some(),
            "DoesNotExist" => value.is_none(),
            other => return Err(format!("{other:?} is not a valid label selector operator")),
        };
        ok &= matched;
    }
    Ok(ok)
}

/// The rules of every aggregated ClusterRole (one with an `aggregationRule`),
/// sorted by name: for each selector in order, the matching ClusterRoles
/// (itself excluded) by name, their rules appended unless already present.
///
/// Upstream's controller reads the *stored* rules of the selected roles and
/// converges over several passes when aggregated roles select aggregated
/// roles (`admin` ⊇ `edit` ⊇ `view`); this computes that fixed point in one
/// call. A role with an invalid selector is left out (upstream leaves it
/// unchanged and retries).
pub fn aggregate<CR: Borrow<ClusterRole>>(cluster_roles: &[CR]) -> Vec<(String, Vec<PolicyRule>)> {
    let mut roles: Vec<&ClusterRole> = cluster_roles.iter().map(Borrow::borrow).collect();
    roles.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    let empty = BTreeMap::new();
    let name = |r: &ClusterRole| r.metadata.name.clone().unwrap_or_default();

    // which roles each aggregated role selects, in upstream's order
    let mut sources: Vec<(usize, Vec<usize>)> = Vec::new();
    'roles: for (i, role) in roles.iter().enumerate() {
        let Some(agg) = &role.aggregation_rule else {
            continue;
        };
        let mut selected = Vec::new();
        for selector in agg.cluster_role_selectors.iter().flatten() {
            for (j, other) in roles.iter().enumerate() {
                if j == i {
                    continue;
                }
                match selector_matches(selector, other.metadata.labels.as_ref().unwrap_or(&empty)) {
                    Ok(true) => selected.push(j),
                    Ok(false) => {}
                    Err(_) => continue 'roles,
                }
            }
        }
        sources.push((i, selected));
    }

    let mut current: HashMap<usize, Vec<PolicyRule>> = roles
        .iter()
        .enumerate()
        .map(|(i, r)| (i, r.rules.clone().unwrap_or_default()))
        .collect();
    // every pass can only propagate rules one level further; bound the loop anyway
    for _ in 0..=sources.len() {
        let mut changed = false;
        for (i, selected) in &sources {
            let mut rules: Vec<PolicyRule> = Vec::new();
            for j in selected {
                for rule in current.get(j).into_iter().flatten() {
                    if !rules.iter().any(|r| rule_eq(r, rule)) {
                        rules.push(rule.clone());
                    }
                }
            }
            let old = current.get(i).map(Vec::as_slice).unwrap_or(&[]);
            if old.len() != rules.len() || !old.iter().zip(&rules).all(|(a, b)| rule_eq(a, b)) {
                current.insert(*i, rules);
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }

    sources
        .iter()
        .map(|(i, _)| (name(roles[*i]), current.remove(i).unwrap_or_default()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn expr(key: &str, op: &str, values: &[&str]) -> LabelSelector {
        LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: key.into(),
                operator: op.into(),
                values: if values.is_empty() {
                    None
                } else {
                    Some(values.iter().map(|s| s.to_string()).collect())
                },
            }]),
            match_labels: None,
        }
    }

    #[test]
    fn selectors() {
        let l = labels(&[("a", "1"), ("b", "2")]);
        let ml = |pairs: &[(&str, &str)]| LabelSelector {
            match_labels: Some(labels(pairs)),
            match_expressions: None,
        };
        assert_eq!(selector_matches(&LabelSelector::default(), &l), Ok(true));
        assert_eq!(selector_matches(&ml(&[("a", "1")]), &l), Ok(true));
        assert_eq!(
            selector_matches(&ml(&[("a", "1"), ("b", "3")]), &l),
            Ok(false)
        );
        assert_eq!(
            selector_matches(&expr("a", "In", &["1", "5"]), &l),
            Ok(true)
        );
        assert_eq!(selector_matches(&expr("c", "In", &["1"]), &l), Ok(false));
        assert_eq!(selector_matches(&expr("c", "NotIn", &["1"]), &l), Ok(true));
        assert_eq!(selector_matches(&expr("a", "NotIn", &["1"]), &l), Ok(false));
        assert_eq!(selector_matches(&expr("b", "Exists", &[]), &l), Ok(true));
        assert_eq!(
            selector_matches(&expr("b", "DoesNotExist", &[]), &l),
            Ok(false)
        );
        assert!(selector_matches(&expr("b", "Gt", &["1"]), &l).is_err());
        assert!(selector_matches(&expr("b", "In", &[]), &l).is_err());
    }
}
