//! The storage contract, written once and run against every backend.
//!
//! Each case is an `async fn(&Ctx)`; `contract_suite!` instantiates it as a
//! `#[tokio::test]` per backend. Embedded cases get a fresh store in a temp
//! dir. Etcd cases share one etcd process (keys under a unique prefix per
//! test), except the `isolated` ones, which compact and so get their own etcd.
//! Etcd tests FAIL (not skip) when the `etcd` binary is missing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashSet;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use storage::embedded::{AutoCompaction, EmbeddedConfig, EmbeddedStore};
use storage::etcd::{EtcdConfig, EtcdStore};
use storage::test_etcd::TestEtcd;
use storage::{DynStore, KeyValue, ListOptions, StorageError, WatchEvent, WatchStream};

// ---------------------------------------------------------------- fixtures

struct Ctx {
    store: DynStore,
    prefix: String,
    _keep: Keep,
}

enum Keep {
    Dir(#[allow(dead_code)] tempfile::TempDir),
    Etcd(#[allow(dead_code)] TestEtcd),
    Nothing,
}

impl Ctx {
    async fn embedded() -> Ctx {
        let dir = tempfile::tempdir().unwrap();
        let config = EmbeddedConfig {
            auto_compaction: AutoCompaction::Disabled,
            ..Default::default()
        };
        let store = EmbeddedStore::open(&dir.path().join("db.redb"), config).unwrap();
        Ctx {
            store: Arc::new(store),
            prefix: "/contract/".to_owned(),
            _keep: Keep::Dir(dir),
        }
    }

    async fn etcd(case: &str, isolated: bool) -> Ctx {
        static SHARED: OnceLock<Result<TestEtcd, String>> = OnceLock::new();
        let (endpoint, keep) = if isolated {
            let etcd = TestEtcd::start().unwrap_or_else(|e| panic!("{e}"));
            (etcd.endpoint(), Keep::Etcd(etcd))
        } else {
            let shared = SHARED
                .get_or_init(TestEtcd::start)
                .as_ref()
                .unwrap_or_else(|e| panic!("{e}"));
            (shared.endpoint(), Keep::Nothing)
        };
        let store = EtcdStore::connect(&[endpoint], EtcdConfig::default())
            .await
            .unwrap();
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let prefix = format!("/contract/{case}-{nanos}/");
        Ctx {
            store: Arc::new(store),
            prefix,
            _keep: keep,
        }
    }

    fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    fn list_opts(&self, sub: &str) -> ListOptions {
        ListOptions {
            prefix: self.key(sub),
            ..Default::default()
        }
    }
}

macro_rules! contract_suite {
    (shared: $($shared:ident),* $(,)?; isolated: $($isolated:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $shared() { super::$shared(&super::Ctx::embedded().await).await; }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $isolated() { super::$isolated(&super::Ctx::embedded().await).await; }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $shared() { super::$shared(&super::Ctx::etcd(stringify!($shared), false).await).await; }
            )*
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $isolated() { super::$isolated(&super::Ctx::etcd(stringify!($isolated), true).await).await; }
            )*
        }
    };
}

contract_suite! {
    shared:
        create_then_get,
        create_twice_is_already_exists,
        update_cases,
        delete_cases,
        revisions_are_monotonic_and_create_revision_tracks_lifetimes,
        list_isolates_prefixes_and_orders_keys,
        list_paginates_with_more_and_remaining,
        list_at_past_revision_sees_old_values,
        list_at_future_revision_fails,
        count_counts_keys_under_prefix,
        watch_replays_history_then_follows_live,
        watch_from_future_revision_waits,
        watch_changes_reports_every_change_with_or_without_previous_values,
        concurrent_writers_get_unique_revisions_seen_once_by_watch,
        current_revision_follows_writes;
    isolated:
        every_past_list_matches_a_model_of_the_history,
        list_at_compacted_revision_fails,
        watch_from_compacted_revision_fails,
        compacted_revision_tracks_compact,
}

// ---------------------------------------------------------------- helpers

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

async fn next_event(stream: &mut WatchStream) -> WatchEvent {
    match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
        Ok(Some(Ok(event))) => event,
        other => panic!("expected a watch event, got {other:?}"),
    }
}

