//! ResourceQuota (upstream `plugin/pkg/admission/resourcequota` with the
//! core evaluators of `pkg/quota/v1/evaluator/core`): every create (and
//! update of services and claims) is charged to each matching quota in its
//! namespace; one that would exceed a hard limit is refused with upstream's
//! `exceeded quota: ...` message, one that lacks required requests/limits
//! with `failed quota: ...`. The charge is written to the quota's
//! `status.used` with a compare-and-swap before the object itself is
//! stored, as upstream; the resourcequota controller later recalculates
//! usage exactly (a write that fails after its charge is over-counted until
//! then).
//!
//! Difference from upstream: a quota whose status has no usage yet for a
//! resource (no controller has run) is not refused with "status unknown":
//! its usage is computed from the watch cache on the spot.

use std::collections::{BTreeMap, BTreeSet};

use apimachinery::quantity::Quantity;
use async_trait::async_trait;
use k8s_openapi::api::core::v1::ResourceQuota as Quota;
use serde_json::{json, Value};

use super::{cached_in_namespace, AdmissionPlugin, Operation};
use crate::error::{ApiError, ApiResult};
use crate::handlers::Ctx;

pub type Usage = BTreeMap<String, Quantity>;

/// Resources whose presence in a quota makes every container specify them.
const VALIDATION_SET: [&str; 6] = ["cpu", "memory", "requests.cpu", "requests.memory", "limits.cpu", "limits.memory"];
const CONFLICT_RETRIES: usize = 8;

pub struct ResourceQuota;

#[async_trait]
impl AdmissionPlugin for ResourceQuota {
    fn name(&self) -> &'static str {
        "ResourceQuota"
    }

    async fn validate(&self, ctx: &Ctx, op: Operation, obj: &Value, old: Option<&Value>) -> ApiResult<()> {
        let Some(namespace) = ctx.namespace().map(str::to_string) else { return Ok(()) };
        if ctx.info.subresource.is_some() {
            return Ok(());
        }
        let resource = ResourceRef { group: ctx.def.group, plural: ctx.def.plural };
        if op == Operation::Update && !matches!(resource.plural, "services" | "persistentvolumeclaims") {
            return Ok(());
        }
        let quotas: Vec<Quota> = cached_in_namespace(ctx, "", "resourcequotas", &namespace);
        if quotas.is_empty() {
            return Ok(());
        }
        let mut delta = usage(resource, obj);
        if let Some(old) = old {
            for (k, v) in usage(resource, old) {
                let e = delta.entry(k).or_insert(Quantity::ZERO);
                *e = *e - v;
            }
        }
        delta.retain(|_, q| !q.is_zero());
        let name = obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or("");
        let forbidden = |message: String| ApiError::forbidden(ctx.def.group, ctx.def.plural, name, &message);
        let dry_run = ctx.params.dry_run()?;
        for quota in quotas.iter().filter(|q| matches_scopes(q, resource, obj)) {
            let quota_name = quota.metadata.name.clone().unwrap_or_default();
            let hard = hard_of(quota);
            if let Some(missing) = missing_constraints(resource, obj, &hard) {
                return Err(forbidden(format!("failed quota: {quota_name}: {missing}")));
            }
            let charged: Vec<&String> = delta.keys().filter(|k| hard.contains_key(*k)).collect();
            if charged.is_empty() {
                continue;
            }
            charge(ctx, &namespace, &quota_name, &delta, dry_run).await.map_err(|e| match e {
                ChargeError::Exceeded(message) => forbidden(message),
                ChargeError::Api(e) => e,
            })?;
        }
        Ok(())
    }
}

#[derive(Clone, Copy)]
pub struct ResourceRef<'a> {
    pub group: &'a str,
    pub plural: &'a str,
}

enum ChargeError {
    Exceeded(String),
    Api(ApiError),
}

