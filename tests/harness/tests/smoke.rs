#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The harness itself: a cluster comes up over TLS and each component
//! identity authenticates as itself.

use cluster_harness::Cluster;

#[tokio::test]
async fn cluster_starts_and_identities_authenticate() {
    let cluster = Cluster::start().await;
    let out = cluster.kubectl(&["get", "ns", "-o", "name"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("namespace/kube-system"));
    for (identity, user) in [("scheduler", "system:kube-scheduler"), ("controller-manager", "system:kube-controller-manager")] {
        let out = cluster.kubectl_as(identity, &["auth", "whoami", "-o", "jsonpath={.status.userInfo.username}"]);
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        assert_eq!(String::from_utf8_lossy(&out.stdout), user);
    }
    let client = cluster.client("scheduler").await;
    let version = client.apiserver_version().await.expect("version");
    assert_eq!(version.major, "1");
}
