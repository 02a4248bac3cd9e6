//! Embedded-store-only properties: durability across reopen and `kill -9`,
//! automatic compaction, watch lag recovery, format versioning.
//!
//! The crash test re-executes this test binary with `STORAGE_CRASH_WRITER_DB`
//! set; in that mode the `crash_writer_child` "test" becomes a writer process
//! that prints every acknowledged write, and the parent kills it with SIGKILL.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use storage::embedded::{AutoCompaction, EmbeddedConfig, EmbeddedStore, FORMAT_VERSION};
use storage::{ListOptions, StorageError, Store, WatchEvent};

const CHILD_ENV: &str = "STORAGE_CRASH_WRITER_DB";

fn no_auto() -> EmbeddedConfig {
    EmbeddedConfig {
        auto_compaction: AutoCompaction::Disabled,
        ..Default::default()
    }
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// Every revision from `from` to the current one appears exactly once, in
/// order, when replaying the whole history.
async fn assert_history_contiguous(store: &EmbeddedStore, from: i64) {
    let current = store.current_revision().await.unwrap();
    let mut stream = store.watch("", from - 1).await.unwrap();
    for expected in from..=current {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(event.revision(), expected);
    }
}

#[tokio::test]
async fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let store = EmbeddedStore::open(&path, no_auto()).unwrap();
    let a = store.create("/a", b("1")).await.unwrap();
    let a2 = store.update("/a", b("2"), a.mod_revision).await.unwrap();
    let c = store.create("/c", b("c")).await.unwrap();
    store.create("/gone", b("x")).await.unwrap();
    let (deleted_at, _) = store.delete("/gone", None).await.unwrap();
    store.compact(a2.mod_revision).await.unwrap();
    store.close().await.unwrap();

    let store = EmbeddedStore::open(&path, no_auto()).unwrap();
    assert_eq!(store.current_revision().await.unwrap(), deleted_at);
    assert_eq!(store.compacted_revision().await.unwrap(), a2.mod_revision);
    assert_eq!(store.get("/a").await.unwrap(), Some(a2.clone()));
    assert_eq!(store.get("/gone").await.unwrap(), None);
    let at_c = store
        .list(ListOptions {
            revision: Some(c.mod_revision),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(at_c.kvs, vec![a2.clone(), c.clone()]);
    assert!(matches!(
        store
            .list(ListOptions {
                revision: Some(a.mod_revision),
                ..Default::default()
            })
            .await,
        Err(StorageError::Compacted { .. })
    ));
    assert_history_contiguous(&store, a2.mod_revision).await;
    // Writing continues from the persisted revision.
    let next = store.create("/d", b("d")).await.unwrap();
    assert_eq!(next.mod_revision, deleted_at + 1);
    store.close().await.unwrap();
}

#[tokio::test]
async fn reopening_while_open_fails_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let store = EmbeddedStore::open(&path, no_auto()).unwrap();
    assert!(EmbeddedStore::open(&path, no_auto()).is_err());
    store.close().await.unwrap();
    EmbeddedStore::open(&path, no_auto())
        .unwrap()
        .close()
        .await
        .unwrap();
}

#[tokio::test]
async fn unknown_format_version_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    EmbeddedStore::open(&path, no_auto())
        .unwrap()
        .close()
        .await
        .unwrap();
    {
        const META: redb::TableDefinition<&str, i64> = redb::TableDefinition::new("meta");
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        txn.open_table(META)
            .unwrap()
            .insert("format_version", FORMAT_VERSION + 1)
            .unwrap();
        txn.commit().unwrap();
    }
    let err = EmbeddedStore::open(&path, no_auto()).unwrap_err();
    assert!(err.to_string().contains("format version"), "{err}");
}

