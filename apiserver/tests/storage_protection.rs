#![allow(clippy::unwrap_used, clippy::expect_used)]
//! StorageObjectInUseProtection admission, in-process over a real embedded
//! store: new claims and volumes carry the protection finalizers, so a
//! delete only marks them until the finalizer is removed (by the
//! controller-manager's `pvc-protection` / `pv-protection`).

mod support;

use axum::http::StatusCode;
use serde_json::{json, Value};
use support::TestServer;

const PVCS: &str = "/api/v1/namespaces/default/persistentvolumeclaims";
const PVS: &str = "/api/v1/persistentvolumes";

fn claim(name: &str, finalizers: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim", "metadata": {"name": name, "finalizers": finalizers},
           "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})
}

fn volume(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
           "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteOnce"], "hostPath": {"path": "/tmp/x"}}})
}

#[tokio::test]
async fn created_claims_and_volumes_carry_the_protection_finalizers() {
    let s = TestServer::embedded().await;
    let r = s.post(PVCS, &claim("data", Value::Null)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["metadata"]["finalizers"], json!(["kubernetes.io/pvc-protection"]), "{}", r.text);
    // Kept after the client's own finalizers, never doubled.
    let r = s.post(PVCS, &claim("mine", json!(["example.com/keep"]))).await;
    assert_eq!(r.body["metadata"]["finalizers"], json!(["example.com/keep", "kubernetes.io/pvc-protection"]), "{}", r.text);
    let r = s.post(PVCS, &claim("twice", json!(["kubernetes.io/pvc-protection"]))).await;
    assert_eq!(r.body["metadata"]["finalizers"], json!(["kubernetes.io/pvc-protection"]), "{}", r.text);

    let r = s.post(PVS, &volume("pv-1")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["metadata"]["finalizers"], json!(["kubernetes.io/pv-protection"]), "{}", r.text);

    // Only creates: an update that drops the finalizer keeps it dropped.
    let mut pv = s.get(&format!("{PVS}/pv-1")).await.body;
    pv["metadata"]["finalizers"] = json!([]);
    let r = s.put(&format!("{PVS}/pv-1"), &pv).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["metadata"]["finalizers"].as_array().is_none_or(Vec::is_empty), "{}", r.text);
}

#[tokio::test]
async fn a_protected_claim_is_deleted_only_once_its_finalizer_is_removed() {
    let s = TestServer::embedded().await;
    s.post(PVCS, &claim("data", Value::Null)).await;
    let r = s.delete(&format!("{PVCS}/data")).await;
    assert!(r.status.is_success(), "{}", r.text);
    let held = s.get(&format!("{PVCS}/data")).await;
    assert_eq!(held.status, StatusCode::OK, "{}", held.text);
    assert!(held.body["metadata"]["deletionTimestamp"].is_string(), "{}", held.text);
    assert_eq!(held.body["metadata"]["finalizers"], json!(["kubernetes.io/pvc-protection"]));
    // What the pvc-protection controller does: PUT without the finalizer.
    let mut released = held.body.clone();
    released["metadata"]["finalizers"] = json!([]);
    let r = s.put(&format!("{PVCS}/data"), &released).await;
    assert!(r.status.is_success(), "{}", r.text);
    assert_eq!(s.get(&format!("{PVCS}/data")).await.status, StatusCode::NOT_FOUND);
}
