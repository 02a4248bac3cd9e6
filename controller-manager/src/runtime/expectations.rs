//! Upstream's `ControllerExpectations` (+ UID tracking for deletions): after
//! a controller asks for N creations (or deletions of given pods), it does
//! not act on the same owner again until its informer has observed them, or
//! until [`EXPECTATIONS_TIMEOUT`] has passed (a lost watch event must not
//! wedge the owner forever). Time is passed in.

use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Upstream's `ExpectationsTimeout`.
pub const EXPECTATIONS_TIMEOUT: Duration = Duration::from_secs(5 * 60);

#[derive(Debug, Clone, Default)]
struct Record {
    adds: i64,
    deletes: HashSet<String>,
    /// Deletions expected without knowing which object (counted).
    delete_count: i64,
    set_at: Option<Instant>,
}

/// Per-owner pending creations and deletions.
pub struct Expectations<K> {
    map: Mutex<HashMap<K, Record>>,
}

impl<K: Clone + Eq + Hash> Default for Expectations<K> {
    fn default() -> Self {
        Expectations { map: Mutex::new(HashMap::new()) }
    }
}

impl<K: Clone + Eq + Hash> Expectations<K> {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<K, Record>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// True when nothing is pending for `key` (or the record expired, or
    /// there is none): the owner may be synced against the cache.
    pub fn satisfied(&self, key: &K, now: Instant) -> bool {
        match self.lock().get(key) {
            None => true,
            Some(r) => {
                (r.adds <= 0 && r.deletes.is_empty() && r.delete_count <= 0)
                    || r.set_at.is_some_and(|t| now.saturating_duration_since(t) > EXPECTATIONS_TIMEOUT)
            }
        }
    }

    /// Expects `adds` creations (replacing any previous record).
    pub fn expect_creations(&self, key: &K, adds: usize, now: Instant) {
        self.lock().insert(
            key.clone(),
            Record { adds: adds as i64, set_at: Some(now), ..Record::default() },
        );
    }

    /// Expects `adds` creations and the deletion of these UIDs at once
    /// (upstream `SetExpectations`).
    pub fn expect(&self, key: &K, adds: usize, delete_uids: impl IntoIterator<Item = String>, now: Instant) {
        self.lock().insert(
            key.clone(),
            Record { adds: adds as i64, deletes: delete_uids.into_iter().collect(), set_at: Some(now), ..Record::default() },
        );
    }

    /// Expects the deletion of the objects with these UIDs.
    pub fn expect_deletions(&self, key: &K, uids: impl IntoIterator<Item = String>, now: Instant) {
        self.lock().insert(
            key.clone(),
            Record { deletes: uids.into_iter().collect(), set_at: Some(now), ..Record::default() },
        );
    }

    /// Expects `count` deletions of objects not tracked by UID.
    pub fn expect_deletion_count(&self, key: &K, count: usize, now: Instant) {
        self.lock().insert(
            key.clone(),
            Record { delete_count: count as i64, set_at: Some(now), ..Record::default() },
        );
    }

    /// A creation was seen by the informer (or failed and will not happen).
    pub fn creation_observed(&self, key: &K) {
        if let Some(r) = self.lock().get_mut(key) {
            r.adds -= 1;
        }
    }

    /// `n` creations will not happen (the create calls failed or were skipped).
    pub fn lower_creations(&self, key: &K, n: usize) {
        if let Some(r) = self.lock().get_mut(key) {
            r.adds -= n as i64;
        }
    }

    /// The object with `uid` is being deleted or gone.
    pub fn deletion_observed(&self, key: &K, uid: &str) {
        if let Some(r) = self.lock().get_mut(key) {
            if !r.deletes.remove(uid) {
                r.delete_count -= 1;
            }
        }
    }

    /// Forgets `key` (the owner was deleted).
    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle() {
        let e: Expectations<&str> = Expectations::new();
        let t0 = Instant::now();
        assert!(e.satisfied(&"rs", t0));
        e.expect_creations(&"rs", 2, t0);
        assert!(!e.satisfied(&"rs", t0));
        e.creation_observed(&"rs");
        assert!(!e.satisfied(&"rs", t0));
        e.creation_observed(&"rs");
        assert!(e.satisfied(&"rs", t0));
        e.expect_deletions(&"rs", ["a".to_string(), "b".to_string()], t0);
        e.deletion_observed(&"rs", "a");
        e.deletion_observed(&"rs", "a");
        assert!(!e.satisfied(&"rs", t0));
        assert!(e.satisfied(&"rs", t0 + EXPECTATIONS_TIMEOUT + Duration::from_secs(1)));
        e.deletion_observed(&"rs", "b");
        assert!(e.satisfied(&"rs", t0));
        e.expect_creations(&"rs", 3, t0);
        e.lower_creations(&"rs", 3);
        assert!(e.satisfied(&"rs", t0));
    }
}
