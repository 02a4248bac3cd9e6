//! The pure core of the Job controller: from a Job, its pods and `now`,
//! the status to record and the pods to create or delete.
//!
//! Upstream semantics (`pkg/controller/job/job_controller.go`, 1.33):
//! - pods carry the `batch.kubernetes.io/job-tracking` finalizer; a pod
//!   that finished is first listed in `status.uncountedTerminatedPods`,
//!   then its finalizer is removed, then it moves into
//!   `status.succeeded`/`status.failed` (see [`Plan::newly_uncounted`]);
//! - a pod being deleted that has not succeeded counts as failed
//!   (`podReplacementPolicy: TerminatingOrFailed`) unless a
//!   `podFailurePolicy` is set, which waits for the Failed phase;
//! - `podFailurePolicy` rules (FailJob / Ignore / Count; FailIndex is
//!   treated as Count here) match container exit codes or pod conditions;
//! - more failures than `backoffLimit` (or, with `restartPolicy:
//!   OnFailure`, that many container restarts), `activeDeadlineSeconds`
//!   elapsed, or a FailJob rule set `FailureTarget`; reaching the
//!   completions sets `SuccessCriteriaMet`; active pods are then deleted and
//!   the terminal `Failed`/`Complete` condition follows once none are left;
//! - replacement pods after failures wait `10 s × 2^(failures-1)`, capped
//!   at 6 min, from the last failure;
//! - `suspend` deletes active pods and records `Suspended`; resuming resets
//!   `startTime`;
//! - Indexed jobs keep one pod per index (`batch.kubernetes.io/job-completion-index`
//!   annotation and label, hostname `<job>-<index>`) and record
//!   `completedIndexes` as interval text ("0-2,5").

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{Job, JobCondition, JobStatus, UncountedTerminatedPods};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use crate::runtime::cached_pod::CachedPod;

pub const TRACKING_FINALIZER: &str = "batch.kubernetes.io/job-tracking";
pub const COMPLETION_INDEX: &str = "batch.kubernetes.io/job-completion-index";
pub const BACKOFF_BASE: Duration = Duration::from_secs(10);
pub const BACKOFF_MAX: Duration = Duration::from_secs(360);

pub const REASON_BACKOFF: &str = "BackoffLimitExceeded";
pub const MSG_BACKOFF: &str = "Job has reached the specified backoff limit";
pub const REASON_DEADLINE: &str = "DeadlineExceeded";
pub const MSG_DEADLINE: &str = "Job was active longer than specified deadline";
pub const REASON_POLICY: &str = "PodFailurePolicy";
pub const REASON_COMPLETIONS: &str = "CompletionsReached";
pub const MSG_COMPLETIONS: &str = "Reached expected number of succeeded pods";

/// An event to record about the Job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobEvent {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

/// What one sync should do.
#[derive(Debug, Default)]
pub struct Plan {
    /// The status to record (compare with the current one before writing).
    pub status: JobStatus,
    /// Finished pods (uids) newly listed as uncounted: their finalizers go
    /// after `status` is written, then they are counted.
    pub newly_uncounted: Vec<String>,
    /// Pods (namespace, name) whose tracking finalizer to remove.
    pub remove_finalizers: Vec<(String, String)>,
    /// Pods to create: `Some(index)` for Indexed jobs.
    pub create: Vec<Option<i32>>,
    /// Active pods to delete (namespace, name).
    pub delete: Vec<(String, String)>,
    pub events: Vec<JobEvent>,
    pub requeue_after: Option<Duration>,
}

fn phase(pod: &CachedPod) -> &str {
    pod.status.as_ref().and_then(|s| s.phase.as_deref()).unwrap_or("")
}

fn has_finalizer(pod: &CachedPod) -> bool {
    pod.metadata.finalizers.iter().flatten().any(|f| f == TRACKING_FINALIZER)
}

fn key(pod: &CachedPod) -> (String, String) {
    (pod.metadata.namespace.clone().unwrap_or_default(), pod.metadata.name.clone().unwrap_or_default())
}

fn uid(pod: &CachedPod) -> String {
    pod.metadata.uid.clone().unwrap_or_default()
}

