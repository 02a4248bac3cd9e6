//! Rough write throughput of a backend under many concurrent small writers
//! (what the API server does).
//!
//! ```text
//! cargo run --release -p storage --example write_throughput -- [embedded|etcd] [clients] [writes-per-client]
//! ```
//! `etcd` starts a throw-away etcd via `storage::test_etcd`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use storage::embedded::{EmbeddedConfig, EmbeddedStore};
use storage::etcd::{EtcdConfig, EtcdStore};
use storage::test_etcd::TestEtcd;
use storage::DynStore;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("embedded");
    let clients: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(64);
    let writes: usize = args.get(3).and_then(|a| a.parse().ok()).unwrap_or(200);

    let dir = tempfile::tempdir().unwrap();
    let mut _etcd = None;
    let store: DynStore = match backend {
        "etcd" => {
            let etcd = TestEtcd::start().unwrap();
            let store = EtcdStore::connect(&[etcd.endpoint()], EtcdConfig::default())
                .await
                .unwrap();
            _etcd = Some(etcd);
            Arc::new(store)
        }
        _ => Arc::new(
            EmbeddedStore::open(&dir.path().join("db.redb"), EmbeddedConfig::default()).unwrap(),
        ),
    };

    let value = Bytes::from(vec![b'x'; 1024]);
    let started = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let store = store.clone();
            let value = value.clone();
            tokio::spawn(async move {
                for i in 0..writes {
                    let key = format!("/bench/{c}/{i}");
                    let kv = store.create(&key, value.clone()).await.unwrap();
                    store
                        .update(&key, value.clone(), kv.mod_revision)
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let elapsed = started.elapsed();
    let total = clients * writes * 2;
    println!(
        "{backend}: {total} writes from {clients} clients in {:.2?} = {:.0} writes/s",
        elapsed,
        total as f64 / elapsed.as_secs_f64()
    );
}
