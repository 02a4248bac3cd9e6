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
use super::schema::{Kind, Record, CURRENT, LOG, META, META_COMPACTED, META_REVISION};
use crate::{KeyValue, Result, Revision, StorageError, WatchEvent};

/// A write request as the writer sees it.
#[derive(Debug)]
pub enum Op {
    Create {
        key: String,
        value: Bytes,
    },
    Update {
        key: String,
        value: Bytes,
        expected: Revision,
    },
    Delete {
        key: String,
        expected: Option<Revision>,
    },
    Compact {
        revision: Revision,
    },
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
    pub current: Table<'txn, &'static str, (i64, i64)>,
    pub meta: Table<'txn, &'static str, i64>,
}

impl<'txn> WriteTables<'txn> {
    pub fn open(txn: &'txn WriteTransaction) -> Result<Self> {
        Ok(WriteTables {
            log: txn.open_table(LOG).ctx("open log")?,
            current: txn.open_table(CURRENT).ctx("open current")?,
            meta: txn.open_table(META).ctx("open meta")?,
        })
    }

    /// Persist the counters of `state` (once per transaction).
    pub fn save_counters(&mut self, state: &BatchState) -> Result<()> {
        self.meta
            .insert(META_REVISION, state.revision)
            .ctx("write revision")?;
        self.meta
            .insert(META_COMPACTED, state.compacted)
            .ctx("write compacted")?;
        Ok(())
    }

    fn current_revs(&self, key: &str) -> Result<Option<(Revision, Revision)>> {
        Ok(self
            .current
            .get(key)
            .ctx("read current")?
            .map(|g| g.value()))
    }

    fn append(&mut self, revision: Revision, record: &Record) -> Result<()> {
        let mut slot = self
            .log
            .insert_reserve(revision, record.encoded_len())
            .ctx("write log")?;
        record.encode_into(slot.as_mut())
    }
}

/// Apply `op`. The outer `Result` is a storage failure, the inner one the verdict.
pub fn apply(tables: &mut WriteTables<'_>, state: &mut BatchState, op: Op) -> Result<Verdict> {
    match op {
        Op::Create { key, value } => create(tables, state, key, value),
        Op::Update {
            key,
            value,
            expected,
        } => update(tables, state, key, value, expected),
        Op::Delete { key, expected } => delete(tables, state, key, expected),
        Op::Compact { revision } => compact(tables, state, revision),
    }
}

fn create(
    tables: &mut WriteTables<'_>,
    state: &mut BatchState,
    key: String,
    value: Bytes,
) -> Result<Verdict> {
    if tables.current_revs(&key)?.is_some() {
        return Ok(Err(StorageError::AlreadyExists { key }));
    }
    let revision = state.revision + 1;
    let record = Record {
        kind: Kind::Put,
        key,
        create_revision: revision,
        prev_revision: 0,
        value,
    };
    tables.append(revision, &record)?;
    tables
        .current
        .insert(record.key.as_str(), (revision, revision))
        .ctx("write current")?;
    state.revision = revision;
    let kv = record.into_kv(revision);
    state.events.push(WatchEvent::Put {
        kv: kv.clone(),
        prev: None,
    });
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
        return Ok(Err(StorageError::Conflict {
            key,
            expected,
            actual,
        }));
    }
    let prev = load_record(&tables.log, actual)?.into_kv(actual);
    let revision = state.revision + 1;
    let record = Record {
        kind: Kind::Put,
        key,
        create_revision,
        prev_revision: actual,
        value,
    };
    tables.append(revision, &record)?;
    tables
        .current
        .insert(record.key.as_str(), (create_revision, revision))
        .ctx("write current")?;
    state.revision = revision;
    let kv = record.into_kv(revision);
    state.events.push(WatchEvent::Put {
        kv: kv.clone(),
        prev: Some(prev),
    });
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
        return Ok(Err(StorageError::Conflict {
            key,
            expected,
            actual,
        }));
    }
    let prev = load_record(&tables.log, actual)?.into_kv(actual);
    let revision = state.revision + 1;
    let record = Record {
        kind: Kind::Delete,
        key,
        create_revision,
        prev_revision: actual,
        value: Bytes::new(),
    };
    tables.append(revision, &record)?;
    tables
        .current
        .remove(record.key.as_str())
        .ctx("remove current")?;
    state.revision = revision;
    state.events.push(WatchEvent::Delete {
        revision,
        prev: prev.clone(),
    });
    Ok(Ok(Outcome::Deleted(revision, prev)))
}

