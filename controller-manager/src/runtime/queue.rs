//! A deduplicating, rate-limited work queue with client-go's contract
//! (`util/workqueue`):
//!
//! - [`WorkQueue::add`] enqueues a key once: a key already waiting is not
//!   added twice ("dirty" set);
//! - a key handed to a worker is never handed to a second worker until the
//!   first calls [`WorkQueue::done`]; an `add` while it is processing is
//!   remembered and re-queued at `done`;
//! - [`WorkQueue::add_rate_limited`] re-adds after a per-key exponential
//!   backoff (upstream's `DefaultControllerRateLimiter` item part: 5 ms
//!   doubling per failure, capped at 1000 s); [`WorkQueue::forget`] resets it;
//! - [`WorkQueue::add_after`] re-adds after a delay (e.g. to re-check
//!   `minReadySeconds` or a progress deadline).

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;

/// Upstream's per-item backoff base (`5 * time.Millisecond`).
pub const BACKOFF_BASE: Duration = Duration::from_millis(5);
/// Upstream's per-item backoff cap (`1000 * time.Second`).
pub const BACKOFF_MAX: Duration = Duration::from_secs(1000);

/// Backoff after `failures` previous failures: `5ms * 2^failures`, capped.
pub fn backoff(failures: u32) -> Duration {
    if failures >= 30 {
        return BACKOFF_MAX;
    }
    BACKOFF_BASE.saturating_mul(1u32 << failures).min(BACKOFF_MAX)
}

struct State<K> {
    queue: VecDeque<K>,
    dirty: HashSet<K>,
    processing: HashSet<K>,
    failures: HashMap<K, u32>,
    /// Earliest pending delayed add per key.
    waiting: HashMap<K, Instant>,
    shut_down: bool,
}

struct Inner<K> {
    state: std::sync::Mutex<State<K>>,
    notify: Notify,
}

/// See the module docs. Cheap to clone (shared).
pub struct WorkQueue<K> {
    inner: Arc<Inner<K>>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue { inner: self.inner.clone() }
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Default for WorkQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> WorkQueue<K> {
    pub fn new() -> WorkQueue<K> {
        WorkQueue {
            inner: Arc::new(Inner {
                state: std::sync::Mutex::new(State {
                    queue: VecDeque::new(),
                    dirty: HashSet::new(),
                    processing: HashSet::new(),
                    failures: HashMap::new(),
                    waiting: HashMap::new(),
                    shut_down: false,
                }),
                notify: Notify::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State<K>> {
        // A poisoned lock only means a panic elsewhere; the data is still usable.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Enqueues `key` unless it is already waiting.
    pub fn add(&self, key: K) {
        let mut s = self.lock();
        if s.shut_down || s.dirty.contains(&key) {
            return;
        }
        s.dirty.insert(key.clone());
        if s.processing.contains(&key) {
            return;
        }
        s.queue.push_back(key);
        drop(s);
        self.inner.notify.notify_one();
    }

    /// Enqueues `key` after `delay` (at once when zero). Several pending
    /// delays for one key collapse into the earliest.
    pub fn add_after(&self, key: K, delay: Duration) {
        if delay.is_zero() {
            self.add(key);
            return;
        }
        let deadline = Instant::now() + delay;
        {
            let mut s = self.lock();
            if s.shut_down {
                return;
            }
            if let Some(existing) = s.waiting.get(&key) {
                if *existing <= deadline {
                    return;
                }
            }
            s.waiting.insert(key.clone(), deadline);
        }
        let queue = self.clone();
        tokio::spawn(async move {
            tokio::time::sleep_until(deadline).await;
            {
                let mut s = queue.lock();
                if s.waiting.get(&key) == Some(&deadline) {
                    s.waiting.remove(&key);
                }
            }
            queue.add(key);
        });
    }

    /// Re-adds `key` after its exponential backoff and counts a failure.
    pub fn add_rate_limited(&self, key: K) {
        let delay = {
            let mut s = self.lock();
            let n = s.failures.entry(key.clone()).or_insert(0);
            let d = backoff(*n);
            *n = n.saturating_add(1);
            d
        };
        self.add_after(key, delay);
    }

    /// Clears `key`'s failure count (after a successful sync).
    pub fn forget(&self, key: &K) {
        self.lock().failures.remove(key);
    }

    /// Failures counted for `key` since the last [`WorkQueue::forget`].
    pub fn num_requeues(&self, key: &K) -> u32 {
        self.lock().failures.get(key).copied().unwrap_or(0)
    }

    /// Waits for the next key; `None` once shut down and drained of waiters.
    pub async fn get(&self) -> Option<K> {
        loop {
            let notified = self.inner.notify.notified();
            {
                let mut s = self.lock();
                if s.shut_down {
                    return None;
                }
                if let Some(key) = s.queue.pop_front() {
                    s.dirty.remove(&key);
                    s.processing.insert(key.clone());
                    let more = !s.queue.is_empty();
                    drop(s);
                    if more {
                        self.inner.notify.notify_one();
                    }
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// Marks `key` processed; re-queues it if it was added meanwhile.
    pub fn done(&self, key: &K) {
        let mut s = self.lock();
        s.processing.remove(key);
        if s.dirty.contains(key) {
            s.queue.push_back(key.clone());
            drop(s);
            self.inner.notify.notify_one();
        }
    }

    /// Stops handing out keys; every [`WorkQueue::get`] returns `None`.
    pub fn shut_down(&self) {
        self.lock().shut_down = true;
        self.inner.notify.notify_waiters();
    }

    /// Keys waiting (not processing), for tests and metrics.
    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn backoff_table() {
        let cases = [(0, 5), (1, 10), (2, 20), (10, 5120), (40, 1_000_000)];
        for (n, ms) in cases {
            assert_eq!(backoff(n), Duration::from_millis(ms), "{n}");
        }
        assert_eq!(backoff(20), BACKOFF_MAX);
    }

    #[tokio::test]
    async fn dedup_and_processing() {
        let q = WorkQueue::new();
        q.add("a");
        q.add("a");
        q.add("b");
        assert_eq!(q.len(), 2);
        let k = q.get().await.unwrap();
        assert_eq!(k, "a");
        q.add("a"); // while processing: remembered, not handed out
        assert_eq!(q.get().await.unwrap(), "b");
        assert!(q.is_empty());
        q.done(&"a");
        assert_eq!(q.get().await.unwrap(), "a");
        q.done(&"a");
        q.done(&"b");
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn rate_limited_and_delayed() {
        let q = WorkQueue::new();
        q.add_rate_limited("a");
        q.add_rate_limited("a");
        assert_eq!(q.num_requeues(&"a"), 2);
        tokio::time::sleep(Duration::from_millis(6)).await;
        assert_eq!(q.get().await.unwrap(), "a");
        q.forget(&"a");
        q.done(&"a");
        assert_eq!(q.num_requeues(&"a"), 0);
        q.add_after("b", Duration::from_secs(10));
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(q.is_empty());
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert_eq!(q.get().await.unwrap(), "b");
        q.shut_down();
        assert!(q.get().await.is_none());
    }
}
