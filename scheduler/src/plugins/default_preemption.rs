//! DefaultPreemption: the PostFilter that evicts lower-priority pods so the
//! pod can fit; the logic is in [`crate::preemption`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::cache::Snapshot;
use crate::framework::{CycleState, Framework, NodeStatuses, Plugin, PluginArgs, PostFilterPlugin, PostFilterResult, Status};
use crate::podinfo::PodInfo;

pub const NAME: &str = "DefaultPreemption";

pub struct DefaultPreemption {
    /// Rotates the dry-run start node (upstream picks a random offset).
    offset: AtomicUsize,
}

impl Plugin for DefaultPreemption {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        Some(self)
    }
}

impl PostFilterPlugin for DefaultPreemption {
    fn post_filter(&self, fwk: &Framework, state: &CycleState, pod: &PodInfo, snapshot: &Snapshot, statuses: &NodeStatuses) -> (Option<PostFilterResult>, Status) {
        let offset = self.offset.fetch_add(1, Ordering::Relaxed);
        crate::preemption::preempt(fwk, state, pod, snapshot, statuses, offset)
    }
}

pub fn new(_: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    Ok(Arc::new(DefaultPreemption { offset: AtomicUsize::new(0) }))
}
