//! `componentstatuses` (deprecated upstream, still used by `kubectl get cs`):
//! computed on request from storage health and the scheduler's and
//! controller-manager's health ports on this host, never stored.

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{json_response, Ctx};
use crate::error::{ApiError, ApiResult};

const WARNING: &str = "v1 ComponentStatus is deprecated in v1.19+";

pub fn is_componentstatus(ctx: &Ctx) -> bool {
    ctx.def.group.is_empty() && ctx.def.plural == "componentstatuses"
}

async fn port_check(port: u16) -> (bool, String) {
    let url = format!("https://127.0.0.1:{port}/healthz");
    match tokio::time::timeout(Duration::from_secs(1), tokio::net::TcpStream::connect(("127.0.0.1", port))).await {
        Ok(Ok(_)) => (true, "ok".into()),
        Ok(Err(e)) => {
            let reason = if e.kind() == std::io::ErrorKind::ConnectionRefused { "connection refused".to_string() } else { e.to_string() };
            (false, format!("Get \"{url}\": dial tcp 127.0.0.1:{port}: connect: {reason}"))
        }
        Err(_) => (false, format!("Get \"{url}\": timeout")),
    }
}

fn component(name: &str, healthy: bool, message: &str) -> Value {
    let mut cond = json!({"type": "Healthy", "status": if healthy { "True" } else { "False" }});
    if healthy {
        cond["message"] = json!(message);
    } else {
        cond["error"] = json!(message);
    }
    json!({"kind": "ComponentStatus", "apiVersion": "v1", "metadata": {"name": name}, "conditions": [cond]})
}

async fn all(ctx: &Ctx) -> Vec<Value> {
    let etcd = ctx.state.store.current_revision().await;
    let (sched_ok, sched_msg) = port_check(10259).await;
    let (cm_ok, cm_msg) = port_check(10257).await;
    vec![
        component("controller-manager", cm_ok, &cm_msg),
        component("scheduler", sched_ok, &sched_msg),
        match etcd {
            Ok(_) => component("etcd-0", true, "ok"),
            Err(e) => component("etcd-0", false, &e.to_string()),
        },
    ]
}

pub async fn handle(ctx: Ctx) -> ApiResult<Response> {
    let warnings = [WARNING.to_string()];
    let items = all(&ctx).await;
    match ctx.info.verb {
        "list" => {
            let list = json!({"kind": "ComponentStatusList", "apiVersion": "v1", "metadata": {}, "items": items});
            if crate::codec::response_format(&ctx.headers)? == crate::codec::ResponseFormat::Table {
                let rows: Vec<Value> = items.iter().map(row).collect();
                let table = json!({
                    "kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": {},
                    "columnDefinitions": [
                        {"name": "Name", "type": "string", "format": "name", "description": "", "priority": 0},
                        {"name": "Status", "type": "string", "format": "", "description": "Status of the component conditions", "priority": 0},
                        {"name": "Message", "type": "string", "format": "", "description": "Message of the component conditions", "priority": 0},
                        {"name": "Error", "type": "string", "format": "", "description": "Error of the component conditions", "priority": 0},
                    ],
                    "rows": rows,
                });
                return Ok(json_response(StatusCode::OK, &table, &warnings));
            }
            Ok(json_response(StatusCode::OK, &list, &warnings))
        }
        "get" => {
            let name = ctx.name();
            let item = items.into_iter().find(|i| i["metadata"]["name"] == name).ok_or_else(|| ctx.not_found(name))?;
            Ok(json_response(StatusCode::OK, &item, &warnings))
        }
        other => Err(ApiError::method_not_allowed(format!("{other} is not supported on componentstatuses"))),
    }
}

fn row(item: &Value) -> Value {
    let c = &item["conditions"][0];
    let healthy = c["status"] == "True";
    json!({
        "cells": [item["metadata"]["name"], if healthy { "Healthy" } else { "Unhealthy" }, c.get("message").cloned().unwrap_or(json!("")), c.get("error").cloned().unwrap_or(json!(""))],
        "object": {"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": item["metadata"]},
    })
}
