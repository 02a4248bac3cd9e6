#![allow(clippy::unwrap_used, clippy::expect_used)]
//! The API server over a real etcd: the same semantics as on the embedded store.

mod support;

use axum::http::StatusCode;
use serde_json::json;
use support::TestServer;

#[tokio::test]
async fn crud_list_and_conflicts_on_etcd() {
    let (s, _etcd) = TestServer::etcd().await;
    let pods = "/api/v1/namespaces/default/pods";
    let pod = json!({"metadata": {"name": "e1", "labels": {"app": "x"}}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
    let created = s.post(pods, &pod).await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.text);
    assert_eq!(s.post(pods, &pod).await.status, StatusCode::CONFLICT);
    let got = s.get(&format!("{pods}/e1")).await;
    assert_eq!(got.body["metadata"]["resourceVersion"], created.body["metadata"]["resourceVersion"]);
    let mut stale = created.body.clone();
    s.patch(&format!("{pods}/e1"), "application/merge-patch+json", r#"{"metadata":{"labels":{"b":"c"}}}"#).await;
    stale["metadata"]["labels"]["z"] = json!("1");
    assert_eq!(s.put(&format!("{pods}/e1"), &stale).await.status, StatusCode::CONFLICT);
    for i in 0..3 {
        let mut p = pod.clone();
        p["metadata"]["name"] = json!(format!("p{i}"));
        assert_eq!(s.post(pods, &p).await.status, StatusCode::CREATED);
    }
    let page = s.get(&format!("{pods}?limit=2")).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    let cont = page.body["metadata"]["continue"].as_str().unwrap().to_string();
    let rest = s.get(&format!("{pods}?limit=2&continue={cont}")).await;
    assert_eq!(rest.status, StatusCode::OK, "{}", rest.text);
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 2);
    let svc = s.get("/api/v1/namespaces/default/services/kubernetes").await;
    assert_eq!(svc.body["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(s.delete(&format!("{pods}/e1")).await.status, StatusCode::OK);
    assert_eq!(s.get(&format!("{pods}/e1")).await.status, StatusCode::NOT_FOUND);
}
