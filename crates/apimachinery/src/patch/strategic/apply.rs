//! Merging a strategic merge patch into a map (upstream `mergeMap` /
//! `mergeSlice`), in one of two modes:
//!
//! - [`Mode::Apply`] (server side): parallel lists (`$deleteFromPrimitiveList`,
//!   `$setElementOrder`, `$retainKeys`) are executed, nulls delete, results
//!   are plain data;
//! - [`Mode::MergePatches`] (three-way diff): `original` is itself a patch;
//!   directives, nulls and parallel lists are carried into the result.

use serde_json::{Map, Value};

use super::directives::{
    extract_key, strip, strip_list, strip_map, DELETE, DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE,
    MERGE, REPLACE, RETAIN_KEYS, SET_ELEMENT_ORDER,
};
use super::error::PatchError;
use super::gofmt::{fmt_v, kind, type_name, GoKind, SLICE_TYPE};
use super::order::{
    extract_to_delete_items, find_map_by_key, merge_key_value, merge_key_value_equal,
    normalize_element_order, partition, slice_element_type,
};
use crate::patch::meta::{FieldMeta, PatchMeta, PatchStrategy};

type Object = Map<String, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Apply,
    MergePatches,
}

impl Mode {
    /// A patch fragment taken as is into the result.
    fn take(self, value: Value) -> Value {
        match self {
            Mode::Apply => strip(value),
            Mode::MergePatches => value,
        }
    }

    fn take_map(self, map: Object) -> Object {
        match self {
            Mode::Apply => strip_map(map),
            Mode::MergePatches => map,
        }
    }

    fn take_list(self, items: Vec<Value>) -> Vec<Value> {
        match self {
            Mode::Apply => strip_list(items),
            Mode::MergePatches => items,
        }
    }
}

/// Merges `patch` into `original`, both JSON objects at the position `meta`.
pub(crate) fn merge_map(
    mut original: Object,
    mut patch: Object,
    meta: &dyn PatchMeta,
    mode: Mode,
) -> Result<Object, PatchError> {
    if let Some(directive) = patch.get(DIRECTIVE) {
        match directive.as_str() {
            Some(REPLACE) => {
                patch.shift_remove(DIRECTIVE);
                return Ok(mode.take_map(patch));
            }
            Some(DELETE) => return Ok(Map::new()),
            // Upstream rejects `$patch: merge` on maps; merging is what it asks for.
            Some(MERGE) => {
                patch.shift_remove(DIRECTIVE);
            }
            _ => {
                return Err(PatchError::BadPatchType {
                    directive: fmt_v(directive),
                    map: fmt_v(&Value::Object(patch)),
                })
            }
        }
    }

    match mode {
        Mode::Apply => apply_retain_keys(&mut original, &mut patch)?,
        Mode::MergePatches => carry_directive(&mut original, &mut patch, RETAIN_KEYS)?,
    }
    merge_set_element_order(&mut original, &mut patch, meta, mode)?;

    for (key, patch_value) in patch {
        if key.starts_with(DELETE_FROM_PRIMITIVE_LIST) {
            let list_key = extract_key(&key, DELETE_FROM_PRIMITIVE_LIST)?.to_string();
            match mode {
                Mode::Apply if patch_value.is_null() => {
                    original.shift_remove(&list_key);
                }
                Mode::Apply => delete_from_list(original.get_mut(&list_key), &patch_value)?,
                Mode::MergePatches => {
                    original.insert(key, patch_value);
                }
            }
            continue;
        }
        if patch_value.is_null() {
            match mode {
                Mode::Apply => original.shift_remove(&key),
                Mode::MergePatches => original.insert(key, Value::Null),
            };
            continue;
        }
        let Some(current) = original.get_mut(&key) else {
            // Nothing to merge with.
            original.insert(key, mode.take(patch_value));
            continue;
        };
        if kind(current) != kind(&patch_value) {
            *current = mode.take(patch_value);
            continue;
        }
        let field = meta.field(&key);
        *current = match (std::mem::take(current), patch_value) {
            (Value::Object(o), Value::Object(p)) => {
                if field.strategy == PatchStrategy::Replace {
                    Value::Object(mode.take_map(p))
                } else {
                    Value::Object(merge_map(o, p, field.child.as_ref(), mode)?)
                }
            }
            (Value::Array(o), Value::Array(p)) => {
                Value::Array(merge_list_field(o, p, &field, mode)?)
            }
            (_, p) => p,
        };
    }
    Ok(original)
}

/// A list field: merged when its strategy says so, otherwise replaced.
fn merge_list_field(
    original: Vec<Value>,
    patch: Vec<Value>,
    field: &FieldMeta,
    mode: Mode,
) -> Result<Vec<Value>, PatchError> {
    match &field.strategy {
        PatchStrategy::Merge { merge_key } => merge_slice(
            original,
            patch,
            field.child.as_ref(),
            merge_key.as_deref().unwrap_or(""),
            mode,
        ),
        _ => Ok(mode.take_list(patch)),
    }
}

