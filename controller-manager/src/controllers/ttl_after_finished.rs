//! The TTL-after-finished controller (`ttl-after-finished`): deletes a
//! finished Job (Complete or Failed) `spec.ttlSecondsAfterFinished` after
//! it finished, with background propagation (upstream
//! `pkg/controller/ttlafterfinished`). The finish time is the terminal
//! condition's transition time (else `completionTime`).

use std::time::Duration;

use anyhow::Context;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::api::{DeleteParams, Preconditions};
use kube::Api;

use crate::controllers::Ctx;
use crate::runtime::{run_workers, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "ttl-after-finished";

/// When the Job expires, if it has a TTL and finished.
pub fn expires_at(job: &Job) -> Option<Timestamp> {
    let ttl = job.spec.as_ref()?.ttl_seconds_after_finished?;
    let status = job.status.as_ref()?;
    let cond = status.conditions.as_ref()?.iter().find(|c| c.status == "True" && (c.type_ == "Complete" || c.type_ == "Failed"))?;
    let finished = cond.last_transition_time.as_ref().or(status.completion_time.as_ref())?.0;
    finished.checked_add(SignedDuration::from_secs(i64::from(ttl))).ok()
}

/// `Ok(None)`: nothing to do; `Ok(Some(0))`: delete now; else wait.
pub fn time_left(job: &Job, now: Timestamp) -> Option<Duration> {
    if job.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let at = expires_at(job)?;
    Some(if at <= now { Duration::ZERO } else { Duration::try_from(at.duration_since(now)).unwrap_or(Duration::ZERO) })
}

async fn sync(client: kube::Client, jobs: crate::runtime::Informer<Job>, key: ObjectKey) -> SyncResult {
    let Some(job) = jobs.get(&key.namespace, &key.name) else { return Ok(None) };
    match time_left(&job, Timestamp::now()) {
        None => Ok(None),
        Some(d) if !d.is_zero() => Ok(Some(d)),
        Some(_) => {
            let api: Api<Job> = Api::namespaced(client, &key.namespace);
            // Upstream re-reads the Job before deleting; the uid precondition
            // guards against a recreated Job of the same name.
            let dp = DeleteParams {
                preconditions: Some(Preconditions { uid: job.metadata.uid.clone(), resource_version: job.metadata.resource_version.clone() }),
                ..DeleteParams::background()
            };
            tracing::info!(job = %key, "deleting finished job past its TTL");
            match api.delete(&key.name, &dp).await {
                Ok(_) => Ok(None),
                Err(err) if crate::runtime::owner::is_not_found(&err) => Ok(None),
                Err(err) if crate::runtime::owner::is_conflict(&err) => Ok(Some(Duration::from_millis(100))),
                Err(err) => Err(err).with_context(|| format!("deleting job {key}")),
            }
        }
    }
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let jobs = ctx.informers.get::<Job>();
    let queue = WorkQueue::<ObjectKey>::new();
    let _g = jobs.add_handler({
        let q = queue.clone();
        move |c| {
            if c.object().spec.as_ref().and_then(|s| s.ttl_seconds_after_finished).is_some() {
                q.add(ObjectKey::of(&**c.object()));
            }
        }
    });
    jobs.wait_synced().await?;
    let client = ctx.client.clone();
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(client.clone(), jobs.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{JobCondition, JobSpec, JobStatus};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn job(ttl: Option<i32>, finished: Option<i64>) -> Job {
        Job {
            metadata: Default::default(),
            spec: Some(JobSpec { ttl_seconds_after_finished: ttl, ..Default::default() }),
            status: Some(JobStatus {
                conditions: finished.map(|t| vec![JobCondition { type_: "Complete".into(), status: "True".into(), last_transition_time: Some(Time(at(t))), ..Default::default() }]),
                ..Default::default()
            }),
        }
    }

    #[test]
    fn ttl_table() {
        assert_eq!(time_left(&job(None, Some(0)), at(100)), None);
        assert_eq!(time_left(&job(Some(10), None), at(100)), None);
        assert_eq!(time_left(&job(Some(10), Some(95)), at(100)), Some(Duration::from_secs(5)));
        assert_eq!(time_left(&job(Some(10), Some(50)), at(100)), Some(Duration::ZERO));
        assert_eq!(time_left(&job(Some(0), Some(100)), at(100)), Some(Duration::ZERO));
    }
}
