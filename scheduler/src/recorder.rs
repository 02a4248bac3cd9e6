//! The scheduler's writes besides binding (shell): events
//! (`events.k8s.io/v1`, reportingController = the scheduler name), the
//! `PodScheduled` condition / `nominatedNodeName` status patch, and
//! preemption's victim deletions. All best-effort: failures are logged.
//!
//! Writes are bounded so that they never crowd out bindings or open one
//! HTTP/1.1 connection each: events go through a queue of
//! [`MAX_QUEUED_EVENTS`] drained by at most [`MAX_EVENT_WRITES`] concurrent
//! creates, so during a burst they are written behind the bindings; only an
//! event finding the queue full is dropped (counted and logged). Status
//! patches wait for one of [`MAX_STATUS_WRITES`] slots and are never
//! dropped. Upstream queues the same writes behind the client's QPS limiter
//! (50/s by default) in a goroutine each. A queued event is the few strings
//! it is made of ([`PodRef`], reason, note), not the `Event` object (about
//! 2 KiB before its strings): the `Event` is built when it is written.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::Api;
use tokio::sync::{mpsc, Semaphore};

use crate::events::truncate_message;
use crate::podinfo::PodRecord;

/// Events waiting to be written (a few hundred bytes each): a burst of
/// 10,000 pods keeps all its `Scheduled` events.
pub const MAX_QUEUED_EVENTS: usize = 10_000;
/// Event creates in flight at once.
pub const MAX_EVENT_WRITES: usize = 8;
/// Pod status patches in flight at once.
pub const MAX_STATUS_WRITES: usize = 16;

#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    events: mpsc::Sender<QueuedEvent>,
    dropped: Arc<AtomicU64>,
    status_slots: Arc<Semaphore>,
}

/// The pod an event is about (its `regarding` reference).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: Option<String>,
    pub name: Option<String>,
    pub uid: Option<String>,
    pub resource_version: Option<String>,
}

impl PodRef {
    pub fn of_pod(pod: &Pod) -> PodRef {
        let m = &pod.metadata;
        PodRef { namespace: m.namespace.clone(), name: m.name.clone(), uid: m.uid.clone(), resource_version: m.resource_version.clone() }
    }

    pub fn of_record(pod: &PodRecord) -> PodRef {
        let some = |s: &str| Some(s.to_string()).filter(|s| !s.is_empty());
        PodRef { namespace: some(pod.namespace()), name: some(pod.name()), uid: some(&pod.uid), resource_version: some(&pod.resource_version) }
    }

    fn object_reference(&self) -> ObjectReference {
        ObjectReference {
            api_version: Some("v1".into()),
            kind: Some("Pod".into()),
            name: self.name.clone(),
            namespace: self.namespace.clone(),
            uid: self.uid.clone(),
            resource_version: self.resource_version.clone(),
            ..Default::default()
        }
    }
}

/// An event waiting in the queue: what [`build_event`] needs.
struct QueuedEvent {
    reporting_controller: String,
    regarding: PodRef,
    type_: &'static str,
    reason: &'static str,
    action: &'static str,
    note: String,
    time: jiff::Timestamp,
}

/// What the status patch should carry, or `None` when nothing changes
/// (upstream `updatePod` skips identical conditions).
pub fn status_patch(pod: &Pod, reason: &str, message: &str, nominated: Option<&str>, now: jiff::Timestamp) -> Option<serde_json::Value> {
    let status = pod.status.as_ref();
    let existing = status.and_then(|s| s.conditions.as_ref()).and_then(|c| c.iter().find(|c| c.type_ == "PodScheduled"));
    let same_condition =
        existing.is_some_and(|c| c.status == "False" && c.reason.as_deref() == Some(reason) && c.message.as_deref() == Some(message));
    let current_nominated = status.and_then(|s| s.nominated_node_name.as_deref()).filter(|n| !n.is_empty());
    let nominated_changes = nominated.is_some() && nominated != current_nominated;
    if same_condition && !nominated_changes {
        return None;
    }
    let transition = match existing {
        Some(c) if c.status == "False" => c.last_transition_time.clone().map(|t| t.0).unwrap_or(now),
        _ => now,
    };
    let mut patch = serde_json::json!({"status": {"conditions": [{
        "type": "PodScheduled",
        "status": "False",
        "reason": reason,
        "message": message,
        "lastProbeTime": null,
        "lastTransitionTime": Time(transition),
    }]}});
    if let Some(n) = nominated.filter(|_| nominated_changes) {
        patch["status"]["nominatedNodeName"] = serde_json::Value::String(n.to_string());
    }
    Some(patch)
}