/// A format-1 file (with its per-key `index` table) opens: the table is
/// dropped, the file moves to the current format, and everything written
/// before reads back, now and at past revisions.
#[tokio::test]
async fn format_1_files_are_upgraded() {
    const META: redb::TableDefinition<&str, i64> = redb::TableDefinition::new("meta");
    const INDEX: redb::TableDefinition<(&str, i64), ()> = redb::TableDefinition::new("index");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let store = EmbeddedStore::open(&path, no_auto()).unwrap();
    let first = store.create("/k/a", Bytes::from_static(b"1")).await.unwrap();
    store
        .update("/k/a", Bytes::from_static(b"2"), first.mod_revision)
        .await
        .unwrap();
    store.create("/k/b", Bytes::from_static(b"3")).await.unwrap();
    store.close().await.unwrap();
    {
        // What format 1 had on top: the index rows and version 1.
        let db = redb::Database::create(&path).unwrap();
        let txn = db.begin_write().unwrap();
        {
            let mut index = txn.open_table(INDEX).unwrap();
            for (key, revision) in [("/k/a", 1), ("/k/a", 2), ("/k/b", 3)] {
                index.insert((key, revision), ()).unwrap();
            }
            txn.open_table(META).unwrap().insert("format_version", 1).unwrap();
        }
        txn.commit().unwrap();
    }
    let store = EmbeddedStore::open(&path, no_auto()).unwrap();
    let at = |revision| storage::ListOptions { prefix: "/k/".into(), revision: Some(revision), ..Default::default() };
    let values = |kvs: Vec<storage::KeyValue>| kvs.into_iter().map(|kv| kv.value).collect::<Vec<_>>();
    assert_eq!(values(store.list(at(1)).await.unwrap().kvs), [Bytes::from_static(b"1")]);
    assert_eq!(values(store.list(at(3)).await.unwrap().kvs), [Bytes::from_static(b"2"), Bytes::from_static(b"3")]);
    store.close().await.unwrap();
    let db = redb::Database::create(&path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let version = txn.open_table(META).unwrap().get("format_version").unwrap().unwrap().value();
    assert_eq!(version, FORMAT_VERSION);
    assert!(matches!(txn.open_table(INDEX), Err(redb::TableError::TableDoesNotExist(_))));
}

// ------------------------------------------------------------ kill -9

/// Child mode: write forever from 16 tasks, printing each acknowledged write.
#[test]
fn crash_writer_child() {
    let Some(path) = std::env::var_os(CHILD_ENV) else {
        return; // a normal test run: nothing to do
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async move {
        let store = Arc::new(EmbeddedStore::open(Path::new(&path), no_auto()).unwrap());
        let pid = std::process::id();
        let tasks: Vec<_> = (0..16)
            .map(|t| {
                let store = store.clone();
                tokio::spawn(async move {
                    for i in 0.. {
                        let key = format!("/crash/{pid}/{t}/{i}");
                        let kv = store.create(&key, Bytes::from(key.clone())).await.unwrap();
                        ack(&format!("C {key} {}", kv.mod_revision));
                        if i % 3 == 0 {
                            let kv = store
                                .update(&key, Bytes::from(format!("u:{key}")), kv.mod_revision)
                                .await
                                .unwrap();
                            ack(&format!("U {key} {}", kv.mod_revision));
                        }
                    }
                })
            })
            .collect();
        for task in tasks {
            let _ = task.await;
        }
    });
}

fn ack(line: &str) {
    let mut out = std::io::stdout().lock();
    // The parent is gone (pipe closed): stop.
    if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
        std::process::exit(0);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Acked {
    Created(i64),
    Updated(i64),
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let mut acked: BTreeMap<String, Acked> = BTreeMap::new();
    for (round, kill_after) in [150usize, 700, 40].into_iter().enumerate() {
        let child_path = path.clone();
        let lines =
            tokio::task::spawn_blocking(move || run_child_and_kill(&child_path, kill_after))
                .await
                .unwrap();
        assert!(
            lines.len() >= kill_after,
            "round {round}: child acknowledged too little: {}",
            lines.len()
        );
        for line in lines {
            let mut parts = line.split(' ');
            let (kind, key, rev) = (
                parts.next().unwrap(),
                parts.next().unwrap(),
                parts.next().unwrap(),
            );
            let rev: i64 = rev.parse().unwrap();
            let state = if kind == "C" {
                Acked::Created(rev)
            } else {
                Acked::Updated(rev)
            };
            acked.insert(key.to_owned(), state);
        }

        let store = EmbeddedStore::open(&path, no_auto()).unwrap();
        let current = store.current_revision().await.unwrap();
        let max_acked = acked.values().map(|a| match a {
            Acked::Created(r) | Acked::Updated(r) => *r,
        });
        assert!(
            current >= max_acked.max().unwrap(),
            "round {round}: revision went back"
        );
        for (key, state) in &acked {
            let kv = store
                .get(key)
                .await
                .unwrap()
                .unwrap_or_else(|| panic!("round {round}: acked {key} lost"));
            match *state {
                Acked::Created(rev) => {
                    assert_eq!(kv.create_revision, rev, "{key}");
                    assert!(
                        kv.value == key.as_bytes() || kv.value == format!("u:{key}").as_bytes(),
                        "{key}"
                    );
                }
                Acked::Updated(rev) => {
                    assert_eq!(kv.mod_revision, rev, "{key}");
                    assert_eq!(kv.value, Bytes::from(format!("u:{key}")));
                }
            }
        }
        // The store is consistent: list, count and the full history agree.
        let all = store.list(ListOptions::default()).await.unwrap();
        assert_eq!(all.kvs.len() as i64, store.count("").await.unwrap());
        assert!(all.kvs.len() >= acked.len());
        assert_history_contiguous(&store, 1).await;
        store.close().await.unwrap();
    }
}

/// Run the child writer on `path`, SIGKILL it after `kill_after` acks and
/// return every ack line it printed.
fn run_child_and_kill(path: &Path, kill_after: usize) -> Vec<String> {
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "crash_writer_child",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD_ENV, path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = Vec::new();
    let mut killed = false;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if !(line.starts_with("C ") || line.starts_with("U ")) {
            continue;
        }
        lines.push(line);
        if lines.len() == kill_after && !killed {
            child.kill().unwrap(); // SIGKILL
            killed = true;
        }
    }
    child.wait().unwrap();
    assert!(killed, "the child exited on its own");
    lines
}

// ------------------------------------------------------------ compaction

#[tokio::test]
async fn automatic_compaction_bounds_history() {
    const KEEP: i64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db.redb");
    let config = EmbeddedConfig {
        auto_compaction: AutoCompaction::KeepRevisions(KEEP),
        ..Default::default()
    };
    let store = EmbeddedStore::open(&path, config).unwrap();
    let mut kv = store.create("/hot", b("0")).await.unwrap();
    for i in 0..5 {
        store
            .create(&format!("/cold/{i}"), b("cold"))
            .await
            .unwrap();
    }
    for i in 1..1000 {
        kv = store
            .update("/hot", Bytes::from(i.to_string()), kv.mod_revision)
            .await
            .unwrap();
    }
    // The writer compacts right after answering; give it a moment.
    let current = store.current_revision().await.unwrap();
    let mut compacted = 0;
    for _ in 0..100 {
        compacted = store.compacted_revision().await.unwrap();
        if compacted >= current - KEEP - KEEP / 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        compacted >= current - KEEP - KEEP / 10 && compacted <= current - KEEP,
        "{compacted} vs {current}"
    );
    assert!(matches!(
        store
            .list(ListOptions {
                revision: Some(compacted - 1),
                ..Default::default()
            })
            .await,
        Err(StorageError::Compacted { .. })
    ));
    assert!(matches!(
        store.watch("", 0).await,
        Err(StorageError::Compacted { .. })
    ));
    let at = store
        .list(ListOptions {
            revision: Some(compacted),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(at.kvs.len(), 6, "old keys survive compaction");
    assert_eq!(
        store.get("/cold/0").await.unwrap().unwrap().value,
        b("cold")
    );
    assert_history_contiguous(&store, compacted).await;
    store.close().await.unwrap();

    // On disk: the log holds the retained window plus one version per live key.
    const LOG: redb::TableDefinition<i64, &[u8]> = redb::TableDefinition::new("log");
    let db = redb::Database::create(&path).unwrap();
    let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
    let entries = redb::ReadableTableMetadata::len(&txn.open_table(LOG).unwrap()).unwrap();
    assert!(
        entries as i64 <= (current - compacted) + 1 + 6,
        "log has {entries} entries"
    );
}

#[tokio::test]
async fn time_based_compaction_compacts_old_history() {
    let dir = tempfile::tempdir().unwrap();
    let config = EmbeddedConfig {
        auto_compaction: AutoCompaction::KeepFor(Duration::from_millis(200)),
        ..Default::default()
    };
    let store = EmbeddedStore::open(&dir.path().join("db.redb"), config).unwrap();
    let first = store.create("/k/0", b("x")).await.unwrap();
    let mut i = 1;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while store.compacted_revision().await.unwrap() < first.mod_revision {
        assert!(tokio::time::Instant::now() < deadline, "never compacted");
        store.create(&format!("/k/{i}"), b("x")).await.unwrap();
        i += 1;
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let current = store.current_revision().await.unwrap();
    assert!(
        store.compacted_revision().await.unwrap() < current,
        "recent history is kept"
    );
    store.close().await.unwrap();
}

// ------------------------------------------------------------ watch lag

fn tiny_watch_buffers() -> EmbeddedConfig {
    EmbeddedConfig {
        watch_broadcast_capacity: 1,
        watch_stream_buffer: 1,
        watch_replay_chunk: 7,
        ..no_auto()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_watch_recovers_from_history() {
    let dir = tempfile::tempdir().unwrap();
    let store =
        Arc::new(EmbeddedStore::open(&dir.path().join("db.redb"), tiny_watch_buffers()).unwrap());
    let mut stream = store.watch("/", 0).await.unwrap();
    let tasks: Vec<_> = (0..10)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for i in 0..30 {
                    store.create(&format!("/{t}/{i}"), b("x")).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    for expected in 1..=300 {
        let event = tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
            .unwrap()
            .unwrap();
        assert_eq!(event.revision(), expected, "no gap, no duplicate");
        assert!(matches!(event, WatchEvent::Put { prev: None, .. }));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lagging_watch_past_compaction_ends_with_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("db.redb"), tiny_watch_buffers()).unwrap();
    let mut stream = store.watch("/", 0).await.unwrap();
    for i in 0..50 {
        store.create(&format!("/{i}"), b("x")).await.unwrap();
    }
    store.compact(50).await.unwrap();
    let mut next = 1;
    loop {
        match tokio::time::timeout(Duration::from_secs(10), stream.next())
            .await
            .unwrap()
        {
            Some(Ok(event)) => {
                assert_eq!(
                    event.revision(),
                    next,
                    "events before the error have no gap"
                );
                next += 1;
                if next > 50 {
                    break; // everything arrived before the compaction bit
                }
            }
            Some(Err(StorageError::Compacted { .. })) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(
        next <= 50,
        "with tiny buffers the watch must have lagged past the compaction"
    );
}

#[tokio::test]
async fn closing_the_store_ends_watches_with_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let store = EmbeddedStore::open(&dir.path().join("db.redb"), no_auto()).unwrap();
    let mut stream = store.watch("", 0).await.unwrap();
    store.create("/x", b("x")).await.unwrap();
    assert!(matches!(stream.next().await, Some(Ok(_))));
    store.close().await.unwrap();
    assert!(matches!(
        stream.next().await,
        Some(Err(StorageError::Unavailable(_)))
    ));
}
