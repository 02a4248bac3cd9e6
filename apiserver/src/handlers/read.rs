//! GET and LIST, served from the watch cache with upstream's
//! `resourceVersion` semantics: unset = consistent (wait for the cache to
//! catch up with storage), `0` = any, `N` = not older than N; `Exact` and
//! continue tokens read storage at that revision.

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::Response;
use base64::Engine;
use serde_json::{json, Value};

use super::{json_response, raw_json_response, Ctx};
use crate::cache::{CachedObject, Filter};
use crate::codec::{response_format, ResponseFormat};
use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceDef;
use crate::table::{self, IncludeObject};
use apimachinery::selector::fields::FieldSelector;
use apimachinery::selector::labels::LabelSelector;

/// How fresh a read must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// `resourceVersion` unset: as fresh as storage now.
    Consistent,
    /// `resourceVersion=0`: whatever the cache has.
    Any,
    /// `resourceVersion=N`: at least N.
    NotOlderThan(i64),
    /// `resourceVersionMatch=Exact`: exactly N (from storage).
    Exact(i64),
}

pub fn freshness(ctx: &Ctx) -> ApiResult<Freshness> {
    let rv = ctx.params.get("resourceVersion").unwrap_or("");
    let matching = ctx.params.get("resourceVersionMatch").unwrap_or("");
    let parsed = || {
        rv.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {rv:?}: must be an integer")))
    };
    match (rv, matching) {
        ("", "") => Ok(Freshness::Consistent),
        ("", m) => Err(ApiError::bad_request(format!(
            "resourceVersionMatch {m:?} is forbidden unless resourceVersion is provided"
        ))),
        ("0", "" | "NotOlderThan") => Ok(Freshness::Any),
        (_, "" | "NotOlderThan") => Ok(Freshness::NotOlderThan(parsed()?)),
        ("0", "Exact") => Err(ApiError::bad_request("resourceVersionMatch \"Exact\" is forbidden for resourceVersion \"0\"")),
        (_, "Exact") => Ok(Freshness::Exact(parsed()?)),
        (_, m) => Err(ApiError::bad_request(format!(
            "resourceVersionMatch {m:?} is not supported: supported values: \"Exact\", \"NotOlderThan\""
        ))),
    }
}

/// Wait until the cache is as fresh as asked. `false`: it did not catch up
/// in time and the caller should read storage.
pub async fn await_fresh(ctx: &Ctx, f: Freshness) -> ApiResult<bool> {
    let cache = &ctx.state.cache;
    let wait = ctx.state.limits.consistent_read_wait;
    match f {
        Freshness::Any => Ok(cache.is_ready()),
        Freshness::Consistent => {
            let current = ctx.state.store.current_revision().await?;
            Ok(cache.wait_for(current, wait).await)
        }
        Freshness::NotOlderThan(rv) => {
            if cache.wait_for(rv, ctx.state.limits.resource_version_wait).await {
                Ok(true)
            } else {
                Err(ApiError::Timeout { message: format!("Too large resource version: {rv}, current: {}", cache.revision()) })
            }
        }
        Freshness::Exact(_) => Ok(false),
    }
}

pub async fn get(ctx: Ctx) -> ApiResult<Response> {
    let fresh = freshness(&ctx)?;
    let name = ctx.name().to_string();
    let key = ctx.key(&name);
    let body: Vec<u8> = if await_fresh(&ctx, fresh).await? {
        {
            let obj = ctx.state.cache.get(&ctx.def, &key).ok_or_else(|| ctx.not_found(&name))?;
            ctx.def.api_json(&obj).to_vec()
        }
    } else {
        let kv = ctx.state.store.get(&key).await?.ok_or_else(|| ctx.not_found(&name))?;
        serde_json::to_vec(&super::meta::decode_stored(&ctx.def, &kv)?).unwrap_or_default()
    };
    match response_format(&ctx.headers)? {
        ResponseFormat::Json => Ok(raw_json_response(StatusCode::OK, body, &[])),
        ResponseFormat::PartialMetadata(version) => Ok(raw_json_response(StatusCode::OK, super::partial::object(&body, version), &[])),
        ResponseFormat::Table => {
            let obj: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let rv = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string();
            let include = IncludeObject::parse(ctx.params.get("includeObject"));
            Ok(json_response(StatusCode::OK, &table::table(&ctx.def.printer, &[obj], include, &rv, None, ctx.state.now()), &[]))
        }
    }
}

