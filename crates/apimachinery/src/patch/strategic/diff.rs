//! Computing a strategic merge patch from two documents (upstream `diffMaps`
//! and friends, as used by `CreateTwoWayMergePatch`).

use serde_json::{Map, Value};

use super::directives::{
    DELETE, DELETE_FROM_PRIMITIVE_LIST, DIRECTIVE, RETAIN_KEYS, SET_ELEMENT_ORDER,
};
use super::error::PatchError;
use super::gofmt::{fmt_v, kind, GoKind};
use super::order::{
    merge_key_value, merge_key_value_equal, normalize_slice_order, slice_element_type,
};
use crate::patch::meta::{PatchMeta, PatchStrategy};

type Object = Map<String, Value>;

#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct DiffOptions {
    /// Emit `$setElementOrder/<list>` for merged lists.
    pub set_element_order: bool,
    pub ignore_changes_and_additions: bool,
    pub ignore_deletions: bool,
    /// Emit `$retainKeys` for this map (its field has the retainKeys strategy).
    pub build_retain_keys: bool,
}

/// The patch that turns `original` into `modified`.
pub(crate) fn diff_maps(
    original: &Object,
    modified: &Object,
    meta: &dyn PatchMeta,
    opts: DiffOptions,
) -> Result<Object, PatchError> {
    let mut patch = Object::new();
    let mut retain_keys: Vec<String> = Vec::new();
    for (key, modified_value) in modified {
        if opts.build_retain_keys && !modified_value.is_null() {
            retain_keys.push(key.clone());
        }
        let Some(original_value) = original.get(key) else {
            if !opts.ignore_changes_and_additions {
                patch.insert(key.clone(), modified_value.clone());
            }
            continue;
        };
        if key == DIRECTIVE {
            let (Some(o), Some(m)) = (original_value.as_str(), modified_value.as_str()) else {
                return Err(PatchError::BadDirectiveValue);
            };
            if o != m {
                patch.insert(key.clone(), modified_value.clone());
            }
            continue;
        }
        if kind(original_value) != kind(modified_value) {
            if !opts.ignore_changes_and_additions {
                patch.insert(key.clone(), modified_value.clone());
            }
            continue;
        }
        match (original_value, modified_value) {
            (Value::Object(o), Value::Object(m)) => {
                diff_map_field(key, o, m, &mut patch, meta, opts)?
            }
            (Value::Array(o), Value::Array(m)) => {
                diff_list_field(key, o, m, &mut patch, meta, opts)?
            }
            _ => replace_if_not_equal(key, original_value, modified_value, &mut patch, opts),
        }
    }
    if !opts.ignore_deletions {
        for key in original.keys() {
            if !modified.contains_key(key) {
                patch.insert(key.clone(), Value::Null);
            }
        }
    }
    if !retain_keys.is_empty()
        && (!patch.is_empty() || has_additional_new_field(original, modified))
    {
        retain_keys.sort();
        patch.insert(
            RETAIN_KEYS.to_string(),
            Value::Array(retain_keys.into_iter().map(Value::String).collect()),
        );
    }
    Ok(patch)
}

fn replace_if_not_equal(
    key: &str,
    original: &Value,
    modified: &Value,
    patch: &mut Object,
    opts: DiffOptions,
) {
    if !opts.ignore_changes_and_additions && original != modified {
        patch.insert(key.to_string(), modified.clone());
    }
}

fn has_additional_new_field(original: &Object, modified: &Object) -> bool {
    original
        .iter()
        .any(|(k, v)| !v.is_null() && !modified.contains_key(k))
}

fn diff_map_field(
    key: &str,
    original: &Object,
    modified: &Object,
    patch: &mut Object,
    meta: &dyn PatchMeta,
    mut opts: DiffOptions,
) -> Result<(), PatchError> {
    let field = meta.field(key);
    opts.build_retain_keys = field.retain_keys;
    if field.strategy == PatchStrategy::Replace {
        if !opts.ignore_changes_and_additions && original != modified {
            patch.insert(key.to_string(), Value::Object(modified.clone()));
        }
        return Ok(());
    }
    let value = diff_maps(original, modified, field.child.as_ref(), opts)?;
    if !value.is_empty() {
        patch.insert(key.to_string(), Value::Object(value));
    }
    Ok(())
}

