//! StorageObjectInUseProtection (upstream
//! `plugin/pkg/admission/storage/storageobjectinuseprotection`, on by
//! default): every new PersistentVolumeClaim gets the
//! `kubernetes.io/pvc-protection` finalizer and every new PersistentVolume
//! `kubernetes.io/pv-protection`. The controller-manager's `pvc-protection`
//! and `pv-protection` controllers remove them once the claim is used by no
//! pod (the volume is bound to no claim), so `kubectl delete pvc` on a claim
//! a pod still mounts leaves it `Terminating` until that pod is gone.
//!
//! Only creates of the main resource (no subresource) are touched; the
//! finalizer is appended once, after any the client set.

use async_trait::async_trait;
use serde_json::Value;

use super::{AdmissionPlugin, Operation};
use crate::error::ApiResult;
use crate::handlers::Ctx;

/// Upstream `volumeutil.PVCProtectionFinalizer`.
pub const PVC_PROTECTION_FINALIZER: &str = "kubernetes.io/pvc-protection";
/// Upstream `volumeutil.PVProtectionFinalizer`.
pub const PV_PROTECTION_FINALIZER: &str = "kubernetes.io/pv-protection";

pub struct StorageObjectInUseProtection;

/// The finalizer a create of core `plural` (no subresource) must carry.
fn finalizer_for(group: &str, plural: &str, subresource: Option<&str>) -> Option<&'static str> {
    if !group.is_empty() || subresource.is_some() {
        return None;
    }
    match plural {
        "persistentvolumeclaims" => Some(PVC_PROTECTION_FINALIZER),
        "persistentvolumes" => Some(PV_PROTECTION_FINALIZER),
        _ => None,
    }
}

/// Appends `finalizer` to `metadata.finalizers` unless it is there.
fn ensure_finalizer(obj: &mut Value, finalizer: &str) {
    let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) else { return };
    let list = meta.entry("finalizers").or_insert_with(|| Value::Array(Vec::new()));
    if list.is_null() {
        *list = Value::Array(Vec::new());
    }
    let Some(list) = list.as_array_mut() else { return };
    if !list.iter().any(|f| f.as_str() == Some(finalizer)) {
        list.push(Value::String(finalizer.to_string()));
    }
}

#[async_trait]
impl AdmissionPlugin for StorageObjectInUseProtection {
    fn name(&self) -> &'static str {
        "StorageObjectInUseProtection"
    }

    async fn admit(&self, ctx: &Ctx, op: Operation, obj: &mut Value, _old: Option<&Value>) -> ApiResult<()> {
        if op != Operation::Create {
            return Ok(());
        }
        if let Some(finalizer) = finalizer_for(ctx.def.group, ctx.def.plural, ctx.info.subresource.as_deref()) {
            ensure_finalizer(obj, finalizer);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn which_creates_get_which_finalizer() {
        let cases = [
            ("", "persistentvolumeclaims", None, Some(PVC_PROTECTION_FINALIZER)),
            ("", "persistentvolumes", None, Some(PV_PROTECTION_FINALIZER)),
            ("", "persistentvolumeclaims", Some("status"), None),
            ("", "persistentvolumes", Some("status"), None),
            ("", "pods", None, None),
            ("storage.k8s.io", "persistentvolumes", None, None),
        ];
        for (group, plural, sub, want) in cases {
            assert_eq!(finalizer_for(group, plural, sub), want, "{group}/{plural} {sub:?}");
        }
    }

    #[test]
    fn finalizer_is_added_once_after_existing_ones() {
        let cases = [
            (json!({"metadata": {"name": "a"}}), json!(["kubernetes.io/pvc-protection"])),
            (json!({"metadata": {"name": "a", "finalizers": null}}), json!(["kubernetes.io/pvc-protection"])),
            (json!({"metadata": {"finalizers": ["x/y"]}}), json!(["x/y", "kubernetes.io/pvc-protection"])),
            (json!({"metadata": {"finalizers": ["kubernetes.io/pvc-protection", "x/y"]}}), json!(["kubernetes.io/pvc-protection", "x/y"])),
        ];
        for (mut obj, want) in cases {
            ensure_finalizer(&mut obj, PVC_PROTECTION_FINALIZER);
            assert_eq!(obj["metadata"]["finalizers"], want, "{obj}");
        }
    }
}
