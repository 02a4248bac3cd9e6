//! Reads: each function runs in one redb read transaction (a consistent
//! snapshot) and never waits for the writer. They are blocking; callers run
//! them on the blocking pool.

use std::collections::BTreeMap;
use std::ops::Bound;

use redb::{Database, ReadTransaction, ReadableDatabase, ReadableTable};

use super::error::{internal, Ctx};
use super::schema::{Kind, Record, RecordRef, CURRENT, LOG, META, META_COMPACTED, META_REVISION};
use crate::{KeyValue, ListOptions, ListResult, Result, Revision, StorageError, WatchEvent};

/// Snapshot counters as seen by one read transaction.
struct Snapshot {
    revision: Revision,
    compacted: Revision,
}

fn snapshot(txn: &ReadTransaction) -> Result<Snapshot> {
    let meta = txn.open_table(META).ctx("open meta")?;
    let get = |name: &str| -> Result<i64> {
        Ok(meta
            .get(name)
            .ctx("read meta")?
            .map(|v| v.value())
            .unwrap_or(0))
    };
    Ok(Snapshot {
        revision: get(META_REVISION)?,
        compacted: get(META_COMPACTED)?,
    })
}

/// Load and decode the log entry written at `revision`.
pub fn load_record(
    log: &impl ReadableTable<i64, &'static [u8]>,
    revision: Revision,
) -> Result<Record> {
    let guard = log
        .get(revision)
        .ctx("read log")?
        .ok_or_else(|| internal(format!("log entry for revision {revision} is missing")))?;
    Record::decode(revision, guard.value())
}

pub fn get(db: &Database, key: &str) -> Result<Option<KeyValue>> {
    let txn = db.begin_read().ctx("begin read")?;
    let current = txn.open_table(CURRENT).ctx("open current")?;
    let Some(revs) = current.get(key).ctx("read current")? else {
        return Ok(None);
    };
    let (_, mod_revision) = revs.value();
    let log = txn.open_table(LOG).ctx("open log")?;
    Ok(Some(load_record(&log, mod_revision)?.into_kv(mod_revision)))
}

pub fn count(db: &Database, prefix: &str) -> Result<i64> {
    let txn = db.begin_read().ctx("begin read")?;
    let current = txn.open_table(CURRENT).ctx("open current")?;
    let mut n = 0;
    for entry in current.range::<&str>(prefix..).ctx("range current")? {
        let (key, _) = entry.ctx("iterate current")?;
        if !key.value().starts_with(prefix) {
            break;
        }
        n += 1;
    }
    Ok(n)
}

/// Accumulates list output and the `remaining` count past the limit.
struct Page {
    kvs: Vec<KeyValue>,
    limit: Option<usize>,
    remaining: i64,
}

impl Page {
    fn full(&self) -> bool {
        self.limit.is_some_and(|l| self.kvs.len() >= l)
    }

    fn finish(self, revision: Revision) -> ListResult {
        ListResult {
            kvs: self.kvs,
            revision,
            more: self.remaining > 0,
            remaining: self.remaining,
        }
    }
}

pub fn list(db: &Database, opts: &ListOptions) -> Result<ListResult> {
    let txn = db.begin_read().ctx("begin read")?;
    let snap = snapshot(&txn)?;
    let revision = match opts.revision {
        Some(r) if r > 0 => r,
        _ => snap.revision,
    };
    if revision > snap.revision {
        return Err(StorageError::FutureRevision {
            requested: revision,
            current: snap.revision,
        });
    }
    if revision < snap.compacted {
        return Err(StorageError::Compacted {
            requested: revision,
            compacted: snap.compacted,
        });
    }
    let mut page = Page {
        kvs: Vec::new(),
        limit: opts.limit.filter(|&l| l > 0),
        remaining: 0,
    };
    let prefix = opts.prefix.as_str();
    let start_after = opts.start_after.as_deref().filter(|s| *s >= prefix);
    if revision == snap.revision {
        list_current(&txn, prefix, start_after, &mut page)?;
    } else {
        list_past(&txn, prefix, start_after, revision, &mut page)?;
    }
    Ok(page.finish(revision))
}

fn list_current(
    txn: &ReadTransaction,
    prefix: &str,
    start_after: Option<&str>,
    page: &mut Page,
) -> Result<()> {
    let current = txn.open_table(CURRENT).ctx("open current")?;
    let log = txn.open_table(LOG).ctx("open log")?;
    let lower = match start_after {
        Some(s) => Bound::Excluded(s),
        None => Bound::Included(prefix),
    };
    for entry in current
        .range::<&str>((lower, Bound::Unbounded))
        .ctx("range current")?
    {
        let (key, revs) = entry.ctx("iterate current")?;
        if !key.value().starts_with(prefix) {
            break;
        }
        if page.full() {
            page.remaining += 1;
            continue;
        }
        let (_, mod_revision) = revs.value();
        page.kvs
            .push(load_record(&log, mod_revision)?.into_kv(mod_revision));
    }
    Ok(())
}

