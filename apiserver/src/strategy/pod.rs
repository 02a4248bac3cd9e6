//! Pods: defaulting, validation (the fields users get wrong most), the
//! mostly-immutable spec, status writes, and graceful deletion.

use serde_json::{json, Value};

use super::{defaults, keep_old_status, names, Strategy};
use crate::error::FieldError;

pub struct PodStrategy;

const RESTART_POLICIES: &[&str] = &["Always", "OnFailure", "Never"];
const DNS_POLICIES: &[&str] = &["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
const PULL_POLICIES: &[&str] = &["Always", "IfNotPresent", "Never"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

impl Strategy for PodStrategy {
    fn default(&self, obj: &mut Value) {
        if let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) {
            defaults::pod_spec(spec);
            defaults::set_default(spec, &["enableServiceLinks"], json!(true));
            defaults::set_default(spec, &["priority"], json!(0));
            defaults::set_default(spec, &["preemptionPolicy"], json!("PreemptLowerPriority"));
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        let qos = qos_class(obj.get("spec").unwrap_or(&Value::Null));
        obj["status"] = json!({"phase": "Pending", "qosClass": qos});
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old_status(new, old);
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        validate_pod_spec(obj.get("spec").unwrap_or(&Value::Null), "spec")
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        // Upstream allows changing only images, activeDeadlineSeconds,
        // tolerations (additions), terminationGracePeriodSeconds and
        // schedulingGates (removals).
        let mut n = new.get("spec").cloned().unwrap_or(Value::Null);
        let o = old.get("spec").cloned().unwrap_or(Value::Null);
        for key in ["containers", "initContainers"] {
            if let (Some(nc), Some(oc)) = (n.get_mut(key).and_then(Value::as_array_mut), o.get(key).and_then(Value::as_array)) {
                for (c, old_c) in nc.iter_mut().zip(oc) {
                    c["image"] = old_c.get("image").cloned().unwrap_or(Value::Null);
                }
            }
        }
        for key in ["activeDeadlineSeconds", "tolerations", "terminationGracePeriodSeconds", "schedulingGates"] {
            match o.get(key) {
                Some(v) => n[key] = v.clone(),
                None => {
                    if let Some(m) = n.as_object_mut() {
                        m.remove(key);
                    }
                }
            }
        }
        // nodeName may be set once (binding).
        if o.get("nodeName").is_none() {
            if let Some(m) = n.as_object_mut() {
                m.remove("nodeName");
            }
        }
        if n != o {
            return vec![FieldError::forbidden(
                "spec",
                "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)",
            )];
        }
        Vec::new()
    }

    fn generation_changes(&self, new: &Value, old: &Value) -> bool {
        new.get("spec") != old.get("spec")
    }

    fn graceful_delete_seconds(&self, obj: &Value, requested: Option<i64>) -> Option<i64> {
        let bound = obj.pointer("/spec/nodeName").and_then(Value::as_str).is_some_and(|n| !n.is_empty());
        let phase = obj.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
        if !bound || phase == "Succeeded" || phase == "Failed" {
            return None;
        }
        let default = obj.pointer("/spec/terminationGracePeriodSeconds").and_then(Value::as_i64).unwrap_or(30);
        let grace = requested.unwrap_or(default).max(0);
        (grace > 0).then_some(grace)
    }
}

/// Validate a `PodSpec` at `path` (also used for workload templates).
pub fn validate_pod_spec(spec: &Value, path: &str) -> Vec<FieldError> {
    validate_pod_spec_with_claims(spec, path, &[])
}

/// As `validate_pod_spec`, with extra volume names that mounts may use
/// (a StatefulSet's `volumeClaimTemplates`).
pub fn validate_pod_spec_with_claims(spec: &Value, path: &str, claim_volumes: &[&str]) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let containers = spec.get("containers").and_then(Value::as_array);
    if containers.is_none_or(Vec::is_empty) {
        errs.push(FieldError::required(format!("{path}.containers"), ""));
    }
    let mut seen_names: Vec<&str> = Vec::new();
    for key in ["initContainers", "containers"] {
        let Some(list) = spec.get(key).and_then(Value::as_array) else { continue };
        for (i, c) in list.iter().enumerate() {
            let cpath = format!("{path}.{key}[{i}]");
            let name = c.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                errs.push(FieldError::required(format!("{cpath}.name"), ""));
            } else if seen_names.contains(&name) {
                errs.push(FieldError::duplicate(format!("{cpath}.name"), &json!(name)));
            } else {
                errs.extend(names::validate_name(super::NameRule::Label, name, &format!("{cpath}.name")));
                seen_names.push(name);
            }
            if c.get("image").and_then(Value::as_str).is_none_or(|s| s.trim().is_empty()) {
                errs.push(FieldError::required(format!("{cpath}.image"), ""));
            }
            if let Some(p) = c.get("imagePullPolicy").and_then(Value::as_str) {
                if !PULL_POLICIES.contains(&p) {
                    errs.push(FieldError::not_supported(format!("{cpath}.imagePullPolicy"), &json!(p), PULL_POLICIES));
                }
            }
            errs.extend(validate_ports(c, &cpath));
        }
    }
    if let Some(p) = spec.get("restartPolicy").and_then(Value::as_str) {
        if !RESTART_POLICIES.contains(&p) {
            errs.push(FieldError::not_supported(format!("{path}.restartPolicy"), &json!(p), RESTART_POLICIES));
        }
    }
    if let Some(p) = spec.get("dnsPolicy").and_then(Value::as_str) {
        if !DNS_POLICIES.contains(&p) {
            errs.push(FieldError::not_supported(format!("{path}.dnsPolicy"), &json!(p), DNS_POLICIES));
        }
    }
    let mut volume_names: Vec<&str> = claim_volumes.to_vec();
    if let Some(vols) = spec.get("volumes").and_then(Value::as_array) {
        for (i, v) in vols.iter().enumerate() {
            let name = v.get("name").and_then(Value::as_str).unwrap_or("");
            let vpath = format!("{path}.volumes[{i}].name");
            if name.is_empty() {
                errs.push(FieldError::required(vpath, ""));
            } else if volume_names.contains(&name) {
                errs.push(FieldError::duplicate(vpath, &json!(name)));
            } else {
                volume_names.push(name);
            }
        }
    }
    for key in ["initContainers", "containers"] {
        let Some(list) = spec.get(key).and_then(Value::as_array) else { continue };
        for (i, c) in list.iter().enumerate() {
            let Some(mounts) = c.get("volumeMounts").and_then(Value::as_array) else { continue };
            for (j, m) in mounts.iter().enumerate() {
                let name = m.get("name").and_then(Value::as_str).unwrap_or("");
                if !volume_names.contains(&name) {
                    errs.push(FieldError {
                        reason: "FieldValueNotFound",
                        field: format!("{path}.{key}[{i}].volumeMounts[{j}].name"),
                        message: format!("{path}.{key}[{i}].volumeMounts[{j}].name: Not found: {name:?}"),
                    });
                }
                if m.get("mountPath").and_then(Value::as_str).is_none_or(str::is_empty) {
                    errs.push(FieldError::required(format!("{path}.{key}[{i}].volumeMounts[{j}].mountPath"), ""));
                }
            }
        }
    }
    errs
}