/// Build the list/watch filter from the request.
pub fn filter(ctx: &Ctx) -> ApiResult<Filter> {
    let labels = match ctx.params.get("labelSelector").filter(|s| !s.trim().is_empty()) {
        Some(s) => Some(LabelSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?),
        None => None,
    };
    let fields = match ctx.params.get("fieldSelector").filter(|s| !s.trim().is_empty()) {
        Some(s) => {
            let sel = FieldSelector::parse(s).map_err(|e| ApiError::bad_request(e.to_string()))?;
            check_fields(&ctx.def, &sel)?;
            Some(sel)
        }
        None => None,
    };
    Ok(Filter { namespace: ctx.namespace().map(str::to_string), name: None, labels, fields })
}

fn check_fields(def: &ResourceDef, sel: &FieldSelector) -> ApiResult<()> {
    for req in sel.requirements() {
        let field = req.field.as_str();
        let known = field == "metadata.name" || (field == "metadata.namespace" && def.namespaced) || def.selectable_fields.contains(&field);
        if !known {
            return Err(ApiError::bad_request(format!("field label not supported: {field}")));
        }
    }
    Ok(())
}

/// What a continue token carries: the list's revision and the last key sent.
#[derive(serde::Serialize, serde::Deserialize)]
struct ContinueToken {
    v: String,
    rv: i64,
    start: String,
}

fn encode_continue(rv: i64, last_key: &str, root: &str) -> String {
    let token = ContinueToken { v: "meta.k8s.io/v1".into(), rv, start: last_key.strip_prefix(root).unwrap_or(last_key).to_string() };
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(serde_json::to_vec(&token).unwrap_or_default())
}

fn decode_continue(token: &str, root: &str) -> ApiResult<(i64, String)> {
    let bad = || ApiError::bad_request("continue key is not valid: the continue token is malformed");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token.trim_end_matches('='))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(token))
        .map_err(|_| bad())?;
    let t: ContinueToken = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    if t.v != "meta.k8s.io/v1" || t.start.contains("..") {
        return Err(bad());
    }
    Ok((t.rv, format!("{root}{}", t.start)))
}

/// The objects of one LIST page and its metadata.
pub struct Page {
    pub items: Vec<Arc<CachedObject>>,
    pub revision: i64,
    pub cont: Option<String>,
    pub remaining: Option<i64>,
}

pub async fn list_page(ctx: &Ctx, filter: &Filter) -> ApiResult<Page> {
    let limit = ctx.params.int("limit")?.unwrap_or(0).max(0) as usize;
    let root = ctx.state.root.clone();
    if let Some(token) = ctx.params.get("continue").filter(|t| !t.is_empty()) {
        if ctx.params.get("resourceVersion").is_some_and(|rv| !rv.is_empty()) {
            return Err(ApiError::bad_request("specifying resource version is not allowed when using continue"));
        }
        let (rv, start) = decode_continue(token, &root)?;
        return list_from_storage(ctx, filter, rv, Some(start), limit).await.map_err(|e| match e {
            ApiError::Expired { .. } => ApiError::Expired {
                message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.".into(),
            },
            other => other,
        });
    }
    let fresh = freshness(ctx)?;
    if let super::read::Freshness::Exact(rv) = fresh {
        return list_from_storage(ctx, filter, rv, None, limit).await;
    }
    if !await_fresh(ctx, fresh).await? {
        let rv = ctx.state.store.current_revision().await?;
        return list_from_storage(ctx, filter, rv, None, limit).await;
    }
    let (snapshot, more) = ctx.state.cache.list(&ctx.def, filter, None, limit);
    let cont = match (more, snapshot.items.last()) {
        (true, Some(last)) => Some(encode_continue(snapshot.revision, &last.key, &root)),
        _ => None,
    };
    Ok(Page { items: snapshot.items, revision: snapshot.revision, cont, remaining: None })
}

