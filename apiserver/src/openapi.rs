//! OpenAPI v3: an index of every served group version plus one document per
//! group version, generated from the `k8s-openapi` Rust types' JSON schemas
//! (with their descriptions). Operations carry `x-kubernetes-group-version-kind`
//! and the write parameters (`fieldValidation`, `dryRun`, `fieldManager`)
//! that kubectl checks before it trusts server-side validation.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Map, Value};

use crate::registry::{Registry, ResourceDef};

pub struct OpenApi {
    index: Vec<u8>,
    /// "apis/apps/v1" -> (document, hash)
    documents: HashMap<String, (Vec<u8>, String)>,
}

fn gv_path(group: &str, version: &str) -> String {
    if group.is_empty() {
        format!("api/{version}")
    } else {
        format!("apis/{group}/{version}")
    }
}

fn param(name: &str, description: &str) -> Value {
    json!({"name": name, "in": "query", "description": description, "schema": {"type": "string", "uniqueItems": true}})
}

fn write_params() -> Vec<Value> {
    vec![
        param("dryRun", "When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed"),
        param("fieldManager", "fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint."),
        param("fieldValidation", "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore - Warn (default) - Strict"),
    ]
}

fn gvk(r: &ResourceDef) -> Value {
    json!([{"group": r.group, "version": r.version, "kind": r.kind}])
}

fn operation(r: &ResourceDef, action: &str, op_id: &str, schema_ref: &str, body: bool, extra_params: Vec<Value>) -> Value {
    let mut op = json!({
        "description": format!("{action} {}", r.kind),
        "operationId": op_id,
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk(r)[0],
        "responses": {"200": {"description": "OK", "content": {"application/json": {"schema": {"$ref": schema_ref}}}}},
        "parameters": extra_params,
    });
    if body {
        let content = if action == "patch" {
            json!({
                "application/json-patch+json": {"schema": {"type": "object"}},
                "application/merge-patch+json": {"schema": {"type": "object"}},
                "application/strategic-merge-patch+json": {"schema": {"type": "object"}},
                "application/apply-patch+yaml": {"schema": {"type": "object"}},
            })
        } else {
            json!({"*/*": {"schema": {"$ref": schema_ref}}})
        };
        op["requestBody"] = json!({"content": content, "required": true});
    }
    op
}

fn camel(s: &str) -> String {
    let mut c = s.chars();
    c.next().map(|f| f.to_uppercase().collect::<String>() + c.as_str()).unwrap_or_default()
}

