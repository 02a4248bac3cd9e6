//! Conversions between versions that share one storage form. Today:
//! `events.k8s.io/v1` Events are stored as `v1` Events (as upstream does), so
//! `kubectl describe` (core events) and event recorders using the new API see
//! the same objects.

use serde_json::{json, Map, Value};

use super::Conversion;

pub const EVENTS_K8S_IO: Conversion = Conversion { to_storage: events_to_core, from_storage: core_to_events };

fn moved(from: &mut Map<String, Value>, to: &mut Map<String, Value>, pairs: &[(&str, &str)]) {
    for (src, dst) in pairs {
        if let Some(v) = from.remove(*src) {
            if !v.is_null() {
                to.insert((*dst).to_string(), v);
            }
        }
    }
}

/// `events.k8s.io/v1` → `v1` (the stored form).
pub fn events_to_core(v: Value) -> Value {
    let Value::Object(mut src) = v else { return v };
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("v1"));
    out.insert("kind".into(), json!("Event"));
    src.remove("apiVersion");
    src.remove("kind");
    moved(&mut src, &mut out, &[
        ("metadata", "metadata"), ("regarding", "involvedObject"), ("note", "message"), ("reason", "reason"),
        ("type", "type"), ("action", "action"), ("related", "related"), ("eventTime", "eventTime"), ("series", "series"),
        ("reportingController", "reportingComponent"), ("reportingInstance", "reportingInstance"),
        ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"),
    ]);
    if !out.contains_key("source") {
        let mut source = Map::new();
        if let Some(c) = out.get("reportingComponent") {
            source.insert("component".into(), c.clone());
        }
        if let Some(h) = out.get("reportingInstance") {
            source.insert("host".into(), h.clone());
        }
        out.insert("source".into(), Value::Object(source));
    }
    if !out.contains_key("involvedObject") {
        out.insert("involvedObject".into(), json!({}));
    }
    Value::Object(out)
}

/// `v1` (stored) → `events.k8s.io/v1`.
pub fn core_to_events(v: Value) -> Value {
    let Value::Object(mut src) = v else { return v };
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("events.k8s.io/v1"));
    out.insert("kind".into(), json!("Event"));
    src.remove("apiVersion");
    src.remove("kind");
    let source = src.get("source").cloned();
    moved(&mut src, &mut out, &[
        ("metadata", "metadata"), ("involvedObject", "regarding"), ("message", "note"), ("reason", "reason"),
        ("type", "type"), ("action", "action"), ("related", "related"), ("eventTime", "eventTime"), ("series", "series"),
        ("reportingComponent", "reportingController"), ("reportingInstance", "reportingInstance"),
        ("source", "deprecatedSource"), ("firstTimestamp", "deprecatedFirstTimestamp"),
        ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount"),
    ]);
    if out.get("reportingController").is_none_or(|c| c.as_str().is_some_and(str::is_empty)) {
        if let Some(c) = source.as_ref().and_then(|s| s.get("component")).filter(|c| !c.is_null()) {
            out.insert("reportingController".into(), c.clone());
        }
    }
    if out.get("reportingInstance").is_none_or(|c| c.as_str().is_some_and(str::is_empty)) {
        if let Some(h) = source.as_ref().and_then(|s| s.get("host")).filter(|h| !h.is_null()) {
            out.insert("reportingInstance".into(), h.clone());
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_round_trip() {
        let new = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "e", "namespace": "default"},
            "regarding": {"kind": "Pod", "name": "web", "namespace": "default"},
            "note": "Pulled image", "reason": "Pulled", "type": "Normal", "action": "Pull",
            "reportingController": "kubelet", "reportingInstance": "node-1",
            "eventTime": "2024-01-01T00:00:00.000000Z",
        });
        let core = events_to_core(new.clone());
        assert_eq!(core["involvedObject"]["name"], "web");
        assert_eq!(core["message"], "Pulled image");
        assert_eq!(core["source"]["component"], "kubelet");
        let back = core_to_events(core);
        for k in ["regarding", "note", "reason", "type", "action", "reportingController", "reportingInstance", "eventTime"] {
            assert_eq!(back[k], new[k], "{k}");
        }
    }
}
