//! PATCH: JSON patch (RFC 6902), JSON merge patch (RFC 7386), strategic merge
//! patch, and server-side apply (`application/apply-patch+yaml`).
//!
//! The patch is applied to the current object (without its resourceVersion,
//! so only a resourceVersion the patch itself sets acts as a precondition),
//! the result is re-decoded with the endpoint's field validation, then goes
//! through the same update path as PUT.

use axum::http::{header, StatusCode};
use axum::response::Response;
use serde_json::{json, Value};

use super::meta::{self, meta_str};
use super::write::{guaranteed_update, UpdateKind};
use super::{json_response, Ctx};
use crate::error::{ApiError, ApiResult};
use crate::error::FieldError;
use crate::registry::ResourceDef;
use apimachinery::managed::{self, ApplyError, Manager};

/// A failed apply as the client sees it: 409 with one cause per conflict.
fn apply_error(ctx: &Ctx, name: &str, e: ApplyError) -> ApiError {
    match e {
        ApplyError::Conflicts(conflicts) => ApiError::Conflict {
            subject: crate::error::Subject { group: ctx.def.group.to_string(), kind: ctx.def.plural.to_string(), name: name.to_string() },
            message: managed::conflict_message(&conflicts),
            causes: conflicts
                .iter()
                .map(|c| FieldError { reason: "FieldManagerConflict", field: c.path.clone(), message: c.cause_message() })
                .collect(),
        },
        other => ApiError::bad_request(other.to_string()),
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatchType {
    Json,
    Merge,
    Strategic,
    Apply,
}

pub fn patch_type(ctx: &Ctx) -> ApiResult<PatchType> {
    let ct = ctx.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    match ct.split(';').next().unwrap_or("").trim() {
        "application/json-patch+json" => Ok(PatchType::Json),
        "application/merge-patch+json" => Ok(PatchType::Merge),
        "application/strategic-merge-patch+json" => Ok(PatchType::Strategic),
        "application/apply-patch+yaml" | "application/apply-patch+json" => Ok(PatchType::Apply),
        other => Err(ApiError::UnsupportedMediaType {
            message: format!("the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {other:?})"),
        }),
    }
}

/// Parse the patch document.
pub fn parse_patch(ctx: &Ctx, ty: PatchType) -> ApiResult<Value> {
    if ctx.body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request("the patch body is empty"));
    }
    let value: Value = match ty {
        PatchType::Apply => serde_yaml_ng::from_slice(&ctx.body).map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))?,
        _ => serde_json::from_slice(&ctx.body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?,
    };
    match (ty, &value) {
        (PatchType::Json, Value::Array(_)) => Ok(value),
        (PatchType::Json, _) => Err(ApiError::bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")),
        (_, Value::Object(_)) => Ok(value),
        (_, _) => Err(ApiError::bad_request("the patch must be a JSON object")),
    }
}

/// Apply a non-apply patch to `current` (whose resourceVersion was removed).
pub fn apply_patch(def: &ResourceDef, ty: PatchType, current: &Value, patch: &Value) -> ApiResult<Value> {
    match ty {
        PatchType::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(format!("invalid JSON patch: {e}")))?;
            let mut doc = current.clone();
            json_patch::patch(&mut doc, &ops).map_err(|e| ApiError::Invalid {
                subject: Default::default(),
                causes: Vec::new(),
                message: format!("the server rejected our request due to an error in our request: {e}"),
            })?;
            Ok(doc)
        }
        PatchType::Merge => {
            let mut doc = current.clone();
            json_patch::merge(&mut doc, patch);
            Ok(doc)
        }
        PatchType::Strategic | PatchType::Apply => {
            let patch_meta = def.codec.patch_meta();
            apimachinery::patch::strategic::apply_strategic_patch(current, patch, patch_meta.as_ref())
                .map_err(|e| ApiError::bad_request(format!("error applying strategic merge patch: {e}")))
        }
    }
}

fn without_rv(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
    }
    v
}

pub async fn patch(ctx: Ctx) -> ApiResult<Response> {
    let ty = patch_type(&ctx)?;
    let patch = parse_patch(&ctx, ty)?;
    let dry_run = ctx.params.dry_run()?;
    let name = ctx.name().to_string();
    if ty == PatchType::Apply {
        return server_side_apply(ctx, name, patch, dry_run).await;
    }
    let mut warnings = Vec::new();
    let updated = guaranteed_update(&ctx, &name, UpdateKind::Main, dry_run, |current| {
        let current = current.ok_or_else(|| ctx.not_found(&name))?;
        let patched = apply_patch(&ctx.def, ty, &without_rv(current), &patch)?;
        let body = meta::normalize_object(&ctx, &ctx.def, patched, Vec::new())?;
        warnings = body.warnings;
        Ok(body.value)
    })
    .await?;
    Ok(json_response(StatusCode::OK, &updated.object, &warnings))
}

/// Server-side apply: create the object from the applied configuration, or
/// merge the configuration into the live object and record the manager in
/// `managedFields`. Field-level ownership and conflicts are not tracked yet.
async fn server_side_apply(ctx: Ctx, name: String, applied: Value, dry_run: bool) -> ApiResult<Response> {
    let manager = ctx
        .params
        .field_manager()
        .ok_or_else(|| ApiError::bad_request("PATCH requests of type apply-patch require a fieldManager to be set"))?
        .to_string();
    let applied = meta::normalize_object(&ctx, &ctx.def, applied, Vec::new())?;
    let applied_value = applied.value;
    let applied_name = meta_str(&applied_value, "name");
    if !applied_name.is_empty() && applied_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({applied_name}) does not match the name on the URL ({name})"
        )));
    }
    let now = ctx.state.now_rfc3339();
    let api_version = ctx.def.api_version();
    let force = ctx.params.force();
    let patch_meta = ctx.def.codec.patch_meta();
    let mut manager_entry = Manager::new(&manager, &api_version, &now);
    if let Some(sub) = ctx.info.subresource.as_deref() {
        manager_entry = manager_entry.with_subresource(sub);
    }
    let config = without_rv(&applied_value);
    let updated = guaranteed_update(&ctx, &name, UpdateKind::Main, dry_run, |current| {
        let live = current.map(without_rv).unwrap_or(Value::Null);
        let mut merged = managed::apply(&live, &config, &manager_entry, force, patch_meta.as_ref()).map_err(|e| apply_error(&ctx, &name, e))?;
        if let Some(m) = merged.as_object_mut() {
            m.insert("apiVersion".into(), json!(api_version));
            m.insert("kind".into(), json!(ctx.def.kind));
        }
        meta::meta_mut(&mut merged).insert("name".into(), json!(name));
        Ok(merged)
    })
    .await?;
    let code = if updated.created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json_response(code, &updated.object, &applied.warnings))
}
