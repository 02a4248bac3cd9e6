use std::collections::BTreeMap;

use super::*;

/// `expected`: `Ok(canonical rendering)` or `Err(error text)`.
fn check_parse(input: &str, expected: Result<&str, &str>) {
    let got = FieldSelector::parse(input)
        .map(|s| s.to_string())
        .map_err(|e| e.to_string());
    assert_eq!(
        got,
        expected.map(str::to_string).map_err(str::to_string),
        "input {input:?}"
    );
    if let Ok(rendered) = &got {
        let again = FieldSelector::parse(rendered).map(|s| s.to_string());
        assert_eq!(again.as_ref(), Ok(rendered), "round trip of {input:?}");
    }
}

#[test]
fn parse() {
    check_parse("", Ok(""));
    check_parse("metadata.name=foo", Ok("metadata.name=foo"));
    check_parse("metadata.name==foo", Ok("metadata.name=foo"));
    check_parse("spec.nodeName!=", Ok("spec.nodeName!="));
    check_parse(
        "status.phase=Running,spec.nodeName!=",
        Ok("spec.nodeName!=,status.phase=Running"),
    );
    check_parse("b=1,a=2", Ok("a=2,b=1"));
    check_parse("a=b,", Ok("a=b"));
    check_parse(",,a=b", Ok("a=b"));
    check_parse("a=x\\,y", Ok("a=x\\,y"));
    check_parse("a=x\\=y", Ok("a=x\\=y"));
    check_parse("a=x\\\\y", Ok("a=x\\\\y"));
    check_parse("a=!b", Ok("a=!b"));
    check_parse("=b", Ok("=b"));
    check_parse("a", Err("invalid selector: 'a'; can't understand 'a'"));
    check_parse(
        "a=b,c",
        Err("invalid selector: 'a=b,c'; can't understand 'c'"),
    );
    check_parse(
        "a=x=y",
        Err("invalid field selector: unescaped character in value: ="),
    );
    check_parse(
        "a=x\\y",
        Err("invalid field selector: invalid escape sequence: \\y"),
    );
    check_parse(
        "a=x\\",
        Err("invalid field selector: invalid escape sequence: \\"),
    );
}

#[test]
fn requirements() {
    let selector = FieldSelector::parse("a!=1,b==x\\,y").unwrap_or_default();
    let got: Vec<(&str, FieldOperator, &str)> = selector
        .requirements()
        .iter()
        .map(|r| (r.field.as_str(), r.operator, r.value.as_str()))
        .collect();
    assert_eq!(
        got,
        vec![
            ("a", FieldOperator::NotEquals, "1"),
            ("b", FieldOperator::Equals, "x,y")
        ]
    );
    assert_eq!(selector.requires_exact_match("b"), Some("x,y"));
    assert_eq!(selector.requires_exact_match("a"), None);
}

fn check_match(selector: &str, fields: &[(&str, &str)], expected: bool) {
    let parsed = FieldSelector::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
    let map: BTreeMap<&str, &str> = fields.iter().copied().collect();
    let got = parsed.matches(|f| map.get(f).map(|v| v.to_string()));
    assert_eq!(got, expected, "{selector:?} against {fields:?}");
}

#[test]
fn matching() {
    check_match("", &[], true);
    check_match("metadata.name=foo", &[("metadata.name", "foo")], true);
    check_match("metadata.name=foo", &[("metadata.name", "bar")], false);
    check_match("spec.nodeName=", &[], true);
    check_match("spec.nodeName!=", &[], false);
    check_match("spec.nodeName!=", &[("spec.nodeName", "n1")], true);
    check_match(
        "status.phase!=Succeeded,status.phase!=Failed",
        &[("status.phase", "Running")],
        true,
    );
    check_match(
        "status.phase!=Succeeded,status.phase!=Failed",
        &[("status.phase", "Failed")],
        false,
    );
    check_match("a=x\\,y", &[("a", "x,y")], true);
}

fn check_supported(selector: &str, allowed: &[&str], expected: Result<(), &str>) {
    let parsed = FieldSelector::parse(selector).unwrap_or_else(|e| panic!("{selector}: {e}"));
    let got = parsed.check_supported(allowed).map_err(|e| e.to_string());
    assert_eq!(got, expected.map_err(str::to_string), "{selector:?}");
}

#[test]
fn supported_fields() {
    let pod = [
        "metadata.name",
        "metadata.namespace",
        "spec.nodeName",
        "status.phase",
    ];
    check_supported("", &pod, Ok(()));
    check_supported("spec.nodeName=n1,metadata.name=x", &pod, Ok(()));
    check_supported(
        "spec.nodeName=n1,spec.foo=x",
        &pod,
        Err("field label not supported: spec.foo"),
    );
}
