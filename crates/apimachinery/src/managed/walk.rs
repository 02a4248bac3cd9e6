//! Walking objects with their patch metadata: which lists are associative,
//! sets or atomic; comparing two objects path by path (upstream
//! `TypedValue.Compare`); merging an applied configuration into an object
//! (upstream `TypedValue.Merge`); removing paths.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::{Map, Value};

use super::path::{compare_values, Path, PathElement};
use super::set::FieldSet;
use crate::patch::meta::{FieldMeta, PatchMeta, PatchStrategy};

type Object = Map<String, Value>;

/// How a list field is tracked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ListKind<'k> {
    /// Items are objects identified by this merge key (`k:`).
    Associative(&'k str),
    /// Items are scalars identified by their value (`v:`).
    Set,
    /// The list is one value.
    Atomic,
}

fn is_scalar(v: &Value) -> bool {
    !matches!(v, Value::Object(_) | Value::Array(_))
}

/// A list is associative (or a set) when its field merges and every item of
/// every list involved fits, without duplicates; otherwise it is atomic.
fn list_kind<'k>(field: &'k FieldMeta, lists: &[&[Value]]) -> ListKind<'k> {
    let PatchStrategy::Merge { merge_key } = &field.strategy else {
        return ListKind::Atomic;
    };
    let all = |pred: &dyn Fn(&Value) -> bool| lists.iter().all(|l| l.iter().all(pred));
    let kind = if all(&is_scalar) {
        ListKind::Set
    } else {
        match merge_key.as_deref() {
            Some(key)
                if !key.is_empty()
                    && all(&|item| {
                        item.get(key).is_some_and(|v| !v.is_null()) && item.is_object()
                    }) =>
            {
                ListKind::Associative(key)
            }
            _ => return ListKind::Atomic,
        }
    };
    let unique = lists.iter().all(|list| {
        let mut seen = BTreeSet::new();
        list.iter()
            .all(|item| element(kind, item).is_some_and(|pe| seen.insert(pe)))
    });
    if unique {
        kind
    } else {
        ListKind::Atomic
    }
}

/// The path element of a list item.
fn element(kind: ListKind<'_>, item: &Value) -> Option<PathElement> {
    match kind {
        ListKind::Associative(key) => item
            .get(key)
            .map(|v| PathElement::key(vec![(key.to_string(), v.clone())])),
        ListKind::Set => Some(PathElement::Value(item.clone())),
        ListKind::Atomic => None,
    }
}

fn indexed<'v>(kind: ListKind<'_>, items: &'v [Value]) -> Vec<(PathElement, &'v Value)> {
    items
        .iter()
        .filter_map(|item| element(kind, item).map(|pe| (pe, item)))
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Map,
    List,
    Scalar,
}

fn kind_of(v: &Value) -> Kind {
    match v {
        Value::Object(_) => Kind::Map,
        Value::Array(_) => Kind::List,
        _ => Kind::Scalar,
    }
}

/// What changed between two objects (upstream `typed.Comparison`).
#[derive(Debug, Clone, Default)]
pub(crate) struct Comparison {
    /// Subtrees not entered at all (see [`compare_skipping`]).
    skip: Vec<Path>,
    /// Leaves (and list items) only the right side has.
    pub added: FieldSet,
    /// Leaves whose value differs.
    pub modified: FieldSet,
    /// Leaves (and list items, and maps) only the left side has.
    pub removed: FieldSet,
}

/// Compares two objects. `compare(None, Some(x), meta).added` is the set of
/// fields `x` specifies.
pub(crate) fn compare(
    lhs: Option<&Object>,
    rhs: Option<&Object>,
    meta: &dyn PatchMeta,
) -> Comparison {
    compare_skipping(lhs, rhs, meta, &[])
}

/// [`compare`] that does not enter the fields at `skip` (on either side):
/// nothing at or below them appears in the result.
pub(crate) fn compare_skipping(
    lhs: Option<&Object>,
    rhs: Option<&Object>,
    meta: &dyn PatchMeta,
    skip: &[Path],
) -> Comparison {
    let mut c = Comparison {
        skip: skip.to_vec(),
        ..Comparison::default()
    };
    c.map(lhs, rhs, meta, &mut Vec::new());
    c.skip.clear();
    c
}

impl Comparison {
    fn leaf(&mut self, l: Option<&Value>, r: Option<&Value>, path: &[PathElement]) {
        match (l, r) {
            (Some(a), Some(b)) => {
                if a != b {
                    self.modified.insert(path);
                }
            }
            _ => self.presence(l.is_some(), r.is_some(), path),
        }
    }

    fn presence(&mut self, left: bool, right: bool, path: &[PathElement]) {
        match (left, right) {
            (false, true) => self.added.insert(path),
            (true, false) => self.removed.insert(path),
            _ => {}
        }
    }

