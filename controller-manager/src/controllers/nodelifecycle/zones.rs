//! Per-zone disruption tracking and NoExecute tainting rate limits: the
//! pure core of upstream's `handleDisruption`, `ComputeZoneState`,
//! `setLimiterInZone`, `HealthyQPSFunc`/`ReducedQPSFunc` and the per-zone
//! `RateLimitedTimedQueue` token buckets
//! (`pkg/controller/nodelifecycle/node_lifecycle_controller.go`,
//! `.../scheduler/rate_limited_queue.go`). No I/O; time is passed in.
//!
//! Semantics:
//! - a node's zone is `<region>:\0:<zone>` from the
//!   `failure-domain.beta.kubernetes.io/{zone,region}` labels, falling back
//!   to `topology.kubernetes.io/{zone,region}`; `""` when neither is set
//!   (upstream `nodetopology.GetZoneKey`);
//! - every zone starts `Initial` with a token bucket at
//!   `--node-eviction-rate` (burst 1) the first time one of its nodes is seen;
//! - each monitor pass computes every zone's state from the Ready
//!   conditions of its nodes (nodes labelled
//!   `node.kubernetes.io/exclude-disruption` are left out): no Ready node
//!   → `FullDisruption`; more than 2 not-ready nodes and at least
//!   `--unhealthy-zone-threshold` (0.55) of them → `PartialDisruption`;
//!   otherwise `Normal`;
//! - a zone whose state changes gets the rate for its new state: `Normal`
//!   → `--node-eviction-rate` (0.1/s); `PartialDisruption` →
//!   `--secondary-node-eviction-rate` (0.01/s) when the zone has more than
//!   `--large-cluster-size-threshold` (50) nodes, else 0 (stop);
//!   `FullDisruption` → `--node-eviction-rate` again (a zone that is down
//!   while others are up is evicted at the normal rate);
//! - when *every* zone is fully disrupted the control plane is presumed cut
//!   off ("master disruption mode"): every limiter is set to 0 and the
//!   controller removes the NoExecute not-ready/unreachable taints from all
//!   nodes; when one zone comes back, every zone gets the rate for its
//!   state and the nodes' probe times are reset (a fresh grace period).
//!
//! Swapping a limiter follows `SwapLimiter`: nothing happens when the rate
//! is unchanged; a new bucket starts empty if the old one was empty.

use std::collections::BTreeMap;
use std::fmt;

use k8s_openapi::jiff::Timestamp;

pub const LABEL_ZONE: &str = "topology.kubernetes.io/zone";
pub const LABEL_REGION: &str = "topology.kubernetes.io/region";
pub const LABEL_ZONE_BETA: &str = "failure-domain.beta.kubernetes.io/zone";
pub const LABEL_REGION_BETA: &str = "failure-domain.beta.kubernetes.io/region";
/// Nodes with this label are not counted in their zone's state.
pub const LABEL_EXCLUDE_DISRUPTION: &str = "node.kubernetes.io/exclude-disruption";

/// Upstream `nodetopology.GetZoneKey`: unique per (region, zone); `""` for
/// a node with neither label.
pub fn zone_key(labels: Option<&BTreeMap<String, String>>) -> String {
    let Some(labels) = labels else { return String::new() };
    let pick = |beta: &str, ga: &str| labels.get(beta).or_else(|| labels.get(ga)).map(String::as_str).unwrap_or("");
    let zone = pick(LABEL_ZONE_BETA, LABEL_ZONE);
    let region = pick(LABEL_REGION_BETA, LABEL_REGION);
    if zone.is_empty() && region.is_empty() {
        return String::new();
    }
    format!("{region}:\0:{zone}")
}

/// Whether the node is left out of its zone's state.
pub fn excluded_from_disruption(labels: Option<&BTreeMap<String, String>>) -> bool {
    labels.is_some_and(|l| l.contains_key(LABEL_EXCLUDE_DISRUPTION))
}

/// Upstream `ZoneState`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ZoneState {
    Initial,
    Normal,
    PartialDisruption,
    FullDisruption,
}

impl fmt::Display for ZoneState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ZoneState::Initial => "Initial",
            ZoneState::Normal => "Normal",
            ZoneState::PartialDisruption => "PartialDisruption",
            ZoneState::FullDisruption => "FullDisruption",
        })
    }
}

