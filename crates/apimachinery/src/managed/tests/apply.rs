//! Server-side apply scenarios.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use serde_json::{json, Value};

use super::{apply_op, check, deployment, force_op, run, split, Op, Outcome, T1, T2};
use crate::managed::{apply, ApplyError, Conflict, Manager, Operation};
use crate::patch::k8s_meta::for_type;

const NGINX: &str = r#"{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#;

fn nginx(replicas: i64, image: &str) -> Value {
    deployment(replicas, json!([{"name": "nginx", "image": image}]))
}

fn set_replicas(n: i64) -> fn(&mut Value) {
    match n {
        1 => |d: &mut Value| d["spec"]["replicas"] = json!(1),
        _ => |d: &mut Value| d["spec"]["replicas"] = json!(5),
    }
}

#[test]
fn apply_creates_ownership() {
    let meta = for_type::<Deployment>();
    let config = nginx(3, "nginx:1.25");
    // The whole object, managedFields included.
    let got = apply(
        &Value::Null,
        &config,
        &Manager::new("kubectl", "apps/v1", T1),
        false,
        &meta,
    );
    let mut expected = config.clone();
    expected["metadata"]["managedFields"] = json!([{
        "manager": "kubectl",
        "operation": "Apply",
        "apiVersion": "apps/v1",
        "time": T1,
        "fieldsType": "FieldsV1",
        "fieldsV1": serde_json::from_str::<Value>(NGINX).unwrap_or_default(),
    }]);
    assert_eq!(got, Ok(expected.clone()));
    assert_eq!(
        got.map(|v| v.to_string()),
        Ok(expected.to_string()),
        "key order"
    );

    // Re-applying the same configuration later changes nothing, not even
    // the entry's time.
    let again = apply(
        &expected,
        &config,
        &Manager::new("kubectl", "apps/v1", T2),
        false,
        &meta,
    );
    assert_eq!(again, Ok(expected.clone()));

    // A different value updates the time.
    let changed = apply(
        &expected,
        &nginx(4, "nginx:1.25"),
        &Manager::new("kubectl", "apps/v1", T2),
        false,
        &meta,
    );
    let time = changed
        .as_ref()
        .ok()
        .and_then(|v| v.pointer("/metadata/managedFields/0/time").cloned());
    assert_eq!(time, Some(json!(T2)));
}