/// A page read from storage at `rv` (continue tokens and Exact lists).
async fn list_from_storage(ctx: &Ctx, filter: &Filter, rv: i64, start_after: Option<String>, limit: usize) -> ApiResult<Page> {
    let prefix = match (&filter.namespace, ctx.def.namespaced) {
        (Some(ns), true) => ctx.def.namespace_prefix(&ctx.state.root, ns),
        _ => ctx.def.storage_prefix(&ctx.state.root),
    };
    let mut items = Vec::new();
    let mut cursor = start_after;
    let mut cont = None;
    loop {
        let page_limit = if limit == 0 { None } else { Some((limit - items.len()).max(1)) };
        let page = ctx
            .state
            .store
            .list(storage::ListOptions { prefix: prefix.clone(), start_after: cursor.clone(), limit: page_limit, revision: Some(rv) })
            .await?;
        for kv in &page.kvs {
            let obj = CachedObject::from_stored(&ctx.def, &kv.key, &kv.value, kv.mod_revision)
                .map_err(|e| ApiError::internal(format!("stored object {} is not valid JSON: {e}", kv.key)))?;
            if filter.matches(&obj) {
                items.push(Arc::new(obj));
            }
        }
        cursor = page.kvs.last().map(|kv| kv.key.clone()).or(cursor);
        if !page.more {
            break;
        }
        if limit > 0 && items.len() >= limit {
            if let Some(last) = &cursor {
                cont = Some(encode_continue(rv, last, &ctx.state.root));
            }
            break;
        }
    }
    Ok(Page { items, revision: rv, cont, remaining: None })
}

pub async fn list(ctx: Ctx) -> ApiResult<Response> {
    let filter = filter(&ctx)?;
    let page = list_page(&ctx, &filter).await?;
    match response_format(&ctx.headers)? {
        ResponseFormat::Json => Ok(streamed_list_response(&ctx.def, page, None)),
        ResponseFormat::PartialMetadata(version) => Ok(streamed_list_response(&ctx.def, page, Some(version))),
        ResponseFormat::Table => {
            let objects: Vec<Value> = page.items.iter().map(|o| ctx.def.api_value(o)).collect();
            let include = IncludeObject::parse(ctx.params.get("includeObject"));
            let t = table::table(&ctx.def.printer, &objects, include, &page.revision.to_string(), page.cont.as_deref(), ctx.state.now());
            Ok(json_response(StatusCode::OK, &t, &[]))
        }
    }
}

/// How much of a list response is built before it is handed to the
/// connection: large lists are streamed in pieces of about this size, so a
/// LIST of 50,000 pods never holds its whole 170 MB response in memory.
const LIST_CHUNK_BYTES: usize = 256 * 1024;

/// The pieces of a list response, `{"kind":"PodList",...,"items":[...]}`,
/// built by concatenating the cached encodings (no re-serialisation of
/// items); each piece at least `chunk` bytes but the last.
pub struct ListChunks {
    head: Option<Vec<u8>>,
    items: std::vec::IntoIter<bytes::Bytes>,
    first: bool,
    done: bool,
    chunk: usize,
}

