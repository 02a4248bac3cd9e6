//! Shared plugin helpers: score normalisation, node selector matching,
//! tolerations (upstream `plugins/helper` and `component-helpers`).

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{Node, NodeSelector, NodeSelectorRequirement, NodeSelectorTerm, Pod, Taint, Toleration};

use crate::framework::{NodeScore, MAX_NODE_SCORE};

/// Upstream `helper.DefaultNormalizeScore`: scale to [0, max] by the
/// highest score; `reverse` flips it (fewer is better).
pub fn default_normalize(max_priority: i64, reverse: bool, scores: &mut [NodeScore]) {
    let max = scores.iter().map(|s| s.score).max().unwrap_or(0);
    if max == 0 {
        if reverse {
            for s in scores.iter_mut() {
                s.score = max_priority;
            }
        }
        return;
    }
    for s in scores.iter_mut() {
        let mut v = max_priority * s.score / max;
        if reverse {
            v = max_priority - v;
        }
        s.score = v;
    }
}

pub fn default_normalize_max(reverse: bool, scores: &mut [NodeScore]) {
    default_normalize(MAX_NODE_SCORE, reverse, scores)
}

/// One node selector requirement against the node's labels (upstream
/// `nodeaffinity`): `NotIn`/`DoesNotExist` hold when the label is absent;
/// `Gt`/`Lt` compare integers.
pub fn requirement_matches(req: &NodeSelectorRequirement, labels: Option<&BTreeMap<String, String>>) -> bool {
    let value = labels.and_then(|l| l.get(&req.key));
    let values = req.values.as_deref().unwrap_or(&[]);
    match req.operator.as_str() {
        "In" => value.is_some_and(|v| values.contains(v)),
        "NotIn" => value.is_none_or(|v| !values.contains(v)),
        "Exists" => value.is_some(),
        "DoesNotExist" => value.is_none(),
        "Gt" | "Lt" => {
            let (Some(v), [limit]) = (value, values) else { return false };
            let (Ok(v), Ok(limit)) = (v.parse::<i64>(), limit.parse::<i64>()) else { return false };
            if req.operator == "Gt" {
                v > limit
            } else {
                v < limit
            }
        }
        _ => false,
    }
}

fn field_matches(req: &NodeSelectorRequirement, node: &Node) -> bool {
    if req.key != "metadata.name" {
        return false;
    }
    let name = node.metadata.name.as_deref().unwrap_or("");
    let values = req.values.as_deref().unwrap_or(&[]);
    match req.operator.as_str() {
        "In" => values.len() == 1 && values[0] == name,
        "NotIn" => values.len() == 1 && values[0] != name,
        _ => false,
    }
}

/// A term matches when all its expressions and fields match; an empty term
/// matches nothing.
pub fn term_matches(term: &NodeSelectorTerm, node: &Node) -> bool {
    let exprs = term.match_expressions.as_deref().unwrap_or(&[]);
    let fields = term.match_fields.as_deref().unwrap_or(&[]);
    if exprs.is_empty() && fields.is_empty() {
        return false;
    }
    let labels = node.metadata.labels.as_ref();
    exprs.iter().all(|r| requirement_matches(r, labels)) && fields.iter().all(|r| field_matches(r, node))
}

/// Terms are ORed.
pub fn node_selector_matches(sel: &NodeSelector, node: &Node) -> bool {
    sel.node_selector_terms.iter().any(|t| term_matches(t, node))
}

/// Upstream `RequiredNodeAffinity.Match`: `spec.nodeSelector` and the
/// required node affinity.
pub fn pod_matches_node_selector_and_affinity(pod: &Pod, node: &Node) -> bool {
    let Some(spec) = pod.spec.as_ref() else { return true };
    if let Some(sel) = spec.node_selector.as_ref() {
        let labels = node.metadata.labels.as_ref();
        if !sel.iter().all(|(k, v)| labels.and_then(|l| l.get(k)) == Some(v)) {
            return false;
        }
    }
    if let Some(required) = spec
        .affinity
        .as_ref()
        .and_then(|a| a.node_affinity.as_ref())
        .and_then(|na| na.required_during_scheduling_ignored_during_execution.as_ref())
    {
        return node_selector_matches(required, node);
    }
    true
}

