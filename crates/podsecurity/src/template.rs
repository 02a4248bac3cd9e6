//! Which objects carry a pod (template), how to get it out of a JSON
//! object, and which pod updates are worth re-checking — upstream's
//! `DefaultPodSpecExtractor` and `isSignificantPodUpdate`
//! (`admission/admission.go`).

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

/// Where the pod template sits in an object of `group`/`kind`, for the
/// kinds upstream's PodSecurity admission looks at; `None` for other
/// kinds. An empty path means the object is itself a pod.
///
/// Pods are enforced (and warned/audited); all the others are templates,
/// only warned and audited.
pub fn pod_template_path(group: &str, kind: &str) -> Option<&'static [&'static str]> {
    match (group, kind) {
        ("", "Pod") => Some(&[]),
        ("", "PodTemplate") => Some(&["template"]),
        ("", "ReplicationController") => Some(&["spec", "template"]),
        ("apps", "ReplicaSet" | "Deployment" | "StatefulSet" | "DaemonSet") | ("batch", "Job") => {
            Some(&["spec", "template"])
        }
        ("batch", "CronJob") => Some(&["spec", "jobTemplate", "spec", "template"]),
        _ => None,
    }
}

/// The pod metadata and spec of a pod or pod-template-carrying object.
/// `Ok(None)` when the kind carries no pod (see [`pod_template_path`]) or
/// the object has no template (a ReplicationController may omit it);
/// upstream skips such objects. A template without metadata yields empty
/// metadata; a spec without `containers` is read as having none.
pub fn extract_pod_template(
    group: &str,
    kind: &str,
    object: &Value,
) -> Result<Option<(ObjectMeta, PodSpec)>, serde_json::Error> {
    let Some(path) = pod_template_path(group, kind) else {
        return Ok(None);
    };
    let mut template = object;
    for key in path {
        match template.get(key) {
            Some(v) if !v.is_null() => template = v,
            _ => return Ok(None),
        }
    }
    let meta = match template.get("metadata") {
        Some(m) if !m.is_null() => serde_json::from_value(m.clone())?,
        _ => ObjectMeta::default(),
    };
    let mut spec = match template.get("spec") {
        Some(s) if s.is_object() => s.clone(),
        _ => Value::Object(Default::default()),
    };
    if let Some(map) = spec.as_object_mut() {
        map.entry("containers")
            .or_insert_with(|| Value::Array(Vec::new()));
    }
    let spec: PodSpec = serde_json::from_value(spec)?;
    Ok(Some((meta, spec)))
}

