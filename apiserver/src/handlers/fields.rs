//! `metadata.managedFields` on every write: the writer (the request's
//! `fieldManager`, else its user agent) gains the fields it changed, as
//! upstream's field manager does. Apply requests compute ownership in
//! `patch::server_side_apply` instead.

use serde_json::Value;

use super::Ctx;
use apimachinery::managed::{self, Manager};

/// The manager name of this request.
pub fn manager_name(ctx: &Ctx) -> String {
    if let Some(m) = ctx.params.field_manager() {
        return m.chars().take(128).collect();
    }
    let agent = ctx.headers.get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("unknown");
    agent.split('/').next().unwrap_or("unknown").chars().take(128).collect()
}

/// Whether this request is a server-side apply (which tracks its own fields).
pub fn is_apply(ctx: &Ctx) -> bool {
    ctx.headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/apply-patch"))
}

/// Record the fields this write changed. A pod's binding is not tracked:
/// upstream's binding storage writes the pod below the field manager, so
/// `spec.nodeName` is owned by nobody.
pub fn track(ctx: &Ctx, old: Option<&Value>, new: &mut Value) {
    if is_apply(ctx) || ctx.info.subresource.as_deref() == Some("binding") {
        return;
    }
    let name = manager_name(ctx);
    let api_version = ctx.def.api_version();
    let time = ctx.state.now_rfc3339();
    let mut manager = Manager::new(&name, &api_version, &time);
    if let Some(sub) = ctx.info.subresource.as_deref() {
        manager = manager.with_subresource(sub);
    }
    let meta = ctx.def.codec.patch_meta();
    managed::update_in_place(old, new, &manager, meta.as_ref());
}