fn diff_list_field(
    key: &str,
    original: &[Value],
    modified: &[Value],
    patch: &mut Object,
    meta: &dyn PatchMeta,
    mut opts: DiffOptions,
) -> Result<(), PatchError> {
    let field = meta.field(key);
    let PatchStrategy::Merge { merge_key } = &field.strategy else {
        if !opts.ignore_changes_and_additions && original != modified {
            patch.insert(key.to_string(), Value::Array(modified.to_vec()));
        }
        return Ok(());
    };
    opts.build_retain_keys = field.retain_keys;
    let merge_key = merge_key.as_deref().unwrap_or("");
    let lists = diff_lists(original, modified, field.child.as_ref(), merge_key, opts)?;
    if !lists.patch.is_empty() {
        patch.insert(key.to_string(), Value::Array(lists.patch));
    }
    if !lists.deletions.is_empty() {
        patch.insert(
            format!("{DELETE_FROM_PRIMITIVE_LIST}/{key}"),
            Value::Array(lists.deletions),
        );
    }
    if !lists.order.is_empty() {
        patch.insert(
            format!("{SET_ELEMENT_ORDER}/{key}"),
            Value::Array(lists.order),
        );
    }
    Ok(())
}

#[derive(Default)]
struct ListDiff {
    patch: Vec<Value>,
    /// `$deleteFromPrimitiveList` values (lists of scalars only).
    deletions: Vec<Value>,
    /// `$setElementOrder` values.
    order: Vec<Value>,
}

fn diff_lists(
    original: &[Value],
    modified: &[Value],
    item_meta: &dyn PatchMeta,
    merge_key: &str,
    opts: DiffOptions,
) -> Result<ListDiff, PatchError> {
    if original.is_empty() {
        if modified.is_empty() || opts.ignore_changes_and_additions {
            return Ok(ListDiff::default());
        }
        return Ok(ListDiff {
            patch: modified.to_vec(),
            ..ListDiff::default()
        });
    }
    let Some(element_kind) = slice_element_type(&[original, modified])? else {
        return Ok(ListDiff::default());
    };
    match element_kind {
        GoKind::Map => {
            let (patch, deletions) =
                diff_lists_of_maps(original, modified, item_meta, merge_key, opts)?;
            let mut patch = normalize_slice_order(patch, modified, merge_key, element_kind)?;
            let order_same = is_order_same(original, modified, merge_key)?;
            patch.extend(deletions);
            let mut order = Vec::new();
            if opts.set_element_order
                && ((!opts.ignore_changes_and_additions && (!patch.is_empty() || !order_same))
                    || (!opts.ignore_deletions && !patch.is_empty()))
            {
                for item in modified {
                    let mut entry = Map::new();
                    entry.insert(
                        merge_key.to_string(),
                        item.as_object()
                            .and_then(|m| m.get(merge_key))
                            .cloned()
                            .unwrap_or(Value::Null),
                    );
                    order.push(Value::Object(entry));
                }
            }
            Ok(ListDiff {
                patch,
                deletions: Vec::new(),
                order,
            })
        }
        GoKind::Slice => Err(PatchError::ListOfLists),
        _ => {
            let (patch, deletions) = diff_lists_of_scalars(original, modified, opts);
            let patch = normalize_slice_order(patch, modified, merge_key, element_kind)?;
            let order = if opts.set_element_order
                && ((!opts.ignore_deletions && !deletions.is_empty())
                    || (!opts.ignore_changes_and_additions && original != modified))
            {
                modified.to_vec()
            } else {
                Vec::new()
            };
            Ok(ListDiff {
                patch,
                deletions,
                order,
            })
        }
    }
}

fn is_order_same(
    original: &[Value],
    modified: &[Value],
    merge_key: &str,
) -> Result<bool, PatchError> {
    if original.len() != modified.len() {
        return Ok(false);
    }
    for (o, m) in original.iter().zip(modified) {
        if !merge_key_value_equal(o, m, merge_key)? {
            return Ok(false);
        }
    }
    Ok(true)
}

