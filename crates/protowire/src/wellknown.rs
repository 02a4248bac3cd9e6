//! JSON forms of the messages with a custom Go (un)marshaller: Time, MicroTime, Duration,
//! FieldsV1, RawExtension, IntOrString, Quantity and the `[]string` wrappers.

use prost_reflect::{DynamicMessage, MessageDescriptor, Value as PValue};
use serde_json::Value;

use crate::error::json_type;
use crate::schema::Special;
use crate::{duration, ProtoError};

/// Nested protobuf objects inside RawExtensions are decoded at most this deep.
pub(crate) const MAX_EMBEDDED_DEPTH: usize = 8;

/// Unix seconds of Go's zero `time.Time` (January 1, year 1, UTC).
const GO_ZERO_TIME_UNIX: i64 = -62_135_596_800;

/// The JSON form of a special message, `None` for Go's "empty" value that is omitted
/// (zero Time, RawExtension/FieldsV1 without bytes).
pub(crate) fn to_json(
    kind: Special,
    msg: &DynamicMessage,
    depth: usize,
) -> Result<Option<Value>, ProtoError> {
    match kind {
        Special::Time | Special::MicroTime => {
            let seconds = int(msg, "seconds");
            let nanos = int(msg, "nanos");
            // Go's zero time.Time is omitted; it is sent as an empty message, or by other
            // encoders as its Unix form (0001-01-01T00:00:00Z).
            if nanos == 0 && (seconds == 0 || seconds == GO_ZERO_TIME_UNIX) {
                return Ok(None);
            }
            let nanos = i32::try_from(nanos)
                .map_err(|_| ProtoError::invalid(format!("nanos {nanos} out of range")))?;
            let ts = jiff::Timestamp::new(seconds, nanos).map_err(|e| {
                ProtoError::invalid(format!("time {seconds}s {nanos}ns out of range: {e}"))
            })?;
            let utc = jiff::tz::Offset::UTC.to_datetime(ts);
            let whole = utc.strftime("%Y-%m-%dT%H:%M:%S").to_string();
            Ok(Some(Value::String(if kind == Special::Time {
                format!("{whole}Z")
            } else {
                format!("{whole}.{:06}Z", utc.subsec_nanosecond() / 1_000)
            })))
        }
        Special::Duration => Ok(Some(Value::String(duration::format(int(msg, "duration"))))),
        Special::Quantity => {
            let text = string(msg, "string");
            Ok(Some(Value::String(if text.is_empty() {
                "0".to_owned()
            } else {
                text
            })))
        }
        Special::IntOrString => match int(msg, "type") {
            0 => Ok(Some(Value::from(int(msg, "intVal")))),
            1 => Ok(Some(Value::String(string(msg, "strVal")))),
            other => Err(ProtoError::invalid(format!(
                "IntOrString has impossible type {other}"
            ))),
        },
        Special::StringList => {
            let items = match msg.get_field_by_name("items").as_deref() {
                Some(PValue::List(items)) => items
                    .iter()
                    .map(|v| Value::String(v.as_str().unwrap_or_default().to_owned()))
                    .collect(),
                _ => Vec::new(),
            };
            Ok(Some(Value::Array(items)))
        }
        Special::FieldsV1 => {
            let raw = bytes(msg, "Raw");
            if raw.is_empty() {
                return Ok(None);
            }
            serde_json::from_slice(&raw)
                .map(Some)
                .map_err(|e| ProtoError::invalid(format!("FieldsV1 does not hold JSON: {e}")))
        }
        Special::RawExtension => {
            let raw = bytes(msg, "raw");
            if raw.is_empty() {
                return Ok(None);
            }
            if raw.starts_with(&crate::MAGIC) {
                if depth >= MAX_EMBEDDED_DEPTH {
                    return Err(ProtoError::invalid(
                        "protobuf objects nested too deeply in RawExtensions",
                    ));
                }
                return crate::decode_nested(&raw, depth + 1).map(Some);
            }
            serde_json::from_slice(&raw).map(Some).map_err(|e| {
                ProtoError::invalid(format!(
                    "RawExtension holds neither JSON nor a protobuf object: {e}"
                ))
            })
        }
    }
}

