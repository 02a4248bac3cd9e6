//! Field ownership (`metadata.managedFields`) and server-side apply, with
//! upstream semantics (sigs.k8s.io/structured-merge-diff `merge/update.go`,
//! k8s.io/apiserver `endpoints/handlers/fieldmanager`), as pure functions.
//!
//! - A [`FieldSet`] is a set of paths into an object: `f:<field>`,
//!   `k:{"<merge key>":<value>}` for items of lists merged by key, `v:<value>`
//!   for items of merged lists of scalars. Lists without a merge strategy,
//!   `replace` maps and scalars are leaves; list items are members of their
//!   own (the `"."` of `fieldsV1`). Which lists merge comes from the same
//!   [`PatchMeta`] strategic merge patch uses.
//! - [`apply`]: server-side apply. The applier owns exactly the fields its
//!   configuration specifies; fields it owned before and no longer specifies
//!   are removed unless another manager owns them; setting a field another
//!   manager owns to a different value is a [`Conflict`] unless forced, in
//!   which case ownership moves.
//! - [`update`]: every other write (create, update, patch). The writer takes
//!   ownership of every field it changed or added; never conflicts.
//!
//! Not here: per-version conversion of field sets (sets are assumed valid in
//! every version), the cap of ten `Update` entries (`ancient-changes`),
//! unions, and the scale subresource's field mapping.

mod conflict;
mod entries;
mod error;
mod path;
mod set;
#[cfg(test)]
mod tests;
mod walk;

use serde_json::{Map, Value};

pub use self::conflict::{conflict_message, Conflict};
pub use self::entries::{
    decode_managed_fields, encode_managed_fields, ManagedFieldsEntry, Operation,
};
pub use self::error::{ApplyError, FieldsV1Error, ManagedFieldsError};
pub use self::path::{Path, PathElement};
pub use self::set::FieldSet;

use self::entries::{decode_managers, identity, is_reset, Managers};
use crate::patch::meta::PatchMeta;

/// Who is writing, and when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Manager<'a> {
    /// `?fieldManager=` (or the default derived from the user agent).
    pub name: &'a str,
    /// The API version of the request (`apps/v1`).
    pub api_version: &'a str,
    /// Now, RFC 3339 (`2025-01-01T00:00:00Z`); recorded on entries that change.
    pub time: &'a str,
    /// `status` for writes through `/status`, `None` for the main resource.
    pub subresource: Option<&'a str>,
}

impl<'a> Manager<'a> {
    /// A writer of the main resource.
    pub fn new(name: &'a str, api_version: &'a str, time: &'a str) -> Self {
        Manager {
            name,
            api_version,
            time,
            subresource: None,
        }
    }

    /// A writer of a subresource (`status`).
    pub fn with_subresource(self, subresource: &'a str) -> Self {
        Manager {
            subresource: Some(subresource),
            ..self
        }
    }
}

/// The manager upstream credits with every field of an object that has no
/// `managedFields` yet when it is first applied to.
pub const BEFORE_FIRST_APPLY: &str = "before-first-apply";

/// Fields nobody owns: identity and server-set metadata (exact paths), plus
/// what the (sub)resource's strategy resets (whole subtrees): `status` for the
/// main resource, `spec` for `/status`.
#[derive(Clone)]
struct Ignored {
    exact: FieldSet,
    subtrees: FieldSet,
    /// `subtrees` as paths, for a comparison that need not enter them.
    skipped: Vec<Path>,
}

impl Ignored {
    /// The sets for the main resource and `/status` are built once.
    fn cached(subresource: Option<&str>) -> std::borrow::Cow<'static, Ignored> {
        static MAIN: std::sync::OnceLock<Ignored> = std::sync::OnceLock::new();
        static STATUS: std::sync::OnceLock<Ignored> = std::sync::OnceLock::new();
        match subresource {
            None => std::borrow::Cow::Borrowed(MAIN.get_or_init(|| Ignored::new(None))),
            Some("status") => std::borrow::Cow::Borrowed(STATUS.get_or_init(|| Ignored::new(Some("status")))),
            Some(other) => std::borrow::Cow::Owned(Ignored::new(Some(other))),
        }
    }

    fn new(subresource: Option<&str>) -> Self {
        let mut exact = FieldSet::new();
        for p in [
            &["apiVersion"][..],
            &["kind"],
            &["metadata"],
            &["metadata", "name"],
            &["metadata", "namespace"],
            &["metadata", "creationTimestamp"],
            &["metadata", "selfLink"],
            &["metadata", "uid"],
            &["metadata", "generation"],
            &["metadata", "resourceVersion"],
        ] {
            exact.insert(&Path::fields(p).0);
        }
        let mut subtrees = FieldSet::new();
        subtrees.insert(&Path::fields(&["metadata", "managedFields"]).0);
        match subresource {
            None => subtrees.insert(&Path::fields(&["status"]).0),
            Some("status") => subtrees.insert(&Path::fields(&["spec"]).0),
            Some(_) => {}
        }
        let skipped = subtrees.paths();
        Ignored { exact, subtrees, skipped }
    }

    fn filter(&self, mut set: FieldSet) -> FieldSet {
        self.strip(&mut set);
        set
    }

    /// [`Ignored::filter`] in place.
    fn strip(&self, set: &mut FieldSet) {
        set.remove_all(&self.exact);
        set.remove_below(&self.subtrees);
    }
}

