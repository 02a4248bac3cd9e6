//! PrioritySort: the queue-sort plugin. The ordering itself (priority, then
//! timestamp) lives in [`crate::queue`]; this entry only makes the name
//! valid in profiles, as upstream's default set lists it.

use std::sync::Arc;

use crate::framework::{Plugin, PluginArgs};

pub const NAME: &str = "PrioritySort";

pub struct PrioritySort;

impl Plugin for PrioritySort {
    fn name(&self) -> &'static str {
        NAME
    }
}

pub fn new(_: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    Ok(Arc::new(PrioritySort))
}
