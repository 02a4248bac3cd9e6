//! A profile's plugins, instantiated once, and the functions that run them
//! at each extension point (upstream `runtime.frameworkImpl`).

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::{anyhow, Context};
use k8s_openapi::api::core::v1::Pod;

use super::{Code, CycleState, NodeScore, NodeStatuses, Plugin, PluginArgs, PostFilterResult, PreFilterResult, Registry, Status, MAX_NODE_SCORE};
use crate::cache::{NodeInfo, Snapshot};
use crate::config::{Point, Profile};
use crate::podinfo::{PodInfo, PodRecord};

/// The plugins of one profile, per extension point.
pub struct Framework {
    pub scheduler_name: String,
    pub percentage_of_nodes_to_score: Option<i32>,
    pre_filter: Vec<Arc<dyn Plugin>>,
    filter: Vec<Arc<dyn Plugin>>,
    post_filter: Vec<Arc<dyn Plugin>>,
    pre_score: Vec<Arc<dyn Plugin>>,
    score: Vec<(Arc<dyn Plugin>, i64)>,
    reserve: Vec<Arc<dyn Plugin>>,
    permit: Vec<Arc<dyn Plugin>>,
    pre_bind: Vec<Arc<dyn Plugin>>,
    bind: Vec<Arc<dyn Plugin>>,
}

fn implements(p: &dyn Plugin, point: Point) -> bool {
    match point {
        Point::PreFilter => p.as_pre_filter().is_some(),
        Point::Filter => p.as_filter().is_some(),
        Point::PostFilter => p.as_post_filter().is_some(),
        Point::PreScore => p.as_pre_score().is_some(),
        Point::Score => p.as_score().is_some(),
        Point::Reserve => p.as_reserve().is_some(),
        Point::Permit => p.as_permit().is_some(),
        Point::PreBind => p.as_pre_bind().is_some(),
        Point::Bind => p.as_bind().is_some(),
    }
}

impl Framework {
    /// Instantiates every plugin the profile mentions (once each).
    pub fn new(profile: &Profile, registry: &Registry, client: Option<kube::Client>) -> anyhow::Result<Framework> {
        let mut names: BTreeSet<String> = profile.multi_point.iter().map(|(n, _)| n.clone()).collect();
        for point in Point::ALL {
            names.extend(profile.plugins.point(point).enabled.iter().map(|e| e.name.clone()));
        }
        let mut instances: HashMap<String, Arc<dyn Plugin>> = HashMap::new();
        for name in names {
            let factory = registry.get(&name).ok_or_else(|| anyhow!("profile {:?}: unknown plugin {name:?}", profile.scheduler_name))?;
            let args = PluginArgs { args: profile.args.get(&name).cloned(), client: client.clone() };
            let plugin = factory(&args).with_context(|| format!("initialising plugin {name}"))?;
            instances.insert(name, plugin);
        }
        let at = |point: Point| -> anyhow::Result<Vec<(Arc<dyn Plugin>, i64)>> {
            let list = profile.plugins_at(point, |n, p| instances.get(n).is_some_and(|i| implements(i.as_ref(), p)));
            list.into_iter()
                .map(|(n, w)| {
                    let i = instances.get(&n).ok_or_else(|| anyhow!("plugin {n} not instantiated"))?;
                    if !implements(i.as_ref(), point) {
                        return Err(anyhow!("plugin {n:?} does not extend {point:?}"));
                    }
                    Ok((i.clone(), w))
                })
                .collect()
        };
        let plain = |point: Point| -> anyhow::Result<Vec<Arc<dyn Plugin>>> { Ok(at(point)?.into_iter().map(|(p, _)| p).collect()) };
        let fwk = Framework {
            scheduler_name: profile.scheduler_name.clone(),
            percentage_of_nodes_to_score: profile.percentage_of_nodes_to_score,
            pre_filter: plain(Point::PreFilter)?,
            filter: plain(Point::Filter)?,
            post_filter: plain(Point::PostFilter)?,
            pre_score: plain(Point::PreScore)?,
            score: at(Point::Score)?,
            reserve: plain(Point::Reserve)?,
            permit: plain(Point::Permit)?,
            pre_bind: plain(Point::PreBind)?,
            bind: plain(Point::Bind)?,
        };
        if fwk.bind.is_empty() {
            return Err(anyhow!("profile {:?}: at least one bind plugin is needed", profile.scheduler_name));
        }
        Ok(fwk)
    }