    fn field(
        &mut self,
        l: Option<&Value>,
        r: Option<&Value>,
        field: &FieldMeta,
        path: &mut Vec<PathElement>,
    ) {
        let kind = match (l.map(kind_of), r.map(kind_of)) {
            (Some(a), Some(b)) if a != b => {
                self.field(l, None, field, path);
                self.field(None, r, field, path);
                return;
            }
            (Some(k), _) | (None, Some(k)) => k,
            (None, None) => return,
        };
        match kind {
            Kind::Map if field.strategy == PatchStrategy::Replace => self.leaf(l, r, path),
            Kind::Map => {
                let (lm, rm) = (l.and_then(Value::as_object), r.and_then(Value::as_object));
                self.map(lm, rm, field.child.as_ref(), path);
                // Drops stale "." ownership of a map that went away.
                if r.is_none() && !path.is_empty() {
                    self.removed.insert(path);
                }
            }
            Kind::List => {
                let la = l.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                let ra = r.and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
                match list_kind(field, &[la, ra]) {
                    _ if la.is_empty() && ra.is_empty() => self.leaf(l, r, path),
                    ListKind::Atomic => self.leaf(l, r, path),
                    kind => self.items(kind, la, ra, field.child.as_ref(), path),
                }
            }
            Kind::Scalar => self.leaf(l, r, path),
        }
    }

    /// Two maps (either may be absent). Both empty: a leaf, keeping the
    /// difference between `{}` and absent.
    fn map(
        &mut self,
        lm: Option<&Object>,
        rm: Option<&Object>,
        meta: &dyn PatchMeta,
        path: &mut Vec<PathElement>,
    ) {
        if lm.is_none_or(Map::is_empty) && rm.is_none_or(Map::is_empty) {
            self.presence(lm.is_some(), rm.is_some(), path);
            return;
        }
        let keys = lm.into_iter().flat_map(|m| m.keys()).chain(
            rm.into_iter()
                .flat_map(|m| m.keys())
                .filter(|k| !lm.is_some_and(|m| m.contains_key(*k))),
        );
        for key in keys {
            path.push(PathElement::Field(key.clone()));
            if self.skip.iter().any(|s| s.0 == *path) {
                path.pop();
                continue;
            }
            let lv = lm.and_then(|m| m.get(key));
            let rv = rm.and_then(|m| m.get(key));
            self.field(lv, rv, &meta.field(key), path);
            path.pop();
        }
    }

    /// The items of an associative or set list; each item is a member of
    /// its own when added or removed.
    fn items(
        &mut self,
        kind: ListKind<'_>,
        la: &[Value],
        ra: &[Value],
        item_meta: &dyn PatchMeta,
        path: &mut Vec<PathElement>,
    ) {
        let left = indexed(kind, la);
        let right = indexed(kind, ra);
        let left_map: BTreeMap<&PathElement, &Value> =
            left.iter().map(|(pe, v)| (pe, *v)).collect();
        let right_map: BTreeMap<&PathElement, &Value> =
            right.iter().map(|(pe, v)| (pe, *v)).collect();
        let order = left.iter().map(|(pe, _)| pe).chain(
            right
                .iter()
                .map(|(pe, _)| pe)
                .filter(|pe| !left_map.contains_key(pe)),
        );
        for pe in order {
            let lv = left_map.get(pe).copied();
            let rv = right_map.get(pe).copied();
            path.push(pe.clone());
            if matches!(kind, ListKind::Associative(_)) {
                let (lm, rm) = (lv.and_then(Value::as_object), rv.and_then(Value::as_object));
                self.map(lm, rm, item_meta, path);
            }
            if lv.is_none() {
                self.added.insert(path);
            }
            if rv.is_none() {
                self.removed.insert(path);
            }
            path.pop();
        }
    }
}

/// Merges an applied configuration into an object: maps merge key by key,
/// associative lists item by item (by merge key), set lists by value; atomic
/// lists, `replace` maps and scalars take the configuration's value.
pub(crate) fn merge_map(mut live: Object, config: &Object, meta: &dyn PatchMeta) -> Object {
    for (key, value) in config {
        match live.get_mut(key) {
            Some(slot) => {
                let current = std::mem::take(slot);
                *slot = merge_field(current, value, &meta.field(key));
            }
            None => {
                live.insert(key.clone(), value.clone());
            }
        }
    }
    live
}

fn merge_field(live: Value, config: &Value, field: &FieldMeta) -> Value {
    match (live, config) {
        (Value::Object(l), Value::Object(r)) if field.strategy != PatchStrategy::Replace => {
            Value::Object(merge_map(l, r, field.child.as_ref()))
        }
        (Value::Array(l), Value::Array(r)) => match list_kind(field, &[&l, r]) {
            ListKind::Atomic => config.clone(),
            kind => Value::Array(merge_items(kind, l, r, field.child.as_ref())),
        },
        _ => config.clone(),
    }
}