/// No event arrives within a short while.
async fn assert_quiet(stream: &mut WatchStream) {
    if let Ok(item) = tokio::time::timeout(Duration::from_millis(300), stream.next()).await {
        panic!("expected no watch event, got {item:?}");
    }
}

fn keys(kvs: &[KeyValue]) -> Vec<&str> {
    kvs.iter().map(|kv| kv.key.as_str()).collect()
}

/// A watch that must fail with `Compacted`, either at the call or as its first item.
async fn assert_watch_compacted(ctx: &Ctx, after: i64) {
    match ctx.store.watch(&ctx.prefix, after).await {
        Err(StorageError::Compacted { .. }) => {}
        Err(e) => panic!("expected Compacted, got {e:?}"),
        Ok(mut stream) => {
            match tokio::time::timeout(Duration::from_secs(10), stream.next()).await {
                Ok(Some(Err(StorageError::Compacted { .. }))) => {}
                other => panic!("expected a Compacted item, got {other:?}"),
            }
        }
    }
}

// ---------------------------------------------------------------- cases

async fn create_then_get(ctx: &Ctx) {
    let key = ctx.key("a");
    assert_eq!(ctx.store.get(&key).await.unwrap(), None);
    let kv = ctx.store.create(&key, b("v1")).await.unwrap();
    assert_eq!(kv.key, key);
    assert_eq!(kv.value, b("v1"));
    assert!(kv.mod_revision > 0);
    assert_eq!(kv.create_revision, kv.mod_revision);
    assert_eq!(ctx.store.get(&key).await.unwrap(), Some(kv));
}

async fn create_twice_is_already_exists(ctx: &Ctx) {
    let key = ctx.key("a");
    let first = ctx.store.create(&key, b("v1")).await.unwrap();
    match ctx.store.create(&key, b("v2")).await {
        Err(StorageError::AlreadyExists { key: k }) => assert_eq!(k, key),
        other => panic!("expected AlreadyExists, got {other:?}"),
    }
    assert_eq!(
        ctx.store.get(&key).await.unwrap(),
        Some(first),
        "a failed create changes nothing"
    );
}

async fn update_cases(ctx: &Ctx) {
    let key = ctx.key("a");
    let created = ctx.store.create(&key, b("v1")).await.unwrap();

    // (description, key, expected revision, outcome)
    enum Want {
        Ok,
        Conflict,
        NotFound,
    }
    let cases = [
        (
            "wrong revision",
            key.clone(),
            created.mod_revision + 1000,
            Want::Conflict,
        ),
        (
            "missing key",
            ctx.key("missing"),
            created.mod_revision,
            Want::NotFound,
        ),
        (
            "missing key, revision 0",
            ctx.key("missing"),
            0,
            Want::NotFound,
        ),
        (
            "right revision",
            key.clone(),
            created.mod_revision,
            Want::Ok,
        ),
        (
            "stale revision",
            key.clone(),
            created.mod_revision,
            Want::Conflict,
        ),
    ];
    let mut latest = created.clone();
    for (what, k, expected, want) in cases {
        let result = ctx.store.update(&k, b(what), expected).await;
        match (want, result) {
            (Want::Ok, Ok(kv)) => {
                assert!(kv.mod_revision > latest.mod_revision, "{what}");
                assert_eq!(
                    kv.create_revision, created.create_revision,
                    "{what}: create revision kept"
                );
                assert_eq!(kv.value, b(what));
                latest = kv;
            }
            (
                Want::Conflict,
                Err(StorageError::Conflict {
                    key: ck,
                    expected: e,
                    actual,
                }),
            ) => {
                assert_eq!(
                    (ck.as_str(), e, actual),
                    (k.as_str(), expected, latest.mod_revision),
                    "{what}"
                );
            }
            (Want::NotFound, Err(StorageError::NotFound { key: nk })) => {
                assert_eq!(nk, k, "{what}")
            }
            (_, other) => panic!("{what}: unexpected {other:?}"),
        }
    }
    assert_eq!(ctx.store.get(&key).await.unwrap(), Some(latest));
    assert_eq!(
        ctx.store.get(&ctx.key("missing")).await.unwrap(),
        None,
        "a failed update creates nothing"
    );
}