    /// Names per point, for logs and tests.
    pub fn describe(&self) -> Vec<(Point, Vec<String>)> {
        let names = |v: &[Arc<dyn Plugin>]| v.iter().map(|p| p.name().to_string()).collect::<Vec<_>>();
        vec![
            (Point::PreFilter, names(&self.pre_filter)),
            (Point::Filter, names(&self.filter)),
            (Point::PostFilter, names(&self.post_filter)),
            (Point::PreScore, names(&self.pre_score)),
            (Point::Score, self.score.iter().map(|(p, w)| format!("{}={w}", p.name())).collect()),
            (Point::Reserve, names(&self.reserve)),
            (Point::Permit, names(&self.permit)),
            (Point::PreBind, names(&self.pre_bind)),
            (Point::Bind, names(&self.bind)),
        ]
    }

    pub fn has_filters(&self) -> bool {
        !self.filter.is_empty()
    }

    pub fn has_scores(&self) -> bool {
        !self.score.is_empty()
    }

    /// PreFilter: results are intersected; the first rejection stops.
    pub fn run_pre_filter(&self, state: &mut CycleState, pod: &PodInfo, snapshot: &Snapshot) -> (Option<PreFilterResult>, Status) {
        let mut result: Option<PreFilterResult> = None;
        let mut narrowing: Vec<&'static str> = Vec::new();
        for p in &self.pre_filter {
            let Some(pf) = p.as_pre_filter() else { continue };
            let (r, s) = pf.pre_filter(state, pod, snapshot);
            if s.is_skip() {
                state.skip_filter.insert(p.name());
                continue;
            }
            if !s.is_success() {
                return (None, s.with_plugin(p.name()));
            }
            if let Some(r) = r.filter(|r| r.node_names.is_some()) {
                narrowing.push(p.name());
                result = Some(match result {
                    None => r,
                    Some(prev) => PreFilterResult {
                        node_names: match (prev.node_names, r.node_names) {
                            (Some(a), Some(b)) => Some(a.intersection(&b).cloned().collect()),
                            (a, b) => a.or(b),
                        },
                        narrowed_by: Vec::new(),
                    },
                });
                if let Some(r) = result.as_mut() {
                    r.narrowed_by = narrowing.iter().map(|s| s.to_string()).collect();
                }
                if result.as_ref().and_then(|r| r.node_names.as_ref()).is_some_and(|n| n.is_empty()) {
                    let msg = if narrowing.len() == 1 {
                        format!("node(s) didn't satisfy plugin {}", narrowing[0])
                    } else {
                        format!("node(s) didn't satisfy plugin(s) [{}] simultaneously", narrowing.join(" "))
                    };
                    return (None, Status::unresolvable(msg).with_plugin(p.name()));
                }
            }
        }
        (result, Status::success())
    }

    /// Filter: the first failing plugin decides (upstream stops there too).
    pub fn run_filter(&self, state: &CycleState, pod: &PodInfo, node: &NodeInfo) -> Status {
        for p in &self.filter {
            if state.skip_filter.contains(p.name()) {
                continue;
            }
            let Some(f) = p.as_filter() else { continue };
            let s = f.filter(state, pod, node);
            if !s.is_success() {
                let mut s = s.with_plugin(p.name());
                if !s.is_rejected() && s.code != Code::Error {
                    s.code = Code::Error;
                }
                return s;
            }
        }
        Status::success()
    }

    /// Upstream `RunFilterPluginsWithNominatedPods`: when pods of equal or
    /// higher priority are nominated to this node, the pod must fit both
    /// with them (as if they were running) and without them.
    pub fn run_filter_with_nominated(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        node: &NodeInfo,
        nominated: &[Arc<PodInfo>],
        snapshot: &Snapshot,
    ) -> Status {
        let relevant: Vec<&Arc<PodInfo>> = nominated.iter().filter(|n| n.key != pod.key && n.priority() >= pod.priority()).collect();
        if relevant.is_empty() {
            return self.run_filter(state, pod, node);
        }
        let mut state_with = state.clone();
        let mut node_with = node.clone();
        for n in relevant {
            node_with.add_pod(n.record.clone());
            let s = self.run_pre_filter_add_pod(&mut state_with, pod, &n.record, &node_with, snapshot);
            if !s.is_success() {
                return s;
            }
        }
        let s = self.run_filter(&state_with, pod, &node_with);
        if !s.is_success() {
            return s;
        }
        self.run_filter(state, pod, node)
    }

