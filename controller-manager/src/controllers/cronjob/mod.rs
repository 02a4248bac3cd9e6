//! The CronJob controller (`cronjob`); semantics in [`decide`], cron
//! grammar in [`schedule`].
//!
//! Shell: CronJob and Job informers; a Job change enqueues its controlling
//! CronJob. A sync writes the status, deletes replaced / surplus history
//! Jobs, creates the due Job and requeues at the next schedule time.

pub mod decide;
pub mod schedule;

use std::sync::Arc;

use anyhow::Context;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, PostParams};
use kube::Api;

use crate::controllers::Ctx;
use crate::runtime::{run_workers, EventRecorder, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "cronjob";

struct State {
    client: kube::Client,
    cronjobs: crate::runtime::Informer<CronJob>,
    jobs: crate::runtime::Informer<Job>,
    recorder: EventRecorder,
}

fn owner_key(job: &Job) -> Option<ObjectKey> {
    let r = crate::runtime::owner::controller_of(&job.metadata)?;
    (r.kind == "CronJob").then(|| ObjectKey::new(job.metadata.namespace.clone().unwrap_or_default(), r.name.clone()))
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let Some(cj) = state.cronjobs.get(&key.namespace, &key.name) else { return Ok(None) };
    let uid = cj.metadata.uid.clone().unwrap_or_default();
    let jobs: Vec<Arc<Job>> = state.jobs.list_namespace(&key.namespace).into_iter().filter(|j| crate::runtime::owner::is_controlled_by(&j.metadata, &uid)).collect();
    let now = Timestamp::now();
    let mut plan = decide::plan(&cj, &jobs, now);
    let jobs_api: Api<Job> = Api::namespaced(state.client.clone(), &key.namespace);
    for name in &plan.delete {
        match jobs_api.delete(name, &DeleteParams::background()).await {
            Ok(_) => state.recorder.normal(&*cj, "SuccessfulDelete", format!("Deleted job {name}")),
            Err(err) if crate::runtime::owner::is_not_found(&err) => {}
            Err(err) => return Err(err).with_context(|| format!("deleting job {name}")),
        }
    }
    if let Some((name, scheduled)) = plan.create.clone() {
        let tz = decide::time_zone(&cj).map_err(anyhow::Error::msg)?;
        let job = decide::job_for(&cj, &name, scheduled, &tz);
        match jobs_api.create(&PostParams::default(), &job).await {
            Ok(created) => {
                state.recorder.normal(&*cj, "SuccessfulCreate", format!("Created job {name}"));
                let active = plan.status.active.get_or_insert_with(Vec::new);
                active.push(decide::job_reference(&created));
            }
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(err) => {
                state.recorder.warning(&*cj, "FailedCreate", format!("Error creating job: {err}"));
                return Err(err).with_context(|| format!("creating job {name}"));
            }
        }
    }
    for e in std::mem::take(&mut plan.events) {
        if e.warning {
            state.recorder.warning(&*cj, &e.reason, e.message);
        } else {
            state.recorder.normal(&*cj, &e.reason, e.message);
        }
    }
    if cj.status.as_ref() != Some(&plan.status) {
        let api: Api<CronJob> = Api::namespaced(state.client.clone(), &key.namespace);
        // PUT (the cronjob-controller role may only update the status).
        let mut updated = (*cj).clone();
        updated.status = Some(plan.status.clone());
        api.replace_status(&key.name, &PostParams::default(), &updated).await.context("updating cronjob status")?;
    }
    Ok(plan.requeue_after)
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let cronjobs = ctx.informers.get::<CronJob>();
    let jobs = ctx.informers.get::<Job>();
    let queue = WorkQueue::<ObjectKey>::new();
    let _g1 = cronjobs.add_handler({
        let q = queue.clone();
        move |c| q.add(ObjectKey::of(&**c.object()))
    });
    let _g2 = jobs.add_handler({
        let q = queue.clone();
        move |c| {
            if let Some(k) = owner_key(c.object()) {
                q.add(k);
            }
        }
    });
    cronjobs.wait_synced().await?;
    jobs.wait_synced().await?;
    let state = Arc::new(State { client: ctx.client.clone(), cronjobs, jobs, recorder: EventRecorder::new(ctx.client.clone(), "cronjob-controller") });
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(state.clone(), key)).await;
    Ok(())
}