/// The eviction flags (upstream defaults in `Default`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvictionConfig {
    /// `--node-eviction-rate` (nodes per second).
    pub rate: f64,
    /// `--secondary-node-eviction-rate`.
    pub secondary_rate: f64,
    /// `--large-cluster-size-threshold` (nodes in a zone).
    pub large_cluster_threshold: usize,
    /// `--unhealthy-zone-threshold` (fraction of not-ready nodes).
    pub unhealthy_zone_threshold: f64,
}

impl Default for EvictionConfig {
    fn default() -> Self {
        EvictionConfig { rate: 0.1, secondary_rate: 0.01, large_cluster_threshold: 50, unhealthy_zone_threshold: 0.55 }
    }
}

impl EvictionConfig {
    /// Upstream `ComputeZoneState`: the number of not-ready nodes and the
    /// state, from one `ready` flag per node (Ready condition True).
    pub fn zone_state(&self, ready: &[bool]) -> (usize, ZoneState) {
        let not_ready = ready.iter().filter(|r| !**r).count();
        let ready_count = ready.len() - not_ready;
        let state = if ready_count == 0 && not_ready > 0 {
            ZoneState::FullDisruption
        } else if not_ready > 2 && (not_ready as f64) / (ready.len() as f64) >= self.unhealthy_zone_threshold {
            ZoneState::PartialDisruption
        } else {
            ZoneState::Normal
        };
        (not_ready, state)
    }

    /// Upstream `setLimiterInZone` with `HealthyQPSFunc` (full disruption)
    /// and `ReducedQPSFunc` (partial disruption): the rate for a zone of
    /// `size` nodes in `state`; `None` for `Initial` (left as it is).
    pub fn zone_rate(&self, state: ZoneState, size: usize) -> Option<f64> {
        match state {
            ZoneState::Initial => None,
            ZoneState::Normal | ZoneState::FullDisruption => Some(self.rate),
            ZoneState::PartialDisruption if size > self.large_cluster_threshold => Some(self.secondary_rate),
            ZoneState::PartialDisruption => Some(0.0),
        }
    }
}

/// A token bucket of burst 1 over injected time (client-go's
/// `NewTokenBucketRateLimiter(qps, 1)`); a rate of 0 or less never
/// accepts (`NewFakeNeverRateLimiter`).
#[derive(Debug, Clone, PartialEq)]
pub struct TokenBucket {
    qps: f64,
    tokens: f64,
    last: Timestamp,
}

impl TokenBucket {
    /// A full bucket.
    pub fn new(qps: f64, now: Timestamp) -> TokenBucket {
        TokenBucket { qps: qps.max(0.0), tokens: 1.0, last: now }
    }

    pub fn qps(&self) -> f64 {
        self.qps
    }

    fn refill(&mut self, now: Timestamp) {
        let elapsed = now.duration_since(self.last).as_secs_f64().max(0.0);
        if now > self.last {
            self.last = now;
        }
        self.tokens = (self.tokens + elapsed * self.qps).min(1.0);
    }

    /// Takes a token if one is available.
    pub fn try_accept(&mut self, now: Timestamp) -> bool {
        if self.qps <= 0.0 {
            return false;
        }
        self.refill(now);
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Upstream `SwapLimiter`: a new bucket at `qps` unless the rate is
    /// unchanged; it starts drained when the old one had no token.
    pub fn swap(&mut self, qps: f64, now: Timestamp) {
        let qps = qps.max(0.0);
        if self.qps == qps {
            return;
        }
        let old_empty = !self.try_accept(now);
        *self = TokenBucket::new(qps, now);
        if qps > 0.0 && old_empty {
            self.tokens = 0.0;
        }
    }
}

/// How a monitor pass changed the cluster-wide mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No cluster-wide change (zones may still have changed state).
    Steady,
    /// Every zone is now fully disrupted: stop all evictions and remove
    /// the NoExecute not-ready/unreachable taints from every node.
    EnterMasterDisruption,
    /// Some zone is back: reset every node's probe time.
    ExitMasterDisruption,
}

/// What `handle_disruption` decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    pub mode: Mode,
    /// Zones whose state changed, with the new state.
    pub changed: Vec<(String, ZoneState)>,
}

/// Zone states and the per-zone NoExecute tainting limiters.
#[derive(Debug, Clone)]
pub struct Zones {
    config: EvictionConfig,
    states: BTreeMap<String, ZoneState>,
    /// Never removed, as upstream's `zoneNoExecuteTainter`.
    limiters: BTreeMap<String, TokenBucket>,
}

