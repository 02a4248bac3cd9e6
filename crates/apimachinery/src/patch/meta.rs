//! Patch metadata: how a field merges (upstream `LookupPatchMeta`).

use std::collections::BTreeMap;
use std::sync::Arc;

/// The `patchStrategy` of one field.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub enum PatchStrategy {
    /// No strategy: lists are replaced whole, maps merge key by key.
    #[default]
    Default,
    /// `patchStrategy:"merge"`: lists merge; lists of maps match items by
    /// `merge_key` (`patchMergeKey`), lists of scalars are set-unioned.
    Merge { merge_key: Option<String> },
    /// `patchStrategy:"replace"`: lists and maps are replaced whole.
    Replace,
}

impl PatchStrategy {
    /// `patchStrategy:"merge" patchMergeKey:"<key>"`.
    pub fn merge_by(key: &str) -> Self {
        PatchStrategy::Merge {
            merge_key: Some(key.to_string()),
        }
    }

    /// `patchStrategy:"merge"` on a list of scalars.
    pub fn merge_primitives() -> Self {
        PatchStrategy::Merge { merge_key: None }
    }
}

/// What a patch needs to know about one field.
pub struct FieldMeta {
    pub strategy: PatchStrategy,
    /// `retainKeys` is part of the field's strategy (`$retainKeys` is
    /// generated for it by diffs).
    pub retain_keys: bool,
    /// Metadata of the field's value; for a list, of the list's items.
    pub child: Box<dyn PatchMeta>,
}

impl FieldMeta {
    /// A field nothing is known about: maps merge, lists replace.
    pub fn unknown() -> Self {
        FieldMeta {
            strategy: PatchStrategy::Default,
            retain_keys: false,
            child: Box::new(DefaultPatchMeta),
        }
    }
}

/// Describes the object at one position of a document.
pub trait PatchMeta: Send + Sync {
    /// Metadata for the field `name` of the object at this position. Unknown
    /// fields answer [`FieldMeta::unknown`].
    fn field(&self, name: &str) -> FieldMeta;
}

/// No schema at all (e.g. custom resources): maps merge, lists replace.
#[derive(Debug, Clone, Copy, Default)]
pub struct DefaultPatchMeta;

impl PatchMeta for DefaultPatchMeta {
    fn field(&self, _name: &str) -> FieldMeta {
        FieldMeta::unknown()
    }
}

#[derive(Debug, Clone, Default)]
struct TreeField {
    strategy: PatchStrategy,
    retain_keys: bool,
    child: TreeMeta,
}

/// Hand-built metadata: a tree of named fields. Fields not named fall back to
/// [`DefaultPatchMeta`]. Handy for tests and for schemas built at run time.
#[derive(Debug, Clone, Default)]
pub struct TreeMeta {
    fields: Arc<BTreeMap<String, TreeField>>,
    /// Metadata for every field not named (a map's values).
    values: Option<Arc<TreeField>>,
}

impl TreeMeta {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a field with an explicit strategy and child.
    pub fn with(
        mut self,
        name: &str,
        strategy: PatchStrategy,
        retain_keys: bool,
        child: TreeMeta,
    ) -> Self {
        Arc::make_mut(&mut self.fields).insert(
            name.to_string(),
            TreeField {
                strategy,
                retain_keys,
                child,
            },
        );
        self
    }

    /// A nested object (or a list replaced whole) whose own fields are `child`.
    pub fn nested(self, name: &str, child: TreeMeta) -> Self {
        self.with(name, PatchStrategy::Default, false, child)
    }

    /// A list of objects merged by `key`.
    pub fn merge_list(self, name: &str, key: &str, item: TreeMeta) -> Self {
        self.with(name, PatchStrategy::merge_by(key), false, item)
    }

    /// A list of scalars merged as a set.
    pub fn merge_primitive_list(self, name: &str) -> Self {
        self.with(
            name,
            PatchStrategy::merge_primitives(),
            false,
            TreeMeta::new(),
        )
    }

    /// A map (e.g. `map[string]T`) whose every value is described by `value`.
    pub fn map_values(mut self, value: TreeMeta) -> Self {
        self.values = Some(Arc::new(TreeField {
            strategy: PatchStrategy::Default,
            retain_keys: false,
            child: value,
        }));
        self
    }
}

impl PatchMeta for TreeMeta {
    fn field(&self, name: &str) -> FieldMeta {
        let found = self.fields.get(name).or(self.values.as_deref());
        match found {
            Some(f) => FieldMeta {
                strategy: f.strategy.clone(),
                retain_keys: f.retain_keys,
                child: Box::new(f.child.clone()),
            },
            None => FieldMeta::unknown(),
        }
    }
}
