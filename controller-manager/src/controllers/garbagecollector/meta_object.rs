//! A watchable object that keeps only the metadata the garbage collector
//! reads (upstream's GC watches `PartialObjectMetadata`). Decoding a full
//! object into it skips the spec and status without building them, and
//! skips `managedFields`, so a busy pod watch costs the collector little.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, OwnerReference, Time};
use kube::core::{ApiResource, DynamicResourceScope};
use kube::Resource;
use serde::Deserialize;

/// Metadata of any resource, by its [`ApiResource`].
#[derive(Debug, Clone, Deserialize)]
#[serde(from = "Wire")]
pub struct MetaObject {
    pub metadata: ObjectMeta,
}

/// The fields decoded; everything else in the object is skipped.
#[derive(Deserialize)]
struct Wire {
    #[serde(default)]
    metadata: WireMeta,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WireMeta {
    name: Option<String>,
    namespace: Option<String>,
    uid: Option<String>,
    resource_version: Option<String>,
    owner_references: Option<Vec<OwnerReference>>,
    deletion_timestamp: Option<Time>,
    finalizers: Option<Vec<String>>,
}

impl From<Wire> for MetaObject {
    fn from(wire: Wire) -> MetaObject {
        let m = wire.metadata;
        MetaObject {
            metadata: ObjectMeta {
                name: m.name,
                namespace: m.namespace,
                uid: m.uid,
                resource_version: m.resource_version,
                owner_references: m.owner_references,
                deletion_timestamp: m.deletion_timestamp,
                finalizers: m.finalizers,
                ..ObjectMeta::default()
            },
        }
    }
}

impl Resource for MetaObject {
    type DynamicType = ApiResource;
    type Scope = DynamicResourceScope;

    fn group(dt: &ApiResource) -> Cow<'_, str> {
        dt.group.as_str().into()
    }

    fn version(dt: &ApiResource) -> Cow<'_, str> {
        dt.version.as_str().into()
    }

    fn kind(dt: &ApiResource) -> Cow<'_, str> {
        dt.kind.as_str().into()
    }

    fn api_version(dt: &ApiResource) -> Cow<'_, str> {
        dt.api_version.as_str().into()
    }

    fn plural(dt: &ApiResource) -> Cow<'_, str> {
        dt.plural.as_str().into()
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_only_the_metadata_the_collector_reads() {
        let obj: MetaObject = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Pod",
            "metadata": {
                "name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "7",
                "labels": {"a": "b"},
                "finalizers": ["f"],
                "deletionTimestamp": "2026-01-01T00:00:00Z",
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "rs", "uid": "u0", "controller": true}],
                "managedFields": [{"manager": "kubelet", "fieldsType": "FieldsV1", "fieldsV1": {"f:status": {}}}]
            },
            "spec": {"containers": [{"name": "c", "image": "i"}]},
            "status": {"phase": "Running"}
        }))
        .unwrap_or_else(|e| panic!("{e}"));
        let m = &obj.metadata;
        assert_eq!((m.name.as_deref(), m.namespace.as_deref(), m.uid.as_deref()), (Some("p"), Some("ns"), Some("u1")));
        assert_eq!(m.resource_version.as_deref(), Some("7"));
        assert_eq!(m.finalizers.as_deref(), Some(&["f".to_string()][..]));
        assert!(m.deletion_timestamp.is_some());
        assert_eq!(m.owner_references.as_ref().map(|o| o[0].uid.as_str()), Some("u0"));
        assert!(m.labels.is_none() && m.managed_fields.is_none());
    }
}
