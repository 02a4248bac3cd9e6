//! [`FieldSet`]: a set of paths stored as a trie (upstream `fieldpath.Set`),
//! and its `fieldsV1` encoding.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::error::FieldsV1Error;
use super::path::{Path, PathElement};
use super::walk;
use crate::patch::meta::PatchMeta;

/// A set of paths into an object. A path is a *member* when it was inserted
/// itself (a leaf, a list item, an empty map); its prefixes are implied and
/// not members unless inserted too.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FieldSet {
    members: BTreeSet<PathElement>,
    /// Never holds an empty set.
    children: BTreeMap<PathElement, FieldSet>,
}

impl FieldSet {
    pub fn new() -> Self {
        Self::default()
    }

    /// The fields an applied configuration (or any object) specifies: every
    /// leaf (scalar, atomic list, empty map), every associative-list item
    /// (`k:`) and every set-list item (`v:`). Nothing is filtered out here;
    /// [`crate::managed::apply`] and [`crate::managed::update`] then drop
    /// identity metadata and reset subtrees (`status` for the main resource,
    /// `spec` for `/status`).
    pub fn from_object(object: &Value, meta: &dyn PatchMeta) -> FieldSet {
        walk::compare(None, object.as_object(), meta).added
    }

    pub fn is_empty(&self) -> bool {
        self.members.is_empty() && self.children.is_empty()
    }

    /// How many paths are members.
    pub fn len(&self) -> usize {
        self.members.len() + self.children.values().map(FieldSet::len).sum::<usize>()
    }

    /// Adds `path` as a member. The empty path is not representable and is
    /// ignored.
    pub fn insert(&mut self, path: &[PathElement]) {
        match path {
            [] => {}
            [last] => {
                self.members.insert(last.clone());
            }
            [first, rest @ ..] => match self.children.get_mut(first) {
                Some(child) => child.insert(rest),
                None => {
                    let mut child = FieldSet::new();
                    child.insert(rest);
                    self.children.insert(first.clone(), child);
                }
            },
        }
    }

    /// Whether `path` is a member.
    pub fn contains(&self, path: &[PathElement]) -> bool {
        match path {
            [] => false,
            [last] => self.members.contains(last),
            [first, rest @ ..] => self.children.get(first).is_some_and(|c| c.contains(rest)),
        }
    }

    /// Whether `path` or any path below it is a member.
    pub fn contains_or_below(&self, path: &[PathElement]) -> bool {
        match path {
            [] => !self.is_empty(),
            [last] => self.members.contains(last) || self.children.contains_key(last),
            [first, rest @ ..] => self
                .children
                .get(first)
                .is_some_and(|c| c.contains_or_below(rest)),
        }
    }

    pub fn union(&self, other: &FieldSet) -> FieldSet {
        let mut out = self.clone();
        out.members.extend(other.members.iter().cloned());
        for (pe, child) in &other.children {
            let merged = match out.children.get(pe) {
                Some(mine) => mine.union(child),
                None => child.clone(),
            };
            out.children.insert(pe.clone(), merged);
        }
        out
    }

    /// `self ∪ other`, consuming both: nothing is copied that either side
    /// already owns.
    pub fn absorb(&mut self, other: FieldSet) {
        if self.is_empty() {
            *self = other;
            return;
        }
        self.members.extend(other.members);
        for (pe, child) in other.children {
            match self.children.get_mut(&pe) {
                Some(mine) => mine.absorb(child),
                None => {
                    self.children.insert(pe, child);
                }
            }
        }
    }

    /// `self = self.difference(other)` without copying what remains.
    pub fn remove_all(&mut self, other: &FieldSet) {
        if self.is_empty() || other.is_empty() {
            return;
        }
        self.members.retain(|pe| !other.members.contains(pe));
        self.children.retain(|pe, child| match other.children.get(pe) {
            Some(theirs) => {
                child.remove_all(theirs);
                !child.is_empty()
            }
            None => true,
        });
    }

    /// `self = self.recursive_difference(other)` without copying what
    /// remains.
    pub fn remove_below(&mut self, other: &FieldSet) {
        if self.is_empty() || other.is_empty() {
            return;
        }
        self.members.retain(|pe| !other.members.contains(pe));
        self.children.retain(|pe, child| {
            if other.members.contains(pe) {
                return false;
            }
            match other.children.get(pe) {
                Some(theirs) => {
                    child.remove_below(theirs);
                    !child.is_empty()
                }
                None => true,
            }
        });
    }

