//! [`EmbeddedStore`]: the single-node backend on [redb](https://docs.rs/redb).
//!
//! Design in one paragraph: all data lives in one redb file (layout in
//! module `schema`). Writes are funnelled to one writer thread that
//! group-commits them (module `writer`): one transaction and one fsync per
//! batch, each write with its own revision, callers answered only after the
//! commit is durable. Reads (module `read`) use redb read transactions (MVCC
//! snapshots) on the blocking pool and never wait for the writer. Watches
//! (module `watch`) replay the revision log, then follow a broadcast of
//! committed events. History is bounded by compaction (module `compaction`),
//! explicit or automatic ([`AutoCompaction`]).
//!
//! Architecture invariant: only the writer thread opens write transactions.

mod apply;
mod compaction;
mod error;
mod read;
mod schema;
mod watch;
mod writer;

use std::path::Path;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use redb::Database;
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::instrument;

pub use compaction::AutoCompaction;
pub use schema::FORMAT_VERSION;
pub use writer::WriterStats;

use apply::{Op, Outcome};
use error::internal;
use watch::WatchTask;
use writer::{Request, Writer};

use crate::{
    KeyValue, ListOptions, ListResult, Result, Revision, StorageError, Store, WatchEvent,
    WatchStream,
};

/// The events of one committed batch, in revision order.
type EventBatch = Arc<[WatchEvent]>;

/// Tuning of an [`EmbeddedStore`]. `Default` suits the API server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbeddedConfig {
    /// Most writes committed in one transaction (group commit).
    pub max_batch: usize,
    /// Writes that may wait for the writer before callers are slowed down.
    pub queue_capacity: usize,
    /// Committed batches buffered for live watchers; a watcher further behind
    /// re-reads history from disk.
    pub watch_broadcast_capacity: usize,
    /// Events buffered per watch stream for a slow consumer.
    pub watch_stream_buffer: usize,
    /// Log entries read per step when a watch replays history.
    pub watch_replay_chunk: usize,
    pub auto_compaction: AutoCompaction,
    /// redb's page cache. Hot data also lives in the API server's watch
    /// cache, so a small cache is enough.
    pub cache_bytes: usize,
}

impl Default for EmbeddedConfig {
    fn default() -> Self {
        EmbeddedConfig {
            max_batch: 512,
            queue_capacity: 4096,
            watch_broadcast_capacity: 1024,
            watch_stream_buffer: 256,
            watch_replay_chunk: 1024,
            auto_compaction: AutoCompaction::default(),
            cache_bytes: 32 << 20,
        }
    }
}

/// Counters the writer publishes for cheap reads.
#[derive(Debug)]
struct Shared {
    revision: AtomicI64,
    compacted: AtomicI64,
    stats: writer::Stats,
}

/// The redb-backed [`Store`]. See the module docs.
pub struct EmbeddedStore {
    db: Arc<Database>,
    requests: mpsc::Sender<Request>,
    events: broadcast::Sender<EventBatch>,
    shared: Arc<Shared>,
    writer_done: oneshot::Receiver<()>,
    config: EmbeddedConfig,
}

impl std::fmt::Debug for EmbeddedStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedStore")
            .field("revision", &self.shared.revision.load(Ordering::Acquire))
            .field("compacted", &self.shared.compacted.load(Ordering::Acquire))
            .field("config", &self.config)
            .finish()
    }
}

impl EmbeddedStore {
    /// Open the store at `path`, creating the file if needed. A file left by
    /// a crash is repaired by redb to its last durable commit.
    #[instrument(skip(config), fields(path = %path.display()))]
    pub fn open(path: &Path, config: EmbeddedConfig) -> Result<Self> {
        let (db, counters) = schema::open_database(path, config.cache_bytes)?;
        let db = Arc::new(db);
        let shared = Arc::new(Shared {
            revision: AtomicI64::new(counters.revision),
            compacted: AtomicI64::new(counters.compacted),
            stats: writer::Stats::default(),
        });
        let (requests_tx, requests_rx) = mpsc::channel(config.queue_capacity.max(1));
        let (events, _) = broadcast::channel(config.watch_broadcast_capacity.max(1));
        let (done_tx, writer_done) = oneshot::channel();
        let writer = Writer {
            db: db.clone(),
            requests: requests_rx,
            events: events.clone(),
            shared: shared.clone(),
            max_batch: config.max_batch,
            auto: compaction::AutoCompactor::new(config.auto_compaction),
            revision: counters.revision,
            compacted: counters.compacted,
        };
        std::thread::Builder::new()
            .name("storage-writer".to_owned())
            .spawn(move || {
                writer.run();
                let _ = done_tx.send(());
            })
            .map_err(|e| internal(format!("spawning the writer thread: {e}")))?;
        tracing::info!(
            revision = counters.revision,
            compacted = counters.compacted,
            "embedded store open"
        );
        Ok(EmbeddedStore {
            db,
            requests: requests_tx,
            events,
            shared,
            writer_done,
            config,
        })
    }

