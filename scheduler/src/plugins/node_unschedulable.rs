//! NodeUnschedulable: a cordoned node (`spec.unschedulable`) only takes pods
//! tolerating the `node.kubernetes.io/unschedulable:NoSchedule` taint.

use std::sync::Arc;

use k8s_openapi::api::core::v1::Taint;

use super::helper::{pod_tolerations, tolerates};
use crate::cache::NodeInfo;
use crate::framework::{CycleState, FilterPlugin, Plugin, PluginArgs, Status};
use crate::podinfo::PodInfo;

pub const NAME: &str = "NodeUnschedulable";
pub const ERR_REASON: &str = "node(s) were unschedulable";
pub const TAINT_KEY: &str = "node.kubernetes.io/unschedulable";

pub struct NodeUnschedulable;

impl Plugin for NodeUnschedulable {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl FilterPlugin for NodeUnschedulable {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if !node.node.spec.as_ref().and_then(|s| s.unschedulable).unwrap_or(false) {
            return Status::success();
        }
        let taint = Taint { key: TAINT_KEY.into(), effect: "NoSchedule".into(), value: None, time_added: None };
        if pod_tolerations(&pod.pod).iter().any(|t| tolerates(t, &taint)) {
            return Status::success();
        }
        Status::unresolvable(ERR_REASON)
    }
}

pub fn new(_: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    Ok(Arc::new(NodeUnschedulable))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::framework::Code;
    use crate::testutil::{node, pod};
    use k8s_openapi::api::core::v1::Toleration;

    #[test]
    fn filter_table() {
        let tol = Toleration { key: Some(TAINT_KEY.into()), operator: Some("Exists".into()), effect: Some("NoSchedule".into()), ..Default::default() };
        let cases = [
            ("schedulable", pod("p").info(), node("n").info(), Code::Success),
            ("cordoned", pod("p").info(), node("n").unschedulable().info(), Code::UnschedulableAndUnresolvable),
            ("tolerated", pod("p").toleration(tol).info(), node("n").unschedulable().info(), Code::Success),
        ];
        for (name, p, n, want) in cases {
            assert_eq!(NodeUnschedulable.filter(&CycleState::new(), &p, &n).code, want, "{name}");
        }
    }
}
