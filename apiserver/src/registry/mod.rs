//! What the server knows about each resource: identity (group, version, kind,
//! plural, scope), discovery facts (short names, categories, subresources),
//! its typed codec (normalisation through the `k8s-openapi` type), its strategy
//! (defaulting, validation, status handling) and its table printer.
//!
//! Generic REST handlers look a resource up here and never special-case kinds;
//! per-kind behaviour lives in the `strategy` modules.

mod catalog;
pub mod codec;
pub mod convert;

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

pub use codec::{Codec, DecodeError};

use crate::strategy::Strategy;
use crate::table::Printer;

/// A subresource served under a resource, e.g. `pods/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubresourceDef {
    pub name: &'static str,
    /// `(group, version, kind)` of the subresource's body.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub verbs: &'static [&'static str],
}

pub const STATUS: SubresourceDef =
    SubresourceDef { name: "status", group: "", version: "", kind: "", verbs: &["get", "patch", "update"] };
pub const SCALE: SubresourceDef = SubresourceDef {
    name: "scale",
    group: "autoscaling",
    version: "v1",
    kind: "Scale",
    verbs: &["get", "patch", "update"],
};

pub const VERBS_ALL: &[&str] =
    &["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];
pub const VERBS_CREATE_ONLY: &[&str] = &["create"];

/// How a version that shares another's storage form converts to and from it.
#[derive(Clone, Copy)]
pub struct Conversion {
    pub to_storage: fn(Value) -> Value,
    pub from_storage: fn(Value) -> Value,
}

/// One served resource.
pub struct ResourceDef {
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub list_kind: String,
    pub plural: &'static str,
    pub singular: String,
    pub namespaced: bool,
    pub short_names: &'static [&'static str],
    pub categories: &'static [&'static str],
    pub verbs: &'static [&'static str],
    pub subresources: Vec<SubresourceDef>,
    /// Fields (besides `metadata.name` / `metadata.namespace`) usable in field selectors.
    pub selectable_fields: &'static [&'static str],
    /// Key segment in storage: `<prefix>/<storage_name>/<ns>/<name>`.
    pub storage_name: &'static str,
    /// Set when objects are stored in another version's form.
    pub conversion: Option<Conversion>,
    pub codec: Arc<dyn Codec>,
    pub strategy: Arc<dyn Strategy>,
    pub printer: Printer,
}

impl ResourceDef {
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    pub fn group_resource(&self) -> String {
        crate::error::qualified(self.group, self.plural)
    }

    /// The stored form of an object of this resource.
    pub fn to_storage(&self, v: Value) -> Value {
        match &self.conversion {
            Some(c) => (c.to_storage)(v),
            None => v,
        }
    }

    /// This resource's form of a stored object.
    pub fn from_storage(&self, v: Value) -> Value {
        match &self.conversion {
            Some(c) => (c.from_storage)(v),
            None => v,
        }
    }

    /// A cached object's JSON as this resource serves it.
    pub fn api_json(&self, obj: &crate::cache::CachedObject) -> bytes::Bytes {
        match &self.conversion {
            None => obj.json.clone(),
            Some(c) => bytes::Bytes::from(serde_json::to_vec(&(c.from_storage)(obj.value())).unwrap_or_default()),
        }
    }

    /// A cached object as this resource serves it, parsed.
    pub fn api_value(&self, obj: &crate::cache::CachedObject) -> Value {
        self.from_storage(obj.value())
    }

    pub fn subresource(&self, name: &str) -> Option<&SubresourceDef> {
        self.subresources.iter().find(|s| s.name == name)
    }

    pub fn has_status(&self) -> bool {
        self.subresource("status").is_some()
    }

    /// The storage key prefix of every object of this resource (ends in `/`).
    pub fn storage_prefix(&self, root: &str) -> String {
        format!("{root}/{}/", self.storage_name)
    }

    /// The storage key prefix of objects in one namespace (ends in `/`).
    pub fn namespace_prefix(&self, root: &str, namespace: &str) -> String {
        format!("{root}/{}/{namespace}/", self.storage_name)
    }

    pub fn object_key(&self, root: &str, namespace: Option<&str>, name: &str) -> String {
        match (self.namespaced, namespace) {
            (true, Some(ns)) => format!("{root}/{}/{ns}/{name}", self.storage_name),
            _ => format!("{root}/{}/{name}", self.storage_name),
        }
    }
}

/// Group versions in discovery order with their resources.
pub struct Registry {
    resources: Vec<Arc<ResourceDef>>,
    by_gvr: HashMap<(String, String, String), Arc<ResourceDef>>,
    by_storage_name: HashMap<String, Arc<ResourceDef>>,
}

impl Registry {
    /// Every resource this server implements.
    pub fn builtin() -> Self {
        Self::from_defs(catalog::all())
    }

    pub fn from_defs(defs: Vec<ResourceDef>) -> Self {
        let resources: Vec<Arc<ResourceDef>> = defs.into_iter().map(Arc::new).collect();
        let mut by_gvr = HashMap::new();
        let mut by_storage_name = HashMap::new();
        for r in &resources {
            by_gvr.insert((r.group.to_string(), r.version.to_string(), r.plural.to_string()), r.clone());
            by_storage_name.entry(r.storage_name.to_string()).or_insert_with(|| r.clone());
        }
        Registry { resources, by_gvr, by_storage_name }
    }

    pub fn get(&self, group: &str, version: &str, plural: &str) -> Option<&Arc<ResourceDef>> {
        self.by_gvr.get(&(group.to_string(), version.to_string(), plural.to_string()))
    }

    pub fn by_storage_name(&self, name: &str) -> Option<&Arc<ResourceDef>> {
        self.by_storage_name.get(name)
    }

    /// The first served version of `group`/`plural` (for lookups that do
    /// not care about the version, e.g. quota counting).
    pub fn find_plural(&self, group: &str, plural: &str) -> Option<&Arc<ResourceDef>> {
        self.resources.iter().find(|r| r.group == group && r.plural == plural)
    }

    pub fn by_kind(&self, group: &str, kind: &str) -> Option<&Arc<ResourceDef>> {
        self.resources.iter().find(|r| r.group == group && r.kind == kind)
    }

    pub fn all(&self) -> &[Arc<ResourceDef>] {
        &self.resources
    }

    /// `(group, version)` pairs in first-seen order.
    pub fn group_versions(&self) -> Vec<(&'static str, &'static str)> {
        let mut out: Vec<(&'static str, &'static str)> = Vec::new();
        for r in &self.resources {
            if !out.contains(&(r.group, r.version)) {
                out.push((r.group, r.version));
            }
        }
        out
    }

    /// Groups in first-seen order, each with its versions (preferred first).
    pub fn groups(&self) -> Vec<(&'static str, Vec<&'static str>)> {
        let mut out: Vec<(&'static str, Vec<&'static str>)> = Vec::new();
        for (g, v) in self.group_versions() {
            match out.iter_mut().find(|(group, _)| *group == g) {
                Some((_, versions)) => versions.push(v),
                None => out.push((g, vec![v])),
            }
        }
        out
    }

    pub fn in_group_version<'a>(
        &'a self,
        group: &'a str,
        version: &'a str,
    ) -> impl Iterator<Item = &'a Arc<ResourceDef>> + 'a {
        self.resources.iter().filter(move |r| r.group == group && r.version == version)
    }
}