/// Upstream `Toleration.ToleratesTaint`.
pub fn tolerates(t: &Toleration, taint: &Taint) -> bool {
    if t.effect.as_deref().is_some_and(|e| !e.is_empty() && e != taint.effect) {
        return false;
    }
    if t.key.as_deref().is_some_and(|k| !k.is_empty() && k != taint.key) {
        return false;
    }
    match t.operator.as_deref().unwrap_or("") {
        "" | "Equal" => t.value.as_deref().unwrap_or("") == taint.value.as_deref().unwrap_or(""),
        "Exists" => true,
        _ => false,
    }
}

/// The first taint (with an effect accepted by `filter`) no toleration covers.
pub fn find_untolerated<'a>(taints: &'a [Taint], tolerations: &[Toleration], filter: impl Fn(&Taint) -> bool) -> Option<&'a Taint> {
    taints.iter().filter(|t| filter(t)).find(|taint| !tolerations.iter().any(|t| tolerates(t, taint)))
}

pub fn pod_tolerations(pod: &Pod) -> &[Toleration] {
    pod.spec.as_ref().and_then(|s| s.tolerations.as_deref()).unwrap_or(&[])
}

pub fn node_taints(node: &Node) -> &[Taint] {
    node.spec.as_ref().and_then(|s| s.taints.as_deref()).unwrap_or(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(scores: &[i64]) -> Vec<NodeScore> {
        scores.iter().enumerate().map(|(i, s)| NodeScore { name: format!("n{i}"), score: *s }).collect()
    }

    #[test]
    fn normalize_table() {
        let cases: &[(&[i64], bool, &[i64])] = &[
            (&[0, 0], false, &[0, 0]),
            (&[0, 0], true, &[100, 100]),
            (&[1, 2, 4], false, &[25, 50, 100]),
            (&[1, 2, 4], true, &[75, 50, 0]),
        ];
        for (input, reverse, want) in cases {
            let mut s = ns(input);
            default_normalize_max(*reverse, &mut s);
            assert_eq!(s.iter().map(|s| s.score).collect::<Vec<_>>(), *want, "{input:?} reverse={reverse}");
        }
    }

    #[test]
    fn requirements() {
        let labels = BTreeMap::from([("a".to_string(), "1".to_string()), ("n".to_string(), "5".to_string())]);
        let r = |op: &str, key: &str, values: &[&str]| NodeSelectorRequirement {
            key: key.into(),
            operator: op.into(),
            values: Some(values.iter().map(|s| s.to_string()).collect()),
        };
        let cases = [
            (r("In", "a", &["1", "2"]), true),
            (r("In", "a", &["2"]), false),
            (r("NotIn", "a", &["2"]), true),
            (r("NotIn", "zz", &["2"]), true),
            (r("Exists", "a", &[]), true),
            (r("DoesNotExist", "a", &[]), false),
            (r("Gt", "n", &["4"]), true),
            (r("Lt", "n", &["4"]), false),
            (r("Gt", "a", &["x"]), false),
        ];
        for (req, want) in cases {
            assert_eq!(requirement_matches(&req, Some(&labels)), want, "{req:?}");
        }
    }

    #[test]
    fn toleration_table() {
        let taint = Taint { key: "k".into(), value: Some("v".into()), effect: "NoSchedule".into(), time_added: None };
        let tol = |key: Option<&str>, op: Option<&str>, value: Option<&str>, effect: Option<&str>| Toleration {
            key: key.map(Into::into),
            operator: op.map(Into::into),
            value: value.map(Into::into),
            effect: effect.map(Into::into),
            toleration_seconds: None,
        };
        let cases = [
            (tol(Some("k"), None, Some("v"), None), true),
            (tol(Some("k"), Some("Equal"), Some("x"), None), false),
            (tol(Some("k"), Some("Exists"), None, Some("NoSchedule")), true),
            (tol(Some("k"), Some("Exists"), None, Some("NoExecute")), false),
            (tol(None, Some("Exists"), None, None), true),
            (tol(Some("other"), Some("Exists"), None, None), false),
        ];
        for (t, want) in cases {
            assert_eq!(tolerates(&t, &taint), want, "{t:?}");
        }
    }
}
