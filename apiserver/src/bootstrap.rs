//! Objects every cluster has from the first start: the system namespaces and
//! the `kubernetes` Service (and its Endpoints) in `default`. Created through
//! the API itself (the router, in-process), so they get the same defaulting,
//! validation and allocation as any client's objects. Idempotent.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use axum::Router;
use serde_json::{json, Value};
use tower::ServiceExt;

use crate::strategy::PROTECTED_NAMESPACES;

/// Where clients reach this API server (the `kubernetes` Service's endpoints).
#[derive(Debug, Clone)]
pub struct Advertise {
    pub address: String,
    pub port: u16,
}

/// One in-process API request as the trusted loopback client.
pub(crate) async fn call(router: &Router, method: Method, uri: &str, body: Option<&Value>) -> Result<(StatusCode, Value), String> {
    let bytes = match body {
        Some(b) => serde_json::to_vec(b).map_err(|e| e.to_string())?,
        None => Vec::new(),
    };
    let mut req = Request::builder()
        .method(method)
        .uri(uri)
        .header("content-type", "application/json")
        .header("user-agent", "ferrokube-apiserver/bootstrap")
        .body(Body::from(bytes))
        .map_err(|e| e.to_string())?;
    // In-process requests are trusted, as upstream's loopback client.
    req.extensions_mut().insert(crate::tls::InsecurePort);
    let resp = router.clone().oneshot(req).await.map_err(|e| e.to_string())?;
    let code = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20).await.map_err(|e| e.to_string())?;
    Ok((code, serde_json::from_slice(&bytes).unwrap_or(Value::Null)))
}

async fn ensure(router: &Router, collection: &str, obj: Value) -> Result<(), String> {
    let (code, body) = call(router, Method::POST, collection, Some(&obj)).await?;
    match code {
        StatusCode::CREATED | StatusCode::CONFLICT => Ok(()),
        other => Err(format!("creating {collection} {}: {other}: {}", obj["metadata"]["name"], body["message"])),
    }
}

pub async fn run(router: &Router, first_service_ip: &str, advertise: &Advertise) -> Result<(), String> {
    for ns in PROTECTED_NAMESPACES {
        ensure(router, "/api/v1/namespaces", json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})).await?;
    }
    for (name, value, description) in crate::admission::SYSTEM_PRIORITY_CLASSES {
        ensure(
            router,
            "/apis/scheduling.k8s.io/v1/priorityclasses",
            json!({"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": name}, "value": value, "description": description, "preemptionPolicy": "PreemptLowerPriority"}),
        )
        .await?;
    }
    ensure(
        router,
        "/api/v1/namespaces/default/services",
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {
                "type": "ClusterIP",
                "clusterIP": first_service_ip,
                "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": advertise.port}],
                "sessionAffinity": "None",
            },
        }),
    )
    .await?;
    let endpoints = json!({
        "apiVersion": "v1", "kind": "Endpoints",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
        "subsets": [{"addresses": [{"ip": advertise.address}], "ports": [{"name": "https", "port": advertise.port, "protocol": "TCP"}]}],
    });
    let (code, body) = call(router, Method::PUT, "/api/v1/namespaces/default/endpoints/kubernetes", Some(&endpoints)).await?;
    if !code.is_success() {
        return Err(format!("updating the kubernetes endpoints: {code}: {}", body["message"]));
    }
    let slice = json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"kubernetes.io/service-name": "kubernetes", "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}},
        "addressType": "IPv4",
        "endpoints": [{"addresses": [advertise.address], "conditions": {"ready": true}}],
        "ports": [{"name": "https", "port": advertise.port, "protocol": "TCP"}],
    });
    let (code, body) = call(router, Method::PUT, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes", Some(&slice)).await?;
    if !code.is_success() {
        return Err(format!("updating the kubernetes endpointslice: {code}: {}", body["message"]));
    }
    Ok(())
}
