//! Turning a request body into a normalised object of the right kind, and the
//! generic metadata rules every write follows (namespace, names, uid,
//! timestamps, generation, immutable metadata).

use serde_json::{json, Map, Value};

use super::params::FieldValidation;
use super::Ctx;
use crate::codec;
use crate::error::{ApiError, ApiResult, FieldError};
use crate::registry::codec::unknown_fields;
use crate::registry::ResourceDef;
use crate::strategy::names;

/// A decoded, type-checked body and the warnings to send back.
pub struct Body {
    pub value: Value,
    pub warnings: Vec<String>,
}

/// Decode the request body as an object of `def`'s kind.
pub fn decode_object(ctx: &Ctx) -> ApiResult<Body> {
    let format = codec::body_format(&ctx.headers)?;
    let decoded = codec::decode(format, &ctx.body)?;
    normalize_object(ctx, &ctx.def, decoded.value, decoded.duplicates)
}

/// Check apiVersion/kind, round-trip through the typed struct and apply the
/// field validation policy.
pub fn normalize_object(ctx: &Ctx, def: &ResourceDef, mut value: Value, duplicates: Vec<String>) -> ApiResult<Body> {
    let validation = ctx.params.field_validation()?;
    if !value.is_object() {
        return Err(ApiError::bad_request(format!(
            "the body of the request must be a JSON object of kind {:?}, got {}",
            def.kind,
            type_name(&value)
        )));
    }
    check_type_meta(def, &mut value)?;
    let normalized = def.codec.normalize(&value).map_err(|e| {
        let at = if e.path.is_empty() || e.path == "." { String::new() } else { format!(" at {}", e.path) };
        ApiError::bad_request(format!(
            "{} in version {:?} cannot be handled as a {}: {}{at}",
            def.kind,
            def.version,
            def.kind,
            e.message
        ))
    })?;
    let mut problems: Vec<String> =
        unknown_fields(&value, &normalized).into_iter().map(|f| format!("unknown field {f:?}")).collect();
    problems.extend(duplicates.into_iter().map(|f| format!("duplicate field {f:?}")));
    let mut warnings = Vec::new();
    match validation {
        FieldValidation::Strict if !problems.is_empty() => {
            return Err(ApiError::bad_request(format!(
                "{} in version {:?} cannot be handled as a {}: strict decoding error: {}",
                def.kind,
                def.version,
                def.kind,
                problems.join(", ")
            )));
        }
        FieldValidation::Warn => warnings = problems,
        _ => {}
    }
    let mut normalized = normalized;
    drop_empty_metadata(&mut normalized);
    Ok(Body { value: normalized, warnings })
}

/// Go omits empty maps and lists in `metadata` (`omitempty`); so do we.
pub fn drop_empty_metadata(obj: &mut Value) {
    if let Some(m) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        m.retain(|k, v| {
            let empty = match v {
                Value::Object(o) => o.is_empty(),
                Value::Array(a) => a.is_empty(),
                Value::String(s) => s.is_empty() && k != "name",
                _ => false,
            };
            !empty || !matches!(k.as_str(), "labels" | "annotations" | "finalizers" | "ownerReferences" | "managedFields" | "generateName" | "namespace")
        });
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `apiVersion` and `kind` must name this endpoint's type (or be absent).
fn check_type_meta(def: &ResourceDef, value: &mut Value) -> ApiResult<()> {
    let want_version = def.api_version();
    let version = value.get("apiVersion").and_then(Value::as_str).unwrap_or("").to_string();
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("").to_string();
    if (!kind.is_empty() && kind != def.kind) || (!version.is_empty() && version != want_version) {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({version}) does not match the expected API version ({want_version})"
        ))
        .with_kind_mismatch(&kind, def.kind));
    }
    value["apiVersion"] = json!(want_version);
    value["kind"] = json!(def.kind);
    Ok(())
}

impl ApiError {
    fn with_kind_mismatch(self, got: &str, want: &str) -> ApiError {
        if !got.is_empty() && got != want {
            ApiError::bad_request(format!("the kind in the data ({got}) does not match the expected kind ({want})"))
        } else {
            self
        }
    }
}

pub fn meta(obj: &Value) -> &Map<String, Value> {
    static EMPTY: std::sync::OnceLock<Map<String, Value>> = std::sync::OnceLock::new();
    obj.get("metadata").and_then(Value::as_object).unwrap_or_else(|| EMPTY.get_or_init(Map::new))
}

/// The object's `metadata` map, created if absent (callers pass objects).
pub fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.is_object() {
        *obj = json!({});
    }
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    match &mut obj["metadata"] {
        Value::Object(m) => m,
        _ => unreachable!("metadata was made an object above"),
    }
}

pub fn meta_str<'a>(obj: &'a Value, key: &str) -> &'a str {
    meta(obj).get(key).and_then(Value::as_str).unwrap_or("")
}

