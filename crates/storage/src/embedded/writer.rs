//! The single writer thread and its group commit.
//!
//! Every write goes through one channel to this thread. It takes the first
//! request, then whatever else is already queued (up to `max_batch`), applies
//! them in order in ONE redb write transaction (each write still gets its own
//! revision), commits with immediate durability (one fsync for the batch),
//! publishes the batch's watch events, and only then answers the callers. A
//! write is therefore never acknowledged before it is on disk, and a crash
//! mid-commit leaves the previous commit intact (redb's commit is atomic).
//!
//! It runs on a dedicated OS thread (redb is blocking), so async callers never
//! block a runtime worker; reads do not go through here at all.
//!
//! Publishing a batch's events and answering its callers (one task wake-up
//! each) is handed to a second thread, the notifier, so the writer can start
//! the next batch at once: it is the serial path every write waits on. The
//! notifier takes batches in commit order and, for each, publishes the events
//! before it answers, as the writer did itself.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use redb::{Database, Durability, ReadableDatabase};
use tokio::sync::{broadcast, mpsc, oneshot};
use tracing::{debug, debug_span, warn};

use super::apply::{apply, BatchState, Op, Verdict, WriteTables};
use super::compaction::{self, AutoCompactor};
use super::error::Ctx;
use super::schema::{META, META_COMPACTED, META_REVISION};
use super::{EventBatch, Shared};
use crate::{Result, Revision, StorageError};

/// Running totals of the writer's work, for benchmarks and metrics.
#[derive(Debug, Default)]
pub struct Stats {
    batches: AtomicU64,
    writes: AtomicU64,
    apply_nanos: AtomicU64,
    commit_nanos: AtomicU64,
}

/// A copy of [`Stats`] at one moment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriterStats {
    /// Group-commit transactions committed.
    pub batches: u64,
    /// Writes they held.
    pub writes: u64,
    /// Time spent applying writes to open transactions.
    pub apply: Duration,
    /// Time spent committing (including the fsync).
    pub commit: Duration,
}