/// Upstream-shaped `events.k8s.io/v1` Event about `pod` (pure).
#[allow(clippy::too_many_arguments)]
pub fn build_event(instance: &str, reporting_controller: &str, pod: &PodRef, type_: &str, reason: &str, action: &str, note: &str, now: jiff::Timestamp) -> Event {
    let ns = pod.namespace.clone().unwrap_or_else(|| "default".into());
    Event {
        metadata: ObjectMeta {
            name: Some(format!("{}.{:x}", pod.name.as_deref().unwrap_or("pod"), now.as_nanosecond())),
            namespace: Some(ns),
            ..Default::default()
        },
        event_time: Some(MicroTime(now)),
        reporting_controller: Some(reporting_controller.to_string()),
        reporting_instance: Some(instance.to_string()),
        action: Some(action.to_string()),
        reason: Some(reason.to_string()),
        regarding: Some(pod.object_reference()),
        note: Some(truncate_message(note)),
        type_: Some(type_.to_string()),
        ..Default::default()
    }
}

/// Drains the event queue with at most [`MAX_EVENT_WRITES`] creates in flight.
async fn write_events(client: kube::Client, instance: String, mut rx: mpsc::Receiver<QueuedEvent>) {
    let slots = Arc::new(Semaphore::new(MAX_EVENT_WRITES));
    while let Some(q) = rx.recv().await {
        let Ok(permit) = slots.clone().acquire_owned().await else { return };
        let ev = build_event(&instance, &q.reporting_controller, &q.regarding, q.type_, q.reason, q.action, &q.note, q.time);
        let ns = ev.metadata.namespace.clone().unwrap_or_default();
        let api: Api<Event> = Api::namespaced(client.clone(), &ns);
        tokio::spawn(async move {
            let _permit = permit;
            if let Err(e) = api.create(&PostParams::default(), &ev).await {
                tracing::warn!(error = %e, reason = ev.reason.as_deref().unwrap_or(""), "could not record event");
            }
        });
    }
}

impl Recorder {
    /// Starts the event writer task; call within a Tokio runtime.
    pub fn new(client: kube::Client, scheduler_name: &str) -> Recorder {
        let (events, rx) = mpsc::channel(MAX_QUEUED_EVENTS);
        let instance = format!("{scheduler_name}-{}", component::leader::default_identity());
        tokio::spawn(write_events(client.clone(), instance.clone(), rx));
        Recorder {
            client,
            events,
            dropped: Arc::new(AtomicU64::new(0)),
            status_slots: Arc::new(Semaphore::new(MAX_STATUS_WRITES)),
        }
    }

    /// Queues one event about `pod`; dropped when [`MAX_QUEUED_EVENTS`] are waiting.
    pub fn event(&self, reporting_controller: &str, pod: PodRef, type_: &'static str, reason: &'static str, action: &'static str, note: String) {
        let ev = QueuedEvent { reporting_controller: reporting_controller.to_string(), regarding: pod, type_, reason, action, note, time: jiff::Timestamp::now() };
        if let Err(mpsc::error::TrySendError::Full(ev)) = self.events.try_send(ev) {
            let n = self.dropped.fetch_add(1, Ordering::Relaxed) + 1;
            // One warning per thousand dropped events, not one per event.
            if n % 1000 == 1 {
                tracing::warn!(dropped = n, reason = ev.reason, "event queue full; dropping events");
            }
        }
    }

