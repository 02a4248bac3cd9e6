//! Watches: replay history from the log, then follow live commits.
//!
//! Gap-free hand-over: the watch subscribes to the writer's broadcast BEFORE
//! reading history. Any commit not seen on the subscription was published
//! before it, hence committed before the history read began, hence in the
//! history. Live events at or below the last revision already covered are
//! dropped, so nothing is delivered twice.
//!
//! If the subscription lags (the consumer or this task fell more than the
//! broadcast capacity behind), the watch re-reads the missed range from the
//! log; only if that history was compacted meanwhile does it end with a
//! `Compacted` error. It never skips events silently.

use std::sync::{Arc, Weak};

use futures::StreamExt;
use redb::Database;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::{broadcast, mpsc};
use tokio_stream::wrappers::ReceiverStream;
use tracing::{debug, debug_span, Instrument};

use super::error::internal;
use super::read::read_events;
use super::EventBatch;
use crate::{Result, Revision, StorageError, WatchEvent, WatchStream};

pub struct WatchTask {
    pub db: Weak<Database>,
    pub live: broadcast::Receiver<EventBatch>,
    pub prefix: String,
    pub after: Revision,
    /// Log entries scanned per history read.
    pub chunk: usize,
    pub buffer: usize,
}

/// How following live events ended.
enum Followed {
    /// Fell behind the broadcast: re-read history and follow again.
    Lagged,
    /// The consumer went away or the stream ended.
    Done,
}

impl WatchTask {
    /// Start the task and return the consumer's end.
    pub fn spawn(self) -> WatchStream {
        let (tx, rx) = mpsc::channel(self.buffer.max(1));
        let span = debug_span!("watch", prefix = %self.prefix, after = self.after);
        tokio::spawn(self.run(tx).instrument(span));
        ReceiverStream::new(rx).boxed()
    }

    async fn run(mut self, tx: mpsc::Sender<Result<WatchEvent>>) {
        let mut last = self.after;
        loop {
            match self.replay(&mut last, &tx).await {
                Ok(true) => {}
                Ok(false) => return,
                Err(e) => {
                    let _ = tx.send(Err(e)).await;
                    return;
                }
            }
            match self.follow(&mut last, &tx).await {
                Followed::Lagged => debug!(last, "watch lagged; replaying from history"),
                Followed::Done => return,
            }
        }
    }

    /// Send history after `last` until the end of the log. `Ok(false)` when
    /// the consumer is gone.
    async fn replay(
        &self,
        last: &mut Revision,
        tx: &mpsc::Sender<Result<WatchEvent>>,
    ) -> Result<bool> {
        loop {
            let db = self.db.upgrade().ok_or_else(closed)?;
            let (prefix, after, chunk) = (self.prefix.clone(), *last, self.chunk.max(1));
            let chunk =
                tokio::task::spawn_blocking(move || read_events(&db, &prefix, after, chunk))
                    .await
                    .map_err(|e| internal(format!("watch history read failed: {e}")))??;
            for event in chunk.events {
                if tx.send(Ok(event)).await.is_err() {
                    return Ok(false);
                }
            }
            *last = chunk.covered;
            if chunk.reached_end {
                return Ok(true);
            }
        }
    }

    async fn follow(
        &mut self,
        last: &mut Revision,
        tx: &mpsc::Sender<Result<WatchEvent>>,
    ) -> Followed {
        loop {
            let received = tokio::select! {
                _ = tx.closed() => return Followed::Done,
                received = self.live.recv() => received,
            };
            let batch: Arc<[WatchEvent]> = match received {
                Ok(batch) => batch,
                Err(RecvError::Lagged(missed)) => {
                    debug!(missed, "watch subscription lagged");
                    return Followed::Lagged;
                }
                Err(RecvError::Closed) => {
                    let _ = tx.send(Err(closed())).await;
                    return Followed::Done;
                }
            };
            let mut newest = *last;
            for event in batch.iter() {
                let revision = event.revision();
                newest = newest.max(revision);
                if revision > *last
                    && event.key().starts_with(&self.prefix)
                    && tx.send(Ok(event.clone())).await.is_err()
                {
                    return Followed::Done;
                }
            }
            *last = newest;
        }
    }
}

fn closed() -> StorageError {
    StorageError::Unavailable("the embedded store was closed".to_owned())
}