fn validate_ports(c: &Value, cpath: &str) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let Some(ports) = c.get("ports").and_then(Value::as_array) else { return errs };
    for (j, p) in ports.iter().enumerate() {
        let ppath = format!("{cpath}.ports[{j}]");
        if let Some(name) = p.get("name").and_then(Value::as_str) {
            for m in port_name_errors(name) {
                errs.push(FieldError::invalid(format!("{ppath}.name"), &json!(name), &m));
            }
        }
        match p.get("containerPort").and_then(Value::as_i64) {
            Some(n) if (1..=65535).contains(&n) => {}
            Some(n) => errs.push(FieldError::invalid(
                format!("{ppath}.containerPort"),
                &json!(n),
                "must be between 1 and 65535, inclusive",
            )),
            None => errs.push(FieldError::required(format!("{ppath}.containerPort"), "")),
        }
        if let Some(proto) = p.get("protocol").and_then(Value::as_str) {
            if !PROTOCOLS.contains(&proto) {
                errs.push(FieldError::not_supported(format!("{ppath}.protocol"), &json!(proto), PROTOCOLS));
            }
        }
    }
    errs
}

/// IANA service names: at most 15 chars, lowercase alnum and '-', at least one
/// letter, no leading/trailing/double hyphens.
pub fn port_name_errors(name: &str) -> Vec<String> {
    let mut out = Vec::new();
    if name.len() > 15 {
        out.push("must be no more than 15 characters".to_string());
    }
    if !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
        out.push("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)".to_string());
    }
    if name.contains("--") {
        out.push("must not contain consecutive hyphens".to_string());
    }
    if !name.bytes().any(|b| b.is_ascii_lowercase()) {
        out.push("must contain at least one letter (a-z)".to_string());
    }
    if name.starts_with('-') || name.ends_with('-') {
        out.push("must not begin or end with a hyphen".to_string());
    }
    out
}

