//! One trait per extension point (upstream `framework/interface.go`). A
//! plugin is one object implementing [`Plugin`] plus the point traits it
//! takes part in; `as_*` expose them to the runner.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Pod;

use super::{CycleState, NodeStatuses, Status};
use crate::cache::{NodeInfo, Snapshot};
use crate::framework::runner::Framework;
use crate::podinfo::{PodInfo, PodRecord};

/// Upstream `MaxNodeScore`.
pub const MAX_NODE_SCORE: i64 = 100;

/// A node's score from one plugin (or the weighted total).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeScore {
    pub name: String,
    pub score: i64,
}

/// PreFilter may narrow the candidate nodes (upstream `PreFilterResult`);
/// `None` node names means "all nodes".
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PreFilterResult {
    pub node_names: Option<BTreeSet<String>>,
    /// Set by the runner: the plugins that narrowed the node set.
    pub narrowed_by: Vec<String>,
}

impl PreFilterResult {
    pub fn nodes(names: BTreeSet<String>) -> PreFilterResult {
        PreFilterResult { node_names: Some(names), narrowed_by: Vec::new() }
    }
}

/// The outcome of a PostFilter (preemption): the node the pod is nominated
/// to, and the victims to delete (carried out by the shell).
#[derive(Debug, Clone, Default)]
pub struct PostFilterResult {
    pub nominated_node_name: Option<String>,
    pub victims: Vec<Arc<PodRecord>>,
    /// Pods nominated to the same node with lower priority: their nomination is cleared.
    pub clear_nominations: Vec<Arc<Pod>>,
}

pub trait Plugin: Send + Sync {
    fn name(&self) -> &'static str;
    fn as_pre_filter(&self) -> Option<&dyn PreFilterPlugin> {
        None
    }
    fn as_filter(&self) -> Option<&dyn FilterPlugin> {
        None
    }
    fn as_post_filter(&self) -> Option<&dyn PostFilterPlugin> {
        None
    }
    fn as_pre_score(&self) -> Option<&dyn PreScorePlugin> {
        None
    }
    fn as_score(&self) -> Option<&dyn ScorePlugin> {
        None
    }
    fn as_reserve(&self) -> Option<&dyn ReservePlugin> {
        None
    }
    fn as_permit(&self) -> Option<&dyn PermitPlugin> {
        None
    }
    fn as_pre_bind(&self) -> Option<&dyn PreBindPlugin> {
        None
    }
    fn as_bind(&self) -> Option<&dyn BindPlugin> {
        None
    }
}

pub trait PreFilterPlugin: Send + Sync {
    /// Computes per-cycle state; `Skip` disables this plugin's Filter.
    fn pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (Option<PreFilterResult>, Status);

    /// Upstream `PreFilterExtensions.AddPod`: `added` is now assumed on `node`
    /// (preemption's what-if and nominated pods). Default: nothing to update.
    fn add_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _added: &Arc<PodRecord>, _node: &NodeInfo, _snapshot: &Snapshot) -> Status {
        Status::success()
    }

    /// Upstream `PreFilterExtensions.RemovePod`.
    fn remove_pod(&self, _state: &mut CycleState, _pod: &PodInfo, _removed: &Arc<PodRecord>, _node: &NodeInfo, _snapshot: &Snapshot) -> Status {
        Status::success()
    }
}

pub trait FilterPlugin: Send + Sync {
    fn filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status;
}

pub trait PostFilterPlugin: Send + Sync {
    fn post_filter(
        &self,
        fwk: &Framework,
        state: &CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        statuses: &NodeStatuses,
    ) -> (Option<PostFilterResult>, Status);
}

pub trait PreScorePlugin: Send + Sync {
    /// `nodes` are the feasible nodes; `Skip` disables this plugin's Score.
    fn pre_score(&self, state: &mut CycleState, pod: &PodInfo, nodes: &[Arc<NodeInfo>], snapshot: &Snapshot) -> Status;
}

pub trait ScorePlugin: Send + Sync {
    fn score(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo, snapshot: &Snapshot) -> Result<i64, Status>;

    /// Upstream `ScoreExtensions.NormalizeScore`; default: none.
    fn normalize(&self, _state: &CycleState, _pod: &PodInfo, _scores: &mut [NodeScore]) -> Status {
        Status::success()
    }
}

pub trait ReservePlugin: Send + Sync {
    fn reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str, snapshot: &Snapshot) -> Status;
    fn unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str);
}

/// Permit: `Success`, a rejection, or `Wait` with a timeout.
pub trait PermitPlugin: Send + Sync {
    fn permit(&self, state: &CycleState, pod: &PodInfo, node: &str) -> (Status, Duration);
}

#[async_trait::async_trait]
pub trait PreBindPlugin: Send + Sync {
    async fn pre_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
}

/// Bind: `Skip` passes to the next binder.
#[async_trait::async_trait]
pub trait BindPlugin: Send + Sync {
    async fn bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status;
}
