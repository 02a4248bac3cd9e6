//! Generic REST handlers for every resource. `handle` resolves the request to
//! a `ResourceDef` and a verb, then calls one small handler per verb; kinds
//! differ only through their strategy.

mod componentstatus;
mod fields;
mod meta;
mod params;
mod partial;
mod patch;
mod read;
mod reviews;
mod subresource;
mod watch;
mod write;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub use params::Params;

use crate::error::{ApiError, ApiResult};
use crate::registry::ResourceDef;
use crate::request::{self, RequestInfo};
use crate::state::SharedState;

/// Everything one resource request carries, decoded once.
pub struct Ctx {
    pub state: SharedState,
    pub user: crate::auth::UserInfo,
    pub def: Arc<ResourceDef>,
    pub info: RequestInfo,
    pub params: Params,
    pub headers: HeaderMap,
    pub body: bytes::Bytes,
    /// Warnings from admission (e.g. PodSecurity `warn`), sent back as
    /// `Warning` headers on a successful response.
    pub warnings: Warnings,
}

/// A per-request collection of `Warning` header texts.
#[derive(Clone, Default)]
pub struct Warnings(Arc<parking_lot::Mutex<Vec<String>>>);

impl Warnings {
    pub fn add(&self, warning: String) {
        let mut list = self.0.lock();
        if !list.contains(&warning) {
            list.push(warning);
        }
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock())
    }
}

impl Ctx {
    pub fn namespace(&self) -> Option<&str> {
        if self.def.namespaced {
            self.info.namespace.as_deref()
        } else {
            None
        }
    }

    pub fn name(&self) -> &str {
        self.info.name.as_deref().unwrap_or("")
    }

    pub fn key(&self, name: &str) -> String {
        self.def.object_key(&self.state.root, self.namespace(), name)
    }

    pub fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(self.def.group, self.def.plural, name)
    }
}

/// The fallback route: every `/api/...` and `/apis/...` resource path.
pub async fn handle(State(state): State<SharedState>, req: Request) -> Response {
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let params = Params::parse(req.uri().query());
    let info = request::parse(&method, &path, params.is_watch());
    let verb = info.as_ref().map_or("", |i| i.verb);
    let resource = info.as_ref().map(|i| i.resource.clone()).unwrap_or_default();
    let span = tracing::debug_span!("request", %method, %path, verb, resource = %resource);
    let _enter = span.enter();
    drop(_enter);
    let response = match info {
        Some(info) => route(state.clone(), info, params, req).await.unwrap_or_else(IntoResponse::into_response),
        None => ApiError::NotFound { subject: Default::default(), message: "the server could not find the requested resource".into() }
            .into_response(),
    };
    state.metrics.observe_request(verb, &resource, response.status().as_u16(), started.elapsed());
    response
}

/// `metadata.name=x` (or `==`) as the whole field selector.
fn single_name_selector(selector: &str) -> Option<String> {
    let rest = selector.trim().strip_prefix("metadata.name")?;
    let value = rest.strip_prefix("==").or_else(|| rest.strip_prefix('='))?;
    (!value.is_empty() && !value.contains([',', '=', '!'])).then(|| value.to_string())
}