impl Zones {
    pub fn new(config: EvictionConfig) -> Zones {
        Zones { config, states: BTreeMap::new(), limiters: BTreeMap::new() }
    }

    pub fn state(&self, zone: &str) -> Option<ZoneState> {
        self.states.get(zone).copied()
    }

    /// The zone's current tainting rate.
    pub fn rate(&self, zone: &str) -> Option<f64> {
        self.limiters.get(zone).map(TokenBucket::qps)
    }

    /// Upstream `addPodEvictorForNewZone`: a zone seen for the first time
    /// (or again after it had no counted node) starts `Initial`.
    pub fn observe_zone(&mut self, zone: &str, now: Timestamp) {
        if !self.states.contains_key(zone) {
            self.states.insert(zone.to_string(), ZoneState::Initial);
            let rate = self.config.rate;
            self.limiters.entry(zone.to_string()).or_insert_with(|| TokenBucket::new(rate, now));
        }
    }

    /// Whether the zone's limiter lets one more node be NoExecute-tainted.
    pub fn try_taint(&mut self, zone: &str, now: Timestamp) -> bool {
        let rate = self.config.rate;
        self.limiters.entry(zone.to_string()).or_insert_with(|| TokenBucket::new(rate, now)).try_accept(now)
    }

    fn set_limiter(&mut self, zone: &str, size: usize, state: ZoneState, now: Timestamp) {
        if let Some(rate) = self.config.zone_rate(state, size) {
            let default = self.config.rate;
            self.limiters.entry(zone.to_string()).or_insert_with(|| TokenBucket::new(default, now)).swap(rate, now);
        }
    }

