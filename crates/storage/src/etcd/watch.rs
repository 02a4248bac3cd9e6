//! Turning an etcd watch stream into our [`WatchStream`].
//!
//! etcd already guarantees ordered, gap-free delivery from `start_revision`.
//! A response with `compact_revision > 0` (the start revision, or a slow
//! watcher's position, was compacted) ends the stream with `Compacted`; any
//! other cancellation or a closed stream ends it with `Unavailable`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use etcd_client::{EventType, WatchResponse};
use futures::StreamExt;

use super::convert::{key_string, kv_from, map_err};
use bytes::Bytes;

use crate::{KeyValue, Result, Revision, StorageError, WatchEvent, WatchStream};

/// Whether the watch asked etcd for previous values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreviousValues {
    Wanted,
    /// A delete then carries only its key (see `Store::watch_changes`).
    Omitted,
}

struct State {
    inner: etcd_client::WatchStream,
    previous: PreviousValues,
    pending: VecDeque<Result<WatchEvent>>,
    done: bool,
    /// Revision of the last event delivered (or the watch's `after`).
    last: Revision,
    /// Shared with the store: the highest compaction point seen.
    known_compacted: Arc<AtomicI64>,
}

pub fn adapt(
    inner: etcd_client::WatchStream,
    after: Revision,
    previous: PreviousValues,
    known_compacted: Arc<AtomicI64>,
) -> WatchStream {
    let state = State {
        inner,
        previous,
        pending: VecDeque::new(),
        done: false,
        last: after,
        known_compacted,
    };
    futures::stream::unfold(state, |mut state| async move {
        loop {
            if let Some(item) = state.pending.pop_front() {
                return Some((item, state));
            }
            if state.done {
                return None;
            }
            match state.inner.message().await {
                Ok(Some(response)) => state.absorb(response),
                Ok(None) => state.fail(StorageError::Unavailable(
                    "etcd closed the watch stream".to_owned(),
                )),
                Err(e) => state.fail(map_err(e)),
            }
        }
    })
    .boxed()
}

impl State {
    fn fail(&mut self, error: StorageError) {
        self.pending.push_back(Err(error));
        self.done = true;
    }

    fn compacted(&mut self, compacted: Revision) {
        self.known_compacted.fetch_max(compacted, Ordering::AcqRel);
        self.fail(StorageError::Compacted {
            requested: self.last,
            compacted,
        });
    }

    fn absorb(&mut self, response: WatchResponse) {
        if response.compact_revision() > 0 {
            return self.compacted(response.compact_revision());
        }
        for event in response.events() {
            match self.convert(event) {
                Ok(event) => {
                    self.last = event.revision();
                    self.pending.push_back(Ok(event));
                }
                Err(e) => return self.fail(e),
            }
        }
        if response.canceled() {
            self.fail(StorageError::Unavailable(format!(
                "etcd canceled the watch: {}",
                response.cancel_reason()
            )));
        }
    }

    fn convert(&mut self, event: &etcd_client::Event) -> Result<WatchEvent> {
        let kv = event.kv().ok_or_else(|| {
            StorageError::Internal("etcd watch event without a key-value".to_owned())
        })?;
        let prev = event.prev_kv().map(kv_from).transpose()?;
        match event.event_type() {
            EventType::Put => Ok(WatchEvent::Put {
                kv: kv_from(kv)?,
                prev,
            }),
            EventType::Delete => {
                let revision = kv.mod_revision();
                match prev {
                    Some(prev) => Ok(WatchEvent::Delete { revision, prev }),
                    None if self.previous == PreviousValues::Omitted => Ok(WatchEvent::Delete {
                        revision,
                        prev: KeyValue {
                            key: key_string(kv.key())?,
                            value: Bytes::new(),
                            create_revision: 0,
                            mod_revision: 0,
                        },
                    }),
                    // etcd omits prev_kv when revision - 1 was compacted
                    // away; the consumer must relist, as for any compaction.
                    None => {
                        let key = key_string(kv.key())?;
                        tracing::warn!(%key, revision, "etcd delete event without previous value");
                        let compacted = self.known_compacted.load(Ordering::Acquire).max(revision);
                        self.known_compacted.fetch_max(compacted, Ordering::AcqRel);
                        Err(StorageError::Compacted {
                            requested: self.last,
                            compacted,
                        })
                    }
                }
            }
        }
    }
}
