//! Random configurations: apply never panics, its managedFields always
//! decode, and re-applying a configuration is a no-op.

use k8s_openapi::api::apps::v1::Deployment;
use proptest::prelude::*;
use serde_json::{json, Map, Value};

use super::{T1, T2};
use crate::managed::{apply, decode_managed_fields, update, Manager};
use crate::patch::k8s_meta::for_type;

const KEYS: &[&str] = &[
    "metadata",
    "labels",
    "finalizers",
    "name",
    "spec",
    "replicas",
    "template",
    "containers",
    "image",
    "env",
    "value",
    "ports",
    "containerPort",
    "selector",
    "status",
    "x",
    "$patch",
];

fn leaf() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (0i64..3).prop_map(|n| json!(n)),
        Just(json!(1.5)),
        prop::sample::select(vec!["a", "b", "nginx"]).prop_map(|s| json!(s)),
    ]
}

fn value() -> impl Strategy<Value = Value> {
    leaf().prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(KEYS), inner), 0..4).prop_map(|entries| {
                Value::Object(
                    entries
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), v))
                        .collect::<Map<String, Value>>(),
                )
            }),
        ]
    })
}

/// A configuration: a Deployment shell with random content.
fn config() -> impl Strategy<Value = Value> {
    (value(), value()).prop_map(|(spec, metadata)| {
        let mut metadata = match metadata {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        metadata.shift_remove("managedFields");
        metadata.insert("name".into(), json!("web"));
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata, "spec": spec})
    })
}

fn live() -> impl Strategy<Value = Value> {
    config().prop_map(|mut c| {
        c["spec"] = json!({
            "replicas": 1,
            "template": {"spec": {"containers": [{"name": "nginx", "image": "a", "env": [{"name": "a", "value": "b"}]}]}}
        });
        c
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn apply_never_panics(live in live(), first in config(), second in config(), edit in value(), force in any::<bool>()) {
        let meta = for_type::<Deployment>();
        let owned = update(None, &live, &Manager::new("creator", "apps/v1", T1), &meta);
        let applied = apply(&owned, &first, &Manager::new("a", "apps/v1", T1), force, &meta);
        if let Ok(object) = &applied {
            let entries = object.pointer("/metadata/managedFields").cloned().unwrap_or(Value::Null);
            prop_assert!(decode_managed_fields(&entries).is_ok(), "{entries}");
            // Re-applying the same configuration changes nothing.
            let again = apply(object, &first, &Manager::new("a", "apps/v1", T2), false, &meta);
            prop_assert_eq!(again.as_ref(), Ok(object));
            // Others may write in between.
            let mut edited = object.clone();
            if let Some(spec) = edited.get_mut("spec").and_then(Value::as_object_mut) {
                spec.insert("x".into(), edit.clone());
            }
            let edited = update(Some(object), &edited, &Manager::new("b", "apps/v1", T2), &meta);
            let _ = apply(&edited, &second, &Manager::new("a", "apps/v1", T2), force, &meta);
            let _ = apply(&edited, &second, &Manager::new("c", "apps/v1", T2), force, &meta);
        }
        let _ = apply(&edit, &first, &Manager::new("a", "apps/v1", T1), force, &meta);
    }
}

/// The field set of a random object (leaves, list items, empty maps).
fn field_set() -> impl Strategy<Value = crate::managed::FieldSet> {
    config().prop_map(|c| crate::managed::FieldSet::from_object(&c, &for_type::<Deployment>()))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// The in-place set operations the update path uses agree with the
    /// copying ones.
    #[test]
    fn in_place_set_operations_match_copying_ones(a in field_set(), b in field_set()) {
        let mut absorbed = a.clone();
        absorbed.absorb(b.clone());
        prop_assert_eq!(&absorbed, &a.union(&b));
        let mut removed = a.clone();
        removed.remove_all(&b);
        prop_assert_eq!(&removed, &a.difference(&b));
        let mut below = a.clone();
        below.remove_below(&b);
        prop_assert_eq!(&below, &a.recursive_difference(&b));
    }
}
