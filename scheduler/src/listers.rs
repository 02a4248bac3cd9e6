//! Read-only views of the API objects plugins consult (upstream's shared
//! informer listers): reflector stores, written by watchers in the shell and
//! by tests directly.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::{ReplicaSet, StatefulSet};
use k8s_openapi::api::core::v1::{Namespace, PersistentVolume, PersistentVolumeClaim, ReplicationController, Service};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::runtime::reflector::{store, ObjectRef, Store};
use kube::runtime::reflector::store::Writer;

macro_rules! listers {
    ($($field:ident: $ty:ty),* $(,)?) => {
        /// Stores of the objects plugins read.
        #[derive(Clone)]
        pub struct Listers { $(pub $field: Store<$ty>,)* }

        /// The writing ends of [`Listers`].
        pub struct Writers { $(pub $field: Writer<$ty>,)* }

        /// A fresh, empty pair.
        pub fn new() -> (Listers, Writers) {
            $(let $field = store::<$ty>();)*
            (Listers { $($field: $field.0,)* }, Writers { $($field: $field.1,)* })
        }
    };
}

listers! {
    pvcs: PersistentVolumeClaim,
    pvs: PersistentVolume,
    storage_classes: StorageClass,
    pdbs: PodDisruptionBudget,
    namespaces: Namespace,
    services: Service,
    replica_sets: ReplicaSet,
    stateful_sets: StatefulSet,
    replication_controllers: ReplicationController,
}

impl Default for Listers {
    fn default() -> Self {
        new().0
    }
}

impl Listers {
    pub fn pvc(&self, namespace: &str, name: &str) -> Option<std::sync::Arc<PersistentVolumeClaim>> {
        self.pvcs.get(&ObjectRef::new(name).within(namespace))
    }

    pub fn pv(&self, name: &str) -> Option<std::sync::Arc<PersistentVolume>> {
        self.pvs.get(&ObjectRef::new(name))
    }

    pub fn storage_class(&self, name: &str) -> Option<std::sync::Arc<StorageClass>> {
        self.storage_classes.get(&ObjectRef::new(name))
    }

    pub fn namespace_labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.namespaces.get(&ObjectRef::new(name)).and_then(|n| n.metadata.labels.clone())
    }
}
