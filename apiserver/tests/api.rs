#![allow(clippy::unwrap_used, clippy::expect_used)]
//! API semantics and error shapes, in-process over a real embedded store.

mod support;

use axum::http::{Method, StatusCode};
use serde_json::{json, Value};
use support::TestServer;

fn pod(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "web"}},
           "spec": {"containers": [{"name": "c", "image": "nginx:1.25", "ports": [{"containerPort": 80}]}]}})
}

fn deployment(name: &str, replicas: i64) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
           "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                    "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}})
}

const PODS: &str = "/api/v1/namespaces/default/pods";

#[tokio::test]
async fn create_stamps_and_defaults() {
    let s = TestServer::embedded().await;
    let r = s.post(PODS, &pod("web")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let p = r.body;
    assert!(!p["metadata"]["uid"].as_str().unwrap().is_empty());
    assert!(p["metadata"]["creationTimestamp"].as_str().unwrap().ends_with('Z'));
    assert!(p["metadata"]["resourceVersion"].as_str().unwrap().parse::<i64>().unwrap() > 0);
    assert_eq!(p["metadata"]["namespace"], "default");
    for (ptr, want) in [
        ("/spec/restartPolicy", json!("Always")),
        ("/spec/dnsPolicy", json!("ClusterFirst")),
        ("/spec/schedulerName", json!("default-scheduler")),
        ("/spec/terminationGracePeriodSeconds", json!(30)),
        ("/spec/enableServiceLinks", json!(true)),
        ("/spec/containers/0/imagePullPolicy", json!("IfNotPresent")),
        ("/spec/containers/0/terminationMessagePath", json!("/dev/termination-log")),
        ("/spec/containers/0/ports/0/protocol", json!("TCP")),
        ("/status/phase", json!("Pending")),
        ("/status/qosClass", json!("BestEffort")),
    ] {
        assert_eq!(p.pointer(ptr), Some(&want), "{ptr}");
    }
    let got = s.get(&format!("{PODS}/web")).await;
    assert_eq!(got.status, StatusCode::OK);
    assert_eq!(got.body["metadata"]["uid"], p["metadata"]["uid"]);
}

#[tokio::test]
async fn error_shapes() {
    let s = TestServer::embedded().await;
    assert_eq!(s.post(PODS, &pod("web")).await.status, StatusCode::CREATED);
    struct Case {
        what: &'static str,
        method: Method,
        path: &'static str,
        content_type: &'static str,
        body: String,
        code: u16,
        reason: &'static str,
        message: &'static str,
    }
    let big = format!("{{\"metadata\":{{\"name\":\"x\",\"annotations\":{{\"a\":\"{}\"}}}}}}", "x".repeat(4 << 20));
    let cases = vec![
        Case { what: "duplicate", method: Method::POST, path: PODS, content_type: "application/json", body: pod("web").to_string(), code: 409, reason: "AlreadyExists", message: "pods \"web\" already exists" },
        Case { what: "missing", method: Method::GET, path: "/api/v1/namespaces/default/pods/nope", content_type: "", body: String::new(), code: 404, reason: "NotFound", message: "pods \"nope\" not found" },
        Case { what: "missing deployment", method: Method::GET, path: "/apis/apps/v1/namespaces/default/deployments/nope", content_type: "", body: String::new(), code: 404, reason: "NotFound", message: "deployments.apps \"nope\" not found" },
        Case { what: "malformed json", method: Method::POST, path: PODS, content_type: "application/json", body: "{\"metadata\": ".into(), code: 400, reason: "BadRequest", message: "error decoding JSON body" },
        Case { what: "not an object", method: Method::POST, path: PODS, content_type: "application/json", body: "[1,2]".into(), code: 400, reason: "BadRequest", message: "must be a JSON object" },
        Case { what: "wrong kind", method: Method::POST, path: PODS, content_type: "application/json", body: json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"}}).to_string(), code: 400, reason: "BadRequest", message: "the kind in the data (Service) does not match the expected kind (Pod)" },
        Case { what: "type error", method: Method::POST, path: "/apis/apps/v1/namespaces/default/deployments", content_type: "application/json", body: json!({"metadata": {"name": "x"}, "spec": {"replicas": "three"}}).to_string(), code: 400, reason: "BadRequest", message: "at spec.replicas" },
        Case { what: "unknown resource", method: Method::GET, path: "/api/v1/namespaces/default/widgets", content_type: "", body: String::new(), code: 404, reason: "NotFound", message: "the server could not find the requested resource" },
        Case { what: "unknown group", method: Method::GET, path: "/apis/example.com/v1/widgets", content_type: "", body: String::new(), code: 404, reason: "NotFound", message: "the server could not find the requested resource" },
        Case { what: "too large", method: Method::POST, path: "/api/v1/namespaces/default/configmaps", content_type: "application/json", body: big, code: 413, reason: "RequestEntityTooLarge", message: "larger than the limit" },
        Case { what: "deep nesting", method: Method::POST, path: PODS, content_type: "application/json", body: "[".repeat(5000), code: 400, reason: "BadRequest", message: "recursion limit" },
        Case { what: "bad media type", method: Method::POST, path: PODS, content_type: "text/plain", body: "x".into(), code: 415, reason: "UnsupportedMediaType", message: "unknown format" },
        Case { what: "missing namespace", method: Method::POST, path: "/api/v1/namespaces/nowhere/pods", content_type: "application/json", body: pod("a").to_string(), code: 404, reason: "NotFound", message: "namespaces \"nowhere\" not found" },
        Case { what: "bad label selector", method: Method::GET, path: "/api/v1/pods?labelSelector=a%20in%20(", content_type: "", body: String::new(), code: 400, reason: "BadRequest", message: "unable to parse requirement" },
        Case { what: "bad field selector", method: Method::GET, path: "/api/v1/pods?fieldSelector=spec.bogus%3Dx", content_type: "", body: String::new(), code: 400, reason: "BadRequest", message: "field label not supported: spec.bogus" },
        Case { what: "bad patch", method: Method::PATCH, path: "/api/v1/namespaces/default/pods/web", content_type: "application/json-patch+json", body: "{\"op\":1}".into(), code: 400, reason: "BadRequest", message: "" },
        Case { what: "bad patch type", method: Method::PATCH, path: "/api/v1/namespaces/default/pods/web", content_type: "application/json", body: "{}".into(), code: 415, reason: "UnsupportedMediaType", message: "" },
        Case { what: "protected namespace", method: Method::DELETE, path: "/api/v1/namespaces/default", content_type: "", body: String::new(), code: 403, reason: "Forbidden", message: "namespaces \"default\" is forbidden: this namespace may not be deleted" },
        Case { what: "bad continue", method: Method::GET, path: "/api/v1/pods?limit=1&continue=garbage", content_type: "", body: String::new(), code: 400, reason: "BadRequest", message: "continue key is not valid" },
        Case { what: "bad dryRun", method: Method::POST, path: PODS, content_type: "application/json", body: pod("z").to_string() + "", code: 201, reason: "", message: "" },
    ];
    for c in cases {
        let r = s.send(c.method, c.path, c.content_type, c.body.into_bytes(), None).await;
        assert_eq!(r.status.as_u16(), c.code, "{}: {}", c.what, r.text);
        if c.code >= 400 {
            assert_eq!(r.body["kind"], "Status", "{}", c.what);
            assert_eq!(r.body["reason"], c.reason, "{}: {}", c.what, r.text);
            assert_eq!(r.body["code"], c.code, "{}", c.what);
            let msg = r.body["message"].as_str().unwrap_or("");
            assert!(msg.contains(c.message), "{}: message {msg:?} lacks {:?}", c.what, c.message);
        }
    }
}

#[tokio::test]
async fn validation_lists_every_bad_field() {
    let s = TestServer::embedded().await;
    let bad = json!({"metadata": {"name": "Bad_Name"}, "spec": {"restartPolicy": "always",
        "containers": [{"name": "c", "image": "", "ports": [{"name": "http_port", "containerPort": 80}]}]}});
    let r = s.post(PODS, &bad).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert_eq!(r.body["reason"], "Invalid");
    let fields: Vec<&str> = r.body["details"]["causes"].as_array().unwrap().iter().map(|c| c["field"].as_str().unwrap()).collect();
    for want in ["metadata.name", "spec.containers[0].image", "spec.containers[0].ports[0].name", "spec.restartPolicy"] {
        assert!(fields.contains(&want), "missing {want} in {fields:?}");
    }
    let msg = r.body["message"].as_str().unwrap();
    assert!(msg.starts_with("Pod \"Bad_Name\" is invalid: ["), "{msg}");
    assert!(msg.contains("spec.restartPolicy: Unsupported value: \"always\": supported values: \"Always\", \"OnFailure\", \"Never\""), "{msg}");
}

#[tokio::test]
async fn strict_field_validation() {
    let s = TestServer::embedded().await;
    let mut p = pod("strict");
    p["spec"]["foo"] = json!(1);
    let r = s.post(&format!("{PODS}?fieldValidation=Strict"), &p).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert_eq!(r.body["message"], "Pod in version \"v1\" cannot be handled as a Pod: strict decoding error: unknown field \"spec.foo\"");
    let dup = br#"{"metadata":{"name":"d","name":"d"},"spec":{"containers":[{"name":"c","image":"i"}]}}"#.to_vec();
    let r = s.send(Method::POST, &format!("{PODS}?fieldValidation=Strict"), "application/json", dup, None).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["message"].as_str().unwrap().contains("duplicate field \"metadata.name\""), "{}", r.text);
    // Warn (the default) accepts and says why in a Warning header.
    let r = s.post(PODS, &p).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let warning = r.headers.get("warning").unwrap().to_str().unwrap();
    assert!(warning.contains("unknown field"), "{warning}");
    assert!(r.body["spec"].get("foo").is_none());
}

#[tokio::test]
async fn optimistic_concurrency_and_generation() {
    let s = TestServer::embedded().await;
    let deps = "/apis/apps/v1/namespaces/default/deployments";
    let created = s.post(deps, &deployment("web", 1)).await.body;
    assert_eq!(created["metadata"]["generation"], 1);
    assert_eq!(created["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    assert_eq!(created["spec"]["revisionHistoryLimit"], 10);
    assert_eq!(created["spec"]["progressDeadlineSeconds"], 600);
    // Spec change bumps generation.
    let mut v = created.clone();
    v["spec"]["replicas"] = json!(3);
    let updated = s.put(&format!("{deps}/web"), &v).await;
    assert_eq!(updated.status, StatusCode::OK, "{}", updated.text);
    assert_eq!(updated.body["metadata"]["generation"], 2);
    // The old resourceVersion now conflicts.
    let stale = s.put(&format!("{deps}/web"), &v).await;
    assert_eq!(stale.status, StatusCode::CONFLICT);
    assert!(stale.body["message"].as_str().unwrap().contains("the object has been modified"));
    // Label change: no generation bump.
    let r = s.patch(&format!("{deps}/web"), "application/merge-patch+json", r#"{"metadata":{"labels":{"x":"y"}}}"#).await;
    assert_eq!(r.body["metadata"]["generation"], 2);
    // Status is ignored on the main resource.
    let r = s.patch(&format!("{deps}/web"), "application/merge-patch+json", r#"{"status":{"replicas":9}}"#).await;
    assert!(r.body["status"].get("replicas").is_none(), "{}", r.text);
    // ...and spec is ignored on /status.
    let r = s.patch(&format!("{deps}/web/status"), "application/merge-patch+json", r#"{"spec":{"replicas":7},"status":{"replicas":3}}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["status"]["replicas"], 3);
    assert_eq!(r.body["spec"]["replicas"], 3);
}

#[tokio::test]
async fn patches() {
    let s = TestServer::embedded().await;
    let deps = "/apis/apps/v1/namespaces/default/deployments";
    s.post(deps, &deployment("web", 1)).await;
    let set_image = r#"{"spec":{"template":{"spec":{"$setElementOrder/containers":[{"name":"c"}],"containers":[{"image":"nginx:1.26","name":"c"}]}}}}"#;
    let r = s.patch(&format!("{deps}/web"), "application/strategic-merge-patch+json", set_image).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["spec"]["template"]["spec"]["containers"][0]["image"], "nginx:1.26");
    assert_eq!(r.body["spec"]["template"]["spec"]["containers"][0]["name"], "c");
    let r = s.patch(&format!("{deps}/web"), "application/json-patch+json", r#"[{"op":"replace","path":"/spec/replicas","value":4}]"#).await;
    assert_eq!(r.body["spec"]["replicas"], 4, "{}", r.text);
    let r = s.patch(&format!("{deps}/web"), "application/json-patch+json", r#"[{"op":"test","path":"/spec/replicas","value":5}]"#).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    // Scale subresource.
    let r = s.get(&format!("{deps}/web/scale")).await;
    assert_eq!(r.body["kind"], "Scale");
    assert_eq!(r.body["spec"]["replicas"], 4);
    assert_eq!(r.body["status"]["selector"], "app=web");
    let r = s.patch(&format!("{deps}/web/scale"), "application/merge-patch+json", r#"{"spec":{"replicas":2}}"#).await;
    assert_eq!(r.body["spec"]["replicas"], 2, "{}", r.text);
    // Server-side apply creates and updates.
    let applied = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: b\n";
    let r = s.patch("/api/v1/namespaces/default/configmaps/applied?fieldManager=test", "application/apply-patch+yaml", applied).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let r = s.patch("/api/v1/namespaces/default/configmaps/applied?fieldManager=test", "application/apply-patch+yaml", &applied.replace("a: b", "a: c")).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["data"]["a"], "c");
    assert_eq!(r.body["metadata"]["managedFields"][0]["manager"], "test");
}

#[tokio::test]
async fn list_selectors_and_pagination() {
    let s = TestServer::embedded().await;
    for i in 0..5 {
        let mut p = pod(&format!("p{i}"));
        p["metadata"]["labels"]["tier"] = json!(if i % 2 == 0 { "even" } else { "odd" });
        assert_eq!(s.post(PODS, &p).await.status, StatusCode::CREATED);
    }
    let names = |v: &Value| -> Vec<String> { v["items"].as_array().unwrap().iter().map(|i| i["metadata"]["name"].as_str().unwrap().to_string()).collect() };
    let r = s.get(&format!("{PODS}?labelSelector=tier%3Deven")).await;
    assert_eq!(names(&r.body), ["p0", "p2", "p4"]);
    let r = s.get(&format!("{PODS}?labelSelector=tier%20notin%20(even),app")).await;
    assert_eq!(names(&r.body), ["p1", "p3"]);
    let r = s.get(&format!("{PODS}?fieldSelector=metadata.name%3Dp3")).await;
    assert_eq!(names(&r.body), ["p3"]);
    let r = s.get("/api/v1/pods?fieldSelector=status.phase%3DPending,spec.nodeName%3D").await;
    assert_eq!(names(&r.body).len(), 5);
    // Pagination.
    let mut seen = Vec::new();
    let mut path = format!("{PODS}?limit=2");
    loop {
        let r = s.get(&path).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        seen.extend(names(&r.body));
        match r.body["metadata"]["continue"].as_str() {
            Some(c) if !c.is_empty() => path = format!("{PODS}?limit=2&continue={c}"),
            _ => break,
        }
    }
    assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4"]);
    // Every page is read at the first page's revision (from storage, as
    // upstream), whatever is written in between.
    let first = s.get(&format!("{PODS}?limit=2")).await;
    let mut seen = names(&first.body);
    let mut token = first.body["metadata"]["continue"].as_str().unwrap().to_string();
    assert_eq!(s.post(PODS, &pod("p5")).await.status, StatusCode::CREATED);
    assert_eq!(s.delete(&format!("{PODS}/p3")).await.status, StatusCode::OK);
    let relabel = r#"{"metadata":{"labels":{"tier":"changed"}}}"#;
    assert_eq!(s.patch(&format!("{PODS}/p2"), "application/merge-patch+json", relabel).await.status, StatusCode::OK);
    let mut tiers = Vec::new();
    while !token.is_empty() {
        let r = s.get(&format!("{PODS}?limit=2&continue={token}")).await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        seen.extend(names(&r.body));
        tiers.extend(r.body["items"].as_array().unwrap().iter().map(|i| i["metadata"]["labels"]["tier"].clone()));
        token = r.body["metadata"]["continue"].as_str().unwrap_or_default().to_string();
    }
    assert_eq!(seen, ["p0", "p1", "p2", "p3", "p4"]);
    assert_eq!(tiers, [json!("even"), json!("odd"), json!("even")]);
    // A list in a namespace that does not exist is empty, not 404.
    let r = s.get("/api/v1/namespaces/nowhere/pods").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["items"], json!([]));
    // Tables.
    let r = s.send(Method::GET, PODS, "", Vec::new(), Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json")).await;
    assert_eq!(r.body["kind"], "Table");
    assert_eq!(r.body["columnDefinitions"][1]["name"], "Ready");
    assert_eq!(r.body["rows"][0]["cells"][1], "0/1");
    assert_eq!(r.body["rows"][0]["object"]["kind"], "PartialObjectMetadata");
}

#[tokio::test]
async fn deletion_semantics() {
    let s = TestServer::embedded().await;
    // Unbound pods go at once.
    s.post(PODS, &pod("a")).await;
    let r = s.delete(&format!("{PODS}/a")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(s.get(&format!("{PODS}/a")).await.status, StatusCode::NOT_FOUND);
    // Bound pods are deleted gracefully: the node agent finishes.
    let mut b = pod("b");
    b["spec"]["nodeName"] = json!("node-1");
    s.post(PODS, &b).await;
    s.patch(&format!("{PODS}/b/status"), "application/merge-patch+json", r#"{"status":{"phase":"Running"}}"#).await;
    let r = s.delete(&format!("{PODS}/b")).await;
    assert_eq!(r.body["metadata"]["deletionGracePeriodSeconds"], 30, "{}", r.text);
    assert!(r.body["metadata"]["deletionTimestamp"].is_string());
    assert_eq!(s.get(&format!("{PODS}/b")).await.status, StatusCode::OK);
    let r = s.send(Method::DELETE, &format!("{PODS}/b"), "application/json", br#"{"gracePeriodSeconds":0}"#.to_vec(), None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(s.get(&format!("{PODS}/b")).await.status, StatusCode::NOT_FOUND);
    // Finalizers hold an object until removed.
    let cm = json!({"metadata": {"name": "held", "finalizers": ["example.com/hold"]}, "data": {"a": "b"}});
    s.post("/api/v1/namespaces/default/configmaps", &cm).await;
    let r = s.send(Method::DELETE, "/api/v1/namespaces/default/configmaps/held", "application/json", br#"{"propagationPolicy":"Foreground"}"#.to_vec(), None).await;
    assert_eq!(r.body["metadata"]["finalizers"], json!(["example.com/hold", "foregroundDeletion"]), "{}", r.text);
    let r = s.patch("/api/v1/namespaces/default/configmaps/held", "application/merge-patch+json", r#"{"metadata":{"finalizers":null}}"#).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(s.get("/api/v1/namespaces/default/configmaps/held").await.status, StatusCode::NOT_FOUND);
    // Namespaces terminate.
    s.post("/api/v1/namespaces", &json!({"metadata": {"name": "gone"}})).await;
    let r = s.delete("/api/v1/namespaces/gone").await;
    assert_eq!(r.body["status"]["phase"], "Terminating", "{}", r.text);
    // Admission reads namespaces from the watch cache (as upstream's informer),
    // so the refusal follows the delete within moments.
    let mut refused = None;
    for i in 0..50 {
        let r = s.post("/api/v1/namespaces/gone/configmaps", &json!({"metadata": {"name": format!("x{i}")}})).await;
        if r.status == StatusCode::FORBIDDEN {
            refused = Some(r);
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let r = refused.expect("creates in a terminating namespace are refused");
    assert!(r.body["message"].as_str().unwrap().contains("because it is being terminated"), "{}", r.text);
    // dryRun stores nothing.
    let r = s.post(&format!("{PODS}?dryRun=All"), &pod("dry")).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(s.get(&format!("{PODS}/dry")).await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn services_allocate_ips_and_ports() {
    let s = TestServer::embedded().await;
    let svcs = "/api/v1/namespaces/default/services";
    let k = s.get(&format!("{svcs}/kubernetes")).await;
    assert_eq!(k.body["spec"]["clusterIP"], "10.96.0.1");
    let r = s.post(svcs, &json!({"metadata": {"name": "web"}, "spec": {"type": "NodePort", "selector": {"app": "web"}, "ports": [{"port": 80}]}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let ip = r.body["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert!(ip.starts_with("10."), "{ip}");
    assert_eq!(r.body["spec"]["targetPort"], Value::Null);
    assert_eq!(r.body["spec"]["ports"][0]["targetPort"], 80);
    let np = r.body["spec"]["ports"][0]["nodePort"].as_i64().unwrap();
    assert!((30000..=32767).contains(&np));
    let r = s.post(svcs, &json!({"metadata": {"name": "clash"}, "spec": {"clusterIP": ip, "ports": [{"port": 80}]}})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().contains("provided IP is already allocated"));
    let r = s.post(svcs, &json!({"metadata": {"name": "clash2"}, "spec": {"type": "NodePort", "ports": [{"port": 80, "nodePort": np}]}})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.text);
    // Deleting frees the IP for reuse.
    s.delete(&format!("{svcs}/web")).await;
    let r = s.post(svcs, &json!({"metadata": {"name": "reuse"}, "spec": {"clusterIP": ip, "ports": [{"port": 80}]}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
}

#[tokio::test]
async fn discovery_and_openapi() {
    let s = TestServer::embedded().await;
    let r = s.get("/api").await;
    assert_eq!(r.body["versions"], json!(["v1"]));
    let r = s.get("/apis/apps/v1").await;
    let names: Vec<&str> = r.body["resources"].as_array().unwrap().iter().map(|x| x["name"].as_str().unwrap()).collect();
    assert!(names.contains(&"deployments/scale"), "{names:?}");
    let r = s.send(Method::GET, "/apis", "", Vec::new(), Some("application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json")).await;
    assert_eq!(r.headers.get("content-type").unwrap(), "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList");
    assert_eq!(r.body["kind"], "APIGroupDiscoveryList");
    let r = s.get("/api/v1").await;
    let eviction = r.body["resources"].as_array().unwrap().iter().find(|x| x["name"] == "pods/eviction").unwrap();
    assert_eq!(eviction["group"], "policy");
    assert_eq!(eviction["kind"], "Eviction");
    let idx = s.get("/openapi/v3").await;
    for gv in ["api/v1", "apis/apps/v1", "apis/batch/v1", "apis/rbac.authorization.k8s.io/v1"] {
        let url = idx.body["paths"][gv]["serverRelativeURL"].as_str().unwrap_or_else(|| panic!("{gv} missing"));
        let doc = s.get(url).await;
        assert_eq!(doc.status, StatusCode::OK);
        assert!(doc.body["components"]["schemas"].as_object().unwrap().len() > 3);
    }
    assert_eq!(s.get("/openapi/v2").await.status, StatusCode::NOT_FOUND);
    let v = s.get("/version").await;
    assert_eq!(v.body["minor"], "33");
}

#[tokio::test]
async fn generate_name_and_binding() {
    let s = TestServer::embedded().await;
    let r = s.post(PODS, &json!({"metadata": {"generateName": "web-"}, "spec": {"containers": [{"name": "c", "image": "i"}]}})).await;
    assert_eq!(r.status, StatusCode::CREATED);
    let name = r.body["metadata"]["name"].as_str().unwrap().to_string();
    assert!(name.starts_with("web-") && name.len() == 9, "{name}");
    let r = s.post(&format!("{PODS}/{name}/binding"), &json!({"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name}, "target": {"kind": "Node", "name": "n1"}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let p = s.get(&format!("{PODS}/{name}")).await.body;
    assert_eq!(p["spec"]["nodeName"], "n1");
    let r = s.post(&format!("{PODS}/{name}/binding"), &json!({"target": {"name": "n2"}})).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
}

/// Read NDJSON watch events from a streaming body until `n` arrived or time runs out.
async fn read_events(body: axum::body::Body, n: usize) -> Vec<Value> {
    use futures::StreamExt;
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    let mut events = Vec::new();
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while events.len() < n {
        let chunk = tokio::time::timeout_at(deadline, stream.next()).await;
        let Ok(Some(Ok(chunk))) = chunk else { break };
        buf.extend_from_slice(&chunk);
        while let Some(pos) = buf.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buf.drain(..=pos).collect();
            events.push(serde_json::from_slice(&line).expect("event is JSON"));
        }
    }
    events
}

async fn open_watch(s: &TestServer, path: &str) -> axum::body::Body {
    open_watch_accepting(s, path, "application/json").await
}

async fn open_watch_accepting(s: &TestServer, path: &str, accept: &str) -> axum::body::Body {
    use tower::ServiceExt;
    let mut req = axum::http::Request::builder().uri(path).header("accept", accept).body(axum::body::Body::empty()).unwrap();
    req.extensions_mut().insert(apiserver::tls::InsecurePort);
    let resp = s.built.router.clone().oneshot(req).await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    resp.into_body()
}

#[tokio::test]
async fn watch_resumes_filters_and_translates() {
    let s = TestServer::embedded().await;
    let first = s.post(PODS, &pod("w1")).await.body;
    let rv = first["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    // A watch from before w2 existed replays history, then follows live.
    let body = open_watch(&s, &format!("{PODS}?watch=true&resourceVersion={rv}")).await;
    s.post(PODS, &pod("w2")).await;
    s.patch(&format!("{PODS}/w2"), "application/merge-patch+json", r#"{"metadata":{"labels":{"app":"other"}}}"#).await;
    s.delete(&format!("{PODS}/w2")).await;
    let events = read_events(body, 3).await;
    let kinds: Vec<(&str, &str)> = events.iter().map(|e| (e["type"].as_str().unwrap(), e["object"]["metadata"]["name"].as_str().unwrap())).collect();
    assert_eq!(kinds, [("ADDED", "w2"), ("MODIFIED", "w2"), ("DELETED", "w2")]);
    let rvs: Vec<i64> = events.iter().map(|e| e["object"]["metadata"]["resourceVersion"].as_str().unwrap().parse().unwrap()).collect();
    assert!(rvs.windows(2).all(|w| w[0] < w[1]), "{rvs:?}");

    // A label-filtered watch sees an object leave its selector as DELETED.
    let body = open_watch(&s, &format!("{PODS}?watch=1&labelSelector=app%3Dweb")).await;
    s.patch(&format!("{PODS}/w1"), "application/merge-patch+json", r#"{"metadata":{"labels":{"app":"moved"}}}"#).await;
    let events = read_events(body, 2).await;
    let kinds: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(kinds, ["ADDED", "DELETED"], "{events:?}");

    // Single-object watch as kubectl does it, with bookmarks allowed.
    let body = open_watch(&s, &format!("{PODS}?watch=true&fieldSelector=metadata.name%3Dw1&allowWatchBookmarks=true&resourceVersion=0")).await;
    let events = read_events(body, 1).await;
    assert_eq!(events[0]["type"], "ADDED");
    assert_eq!(events[0]["object"]["metadata"]["name"], "w1");
}

#[tokio::test]
async fn watch_table_sends_columns_once() {
    let s = TestServer::embedded().await;
    s.post(PODS, &pod("t1")).await;
    let body = open_watch_accepting(&s, &format!("{PODS}?watch=true"), "application/json;as=Table;v=v1;g=meta.k8s.io").await;
    s.post(PODS, &pod("t2")).await;
    let events = read_events(body, 2).await;
    assert_eq!(events[0]["object"]["kind"], "Table");
    assert!(!events[0]["object"]["columnDefinitions"].as_array().unwrap().is_empty());
    assert!(events[1]["object"]["columnDefinitions"].as_array().unwrap().is_empty());
    assert_eq!(events[1]["object"]["rows"][0]["cells"][0], "t2");
}

#[tokio::test]
async fn events_are_shared_between_versions() {
    let s = TestServer::embedded().await;
    let new = json!({"apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": {"name": "e1"},
        "regarding": {"kind": "Pod", "name": "web", "namespace": "default"}, "note": "Scheduled", "reason": "Scheduled",
        "type": "Normal", "action": "Binding", "reportingController": "scheduler", "reportingInstance": "s1",
        "eventTime": "2024-01-01T00:00:00.000000Z"});
    let r = s.post("/apis/events.k8s.io/v1/namespaces/default/events", &new).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!(r.body["note"], "Scheduled");
    let core = s.get("/api/v1/namespaces/default/events?fieldSelector=involvedObject.name%3Dweb").await;
    let items = core.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{}", core.text);
    assert_eq!(items[0]["message"], "Scheduled");
    assert_eq!(items[0]["source"]["component"], "scheduler");
    let back = s.get("/apis/events.k8s.io/v1/namespaces/default/events/e1").await;
    assert_eq!(back.body["apiVersion"], "events.k8s.io/v1");
    assert_eq!(back.body["regarding"]["name"], "web");
}

#[tokio::test]
async fn kind_specific_validation() {
    let s = TestServer::embedded().await;
    let cases: Vec<(&str, Value, &str)> = vec![
        ("/api/v1/namespaces/default/configmaps", json!({"metadata": {"name": "c"}, "data": {"bad key": "v"}}), "data[bad key]"),
        ("/api/v1/namespaces/default/persistentvolumeclaims", json!({"metadata": {"name": "p"}, "spec": {}}), "spec.accessModes"),
        ("/api/v1/persistentvolumes", json!({"metadata": {"name": "pv"}, "spec": {"accessModes": ["ReadWriteOnce"]}}), "spec.capacity"),
        ("/apis/rbac.authorization.k8s.io/v1/namespaces/default/rolebindings", json!({"metadata": {"name": "rb"}, "roleRef": {"kind": "Thing", "name": "x", "apiGroup": "rbac.authorization.k8s.io"}}), "roleRef.kind"),
        ("/apis/apps/v1/namespaces/default/deployments", json!({"metadata": {"name": "d"}, "spec": {"selector": {"matchLabels": {"app": "a"}}, "template": {"metadata": {"labels": {"app": "b"}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}), "spec.template.metadata.labels"),
        ("/apis/batch/v1/namespaces/default/jobs", json!({"metadata": {"name": "j"}, "spec": {"template": {"spec": {"containers": [{"name": "c", "image": "i"}]}}}}), "spec.template.spec.restartPolicy"),
        ("/apis/batch/v1/namespaces/default/cronjobs", json!({"metadata": {"name": "cj"}, "spec": {"schedule": "every minute", "jobTemplate": {"spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i"}]}}}}}}), "spec.schedule"),
        ("/api/v1/namespaces/default/services", json!({"metadata": {"name": "s"}, "spec": {"type": "Bogus", "ports": [{"port": 80}]}}), "spec.type"),
        ("/api/v1/namespaces", json!({"metadata": {"name": "Upper"}}), "metadata.name"),
    ];
    for (path, body, field) in cases {
        let r = s.post(path, &body).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{path}: {}", r.text);
        let fields: Vec<&str> = r.body["details"]["causes"].as_array().unwrap().iter().filter_map(|c| c["field"].as_str()).collect();
        assert!(fields.contains(&field), "{path}: {field} not in {fields:?}");
    }
    // stringData folds into data.
    let r = s.post("/api/v1/namespaces/default/secrets", &json!({"metadata": {"name": "s"}, "stringData": {"user": "admin"}})).await;
    assert_eq!(r.body["data"]["user"], "YWRtaW4=", "{}", r.text);
    assert_eq!(r.body["type"], "Opaque");
}

#[tokio::test]
async fn watch_from_forgotten_history_is_410_expired() {
    let mut opts = apiserver::BuildOptions::default();
    opts.limits.watch_history = 3;
    let s = TestServer::embedded_with(opts).await;
    let first = s.post("/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": "c0"}})).await.body;
    let rv = first["metadata"]["resourceVersion"].as_str().unwrap().to_string();
    for i in 1..8 {
        s.post("/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": format!("c{i}")}})).await;
    }
    // A consistent list: the watch cache has seen every write (and so has
    // forgotten `rv`) before the watch opens.
    s.get("/api/v1/namespaces/default/configmaps").await;
    let body = open_watch(&s, &format!("/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}")).await;
    let events = read_events(body, 1).await;
    assert_eq!(events[0]["type"], "ERROR", "{events:?}");
    assert_eq!(events[0]["object"]["code"], 410);
    assert_eq!(events[0]["object"]["reason"], "Expired");
}

#[tokio::test]
async fn server_side_apply_owns_fields_and_conflicts() {
    let s = TestServer::embedded().await;
    let path = "/apis/apps/v1/namespaces/default/deployments/ssa";
    let config = |replicas: i64, labels: &str| {
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ssa\n  labels: {{{labels}}}\nspec:\n  replicas: {replicas}\n  selector:\n    matchLabels: {{app: ssa}}\n  template:\n    metadata:\n      labels: {{app: ssa}}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n")
    };
    let r = s.patch(&format!("{path}?fieldManager=alice"), "application/apply-patch+yaml", &config(2, "a: x, b: y")).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let mf = &r.body["metadata"]["managedFields"];
    assert_eq!(mf[0]["manager"], "alice");
    assert_eq!(mf[0]["operation"], "Apply");
    assert!(mf[0]["fieldsV1"]["f:spec"]["f:replicas"].is_object(), "{mf}");
    // Same config again: no change at all.
    let again = s.patch(&format!("{path}?fieldManager=alice"), "application/apply-patch+yaml", &config(2, "a: x, b: y")).await;
    assert_eq!(again.body["metadata"]["resourceVersion"], r.body["metadata"]["resourceVersion"]);
    // Another manager changing replicas conflicts...
    let bob = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ssa\nspec:\n  replicas: 5\n";
    let r = s.patch(&format!("{path}?fieldManager=bob"), "application/apply-patch+yaml", bob).await;
    assert_eq!(r.status, StatusCode::CONFLICT, "{}", r.text);
    assert_eq!(r.body["message"], "Apply failed with 1 conflict: conflict with \"alice\": .spec.replicas");
    assert_eq!(r.body["details"]["causes"][0]["reason"], "FieldManagerConflict");
    // ...unless forced, which moves ownership.
    let r = s.patch(&format!("{path}?fieldManager=bob&force=true"), "application/apply-patch+yaml", bob).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["spec"]["replicas"], 5);
    // Alice stops applying label b (and replicas): b is removed, replicas (now bob's) stays.
    let alice2 = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ssa\n  labels: {a: x}\nspec:\n  selector:\n    matchLabels: {app: ssa}\n  template:\n    metadata:\n      labels: {app: ssa}\n    spec:\n      containers:\n      - name: c\n        image: nginx\n";
    let r = s.patch(&format!("{path}?fieldManager=alice"), "application/apply-patch+yaml", alice2).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["metadata"]["labels"], json!({"a": "x"}));
    assert_eq!(r.body["spec"]["replicas"], 5);
    // An ordinary update records its manager.
    let r = s.patch(&format!("{path}?fieldManager=kubectl-edit"), "application/merge-patch+json", r#"{"metadata":{"labels":{"c":"z"}}}"#).await;
    let managers: Vec<&str> = r.body["metadata"]["managedFields"].as_array().unwrap().iter().map(|e| e["manager"].as_str().unwrap()).collect();
    assert!(managers.contains(&"kubectl-edit"), "{managers:?}");
}

#[tokio::test]
async fn anonymous_requests_reach_only_public_paths() {
    use tower::ServiceExt;
    let s = TestServer::embedded().await;
    for (path, code) in [("/version", 200), ("/healthz", 200), ("/readyz", 200), ("/livez", 200), ("/api", 401), ("/api/v1/namespaces", 401), ("/openapi/v3", 401), ("/metrics", 401)] {
        // No InsecurePort marker and no credentials: anonymous.
        let req = axum::http::Request::builder().uri(path).body(axum::body::Body::empty()).unwrap();
        let resp = s.built.router.clone().oneshot(req).await.unwrap();
        assert_eq!(resp.status().as_u16(), code, "{path}");
    }
}

#[tokio::test]
async fn admission_defaults_pods_and_claims() {
    let s = TestServer::embedded().await;
    let p = s.post(PODS, &pod("adm")).await.body;
    let tolerations = p["spec"]["tolerations"].as_array().unwrap();
    assert!(tolerations.iter().any(|t| t["key"] == "node.kubernetes.io/unreachable" && t["tolerationSeconds"] == 300), "{tolerations:?}");
    assert_eq!(p["spec"]["priority"], 0);
    let mut critical = pod("critical");
    critical["spec"]["priorityClassName"] = json!("system-node-critical");
    let r = s.post(PODS, &critical).await;
    assert_eq!(r.body["spec"]["priority"], 2_000_001_000_i64, "{}", r.text);
    let mut unknown = pod("unknown");
    unknown["spec"]["priorityClassName"] = json!("nope");
    let r = s.post(PODS, &unknown).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().contains("no PriorityClass with name nope was found"));
    // A global default class applies to pods that name none.
    let r = s.post("/apis/scheduling.k8s.io/v1/priorityclasses", &json!({"metadata": {"name": "batch"}, "value": 1000, "globalDefault": true, "preemptionPolicy": "Never"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    let p = s.post(PODS, &pod("defaulted")).await.body;
    assert_eq!((&p["spec"]["priority"], &p["spec"]["priorityClassName"], &p["spec"]["preemptionPolicy"]), (&json!(1000), &json!("batch"), &json!("Never")), "{p}");
    s.post("/apis/storage.k8s.io/v1/storageclasses", &json!({"metadata": {"name": "local-path", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}, "provisioner": "rancher.io/local-path"})).await;
    let r = s.post("/api/v1/namespaces/default/persistentvolumeclaims", &json!({"metadata": {"name": "data"}, "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}})).await;
    assert_eq!(r.body["spec"]["storageClassName"], "local-path", "{}", r.text);
}

#[tokio::test]
async fn service_account_admission_mounts_the_token_volume() {
    let s = TestServer::embedded().await;
    // Without the account: defaulted name, no volume.
    let p = s.post(PODS, &pod("no-sa")).await.body;
    assert_eq!(p["spec"]["serviceAccountName"], "default");
    assert!(p["spec"].get("volumes").is_none(), "{p}");
    s.post("/api/v1/namespaces/default/serviceaccounts", &json!({"metadata": {"name": "default"}})).await;
    let p = s.post(PODS, &pod("with-sa")).await;
    let v = &p.body["spec"]["volumes"][0];
    assert!(v["name"].as_str().unwrap().starts_with("kube-api-access-"), "{}", p.text);
    assert_eq!(v["projected"]["sources"][0]["serviceAccountToken"]["expirationSeconds"], 3607);
    assert_eq!(p.body["spec"]["containers"][0]["volumeMounts"][0]["mountPath"], "/var/run/secrets/kubernetes.io/serviceaccount");
    let mut opt_out = pod("opt-out");
    opt_out["spec"]["automountServiceAccountToken"] = json!(false);
    let p = s.post(PODS, &opt_out).await.body;
    assert!(p["spec"].get("volumes").is_none());
}

#[tokio::test]
async fn secrets_are_encrypted_at_rest() {
    let dir = tempfile::tempdir().unwrap();
    let raw: storage::DynStore = std::sync::Arc::new(storage::embedded::EmbeddedStore::open(&dir.path().join("store.redb"), Default::default()).unwrap());
    let config = apiserver::encryption::EncryptionConfig::parse(
        "kind: EncryptionConfiguration\nresources:\n- resources: [secrets]\n  providers:\n  - aesgcm:\n      keys:\n      - name: key1\n        secret: MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=\n  - identity: {}\n",
        "/registry",
    )
    .unwrap();
    let store = apiserver::encryption::EncryptingStore::wrap(raw.clone(), config);
    let s = TestServer::over(store, apiserver::BuildOptions::default(), dir).await;
    let r = s.post("/api/v1/namespaces/default/secrets", &json!({"metadata": {"name": "db"}, "stringData": {"password": "hunter2-plaintext"}})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Through the API: the value.
    let got = s.get("/api/v1/namespaces/default/secrets/db").await;
    assert_eq!(got.body["data"]["password"], "aHVudGVyMi1wbGFpbnRleHQ=");
    // In the store: ciphertext only.
    let stored = raw.get("/registry/secrets/default/db").await.unwrap().unwrap();
    assert!(stored.value.starts_with(b"k8s:enc:aesgcm:v1:key1:"));
    let text = String::from_utf8_lossy(&stored.value);
    assert!(!text.contains("aHVudGVyMi1wbGFpbnRleHQ") && !text.contains("hunter2"), "plaintext at rest");
    // Other resources stay readable as JSON.
    s.post("/api/v1/namespaces/default/configmaps", &json!({"metadata": {"name": "c"}, "data": {"a": "b"}})).await;
    let cm = raw.get("/registry/configmaps/default/c").await.unwrap().unwrap();
    assert!(cm.value.starts_with(b"{"));
}

#[tokio::test]
async fn limit_ranges_default_and_bound_containers() {
    let s = TestServer::embedded().await;
    let r = s
        .post(
            "/api/v1/namespaces/default/limitranges",
            &json!({"metadata": {"name": "cpu"}, "spec": {"limits": [{"type": "Container", "default": {"cpu": "500m"}, "defaultRequest": {"cpu": "100m"}, "max": {"cpu": "1"}}]}}),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    // Admission reads LimitRanges from the watch cache, as upstream reads
    // its informer: a consistent list makes sure the cache has it.
    s.get("/api/v1/namespaces/default/limitranges").await;
    let p = s.post(PODS, &pod("defaulted")).await;
    assert_eq!(p.body["spec"]["containers"][0]["resources"], json!({"limits": {"cpu": "500m"}, "requests": {"cpu": "100m"}}), "{}", p.text);
    assert_eq!(p.body["metadata"]["annotations"]["kubernetes.io/limit-ranger"], "LimitRanger plugin set: cpu request for container c; cpu limit for container c");
    let mut big = pod("big");
    big["spec"]["containers"][0]["resources"] = json!({"limits": {"cpu": "2"}});
    let r = s.post(PODS, &big).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.body["message"], "pods \"big\" is forbidden: maximum cpu usage per Container is 1, but limit is 2");
}

#[tokio::test]
async fn resource_quotas_charge_usage_and_refuse_excess() {
    let s = TestServer::embedded().await;
    let r = s
        .post("/api/v1/namespaces/default/resourcequotas", &json!({"metadata": {"name": "pods-max"}, "spec": {"hard": {"pods": "2", "configmaps": "1"}}}))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    s.get("/api/v1/namespaces/default/resourcequotas").await;
    for name in ["q1", "q2"] {
        let r = s.post(PODS, &pod(name)).await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    }
    let r = s.post(PODS, &pod("q3")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert_eq!(r.body["message"], "pods \"q3\" is forbidden: exceeded quota: pods-max, requested: pods=1, used: pods=2, limited: pods=2");
    let quota = s.get("/api/v1/namespaces/default/resourcequotas/pods-max").await.body;
    assert_eq!(quota["status"]["used"]["pods"], "2", "{quota}");
    assert_eq!(quota["status"]["hard"]["pods"], "2", "{quota}");
    let cm = |n: &str| json!({"metadata": {"name": n}, "data": {"k": "v"}});
    assert_eq!(s.post("/api/v1/namespaces/default/configmaps", &cm("one")).await.status, StatusCode::CREATED);
    let r = s.post("/api/v1/namespaces/default/configmaps", &cm("two")).await;
    assert_eq!(r.body["message"], "configmaps \"two\" is forbidden: exceeded quota: pods-max, requested: configmaps=1, used: configmaps=1, limited: configmaps=1");
    // A compute quota makes every container state its requests.
    s.post("/api/v1/namespaces/default/resourcequotas", &json!({"metadata": {"name": "compute"}, "spec": {"hard": {"requests.cpu": "1"}}})).await;
    s.get("/api/v1/namespaces/default/resourcequotas").await;
    let r = s.post(PODS, &pod("no-requests")).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    assert!(r.body["message"].as_str().unwrap().ends_with("failed quota: compute: must specify requests.cpu for: c"), "{}", r.text);
}

#[tokio::test]
async fn partial_object_metadata_for_get_list_and_watch() {
    const META: &str = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";
    const META_LIST: &str = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json";
    let s = TestServer::embedded().await;
    let mut p = pod("m1");
    p["metadata"]["labels"] = json!({"app": "web"});
    s.post(PODS, &p).await;
    let r = s.send(Method::GET, &format!("{PODS}/m1"), "", Vec::new(), Some(META)).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!((r.body["kind"].as_str(), r.body["apiVersion"].as_str()), (Some("PartialObjectMetadata"), Some("meta.k8s.io/v1")));
    assert_eq!(r.body["metadata"]["labels"]["app"], "web");
    assert!(r.body["metadata"]["resourceVersion"].is_string() && r.body["metadata"]["uid"].is_string());
    assert!(r.body.get("spec").is_none(), "{}", r.text);

    let r = s.send(Method::GET, &format!("{PODS}?labelSelector=app%3Dweb"), "", Vec::new(), Some(META_LIST)).await;
    assert_eq!(r.body["kind"], "PartialObjectMetadataList", "{}", r.text);
    assert_eq!(r.body["apiVersion"], "meta.k8s.io/v1");
    assert!(r.body["metadata"]["resourceVersion"].is_string());
    assert_eq!(r.body["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(r.body["items"][0]["kind"], "PartialObjectMetadata");
    assert_eq!(r.body["items"][0]["metadata"]["name"], "m1");
    assert!(r.body["items"][0].get("spec").is_none());

    let body = open_watch_accepting(&s, &format!("{PODS}?watch=true&allowWatchBookmarks=true"), META).await;
    s.post(PODS, &pod("m2")).await;
    let events = read_events(body, 2).await;
    assert_eq!(events[0]["object"]["kind"], "PartialObjectMetadata");
    assert_eq!(events[1]["object"]["metadata"]["name"], "m2");
    assert!(events[1]["object"].get("spec").is_none());

    // A version meta.k8s.io does not have is refused with 406.
    let r = s.send(Method::GET, &format!("{PODS}/m1"), "", Vec::new(), Some("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v9")).await;
    assert_eq!(r.status, StatusCode::NOT_ACCEPTABLE, "{}", r.text);
}
