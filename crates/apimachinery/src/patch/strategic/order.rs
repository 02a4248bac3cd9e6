//! List ordering and item lookup shared by apply and diff (upstream
//! `normalizeElementOrder`, `mergeSortedSlice` and friends).
//!
//! Order precedence when merging: `$setElementOrder`, then the order of the
//! patch list, then the order of the live list. Items known only to the patch
//! and absent from the live list come first, as upstream.

use serde_json::Value;

use super::directives::{DELETE, DIRECTIVE};
use super::error::PatchError;
use super::gofmt::{fmt_lists, fmt_v, kind, type_name, GoKind, MAP_TYPE};

/// What identifies an item: its merge key's value for maps, itself otherwise.
fn identity<'a>(item: &'a Value, merge_key: &str, kind: GoKind) -> Option<&'a Value> {
    if kind == GoKind::Map {
        item.as_object().and_then(|m| m.get(merge_key))
    } else {
        Some(item)
    }
}

/// Position of `item` in `list`, compared by identity.
pub(crate) fn index(list: &[Value], item: &Value, merge_key: &str, kind: GoKind) -> Option<usize> {
    let wanted = identity(item, merge_key, kind);
    list.iter()
        .position(|v| identity(v, merge_key, kind) == wanted)
}

/// The common kind of all items; `None` when there are no items.
pub(crate) fn slice_element_type(lists: &[&[Value]]) -> Result<Option<GoKind>, PatchError> {
    let mut found: Option<GoKind> = None;
    for item in lists.iter().flat_map(|l| l.iter()) {
        let k = kind(item);
        match found {
            None if k == GoKind::Slice => return Err(PatchError::ListOfLists),
            None => found = Some(k),
            Some(prev) if prev != k => return Err(PatchError::MixedElementTypes(fmt_lists(lists))),
            Some(_) => {}
        }
    }
    Ok(found)
}

/// The value of `merge_key` in a list item that must be a map.
pub(crate) fn merge_key_value<'a>(
    item: &'a Value,
    merge_key: &str,
) -> Result<&'a Value, PatchError> {
    let Some(map) = item.as_object() else {
        return Err(PatchError::BadArgType {
            expected: MAP_TYPE,
            actual: type_name(item),
        });
    };
    map.get(merge_key).ok_or_else(|| PatchError::NoMergeKey {
        map: fmt_v(item),
        key: merge_key.to_string(),
    })
}

/// Upstream `mergeKeyValueEqual`: scalars compare whole, maps by merge key.
pub(crate) fn merge_key_value_equal(
    left: &Value,
    right: &Value,
    merge_key: &str,
) -> Result<bool, PatchError> {
    if merge_key.is_empty() {
        return Ok(left == right);
    }
    let l = merge_key_value(left, merge_key)?;
    let r = merge_key_value(right, merge_key)?;
    Ok(l == r)
}

/// Index of the first map in `list` whose `key` equals `value`.
pub(crate) fn find_map_by_key(
    list: &[Value],
    key: &str,
    value: &Value,
) -> Result<Option<usize>, PatchError> {
    for (i, item) in list.iter().enumerate() {
        let Some(map) = item.as_object() else {
            return Err(PatchError::NotAMap(i));
        };
        if map.get(key) == Some(value) {
            return Ok(Some(i));
        }
    }
    Ok(None)
}

/// Splits items into (present in `by`, absent from `by`), comparing maps by
/// merge key and other items whole.
pub(crate) fn partition(
    items: Vec<Value>,
    by: &[Value],
    merge_key: &str,
    kind: GoKind,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut present = Vec::with_capacity(items.len());
    let mut absent = Vec::with_capacity(items.len());
    for item in items {
        let found = if kind == GoKind::Map && !merge_key.is_empty() {
            let value = merge_key_value(&item, merge_key)?;
            find_map_by_key(by, merge_key, value)?.is_some()
        } else {
            by.contains(&item)
        };
        if found {
            present.push(item);
        } else {
            absent.push(item);
        }
    }
    Ok((present, absent))
}

/// Splits a patch list into (ordinary items, `$patch: delete` items).
pub(crate) fn extract_to_delete_items(
    items: Vec<Value>,
) -> Result<(Vec<Value>, Vec<Value>), PatchError> {
    let mut keep = Vec::new();
    let mut delete = Vec::new();
    for item in items {
        let Some(map) = item.as_object() else {
            return Err(PatchError::BadArgType {
                expected: MAP_TYPE,
                actual: type_name(&item),
            });
        };
        if map.get(DIRECTIVE).and_then(Value::as_str) == Some(DELETE) {
            delete.push(item);
        } else {
            keep.push(item);
        }
    }
    Ok((keep, delete))
}

fn validate_merge_key_in_lists(merge_key: &str, lists: &[&[Value]]) -> Result<(), PatchError> {
    for item in lists.iter().flat_map(|l| l.iter()) {
        merge_key_value(item, merge_key)?;
    }
    Ok(())
}

/// Sorts `to_sort` by position in `order` (stable; items missing from `order`
/// go first); delete directives go last.
pub(crate) fn normalize_slice_order(
    to_sort: Vec<Value>,
    order: &[Value],
    merge_key: &str,
    kind: GoKind,
) -> Result<Vec<Value>, PatchError> {
    let (mut to_sort, to_delete) = if kind == GoKind::Map {
        validate_merge_key_in_lists(merge_key, &[&to_sort, order])?;
        extract_to_delete_items(to_sort)?
    } else {
        (to_sort, Vec::new())
    };
    to_sort.sort_by_key(|v| index(order, v, merge_key, kind).map_or(-1, |i| i as i64));
    to_sort.extend(to_delete);
    Ok(to_sort)
}

/// Orders patch items by `patch_order`, server-only items by `server_order`,
/// then interleaves them keeping both relative orders.
pub(crate) fn normalize_element_order(
    patch: Vec<Value>,
    server_only: Vec<Value>,
    patch_order: &[Value],
    server_order: &[Value],
    merge_key: &str,
    kind: GoKind,
) -> Result<Vec<Value>, PatchError> {
    let patch = normalize_slice_order(patch, patch_order, merge_key, kind)?;
    let server_only = normalize_slice_order(server_only, server_order, merge_key, kind)?;
    Ok(merge_sorted_slice(
        server_only,
        patch,
        server_order,
        merge_key,
        kind,
    ))
}

/// Upstream `mergeSortedSlice`: takes a `left` item first only when both
/// items are in `server_order` and `left` comes earlier there.
fn merge_sorted_slice(
    left: Vec<Value>,
    right: Vec<Value>,
    server_order: &[Value],
    merge_key: &str,
    kind: GoKind,
) -> Vec<Value> {
    let mut out = Vec::with_capacity(left.len() + right.len());
    let mut left = left.into_iter().peekable();
    let mut right = right.into_iter().peekable();
    loop {
        let take_left = match (left.peek(), right.peek()) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some(l), Some(r)) => {
                match (
                    index(server_order, l, merge_key, kind),
                    index(server_order, r, merge_key, kind),
                ) {
                    (Some(li), Some(ri)) => li < ri,
                    _ => false,
                }
            }
        };
        let next = if take_left { left.next() } else { right.next() };
        out.extend(next);
    }
    out
}
