//! LimitRanger (upstream `plugin/pkg/admission/limitranger`): the
//! namespace's LimitRanges default container requests and limits on pod
//! create, then enforce min / max / maxLimitRequestRatio per Container and
//! per Pod, and min / max storage per PersistentVolumeClaim.
//!
//! Pure core ([`default_pod`], [`validate_pod`], [`validate_pvc`]) over the
//! JSON object; the plugin shell reads the LimitRanges from the watch cache.

use std::collections::BTreeMap;

use apimachinery::quantity::Quantity;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::{LimitRange, LimitRangeItem};
use serde_json::{json, Value};

use super::{aggregate, cached_in_namespace, AdmissionPlugin, Operation};
use crate::error::{ApiError, ApiResult};
use crate::handlers::Ctx;

const ANNOTATION: &str = "kubernetes.io/limit-ranger";

pub struct LimitRanger;

#[async_trait]
impl AdmissionPlugin for LimitRanger {
    fn name(&self) -> &'static str {
        "LimitRanger"
    }

    async fn admit(&self, ctx: &Ctx, op: Operation, obj: &mut Value, _old: Option<&Value>) -> ApiResult<()> {
        if op != Operation::Create || !ctx.def.group.is_empty() || ctx.def.plural != "pods" || ctx.info.subresource.is_some() {
            return Ok(());
        }
        let ranges = ranges(ctx);
        if ranges.is_empty() {
            return Ok(());
        }
        if let Some(annotation) = default_pod(obj, &ranges) {
            let meta = obj.as_object_mut().and_then(|o| o.get_mut("metadata")).and_then(Value::as_object_mut);
            if let Some(meta) = meta {
                let annotations = meta.entry("annotations").or_insert_with(|| json!({}));
                if let Some(a) = annotations.as_object_mut() {
                    a.insert(ANNOTATION.into(), json!(annotation));
                }
            }
        }
        Ok(())
    }

    async fn validate(&self, ctx: &Ctx, op: Operation, obj: &Value, _old: Option<&Value>) -> ApiResult<()> {
        if !ctx.def.group.is_empty() || ctx.info.subresource.is_some() {
            return Ok(());
        }
        let errors = match (ctx.def.plural, op) {
            ("pods", Operation::Create) => validate_pod(obj, &ranges(ctx)),
            ("persistentvolumeclaims", _) => validate_pvc(obj, &ranges(ctx)),
            _ => return Ok(()),
        };
        if errors.is_empty() {
            return Ok(());
        }
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        Err(ApiError::forbidden("", ctx.def.plural, name, &aggregate(&errors)))
    }
}

fn ranges(ctx: &Ctx) -> Vec<LimitRange> {
    match ctx.namespace() {
        Some(ns) => cached_in_namespace(ctx, "", "limitranges", ns),
        None => Vec::new(),
    }
}

type Resources = BTreeMap<String, Quantity>;

fn items<'a>(ranges: &'a [LimitRange], kind: &'a str) -> impl Iterator<Item = &'a LimitRangeItem> + 'a {
    ranges.iter().filter_map(|r| r.spec.as_ref()).flat_map(|s| s.limits.iter()).filter(move |i| i.type_ == kind)
}

fn to_resources(list: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>) -> Resources {
    list.into_iter().flatten().filter_map(|(k, v)| Quantity::parse(&v.0).ok().map(|q| (k.clone(), q))).collect()
}

fn json_resources(value: Option<&Value>) -> Resources {
    value
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| v.as_str().and_then(|s| Quantity::parse(s).ok()).map(|q| (k.clone(), q)))
        .collect()
}

/// The defaults a Container item implies, as upstream's LimitRange
/// defaulting: `default` falls back to `max`, `defaultRequest` to
/// `default`, then to `min`.
fn container_defaults(item: &LimitRangeItem) -> (Resources, Resources) {
    let mut limits = to_resources(item.max.as_ref());
    limits.extend(to_resources(item.default.as_ref()));
    let mut requests = to_resources(item.min.as_ref());
    requests.extend(limits.clone());
    requests.extend(to_resources(item.default_request.as_ref()));
    (limits, requests)
}

