//! A deduplicating work queue with delayed adds, after client-go's
//! `workqueue`: a key waits at most once in the queue however often it is
//! added, is never handed to two workers at once, and a key added while
//! being processed is queued again when its worker is done. So 150,000 pods
//! changing often never make more than one pending item each.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet, VecDeque};
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;

struct Inner<K> {
    queue: VecDeque<K>,
    dirty: HashSet<K>,
    processing: HashSet<K>,
    shut_down: bool,
}

/// The queue; cheap to clone (shared).
pub struct WorkQueue<K> {
    inner: Arc<Mutex<Inner<K>>>,
    notify: Arc<Notify>,
    delayed: mpsc::UnboundedSender<(K, Instant)>,
}

impl<K> Clone for WorkQueue<K> {
    fn clone(&self) -> Self {
        WorkQueue { inner: self.inner.clone(), notify: self.notify.clone(), delayed: self.delayed.clone() }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl<K: Clone + Eq + Hash + Send + 'static> WorkQueue<K> {
    /// A new queue; spawns the timer task that serves [`WorkQueue::add_after`]
    /// (it ends when every handle is dropped or on shutdown).
    pub fn new() -> WorkQueue<K> {
        let (tx, rx) = mpsc::unbounded_channel();
        let q = WorkQueue {
            inner: Arc::new(Mutex::new(Inner {
                queue: VecDeque::new(),
                dirty: HashSet::new(),
                processing: HashSet::new(),
                shut_down: false,
            })),
            notify: Arc::new(Notify::new()),
            delayed: tx,
        };
        tokio::spawn(timer(q.downgrade(), rx));
        q
    }

    fn downgrade(&self) -> WeakQueue<K> {
        WeakQueue { inner: Arc::downgrade(&self.inner), notify: Arc::downgrade(&self.notify) }
    }

    /// Queues `key` unless it is already waiting.
    pub fn add(&self, key: K) {
        add(&self.inner, &self.notify, key);
    }

    /// Queues `key` at `at` (earlier adds win; a later one is dropped when
    /// an earlier one is pending).
    pub fn add_at(&self, key: K, at: Instant) {
        if at <= Instant::now() {
            self.add(key);
        } else {
            let _ = self.delayed.send((key, at));
        }
    }

    /// The next key to work on; `None` once shut down.
    pub async fn get(&self) -> Option<K> {
        loop {
            let notified = self.notify.notified();
            {
                let mut inner = lock(&self.inner);
                if inner.shut_down {
                    return None;
                }
                if let Some(key) = inner.queue.pop_front() {
                    inner.dirty.remove(&key);
                    inner.processing.insert(key.clone());
                    if !inner.queue.is_empty() {
                        self.notify.notify_one();
                    }
                    return Some(key);
                }
            }
            notified.await;
        }
    }

    /// Marks `key` processed; queues it again if it was added meanwhile.
    pub fn done(&self, key: &K) {
        let mut inner = lock(&self.inner);
        inner.processing.remove(key);
        if inner.dirty.contains(key) {
            inner.queue.push_back(key.clone());
            drop(inner);
            self.notify.notify_one();
        }
    }

    /// Wakes every worker with `None`.
    pub fn shut_down(&self) {
        lock(&self.inner).shut_down = true;
        self.notify.notify_waiters();
    }

    /// Keys waiting (not counting those being processed).
    pub fn len(&self) -> usize {
        lock(&self.inner).queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<K: Clone + Eq + Hash + Send + 'static> Default for WorkQueue<K> {
    fn default() -> Self {
        Self::new()
    }
}

fn add<K: Clone + Eq + Hash>(inner: &Mutex<Inner<K>>, notify: &Notify, key: K) {
    let mut inner = lock(inner);
    if inner.shut_down || inner.dirty.contains(&key) {
        return;
    }
    inner.dirty.insert(key.clone());
    if !inner.processing.contains(&key) {
        inner.queue.push_back(key);
        drop(inner);
        notify.notify_one();
    }
}

struct WeakQueue<K> {
    inner: std::sync::Weak<Mutex<Inner<K>>>,
    notify: std::sync::Weak<Notify>,
}

/// Holds delayed keys in a heap; the earliest pending time per key wins.
async fn timer<K: Clone + Eq + Hash>(queue: WeakQueue<K>, mut rx: mpsc::UnboundedReceiver<(K, Instant)>) {
    let mut heap: BinaryHeap<Reverse<(Instant, u64)>> = BinaryHeap::new();
    let mut keys: HashMap<u64, K> = HashMap::new();
    let mut due: HashMap<K, (Instant, u64)> = HashMap::new();
    let mut seq = 0u64;
    loop {
        let next = heap.peek().map(|Reverse((at, _))| *at);
        tokio::select! {
            msg = rx.recv() => {
                let Some((key, at)) = msg else { return };
                if due.get(&key).is_some_and(|(t, _)| *t <= at) {
                    continue;
                }
                seq += 1;
                if let Some((_, old)) = due.insert(key.clone(), (at, seq)) {
                    keys.remove(&old);
                }
                keys.insert(seq, key);
                heap.push(Reverse((at, seq)));
            }
            _ = sleep_until(next) => {
                let (Some(inner), Some(notify)) = (queue.inner.upgrade(), queue.notify.upgrade()) else { return };
                let now = Instant::now();
                while let Some(Reverse((at, id))) = heap.peek().copied() {
                    if at > now {
                        break;
                    }
                    heap.pop();
                    if let Some(key) = keys.remove(&id) {
                        due.remove(&key);
                        add(&inner, &notify, key);
                    }
                }
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => futures::future::pending().await,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn dedupes_and_requeues_after_done() {
        let q: WorkQueue<&str> = WorkQueue::new();
        q.add("a");
        q.add("b");
        q.add("a");
        assert_eq!(q.len(), 2);
        let a = q.get().await.unwrap();
        assert_eq!(a, "a");
        q.add("a"); // while processing: not handed out twice
        assert_eq!(q.get().await, Some("b"));
        assert_eq!(q.len(), 0);
        q.done(&"a"); // re-queued now
        assert_eq!(q.get().await, Some("a"));
        q.done(&"a");
        q.done(&"b");
        assert!(q.is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn delayed_adds_keep_the_earliest() {
        let q: WorkQueue<&str> = WorkQueue::new();
        let t0 = Instant::now();
        q.add_at("a", t0 + Duration::from_secs(10));
        q.add_at("a", t0 + Duration::from_secs(5));
        q.add_at("a", t0 + Duration::from_secs(20));
        q.add_at("b", t0 + Duration::from_secs(7));
        assert_eq!(q.get().await, Some("a"));
        assert_eq!(Instant::now() - t0, Duration::from_secs(5));
        assert_eq!(q.get().await, Some("b"));
        assert_eq!(Instant::now() - t0, Duration::from_secs(7));
        q.done(&"a");
        q.done(&"b");
        // the later "a" adds were dropped
        let waited = tokio::time::timeout(Duration::from_secs(60), q.get()).await;
        assert!(waited.is_err());
    }

    #[tokio::test]
    async fn shut_down_wakes_workers() {
        let q: WorkQueue<u32> = WorkQueue::new();
        let q2 = q.clone();
        let worker = tokio::spawn(async move { q2.get().await });
        tokio::task::yield_now().await;
        q.shut_down();
        assert_eq!(worker.await.unwrap(), None);
    }
}