/// Merging two patches: a directive present in both must agree; one present
/// only in `patch` moves to `original`.
fn carry_directive(original: &mut Object, patch: &mut Object, key: &str) -> Result<(), PatchError> {
    let Some(value) = patch.shift_remove(key) else {
        return Ok(());
    };
    match original.get(key) {
        Some(existing) if *existing != value => Err(PatchError::DirectiveConflict {
            key: key.to_string(),
            left: fmt_v(existing),
            right: fmt_v(&value),
        }),
        Some(_) => Ok(()),
        None => {
            original.insert(key.to_string(), value);
            Ok(())
        }
    }
}

/// `$deleteFromPrimitiveList/<list>`: removes the given values from the list.
/// Upstream only does this for merge lists of scalars (and replaces other
/// lists with the deletion list); here the values are removed from any list.
fn delete_from_list(current: Option<&mut Value>, values: &Value) -> Result<(), PatchError> {
    let Value::Array(values) = values else {
        return Err(PatchError::BadPrimitiveListFormat);
    };
    if let Some(Value::Array(items)) = current {
        items.retain(|item| !values.contains(item));
    }
    Ok(())
}

/// `$retainKeys`: drop every field of `original` not listed; every non-null
/// field of the patch must be listed.
fn apply_retain_keys(original: &mut Object, patch: &mut Object) -> Result<(), PatchError> {
    let Some(retain) = patch.shift_remove(RETAIN_KEYS) else {
        return Ok(());
    };
    let Value::Array(retain) = retain else {
        return Err(PatchError::BadRetainKeysFormat);
    };
    let listed = |k: &str| retain.iter().any(|r| r.as_str() == Some(k));
    for (k, v) in patch.iter() {
        if v.is_null()
            || k.starts_with(DELETE_FROM_PRIMITIVE_LIST)
            || k.starts_with(SET_ELEMENT_ORDER)
        {
            continue;
        }
        if !listed(k) {
            return Err(PatchError::BadRetainKeysFormat);
        }
    }
    original.retain(|k, _| listed(k));
    Ok(())
}

fn as_list(value: Option<&Value>) -> Result<Option<Vec<Value>>, PatchError> {
    match value {
        None => Ok(None),
        Some(Value::Array(items)) => Ok(Some(items.clone())),
        Some(other) => Err(PatchError::BadArgType {
            expected: SLICE_TYPE,
            actual: type_name(other),
        }),
    }
}

/// Handles every `$setElementOrder/<list>` of `patch`: merges the list (if
/// patched) and orders the result; the list is then removed from `patch`.
/// When merging patches the order list itself is carried into `original`.
fn merge_set_element_order(
    original: &mut Object,
    patch: &mut Object,
    meta: &dyn PatchMeta,
    mode: Mode,
) -> Result<(), PatchError> {
    let directive_keys: Vec<String> = patch
        .keys()
        .filter(|k| k.starts_with(SET_ELEMENT_ORDER))
        .cloned()
        .collect();
    for directive_key in directive_keys {
        if mode == Mode::MergePatches {
            if let (Some(mine), Some(theirs)) =
                (original.get(&directive_key), patch.get(&directive_key))
            {
                if mine != theirs {
                    return Err(PatchError::BadSetElementOrderFormat);
                }
            }
        }
        let Some(order) = patch.shift_remove(&directive_key) else {
            continue;
        };
        if mode == Mode::MergePatches && !original.contains_key(&directive_key) {
            original.insert(directive_key.clone(), order.clone());
        }
        let Value::Array(order) = order else {
            return Err(PatchError::BadArgType {
                expected: SLICE_TYPE,
                actual: type_name(&order),
            });
        };
        let list_key = extract_key(&directive_key, SET_ELEMENT_ORDER)?.to_string();
        let original_list = as_list(original.get(&list_key))?;
        let patch_list = as_list(patch.get(&list_key))?;
        let field = meta.field(&list_key);
        let merge_key = match &field.strategy {
            PatchStrategy::Merge { merge_key } => merge_key.clone().unwrap_or_default(),
            _ => String::new(),
        };
        validate_patch_with_set_order_list(
            patch_list.as_deref().unwrap_or(&[]),
            &order,
            &merge_key,
        )?;

        let merged = match (&original_list, &patch_list) {
            (None, None) => continue,
            (Some(o), None) => o.clone(),
            (None, Some(p)) => mode.take_list(p.clone()),
            (Some(o), Some(p)) => merge_list_field(o.clone(), p.clone(), &field, mode)?,
        };
        let original_list = original_list.unwrap_or_default();
        let element_kind =
            slice_element_type(&[&original_list, patch_list.as_deref().unwrap_or(&[])])?;
        let ordered = match element_kind {
            Some(element_kind) => {
                let (in_order, server_only) = partition(merged, &order, &merge_key, element_kind)?;
                normalize_element_order(
                    in_order,
                    server_only,
                    &order,
                    &original_list,
                    &merge_key,
                    element_kind,
                )?
            }
            None => merged,
        };
        original.insert(list_key.clone(), Value::Array(ordered));
        patch.shift_remove(&list_key);
    }
    Ok(())
}

