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

/// `autoscaling/v1` HorizontalPodAutoscalers are stored as `autoscaling/v2`.
pub const HPA_V1: Conversion = Conversion { to_storage: hpa_v1_to_v2, from_storage: hpa_v2_to_v1 };

pub fn hpa_v1_to_v2(v: Value) -> Value {
    let Value::Object(mut src) = v else { return v };
    let mut spec = src.remove("spec").and_then(|s| if let Value::Object(m) = s { Some(m) } else { None }).unwrap_or_default();
    let mut out_spec = Map::new();
    moved(&mut spec, &mut out_spec, &[("scaleTargetRef", "scaleTargetRef"), ("minReplicas", "minReplicas"), ("maxReplicas", "maxReplicas")]);
    if let Some(cpu) = spec.remove("targetCPUUtilizationPercentage").filter(|c| !c.is_null()) {
        out_spec.insert(
            "metrics".into(),
            json!([{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": cpu}}}]),
        );
    }
    let mut status = src.remove("status").and_then(|s| if let Value::Object(m) = s { Some(m) } else { None }).unwrap_or_default();
    let mut out_status = Map::new();
    moved(&mut status, &mut out_status, &[
        ("observedGeneration", "observedGeneration"), ("lastScaleTime", "lastScaleTime"),
        ("currentReplicas", "currentReplicas"), ("desiredReplicas", "desiredReplicas"),
    ]);
    if let Some(cpu) = status.remove("currentCPUUtilizationPercentage").filter(|c| !c.is_null()) {
        out_status.insert("currentMetrics".into(), json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": cpu}}}]));
    }
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("autoscaling/v2"));
    out.insert("kind".into(), json!("HorizontalPodAutoscaler"));
    if let Some(m) = src.remove("metadata") {
        out.insert("metadata".into(), m);
    }
    out.insert("spec".into(), Value::Object(out_spec));
    if !out_status.is_empty() {
        out.insert("status".into(), Value::Object(out_status));
    }
    Value::Object(out)
}

pub fn hpa_v2_to_v1(v: Value) -> Value {
    let Value::Object(mut src) = v else { return v };
    let cpu_target = src.get("spec").and_then(|s| s.get("metrics")).and_then(Value::as_array).and_then(|ms| {
        ms.iter().find_map(|m| {
            (m.pointer("/resource/name") == Some(&json!("cpu")) && m.pointer("/resource/target/type") == Some(&json!("Utilization")))
                .then(|| m.pointer("/resource/target/averageUtilization").cloned())
                .flatten()
        })
    });
    let cpu_current = src.get("status").and_then(|s| s.get("currentMetrics")).and_then(Value::as_array).and_then(|ms| {
        ms.iter().find_map(|m| (m.pointer("/resource/name") == Some(&json!("cpu"))).then(|| m.pointer("/resource/current/averageUtilization").cloned()).flatten())
    });
    let mut spec = src.remove("spec").and_then(|s| if let Value::Object(m) = s { Some(m) } else { None }).unwrap_or_default();
    let mut out_spec = Map::new();
    moved(&mut spec, &mut out_spec, &[("scaleTargetRef", "scaleTargetRef"), ("minReplicas", "minReplicas"), ("maxReplicas", "maxReplicas")]);
    if let Some(c) = cpu_target {
        out_spec.insert("targetCPUUtilizationPercentage".into(), c);
    }
    let mut status = src.remove("status").and_then(|s| if let Value::Object(m) = s { Some(m) } else { None }).unwrap_or_default();
    let mut out_status = Map::new();
    moved(&mut status, &mut out_status, &[
        ("observedGeneration", "observedGeneration"), ("lastScaleTime", "lastScaleTime"),
        ("currentReplicas", "currentReplicas"), ("desiredReplicas", "desiredReplicas"),
    ]);
    if let Some(c) = cpu_current {
        out_status.insert("currentCPUUtilizationPercentage".into(), c);
    }
    out_status.entry("currentReplicas").or_insert(json!(0));
    out_status.entry("desiredReplicas").or_insert(json!(0));
    let mut out = Map::new();
    out.insert("apiVersion".into(), json!("autoscaling/v1"));
    out.insert("kind".into(), json!("HorizontalPodAutoscaler"));
    if let Some(m) = src.remove("metadata") {
        out.insert("metadata".into(), m);
    }
    out.insert("spec".into(), Value::Object(out_spec));
    out.insert("status".into(), Value::Object(out_status));
    Value::Object(out)
}

#[cfg(test)]
mod hpa_tests {
    use super::*;

    #[test]
    fn hpa_round_trip() {
        let v1 = json!({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "h"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}, "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 80}});
        let v2 = hpa_v1_to_v2(v1.clone());
        assert_eq!(v2["spec"]["metrics"][0]["resource"]["target"]["averageUtilization"], 80);
        let back = hpa_v2_to_v1(v2);
        assert_eq!(back["spec"], v1["spec"]);
    }
}
