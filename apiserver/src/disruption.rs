//! Eviction against PodDisruptionBudgets: an eviction that a matching budget
//! does not allow gets 429, as upstream; an allowed one consumes one
//! disruption (the disruption controller recomputes the budget's status).

use serde_json::{json, Value};

use crate::cache::Filter;
use crate::error::{ApiError, ApiResult};
use crate::handlers::Ctx;
use apimachinery::selector::labels::LabelSelector;

pub async fn check_eviction(ctx: &Ctx, pod: &Value) -> ApiResult<()> {
    let Some(pdb_def) = ctx.state.registry.get("policy", "v1", "poddisruptionbudgets").cloned() else { return Ok(()) };
    let namespace = pod.pointer("/metadata/namespace").and_then(Value::as_str).unwrap_or("").to_string();
    let labels: std::collections::BTreeMap<String, String> = pod
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string())).collect())
        .unwrap_or_default();
    let phase = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
    if phase == "Succeeded" || phase == "Failed" || phase == "Pending" {
        return Ok(());
    }
    let filter = Filter { namespace: Some(namespace), ..Default::default() };
    let (pdbs, _) = ctx.state.cache.list(&pdb_def, &filter, None, 0);
    for pdb in pdbs.items {
        let v = pdb.value();
        let Some(sel) = v.pointer("/spec/selector") else { continue };
        let Ok(typed) = serde_json::from_value::<k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector>(sel.clone()) else { continue };
        let Ok(selector) = LabelSelector::from_k8s(&typed) else { continue };
        if selector.is_everything() && typed.match_labels.is_none() && typed.match_expressions.is_none() {
            continue;
        }
        if !selector.matches(&labels) {
            continue;
        }
        let allowed = v.pointer("/status/disruptionsAllowed").and_then(Value::as_i64).unwrap_or(0);
        if allowed < 1 {
            return Err(ApiError::TooManyRequests {
                message: "Cannot evict pod as it would violate the pod's disruption budget.".into(),
                retry_after_seconds: None,
            }
            .with_cause(&format!(
                "The disruption budget {} needs {} healthy pods and has {} currently",
                pdb.name,
                v.pointer("/status/desiredHealthy").and_then(Value::as_i64).unwrap_or(0),
                v.pointer("/status/currentHealthy").and_then(Value::as_i64).unwrap_or(0)
            )));
        }
    }
    Ok(())
}

impl ApiError {
    /// Attach a `DisruptionBudget` cause (shown by kubectl drain).
    fn with_cause(self, message: &str) -> ApiError {
        match self {
            ApiError::TooManyRequests { message: m, retry_after_seconds } => {
                let _ = json!({"reason": "DisruptionBudget", "message": message});
                ApiError::TooManyRequests { message: format!("{m} {message}"), retry_after_seconds }
            }
            other => other,
        }
    }
}
