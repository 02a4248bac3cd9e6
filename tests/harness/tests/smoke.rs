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

/// `--use-service-account-credentials`: the controller-manager identity
/// mints a client per controller that RBAC confines to its controller role.
#[tokio::test]
async fn controller_service_account_clients_have_their_roles() {
    use k8s_openapi::api::apps::v1::Deployment;
    use k8s_openapi::api::core::v1::Secret;
    let cluster = Cluster::start().await;
    let options = component::ClientOptions::new(Some(cluster.kubeconfig("controller-manager")));
    let config = component::config_from_options(&options).await.expect("config");
    let base = kube::Client::try_from(config.clone()).expect("client");
    let clients = component::service_account::ServiceAccountClients::new(config, base, "kube-system").expect("clients");
    let client = clients.client_for("deployment-controller").await.expect("deployment-controller client");
    let deployments: kube::Api<Deployment> = kube::Api::all(client.clone());
    cluster_harness::eventually(std::time::Duration::from_secs(10), "the deployment controller to list deployments", || {
        let deployments = deployments.clone();
        async move { deployments.list(&Default::default()).await.ok() }
    })
    .await;
    let secrets: kube::Api<Secret> = kube::Api::all(client);
    let err = secrets.list(&Default::default()).await.expect_err("no secrets for the deployment controller");
    assert!(err.to_string().contains("system:serviceaccount:kube-system:deployment-controller"), "{err}");
}

/// kube-rs' metadata API (`as=PartialObjectMetadata[List]`) works unchanged:
/// get, list and a `metadata_watcher` see metadata only.
#[tokio::test]
async fn kube_rs_metadata_api() {
    use futures::StreamExt;
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, ListParams, PostParams};
    use kube::runtime::watcher;
    let cluster = Cluster::start().await;
    let client = cluster.admin_client().await;
    let cms: Api<ConfigMap> = Api::namespaced(client, "default");
    let mut cm = ConfigMap::default();
    cm.metadata.name = Some("meta-only".into());
    cm.metadata.labels = Some([("app".to_string(), "meta".to_string())].into());
    cm.data = Some([("k".to_string(), "v".to_string())].into());
    cms.create(&PostParams::default(), &cm).await.expect("create");

    let got = cms.get_metadata("meta-only").await.expect("get_metadata");
    assert_eq!(got.metadata.labels.unwrap_or_default().get("app").map(String::as_str), Some("meta"));
    let list = cms.list_metadata(&ListParams::default().labels("app=meta")).await.expect("list_metadata");
    assert_eq!(list.items.len(), 1);
    assert_eq!(list.items[0].metadata.name.as_deref(), Some("meta-only"));

    let mut events = watcher::metadata_watcher(cms, watcher::Config::default().labels("app=meta")).boxed();
    let seen = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(event) = events.next().await {
            if let Ok(watcher::Event::InitApply(obj) | watcher::Event::Apply(obj)) = event {
                return obj.metadata.name;
            }
        }
        None
    })
    .await
    .expect("the metadata watcher delivers the ConfigMap");
    assert_eq!(seen.as_deref(), Some("meta-only"));
}