/// `status.qosClass` from the containers' requests and limits.
pub fn qos_class(spec: &Value) -> &'static str {
    let mut any = false;
    let mut guaranteed = true;
    for key in ["initContainers", "containers"] {
        for c in spec.get(key).and_then(Value::as_array).into_iter().flatten() {
            let requests = c.pointer("/resources/requests").and_then(Value::as_object);
            let limits = c.pointer("/resources/limits").and_then(Value::as_object);
            if requests.is_some_and(|r| !r.is_empty()) || limits.is_some_and(|l| !l.is_empty()) {
                any = true;
            }
            for res in ["cpu", "memory"] {
                let limit = limits.and_then(|l| l.get(res));
                let request = requests.and_then(|r| r.get(res)).or(limit);
                if limit.is_none() || request != limit {
                    guaranteed = false;
                }
            }
        }
    }
    match (any, guaranteed) {
        (false, _) => "BestEffort",
        (true, true) => "Guaranteed",
        (true, false) => "Burstable",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(spec: Value, want_fields: &[&str]) {
        let errs = validate_pod_spec(&spec, "spec");
        let fields: Vec<&str> = errs.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, want_fields, "{errs:?}");
    }

    #[test]
    fn validation_table() {
        check(json!({"containers": [{"name": "c", "image": "i"}]}), &[]);
        check(json!({}), &["spec.containers"]);
        check(json!({"containers": [{"name": "", "image": ""}]}), &["spec.containers[0].name", "spec.containers[0].image"]);
        check(
            json!({"restartPolicy": "always", "containers": [{"name": "c", "image": "i"}]}),
            &["spec.restartPolicy"],
        );
        check(
            json!({"containers": [{"name": "c", "image": "i", "ports": [{"name": "http_port", "containerPort": 80}]}]}),
            &["spec.containers[0].ports[0].name"],
        );
        check(
            json!({"containers": [{"name": "c", "image": "i"}, {"name": "c", "image": "i"}]}),
            &["spec.containers[1].name"],
        );
        check(
            json!({"containers": [{"name": "c", "image": "i", "volumeMounts": [{"name": "data", "mountPath": "/d"}]}]}),
            &["spec.containers[0].volumeMounts[0].name"],
        );
    }

    #[test]
    fn qos_classes() {
        assert_eq!(qos_class(&json!({"containers": [{"name": "c"}]})), "BestEffort");
        assert_eq!(
            qos_class(&json!({"containers": [{"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}}]})),
            "Guaranteed"
        );
        assert_eq!(qos_class(&json!({"containers": [{"resources": {"requests": {"cpu": "1"}}}]})), "Burstable");
    }
}
