//! What the watch cache indexes about an object (name, namespace, labels,
//! deletion, selectable fields), read straight from its JSON: serde skips
//! everything else without building a `Value`.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::Deserialize;
use serde_json::Value;

use super::object::default_field;

/// The indexed parts of one object.
#[derive(Debug, Default, PartialEq)]
pub struct Summary {
    pub name: String,
    pub namespace: String,
    pub labels: BTreeMap<String, String>,
    pub deleting: bool,
    /// The value of each selectable field, in the order asked for.
    pub fields: Vec<(&'static str, String)>,
}

impl Summary {
    /// Reads `json`, an object, for the given selectable field paths
    /// (`spec.nodeName`, ...).
    pub fn read(json: &[u8], selectable: &'static [&'static str]) -> Result<Summary, serde_json::Error> {
        let wanted: Vec<(usize, &str)> = selectable.iter().copied().enumerate().collect();
        let mut values: Vec<Option<String>> = vec![None; selectable.len()];
        let mut meta = None;
        let mut de = serde_json::Deserializer::from_slice(json);
        Level { wanted: &wanted, values: &mut values, meta: Some(&mut meta) }.deserialize(&mut de)?;
        de.end()?;
        let meta = meta.unwrap_or_default();
        let fields = selectable
            .iter()
            .zip(values)
            .map(|(path, value)| (*path, value.unwrap_or_else(|| default_field(path))))
            .collect();
        Ok(Summary {
            name: meta.name,
            namespace: meta.namespace,
            labels: meta.labels.unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
            fields,
        })
    }
}

#[derive(Default, Deserialize)]
struct Meta {
    #[serde(default)]
    name: String,
    #[serde(default)]
    namespace: String,
    #[serde(default)]
    labels: Option<BTreeMap<String, String>>,
    #[serde(default, rename = "deletionTimestamp")]
    deletion_timestamp: Option<IgnoredAny>,
}

/// One object on the way to the wanted fields: `wanted` holds each field's
/// index and its path below this object (`nodeName`, `spec.nodeName`).
/// At the top (`meta` set) it must be an object and its `metadata` is read;
/// below, anything that is not an object holds none of the fields.
struct Level<'a, 'p> {
    wanted: &'a [(usize, &'p str)],
    values: &'a mut [Option<String>],
    meta: Option<&'a mut Option<Meta>>,
}

impl<'de> DeserializeSeed<'de> for Level<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.meta.is_some() {
            d.deserialize_map(self)
        } else {
            d.deserialize_any(self)
        }
    }
}

impl<'de> Visitor<'de> for Level<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        while let Some(Key(key)) = map.next_key::<Key<'de>>()? {
            match self.meta.as_deref_mut() {
                Some(meta) if key == "metadata" => *meta = Some(map.next_value()?),
                _ => visit_member(&mut map, &key, self.wanted, self.values)?,
            }
        }
        Ok(())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// The value of member `key`: a wanted field's value, a subtree holding
/// some, or skipped.
fn visit_member<'de, A: MapAccess<'de>>(
    map: &mut A,
    key: &str,
    wanted: &[(usize, &str)],
    values: &mut [Option<String>],
) -> Result<(), A::Error> {
    // Each wanted path split at its first segment: `None` below = a leaf.
    let below: Vec<(usize, Option<&str>)> = wanted
        .iter()
        .filter_map(|(i, path)| match path.split_once('.') {
            Some((head, rest)) if head == key => Some((*i, Some(rest))),
            None if *path == key => Some((*i, None)),
            _ => None,
        })
        .collect();
    if below.is_empty() {
        map.next_value::<IgnoredAny>()?;
    } else if below.iter().any(|(_, rest)| rest.is_none()) {
        // A leaf: render it as field selectors compare it.
        let value: Value = map.next_value()?;
        for (i, rest) in &below {
            if rest.is_none() {
                values[*i] = render_scalar(&value);
            }
        }
    } else {
        let inner: Vec<(usize, &str)> = below.into_iter().filter_map(|(i, rest)| Some((i, rest?))).collect();
        map.next_value_seed(Level { wanted: &inner, values, meta: None })?;
    }
    Ok(())
}

/// A scalar as field selectors compare it; `None` (the field's default)
/// for anything else.
fn render_scalar(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// An object key, borrowed from the input unless it has escapes.
struct Key<'de>(Cow<'de, str>);

impl<'de> Deserialize<'de> for Key<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = Key<'de>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, s: &'de str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Borrowed(s)))
            }
            fn visit_str<E>(self, s: &str) -> Result<Key<'de>, E> {
                Ok(Key(Cow::Owned(s.to_owned())))
            }
        }
        d.deserialize_str(KeyVisitor)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::cache::object::field_value;

    const POD_FIELDS: &[&str] = &["spec.nodeName", "spec.hostNetwork", "status.phase", "spec.restartPolicy", "status.podIP"];

    /// The reference: the `Value` path the cache used before.
    fn reference(v: &Value, selectable: &'static [&'static str]) -> Summary {
        let meta = &v["metadata"];
        Summary {
            name: meta["name"].as_str().unwrap_or("").into(),
            namespace: meta["namespace"].as_str().unwrap_or("").into(),
            labels: meta["labels"]
                .as_object()
                .map(|m| m.iter().map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").into())).collect())
                .unwrap_or_default(),
            deleting: !meta["deletionTimestamp"].is_null(),
            fields: selectable.iter().map(|f| (*f, field_value(v, f))).collect(),
        }
    }

    #[test]
    fn reads_what_the_value_path_reads() {
        let cases = [
            json!({"metadata": {"name": "p", "namespace": "ns", "labels": {"app": "web", "a\"b": "c"}},
                   "spec": {"nodeName": "n1", "containers": [{"name": "c"}], "hostNetwork": true},
                   "status": {"phase": "Running", "podIP": "10.0.0.1"}}),
            json!({"metadata": {"name": "p", "deletionTimestamp": "2026-01-01T00:00:00Z"}, "spec": {}}),
            json!({"metadata": {"name": "p", "deletionTimestamp": null}, "spec": [1, 2], "status": "odd"}),
            json!({"spec": {"nodeName": {"nested": 1}, "restartPolicy": 7}}),
            json!({"status": {"phase": null}, "metadata": {}}),
        ];
        for case in cases {
            let bytes = serde_json::to_vec(&case).unwrap();
            assert_eq!(Summary::read(&bytes, POD_FIELDS).unwrap(), reference(&case, POD_FIELDS), "{case}");
        }
    }

    #[test]
    fn escaped_keys_and_fields_without_a_subtree() {
        let bytes = br#"{"metadata":{"name":"a","labels":{"k\u0031":"v"}},"t\u0079pe":"Opaque"}"#;
        let summary = Summary::read(bytes, &["type"]).unwrap();
        assert_eq!(summary.labels.get("k1").map(String::as_str), Some("v"));
        assert_eq!(summary.fields, vec![("type", "Opaque".to_string())]);
    }

    #[test]
    fn rejects_what_is_not_an_object() {
        for bad in [&b"[1]"[..], b"{\"metadata\":{\"labels\":{\"a\":1}}}", b"{\"metadata\":{}} x"] {
            assert!(Summary::read(bad, POD_FIELDS).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
