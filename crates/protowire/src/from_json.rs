//! JSON object -> protobuf message, the inverse of `to_json`. Unknown JSON fields are
//! errors (nothing is silently dropped); `null` means absent.

use std::collections::HashMap;

use base64::Engine as _;
use prost_reflect::{
    DynamicMessage, FieldDescriptor, Kind, MapKey, MessageDescriptor, Value as PValue,
};
use serde_json::{Map, Value};

use crate::error::json_type;
use crate::schema::{is_inline, special};
use crate::{wellknown, ProtoError};

/// Builds `desc` from a JSON value (an object, or the custom form of a special message).
pub(crate) fn message(
    desc: &MessageDescriptor,
    value: &Value,
) -> Result<DynamicMessage, ProtoError> {
    if let Some(kind) = special(desc) {
        return wellknown::from_json(kind, desc, value);
    }
    let obj = value.as_object().ok_or_else(|| {
        ProtoError::invalid(format!(
            "expected an object for {}, found {}",
            desc.name(),
            json_type(value)
        ))
    })?;
    object(desc, obj, false)
}

/// Builds `desc` from an object. `top_level` skips the object's own apiVersion and kind,
/// which travel in the envelope rather than in the message.
pub(crate) fn object(
    desc: &MessageDescriptor,
    obj: &Map<String, Value>,
    top_level: bool,
) -> Result<DynamicMessage, ProtoError> {
    let mut msg = DynamicMessage::new(desc.clone());
    let inline: Vec<FieldDescriptor> = desc.fields().filter(is_inline).collect();
    let mut inline_parts: Vec<Map<String, Value>> = vec![Map::new(); inline.len()];
    for (key, value) in obj {
        if value.is_null() {
            continue;
        }
        match desc.get_field_by_name(key).filter(|f| !is_inline(f)) {
            Some(field) => set(&mut msg, &field, value).map_err(|e| e.at(key))?,
            None => {
                if let Some(i) = inline.iter().position(|f| accepts(f, key)) {
                    inline_parts[i].insert(key.clone(), value.clone());
                } else if !(top_level && (key == "apiVersion" || key == "kind")) {
                    return Err(ProtoError::UnknownField {
                        message: desc.full_name().to_owned(),
                        path: key.clone(),
                    });
                }
            }
        }
    }
    for (field, part) in inline.iter().zip(inline_parts) {
        if let Kind::Message(inner) = field.kind() {
            if !part.is_empty() {
                let value = PValue::Message(object(&inner, &part, false)?);
                msg.try_set_field(field, value)
                    .map_err(|e| ProtoError::Schema(e.to_string()))?;
            }
        }
    }
    Ok(msg)
}

/// Whether a JSON key belongs to the struct embedded through the inline `field`.
fn accepts(field: &FieldDescriptor, key: &str) -> bool {
    let Kind::Message(inner) = field.kind() else {
        return false;
    };
    match inner.get_field_by_name(key) {
        Some(f) => !is_inline(&f),
        None => inner.fields().filter(is_inline).any(|f| accepts(&f, key)),
    }
}

fn set(msg: &mut DynamicMessage, field: &FieldDescriptor, value: &Value) -> Result<(), ProtoError> {
    let converted = if field.is_map() {
        let Kind::Message(entry) = field.kind() else {
            return Err(ProtoError::Schema(format!(
                "map field {} without an entry message",
                field.full_name()
            )));
        };
        let (key_field, value_field) = (entry.map_entry_key_field(), entry.map_entry_value_field());
        let obj = value.as_object().ok_or_else(|| {
            ProtoError::invalid(format!("expected an object, found {}", json_type(value)))
        })?;
        let mut entries = HashMap::with_capacity(obj.len());
        for (k, v) in obj {
            let segment = format!("[{k}]");
            let key = map_key(&key_field.kind(), k).map_err(|e| e.at(&segment))?;
            let v = if v.is_null() {
                PValue::default_value(&value_field.kind())
            } else {
                single(&value_field.kind(), v).map_err(|e| e.at(&segment))?
            };
            entries.insert(key, v);
        }
        PValue::Map(entries)
    } else if field.is_list() {
        let items = value.as_array().ok_or_else(|| {
            ProtoError::invalid(format!("expected an array, found {}", json_type(value)))
        })?;
        let kind = field.kind();
        let items = items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                if v.is_null() {
                    Ok(PValue::default_value(&kind))
                } else {
                    single(&kind, v).map_err(|e| e.at(&format!("[{i}]")))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        PValue::List(items)
    } else {
        single(&field.kind(), value)?
    };
    msg.try_set_field(field, converted)
        .map_err(|e| ProtoError::Schema(e.to_string()))
}

fn map_key(kind: &Kind, key: &str) -> Result<MapKey, ProtoError> {
    let bad = || ProtoError::invalid(format!("map key {key:?} is not a valid {kind:?}"));
    Ok(match kind {
        Kind::String => MapKey::String(key.to_owned()),
        Kind::Bool => MapKey::Bool(key.parse().map_err(|_| bad())?),
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => MapKey::I32(key.parse().map_err(|_| bad())?),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => MapKey::I64(key.parse().map_err(|_| bad())?),
        Kind::Uint32 | Kind::Fixed32 => MapKey::U32(key.parse().map_err(|_| bad())?),
        Kind::Uint64 | Kind::Fixed64 => MapKey::U64(key.parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    })
}

/// One value of the given protobuf kind from its JSON form.
fn single(kind: &Kind, value: &Value) -> Result<PValue, ProtoError> {
    let wrong =
        |want: &str| ProtoError::invalid(format!("expected {want}, found {}", json_type(value)));
    let integer = |bits: &str| ProtoError::invalid(format!("{value} is not a {bits} integer"));
    Ok(match kind {
        Kind::String => PValue::String(value.as_str().ok_or_else(|| wrong("a string"))?.to_owned()),
        Kind::Bool => PValue::Bool(value.as_bool().ok_or_else(|| wrong("a boolean"))?),
        Kind::Bytes => {
            let text = value.as_str().ok_or_else(|| wrong("a base64 string"))?;
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(text)
                .map_err(|e| ProtoError::invalid(format!("invalid base64: {e}")))?;
            PValue::Bytes(bytes.into())
        }
        Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => PValue::I32(
            value
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| integer("32-bit"))?,
        ),
        Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => {
            PValue::I64(value.as_i64().ok_or_else(|| integer("64-bit"))?)
        }
        Kind::Uint32 | Kind::Fixed32 => PValue::U32(
            value
                .as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or_else(|| integer("unsigned 32-bit"))?,
        ),
        Kind::Uint64 | Kind::Fixed64 => {
            PValue::U64(value.as_u64().ok_or_else(|| integer("unsigned 64-bit"))?)
        }
        Kind::Double => PValue::F64(value.as_f64().ok_or_else(|| wrong("a number"))?),
        Kind::Float => {
            // Narrowing is what a float32 field means.
            let v = value.as_f64().ok_or_else(|| wrong("a number"))? as f32;
            PValue::F32(v)
        }
        Kind::Enum(_) => PValue::EnumNumber(
            value
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| integer("32-bit"))?,
        ),
        Kind::Message(desc) => PValue::Message(message(desc, value)?),
    })
}
