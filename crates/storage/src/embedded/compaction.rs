//! Compaction: forgetting history older than a revision, and the automatic
//! compaction policy.
//!
//! After `compact(to)` the store must still answer reads at any revision
//! `>= to` and watches starting at `to` (with previous values). So for every
//! key it keeps all versions `>= to` plus the newest version `< to` if that
//! one is a put. Everything else below `to` goes.
//!
//! Every log entry `e` with `from <= e < to` (where `from` is the previous
//! compaction point; entries below it are already minimal) makes its
//! predecessor `e.prev_revision` obsolete, since `e` is a newer version below
//! `to`; a delete entry below `to` is obsolete itself. Removing exactly those
//! is `O(to - from)` and needs no per-key scan.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use redb::ReadableTable;

use super::apply::WriteTables;
use super::error::Ctx;
use super::schema::{Kind, RecordRef};
use crate::{Result, Revision};

/// Log entries examined per step (bounds the memory of one compaction).
const STEP: i64 = 4096;

/// Remove history made obsolete by compacting from `from` up to `to`.
/// Returns how many versions were removed.
pub fn compact(tables: &mut WriteTables<'_>, from: Revision, to: Revision) -> Result<usize> {
    let mut removed = 0;
    let mut start = from;
    while start < to {
        let end = to.min(start.saturating_add(STEP));
        let mut doomed: Vec<Revision> = Vec::new();
        for entry in tables.log.range::<i64>(start..end).ctx("range log")? {
            let (revision, data) = entry.ctx("iterate log")?;
            let revision = revision.value();
            let record = RecordRef::parse(revision, data.value())?;
            if record.prev_revision > 0 {
                doomed.push(record.prev_revision);
            }
            if record.kind == Kind::Delete {
                doomed.push(revision);
            }
        }
        for revision in doomed {
            if tables.log.remove(revision).ctx("remove log")?.is_some() {
                removed += 1;
            }
        }
        start = end;
    }
    Ok(removed)
}

/// When the store compacts itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoCompaction {
    /// Only explicit [`crate::Store::compact`] calls compact.
    Disabled,
    /// Keep at least the last `n` revisions of history (compacts in steps of
    /// about `n / 10` revisions).
    KeepRevisions(i64),
    /// Keep at least this much wall-clock time of history.
    KeepFor(Duration),
}

impl Default for AutoCompaction {
    fn default() -> Self {
        AutoCompaction::KeepRevisions(10_000)
    }
}

/// Decides, after each commit, whether (and up to where) to compact.
#[derive(Debug)]
pub struct AutoCompactor {
    policy: AutoCompaction,
    /// (time, revision at that time), oldest first; only for `KeepFor`.
    samples: VecDeque<(Instant, Revision)>,
}

impl AutoCompactor {
    pub fn new(policy: AutoCompaction) -> Self {
        AutoCompactor {
            policy,
            samples: VecDeque::new(),
        }
    }

    /// The revision to compact to now, if any.
    pub fn target(
        &mut self,
        now: Instant,
        revision: Revision,
        compacted: Revision,
    ) -> Option<Revision> {
        let target = match self.policy {
            AutoCompaction::Disabled => return None,
            AutoCompaction::KeepRevisions(keep) => {
                let keep = keep.max(1);
                let step = (keep / 10).max(1);
                let target = revision - keep;
                (target - compacted >= step).then_some(target)?
            }
            AutoCompaction::KeepFor(age) => self.aged_target(now, revision, age)?,
        };
        (target > compacted).then_some(target)
    }

    fn aged_target(&mut self, now: Instant, revision: Revision, age: Duration) -> Option<Revision> {
        let sample_every = age / 10;
        let due = self
            .samples
            .back()
            .is_none_or(|(t, _)| now.duration_since(*t) >= sample_every);
        if due {
            self.samples.push_back((now, revision));
        }
        let cutoff = now.checked_sub(age)?;
        let mut target = None;
        while let Some(&(t, r)) = self.samples.front() {
            if t > cutoff {
                break;
            }
            target = Some(r);
            self.samples.pop_front();
        }
        target
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_revisions_compacts_in_steps() {
        let now = Instant::now();
        let cases = [
            // (keep, revision, compacted, expected target)
            (100, 50, 0, None),
            (100, 105, 0, None),
            (100, 110, 0, Some(10)),
            (100, 115, 10, None),
            (100, 120, 10, Some(20)),
            (1, 5, 0, Some(4)),
        ];
        for (keep, revision, compacted, expected) in cases {
            let mut auto = AutoCompactor::new(AutoCompaction::KeepRevisions(keep));
            assert_eq!(
                auto.target(now, revision, compacted),
                expected,
                "keep {keep} at {revision}"
            );
        }
    }

    #[test]
    fn disabled_never_compacts() {
        let mut auto = AutoCompactor::new(AutoCompaction::Disabled);
        assert_eq!(auto.target(Instant::now(), 1_000_000, 0), None);
    }

    #[test]
    fn keep_for_compacts_to_revision_seen_before_the_cutoff() {
        let age = Duration::from_secs(60);
        let mut auto = AutoCompactor::new(AutoCompaction::KeepFor(age));
        let t0 = Instant::now();
        assert_eq!(auto.target(t0, 10, 0), None);
        assert_eq!(auto.target(t0 + Duration::from_secs(30), 20, 0), None);
        assert_eq!(auto.target(t0 + Duration::from_secs(61), 30, 0), Some(10));
        assert_eq!(auto.target(t0 + Duration::from_secs(62), 31, 10), None);
        assert_eq!(auto.target(t0 + Duration::from_secs(95), 40, 10), Some(20));
    }
}