impl Stats {
    fn record(&self, writes: usize, apply: Duration, commit: Duration) {
        let nanos = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.writes.fetch_add(writes as u64, Ordering::Relaxed);
        self.apply_nanos.fetch_add(nanos(apply), Ordering::Relaxed);
        self.commit_nanos.fetch_add(nanos(commit), Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> WriterStats {
        WriterStats {
            batches: self.batches.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            apply: Duration::from_nanos(self.apply_nanos.load(Ordering::Relaxed)),
            commit: Duration::from_nanos(self.commit_nanos.load(Ordering::Relaxed)),
        }
    }
}

/// One write waiting for the writer.
pub struct Request {
    pub op: Op,
    pub reply: oneshot::Sender<Verdict>,
}

/// A committed (or failed) batch on its way to the notifier.
struct Completion {
    events: Option<EventBatch>,
    replies: Vec<(oneshot::Sender<Verdict>, Verdict)>,
}

/// The notifier thread's loop: until the writer is gone, publish each
/// batch's events, then answer its callers.
fn notify(completions: std_mpsc::Receiver<Completion>, events: broadcast::Sender<EventBatch>) {
    for done in completions {
        publish(done, &events);
    }
}

/// Publish one batch's events, then answer its callers.
fn publish(done: Completion, events: &broadcast::Sender<EventBatch>) {
    if let Some(batch) = done.events {
        // No receivers is fine: nobody watches.
        let _ = events.send(batch);
    }
    for (reply, verdict) in done.replies {
        // The caller may have given up waiting; the write stands.
        let _ = reply.send(verdict);
    }
}

pub struct Writer {
    pub db: Arc<Database>,
    pub requests: mpsc::Receiver<Request>,
    pub events: broadcast::Sender<EventBatch>,
    pub shared: Arc<Shared>,
    pub max_batch: usize,
    pub auto: AutoCompactor,
    /// Last committed revision and compaction point.
    pub revision: Revision,
    pub compacted: Revision,
}

impl Writer {
    /// Serve requests until every sender is gone; returns once every
    /// caller has its answer.
    pub fn run(mut self) {
        let (completions, pending) = std_mpsc::channel();
        let events = self.events.clone();
        let notifier = std::thread::Builder::new()
            .name("storage-notify".to_owned())
            .spawn(move || notify(pending, events));
        let notifier = match notifier {
            Ok(handle) => Some(handle),
            Err(e) => {
                warn!(error = %e, "could not start the notifier thread; the writer answers itself");
                None
            }
        };
        let max_batch = self.max_batch.max(1);
        let mut batch = Vec::with_capacity(max_batch);
        while let Some(first) = self.requests.blocking_recv() {
            batch.push(first);
            while batch.len() < max_batch {
                match self.requests.try_recv() {
                    Ok(request) => batch.push(request),
                    Err(_) => break,
                }
            }
            let done = self.commit_batch(&mut batch);
            match &notifier {
                Some(_) => {
                    if let Err(std_mpsc::SendError(done)) = completions.send(done) {
                        publish(done, &self.events);
                    }
                }
                None => publish(done, &self.events),
            }
            self.auto_compact();
        }
        drop(completions);
        if let Some(handle) = notifier {
            let _ = handle.join();
        }
        debug!("storage writer stopped");
    }

    fn commit_batch(&mut self, batch: &mut Vec<Request>) -> Completion {
        let span = debug_span!("commit_batch", size = batch.len(), after = self.revision);
        let _enter = span.enter();
        let (ops, replies): (Vec<Op>, Vec<_>) = batch.drain(..).map(|r| (r.op, r.reply)).unzip();
        let mut state = BatchState {
            revision: self.revision,
            compacted: self.compacted,
            events: Vec::new(),
        };
        match self.apply_and_commit(ops, &mut state) {
            Ok(verdicts) => {
                self.advance(state.revision, state.compacted);
                Completion {
                    events: (!state.events.is_empty()).then(|| Arc::from(state.events)),
                    replies: replies.into_iter().zip(verdicts).collect(),
                }
            }
            Err(e) => {
                warn!(error = %e, "group commit failed; failing every write of the batch");
                self.reload_counters();
                let failed = |reply| {
                    let verdict = Err(StorageError::Unavailable(format!("write failed: {e}")));
                    (reply, verdict)
                };
                Completion {
                    events: None,
                    replies: replies.into_iter().map(failed).collect(),
                }
            }
        }
    }

    /// One transaction for the whole batch; a storage error aborts all of it.
    fn apply_and_commit(&self, ops: Vec<Op>, state: &mut BatchState) -> Result<Vec<Verdict>> {
        let started = Instant::now();
        let writes = ops.len();
        let mut txn = self.db.begin_write().ctx("begin write")?;
        txn.set_durability(Durability::Immediate)
            .ctx("set durability")?;
        let verdicts = {
            let mut tables = WriteTables::open(&txn)?;
            let mut verdicts = Vec::with_capacity(ops.len());
            for op in ops {
                verdicts.push(apply(&mut tables, state, op)?);
            }
            tables.save_counters(state)?;
            verdicts
        };
        let applied = Instant::now();
        txn.commit().ctx("commit")?;
        self.shared
            .stats
            .record(writes, applied - started, applied.elapsed());
        Ok(verdicts)
    }

    fn advance(&mut self, revision: Revision, compacted: Revision) {
        self.revision = revision;
        self.compacted = compacted;
        self.shared.revision.store(revision, Ordering::Release);
        self.shared.compacted.store(compacted, Ordering::Release);
    }

    /// After a failed commit, trust only what is on disk.
    fn reload_counters(&mut self) {
        let loaded = (|| -> Result<(Revision, Revision)> {
            let txn = self.db.begin_read().ctx("begin read")?;
            let meta = txn.open_table(META).ctx("open meta")?;
            let get = |name: &str| -> Result<i64> {
                Ok(meta
                    .get(name)
                    .ctx("read meta")?
                    .map(|v| v.value())
                    .unwrap_or(0))
            };
            Ok((get(META_REVISION)?, get(META_COMPACTED)?))
        })();
        match loaded {
            Ok((revision, compacted)) => self.advance(revision, compacted),
            Err(e) => warn!(error = %e, "could not reload counters after a failed commit"),
        }
    }

    fn auto_compact(&mut self) {
        let Some(target) = self
            .auto
            .target(Instant::now(), self.revision, self.compacted)
        else {
            return;
        };
        let span = debug_span!("auto_compact", from = self.compacted, to = target);
        let _enter = span.enter();
        let mut state = BatchState {
            revision: self.revision,
            compacted: self.compacted,
            events: Vec::new(),
        };
        let result = (|| -> Result<usize> {
            let mut txn = self.db.begin_write().ctx("begin write")?;
            txn.set_durability(Durability::Immediate)
                .ctx("set durability")?;
            let removed = {
                let mut tables = WriteTables::open(&txn)?;
                let removed = compaction::compact(&mut tables, state.compacted, target)?;
                state.compacted = target;
                tables.save_counters(&state)?;
                removed
            };
            txn.commit().ctx("commit compaction")?;
            Ok(removed)
        })();
        match result {
            Ok(removed) => {
                debug!(removed, "compacted");
                self.advance(state.revision, state.compacted);
            }
            Err(e) => warn!(error = %e, "automatic compaction failed"),
        }
    }
}