/// Upstream `validatePatchWithSetOrderList`: the patch list's items must
/// appear in `$setElementOrder` in the same relative order.
fn validate_patch_with_set_order_list(
    patch_list: &[Value],
    order: &[Value],
    merge_key: &str,
) -> Result<(), PatchError> {
    if order.is_empty() || patch_list.is_empty() {
        return Ok(());
    }
    let items = if merge_key.is_empty() {
        patch_list.to_vec()
    } else {
        extract_to_delete_items(patch_list.to_vec())?.0
    };
    let (mut pi, mut oi) = (0, 0);
    while pi < items.len() && oi < order.len() {
        if items[pi]
            .as_object()
            .is_some_and(|m| m.contains_key(DIRECTIVE))
        {
            pi += 1;
            continue;
        }
        if merge_key_value_equal(&items[pi], &order[oi], merge_key)? {
            pi += 1;
        }
        oi += 1;
    }
    if pi < items.len() && oi >= order.len() {
        return Err(PatchError::SetElementOrderMismatch {
            patch: fmt_v(&Value::Array(patch_list.to_vec())),
            order: fmt_v(&Value::Array(order.to_vec())),
        });
    }
    Ok(())
}

/// Upstream `mergeSlice` for a list with the merge strategy.
fn merge_slice(
    original: Vec<Value>,
    patch: Vec<Value>,
    item_meta: &dyn PatchMeta,
    merge_key: &str,
    mode: Mode,
) -> Result<Vec<Value>, PatchError> {
    let Some(element_kind) = slice_element_type(&[&original, &patch])? else {
        return Ok(original);
    };
    if element_kind != GoKind::Map {
        let mut merged: Vec<Value> = Vec::with_capacity(original.len() + patch.len());
        for item in original.iter().chain(patch.iter()) {
            if !merged.contains(item) {
                merged.push(item.clone());
            }
        }
        let (in_patch, server_only) = partition(merged, &patch, merge_key, element_kind)?;
        return normalize_element_order(
            in_patch,
            server_only,
            &patch,
            &original,
            merge_key,
            element_kind,
        );
    }
    if merge_key.is_empty() {
        return Err(PatchError::NoMergeKeyDeclared("map"));
    }
    let (original, patch) = merge_slice_with_special_elements(original, patch, merge_key, mode)?;
    let merged =
        merge_slice_without_special_elements(original.clone(), &patch, merge_key, item_meta, mode)?;
    let (in_patch, server_only) = partition(merged, &patch, merge_key, element_kind)?;
    normalize_element_order(
        in_patch,
        server_only,
        &patch,
        &original,
        merge_key,
        element_kind,
    )
}

/// Applies `$patch` items of a list of maps: `delete` removes matching items,
/// `replace` makes the remaining patch items the whole list. Returns the new
/// (original, patch without directive items).
fn merge_slice_with_special_elements(
    mut original: Vec<Value>,
    patch: Vec<Value>,
    merge_key: &str,
    mode: Mode,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut plain = Vec::with_capacity(patch.len());
    let mut replace = false;
    for item in patch {
        let Some(directive) = item.as_object().and_then(|m| m.get(DIRECTIVE)) else {
            plain.push(item);
            continue;
        };
        match directive.as_str() {
            Some(DELETE) => {
                let value = merge_key_value(&item, merge_key)?;
                while let Some(i) = find_map_by_key(&original, merge_key, value)? {
                    original.remove(i);
                }
            }
            Some(REPLACE) => replace = true,
            Some(MERGE) => return Err(PatchError::MergeListDirective),
            _ => {
                return Err(PatchError::BadPatchType {
                    directive: fmt_v(directive),
                    map: fmt_v(&item),
                })
            }
        }
    }
    if replace {
        return Ok((mode.take_list(plain), Vec::new()));
    }
    Ok((original, plain))
}

/// Merges each patch item into the original item with the same merge key, or
/// appends it.
fn merge_slice_without_special_elements(
    mut original: Vec<Value>,
    patch: &[Value],
    merge_key: &str,
    item_meta: &dyn PatchMeta,
    mode: Mode,
) -> Result<Vec<Value>, PatchError> {
    for item in patch {
        let value = merge_key_value(item, merge_key)?;
        match find_map_by_key(&original, merge_key, value)? {
            Some(i) => {
                let (Value::Object(current), Value::Object(patch_item)) =
                    (std::mem::take(&mut original[i]), item)
                else {
                    return Err(PatchError::NotAMap(i));
                };
                original[i] =
                    Value::Object(merge_map(current, patch_item.clone(), item_meta, mode)?);
            }
            None => original.push(mode.take(item.clone())),
        }
    }
    Ok(original)
}
