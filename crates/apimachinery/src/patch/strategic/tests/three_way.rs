//! Client-side `kubectl apply` patches (three-way: last-applied, new, live).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{json, Value};

use super::check_three_way;
use crate::patch::k8s_meta::for_type;

fn deployment(spec: Value) -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web"},
        "spec": spec
    })
}

/// The live object: what was applied plus server-side fields.
fn live(mut applied: Value) -> Value {
    if let Some(obj) = applied.as_object_mut() {
        obj.insert("status".into(), json!({"replicas": 1}));
    }
    if let Some(meta) = applied
        .pointer_mut("/metadata")
        .and_then(Value::as_object_mut)
    {
        meta.insert("uid".into(), json!("u-1"));
    }
    applied
}

fn template(containers: Value) -> Value {
    json!({"replicas": 1, "template": {"spec": {"containers": containers}}})
}

#[test]
fn unchanged() {
    let meta = for_type::<Deployment>();
    let applied = deployment(template(json!([{"name": "web", "image": "v1"}])));
    let current = live(applied.clone());
    check_three_way(
        applied.clone(),
        applied,
        current.clone(),
        &meta,
        "{}",
        current,
    );
}

#[test]
fn change_image_keeps_server_defaults() {
    let meta = for_type::<Deployment>();
    let original = deployment(template(json!([{"name": "web", "image": "v1"}])));
    let modified = deployment(template(json!([{"name": "web", "image": "v2"}])));
    let current = live(deployment(template(
        json!([{"name": "web", "image": "v1", "imagePullPolicy": "IfNotPresent"}]),
    )));
    let result = live(deployment(template(
        json!([{"name": "web", "image": "v2", "imagePullPolicy": "IfNotPresent"}]),
    )));
    check_three_way(
        original,
        modified,
        current,
        &meta,
        r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"image":"v2","name":"web"}]}}}}"#,
        result,
    );
}

#[test]
fn remove_container_from_config() {
    let meta = for_type::<Deployment>();
    let original = deployment(template(
        json!([{"name": "web", "image": "v1"}, {"name": "log", "image": "b"}]),
    ));
    let modified = deployment(template(json!([{"name": "web", "image": "v1"}])));
    let current = live(original.clone());
    check_three_way(
        original,
        modified.clone(),
        current,
        &meta,
        r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"}],"containers":[{"$patch":"delete","name":"log"}]}}}}"#,
        live(modified),
    );
}

#[test]
fn add_container_keeps_injected_sidecar() {
    let meta = for_type::<Deployment>();
    let original = deployment(template(json!([{"name": "web", "image": "v1"}])));
    let modified = deployment(template(
        json!([{"name": "web", "image": "v1"}, {"name": "log", "image": "busybox"}]),
    ));
    let current = live(deployment(template(
        json!([{"name": "web", "image": "v1"}, {"name": "sidecar", "image": "proxy"}]),
    )));
    check_three_way(
        original,
        modified,
        current,
        &meta,
        r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"web"},{"name":"log"}],"containers":[{"image":"busybox","name":"log"}]}}}}"#,
        live(deployment(template(json!([
            {"name": "web", "image": "v1"},
            {"name": "log", "image": "busybox"},
            {"name": "sidecar", "image": "proxy"}
        ])))),
    );
}

#[test]
fn removed_fields_are_deleted() {
    let meta = for_type::<Deployment>();
    let original = deployment(json!({"replicas": 3, "paused": false}));
    let modified = deployment(json!({"paused": false}));
    let current = live(deployment(
        json!({"replicas": 3, "paused": false, "revisionHistoryLimit": 10}),
    ));
    check_three_way(
        original,
        modified,
        current,
        &meta,
        r#"{"spec":{"replicas":null}}"#,
        live(deployment(
            json!({"paused": false, "revisionHistoryLimit": 10}),
        )),
    );
}

#[test]
fn strategy_switch_uses_retain_keys() {
    let meta = for_type::<Deployment>();
    let original = deployment(json!({"strategy": {"type": "RollingUpdate"}}));
    let modified = deployment(json!({"strategy": {"type": "Recreate"}}));
    let current = live(deployment(
        json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%"}}}),
    ));
    check_three_way(
        original,
        modified.clone(),
        current,
        &meta,
        r#"{"spec":{"strategy":{"$retainKeys":["type"],"type":"Recreate"}}}"#,
        live(modified),
    );
    // When the last applied config had the removed field, both halves carry
    // the same $retainKeys and merge into one.
    let original = deployment(
        json!({"strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1}}}),
    );
    let modified = deployment(json!({"strategy": {"type": "Recreate"}}));
    let current = live(original.clone());
    check_three_way(
        original,
        modified.clone(),
        current,
        &meta,
        r#"{"spec":{"strategy":{"$retainKeys":["type"],"rollingUpdate":null,"type":"Recreate"}}}"#,
        live(modified),
    );
}

#[test]
fn labels_and_data() {
    let meta = for_type::<ConfigMap>();
    let original =
        json!({"metadata": {"name": "c", "labels": {"a": "1", "b": "2"}}, "data": {"k": "v"}});
    let modified = json!({"metadata": {"name": "c", "labels": {"a": "1"}}, "data": {"k": "v2"}});
    let current = json!({"metadata": {"name": "c", "uid": "u", "labels": {"a": "1", "b": "2", "extra": "x"}}, "data": {"k": "v", "other": "o"}});
    check_three_way(
        original,
        modified,
        current,
        &meta,
        r#"{"data":{"k":"v2"},"metadata":{"labels":{"b":null}}}"#,
        json!({"metadata": {"name": "c", "uid": "u", "labels": {"a": "1", "extra": "x"}}, "data": {"k": "v2", "other": "o"}}),
    );
}
