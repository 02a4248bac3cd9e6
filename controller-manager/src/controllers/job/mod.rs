//! The Job controller (`job`); semantics in [`tracking`].
//!
//! Shell: Job and Pod informers; a pod change enqueues its controlling Job.
//! A sync computes a [`tracking::Plan`], writes the status (with newly finished
//! pods listed as uncounted), removes their tracking finalizers, moves them
//! into the counters with a second status write, deletes and creates pods
//! (creations in slow-start batches, gated by expectations), and records
//! upstream's events. Pods of a deleted Job lose their tracking finalizer.

pub mod tracking;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{EnvVar, EnvVarSource, ObjectFieldSelector, Pod};
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Patch, PatchParams, PostParams};
use kube::Api;
use serde_json::json;

use crate::controllers::Ctx;
use crate::runtime::cached_pod::CachedPod;
use crate::runtime::{run_workers, Change, EventRecorder, Expectations, ObjectKey, SyncResult, WorkQueue};

const NAME: &str = "job";

struct State {
    client: kube::Client,
    jobs: crate::runtime::Informer<Job>,
    pods: crate::runtime::Informer<CachedPod>,
    recorder: EventRecorder,
    expectations: Expectations<ObjectKey>,
    /// Per Job uid: pods whose tracking finalizer was removed after they
    /// were counted, until the cache shows it gone.
    counted: std::sync::Mutex<HashMap<String, HashSet<String>>>,
}

impl State {
    fn counted_for(&self, job_uid: &str, pods: &[Arc<CachedPod>]) -> HashSet<String> {
        let mut map = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        let set = map.entry(job_uid.to_string()).or_default();
        set.retain(|uid| {
            pods.iter().any(|p| p.metadata.uid.as_deref() == Some(uid.as_str()) && p.metadata.finalizers.iter().flatten().any(|f| f == tracking::TRACKING_FINALIZER))
        });
        let out = set.clone();
        if set.is_empty() {
            map.remove(job_uid);
        }
        out
    }

    fn mark_counted(&self, job_uid: &str, pod_uids: impl IntoIterator<Item = String>) {
        let mut map = self.counted.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(job_uid.to_string()).or_default().extend(pod_uids);
    }
}

/// The pod a Job creates (upstream `getPodsForJob` template + index bits).
pub fn new_pod(job: &Job, index: Option<i32>) -> Pod {
    let name = job.metadata.name.clone().unwrap_or_default();
    let template = job.spec.as_ref().map(|s| s.template.clone()).unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut labels = tmeta.labels.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    let mut spec = template.spec.unwrap_or_default();
    let mut generate_name = format!("{name}-");
    if let Some(i) = index {
        labels.insert(tracking::COMPLETION_INDEX.into(), i.to_string());
        annotations.insert(tracking::COMPLETION_INDEX.into(), i.to_string());
        generate_name = format!("{name}-{i}-");
        if spec.hostname.as_deref().is_none_or(str::is_empty) {
            spec.hostname = Some(format!("{name}-{i}"));
        }
        let env = EnvVar {
            name: "JOB_COMPLETION_INDEX".into(),
            value: None,
            value_from: Some(EnvVarSource {
                field_ref: Some(ObjectFieldSelector { api_version: None, field_path: format!("metadata.labels['{}']", tracking::COMPLETION_INDEX) }),
                ..Default::default()
            }),
        };
        for c in spec.containers.iter_mut().chain(spec.init_containers.iter_mut().flatten()) {
            let envs = c.env.get_or_insert_with(Vec::new);
            if !envs.iter().any(|e| e.name == env.name) {
                envs.push(env.clone());
            }
        }
    }
    Pod {
        metadata: kube::api::ObjectMeta {
            generate_name: Some(generate_name),
            namespace: job.metadata.namespace.clone(),
            labels: Some(labels),
            annotations: (!annotations.is_empty()).then_some(annotations),
            owner_references: Some(vec![crate::runtime::owner::controller_ref(job)]),
            finalizers: Some(vec![tracking::TRACKING_FINALIZER.into()]),
            ..Default::default()
        },
        spec: Some(spec),
        status: None,
    }
}

fn job_key_of_pod(pod: &CachedPod) -> Option<ObjectKey> {
    let r = crate::runtime::owner::controller_of(&pod.metadata)?;
    (r.kind == "Job" && r.api_version.starts_with("batch/")).then(|| ObjectKey::new(pod.metadata.namespace.clone().unwrap_or_default(), r.name.clone()))
}

