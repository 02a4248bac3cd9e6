//! WATCH: newline-delimited JSON events over a chunked response, fed from the
//! watch cache. Bookmarks when asked, a server-side timeout, 410 Expired as an
//! ERROR event when the requested revision is no longer in history.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tokio_stream::StreamExt;

use super::read::filter;
use super::Ctx;
use crate::cache::{CacheError, EventType, WatchOut};
use crate::codec::{response_format, ResponseFormat};
use crate::error::{ApiError, ApiResult};
use crate::table::{IncludeObject, Printer};

struct Encoder {
    table: Option<(Printer, IncludeObject)>,
    /// `PartialObjectMetadata` of this `meta.k8s.io` version.
    partial: Option<&'static str>,
    sent_columns: bool,
    kind: &'static str,
    api_version: String,
}

impl Encoder {
    fn event(&mut self, kind: &str, object_json: &[u8], now: jiff::Timestamp) -> Bytes {
        let mut out = Vec::with_capacity(object_json.len() + 32);
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(kind.as_bytes());
        out.extend_from_slice(b"\",\"object\":");
        match &self.table {
            None => match self.partial {
                Some(version) => out.extend_from_slice(&super::partial::object(object_json, version)),
                None => out.extend_from_slice(object_json),
            },
            Some((printer, include)) => {
                let obj: Value = serde_json::from_slice(object_json).unwrap_or(Value::Null);
                let rv = obj.pointer("/metadata/resourceVersion").and_then(Value::as_str).unwrap_or("").to_string();
                let columns = if self.sent_columns { Vec::new() } else { printer.column_definitions() };
                self.sent_columns = true;
                let table = json!({
                    "kind": "Table", "apiVersion": "meta.k8s.io/v1",
                    "metadata": {"resourceVersion": rv},
                    "columnDefinitions": columns,
                    "rows": [printer.row(&obj, *include, now)],
                });
                out.extend_from_slice(&serde_json::to_vec(&table).unwrap_or_default());
            }
        }
        out.extend_from_slice(b"}\n");
        Bytes::from(out)
    }

    fn bookmark(&mut self, revision: i64, initial_events_end: bool) -> Bytes {
        let mut metadata = json!({"resourceVersion": revision.to_string()});
        if initial_events_end {
            metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
        }
        let object = match self.partial {
            Some(version) => json!({"kind": "PartialObjectMetadata", "apiVersion": format!("meta.k8s.io/{version}"), "metadata": metadata}),
            None => json!({"kind": self.kind, "apiVersion": self.api_version, "metadata": metadata}),
        };
        let mut out = serde_json::to_vec(&json!({"type": "BOOKMARK", "object": object})).unwrap_or_default();
        out.push(b'\n');
        Bytes::from(out)
    }
}

fn error_event(err: &ApiError) -> Bytes {
    let mut out = serde_json::to_vec(&json!({"type": "ERROR", "object": err.to_status()})).unwrap_or_default();
    out.push(b'\n');
    Bytes::from(out)
}

