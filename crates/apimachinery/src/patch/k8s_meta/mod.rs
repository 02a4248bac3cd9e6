//! [`PatchMeta`] for the built-in Kubernetes types.
//!
//! The type at each position of a document comes from k8s-openapi's schemars
//! schemas (following `$ref`s into the generator's definitions); the patch
//! strategy of each (definition, field) comes from a static table transcribed
//! from upstream's Go struct tags (k8s-openapi's schemas do not carry
//! `x-kubernetes-patch-strategy`). Anything the schema does not describe
//! (free-form fields, unknown fields) falls back to: maps merge, lists replace.

mod index;
mod table;

pub use table::openapi_extensions;
#[cfg(test)]
mod tests;

use std::sync::Arc;

use schemars::JsonSchema;

use self::index::{SchemaIndex, TypeRef};
use crate::patch::meta::{FieldMeta, PatchMeta};

/// Schema-driven patch metadata positioned somewhere inside a type. Cheap to
/// clone; build one per resource type with [`for_type`] and reuse it.
#[derive(Debug, Clone)]
pub struct SchemaPatchMeta {
    index: Arc<SchemaIndex>,
    at: TypeRef,
}

impl SchemaPatchMeta {
    /// The schema definition at this position (e.g. `io.k8s.api.core.v1.PodSpec`),
    /// if it is a named one.
    pub fn definition_name(&self) -> Option<&str> {
        match &self.at {
            TypeRef::Def(i) => self
                .index
                .definition(*i)
                .map(|d| d.name.as_str())
                .filter(|n| !n.is_empty()),
            _ => None,
        }
    }

    fn at(&self, at: TypeRef) -> Self {
        SchemaPatchMeta {
            index: Arc::clone(&self.index),
            at,
        }
    }
}

impl PatchMeta for SchemaPatchMeta {
    fn field(&self, name: &str) -> FieldMeta {
        let (field_type, (strategy, retain_keys)) = match &self.at {
            TypeRef::Def(i) => {
                let Some(def) = self.index.definition(*i) else {
                    return FieldMeta::unknown();
                };
                if let Some(t) = def.properties.get(name) {
                    (t.clone(), table::lookup(&def.name, name))
                } else if let Some(t) = &def.additional {
                    (t.clone(), Default::default())
                } else {
                    return FieldMeta::unknown();
                }
            }
            TypeRef::Map(value) => ((**value).clone(), Default::default()),
            TypeRef::Array(_) | TypeRef::Scalar => return FieldMeta::unknown(),
        };
        // A list field's child describes the list's items.
        let child = match field_type {
            TypeRef::Array(item) => *item,
            other => other,
        };
        FieldMeta {
            strategy,
            retain_keys,
            child: Box::new(self.at(child)),
        }
    }
}

/// Patch metadata for the root of `T` (e.g. `k8s_openapi::api::apps::v1::Deployment`).
pub fn for_type<T: JsonSchema>() -> SchemaPatchMeta {
    let mut generator = schemars::SchemaGenerator::default();
    let root = generator.subschema_for::<T>();
    let mut index = SchemaIndex::build(generator.definitions());
    let at = index.type_of(root.as_value());
    SchemaPatchMeta {
        index: Arc::new(index),
        at,
    }
}