async fn delete_cases(ctx: &Ctx) {
    let a = ctx.store.create(&ctx.key("a"), b("va")).await.unwrap();
    let b_kv = ctx.store.create(&ctx.key("b"), b("vb")).await.unwrap();

    match ctx.store.delete(&a.key, Some(a.mod_revision + 1000)).await {
        Err(StorageError::Conflict {
            expected, actual, ..
        }) => {
            assert_eq!((expected, actual), (a.mod_revision + 1000, a.mod_revision));
        }
        other => panic!("expected Conflict, got {other:?}"),
    }
    let (rev_a, prev_a) = ctx
        .store
        .delete(&a.key, Some(a.mod_revision))
        .await
        .unwrap();
    assert_eq!(prev_a, a);
    assert!(rev_a > b_kv.mod_revision);
    let (rev_b, prev_b) = ctx.store.delete(&b_kv.key, None).await.unwrap();
    assert_eq!(prev_b, b_kv);
    assert!(rev_b > rev_a);
    for key in [&a.key, &b_kv.key, &ctx.key("never")] {
        assert_eq!(ctx.store.get(key).await.unwrap(), None);
        match ctx.store.delete(key, None).await {
            Err(StorageError::NotFound { key: k }) => assert_eq!(&k, key),
            other => panic!("expected NotFound, got {other:?}"),
        }
        assert!(matches!(
            ctx.store.delete(key, Some(1)).await,
            Err(StorageError::NotFound { .. })
        ));
    }
}

async fn revisions_are_monotonic_and_create_revision_tracks_lifetimes(ctx: &Ctx) {
    let a1 = ctx.store.create(&ctx.key("a"), b("1")).await.unwrap();
    let b1 = ctx.store.create(&ctx.key("b"), b("1")).await.unwrap();
    let a2 = ctx
        .store
        .update(&a1.key, b("2"), a1.mod_revision)
        .await
        .unwrap();
    let (deleted_at, _) = ctx.store.delete(&a2.key, None).await.unwrap();
    let a3 = ctx.store.create(&a1.key, b("3")).await.unwrap();
    let revisions = [
        a1.mod_revision,
        b1.mod_revision,
        a2.mod_revision,
        deleted_at,
        a3.mod_revision,
    ];
    assert!(
        revisions.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {revisions:?}"
    );
    assert_eq!(a2.create_revision, a1.create_revision);
    assert_eq!(
        a3.create_revision, a3.mod_revision,
        "recreate starts a new lifetime"
    );
    assert_eq!(ctx.store.get(&a1.key).await.unwrap(), Some(a3));
}

async fn list_isolates_prefixes_and_orders_keys(ctx: &Ctx) {
    for name in ["a/y", "ab/x", "a/x", "a", "a/z/deep", "b/x"] {
        ctx.store.create(&ctx.key(name), b(name)).await.unwrap();
    }
    let list = ctx.store.list(ctx.list_opts("a/")).await.unwrap();
    let want = [ctx.key("a/x"), ctx.key("a/y"), ctx.key("a/z/deep")];
    assert_eq!(
        keys(&list.kvs),
        want.iter().map(String::as_str).collect::<Vec<_>>()
    );
    assert!(!list.more);
    assert!(list.revision >= list.kvs.iter().map(|kv| kv.mod_revision).max().unwrap());
    assert_eq!(list.kvs[0].value, b("a/x"));

    let all = ctx.store.list(ctx.list_opts("")).await.unwrap();
    assert_eq!(all.kvs.len(), 6);
    assert!(
        all.kvs.windows(2).all(|w| w[0].key < w[1].key),
        "ascending byte order"
    );
    assert!(ctx
        .store
        .list(ctx.list_opts("nothing/"))
        .await
        .unwrap()
        .kvs
        .is_empty());
}

