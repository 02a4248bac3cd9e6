//! Go's view of decoded JSON: value kinds as upstream's `reflect` sees them
//! (integers decode to `int64`, other numbers to `float64`) and `%v`
//! rendering, used for ordering and for error texts.

use serde_json::Value;

/// The Go type a decoded JSON value has upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GoKind {
    Nil,
    Bool,
    Int,
    Float,
    String,
    Slice,
    Map,
}

pub(crate) fn kind(value: &Value) -> GoKind {
    match value {
        Value::Null => GoKind::Nil,
        Value::Bool(_) => GoKind::Bool,
        Value::Number(n) if n.is_i64() || n.is_u64() => GoKind::Int,
        Value::Number(_) => GoKind::Float,
        Value::String(_) => GoKind::String,
        Value::Array(_) => GoKind::Slice,
        Value::Object(_) => GoKind::Map,
    }
}

/// `reflect.TypeOf(value).String()`.
pub(crate) fn type_name(value: &Value) -> &'static str {
    match kind(value) {
        GoKind::Nil => "<nil>",
        GoKind::Bool => "bool",
        GoKind::Int => "int64",
        GoKind::Float => "float64",
        GoKind::String => "string",
        GoKind::Slice => "[]interface {}",
        GoKind::Map => "map[string]interface {}",
    }
}

pub(crate) const MAP_TYPE: &str = "map[string]interface {}";
pub(crate) const SLICE_TYPE: &str = "[]interface {}";

/// `fmt.Sprintf("%v", value)`.
pub(crate) fn fmt_v(value: &Value) -> String {
    let mut out = String::new();
    write_v(&mut out, value);
    out
}

/// `fmt.Sprint(lists)` for a `[][]interface{}`.
pub(crate) fn fmt_lists(lists: &[&[Value]]) -> String {
    let parts: Vec<String> = lists
        .iter()
        .map(|l| fmt_v(&Value::Array(l.to_vec())))
        .collect();
    format!("[{}]", parts.join(" "))
}

fn write_v(out: &mut String, value: &Value) {
    match value {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&fmt_float(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_v(out, item);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push_str("map[");
            for (i, key) in keys.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(key);
                out.push(':');
                if let Some(v) = map.get(key.as_str()) {
                    write_v(out, v);
                }
            }
            out.push(']');
        }
    }
}

/// Go's `%v` of a float64: shortest digits, `%e` form when the decimal
/// exponent is below -4 or at least 6 (`strconv` 'g' with shortest precision).
fn fmt_float(f: f64) -> String {
    if !f.is_finite() {
        return if f.is_nan() {
            "NaN".to_string()
        } else if f > 0.0 {
            "+Inf".to_string()
        } else {
            "-Inf".to_string()
        };
    }
    let sci = format!("{f:e}");
    let (mantissa, exp) = match sci.split_once('e') {
        Some((m, e)) => (m.to_string(), e.parse::<i32>().unwrap_or(0)),
        None => return sci,
    };
    if !(-4..6).contains(&exp) {
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{mantissa}e{sign}{:02}", exp.abs())
    } else {
        format!("{f}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn check(value: Value, expected: &str) {
        assert_eq!(fmt_v(&value), expected, "{value}");
    }

    #[test]
    fn formats_like_go() {
        check(json!(null), "<nil>");
        check(json!("x"), "x");
        check(json!(80), "80");
        check(json!(1.5), "1.5");
        check(json!(1e21), "1e+21");
        check(json!(0.00001), "1e-05");
        check(json!(100000.0), "100000");
        check(json!(1234567.0), "1.234567e+06");
        check(json!([1, "a", true]), "[1 a true]");
        check(json!({"b": 1, "a": {"c": null}}), "map[a:map[c:<nil>] b:1]");
    }
}