/// The object as a map without its `metadata.managedFields`, and those.
fn split_managed(object: &Map<String, Value>) -> (Map<String, Value>, Option<Value>) {
    let mut object = object.clone();
    let managed = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.shift_remove("managedFields"));
    (object, managed)
}

fn write_managed(object: &mut Map<String, Value>, managers: &Managers) {
    let encoded = encode_managed_fields(managers.values());
    let empty = encoded.as_array().is_none_or(Vec::is_empty);
    match object.get_mut("metadata") {
        Some(Value::Object(meta)) => {
            if empty {
                meta.shift_remove("managedFields");
            } else {
                meta.insert("managedFields".into(), encoded);
            }
        }
        _ if empty => {}
        _ => {
            let mut meta = Map::new();
            meta.insert("managedFields".into(), encoded);
            object.insert("metadata".into(), Value::Object(meta));
        }
    }
}

/// Server-side apply of `config` (the request body) to `live` (`null` or
/// `{}` when the object does not exist yet) by `manager`. Returns the new
/// object, `metadata.managedFields` included. Nothing else is validated:
/// `apiVersion`/`kind`/name checks, defaulting and the strategy belong to the
/// caller. Unreadable `managedFields` on `live` are treated as absent.
pub fn apply(
    live: &Value,
    config: &Value,
    manager: &Manager<'_>,
    force: bool,
    meta: &dyn PatchMeta,
) -> Result<Value, ApplyError> {
    let Value::Object(config) = config else {
        return Err(ApplyError::NotAnObject {
            what: "the applied configuration",
        });
    };
    let carries_managed = config
        .get("metadata")
        .and_then(|m| m.get("managedFields"))
        .is_some_and(|v| !v.is_null());
    if carries_managed {
        return Err(ApplyError::ManagedFieldsInConfig);
    }
    let (config, _) = split_managed(&walk::strip_nulls(config));
    let (live, live_managed) = match live {
        Value::Object(map) => split_managed(map),
        Value::Null => (Map::new(), None),
        _ => {
            return Err(ApplyError::NotAnObject {
                what: "the live object",
            })
        }
    };
    let ignored = Ignored::cached(manager.subresource);

    let mut managers = decode_managers(live_managed.as_ref()).unwrap_or_default();
    if managers.is_empty() {
        let fields = ignored.filter(walk::compare(None, Some(&live), meta).added);
        if !fields.is_empty() {
            let entry = ManagedFieldsEntry {
                manager: BEFORE_FIRST_APPLY.to_string(),
                operation: Operation::Update,
                api_version: manager.api_version.to_string(),
                time: Some(manager.time.to_string()),
                subresource: None,
                fields,
            };
            managers.insert(entry.identity(), entry);
        }
    }

    let me = identity(
        manager.name,
        Operation::Apply,
        manager.api_version,
        manager.subresource,
    );
    let previous = managers.remove(&me);
    let old_set = previous
        .as_ref()
        .map(|e| ignored.filter(e.fields.clone()))
        .unwrap_or_default();
    let new_set = ignored.filter(walk::compare(None, Some(&config), meta).added);

    // Merge, then prune what this applier dropped and nobody else owns.
    let mut merged = walk::merge_map(live.clone(), &config, meta);
    let keep = managers
        .values()
        .fold(new_set.clone(), |acc, e| acc.union(&e.fields));
    for path in old_set.difference(&new_set).paths() {
        let owned = match path.0.last() {
            Some(PathElement::Field(_)) => keep.contains_or_below(&path.0),
            _ => keep.contains(&path.0),
        };
        if !owned {
            walk::remove(&mut merged, &path.0, &keep);
        }
    }

    // What the apply changes, against what others own.
    let diff = walk::compare(Some(&live), Some(&merged), meta);
    let changed = ignored.filter(diff.modified.union(&diff.added));
    let removed = ignored.filter(diff.removed);
    let mut conflicts = Vec::new();
    for entry in managers.values_mut() {
        let clash = entry.fields.intersection(&changed);
        if clash.is_empty() {
            continue;
        }
        conflicts.extend(clash.paths().into_iter().map(|p| Conflict {
            manager: entry.manager.clone(),
            operation: entry.operation,
            api_version: entry.api_version.clone(),
            subresource: entry.subresource.clone(),
            path: p.to_string(),
        }));
        entry.fields = entry.fields.difference(&clash);
    }
    if !force && !conflicts.is_empty() {
        return Err(ApplyError::Conflicts(conflicts));
    }
    for entry in managers.values_mut() {
        entry.fields = entry.fields.difference(&removed);
    }

    if !new_set.is_empty() {
        let unchanged = live == merged && previous.as_ref().is_some_and(|p| p.fields == new_set);
        let time = match &previous {
            Some(p) if unchanged => p.time.clone(),
            _ => Some(manager.time.to_string()),
        };
        managers.insert(
            me,
            ManagedFieldsEntry {
                manager: manager.name.to_string(),
                operation: Operation::Apply,
                api_version: manager.api_version.to_string(),
                time,
                subresource: manager.subresource.map(str::to_string),
                fields: new_set,
            },
        );
    }
    managers.retain(|_, e| !e.fields.is_empty());

    write_managed(&mut merged, &managers);
    Ok(Value::Object(merged))
}

