//! The HTTP surface: `router()` builds the axum router (tests drive it with
//! `oneshot`, no socket), with the non-resource endpoints (version, health,
//! metrics, OpenAPI, discovery) and the generic resource handler.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use crate::error::ApiError;
use crate::handlers;
use crate::state::SharedState;

/// Set once start-up work (bootstrap objects) is done.
#[derive(Default)]
pub struct StartupGate(AtomicBool);

impl StartupGate {
    pub fn done(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_done(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

pub fn router(state: SharedState, startup: Arc<StartupGate>) -> Router {
    router_with_audit(state, startup, None)
}

/// The router, with the audit log between authentication and the handlers.
pub fn router_with_audit(state: SharedState, startup: Arc<StartupGate>, audit: Option<Arc<crate::audit::AuditLog>>) -> Router {
    let health_state = (state.clone(), startup);
    let router = Router::new()
        .route("/version", get(|| async { axum::Json(crate::version::info()) }))
        .route("/version/", get(|| async { axum::Json(crate::version::info()) }))
        .route("/healthz", get(health).with_state(health_state.clone()))
        .route("/livez", get(health).with_state(health_state.clone()))
        .route("/readyz", get(health).with_state(health_state.clone()))
        .route("/healthz/{check}", get(health_one).with_state(health_state.clone()))
        .route("/livez/{check}", get(health_one).with_state(health_state.clone()))
        .route("/readyz/{check}", get(health_one).with_state(health_state))
        .route("/metrics", get(metrics))
        .route("/.well-known/openid-configuration", get(oidc_discovery))
        .route("/openid/v1/jwks", get(oidc_jwks))
        .route("/openapi/v2", get(|| async { not_found() }))
        .route("/openapi/v3", get(openapi_index))
        .route("/openapi/v3/{*path}", get(openapi_document))
        .fallback(dispatch);
    let router = match audit {
        Some(log) => router.layer(axum::middleware::from_fn_with_state(log, crate::audit::middleware)),
        None => router,
    };
    router.layer(axum::middleware::from_fn_with_state(state.clone(), authenticate)).with_state(state)
}

/// Every request: find the user (401 when credentials are bad or missing,
/// except anonymous access to the public health/version paths), then
/// authorize non-resource paths. Resource requests are authorized in the
/// resource handler, which knows the verb and resource.
async fn authenticate(State(state): State<SharedState>, mut req: Request, next: axum::middleware::Next) -> Response {
    let path = req.uri().path().to_string();
    let user = match state.authenticator.authenticate(req.headers(), req.extensions()) {
        crate::auth::AuthOutcome::User(u) => u,
        crate::auth::AuthOutcome::NotMine if crate::auth::is_public_path(&path) => crate::auth::anonymous(),
        crate::auth::AuthOutcome::Rejected(reason) => {
            tracing::debug!(%path, %reason, "authentication rejected");
            return ApiError::Unauthorized { message: "Unauthorized".into() }.into_response();
        }
        crate::auth::AuthOutcome::NotMine => return ApiError::Unauthorized { message: "Unauthorized".into() }.into_response(),
    };
    let is_resource = crate::request::parse(req.method(), &path, false).is_some();
    if !is_resource && !crate::auth::is_public_path(&path) {
        let attrs = crate::auth::Attributes { verb: req.method().as_str().to_lowercase(), path: Some(path.clone()), ..Default::default() };
        if !matches!(state.authorizer.authorize(&user, &attrs), crate::auth::Decision::Allow { .. }) {
            let message = format!("forbidden: User \"{}\" cannot {} path \"{path}\"", user.name, attrs.verb);
            return ApiError::Forbidden { subject: Default::default(), message }.into_response();
        }
    }
    req.extensions_mut().insert(user);
    next.run(req).await
}

fn not_found() -> Response {
    ApiError::NotFound { subject: Default::default(), message: "the server could not find the requested resource".into() }.into_response()
}

async fn metrics(State(state): State<SharedState>) -> Response {
    let body = state.metrics.render(state.cache.object_count(), state.cache.revision());
    let mut r = (StatusCode::OK, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4"));
    r
}

async fn oidc_discovery(State(state): State<SharedState>) -> Response {
    match &state.service_accounts {
        Some(sa) => axum::Json(sa.issuer.discovery_document()).into_response(),
        None => not_found(),
    }
}

async fn oidc_jwks(State(state): State<SharedState>) -> Response {
    match &state.service_accounts {
        Some(sa) => {
            let mut r = axum::Json(sa.issuer.jwks()).into_response();
            r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/jwk-set+json"));
            r
        }
        None => not_found(),
    }
}

async fn openapi_index(State(state): State<SharedState>) -> Response {
    state.openapi.index()
}

async fn openapi_document(
    State(state): State<SharedState>,
    axum::extract::Path(path): axum::extract::Path<String>,
    axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>,
) -> Response {
    state.openapi.document(&path, q.get("hash").map(String::as_str)).unwrap_or_else(not_found)
}

/// Discovery paths, else the resource handler.
async fn dispatch(State(state): State<SharedState>, req: Request) -> Response {
    let path = req.uri().path().trim_end_matches('/').to_string();
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    if req.method() == Method::GET {
        let discovery = &state.discovery;
        let found = match parts.as_slice() {
            ["api"] => Some(discovery.api(req.headers())),
            ["apis"] => Some(discovery.apis(req.headers())),
            ["api", version] => Some(discovery.resources(version).unwrap_or_else(not_found)),
            ["apis", group] => Some(discovery.group(group).unwrap_or_else(not_found)),
            ["apis", group, version] => Some(discovery.resources(&format!("{group}/{version}")).unwrap_or_else(not_found)),
            [""] => Some(root_paths(&state)),
            _ => None,
        };
        if let Some(resp) = found {
            return resp;
        }
    }
    handlers::handle(State(state), req).await
}

fn root_paths(state: &SharedState) -> Response {
    let mut paths: Vec<String> = vec!["/api".into(), "/api/v1".into(), "/apis".into(), "/healthz".into(), "/livez".into(), "/metrics".into(), "/openapi/v3".into(), "/readyz".into(), "/version".into()];
    for gv in state.discovery.group_versions() {
        if gv.contains('/') {
            paths.push(format!("/apis/{gv}"));
        }
    }
    paths.sort();
    paths.dedup();
    axum::Json(serde_json::json!({"paths": paths})).into_response()
}

type HealthState = (SharedState, Arc<StartupGate>);

async fn check(state: &HealthState, name: &str) -> Result<(), String> {
    let (app, startup) = state;
    match name {
        "ping" | "log" => Ok(()),
        "etcd" => app.store.current_revision().await.map(|_| ()).map_err(|e| e.to_string()),
        "watch-cache" => app.cache.is_ready().then_some(()).ok_or_else(|| "the watch cache has not loaded yet".into()),
        "poststarthook/bootstrap-controller" => startup.is_done().then_some(()).ok_or_else(|| "bootstrap objects not created yet".into()),
        other => Err(format!("no such check {other:?}")),
    }
}

fn checks_for(path: &str) -> &'static [&'static str] {
    if path.starts_with("/readyz") {
        &["ping", "log", "etcd", "watch-cache", "poststarthook/bootstrap-controller"]
    } else {
        &["ping", "log", "etcd", "poststarthook/bootstrap-controller"]
    }
}

async fn health(State(state): State<HealthState>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let verbose = req.uri().query().is_some_and(|q| q.split('&').any(|p| p == "verbose" || p.starts_with("verbose=")));
    let endpoint = path.trim_start_matches('/');
    let mut lines = String::new();
    let mut failed = false;
    for name in checks_for(&path) {
        match check(&state, name).await {
            Ok(()) => lines.push_str(&format!("[+]{name} ok\n")),
            Err(e) => {
                failed = true;
                tracing::warn!(check = name, error = %e, "health check failed");
                lines.push_str(&format!("[-]{name} failed: reason withheld\n"));
            }
        }
    }
    let (code, body) = match (failed, verbose) {
        (false, false) => (StatusCode::OK, "ok".to_string()),
        (false, true) => (StatusCode::OK, format!("{lines}{endpoint} check passed\n")),
        (true, _) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{lines}{endpoint} check failed\n")),
    };
    let mut r = (code, body).into_response();
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut().insert("x-content-type-options", HeaderValue::from_static("nosniff"));
    r
}

async fn health_one(State(state): State<HealthState>, axum::extract::Path(name): axum::extract::Path<String>) -> Response {
    match check(&state, &name).await {
        Ok(()) => (StatusCode::OK, "ok").into_response(),
        Err(e) if e.starts_with("no such check") => not_found(),
        Err(_) => (StatusCode::INTERNAL_SERVER_ERROR, format!("[-]{name} failed: reason withheld\n")).into_response(),
    }
}
