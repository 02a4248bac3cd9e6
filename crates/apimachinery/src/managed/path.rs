//! Path elements and paths into an object (upstream `fieldpath.PathElement`
//! and `fieldpath.Path`): their total order, their `fieldsV1` key form
//! (`f:`, `k:`, `v:`, `i:`) and their human form (`.spec.containers[name="nginx"]`).

use std::cmp::Ordering;
use std::fmt;

use serde_json::{Map, Value};

use super::error::FieldsV1Error;
/// Go's `%q` (one implementation for the crate).
pub(crate) use crate::gofmt::quote as go_quote;

/// One step into an object.
#[derive(Debug, Clone)]
pub enum PathElement {
    /// `f:<name>`: a field of a map or struct.
    Field(String),
    /// `k:{"<key>":<value>,...}`: the item of an associative list whose merge
    /// key fields have these values. Sorted by field name.
    Key(Vec<(String, Value)>),
    /// `v:<json>`: the item of a set list (a merged list of scalars) with
    /// this value.
    Value(Value),
    /// `i:<n>`: a list item by position. Never produced here (lists without
    /// a merge strategy are leaves); kept so upstream data round-trips.
    Index(usize),
}

impl PathElement {
    /// The key element of an associative-list item (keys sorted by name).
    pub fn key(mut fields: Vec<(String, Value)>) -> Self {
        fields.sort_by(|a, b| a.0.cmp(&b.0));
        PathElement::Key(fields)
    }

    fn rank(&self) -> u8 {
        match self {
            PathElement::Field(_) => 0,
            PathElement::Key(_) => 1,
            PathElement::Value(_) => 2,
            PathElement::Index(_) => 3,
        }
    }

    /// The `fieldsV1` key form, as upstream `SerializePathElement`.
    pub fn to_key_string(&self) -> String {
        match self {
            PathElement::Field(name) => {
                let mut key = String::with_capacity(name.len() + 2);
                key.push_str("f:");
                key.push_str(name);
                key
            }
            PathElement::Key(fields) => {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| {
                        format!("{}:{}", go_json_str(name), go_json(value))
                    })
                    .collect();
                format!("k:{{{}}}", inner.join(","))
            }
            PathElement::Value(value) => format!("v:{}", go_json(value)),
            PathElement::Index(i) => format!("i:{i}"),
        }
    }

    /// Parses a `fieldsV1` key. `Ok(None)` for a well-formed key of a type
    /// this version does not know (ignored, as upstream does).
    pub fn parse(key: &str) -> Result<Option<Self>, FieldsV1Error> {
        let bad = |reason: &str| FieldsV1Error::BadPathElement {
            key: key.to_string(),
            reason: reason.to_string(),
        };
        let mut chars = key.chars();
        let (Some(kind), Some(sep)) = (chars.next(), chars.next()) else {
            return Err(bad("key must be 2 characters long"));
        };
        if sep != ':' {
            return Err(bad("missing colon"));
        }
        let rest = chars.as_str();
        match kind {
            'f' => Ok(Some(PathElement::Field(rest.to_string()))),
            'v' => {
                let value: Value = serde_json::from_str(rest).map_err(|e| bad(&e.to_string()))?;
                Ok(Some(PathElement::Value(value)))
            }
            'k' => {
                let value: Value = serde_json::from_str(rest).map_err(|e| bad(&e.to_string()))?;
                let Value::Object(fields) = value else {
                    return Err(bad("key is not a JSON object"));
                };
                Ok(Some(PathElement::key(fields.into_iter().collect())))
            }
            'i' => rest
                .parse::<usize>()
                .map(|i| Some(PathElement::Index(i)))
                .map_err(|e| bad(&e.to_string())),
            _ => Ok(None),
        }
    }
}