#[test]
fn apply_scenarios() {
    let meta = for_type::<Deployment>();
    let labelled = |labels: Value| {
        let mut d = nginx(3, "nginx:1.25");
        d["metadata"]["labels"] = labels;
        d
    };
    let table: Vec<(&str, Vec<Op>, Outcome<'_>)> = vec![
        (
            "dropping a label from the configuration removes it",
            vec![
                apply_op("kubectl", labelled(json!({"app": "web", "tier": "front"}))),
                apply_op("kubectl", labelled(json!({"app": "web"}))),
            ],
            Ok((
                labelled(json!({"app": "web"})),
                &[(
                    "kubectl",
                    "Apply",
                    r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#,
                )],
            )),
        ),
        (
            "labels another manager owns stay",
            vec![
                apply_op("kubectl", labelled(json!({"app": "web", "tier": "front"}))),
                Op::Update {
                    manager: "labeller",
                    edit: |d| d["metadata"]["labels"]["team"] = json!("a"),
                },
                // Shared ownership: same value, no conflict.
                apply_op(
                    "other",
                    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "labels": {"tier": "front"}}}),
                ),
                apply_op("kubectl", labelled(json!({"app": "web"}))),
            ],
            Ok((
                labelled(json!({"app": "web", "tier": "front", "team": "a"})),
                &[
                    (
                        "kubectl",
                        "Apply",
                        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#,
                    ),
                    ("other", "Apply", r#"{"f:metadata":{"f:labels":{"f:tier":{}}}}"#),
                    ("labeller", "Update", r#"{"f:metadata":{"f:labels":{"f:team":{}}}}"#),
                ],
            )),
        ),
        (
            "dropping every label removes the map",
            vec![
                apply_op("kubectl", labelled(json!({"app": "web"}))),
                apply_op("kubectl", nginx(3, "nginx:1.25")),
            ],
            Ok((nginx(3, "nginx:1.25"), &[("kubectl", "Apply", NGINX)])),
        ),
        (
            "a conflicting apply by a second manager",
            vec![
                Op::Create {
                    manager: "kubectl-client-side-apply",
                    body: nginx(1, "nginx:1.25"),
                },
                apply_op("ci", nginx(3, "nginx:1.25")),
            ],
            Err(r#"Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1: .spec.replicas"#),
        ),
        (
            "the same values are shared, not conflicting",
            vec![
                Op::Create {
                    manager: "kubectl-client-side-apply",
                    body: nginx(3, "nginx:1.25"),
                },
                apply_op("ci", nginx(3, "nginx:1.25")),
            ],
            Ok((
                nginx(3, "nginx:1.25"),
                &[
                    ("ci", "Apply", NGINX),
                    ("kubectl-client-side-apply", "Update", NGINX),
                ],
            )),
        ),
        (
            "conflicts with several fields of one manager",
            vec![
                Op::Create {
                    manager: "m1",
                    body: nginx(1, "nginx:1.24"),
                },
                apply_op("m2", nginx(3, "nginx:1.25")),
            ],
            Err("Apply failed with 2 conflicts: conflicts with \"m1\" using apps/v1:\n- .spec.replicas\n- .spec.template.spec.containers[name=\"nginx\"].image"),
        ),
        (
            "conflicts with two appliers",
            vec![
                apply_op("a", without_replicas("nginx:1.24")),
                apply_op("b", json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "spec": {"replicas": 2}})),
                apply_op("c", nginx(3, "nginx:1.25")),
            ],
            Err("Apply failed with 2 conflicts: conflicts with \"a\":\n- .spec.template.spec.containers[name=\"nginx\"].image\nconflicts with \"b\":\n- .spec.replicas"),
        ),
        (
            "force moves ownership",
            vec![
                Op::Create {
                    manager: "m1",
                    body: nginx(1, "nginx:1.25"),
                },
                force_op("m2", nginx(3, "nginx:1.25")),
            ],
            Ok((
                nginx(3, "nginx:1.25"),
                &[
                    ("m2", "Apply", NGINX),
                    (
                        "m1",
                        "Update",
                        r#"{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#,
                    ),
                ],
            )),
        ),
        (
            "an update takes ownership, a later apply conflicts",
            vec![
                apply_op("kubectl", nginx(3, "nginx:1.25")),
                Op::Update {
                    manager: "kubectl-edit",
                    edit: set_replicas(5),
                },
                apply_op("kubectl", nginx(3, "nginx:1.25")),
            ],
            Err(r#"Apply failed with 1 conflict: conflict with "kubectl-edit" using apps/v1: .spec.replicas"#),
        ),
        (
            "after an update, the applier no longer owns the field",
            vec![
                apply_op("kubectl", nginx(3, "nginx:1.25")),
                Op::Update {
                    manager: "kubectl-edit",
                    edit: set_replicas(5),
                },
                // Not specifying replicas any more does not remove them.
                apply_op("kubectl", without_replicas("nginx:1.25")),
            ],
            Ok((
                nginx(5, "nginx:1.25"),
                &[
                    (
                        "kubectl",
                        "Apply",
                        r#"{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#,
                    ),
                    ("kubectl-edit", "Update", r#"{"f:spec":{"f:replicas":{}}}"#),
                ],
            )),
        ),
        (
            "dropping a replicas field nobody else owns removes it",
            vec![
                apply_op("kubectl", nginx(3, "nginx:1.25")),
                apply_op("kubectl", without_replicas("nginx:1.25")),
            ],
            Ok((
                without_replicas("nginx:1.25"),
                &[(
                    "kubectl",
                    "Apply",
                    r#"{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#,
                )],
            )),
        ),
        (
            "containers are owned by name: dropping one removes it",
            vec![
                apply_op(
                    "kubectl",
                    deployment(3, json!([{"name": "nginx", "image": "nginx:1.25"}, {"name": "log", "image": "busybox"}])),
                ),
                apply_op("kubectl", nginx(3, "nginx:1.25")),
            ],
            Ok((nginx(3, "nginx:1.25"), &[("kubectl", "Apply", NGINX)])),
        ),
        (
            "a container another manager added stays",
            vec![
                apply_op("kubectl", nginx(3, "nginx:1.25")),
                Op::Update {
                    manager: "injector",
                    edit: |d| {
                        if let Some(c) = d["spec"]["template"]["spec"]["containers"].as_array_mut() {
                            c.push(json!({"name": "proxy", "image": "envoy"}));
                        }
                    },
                },
                apply_op("kubectl", nginx(2, "nginx:1.25")),
            ],
            Ok((
                deployment(2, json!([{"name": "nginx", "image": "nginx:1.25"}, {"name": "proxy", "image": "envoy"}])),
                &[
                    ("kubectl", "Apply", NGINX),
                    (
                        "injector",
                        "Update",
                        r#"{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"proxy\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#,
                    ),
                ],
            )),
        ),
        (
            "a second applier's container stays; its own image changes conflict",
            vec![
                apply_op("a", nginx(3, "nginx:1.25")),
                apply_op("b", json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                    "spec": {"template": {"spec": {"containers": [{"name": "side", "image": "s:1"}]}}}})),
                apply_op("a", nginx(3, "nginx:1.25")),
                apply_op("a", deployment(3, json!([{"name": "nginx", "image": "nginx:1.25"}, {"name": "side", "image": "s:2"}]))),
            ],
            Err(r#"Apply failed with 1 conflict: conflict with "b": .spec.template.spec.containers[name="side"].image"#),
        ),
        (
            "an object created without managedFields belongs to before-first-apply",
            vec![
                apply_op("kubectl", nginx(1, "nginx:1.25")),
                Op::Update {
                    manager: "wipe",
                    edit: |d| {
                        if let Some(m) = d["metadata"].as_object_mut() {
                            m.insert("managedFields".into(), json!([{}]));
                        }
                    },
                },
                apply_op("kubectl", nginx(3, "nginx:1.25")),
            ],
            Err(r#"Apply failed with 1 conflict: conflict with "before-first-apply" using apps/v1: .spec.replicas"#),
        ),
    ];
    for (name, ops, expected) in table {
        eprintln!("case: {name}");
        check(&meta, ops, expected);
    }
}

