//! Property tests: random documents and patches never panic, diffs round-trip,
//! and selectors re-parse from their canonical form.

use std::sync::OnceLock;

use apimachinery::patch::k8s_meta::{for_type, SchemaPatchMeta};
use apimachinery::patch::meta::{DefaultPatchMeta, PatchMeta, TreeMeta};
use apimachinery::patch::strategic::{
    apply_strategic_patch, create_three_way_merge_patch, create_two_way_merge_patch,
};
use apimachinery::selector::fields::FieldSelector;
use apimachinery::selector::labels::LabelSelector;
use k8s_openapi::api::core::v1::Pod;
use proptest::prelude::*;
use serde_json::{Map, Value};

/// Keys that hit merge lists, directives and Pod fields often.
const KEYS: &[&str] = &[
    "name",
    "value",
    "a",
    "b",
    "spec",
    "containers",
    "env",
    "ports",
    "containerPort",
    "volumes",
    "metadata",
    "finalizers",
    "labels",
    "mergingList",
    "mergingIntList",
    "items",
    "tags",
    "$patch",
    "$retainKeys",
    "$setElementOrder/containers",
    "$setElementOrder/mergingList",
    "$setElementOrder/mergingIntList",
    "$deleteFromPrimitiveList/mergingIntList",
    "$deleteFromPrimitiveList/finalizers",
    "$setElementOrder/finalizers",
    "$setElementOrder",
];

const STRINGS: &[&str] = &["delete", "replace", "merge", "x", "name", "1", "a", "c"];

fn leaf(allow_null: bool) -> BoxedStrategy<Value> {
    let mut options: Vec<BoxedStrategy<Value>> = vec![
        any::<bool>().prop_map(Value::Bool).boxed(),
        (-3i64..5).prop_map(Value::from).boxed(),
        prop::sample::select(STRINGS).prop_map(Value::from).boxed(),
    ];
    if allow_null {
        options.push(Just(Value::Null).boxed());
        options.push((-2.0f64..2.0).prop_map(Value::from).boxed());
    }
    prop::strategy::Union::new(options).boxed()
}

fn json_value(keys: &'static [&'static str], allow_null: bool) -> BoxedStrategy<Value> {
    leaf(allow_null)
        .prop_recursive(4, 48, 4, move |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(keys), inner), 0..5).prop_map(
                    |entries| {
                        Value::Object(
                            entries
                                .into_iter()
                                .map(|(k, v)| (k.to_string(), v))
                                .collect(),
                        )
                    }
                ),
            ]
        })
        .boxed()
}

fn json_object(keys: &'static [&'static str], allow_null: bool) -> BoxedStrategy<Value> {
    prop::collection::vec(
        (prop::sample::select(keys), json_value(keys, allow_null)),
        0..6,
    )
    .prop_map(|entries| {
        Value::Object(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    })
    .boxed()
}

fn pod_meta() -> &'static SchemaPatchMeta {
    static META: OnceLock<SchemaPatchMeta> = OnceLock::new();
    META.get_or_init(for_type::<Pod>)
}

fn tree_meta() -> TreeMeta {
    let item = TreeMeta::new()
        .merge_list(
            "mergingList",
            "name",
            TreeMeta::new().merge_primitive_list("mergingIntList"),
        )
        .merge_primitive_list("mergingIntList");
    item.clone()
        .merge_list("mergingList", "name", item)
        .merge_list("items", "name", TreeMeta::new())
        .merge_primitive_list("tags")
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn apply_never_panics(original in json_object(KEYS, true), patch in json_object(KEYS, true)) {
        let metas: [&dyn PatchMeta; 3] = [&DefaultPatchMeta, &tree_meta(), pod_meta()];
        for meta in metas {
            let _ = apply_strategic_patch(&original, &patch, meta);
            let _ = create_two_way_merge_patch(&original, &patch, meta);
        }
    }

    #[test]
    fn apply_never_panics_on_any_value(original in json_value(KEYS, true), patch in json_value(KEYS, true)) {
        let _ = apply_strategic_patch(&original, &patch, &tree_meta());
    }
}

const PLAIN_KEYS: &[&str] = &["a", "b", "c", "name", "value"];

