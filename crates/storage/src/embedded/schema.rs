//! On-disk layout of the embedded store: table definitions, the log record
//! encoding, the format version, and opening/initialising a database file.
//!
//! Tables (all in one redb file):
//!
//! | table     | key               | value                     | holds |
//! |-----------|-------------------|---------------------------|-------|
//! | `meta`    | `&str`            | `i64`                     | `format_version`, `revision`, `compacted` |
//! | `log`     | `i64` revision    | encoded [`Record`]        | one entry per write (the only copy of values) |
//! | `current` | `&str`            | `(i64, i64)`              | live keys: (create_revision, mod_revision) |
//!
//! The value of a live key is `log[current[key].1]`. Past revisions are read
//! from `current` and the log records after them (each record names the
//! version it supersedes); watches replay `log`.
//!
//! Format 1 also kept an `index` table of (key, revision) for every retained
//! version. Keeping it cost a third B-tree insert per write at a random
//! place, about half the pages each group commit wrote; format 2 drops it,
//! and opening a format-1 file drops the table and moves it to format 2.

use std::path::Path;

use bytes::Bytes;
use redb::{Database, ReadableDatabase, ReadableTable, ReadableTableMetadata, TableDefinition};

use super::error::{internal, Ctx};
use crate::{KeyValue, Result, Revision, StorageError};

/// Bump when the layout or the record encoding changes.
pub const FORMAT_VERSION: i64 = 2;

/// Format 1's per-key version table (see the module docs), dropped on open.
const INDEX_V1: TableDefinition<(&str, i64), ()> = TableDefinition::new("index");

pub const META: TableDefinition<&str, i64> = TableDefinition::new("meta");
pub const LOG: TableDefinition<i64, &[u8]> = TableDefinition::new("log");
pub const CURRENT: TableDefinition<&str, (i64, i64)> = TableDefinition::new("current");

pub const META_FORMAT_VERSION: &str = "format_version";
pub const META_REVISION: &str = "revision";
pub const META_COMPACTED: &str = "compacted";

/// What a log entry did to its key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Put,
    Delete,
}

/// One entry of the revision log.
///
/// Encoding: `kind: u8 | create_revision: i64 LE | prev_revision: i64 LE |
/// key_len: u32 LE | key | value`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub kind: Kind,
    pub key: String,
    /// For a put: the key's create revision. For a delete: that of the deleted value.
    pub create_revision: Revision,
    /// Revision of the version this entry supersedes (0: none, i.e. a create).
    pub prev_revision: Revision,
    /// Empty for a delete.
    pub value: Bytes,
}

const HEADER_LEN: usize = 1 + 8 + 8 + 4;

/// A [`Record`] read in place from its encoding, copying nothing: for scans
/// that look at kinds, keys and revisions and skip most values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRef<'a> {
    pub kind: Kind,
    pub key: &'a str,
    pub create_revision: Revision,
    pub prev_revision: Revision,
    pub value: &'a [u8],
}

impl<'a> RecordRef<'a> {
    pub fn parse(revision: Revision, data: &'a [u8]) -> Result<RecordRef<'a>> {
        let corrupt =
            |what: &str| internal(format!("corrupt log record at revision {revision}: {what}"));
        if data.len() < HEADER_LEN {
            return Err(corrupt("too short"));
        }
        let kind = match data[0] {
            1 => Kind::Put,
            2 => Kind::Delete,
            other => return Err(corrupt(&format!("unknown kind {other}"))),
        };
        let i64_at = |at: usize| -> Result<i64> {
            let bytes: [u8; 8] = data[at..at + 8]
                .try_into()
                .map_err(|_| corrupt("bad i64"))?;
            Ok(i64::from_le_bytes(bytes))
        };
        let len_bytes: [u8; 4] = data[17..21]
            .try_into()
            .map_err(|_| corrupt("bad key length"))?;
        let key_end = HEADER_LEN + u32::from_le_bytes(len_bytes) as usize;
        if data.len() < key_end {
            return Err(corrupt("key overruns record"));
        }
        let key = std::str::from_utf8(&data[HEADER_LEN..key_end])
            .map_err(|_| corrupt("key is not UTF-8"))?;
        Ok(RecordRef {
            kind,
            key,
            create_revision: i64_at(1)?,
            prev_revision: i64_at(9)?,
            value: &data[key_end..],
        })
    }
}

impl Record {
    /// Length of the encoding.
    pub fn encoded_len(&self) -> usize {
        HEADER_LEN + self.key.len() + self.value.len()
    }

    /// Write the encoding into `out`, which must be [`Self::encoded_len`]
    /// long (the log reserves that much in place, so nothing is copied twice).
    pub fn encode_into(&self, out: &mut [u8]) -> Result<()> {
        let key_len = u32::try_from(self.key.len())
            .map_err(|_| internal(format!("key of {} bytes is too long", self.key.len())))?;
        if out.len() != self.encoded_len() {
            return Err(internal(format!(
                "record slot of {} bytes for a record of {}",
                out.len(),
                self.encoded_len()
            )));
        }
        let (header, body) = out.split_at_mut(HEADER_LEN);
        header[0] = match self.kind {
            Kind::Put => 1,
            Kind::Delete => 2,
        };
        header[1..9].copy_from_slice(&self.create_revision.to_le_bytes());
        header[9..17].copy_from_slice(&self.prev_revision.to_le_bytes());
        header[17..21].copy_from_slice(&key_len.to_le_bytes());
        let (key, value) = body.split_at_mut(self.key.len());
        key.copy_from_slice(self.key.as_bytes());
        value.copy_from_slice(&self.value);
        Ok(())
    }