/// Whether a pod update can change the outcome of the checks, so it must be
/// re-evaluated (upstream re-checks only these; anything else that the pod
/// API lets change is irrelevant to the policy): the seccomp pod
/// annotation, the number of containers or init containers, a container's
/// image or its seccomp container annotation, and added or changed
/// ephemeral containers (matched by name).
pub fn is_significant_pod_update(
    new_meta: &ObjectMeta,
    new_spec: &PodSpec,
    old_meta: &ObjectMeta,
    old_spec: &PodSpec,
) -> bool {
    const POD_SECCOMP: &str = "seccomp.security.alpha.kubernetes.io/pod";
    const CONTAINER_SECCOMP: &str = "container.seccomp.security.alpha.kubernetes.io/";
    let annotation = |meta: &ObjectMeta, key: &str| -> Option<String> {
        meta.annotations.as_ref().and_then(|a| a.get(key).cloned())
    };
    let container_changed = |name: &str, image: Option<&str>, old_image: Option<&str>| {
        let key = format!("{CONTAINER_SECCOMP}{name}");
        image != old_image || annotation(new_meta, &key) != annotation(old_meta, &key)
    };
    if annotation(new_meta, POD_SECCOMP) != annotation(old_meta, POD_SECCOMP) {
        return true;
    }
    let new_init = new_spec.init_containers.as_deref().unwrap_or_default();
    let old_init = old_spec.init_containers.as_deref().unwrap_or_default();
    if new_spec.containers.len() != old_spec.containers.len() || new_init.len() != old_init.len() {
        return true;
    }
    let pairs = new_spec
        .containers
        .iter()
        .zip(&old_spec.containers)
        .chain(new_init.iter().zip(old_init));
    for (c, old) in pairs {
        if container_changed(&c.name, c.image.as_deref(), old.image.as_deref()) {
            return true;
        }
    }
    let old_ephemeral = old_spec.ephemeral_containers.as_deref().unwrap_or_default();
    for c in new_spec.ephemeral_containers.iter().flatten() {
        match old_ephemeral.iter().find(|o| o.name == c.name) {
            None => return true,
            Some(old) => {
                if container_changed(&c.name, c.image.as_deref(), old.image.as_deref()) {
                    return true;
                }
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use serde_json::json;

    #[test]
    fn extracts_templates_by_kind() {
        let pod_spec = json!({"containers": [{"name": "a", "image": "x"}]});
        let template = json!({"metadata": {"labels": {"app": "x"}}, "spec": pod_spec});
        let cases: Vec<(&str, &str, Value, Option<usize>)> = vec![
            (
                "",
                "Pod",
                json!({"metadata": {"name": "p"}, "spec": pod_spec}),
                Some(1),
            ),
            ("", "PodTemplate", json!({"template": template}), Some(1)),
            (
                "",
                "ReplicationController",
                json!({"spec": {"template": template}}),
                Some(1),
            ),
            ("", "ReplicationController", json!({"spec": {}}), None),
            (
                "apps",
                "Deployment",
                json!({"spec": {"template": template}}),
                Some(1),
            ),
            (
                "apps",
                "StatefulSet",
                json!({"spec": {"template": template}}),
                Some(1),
            ),
            (
                "apps",
                "DaemonSet",
                json!({"spec": {"template": template}}),
                Some(1),
            ),
            (
                "apps",
                "ReplicaSet",
                json!({"spec": {"template": template}}),
                Some(1),
            ),
            (
                "batch",
                "Job",
                json!({"spec": {"template": {"spec": {}}}}),
                Some(0),
            ),
            (
                "batch",
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": template}}}}),
                Some(1),
            ),
            ("", "ConfigMap", json!({"data": {}}), None),
            (
                "extensions",
                "Deployment",
                json!({"spec": {"template": template}}),
                None,
            ),
        ];
        for (group, kind, object, want) in cases {
            let got = extract_pod_template(group, kind, &object).unwrap();
            assert_eq!(got.map(|(_, s)| s.containers.len()), want, "{group}/{kind}");
        }
    }

    fn pod(v: Value) -> (ObjectMeta, PodSpec) {
        extract_pod_template("", "Pod", &v).unwrap().unwrap()
    }

    #[test]
    fn significant_updates() {
        let base = json!({"metadata": {}, "spec": {"containers": [{"name": "a", "image": "x"}]}});
        let cases: Vec<(&str, Value, bool)> = vec![
            ("same", base.clone(), false),
            (
                "labels only",
                json!({"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "a", "image": "x"}]}}),
                false,
            ),
            (
                "image",
                json!({"metadata": {}, "spec": {"containers": [{"name": "a", "image": "y"}]}}),
                true,
            ),
            (
                "pod seccomp annotation",
                json!({"metadata": {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "unconfined"}},
                       "spec": {"containers": [{"name": "a", "image": "x"}]}}),
                true,
            ),
            (
                "container seccomp annotation",
                json!({"metadata": {"annotations": {"container.seccomp.security.alpha.kubernetes.io/a": "unconfined"}},
                       "spec": {"containers": [{"name": "a", "image": "x"}]}}),
                true,
            ),
            (
                "ephemeral added",
                json!({"metadata": {}, "spec": {"containers": [{"name": "a", "image": "x"}],
                       "ephemeralContainers": [{"name": "dbg", "image": "busybox"}]}}),
                true,
            ),
            (
                "activeDeadlineSeconds",
                json!({"metadata": {}, "spec": {"containers": [{"name": "a", "image": "x"}], "activeDeadlineSeconds": 5}}),
                false,
            ),
        ];
        let (old_meta, old_spec) = pod(base);
        for (name, new, want) in cases {
            let (m, s) = pod(new);
            assert_eq!(
                is_significant_pod_update(&m, &s, &old_meta, &old_spec),
                want,
                "{name}"
            );
        }
    }
}
