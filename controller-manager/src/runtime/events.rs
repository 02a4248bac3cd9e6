//! Event recording for a controller: events.k8s.io/v1 Events through
//! kube-rs's `Recorder`, with `reportingController` set to upstream's
//! component name (e.g. `deployment-controller`). Publishing is
//! fire-and-forget: a failed event is logged, never fails a sync.

use std::sync::Arc;

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::Resource;

/// A cheap-to-clone recorder for one controller.
#[derive(Clone)]
pub struct EventRecorder {
    recorder: Arc<Recorder>,
}

impl EventRecorder {
    /// `component` is upstream's reporting controller name.
    pub fn new(client: kube::Client, component: &str) -> EventRecorder {
        let reporter = Reporter { controller: component.to_string(), instance: None };
        EventRecorder { recorder: Arc::new(Recorder::new(client, reporter)) }
    }

    /// Records a `Normal` event about `obj`.
    pub fn normal<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, note: String) {
        self.publish(obj.object_ref(&()), EventType::Normal, reason, note);
    }

    /// Records a `Warning` event about `obj`.
    pub fn warning<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, note: String) {
        self.publish(obj.object_ref(&()), EventType::Warning, reason, note);
    }

    /// Records an event about `reference` in the background.
    pub fn publish(&self, reference: ObjectReference, type_: EventType, reason: &str, note: String) {
        let recorder = self.recorder.clone();
        let event = Event { type_, reason: reason.to_string(), note: Some(note), action: reason.to_string(), secondary: None };
        tokio::spawn(async move {
            if let Err(err) = recorder.publish(&event, &reference).await {
                tracing::debug!(error = %err, reason = %event.reason, "could not record event");
            }
        });
    }
}
