//! One object as the watch cache holds it: its encoded JSON (with
//! `resourceVersion` set) plus what filters need, so lists and watches never
//! re-parse objects that a selector rejects.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::summary::Summary;
use crate::codec::stamp::stamp_resource_version;
use crate::registry::ResourceDef;

#[derive(Debug)]
pub struct CachedObject {
    /// Storage key.
    pub key: String,
    pub namespace: String,
    pub name: String,
    pub revision: i64,
    /// The object's JSON with `metadata.resourceVersion` = `revision`.
    pub json: Bytes,
    pub labels: BTreeMap<String, String>,
    /// Selectable field values (`metadata.name`, `spec.nodeName`, ...).
    pub fields: Vec<(&'static str, String)>,
    /// `metadata.deletionTimestamp` is set (a namespace is terminating).
    pub deleting: bool,
}

impl CachedObject {
    /// Build from a stored value; `revision` becomes `resourceVersion`.
    pub fn from_stored(def: &ResourceDef, key: &str, raw: &[u8], revision: i64) -> Result<Self, serde_json::Error> {
        // The common case: splice the resourceVersion in and read only the
        // indexed parts. Anything unusual takes the decoding path.
        if let Some(json) = stamp_resource_version(raw, revision) {
            if let Ok(s) = Summary::read(&json, def.selectable_fields) {
                return Ok(CachedObject {
                    key: key.to_string(),
                    namespace: s.namespace,
                    name: s.name,
                    revision,
                    json: Bytes::from(json),
                    labels: s.labels,
                    fields: s.fields,
                    deleting: s.deleting,
                });
            }
        }
        let mut value: Value = serde_json::from_slice(raw)?;
        Ok(Self::from_value(def, key, &mut value, revision))
    }

    pub fn from_value(def: &ResourceDef, key: &str, value: &mut Value, revision: i64) -> Self {
        set_resource_version(value, revision);
        let json = Bytes::from(serde_json::to_vec(value).unwrap_or_default());
        let meta = value.get("metadata");
        let text = |k: &str| meta.and_then(|m| m.get(k)).and_then(Value::as_str).unwrap_or("").to_string();
        let labels = meta
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object)
            .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
            .unwrap_or_default();
        let fields = def.selectable_fields.iter().map(|f| (*f, field_value(value, f))).collect();
        let deleting = meta.and_then(|m| m.get("deletionTimestamp")).is_some_and(|d| !d.is_null());
        CachedObject { key: key.to_string(), namespace: text("namespace"), name: text("name"), revision, json, labels, fields, deleting }
    }

    pub fn field(&self, name: &str) -> Option<String> {
        match name {
            "metadata.name" => Some(self.name.clone()),
            "metadata.namespace" => Some(self.namespace.clone()),
            _ => self.fields.iter().find(|(f, _)| *f == name).map(|(_, v)| v.clone()),
        }
    }

    pub fn value(&self) -> Value {
        serde_json::from_slice(&self.json).unwrap_or(Value::Null)
    }

    /// A copy carrying another revision (deletions are reported at the
    /// deletion's revision).
    pub fn at_revision(&self, def: &ResourceDef, revision: i64) -> Arc<CachedObject> {
        let mut v = self.value();
        Arc::new(CachedObject::from_value(def, &self.key, &mut v, revision))
    }
}

pub fn set_resource_version(value: &mut Value, revision: i64) {
    if let Some(meta) = value.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.insert("resourceVersion".into(), Value::String(revision.to_string()));
    }
}

/// The string value of a dotted field path, as field selectors compare it
/// (booleans and numbers rendered, absent = "").
pub fn field_value(obj: &Value, path: &str) -> String {
    let mut cur = obj;
    for part in path.split('.') {
        match cur.get(part) {
            Some(v) => cur = v,
            None => return default_field(path),
        }
    }
    match cur {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        _ => default_field(path),
    }
}

pub(crate) fn default_field(path: &str) -> String {
    match path {
        "spec.hostNetwork" | "spec.unschedulable" => "false".into(),
        "status.replicas" | "status.successful" => "0".into(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::registry::Registry;

    /// The splicing path and the decoding path build the same entry.
    #[test]
    fn stored_objects_are_indexed_as_the_decoding_path_does() {
        let registry = Registry::builtin();
        let pods = registry.get("", "v1", "pods").expect("pods are registered").clone();
        let pod = json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web", "namespace": "ns", "labels": {"app": "web"}, "deletionTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"nodeName": "n1", "containers": [{"name": "c", "image": "nginx"}]},
            "status": {"phase": "Running"}
        });
        let raw = serde_json::to_vec(&pod).unwrap();
        let fast = CachedObject::from_stored(&pods, "/registry/pods/ns/web", &raw, 17).unwrap();
        let slow = CachedObject::from_value(&pods, "/registry/pods/ns/web", &mut pod.clone(), 17);
        assert_eq!(fast.json, slow.json);
        assert_eq!((&fast.name, &fast.namespace, &fast.labels, fast.deleting), (&slow.name, &slow.namespace, &slow.labels, slow.deleting));
        assert_eq!(fast.fields, slow.fields);
        assert!(fast.fields.iter().any(|(f, v)| *f == "spec.nodeName" && v == "n1"));
    }
}
