//! The scheduler's writes besides binding (shell): events
//! (`events.k8s.io/v1`, reportingController = the scheduler name), the
//! `PodScheduled` condition / `nominatedNodeName` status patch, and
//! preemption's victim deletions. All best-effort: failures are logged.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ObjectReference, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta, Time};
use kube::api::{DeleteParams, Patch, PatchParams, PostParams, Preconditions};
use kube::Api;

use crate::events::truncate_message;

#[derive(Clone)]
pub struct Recorder {
    client: kube::Client,
    instance: String,
}

fn pod_ref(pod: &Pod) -> ObjectReference {
    ObjectReference {
        api_version: Some("v1".into()),
        kind: Some("Pod".into()),
        name: pod.metadata.name.clone(),
        namespace: pod.metadata.namespace.clone(),
        uid: pod.metadata.uid.clone(),
        resource_version: pod.metadata.resource_version.clone(),
        ..Default::default()
    }
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

impl Recorder {
    pub fn new(client: kube::Client, scheduler_name: &str) -> Recorder {
        Recorder { client, instance: format!("{scheduler_name}-{}", component::leader::default_identity()) }
    }

    /// Creates one event about `pod` (in a background task).
    pub fn event(&self, reporting_controller: &str, pod: &Pod, type_: &str, reason: &str, action: &str, note: String) {
        let now = jiff::Timestamp::now();
        let ns = pod.metadata.namespace.clone().unwrap_or_else(|| "default".into());
        let ev = Event {
            metadata: ObjectMeta {
                name: Some(format!("{}.{:x}", pod.metadata.name.as_deref().unwrap_or("pod"), now.as_nanosecond())),
                namespace: Some(ns.clone()),
                ..Default::default()
            },
            event_time: Some(MicroTime(now)),
            reporting_controller: Some(reporting_controller.to_string()),
            reporting_instance: Some(self.instance.clone()),
            action: Some(action.to_string()),
            reason: Some(reason.to_string()),
            regarding: Some(pod_ref(pod)),
            note: Some(truncate_message(&note)),
            type_: Some(type_.to_string()),
            ..Default::default()
        };
        let api: Api<Event> = Api::namespaced(self.client.clone(), &ns);
        tokio::spawn(async move {
            if let Err(e) = api.create(&PostParams::default(), &ev).await {
                tracing::warn!(error = %e, reason = ev.reason.as_deref().unwrap_or(""), "could not record event");
            }
        });
    }

    /// Patches `PodScheduled=False` (and `nominatedNodeName`) when it changes.
    pub fn update_status(&self, pod: &Pod, reason: &str, message: &str, nominated: Option<&str>) {
        let Some(patch) = status_patch(pod, reason, message, nominated, jiff::Timestamp::now()) else { return };
        let ns = pod.metadata.namespace.clone().unwrap_or_default();
        let name = pod.metadata.name.clone().unwrap_or_default();
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        tokio::spawn(async move {
            if let Err(e) = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&patch)).await {
                tracing::warn!(pod = %format!("{ns}/{name}"), error = %e, "could not update the pod's PodScheduled condition");
            }
        });
    }

    /// Carries out a preemption: marks and deletes the victims, clears the
    /// nominations of lower-priority pods on the node.
    pub fn preempt(&self, scheduler_name: &str, preemptor: &Pod, node: &str, victims: Vec<Arc<Pod>>, clear: Vec<Arc<Pod>>) {
        let client = self.client.clone();
        let recorder = self.clone();
        let preemptor_uid = preemptor.metadata.uid.clone().unwrap_or_default();
        let node = node.to_string();
        let controller = scheduler_name.to_string();
        tokio::spawn(async move {
            for v in victims {
                let ns = v.metadata.namespace.clone().unwrap_or_default();
                let name = v.metadata.name.clone().unwrap_or_default();
                let api: Api<Pod> = Api::namespaced(client.clone(), &ns);
                let condition = serde_json::json!({"status": {"conditions": [{
                    "type": "DisruptionTarget", "status": "True", "reason": "PreemptionByScheduler",
                    "message": format!("{controller}: preempting to accommodate a higher priority pod"),
                    "lastTransitionTime": Time(jiff::Timestamp::now()),
                }]}});
                if let Err(e) = api.patch_status(&name, &PatchParams::default(), &Patch::Strategic(&condition)).await {
                    tracing::debug!(victim = %format!("{ns}/{name}"), error = %e, "could not add the DisruptionTarget condition");
                }
                let dp = DeleteParams { preconditions: Some(Preconditions { uid: v.metadata.uid.clone(), resource_version: None }), ..Default::default() };
                match api.delete(&name, &dp).await {
                    Ok(_) => {
                        tracing::info!(victim = %format!("{ns}/{name}"), node = %node, "preempted");
                        recorder.event(&controller, &v, "Normal", "Preempted", "Preempting", format!("Preempted by pod {preemptor_uid} on node {node}"));
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