pub fn condition<'a>(job: &'a Job, ty: &str) -> Option<&'a JobCondition> {
    job.status.as_ref()?.conditions.as_ref()?.iter().find(|c| c.type_ == ty && c.status == "True")
}

/// Complete or Failed.
pub fn is_finished(job: &Job) -> bool {
    condition(job, "Complete").is_some() || condition(job, "Failed").is_some()
}

pub fn is_indexed(job: &Job) -> bool {
    job.spec.as_ref().and_then(|s| s.completion_mode.as_deref()) == Some("Indexed")
}

/// The completion index of a pod (annotation, else label).
pub fn pod_index(pod: &CachedPod) -> Option<i32> {
    let from = |m: Option<&std::collections::BTreeMap<String, String>>| m.and_then(|m| m.get(COMPLETION_INDEX)).and_then(|v| v.parse().ok());
    from(pod.metadata.annotations.as_ref()).or_else(|| from(pod.metadata.labels.as_ref()))
}

/// Parses "0-2,5" into indexes.
pub fn parse_indexes(s: &str) -> BTreeSet<i32> {
    let mut out = BTreeSet::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<i32>(), b.parse::<i32>()) {
                    out.extend(a..=b);
                }
            }
            None => {
                if let Ok(n) = part.parse() {
                    out.insert(n);
                }
            }
        }
    }
    out
}

/// Formats indexes as "0-2,5".
pub fn format_indexes(set: &BTreeSet<i32>) -> String {
    let mut parts = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(start) = iter.next() {
        let mut end = start;
        while iter.peek() == Some(&(end + 1)) {
            end += 1;
            iter.next();
        }
        parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
    }
    parts.join(",")
}

/// Outcome of the pod failure policy for one failed pod.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyAction {
    FailJob(String),
    Ignore,
    Count,
}

/// Upstream `matchPodFailurePolicy`.
pub fn match_failure_policy(job: &Job, pod: &CachedPod) -> PolicyAction {
    let Some(policy) = job.spec.as_ref().and_then(|s| s.pod_failure_policy.as_ref()) else { return PolicyAction::Count };
    let ns = pod.metadata.namespace.as_deref().unwrap_or("");
    let name = pod.metadata.name.as_deref().unwrap_or("");
    let status = pod.status.as_ref();
    let containers = status
        .into_iter()
        .flat_map(|s| s.init_container_statuses.iter().flatten().chain(s.container_statuses.iter().flatten()));
    let terminated: Vec<(String, i32)> = containers
        .filter_map(|c| Some((c.name.clone(), c.state.as_ref()?.terminated.as_ref()?.exit_code)))
        .filter(|(_, code)| *code != 0)
        .collect();
    for (i, rule) in policy.rules.iter().enumerate() {
        let action = rule.action.as_str();
        let mut matched: Option<String> = None;
        if let Some(on) = &rule.on_exit_codes {
            for (cname, code) in &terminated {
                if on.container_name.as_deref().is_some_and(|c| c != cname) {
                    continue;
                }
                let listed = on.values.contains(code);
                let hit = match on.operator.as_str() {
                    "In" => listed,
                    "NotIn" => !listed,
                    _ => false,
                };
                if hit {
                    matched = Some(format!("Container {cname} for pod {ns}/{name} failed with exit code {code} matching {action} rule at index {i}"));
                    break;
                }
            }
        }
        for pattern in rule.on_pod_conditions.iter().flatten() {
            if matched.is_some() {
                break;
            }
            let want = if pattern.status.is_empty() { "True" } else { pattern.status.as_str() };
            let hit = status.and_then(|s| s.conditions.as_ref()).is_some_and(|cs| cs.iter().any(|c| c.type_ == pattern.type_ && c.status == want));
            if hit {
                matched = Some(format!("Pod {ns}/{name} has condition {} matching {action} rule at index {i}", pattern.type_));
            }
        }
        if let Some(message) = matched {
            return match action {
                "FailJob" => PolicyAction::FailJob(message),
                "Ignore" => PolicyAction::Ignore,
                _ => PolicyAction::Count,
            };
        }
    }
    PolicyAction::Count
}

