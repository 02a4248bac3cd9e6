//! NodeName: a pod naming a node (`spec.nodeName`) fits only that node.

use std::sync::Arc;

use crate::cache::NodeInfo;
use crate::framework::{CycleState, FilterPlugin, Plugin, PluginArgs, Status};
use crate::podinfo::PodInfo;

pub const NAME: &str = "NodeName";
pub const ERR_REASON: &str = "node(s) didn't match the requested node name";

pub struct NodeName;

/// Upstream `Fits`.
pub fn fits(pod: &PodInfo, node: &NodeInfo) -> bool {
    match pod.pod.spec.as_ref().and_then(|s| s.node_name.as_deref()) {
        None | Some("") => true,
        Some(n) => n == node.name(),
    }
}

impl Plugin for NodeName {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl FilterPlugin for NodeName {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if fits(pod, node) {
            Status::success()
        } else {
            Status::unresolvable(ERR_REASON)
        }
    }
}

pub fn new(_: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    Ok(Arc::new(NodeName))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{node, pod};

    #[test]
    fn fits_table() {
        assert!(fits(&pod("p").info(), &node("a").info()));
        assert!(fits(&pod("p").node("a").info(), &node("a").info()));
        assert!(!fits(&pod("p").node("b").info(), &node("a").info()));
    }
}
