//! The embedded store alone under the API benchmark's write load: 64
//! concurrent writers creating new keys, then updating them, for 3 s each,
//! values of 760 bytes, a watcher consuming every event (as the API
//! server's cache does). Prints writes/s, mean batch size, the writer's
//! time per batch split into apply and commit (fsync), and how busy the
//! writer thread was.
//!
//! `cargo run --release -p storage --example embedded_write_cost [DIR]`
//! (DIR: where the database file goes; default a temp dir).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::StreamExt;
use storage::embedded::{EmbeddedConfig, EmbeddedStore};
use storage::Store;

const CLIENTS: usize = 64;
const VALUE_BYTES: usize = 760;

#[derive(Clone, Copy, Debug, PartialEq)]
enum Phase {
    Create,
    Update,
}

async fn run(store: &Arc<EmbeddedStore>, phase: Phase, revs: &mut [Vec<(String, i64)>]) -> anyhow::Result<()> {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let before = store.writer_stats();
    let start = Instant::now();
    let mut tasks = Vec::new();
    for (c, slot) in revs.iter_mut().enumerate().take(CLIENTS) {
        let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
        let mut mine = std::mem::take(slot);
        tasks.push(tokio::spawn(async move {
            let value = Bytes::from(vec![b'v'; VALUE_BYTES]);
            let mut i = 0usize;
            while !stop.load(Ordering::Relaxed) {
                match phase {
                    Phase::Create => {
                        let key = format!("/registry/configmaps/default/c{c}-{i}");
                        if let Ok(kv) = store.create(&key, value.clone()).await {
                            mine.push((key, kv.mod_revision));
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Phase::Update => {
                        if mine.is_empty() {
                            break;
                        }
                        let slot = i % mine.len();
                        let (key, rev) = mine[slot].clone();
                        if let Ok(kv) = store.update(&key, value.clone(), rev).await {
                            mine[slot].1 = kv.mod_revision;
                            done.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                }
                i += 1;
            }
            mine
        }));
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    for (c, t) in tasks.into_iter().enumerate() {
        revs[c] = t.await?;
    }
    let writes = done.load(Ordering::Relaxed);
    let elapsed = start.elapsed().as_secs_f64();
    let after = store.writer_stats();
    let batches = (after.batches - before.batches).max(1) as f64;
    println!(
        "{phase:?}: {:>8.0} writes/s; {:.1} writes per batch; per batch: apply {:.0} µs, commit {:.0} µs; writer busy {:.0}%",
        writes as f64 / elapsed,
        (after.writes - before.writes) as f64 / batches,
        (after.apply - before.apply).as_secs_f64() * 1e6 / batches,
        (after.commit - before.commit).as_secs_f64() * 1e6 / batches,
        ((after.apply - before.apply) + (after.commit - before.commit)).as_secs_f64() * 100.0 / elapsed,
    );
    Ok(())
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> anyhow::Result<()> {
    let dir = match std::env::args().nth(1) {
        Some(d) => tempfile::Builder::new().prefix("embedded-write-cost-").tempdir_in(d)?,
        None => tempfile::tempdir()?,
    };
    let store = Arc::new(EmbeddedStore::open(&dir.path().join("db.redb"), EmbeddedConfig::default())?);
    let mut watch = store.watch("/registry/", 0).await?;
    let watched = Arc::new(AtomicUsize::new(0));
    let counter = watched.clone();
    tokio::spawn(async move {
        while let Some(Ok(_)) = watch.next().await {
            counter.fetch_add(1, Ordering::Relaxed);
        }
    });
    let mut revs = vec![Vec::new(); CLIENTS];
    for _ in 0..2 {
        run(&store, Phase::Create, &mut revs).await?;
        run(&store, Phase::Update, &mut revs).await?;
    }
    println!("watcher saw {} events", watched.load(Ordering::Relaxed));
    Ok(())
}
