use serde_json::json;

use super::{check_diff, MergeItem};

#[test]
fn maps() {
    let m = &MergeItem;
    check_diff(json!({"name": "1"}), json!({"name": "1"}), m, Ok("{}"));
    check_diff(json!({}), json!({}), m, Ok("{}"));
    check_diff(
        json!({"name": "1"}),
        json!({"name": "1", "value": "1"}),
        m,
        Ok(r#"{"value":"1"}"#),
    );
    check_diff(
        json!({"name": "1", "value": "1"}),
        json!({"name": "1"}),
        m,
        Ok(r#"{"value":null}"#),
    );
    check_diff(
        json!({"mergeItemPtr": {"name": "a", "value": "1"}}),
        json!({"mergeItemPtr": {"name": "a", "value": "2"}}),
        m,
        Ok(r#"{"mergeItemPtr":{"value":"2"}}"#),
    );
    check_diff(
        json!({"value": "1"}),
        json!({"value": {"a": "b"}}),
        m,
        Ok(r#"{"value":{"a":"b"}}"#),
    );
    check_diff(
        json!({"value": 1}),
        json!({"value": 1.5}),
        m,
        Ok(r#"{"value":1.5}"#),
    );
    check_diff(
        json!({"replacingItem": {"a": "1"}}),
        json!({"replacingItem": {"b": "2"}}),
        m,
        Ok(r#"{"replacingItem":{"b":"2"}}"#),
    );
    check_diff(
        json!({"simpleMap": {"b": "1", "a": "1"}}),
        json!({"simpleMap": {"b": "2", "c": "3"}}),
        m,
        Ok(r#"{"simpleMap":{"a":null,"b":"2","c":"3"}}"#),
    );
}

#[test]
fn merging_lists() {
    let m = &MergeItem;
    check_diff(
        json!({"mergingList": [{"name": "1", "value": "a"}, {"name": "2"}]}),
        json!({"mergingList": [{"name": "1", "value": "b"}, {"name": "2"}]}),
        m,
        Ok(
            r#"{"$setElementOrder/mergingList":[{"name":"1"},{"name":"2"}],"mergingList":[{"name":"1","value":"b"}]}"#,
        ),
    );
    check_diff(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
        json!({"mergingList": [{"name": "1"}]}),
        m,
        Ok(
            r#"{"$setElementOrder/mergingList":[{"name":"1"}],"mergingList":[{"$patch":"delete","name":"2"}]}"#,
        ),
    );
    check_diff(
        json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
        json!({"mergingList": [{"name": "2"}, {"name": "1"}]}),
        m,
        Ok(r#"{"$setElementOrder/mergingList":[{"name":"2"},{"name":"1"}]}"#),
    );
    check_diff(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": [{"name": "1"}, {"name": "2"}]}),
        m,
        Ok(
            r#"{"$setElementOrder/mergingList":[{"name":"1"},{"name":"2"}],"mergingList":[{"name":"2"}]}"#,
        ),
    );
    check_diff(
        json!({"mergingList": [{"name": "1"}, {"name": "3"}]}),
        json!({"mergingList": [{"name": "3"}, {"name": "2", "value": "x"}]}),
        m,
        Ok(
            r#"{"$setElementOrder/mergingList":[{"name":"3"},{"name":"2"}],"mergingList":[{"name":"2","value":"x"},{"$patch":"delete","name":"1"}]}"#,
        ),
    );
    check_diff(
        json!({"mergingList": [{"name": "1"}]}),
        json!({"mergingList": []}),
        m,
        Ok(r#"{"mergingList":[{"$patch":"delete","name":"1"}]}"#),
    );
    check_diff(
        json!({}),
        json!({"mergingList": [{"name": "1"}]}),
        m,
        Ok(r#"{"mergingList":[{"name":"1"}]}"#),
    );
    check_diff(
        json!({"mergingList": [{"value": "1"}]}),
        json!({"mergingList": [{"value": "2"}]}),
        m,
        Err("map: map[value:1] does not contain declared merge key: name"),
    );
}

#[test]
fn scalar_and_replaced_lists() {
    let m = &MergeItem;
    check_diff(
        json!({"mergingIntList": [1, 2]}),
        json!({"mergingIntList": [2, 3]}),
        m,
        Ok(
            r#"{"$deleteFromPrimitiveList/mergingIntList":[1],"$setElementOrder/mergingIntList":[2,3],"mergingIntList":[3]}"#,
        ),
    );
    check_diff(
        json!({"mergingIntList": [1, 2]}),
        json!({"mergingIntList": [2, 1]}),
        m,
        Ok(r#"{"$setElementOrder/mergingIntList":[2,1]}"#),
    );
    check_diff(
        json!({"nonMergingList": [{"name": "1"}]}),
        json!({"nonMergingList": [{"name": "2"}]}),
        m,
        Ok(r#"{"nonMergingList":[{"name":"2"}]}"#),
    );
    check_diff(
        json!({"nonMergingIntList": [1, 2]}),
        json!({"nonMergingIntList": [1, 2]}),
        m,
        Ok("{}"),
    );
}

#[test]
fn retain_keys() {
    let m = &MergeItem;
    check_diff(
        json!({"retainKeysMap": {"name": "foo", "value": "bar"}}),
        json!({"retainKeysMap": {"name": "foo", "other": "baz"}}),
        m,
        Ok(r#"{"retainKeysMap":{"$retainKeys":["name","other"],"other":"baz","value":null}}"#),
    );
    check_diff(
        json!({"retainKeysMap": {"name": "foo"}}),
        json!({"retainKeysMap": {"name": "foo"}}),
        m,
        Ok("{}"),
    );
    check_diff(
        json!({"retainKeysMergingList": [{"name": "1", "value": "a"}]}),
        json!({"retainKeysMergingList": [{"name": "1", "other": "c"}]}),
        m,
        Ok(
            r#"{"$setElementOrder/retainKeysMergingList":[{"name":"1"}],"retainKeysMergingList":[{"$retainKeys":["name","other"],"name":"1","other":"c","value":null}]}"#,
        ),
    );
}