impl ListChunks {
    /// `partial`: a `PartialObjectMetadataList` of this `meta.k8s.io`
    /// version instead of the resource's own list.
    pub fn new(def: &ResourceDef, page: Page, chunk: usize, partial: Option<&str>) -> Self {
        let mut metadata = json!({"resourceVersion": page.revision.to_string()});
        if let Some(c) = &page.cont {
            metadata["continue"] = json!(c);
        }
        if let Some(r) = page.remaining {
            metadata["remainingItemCount"] = json!(r);
        }
        let (kind, api_version) = match partial {
            Some(version) => super::partial::list_type(version),
            None => (def.list_kind.as_str(), def.api_version()),
        };
        let head = json!({"kind": kind, "apiVersion": api_version, "metadata": metadata});
        let mut head = serde_json::to_vec(&head).unwrap_or_default();
        head.pop(); // drop the closing brace
        head.extend_from_slice(b",\"items\":[");
        let items: Vec<bytes::Bytes> = match partial {
            Some(version) => page.items.iter().map(|o| bytes::Bytes::from(super::partial::object(&def.api_json(o), version))).collect(),
            None => page.items.iter().map(|o| def.api_json(o)).collect(),
        };
        ListChunks { head: Some(head), items: items.into_iter(), first: true, done: false, chunk: chunk.max(1) }
    }
}

impl Iterator for ListChunks {
    type Item = bytes::Bytes;

    fn next(&mut self) -> Option<bytes::Bytes> {
        if self.done {
            return None;
        }
        let mut out = self.head.take().unwrap_or_default();
        for item in self.items.by_ref() {
            if !self.first {
                out.push(b',');
            }
            self.first = false;
            out.extend_from_slice(&item);
            if out.len() >= self.chunk {
                return Some(bytes::Bytes::from(out));
            }
        }
        out.extend_from_slice(b"]}");
        self.done = true;
        Some(bytes::Bytes::from(out))
    }
}

/// A JSON list response streamed in [`LIST_CHUNK_BYTES`] pieces.
fn streamed_list_response(def: &ResourceDef, page: Page, partial: Option<&str>) -> Response {
    let chunks = ListChunks::new(def, page, LIST_CHUNK_BYTES, partial).map(Ok::<_, std::convert::Infallible>);
    let mut resp = Response::new(axum::body::Body::from_stream(futures::stream::iter(chunks)));
    resp.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_chunks_concatenate_to_the_whole_list() {
        use crate::registry::Registry;
        let registry = Registry::builtin();
        let def = registry.get("", "v1", "configmaps").unwrap().clone();
        let objects: Vec<Arc<CachedObject>> = (0..5)
            .map(|i| {
                let mut v = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": format!("c{i}"), "namespace": "d"}});
                Arc::new(CachedObject::from_value(&def, &format!("/registry/configmaps/d/c{i}"), &mut v, 7))
            })
            .collect();
        for (n, chunk) in [(0usize, 1usize), (0, 1 << 20), (1, 1), (5, 1), (5, 100), (5, 1 << 20)] {
            let page = Page { items: objects[..n].to_vec(), revision: 9, cont: Some("t".into()), remaining: Some(3) };
            let pieces: Vec<bytes::Bytes> = ListChunks::new(&def, page, chunk, None).collect();
            let whole: Vec<u8> = pieces.iter().flat_map(|p| p.to_vec()).collect();
            let parsed: Value = serde_json::from_slice(&whole).unwrap();
            assert_eq!(parsed["kind"], "ConfigMapList", "n={n} chunk={chunk}");
            assert_eq!(parsed["metadata"], json!({"resourceVersion": "9", "continue": "t", "remainingItemCount": 3}));
            let names: Vec<&str> = parsed["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap()).collect();
            assert_eq!(names, (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>());
            if chunk == 1 {
                // head+first item, one per further item, and the closing piece
                assert_eq!(pieces.len(), n.max(1) + usize::from(n > 0), "n={n}");
            } else if chunk == 1 << 20 {
                assert_eq!(pieces.len(), 1);
            }
        }
    }

    #[test]
    fn continue_tokens_round_trip_and_reject_garbage() {
        let t = encode_continue(42, "/registry/pods/default/web-1", "/registry");
        assert_eq!(decode_continue(&t, "/registry").unwrap(), (42, "/registry/pods/default/web-1".to_string()));
        assert!(decode_continue("not-a-token", "/registry").is_err());
    }
}
