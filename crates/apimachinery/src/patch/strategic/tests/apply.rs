use serde_json::json;

use super::{check, MergeItem};
use crate::patch::meta::DefaultPatchMeta;

#[test]
fn maps() {
    let m = &MergeItem;
    check(
        json!({"name": "1"}),
        json!({"value": "1"}),
        m,
        Ok(json!({"name": "1", "value": "1"})),
    );
    check(
        json!({"name": "1", "value": "1"}),
        json!({"value": "2"}),
        m,
        Ok(json!({"name": "1", "value": "2"})),
    );
    check(
        json!({"name": "1", "value": "1"}),
        json!({"value": null}),
        m,
        Ok(json!({"name": "1"})),
    );
    check(
        json!({"name": "1"}),
        json!({"value": null}),
        m,
        Ok(json!({"name": "1"})),
    );
    check(
        json!(null),
        json!({"name": "1"}),
        m,
        Ok(json!({"name": "1"})),
    );
    check(json!({"name": "1"}), json!({}), m, Ok(json!({"name": "1"})));
    check(
        json!({"mergeItemPtr": {"name": "a", "value": "1"}}),
        json!({"mergeItemPtr": {"value": "2", "other": "x"}}),
        m,
        Ok(json!({"mergeItemPtr": {"name": "a", "value": "2", "other": "x"}})),
    );
    check(
        json!({"simpleMap": {"a": "1", "b": "2"}}),
        json!({"simpleMap": {"a": null, "c": "3"}}),
        m,
        Ok(json!({"simpleMap": {"b": "2", "c": "3"}})),
    );
    // A value of another type replaces the original.
    check(
        json!({"nonMergingList": [{"name": "1"}]}),
        json!({"nonMergingList": "x"}),
        m,
        Ok(json!({"nonMergingList": "x"})),
    );
    check(
        json!({"value": "1"}),
        json!({"value": {"a": "b"}}),
        m,
        Ok(json!({"value": {"a": "b"}})),
    );
    // Nulls inside a new subtree are dropped.
    check(
        json!({}),
        json!({"mergeItemPtr": {"name": "a", "value": null}}),
        m,
        Ok(json!({"mergeItemPtr": {"name": "a"}})),
    );
    check(json!({}), json!([1]), m, Err("invalid JSON document"));
    check(json!([1]), json!({}), m, Err("invalid JSON document"));
}

#[test]
fn map_directives() {
    let m = &MergeItem;
    check(
        json!({"simpleMap": {"a": "1", "b": "2"}}),
        json!({"simpleMap": {"$patch": "replace", "c": "3"}}),
        m,
        Ok(json!({"simpleMap": {"c": "3"}})),
    );
    check(
        json!({"mergeItemPtr": {"name": "a"}}),
        json!({"mergeItemPtr": {"$patch": "delete"}}),
        m,
        Ok(json!({"mergeItemPtr": {}})),
    );
    check(
        json!({"mergeItemPtr": {"name": "a"}}),
        json!({"mergeItemPtr": {"$patch": "merge", "value": "v"}}),
        m,
        Ok(json!({"mergeItemPtr": {"name": "a", "value": "v"}})),
    );
    check(
        json!({"name": "1", "value": "2"}),
        json!({"$patch": "delete"}),
        m,
        Ok(json!({})),
    );
    check(
        json!({"name": "1", "value": "2"}),
        json!({"$patch": "replace", "other": "3"}),
        m,
        Ok(json!({"other": "3"})),
    );
    check(
        json!({"simpleMap": {"a": "1"}}),
        json!({"simpleMap": {"$patch": "foo"}}),
        m,
        Err("unknown patch type: foo in map: map[$patch:foo]"),
    );
    // `patchStrategy:"replace"` replaces maps whole.
    check(
        json!({"replacingItem": {"a": "1"}}),
        json!({"replacingItem": {"b": "2"}}),
        m,
        Ok(json!({"replacingItem": {"b": "2"}})),
    );
    // Directives never leak into fields that did not exist.
    check(
        json!({}),
        json!({"mergeItemPtr": {"$patch": "replace", "name": "a", "$retainKeys": ["name"]}}),
        m,
        Ok(json!({"mergeItemPtr": {"name": "a"}})),
    );
}