impl Ord for PathElement {
    /// Upstream `PathElement.Compare`: fields < keys < values < indexes.
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (PathElement::Field(a), PathElement::Field(b)) => a.cmp(b),
            (PathElement::Key(a), PathElement::Key(b)) => compare_field_lists(a, b),
            (PathElement::Value(a), PathElement::Value(b)) => compare_values(a, b),
            (PathElement::Index(a), PathElement::Index(b)) => a.cmp(b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for PathElement {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl PartialEq for PathElement {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for PathElement {}

impl fmt::Display for PathElement {
    /// Upstream `PathElement.String`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PathElement::Field(name) => write!(f, ".{name}"),
            PathElement::Key(fields) => {
                let parts: Vec<String> = fields
                    .iter()
                    .map(|(name, value)| format!("{name}={}", value_to_string(value)))
                    .collect();
                write!(f, "[{}]", parts.join(","))
            }
            PathElement::Value(value) => write!(f, "[={}]", value_to_string(value)),
            PathElement::Index(i) => write!(f, "[{i}]"),
        }
    }
}

/// A path from the root of an object.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Path(pub Vec<PathElement>);

impl Path {
    /// A path of fields, e.g. `Path::fields(&["spec", "replicas"])`.
    pub fn fields(names: &[&str]) -> Self {
        Path(
            names
                .iter()
                .map(|n| PathElement::Field((*n).to_string()))
                .collect(),
        )
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for element in &self.0 {
            write!(f, "{element}")?;
        }
        Ok(())
    }
}

/// Upstream `FieldList.Compare`: element by element (name, then value), the
/// shorter list first.
fn compare_field_lists(a: &[(String, Value)], b: &[(String, Value)]) -> Ordering {
    for ((an, av), (bn, bv)) in a.iter().zip(b) {
        let c = an.cmp(bn).then_with(|| compare_values(av, bv));
        if c != Ordering::Equal {
            return c;
        }
    }
    a.len().cmp(&b.len())
}

#[derive(PartialEq, PartialOrd)]
enum Number {
    Int(i128),
    Float(f64),
}

fn number(n: &serde_json::Number) -> Number {
    if let Some(i) = n.as_i64() {
        Number::Int(i128::from(i))
    } else if let Some(u) = n.as_u64() {
        Number::Int(i128::from(u))
    } else {
        Number::Float(n.as_f64().unwrap_or(0.0))
    }
}

fn compare_numbers(a: &serde_json::Number, b: &serde_json::Number) -> Ordering {
    match (number(a), number(b)) {
        (Number::Int(x), Number::Int(y)) => x.cmp(&y),
        (Number::Int(x), Number::Float(y)) => (x as f64).partial_cmp(&y).unwrap_or(Ordering::Equal),
        (Number::Float(x), Number::Int(y)) => x.partial_cmp(&(y as f64)).unwrap_or(Ordering::Equal),
        (Number::Float(x), Number::Float(y)) => x.partial_cmp(&y).unwrap_or(Ordering::Equal),
    }
}

/// Upstream `value.Compare`'s type order: floats and ints (numerically,
/// floats first on a tie of types), strings, bools, lists, maps, null.
fn type_rank(v: &Value) -> u8 {
    match v {
        Value::Number(n) => match number(n) {
            Number::Float(_) => 0,
            Number::Int(_) => 1,
        },
        Value::String(_) => 2,
        Value::Bool(_) => 3,
        Value::Array(_) => 4,
        Value::Object(_) => 5,
        Value::Null => 6,
    }
}

/// A total order on JSON values, following upstream `value.Compare`.
pub(crate) fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => compare_numbers(x, y),
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Bool(x), Value::Bool(y)) => x.cmp(y),
        (Value::Array(x), Value::Array(y)) => {
            for (l, r) in x.iter().zip(y) {
                let c = compare_values(l, r);
                if c != Ordering::Equal {
                    return c;
                }
            }
            x.len().cmp(&y.len())
        }
        (Value::Object(x), Value::Object(y)) => compare_maps(x, y),
        (Value::Null, Value::Null) => Ordering::Equal,
        _ => type_rank(a).cmp(&type_rank(b)),
    }
}

fn compare_maps(x: &Map<String, Value>, y: &Map<String, Value>) -> Ordering {
    let mut xs: Vec<_> = x.iter().collect();
    let mut ys: Vec<_> = y.iter().collect();
    xs.sort_by(|a, b| a.0.cmp(b.0));
    ys.sort_by(|a, b| a.0.cmp(b.0));
    for ((xk, xv), (yk, yv)) in xs.iter().zip(&ys) {
        let c = xk.cmp(yk).then_with(|| compare_values(xv, yv));
        if c != Ordering::Equal {
            return c;
        }
    }
    xs.len().cmp(&ys.len())
}

/// Compact JSON as Go's encoder writes it (keys sorted, `<`, `>`, `&`,
/// U+2028 and U+2029 escaped).
pub(crate) fn go_json(value: &Value) -> String {
    match value {
        Value::String(s) => return go_json_str(s),
        Value::Object(_) | Value::Array(_) => {}
        scalar => return scalar.to_string(),
    }
    let sorted = sort_keys(value);
    let text = serde_json::to_string(&sorted).unwrap_or_default();
    go_escape(text)
}

/// [`go_json`] of a string, without building a `Value`.
pub(crate) fn go_json_str(s: &str) -> String {
    let text = serde_json::to_string(s).unwrap_or_default();
    go_escape(text)
}

/// Go's encoder also escapes `<`, `>`, `&`, U+2028 and U+2029.
fn go_escape(text: String) -> String {
    if !text.contains(['<', '>', '&', '\u{2028}', '\u{2029}']) {
        return text;
    }
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

fn sort_keys(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.clone(), sort_keys(v)))
                    .collect(),
            )
        }
        Value::Array(items) => Value::Array(items.iter().map(sort_keys).collect()),
        other => other.clone(),
    }
}

/// Upstream `value.ToString`: how values appear in rendered paths.
fn value_to_string(value: &Value) -> String {
    match value {
        Value::Null => "null".to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => go_quote(s),
        Value::Bool(b) => b.to_string(),
        Value::Array(items) => {
            let parts: Vec<String> = items.iter().map(value_to_string).collect();
            format!("[{}]", parts.join(","))
        }
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| format!("{k}={}", value_to_string(v)))
            .collect(),
    }
}