/// Records an ordinary write (create when `old` is `None`, update, patch)
/// by `manager`: returns `new` with `metadata.managedFields` updated. The
/// writer owns every field it changed or added; those fields, and fields it
/// removed, leave every other entry. The request's own `managedFields` are
/// honoured when they decode and are non-empty (`[{}]` clears them), as
/// upstream; for subresources the stored ones are always used.
pub fn update(
    old: Option<&Value>,
    new: &Value,
    manager: &Manager<'_>,
    meta: &dyn PatchMeta,
) -> Value {
    let mut out = new.clone();
    update_in_place(old, &mut out, manager, meta);
    out
}

/// [`update`] without copying either object: `new` gains its
/// `managedFields` in place. The comparison skips the subtrees nobody owns
/// (`metadata.managedFields`, and `status` or `spec`), which the result
/// would drop anyway.
pub fn update_in_place(
    old: Option<&Value>,
    new: &mut Value,
    manager: &Manager<'_>,
    meta: &dyn PatchMeta,
) {
    let Value::Object(new) = new else {
        return;
    };
    let requested = new
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.shift_remove("managedFields"));
    let old = match old {
        Some(Value::Object(map)) => Some(map),
        _ => None,
    };
    let stored = old
        .and_then(|m| m.get("metadata"))
        .and_then(|m| m.get("managedFields"));
    let stored_managers = || decode_managers(stored).unwrap_or_default();
    let mut managers = if manager.subresource.is_some() {
        stored_managers()
    } else if is_reset(requested.as_ref()) {
        Managers::new()
    } else {
        match decode_managers(requested.as_ref()) {
            Ok(m) if !m.is_empty() => m,
            _ => stored_managers(),
        }
    };

    let ignored = Ignored::cached(manager.subresource);
    let empty = Map::new();
    let diff = walk::compare_skipping(
        Some(old.unwrap_or(&empty)),
        Some(new),
        meta,
        &ignored.skipped,
    );
    let walk::Comparison { added, modified, mut removed, .. } = diff;
    let mut changed = modified;
    changed.absorb(added);
    ignored.strip(&mut changed);
    ignored.strip(&mut removed);

    for entry in managers.values_mut() {
        entry.fields.remove_all(&changed);
        entry.fields.remove_all(&removed);
    }
    if !changed.is_empty() {
        let me = identity(
            manager.name,
            Operation::Update,
            manager.api_version,
            manager.subresource,
        );
        let mut fields = managers.remove(&me).map(|e| e.fields).unwrap_or_default();
        fields.absorb(changed);
        managers.insert(
            me,
            ManagedFieldsEntry {
                manager: manager.name.to_string(),
                operation: Operation::Update,
                api_version: manager.api_version.to_string(),
                time: Some(manager.time.to_string()),
                subresource: manager.subresource.map(str::to_string),
                fields,
            },
        );
    }
    managers.retain(|_, e| !e.fields.is_empty());

    write_managed(new, &managers);
}