#[test]
fn merging_lists_of_maps() {
    let m = &MergeItem;
    // Items new to the list come first (no $setElementOrder), as upstream.
    check(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
        json!({"mergingList": [{"name": "3"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "3"}, {"name": "1"}, {"name": "2"}]})),
    );
    check(
        json!({"mergingList": [{"name": "1", "value": "a"}, {"name": "2"}]}),
        json!({"mergingList": [{"name": "1", "value": "b"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "1", "value": "b"}, {"name": "2"}]})),
    );
    check(
        json!({"mergingList": [{"name": "1", "value": "a", "other": "x"}]}),
        json!({"mergingList": [{"name": "1", "value": null}]}),
        m,
        Ok(json!({"mergingList": [{"name": "1", "other": "x"}]})),
    );
    // Patch order wins for patched items; live-only items keep their place
    // where the live order allows.
    check(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}, {"name": "3"}]}),
        json!({"mergingList": [{"name": "3", "value": "x"}, {"name": "1", "value": "y"}]}),
        m,
        Ok(
            json!({"mergingList": [{"name": "2"}, {"name": "3", "value": "x"}, {"name": "1", "value": "y"}]}),
        ),
    );
    check(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}, {"name": "3"}]}),
        json!({"mergingList": [{"name": "2", "value": "x"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "1"}, {"name": "2", "value": "x"}, {"name": "3"}]})),
    );
    // Nested merging lists merge recursively.
    check(
        json!({"mergingList": [{"name": "1", "mergingList": [{"name": "a", "value": "1"}]}]}),
        json!({"mergingList": [{"name": "1", "mergingList": [{"name": "a", "other": "2"}]}]}),
        m,
        Ok(
            json!({"mergingList": [{"name": "1", "mergingList": [{"name": "a", "value": "1", "other": "2"}]}]}),
        ),
    );
    check(
        json!({}),
        json!({"mergingList": [{"name": "1", "$patch": "delete"}, {"name": "2"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "2"}]})),
    );
    check(
        json!({"mergingList": []}),
        json!({"mergingList": [{"name": "1"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "1"}]})),
    );
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": []}),
        m,
        Ok(json!({"mergingList": [{"name": "1"}]})),
    );
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": null}),
        m,
        Ok(json!({})),
    );
    // Merge keys compare by JSON value: 80 and "80" differ.
    check(
        json!({"mergingList": [{"name": 80, "value": "a"}]}),
        json!({"mergingList": [{"name": "80", "value": "b"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "80", "value": "b"}, {"name": 80, "value": "a"}]})),
    );
}

#[test]
fn list_directives() {
    let m = &MergeItem;
    check(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
        json!({"mergingList": [{"name": "1", "$patch": "delete"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "2"}]})),
    );
    check(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}, {"name": "1", "value": "dup"}]}),
        json!({"mergingList": [{"name": "1", "$patch": "delete"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "2"}]})),
    );
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": [{"name": "9", "$patch": "delete"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "1"}]})),
    );
    check(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
        json!({"mergingList": [{"name": "3"}, {"$patch": "replace"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "3"}]})),
    );
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": [{"$patch": "replace"}]}),
        m,
        Ok(json!({"mergingList": []})),
    );
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": [{"$patch": "delete"}]}),
        m,
        Err("map: map[$patch:delete] does not contain declared merge key: name"),
    );
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": [{"$patch": "merge"}]}),
        m,
        Err("merging lists cannot yet be specified in the patch"),
    );
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": [{"name": "1", "$patch": "bogus"}]}),
        m,
        Err("unknown patch type: bogus in map: map[$patch:bogus name:1]"),
    );
}

#[test]
fn list_errors() {
    let m = &MergeItem;
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": [{"value": "1"}]}),
        m,
        Err("map: map[value:1] does not contain declared merge key: name"),
    );
    check(
        json!({"mergingList": [{"value": "1"}]}),
        json!({"mergingList": [{"name": "1"}]}),
        m,
        Err("map: map[value:1] does not contain declared merge key: name"),
    );
    check(
        json!({"mergingIntList": [1]}),
        json!({"mergingIntList": ["a"]}),
        m,
        Err("list element types are not identical: [[1] [a]]"),
    );
    check(
        json!({"mergingIntList": [[1]]}),
        json!({"mergingIntList": [[2]]}),
        m,
        Err("lists of lists are not supported"),
    );
    check(
        json!({"noKeyList": [{"name": "1"}]}),
        json!({"noKeyList": [{"name": "2"}]}),
        m,
        Err("cannot merge lists without merge key for type map"),
    );
    check(
        json!({"mergingList": [{"name": "1"}, "x"]}),
        json!({"mergingList": [{"name": "1"}]}),
        m,
        Err("list element types are not identical: [[map[name:1] x] [map[name:1]]]"),
    );
}

