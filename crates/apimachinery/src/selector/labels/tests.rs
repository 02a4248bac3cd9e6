use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1 as metav1;
use serde_json::json;

use super::*;

const NAME_RE: &str = "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
const VALUE_RE: &str = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

/// `expected`: `Ok(canonical rendering)` or `Err(error text)`.
fn check_parse(input: &str, expected: Result<&str, &str>) {
    let got = LabelSelector::parse(input)
        .map(|s| s.to_string())
        .map_err(|e| e.to_string());
    let expected = expected.map(str::to_string).map_err(str::to_string);
    assert_eq!(got, expected, "input {input:?}");
    // The canonical rendering parses back to the same selector.
    if let Ok(rendered) = &got {
        let reparsed = LabelSelector::parse(rendered).map(|s| s.to_string());
        assert_eq!(reparsed.as_ref(), Ok(rendered), "round trip of {input:?}");
    }
}

#[test]
fn parse_valid() {
    check_parse("", Ok(""));
    check_parse("   ", Ok(""));
    check_parse("x=a", Ok("x=a"));
    check_parse("x==a", Ok("x==a"));
    check_parse("x!=a", Ok("x!=a"));
    check_parse("x in (b,a)", Ok("x in (a,b)"));
    check_parse("x in (a,a)", Ok("x in (a)"));
    check_parse("x notin (a)", Ok("x notin (a)"));
    check_parse("x", Ok("x"));
    check_parse("!x", Ok("!x"));
    check_parse("x>1", Ok("x>1"));
    check_parse("x<5", Ok("x<5"));
    check_parse(" x = a , y in ( b ) ", Ok("x=a,y in (b)"));
    check_parse("y=b,x=a", Ok("x=a,y=b"));
    check_parse("x=", Ok("x="));
    check_parse("x=,y=b", Ok("x=,y=b"));
    check_parse("x in ()", Ok("x in ()"));
    check_parse("x in (,a)", Ok("x in (,a)"));
    check_parse("x in (a,,b)", Ok("x in (,a,b)"));
    check_parse("x in (a,)", Ok("x in (,a)"));
    check_parse("in in (in,notin)", Ok("in in (in,notin)"));
    check_parse(
        "app.kubernetes.io/name=web",
        Ok("app.kubernetes.io/name=web"),
    );
    check_parse("x=a,!y,z notin (c)", Ok("x=a,!y,z notin (c)"));
    check_parse(
        "environment in (production, qa),tier notin (frontend, backend),partition",
        Ok("environment in (production,qa),partition,tier notin (backend,frontend)"),
    );
}

#[test]
fn parse_invalid() {
    check_parse("x=a,", Err("found '', expected: identifier after ','"));
    check_parse(
        ",x=a",
        Err("found ',', expected: !, identifier, or 'end of string'"),
    );
    check_parse("x=a b", Err("found 'b', expected: ',' or 'end of string'"));
    check_parse("!x=a", Err("found '=', expected: ',' or 'end of string'"));
    check_parse(
        "x in a",
        Err("unable to parse requirement: found 'a' expected: '('"),
    );
    check_parse(
        "x in (a",
        Err("unable to parse requirement: found '', expected: ',' or ')'"),
    );
    check_parse(
        "x in (a b)",
        Err("unable to parse requirement: found 'b', expected: ',' or ')'"),
    );
    check_parse(
        "x in =",
        Err("unable to parse requirement: found '=' expected: '('"),
    );
    check_parse(
        "x<-1",
        Err(&format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"-1\": {VALUE_RE}"
        )),
    );
    check_parse(
        "x in (=)",
        Err("unable to parse requirement: found '=', expected: ',', ')' or identifier"),
    );
    check_parse(
        "x a",
        Err("unable to parse requirement: found 'a', expected: in, notin, =, ==, !=, gt, lt"),
    );
    check_parse(
        "x=(a)",
        Err("unable to parse requirement: found '(', expected: identifier"),
    );
    check_parse(
        "!",
        Err("unable to parse requirement: found '', expected: identifier"),
    );
    check_parse("x>a", Err("unable to parse requirement: values[0]: Invalid value: \"a\": for 'Gt', 'Lt' operators, the value must be an integer"));
    check_parse("x>", Err("unable to parse requirement: values[0]: Invalid value: \"\": for 'Gt', 'Lt' operators, the value must be an integer"));
    check_parse(
        "a@b=c",
        Err(&format!(
            "unable to parse requirement: <nil>: Invalid value: \"a@b\": {NAME_RE}"
        )),
    );
    check_parse(
        "x=-bad",
        Err(&format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"-bad\": {VALUE_RE}"
        )),
    );
    check_parse(
        &format!("x={}", "a".repeat(64)),
        Err(&format!(
            "unable to parse requirement: values[0][x]: Invalid value: \"{}\": must be no more than 63 characters",
            "a".repeat(64)
        )),
    );
}

fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn check_match(selector: &str, pairs: &[(&str, &str)], expected: bool) {
    let parsed = LabelSelector::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
    let set = labels(pairs);
    assert_eq!(
        parsed.matches(&set),
        expected,
        "{selector:?} against {pairs:?}"
    );
    // The same labels as a JSON object (`metadata.labels`) behave identically.
    let json_labels: serde_json::Map<String, serde_json::Value> =
        set.iter().map(|(k, v)| (k.clone(), json!(v))).collect();
    assert_eq!(
        parsed.matches(&json_labels),
        expected,
        "{selector:?} (json) against {pairs:?}"
    );
}