async fn list_paginates_with_more_and_remaining(ctx: &Ctx) {
    for i in 0..5 {
        ctx.store
            .create(&ctx.key(&format!("p/{i}")), b("x"))
            .await
            .unwrap();
    }
    // A key after the prefix must not count as remaining.
    ctx.store.create(&ctx.key("q/0"), b("x")).await.unwrap();
    let mut opts = ListOptions {
        limit: Some(2),
        ..ctx.list_opts("p/")
    };
    // (keys on the page, more, remaining)
    let pages = [
        (vec!["p/0", "p/1"], true, 3),
        (vec!["p/2", "p/3"], true, 1),
        (vec!["p/4"], false, 0),
    ];
    for (i, (want, more, remaining)) in pages.into_iter().enumerate() {
        let page = ctx.store.list(opts.clone()).await.unwrap();
        let want: Vec<String> = want.iter().map(|k| ctx.key(k)).collect();
        assert_eq!(
            keys(&page.kvs),
            want.iter().map(String::as_str).collect::<Vec<_>>(),
            "page {i}"
        );
        assert_eq!((page.more, page.remaining), (more, remaining), "page {i}");
        // Later pages read at the first page's revision, as the API server does.
        opts.revision = Some(page.revision);
        opts.start_after = page.kvs.last().map(|kv| kv.key.clone());
    }
    // Starting after the last key, or before the prefix, or with limit 0 (none).
    for beyond in ["p/4", "p/5", "q", "z"] {
        let page = ctx.store.list(ListOptions {
            start_after: Some(ctx.key(beyond)),
            ..ctx.list_opts("p/")
        });
        let page = page.await.unwrap();
        assert_eq!(
            (page.kvs.len(), page.more, page.remaining),
            (0, false, 0),
            "after {beyond}"
        );
    }
    let before_prefix = ListOptions {
        start_after: Some(ctx.key("a")),
        limit: Some(0),
        ..ctx.list_opts("p/")
    };
    let page = ctx.store.list(before_prefix).await.unwrap();
    assert_eq!((page.kvs.len(), page.more, page.remaining), (5, false, 0));
}

async fn list_at_past_revision_sees_old_values(ctx: &Ctx) {
    let k1 = ctx.key("k1");
    let k2 = ctx.key("k2");
    let r1 = ctx.store.create(&k1, b("v1")).await.unwrap().mod_revision;
    let r2 = ctx
        .store
        .update(&k1, b("v2"), r1)
        .await
        .unwrap()
        .mod_revision;
    let r3 = ctx.store.create(&k2, b("w1")).await.unwrap().mod_revision;
    let (r4, _) = ctx.store.delete(&k1, None).await.unwrap();
    // (revision, expected (key, value) pairs); revision 0 would mean "now".
    let before = (r1 > 1).then_some((Some(r1 - 1), vec![]));
    type Case<'a> = (Option<i64>, Vec<(&'a str, &'a str)>);
    let cases: Vec<Case> = before
        .into_iter()
        .chain([
            (Some(r1), vec![(k1.as_str(), "v1")]),
            (Some(r2), vec![(k1.as_str(), "v2")]),
            (Some(r3), vec![(k1.as_str(), "v2"), (k2.as_str(), "w1")]),
            (Some(r4), vec![(k2.as_str(), "w1")]),
            (None, vec![(k2.as_str(), "w1")]),
        ])
        .collect();
    for (revision, want) in cases {
        let list = ctx
            .store
            .list(ListOptions {
                revision,
                ..ctx.list_opts("")
            })
            .await
            .unwrap();
        let got: Vec<(&str, &str)> = list
            .kvs
            .iter()
            .map(|kv| (kv.key.as_str(), std::str::from_utf8(&kv.value).unwrap()))
            .collect();
        assert_eq!(got, want, "at revision {revision:?}");
        if let Some(r) = revision {
            assert_eq!(list.revision, r);
        }
    }
    let at_r3 = ctx
        .store
        .list(ListOptions {
            revision: Some(r3),
            ..ctx.list_opts("")
        })
        .await
        .unwrap();
    assert_eq!(at_r3.kvs[0].mod_revision, r2);
    assert_eq!(at_r3.kvs[0].create_revision, r1);
    let paged = ListOptions {
        revision: Some(r3),
        limit: Some(1),
        ..ctx.list_opts("")
    };
    let page = ctx.store.list(paged).await.unwrap();
    assert_eq!(
        (keys(&page.kvs), page.more, page.remaining),
        (vec![k1.as_str()], true, 1)
    );
}

async fn list_at_future_revision_fails(ctx: &Ctx) {
    let current = ctx.store.current_revision().await.unwrap();
    let requested = current + 1_000_000;
    match ctx
        .store
        .list(ListOptions {
            revision: Some(requested),
            ..ctx.list_opts("")
        })
        .await
    {
        Err(StorageError::FutureRevision {
            requested: r,
            current: c,
        }) => {
            assert_eq!(r, requested);
            assert!(c >= current && c < requested);
        }
        other => panic!("expected FutureRevision, got {other:?}"),
    }
}