    /// What the writer has done so far (group-commit batches and their cost).
    pub fn writer_stats(&self) -> WriterStats {
        self.shared.stats.snapshot()
    }

    /// Stop the writer (after it finished the queued writes) and release the
    /// file, so the same path can be opened again. Watch streams end with an
    /// `Unavailable` error. Dropping the store does the same without waiting.
    pub async fn close(self) -> Result<()> {
        let EmbeddedStore {
            db,
            requests,
            events,
            writer_done,
            ..
        } = self;
        drop(requests);
        drop(events);
        drop(db);
        // An error only means the thread is gone already, which is the goal.
        let _ = writer_done.await;
        Ok(())
    }

    async fn write(&self, op: Op) -> Result<Outcome> {
        let (reply, answer) = oneshot::channel();
        self.requests
            .send(Request { op, reply })
            .await
            .map_err(|_| StorageError::Unavailable("the storage writer has stopped".to_owned()))?;
        answer.await.map_err(|_| {
            StorageError::Unavailable("the storage writer stopped before answering".to_owned())
        })?
    }

    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Database) -> Result<T> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| internal(format!("read task failed: {e}")))?
    }
}

fn unexpected(outcome: Outcome) -> StorageError {
    internal(format!(
        "writer answered with an unexpected outcome: {outcome:?}"
    ))
}

#[async_trait]
impl Store for EmbeddedStore {
    #[instrument(level = "debug", skip(self))]
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let key = key.to_owned();
        self.read(move |db| read::get(db, &key)).await
    }

    #[instrument(level = "debug", skip(self))]
    async fn list(&self, opts: ListOptions) -> Result<ListResult> {
        self.read(move |db| read::list(db, &opts)).await
    }

    #[instrument(level = "debug", skip(self))]
    async fn count(&self, prefix: &str) -> Result<i64> {
        let prefix = prefix.to_owned();
        self.read(move |db| read::count(db, &prefix)).await
    }

    #[instrument(level = "debug", skip(self, value), fields(len = value.len()))]
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        match self
            .write(Op::Create {
                key: key.to_owned(),
                value,
            })
            .await?
        {
            Outcome::Written(kv) => Ok(kv),
            other => Err(unexpected(other)),
        }
    }

    #[instrument(level = "debug", skip(self, value), fields(len = value.len()))]
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        match self
            .write(Op::Update {
                key: key.to_owned(),
                value,
                expected,
            })
            .await?
        {
            Outcome::Written(kv) => Ok(kv),
            other => Err(unexpected(other)),
        }
    }

    #[instrument(level = "debug", skip(self))]
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        match self
            .write(Op::Delete {
                key: key.to_owned(),
                expected,
            })
            .await?
        {
            Outcome::Deleted(revision, kv) => Ok((revision, kv)),
            other => Err(unexpected(other)),
        }
    }

    #[instrument(level = "debug", skip(self))]
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        // Subscribe first (see `watch` module docs), then check compaction.
        let live = self.events.subscribe();
        let compacted = self.shared.compacted.load(Ordering::Acquire);
        if after + 1 < compacted {
            return Err(StorageError::Compacted {
                requested: after,
                compacted,
            });
        }
        Ok(WatchTask {
            db: Arc::downgrade(&self.db),
            live,
            prefix: prefix.to_owned(),
            after,
            chunk: self.config.watch_replay_chunk,
            buffer: self.config.watch_stream_buffer,
        }
        .spawn())
    }

    #[instrument(level = "debug", skip(self))]
    async fn compact(&self, revision: Revision) -> Result<()> {
        match self.write(Op::Compact { revision }).await? {
            Outcome::Compacted => Ok(()),
            other => Err(unexpected(other)),
        }
    }

    async fn current_revision(&self) -> Result<Revision> {
        Ok(self.shared.revision.load(Ordering::Acquire))
    }

    async fn compacted_revision(&self) -> Result<Revision> {
        Ok(self.shared.compacted.load(Ordering::Acquire))
    }
}
