//! The scheduling queue (upstream `internal/queue.PriorityQueue`), pure and
//! clocked by the caller (`now` is a parameter everywhere):
//!
//! - **active**: ready to schedule, popped highest `spec.priority` first, then
//!   oldest timestamp (the PrioritySort plugin);
//! - **backoff**: failed recently; released when `timestamp + backoff`
//!   passes, backoff doubling per attempt from 1 s up to 10 s;
//! - **unschedulable**: rejected by plugins; moved back (to backoff or active)
//!   by a cluster event one of the rejecting plugins cares about, or after
//!   5 minutes regardless.
//!
//! A move request that happens while a pod is being scheduled sends that pod
//! to backoff instead of unschedulable if it then fails (upstream's
//! `moveRequestCycle`), so the event is not lost.

use std::collections::{BTreeSet, BinaryHeap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Pod;

use crate::podinfo::{pod_key, pod_priority};

pub const DEFAULT_INITIAL_BACKOFF: Duration = Duration::from_secs(1);
pub const DEFAULT_MAX_BACKOFF: Duration = Duration::from_secs(10);
/// Upstream `DefaultPodMaxInUnschedulablePodsDuration`.
pub const MAX_IN_UNSCHEDULABLE: Duration = Duration::from_secs(5 * 60);

/// A pod in the queue with its scheduling history.
#[derive(Debug, Clone)]
pub struct QueuedPod {
    pub pod: Arc<Pod>,
    pub key: String,
    /// When the pod was (re-)added; orders the active queue and starts backoff.
    pub timestamp: Instant,
    pub initial_attempt: Option<Instant>,
    pub attempts: u32,
    /// Plugins that rejected the pod last time.
    pub unschedulable_plugins: BTreeSet<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Where {
    Active,
    Backoff,
    Unschedulable,
    InFlight,
}

#[derive(Debug)]
struct Entry {
    info: QueuedPod,
    at: Where,
    /// Bumped whenever the entry moves, so stale heap items are skipped.
    generation: u64,
    /// Scheduling cycle the pod was popped in.
    cycle: u64,
}

#[derive(Debug, PartialEq, Eq)]
struct ActiveItem {
    priority: i32,
    timestamp: Instant,
    key: String,
    generation: u64,
}

impl Ord for ActiveItem {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.priority.cmp(&other.priority).then_with(|| other.timestamp.cmp(&self.timestamp)).then_with(|| other.key.cmp(&self.key))
    }
}

impl PartialOrd for ActiveItem {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
struct BackoffItem {
    expiry: std::cmp::Reverse<Instant>,
    key: std::cmp::Reverse<String>,
    generation: u64,
}

/// Which plugins a cluster event may help (upstream's EventsToRegister, at
/// plugin granularity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClusterEvent {
    NodeAdd,
    NodeUpdate,
    AssignedPodAdd,
    AssignedPodUpdate,
    AssignedPodDelete,
    Storage,
    Namespace,
    /// Services/ReplicaSets/StatefulSets/RCs (default spreading selectors), PDBs.
    Workload,
}

impl ClusterEvent {
    /// Whether a pod rejected by `plugin` may become schedulable after this event.
    pub fn may_help(self, plugin: &str) -> bool {
        use ClusterEvent::*;
        match self {
            NodeAdd | NodeUpdate => true,
            AssignedPodAdd | AssignedPodUpdate => matches!(plugin, "InterPodAffinity" | "PodTopologySpread"),
            AssignedPodDelete => matches!(
                plugin,
                "NodeResourcesFit" | "NodePorts" | "InterPodAffinity" | "PodTopologySpread" | "VolumeRestrictions" | "VolumeBinding" | "DefaultPreemption"
            ),
            Storage => matches!(plugin, "VolumeBinding" | "VolumeRestrictions"),
            Namespace => matches!(plugin, "InterPodAffinity"),
            Workload => matches!(plugin, "PodTopologySpread" | "DefaultPreemption"),
        }
    }
}

#[derive(Debug)]
pub struct SchedulingQueue {
    entries: HashMap<String, Entry>,
    active: BinaryHeap<ActiveItem>,
    backoff: BinaryHeap<BackoffItem>,
    initial_backoff: Duration,
    max_backoff: Duration,
    generation: u64,
    scheduling_cycle: u64,
    move_request_cycle: u64,
    last_unschedulable_flush: Option<Instant>,
    /// Keys currently in the unschedulable sub-queue (moves iterate only these).
    unschedulable: std::collections::HashSet<String>,
    /// Pods with `status.nominatedNodeName`: key → (node, pod).
    nominated: HashMap<String, (String, Arc<Pod>)>,
    nominated_version: u64,
}

impl Default for SchedulingQueue {
    fn default() -> Self {
        SchedulingQueue::new(DEFAULT_INITIAL_BACKOFF, DEFAULT_MAX_BACKOFF)
    }
}

impl SchedulingQueue {
    pub fn new(initial_backoff: Duration, max_backoff: Duration) -> SchedulingQueue {
        SchedulingQueue {
            entries: HashMap::new(),
            active: BinaryHeap::new(),
            backoff: BinaryHeap::new(),
            initial_backoff,
            max_backoff,
            generation: 0,
            scheduling_cycle: 0,
            move_request_cycle: 0,
            last_unschedulable_flush: None,
            unschedulable: Default::default(),
            nominated: HashMap::new(),
            nominated_version: 0,
        }
    }

    fn track_nomination(&mut self, key: &str, pod: Option<&Arc<Pod>>) {
        let node = pod.and_then(|p| p.status.as_ref()).and_then(|s| s.nominated_node_name.clone()).filter(|n| !n.is_empty());
        let changed = match (node, self.nominated.get(key)) {
            (None, None) => false,
            (None, Some(_)) => {
                self.nominated.remove(key);
                true
            }
            (Some(n), old) => {
                let same = old.is_some_and(|(o, op)| *o == n && pod.is_some_and(|p| Arc::ptr_eq(p, op)));
                if !same {
                    if let Some(p) = pod {
                        self.nominated.insert(key.to_string(), (n, p.clone()));
                    }
                }
                !same
            }
        };
        if changed {
            self.nominated_version += 1;
        }
    }

    /// Changes whenever the set of nominated pods changes.
    pub fn nominated_version(&self) -> u64 {
        self.nominated_version
    }

    /// Nominated pods by node.
    pub fn nominated_by_node(&self) -> HashMap<String, Vec<Arc<Pod>>> {
        let mut out: HashMap<String, Vec<Arc<Pod>>> = HashMap::new();
        for (node, pod) in self.nominated.values() {
            out.entry(node.clone()).or_default().push(pod.clone());
        }
        out
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Counts per sub-queue: (active, backoff, unschedulable, in flight).
    pub fn counts(&self) -> (usize, usize, usize, usize) {
        let mut c = (0, 0, 0, 0);
        for e in self.entries.values() {
            match e.at {
                Where::Active => c.0 += 1,
                Where::Backoff => c.1 += 1,
                Where::Unschedulable => c.2 += 1,
                Where::InFlight => c.3 += 1,
            }
        }
        c
    }

    pub fn contains(&self, key: &str) -> bool {
        self.entries.contains_key(key)
    }

    /// The queued pod object (for nominated pods, tests).
    pub fn get(&self, key: &str) -> Option<&QueuedPod> {
        self.entries.get(key).map(|e| &e.info)
    }

    /// Upstream `calculateBackoffDuration`: initial × 2^(attempts-1), capped.
    pub fn backoff_duration(&self, attempts: u32) -> Duration {
        let mut d = self.initial_backoff;
        for _ in 1..attempts {
            d = d.saturating_mul(2);
            if d >= self.max_backoff {
                return self.max_backoff;
            }
        }
        d.min(self.max_backoff)
    }

    fn backoff_expiry(&self, info: &QueuedPod) -> Instant {
        info.timestamp + self.backoff_duration(info.attempts.max(1))
    }

    fn push_active(&mut self, key: &str) {
        self.generation += 1;
        let g = self.generation;
        self.unschedulable.remove(key);
        if let Some(e) = self.entries.get_mut(key) {
            e.at = Where::Active;
            e.generation = g;
            self.active.push(ActiveItem { priority: pod_priority(&e.info.pod), timestamp: e.info.timestamp, key: key.to_string(), generation: g });
        }
    }

    fn push_backoff(&mut self, key: &str) {
        self.generation += 1;
        let g = self.generation;
        let Some(expiry) = self.entries.get(key).map(|e| self.backoff_expiry(&e.info)) else { return };
        self.unschedulable.remove(key);
        if let Some(e) = self.entries.get_mut(key) {
            e.at = Where::Backoff;
            e.generation = g;
            self.backoff.push(BackoffItem { expiry: std::cmp::Reverse(expiry), key: std::cmp::Reverse(key.to_string()), generation: g });
        }
    }

    /// A new unscheduled pod (informer add). Ignored if already queued.
    pub fn add(&mut self, pod: Arc<Pod>, now: Instant) {
        let key = pod_key(&pod);
        if self.entries.contains_key(&key) {
            self.update(pod, now);
            return;
        }
        self.track_nomination(&key, Some(&pod));
        let info = QueuedPod { pod, key: key.clone(), timestamp: now, initial_attempt: None, attempts: 0, unschedulable_plugins: BTreeSet::new() };
        self.entries.insert(key.clone(), Entry { info, at: Where::Active, generation: 0, cycle: 0 });
        self.push_active(&key);
    }

    /// The pod object changed. An unschedulable pod is given another chance
    /// (backoff or active), as upstream does for any pod update that may
    /// make it schedulable.
    pub fn update(&mut self, pod: Arc<Pod>, now: Instant) {
        let key = pod_key(&pod);
        if !self.entries.contains_key(&key) {
            self.add(pod, now);
            return;
        }
        self.track_nomination(&key, Some(&pod));
        let Some(e) = self.entries.get_mut(&key) else { return };
        let spec_changed = e.info.pod.spec != pod.spec || e.info.pod.metadata.labels != pod.metadata.labels;
        let priority_changed = pod_priority(&e.info.pod) != pod_priority(&pod);
        e.info.pod = pod;
        match e.at {
            Where::Unschedulable if spec_changed => self.requeue(&key, now),
            // Priority changed: re-push (the stale heap item is skipped).
            Where::Active if priority_changed => self.push_active(&key),
            _ => {}
        }
    }

    pub fn delete(&mut self, key: &str) {
        self.entries.remove(key);
        self.unschedulable.remove(key);
        self.track_nomination(key, None);
    }

    /// Moves expired backoff pods to active and, every 30 s, pods that have
    /// been unschedulable for 5 minutes.
    pub fn flush(&mut self, now: Instant) {
        while let Some(top) = self.backoff.peek() {
            if top.expiry.0 > now {
                break;
            }
            let Some(item) = self.backoff.pop() else { break };
            let key = item.key.0;
            if self.entries.get(&key).is_some_and(|e| e.at == Where::Backoff && e.generation == item.generation) {
                self.push_active(&key);
            }
        }
        let due = self.last_unschedulable_flush.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(30));
        if due {
            self.last_unschedulable_flush = Some(now);
            let stale: Vec<String> = self
                .unschedulable
                .iter()
                .filter(|k| self.entries.get(*k).is_some_and(|e| now.duration_since(e.info.timestamp) >= MAX_IN_UNSCHEDULABLE))
                .cloned()
                .collect();
            for key in stale {
                self.requeue(&key, now);
            }
        }
    }

    /// Active or backoff, depending on whether backoff has expired.
    fn requeue(&mut self, key: &str, now: Instant) {
        let Some(e) = self.entries.get(key) else { return };
        if self.backoff_expiry(&e.info) > now {
            self.push_backoff(key);
        } else {
            self.push_active(key);
        }
    }

    /// Takes the next pod to schedule (after flushing); it stays known to the
    /// queue as in flight until [`SchedulingQueue::done`] or a failure re-add.
    pub fn pop(&mut self, now: Instant) -> Option<QueuedPod> {
        self.flush(now);
        while let Some(item) = self.active.pop() {
            let cycle = self.scheduling_cycle + 1;
            let Some(e) = self.entries.get_mut(&item.key) else { continue };
            if e.at != Where::Active || e.generation != item.generation {
                continue;
            }
            self.scheduling_cycle = cycle;
            e.at = Where::InFlight;
            e.cycle = cycle;
            e.info.attempts += 1;
            if e.info.initial_attempt.is_none() {
                e.info.initial_attempt = Some(now);
            }
            return Some(e.info.clone());
        }
        None
    }

    /// When the next backoff expires (for the loop's timer).
    pub fn next_wakeup(&self) -> Option<Instant> {
        self.backoff.peek().map(|b| b.expiry.0)
    }

    /// The pod was scheduled (assumed): forget it.
    pub fn done(&mut self, key: &str) {
        if self.entries.get(key).is_some_and(|e| e.at == Where::InFlight) {
            self.entries.remove(key);
            self.track_nomination(key, None);
        }
    }

    /// The attempt failed. Rejected pods go to unschedulable unless a move
    /// request happened during the attempt; errors go to backoff.
    pub fn add_unschedulable(&mut self, key: &str, pod: Arc<Pod>, plugins: BTreeSet<String>, is_error: bool, now: Instant) {
        if !self.entries.contains_key(key) {
            // Re-added after a binding failure (the caller checked the pod still exists).
            self.track_nomination(key, Some(&pod));
            let info = QueuedPod { pod, key: key.to_string(), timestamp: now, initial_attempt: Some(now), attempts: 1, unschedulable_plugins: plugins };
            self.entries.insert(key.to_string(), Entry { info, at: Where::InFlight, generation: 0, cycle: self.scheduling_cycle });
            self.push_backoff(key);
            return;
        }
        self.track_nomination(key, Some(&pod));
        self.generation += 1;
        let generation = self.generation;
        let move_cycle = self.move_request_cycle;
        let Some(e) = self.entries.get_mut(key) else { return };
        e.info.timestamp = now;
        e.info.unschedulable_plugins = plugins;
        e.info.pod = pod;
        if is_error || move_cycle >= e.cycle {
            self.push_backoff(key);
        } else {
            e.at = Where::Unschedulable;
            e.generation = generation;
            self.unschedulable.insert(key.to_string());
        }
    }

    /// Moves unschedulable pods that `event` may help to backoff/active.
    pub fn move_on_event(&mut self, event: ClusterEvent, now: Instant) {
        self.move_request_cycle = self.scheduling_cycle;
        if self.unschedulable.is_empty() {
            return;
        }
        let keys: Vec<String> = self
            .unschedulable
            .iter()
            .filter(|k| {
                self.entries.get(*k).is_some_and(|e| {
                    e.at == Where::Unschedulable
                        && (e.info.unschedulable_plugins.is_empty() || e.info.unschedulable_plugins.iter().any(|p| event.may_help(p)))
                })
            })
            .cloned()
            .collect();
        for key in keys {
            self.requeue(&key, now);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::testutil::pod;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn active_orders_by_priority_then_time() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::default();
        q.add(Arc::new(pod("low").priority(1).build()), t0);
        q.add(Arc::new(pod("high-late").priority(10).build()), t0 + secs(2));
        q.add(Arc::new(pod("high-early").priority(10).build()), t0 + secs(1));
        let order: Vec<String> = std::iter::from_fn(|| q.pop(t0 + secs(3)).map(|p| p.key)).collect();
        assert_eq!(order, ["default/high-early", "default/high-late", "default/low"]);
    }

    #[test]
    fn backoff_durations() {
        let q = SchedulingQueue::default();
        let got: Vec<u64> = (1..=6).map(|a| q.backoff_duration(a).as_secs()).collect();
        assert_eq!(got, [1, 2, 4, 8, 10, 10]);
    }

    #[test]
    fn unschedulable_moves_on_relevant_events_into_backoff() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::default();
        q.add(Arc::new(pod("p").build()), t0);
        let p = q.pop(t0).unwrap();
        q.add_unschedulable(&p.key, p.pod.clone(), ["NodeResourcesFit".to_string()].into(), false, t0);
        assert_eq!(q.counts(), (0, 0, 1, 0));
        // Irrelevant event: stays.
        q.move_on_event(ClusterEvent::Namespace, t0 + Duration::from_millis(100));
        assert_eq!(q.counts(), (0, 0, 1, 0));
        // Relevant event within the backoff window: backoff, then active at t0+1s.
        q.move_on_event(ClusterEvent::AssignedPodDelete, t0 + Duration::from_millis(200));
        assert_eq!(q.counts(), (0, 1, 0, 0));
        assert!(q.pop(t0 + Duration::from_millis(900)).is_none());
        assert_eq!(q.next_wakeup(), Some(t0 + secs(1)));
        let again = q.pop(t0 + secs(1)).unwrap();
        assert_eq!(again.attempts, 2);
        // Second failure: 2 s backoff after a move.
        q.add_unschedulable(&again.key, again.pod.clone(), BTreeSet::new(), false, t0 + secs(1));
        q.move_on_event(ClusterEvent::NodeAdd, t0 + secs(1));
        assert!(q.pop(t0 + Duration::from_millis(2900)).is_none());
        assert!(q.pop(t0 + secs(3)).is_some());
    }

    #[test]
    fn move_during_attempt_sends_to_backoff() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::default();
        q.add(Arc::new(pod("p").build()), t0);
        let p = q.pop(t0).unwrap();
        q.move_on_event(ClusterEvent::NodeAdd, t0);
        q.add_unschedulable(&p.key, p.pod.clone(), ["NodeAffinity".to_string()].into(), false, t0);
        assert_eq!(q.counts(), (0, 1, 0, 0));
    }

    #[test]
    fn errors_back_off_and_unschedulable_flushes_after_five_minutes() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::default();
        q.add(Arc::new(pod("e").build()), t0);
        let p = q.pop(t0).unwrap();
        q.add_unschedulable(&p.key, p.pod.clone(), BTreeSet::new(), true, t0);
        assert_eq!(q.counts(), (0, 1, 0, 0));
        let p = q.pop(t0 + secs(1)).unwrap();
        q.add_unschedulable(&p.key, p.pod.clone(), ["NodeAffinity".to_string()].into(), false, t0 + secs(1));
        assert_eq!(q.counts(), (0, 0, 1, 0));
        q.flush(t0 + secs(100));
        assert_eq!(q.counts(), (0, 0, 1, 0));
        assert!(q.pop(t0 + secs(301)).is_some());
    }

    #[test]
    fn done_and_delete_forget() {
        let t0 = Instant::now();
        let mut q = SchedulingQueue::default();
        q.add(Arc::new(pod("a").build()), t0);
        q.add(Arc::new(pod("b").build()), t0);
        let a = q.pop(t0).unwrap();
        q.done(&a.key);
        q.delete("default/b");
        assert!(q.is_empty());
        assert!(q.pop(t0).is_none());
    }
}