/// A document for [`tree_meta`] whose merge lists are well formed: `items`
/// have unique names, `tags` are unique strings.
fn keyed_document() -> BoxedStrategy<Value> {
    let items = prop::collection::vec(
        (
            prop::sample::select(&["p", "q", "r", "s", "t"][..]),
            json_value(PLAIN_KEYS, false),
        ),
        0..5,
    )
    .prop_map(|entries| {
        let mut seen = Vec::new();
        let mut out = Vec::new();
        for (name, v) in entries {
            if seen.contains(&name) {
                continue;
            }
            seen.push(name);
            let mut item = Map::new();
            item.insert("name".into(), Value::from(name));
            item.insert("v".into(), v);
            out.push(Value::Object(item));
        }
        out
    });
    let tags = prop::collection::vec(prop::sample::select(&["t1", "t2", "t3", "t4"][..]), 0..5)
        .prop_map(|tags| {
            let mut out: Vec<Value> = Vec::new();
            for t in tags {
                if !out.contains(&Value::from(t)) {
                    out.push(Value::from(t));
                }
            }
            out
        });
    (
        prop::option::of(items),
        prop::option::of(tags),
        json_object(PLAIN_KEYS, false),
    )
        .prop_map(|(items, tags, rest)| {
            let mut doc = rest.as_object().cloned().unwrap_or_default();
            if let Some(items) = items {
                doc.insert("items".into(), Value::Array(items));
            }
            if let Some(tags) = tags {
                doc.insert("tags".into(), Value::Array(tags));
            }
            Value::Object(doc)
        })
        .boxed()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn diff_round_trips_without_schema(original in json_object(PLAIN_KEYS, false), modified in json_object(PLAIN_KEYS, false)) {
        let patch = create_two_way_merge_patch(&original, &modified, &DefaultPatchMeta);
        prop_assert!(patch.is_ok(), "{patch:?}");
        let patch = patch.unwrap_or_default();
        let applied = apply_strategic_patch(&original, &patch, &DefaultPatchMeta);
        prop_assert_eq!(applied, Ok(modified));
    }

    #[test]
    fn diff_round_trips_with_merge_lists(original in keyed_document(), modified in keyed_document()) {
        let meta = tree_meta();
        let patch = create_two_way_merge_patch(&original, &modified, &meta);
        prop_assert!(patch.is_ok(), "{patch:?}");
        let patch = patch.unwrap_or_default();
        let applied = apply_strategic_patch(&original, &patch, &meta);
        prop_assert_eq!(applied, Ok(modified), "patch {}", patch);
    }

    #[test]
    fn three_way_on_unchanged_live_object_yields_modified(original in keyed_document(), modified in keyed_document()) {
        let meta = tree_meta();
        let patch = create_three_way_merge_patch(&original, &modified, &original, &meta);
        prop_assert!(patch.is_ok(), "{patch:?}");
        let patch = patch.unwrap_or_default();
        let applied = apply_strategic_patch(&original, &patch, &meta);
        prop_assert_eq!(applied, Ok(modified), "patch {}", patch);
    }

    #[test]
    fn three_way_never_panics(a in json_object(KEYS, true), b in json_object(KEYS, true), c in json_object(KEYS, true)) {
        let _ = create_three_way_merge_patch(&a, &b, &c, &tree_meta());
        let _ = create_three_way_merge_patch(&a, &b, &c, pod_meta());
    }

    #[test]
    fn label_selectors_never_panic(input in "[a-z0-9!=(),<> \t./_-]{0,40}|(in|notin|[a-z]|!|=|==|!=|,|\\(|\\)| ){0,20}") {
        if let Ok(selector) = LabelSelector::parse(&input) {
            let rendered = selector.to_string();
            let again = LabelSelector::parse(&rendered).map(|s| s.to_string());
            prop_assert_eq!(again, Ok(rendered));
        }
    }

    #[test]
    fn label_selectors_accept_any_string(input in any::<String>()) {
        let _ = LabelSelector::parse(&input);
    }

    #[test]
    fn field_selectors_round_trip(input in "[a-z.=!,\\\\ ]{0,30}|\\PC{0,20}") {
        // Upstream orders terms by their raw (escaped) text, so the rendering
        // is not always a fixed point; the requirements are.
        if let Ok(selector) = FieldSelector::parse(&input) {
            let sorted = |s: &FieldSelector| {
                let mut r: Vec<String> = s.requirements().iter().map(|r| r.to_string()).collect();
                r.sort();
                r
            };
            let again = FieldSelector::parse(&selector.to_string());
            prop_assert_eq!(again.as_ref().map(sorted), Ok(sorted(&selector)));
        }
    }
}