async fn route(state: SharedState, info: RequestInfo, params: Params, req: Request) -> ApiResult<Response> {
    let def = state
        .registry
        .get(&info.group, &info.version, &info.resource)
        .cloned()
        .ok_or_else(|| ApiError::NotFound {
            subject: Default::default(),
            message: format!(
                "the server could not find the requested resource (resource {:?} in group version {:?})",
                info.resource,
                if info.group.is_empty() { info.version.clone() } else { format!("{}/{}", info.group, info.version) }
            ),
        })?;
    if def.namespaced && info.namespace.is_none() && !matches!(info.verb, "list" | "watch") && def.plural != "namespaces" {
        // Namespaced objects are only addressable inside a namespace.
        return Err(ApiError::NotFound { subject: Default::default(), message: "the server could not find the requested resource".into() });
    }
    let user = req.extensions().get::<crate::auth::UserInfo>().cloned().ok_or_else(|| ApiError::Unauthorized { message: "Unauthorized".into() })?;
    let mut attrs = crate::auth::Attributes::from_request(&info);
    if matches!(info.verb, "list" | "watch") && attrs.name.is_empty() {
        // As upstream's RequestInfo: a list or watch of one object by
        // `fieldSelector=metadata.name=x` is authorized as that object.
        if let Some(name) = params.get("fieldSelector").and_then(single_name_selector) {
            attrs.name = name;
        }
    }
    match state.authorizer.authorize(&user, &attrs) {
        crate::auth::Decision::Allow { .. } => {}
        crate::auth::Decision::Deny { reason } => {
            return Err(ApiError::Forbidden { subject: Default::default(), message: crate::auth::forbidden_message(&user, &attrs, &reason) });
        }
        crate::auth::Decision::NoOpinion => {
            return Err(ApiError::Forbidden { subject: Default::default(), message: crate::auth::forbidden_message(&user, &attrs, "") });
        }
    }
    let (parts, body) = req.into_parts();
    let limit = state.limits.max_body_bytes;
    let body = axum::body::to_bytes(body, limit).await.map_err(|_| ApiError::RequestEntityTooLarge {
        message: format!("the request body is larger than the limit of {limit} bytes"),
    })?;
    let warnings = Warnings::default();
    let ctx = Ctx { state, user, def, info, params, headers: parts.headers, body, warnings: warnings.clone() };
    let mut response = dispatch(ctx).await?;
    for w in warnings.take() {
        let text = format!("299 - {}", serde_json::to_string(&w).unwrap_or_default());
        if let Ok(v) = HeaderValue::from_str(&text) {
            response.headers_mut().append(header::WARNING, v);
        }
    }
    Ok(response)
}

async fn dispatch(ctx: Ctx) -> ApiResult<Response> {
    if let Some(sub) = ctx.info.subresource.clone() {
        return subresource::handle(ctx, &sub).await;
    }
    check_verb(&ctx.def, ctx.info.verb)?;
    if componentstatus::is_componentstatus(&ctx) {
        return componentstatus::handle(ctx).await;
    }
    if reviews::is_review(&ctx) {
        return reviews::create(ctx).await;
    }
    if ctx.def.group.is_empty() && ctx.def.plural == "bindings" {
        // A Binding is not stored: it binds the pod it names.
        return subresource::bind_named(ctx).await;
    }
    match ctx.info.verb {
        "get" => read::get(ctx).await,
        "list" => read::list(ctx).await,
        "watch" => watch::watch(ctx).await,
        "create" => write::create(ctx).await,
        "update" => write::update(ctx).await,
        "patch" => patch::patch(ctx).await,
        "delete" => write::delete(ctx).await,
        "deletecollection" => write::delete_collection(ctx).await,
        other => Err(ApiError::method_not_allowed(format!("verb {other} is not supported"))),
    }
}

fn check_verb(def: &ResourceDef, verb: &str) -> ApiResult<()> {
    if def.verbs.contains(&verb) {
        Ok(())
    } else {
        Err(ApiError::method_not_allowed(format!(
            "the server does not allow this method on the requested resource ({verb} {})",
            def.group_resource()
        )))
    }
}

/// Wait until the watch cache has caught up with storage (consistent read).
pub async fn await_consistent(ctx: &Ctx) -> ApiResult<()> {
    read::await_fresh(ctx, read::Freshness::Consistent).await.map(|_| ())
}

/// A JSON response with optional `Warning` headers.
pub fn json_response(code: StatusCode, value: &Value, warnings: &[String]) -> Response {
    let body = serde_json::to_vec(value).unwrap_or_default();
    raw_json_response(code, body, warnings)
}

pub fn raw_json_response(code: StatusCode, body: Vec<u8>, warnings: &[String]) -> Response {
    let mut resp = Response::new(Body::from(body));
    *resp.status_mut() = code;
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    for w in warnings {
        let text = format!("299 - {}", serde_json::to_string(w).unwrap_or_default());
        if let Ok(v) = HeaderValue::from_str(&text) {
            resp.headers_mut().append(header::WARNING, v);
        }
    }
    resp
}