    pub fn run_pre_filter_add_pod(&self, state: &mut CycleState, pod: &PodInfo, added: &Arc<PodRecord>, node: &NodeInfo, snapshot: &Snapshot) -> Status {
        for p in &self.pre_filter {
            if state.skip_filter.contains(p.name()) {
                continue;
            }
            if let Some(pf) = p.as_pre_filter() {
                let s = pf.add_pod(state, pod, added, node, snapshot);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    pub fn run_pre_filter_remove_pod(
        &self,
        state: &mut CycleState,
        pod: &PodInfo,
        removed: &Arc<PodRecord>,
        node: &NodeInfo,
        snapshot: &Snapshot,
    ) -> Status {
        for p in &self.pre_filter {
            if state.skip_filter.contains(p.name()) {
                continue;
            }
            if let Some(pf) = p.as_pre_filter() {
                let s = pf.remove_pod(state, pod, removed, node, snapshot);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// PostFilter: the first plugin that returns success or an error wins.
    pub fn run_post_filter(
        &self,
        state: &CycleState,
        pod: &PodInfo,
        snapshot: &Snapshot,
        statuses: &NodeStatuses,
    ) -> (Option<PostFilterResult>, Status) {
        let mut last = Status::unschedulable("");
        let mut messages = Vec::new();
        for p in &self.post_filter {
            let Some(pf) = p.as_post_filter() else { continue };
            let (r, s) = pf.post_filter(self, state, pod, snapshot, statuses);
            if s.is_success() || s.code == Code::Error {
                return (r, s.with_plugin(p.name()));
            }
            if !s.message().is_empty() {
                messages.push(s.message());
            }
            last = s.with_plugin(p.name());
        }
        if !messages.is_empty() {
            last.reasons = messages;
        }
        (None, last)
    }

    pub fn run_pre_score(&self, state: &mut CycleState, pod: &PodInfo, nodes: &[Arc<NodeInfo>], snapshot: &Snapshot) -> Status {
        for p in &self.pre_score {
            let Some(ps) = p.as_pre_score() else { continue };
            let s = ps.pre_score(state, pod, nodes, snapshot);
            if s.is_skip() {
                state.skip_score.insert(p.name());
                continue;
            }
            if !s.is_success() {
                return s.with_plugin(p.name());
            }
        }
        Status::success()
    }

    /// Score, NormalizeScore and weights; returns the weighted sum per node
    /// (in `nodes` order).
    pub fn run_score(&self, state: &CycleState, pod: &PodInfo, nodes: &[Arc<NodeInfo>], snapshot: &Snapshot) -> Result<Vec<NodeScore>, Status> {
        // One name per node (normalisation reads them), weighted totals apart.
        let mut totals: Vec<i64> = vec![0; nodes.len()];
        let mut scores: Vec<NodeScore> = nodes.iter().map(|n| NodeScore { name: n.name().to_string(), score: 0 }).collect();
        for (p, weight) in &self.score {
            if state.skip_score.contains(p.name()) {
                continue;
            }
            let Some(sp) = p.as_score() else { continue };
            for (i, n) in nodes.iter().enumerate() {
                scores[i].score = sp.score(state, pod, n, snapshot).map_err(|s| s.with_plugin(p.name()))?;
            }
            let s = sp.normalize(state, pod, &mut scores);
            if !s.is_success() {
                return Err(s.with_plugin(p.name()));
            }
            for (i, s) in scores.iter().enumerate() {
                if s.score < 0 || s.score > MAX_NODE_SCORE {
                    return Err(Status::error(format!("plugin {:?} returns an invalid score {}, it should in the range of [0, {MAX_NODE_SCORE}] after normalizing", p.name(), s.score)));
                }
                totals[i] += s.score * weight;
            }
        }
        for (s, total) in scores.iter_mut().zip(totals) {
            s.score = total;
        }
        Ok(scores)
    }

    /// The part of `state` the binding cycle can read: the entries of
    /// plugins at Reserve (and so Unreserve), Permit, PreBind and Bind.
    /// Plugins key their state by their own name, and a plugin reads state
    /// only from its extension points, so Filter/Score-only data (e.g.
    /// topology spread's count per hostname) can go before the pod waits
    /// for the API server.
    pub fn binding_state(&self, mut state: CycleState) -> CycleState {
        let keep: Vec<&'static str> = self.reserve.iter().chain(&self.permit).chain(&self.pre_bind).chain(&self.bind).map(|p| p.name()).collect();
        state.retain(|k| keep.contains(&k));
        state
    }

    /// Reserve in order; on failure the caller runs [`Framework::run_unreserve`].
    pub fn run_reserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str, snapshot: &Snapshot) -> Status {
        for p in &self.reserve {
            if let Some(r) = p.as_reserve() {
                let s = r.reserve(state, pod, node, snapshot);
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// Unreserve in reverse order.
    pub fn run_unreserve(&self, state: &mut CycleState, pod: &PodInfo, node: &str) {
        for p in self.reserve.iter().rev() {
            if let Some(r) = p.as_reserve() {
                r.unreserve(state, pod, node);
            }
        }
    }

    /// Permit: a rejection stops; `Wait` is returned with the longest timeout.
    pub fn run_permit(&self, state: &CycleState, pod: &PodInfo, node: &str) -> (Status, std::time::Duration) {
        let mut wait = None;
        for p in &self.permit {
            if let Some(pm) = p.as_permit() {
                let (s, timeout) = pm.permit(state, pod, node);
                match s.code {
                    Code::Success => {}
                    Code::Wait => wait = Some(wait.map_or(timeout, |w: std::time::Duration| w.max(timeout))),
                    _ => return (s.with_plugin(p.name()), timeout),
                }
            }
        }
        match wait {
            Some(t) => (Status::new(Code::Wait, "waiting on permit"), t),
            None => (Status::success(), std::time::Duration::ZERO),
        }
    }

    pub async fn run_pre_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for p in &self.pre_bind {
            if let Some(pb) = p.as_pre_bind() {
                let s = pb.pre_bind(state, pod, node).await;
                if !s.is_success() {
                    return s.with_plugin(p.name());
                }
            }
        }
        Status::success()
    }

    /// Bind: the first binder that does not Skip decides.
    pub async fn run_bind(&self, state: &CycleState, pod: &Pod, node: &str) -> Status {
        for p in &self.bind {
            if let Some(b) = p.as_bind() {
                let s = b.bind(state, pod, node).await;
                if s.is_skip() {
                    continue;
                }
                return s.with_plugin(p.name());
            }
        }
        Status::error("no bind plugin accepted the pod")
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::config::Config;
    use crate::plugins::in_tree_registry;

    fn points(yaml: &str) -> HashMap<Point, Vec<String>> {
        let c = Config::parse(yaml).unwrap();
        Framework::new(&c.profiles[0], &in_tree_registry(), None).unwrap().describe().into_iter().collect()
    }

    #[test]
    fn binding_state_keeps_binding_cycle_plugins() {
        let c = Config::parse("profiles:\n- schedulerName: default-scheduler\n").unwrap();
        let f = Framework::new(&c.profiles[0], &in_tree_registry(), None).unwrap();
        let mut s = CycleState::new();
        for key in ["PodTopologySpread", "InterPodAffinity", "NodeResourcesFit", "VolumeBinding"] {
            s.write(key, key.to_string());
        }
        let kept = f.binding_state(s);
        let got: Vec<bool> = ["PodTopologySpread", "InterPodAffinity", "NodeResourcesFit", "VolumeBinding"].iter().map(|k| kept.read::<String>(k).is_some()).collect();
        assert_eq!(got, [false, false, false, true]);
    }

    #[test]
    fn default_profile_assembles_upstream_points() {
        let p = points("profiles:\n- schedulerName: default-scheduler\n");
        assert_eq!(
            p[&Point::Filter],
            [
                "NodeUnschedulable",
                "NodeName",
                "TaintToleration",
                "NodeAffinity",
                "NodePorts",
                "NodeResourcesFit",
                "VolumeRestrictions",
                "VolumeBinding",
                "PodTopologySpread",
                "InterPodAffinity"
            ]
        );
        assert_eq!(
            p[&Point::Score],
            [
                "TaintToleration=3",
                "NodeAffinity=2",
                "NodeResourcesFit=1",
                "PodTopologySpread=2",
                "InterPodAffinity=2",
                "NodeResourcesBalancedAllocation=1",
                "ImageLocality=1"
            ]
        );
        assert_eq!(p[&Point::PostFilter], ["DefaultPreemption"]);
        assert_eq!(p[&Point::Bind], ["DefaultBinder"]);
        assert_eq!(p[&Point::PreBind], ["VolumeBinding"]);
    }

    #[test]
    fn profile_errors() {
        let unknown = Config::parse("profiles:\n- plugins:\n    filter:\n      enabled:\n      - name: Bogus\n").unwrap();
        assert!(Framework::new(&unknown.profiles[0], &in_tree_registry(), None).is_err());
        let no_binder = Config::parse("profiles:\n- plugins:\n    bind:\n      disabled:\n      - name: '*'\n").unwrap();
        assert!(Framework::new(&no_binder.profiles[0], &in_tree_registry(), None).is_err());
        let wrong_point = Config::parse("profiles:\n- plugins:\n    bind:\n      enabled:\n      - name: NodeName\n").unwrap();
        assert!(Framework::new(&wrong_point.profiles[0], &in_tree_registry(), None).is_err());
        let bad_args = Config::parse(
            "profiles:\n- pluginConfig:\n  - name: NodeResourcesFit\n    args:\n      scoringStrategy:\n        type: Nope\n",
        )
        .unwrap();
        assert!(Framework::new(&bad_args.profiles[0], &in_tree_registry(), None).is_err());
    }
}
