//! Table-driven tests: `fieldsv1` (encoding, paths), `apply` and `update`
//! replay sequences of writes against the real Deployment / ConfigMap / Pod
//! schemas, `props` throws random configurations at `apply`.

mod apply;
mod fieldsv1;
mod props;
mod update;

use serde_json::{json, Value};

use super::{apply, update, ApplyError, Manager};
use crate::patch::meta::PatchMeta;

pub(super) const T1: &str = "2025-01-01T00:00:00Z";
pub(super) const T2: &str = "2025-01-02T00:00:00Z";

/// One write in a scenario.
pub(super) enum Op {
    /// Server-side apply of a configuration.
    Apply {
        manager: &'static str,
        config: Value,
        force: bool,
    },
    /// An ordinary write: the new object is the current one with `edit`
    /// applied.
    Update {
        manager: &'static str,
        edit: fn(&mut Value),
    },
    /// A create by an ordinary write.
    Create { manager: &'static str, body: Value },
}

pub(super) fn apply_op(manager: &'static str, config: Value) -> Op {
    Op::Apply {
        manager,
        config,
        force: false,
    }
}

pub(super) fn force_op(manager: &'static str, config: Value) -> Op {
    Op::Apply {
        manager,
        config,
        force: true,
    }
}

/// Runs `ops` from nothing, each at time `T1`, stopping at the first error.
/// The API version is the first body's.
pub(super) fn run(meta: &dyn PatchMeta, ops: Vec<Op>) -> Result<Value, ApplyError> {
    let first = ops.iter().find_map(|op| match op {
        Op::Apply { config, .. } => config.get("apiVersion").and_then(Value::as_str),
        Op::Create { body, .. } => body.get("apiVersion").and_then(Value::as_str),
        Op::Update { .. } => None,
    });
    let api_version = first.unwrap_or("v1").to_string();
    let api_version = api_version.as_str();
    let mut object = Value::Null;
    for op in ops {
        object = match op {
            Op::Apply {
                manager,
                config,
                force,
            } => apply(
                &object,
                &config,
                &Manager::new(manager, api_version, T1),
                force,
                meta,
            )?,
            Op::Update { manager, edit } => {
                let mut new = object.clone();
                edit(&mut new);
                update(
                    Some(&object),
                    &new,
                    &Manager::new(manager, api_version, T1),
                    meta,
                )
            }
            Op::Create { manager, body } => {
                update(None, &body, &Manager::new(manager, api_version, T1), meta)
            }
        };
    }
    Ok(object)
}

/// The object without `managedFields`, and its entries as
/// `(manager, operation, fieldsV1 as compact JSON)`.
pub(super) fn split(mut object: Value) -> (Value, Vec<(String, String, String)>) {
    let entries = object
        .get_mut("metadata")
        .and_then(Value::as_object_mut)
        .and_then(|m| m.shift_remove("managedFields"))
        .unwrap_or(Value::Null);
    let entries = entries
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|e| {
                    let text = |k: &str| e.get(k).and_then(Value::as_str).unwrap_or("").to_string();
                    (
                        text("manager"),
                        text("operation"),
                        e.get("fieldsV1").map(Value::to_string).unwrap_or_default(),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    (object, entries)
}

/// Expected entries: `(manager, operation, fieldsV1)`.
pub(super) type Entries<'a> = &'a [(&'a str, &'a str, &'a str)];

/// What a scenario ends with: the object without managedFields and its
/// entries, or the error message.
pub(super) type Outcome<'a> = Result<(Value, Entries<'a>), &'a str>;

/// Runs a scenario and checks the resulting object (without managedFields)
/// and entries, or the error message.
pub(super) fn check(meta: &dyn PatchMeta, ops: Vec<Op>, expected: Outcome<'_>) {
    let got = run(meta, ops).map(split).map_err(|e| e.to_string());
    let expected = expected
        .map(|(object, entries)| {
            let entries = entries
                .iter()
                .map(|(m, o, f)| (m.to_string(), o.to_string(), f.to_string()))
                .collect::<Vec<_>>();
            (object, entries)
        })
        .map_err(str::to_string);
    assert_eq!(got, expected);
}

/// A Deployment with the given replicas and containers.
pub(super) fn deployment(replicas: i64, containers: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "default"},
        "spec": {
            "replicas": replicas,
            "template": {"spec": {"containers": containers}}
        }
    })
}
