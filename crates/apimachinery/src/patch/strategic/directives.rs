//! The `$`-directives of strategic merge patch and how to get rid of them.

use serde_json::{Map, Value};

use super::error::PatchError;

/// `$patch: replace | merge | delete`.
pub(crate) const DIRECTIVE: &str = "$patch";
pub(crate) const DELETE: &str = "delete";
pub(crate) const REPLACE: &str = "replace";
pub(crate) const MERGE: &str = "merge";
/// `$retainKeys: [field, ...]`.
pub(crate) const RETAIN_KEYS: &str = "$retainKeys";
/// `$deleteFromPrimitiveList/<list>: [value, ...]`.
pub(crate) const DELETE_FROM_PRIMITIVE_LIST: &str = "$deleteFromPrimitiveList";
/// `$setElementOrder/<list>: [item-or-key, ...]`.
pub(crate) const SET_ELEMENT_ORDER: &str = "$setElementOrder";

/// The list name of a parallel-list key such as `$setElementOrder/containers`.
pub(crate) fn extract_key<'a>(key: &'a str, prefix: &str) -> Result<&'a str, PatchError> {
    match key.split_once('/') {
        Some((p, rest)) if p == prefix => Ok(rest),
        _ if prefix == DELETE_FROM_PRIMITIVE_LIST => Err(PatchError::BadPrimitiveListFormat),
        _ => Err(PatchError::BadSetElementOrderFormat),
    }
}

fn is_directive_key(key: &str) -> bool {
    key == DIRECTIVE
        || key == RETAIN_KEYS
        || key.starts_with(DELETE_FROM_PRIMITIVE_LIST)
        || key.starts_with(SET_ELEMENT_ORDER)
}

/// Turns a patch fragment that lands where nothing existed (or that replaces
/// wholesale) into plain data: directives are dropped, `null`s removed (they
/// would delete nothing), maps marked `$patch: delete` become empty and list
/// items carrying a `$patch` directive vanish.
pub(crate) fn strip(value: Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(strip_map(map)),
        Value::Array(items) => Value::Array(strip_list(items)),
        other => other,
    }
}

pub(crate) fn strip_map(map: Map<String, Value>) -> Map<String, Value> {
    if map.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE) {
        return Map::new();
    }
    map.into_iter()
        .filter(|(k, v)| !is_directive_key(k) && !v.is_null())
        .map(|(k, v)| (k, strip(v)))
        .collect()
}

pub(crate) fn strip_list(items: Vec<Value>) -> Vec<Value> {
    items
        .into_iter()
        .filter(|item| !item.as_object().is_some_and(|m| m.contains_key(DIRECTIVE)))
        .map(strip)
        .collect()
}
