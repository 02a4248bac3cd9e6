//! `fieldsV1` encoding and decoding, field sets of objects, rendered paths.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use serde_json::{json, Value};

use crate::managed::{FieldSet, FieldsV1Error, Path, PathElement};
use crate::patch::k8s_meta::for_type;
use crate::patch::meta::PatchMeta;

/// The field set of `object` (identity fields included), encoded.
fn check_fields(meta: &dyn PatchMeta, object: Value, expected: &str) {
    let set = FieldSet::from_object(&object, meta);
    assert_eq!(
        set.to_fields_v1().to_string(),
        expected,
        "\nobject: {object}"
    );
    // Decoding the encoding gives the same set back.
    let decoded = FieldSet::from_fields_v1(&set.to_fields_v1());
    assert_eq!(decoded, Ok(set));
}

#[test]
fn fields_of_objects() {
    let deployment = for_type::<Deployment>();
    let pod = for_type::<Pod>();
    let cm = for_type::<ConfigMap>();
    // The example of upstream's documentation.
    check_fields(
        &pod,
        json!({"metadata": {"labels": {"app": "nginx"}}, "spec": {"containers": [{"name": "nginx", "image": "nginx"}]}}),
        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:image":{},"f:name":{}}}}}"#,
    );
    // What `kubectl apply --server-side` records for a small Deployment
    // (the identity fields are dropped later, by `apply`).
    check_fields(
        &deployment,
        json!({
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {
                "replicas": 2,
                "template": {
                    "metadata": {"labels": {"app": "nginx"}},
                    "spec": {"containers": [{"name": "nginx", "image": "nginx:1.25", "env": [{"name": "A", "value": "1"}]}]}
                }
            }
        }),
        r#"{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:replicas":{},"f:template":{"f:metadata":{"f:labels":{"f:app":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:env":{"k:{\"name\":\"A\"}":{".":{},"f:name":{},"f:value":{}}},"f:image":{},"f:name":{}}}}}}}"#,
    );
    // Atomic lists (args, tolerations) are leaves; set lists (finalizers)
    // own their values; empty maps are leaves.
    check_fields(
        &pod,
        json!({
            "metadata": {"finalizers": ["b", "a"]},
            "spec": {
                "tolerations": [{"key": "k", "operator": "Exists"}],
                "securityContext": {},
                "containers": [{"name": "c", "args": ["x", "y"]}]
            }
        }),
        r#"{"f:metadata":{"f:finalizers":{"v:\"a\"":{},"v:\"b\"":{}}},"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:args":{},"f:name":{}}},"f:securityContext":{},"f:tolerations":{}}}"#,
    );
    // Ports are keyed by containerPort (the patch merge key).
    check_fields(
        &pod,
        json!({"spec": {"containers": [{"name": "c", "ports": [{"containerPort": 80}, {"containerPort": 443}]}]}}),
        r#"{"f:spec":{"f:containers":{"k:{\"name\":\"c\"}":{".":{},"f:name":{},"f:ports":{"k:{\"containerPort\":80}":{".":{},"f:containerPort":{}},"k:{\"containerPort\":443}":{".":{},"f:containerPort":{}}}}}}}"#,
    );
    // A merge list whose items lack the key is atomic.
    check_fields(
        &pod,
        json!({"spec": {"containers": [{"image": "x"}]}}),
        r#"{"f:spec":{"f:containers":{}}}"#,
    );
    // Map keys are fields; values with special characters are escaped as Go does.
    check_fields(
        &cm,
        json!({"data": {"a.b/c": "1", "<x>": "2"}}),
        r#"{"f:data":{"f:<x>":{},"f:a.b/c":{}}}"#,
    );
    check_fields(
        &pod,
        json!({"metadata": {"finalizers": ["a&b"]}}),
        r#"{"f:metadata":{"f:finalizers":{"v:\"a\\u0026b\"":{}}}}"#,
    );
}

fn check_round_trip(encoded: &str) {
    let value: Value = serde_json::from_str(encoded).unwrap_or(Value::Null);
    let set = FieldSet::from_fields_v1(&value);
    let reencoded = set.map(|s| s.to_fields_v1().to_string());
    assert_eq!(reencoded.as_deref(), Ok(encoded));
}

