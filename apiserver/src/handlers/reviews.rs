//! Review APIs: answers computed by the authenticator/authorizer, never
//! stored (SubjectAccessReview family, SelfSubjectRulesReview, TokenReview,
//! SelfSubjectReview).

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{json, Value};

use super::{json_response, meta, Ctx};
use crate::auth::{Attributes, Decision, UserInfo};
use crate::error::{ApiError, ApiResult};

pub fn is_review(ctx: &Ctx) -> bool {
    matches!(ctx.def.group, "authorization.k8s.io" | "authentication.k8s.io")
}

pub async fn create(ctx: Ctx) -> ApiResult<Response> {
    let body = meta::decode_object(&ctx)?;
    let mut review = body.value;
    let spec = review.get("spec").cloned().unwrap_or(json!({}));
    let status = match ctx.def.plural {
        "selfsubjectaccessreviews" => access_status(&ctx, &ctx.user, &spec),
        "localsubjectaccessreviews" | "subjectaccessreviews" => {
            let user = UserInfo {
                name: spec.get("user").and_then(Value::as_str).unwrap_or("").to_string(),
                uid: spec.get("uid").and_then(Value::as_str).unwrap_or("").to_string(),
                groups: spec.get("groups").and_then(Value::as_array).map(|g| g.iter().filter_map(Value::as_str).map(str::to_string).collect()).unwrap_or_default(),
                ..Default::default()
            };
            if ctx.def.plural == "localsubjectaccessreviews" {
                let ns = spec.pointer("/resourceAttributes/namespace").and_then(Value::as_str).unwrap_or("");
                if ns != ctx.namespace().unwrap_or("") {
                    return Err(ApiError::bad_request(format!(
                        "spec.resourceAttributes.namespace must match namespace: {}",
                        ctx.namespace().unwrap_or("")
                    )));
                }
            }
            access_status(&ctx, &user, &spec)
        }
        "selfsubjectrulesreviews" => match &ctx.state.rbac {
            Some(r) => crate::rbac_authz::rules_review_status(r, &ctx.user, spec.get("namespace").and_then(Value::as_str).unwrap_or("")),
            None => rules_status(&ctx),
        },
        "selfsubjectreviews" => json!({"userInfo": ctx.user.to_json()}),
        "tokenreviews" => token_review(&ctx, &spec),
        other => return Err(ApiError::method_not_allowed(format!("{other} cannot be created"))),
    };
    review["status"] = status;
    if let Some(m) = review.get_mut("metadata").and_then(Value::as_object_mut) {
        m.insert("creationTimestamp".into(), Value::Null);
    }
    Ok(json_response(StatusCode::CREATED, &review, &body.warnings))
}

fn access_status(ctx: &Ctx, user: &UserInfo, spec: &Value) -> Value {
    let attrs = Attributes::from_review(spec);
    match ctx.state.authorizer.authorize(user, &attrs) {
        Decision::Allow { reason } => json!({"allowed": true, "reason": reason}),
        Decision::Deny { reason } => json!({"allowed": false, "denied": true, "reason": reason}),
        Decision::NoOpinion => json!({"allowed": false}),
    }
}

fn rules_status(ctx: &Ctx) -> Value {
    let everything = Attributes { verb: "*".into(), group: "*".into(), resource: "*".into(), ..Default::default() };
    match ctx.state.authorizer.authorize(&ctx.user, &everything) {
        Decision::Allow { .. } => json!({
            "resourceRules": [{"verbs": ["*"], "apiGroups": ["*"], "resources": ["*"]}],
            "nonResourceRules": [{"verbs": ["*"], "nonResourceURLs": ["*"]}],
            "incomplete": false,
        }),
        _ => json!({"resourceRules": [], "nonResourceRules": [], "incomplete": true, "evaluationError": "rules are not enumerable with this authorizer"}),
    }
}

/// TokenReview: run a bearer token through the authenticators (service
/// accounts with the review's audiences, then the others).
fn token_review(ctx: &Ctx, spec: &Value) -> Value {
    use crate::auth::AuthOutcome;
    let token = spec.get("token").and_then(Value::as_str).unwrap_or("");
    let audiences: Vec<String> = spec
        .get("audiences")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default();
    let outcome = match &ctx.state.service_accounts {
        Some(sa) => {
            let auds = if audiences.is_empty() { sa.issuer.api_audiences.clone() } else { audiences.clone() };
            match sa.review(token, &auds) {
                AuthOutcome::NotMine => None,
                other => Some((other, auds)),
            }
        }
        None => None,
    };
    let (outcome, auds) = outcome.unwrap_or_else(|| {
        let mut headers = axum::http::HeaderMap::new();
        if let Ok(v) = format!("Bearer {token}").parse() {
            headers.insert(axum::http::header::AUTHORIZATION, v);
        }
        (ctx.state.authenticator.authenticate(&headers, &axum::http::Extensions::new()), audiences.clone())
    });
    match outcome {
        AuthOutcome::User(u) => json!({"authenticated": true, "user": u.to_json(), "audiences": auds}),
        AuthOutcome::Rejected(reason) => json!({"authenticated": false, "error": reason}),
        AuthOutcome::NotMine => json!({"authenticated": false, "error": "token is not recognised by any authenticator"}),
    }
}
