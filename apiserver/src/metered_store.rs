//! A `Store` decorator that records storage latency per operation for
//! `/metrics` (`apiserver_storage_duration_seconds`).

use std::sync::Arc;
use std::time::Instant;

use async_trait::async_trait;
use bytes::Bytes;

use crate::metrics::Metrics;
use storage::{DynStore, KeyValue, ListOptions, ListResult, Result, Revision, Store, WatchStream};

pub struct MeteredStore {
    inner: DynStore,
    metrics: Arc<Metrics>,
}

impl MeteredStore {
    pub fn wrap(inner: DynStore, metrics: Arc<Metrics>) -> DynStore {
        Arc::new(MeteredStore { inner, metrics })
    }

    fn done<T>(&self, op: &'static str, started: Instant, r: Result<T>) -> Result<T> {
        self.metrics.observe_storage(op, started.elapsed(), r.is_ok());
        r
    }
}

#[async_trait]
impl Store for MeteredStore {
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let t = Instant::now();
        let r = self.inner.get(key).await;
        self.done("get", t, r)
    }
    async fn list(&self, opts: ListOptions) -> Result<ListResult> {
        let t = Instant::now();
        let r = self.inner.list(opts).await;
        self.done("list", t, r)
    }
    async fn count(&self, prefix: &str) -> Result<i64> {
        let t = Instant::now();
        let r = self.inner.count(prefix).await;
        self.done("count", t, r)
    }
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let t = Instant::now();
        let r = self.inner.create(key, value).await;
        self.done("create", t, r)
    }
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        let t = Instant::now();
        let r = self.inner.update(key, value, expected).await;
        self.done("update", t, r)
    }
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        let t = Instant::now();
        let r = self.inner.delete(key, expected).await;
        self.done("delete", t, r)
    }
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.inner.watch(prefix, after).await
    }
    async fn watch_changes(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.inner.watch_changes(prefix, after).await
    }
    async fn compact(&self, revision: Revision) -> Result<()> {
        let t = Instant::now();
        let r = self.inner.compact(revision).await;
        self.done("compact", t, r)
    }
    async fn current_revision(&self) -> Result<Revision> {
        self.inner.current_revision().await
    }
    async fn compacted_revision(&self) -> Result<Revision> {
        self.inner.compacted_revision().await
    }
}
