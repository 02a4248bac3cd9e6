//! One error type for every request path, rendered as one response shape:
//! a Kubernetes `meta/v1` `Status` with the HTTP code, reason, message and
//! (for field errors) the causes with their field paths.

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};

/// One invalid field, as upstream's `field.Error`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    /// `FieldValueRequired`, `FieldValueInvalid`, `FieldValueNotSupported`, ...
    pub reason: &'static str,
    /// The field path, e.g. `spec.containers[0].name`.
    pub field: String,
    /// The full message, e.g. `spec.restartPolicy: Unsupported value: "always": ...`.
    pub message: String,
}

impl FieldError {
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        let field = field.into();
        let message = if detail.is_empty() {
            format!("{field}: Required value")
        } else {
            format!("{field}: Required value: {detail}")
        };
        FieldError { reason: "FieldValueRequired", field, message }
    }

    pub fn invalid(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        let field = field.into();
        let message = format!("{field}: Invalid value: {}: {detail}", render_value(value));
        FieldError { reason: "FieldValueInvalid", field, message }
    }

    pub fn not_supported(field: impl Into<String>, value: &Value, supported: &[&str]) -> Self {
        let field = field.into();
        let quoted: Vec<String> = supported.iter().map(|s| format!("\"{s}\"")).collect();
        let message = format!(
            "{field}: Unsupported value: {}: supported values: {}",
            render_value(value),
            quoted.join(", ")
        );
        FieldError { reason: "FieldValueNotSupported", field, message }
    }

    pub fn duplicate(field: impl Into<String>, value: &Value) -> Self {
        let field = field.into();
        let message = format!("{field}: Duplicate value: {}", render_value(value));
        FieldError { reason: "FieldValueDuplicate", field, message }
    }

    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        let field = field.into();
        let message = format!("{field}: Forbidden: {detail}");
        FieldError { reason: "FieldValueForbidden", field, message }
    }

    pub fn too_long(field: impl Into<String>, max: usize) -> Self {
        let field = field.into();
        let message = format!("{field}: Too long: may not be more than {max} bytes");
        FieldError { reason: "FieldValueTooLong", field, message }
    }
}

/// Values in field errors render as upstream does: strings quoted, numbers bare.
fn render_value(value: &Value) -> String {
    match value {
        Value::String(s) => format!("{s:?}"),
        Value::Null => "null".to_string(),
        other => other.to_string(),
    }
}