async fn remove_finalizer(api: &Api<Pod>, pod: &CachedPod) -> anyhow::Result<()> {
    let name = pod.metadata.name.clone().unwrap_or_default();
    let rest: Vec<String> = pod.metadata.finalizers.iter().flatten().filter(|f| *f != tracking::TRACKING_FINALIZER).cloned().collect();
    let patch = json!({"metadata": {"finalizers": if rest.is_empty() { serde_json::Value::Null } else { json!(rest) }, "resourceVersion": pod.metadata.resource_version}});
    match api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
        Ok(_) => Ok(()),
        Err(err) if crate::runtime::owner::is_not_found(&err) => Ok(()),
        Err(err) => Err(err).with_context(|| format!("removing the job-tracking finalizer from pod {name}")),
    }
}

/// `PUT jobs/status` (the job-controller role may only update it), based
/// on `job`'s resourceVersion: a stale cache read fails with a conflict.
async fn write_status(api: &Api<Job>, job: &Job, status: &k8s_openapi::api::batch::v1::JobStatus) -> anyhow::Result<Job> {
    let name = job.metadata.name.clone().unwrap_or_default();
    let mut updated = job.clone();
    updated.status = Some(status.clone());
    api.replace_status(&name, &PostParams::default(), &updated).await.with_context(|| format!("updating job {name} status"))
}

async fn sync(state: Arc<State>, key: ObjectKey) -> SyncResult {
    let pods_api: Api<Pod> = Api::namespaced(state.client.clone(), &key.namespace);
    let Some(job) = state.jobs.get(&key.namespace, &key.name) else {
        // Deleted Job: release its pods' tracking finalizers.
        state.expectations.forget(&key);
        for pod in state.pods.list_namespace(&key.namespace) {
            if job_key_of_pod(&pod).as_ref() == Some(&key) && pod.metadata.finalizers.iter().flatten().any(|f| f == tracking::TRACKING_FINALIZER) {
                remove_finalizer(&pods_api, &pod).await?;
            }
        }
        return Ok(None);
    };
    let uid = job.metadata.uid.clone().unwrap_or_default();
    let pods: Vec<Arc<CachedPod>> = state.pods.list_namespace(&key.namespace).into_iter().filter(|p| crate::runtime::owner::is_controlled_by(&p.metadata, &uid)).collect();
    let now = Timestamp::now();
    let counted = state.counted_for(&uid, &pods);
    let mut plan = tracking::plan(&job, &pods, &counted, now);
    let jobs_api: Api<Job> = Api::namespaced(state.client.clone(), &key.namespace);

    // 1. Status with the newly uncounted pods (and conditions).
    let mut current = (*job).clone();
    if job.status.as_ref() != Some(&plan.status) {
        current = write_status(&jobs_api, &job, &plan.status).await?;
    }
    // 2. Finalizers off, 3. counted.
    if !plan.remove_finalizers.is_empty() {
        let by_name: BTreeMap<String, Arc<CachedPod>> = pods.iter().map(|p| (p.metadata.name.clone().unwrap_or_default(), p.clone())).collect();
        for (_, name) in &plan.remove_finalizers {
            if let Some(pod) = by_name.get(name) {
                remove_finalizer(&pods_api, pod).await?;
            }
        }
    }
    let has_uncounted = plan.status.uncounted_terminated_pods.as_ref().is_some_and(|u| {
        !u.succeeded.as_deref().unwrap_or(&[]).is_empty() || !u.failed.as_deref().unwrap_or(&[]).is_empty()
    });
    if has_uncounted {
        let mut flushed = plan.status.clone();
        tracking::flush_uncounted(&mut flushed);
        write_status(&jobs_api, &current, &flushed).await?;
        let removed: Vec<String> = pods
            .iter()
            .filter(|p| plan.remove_finalizers.iter().any(|(_, n)| p.metadata.name.as_ref() == Some(n)))
            .filter_map(|p| p.metadata.uid.clone())
            .collect();
        state.mark_counted(&uid, removed);
    }
    for e in std::mem::take(&mut plan.events) {
        if e.warning {
            state.recorder.warning(&*job, &e.reason, e.message);
        } else {
            state.recorder.normal(&*job, &e.reason, e.message);
        }
    }
    // 4. Pods.
    if !state.expectations.satisfied(&key, Instant::now()) {
        return Ok(plan.requeue_after);
    }
    if !plan.delete.is_empty() {
        let uids: Vec<String> = pods
            .iter()
            .filter(|p| plan.delete.iter().any(|(_, n)| p.metadata.name.as_ref() == Some(n)))
            .filter_map(|p| p.metadata.uid.clone())
            .collect();
        state.expectations.expect_deletions(&key, uids, Instant::now());
        for (_, name) in &plan.delete {
            match pods_api.delete(name, &DeleteParams::background()).await {
                Ok(_) => state.recorder.normal(&*job, "SuccessfulDelete", format!("Deleted pod: {name}")),
                Err(err) if crate::runtime::owner::is_not_found(&err) => {}
                Err(err) => {
                    state.recorder.warning(&*job, "FailedDelete", format!("Error deleting: {err}"));
                    return Err(err).with_context(|| format!("deleting pod {name}"));
                }
            }
        }
    }
    if !plan.create.is_empty() {
        let creates = plan.create.clone();
        state.expectations.expect_creations(&key, creates.len(), Instant::now());
        let (ok, err) = crate::runtime::slow_start::slow_start_batch(creates.len(), crate::runtime::slow_start::INITIAL_BATCH_SIZE, |i| {
            let pod = new_pod(&job, creates.get(i).copied().flatten());
            let api = pods_api.clone();
            let recorder = state.recorder.clone();
            let job = job.clone();
            async move {
                match api.create(&PostParams::default(), &pod).await {
                    Ok(created) => {
                        recorder.normal(&*job, "SuccessfulCreate", format!("Created pod: {}", created.metadata.name.unwrap_or_default()));
                        Ok(())
                    }
                    Err(err) => {
                        recorder.warning(&*job, "FailedCreate", format!("Error creating: {err}"));
                        Err(err)
                    }
                }
            }
        })
        .await;
        if ok < creates.len() {
            state.expectations.lower_creations(&key, creates.len() - ok);
        }
        if let Some(err) = err {
            return Err(err).context("creating job pods");
        }
    }
    Ok(plan.requeue_after)
}