/// A list at a past `revision` (at or above the compaction point), without
/// a per-key history table. Every version live at `revision` is still in the
/// log (compaction only drops versions superseded at or below its point),
/// and the first log record of a key after `revision` says which one it was:
/// that record's `prev_revision` (0 for a create: the key did not exist).
/// So: scan the log after `revision` once for the keys of the range it
/// touches, then merge them in key order with `current`, whose other keys
/// have not changed since. Cost: the live keys of the range plus the log
/// records after `revision` (bounded by the retained history).
fn list_past(
    txn: &ReadTransaction,
    prefix: &str,
    start_after: Option<&str>,
    revision: Revision,
    page: &mut Page,
) -> Result<()> {
    let log = txn.open_table(LOG).ctx("open log")?;
    let current = txn.open_table(CURRENT).ctx("open current")?;
    let in_range = |key: &str| key.starts_with(prefix) && start_after.is_none_or(|after| key > after);
    // Keys changed after `revision`: the version each had then (None: absent).
    let mut changed: BTreeMap<String, Option<Revision>> = BTreeMap::new();
    for entry in log.range::<i64>(revision + 1..).ctx("range log")? {
        let (at, data) = entry.ctx("iterate log")?;
        let record = RecordRef::parse(at.value(), data.value())?;
        if in_range(record.key) && !changed.contains_key(record.key) {
            let then = (record.prev_revision > 0).then_some(record.prev_revision);
            changed.insert(record.key.to_owned(), then);
        }
    }
    let lower = match start_after {
        Some(s) => Bound::Excluded(s),
        None => Bound::Included(prefix),
    };
    let mut unchanged = current.range::<&str>((lower, Bound::Unbounded)).ctx("range current")?;
    let mut next_unchanged = || -> Result<Option<(String, Revision)>> {
        for entry in unchanged.by_ref() {
            let (key, revs) = entry.ctx("iterate current")?;
            let key = key.value();
            if !key.starts_with(prefix) {
                return Ok(None);
            }
            if !changed.contains_key(key) {
                return Ok(Some((key.to_owned(), revs.value().1)));
            }
        }
        Ok(None)
    };
    let emit = |version: Revision, page: &mut Page| -> Result<()> {
        if page.full() {
            page.remaining += 1;
        } else {
            page.kvs.push(load_record(&log, version)?.into_kv(version));
        }
        Ok(())
    };
    // Merge the two key-ordered sources; a key is in at most one of them.
    let mut then = changed.iter().filter_map(|(k, v)| v.map(|v| (k.as_str(), v))).peekable();
    let mut head = next_unchanged()?;
    loop {
        let take_changed = match (then.peek(), &head) {
            (None, None) => break,
            (Some(_), None) => true,
            (None, Some(_)) => false,
            (Some((changed_key, _)), Some((unchanged_key, _))) => *changed_key < unchanged_key.as_str(),
        };
        if take_changed {
            if let Some((_, version)) = then.next() {
                emit(version, page)?;
            }
        } else if let Some((_, version)) = head.take() {
            emit(version, page)?;
            head = next_unchanged()?;
        }
    }
    Ok(())
}

/// A slice of history read for a watch.
pub struct EventChunk {
    pub events: Vec<WatchEvent>,
    /// Every revision up to this one has been scanned.
    pub covered: Revision,
    /// The scan reached the end of the log of its snapshot.
    pub reached_end: bool,
}

/// Events under `prefix` with revision > `after`, scanning at most `max_scan`
/// log entries. `Compacted` if `after + 1` is older than the compaction point.
pub fn read_events(
    db: &Database,
    prefix: &str,
    after: Revision,
    max_scan: usize,
) -> Result<EventChunk> {
    let txn = db.begin_read().ctx("begin read")?;
    let snap = snapshot(&txn)?;
    if after + 1 < snap.compacted {
        return Err(StorageError::Compacted {
            requested: after,
            compacted: snap.compacted,
        });
    }
    let mut chunk = EventChunk {
        events: Vec::new(),
        covered: after,
        reached_end: true,
    };
    if after >= snap.revision {
        return Ok(chunk);
    }
    let log = txn.open_table(LOG).ctx("open log")?;
    for (scanned, entry) in log
        .range::<i64>(after + 1..=snap.revision)
        .ctx("range log")?
        .enumerate()
    {
        if scanned == max_scan {
            chunk.reached_end = false;
            break;
        }
        let (revision, data) = entry.ctx("iterate log")?;
        let revision = revision.value();
        chunk.covered = revision;
        if RecordRef::parse(revision, data.value())?.key.starts_with(prefix) {
            let record = Record::decode(revision, data.value())?;
            chunk.events.push(to_event(&log, revision, record)?);
        }
    }
    if chunk.reached_end {
        chunk.covered = chunk.covered.max(snap.revision);
    }
    Ok(chunk)
}

/// The watch event for log entry `record` written at `revision`.
pub fn to_event(
    log: &impl ReadableTable<i64, &'static [u8]>,
    revision: Revision,
    record: Record,
) -> Result<WatchEvent> {
    let prev = match record.prev_revision {
        0 => None,
        p => Some(load_record(log, p)?.into_kv(p)),
    };
    match record.kind {
        Kind::Put => Ok(WatchEvent::Put {
            kv: record.into_kv(revision),
            prev,
        }),
        Kind::Delete => {
            let prev = prev.ok_or_else(|| {
                internal(format!(
                    "delete at revision {revision} has no previous value"
                ))
            })?;
            Ok(WatchEvent::Delete { revision, prev })
        }
    }
}