async fn count_counts_keys_under_prefix(ctx: &Ctx) {
    assert_eq!(ctx.store.count(&ctx.key("c/")).await.unwrap(), 0);
    for name in ["c/1", "c/2", "c/3", "cc/1"] {
        ctx.store.create(&ctx.key(name), b("x")).await.unwrap();
    }
    ctx.store.delete(&ctx.key("c/2"), None).await.unwrap();
    assert_eq!(ctx.store.count(&ctx.key("c/")).await.unwrap(), 2);
    assert_eq!(ctx.store.count(&ctx.key("c")).await.unwrap(), 3);
}

async fn watch_replays_history_then_follows_live(ctx: &Ctx) {
    let key = ctx.key("w/a");
    let v1 = ctx.store.create(&key, b("v1")).await.unwrap();
    let v2 = ctx
        .store
        .update(&key, b("v2"), v1.mod_revision)
        .await
        .unwrap();
    let mut stream = ctx
        .store
        .watch(&ctx.key("w/"), v1.mod_revision)
        .await
        .unwrap();

    // History: only what came after `v1`.
    assert_eq!(
        next_event(&mut stream).await,
        WatchEvent::Put {
            kv: v2.clone(),
            prev: Some(v1.clone())
        }
    );

    // Live, interleaved with writes outside the prefix that must not show.
    ctx.store
        .create(&ctx.key("wx/other"), b("no"))
        .await
        .unwrap();
    let (deleted_at, _) = ctx.store.delete(&key, None).await.unwrap();
    ctx.store.create(&ctx.key("w"), b("no")).await.unwrap();
    let b1 = ctx.store.create(&ctx.key("w/b"), b("b1")).await.unwrap();
    assert_eq!(
        next_event(&mut stream).await,
        WatchEvent::Delete {
            revision: deleted_at,
            prev: v2.clone()
        }
    );
    let created = next_event(&mut stream).await;
    assert_eq!(
        created,
        WatchEvent::Put {
            kv: b1.clone(),
            prev: None
        }
    );
    assert_eq!(created.key(), b1.key);
    assert_quiet(&mut stream).await;

    // A second watch from before everything sees the whole story in order.
    let mut all = ctx
        .store
        .watch(&ctx.key("w/"), v1.mod_revision - 1)
        .await
        .unwrap();
    let mut revisions = Vec::new();
    for _ in 0..4 {
        revisions.push(next_event(&mut all).await.revision());
    }
    assert_eq!(
        revisions,
        vec![
            v1.mod_revision,
            v2.mod_revision,
            deleted_at,
            b1.mod_revision
        ]
    );
}

/// `watch_changes` sees the same changes as `watch`: same keys, values
/// and revisions; previous values may be missing, a delete still names
/// its key.
async fn watch_changes_reports_every_change_with_or_without_previous_values(ctx: &Ctx) {
    let prefix = ctx.key("wc/");
    let start = ctx.store.current_revision().await.unwrap();
    let mut lean = ctx.store.watch_changes(&prefix, start).await.unwrap();
    let a = ctx.store.create(&ctx.key("wc/a"), b("a1")).await.unwrap();
    let a2 = ctx.store.update(&a.key, b("a2"), a.mod_revision).await.unwrap();
    let (deleted_at, _) = ctx.store.delete(&a.key, None).await.unwrap();
    ctx.store.create(&ctx.key("wcx"), b("outside")).await.unwrap();

    let created = next_event(&mut lean).await;
    assert!(matches!(&created, WatchEvent::Put { kv, .. } if *kv == a), "{created:?}");
    let updated = next_event(&mut lean).await;
    assert!(matches!(&updated, WatchEvent::Put { kv, .. } if *kv == a2), "{updated:?}");
    match next_event(&mut lean).await {
        WatchEvent::Delete { revision, prev } => {
            assert_eq!(revision, deleted_at);
            assert_eq!(prev.key, a.key);
            assert!(prev.value.is_empty() || prev.value == a2.value, "{prev:?}");
        }
        other => panic!("expected the delete, got {other:?}"),
    }
    assert_quiet(&mut lean).await;
}

