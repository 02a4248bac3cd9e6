//! Errors of field management.

use super::conflict::{conflict_message, Conflict};

/// A `fieldsV1` document that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FieldsV1Error {
    #[error("fieldsV1 must be a JSON object at {at}")]
    NotAnObject { at: String },
    #[error("parsing key as path element {key:?}: {reason}")]
    BadPathElement { key: String, reason: String },
}

/// A `metadata.managedFields` list that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManagedFieldsError {
    #[error("managedFields must be a list")]
    NotAList,
    #[error("managed fields entry {index} is not an object")]
    NotAnEntry { index: usize },
    #[error("operation must be `Apply` or `Update` in managed fields entry {index}")]
    BadOperation { index: usize },
    #[error("apiVersion must not be empty in managed fields entry {index}")]
    NoApiVersion { index: usize },
    #[error("missing fieldsType in managed fields entry {index}")]
    NoFieldsType { index: usize },
    #[error("invalid fieldsType {fields_type:?} in managed fields entry {index}")]
    BadFieldsType { index: usize, fields_type: String },
    #[error("error decoding fieldsV1 of managed fields entry {index}: {source}")]
    Fields {
        index: usize,
        #[source]
        source: FieldsV1Error,
    },
}

/// Why a server-side apply was refused.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ApplyError {
    /// 409: fields the configuration sets are owned by other managers with
    /// other values. The message is upstream's; see [`Conflict`] for the
    /// per-field causes.
    #[error("{}", conflict_message(.0))]
    Conflicts(Vec<Conflict>),
    /// 400: the configuration carries `metadata.managedFields`.
    #[error("metadata.managedFields must be nil")]
    ManagedFieldsInConfig,
    /// 400: the configuration (or the live object) is not a JSON object.
    #[error("{what} must be a JSON object")]
    NotAnObject { what: &'static str },
}
