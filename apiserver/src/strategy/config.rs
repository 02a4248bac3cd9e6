//! ConfigMaps, Secrets, volume claims and RBAC bindings: the validation users
//! hit most (key names, required fields, immutable roleRef).

use serde_json::{json, Value};

use crate::error::FieldError;

const KEY_MSG: &str = "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')";

fn config_key_errors(obj: &Value, field: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(map) = obj.get(field).and_then(Value::as_object) else { return errs };
    for key in map.keys() {
        let ok = !key.is_empty() && key.len() <= 253 && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.');
        if !ok || key == "." || key == ".." {
            errs.push(FieldError::invalid(format!("{field}[{key}]"), &json!(key), KEY_MSG));
        }
    }
    errs
}

pub fn validate_configmap(obj: &Value) -> Vec<FieldError> {
    let mut errs = config_key_errors(obj, "data");
    errs.extend(config_key_errors(obj, "binaryData"));
    if let (Some(d), Some(b)) = (obj.get("data").and_then(Value::as_object), obj.get("binaryData").and_then(Value::as_object)) {
        for k in d.keys().filter(|k| b.contains_key(*k)) {
            errs.push(FieldError::invalid(format!("data[{k}]"), &json!(k), "duplicate of key present in binaryData"));
        }
    }
    errs
}

pub fn validate_secret(obj: &Value) -> Vec<FieldError> {
    let mut errs = config_key_errors(obj, "data");
    errs.extend(config_key_errors(obj, "stringData"));
    let size: usize = obj.get("data").and_then(Value::as_object).map(|m| m.values().filter_map(Value::as_str).map(|v| v.len() * 3 / 4).sum()).unwrap_or(0);
    if size > 1024 * 1024 {
        errs.push(FieldError::too_long("data", 1024 * 1024));
    }
    errs
}

/// Secrets accept `stringData` and fold it into `data` (base64) on write.
pub fn default_secret(obj: &mut Value) {
    super::defaults::set_default(obj, &["type"], json!("Opaque"));
    let Some(string_data) = obj.get("stringData").and_then(Value::as_object).cloned() else { return };
    use base64::Engine;
    if !obj.get("data").is_some_and(Value::is_object) {
        obj["data"] = json!({});
    }
    for (k, v) in string_data {
        if let Some(s) = v.as_str() {
            obj["data"][k.as_str()] = json!(base64::engine::general_purpose::STANDARD.encode(s));
        }
    }
    if let Some(m) = obj.as_object_mut() {
        m.remove("stringData");
    }
}

pub fn validate_pvc(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if obj.pointer("/spec/accessModes").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        errs.push(FieldError::required("spec.accessModes", "at least 1 access mode is required"));
    }
    if obj.pointer("/spec/resources/requests/storage").is_none() && obj.pointer("/spec/dataSourceRef").is_none() {
        errs.push(FieldError::required("spec.resources[storage]", ""));
    }
    errs
}

pub fn validate_pv(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if obj.pointer("/spec/accessModes").and_then(Value::as_array).is_none_or(Vec::is_empty) {
        errs.push(FieldError::required("spec.accessModes", ""));
    }
    if obj.pointer("/spec/capacity/storage").is_none() {
        errs.push(FieldError::required("spec.capacity", ""));
    }
    let sources = ["hostPath", "local", "nfs", "csi", "iscsi", "fc", "cephfs", "rbd", "glusterfs", "cinder", "azureDisk", "azureFile", "gcePersistentDisk", "awsElasticBlockStore", "flexVolume", "flocker", "photonPersistentDisk", "portworxVolume", "quobyte", "scaleIO", "storageos", "vsphereVolume"];
    if !sources.iter().any(|s| obj.pointer(&format!("/spec/{s}")).is_some()) {
        errs.push(FieldError::required("spec", "must specify a volume type"));
    }
    errs
}

pub fn validate_binding(obj: &Value) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let kind = obj.pointer("/roleRef/kind").and_then(Value::as_str).unwrap_or("");
    let is_cluster_binding = obj.get("kind").and_then(Value::as_str) == Some("ClusterRoleBinding");
    let allowed: &[&str] = if is_cluster_binding { &["ClusterRole"] } else { &["Role", "ClusterRole"] };
    if !allowed.contains(&kind) {
        errs.push(FieldError::not_supported("roleRef.kind", &json!(kind), allowed));
    }
    if obj.pointer("/roleRef/name").and_then(Value::as_str).is_none_or(str::is_empty) {
        errs.push(FieldError::required("roleRef.name", ""));
    }
    for (i, s) in obj.get("subjects").and_then(Value::as_array).into_iter().flatten().enumerate() {
        let kind = s.get("kind").and_then(Value::as_str).unwrap_or("");
        if !["User", "Group", "ServiceAccount"].contains(&kind) {
            errs.push(FieldError::not_supported(format!("subjects[{i}].kind"), &json!(kind), &["ServiceAccount", "User", "Group"]));
        }
        if s.get("name").and_then(Value::as_str).is_none_or(str::is_empty) {
            errs.push(FieldError::required(format!("subjects[{i}].name"), ""));
        }
        if kind == "ServiceAccount" && is_cluster_binding && s.get("namespace").and_then(Value::as_str).is_none_or(str::is_empty) {
            errs.push(FieldError::required(format!("subjects[{i}].namespace"), ""));
        }
    }
    errs
}