async fn watch_from_future_revision_waits(ctx: &Ctx) {
    let current = ctx.store.current_revision().await.unwrap();
    let first = ctx.store.create(&ctx.key("f/1"), b("x")).await.unwrap();
    // Start after `first`, which is in the future of `current`'s snapshot
    // only if nothing else wrote; either way `first` must not show.
    assert!(first.mod_revision > current);
    let mut stream = ctx
        .store
        .watch(&ctx.key("f/"), first.mod_revision)
        .await
        .unwrap();
    let second = ctx.store.create(&ctx.key("f/2"), b("x")).await.unwrap();
    assert_eq!(
        next_event(&mut stream).await.revision(),
        second.mod_revision
    );
}

async fn concurrent_writers_get_unique_revisions_seen_once_by_watch(ctx: &Ctx) {
    const WRITERS: usize = 64;
    const WRITES: usize = 20;
    let start = ctx.store.current_revision().await.unwrap();
    let mut stream = ctx.store.watch(&ctx.key("cw/"), start).await.unwrap();
    let mut tasks = Vec::new();
    for w in 0..WRITERS {
        let store = ctx.store.clone();
        let prefix = ctx.key("cw/");
        tasks.push(tokio::spawn(async move {
            let mut revisions = Vec::new();
            for i in 0..WRITES {
                let key = format!("{prefix}{w:02}/{i:02}");
                let kv = store.create(&key, Bytes::from(key.clone())).await.unwrap();
                // Also exercise conditional writes under contention.
                let kv = store.update(&key, b("u"), kv.mod_revision).await.unwrap();
                revisions.push((key, kv.mod_revision));
            }
            revisions
        }));
    }
    let mut written = Vec::new();
    for task in tasks {
        written.extend(task.await.unwrap());
    }
    let unique: HashSet<i64> = written.iter().map(|(_, r)| *r).collect();
    assert_eq!(
        unique.len(),
        WRITERS * WRITES,
        "every write has its own revision"
    );

    let mut seen_revisions = HashSet::new();
    let mut last = start;
    let mut updated_keys = HashSet::new();
    for _ in 0..2 * WRITERS * WRITES {
        let event = next_event(&mut stream).await;
        assert!(event.revision() > last, "in order, no duplicates");
        last = event.revision();
        assert!(seen_revisions.insert(event.revision()));
        if let WatchEvent::Put { kv, prev: Some(_) } = event {
            assert!(updated_keys.insert(kv.key), "each update seen once");
        }
    }
    assert_eq!(updated_keys.len(), WRITERS * WRITES);
    assert!(written.iter().all(|(_, r)| seen_revisions.contains(r)));
    assert_quiet(&mut stream).await;
    assert_eq!(
        ctx.store.count(&ctx.key("cw/")).await.unwrap(),
        (WRITERS * WRITES) as i64
    );
}

async fn current_revision_follows_writes(ctx: &Ctx) {
    let before = ctx.store.current_revision().await.unwrap();
    assert!(before >= 0);
    let kv = ctx.store.create(&ctx.key("r"), b("x")).await.unwrap();
    let after = ctx.store.current_revision().await.unwrap();
    assert!(after >= kv.mod_revision && kv.mod_revision > before);
    // A rejected write does not move the revision (this store only; etcd is shared).
    let _ = ctx
        .store
        .create(&ctx.key("r"), b("again"))
        .await
        .unwrap_err();
    let list = ctx.store.list(ctx.list_opts("")).await.unwrap();
    assert!(list.revision >= after);
}

