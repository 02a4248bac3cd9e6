//! Services: defaulting and validation. IP and node-port allocation happen in
//! `crate::allocator`, which runs after validation on create and update.

use serde_json::{json, Value};

use super::{defaults::set_default, keep_old_status, pod::port_name_errors, Strategy};
use crate::error::FieldError;

pub struct ServiceStrategy;

const TYPES: &[&str] = &["ClusterIP", "ExternalName", "LoadBalancer", "NodePort"];
const AFFINITIES: &[&str] = &["ClientIP", "None"];
const PROTOCOLS: &[&str] = &["SCTP", "TCP", "UDP"];

impl Strategy for ServiceStrategy {
    fn name_rule(&self) -> super::NameRule {
        super::NameRule::Label
    }

    fn default(&self, obj: &mut Value) {
        let Some(spec) = obj.get_mut("spec").filter(|s| s.is_object()) else { return };
        set_default(spec, &["type"], json!("ClusterIP"));
        let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
        set_default(spec, &["sessionAffinity"], json!("None"));
        if ty != "ExternalName" {
            set_default(spec, &["internalTrafficPolicy"], json!("Cluster"));
        }
        if ty == "NodePort" || ty == "LoadBalancer" {
            set_default(spec, &["externalTrafficPolicy"], json!("Cluster"));
        }
        if ty == "LoadBalancer" {
            set_default(spec, &["allocateLoadBalancerNodePorts"], json!(true));
        }
        if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
            for p in ports {
                set_default(p, &["protocol"], json!("TCP"));
                if p.get("targetPort").is_none_or(Value::is_null) {
                    if let Some(port) = p.get("port").cloned() {
                        p["targetPort"] = port;
                    }
                }
            }
        }
    }

    fn prepare_for_create(&self, obj: &mut Value) {
        obj["status"] = json!({"loadBalancer": {}});
    }

    fn prepare_for_update(&self, new: &mut Value, old: &Value) {
        keep_old_status(new, old);
        // clusterIP / clusterIPs are kept when the update leaves them empty
        // (kubectl replace of a manifest without them).
        for key in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            let unset = new.pointer(&format!("/spec/{key}")).is_none_or(|v| v.is_null() || v == "");
            if unset {
                if let (Some(v), Some(spec)) = (old.pointer(&format!("/spec/{key}")).cloned(), new.get_mut("spec")) {
                    if spec.is_object() {
                        spec[key] = v;
                    }
                }
            }
        }
        // Node ports are kept for ports that did not set them.
        let old_ports = old.pointer("/spec/ports").and_then(Value::as_array).cloned().unwrap_or_default();
        if let Some(ports) = new.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
            for p in ports {
                if p.get("nodePort").is_some_and(|n| !n.is_null()) {
                    continue;
                }
                let matching = old_ports.iter().find(|o| o.get("port") == p.get("port") && o.get("protocol") == p.get("protocol"));
                if let Some(n) = matching.and_then(|o| o.get("nodePort")) {
                    p["nodePort"] = n.clone();
                }
            }
        }
    }

    fn validate(&self, obj: &Value) -> Vec<FieldError> {
        let mut errs = Vec::new();
        let spec = obj.get("spec").cloned().unwrap_or(Value::Null);
        let ty = spec.get("type").and_then(Value::as_str).unwrap_or("ClusterIP");
        if !TYPES.contains(&ty) {
            errs.push(FieldError::not_supported("spec.type", &json!(ty), TYPES));
        }
        if let Some(a) = spec.get("sessionAffinity").and_then(Value::as_str) {
            if !AFFINITIES.contains(&a) {
                errs.push(FieldError::not_supported("spec.sessionAffinity", &json!(a), AFFINITIES));
            }
        }
        let ports = spec.get("ports").and_then(Value::as_array).cloned().unwrap_or_default();
        if ports.is_empty() && ty != "ExternalName" && spec.get("clusterIP").and_then(Value::as_str) != Some("None") {
            errs.push(FieldError::required("spec.ports", ""));
        }
        if ty == "ExternalName" && spec.get("externalName").and_then(Value::as_str).is_none_or(str::is_empty) {
            errs.push(FieldError::required("spec.externalName", ""));
        }
        let multiple = ports.len() > 1;
        let mut seen_names: Vec<String> = Vec::new();
        let mut seen_ports: Vec<(i64, String)> = Vec::new();
        for (i, p) in ports.iter().enumerate() {
            let path = format!("spec.ports[{i}]");
            let name = p.get("name").and_then(Value::as_str).unwrap_or("");
            if name.is_empty() {
                if multiple {
                    errs.push(FieldError::required(format!("{path}.name"), ""));
                }
            } else {
                for m in super::names::dns1123_label_errors(name) {
                    errs.push(FieldError::invalid(format!("{path}.name"), &json!(name), &m));
                }
                if seen_names.iter().any(|n| n == name) {
                    errs.push(FieldError::duplicate(format!("{path}.name"), &json!(name)));
                }
                seen_names.push(name.to_string());
            }
            let proto = p.get("protocol").and_then(Value::as_str).unwrap_or("TCP").to_string();
            if !PROTOCOLS.contains(&proto.as_str()) {
                errs.push(FieldError::not_supported(format!("{path}.protocol"), &json!(proto), PROTOCOLS));
            }
            match p.get("port").and_then(Value::as_i64) {
                Some(n) if (1..=65535).contains(&n) => {
                    if seen_ports.contains(&(n, proto.clone())) {
                        errs.push(FieldError::duplicate(path.clone(), &json!({"port": n, "protocol": proto})));
                    }
                    seen_ports.push((n, proto.clone()));
                }
                Some(n) => errs.push(FieldError::invalid(format!("{path}.port"), &json!(n), "must be between 1 and 65535, inclusive")),
                None => errs.push(FieldError::required(format!("{path}.port"), "")),
            }
            match p.get("targetPort") {
                Some(Value::Number(n)) => {
                    let n = n.as_i64().unwrap_or(0);
                    if !(1..=65535).contains(&n) {
                        errs.push(FieldError::invalid(format!("{path}.targetPort"), &json!(n), "must be between 1 and 65535, inclusive"));
                    }
                }
                Some(Value::String(s)) => {
                    for m in port_name_errors(s) {
                        errs.push(FieldError::invalid(format!("{path}.targetPort"), &json!(s), &m));
                    }
                }
                _ => {}
            }
            if let Some(np) = p.get("nodePort").and_then(Value::as_i64) {
                if ty == "ClusterIP" && np != 0 {
                    errs.push(FieldError::forbidden(format!("{path}.nodePort"), "may not be used when `type` is 'ClusterIP'"));
                }
            }
        }
        if let Some(ip) = spec.get("clusterIP").and_then(Value::as_str) {
            if !ip.is_empty() && ip != "None" && ip.parse::<std::net::IpAddr>().is_err() {
                errs.push(FieldError::invalid("spec.clusterIPs[0]", &json!(ip), "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
            }
        }
        errs
    }

    fn validate_update(&self, new: &Value, old: &Value) -> Vec<FieldError> {
        let old_ip = old.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("");
        let new_ip = new.pointer("/spec/clusterIP").and_then(Value::as_str).unwrap_or("");
        let new_type = new.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
        if !old_ip.is_empty() && old_ip != new_ip && new_type != "ExternalName" {
            return vec![FieldError::invalid("spec.clusterIPs[0]", &json!(new_ip), "may not change once set")];
        }
        Vec::new()
    }
}