    #[cfg(test)]
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut out = vec![0; self.encoded_len()];
        self.encode_into(&mut out)?;
        Ok(out)
    }

    pub fn decode(revision: Revision, data: &[u8]) -> Result<Record> {
        let parsed = RecordRef::parse(revision, data)?;
        Ok(Record {
            kind: parsed.kind,
            key: parsed.key.to_owned(),
            create_revision: parsed.create_revision,
            prev_revision: parsed.prev_revision,
            value: Bytes::copy_from_slice(parsed.value),
        })
    }

    /// The key-value this (put) record wrote at `revision`.
    pub fn into_kv(self, revision: Revision) -> KeyValue {
        KeyValue {
            key: self.key,
            value: self.value,
            create_revision: self.create_revision,
            mod_revision: revision,
        }
    }
}

/// The persisted counters, loaded at open.
#[derive(Debug, Clone, Copy)]
pub struct Counters {
    pub revision: Revision,
    pub compacted: Revision,
}

/// Open (or create) the database file and check / initialise its format.
pub fn open_database(path: &Path, cache_bytes: usize) -> Result<(Database, Counters)> {
    let db = Database::builder()
        .set_cache_size(cache_bytes)
        .create(path)
        .map_err(|e| StorageError::Unavailable(format!("opening {}: {e}", path.display())))?;
    let counters = init_or_check(&db)?;
    Ok((db, counters))
}

fn init_or_check(db: &Database) -> Result<Counters> {
    {
        let read = db.begin_read().ctx("begin read")?;
        match read.open_table(META) {
            Ok(meta) => {
                let version = meta
                    .get(META_FORMAT_VERSION)
                    .ctx("read format version")?
                    .map(|v| v.value());
                match version {
                    Some(1) => {
                        drop(meta);
                        drop(read);
                        return upgrade_from_v1(db);
                    }
                    Some(_) => return load_counters(&meta),
                    None => {}
                }
            }
            Err(redb::TableError::TableDoesNotExist(_)) => {}
            Err(e) => return Err(internal(format!("open meta table: {e}"))),
        }
    }
    // A fresh file: create every table and write the meta rows in one commit.
    let txn = db.begin_write().ctx("begin write")?;
    {
        let log = txn.open_table(LOG).ctx("open log")?;
        if log.len().ctx("log length")? != 0 {
            return Err(internal(
                "database has a log but no format version".to_owned(),
            ));
        }
        txn.open_table(CURRENT).ctx("open current")?;
        let mut meta = txn.open_table(META).ctx("open meta")?;
        meta.insert(META_FORMAT_VERSION, FORMAT_VERSION)
            .ctx("write format version")?;
        meta.insert(META_REVISION, 0).ctx("write revision")?;
        meta.insert(META_COMPACTED, 0).ctx("write compacted")?;
    }
    txn.commit().ctx("commit initial layout")?;
    Ok(Counters {
        revision: 0,
        compacted: 0,
    })
}

/// Format 1 → 2: drop the `index` table, in one commit.
fn upgrade_from_v1(db: &Database) -> Result<Counters> {
    let mut txn = db.begin_write().ctx("begin write")?;
    txn.set_durability(redb::Durability::Immediate)
        .ctx("set durability")?;
    txn.delete_table(INDEX_V1).ctx("drop the format-1 index")?;
    txn.open_table(META)
        .ctx("open meta")?
        .insert(META_FORMAT_VERSION, FORMAT_VERSION)
        .ctx("write format version")?;
    txn.commit().ctx("commit the format upgrade")?;
    tracing::info!(from = 1, to = FORMAT_VERSION, "embedded store format upgraded");
    let read = db.begin_read().ctx("begin read")?;
    load_counters(&read.open_table(META).ctx("open meta")?)
}

fn load_counters(meta: &impl ReadableTable<&'static str, i64>) -> Result<Counters> {
    let get = |name: &str| -> Result<i64> {
        Ok(meta
            .get(name)
            .ctx("read meta")?
            .map(|v| v.value())
            .unwrap_or(0))
    };
    let version = get(META_FORMAT_VERSION)?;
    if version != FORMAT_VERSION {
        return Err(internal(format!(
            "unsupported on-disk format version {version} (this build reads {FORMAT_VERSION})"
        )));
    }
    Ok(Counters {
        revision: get(META_REVISION)?,
        compacted: get(META_COMPACTED)?,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn record_round_trips() {
        let cases = [
            Record {
                kind: Kind::Put,
                key: "/a/b".into(),
                create_revision: 3,
                prev_revision: 7,
                value: Bytes::from_static(b"hello"),
            },
            Record {
                kind: Kind::Delete,
                key: "".into(),
                create_revision: 1,
                prev_revision: 0,
                value: Bytes::new(),
            },
            Record {
                kind: Kind::Put,
                key: "ключ\0x".into(),
                create_revision: i64::MAX,
                prev_revision: -1,
                value: Bytes::from(vec![0u8; 1000]),
            },
        ];
        for record in cases {
            let bytes = record.encode().unwrap();
            assert_eq!(Record::decode(9, &bytes).unwrap(), record);
        }
    }

    #[test]
    fn decode_rejects_garbage() {
        assert!(Record::decode(1, b"").is_err());
        assert!(Record::decode(1, &[9; 30]).is_err());
        let mut bytes = Record {
            kind: Kind::Put,
            key: "abc".into(),
            create_revision: 1,
            prev_revision: 0,
            value: Bytes::new(),
        }
        .encode()
        .unwrap();
        bytes.truncate(22);
        assert!(Record::decode(1, &bytes).is_err());
    }
}