fn without_replicas(image: &str) -> Value {
    let mut d = nginx(0, image);
    if let Some(spec) = d["spec"].as_object_mut() {
        spec.shift_remove("replicas");
    }
    d
}

#[test]
fn conflict_causes() {
    let meta = for_type::<Deployment>();
    let got = run(
        &meta,
        vec![
            Op::Create {
                manager: "m1",
                body: nginx(1, "nginx:1.24"),
            },
            apply_op("m2", nginx(3, "nginx:1.25")),
        ],
    );
    let Err(ApplyError::Conflicts(conflicts)) = got else {
        panic!("expected conflicts, got {got:?}");
    };
    let conflict = |path: &str| Conflict {
        manager: "m1".into(),
        operation: Operation::Update,
        api_version: "apps/v1".into(),
        subresource: None,
        path: path.into(),
    };
    assert_eq!(
        conflicts,
        [
            conflict(".spec.replicas"),
            conflict(r#".spec.template.spec.containers[name="nginx"].image"#)
        ]
    );
    let causes: Vec<(String, &str)> = conflicts
        .iter()
        .map(|c| (c.cause_message(), c.path.as_str()))
        .collect();
    assert_eq!(
        causes,
        [
            (
                r#"conflict with "m1" using apps/v1"#.to_string(),
                ".spec.replicas"
            ),
            (
                r#"conflict with "m1" using apps/v1"#.to_string(),
                r#".spec.template.spec.containers[name="nginx"].image"#
            ),
        ]
    );
    let status = Conflict {
        operation: Operation::Apply,
        subresource: Some("status".into()),
        ..conflict(".status.replicas")
    };
    assert_eq!(
        status.cause_message(),
        r#"conflict with "m1" with subresource "status""#
    );
}

#[test]
fn config_map_data() {
    let meta = for_type::<ConfigMap>();
    let cm = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": data});
    let bare = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}});
    let table: Vec<(Vec<Op>, Outcome<'_>)> = vec![
        (
            vec![
                apply_op("a", cm(json!({"x": "1", "y": "2"}))),
                apply_op("a", cm(json!({"x": "1"}))),
            ],
            Ok((
                cm(json!({"x": "1"})),
                &[("a", "Apply", r#"{"f:data":{"f:x":{}}}"#)],
            )),
        ),
        // Nothing left: the map goes, and so does the entry.
        (
            vec![
                apply_op("a", cm(json!({"x": "1"}))),
                apply_op("a", bare.clone()),
            ],
            Ok((bare.clone(), &[])),
        ),
        // An empty map in the configuration is owned as a leaf and kept.
        (
            vec![
                apply_op("a", cm(json!({"x": "1"}))),
                apply_op("a", cm(json!({}))),
            ],
            Ok((cm(json!({})), &[("a", "Apply", r#"{"f:data":{}}"#)])),
        ),
        // null in a configuration specifies nothing.
        (
            vec![apply_op("a", cm(json!({"x": "1", "y": null})))],
            Ok((
                cm(json!({"x": "1"})),
                &[("a", "Apply", r#"{"f:data":{"f:x":{}}}"#)],
            )),
        ),
        (
            vec![
                apply_op("a", cm(json!({"x": "1"}))),
                apply_op("b", cm(json!({"x": "2"}))),
            ],
            Err(r#"Apply failed with 1 conflict: conflict with "a": .data.x"#),
        ),
    ];
    for (ops, expected) in table {
        check(&meta, ops, expected);
    }
}

#[test]
fn set_lists() {
    let meta = for_type::<Pod>();
    let pod = |finalizers: Value| json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "finalizers": finalizers}});
    check(
        &meta,
        vec![
            apply_op("a", pod(json!(["x", "y"]))),
            apply_op("b", pod(json!(["z"]))),
            apply_op("a", pod(json!(["y"]))),
        ],
        Ok((
            pod(json!(["y", "z"])),
            &[
                (
                    "a",
                    "Apply",
                    r#"{"f:metadata":{"f:finalizers":{"v:\"y\"":{}}}}"#,
                ),
                (
                    "b",
                    "Apply",
                    r#"{"f:metadata":{"f:finalizers":{"v:\"z\"":{}}}}"#,
                ),
            ],
        )),
    );
}

#[test]
fn refused_configurations() {
    let meta = for_type::<Deployment>();
    let manager = Manager::new("m", "apps/v1", T1);
    let mut config = nginx(1, "x");
    config["metadata"]["managedFields"] = json!([]);
    assert_eq!(
        apply(&Value::Null, &config, &manager, false, &meta),
        Err(ApplyError::ManagedFieldsInConfig)
    );
    assert!(matches!(
        apply(&Value::Null, &json!([1]), &manager, false, &meta),
        Err(ApplyError::NotAnObject { .. })
    ));
    assert_eq!(
        ApplyError::ManagedFieldsInConfig.to_string(),
        "metadata.managedFields must be nil"
    );
}

#[test]
fn status_is_not_owned_through_the_main_resource() {
    let meta = for_type::<Deployment>();
    let mut config = nginx(1, "x");
    config["status"] = json!({"replicas": 1});
    let spec_fields = NGINX;
    let live = run(&meta, vec![apply_op("m", config)]);
    let entries = |v: &Result<Value, ApplyError>| v.clone().map(split).map(|(_, e)| e);
    let owned = |list: &[(&str, &str)]| -> Result<Vec<(String, String, String)>, ApplyError> {
        Ok(list
            .iter()
            .map(|(m, f)| (m.to_string(), "Apply".to_string(), f.to_string()))
            .collect())
    };
    assert_eq!(entries(&live), owned(&[("m", spec_fields)]));
    // Through /status only status is owned, and spec never conflicts.
    let status = apply(
        live.as_ref().unwrap_or(&Value::Null),
        &json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}, "status": {"replicas": 2}, "spec": {"replicas": 9}}),
        &Manager::new("kubelet", "apps/v1", T1).with_subresource("status"),
        false,
        &meta,
    );
    assert_eq!(
        entries(&status),
        owned(&[
            ("kubelet", r#"{"f:status":{"f:replicas":{}}}"#),
            ("m", spec_fields)
        ])
    );
    let subresource = status
        .ok()
        .and_then(|v| v.pointer("/metadata/managedFields/0/subresource").cloned());
    assert_eq!(subresource, Some(json!("status")));
}
