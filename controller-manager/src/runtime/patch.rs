//! Status writes as JSON merge patches that also clear fields: a field set
//! in the old status but absent (None) in the new one is sent as `null`, so
//! the stored status equals the computed one (upstream writes the whole
//! status with `UpdateStatus`).

use serde::Serialize;
use serde_json::{json, Value};

/// `{"status": new}` with `null` for every top-level field of `old` that
/// `new` no longer has.
pub fn status_merge_patch<S: Serialize>(old: Option<&S>, new: &S) -> Value {
    let mut new_v = serde_json::to_value(new).unwrap_or(Value::Null);
    let old_v = old.and_then(|o| serde_json::to_value(o).ok()).unwrap_or(Value::Null);
    if let (Some(new_map), Some(old_map)) = (new_v.as_object_mut(), old_v.as_object()) {
        for key in old_map.keys() {
            if !new_map.contains_key(key) {
                new_map.insert(key.clone(), Value::Null);
            }
        }
    }
    json!({ "status": new_v })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::apps::v1::ReplicaSetStatus;

    #[test]
    fn clears_dropped_fields() {
        let old = ReplicaSetStatus { replicas: 3, ready_replicas: Some(3), ..Default::default() };
        let new = ReplicaSetStatus { replicas: 0, ..Default::default() };
        assert_eq!(status_merge_patch(Some(&old), &new), json!({"status": {"replicas": 0, "readyReplicas": null}}));
    }
}
