//! Applying one write to an open write transaction.
//!
//! Conditional checks read the transaction's own tables, so they see the
//! earlier writes of the same group-commit batch. A rejected write (e.g.
//! `Conflict`) consumes no revision and changes nothing.

use bytes::Bytes;
use redb::{ReadableTable, Table, WriteTransaction};

use super::compaction;
use super::error::Ctx;
use super::read::load_record;
use super::schema::{Kind, Record, CURRENT, INDEX, LOG, META, META_COMPACTED, META_REVISION};
use crate::{KeyValue, Result, Revision, StorageError, WatchEvent};

/// A write request as the writer sees it.
#[derive(Debug)]
pub enum Op {
    Create { key: String, value: Bytes },
    Update { key: String, value: Bytes, expected: Revision },
    Delete { key: String, expected: Option<Revision> },
    Compact { revision: Revision },
}

/// What a successful op produced.
#[derive(Debug)]
pub enum Outcome {
    Written(KeyValue),
    Deleted(Revision, KeyValue),
    Compacted,
}

/// The verdict for one op: `Ok` or a rejection such as `Conflict`. Storage
/// failures are reported separately (they abort the whole batch).
pub type Verdict = Result<Outcome>;

/// Counters and events of the batch being built.
#[derive(Debug)]
pub struct BatchState {
    pub revision: Revision,
    pub compacted: Revision,
    pub events: Vec<WatchEvent>,
}

/// The tables of one write transaction.
pub struct WriteTables<'txn> {
    pub log: Table<'txn, i64, &'static [u8]>,
    pub index: Table<'txn, (&'static str, i64), ()>,
    pub current: Table<'txn, &'static str, (i64, i64)>,
    pub meta: Table<'txn, &'static str, i64>,
}

impl<'txn> WriteTables<'txn> {
    pub fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(WriteTables {
            log: txn.open_table(LOG).ctx("open log")?,
            index: txn.open_table(INDEX).ctx("open index")?,
            current: txn.open_table(CURRENT).ctx("open current")?,
            meta: txn.open_table(META).ctx("open meta")?,
        })
    }

    /// Persist the counters of `state` (once per transaction).
    pub fn save_counters(&mut self, state: &BatchState) -> Result<()> {
        self.meta.insert(META_REVISION, state.revision).ctx("write revision")?;
        self.meta.insert(META_COMPACTED, state.compacted).ctx("write compacted")?;
        Ok(())
    }

    fn current_revs(&self, key: &str) -> Result<Option<(Revision, Revision)>> {
        Ok(self.current.get(key).ctx("read current")?.map(|g| g.value()))
    }

    fn append(&mut self, revision: Revision, record: &Record) -> Result<()> {
        self.log.insert(revision, record.encode()?.as_slice()).ctx("write log")?;
        self.index.insert((record.key.as_str(), revision), ()).ctx("write index")?;
        Ok(())
    }
}

/// Apply `op`. The outer `Result` is a storage failure, the inner one the verdict.
pub fn apply(tables: &mut WriteTables<'_>, state: &mut BatchState, op: Op) -> Result<Verdict> {
    match op {
        Op::Create { key, value } => create(tables, state, key, value),
        Op::Update { key, value, expected } => update(tables, state, key, value, expected),
        Op::Delete { key, expected } => delete(tables, state, key, expected),
        Op::Compact { revision } => compact(tables, state, revision),
    }
}

fn create(tables: &mut WriteTables<'_>, state: &mut BatchState, key: String, value: Bytes) -> Result<Verdict> {
    if tables.current_revs(&key)?.is_some() {
        return Ok(Err(StorageError::AlreadyExists { key }));
    }
    let revision = state.revision + 1;
    let record = Record { kind: Kind::Put, key, create_revision: revision, prev_revision: 0, value };
    tables.append(revision, &record)?;
    tables.current.insert(record.key.as_str(), (revision, revision)).ctx("write current")?;
    state.revision = revision;
    let kv = record.into_kv(revision);
    state.events.push(WatchEvent::Put { kv: kv.clone(), prev: None });
    Ok(Ok(Outcome::Written(kv)))
}

fn update(
    tables: &mut WriteTables<'_>,
    state: &mut BatchState,
    key: String,
    value: Bytes,
    expected: Revision,
) -> Result<Verdict> {
    let Some((create_revision, actual)) = tables.current_revs(&key)? else {
        return Ok(Err(StorageError::NotFound { key }));
    };
    if actual != expected {
        return Ok(Err(StorageError::Conflict { key, expected, actual }));
    }
    let prev = load_record(&tables.log, actual)?.into_kv(actual);
    let revision = state.revision + 1;
    let record = Record { kind: Kind::Put, key, create_revision, prev_revision: actual, value };
    tables.append(revision, &record)?;
    tables.current.insert(record.key.as_str(), (create_revision, revision)).ctx("write current")?;
    state.revision = revision;
    let kv = record.into_kv(revision);
    state.events.push(WatchEvent::Put { kv: kv.clone(), prev: Some(prev) });
    Ok(Ok(Outcome::Written(kv)))
}

fn delete(
    tables: &mut WriteTables<'_>,
    state: &mut BatchState,
    key: String,
    expected: Option<Revision>,
) -> Result<Verdict> {
    let Some((create_revision, actual)) = tables.current_revs(&key)? else {
        return Ok(Err(StorageError::NotFound { key }));
    };
    if let Some(expected) = expected.filter(|&e| e != actual) {
        return Ok(Err(StorageError::Conflict { key, expected, actual }));
    }
    let prev = load_record(&tables.log, actual)?.into_kv(actual);
    let revision = state.revision + 1;
    let record =
        Record { kind: Kind::Delete, key, create_revision, prev_revision: actual, value: Bytes::new() };
    tables.append(revision, &record)?;
    tables.current.remove(record.key.as_str()).ctx("remove current")?;
    state.revision = revision;
    state.events.push(WatchEvent::Delete { revision, prev: prev.clone() });
    Ok(Ok(Outcome::Deleted(revision, prev)))
}

fn compact(tables: &mut WriteTables<'_>, state: &mut BatchState, revision: Revision) -> Result<Verdict> {
    if revision > state.revision {
        return Ok(Err(StorageError::FutureRevision { requested: revision, current: state.revision }));
    }
    if revision > state.compacted {
        compaction::compact(tables, state.compacted, revision)?;
        state.compacted = revision;
    }
    Ok(Ok(Outcome::Compacted))
}