pub async fn watch(ctx: Ctx) -> ApiResult<Response> {
    let mut filter = filter(&ctx)?;
    if let Some(name) = &ctx.info.name {
        filter.name = Some(name.clone());
    }
    let format = response_format(&ctx.headers)?;
    let rv = ctx.params.get("resourceVersion").unwrap_or("");
    let send_initial = ctx.params.get("sendInitialEvents").map(|v| v == "true");
    let from = match (rv, send_initial) {
        (_, Some(true)) => None,
        ("" | "0", _) => None,
        (n, _) => Some(n.parse::<i64>().map_err(|_| ApiError::bad_request(format!("invalid resourceVersion {n:?}: must be an integer")))?),
    };
    if let Some(rv) = from {
        // Resume only once the cache has seen the client's revision.
        if !ctx.state.cache.wait_for(rv, ctx.state.limits.resource_version_wait).await {
            return Err(ApiError::Timeout {
                message: format!("Too large resource version: {rv}, current: {}", ctx.state.cache.revision()),
            });
        }
    }
    if from.is_none() && rv.is_empty() {
        // A consistent start: make sure the cache has caught up first.
        let current = ctx.state.store.current_revision().await?;
        ctx.state.cache.wait_for(current, ctx.state.limits.consistent_read_wait).await;
    }
    let bookmarks = ctx.params.get("allowWatchBookmarks") == Some("true");
    let timeout = match ctx.params.int("timeoutSeconds")? {
        Some(t) if t > 0 => Duration::from_secs(t as u64),
        _ => Duration::from_secs(ctx.state.limits.min_watch_timeout_secs),
    };
    let mut encoder = Encoder {
        table: match format {
            ResponseFormat::Table => Some((ctx.def.printer, IncludeObject::parse(ctx.params.get("includeObject")))),
            ResponseFormat::Json | ResponseFormat::PartialMetadata(_) => None,
        },
        partial: match format {
            ResponseFormat::PartialMetadata(version) => Some(version),
            _ => None,
        },
        sent_columns: false,
        kind: ctx.def.kind,
        api_version: ctx.def.api_version(),
    };

    let (tx, rx) = mpsc::channel::<Result<Bytes, Infallible>>(64);
    let subscription = ctx.state.cache.subscribe(&ctx.def, filter, from);
    let state = ctx.state.clone();
    let def = ctx.def.clone();
    let bookmark_interval = state.limits.bookmark_interval;
    state.metrics.watch_started();
    tokio::spawn(async move {
        let _guard = WatchGuard(state.clone());
        let mut sub = match subscription {
            Ok(s) => s,
            Err(CacheError::TooOld { requested, oldest }) => {
                let err = ApiError::Expired { message: format!("too old resource version: {requested} ({oldest})") };
                let _ = tx.send(Ok(error_event(&err))).await;
                return;
            }
            Err(CacheError::NotReady) => {
                let err = ApiError::ServiceUnavailable { message: "the watch cache is not ready yet".into() };
                let _ = tx.send(Ok(error_event(&err))).await;
                return;
            }
        };
        let now = state.now();
        let mut last_rv = sub.revision;
        for WatchOut { kind, object } in std::mem::take(&mut sub.initial) {
            last_rv = last_rv.max(object.revision);
            if tx.send(Ok(encoder.event(kind.as_str(), &def.api_json(&object), now))).await.is_err() {
                return;
            }
        }
        if send_initial == Some(true) && bookmarks && tx.send(Ok(encoder.bookmark(sub.revision, true))).await.is_err() {
            return;
        }
        let deadline = tokio::time::sleep(timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(bookmark_interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = &mut deadline => return,
                _ = tx.closed() => return,
                _ = ticker.tick(), if bookmarks => {
                    let rv = state.cache.revision().max(last_rv);
                    if tx.send(Ok(encoder.bookmark(rv, false))).await.is_err() { return; }
                }
                ev = sub.live.recv() => match ev {
                    Some(WatchOut { kind, object }) => {
                        if object.revision <= last_rv && from.is_some() {
                            continue;
                        }
                        last_rv = object.revision;
                        let label = if kind == EventType::Deleted { "DELETED" } else { kind.as_str() };
                        if tx.send(Ok(encoder.event(label, &def.api_json(&object), state.now()))).await.is_err() { return; }
                    }
                    // Cut off by the cache (too slow) or the cache re-listed.
                    None => return,
                }
            }
        }
    });
    let stream = ReceiverStream::new(rx).map(|r| r);
    let mut resp = Response::new(Body::from_stream(stream));
    *resp.status_mut() = StatusCode::OK;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache, private"));
    Ok(resp)
}

/// Keeps the active-watch gauge right however the watch task ends.
struct WatchGuard(crate::state::SharedState);

impl Drop for WatchGuard {
    fn drop(&mut self) {
        self.0.metrics.watch_ended();
    }
}
