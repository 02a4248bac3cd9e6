//! Bad input gives a clear error, never a panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use proptest::prelude::*;
use protowire::ProtoError;
use serde_json::json;

fn configmap_body() -> Vec<u8> {
    protowire::encode(&json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "game-config", "namespace": "default", "labels": {"a": "b"}},
        "data": {"a": "b"}
    }))
    .expect("encode")
}

/// A body with the given envelope fields; `raw` is used as is.
fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
    fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
        let len = u8::try_from(bytes.len()).expect("short");
        assert!(len < 128);
        [&[tag << 3 | 2, len][..], bytes].concat()
    }
    let type_meta = [field(1, api_version.as_bytes()), field(2, kind.as_bytes())].concat();
    [&b"k8s\0"[..], &field(1, &type_meta), &field(2, raw)].concat()
}

/// `decode(body)` fails and the message contains every `needle`.
fn check_decode_error(body: &[u8], needles: &[&str]) -> ProtoError {
    let err = protowire::decode(body).expect_err("must fail");
    let text = err.to_string();
    for needle in needles {
        assert!(text.contains(needle), "{text:?} lacks {needle:?}");
    }
    err
}

#[test]
fn decode_errors() {
    let good = configmap_body();
    let cases: Vec<(&str, Vec<u8>, &[&str])> = vec![
        ("empty body", vec![], &["magic", "only 0 bytes"]),
        ("short body", b"k8s".to_vec(), &["magic", "only 3 bytes"]),
        (
            "json body",
            br#"{"kind":"ConfigMap"}"#.to_vec(),
            &["magic", "7b 22 6b 69"],
        ),
        (
            "garbage envelope",
            [&b"k8s\0"[..], &[0xff, 0xff, 0xff]].concat(),
            &["runtime.Unknown"],
        ),
        (
            "truncated",
            good[..good.len() - 3].to_vec(),
            &["runtime.Unknown"],
        ),
        ("no type meta", b"k8s\0".to_vec(), &["apiVersion"]),
        ("no kind", envelope("v1", "", b""), &["kind"]),
        (
            "unknown kind",
            envelope("v1", "Gadget", b""),
            &["\"Gadget\"", "\"v1\""],
        ),
        (
            "unknown group",
            envelope("example.com/v1", "Widget", b""),
            &["\"Widget\"", "\"example.com/v1\""],
        ),
        // metadata (field 1) claims 5 bytes but only 1 follows.
        (
            "truncated object",
            envelope("v1", "ConfigMap", &[0x0a, 0x05, 0x0a]),
            &["k8s.io.api.core.v1.ConfigMap at field metadata"],
        ),
        // spec.replicas (field 2 > field 1) with a wire type that int32 cannot have.
        (
            "wrong wire type",
            envelope("apps/v1", "Deployment", &[0x12, 0x02, 0x0a, 0x00]),
            &["k8s.io.api.apps.v1.Deployment at field spec.replicas"],
        ),
    ];
    for (name, body, needles) in cases {
        let err = check_decode_error(&body, needles);
        eprintln!("{name}: {err}");
    }
    assert!(matches!(
        protowire::decode(b"k8s"),
        Err(ProtoError::BadMagic { .. })
    ));
    assert!(matches!(
        protowire::decode(&envelope("v1", "Gadget", b"")),
        Err(ProtoError::UnknownKind { .. })
    ));
}

#[test]
fn decode_names_the_bad_field() {
    // A Pod whose metadata.creationTimestamp is beyond what RFC 3339 can express.
    let seconds_field = [0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f];
    let time = [&[0x42, seconds_field.len() as u8][..], &seconds_field].concat();
    let metadata = [&[0x0a, time.len() as u8][..], &time].concat();
    let err = check_decode_error(
        &envelope("v1", "Pod", &metadata),
        &["metadata.creationTimestamp"],
    );
    assert!(matches!(err, ProtoError::InvalidValue { .. }));
}

