//! The pure core of the CronJob controller (upstream
//! `pkg/controller/cronjob/cronjob_controllerv2.go` `syncCronJob`).
//!
//! - `status.active` drops Jobs that finished (event `SawCompletedJob`) or
//!   vanished; `lastSuccessfulTime` follows the newest completion;
//! - the most recent unmet schedule time after `lastScheduleTime` (or the
//!   creation time) is run unless suspended, older than
//!   `startingDeadlineSeconds` (`MissSchedule`), already started, or
//!   blocked by `concurrencyPolicy: Forbid`; `Replace` deletes the active
//!   Jobs first; more than 100 missed times warn `TooManyMissedTimes`;
//! - Jobs are named `<cronjob>-<scheduled time in minutes since epoch>` and
//!   annotated `batch.kubernetes.io/cronjob-scheduled-timestamp`;
//! - finished Jobs beyond `successfulJobsHistoryLimit` (3) /
//!   `failedJobsHistoryLimit` (1) are deleted, oldest first;
//! - the next sync is due at the next schedule time.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::batch::v1::{CronJob, CronJobStatus, Job};
use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::tz::TimeZone;
use k8s_openapi::jiff::{SignedDuration, Timestamp};

use super::schedule::Schedule;

pub const SCHEDULED_TIMESTAMP_ANNOTATION: &str = "batch.kubernetes.io/cronjob-scheduled-timestamp";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub warning: bool,
    pub reason: String,
    pub message: String,
}

impl Event {
    fn normal(reason: &str, message: String) -> Event {
        Event { warning: false, reason: reason.into(), message }
    }
    fn warning(reason: &str, message: String) -> Event {
        Event { warning: true, reason: reason.into(), message }
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    pub status: CronJobStatus,
    /// Job to create (name and scheduled time).
    pub create: Option<(String, Timestamp)>,
    /// Jobs to delete (names), with the reason (`Replace` or history).
    pub delete: Vec<String>,
    pub events: Vec<Event>,
    pub requeue_after: Option<Duration>,
}

/// Complete or Failed (and which).
pub fn finished(job: &Job) -> Option<&'static str> {
    let conds = job.status.as_ref()?.conditions.as_ref()?;
    conds.iter().find(|c| c.status == "True" && (c.type_ == "Complete" || c.type_ == "Failed")).map(|c| if c.type_ == "Complete" { "Complete" } else { "Failed" })
}

/// `<cronjob>-<minutes since epoch>`.
pub fn job_name(cronjob: &str, scheduled: Timestamp) -> String {
    format!("{cronjob}-{}", scheduled.as_second().div_euclid(60))
}

pub fn time_zone(cj: &CronJob) -> Result<TimeZone, String> {
    match cj.spec.as_ref().and_then(|s| s.time_zone.as_deref()) {
        None => Ok(TimeZone::system()),
        Some(name) => TimeZone::get(name).map_err(|e| format!("invalid timeZone {name:?}: {e}")),
    }
}

/// The most recent schedule time in (earliest, now], and how many were
/// missed (upstream `mostRecentScheduleTime`).
pub fn most_recent(schedule: &Schedule, tz: &TimeZone, earliest: Timestamp, now: Timestamp) -> (Option<Timestamp>, usize) {
    let mut last = None;
    let mut missed = 0;
    let mut t = earliest;
    while let Some(next) = schedule.next(t, tz) {
        if next > now {
            break;
        }
        last = Some(next);
        missed += 1;
        t = next;
        if missed > 100_000 {
            break;
        }
    }
    (last, missed)
}