/// When a pod finished (latest container finish, else a condition
/// transition, else its deletion or creation time).
fn finish_time(pod: &CachedPod) -> Option<Timestamp> {
    let status = pod.status.as_ref();
    let container = status
        .into_iter()
        .flat_map(|s| s.container_statuses.iter().flatten())
        .filter_map(|c| c.state.as_ref()?.terminated.as_ref()?.finished_at.as_ref().map(|t| t.0))
        .max();
    container
        .or_else(|| status.and_then(|s| s.conditions.as_ref()).and_then(|cs| cs.iter().filter_map(|c| c.last_transition_time.as_ref().map(|t| t.0)).max()))
        .or_else(|| pod.metadata.deletion_timestamp.as_ref().map(|t| t.0))
        .or_else(|| pod.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// Upstream pod-failure backoff: 10 s × 2^(n-1), capped at 6 min.
pub fn backoff(failures: i32) -> Duration {
    if failures <= 0 {
        return Duration::ZERO;
    }
    let exp = u32::try_from(failures - 1).unwrap_or(0).min(16);
    BACKOFF_BASE.saturating_mul(1u32 << exp).min(BACKOFF_MAX)
}

fn set_condition(status: &mut JobStatus, ty: &str, cond_status: &str, reason: &str, message: &str, now: Timestamp) -> bool {
    let conds = status.conditions.get_or_insert_with(Vec::new);
    match conds.iter_mut().find(|c| c.type_ == ty) {
        Some(c) => {
            if c.status == cond_status && c.reason.as_deref() == Some(reason) && c.message.as_deref() == Some(message) {
                return false;
            }
            if c.status != cond_status {
                c.last_transition_time = Some(Time(now));
            }
            c.status = cond_status.into();
            c.reason = Some(reason.into());
            c.message = Some(message.into());
            c.last_probe_time = Some(Time(now));
            true
        }
        None => {
            conds.push(JobCondition {
                type_: ty.into(),
                status: cond_status.into(),
                reason: Some(reason.into()),
                message: Some(message.into()),
                last_probe_time: Some(Time(now)),
                last_transition_time: Some(Time(now)),
            });
            true
        }
    }
}

fn status_condition<'a>(status: &'a JobStatus, ty: &str) -> Option<&'a JobCondition> {
    status.conditions.as_ref()?.iter().find(|c| c.type_ == ty && c.status == "True")
}

/// Pods whose deletion is preferred first (upstream `ActivePods` ranking):
/// unscheduled, pending, not ready, newer.
fn deletion_rank(pod: &CachedPod) -> (bool, bool, bool, std::cmp::Reverse<Option<Timestamp>>) {
    let scheduled = pod.spec.as_ref().and_then(|s| s.node_name.as_ref()).is_some();
    let running = phase(pod) == "Running";
    let ready = crate::runtime::pod_util::is_ready(pod);
    (scheduled, running, ready, std::cmp::Reverse(pod.metadata.creation_timestamp.as_ref().map(|t| t.0)))
}