/// Identifies the object an error is about (`details` of the Status).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    pub group: String,
    /// The resource (plural) for NotFound/AlreadyExists/Conflict, the kind for Invalid.
    pub kind: String,
    pub name: String,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ApiError {
    #[error("{message}")]
    BadRequest { message: String },
    #[error("{message}")]
    NotFound { subject: Subject, message: String },
    #[error("{message}")]
    AlreadyExists { subject: Subject, message: String },
    #[error("{message}")]
    Conflict { subject: Subject, message: String, causes: Vec<FieldError> },
    #[error("{message}")]
    Invalid { subject: Subject, causes: Vec<FieldError>, message: String },
    #[error("{message}")]
    MethodNotAllowed { message: String },
    #[error("{message}")]
    NotAcceptable { message: String },
    #[error("{message}")]
    UnsupportedMediaType { message: String },
    #[error("{message}")]
    Gone { message: String },
    #[error("{message}")]
    Expired { message: String },
    #[error("{message}")]
    RequestEntityTooLarge { message: String },
    #[error("{message}")]
    Forbidden { subject: Subject, message: String },
    #[error("{message}")]
    Unauthorized { message: String },
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_seconds: Option<u32> },
    #[error("{message}")]
    Timeout { message: String },
    #[error("{message}")]
    ServiceUnavailable { message: String },
    #[error("{message}")]
    Internal { message: String },
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError::BadRequest { message: message.into() }
    }

    pub fn internal(message: impl Into<String>) -> Self {
        ApiError::Internal { message: message.into() }
    }

    pub fn not_found(group: &str, resource: &str, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", qualified(group, resource));
        ApiError::NotFound { subject: subject(group, resource, name), message }
    }

    pub fn already_exists(group: &str, resource: &str, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", qualified(group, resource));
        ApiError::AlreadyExists { subject: subject(group, resource, name), message }
    }

    pub fn conflict(group: &str, resource: &str, name: &str, detail: &str) -> Self {
        let message =
            format!("Operation cannot be fulfilled on {} \"{name}\": {detail}", qualified(group, resource));
        ApiError::Conflict { subject: subject(group, resource, name), message, causes: Vec::new() }
    }

    pub fn invalid(group: &str, kind: &str, name: &str, causes: Vec<FieldError>) -> Self {
        let details: Vec<&str> = causes.iter().map(|c| c.message.as_str()).collect();
        let what = qualified(group, kind);
        let message = match details.len() {
            0 => format!("{what} \"{name}\" is invalid"),
            1 => format!("{what} \"{name}\" is invalid: {}", details[0]),
            _ => format!("{what} \"{name}\" is invalid: [{}]", details.join(", ")),
        };
        ApiError::Invalid { subject: subject(group, kind, name), causes, message }
    }

    pub fn forbidden(group: &str, resource: &str, name: &str, reason: &str) -> Self {
        let what = qualified(group, resource);
        let message = if name.is_empty() {
            format!("{what} is forbidden: {reason}")
        } else {
            format!("{what} \"{name}\" is forbidden: {reason}")
        };
        ApiError::Forbidden { subject: subject(group, resource, name), message }
    }

    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        ApiError::MethodNotAllowed { message: message.into() }
    }

    pub fn code(&self) -> StatusCode {
        match self {
            ApiError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            ApiError::NotFound { .. } => StatusCode::NOT_FOUND,
            ApiError::AlreadyExists { .. } | ApiError::Conflict { .. } => StatusCode::CONFLICT,
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::NotAcceptable { .. } => StatusCode::NOT_ACCEPTABLE,
            ApiError::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Gone { .. } | ApiError::Expired { .. } => StatusCode::GONE,
            ApiError::RequestEntityTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ApiError::ServiceUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn reason(&self) -> &'static str {
        match self {
            ApiError::BadRequest { .. } => "BadRequest",
            ApiError::NotFound { .. } => "NotFound",
            ApiError::AlreadyExists { .. } => "AlreadyExists",
            ApiError::Conflict { .. } => "Conflict",
            ApiError::Invalid { .. } => "Invalid",
            ApiError::MethodNotAllowed { .. } => "MethodNotAllowed",
            ApiError::NotAcceptable { .. } => "NotAcceptable",
            ApiError::UnsupportedMediaType { .. } => "UnsupportedMediaType",
            ApiError::Gone { .. } => "Gone",
            ApiError::Expired { .. } => "Expired",
            ApiError::RequestEntityTooLarge { .. } => "RequestEntityTooLarge",
            ApiError::Forbidden { .. } => "Forbidden",
            ApiError::Unauthorized { .. } => "Unauthorized",
            ApiError::TooManyRequests { .. } => "TooManyRequests",
            ApiError::Timeout { .. } => "Timeout",
            ApiError::ServiceUnavailable { .. } => "ServiceUnavailable",
            ApiError::Internal { .. } => "InternalError",
        }
    }

    /// The `Status` object for this error.
    pub fn to_status(&self) -> Value {
        let status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.to_string(),
            "reason": self.reason(),
            "code": self.code().as_u16(),
        });
        let details = match self {
            ApiError::NotFound { subject, .. }
            | ApiError::AlreadyExists { subject, .. }
            | ApiError::Forbidden { subject, .. } => Some(subject_details(subject)),
            ApiError::Invalid { subject, causes, .. } | ApiError::Conflict { subject, causes, .. } => {
                let mut d = subject_details(subject);
                if causes.is_empty() {
                    return finish(status, Some(d));
                }
                let causes: Vec<Value> = causes
                    .iter()
                    .map(|c| {
                        // Causes carry the detail; kubectl prefixes the field itself.
                        let detail = c.message.strip_prefix(&format!("{}: ", c.field)).unwrap_or(&c.message);
                        json!({"reason": c.reason, "message": detail, "field": c.field})
                    })
                    .collect();
                d["causes"] = Value::Array(causes);
                Some(d)
            }
            ApiError::TooManyRequests { retry_after_seconds: Some(s), .. } => {
                Some(json!({"retryAfterSeconds": s}))
            }
            _ => None,
        };
        finish(status, details)
    }
}