/// Sorted by `%v` rendering, as upstream compares scalars.
fn sorted_by_rendering(items: &[Value]) -> Vec<(String, Value)> {
    let mut out: Vec<(String, Value)> = items.iter().map(|v| (fmt_v(v), v.clone())).collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// (additions, de-duplicated deletions) between two lists of scalars.
fn diff_lists_of_scalars(
    original: &[Value],
    modified: &[Value],
    opts: DiffOptions,
) -> (Vec<Value>, Vec<Value>) {
    let original = sorted_by_rendering(original);
    let modified = sorted_by_rendering(modified);
    let (mut oi, mut mi) = (0, 0);
    let mut additions = Vec::new();
    let mut deletions: Vec<Value> = Vec::new();
    loop {
        match (original.get(oi), modified.get(mi)) {
            (None, None) => break,
            (Some((os, _)), Some((ms, _))) if os == ms => {
                oi += 1;
                mi += 1;
            }
            (Some((os, ov)), Some((ms, _))) if os < ms => {
                if !opts.ignore_deletions && !deletions.contains(ov) {
                    deletions.push(ov.clone());
                }
                oi += 1;
            }
            (Some((_, ov)), None) => {
                if !opts.ignore_deletions && !deletions.contains(ov) {
                    deletions.push(ov.clone());
                }
                oi += 1;
            }
            (_, Some((_, mv))) => {
                if !opts.ignore_changes_and_additions {
                    additions.push(mv.clone());
                }
                mi += 1;
            }
        }
    }
    (additions, deletions)
}

/// (changes and additions, `$patch: delete` items) between two lists of maps
/// matched by `merge_key`.
fn diff_lists_of_maps(
    original: &[Value],
    modified: &[Value],
    item_meta: &dyn PatchMeta,
    merge_key: &str,
    opts: DiffOptions,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let keyed = |items: &[Value]| -> Result<Vec<(String, Value)>, PatchError> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            let key = merge_key_value(item, merge_key)?;
            out.push((fmt_v(key), item.clone()));
        }
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    };
    let original = keyed(original)?;
    let modified = keyed(modified)?;
    let mut patch = Vec::new();
    let mut deletions = Vec::new();
    let (mut oi, mut mi) = (0, 0);
    loop {
        match (original.get(oi), modified.get(mi)) {
            (None, None) => break,
            (Some((os, ov)), Some((ms, mv))) if os == ms => {
                if let (Value::Object(o), Value::Object(m)) = (ov, mv) {
                    let mut item = diff_maps(o, m, item_meta, opts)?;
                    if !item.is_empty() {
                        let key_value = merge_key_value(mv, merge_key)?.clone();
                        item.insert(merge_key.to_string(), key_value);
                        patch.push(Value::Object(item));
                    }
                }
                oi += 1;
                mi += 1;
            }
            (Some((os, ov)), Some((ms, _))) if os < ms => {
                push_deletion(&mut deletions, ov, merge_key, opts)?;
                oi += 1;
            }
            (Some((_, ov)), None) => {
                push_deletion(&mut deletions, ov, merge_key, opts)?;
                oi += 1;
            }
            (_, Some((_, mv))) => {
                if !opts.ignore_changes_and_additions {
                    patch.push(mv.clone());
                }
                mi += 1;
            }
        }
    }
    Ok((patch, deletions))
}

fn push_deletion(
    deletions: &mut Vec<Value>,
    item: &Value,
    merge_key: &str,
    opts: DiffOptions,
) -> Result<(), PatchError> {
    if opts.ignore_deletions {
        return Ok(());
    }
    let mut directive = Map::new();
    directive.insert(DIRECTIVE.to_string(), Value::String(DELETE.to_string()));
    directive.insert(
        merge_key.to_string(),
        merge_key_value(item, merge_key)?.clone(),
    );
    deletions.push(Value::Object(directive));
    Ok(())
}

/// Sorts object keys recursively, as Go's `json.Marshal` of a map does.
pub(crate) fn sort_keys(value: &mut Value) {
    match value {
        Value::Object(map) => {
            map.sort_keys();
            for v in map.values_mut() {
                sort_keys(v);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(sort_keys),
        _ => {}
    }
}