/// Re-reads the quota from storage, checks and adds `delta` to its
/// `status.used` with a compare-and-swap; retries on conflicts.
async fn charge(ctx: &Ctx, namespace: &str, quota_name: &str, delta: &Usage, dry_run: bool) -> Result<(), ChargeError> {
    let api = |e: ApiError| ChargeError::Api(e);
    let Some(def) = ctx.state.registry.get("", "v1", "resourcequotas").cloned() else { return Ok(()) };
    let key = def.object_key(&ctx.state.root, Some(namespace), quota_name);
    for _ in 0..CONFLICT_RETRIES {
        let Some(kv) = ctx.state.store.get(&key).await.map_err(|e| api(ApiError::internal(format!("reading quota {quota_name}: {e}"))))? else {
            return Ok(());
        };
        let mut stored: Value = serde_json::from_slice(&kv.value).map_err(|e| api(ApiError::internal(format!("decoding quota {quota_name}: {e}"))))?;
        let quota: Quota = serde_json::from_value(stored.clone()).map_err(|e| api(ApiError::internal(format!("decoding quota {quota_name}: {e}"))))?;
        let hard = hard_of(&quota);
        let mut used = used_of(&quota);
        for resource in hard.keys() {
            if !used.contains_key(resource) {
                used.insert(resource.clone(), observed_usage(ctx, namespace, resource, &quota));
            }
        }
        let new_used = decide(quota_name, &hard, &used, delta).map_err(ChargeError::Exceeded)?;
        if dry_run {
            return Ok(());
        }
        let status = json!({
            "hard": hard.iter().map(|(k, v)| (k.clone(), json!(v.canonical()))).collect::<serde_json::Map<_, _>>(),
            "used": new_used.iter().map(|(k, v)| (k.clone(), json!(v.canonical()))).collect::<serde_json::Map<_, _>>(),
        });
        stored["status"] = status;
        let bytes = serde_json::to_vec(&stored).map_err(|e| api(ApiError::internal(e.to_string())))?;
        match ctx.state.store.update(&key, bytes.into(), kv.mod_revision).await {
            Ok(_) => return Ok(()),
            Err(storage::StorageError::Conflict { .. }) => continue,
            Err(storage::StorageError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(api(ApiError::internal(format!("updating quota {quota_name}: {e}")))),
        }
    }
    Err(api(ApiError::conflict("", "resourcequotas", quota_name, "too many concurrent quota updates; please retry")))
}

/// The pure decision: the new `used`, or upstream's exceeded message.
pub fn decide(quota_name: &str, hard: &Usage, used: &Usage, delta: &Usage) -> Result<Usage, String> {
    let mut new_used = used.clone();
    let mut exceeded = BTreeSet::new();
    for (resource, amount) in delta {
        let Some(limit) = hard.get(resource) else { continue };
        let current = used.get(resource).copied().unwrap_or(Quantity::ZERO);
        let next = current + *amount;
        if amount.millis > 0 && next > *limit {
            exceeded.insert(resource.clone());
        }
        new_used.insert(resource.clone(), if next.millis < 0 { Quantity::ZERO } else { next });
    }
    if exceeded.is_empty() {
        return Ok(new_used);
    }
    let pretty = |m: &Usage| -> String {
        exceeded.iter().map(|k| format!("{k}={}", m.get(k).copied().unwrap_or(Quantity::ZERO))).collect::<Vec<_>>().join(",")
    };
    Err(format!(
        "exceeded quota: {quota_name}, requested: {}, used: {}, limited: {}",
        pretty(delta),
        pretty(used),
        pretty(hard)
    ))
}

fn parse_list(list: Option<&BTreeMap<String, k8s_openapi::apimachinery::pkg::api::resource::Quantity>>) -> Usage {
    list.into_iter().flatten().filter_map(|(k, v)| Quantity::parse(&v.0).ok().map(|q| (k.clone(), q))).collect()
}

fn hard_of(quota: &Quota) -> Usage {
    parse_list(quota.spec.as_ref().and_then(|s| s.hard.as_ref()))
}

fn used_of(quota: &Quota) -> Usage {
    parse_list(quota.status.as_ref().and_then(|s| s.used.as_ref()))
}

/// What a quota resource name counts, as (group, plural) of the objects.
fn counted_resource(resource: &str) -> Option<(String, String)> {
    let core = |p: &str| Some((String::new(), p.to_string()));
    match resource {
        "pods" | "cpu" | "memory" | "ephemeral-storage" => core("pods"),
        r if r.starts_with("requests.") && r != "requests.storage" || r.starts_with("limits.") => core("pods"),
        "services" | "services.nodeports" | "services.loadbalancers" => core("services"),
        "persistentvolumeclaims" | "requests.storage" => core("persistentvolumeclaims"),
        r if r.contains(".storageclass.storage.k8s.io/") => core("persistentvolumeclaims"),
        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas" => core(resource),
        r => {
            let rest = r.strip_prefix("count/")?;
            match rest.split_once('.') {
                Some((plural, group)) => Some((group.to_string(), plural.to_string())),
                None => core(rest),
            }
        }
    }
}

/// Usage of `resource` by what is already in the namespace (watch cache).
fn observed_usage(ctx: &Ctx, namespace: &str, resource: &str, quota: &Quota) -> Quantity {
    let Some((group, plural)) = counted_resource(resource) else { return Quantity::ZERO };
    let Some(def) = ctx.state.registry.find_plural(&group, &plural).cloned() else { return Quantity::ZERO };
    let filter = crate::cache::Filter { namespace: Some(namespace.to_string()), ..Default::default() };
    let (snapshot, _) = ctx.state.cache.list(&def, &filter, None, 0);
    let target = ResourceRef { group: &group, plural: &plural };
    let mut total = Quantity::ZERO;
    for item in snapshot.items.iter() {
        let Ok(obj) = serde_json::from_slice::<Value>(&item.json) else { continue };
        if !matches_scopes(quota, target, &obj) {
            continue;
        }
        if let Some(q) = usage(target, &obj).get(resource) {
            total = total + *q;
        }
    }
    total
}

/// What one object uses, by quota resource name.
pub fn usage(resource: ResourceRef<'_>, obj: &Value) -> Usage {
    let mut out = Usage::new();
    let one = Quantity::from_units(1);
    let count_name = if resource.group.is_empty() { format!("count/{}", resource.plural) } else { format!("count/{}.{}", resource.plural, resource.group) };
    out.insert(count_name, one);
    if !resource.group.is_empty() {
        return out;
    }
    match resource.plural {
        "pods" => {
            if matches!(obj.pointer("/status/phase").and_then(Value::as_str), Some("Succeeded" | "Failed")) {
                return Usage::new();
            }
            out.insert("pods".into(), one);
            let (requests, limits) = pod_resources(obj);
            for (k, v) in requests {
                if k == "cpu" || k == "memory" || k == "ephemeral-storage" {
                    out.insert(k.clone(), v);
                }
                out.insert(format!("requests.{k}"), v);
            }
            for (k, v) in limits {
                out.insert(format!("limits.{k}"), v);
            }
        }
        "services" => {
            out.insert("services".into(), one);
            let ty = obj.pointer("/spec/type").and_then(Value::as_str).unwrap_or("ClusterIP");
            let ports = obj.pointer("/spec/ports").and_then(Value::as_array).map(Vec::len).unwrap_or(0) as i64;
            match ty {
                "NodePort" => {
                    out.insert("services.nodeports".into(), Quantity::from_units(ports));
                }
                "LoadBalancer" => {
                    out.insert("services.loadbalancers".into(), one);
                    let allocate = obj.pointer("/spec/allocateLoadBalancerNodePorts").and_then(Value::as_bool).unwrap_or(true);
                    if allocate {
                        out.insert("services.nodeports".into(), Quantity::from_units(ports));
                    }
                }
                _ => {}
            }
        }
        "persistentvolumeclaims" => {
            out.insert("persistentvolumeclaims".into(), one);
            let storage = obj.pointer("/spec/resources/requests/storage").and_then(Value::as_str).and_then(|s| Quantity::parse(s).ok());
            let class = obj.pointer("/spec/storageClassName").and_then(Value::as_str).filter(|s| !s.is_empty());
            if let Some(s) = storage {
                out.insert("requests.storage".into(), s);
            }
            if let Some(class) = class {
                out.insert(format!("{class}.storageclass.storage.k8s.io/persistentvolumeclaims"), one);
                if let Some(s) = storage {
                    out.insert(format!("{class}.storageclass.storage.k8s.io/requests.storage"), s);
                }
            }
        }
        "configmaps" | "secrets" | "replicationcontrollers" | "resourcequotas" => {
            out.insert(resource.plural.to_string(), one);
        }
        _ => {}
    }
    out
}

/// Pod requests and limits as upstream's `PodRequests`: the sum over
/// containers, raised to any larger init container, plus overhead.
fn pod_resources(pod: &Value) -> (Usage, Usage) {
    let list = |c: &Value, field: &str| -> Usage {
        c.pointer(&format!("/resources/{field}"))
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().and_then(|s| Quantity::parse(s).ok()).map(|q| (k.clone(), q)))
            .collect()
    };
    let containers = |key: &str| pod.pointer(&format!("/spec/{key}")).and_then(Value::as_array).cloned().unwrap_or_default();
    let total = |field: &str| -> Usage {
        let mut sum = Usage::new();
        for c in containers("containers") {
            for (k, v) in list(&c, field) {
                let e = sum.entry(k).or_insert(Quantity::ZERO);
                *e = *e + v;
            }
        }
        for c in containers("initContainers") {
            for (k, v) in list(&c, field) {
                let e = sum.entry(k).or_insert(Quantity::ZERO);
                if v > *e {
                    *e = v;
                }
            }
        }
        if let Some(overhead) = pod.pointer("/spec/overhead").and_then(Value::as_object) {
            for (k, v) in overhead {
                if let Some(q) = v.as_str().and_then(|s| Quantity::parse(s).ok()) {
                    let e = sum.entry(k.clone()).or_insert(Quantity::ZERO);
                    *e = *e + q;
                }
            }
        }
        sum
    };
    (total("requests"), total("limits"))
}