fn compact(
    tables: &mut WriteTables<'_>,
    state: &mut BatchState,
    revision: Revision,
) -> Result<Verdict> {
    if revision > state.revision {
        return Ok(Err(StorageError::FutureRevision {
            requested: revision,
            current: state.revision,
        }));
    }
    if revision > state.compacted {
        compaction::compact(tables, state.compacted, revision)?;
        state.compacted = revision;
    }
    Ok(Ok(Outcome::Compacted))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::embedded::read;

    fn put(key: &str, value: &str) -> Op {
        Op::Create {
            key: key.to_owned(),
            value: Bytes::copy_from_slice(value.as_bytes()),
        }
    }

    /// Run `ops` in ONE transaction, as one group-commit batch does.
    fn one_batch(db: &redb::Database, ops: Vec<Op>) -> (Vec<Verdict>, BatchState) {
        let txn = db.begin_write().unwrap();
        let mut state = BatchState {
            revision: 0,
            compacted: 0,
            events: Vec::new(),
        };
        let verdicts = {
            let mut tables = WriteTables::open(&txn).unwrap();
            let verdicts = ops
                .into_iter()
                .map(|op| apply(&mut tables, &mut state, op).unwrap())
                .collect();
            tables.save_counters(&state).unwrap();
            verdicts
        };
        txn.commit().unwrap();
        (verdicts, state)
    }

    fn fresh_db(dir: &tempfile::TempDir) -> redb::Database {
        let (db, _) = super::super::schema::open_database(&dir.path().join("db"), 16 << 20).unwrap();
        db
    }

    #[test]
    fn checks_see_earlier_writes_of_the_same_batch() {
        let dir = tempfile::tempdir().unwrap();
        let db = fresh_db(&dir);
        let k = || "/k".to_owned();
        let (verdicts, state) = one_batch(
            &db,
            vec![
                put("/k", "1"),
                put("/k", "again"),
                Op::Update {
                    key: k(),
                    value: Bytes::from_static(b"2"),
                    expected: 1,
                },
                Op::Update {
                    key: k(),
                    value: Bytes::from_static(b"3"),
                    expected: 1,
                },
                Op::Delete {
                    key: k(),
                    expected: Some(2),
                },
                Op::Delete {
                    key: k(),
                    expected: None,
                },
                put("/k", "4"),
            ],
        );
        let summary: Vec<String> = verdicts
            .iter()
            .map(|v| match v {
                Ok(Outcome::Written(kv)) => {
                    format!("written {} c{}", kv.mod_revision, kv.create_revision)
                }
                Ok(Outcome::Deleted(rev, prev)) => {
                    format!("deleted {rev} prev{}", prev.mod_revision)
                }
                Ok(Outcome::Compacted) => "compacted".to_owned(),
                Err(StorageError::AlreadyExists { .. }) => "exists".to_owned(),
                Err(StorageError::Conflict { actual, .. }) => format!("conflict {actual}"),
                Err(StorageError::NotFound { .. }) => "not found".to_owned(),
                Err(e) => format!("{e}"),
            })
            .collect();
        assert_eq!(
            summary,
            [
                "written 1 c1",
                "exists",
                "written 2 c1",
                "conflict 2",
                "deleted 3 prev2",
                "not found",
                "written 4 c4"
            ]
        );
        assert_eq!(state.revision, 4);
        assert_eq!(
            state
                .events
                .iter()
                .map(WatchEvent::revision)
                .collect::<Vec<_>>(),
            [1, 2, 3, 4]
        );
        assert_eq!(read::get(&db, "/k").unwrap().unwrap().mod_revision, 4);
    }

    #[test]
    fn compaction_keeps_what_reads_and_watches_at_the_point_need() {
        let dir = tempfile::tempdir().unwrap();
        let db = fresh_db(&dir);
        let upd = |key: &str, v: &'static str, expected| Op::Update {
            key: key.to_owned(),
            value: Bytes::from_static(v.as_bytes()),
            expected,
        };
        // a: 1 create, 2 update, 5 update; b: 3 create, 4 delete; c: 6 create.
        let (_, state) = one_batch(
            &db,
            vec![
                put("/a", "a1"),
                upd("/a", "a2", 1),
                put("/b", "b1"),
                Op::Delete {
                    key: "/b".to_owned(),
                    expected: None,
                },
                upd("/a", "a5", 2),
                put("/c", "c6"),
                Op::Compact { revision: 5 },
            ],
        );
        assert_eq!(state.compacted, 5);
        // Retained: a@2 (newest put < 5, prev of a@5), a@5, c@6. Gone: a@1, b@3, b@4.
        let txn = redb::ReadableDatabase::begin_read(&db).unwrap();
        let log = txn.open_table(super::super::schema::LOG).unwrap();
        let retained: Vec<i64> = log
            .iter()
            .unwrap()
            .map(|entry| entry.unwrap().0.value())
            .collect();
        assert_eq!(retained, [2, 5, 6]);
        let at5 = read::list(
            &db,
            &crate::ListOptions {
                revision: Some(5),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(
            at5.kvs
                .iter()
                .map(|kv| kv.value.clone())
                .collect::<Vec<_>>(),
            [Bytes::from_static(b"a5")]
        );
        let chunk = read::read_events(&db, "", 4, 100).unwrap();
        match &chunk.events[0] {
            WatchEvent::Put {
                kv,
                prev: Some(prev),
            } => assert_eq!((kv.mod_revision, prev.mod_revision), (5, 2)),
            other => panic!("unexpected {other:?}"),
        }
        assert!(matches!(
            read::read_events(&db, "", 3, 100),
            Err(StorageError::Compacted { .. })
        ));
    }
}