async fn list_at_compacted_revision_fails(ctx: &Ctx) {
    let key = ctx.key("k");
    let r1 = ctx.store.create(&key, b("v1")).await.unwrap().mod_revision;
    let r2 = ctx
        .store
        .update(&key, b("v2"), r1)
        .await
        .unwrap()
        .mod_revision;
    let r3 = ctx
        .store
        .update(&key, b("v3"), r2)
        .await
        .unwrap()
        .mod_revision;
    let gone = ctx
        .store
        .create(&ctx.key("gone"), b("x"))
        .await
        .unwrap()
        .mod_revision;
    let (r5, _) = ctx.store.delete(&ctx.key("gone"), None).await.unwrap();
    ctx.store.compact(r3).await.unwrap();

    match ctx
        .store
        .list(ListOptions {
            revision: Some(r1),
            ..ctx.list_opts("")
        })
        .await
    {
        Err(StorageError::Compacted {
            requested,
            compacted,
        }) => assert_eq!((requested, compacted), (r1, r3)),
        other => panic!("expected Compacted, got {other:?}"),
    }
    assert!(matches!(
        ctx.store
            .list(ListOptions {
                revision: Some(r2),
                ..ctx.list_opts("")
            })
            .await,
        Err(StorageError::Compacted { .. })
    ));
    // The compaction point itself and later are still readable.
    let at_r3 = ctx
        .store
        .list(ListOptions {
            revision: Some(r3),
            ..ctx.list_opts("")
        })
        .await
        .unwrap();
    assert_eq!(at_r3.kvs.len(), 1);
    assert_eq!(at_r3.kvs[0].value, b("v3"));
    let at_gone = ctx
        .store
        .list(ListOptions {
            revision: Some(gone),
            ..ctx.list_opts("")
        })
        .await
        .unwrap();
    assert_eq!(
        keys(&at_gone.kvs),
        vec![ctx.key("gone").as_str(), key.as_str()]
    );
    let now = ctx
        .store
        .list(ListOptions {
            revision: Some(r5),
            ..ctx.list_opts("")
        })
        .await
        .unwrap();
    assert_eq!(keys(&now.kvs), vec![key.as_str()]);
    assert_eq!(ctx.store.get(&key).await.unwrap().unwrap().value, b("v3"));
}

/// A deterministic random history over a few keys in two sub-prefixes
/// (creates, updates, deletes, re-creates), compacted half way; then every
/// list at every revision still readable, whole and paged, must equal a
/// model of the store's state at that revision.
async fn every_past_list_matches_a_model_of_the_history(ctx: &Ctx) {
    use std::collections::BTreeMap;
    type State = BTreeMap<String, KeyValue>;
    let mut seed: u64 = 0x5eed_cafe;
    let mut next = move |n: u64| {
        seed = seed
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (seed >> 33) % n
    };
    let names: Vec<String> = (0..10)
        .map(|i| format!("{}/k{i}", if i % 2 == 0 { "a" } else { "b" }))
        .collect();
    let mut state = State::new();
    let mut history: Vec<(i64, State)> = Vec::new();
    let mut compacted_at = None;
    for step in 0..160 {
        let key = ctx.key(&names[next(names.len() as u64) as usize]);
        let value = b(&format!("v{step}"));
        let revision = match state.get(&key).cloned() {
            None => {
                let kv = ctx.store.create(&key, value).await.unwrap();
                state.insert(key, kv.clone());
                kv.mod_revision
            }
            Some(old) if next(3) == 0 => {
                let (revision, _) = ctx.store.delete(&key, Some(old.mod_revision)).await.unwrap();
                state.remove(&key);
                revision
            }
            Some(old) => {
                let kv = ctx.store.update(&key, value, old.mod_revision).await.unwrap();
                state.insert(key, kv.clone());
                kv.mod_revision
            }
        };
        history.push((revision, state.clone()));
        if step == 80 {
            ctx.store.compact(revision).await.unwrap();
            compacted_at = Some(revision);
        }
    }
    let compacted_at = compacted_at.unwrap();
    for (revision, expected) in history.iter().filter(|(r, _)| *r >= compacted_at) {
        for sub in ["", "a/", "b/"] {
            let prefix = ctx.key(sub);
            let want: Vec<&KeyValue> = expected.range(prefix.clone()..).take_while(|(k, _)| k.starts_with(&prefix)).map(|(_, kv)| kv).collect();
            let whole = ctx.store.list(ListOptions { revision: Some(*revision), ..ctx.list_opts(sub) }).await.unwrap();
            assert_eq!(whole.kvs.iter().collect::<Vec<_>>(), want, "list {sub:?} at {revision}");
            assert!(!whole.more);
            // The same in pages of two, each read at the same revision.
            let mut paged = Vec::new();
            let mut start_after = None;
            loop {
                let page = ctx
                    .store
                    .list(ListOptions { revision: Some(*revision), limit: Some(2), start_after: start_after.clone(), ..ctx.list_opts(sub) })
                    .await
                    .unwrap();
                paged.extend(page.kvs.iter().cloned());
                if page.more {
                    assert_eq!(page.remaining as usize, want.len() - paged.len(), "remaining of {sub:?} at {revision}");
                }
                start_after = page.kvs.last().map(|kv| kv.key.clone());
                if !page.more {
                    break;
                }
            }
            assert_eq!(paged.iter().collect::<Vec<_>>(), want, "paged list {sub:?} at {revision}");
        }
    }
}

