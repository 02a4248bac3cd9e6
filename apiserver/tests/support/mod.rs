#![allow(clippy::unwrap_used, clippy::expect_used)]
//! In-process test server: the real router over a real embedded store in a
//! temp dir, driven with `oneshot` (no socket).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use apiserver::{build, BuildOptions, Built};
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use serde_json::Value;
use tower::ServiceExt;

pub struct TestServer {
    pub built: Built,
    _dir: tempfile::TempDir,
}

pub struct Reply {
    pub status: StatusCode,
    pub body: Value,
    pub text: String,
    pub headers: axum::http::HeaderMap,
}

impl TestServer {
    pub async fn embedded() -> TestServer {
        Self::embedded_with(BuildOptions::default()).await
    }

    pub async fn embedded_with(opts: BuildOptions) -> TestServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = storage::embedded::EmbeddedStore::open(&dir.path().join("store.redb"), Default::default()).expect("open store");
        Self::over(Arc::new(store), opts, dir).await
    }

    /// Over a given store (e.g. a decorated one).
    pub async fn over(store: storage::DynStore, opts: BuildOptions, dir: tempfile::TempDir) -> TestServer {
        let built = build(store, opts);
        for _ in 0..500 {
            if built.startup.is_done() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(built.startup.is_done(), "server did not start");
        TestServer { built, _dir: dir }
    }

    pub async fn send(&self, method: Method, path: &str, content_type: &str, body: Vec<u8>, accept: Option<&str>) -> Reply {
        let mut req = Request::builder().method(method).uri(path);
        if !content_type.is_empty() {
            req = req.header("content-type", content_type);
        }
        if let Some(a) = accept {
            req = req.header("accept", a);
        }
        let mut req = req.body(Body::from(body)).expect("request");
        req.extensions_mut().insert(apiserver::tls::InsecurePort);
        let resp = self.built.router.clone().oneshot(req).await.expect("infallible");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), 64 << 20).await.expect("body");
        let text = String::from_utf8_lossy(&bytes).to_string();
        Reply { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), text, headers }
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, "", Vec::new(), None).await
    }

    pub async fn post(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::POST, path, "application/json", serde_json::to_vec(body).expect("json"), None).await
    }

    pub async fn put(&self, path: &str, body: &Value) -> Reply {
        self.send(Method::PUT, path, "application/json", serde_json::to_vec(body).expect("json"), None).await
    }

    pub async fn patch(&self, path: &str, content_type: &str, body: &str) -> Reply {
        self.send(Method::PATCH, path, content_type, body.as_bytes().to_vec(), None).await
    }

    pub async fn delete(&self, path: &str) -> Reply {
        self.send(Method::DELETE, path, "", Vec::new(), None).await
    }
}

impl TestServer {
    /// The same server over a real etcd (started by the test, removed after).
    pub async fn etcd() -> (TestServer, storage::test_etcd::TestEtcd) {
        let etcd = storage::test_etcd::TestEtcd::start().expect("start etcd (apt-get install etcd-server)");
        let store = storage::etcd::EtcdStore::connect(&[etcd.endpoint().to_string()], Default::default()).await.expect("connect etcd");
        let opts = BuildOptions { root: format!("/test-{}", std::process::id()), ..BuildOptions::default() };
        let built = build(Arc::new(store), opts);
        for _ in 0..1000 {
            if built.startup.is_done() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(built.startup.is_done(), "server on etcd did not start");
        (TestServer { built, _dir: tempfile::tempdir().expect("tempdir") }, etcd)
    }
}