/// Upstream's pod Constraints: a quota on cpu/memory makes every container
/// state that request or limit. `None` when nothing is missing.
pub fn missing_constraints(resource: ResourceRef<'_>, obj: &Value, hard: &Usage) -> Option<String> {
    if !resource.group.is_empty() || resource.plural != "pods" {
        return None;
    }
    let required: Vec<&str> = VALIDATION_SET.iter().copied().filter(|r| hard.contains_key(*r)).collect();
    if required.is_empty() {
        return None;
    }
    let mut missing: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for key in ["containers", "initContainers"] {
        for c in obj.pointer(&format!("/spec/{key}")).and_then(Value::as_array).into_iter().flatten() {
            let name = c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            for r in &required {
                let (field, res) = match *r {
                    "cpu" | "memory" => ("requests", *r),
                    other => other.split_once('.').unwrap_or(("requests", other)),
                };
                if c.pointer(&format!("/resources/{field}/{res}")).is_none() {
                    missing.entry(r).or_default().insert(name.clone());
                }
            }
        }
    }
    if missing.is_empty() {
        return None;
    }
    let parts: Vec<String> = missing.iter().map(|(r, names)| format!("{r} for: {}", names.iter().cloned().collect::<Vec<_>>().join(","))).collect();
    Some(format!("must specify {}", parts.join("; ")))
}