/// Sets missing container limits and requests from the Container items;
/// returns the `kubernetes.io/limit-ranger` annotation when it set any.
pub fn default_pod(pod: &mut Value, ranges: &[LimitRange]) -> Option<String> {
    let mut default_limits = Resources::new();
    let mut default_requests = Resources::new();
    for item in items(ranges, "Container") {
        let (limits, requests) = container_defaults(item);
        for (k, v) in limits {
            default_limits.entry(k).or_insert(v);
        }
        for (k, v) in requests {
            default_requests.entry(k).or_insert(v);
        }
    }
    if default_limits.is_empty() && default_requests.is_empty() {
        return None;
    }
    let mut notes = Vec::new();
    for (key, what) in [("initContainers", "init container"), ("containers", "container")] {
        let containers = pod.pointer_mut(&format!("/spec/{key}")).and_then(Value::as_array_mut);
        for container in containers.into_iter().flatten() {
            let name = container.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let Some(c) = container.as_object_mut() else { continue };
            let resources = c.entry("resources").or_insert_with(|| json!({}));
            let Some(resources) = resources.as_object_mut() else { continue };
            let mut set = |field: &str, defaults: &Resources| -> Vec<String> {
                let mut names = Vec::new();
                let list = resources.entry(field).or_insert_with(|| json!({}));
                if let Some(list) = list.as_object_mut() {
                    for (k, v) in defaults {
                        if !list.contains_key(k) {
                            list.insert(k.clone(), json!(v.canonical()));
                            names.push(k.clone());
                        }
                    }
                }
                names
            };
            let limits = set("limits", &default_limits);
            let requests = set("requests", &default_requests);
            for (field, names) in [("requests", &requests), ("limits", &limits)] {
                if resources.get(field).and_then(Value::as_object).is_some_and(|m| m.is_empty()) {
                    resources.remove(field);
                }
                if !names.is_empty() {
                    let singular = field.trim_end_matches('s');
                    notes.push(format!("{} {singular} for {what} {name}", names.join(", ")));
                }
            }
        }
    }
    (!notes.is_empty()).then(|| format!("LimitRanger plugin set: {}", notes.join("; ")))
}

/// Every violation of the namespace's Container and Pod items.
pub fn validate_pod(pod: &Value, ranges: &[LimitRange]) -> Vec<String> {
    let mut errors = Vec::new();
    let containers = |key: &str| pod.pointer(&format!("/spec/{key}")).and_then(Value::as_array).cloned().unwrap_or_default();
    let regular = containers("containers");
    let init = containers("initContainers");
    let resources_of = |c: &Value| (json_resources(c.pointer("/resources/requests")), json_resources(c.pointer("/resources/limits")));
    for item in items(ranges, "Container") {
        for c in regular.iter().chain(init.iter()) {
            let (requests, limits) = resources_of(c);
            check_item(item, "Container", &requests, &limits, &mut errors);
        }
    }
    let pod_items: Vec<&LimitRangeItem> = items(ranges, "Pod").collect();
    if !pod_items.is_empty() {
        let (requests, limits) = pod_totals(&regular, &init, resources_of);
        for item in pod_items {
            check_item(item, "Pod", &requests, &limits, &mut errors);
        }
    }
    errors
}

/// Pod totals as upstream: the sum over containers, raised to any single
/// init container's value that is larger.
fn pod_totals(regular: &[Value], init: &[Value], resources_of: impl Fn(&Value) -> (Resources, Resources)) -> (Resources, Resources) {
    let mut requests = Resources::new();
    let mut limits = Resources::new();
    for c in regular {
        let (r, l) = resources_of(c);
        for (k, v) in r {
            let e = requests.entry(k).or_insert(Quantity::ZERO);
            *e = *e + v;
        }
        for (k, v) in l {
            let e = limits.entry(k).or_insert(Quantity::ZERO);
            *e = *e + v;
        }
    }
    for c in init {
        let (r, l) = resources_of(c);
        for (k, v) in r {
            let e = requests.entry(k).or_insert(Quantity::ZERO);
            if v > *e {
                *e = v;
            }
        }
        for (k, v) in l {
            let e = limits.entry(k).or_insert(Quantity::ZERO);
            if v > *e {
                *e = v;
            }
        }
    }
    (requests, limits)
}

fn check_item(item: &LimitRangeItem, kind: &str, requests: &Resources, limits: &Resources, errors: &mut Vec<String>) {
    for (resource, min) in to_resources(item.min.as_ref()) {
        match (requests.get(&resource), limits.get(&resource)) {
            (None, _) => errors.push(format!("minimum {resource} usage per {kind} is {min}.  No request is specified")),
            (Some(r), _) if *r < min => errors.push(format!("minimum {resource} usage per {kind} is {min}, but request is {r}")),
            (_, Some(l)) if *l < min => errors.push(format!("minimum {resource} usage per {kind} is {min}, but limit is {l}")),
            _ => {}
        }
    }
    for (resource, max) in to_resources(item.max.as_ref()) {
        match (requests.get(&resource), limits.get(&resource)) {
            (_, None) => errors.push(format!("maximum {resource} usage per {kind} is {max}.  No limit is specified")),
            (_, Some(l)) if *l > max => errors.push(format!("maximum {resource} usage per {kind} is {max}, but limit is {l}")),
            (Some(r), _) if *r > max => errors.push(format!("maximum {resource} usage per {kind} is {max}, but request is {r}")),
            _ => {}
        }
    }
    for (resource, ratio) in to_resources(item.max_limit_request_ratio.as_ref()) {
        let request = requests.get(&resource).filter(|q| !q.is_zero());
        let limit = limits.get(&resource).filter(|q| !q.is_zero());
        match (request, limit) {
            (None, _) => errors.push(format!(
                "{resource} max limit to request ratio per {kind} is {ratio}, but no request is specified or request is 0"
            )),
            (_, None) => errors.push(format!(
                "{resource} max limit to request ratio per {kind} is {ratio}, but no limit is specified or limit is 0"
            )),
            (Some(r), Some(l)) => {
                let observed = l.millis as f64 / r.millis as f64;
                if observed * 1000.0 > ratio.millis as f64 {
                    errors.push(format!(
                        "{resource} max limit to request ratio per {kind} is {ratio}, but provided ratio is {observed:.6}"
                    ));
                }
            }
        }
    }
}

