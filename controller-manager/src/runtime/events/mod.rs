//! Event recording for a controller, as upstream's client-go
//! `EventBroadcaster` + `EventRecorder` (`tools/record`), which the
//! kube-controller-manager's controllers use: core/v1 Events with
//! `source.component` (and `reportingComponent`) set to upstream's
//! component name (e.g. `replicaset-controller`).
//!
//! Recording never blocks or fails a sync: events go to a bounded queue
//! (upstream's 1,000, dropped when full) drained by one writer task per
//! recorder, which runs them through the [`correlator`] (aggregation,
//! count patches, per-object spam filter) and writes them one at a time,
//! so patches of the same event never race each other into conflicts.

pub mod correlator;

use std::time::Instant;

use k8s_openapi::api::core::v1::{Event, ObjectReference};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Resource};
use tokio::sync::mpsc;

use crate::runtime::owner::{is_conflict, is_not_found};
use correlator::{Action, Correlator, Draft};

/// Queued events per recorder (upstream `maxQueuedEvents`).
pub const QUEUE_LENGTH: usize = 1000;

/// A cheap-to-clone recorder for one controller.
#[derive(Clone)]
pub struct EventRecorder {
    tx: Option<mpsc::Sender<Draft>>,
}

impl EventRecorder {
    /// `component` is upstream's reporting controller name. Starts the
    /// writer task (outside a Tokio runtime, events are discarded).
    pub fn new(client: kube::Client, component: &str) -> EventRecorder {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return EventRecorder { tx: None };
        };
        let (tx, rx) = mpsc::channel(QUEUE_LENGTH);
        runtime.spawn(write_events(client, Correlator::new(component), rx));
        EventRecorder { tx: Some(tx) }
    }

    /// Records a `Normal` event about `obj`.
    pub fn normal<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, note: String) {
        self.record(obj.object_ref(&()), "Normal", reason, note);
    }

    /// Records a `Warning` event about `obj`.
    pub fn warning<K: Resource<DynamicType = ()>>(&self, obj: &K, reason: &str, note: String) {
        self.record(obj.object_ref(&()), "Warning", reason, note);
    }

    /// Queues an event about `involved`; dropped when the queue is full.
    pub fn record(&self, involved: ObjectReference, type_: &str, reason: &str, message: String) {
        let Some(tx) = &self.tx else { return };
        let draft = Draft { involved, type_: type_.to_string(), reason: reason.to_string(), message };
        if let Err(mpsc::error::TrySendError::Full(draft)) = tx.try_send(draft) {
            tracing::debug!(reason = %draft.reason, "event queue full; dropping event");
        }
    }
}

/// The writer task: correlate, then create or patch, one event at a time.
/// Ends when every recorder clone is gone.
async fn write_events(client: kube::Client, mut correlator: Correlator, mut rx: mpsc::Receiver<Draft>) {
    while let Some(draft) = rx.recv().await {
        let Some(action) = correlator.correlate(draft, Instant::now(), Timestamp::now()) else { continue };
        if let Err(err) = write(&client, action).await {
            tracing::debug!(error = %err, "could not record event");
        }
    }
}

/// Upstream `recordToSink`: a patch whose event is gone becomes a create.
async fn write(client: &kube::Client, action: Action) -> kube::Result<()> {
    let (event, patch) = match action {
        Action::Create(event) => (event, None),
        Action::Patch { event, patch } => (event, Some(patch)),
    };
    let namespace = event.metadata.namespace.clone().unwrap_or_default();
    let api = Api::<Event>::namespaced(client.clone(), &namespace);
    if let Some(patch) = patch {
        let name = event.metadata.name.clone().unwrap_or_default();
        match api.patch(&name, &PatchParams::default(), &Patch::Merge(patch)).await {
            Err(e) if is_not_found(&e) => {}
            other => return other.map(|_| ()),
        }
    }
    match api.create(&PostParams::default(), &event).await {
        Err(e) if is_conflict(&e) => Ok(()),
        other => other.map(|_| ()),
    }
}
