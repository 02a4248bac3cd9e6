//! Strategic merge patch (`application/strategic-merge-patch+json`) with
//! upstream semantics (`k8s.io/apimachinery/pkg/util/strategicpatch`):
//!
//! - maps merge recursively, `null` deletes a key;
//! - lists whose field has `patchStrategy: merge` merge item by item, matched
//!   by the field's merge key (lists of scalars are set-unioned); other lists
//!   are replaced whole;
//! - directives: `$patch: replace | delete` (and `merge`, accepted on maps) on
//!   maps and list items, `$retainKeys`, `$setElementOrder/<list>`,
//!   `$deleteFromPrimitiveList/<list>`;
//! - merged lists are ordered by `$setElementOrder` when given, otherwise by
//!   the patch list with live-only items kept in their live order (items new to
//!   the list come first, as upstream).
//!
//! Where upstream copies a patch fragment verbatim into an absent field, this
//! implementation strips its directives and nulls first, so results never
//! carry `$`-keys.
//!
//! Per-field strategies come from a [`PatchMeta`]; see
//! [`crate::patch::k8s_meta`] for the built-in types and
//! [`crate::patch::meta::DefaultPatchMeta`] for schema-less objects.

mod apply;
mod diff;
mod directives;
mod error;
mod gofmt;
mod order;
#[cfg(test)]
mod tests;

use serde_json::{Map, Value};

pub use self::error::PatchError;
pub use crate::patch::meta::{DefaultPatchMeta, FieldMeta, PatchMeta, PatchStrategy, TreeMeta};

fn as_object(value: &Value) -> Result<Map<String, Value>, PatchError> {
    match value {
        Value::Object(map) => Ok(map.clone()),
        Value::Null => Ok(Map::new()),
        _ => Err(PatchError::InvalidDocument),
    }
}

/// Applies a strategic merge `patch` to `original` (both JSON objects; `null`
/// counts as `{}`), as the API server does for `PATCH` with
/// `application/strategic-merge-patch+json`.
pub fn apply_strategic_patch(
    original: &Value,
    patch: &Value,
    meta: &dyn PatchMeta,
) -> Result<Value, PatchError> {
    let original = as_object(original)?;
    let patch = as_object(patch)?;
    apply::merge_map(original, patch, meta, apply::Mode::Apply).map(Value::Object)
}

/// The strategic merge patch that turns `original` into `modified` (upstream
/// `CreateTwoWayMergePatch`, with `$setElementOrder` lists). Keys are sorted
/// as Go's encoder sorts them, so the result serializes like kubectl's.
pub fn create_two_way_merge_patch(
    original: &Value,
    modified: &Value,
    meta: &dyn PatchMeta,
) -> Result<Value, PatchError> {
    let original = as_object(original)?;
    let modified = as_object(modified)?;
    let opts = diff::DiffOptions {
        set_element_order: true,
        ..diff::DiffOptions::default()
    };
    let mut patch = Value::Object(diff::diff_maps(&original, &modified, meta, opts)?);
    diff::sort_keys(&mut patch);
    Ok(patch)
}

/// The patch client-side `kubectl apply` sends (upstream
/// `CreateThreeWayMergePatch` with `overwrite = true`): everything in
/// `modified` that differs from `current`, plus deletions of what was in
/// `original` (the last applied configuration) and is no longer in
/// `modified`. Fields only `current` has (set by the server or other
/// clients) are left alone. Conflict detection (`overwrite = false`) is not
/// implemented.
pub fn create_three_way_merge_patch(
    original: &Value,
    modified: &Value,
    current: &Value,
    meta: &dyn PatchMeta,
) -> Result<Value, PatchError> {
    let original = as_object(original)?;
    let modified = as_object(modified)?;
    let current = as_object(current)?;
    let delta = diff::diff_maps(
        &current,
        &modified,
        meta,
        diff::DiffOptions {
            set_element_order: true,
            ignore_deletions: true,
            ..diff::DiffOptions::default()
        },
    )?;
    let deletions = diff::diff_maps(
        &original,
        &modified,
        meta,
        diff::DiffOptions {
            set_element_order: true,
            ignore_changes_and_additions: true,
            ..diff::DiffOptions::default()
        },
    )?;
    let merged = apply::merge_map(deletions, delta, meta, apply::Mode::MergePatches)?;
    let mut patch = Value::Object(merged);
    diff::sort_keys(&mut patch);
    Ok(patch)
}
