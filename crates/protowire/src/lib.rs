//! Kubernetes protobuf bodies to and from the equivalent JSON objects.
//!
//! Since client-go 1.32, kubectl's typed clients send `application/vnd.kubernetes.protobuf`
//! request bodies. Such a body is the magic `k8s\0` followed by a `runtime.Unknown`
//! envelope `{typeMeta{apiVersion, kind}, raw, contentEncoding, contentType}` whose `raw`
//! is the object in the message of the k8s.io/api `generated.proto` schema.
//!
//! [`decode`] turns a body into the JSON object the same request would carry as
//! `application/json`; [`encode`] does the reverse (used for fixtures and by clients).
//!
//! How it works: `proto/k8s.io/**/generated.proto` (the upstream wire schema, see
//! `proto/README.md`) is compiled by build.rs into a descriptor set, and messages are
//! decoded dynamically with prost-reflect; `schema` holds the Kubernetes knowledge the
//! `.proto` files lack (kind -> message, custom JSON forms, inline structs).
//!
//! Invariants: no input makes these functions panic; a decoded object always has
//! `apiVersion` and `kind` first, taken from the envelope.

mod duration;
mod error;
mod from_json;
mod locate;
mod schema;
mod to_json;
mod wellknown;

use prost::Message as _;
use prost_reflect::{DynamicMessage, ReflectMessage as _, Value as PValue};
use serde_json::{Map, Value};

pub use error::ProtoError;

/// The four bytes every Kubernetes protobuf body starts with: `k8s\0`.
pub const MAGIC: [u8; 4] = *b"k8s\0";

/// The media type of Kubernetes protobuf bodies.
pub const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";

/// Decode a Kubernetes protobuf body (`k8s\0` magic + runtime.Unknown envelope) into the JSON object
/// the same request would carry as application/json (with apiVersion and kind set from the envelope's TypeMeta).
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    decode_nested(body, 0)
}

/// [`decode`] for a body found `depth` RawExtensions deep inside another one.
pub(crate) fn decode_nested(body: &[u8], depth: usize) -> Result<Value, ProtoError> {
    let payload = body
        .strip_prefix(&MAGIC)
        .ok_or_else(|| ProtoError::BadMagic {
            found: describe_prefix(body),
        })?;
    let envelope = DynamicMessage::decode(schema::message(schema::UNKNOWN)?, payload)
        .map_err(|source| ProtoError::Envelope { source })?;

    let type_meta = match envelope.get_field_by_name("typeMeta").as_deref() {
        Some(PValue::Message(m)) => m.clone(),
        _ => DynamicMessage::new(schema::message("k8s.io.apimachinery.pkg.runtime.TypeMeta")?),
    };
    let api_version = string_field(&type_meta, "apiVersion");
    let kind = string_field(&type_meta, "kind");
    if api_version.is_empty() {
        return Err(ProtoError::MissingTypeMeta {
            missing: "apiVersion",
        });
    }
    if kind.is_empty() {
        return Err(ProtoError::MissingTypeMeta { missing: "kind" });
    }
    let encoding = string_field(&envelope, "contentEncoding");
    if !encoding.is_empty() {
        return Err(ProtoError::UnsupportedContentEncoding(encoding));
    }
    let raw = envelope
        .get_field_by_name("raw")
        .and_then(|v| v.as_bytes().cloned())
        .unwrap_or_default();

    let mut out = Map::new();
    out.insert("apiVersion".to_owned(), Value::String(api_version.clone()));
    out.insert("kind".to_owned(), Value::String(kind.clone()));
    let content_type = string_field(&envelope, "contentType");
    let media_type = content_type.split(';').next().unwrap_or_default().trim();
    match media_type {
        "" | CONTENT_TYPE => {
            let desc = schema::kind_message(&api_version, &kind)?;
            let msg = DynamicMessage::decode(desc.clone(), raw.as_ref()).map_err(|source| {
                ProtoError::Malformed {
                    message: desc.full_name().to_owned(),
                    field: locate::failing_field(&desc, &raw),
                    source,
                }
            })?;
            to_json::fill(&msg, &mut out, depth)?;
        }
        // An envelope may also wrap a JSON document.
        "application/json" => {
            let object: Map<String, Value> = serde_json::from_slice(&raw)
                .map_err(|e| ProtoError::invalid(format!("raw is not a JSON object: {e}")))?;
            for (k, v) in object {
                if k != "apiVersion" && k != "kind" {
                    out.insert(k, v);
                }
            }
        }
        _ => return Err(ProtoError::UnsupportedContentType(content_type)),
    }
    Ok(Value::Object(out))
}

/// Encode a JSON object as a Kubernetes protobuf body (envelope included); used by tests to build fixtures (and later by clients).
pub fn encode(object: &Value) -> Result<Vec<u8>, ProtoError> {
    let obj = object
        .as_object()
        .ok_or_else(|| ProtoError::NotAnObject(error::json_type(object)))?;
    let type_field = |name: &'static str| match obj.get(name).and_then(Value::as_str) {
        Some(s) if !s.is_empty() => Ok(s.to_owned()),
        _ => Err(ProtoError::MissingTypeMeta { missing: name }),
    };
    let (api_version, kind) = (type_field("apiVersion")?, type_field("kind")?);
    let desc = schema::kind_message(&api_version, &kind)?;
    let raw = from_json::object(&desc, obj, true)?.encode_to_vec();

    let mut type_meta =
        DynamicMessage::new(schema::message("k8s.io.apimachinery.pkg.runtime.TypeMeta")?);
    set_field(&mut type_meta, "apiVersion", PValue::String(api_version))?;
    set_field(&mut type_meta, "kind", PValue::String(kind))?;
    let mut envelope = DynamicMessage::new(schema::message(schema::UNKNOWN)?);
    set_field(&mut envelope, "typeMeta", PValue::Message(type_meta))?;
    set_field(&mut envelope, "raw", PValue::Bytes(raw.into()))?;
    // Go writes these non-pointer strings even when empty; so do we.
    set_field(
        &mut envelope,
        "contentEncoding",
        PValue::String(String::new()),
    )?;
    set_field(&mut envelope, "contentType", PValue::String(String::new()))?;

    let mut body = MAGIC.to_vec();
    envelope
        .encode(&mut body)
        .map_err(|e| ProtoError::Schema(e.to_string()))?;
    Ok(body)
}

fn string_field(msg: &DynamicMessage, name: &str) -> String {
    msg.get_field_by_name(name)
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}

fn set_field(msg: &mut DynamicMessage, name: &str, value: PValue) -> Result<(), ProtoError> {
    let desc = msg.descriptor();
    let field = desc
        .get_field_by_name(name)
        .ok_or_else(|| ProtoError::Schema(format!("{} has no field {name}", desc.full_name())))?;
    msg.try_set_field(&field, value)
        .map_err(|e| ProtoError::Schema(e.to_string()))
}

fn describe_prefix(body: &[u8]) -> String {
    if body.len() < MAGIC.len() {
        return format!("a body of only {} bytes", body.len());
    }
    body[..MAGIC.len()]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(" ")
}
