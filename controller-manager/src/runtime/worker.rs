//! Workers draining a [`WorkQueue`]: each key is synced by one worker at a
//! time, inside one tracing span; an error is logged and the key re-queued
//! with its backoff; `Ok(Some(d))` asks for a re-sync after `d`.

use std::fmt::Display;
use std::future::Future;
use std::hash::Hash;
use std::time::Duration;

use tracing::Instrument;

use super::queue::WorkQueue;

/// What a successful sync asks for next.
pub type SyncResult = anyhow::Result<Option<Duration>>;

/// Runs `workers` concurrent workers until the queue is shut down (or the
/// returned future is dropped).
pub async fn run_workers<K, F, Fut>(controller: &'static str, queue: WorkQueue<K>, workers: usize, sync: F)
where
    K: Clone + Eq + Hash + Display + Send + Sync + 'static,
    F: Fn(K) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = SyncResult> + Send,
{
    let mut tasks = Vec::new();
    for _ in 0..workers.max(1) {
        let queue = queue.clone();
        let sync = sync.clone();
        tasks.push(async move {
            while let Some(key) = queue.get().await {
                let span = tracing::info_span!("sync", controller, key = %key);
                let result = sync(key.clone()).instrument(span).await;
                match result {
                    Ok(None) => queue.forget(&key),
                    Ok(Some(after)) => {
                        queue.forget(&key);
                        queue.add_after(key.clone(), after);
                    }
                    Err(err) => {
                        let retries = queue.num_requeues(&key);
                        tracing::warn!(controller, key = %key, retries, error = format!("{err:#}"), "sync failed; requeueing");
                        queue.add_rate_limited(key.clone());
                    }
                }
                queue.done(&key);
            }
        });
    }
    futures::future::join_all(tasks).await;
}