    pub fn intersection(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.intersection(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                let theirs = other.children.get(pe)?;
                let both = child.intersection(theirs);
                (!both.is_empty()).then(|| (pe.clone(), both))
            })
            .collect();
        FieldSet { members, children }
    }

    /// The members of `self` that are not members of `other`.
    pub fn difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                let rest = match other.children.get(pe) {
                    Some(theirs) => child.difference(theirs),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    /// The members of `self` that are neither members of `other` nor below
    /// one of its members (upstream `RecursiveDifference`).
    pub fn recursive_difference(&self, other: &FieldSet) -> FieldSet {
        let members = self.members.difference(&other.members).cloned().collect();
        let children = self
            .children
            .iter()
            .filter_map(|(pe, child)| {
                if other.members.contains(pe) {
                    return None;
                }
                let rest = match other.children.get(pe) {
                    Some(theirs) => child.recursive_difference(theirs),
                    None => child.clone(),
                };
                (!rest.is_empty()).then(|| (pe.clone(), rest))
            })
            .collect();
        FieldSet { members, children }
    }

    /// Every member, in upstream's iteration order: at each level the
    /// members first (sorted), then the children (sorted).
    pub fn paths(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect_paths(&mut Vec::new(), &mut out);
        out
    }

    fn collect_paths(&self, prefix: &mut Vec<PathElement>, out: &mut Vec<Path>) {
        for pe in &self.members {
            let mut path = prefix.clone();
            path.push(pe.clone());
            out.push(Path(path));
        }
        for (pe, child) in &self.children {
            prefix.push(pe.clone());
            child.collect_paths(prefix, out);
            prefix.pop();
        }
    }

    /// The `fieldsV1` encoding, as upstream's `Set.ToJSON`: one nested object
    /// per path element, `{}` for a member, `"."` first for a member that
    /// also has children; elements in path-element order.
    pub fn to_fields_v1(&self) -> Value {
        Value::Object(self.emit(false))
    }

    fn emit(&self, include_self: bool) -> Map<String, Value> {
        let mut out = Map::new();
        if include_self && !self.is_empty() {
            out.insert(".".to_string(), Value::Object(Map::new()));
        }
        // Members and children are each sorted: merge them in order.
        let mut members = self.members.iter().peekable();
        let mut children = self.children.iter().peekable();
        loop {
            let (pe, value) = match (members.peek(), children.peek()) {
                (None, None) => break,
                (Some(m), Some((c, child))) if *c <= *m => {
                    let is_member = *c == *m;
                    let pe = *c;
                    let value = child.emit(is_member);
                    children.next();
                    if is_member {
                        members.next();
                    }
                    (pe, value)
                }
                (None, Some((c, child))) => {
                    let (pe, value) = (*c, child.emit(false));
                    children.next();
                    (pe, value)
                }
                (Some(m), _) => {
                    let pe = *m;
                    members.next();
                    (pe, Map::new())
                }
            };
            out.insert(pe.to_key_string(), Value::Object(value));
        }
        out
    }

    /// Reads a `fieldsV1` document. Keys of unknown types (not `f:`, `k:`,
    /// `v:`, `i:`) are ignored, as upstream does.
    pub fn from_fields_v1(value: &Value) -> Result<FieldSet, FieldsV1Error> {
        read(value, "").map(|(set, _)| set)
    }
}

/// The set below one node and whether the node itself is a member.
fn read(value: &Value, at: &str) -> Result<(FieldSet, bool), FieldsV1Error> {
    let Value::Object(map) = value else {
        return Err(FieldsV1Error::NotAnObject { at: at.to_string() });
    };
    let mut set = FieldSet::new();
    let mut member = false;
    for (key, child) in map {
        if key == "." {
            member = true;
            continue;
        }
        let Some(pe) = PathElement::parse(key)? else {
            continue;
        };
        let (grandchildren, child_member) = read(child, &format!("{at}{pe}"))?;
        if child_member {
            set.members.insert(pe.clone());
        }
        if !grandchildren.is_empty() {
            let merged = match set.children.remove(&pe) {
                Some(existing) => existing.union(&grandchildren),
                None => grandchildren,
            };
            set.children.insert(pe, merged);
        }
    }
    // A node with nothing known below it is a leaf.
    if set.is_empty() {
        member = true;
    }
    Ok((set, member))
}
