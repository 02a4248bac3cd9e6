//! Node heartbeats: the `coordination.k8s.io/v1` Lease each kubelet holds in
//! `kube-node-lease`, named after its node (upstream
//! `pkg/kubelet/nodelease` and `component-helpers/apimachinery/lease`).
//!
//! The kubelet renews it every `renewInterval` (10 s: a quarter of the
//! 40 s `leaseDurationSeconds`); the node lifecycle controller treats a node
//! whose lease is older than its grace period (40 s) as unreachable. The
//! Lease is owned by its Node, so it is garbage-collected with it.

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, OwnerReference};
use k8s_openapi::jiff::Timestamp;

/// Where node leases live.
pub const NODE_LEASE_NAMESPACE: &str = "kube-node-lease";
/// Upstream's `leaseDurationSeconds` for node leases.
pub const LEASE_DURATION_SECONDS: i32 = 40;

/// The Lease for `node_name`, owned by the Node when its uid is known.
pub fn node_lease(node_name: &str, node_uid: Option<&str>, now: Timestamp) -> Lease {
    Lease {
        metadata: ObjectMeta {
            name: Some(node_name.to_string()),
            namespace: Some(NODE_LEASE_NAMESPACE.to_string()),
            owner_references: node_uid.map(|uid| {
                vec![OwnerReference {
                    api_version: "v1".to_string(),
                    kind: "Node".to_string(),
                    name: node_name.to_string(),
                    uid: uid.to_string(),
                    ..OwnerReference::default()
                }]
            }),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            holder_identity: Some(node_name.to_string()),
            lease_duration_seconds: Some(LEASE_DURATION_SECONDS),
            renew_time: Some(MicroTime(now)),
            ..LeaseSpec::default()
        }),
    }
}

/// The renewal, as a merge patch: holder and renew time only, so a renewal
/// is one request with no read and no conflict.
pub fn renew_patch(node_name: &str, now: Timestamp) -> serde_json::Value {
    serde_json::json!({
        "spec": {
            "holderIdentity": node_name,
            "leaseDurationSeconds": LEASE_DURATION_SECONDS,
            "renewTime": MicroTime(now),
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn leases() {
        let now: Timestamp = "2026-01-01T00:00:01.5Z".parse().unwrap();
        let cases = [(Some("uid-1"), Some("uid-1")), (None, None)];
        for (uid, want_owner) in cases {
            let v = serde_json::to_value(node_lease("n1", uid, now)).unwrap();
            assert_eq!(v["metadata"]["namespace"], "kube-node-lease");
            assert_eq!(v["metadata"]["name"], "n1");
            assert_eq!(v["spec"]["holderIdentity"], "n1");
            assert_eq!(v["spec"]["leaseDurationSeconds"], 40);
            assert_eq!(v["spec"]["renewTime"], "2026-01-01T00:00:01.500000Z");
            assert_eq!(v["metadata"]["ownerReferences"][0]["uid"].as_str(), want_owner);
            if want_owner.is_some() {
                assert_eq!(v["metadata"]["ownerReferences"][0]["kind"], "Node");
            }
        }
    }

    #[test]
    fn renewal() {
        let now: Timestamp = "2026-01-01T00:00:10Z".parse().unwrap();
        let p = renew_patch("n1", now);
        assert_eq!(p["spec"]["holderIdentity"], "n1");
        assert_eq!(p["spec"]["renewTime"], "2026-01-01T00:00:10.000000Z");
    }
}