/// Computes the sync. `pods`: the Job's pods (already claimed);
/// `already_counted`: uids of pods whose finalizer this controller removed
/// after counting them but whose removal the cache has not shown yet
/// (upstream's finalizer expectations), so they are not counted twice.
pub fn plan(job: &Job, pods: &[Arc<CachedPod>], already_counted: &HashSet<String>, now: Timestamp) -> Plan {
    let mut plan = Plan::default();
    let spec = job.spec.clone().unwrap_or_default();
    let mut status = job.status.clone().unwrap_or_default();
    let indexed = is_indexed(job);
    let has_policy = spec.pod_failure_policy.is_some();

    // Counting: pods with the tracking finalizer that finished.
    let mut uncounted = status.uncounted_terminated_pods.clone().unwrap_or_default();
    let mut unc_succ: BTreeSet<String> = uncounted.succeeded.clone().unwrap_or_default().into_iter().collect();
    let mut unc_fail: BTreeSet<String> = uncounted.failed.clone().unwrap_or_default().into_iter().collect();
    let mut completed = parse_indexes(status.completed_indexes.as_deref().unwrap_or(""));
    let mut fail_job: Option<String> = None;
    let mut last_failure: Option<Timestamp> = None;
    for pod in pods {
        let p = phase(pod);
        let failed = p == "Failed" || (!has_policy && pod.metadata.deletion_timestamp.is_some() && p != "Succeeded");
        if failed {
            last_failure = last_failure.max(finish_time(pod));
        }
        let id = uid(pod);
        if !has_finalizer(pod) || already_counted.contains(&id) {
            continue;
        }
        if unc_succ.contains(&id) || unc_fail.contains(&id) {
            plan.remove_finalizers.push(key(pod));
            continue;
        }
        if p == "Succeeded" {
            if indexed {
                match pod_index(pod) {
                    Some(i) if i >= 0 && i < spec.completions.unwrap_or(0) && !completed.contains(&i) => {
                        completed.insert(i);
                        unc_succ.insert(id.clone());
                    }
                    // A duplicate or out-of-range index: not counted.
                    _ => {}
                }
            } else {
                unc_succ.insert(id.clone());
            }
            plan.newly_uncounted.push(id);
            plan.remove_finalizers.push(key(pod));
        } else if failed {
            match match_failure_policy(job, pod) {
                PolicyAction::FailJob(msg) => {
                    fail_job.get_or_insert(msg);
                    unc_fail.insert(id.clone());
                }
                PolicyAction::Ignore => {}
                PolicyAction::Count => {
                    unc_fail.insert(id.clone());
                }
            }
            plan.newly_uncounted.push(id);
            plan.remove_finalizers.push(key(pod));
        }
    }
    uncounted.succeeded = Some(unc_succ.iter().cloned().collect());
    uncounted.failed = Some(unc_fail.iter().cloned().collect());
    status.uncounted_terminated_pods = Some(uncounted);
    if indexed {
        status.completed_indexes = Some(format_indexes(&completed));
    }
    let succeeded = status.succeeded.unwrap_or(0) + i32::try_from(unc_succ.len()).unwrap_or(i32::MAX);
    let failed = status.failed.unwrap_or(0) + i32::try_from(unc_fail.len()).unwrap_or(i32::MAX);

    let active: Vec<&Arc<CachedPod>> = pods.iter().filter(|p| crate::runtime::pod_util::is_active(p)).collect();
    let terminating = pods.iter().filter(|p| p.metadata.deletion_timestamp.is_some() && !matches!(phase(p), "Succeeded" | "Failed")).count();
    status.active = Some(i32::try_from(active.len()).unwrap_or(i32::MAX));
    status.ready = Some(i32::try_from(active.iter().filter(|p| crate::runtime::pod_util::is_ready(p)).count()).unwrap_or(i32::MAX));
    status.terminating = Some(i32::try_from(terminating).unwrap_or(i32::MAX));
    let delete_all_active = |plan: &mut Plan| {
        for p in &active {
            plan.delete.push(key(p));
        }
    };

    // Finished jobs only finish their bookkeeping.
    if is_finished(job) {
        plan.create.clear();
        plan.status = status;
        return plan;
    }

    // Already decided: terminate, then the terminal condition.
    let target = status_condition(&status, "FailureTarget").cloned().map(|c| ("Failed", c));
    let target = target.or_else(|| status_condition(&status, "SuccessCriteriaMet").cloned().map(|c| ("Complete", c)));
    if let Some((terminal, cond)) = target {
        delete_all_active(&mut plan);
        if active.is_empty() && terminating == 0 {
            let reason = cond.reason.clone().unwrap_or_default();
            let message = cond.message.clone().unwrap_or_default();
            set_condition(&mut status, terminal, "True", &reason, &message, now);
            if terminal == "Complete" {
                status.completion_time = Some(Time(now));
                plan.events.push(JobEvent { warning: false, reason: "Completed".into(), message: "Job completed".into() });
            } else {
                plan.events.push(JobEvent { warning: true, reason, message });
            }
        }
        plan.status = status;
        return plan;
    }

    // Suspend / resume.
    if spec.suspend.unwrap_or(false) {
        delete_all_active(&mut plan);
        if set_condition(&mut status, "Suspended", "True", "JobSuspended", "Job suspended", now) {
            plan.events.push(JobEvent { warning: false, reason: "Suspended".into(), message: "Job suspended".into() });
        }
        plan.status = status;
        return plan;
    }
    if status_condition(&status, "Suspended").is_some() {
        set_condition(&mut status, "Suspended", "False", "JobResumed", "Job resumed", now);
        plan.events.push(JobEvent { warning: false, reason: "Resumed".into(), message: "Job resumed".into() });
        status.start_time = Some(Time(now));
    }
    if status.start_time.is_none() {
        status.start_time = Some(Time(now));
    }

    // Failure?
    let backoff_limit = spec.backoff_limit.unwrap_or(6);
    let on_failure = spec.template.spec.as_ref().and_then(|s| s.restart_policy.as_deref()) == Some("OnFailure");
    let restarts: i32 = if on_failure { active.iter().map(|p| crate::runtime::pod_util::restarts(p)).sum() } else { 0 };
    let deadline = spec.active_deadline_seconds.and_then(|secs| status.start_time.as_ref().map(|t| t.0 + SignedDuration::from_secs(secs)));
    let failure = if let Some(msg) = fail_job {
        Some((REASON_POLICY.to_string(), msg))
    } else if failed > backoff_limit || (on_failure && restarts > 0 && restarts + failed > backoff_limit) {
        Some((REASON_BACKOFF.to_string(), MSG_BACKOFF.to_string()))
    } else if deadline.is_some_and(|d| d <= now) {
        Some((REASON_DEADLINE.to_string(), MSG_DEADLINE.to_string()))
    } else {
        None
    };
    if let Some((reason, message)) = failure {
        set_condition(&mut status, "FailureTarget", "True", &reason, &message, now);
        delete_all_active(&mut plan);
        if active.is_empty() && terminating == 0 {
            set_condition(&mut status, "Failed", "True", &reason, &message, now);
            plan.events.push(JobEvent { warning: true, reason, message });
        } else {
            plan.requeue_after = Some(Duration::from_secs(1));
        }
        plan.status = status;
        return plan;
    }
    if let Some(d) = deadline {
        plan.requeue_after = Some(Duration::try_from(d.duration_since(now)).unwrap_or(Duration::from_secs(1)));
    }

    // Success?
    let completions = spec.completions;
    let parallelism = spec.parallelism.unwrap_or(1).max(0);
    let done = match completions {
        Some(c) if indexed => i32::try_from(completed.len()).unwrap_or(i32::MAX) >= c,
        Some(c) => succeeded >= c,
        None => succeeded > 0 && active.is_empty(),
    };
    if done {
        set_condition(&mut status, "SuccessCriteriaMet", "True", REASON_COMPLETIONS, MSG_COMPLETIONS, now);
        delete_all_active(&mut plan);
        if active.is_empty() && terminating == 0 {
            set_condition(&mut status, "Complete", "True", REASON_COMPLETIONS, MSG_COMPLETIONS, now);
            status.completion_time = Some(Time(now));
            plan.events.push(JobEvent { warning: false, reason: "Completed".into(), message: "Job completed".into() });
        }
        plan.status = status;
        return plan;
    }

    // Scale.
    let want = match completions {
        Some(c) if indexed => parallelism.min(c - i32::try_from(completed.len()).unwrap_or(0)),
        Some(c) => parallelism.min(c - succeeded),
        None if succeeded > 0 => 0,
        None => parallelism,
    }
    .max(0);
    let active_n = i32::try_from(active.len()).unwrap_or(i32::MAX);
    if active_n > want {
        let mut ranked: Vec<&&Arc<CachedPod>> = active.iter().collect();
        ranked.sort_by_key(|p| deletion_rank(p));
        for p in ranked.into_iter().take(usize::try_from(active_n - want).unwrap_or(0)) {
            plan.delete.push(key(p));
        }
    } else if active_n < want {
        // Backoff after failures.
        let failures = failed;
        let wait = match last_failure {
            Some(t) if failures > 0 => {
                let until = t + SignedDuration::try_from(backoff(failures)).unwrap_or(SignedDuration::ZERO);
                (until > now).then(|| Duration::try_from(until.duration_since(now)).unwrap_or(Duration::ZERO))
            }
            _ => None,
        };
        if let Some(wait) = wait {
            plan.requeue_after = Some(plan.requeue_after.map_or(wait, |r| r.min(wait)));
        } else {
            let missing = usize::try_from(want - active_n).unwrap_or(0);
            if indexed {
                let held: HashSet<i32> = active.iter().filter_map(|p| pod_index(p)).collect();
                let c = completions.unwrap_or(0);
                plan.create = (0..c).filter(|i| !completed.contains(i) && !held.contains(i)).take(missing).map(Some).collect();
            } else {
                plan.create = vec![None; missing];
            }
        }
    }
    plan.status = status;
    plan
}