/// Namespace rules shared by create and update: the body's namespace must
/// match the URL's; cluster-scoped objects carry none.
pub fn apply_namespace(ctx: &Ctx, obj: &mut Value) -> ApiResult<()> {
    let url_ns = ctx.namespace().map(str::to_string);
    let m = meta_mut(obj);
    match (ctx.def.namespaced, url_ns) {
        (true, Some(ns)) => {
            let body_ns = m.get("namespace").and_then(Value::as_str).unwrap_or("");
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
            m.insert("namespace".into(), json!(ns));
        }
        (true, None) => return Err(ApiError::bad_request("a namespace is required for namespaced resources")),
        (false, _) => {
            m.remove("namespace");
        }
    }
    Ok(())
}

/// System-set metadata on create.
pub fn stamp_create(ctx: &Ctx, obj: &mut Value) {
    let now = ctx.state.now_rfc3339();
    let tracks_generation = ctx.def.strategy.tracks_generation();
    let m = meta_mut(obj);
    m.insert("uid".into(), json!(uuid::Uuid::new_v4().to_string()));
    m.insert("creationTimestamp".into(), json!(now));
    for key in ["resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds", "selfLink"] {
        m.remove(key);
    }
    if tracks_generation {
        m.insert("generation".into(), json!(1));
    } else {
        m.remove("generation");
    }
}

/// Metadata an update may not change is taken from `old`.
pub fn carry_update_meta(new: &mut Value, old: &Value) {
    let old_meta = meta(old);
    let m = meta_mut(new);
    for key in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generateName"] {
        match old_meta.get(key) {
            Some(v) => {
                m.insert(key.into(), v.clone());
            }
            None => {
                m.remove(key);
            }
        }
    }
    m.remove("selfLink");
}

/// `metadata.generation` after an update: bumped when the strategy says the
/// (fully defaulted) change needs it.
pub fn set_generation(ctx: &Ctx, new: &mut Value, old: &Value) {
    if !ctx.def.strategy.tracks_generation() {
        meta_mut(new).remove("generation");
        return;
    }
    let g = meta(old).get("generation").and_then(Value::as_i64).unwrap_or(1);
    let bump = ctx.def.strategy.generation_changes(new, old);
    meta_mut(new).insert("generation".into(), json!(if bump { g + 1 } else { g }));
}

/// Generic metadata validation: name, labels, annotations, finalizers.
pub fn validate_meta(def: &ResourceDef, obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let name = meta_str(obj, "name");
    if name.is_empty() {
        errs.push(FieldError::required("metadata.name", "name or generateName is required"));
    } else {
        errs.extend(names::validate_name(def.strategy.name_rule(), name, "metadata.name"));
    }
    errs.extend(names::validate_labels_and_annotations(obj.get("metadata").unwrap_or(&Value::Null), "metadata"));
    if let Some(fins) = meta(obj).get("finalizers").and_then(Value::as_array) {
        for (i, f) in fins.iter().enumerate() {
            let f = f.as_str().unwrap_or("");
            let standard = matches!(f, "kubernetes" | "orphan" | "foregroundDeletion");
            if !standard && !f.contains('/') {
                errs.push(FieldError::invalid(
                    format!("metadata.finalizers[{i}]"),
                    &json!(f),
                    "name is neither a standard finalizer name nor is it fully qualified",
                ));
            } else if !standard {
                for m in names::qualified_name_errors(f) {
                    errs.push(FieldError::invalid(format!("metadata.finalizers[{i}]"), &json!(f), &m));
                }
            }
        }
    }
    errs
}

/// Fail with 422 if there are field errors.
pub fn invalid_if_any(def: &ResourceDef, obj: &Value, errs: Vec<FieldError>) -> ApiResult<()> {
    if errs.is_empty() {
        Ok(())
    } else {
        Err(ApiError::invalid(def.group, def.kind, meta_str(obj, "name"), errs))
    }
}

/// Bytes as stored: the object without `resourceVersion` (the store's
/// revision is the source of truth).
pub fn encode_for_storage(def: &ResourceDef, obj: &Value) -> bytes::Bytes {
    let has_rv = obj.pointer("/metadata/resourceVersion").is_some();
    if def.conversion.is_none() && !has_rv {
        // The common case (a create): nothing to change, so no copy.
        return bytes::Bytes::from(serde_json::to_vec(obj).unwrap_or_default());
    }
    let mut v = def.to_storage(obj.clone());
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    bytes::Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
}

/// Parse a stored value and set its resourceVersion.
pub fn decode_stored(def: &ResourceDef, kv: &storage::KeyValue) -> ApiResult<Value> {
    let v: Value = serde_json::from_slice(&kv.value)
        .map_err(|e| ApiError::internal(format!("stored object {} is not valid JSON: {e}", kv.key)))?;
    let mut v = def.from_storage(v);
    crate::cache::object::set_resource_version(&mut v, kv.mod_revision);
    Ok(v)
}

/// The resourceVersion the client sent in the body, if any.
pub fn body_resource_version(obj: &Value) -> ApiResult<Option<i64>> {
    match meta_str(obj, "resourceVersion") {
        "" => Ok(None),
        rv => rv
            .parse::<i64>()
            .map(Some)
            .map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}: must be an integer"))),
    }
}
