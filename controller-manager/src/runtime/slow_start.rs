//! Upstream's `slowStartBatch`: perform `count` calls in batches of 1, 2,
//! 4, ... (each batch concurrently), stopping after the first batch with a
//! failure, so a systematically failing create (quota, admission) costs one
//! call rather than hundreds.
//!
//! Within a batch at most [`MAX_IN_FLIGHT`] calls run at once. kube-rs
//! speaks HTTP/1.1, so every concurrent request is a TLS connection of its
//! own, and hyper keeps idle connections pooled for 90 s: an unbounded
//! batch of 256 creates left ~250 connections (~40 KiB of buffers each)
//! behind. Upstream's client shares one HTTP/2 connection and is throttled
//! far lower (`--kube-api-qps` 20), so the cap changes no semantics.

use std::future::Future;

use futures::StreamExt;

/// Upstream's `SlowStartInitialBatchSize`.
pub const INITIAL_BATCH_SIZE: usize = 1;

/// Calls of one batch running at once (and so, at most, connections opened
/// by one batch).
pub const MAX_IN_FLIGHT: usize = 64;

/// Runs `call(i)` for `i in 0..count` in doubling batches. Returns the
/// number of successes and the first error, if any; calls after a failing
/// batch are not made.
pub async fn slow_start_batch<F, Fut, E>(count: usize, initial: usize, call: F) -> (usize, Option<E>)
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let mut remaining = count;
    let mut successes = 0;
    let mut batch = initial.max(1).min(count.max(1));
    let mut next = 0;
    while remaining > 0 {
        let size = batch.min(remaining);
        let results: Vec<Result<(), E>> =
            futures::stream::iter((next..next + size).map(&call)).buffer_unordered(MAX_IN_FLIGHT).collect().await;
        next += size;
        let mut first_err = None;
        for r in results {
            match r {
                Ok(()) => successes += 1,
                Err(e) => {
                    if first_err.is_none() {
                        first_err = Some(e);
                    }
                }
            }
        }
        if first_err.is_some() {
            return (successes, first_err);
        }
        remaining -= size;
        batch = (2 * size).min(remaining);
    }
    (successes, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[tokio::test]
    async fn batches_double_and_stop_on_error() {
        let calls = Mutex::new(Vec::new());
        let (ok, err) = slow_start_batch(10, 1, |i| {
            calls.lock().unwrap_or_else(|e| e.into_inner()).push(i);
            async move { if i == 4 { Err("boom") } else { Ok(()) } }
        })
        .await;
        // batches: [0], [1,2], [3,4,5,6] -> fails in the third batch
        assert_eq!(ok, 6);
        assert_eq!(err, Some("boom"));
        assert_eq!(calls.lock().unwrap_or_else(|e| e.into_inner()).len(), 7);
        let (ok, err) = slow_start_batch(5, 1, |_| async { Ok::<(), ()>(()) }).await;
        assert_eq!((ok, err), (5, None));
    }

    #[tokio::test]
    async fn caps_calls_in_flight() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let running = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let (ok, err) = slow_start_batch(1000, 1, |_| {
            let (running, peak) = (&running, &peak);
            async move {
                let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                peak.fetch_max(now, Ordering::SeqCst);
                tokio::task::yield_now().await;
                running.fetch_sub(1, Ordering::SeqCst);
                Ok::<(), ()>(())
            }
        })
        .await;
        assert_eq!((ok, err), (1000, None));
        assert_eq!(peak.load(Ordering::SeqCst), MAX_IN_FLIGHT);
    }
}
