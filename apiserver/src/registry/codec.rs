//! Typed normalisation: every object is decoded into its `k8s-openapi` type and
//! encoded again, which gives Go-like semantics (unknown fields dropped, types
//! checked, required fields present) and tells which fields were unknown.

use std::marker::PhantomData;
use std::sync::{Arc, OnceLock};

use apimachinery::patch::meta::PatchMeta;

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// A body that does not fit its type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// Dotted path of the offending field (`spec.replicas`).
    pub path: String,
    pub message: String,
}

pub trait Codec: Send + Sync {
    /// Round-trip `value` through the typed struct.
    fn normalize(&self, value: &Value) -> Result<Value, DecodeError>;

    /// The JSON schema of the type (for OpenAPI), with referenced definitions
    /// added to `generator`.
    fn json_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema;

    /// Strategic-merge-patch metadata (list strategies and merge keys) of the type.
    fn patch_meta(&self) -> Arc<dyn PatchMeta>;
}

pub struct Typed<T> {
    patch_meta: OnceLock<Arc<dyn PatchMeta>>,
    _type: PhantomData<fn() -> T>,
}

impl<T> Typed<T> {
    pub fn new() -> Self {
        Typed { patch_meta: OnceLock::new(), _type: PhantomData }
    }
}

impl<T> Default for Typed<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> Codec for Typed<T>
where
    T: Serialize + DeserializeOwned + schemars::JsonSchema,
{
    fn normalize(&self, value: &Value) -> Result<Value, DecodeError> {
        let typed: T = serde_path_to_error::deserialize(value).map_err(|e| DecodeError {
            path: e.path().to_string(),
            message: e.inner().to_string(),
        })?;
        serde_json::to_value(&typed)
            .map_err(|e| DecodeError { path: String::new(), message: e.to_string() })
    }

    fn json_schema(&self, generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
        generator.subschema_for::<T>()
    }

    fn patch_meta(&self) -> Arc<dyn PatchMeta> {
        self.patch_meta.get_or_init(|| Arc::new(apimachinery::patch::k8s_meta::for_type::<T>())).clone()
    }
}

/// Fields present (and not null) in `original` but absent from `normalized`,
/// as dotted paths (`spec.foo`, `spec.containers[0].bar`).
pub fn unknown_fields(original: &Value, normalized: &Value) -> Vec<String> {
    let mut out = Vec::new();
    collect_unknown(original, normalized, &mut Vec::new(), &mut out);
    out
}

/// One step of the path being walked; rendered only when a field is unknown.
enum Step<'a> {
    Key(&'a str),
    Index(usize),
}

fn render(path: &[Step<'_>]) -> String {
    let mut out = String::new();
    for step in path {
        match step {
            Step::Key(k) if out.is_empty() => out.push_str(k),
            Step::Key(k) => {
                out.push('.');
                out.push_str(k);
            }
            Step::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

fn collect_unknown<'a>(original: &'a Value, normalized: &Value, path: &mut Vec<Step<'a>>, out: &mut Vec<String>) {
    match (original, normalized) {
        (Value::Object(orig), Value::Object(norm)) => {
            for (key, value) in orig {
                path.push(Step::Key(key));
                match norm.get(key) {
                    Some(n) => collect_unknown(value, n, path, out),
                    None if value.is_null() => {}
                    None => out.push(render(path)),
                }
                path.pop();
            }
        }
        (Value::Array(orig), Value::Array(norm)) => {
            for (i, (o, n)) in orig.iter().zip(norm.iter()).enumerate() {
                path.push(Step::Index(i));
                collect_unknown(o, n, path, out);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use serde_json::json;

    #[test]
    fn finds_unknown_fields_at_every_depth() {
        let original = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "a", "bogus": 1, "creationTimestamp": null},
            "spec": {"containers": [{"name": "c", "image": "i", "imagePullPolicyy": "x"}], "foo": {}}
        });
        let normalized = Typed::<Pod>::new().normalize(&original).unwrap();
        assert_eq!(
            unknown_fields(&original, &normalized),
            vec!["metadata.bogus", "spec.containers[0].imagePullPolicyy", "spec.foo"]
        );
    }

    #[test]
    fn type_errors_carry_the_path() {
        let err = Typed::<k8s_openapi::api::apps::v1::Deployment>::new()
            .normalize(&json!({"spec": {"replicas": "three"}}))
            .unwrap_err();
        assert_eq!(err.path, "spec.replicas");
    }
}