#[test]
fn matching() {
    check_match("", &[], true);
    check_match("", &[("a", "b")], true);
    check_match("x=a", &[("x", "a")], true);
    check_match("x==a", &[("x", "a")], true);
    check_match("x=a", &[("x", "b")], false);
    check_match("x=a", &[], false);
    check_match("x=", &[("x", "")], true);
    check_match("x=", &[], false);
    check_match("x!=a", &[], true);
    check_match("x!=a", &[("x", "a")], false);
    check_match("x!=a", &[("x", "b")], true);
    check_match("x in (a,b)", &[("x", "b")], true);
    check_match("x in (a,b)", &[("x", "c")], false);
    check_match("x in (a,b)", &[], false);
    check_match("x notin (a)", &[], true);
    check_match("x notin (a)", &[("x", "a")], false);
    check_match("x notin (a)", &[("x", "b")], true);
    check_match("x", &[("x", "")], true);
    check_match("x", &[], false);
    check_match("!x", &[], true);
    check_match("!x", &[("x", "a")], false);
    check_match("x>1", &[("x", "2")], true);
    check_match("x>1", &[("x", "1")], false);
    check_match("x>1", &[("x", "a")], false);
    check_match("x>1", &[], false);
    check_match("x<1", &[("x", "-5")], true);
    check_match("x<1", &[("x", "1")], false);
    check_match("x=a,y", &[("x", "a")], false);
    check_match("x=a,y", &[("x", "a"), ("y", "z")], true);
    check_match("x=a,!y", &[("x", "a"), ("y", "z")], false);
}

#[test]
fn option_and_json_sources() {
    let selector = LabelSelector::parse("!x").unwrap_or_default();
    let none: Option<BTreeMap<String, String>> = None;
    assert!(selector.matches(&none));
    let present = Some(labels(&[("x", "1")]));
    assert!(!selector.matches(&present));
    let non_string = json!({"x": 1});
    let map = non_string.as_object().cloned().unwrap_or_default();
    assert!(
        selector.matches(&map),
        "non-string label values count as absent"
    );
}

fn k8s(value: serde_json::Value) -> metav1::LabelSelector {
    serde_json::from_value(value).unwrap_or_else(|e| panic!("bad fixture: {e}"))
}

fn check_k8s(
    selector: Option<serde_json::Value>,
    expected: Result<&str, &str>,
    matching: &[(&str, &str)],
    matches: bool,
) {
    let selector = selector.map(k8s);
    let got = LabelSelector::from_k8s_opt(selector.as_ref());
    match (&got, expected) {
        (Ok(s), Ok(rendered)) => {
            assert_eq!(s.to_string(), rendered);
            assert_eq!(
                s.matches(&labels(matching)),
                matches,
                "{rendered} vs {matching:?}"
            );
        }
        (Err(e), Err(text)) => assert_eq!(e.to_string(), text),
        (got, expected) => panic!("got {got:?}, expected {expected:?}"),
    }
}

#[test]
fn from_k8s() {
    check_k8s(None, Ok(""), &[], false);
    check_k8s(Some(json!({})), Ok(""), &[], true);
    check_k8s(
        Some(json!({"matchLabels": {}})),
        Ok(""),
        &[("a", "b")],
        true,
    );
    check_k8s(
        Some(json!({"matchLabels": {"app": "web", "tier": "fe"}})),
        Ok("app=web,tier=fe"),
        &[("app", "web"), ("tier", "fe"), ("x", "y")],
        true,
    );
    check_k8s(
        Some(json!({
            "matchLabels": {"z": "1"},
            "matchExpressions": [
                {"key": "a", "operator": "In", "values": ["y", "x"]},
                {"key": "b", "operator": "NotIn", "values": ["q"]},
                {"key": "c", "operator": "Exists"},
                {"key": "d", "operator": "DoesNotExist"}
            ]
        })),
        Ok("a in (x,y),b notin (q),c,!d,z=1"),
        &[("a", "x"), ("c", ""), ("z", "1")],
        true,
    );
    check_k8s(
        Some(json!({"matchExpressions": [{"key": "a", "operator": "In", "values": []}]})),
        Err("values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"),
        &[],
        false,
    );
    check_k8s(
        Some(json!({"matchExpressions": [{"key": "a", "operator": "NotIn"}]})),
        Err("values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty"),
        &[],
        false,
    );
    check_k8s(
        Some(json!({"matchExpressions": [{"key": "a", "operator": "Exists", "values": ["x"]}]})),
        Err("values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"),
        &[],
        false,
    );
    check_k8s(
        Some(json!({"matchExpressions": [{"key": "a", "operator": "DoesNotExist", "values": ["x"]}]})),
        Err("values: Invalid value: []string{\"x\"}: values set must be empty for exists and does not exist"),
        &[],
        false,
    );
    check_k8s(
        Some(json!({"matchExpressions": [{"key": "a", "operator": "Foo"}]})),
        Err("\"Foo\" is not a valid label selector operator"),
        &[],
        false,
    );
    check_k8s(
        Some(json!({"matchLabels": {"a b": "c"}})),
        Err(&format!("key: Invalid value: \"a b\": {NAME_RE}")),
        &[],
        false,
    );
    check_k8s(
        Some(json!({"matchExpressions": [{"key": "-a", "operator": "In", "values": ["-"]}]})),
        Err(&format!(
            "[key: Invalid value: \"-a\": {NAME_RE}, values[0][-a]: Invalid value: \"-\": {VALUE_RE}]"
        )),
        &[],
        false,
    );
}

#[test]
fn from_set() {
    let set = labels(&[("b", "2"), ("a", "1")]);
    let selector = LabelSelector::from_set(&set).map(|s| s.to_string());
    assert_eq!(selector, Ok("a=1,b=2".to_string()));
    let bad = labels(&[("a", "x y")]);
    assert!(LabelSelector::from_set(&bad).is_err());
}