    /// Patches `PodScheduled=False` (and `nominatedNodeName`) when it changes.
    pub fn update_status(&self, pod: &Pod, reason: &str, message: &str, nominated: Option<&str>) {
        let Some(patch) = status_patch(pod, reason, message, nominated, jiff::Timestamp::now()) else { return };
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let slots = self.status_slots.clone();
        tokio::spawn(async move {
            let _permit = slots.acquire_owned().await;
            if let Err(e) = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
                tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "could not update the pod's PodScheduled condition");
            }
        });
    }

    /// Carries out a preemption: marks and deletes the victims, clears the
    /// nominations of lower-priority pods on the node.
    pub fn preempt(&self, scheduler_name: &str, preemptor: &Pod, node: &str, victims: Vec<Arc<PodRecord>>, clear: Vec<Arc<Pod>>) {
        let client = self.client.clone();
        let recorder = self.clone();
        let preemptor_uid = preemptor.metadata.uid.clone().unwrap_or_default();
        let node = node.to_string();
        let controller = scheduler_name.to_string();
        tokio::spawn(async move {
            for v in victims {
                let (ns, name) = (v.namespace().to_string(), v.name().to_string());
                let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                let condition = serde_json::json!({"status": {"conditions": [{
                    "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                    "message": format!("{controller}: preempting to accommodate a higher priority pod"),
                    "lastTransitionTime": Time(jiff::Timestamp::now()),
                }]}});
                if let Err(e) = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&condition)).await {
                    tracing::debug!(victim = %format!("{ns}/{name}"), error = %e, "could not add the DisruptionTarget condition");
                }
                let dp = DeleteParams { preconditions: Some(Preconditions { uid: Some(v.uid.clone()).filter(|u| !u.is_empty()), resource_version: None }), ..Default::default() };
                match api.delete(&name, &dp).await {
                    Ok(_) => {
                        tracing::info!(victim = %format!("{ns}/{name}"), node = %node, "preempted");
                        recorder.event(&controller, PodRef::of_record(&v), "Normal", "Preempted", "Preempting", format!("Preempted by pod {preemptor_uid} on node {node}"));
                    }
                    Err(kube::Error::Api(s)) if s.code == 404 => {}
                    Err(e) => tracing::warn!(victim = %format!("{ns}/{name}"), error = %e, "could not delete a preemption victim"),
                }
            }
            for p in clear {
                let ns = p.metadata.namespace.clone().unwrap_or_default();
                let name = p.metadata.name.clone().unwrap_or_default();
                let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                let patch = serde_json::json!({"status": {"nominatedNodeName": null}});
                if let Err(e) = api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch)).await {
                    tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "could not clear a nomination");
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::testutil::pod;
    use k8s_openapi::api::core::v1::PodCondition;

    #[test]
    fn event_shape() {
        let now = jiff::Timestamp::from_second(1_700_000_000).unwrap();
        let ev = build_event("default-scheduler-host", "default-scheduler", &PodRef::of_pod(&pod("p").build()), "Normal", "Scheduled", "Binding", "Successfully assigned default/p to n1", now);
        let v = serde_json::to_value(&ev).unwrap();
        let want = serde_json::json!({
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": format!("p.{:x}", now.as_nanosecond()), "namespace": "default"},
            "eventTime": "2023-11-14T22:13:20.000000Z",
            "reportingController": "default-scheduler",
            "reportingInstance": "default-scheduler-host",
            "action": "Binding",
            "reason": "Scheduled",
            "regarding": {"apiVersion": "v1", "kind": "Pod", "name": "p", "namespace": "default", "uid": "uid-p"},
            "note": "Successfully assigned default/p to n1",
            "type": "Normal",
        });
        assert_eq!(v, want);
    }

    #[test]
    fn status_patch_only_on_change() {
        let now = jiff::Timestamp::UNIX_EPOCH;
        let p = pod("p").build();
        let patch = status_patch(&p, "Unschedulable", "0/1 nodes are available.", None, now).unwrap();
        assert_eq!(patch["status"]["conditions"][0]["reason"], "Unschedulable");
        assert!(patch["status"].get("nominatedNodeName").is_none());

        let same = pod("p")
            .with(|p| {
                p.status.as_mut().unwrap().conditions = Some(vec![PodCondition {
                    type_: "PodScheduled".into(),
                    status: "False".into(),
                    reason: Some("Unschedulable".into()),
                    message: Some("0/1 nodes are available.".into()),
                    ..Default::default()
                }])
            })
            .build();
        assert!(status_patch(&same, "Unschedulable", "0/1 nodes are available.", None, now).is_none());
        let nominated = status_patch(&same, "Unschedulable", "0/1 nodes are available.", Some("n1"), now).unwrap();
        assert_eq!(nominated["status"]["nominatedNodeName"], "n1");
    }
}