/// After the finalizers of `plan.newly_uncounted` pods are gone: move the
/// uncounted uids into the counters.
pub fn flush_uncounted(status: &mut JobStatus) {
    let uncounted = status.uncounted_terminated_pods.take().unwrap_or_default();
    let s = uncounted.succeeded.unwrap_or_default().len();
    let f = uncounted.failed.unwrap_or_default().len();
    status.succeeded = Some(status.succeeded.unwrap_or(0) + i32::try_from(s).unwrap_or(0));
    status.failed = Some(status.failed.unwrap_or(0) + i32::try_from(f).unwrap_or(0));
    // Empty lists (not absent fields): a merge patch must clear them.
    status.uncounted_terminated_pods = Some(UncountedTerminatedPods { failed: Some(Vec::new()), succeeded: Some(Vec::new()) });
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::core::v1::Pod;
    use k8s_openapi::api::batch::v1::{JobSpec, PodFailurePolicy, PodFailurePolicyOnExitCodesRequirement, PodFailurePolicyRule};
    use k8s_openapi::api::core::v1::{ContainerState, ContainerStateTerminated, ContainerStatus, PodSpec, PodStatus, PodTemplateSpec};

    fn at(s: i64) -> Timestamp {
        Timestamp::from_second(s).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn job(completions: Option<i32>, parallelism: i32, backoff: i32) -> Job {
        Job {
            metadata: kube::api::ObjectMeta { name: Some("j".into()), namespace: Some("ns".into()), uid: Some("job-uid".into()), ..Default::default() },
            spec: Some(JobSpec {
                completions,
                parallelism: Some(parallelism),
                backoff_limit: Some(backoff),
                template: PodTemplateSpec { spec: Some(PodSpec { restart_policy: Some("Never".into()), ..Default::default() }), ..Default::default() },
                ..Default::default()
            }),
            status: None,
        }
    }

    fn pod(name: &str, phase: &str, finalizer: bool) -> Arc<CachedPod> {
        Arc::new(CachedPod::from(Pod {
            metadata: kube::api::ObjectMeta {
                name: Some(name.into()),
                namespace: Some("ns".into()),
                uid: Some(format!("uid-{name}")),
                finalizers: finalizer.then(|| vec![TRACKING_FINALIZER.to_string()]),
                creation_timestamp: Some(Time(at(0))),
                ..Default::default()
            },
            spec: Some(PodSpec::default()),
            status: Some(PodStatus { phase: Some(phase.into()), ..Default::default() }),
        }))
    }

    fn with_exit(p: Arc<CachedPod>, code: i32) -> Arc<CachedPod> {
        let mut p = (*p).clone();
        if let Some(s) = p.status.as_mut() {
            s.container_statuses = Some(vec![crate::runtime::cached_pod::ContainerStatus::from(ContainerStatus {
                name: "main".into(),
                state: Some(ContainerState { terminated: Some(ContainerStateTerminated { exit_code: code, finished_at: Some(Time(at(100))), ..Default::default() }), ..Default::default() }),
                ..Default::default()
            })]);
        }
        Arc::new(p)
    }

    fn cond<'a>(s: &'a JobStatus, ty: &str) -> Option<(&'a str, Option<&'a str>)> {
        s.conditions.as_ref()?.iter().find(|c| c.type_ == ty).map(|c| (c.status.as_str(), c.reason.as_deref()))
    }

    #[test]
    fn creates_up_to_parallelism_and_completions() {
        let j = job(Some(3), 2, 6);
        let p = plan(&j, &[], &HashSet::new(), at(0));
        assert_eq!(p.create.len(), 2);
        assert_eq!(p.status.start_time, Some(Time(at(0))));
        // One running, one succeeded: one more (completions 3 - 1 = 2 wanted, 1 active).
        let p = plan(&j, &[pod("a", "Running", true), pod("b", "Succeeded", true)], &HashSet::new(), at(0));
        assert_eq!(p.create.len(), 1);
        assert_eq!(p.newly_uncounted, vec!["uid-b".to_string()]);
        assert_eq!(p.remove_finalizers, vec![("ns".to_string(), "b".to_string())]);
    }

    #[test]
    fn pods_counted_earlier_are_not_counted_again() {
        let mut j = job(Some(1), 1, 1);
        // The status already counts the pod, the cache still shows its finalizer.
        j.status = Some(JobStatus { failed: Some(1), start_time: Some(Time(at(0))), ..Default::default() });
        let counted: HashSet<String> = ["uid-a".to_string()].into();
        let p = plan(&j, &[pod("a", "Failed", true)], &counted, at(500));
        assert!(p.newly_uncounted.is_empty());
        assert!(cond(&p.status, "FailureTarget").is_none());
        assert_eq!(p.create.len(), 1);
    }

    #[test]
    fn completes_after_completions() {
        let j = job(Some(1), 1, 6);
        let p = plan(&j, &[pod("a", "Succeeded", true)], &HashSet::new(), at(5));
        assert_eq!(cond(&p.status, "SuccessCriteriaMet"), Some(("True", Some(REASON_COMPLETIONS))));
        assert_eq!(cond(&p.status, "Complete"), Some(("True", Some(REASON_COMPLETIONS))));
        assert_eq!(p.status.completion_time, Some(Time(at(5))));
        let mut s = p.status.clone();
        flush_uncounted(&mut s);
        assert_eq!(s.succeeded, Some(1));
        assert_eq!(s.uncounted_terminated_pods.as_ref().and_then(|u| u.succeeded.clone()), Some(vec![]));
    }

    #[test]
    fn backoff_limit_fails_the_job() {
        let j = job(Some(1), 1, 1);
        let p = plan(&j, &[pod("a", "Failed", true)], &HashSet::new(), at(0));
        assert!(cond(&p.status, "FailureTarget").is_none(), "one failure is within the limit");
        let p = plan(&j, &[pod("a", "Failed", true), pod("b", "Failed", true)], &HashSet::new(), at(0));
        assert_eq!(cond(&p.status, "FailureTarget"), Some(("True", Some(REASON_BACKOFF))));
        assert_eq!(cond(&p.status, "Failed"), Some(("True", Some(REASON_BACKOFF))));
        assert_eq!(p.events.last().map(|e| e.message.as_str()), Some(MSG_BACKOFF));
        // With an active pod the terminal condition waits for it to go.
        let p = plan(&j, &[pod("a", "Failed", true), pod("b", "Failed", true), pod("c", "Running", true)], &HashSet::new(), at(0));
        assert!(cond(&p.status, "Failed").is_none());
        assert_eq!(p.delete, vec![("ns".to_string(), "c".to_string())]);
    }

    #[test]
    fn replacement_waits_for_backoff() {
        let j = job(Some(1), 1, 6);
        let failed = with_exit(pod("a", "Failed", true), 1); // finished at 100
        let p = plan(&j, std::slice::from_ref(&failed), &HashSet::new(), at(105));
        assert!(p.create.is_empty());
        assert_eq!(p.requeue_after, Some(Duration::from_secs(5)));
        let p = plan(&j, &[failed], &HashSet::new(), at(111));
        assert_eq!(p.create.len(), 1);
        assert_eq!(backoff(1), Duration::from_secs(10));
        assert_eq!(backoff(3), Duration::from_secs(40));
        assert_eq!(backoff(10), BACKOFF_MAX);
    }

    #[test]
    fn deadline_exceeded() {
        let mut j = job(Some(1), 1, 6);
        if let Some(s) = j.spec.as_mut() {
            s.active_deadline_seconds = Some(10);
        }
        j.status = Some(JobStatus { start_time: Some(Time(at(0))), ..Default::default() });
        let p = plan(&j, &[pod("a", "Running", true)], &HashSet::new(), at(5));
        assert_eq!(p.requeue_after, Some(Duration::from_secs(5)));
        let p = plan(&j, &[pod("a", "Running", true)], &HashSet::new(), at(11));
        assert_eq!(cond(&p.status, "FailureTarget"), Some(("True", Some(REASON_DEADLINE))));
        assert_eq!(p.delete.len(), 1);
    }

    #[test]
    fn pod_failure_policy() {
        let mut j = job(Some(1), 1, 6);
        if let Some(s) = j.spec.as_mut() {
            s.pod_failure_policy = Some(PodFailurePolicy {
                rules: vec![
                    PodFailurePolicyRule {
                        action: "Ignore".into(),
                        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement { container_name: None, operator: "In".into(), values: vec![3] }),
                        on_pod_conditions: None,
                    },
                    PodFailurePolicyRule {
                        action: "FailJob".into(),
                        on_exit_codes: Some(PodFailurePolicyOnExitCodesRequirement { container_name: Some("main".into()), operator: "In".into(), values: vec![42] }),
                        on_pod_conditions: None,
                    },
                ],
            });
        }
        let ignored = plan(&j, &[with_exit(pod("a", "Failed", true), 3)], &HashSet::new(), at(200));
        assert_eq!(ignored.status.uncounted_terminated_pods.as_ref().and_then(|u| u.failed.clone()), Some(vec![]));
        let p = plan(&j, &[with_exit(pod("a", "Failed", true), 42)], &HashSet::new(), at(200));
        assert_eq!(cond(&p.status, "Failed"), Some(("True", Some(REASON_POLICY))));
        assert_eq!(
            p.events.last().map(|e| e.message.clone()),
            Some("Container main for pod ns/a failed with exit code 42 matching FailJob rule at index 1".to_string())
        );
    }

    #[test]
    fn indexed_jobs() {
        let mut j = job(Some(3), 2, 6);
        if let Some(s) = j.spec.as_mut() {
            s.completion_mode = Some("Indexed".into());
        }
        let mut p0 = (*pod("p0", "Succeeded", true)).clone();
        p0.metadata.annotations = Some([(COMPLETION_INDEX.to_string(), "0".to_string())].into());
        let p = plan(&j, &[Arc::new(p0)], &HashSet::new(), at(0));
        assert_eq!(p.status.completed_indexes.as_deref(), Some("0"));
        assert_eq!(p.create, vec![Some(1), Some(2)]);
        assert_eq!(format_indexes(&parse_indexes("0-2,5,7-8")), "0-2,5,7-8");
        assert_eq!(format_indexes(&[1, 2, 3, 9].into_iter().collect()), "1-3,9");
    }

    #[test]
    fn suspend_and_resume() {
        let mut j = job(Some(1), 1, 6);
        if let Some(s) = j.spec.as_mut() {
            s.suspend = Some(true);
        }
        let p = plan(&j, &[pod("a", "Running", true)], &HashSet::new(), at(0));
        assert_eq!(cond(&p.status, "Suspended"), Some(("True", Some("JobSuspended"))));
        assert_eq!(p.delete.len(), 1);
        j.status = Some(p.status);
        if let Some(s) = j.spec.as_mut() {
            s.suspend = Some(false);
        }
        let p = plan(&j, &[], &HashSet::new(), at(50));
        assert_eq!(cond(&p.status, "Suspended"), Some(("False", Some("JobResumed"))));
        assert_eq!(p.status.start_time, Some(Time(at(50))));
        assert_eq!(p.create.len(), 1);
    }

    #[test]
    fn terminating_pods_count_as_failed() {
        let j = job(Some(1), 1, 0);
        let mut t = (*pod("a", "Running", true)).clone();
        t.metadata.deletion_timestamp = Some(Time(at(1)));
        let p = plan(&j, &[Arc::new(t)], &HashSet::new(), at(2));
        assert_eq!(cond(&p.status, "FailureTarget"), Some(("True", Some(REASON_BACKOFF))));
        assert!(cond(&p.status, "Failed").is_none(), "waits for the terminating pod");
        assert_eq!(p.status.terminating, Some(1));
    }
}
