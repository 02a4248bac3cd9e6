//! Decoded protobuf message -> the JSON Go's encoding/json writes for the same struct.
//!
//! Go marshals unset non-pointer fields as zero values, so the bytes carry `""`, `0`,
//! `false` and empty messages for fields the client never set. Empty strings are dropped
//! (they mean "absent" to the API), numbers and booleans are kept as sent, empty messages
//! become `{}` (Go's JSON also writes non-pointer structs even when empty).

use base64::Engine as _;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, MapKey, ReflectMessage as _, Value as PValue,
};
use serde_json::{Map, Value};

use crate::schema::{is_inline, keeps_empty_string, special};
use crate::{wellknown, ProtoError};

/// The JSON form of a message; `None` when Go would omit it (e.g. a zero Time).
pub(crate) fn message(msg: &DynamicMessage, depth: usize) -> Result<Option<Value>, ProtoError> {
    if let Some(kind) = special(&msg.descriptor()) {
        return wellknown::to_json(kind, msg, depth);
    }
    let mut out = Map::new();
    fill(msg, &mut out, depth)?;
    Ok(Some(Value::Object(out)))
}

/// Writes the JSON fields of `msg` into `out` (inline fields are merged into the same map).
pub(crate) fn fill(
    msg: &DynamicMessage,
    out: &mut Map<String, Value>,
    depth: usize,
) -> Result<(), ProtoError> {
    for (field, value) in msg.fields() {
        let name = field.name();
        let converted = if field.is_map() {
            map(value, depth).map_err(|e| e.at(name))?
        } else if field.is_list() {
            list(value, depth).map_err(|e| e.at(name))?
        } else if let (PValue::Message(inner), true) = (value, is_inline(&field)) {
            fill(inner, out, depth).map_err(|e| e.at(name))?;
            None
        } else {
            singular(&field, value, depth).map_err(|e| e.at(name))?
        };
        if let Some(v) = converted {
            out.insert(name.to_owned(), v);
        }
    }
    Ok(())
}

fn singular(
    field: &FieldDescriptor,
    value: &PValue,
    depth: usize,
) -> Result<Option<Value>, ProtoError> {
    match value {
        PValue::String(s) if s.is_empty() && !keeps_empty_string(field) => Ok(None),
        PValue::Bytes(b) if b.is_empty() => Ok(None),
        PValue::Message(m) => message(m, depth),
        other => element(other, depth).map(Some),
    }
}

fn list(value: &PValue, depth: usize) -> Result<Option<Value>, ProtoError> {
    let PValue::List(items) = value else {
        return Err(ProtoError::Schema(
            "repeated field without a list value".to_owned(),
        ));
    };
    if items.is_empty() {
        return Ok(None);
    }
    items
        .iter()
        .enumerate()
        .map(|(i, v)| element(v, depth).map_err(|e| e.at(&format!("[{i}]"))))
        .collect::<Result<Vec<_>, _>>()
        .map(|items| Some(Value::Array(items)))
}

fn map(value: &PValue, depth: usize) -> Result<Option<Value>, ProtoError> {
    let PValue::Map(entries) = value else {
        return Err(ProtoError::Schema(
            "map field without a map value".to_owned(),
        ));
    };
    if entries.is_empty() {
        return Ok(None);
    }
    // Go's encoding/json writes map keys sorted.
    let mut keyed: Vec<(String, &PValue)> = entries.iter().map(|(k, v)| (map_key(k), v)).collect();
    keyed.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out = Map::new();
    for (key, v) in keyed {
        let converted = element(v, depth).map_err(|e| e.at(&format!("[{key}]")))?;
        out.insert(key, converted);
    }
    Ok(Some(Value::Object(out)))
}

fn map_key(key: &MapKey) -> String {
    match key {
        MapKey::String(s) => s.clone(),
        MapKey::Bool(b) => b.to_string(),
        MapKey::I32(v) => v.to_string(),
        MapKey::I64(v) => v.to_string(),
        MapKey::U32(v) => v.to_string(),
        MapKey::U64(v) => v.to_string(),
    }
}

/// A list element or map value: kept even when empty (`""` is a real label value).
fn element(value: &PValue, depth: usize) -> Result<Value, ProtoError> {
    Ok(match value {
        PValue::Bool(b) => Value::Bool(*b),
        PValue::I32(v) => Value::from(*v),
        PValue::I64(v) => Value::from(*v),
        PValue::U32(v) => Value::from(*v),
        PValue::U64(v) => Value::from(*v),
        PValue::EnumNumber(v) => Value::from(*v),
        PValue::F32(v) => float(f64::from(*v))?,
        PValue::F64(v) => float(*v)?,
        PValue::String(s) => Value::String(s.clone()),
        PValue::Bytes(b) => Value::String(base64::engine::general_purpose::STANDARD.encode(b)),
        PValue::Message(m) => message(m, depth)?.unwrap_or(Value::Null),
        PValue::List(_) | PValue::Map(_) => {
            return Err(ProtoError::Schema("nested list or map value".to_owned()));
        }
    })
}

fn float(v: f64) -> Result<Value, ProtoError> {
    serde_json::Number::from_f64(v)
        .map(Value::Number)
        .ok_or_else(|| ProtoError::invalid(format!("{v} cannot be written as JSON")))
}