#[test]
fn non_merging_lists() {
    let m = &MergeItem;
    check(
        json!({"nonMergingList": [{"name": "1"}, {"name": "2"}]}),
        json!({"nonMergingList": [{"name": "3"}]}),
        m,
        Ok(json!({"nonMergingList": [{"name": "3"}]})),
    );
    check(
        json!({"nonMergingIntList": [1, 2]}),
        json!({"nonMergingIntList": [2, 3]}),
        m,
        Ok(json!({"nonMergingIntList": [2, 3]})),
    );
    check(
        json!({"nonMergingList": [{"name": "1"}]}),
        json!({"nonMergingList": []}),
        m,
        Ok(json!({"nonMergingList": []})),
    );
    // Without any schema, every list is replaced.
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": [{"name": "2"}]}),
        &DefaultPatchMeta,
        Ok(json!({"mergingList": [{"name": "2"}]})),
    );
}

#[test]
fn merging_lists_of_scalars() {
    let m = &MergeItem;
    check(
        json!({"mergingIntList": [1, 2]}),
        json!({"mergingIntList": [2, 3]}),
        m,
        Ok(json!({"mergingIntList": [1, 2, 3]})),
    );
    check(
        json!({"mergingIntList": [1, 2]}),
        json!({"mergingIntList": [3]}),
        m,
        Ok(json!({"mergingIntList": [3, 1, 2]})),
    );
    check(
        json!({"mergingIntList": [1, 2, 2]}),
        json!({"mergingIntList": [1]}),
        m,
        Ok(json!({"mergingIntList": [1, 2]})),
    );
    check(
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [2, 9]}),
        m,
        Ok(json!({"mergingIntList": [1, 3]})),
    );
    check(
        json!({}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [2]}),
        m,
        Ok(json!({})),
    );
    check(
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": [1], "mergingIntList": [4]}),
        m,
        Ok(json!({"mergingIntList": [4, 2, 3]})),
    );
    // Deviation: upstream would replace a non-merging list with the deletion list.
    check(
        json!({"nonMergingIntList": [1, 2]}),
        json!({"$deleteFromPrimitiveList/nonMergingIntList": [1]}),
        m,
        Ok(json!({"nonMergingIntList": [2]})),
    );
    check(
        json!({"mergingIntList": [1, 2]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": null}),
        m,
        Ok(json!({})),
    );
    check(
        json!({"mergingIntList": [1]}),
        json!({"$deleteFromPrimitiveList/mergingIntList": 1}),
        m,
        Err("invalid patch format of primitive list"),
    );
    check(
        json!({"mergingIntList": [1]}),
        json!({"$deleteFromPrimitiveList": [1]}),
        m,
        Err("invalid patch format of primitive list"),
    );
    check(
        json!({"mergingIntList": [1]}),
        json!({"$deleteFromPrimitiveListX/mergingIntList": [1]}),
        m,
        Err("invalid patch format of primitive list"),
    );
}

#[test]
fn set_element_order() {
    let m = &MergeItem;
    check(
        json!({"mergingIntList": [1, 2]}),
        json!({"$setElementOrder/mergingIntList": [1, 2, 3], "mergingIntList": [3]}),
        m,
        Ok(json!({"mergingIntList": [1, 2, 3]})),
    );
    check(
        json!({"mergingIntList": [1, 2, 3]}),
        json!({"$setElementOrder/mergingIntList": [3, 1], "$deleteFromPrimitiveList/mergingIntList": [2]}),
        m,
        Ok(json!({"mergingIntList": [3, 1]})),
    );
    check(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
        json!({"$setElementOrder/mergingList": [{"name": "2"}, {"name": "1"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "2"}, {"name": "1"}]})),
    );
    check(
        json!({"mergingList": [{"name": "1", "value": "a"}, {"name": "2"}]}),
        json!({
            "$setElementOrder/mergingList": [{"name": "2"}, {"name": "3"}, {"name": "1"}],
            "mergingList": [{"name": "3"}, {"name": "1", "value": "b"}]
        }),
        m,
        Ok(json!({"mergingList": [{"name": "2"}, {"name": "3"}, {"name": "1", "value": "b"}]})),
    );
    // Deletions ride along with the order list.
    check(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}, {"name": "3"}]}),
        json!({
            "$setElementOrder/mergingList": [{"name": "3"}, {"name": "1"}],
            "mergingList": [{"name": "2", "$patch": "delete"}]
        }),
        m,
        Ok(json!({"mergingList": [{"name": "3"}, {"name": "1"}]})),
    );
    // Live items missing from the order list are kept; they go before the
    // first ordered item that follows them in the live list (upstream's
    // best-effort interleave).
    check(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}, {"name": "3"}]}),
        json!({"$setElementOrder/mergingList": [{"name": "3"}, {"name": "1"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "2"}, {"name": "3"}, {"name": "1"}]})),
    );
    // A list that did not exist.
    check(
        json!({}),
        json!({"$setElementOrder/mergingList": [{"name": "2"}, {"name": "1"}], "mergingList": [{"name": "2"}, {"name": "1"}]}),
        m,
        Ok(json!({"mergingList": [{"name": "2"}, {"name": "1"}]})),
    );
    check(
        json!({}),
        json!({"$setElementOrder/mergingList": [{"name": "1"}]}),
        m,
        Ok(json!({})),
    );
    check(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
        json!({
            "$setElementOrder/mergingList": [{"name": "2"}, {"name": "1"}],
            "mergingList": [{"name": "1", "value": "a"}, {"name": "2", "value": "b"}]
        }),
        m,
        Err("The order in patch list:\n[map[name:1 value:a] map[name:2 value:b]]\n doesn't match $setElementOrder list:\n[map[name:2] map[name:1]]\n"),
    );
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"$setElementOrder/mergingList": "x"}),
        m,
        Err("expected a []interface {}, but received a string"),
    );
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"$setElementOrderX/mergingList": [{"name": "1"}]}),
        m,
        Err("invalid patch format of setElementOrder list"),
    );
    check(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"$setElementOrder/mergingList": [{"value": "1"}], "mergingList": [{"name": "1"}]}),
        m,
        Err("map: map[value:1] does not contain declared merge key: name"),
    );
}