/// Merges two associative or set lists in upstream's order: the
/// configuration's order, with live-only items kept in place relative to
/// the items both lists share.
fn merge_items(
    kind: ListKind<'_>,
    live: Vec<Value>,
    config: &[Value],
    item_meta: &dyn PatchMeta,
) -> Vec<Value> {
    let mut lhs_order = Vec::with_capacity(live.len());
    let mut lhs: BTreeMap<PathElement, Value> = BTreeMap::new();
    for item in live {
        if let Some(pe) = element(kind, &item) {
            if let std::collections::btree_map::Entry::Vacant(slot) = lhs.entry(pe) {
                lhs_order.push(slot.key().clone());
                slot.insert(item);
            }
        }
    }
    let rhs_order: Vec<(PathElement, &Value)> = indexed(kind, config);
    let in_rhs: BTreeSet<&PathElement> = rhs_order.iter().map(|(pe, _)| pe).collect();
    let mut shared: VecDeque<&PathElement> = rhs_order
        .iter()
        .map(|(pe, _)| pe)
        .filter(|pe| lhs.contains_key(*pe))
        .collect();
    let mut next_shared = shared.pop_front();

    let merge_one = |l: Option<Value>, r: &Value| match (l, r) {
        (Some(Value::Object(l)), Value::Object(r)) => Value::Object(merge_map(l, r, item_meta)),
        _ => r.clone(),
    };

    let mut out = Vec::with_capacity(lhs_order.len() + rhs_order.len());
    let (mut li, mut ri) = (0, 0);
    while li < lhs_order.len() || ri < rhs_order.len() {
        if let (Some(lpe), Some((rpe, rv))) = (lhs_order.get(li), rhs_order.get(ri)) {
            if lpe.cmp(rpe) == Ordering::Equal {
                out.push(merge_one(lhs.remove(lpe), rv));
                li += 1;
                ri += 1;
                next_shared = shared.pop_front();
                continue;
            }
            if in_rhs.contains(lpe) && next_shared.is_some_and(|n| n != lpe) {
                // Shared, but its turn comes later in the configuration's order.
                li += 1;
                continue;
            }
        }
        if let Some(lpe) = lhs_order.get(li) {
            if !in_rhs.contains(lpe) {
                if let Some(item) = lhs.remove(lpe) {
                    out.push(item);
                }
                li += 1;
                continue;
            }
        }
        if let Some((rpe, rv)) = rhs_order.get(ri) {
            out.push(merge_one(lhs.remove(rpe), rv));
            ri += 1;
            if next_shared.is_some_and(|n| n == rpe) {
                next_shared = shared.pop_front();
            }
            continue;
        }
        // Unreachable by construction; never loop forever.
        li += 1;
    }
    out
}

/// Removes the member `path` from `object`. Maps and lists the removal
/// leaves empty go too, unless `keep` has them as members.
pub(crate) fn remove(object: &mut Object, path: &[PathElement], keep: &FieldSet) {
    let mut container = Value::Object(std::mem::take(object));
    remove_in(&mut container, &mut Vec::new(), path, keep);
    if let Value::Object(map) = container {
        *object = map;
    }
}

fn is_empty_container(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn item_matches(item: &Value, position: usize, pe: &PathElement) -> bool {
    match pe {
        PathElement::Key(fields) => fields.iter().all(|(name, value)| {
            item.get(name)
                .is_some_and(|v| compare_values(v, value) == Ordering::Equal)
        }),
        PathElement::Value(value) => compare_values(item, value) == Ordering::Equal,
        PathElement::Index(i) => *i == position,
        PathElement::Field(_) => false,
    }
}

/// Returns whether something was removed.
fn remove_in(
    container: &mut Value,
    prefix: &mut Vec<PathElement>,
    path: &[PathElement],
    keep: &FieldSet,
) -> bool {
    let Some((first, rest)) = path.split_first() else {
        return false;
    };
    match container {
        Value::Object(map) => {
            let PathElement::Field(name) = first else {
                return false;
            };
            if rest.is_empty() {
                return map.shift_remove(name).is_some();
            }
            let Some(child) = map.get_mut(name) else {
                return false;
            };
            prefix.push(first.clone());
            let removed = remove_in(child, prefix, rest, keep);
            let drop = removed && is_empty_container(child) && !keep.contains(prefix);
            prefix.pop();
            if drop {
                map.shift_remove(name);
            }
            removed
        }
        Value::Array(items) => {
            let Some(i) = items
                .iter()
                .enumerate()
                .position(|(i, item)| item_matches(item, i, first))
            else {
                return false;
            };
            if rest.is_empty() {
                items.remove(i);
                return true;
            }
            let Some(item) = items.get_mut(i) else {
                return false;
            };
            prefix.push(first.clone());
            let removed = remove_in(item, prefix, rest, keep);
            prefix.pop();
            removed
        }
        _ => false,
    }
}

/// Drops `null` map values everywhere: in an applied configuration they
/// specify nothing.
pub(crate) fn strip_nulls(map: &Object) -> Object {
    map.iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.clone(), strip_value(v)))
        .collect()
}

fn strip_value(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(strip_nulls(m)),
        Value::Array(items) => Value::Array(items.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}
