//! Ordinary writes (create, update, patch).

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use serde_json::{json, Value};

use super::{apply_op, check, deployment, split, Op, Outcome, T1, T2};
use crate::managed::{update, Manager};
use crate::patch::k8s_meta::for_type;

const ALL: &str = r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#;

fn web() -> Value {
    let mut d = deployment(1, json!([{"name": "nginx", "image": "nginx:1.25"}]));
    d["metadata"]["labels"] = json!({"app": "web"});
    d
}

#[test]
fn update_scenarios() {
    let meta = for_type::<Deployment>();
    let with = |f: fn(&mut Value)| {
        let mut d = web();
        f(&mut d);
        d
    };
    let table: Vec<(&str, Vec<Op>, Outcome<'_>)> = vec![
        (
            "create owns every field but the identity",
            vec![Op::Create {
                manager: "kubectl-create",
                body: web(),
            }],
            Ok((web(), &[("kubectl-create", "Update", ALL)])),
        ),
        (
            "a change moves the field to the writer",
            vec![
                Op::Create {
                    manager: "kubectl-create",
                    body: web(),
                },
                Op::Update {
                    manager: "kubectl-edit",
                    edit: |d| d["spec"]["replicas"] = json!(4),
                },
            ],
            Ok((
                with(|d| d["spec"]["replicas"] = json!(4)),
                &[
                    (
                        "kubectl-create",
                        "Update",
                        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#,
                    ),
                    ("kubectl-edit", "Update", r#"{"f:spec":{"f:replicas":{}}}"#),
                ],
            )),
        ),
        (
            "a write that changes nothing records nothing",
            vec![
                Op::Create {
                    manager: "kubectl-create",
                    body: web(),
                },
                Op::Update {
                    manager: "noop",
                    edit: |_| {},
                },
            ],
            Ok((web(), &[("kubectl-create", "Update", ALL)])),
        ),
        (
            "removed fields leave every entry; status is not owned",
            vec![
                Op::Create {
                    manager: "kubectl-create",
                    body: web(),
                },
                Op::Update {
                    manager: "cleaner",
                    edit: |d| {
                        if let Some(m) = d["metadata"].as_object_mut() {
                            m.shift_remove("labels");
                        }
                        d["status"] = json!({"replicas": 1});
                    },
                },
            ],
            Ok((
                with(|d| {
                    if let Some(m) = d["metadata"].as_object_mut() {
                        m.shift_remove("labels");
                    }
                    d["status"] = json!({"replicas": 1});
                }),
                &[(
                    "kubectl-create",
                    "Update",
                    r#"{"f:spec":{"f:replicas":{},"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#,
                )],
            )),
        ),
        (
            "an update of an applied field takes it from the applier",
            vec![
                apply_op("kubectl", web()),
                Op::Update {
                    manager: "hpa",
                    edit: |d| d["spec"]["replicas"] = json!(7),
                },
            ],
            Ok((
                with(|d| d["spec"]["replicas"] = json!(7)),
                &[
                    (
                        "kubectl",
                        "Apply",
                        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#,
                    ),
                    ("hpa", "Update", r#"{"f:spec":{"f:replicas":{}}}"#),
                ],
            )),
        ),
        (
            "the same manager accumulates its changes",
            vec![
                Op::Update {
                    manager: "x",
                    edit: |_| {},
                },
                Op::Create {
                    manager: "c",
                    body: web(),
                },
                Op::Update {
                    manager: "x",
                    edit: |d| d["spec"]["replicas"] = json!(2),
                },
                Op::Update {
                    manager: "x",
                    edit: |d| d["metadata"]["labels"]["app"] = json!("other"),
                },
            ],
            Ok((
                with(|d| {
                    d["spec"]["replicas"] = json!(2);
                    d["metadata"]["labels"]["app"] = json!("other");
                }),
                &[
                    (
                        "c",
                        "Update",
                        r#"{"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}}}"#,
                    ),
                    (
                        "x",
                        "Update",
                        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{}}}"#,
                    ),
                ],
            )),
        ),
    ];
    for (name, ops, expected) in table {
        eprintln!("case: {name}");
        check(&meta, ops, expected);
    }
}

#[test]
fn request_managed_fields() {
    let meta = for_type::<ConfigMap>();
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "1"}});
    let created = update(None, &cm, &Manager::new("creator", "v1", T1), &meta);
    let stored = created.pointer("/metadata/managedFields").cloned();
    assert_eq!(
        stored,
        Some(json!([{
            "manager": "creator", "operation": "Update", "apiVersion": "v1", "time": T1,
            "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}
        }]))
    );

    // A client that omits managedFields keeps the stored ones.
    let mut edited = cm.clone();
    edited["data"]["b"] = json!("2");
    let got = split(update(
        Some(&created),
        &edited,
        &Manager::new("editor", "v1", T2),
        &meta,
    ))
    .1;
    assert_eq!(
        got,
        [
            (
                "creator".into(),
                "Update".into(),
                r#"{"f:data":{"f:a":{}}}"#.into()
            ),
            (
                "editor".into(),
                "Update".into(),
                r#"{"f:data":{"f:b":{}}}"#.into()
            ),
        ]
    );

    // `[{}]` clears them; so does a request that sets its own.
    let mut reset = created.clone();
    reset["metadata"]["managedFields"] = json!([{}]);
    let got = update(
        Some(&created),
        &reset,
        &Manager::new("editor", "v1", T2),
        &meta,
    );
    assert_eq!(got.pointer("/metadata/managedFields"), None);
    let mut own = created.clone();
    own["metadata"]["managedFields"] = json!([{
        "manager": "someone", "operation": "Apply", "apiVersion": "v1",
        "fieldsType": "FieldsV1", "fieldsV1": {"f:data": {"f:a": {}}}
    }]);
    let got = split(update(
        Some(&created),
        &own,
        &Manager::new("editor", "v1", T2),
        &meta,
    ))
    .1;
    assert_eq!(
        got,
        [(
            "someone".into(),
            "Apply".into(),
            r#"{"f:data":{"f:a":{}}}"#.into()
        )]
    );
    // Unreadable ones fall back to the stored ones.
    let mut bad = created.clone();
    bad["metadata"]["managedFields"] = json!([{"manager": "x", "operation": "Bogus"}]);
    let got = split(update(
        Some(&created),
        &bad,
        &Manager::new("editor", "v1", T2),
        &meta,
    ))
    .1;
    assert_eq!(
        got,
        [(
            "creator".into(),
            "Update".into(),
            r#"{"f:data":{"f:a":{}}}"#.into()
        )]
    );
}

#[test]
fn status_writes() {
    let meta = for_type::<Deployment>();
    let created = update(None, &web(), &Manager::new("c", "apps/v1", T1), &meta);
    let mut new = created.clone();
    new["status"] = json!({"replicas": 1});
    new["spec"]["replicas"] = json!(3);
    let got = split(update(
        Some(&created),
        &new,
        &Manager::new("kubelet", "apps/v1", T2).with_subresource("status"),
        &meta,
    ))
    .1;
    assert_eq!(
        got,
        [
            ("c".into(), "Update".into(), ALL.into()),
            (
                "kubelet".into(),
                "Update".into(),
                r#"{"f:status":{"f:replicas":{}}}"#.into()
            ),
        ]
    );
}
