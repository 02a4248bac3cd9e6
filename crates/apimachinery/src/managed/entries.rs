//! `metadata.managedFields` entries: decoding, manager identity, encoding in
//! upstream's order.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

use super::error::ManagedFieldsError;
use super::path::go_json_str;
use super::set::FieldSet;

/// The operation an entry records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Operation {
    Apply,
    Update,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Apply => "Apply",
            Operation::Update => "Update",
        }
    }
}

/// One `metav1.ManagedFieldsEntry`.
#[derive(Debug, Clone, PartialEq)]
pub struct ManagedFieldsEntry {
    pub manager: String,
    pub operation: Operation,
    pub api_version: String,
    /// RFC 3339, as given by the caller.
    pub time: Option<String>,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl ManagedFieldsEntry {
    /// Upstream `BuildManagerIdentifier`: the entry without its fields and
    /// time (and, for appliers, without its apiVersion) as Go encodes it.
    /// Entries with the same identity are the same manager.
    pub fn identity(&self) -> String {
        identity(
            &self.manager,
            self.operation,
            &self.api_version,
            self.subresource.as_deref(),
        )
    }

    /// The entry as JSON, fields in Go's struct order.
    pub fn to_json(&self) -> Value {
        let mut out = Map::new();
        out.insert("manager".into(), Value::String(self.manager.clone()));
        out.insert(
            "operation".into(),
            Value::String(self.operation.as_str().into()),
        );
        out.insert("apiVersion".into(), Value::String(self.api_version.clone()));
        if let Some(time) = &self.time {
            out.insert("time".into(), Value::String(time.clone()));
        }
        out.insert("fieldsType".into(), Value::String("FieldsV1".into()));
        out.insert("fieldsV1".into(), self.fields.to_fields_v1());
        if let Some(subresource) = &self.subresource {
            out.insert("subresource".into(), Value::String(subresource.clone()));
        }
        Value::Object(out)
    }
}

pub(crate) fn identity(
    manager: &str,
    operation: Operation,
    api_version: &str,
    subresource: Option<&str>,
) -> String {
    let mut parts = Vec::new();
    if !manager.is_empty() {
        parts.push(format!(
            "\"manager\":{}",
            go_json_str(manager)
        ));
    }
    parts.push(format!("\"operation\":\"{}\"", operation.as_str()));
    if operation == Operation::Update && !api_version.is_empty() {
        parts.push(format!(
            "\"apiVersion\":{}",
            go_json_str(api_version)
        ));
    }
    if let Some(sub) = subresource.filter(|s| !s.is_empty()) {
        parts.push(format!(
            "\"subresource\":{}",
            go_json_str(sub)
        ));
    }
    format!("{{{}}}", parts.join(","))
}

/// Entries by identity.
pub(crate) type Managers = BTreeMap<String, ManagedFieldsEntry>;

/// Whether a request's `managedFields` asks for a reset (`[{}]`).
pub(crate) fn is_reset(value: Option<&Value>) -> bool {
    matches!(value, Some(Value::Array(items)) if items.len() == 1
        && items.first().is_some_and(|e| e.as_object().is_some_and(Map::is_empty)))
}

/// Reads `metadata.managedFields` (absent or `null`: no entries). Entries
/// with the same identity: the last one wins.
pub fn decode_managed_fields(value: &Value) -> Result<Vec<ManagedFieldsEntry>, ManagedFieldsError> {
    let items = match value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(items) => items,
        _ => return Err(ManagedFieldsError::NotAList),
    };
    items
        .iter()
        .enumerate()
        .map(|(index, item)| decode_entry(index, item))
        .collect()
}

fn decode_entry(index: usize, item: &Value) -> Result<ManagedFieldsEntry, ManagedFieldsError> {
    let Value::Object(map) = item else {
        return Err(ManagedFieldsError::NotAnEntry { index });
    };
    let text = |key: &str| map.get(key).and_then(Value::as_str).unwrap_or_default();
    let operation = match text("operation") {
        "Apply" => Operation::Apply,
        "Update" => Operation::Update,
        _ => return Err(ManagedFieldsError::BadOperation { index }),
    };
    let api_version = text("apiVersion");
    if api_version.is_empty() {
        return Err(ManagedFieldsError::NoApiVersion { index });
    }
    match text("fieldsType") {
        "FieldsV1" => {}
        "" => return Err(ManagedFieldsError::NoFieldsType { index }),
        other => {
            return Err(ManagedFieldsError::BadFieldsType {
                index,
                fields_type: other.to_string(),
            })
        }
    }
    let fields = match map.get("fieldsV1") {
        None | Some(Value::Null) => FieldSet::new(),
        Some(v) => FieldSet::from_fields_v1(v)
            .map_err(|source| ManagedFieldsError::Fields { index, source })?,
    };
    let optional = |key: &str| Some(text(key).to_string()).filter(|s| !s.is_empty());
    Ok(ManagedFieldsEntry {
        manager: text("manager").to_string(),
        operation,
        api_version: api_version.to_string(),
        time: optional("time"),
        subresource: optional("subresource"),
        fields,
    })
}

pub(crate) fn decode_managers(value: Option<&Value>) -> Result<Managers, ManagedFieldsError> {
    let entries = decode_managed_fields(value.unwrap_or(&Value::Null))?;
    Ok(entries.into_iter().map(|e| (e.identity(), e)).collect())
}

/// Encodes entries as `metadata.managedFields`, in upstream's order
/// (operation, time, manager, apiVersion, subresource). Entries with no
/// fields are dropped.
pub fn encode_managed_fields<'a>(
    entries: impl IntoIterator<Item = &'a ManagedFieldsEntry>,
) -> Value {
    let mut entries: Vec<&ManagedFieldsEntry> = entries
        .into_iter()
        .filter(|e| !e.fields.is_empty())
        .collect();
    entries.sort_by(|p, q| {
        p.operation
            .cmp(&q.operation)
            .then_with(|| {
                p.time
                    .as_deref()
                    .unwrap_or("")
                    .cmp(q.time.as_deref().unwrap_or(""))
            })
            .then_with(|| p.manager.cmp(&q.manager))
            .then_with(|| p.api_version.cmp(&q.api_version))
            .then_with(|| {
                p.subresource
                    .as_deref()
                    .unwrap_or("")
                    .cmp(q.subresource.as_deref().unwrap_or(""))
            })
    });
    Value::Array(
        entries
            .into_iter()
            .map(ManagedFieldsEntry::to_json)
            .collect(),
    )
}
