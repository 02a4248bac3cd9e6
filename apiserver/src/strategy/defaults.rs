//! Upstream defaulting (`pkg/apis/*/v1/defaults.go`) on normalised JSON.
//! Every function only fills what is absent.

use serde_json::{json, Map, Value};

/// Set `obj[path...] = value` if absent (creating intermediate objects).
pub fn set_default(obj: &mut Value, path: &[&str], value: Value) {
    let Some((last, parents)) = path.split_last() else { return };
    let mut cur = obj;
    for key in parents {
        if !cur.get(*key).is_some_and(Value::is_object) {
            if !cur.is_object() {
                return;
            }
            cur[*key] = Value::Object(Map::new());
        }
        cur = &mut cur[*key];
    }
    if let Some(m) = cur.as_object_mut() {
        if m.get(*last).is_none_or(Value::is_null) {
            m.insert((*last).to_string(), value);
        }
    }
}

fn for_each_item(obj: &mut Value, key: &str, f: impl Fn(&mut Value)) {
    if let Some(items) = obj.get_mut(key).and_then(Value::as_array_mut) {
        items.iter_mut().for_each(f);
    }
}

/// `SetDefaults_PodSpec` and the container/volume/probe defaults under it.
pub fn pod_spec(spec: &mut Value) {
    set_default(spec, &["restartPolicy"], json!("Always"));
    set_default(spec, &["terminationGracePeriodSeconds"], json!(30));
    set_default(spec, &["dnsPolicy"], json!("ClusterFirst"));
    set_default(spec, &["securityContext"], json!({}));
    set_default(spec, &["schedulerName"], json!("default-scheduler"));
    for key in ["containers", "initContainers"] {
        for_each_item(spec, key, container);
    }
    for_each_item(spec, "ephemeralContainers", |c| {
        set_default(c, &["terminationMessagePath"], json!("/dev/termination-log"));
        set_default(c, &["terminationMessagePolicy"], json!("File"));
        image_pull_policy(c);
    });
    for_each_item(spec, "volumes", volume);
}

fn container(c: &mut Value) {
    set_default(c, &["terminationMessagePath"], json!("/dev/termination-log"));
    set_default(c, &["terminationMessagePolicy"], json!("File"));
    set_default(c, &["resources"], json!({}));
    image_pull_policy(c);
    for_each_item(c, "ports", |p| set_default(p, &["protocol"], json!("TCP")));
    for probe in ["livenessProbe", "readinessProbe", "startupProbe"] {
        if let Some(p) = c.get_mut(probe).filter(|p| p.is_object()) {
            set_default(p, &["timeoutSeconds"], json!(1));
            set_default(p, &["periodSeconds"], json!(10));
            set_default(p, &["successThreshold"], json!(1));
            set_default(p, &["failureThreshold"], json!(3));
            if let Some(h) = p.get_mut("httpGet").filter(|h| h.is_object()) {
                set_default(h, &["path"], json!("/"));
                set_default(h, &["scheme"], json!("HTTP"));
            }
        }
    }
    for_each_item(c, "env", |e| {
        if let Some(fr) = e.pointer_mut("/valueFrom/fieldRef").filter(|f| f.is_object()) {
            set_default(fr, &["apiVersion"], json!("v1"));
        }
    });
}

/// `Always` for `:latest` or untagged images, else `IfNotPresent`.
fn image_pull_policy(c: &mut Value) {
    let image = c.get("image").and_then(Value::as_str).unwrap_or_default();
    let without_digest = image.split('@').next().unwrap_or_default();
    let last_segment = without_digest.rsplit('/').next().unwrap_or_default();
    let tag = last_segment.split_once(':').map(|(_, t)| t);
    let policy = if image.contains('@') {
        "IfNotPresent"
    } else {
        match tag {
            None | Some("latest") => "Always",
            Some(_) => "IfNotPresent",
        }
    };
    set_default(c, &["imagePullPolicy"], json!(policy));
}

fn volume(v: &mut Value) {
    if let Some(s) = v.get_mut("configMap").filter(|s| s.is_object()) {
        set_default(s, &["defaultMode"], json!(420));
    }
    if let Some(s) = v.get_mut("secret").filter(|s| s.is_object()) {
        set_default(s, &["defaultMode"], json!(420));
    }
    if let Some(s) = v.get_mut("projected").filter(|s| s.is_object()) {
        set_default(s, &["defaultMode"], json!(420));
    }
    if let Some(s) = v.get_mut("downwardAPI").filter(|s| s.is_object()) {
        set_default(s, &["defaultMode"], json!(420));
    }
    if let Some(s) = v.get_mut("hostPath").filter(|s| s.is_object()) {
        set_default(s, &["type"], json!(""));
    }
}

/// Defaults of a `PodTemplateSpec` at `obj[path]` (workload templates).
pub fn pod_template(obj: &mut Value, path: &[&str]) {
    let mut cur = &mut *obj;
    for key in path {
        match cur.get_mut(*key) {
            Some(next) => cur = next,
            None => return,
        }
    }
    if let Some(spec) = cur.get_mut("spec").filter(|s| s.is_object()) {
        pod_spec(spec);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_pull_policy_by_tag() {
        let cases = [
            ("nginx", "Always"),
            ("nginx:latest", "Always"),
            ("nginx:1.25", "IfNotPresent"),
            ("localhost:5000/nginx", "Always"),
            ("localhost:5000/nginx:1.0", "IfNotPresent"),
            ("nginx@sha256:abc", "IfNotPresent"),
        ];
        for (image, want) in cases {
            let mut c = json!({"image": image});
            image_pull_policy(&mut c);
            assert_eq!(c["imagePullPolicy"], want, "{image}");
        }
    }

    #[test]
    fn pod_spec_defaults_fill_only_absent() {
        let mut spec = json!({"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox", "ports": [{"containerPort": 80}]}]});
        pod_spec(&mut spec);
        assert_eq!(spec["restartPolicy"], "Never");
        assert_eq!(spec["dnsPolicy"], "ClusterFirst");
        assert_eq!(spec["schedulerName"], "default-scheduler");
        assert_eq!(spec["terminationGracePeriodSeconds"], 30);
        assert_eq!(spec["containers"][0]["ports"][0]["protocol"], "TCP");
        assert_eq!(spec["containers"][0]["terminationMessagePath"], "/dev/termination-log");
    }
}