async fn watch_from_compacted_revision_fails(ctx: &Ctx) {
    let key = ctx.key("k");
    let r1 = ctx.store.create(&key, b("v1")).await.unwrap().mod_revision;
    let r2 = ctx
        .store
        .update(&key, b("v2"), r1)
        .await
        .unwrap()
        .mod_revision;
    let r3 = ctx
        .store
        .update(&key, b("v3"), r2)
        .await
        .unwrap()
        .mod_revision;
    ctx.store.compact(r2).await.unwrap();
    assert_watch_compacted(ctx, r1 - 1).await;
    assert_watch_compacted(ctx, 0).await;
    // As in etcd, after compact(r) a watch may still start at r.
    let mut stream = ctx.store.watch(&ctx.prefix, r2 - 1).await.unwrap();
    assert_eq!(next_event(&mut stream).await.revision(), r2);
    assert_eq!(
        next_event(&mut stream).await,
        WatchEvent::Put {
            kv: KeyValue {
                key: key.clone(),
                value: b("v3"),
                create_revision: r1,
                mod_revision: r3
            },
            prev: Some(KeyValue {
                key,
                value: b("v2"),
                create_revision: r1,
                mod_revision: r2
            }),
        }
    );
}

async fn compacted_revision_tracks_compact(ctx: &Ctx) {
    assert_eq!(ctx.store.compacted_revision().await.unwrap(), 0);
    let mut last = 0;
    for i in 0..5 {
        last = ctx
            .store
            .create(&ctx.key(&format!("{i}")), b("x"))
            .await
            .unwrap()
            .mod_revision;
    }
    ctx.store.compact(last - 2).await.unwrap();
    assert_eq!(ctx.store.compacted_revision().await.unwrap(), last - 2);
    // Compacting to an older revision is a no-op, to the future an error.
    ctx.store.compact(last - 3).await.unwrap();
    assert_eq!(ctx.store.compacted_revision().await.unwrap(), last - 2);
    match ctx.store.compact(last + 1000).await {
        Err(StorageError::FutureRevision { requested, .. }) => assert_eq!(requested, last + 1000),
        other => panic!("expected FutureRevision, got {other:?}"),
    }
    ctx.store.compact(last).await.unwrap();
    assert_eq!(ctx.store.compacted_revision().await.unwrap(), last);
    assert_eq!(
        ctx.store.count(&ctx.prefix).await.unwrap(),
        5,
        "compaction keeps live keys"
    );
    assert_eq!(
        ctx.store.list(ctx.list_opts("")).await.unwrap().kvs.len(),
        5
    );
}

// ---------------------------------------------------------------- etcd only

/// A client that did not do the compaction itself finds the compaction
/// point by probing (see `storage::etcd` docs).
#[tokio::test]
async fn etcd_fresh_client_finds_compaction_point() {
    let ctx = Ctx::etcd("fresh_client", true).await;
    let mut last = 0;
    for i in 0..37 {
        last = ctx
            .store
            .create(&ctx.key(&format!("{i}")), b("x"))
            .await
            .unwrap()
            .mod_revision;
    }
    ctx.store.compact(last - 11).await.unwrap();
    let Keep::Etcd(etcd) = &ctx._keep else {
        panic!("isolated etcd expected")
    };
    let fresh = EtcdStore::connect(&[etcd.endpoint()], EtcdConfig::default())
        .await
        .unwrap();
    use storage::Store;
    assert_eq!(fresh.compacted_revision().await.unwrap(), last - 11);
    match fresh
        .list(ListOptions {
            revision: Some(last - 12),
            ..ctx.list_opts("")
        })
        .await
    {
        Err(StorageError::Compacted {
            requested,
            compacted,
        }) => assert_eq!((requested, compacted), (last - 12, last - 11)),
        other => panic!("expected Compacted, got {other:?}"),
    }
}

#[tokio::test]
async fn etcd_unreachable_endpoint_is_unavailable() {
    let config = EtcdConfig {
        connect_timeout: Duration::from_millis(500),
        ..Default::default()
    };
    // Port 1 on loopback: nothing listens there.
    match EtcdStore::connect(&["http://127.0.0.1:1".to_owned()], config).await {
        Err(StorageError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
}