#[test]
fn upstream_encodings_round_trip() {
    // As written by kube-controller-manager / kubectl (Update entries own
    // the maps they created; multi-field keys; set items; indexes).
    check_round_trip(
        r#"{"f:metadata":{"f:annotations":{".":{},"f:deployment.kubernetes.io/revision":{}},"f:finalizers":{".":{},"v:\"example.com/a\"":{}},"f:labels":{".":{},"f:app":{}}},"f:spec":{"f:template":{"f:spec":{"f:containers":{"k:{\"name\":\"nginx\"}":{".":{},"f:ports":{".":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{".":{},"f:containerPort":{},"f:protocol":{}}}}}}}}}"#,
    );
    check_round_trip(r#"{"f:status":{"f:conditions":{"i:0":{"f:type":{}}}}}"#);
    check_round_trip(r#"{"f:a":{"v:1":{},"v:2.5":{},"v:\"x\"":{},"v:true":{}}}"#);
    check_round_trip("{}");
}

#[test]
fn decoding() {
    let decode = |v: Value| FieldSet::from_fields_v1(&v).map(|s| s.to_fields_v1().to_string());
    // Out-of-order input is sorted; multi-field keys are sorted by name.
    assert_eq!(
        decode(json!({"f:b": {}, "k:{\"protocol\":\"TCP\",\"containerPort\":80}": {}, "f:a": {}})),
        Ok(r#"{"f:a":{},"f:b":{},"k:{\"containerPort\":80,\"protocol\":\"TCP\"}":{}}"#.to_string())
    );
    // Unknown element types are ignored; a node with nothing known below it
    // is a leaf.
    assert_eq!(
        decode(json!({"f:a": {}, "x:future": {}, "f:b": {"z:what": {}}})),
        Ok(r#"{"f:a":{},"f:b":{}}"#.to_string())
    );
    assert_eq!(
        decode(json!({"f:a": 1})),
        Err(FieldsV1Error::NotAnObject { at: ".a".into() })
    );
    assert!(matches!(
        decode(json!({"k:{not json": {}})),
        Err(FieldsV1Error::BadPathElement { .. })
    ));
    assert!(matches!(
        decode(json!({"f": {}})),
        Err(FieldsV1Error::BadPathElement { .. })
    ));
    assert!(decode(json!([])).is_err());
}

#[test]
fn rendered_paths() {
    let key = |k: &str, v: Value| PathElement::key(vec![(k.to_string(), v)]);
    let mut containers = Path::fields(&["spec", "template", "spec", "containers"]);
    containers.0.push(key("name", json!("nginx")));
    containers.0.push(PathElement::Field("image".into()));
    assert_eq!(
        containers.to_string(),
        r#".spec.template.spec.containers[name="nginx"].image"#
    );
    let mut ports = Path::fields(&["ports"]);
    ports.0.push(PathElement::key(vec![
        ("protocol".to_string(), json!("TCP")),
        ("containerPort".to_string(), json!(80)),
    ]));
    assert_eq!(
        ports.to_string(),
        r#".ports[containerPort=80,protocol="TCP"]"#
    );
    let mut finalizer = Path::fields(&["metadata", "finalizers"]);
    finalizer.0.push(PathElement::Value(json!("a\"b")));
    assert_eq!(finalizer.to_string(), r#".metadata.finalizers[="a\"b"]"#);
    let mut index = Path::fields(&["x"]);
    index.0.push(PathElement::Index(3));
    assert_eq!(index.to_string(), ".x[3]");
}

#[test]
fn set_operations() {
    let set = |v: Value| FieldSet::from_fields_v1(&v).unwrap_or_default();
    let a = set(json!({"f:a": {}, "f:b": {"f:c": {}, "f:d": {}}}));
    let b = set(json!({"f:b": {"f:c": {}}, "f:e": {}}));
    let enc = |s: FieldSet| s.to_fields_v1().to_string();
    assert_eq!(
        enc(a.union(&b)),
        r#"{"f:a":{},"f:b":{"f:c":{},"f:d":{}},"f:e":{}}"#
    );
    assert_eq!(enc(a.intersection(&b)), r#"{"f:b":{"f:c":{}}}"#);
    assert_eq!(enc(a.difference(&b)), r#"{"f:a":{},"f:b":{"f:d":{}}}"#);
    assert_eq!(
        enc(a.recursive_difference(&set(json!({"f:b": {}})))),
        r#"{"f:a":{}}"#
    );
    assert!(a.difference(&a).is_empty());
    assert_eq!(a.len(), 3);
    let paths: Vec<String> = a.paths().iter().map(Path::to_string).collect();
    assert_eq!(paths, [".a", ".b.c", ".b.d"]);
}