fn finish(mut status: Value, details: Option<Value>) -> Value {
    if let Some(d) = details {
        status["details"] = d;
    }
    status
}

fn subject(group: &str, kind: &str, name: &str) -> Subject {
    Subject { group: group.to_string(), kind: kind.to_string(), name: name.to_string() }
}

fn subject_details(s: &Subject) -> Value {
    let mut d = serde_json::Map::new();
    if !s.name.is_empty() {
        d.insert("name".into(), Value::String(s.name.clone()));
    }
    if !s.group.is_empty() {
        d.insert("group".into(), Value::String(s.group.clone()));
    }
    if !s.kind.is_empty() {
        d.insert("kind".into(), Value::String(s.kind.clone()));
    }
    Value::Object(d)
}

/// `pods` or `deployments.apps`, as upstream qualifies resources in messages.
pub fn qualified(group: &str, resource: &str) -> String {
    if group.is_empty() {
        resource.to_string()
    } else {
        format!("{resource}.{group}")
    }
}

impl From<storage::StorageError> for ApiError {
    fn from(err: storage::StorageError) -> Self {
        use storage::StorageError as E;
        match err {
            E::Compacted { requested, compacted } => ApiError::Expired {
                message: format!(
                    "too old resource version: {requested} ({compacted})"
                ),
            },
            E::FutureRevision { requested, current } => ApiError::Timeout {
                message: format!(
                    "Too large resource version: {requested}, current: {current}"
                ),
            },
            E::Unavailable(m) => ApiError::ServiceUnavailable { message: format!("storage unavailable: {m}") },
            other => ApiError::internal(format!("storage error: {other}")),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if matches!(self, ApiError::Internal { .. }) {
            tracing::error!(error = %self, "internal error");
        }
        let body = serde_json::to_vec(&self.to_status()).unwrap_or_default();
        let mut resp = (self.code(), body).into_response();
        resp.headers_mut()
            .insert(axum::http::header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
        if let ApiError::TooManyRequests { retry_after_seconds: Some(s), .. } = &self {
            if let Ok(v) = HeaderValue::from_str(&s.to_string()) {
                resp.headers_mut().insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_message_lists_every_cause() {
        let err = ApiError::invalid(
            "",
            "Pod",
            "web",
            vec![
                FieldError::not_supported("spec.restartPolicy", &json!("always"), &["Always", "OnFailure", "Never"]),
                FieldError::required("spec.containers[0].image", ""),
            ],
        );
        assert_eq!(
            err.to_string(),
            "Pod \"web\" is invalid: [spec.restartPolicy: Unsupported value: \"always\": supported values: \"Always\", \"OnFailure\", \"Never\", spec.containers[0].image: Required value]"
        );
        let status = err.to_status();
        assert_eq!(status["code"], 422);
        assert_eq!(status["details"]["causes"][1]["field"], "spec.containers[0].image");
    }

    #[test]
    fn not_found_qualifies_group() {
        let err = ApiError::not_found("apps", "deployments", "web");
        assert_eq!(err.to_string(), "deployments.apps \"web\" not found");
        assert_eq!(err.to_status()["details"]["kind"], "deployments");
    }
}