    /// Upstream `handleDisruption`: `zone_ready` holds, per zone, one
    /// Ready flag for each counted node.
    pub fn handle_disruption(&mut self, zone_ready: &BTreeMap<String, Vec<bool>>, now: Timestamp) -> Outcome {
        let mut new_states: BTreeMap<&str, ZoneState> = BTreeMap::new();
        let mut all_are_full = true;
        for (zone, ready) in zone_ready {
            let (_, state) = self.config.zone_state(ready);
            all_are_full &= state == ZoneState::FullDisruption;
            new_states.insert(zone, state);
            self.observe_zone(zone, now);
        }
        // Zones without counted nodes are forgotten; the rest decide
        // whether the cluster was in master disruption mode.
        self.states.retain(|zone, _| zone_ready.contains_key(zone));
        let all_were_full = self.states.values().all(|s| *s == ZoneState::FullDisruption);
        let mut outcome = Outcome { mode: Mode::Steady, changed: Vec::new() };
        if all_are_full && all_were_full {
            return outcome;
        }
        if all_are_full {
            for zone in self.states.keys() {
                if let Some(limiter) = self.limiters.get_mut(zone) {
                    limiter.swap(0.0, now);
                }
            }
            for (zone, state) in self.states.iter_mut() {
                if *state != ZoneState::FullDisruption {
                    outcome.changed.push((zone.clone(), ZoneState::FullDisruption));
                }
                *state = ZoneState::FullDisruption;
            }
            outcome.mode = Mode::EnterMasterDisruption;
            return outcome;
        }
        if all_were_full {
            outcome.mode = Mode::ExitMasterDisruption;
        }
        let zones: Vec<String> = self.states.keys().cloned().collect();
        for zone in zones {
            let new = new_states.get(zone.as_str()).copied().unwrap_or(ZoneState::Normal);
            let old = self.states.get(&zone).copied();
            // On exit every limiter is reset, changed or not.
            if old == Some(new) && outcome.mode != Mode::ExitMasterDisruption {
                continue;
            }
            let size = zone_ready.get(&zone).map_or(0, Vec::len);
            self.set_limiter(&zone, size, new, now);
            self.states.insert(zone.clone(), new);
            if old != Some(new) {
                outcome.changed.push((zone, new));
            }
        }
        outcome
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: i64) -> Timestamp {
        Timestamp::from_millisecond(ms).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    type Labels = Option<BTreeMap<String, String>>;

    #[test]
    fn zone_keys() {
        let cases: Vec<(&str, Labels, &str)> = vec![
            ("no labels", None, ""),
            ("unrelated labels", Some(labels(&[("a", "b")])), ""),
            ("zone only", Some(labels(&[(LABEL_ZONE, "z1")])), ":\0:z1"),
            ("region only", Some(labels(&[(LABEL_REGION, "r1")])), "r1:\0:"),
            ("both", Some(labels(&[(LABEL_ZONE, "z1"), (LABEL_REGION, "r1")])), "r1:\0:z1"),
            ("beta wins", Some(labels(&[(LABEL_ZONE, "z1"), (LABEL_ZONE_BETA, "old"), (LABEL_REGION, "r1")])), "r1:\0:old"),
            ("empty values", Some(labels(&[(LABEL_ZONE, ""), (LABEL_REGION, "")])), ""),
            ("colon in names", Some(labels(&[(LABEL_ZONE, "a:b"), (LABEL_REGION, "r")])), "r:\0:a:b"),
        ];
        for (name, l, want) in cases {
            assert_eq!(zone_key(l.as_ref()), want, "{name}");
        }
        assert!(excluded_from_disruption(Some(&labels(&[(LABEL_EXCLUDE_DISRUPTION, "")]))));
        assert!(!excluded_from_disruption(None));
    }

    #[test]
    fn zone_states() {
        let c = EvictionConfig::default();
        let mk = |ready: usize, not: usize| {
            let mut v = vec![true; ready];
            v.extend(vec![false; not]);
            v
        };
        let cases = vec![
            ("empty", mk(0, 0), (0, ZoneState::Normal)),
            ("all ready", mk(5, 0), (0, ZoneState::Normal)),
            ("one down of two", mk(1, 1), (1, ZoneState::Normal)),
            ("all down (1)", mk(0, 1), (1, ZoneState::FullDisruption)),
            ("all down (2)", mk(0, 2), (2, ZoneState::FullDisruption)),
            ("2 of 3: needs at least 3 not ready", mk(1, 2), (2, ZoneState::Normal)),
            ("3 of 4", mk(1, 3), (3, ZoneState::PartialDisruption)),
            ("3 of 6: below 55 %", mk(3, 3), (3, ZoneState::Normal)),
            ("11 of 20: exactly 55 %", mk(9, 11), (11, ZoneState::PartialDisruption)),
            ("10 of 20", mk(10, 10), (10, ZoneState::Normal)),
        ];
        for (name, ready, want) in cases {
            assert_eq!(c.zone_state(&ready), want, "{name}");
        }
    }

    #[test]
    fn rates_per_zone_size() {
        let c = EvictionConfig::default();
        let cases = vec![
            (ZoneState::Initial, 10, None),
            (ZoneState::Normal, 10, Some(0.1)),
            (ZoneState::Normal, 100, Some(0.1)),
            (ZoneState::FullDisruption, 3, Some(0.1)),
            (ZoneState::PartialDisruption, 50, Some(0.0)),
            (ZoneState::PartialDisruption, 51, Some(0.01)),
            (ZoneState::PartialDisruption, 4, Some(0.0)),
        ];
        for (state, size, want) in cases {
            assert_eq!(c.zone_rate(state, size), want, "{state} {size}");
        }
    }

    #[test]
    fn token_bucket() {
        let mut b = TokenBucket::new(0.1, at(0));
        assert!(b.try_accept(at(0)), "starts full");
        assert!(!b.try_accept(at(5_000)));
        assert!(b.try_accept(at(10_000)));
        // Burst 1: a long idle time still gives one token.
        assert!(b.try_accept(at(100_000)));
        assert!(!b.try_accept(at(100_001)));
        // Swapping while empty keeps it empty; same rate is a no-op.
        b.swap(0.1, at(100_002));
        assert_eq!(b.qps(), 0.1);
        b.swap(1.0, at(100_002));
        assert!(!b.try_accept(at(100_500)));
        assert!(b.try_accept(at(101_002)));
        // A full bucket swapped stays full.
        let mut full = TokenBucket::new(0.1, at(0));
        full.swap(0.01, at(0));
        assert!(full.try_accept(at(0)));
        // Zero never accepts.
        let mut never = TokenBucket::new(0.1, at(0));
        never.swap(0.0, at(0));
        assert!(!never.try_accept(at(1_000_000)));
    }

    fn zones_map(entries: &[(&str, usize, usize)]) -> BTreeMap<String, Vec<bool>> {
        entries
            .iter()
            .map(|(z, ready, not)| {
                let mut v = vec![true; *ready];
                v.extend(vec![false; *not]);
                (z.to_string(), v)
            })
            .collect()
    }

    #[test]
    fn all_zones_down_stops_evictions_and_recovery_resets() {
        let mut z = Zones::new(EvictionConfig::default());
        let healthy = zones_map(&[("a", 3, 0), ("b", 3, 0)]);
        let out = z.handle_disruption(&healthy, at(0));
        assert_eq!(out.mode, Mode::Steady);
        assert_eq!(out.changed, vec![("a".into(), ZoneState::Normal), ("b".into(), ZoneState::Normal)]);
        let down = zones_map(&[("a", 0, 3), ("b", 0, 3)]);
        let out = z.handle_disruption(&down, at(1_000));
        assert_eq!(out.mode, Mode::EnterMasterDisruption);
        assert_eq!((z.rate("a"), z.rate("b")), (Some(0.0), Some(0.0)));
        assert!(!z.try_taint("a", at(100_000)));
        // Staying down: nothing changes.
        assert_eq!(z.handle_disruption(&down, at(2_000)), Outcome { mode: Mode::Steady, changed: vec![] });
        assert_eq!(z.rate("a"), Some(0.0));
        // One zone back: exit, every limiter reset for its state.
        let out = z.handle_disruption(&zones_map(&[("a", 3, 0), ("b", 0, 3)]), at(3_000));
        assert_eq!(out.mode, Mode::ExitMasterDisruption);
        assert_eq!(out.changed, vec![("a".into(), ZoneState::Normal)]);
        assert_eq!((z.rate("a"), z.rate("b")), (Some(0.1), Some(0.1)));
        assert_eq!(z.state("b"), Some(ZoneState::FullDisruption));
    }

    #[test]
    fn first_pass_with_every_node_down_is_master_disruption() {
        let mut z = Zones::new(EvictionConfig::default());
        let out = z.handle_disruption(&zones_map(&[("", 0, 2)]), at(0));
        assert_eq!(out.mode, Mode::EnterMasterDisruption);
        assert_eq!(z.rate(""), Some(0.0));
    }

    #[test]
    fn one_zone_down_while_others_healthy() {
        let mut z = Zones::new(EvictionConfig::default());
        let out = z.handle_disruption(&zones_map(&[("a", 0, 4), ("b", 4, 0), ("c", 1, 5)]), at(0));
        assert_eq!(out.mode, Mode::Steady);
        assert_eq!(z.state("a"), Some(ZoneState::FullDisruption));
        assert_eq!(z.state("b"), Some(ZoneState::Normal));
        assert_eq!(z.state("c"), Some(ZoneState::PartialDisruption));
        // The fully disrupted zone is evicted at the normal rate; the small
        // partially disrupted one not at all.
        assert_eq!((z.rate("a"), z.rate("b"), z.rate("c")), (Some(0.1), Some(0.1), Some(0.0)));
        assert!(z.try_taint("a", at(0)));
        assert!(!z.try_taint("a", at(1_000)), "per-zone bucket used up");
        assert!(z.try_taint("b", at(1_000)), "other zones have their own bucket");
        assert!(!z.try_taint("c", at(1_000)));
        assert!(z.try_taint("a", at(11_000)));
    }

    #[test]
    fn large_zone_partial_disruption_uses_secondary_rate() {
        let mut z = Zones::new(EvictionConfig::default());
        z.handle_disruption(&zones_map(&[("big", 60, 0), ("small", 10, 0)]), at(0));
        assert_eq!(z.rate("big"), Some(0.1));
        let out = z.handle_disruption(&zones_map(&[("big", 20, 40), ("small", 10, 0)]), at(1_000));
        assert_eq!(out.changed, vec![("big".into(), ZoneState::PartialDisruption)]);
        assert_eq!((z.rate("big"), z.rate("small")), (Some(0.01), Some(0.1)));
        // Back to normal.
        z.handle_disruption(&zones_map(&[("big", 60, 0), ("small", 10, 0)]), at(2_000));
        assert_eq!(z.rate("big"), Some(0.1));
    }

    #[test]
    fn vanished_zone_is_forgotten_and_restarts_initial() {
        let mut z = Zones::new(EvictionConfig::default());
        z.handle_disruption(&zones_map(&[("a", 1, 0), ("b", 1, 0)]), at(0));
        z.handle_disruption(&zones_map(&[("a", 1, 0)]), at(1_000));
        assert_eq!(z.state("b"), None);
        z.observe_zone("b", at(2_000));
        assert_eq!(z.state("b"), Some(ZoneState::Initial));
        // Its limiter survives (upstream never removes tainters).
        assert_eq!(z.rate("b"), Some(0.1));
    }
}
