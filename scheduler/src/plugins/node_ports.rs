//! NodePorts: a pod's host ports must be free on the node. `0.0.0.0`
//! conflicts with every address; a specific address with itself and
//! `0.0.0.0` (upstream `HostPortInfo.CheckConflict`).

use std::collections::HashMap;
use std::sync::Arc;

use crate::cache::{NodeInfo, Snapshot};
use crate::framework::{CycleState, FilterPlugin, Plugin, PluginArgs, PreFilterPlugin, PreFilterResult, Status};
use crate::podinfo::{HostPort, PodInfo};

pub const NAME: &str = "NodePorts";
pub const ERR_REASON: &str = "node(s) didn't have free ports for the requested pod ports";

pub struct NodePorts;

/// Whether `want` conflicts with the ports in use.
pub fn conflicts(used: &HashMap<HostPort, u32>, want: &HostPort) -> bool {
    let (ip, proto, port) = want;
    if ip == "0.0.0.0" {
        return used.keys().any(|(_, p, n)| p == proto && n == port);
    }
    used.contains_key(&(ip.clone(), proto.clone(), *port)) || used.contains_key(&("0.0.0.0".to_string(), proto.clone(), *port))
}

pub fn fits(pod: &PodInfo, node: &NodeInfo) -> bool {
    !pod.host_ports.iter().any(|p| conflicts(&node.used_ports, p))
}

impl Plugin for NodePorts {
    fn name(&self) -> &'static str {
        NAME
    }
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        Some(self)
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        Some(self)
    }
}

impl PreFilterPlugin for NodePorts {
    fn pre_filter(&self, _: &mut CycleState, pod: &PodInfo, _: &Snapshot) -> (Option<PreFilterResult>, Status) {
        if pod.host_ports.is_empty() {
            return (None, Status::skip());
        }
        (None, Status::success())
    }
}

impl FilterPlugin for NodePorts {
    fn filter(&self, _: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        if fits(pod, node) {
            Status::success()
        } else {
            Status::unschedulable(ERR_REASON)
        }
    }
}

pub fn new(_: &PluginArgs) -> anyhow::Result<Arc<dyn Plugin>> {
    Ok(Arc::new(NodePorts))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{node, node_with, pod};

    fn hp(ip: &str, port: i32) -> HostPort {
        (ip.into(), "TCP".into(), port)
    }

    #[test]
    fn conflict_table() {
        let used: HashMap<HostPort, u32> = [(hp("10.0.0.1", 80), 1), (hp("0.0.0.0", 8080), 1)].into_iter().collect();
        let cases = [
            (hp("0.0.0.0", 80), true),
            (hp("10.0.0.1", 80), true),
            (hp("10.0.0.2", 80), false),
            (hp("10.0.0.2", 8080), true),
            (hp("0.0.0.0", 81), false),
            (("0.0.0.0".to_string(), "UDP".to_string(), 80), false),
        ];
        for (want, conflict) in cases {
            assert_eq!(conflicts(&used, &want), conflict, "{want:?}");
        }
    }

    #[test]
    fn filter() {
        let n = node_with(node("n"), vec![pod("a").host_port(80).build()]);
        assert!(!NodePorts.filter(&CycleState::new(), &pod("b").host_port(80).info(), &n).is_success());
        assert!(NodePorts.filter(&CycleState::new(), &pod("b").host_port(81).info(), &n).is_success());
    }
}