/// Storage requests of a claim against PersistentVolumeClaim items.
pub fn validate_pvc(pvc: &Value, ranges: &[LimitRange]) -> Vec<String> {
    let requests = json_resources(pvc.pointer("/spec/resources/requests"));
    let mut errors = Vec::new();
    for item in items(ranges, "PersistentVolumeClaim") {
        for (resource, min) in to_resources(item.min.as_ref()) {
            match requests.get(&resource) {
                None => errors.push(format!("minimum {resource} usage per PersistentVolumeClaim is {min}.  No request is specified")),
                Some(r) if *r < min => errors.push(format!("minimum {resource} usage per PersistentVolumeClaim is {min}, but request is {r}")),
                _ => {}
            }
        }
        for (resource, max) in to_resources(item.max.as_ref()) {
            match requests.get(&resource) {
                None => errors.push(format!("maximum {resource} usage per PersistentVolumeClaim is {max}.  No request is specified")),
                Some(r) if *r > max => errors.push(format!("maximum {resource} usage per PersistentVolumeClaim is {max}, but request is {r}")),
                _ => {}
            }
        }
    }
    errors
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn range(items: Value) -> Vec<LimitRange> {
        vec![serde_json::from_value(json!({"metadata": {"name": "lr"}, "spec": {"limits": items}})).unwrap()]
    }

    fn pod(resources: Value) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "nginx", "image": "nginx", "resources": resources}]}})
    }

    #[test]
    fn defaults_fill_missing_requests_and_limits() {
        let ranges = range(json!([{"type": "Container", "default": {"cpu": "500m", "memory": "256Mi"}, "defaultRequest": {"cpu": "100m"}}]));
        let mut p = pod(json!({}));
        let note = default_pod(&mut p, &ranges).unwrap();
        assert_eq!(note, "LimitRanger plugin set: cpu, memory request for container nginx; cpu, memory limit for container nginx");
        assert_eq!(p.pointer("/spec/containers/0/resources").unwrap(), &json!({"limits": {"cpu": "500m", "memory": "256Mi"}, "requests": {"cpu": "100m", "memory": "256Mi"}}));
        let mut set = pod(json!({"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "1", "memory": "1Gi"}}));
        assert_eq!(default_pod(&mut set, &ranges), None);
    }

    #[test]
    fn validation_messages_match_upstream() {
        let cases = [
            (json!([{"type": "Container", "max": {"cpu": "1"}}]), json!({"limits": {"cpu": "2"}, "requests": {"cpu": "2"}}), vec!["maximum cpu usage per Container is 1, but limit is 2"]),
            (json!([{"type": "Container", "max": {"cpu": "1"}}]), json!({}), vec!["maximum cpu usage per Container is 1.  No limit is specified"]),
            (json!([{"type": "Container", "min": {"memory": "100Mi"}}]), json!({"requests": {"memory": "50Mi"}}), vec!["minimum memory usage per Container is 100Mi, but request is 50Mi"]),
            (json!([{"type": "Container", "maxLimitRequestRatio": {"cpu": "2"}}]), json!({"limits": {"cpu": "2"}, "requests": {"cpu": "500m"}}), vec!["cpu max limit to request ratio per Container is 2, but provided ratio is 4.000000"]),
            (json!([{"type": "Pod", "max": {"cpu": "1"}}]), json!({"limits": {"cpu": "1500m"}}), vec!["maximum cpu usage per Pod is 1, but limit is 1500m"]),
            (json!([{"type": "Container", "max": {"cpu": "2"}, "min": {"cpu": "100m"}}]), json!({"limits": {"cpu": "1"}, "requests": {"cpu": "200m"}}), vec![]),
        ];
        for (items, resources, want) in cases {
            assert_eq!(validate_pod(&pod(resources.clone()), &range(items.clone())), want, "{items} {resources}");
        }
    }

    #[test]
    fn claims_are_bounded_by_storage_items() {
        let ranges = range(json!([{"type": "PersistentVolumeClaim", "min": {"storage": "1Gi"}, "max": {"storage": "10Gi"}}]));
        let claim = |size: &str| json!({"spec": {"resources": {"requests": {"storage": size}}}});
        assert_eq!(validate_pvc(&claim("20Gi"), &ranges), vec!["maximum storage usage per PersistentVolumeClaim is 10Gi, but request is 20Gi"]);
        assert_eq!(validate_pvc(&claim("500Mi"), &ranges), vec!["minimum storage usage per PersistentVolumeClaim is 1Gi, but request is 500Mi"]);
        assert!(validate_pvc(&claim("5Gi"), &ranges).is_empty());
    }
}
