//! The one error type of the crate.

/// Why a body could not be decoded, or an object could not be encoded.
///
/// Every variant names what it could not handle (the message, field path, apiVersion or
/// kind), so the server can put the text straight into a `400 BadRequest` Status.
#[derive(Debug, thiserror::Error)]
pub enum ProtoError {
    /// The body does not start with the 4-byte `k8s\0` magic.
    #[error("not a Kubernetes protobuf body: expected the magic bytes 6b 38 73 00 (\"k8s\\0\"), found {found}")]
    BadMagic {
        /// The first bytes of the body, in hex (or a note that it was too short).
        found: String,
    },

    /// The `runtime.Unknown` envelope after the magic is not valid protobuf.
    #[error("malformed runtime.Unknown envelope: {source}")]
    Envelope {
        #[source]
        source: prost::DecodeError,
    },

    /// The envelope (or the JSON object to encode) has no apiVersion or kind.
    #[error("the object has no {missing}: apiVersion and kind are both required")]
    MissingTypeMeta {
        /// `"apiVersion"` or `"kind"`.
        missing: &'static str,
    },

    /// No protobuf message is known for this apiVersion and kind.
    #[error("no protobuf schema for kind {kind:?} in apiVersion {api_version:?}")]
    UnknownKind { api_version: String, kind: String },

    /// The envelope announces an encoding of `raw` that is not supported (e.g. gzip).
    #[error(
        "unsupported runtime.Unknown contentEncoding {0:?} (only the empty encoding is supported)"
    )]
    UnsupportedContentEncoding(String),

    /// The envelope announces a content type of `raw` that is neither protobuf nor JSON.
    #[error("unsupported runtime.Unknown contentType {0:?}")]
    UnsupportedContentType(String),

    /// The object bytes are not a valid encoding of their message.
    #[error("malformed protobuf for {message}{}: {source}", field.as_deref().map(|f| format!(" at field {f}")).unwrap_or_default())]
    Malformed {
        /// Full protobuf name of the message being decoded, e.g. `k8s.io.api.apps.v1.Deployment`.
        message: String,
        /// Dotted path of the field where decoding failed, when it can be told.
        field: Option<String>,
        /// prost's error, which names the nested `Message.field` where decoding stopped.
        #[source]
        source: prost::DecodeError,
    },

    /// A value does not fit its field (bad time, integer out of range, wrong JSON type, ...).
    #[error("invalid value at {path}: {reason}")]
    InvalidValue {
        /// Dotted field path from the object root, e.g. `spec.template.spec.containers[0].ports`.
        path: String,
        reason: String,
    },

    /// A JSON field that the message does not have (encode only).
    #[error("unknown field {path:?} in {message}")]
    UnknownField {
        /// Full protobuf name of the message, e.g. `k8s.io.api.core.v1.ConfigMap`.
        message: String,
        /// Dotted field path from the object root.
        path: String,
    },

    /// The input of [`encode`](crate::encode) is not a JSON object.
    #[error("expected a JSON object, found {0}")]
    NotAnObject(&'static str),

    /// The embedded schema is unusable: a build problem, never caused by input.
    #[error("embedded Kubernetes protobuf schema is unusable: {0}")]
    Schema(String),
}

impl ProtoError {
    /// An [`InvalidValue`](Self::InvalidValue) at the current position; callers prepend
    /// the outer path segments with [`at`](Self::at) while the error travels up.
    pub(crate) fn invalid(reason: impl Into<String>) -> Self {
        ProtoError::InvalidValue {
            path: String::new(),
            reason: reason.into(),
        }
    }

    /// Prepends a path segment (`name` for a field, `[3]`/`[key]` for an element).
    pub(crate) fn at(mut self, segment: &str) -> Self {
        if let ProtoError::InvalidValue { path, .. } | ProtoError::UnknownField { path, .. } =
            &mut self
        {
            if path.is_empty() {
                *path = segment.to_owned();
            } else if path.starts_with('[') {
                *path = format!("{segment}{path}");
            } else {
                *path = format!("{segment}.{path}");
            }
        }
        self
    }
}

/// The JSON type name of a value, for error messages.
pub(crate) fn json_type(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "an array",
        serde_json::Value::Object(_) => "an object",
    }
}