/// Quota scopes (`Terminating`, `NotTerminating`, `BestEffort`,
/// `NotBestEffort`, `PriorityClass` via scopeSelector) only match pods; a
/// scoped quota ignores everything else.
pub fn matches_scopes(quota: &Quota, resource: ResourceRef<'_>, obj: &Value) -> bool {
    let Some(spec) = quota.spec.as_ref() else { return true };
    let mut scopes: Vec<(String, String, Vec<String>)> =
        spec.scopes.iter().flatten().map(|s| (s.clone(), "Exists".to_string(), Vec::new())).collect();
    if let Some(selector) = &spec.scope_selector {
        for expr in selector.match_expressions.iter().flatten() {
            scopes.push((expr.scope_name.clone(), expr.operator.clone(), expr.values.clone().unwrap_or_default()));
        }
    }
    if scopes.is_empty() {
        return true;
    }
    if !resource.group.is_empty() || resource.plural != "pods" {
        return false;
    }
    scopes.iter().all(|(scope, operator, values)| pod_matches_scope(obj, scope, operator, values))
}

fn pod_matches_scope(pod: &Value, scope: &str, operator: &str, values: &[String]) -> bool {
    let (requests, limits) = pod_resources(pod);
    let best_effort = requests.is_empty() && limits.is_empty();
    let terminating = pod.pointer("/spec/activeDeadlineSeconds").is_some_and(|v| !v.is_null());
    match scope {
        "Terminating" => terminating,
        "NotTerminating" => !terminating,
        "BestEffort" => best_effort,
        "NotBestEffort" => !best_effort,
        "PriorityClass" => {
            let class = pod.pointer("/spec/priorityClassName").and_then(Value::as_str).filter(|s| !s.is_empty());
            match operator {
                "Exists" => class.is_some(),
                "DoesNotExist" => class.is_none(),
                "In" => class.is_some_and(|c| values.iter().any(|v| v == c)),
                "NotIn" => class.is_none_or(|c| !values.iter().any(|v| v == c)),
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn q(s: &str) -> Quantity {
        Quantity::parse(s).unwrap()
    }

    fn usage_of(pairs: &[(&str, &str)]) -> Usage {
        pairs.iter().map(|(k, v)| (k.to_string(), q(v))).collect()
    }

    const PODS: ResourceRef<'static> = ResourceRef { group: "", plural: "pods" };

    #[test]
    fn pod_usage_counts_requests_limits_and_init_containers() {
        let pod = json!({"spec": {
            "containers": [
                {"name": "a", "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "200m"}}},
                {"name": "b", "resources": {"requests": {"cpu": "300m"}}}
            ],
            "initContainers": [{"name": "i", "resources": {"requests": {"cpu": "1"}}}]
        }});
        let u = usage(PODS, &pod);
        assert_eq!(u["pods"], q("1"));
        assert_eq!(u["count/pods"], q("1"));
        assert_eq!(u["requests.cpu"], q("1"));
        assert_eq!(u["cpu"], q("1"));
        assert_eq!(u["requests.memory"], q("64Mi"));
        assert_eq!(u["limits.cpu"], q("200m"));
        assert!(usage(PODS, &json!({"status": {"phase": "Succeeded"}})).is_empty());
    }

    #[test]
    fn decide_table() {
        let hard = usage_of(&[("pods", "2"), ("requests.cpu", "1")]);
        type Pairs = &'static [(&'static str, &'static str)];
        let cases: [(Pairs, Pairs, Result<Pairs, &str>); 3] = [
            (&[("pods", "1")], &[("pods", "1"), ("requests.cpu", "500m")], Ok(&[("pods", "2"), ("requests.cpu", "500m")])),
            (&[("pods", "2")], &[("pods", "1")], Err("exceeded quota: q, requested: pods=1, used: pods=2, limited: pods=2")),
            (
                &[("pods", "0"), ("requests.cpu", "800m")],
                &[("pods", "1"), ("requests.cpu", "500m")],
                Err("exceeded quota: q, requested: requests.cpu=500m, used: requests.cpu=800m, limited: requests.cpu=1"),
            ),
        ];
        for (used, delta, want) in cases {
            let got = decide("q", &hard, &usage_of(used), &usage_of(delta));
            match want {
                Ok(w) => assert_eq!(got.unwrap(), usage_of(w)),
                Err(msg) => assert_eq!(got.unwrap_err(), msg),
            }
        }
    }

    #[test]
    fn missing_requests_message_matches_upstream() {
        let hard = usage_of(&[("requests.cpu", "1"), ("limits.memory", "1Gi")]);
        let pod = json!({"spec": {"containers": [{"name": "nginx"}, {"name": "side", "resources": {"requests": {"cpu": "1"}}}]}});
        assert_eq!(
            missing_constraints(PODS, &pod, &hard).unwrap(),
            "must specify limits.memory for: nginx,side; requests.cpu for: nginx"
        );
    }

    #[test]
    fn scopes_table() {
        let quota = |spec: Value| -> Quota { serde_json::from_value(json!({"spec": spec})).unwrap() };
        let best_effort = json!({"spec": {"containers": [{"name": "a"}]}});
        let burstable = json!({"spec": {"containers": [{"name": "a", "resources": {"requests": {"cpu": "1"}}}], "priorityClassName": "high"}});
        let cases = [
            (json!({"scopes": ["BestEffort"]}), &best_effort, true),
            (json!({"scopes": ["BestEffort"]}), &burstable, false),
            (json!({"scopes": ["NotBestEffort", "NotTerminating"]}), &burstable, true),
            (json!({"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}), &burstable, true),
            (json!({"scopeSelector": {"matchExpressions": [{"scopeName": "PriorityClass", "operator": "In", "values": ["high"]}]}}), &best_effort, false),
            (json!({}), &best_effort, true),
        ];
        for (spec, pod, want) in cases {
            assert_eq!(matches_scopes(&quota(spec.clone()), PODS, pod), want, "{spec}");
        }
        assert!(!matches_scopes(&quota(json!({"scopes": ["BestEffort"]})), ResourceRef { group: "", plural: "services" }, &json!({})));
    }
}