impl OpenApi {
    pub fn build(registry: &Registry) -> Self {
        let mut documents = HashMap::new();
        let mut paths_index = Map::new();
        for (group, version) in registry.group_versions() {
            let mut generator = schemars::generate::SchemaSettings::openapi3().into_generator();
            let mut paths = Map::new();
            let mut root_schemas: Vec<(String, Value)> = Vec::new();
            for r in registry.in_group_version(group, version) {
                let schema = r.codec.json_schema(&mut generator);
                let schema_ref = schema.get("$ref").and_then(Value::as_str).unwrap_or("").to_string();
                let schema_name = schema_ref.rsplit('/').next().unwrap_or("").to_string();
                root_schemas.push((schema_name, gvk(r)));
                let base = format!("/{}", gv_path(r.group, r.version));
                let id = format!("{}{}", camel(r.kind), camel(&r.group.replace('.', "")) + &camel(r.version));
                let (collection, item) = if r.namespaced {
                    (format!("{base}/namespaces/{{namespace}}/{}", r.plural), format!("{base}/namespaces/{{namespace}}/{}/{{name}}", r.plural))
                } else {
                    (format!("{base}/{}", r.plural), format!("{base}/{}/{{name}}", r.plural))
                };
                let mut coll = Map::new();
                let mut itm = Map::new();
                if r.verbs.contains(&"list") {
                    coll.insert("get".into(), operation(r, "list", &format!("list{id}"), &schema_ref, false, vec![]));
                }
                if r.verbs.contains(&"create") {
                    coll.insert("post".into(), operation(r, "post", &format!("create{id}"), &schema_ref, true, write_params()));
                }
                if r.verbs.contains(&"get") {
                    itm.insert("get".into(), operation(r, "get", &format!("read{id}"), &schema_ref, false, vec![]));
                }
                if r.verbs.contains(&"update") {
                    itm.insert("put".into(), operation(r, "put", &format!("replace{id}"), &schema_ref, true, write_params()));
                }
                if r.verbs.contains(&"patch") {
                    let mut params = write_params();
                    params.push(param("force", "Force is going to \"force\" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests."));
                    itm.insert("patch".into(), operation(r, "patch", &format!("patch{id}"), &schema_ref, true, params));
                }
                if r.verbs.contains(&"delete") {
                    itm.insert("delete".into(), operation(r, "delete", &format!("delete{id}"), &schema_ref, false, vec![param("dryRun", "dry run")]));
                }
                if !coll.is_empty() {
                    paths.insert(collection, Value::Object(coll));
                }
                if !itm.is_empty() {
                    paths.insert(item, Value::Object(itm));
                }
            }
            let mut schemas: Map<String, Value> = generator.take_definitions(true);
            add_patch_extensions(&mut schemas);
            for (name, gvk) in root_schemas {
                if let Some(s) = schemas.get_mut(&name).and_then(Value::as_object_mut) {
                    s.insert("x-kubernetes-group-version-kind".into(), gvk);
                }
            }
            let doc = json!({
                "openapi": "3.0.0",
                "info": {"title": "Kubernetes", "version": crate::version::GIT_VERSION},
                "paths": paths,
                "components": {"schemas": schemas},
            });
            let bytes = serde_json::to_vec(&doc).unwrap_or_default();
            let hash = content_hash(&bytes);
            let path = gv_path(group, version);
            paths_index.insert(path.clone(), json!({"serverRelativeURL": format!("/openapi/v3/{path}?hash={hash}")}));
            documents.insert(path, (bytes, hash));
        }
        let index = serde_json::to_vec(&json!({"paths": paths_index})).unwrap_or_default();
        OpenApi { index, documents }
    }

    pub fn index(&self) -> Response {
        let mut r = (StatusCode::OK, self.index.clone()).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        r
    }

    /// `/openapi/v3/<path>`; an immutable cache header when the hash matches.
    pub fn document(&self, path: &str, hash: Option<&str>) -> Option<Response> {
        let (bytes, h) = self.documents.get(path)?;
        let mut r = (StatusCode::OK, bytes.clone()).into_response();
        r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let Ok(etag) = HeaderValue::from_str(&format!("\"{h}\"")) {
            r.headers_mut().insert(header::ETAG, etag);
        }
        let cache = if hash == Some(h.as_str()) { "public, immutable" } else { "no-cache, private" };
        r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        Some(r)
    }

    pub fn has(&self, path: &str) -> bool {
        self.documents.contains_key(path)
    }
}

/// `x-kubernetes-patch-strategy` / `-merge-key` on list fields, which
/// kubectl's client-side apply reads to diff lists by key.
fn add_patch_extensions(schemas: &mut Map<String, Value>) {
    for (definition, field, strategy, key) in apimachinery::patch::k8s_meta::openapi_extensions() {
        let Some(prop) = schemas.get_mut(definition).and_then(|d| d.pointer_mut(&format!("/properties/{field}"))).and_then(Value::as_object_mut) else {
            continue;
        };
        prop.insert("x-kubernetes-patch-strategy".into(), json!(strategy));
        if let Some(k) = key {
            prop.insert("x-kubernetes-patch-merge-key".into(), json!(k));
            prop.insert("x-kubernetes-list-type".into(), json!("map"));
            prop.insert("x-kubernetes-list-map-keys".into(), json!([k]));
        }
    }
}

fn content_hash(bytes: &[u8]) -> String {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    bytes.hash(&mut h);
    format!("{:016X}", h.finish())
}