/// Builds a special message from its JSON form.
pub(crate) fn from_json(
    kind: Special,
    desc: &MessageDescriptor,
    value: &Value,
) -> Result<DynamicMessage, ProtoError> {
    let mut msg = DynamicMessage::new(desc.clone());
    let mut set = |name: &str, v: PValue| -> Result<(), ProtoError> {
        let field = desc.get_field_by_name(name).ok_or_else(|| {
            ProtoError::Schema(format!("{} has no field {name}", desc.full_name()))
        })?;
        msg.try_set_field(&field, v)
            .map_err(|e| ProtoError::Schema(e.to_string()))
    };
    let wrong = |want: &str| {
        ProtoError::invalid(format!(
            "expected {want} for {}, found {}",
            desc.name(),
            json_type(value)
        ))
    };
    match kind {
        Special::Time | Special::MicroTime => {
            let text = value
                .as_str()
                .ok_or_else(|| wrong("an RFC 3339 time string"))?;
            let ts: jiff::Timestamp = text
                .parse()
                .map_err(|e| ProtoError::invalid(format!("invalid RFC 3339 time {text:?}: {e}")))?;
            set("seconds", PValue::I64(ts.as_second()))?;
            set("nanos", PValue::I32(ts.subsec_nanosecond()))?;
        }
        Special::Duration => {
            let text = value.as_str().ok_or_else(|| wrong("a duration string"))?;
            set(
                "duration",
                PValue::I64(duration::parse(text).map_err(ProtoError::invalid)?),
            )?;
        }
        Special::Quantity => {
            // Go's Quantity accepts bare JSON numbers too (`cpu: 1`).
            let text = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                _ => return Err(wrong("a quantity string")),
            };
            set("string", PValue::String(text))?;
        }
        Special::IntOrString => match value {
            Value::Number(n) => {
                let v = n
                    .as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| ProtoError::invalid(format!("{n} is not a 32-bit integer")))?;
                set("type", PValue::I64(0))?;
                set("intVal", PValue::I32(v))?;
            }
            Value::String(s) => {
                set("type", PValue::I64(1))?;
                set("strVal", PValue::String(s.clone()))?;
            }
            _ => return Err(wrong("a number or a string")),
        },
        Special::StringList => {
            let items = value
                .as_array()
                .ok_or_else(|| wrong("an array of strings"))?;
            let items = items
                .iter()
                .enumerate()
                .map(|(i, v)| {
                    v.as_str()
                        .map(|s| PValue::String(s.to_owned()))
                        .ok_or_else(|| {
                            ProtoError::invalid(format!(
                                "expected a string, found {}",
                                json_type(v)
                            ))
                            .at(&format!("[{i}]"))
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            set("items", PValue::List(items))?;
        }
        Special::FieldsV1 => {
            let raw = serde_json::to_vec(value).map_err(|e| ProtoError::invalid(e.to_string()))?;
            set("Raw", PValue::Bytes(raw.into()))?;
        }
        Special::RawExtension => {
            let raw = serde_json::to_vec(value).map_err(|e| ProtoError::invalid(e.to_string()))?;
            set("raw", PValue::Bytes(raw.into()))?;
        }
    }
    Ok(msg)
}

fn int(msg: &DynamicMessage, name: &str) -> i64 {
    match msg.get_field_by_name(name).as_deref() {
        Some(PValue::I64(v)) => *v,
        Some(PValue::I32(v)) => i64::from(*v),
        _ => 0,
    }
}

fn string(msg: &DynamicMessage, name: &str) -> String {
    msg.get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn bytes(msg: &DynamicMessage, name: &str) -> Vec<u8> {
    msg.get_field_by_name(name)
        .and_then(|v| v.as_bytes().map(|b| b.to_vec()))
        .unwrap_or_default()
}
