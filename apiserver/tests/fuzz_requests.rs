#![allow(clippy::unwrap_used, clippy::expect_used)]
//! Property tests: arbitrary bodies and patches never produce a 5xx, a panic
//! or a partial write.

mod support;

use axum::http::Method;
use proptest::prelude::*;
use serde_json::{json, Value};
use support::TestServer;

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-zA-Z0-9_./:$-]{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
            prop::collection::btree_map(
                prop_oneof![
                    Just("metadata".to_string()), Just("spec".to_string()), Just("status".to_string()),
                    Just("name".to_string()), Just("containers".to_string()), Just("$patch".to_string()),
                    Just("$setElementOrder/containers".to_string()), Just("$retainKeys".to_string()),
                    Just("ports".to_string()), Just("labels".to_string()), Just("replicas".to_string()),
                    "[a-z]{1,6}",
                ],
                inner,
                0..5,
            )
            .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const TARGETS: &[(&str, &str)] = &[
    ("/api/v1/namespaces/default/pods", "fuzzpod"),
    ("/apis/apps/v1/namespaces/default/deployments", "fuzzdep"),
    ("/api/v1/namespaces/default/services", "fuzzsvc"),
    ("/api/v1/namespaces/default/configmaps", "fuzzcm"),
    ("/api/v1/nodes", "fuzznode"),
];

const PATCH_TYPES: &[&str] = &[
    "application/strategic-merge-patch+json",
    "application/merge-patch+json",
    "application/json-patch+json",
    "application/apply-patch+yaml",
];

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, .. ProptestConfig::default() })]

    #[test]
    fn arbitrary_writes_never_fail_the_server(bodies in prop::collection::vec((arb_json(), 0usize..TARGETS.len(), 0usize..PATCH_TYPES.len()), 1..6)) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let s = TestServer::embedded().await;
            // A valid object to patch.
            let base = json!({"metadata": {"name": "fuzzcm"}, "data": {"a": "b"}});
            assert_eq!(s.post("/api/v1/namespaces/default/configmaps", &base).await.status.as_u16(), 201);
            for (body, target, patch_type) in bodies {
                let (collection, name) = TARGETS[target];
                let bytes = serde_json::to_vec(&body).unwrap();
                let r = s.send(Method::POST, collection, "application/json", bytes.clone(), None).await;
                assert!(r.status.as_u16() < 500, "POST {collection} {body}: {} {}", r.status, r.text);
                let r = s.send(Method::PUT, &format!("{collection}/{name}"), "application/json", bytes.clone(), None).await;
                assert!(r.status.as_u16() < 500, "PUT {body}: {} {}", r.status, r.text);
                let before = s.get("/api/v1/namespaces/default/configmaps/fuzzcm").await;
                let ty = PATCH_TYPES[patch_type];
                let path = "/api/v1/namespaces/default/configmaps/fuzzcm?fieldManager=fuzz";
                let r = s.send(Method::PATCH, path, ty, bytes, None).await;
                assert!(r.status.as_u16() < 500, "PATCH {ty} {body}: {} {}", r.status, r.text);
                if r.status.as_u16() >= 400 {
                    // A rejected write changes nothing.
                    let after = s.get("/api/v1/namespaces/default/configmaps/fuzzcm").await;
                    assert_eq!(before.text, after.text, "rejected patch changed the object");
                }
            }
            // Still serving.
            assert_eq!(s.get("/readyz").await.status.as_u16(), 200);
        });
    }
}
