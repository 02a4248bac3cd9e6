//! Upstream's `slowStartBatch`: perform `count` calls in batches of 1, 2,
//! 4, ... (each batch concurrently), stopping after the first batch with a
//! failure, so a systematically failing create (quota, admission) costs one
//! call rather than hundreds.

use std::future::Future;

/// Upstream's `SlowStartInitialBatchSize`.
pub const INITIAL_BATCH_SIZE: usize = 1;

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
        let results = futures::future::join_all((next..next + size).map(&call)).await;
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
}
