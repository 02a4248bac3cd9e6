//! Per-resource behaviour on writes, as upstream's `registry/<kind>/strategy.go`:
//! preparing an object for create/update (what the user may not set), defaulting,
//! validation, and which parts a status write may change.
//!
//! Strategies work on normalised JSON (`serde_json::Value`) so the generic
//! handlers stay kind-agnostic; kinds that need typed logic decode locally.

pub mod config;
pub mod defaults;
pub mod names;
mod pod;
mod service;
mod simple;
mod workloads;

use serde_json::Value;

use crate::error::FieldError;

pub use pod::PodStrategy;
pub use service::ServiceStrategy;
pub use simple::{NamespaceStrategy, NodeStrategy, PlainStrategy, PROTECTED_NAMESPACES};
pub use workloads::{
    CronJobStrategy, DaemonSetStrategy, DeploymentStrategy, JobStrategy, RcStrategy, ReplicaSetStrategy,
    StatefulSetStrategy,
};

/// How names of a resource are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NameRule {
    /// DNS-1123 subdomain (most resources).
    Subdomain,
    /// DNS-1123 label (namespaces, services).
    Label,
    /// Path segment only (RBAC objects, events): no `/`, `%`, `.`/`..`.
    PathSegment,
}

pub trait Strategy: Send + Sync {
    /// How `metadata.name` is validated.
    fn name_rule(&self) -> NameRule {
        NameRule::Subdomain
    }

    /// Fill in defaults, as upstream's `SetDefaults_*`. Runs on every write of
    /// the main resource (create, update, patch).
    fn default(&self, _obj: &mut Value) {}

    /// Clear what a create may not set (e.g. `status` when a status subresource exists).
    fn prepare_for_create(&self, _obj: &mut Value) {}

    /// Keep what an update of the main resource may not change (e.g. `status`).
    fn prepare_for_update(&self, _new: &mut Value, _old: &Value) {}

    /// Validation of a new object (not the metadata, which is generic).
    fn validate(&self, _obj: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Validation of an update (immutable fields etc.), after `validate`.
    fn validate_update(&self, _new: &Value, _old: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Build the object a status write results in: by default the old object
    /// with the new `status` (spec changes ignored).
    fn prepare_for_status_update(&self, new: &mut Value, old: &Value) {
        let status = new.get("status").cloned();
        let mut merged = old.clone();
        match status {
            Some(s) => merged["status"] = s,
            None => {
                if let Some(m) = merged.as_object_mut() {
                    m.remove("status");
                }
            }
        }
        // Metadata (labels, annotations, ...) may change through status writes
        // upstream only for a few fields; keep the old metadata except what
        // the generic path updates (resourceVersion).
        if let (Some(meta), Some(new_meta)) = (merged.get_mut("metadata"), new.get("metadata")) {
            if let Some(rv) = new_meta.get("resourceVersion") {
                meta["resourceVersion"] = rv.clone();
            }
        }
        *new = merged;
    }

    /// Validation of a status write.
    fn validate_status_update(&self, _new: &Value, _old: &Value) -> Vec<FieldError> {
        Vec::new()
    }

    /// Whether `metadata.generation` is maintained (1 on create).
    fn tracks_generation(&self) -> bool {
        false
    }

    /// Whether a change from `old` to `new` bumps `metadata.generation`
    /// (upstream: a spec change, or any non-metadata/status change for kinds
    /// without spec).
    fn generation_changes(&self, new: &Value, old: &Value) -> bool {
        new.get("spec") != old.get("spec")
    }

    /// Refuse a delete (the reason becomes a 403), e.g. system namespaces.
    fn check_delete(&self, _obj: &Value) -> Result<(), String> {
        Ok(())
    }

    /// Mark an object whose deletion waits (e.g. namespace phase Terminating).
    fn mark_deleting(&self, _obj: &mut Value) {}

    /// Whether something other than `metadata.finalizers` holds the object
    /// after deletion was requested (namespaces: `spec.finalizers`).
    fn holds_deletion(&self, _obj: &Value) -> bool {
        false
    }

    /// Whether graceful deletion applies: returns the grace period to record
    /// instead of deleting at once (pods bound to a node).
    fn graceful_delete_seconds(&self, _obj: &Value, _requested: Option<i64>) -> Option<i64> {
        None
    }
}

/// Remove `status` from an object (used by kinds with a status subresource).
pub fn strip_status(obj: &mut Value) {
    if let Some(m) = obj.as_object_mut() {
        m.remove("status");
    }
}

/// Keep the old object's `status` on a main-resource update.
pub fn keep_old_status(new: &mut Value, old: &Value) {
    match (new.as_object_mut(), old.get("status")) {
        (Some(m), Some(s)) => {
            m.insert("status".into(), s.clone());
        }
        (Some(m), None) => {
            m.remove("status");
        }
        _ => {}
    }
}

/// An error for a field that may not change.
pub fn immutable(new: &Value, old: &Value, path: &[&str], field: &str) -> Option<FieldError> {
    let get = |v: &Value| path.iter().try_fold(v, |v, k| v.get(k)).cloned();
    let (n, o) = (get(new), get(old));
    (n != o).then(|| FieldError {
        reason: "FieldValueInvalid",
        field: field.to_string(),
        message: format!(
            "{field}: Invalid value: {}: field is immutable",
            n.map(|v| if let Value::String(s) = &v { format!("{s:?}") } else { v.to_string() })
                .unwrap_or_else(|| "null".into())
        ),
    })
}
