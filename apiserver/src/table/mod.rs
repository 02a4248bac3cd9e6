//! Server-side printing: `meta.k8s.io/v1` `Table` responses with upstream's
//! column sets (`pkg/printers/internalversion`), as `kubectl get` asks for.

mod printers;

use jiff::Timestamp;
use serde_json::{json, Value};

pub use printers::printer_for;

/// One column definition.
#[derive(Debug, Clone, Copy)]
pub struct Column {
    pub name: &'static str,
    pub ty: &'static str,
    pub format: &'static str,
    pub description: &'static str,
    /// 0: always shown; 1: only with `-o wide`.
    pub priority: i32,
}

pub const fn col(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column { name, ty, format: "", description, priority: 0 }
}

pub const fn wide(name: &'static str, ty: &'static str, description: &'static str) -> Column {
    Column { name, ty, format: "", description, priority: 1 }
}

pub const NAME: Column = Column {
    name: "Name",
    ty: "string",
    format: "name",
    description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names",
    priority: 0,
};

pub const AGE: Column = Column {
    name: "Age",
    ty: "string",
    format: "",
    description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata",
    priority: 0,
};

/// Columns and a row function for one kind.
#[derive(Clone, Copy)]
pub struct Printer {
    pub columns: &'static [Column],
    pub row: fn(&Value, Timestamp) -> Vec<Value>,
}

/// The default printer: Name and Age.
pub const DEFAULT: Printer = Printer { columns: &[NAME, AGE], row: |obj, now| vec![name(obj), age(obj, now)] };

impl Printer {
    pub fn column_definitions(&self) -> Vec<Value> {
        self.columns
            .iter()
            .map(|c| {
                json!({
                    "name": c.name, "type": c.ty, "format": c.format,
                    "description": c.description, "priority": c.priority,
                })
            })
            .collect()
    }

    /// One Table row for `obj`; `include` is `None`, `Metadata` or `Object`.
    pub fn row(&self, obj: &Value, include: IncludeObject, now: Timestamp) -> Value {
        let cells = (self.row)(obj, now);
        let object = match include {
            IncludeObject::None => Value::Null,
            IncludeObject::Object => obj.clone(),
            IncludeObject::Metadata => json!({
                "kind": "PartialObjectMetadata",
                "apiVersion": "meta.k8s.io/v1",
                "metadata": obj.get("metadata").cloned().unwrap_or(json!({})),
            }),
        };
        let mut row = json!({"cells": cells});
        if !object.is_null() {
            row["object"] = object;
        }
        row
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// A full `Table` for `objects`.
pub fn table(printer: &Printer, objects: &[Value], include: IncludeObject, resource_version: &str, cont: Option<&str>, now: Timestamp) -> Value {
    let rows: Vec<Value> = objects.iter().map(|o| printer.row(o, include, now)).collect();
    let mut meta = json!({"resourceVersion": resource_version});
    if let Some(c) = cont {
        meta["continue"] = json!(c);
    }
    json!({
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": meta,
        "columnDefinitions": printer.column_definitions(),
        "rows": rows,
    })
}

pub fn name(obj: &Value) -> Value {
    json!(obj.pointer("/metadata/name").and_then(Value::as_str).unwrap_or(""))
}

pub fn age(obj: &Value, now: Timestamp) -> Value {
    let created = obj.pointer("/metadata/creationTimestamp").and_then(Value::as_str);
    json!(created.and_then(|c| c.parse::<Timestamp>().ok()).map_or_else(|| "<unknown>".to_string(), |t| human_duration(now.as_second() - t.as_second())))
}

/// Upstream's `duration.HumanDuration` on whole seconds.
pub fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".into();
    }
    let s = seconds.max(0);
    if s < 120 {
        return format!("{s}s");
    }
    let minutes = s / 60;
    if minutes < 10 {
        let rem = s % 60;
        return if rem == 0 { format!("{minutes}m") } else { format!("{minutes}m{rem}s") };
    }
    if minutes < 60 * 3 {
        return format!("{minutes}m");
    }
    let hours = minutes / 60;
    if hours < 8 {
        let rem = minutes % 60;
        return if rem == 0 { format!("{hours}h") } else { format!("{hours}h{rem}m") };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let rem = hours % 24;
        return if rem == 0 { format!("{}d", hours / 24) } else { format!("{}d{rem}h", hours / 24) };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let days = (hours / 24) % 365;
        return if days == 0 { format!("{}y", hours / 24 / 365) } else { format!("{}y{days}d", hours / 24 / 365) };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::human_duration;

    #[test]
    fn human_durations() {
        for (s, want) in [(0, "0s"), (59, "59s"), (119, "119s"), (120, "2m"), (125, "2m5s"), (600, "10m"), (3 * 3600, "3h"), (3 * 3600 + 60, "3h1m"), (30 * 3600, "30h"), (50 * 3600, "2d2h"), (10 * 86400, "10d"), (800 * 86400, "2y70d")] {
            assert_eq!(human_duration(s), want, "{s}");
        }
    }
}