pub async fn run(ctx: Ctx) -> anyhow::Result<()> {
    let jobs = ctx.informers.get::<Job>();
    let pods = ctx.informers.get::<CachedPod>();
    let queue = WorkQueue::<ObjectKey>::new();
    let state = Arc::new(State {
        client: ctx.client.clone(),
        jobs: jobs.clone(),
        pods: pods.clone(),
        recorder: EventRecorder::new(ctx.client.clone(), "job-controller"),
        expectations: Expectations::new(),
        counted: std::sync::Mutex::new(HashMap::new()),
    });
    let _g1 = jobs.add_handler({
        let q = queue.clone();
        move |c| q.add(ObjectKey::of(&**c.object()))
    });
    let _g2 = pods.add_handler({
        let q = queue.clone();
        let state = state.clone();
        move |c: &Change<CachedPod>| {
            let pod = c.object();
            let Some(key) = job_key_of_pod(pod) else { return };
            match c {
                Change::Applied { old: None, .. } => state.expectations.creation_observed(&key),
                Change::Deleted(_) => state.expectations.deletion_observed(&key, pod.metadata.uid.as_deref().unwrap_or("")),
                Change::Applied { new, .. } if new.metadata.deletion_timestamp.is_some() => {
                    state.expectations.deletion_observed(&key, pod.metadata.uid.as_deref().unwrap_or(""))
                }
                _ => {}
            }
            q.add(key);
        }
    });
    jobs.wait_synced().await?;
    pods.wait_synced().await?;
    run_workers(NAME, queue, ctx.settings.concurrent_syncs.max(1), move |key| sync(state.clone(), key)).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::JobSpec;
    use k8s_openapi::api::core::v1::{Container, PodSpec, PodTemplateSpec};

    #[test]
    fn pods_from_template() {
        let job = Job {
            metadata: kube::api::ObjectMeta { name: Some("pi".into()), namespace: Some("ns".into()), uid: Some("u".into()), ..Default::default() },
            spec: Some(JobSpec {
                template: PodTemplateSpec {
                    metadata: Some(kube::api::ObjectMeta { labels: Some([("job-name".to_string(), "pi".to_string())].into()), ..Default::default() }),
                    spec: Some(PodSpec { containers: vec![Container { name: "c".into(), ..Default::default() }], ..Default::default() }),
                },
                ..Default::default()
            }),
            status: None,
        };
        let p = new_pod(&job, None);
        assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-"));
        assert_eq!(p.metadata.finalizers, Some(vec![tracking::TRACKING_FINALIZER.to_string()]));
        assert_eq!(p.metadata.owner_references.as_ref().map(|o| o[0].uid.as_str()), Some("u"));
        let p = new_pod(&job, Some(2));
        assert_eq!(p.metadata.generate_name.as_deref(), Some("pi-2-"));
        assert_eq!(p.spec.as_ref().and_then(|s| s.hostname.as_deref()), Some("pi-2"));
        assert_eq!(p.metadata.labels.as_ref().and_then(|l| l.get(tracking::COMPLETION_INDEX)).map(String::as_str), Some("2"));
        assert_eq!(tracking::pod_index(&CachedPod::from(&p)), Some(2));
        let env = p.spec.as_ref().and_then(|s| s.containers[0].env.clone()).unwrap_or_default();
        assert_eq!(env[0].name, "JOB_COMPLETION_INDEX");
    }
}
