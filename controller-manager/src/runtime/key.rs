//! `namespace/name` keys, as upstream's `cache.MetaNamespaceKeyFunc`.

use std::fmt;

use kube::Resource;

/// An object's identity in a queue; `namespace` is empty for cluster-scoped
/// objects. Displays as `namespace/name` (or `name`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey {
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    pub fn new(namespace: impl Into<String>, name: impl Into<String>) -> ObjectKey {
        ObjectKey { namespace: namespace.into(), name: name.into() }
    }

    /// The key of `obj`.
    pub fn of<K: Resource>(obj: &K) -> ObjectKey {
        let meta = obj.meta();
        ObjectKey::new(meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default())
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.namespace.is_empty() {
            f.write_str(&self.name)
        } else {
            write!(f, "{}/{}", self.namespace, self.name)
        }
    }
}
