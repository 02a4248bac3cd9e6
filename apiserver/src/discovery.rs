//! API discovery: legacy (`APIVersions`, `APIGroupList`, `APIGroup`,
//! `APIResourceList`) and aggregated (`apidiscovery.k8s.io` v2 and v2beta1),
//! all rendered once from the registry at start-up.

use std::collections::HashMap;

use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

use crate::registry::{Registry, ResourceDef};

pub struct Discovery {
    api_versions: Value,
    group_list: Value,
    groups: HashMap<String, Value>,
    resource_lists: HashMap<String, Value>,
    aggregated_core: Value,
    aggregated_groups: Value,
}

const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";
const AGGREGATED_V2BETA1: &str = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList";

fn group_version(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

fn legacy_resource(r: &ResourceDef) -> Vec<Value> {
    let mut out = vec![{
        let mut v = json!({
            "name": r.plural,
            "singularName": r.singular,
            "namespaced": r.namespaced,
            "kind": r.kind,
            "verbs": r.verbs,
        });
        if !r.short_names.is_empty() {
            v["shortNames"] = json!(r.short_names);
        }
        if !r.categories.is_empty() {
            v["categories"] = json!(r.categories);
        }
        v
    }];
    for s in &r.subresources {
        let mut v = json!({
            "name": format!("{}/{}", r.plural, s.name),
            "singularName": "",
            "namespaced": r.namespaced,
            "kind": if s.kind.is_empty() { r.kind } else { s.kind },
            "verbs": s.verbs,
        });
        if !s.group.is_empty() {
            v["group"] = json!(s.group);
        }
        if !s.version.is_empty() && (!s.group.is_empty() || s.version != r.version) {
            v["version"] = json!(s.version);
        }
        out.push(v);
    }
    out
}

fn aggregated_resource(r: &ResourceDef) -> Value {
    let subresources: Vec<Value> = r
        .subresources
        .iter()
        .map(|s| {
            let (group, version, kind) =
                if s.kind.is_empty() { (r.group, r.version, r.kind) } else { (s.group, if s.version.is_empty() { r.version } else { s.version }, s.kind) };
            json!({
                "subresource": s.name,
                "responseKind": {"group": group, "version": version, "kind": kind},
                "verbs": s.verbs,
            })
        })
        .collect();
    let mut v = json!({
        "resource": r.plural,
        "responseKind": {"group": r.group, "version": r.version, "kind": r.kind},
        "scope": if r.namespaced { "Namespaced" } else { "Cluster" },
        "singularResource": r.singular,
        "verbs": r.verbs,
    });
    if !r.short_names.is_empty() {
        v["shortNames"] = json!(r.short_names);
    }
    if !r.categories.is_empty() {
        v["categories"] = json!(r.categories);
    }
    if !subresources.is_empty() {
        v["subresources"] = Value::Array(subresources);
    }
    v
}

impl Discovery {
    pub fn build(registry: &Registry) -> Self {
        let mut groups = HashMap::new();
        let mut group_list = Vec::new();
        let mut aggregated_items = Vec::new();
        let mut aggregated_core = Value::Null;
        let mut resource_lists = HashMap::new();
        for (group, versions) in registry.groups() {
            let version_entries: Vec<Value> = versions
                .iter()
                .map(|v| json!({"groupVersion": group_version(group, v), "version": v}))
                .collect();
            let preferred = version_entries.first().cloned().unwrap_or(Value::Null);
            let mut aggregated_versions = Vec::new();
            for version in &versions {
                let resources: Vec<&ResourceDef> = registry.in_group_version(group, version).map(|r| r.as_ref()).collect();
                let legacy: Vec<Value> = resources.iter().flat_map(|r| legacy_resource(r)).collect();
                resource_lists.insert(
                    group_version(group, version),
                    json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": group_version(group, version), "resources": legacy}),
                );
                let agg: Vec<Value> = resources.iter().map(|r| aggregated_resource(r)).collect();
                aggregated_versions.push(json!({"version": version, "resources": agg, "freshness": "Current"}));
            }
            if group.is_empty() {
                aggregated_core = json!({"metadata": {"creationTimestamp": null}, "versions": aggregated_versions});
                continue;
            }
            let g = json!({"name": group, "versions": version_entries, "preferredVersion": preferred});
            groups.insert(group.to_string(), json!({"kind": "APIGroup", "apiVersion": "v1", "name": group, "versions": g["versions"], "preferredVersion": g["preferredVersion"]}));
            group_list.push(g);
            aggregated_items.push(json!({"metadata": {"name": group, "creationTimestamp": null}, "versions": aggregated_versions}));
        }
        Discovery {
            api_versions: json!({"kind": "APIVersions", "versions": ["v1"], "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]}),
            group_list: json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": group_list}),
            groups,
            resource_lists,
            aggregated_core: json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": [aggregated_core]}),
            aggregated_groups: json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": aggregated_items}),
        }
    }

    /// `/api`
    pub fn api(&self, headers: &HeaderMap) -> Response {
        match aggregated_version(headers) {
            Some(v) => aggregated(&self.aggregated_core, v),
            None => json_ok(&self.api_versions),
        }
    }

    /// `/apis`
    pub fn apis(&self, headers: &HeaderMap) -> Response {
        match aggregated_version(headers) {
            Some(v) => aggregated(&self.aggregated_groups, v),
            None => json_ok(&self.group_list),
        }
    }

    /// `/apis/<group>`
    pub fn group(&self, group: &str) -> Option<Response> {
        self.groups.get(group).map(json_ok)
    }

    /// `/api/v1` or `/apis/<group>/<version>`
    pub fn resources(&self, group_version: &str) -> Option<Response> {
        self.resource_lists.get(group_version).map(json_ok)
    }

    pub fn group_versions(&self) -> impl Iterator<Item = &String> {
        self.resource_lists.keys()
    }
}

fn json_ok(v: &Value) -> Response {
    let mut r = (StatusCode::OK, serde_json::to_vec(v).unwrap_or_default()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum AggregatedVersion {
    V2,
    V2Beta1,
}

/// Which aggregated discovery version the client accepts, if any (first match in Accept order).
fn aggregated_version(headers: &HeaderMap) -> Option<AggregatedVersion> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok())?;
    for item in accept.split(',') {
        let params: Vec<&str> = item.split(';').map(str::trim).collect();
        let has = |p: &str| params.contains(&p);
        if has("g=apidiscovery.k8s.io") && has("as=APIGroupDiscoveryList") {
            if has("v=v2") {
                return Some(AggregatedVersion::V2);
            }
            if has("v=v2beta1") {
                return Some(AggregatedVersion::V2Beta1);
            }
        }
        if params.first().is_some_and(|m| *m == "application/json") && params.len() == 1 {
            return None;
        }
    }
    None
}

fn aggregated(v: &Value, version: AggregatedVersion) -> Response {
    let (body, ct) = match version {
        AggregatedVersion::V2 => (v.clone(), AGGREGATED_V2),
        AggregatedVersion::V2Beta1 => {
            let mut b = v.clone();
            b["apiVersion"] = json!("apidiscovery.k8s.io/v2beta1");
            (b, AGGREGATED_V2BETA1)
        }
    };
    let mut r = (StatusCode::OK, serde_json::to_vec(&body).unwrap_or_default()).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    r.headers_mut().insert(header::VARY, HeaderValue::from_static("Accept"));
    r
}