#[test]
fn retain_keys() {
    let m = &MergeItem;
    check(
        json!({"retainKeysMap": {"name": "a", "value": "b", "other": "c"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name", "value"], "value": "x"}}),
        m,
        Ok(json!({"retainKeysMap": {"name": "a", "value": "x"}})),
    );
    check(
        json!({"retainKeysMap": {"name": "a", "value": "b"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name", "other"], "other": "c", "value": null}}),
        m,
        Ok(json!({"retainKeysMap": {"name": "a", "other": "c"}})),
    );
    check(
        json!({"retainKeysMap": {"name": "a"}}),
        json!({"retainKeysMap": {"$retainKeys": ["name"], "value": "x"}}),
        m,
        Err("invalid patch format of retainKeys"),
    );
    check(
        json!({"retainKeysMap": {"name": "a"}}),
        json!({"retainKeysMap": {"$retainKeys": "name"}}),
        m,
        Err("invalid patch format of retainKeys"),
    );
    check(
        json!({"retainKeysMergingList": [{"name": "1", "value": "a"}, {"name": "2", "value": "b"}]}),
        json!({"retainKeysMergingList": [{"name": "1", "other": "c", "$retainKeys": ["name", "other"]}]}),
        m,
        Ok(
            json!({"retainKeysMergingList": [{"name": "1", "other": "c"}, {"name": "2", "value": "b"}]}),
        ),
    );
    // $retainKeys applies wherever it appears, whatever the field's strategy.
    check(
        json!({"mergeItemPtr": {"name": "a", "value": "b"}}),
        json!({"mergeItemPtr": {"$retainKeys": ["value"]}}),
        m,
        Ok(json!({"mergeItemPtr": {"value": "b"}})),
    );
}