fn completion_or_start(job: &Job) -> Option<Timestamp> {
    let s = job.status.as_ref()?;
    s.completion_time.as_ref().or(s.start_time.as_ref()).map(|t| t.0).or_else(|| job.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

pub fn plan(cj: &CronJob, jobs: &[Arc<Job>], now: Timestamp) -> Plan {
    let mut plan = Plan::default();
    let spec = cj.spec.clone().unwrap_or_default();
    let mut status = cj.status.clone().unwrap_or_default();
    let name = cj.metadata.name.clone().unwrap_or_default();

    // Reconcile status.active against the Jobs we see.
    let mut active: Vec<ObjectReference> = Vec::new();
    for r in status.active.clone().unwrap_or_default() {
        let Some(j) = jobs.iter().find(|j| j.metadata.uid == r.uid) else { continue };
        match finished(j) {
            Some(cond) => {
                plan.events.push(Event::normal("SawCompletedJob", format!("Saw completed job: {}, condition: {cond}", j.metadata.name.clone().unwrap_or_default())));
                if cond == "Complete" {
                    if let Some(t) = j.status.as_ref().and_then(|s| s.completion_time.clone()) {
                        if status.last_successful_time.as_ref().is_none_or(|l| l.0 < t.0) {
                            status.last_successful_time = Some(t);
                        }
                    }
                }
            }
            None => active.push(r),
        }
    }
    // Running Jobs we own but did not list (e.g. after a status write was lost).
    for j in jobs {
        if finished(j).is_none() && !active.iter().any(|r| r.uid == j.metadata.uid) && j.metadata.deletion_timestamp.is_none() {
            active.push(job_reference(j));
        }
    }
    // A finished Job that completed after the last recorded success.
    for j in jobs {
        if finished(j) == Some("Complete") {
            if let Some(t) = j.status.as_ref().and_then(|s| s.completion_time.clone()) {
                if status.last_successful_time.as_ref().is_none_or(|l| l.0 < t.0) {
                    status.last_successful_time = Some(t);
                }
            }
        }
    }
    active.sort_by(|a, b| a.name.cmp(&b.name));
    status.active = (!active.is_empty()).then_some(active.clone());

    // History limits.
    let mut cleanup = |cond: &str, limit: i32| {
        let mut done: Vec<&Arc<Job>> = jobs.iter().filter(|j| finished(j) == Some(cond) && j.metadata.deletion_timestamp.is_none()).collect();
        let limit = usize::try_from(limit.max(0)).unwrap_or(0);
        if done.len() > limit {
            done.sort_by_key(|j| completion_or_start(j));
            for j in &done[..done.len() - limit] {
                plan.delete.push(j.metadata.name.clone().unwrap_or_default());
            }
        }
    };
    cleanup("Complete", spec.successful_jobs_history_limit.unwrap_or(3));
    cleanup("Failed", spec.failed_jobs_history_limit.unwrap_or(1));

    if cj.metadata.deletion_timestamp.is_some() {
        plan.status = status;
        return plan;
    }
    let tz = match time_zone(cj) {
        Ok(tz) => tz,
        Err(e) => {
            plan.events.push(Event::warning("UnknownTimeZone", e));
            plan.status = status;
            return plan;
        }
    };
    let schedule = match Schedule::parse(&spec.schedule) {
        Ok(s) => s,
        Err(e) => {
            plan.events.push(Event::warning("UnparseableSchedule", format!("unparseable schedule: {:?} : {e}", spec.schedule)));
            plan.status = status;
            return plan;
        }
    };
    let next_after_now = schedule.next(now, &tz);
    plan.requeue_after = next_after_now.map(|n| Duration::try_from(n.duration_since(now)).unwrap_or(Duration::ZERO) + Duration::from_millis(100));
    if spec.suspend.unwrap_or(false) {
        plan.status = status;
        return plan;
    }
    let mut earliest = status
        .last_schedule_time
        .as_ref()
        .or(cj.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
        .unwrap_or(now);
    if let Some(deadline) = spec.starting_deadline_seconds {
        let floor = now - SignedDuration::from_secs(deadline);
        if floor > earliest {
            earliest = floor;
        }
    }
    let (scheduled, missed) = most_recent(&schedule, &tz, earliest, now);
    let Some(scheduled) = scheduled else {
        plan.status = status;
        return plan;
    };
    if missed > 100 {
        plan.events.push(Event::warning("TooManyMissedTimes", "too many missed start times. Set or decrease .spec.startingDeadlineSeconds or check clock skew".into()));
    }
    if let Some(deadline) = spec.starting_deadline_seconds {
        if scheduled + SignedDuration::from_secs(deadline) < now {
            plan.events.push(Event::warning("MissSchedule", format!("Missed scheduled time to start a job: {}", scheduled.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z"))));
            plan.status = status;
            return plan;
        }
    }
    let job_name = job_name(&name, scheduled);
    let already = active.iter().any(|r| r.name.as_deref() == Some(job_name.as_str()))
        || jobs.iter().any(|j| j.metadata.name.as_deref() == Some(job_name.as_str()))
        || status.last_schedule_time.as_ref().is_some_and(|t| t.0 >= scheduled);
    if already {
        plan.status = status;
        return plan;
    }
    match spec.concurrency_policy.as_deref().unwrap_or("Allow") {
        "Forbid" if !active.is_empty() => {
            plan.status = status;
            return plan;
        }
        "Replace" => {
            for r in &active {
                if let Some(n) = &r.name {
                    if !plan.delete.contains(n) {
                        plan.delete.push(n.clone());
                    }
                }
            }
        }
        _ => {}
    }
    plan.create = Some((job_name, scheduled));
    status.last_schedule_time = Some(Time(scheduled));
    plan.status = status;
    plan
}

pub fn job_reference(j: &Job) -> ObjectReference {
    ObjectReference {
        api_version: Some("batch/v1".into()),
        kind: Some("Job".into()),
        name: j.metadata.name.clone(),
        namespace: j.metadata.namespace.clone(),
        uid: j.metadata.uid.clone(),
        resource_version: j.metadata.resource_version.clone(),
        ..Default::default()
    }
}

/// The Job for one scheduled time (upstream `getJobFromTemplate2`).
pub fn job_for(cj: &CronJob, name: &str, scheduled: Timestamp, tz: &TimeZone) -> Job {
    let template = cj.spec.as_ref().map(|s| s.job_template.clone()).unwrap_or_default();
    let tmeta = template.metadata.unwrap_or_default();
    let mut annotations = tmeta.annotations.unwrap_or_default();
    annotations.insert(SCHEDULED_TIMESTAMP_ANNOTATION.into(), scheduled.to_zoned(tz.clone()).strftime("%Y-%m-%dT%H:%M:%S%:z").to_string());
    Job {
        metadata: kube::api::ObjectMeta {
            name: Some(name.into()),
            namespace: cj.metadata.namespace.clone(),
            labels: tmeta.labels,
            annotations: Some(annotations),
            owner_references: Some(vec![crate::runtime::owner::controller_ref(cj)]),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::batch::v1::{CronJobSpec, JobCondition, JobStatus};

    fn at(s: &str) -> Timestamp {
        s.parse().unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn cj(schedule: &str, policy: &str) -> CronJob {
        CronJob {
            metadata: kube::api::ObjectMeta {
                name: Some("cj".into()),
                namespace: Some("ns".into()),
                uid: Some("cj-uid".into()),
                creation_timestamp: Some(Time(at("2024-01-01T00:00:00Z"))),
                ..Default::default()
            },
            spec: Some(CronJobSpec {
                schedule: schedule.into(),
                time_zone: Some("UTC".into()),
                concurrency_policy: Some(policy.into()),
                ..Default::default()
            }),
            status: None,
        }
    }

    fn job(name: &str, cond: Option<(&str, &str)>) -> Arc<Job> {
        Arc::new(Job {
            metadata: kube::api::ObjectMeta { name: Some(name.into()), uid: Some(format!("uid-{name}")), ..Default::default() },
            spec: None,
            status: Some(JobStatus {
                conditions: cond.map(|(t, _)| vec![JobCondition { type_: t.into(), status: "True".into(), ..Default::default() }]),
                completion_time: cond.map(|(_, t)| Time(at(t))),
                ..Default::default()
            }),
        })
    }

    #[test]
    fn creates_the_most_recent_missed_run() {
        let p = plan(&cj("*/5 * * * *", "Allow"), &[], at("2024-01-01T00:12:00Z"));
        let (name, when) = p.create.clone().unwrap_or_default();
        assert_eq!(when, at("2024-01-01T00:10:00Z"));
        assert_eq!(name, format!("cj-{}", at("2024-01-01T00:10:00Z").as_second() / 60));
        assert_eq!(p.status.last_schedule_time, Some(Time(at("2024-01-01T00:10:00Z"))));
        assert_eq!(p.requeue_after, Some(Duration::from_millis(180_100)));
        // Already scheduled: nothing.
        let mut done = cj("*/5 * * * *", "Allow");
        done.status = Some(p.status.clone());
        assert!(plan(&done, &[], at("2024-01-01T00:13:00Z")).create.is_none());
    }

    #[test]
    fn concurrency_policies() {
        let mut c = cj("*/5 * * * *", "Forbid");
        let running = job("cj-old", None);
        c.status = Some(CronJobStatus { active: Some(vec![job_reference(&running)]), last_schedule_time: Some(Time(at("2024-01-01T00:05:00Z"))), ..Default::default() });
        assert!(plan(&c, std::slice::from_ref(&running), at("2024-01-01T00:10:30Z")).create.is_none());
        if let Some(s) = c.spec.as_mut() {
            s.concurrency_policy = Some("Replace".into());
        }
        let p = plan(&c, std::slice::from_ref(&running), at("2024-01-01T00:10:30Z"));
        assert!(p.create.is_some());
        assert_eq!(p.delete, vec!["cj-old".to_string()]);
        if let Some(s) = c.spec.as_mut() {
            s.concurrency_policy = Some("Allow".into());
        }
        let p = plan(&c, &[running], at("2024-01-01T00:10:30Z"));
        assert!(p.create.is_some() && p.delete.is_empty());
    }

    #[test]
    fn deadline_suspend_and_history() {
        let mut c = cj("0 * * * *", "Allow");
        if let Some(s) = c.spec.as_mut() {
            s.starting_deadline_seconds = Some(60);
        }
        let p = plan(&c, &[], at("2024-01-01T01:05:00Z"));
        assert!(p.create.is_none());
        assert!(p.events.iter().all(|e| e.reason != "MissSchedule"), "the deadline window excludes 01:00 entirely");
        let p = plan(&c, &[], at("2024-01-01T01:00:30Z"));
        assert!(p.create.is_some());
        if let Some(s) = c.spec.as_mut() {
            s.suspend = Some(true);
        }
        assert!(plan(&c, &[], at("2024-01-01T01:00:30Z")).create.is_none());
        // History: 4 complete (limit 3) and 2 failed (limit 1).
        let jobs = vec![
            job("a", Some(("Complete", "2024-01-01T00:01:00Z"))),
            job("b", Some(("Complete", "2024-01-01T00:02:00Z"))),
            job("c", Some(("Complete", "2024-01-01T00:03:00Z"))),
            job("d", Some(("Complete", "2024-01-01T00:04:00Z"))),
            job("e", Some(("Failed", "2024-01-01T00:05:00Z"))),
            job("f", Some(("Failed", "2024-01-01T00:06:00Z"))),
        ];
        let p = plan(&c, &jobs, at("2024-01-01T01:00:30Z"));
        assert_eq!(p.delete, vec!["a".to_string(), "e".to_string()]);
        assert_eq!(p.status.last_successful_time, Some(Time(at("2024-01-01T00:04:00Z"))));
    }

    #[test]
    fn completed_active_jobs_leave_the_list() {
        let mut c = cj("0 0 1 1 *", "Allow");
        let done = job("cj-1", Some(("Complete", "2024-01-01T00:00:30Z")));
        c.status = Some(CronJobStatus { active: Some(vec![job_reference(&done)]), ..Default::default() });
        let p = plan(&c, &[done], at("2024-01-01T00:01:00Z"));
        assert!(p.status.active.is_none());
        assert_eq!(p.events[0].reason, "SawCompletedJob");
        assert_eq!(p.events[0].message, "Saw completed job: cj-1, condition: Complete");
        let tz = TimeZone::get("Europe/Paris").unwrap_or(TimeZone::UTC);
        let j = job_for(&c, "cj-1", at("2024-01-01T00:00:00Z"), &tz);
        assert_eq!(j.metadata.annotations.unwrap_or_default().get(SCHEDULED_TIMESTAMP_ANNOTATION).map(String::as_str), Some("2024-01-01T01:00:00+01:00"));
    }
}