#[test]
fn encode_errors() {
    let cases = [
        (json!("ConfigMap"), "expected a JSON object, found a string"),
        (json!({"kind": "ConfigMap"}), "apiVersion"),
        (json!({"apiVersion": "v1"}), "kind"),
        (json!({"apiVersion": "v1", "kind": "Gadget"}), "\"Gadget\""),
        (json!({"apiVersion": "v1", "kind": "ConfigMap", "dta": {}}), "unknown field \"dta\" in k8s.io.api.core.v1.ConfigMap"),
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {"containers": [{"name": "a", "portz": []}]}}}}),
            "unknown field \"spec.template.spec.containers[0].portz\" in k8s.io.api.core.v1.Container",
        ),
        (
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"replicas": "two"}}),
            "invalid value at spec.replicas: \"two\" is not a 32-bit integer",
        ),
        (json!({"apiVersion": "v1", "kind": "Secret", "data": {"k": "!!"}}), "invalid value at data[k]: invalid base64"),
        (
            json!({"apiVersion": "v1", "kind": "Service", "spec": {"ports": [{"targetPort": true}]}}),
            "invalid value at spec.ports[0].targetPort: expected a number or a string for IntOrString",
        ),
        (json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"creationTimestamp": "yesterday"}}), "metadata.creationTimestamp"),
    ];
    for (input, needle) in cases {
        let err = protowire::encode(&input)
            .expect_err("must fail")
            .to_string();
        assert!(err.contains(needle), "{err:?} lacks {needle:?}");
    }
}

#[test]
fn envelope_with_json_content_type() {
    fn field(tag: u8, bytes: &[u8]) -> Vec<u8> {
        [
            &[tag << 3 | 2, u8::try_from(bytes.len()).expect("short")][..],
            bytes,
        ]
        .concat()
    }
    let type_meta = [field(1, b"v1"), field(2, b"Namespace")].concat();
    let body = [
        &b"k8s\0"[..],
        &field(1, &type_meta),
        &field(2, br#"{"metadata":{"name":"n"}}"#),
        &field(4, b"application/json"),
    ]
    .concat();
    assert_eq!(
        protowire::decode(&body).expect("decode"),
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "n"}})
    );
    let gzip = [&b"k8s\0"[..], &field(1, &type_meta), &field(3, b"gzip")].concat();
    check_decode_error(&gzip, &["contentEncoding", "gzip"]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_after_the_magic_never_panic(tail in proptest::collection::vec(any::<u8>(), 0..512)) {
        let body = [&b"k8s\0"[..], &tail].concat();
        let _ = protowire::decode(&body);
    }

    #[test]
    fn random_objects_after_a_valid_envelope_never_panic(
        kind in prop::sample::select(vec![("v1", "ConfigMap"), ("apps/v1", "Deployment"), ("v1", "Pod"), ("v1", "List")]),
        raw in proptest::collection::vec(any::<u8>(), 0..120),
    ) {
        let _ = protowire::decode(&envelope(kind.0, kind.1, &raw));
    }

    #[test]
    fn corrupted_valid_bodies_never_panic(
        fixture in prop::sample::select(vec!["deployment", "cronjob", "service", "rolebinding"]),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let path = format!("{}/tests/fixtures/{fixture}.pb", env!("CARGO_MANIFEST_DIR"));
        let mut body = std::fs::read(path).expect("fixture");
        for (index, byte) in flips {
            let i = index.index(body.len());
            body[i] = byte;
        }
        let _ = protowire::decode(&body);
        let _ = protowire::decode(&body[..cut.index(body.len())]);
    }

    #[test]
    fn random_json_values_never_panic_the_encoder(
        path in prop::sample::select(vec!["spec", "spec.replicas", "spec.template", "spec.template.spec.containers", "metadata.labels", "metadata.creationTimestamp", "spec.strategy.rollingUpdate.maxSurge"]),
        value in json_value(),
    ) {
        let mut object = json!({"apiVersion": "apps/v1", "kind": "Deployment", "spec": {"template": {"spec": {}}, "strategy": {"rollingUpdate": {}}}, "metadata": {}});
        let mut slot = &mut object;
        for part in path.split('.') {
            slot = &mut slot[part];
        }
        *slot = value;
        if let Ok(body) = protowire::encode(&object) {
            protowire::decode(&body).expect("what encode wrote decodes");
        }
    }
}

fn json_value() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_map(serde_json::Value::from),
        "[a-zA-Z0-9%:.\\-]{0,12}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            proptest::collection::btree_map(
                prop::sample::select(vec![
                    "name",
                    "image",
                    "containers",
                    "replicas",
                    "matchLabels",
                    "x"
                ])
                .prop_map(str::to_owned),
                inner,
                0..4,
            )
            .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}
