//! Upstream client-go's `EventCorrelator` (`tools/record/events_cache.go`),
//! pure: time is passed in, and the result says what to write.
//!
//! For each event, in upstream's order:
//! 1. **Aggregation**: events that differ only by message (same source,
//!    object, type and reason) are counted per 10 minutes; from the 10th
//!    distinct message on, the event becomes one
//!    `(combined from similar events): <message>` event keyed by the
//!    aggregate key instead of the message.
//! 2. **Logging**: an event whose key was seen before is not created again
//!    but patched on the event already written (`count` + 1, new
//!    `lastTimestamp` and message). Event names are chosen here
//!    (`<object>.<unix nanos in hex>`), so a later patch knows its target
//!    without waiting for the create's answer.
//! 3. **Spam filter**: a token bucket per source and object (burst 25,
//!    one token per 5 minutes): events beyond it are dropped. This is what
//!    keeps a 10,000-replica ReplicaSet at a few dozen event writes.
//!
//! Caches are bounded (upstream's LRU of 4,096 entries per cache).

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Event, EventSource, ObjectReference};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ObjectMeta, Time};
use k8s_openapi::jiff::Timestamp;
use serde_json::json;

/// Entries per cache (upstream `maxLruCacheEntries`).
pub const CACHE_ENTRIES: usize = 4096;
/// Distinct messages before aggregating (upstream `defaultAggregateMaxEvents`).
pub const AGGREGATE_MAX_EVENTS: usize = 10;
/// Window of the aggregation count (upstream `defaultAggregateIntervalInSeconds`).
pub const AGGREGATE_INTERVAL: Duration = Duration::from_secs(600);
/// Events a source may emit about one object at once (upstream `defaultSpamBurst`).
pub const SPAM_BURST: f64 = 25.0;
/// Refill of the spam bucket, tokens per second (upstream `defaultSpamQPS`).
pub const SPAM_QPS: f64 = 1.0 / 300.0;
/// Prefix of aggregated messages (upstream `EventAggregatorByReasonMessageFunc`).
pub const AGGREGATED_PREFIX: &str = "(combined from similar events): ";

/// An event as a controller reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct Draft {
    pub involved: ObjectReference,
    /// `Normal` or `Warning`.
    pub type_: String,
    pub reason: String,
    pub message: String,
}

/// What to write.
#[derive(Debug, Clone, PartialEq)]
pub enum Action {
    /// Create this event.
    Create(Event),
    /// Merge-patch the existing event `event.metadata.name` with `patch`
    /// (count, lastTimestamp, message); if it is gone, create `event`.
    Patch { event: Event, patch: serde_json::Value },
}

/// A small bounded map: when full, the least recently used half is dropped
/// (amortised O(1) per insert, close enough to upstream's LRU).
struct Bounded<V> {
    map: HashMap<String, (V, u64)>,
    tick: u64,
    capacity: usize,
}

impl<V> Bounded<V> {
    fn new(capacity: usize) -> Self {
        Bounded { map: HashMap::new(), tick: 0, capacity: capacity.max(2) }
    }

    /// The entry for `key`, created with `init` if absent; marks it used.
    fn entry(&mut self, key: &str, init: impl FnOnce() -> V) -> &mut V {
        self.tick += 1;
        if !self.map.contains_key(key) && self.map.len() >= self.capacity {
            let mut ticks: Vec<u64> = self.map.values().map(|(_, t)| *t).collect();
            let mid = ticks.len() / 2;
            let (_, cut, _) = ticks.select_nth_unstable(mid);
            let cut = *cut;
            self.map.retain(|_, (_, t)| *t > cut);
        }
        let tick = self.tick;
        let slot = self.map.entry(key.to_string()).or_insert_with(|| (init(), tick));
        slot.1 = tick;
        &mut slot.0
    }

    fn get(&mut self, key: &str) -> Option<&mut V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(key).map(|slot| {
            slot.1 = tick;
            &mut slot.0
        })
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map.len()
    }
}

struct Bucket {
    tokens: f64,
    at: Instant,
}

struct Aggregate {
    messages: HashSet<String>,
    last: Instant,
}

struct Log {
    count: i32,
    first: Timestamp,
    name: String,
}

/// One recorder's correlation state.
pub struct Correlator {
    component: String,
    spam: Bounded<Bucket>,
    aggregates: Bounded<Aggregate>,
    logs: Bounded<Log>,
}

fn object_key(component: &str, r: &ObjectReference) -> String {
    let f = |s: &Option<String>| s.clone().unwrap_or_default();
    [component.to_string(), String::new(), f(&r.kind), f(&r.namespace), f(&r.name), f(&r.uid), f(&r.api_version)].join("\u{0}")
}

impl Correlator {
    /// `component` is the event source (upstream's reporting controller).
    pub fn new(component: &str) -> Correlator {
        Correlator::with_capacity(component, CACHE_ENTRIES)
    }

    fn with_capacity(component: &str, capacity: usize) -> Correlator {
        Correlator {
            component: component.to_string(),
            spam: Bounded::new(capacity),
            aggregates: Bounded::new(capacity),
            logs: Bounded::new(capacity),
        }
    }

    /// Upstream `EventCorrelate`: what to write for `draft`, or `None` when
    /// the spam filter drops it. `now` drives the caches, `wall` the
    /// event's timestamps and name.
    pub fn correlate(&mut self, draft: Draft, now: Instant, wall: Timestamp) -> Option<Action> {
        let object = object_key(&self.component, &draft.involved);
        let aggregate_key = [object.as_str(), &draft.type_, &draft.reason, &self.component, ""].join("\u{0}");
        let aggregated = self.aggregate(&aggregate_key, &draft.message, now);
        let message = if aggregated { format!("{AGGREGATED_PREFIX}{}", draft.message) } else { draft.message.clone() };
        let key = if aggregated {
            aggregate_key
        } else {
            let field_path = draft.involved.field_path.clone().unwrap_or_default();
            [object.as_str(), &field_path, &draft.type_, &draft.reason, &draft.message].join("\u{0}")
        };
        let action = self.observe(&key, &draft, message, wall);
        self.allow(&object, now).then_some(action)
    }

    /// Upstream `EventAggregate`: whether this event is to be aggregated.
    fn aggregate(&mut self, key: &str, message: &str, now: Instant) -> bool {
        let record = self.aggregates.entry(key, || Aggregate { messages: HashSet::new(), last: now });
        if now.saturating_duration_since(record.last) > AGGREGATE_INTERVAL {
            record.messages.clear();
        }
        record.last = now;
        record.messages.insert(message.to_string());
        if record.messages.len() < AGGREGATE_MAX_EVENTS {
            return false;
        }
        // Upstream pops one message so the set never grows past the limit.
        if let Some(any) = record.messages.iter().next().cloned() {
            record.messages.remove(&any);
        }
        true
    }

    /// Upstream `eventObserve`: a create for a new key, a patch of the
    /// event already written for a known one.
    fn observe(&mut self, key: &str, draft: &Draft, message: String, wall: Timestamp) -> Action {
        let namespace = draft.involved.namespace.clone().filter(|ns| !ns.is_empty()).unwrap_or_else(|| "default".into());
        let object_name = draft.involved.name.clone().unwrap_or_default();
        let mut event = Event {
            metadata: ObjectMeta {
                name: Some(format!("{object_name}.{:x}", wall.as_nanosecond().max(0))),
                namespace: Some(namespace),
                ..ObjectMeta::default()
            },
            involved_object: draft.involved.clone(),
            reason: Some(draft.reason.clone()),
            message: Some(message),
            type_: Some(draft.type_.clone()),
            source: Some(EventSource { component: Some(self.component.clone()), host: None }),
            first_timestamp: Some(Time(wall)),
            last_timestamp: Some(Time(wall)),
            count: Some(1),
            reporting_component: Some(self.component.clone()),
            reporting_instance: Some(String::new()),
            ..Event::default()
        };
        match self.logs.get(key) {
            Some(log) => {
                log.count += 1;
                event.metadata.name = Some(log.name.clone());
                event.first_timestamp = Some(Time(log.first));
                event.count = Some(log.count);
                let patch = json!({"count": log.count, "lastTimestamp": Time(wall), "message": event.message});
                Action::Patch { event, patch }
            }
            None => {
                let name = event.metadata.name.clone().unwrap_or_default();
                self.logs.entry(key, || Log { count: 1, first: wall, name });
                Action::Create(event)
            }
        }
    }

    /// Upstream `EventSourceObjectSpamFilter`: a token bucket per source
    /// and object.
    fn allow(&mut self, object: &str, now: Instant) -> bool {
        let bucket = self.spam.entry(object, || Bucket { tokens: SPAM_BURST, at: now });
        let elapsed = now.saturating_duration_since(bucket.at).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * SPAM_QPS).min(SPAM_BURST);
        bucket.at = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    /// Entries held (spam buckets, aggregates, logs), for tests.
    #[cfg(test)]
    fn sizes(&self) -> (usize, usize, usize) {
        (self.spam.len(), self.aggregates.len(), self.logs.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn draft(object: &str, reason: &str, message: &str) -> Draft {
        Draft {
            involved: ObjectReference {
                kind: Some("ReplicaSet".into()),
                api_version: Some("apps/v1".into()),
                namespace: Some("ns".into()),
                name: Some(object.into()),
                uid: Some(format!("uid-{object}")),
                ..ObjectReference::default()
            },
            type_: "Normal".into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    fn summary(action: &Option<Action>) -> String {
        match action {
            None => "drop".into(),
            Some(Action::Create(e)) => format!("create {}", e.message.as_deref().unwrap_or("")),
            Some(Action::Patch { event, patch }) => {
                format!("patch {} count={} {}", event.metadata.name.as_deref().unwrap_or(""), patch["count"], patch["message"].as_str().unwrap_or(""))
            }
        }
    }

    #[test]
    fn identical_events_are_patched_with_a_count() {
        let mut c = Correlator::new("replicaset-controller");
        let t0 = Instant::now();
        let wall = Timestamp::from_second(1_700_000_000).unwrap_or(Timestamp::UNIX_EPOCH);
        let first = c.correlate(draft("rs", "FailedCreate", "quota"), t0, wall);
        let Some(Action::Create(created)) = &first else { panic!("expected a create, got {first:?}") };
        assert_eq!(created.metadata.name.as_deref(), Some(format!("rs.{:x}", wall.as_nanosecond()).as_str()));
        assert_eq!(created.metadata.namespace.as_deref(), Some("ns"));
        assert_eq!(created.source.as_ref().and_then(|s| s.component.as_deref()), Some("replicaset-controller"));
        let second = c.correlate(draft("rs", "FailedCreate", "quota"), t0, wall);
        let name = created.metadata.name.clone().unwrap_or_default();
        assert_eq!(summary(&second), format!("patch {name} count=2 quota"));
        if let Some(Action::Patch { event, .. }) = second {
            assert_eq!(event.count, Some(2));
            assert_eq!(event.first_timestamp, Some(Time(wall)));
        }
    }

    #[test]
    fn distinct_messages_aggregate_then_the_spam_filter_drops() {
        let mut c = Correlator::new("replicaset-controller");
        let t0 = Instant::now();
        let wall = Timestamp::UNIX_EPOCH;
        let results: Vec<String> =
            (0..40).map(|i| summary(&c.correlate(draft("rs", "SuccessfulCreate", &format!("Created pod: p{i}")), t0, wall))).collect();
        // 9 distinct creates, then one aggregated event patched on.
        for (i, r) in results.iter().enumerate().take(9) {
            assert_eq!(r, &format!("create Created pod: p{i}"));
        }
        assert_eq!(results[9], "create (combined from similar events): Created pod: p9");
        assert!(results[10].starts_with("patch rs.0 count=2 (combined from similar events): Created pod: p10"), "{}", results[10]);
        // The bucket holds 25 events; the rest are dropped.
        assert!(results[24].starts_with("patch"));
        assert!(results[25..].iter().all(|r| r == "drop"), "{results:?}");
        // Other objects have their own bucket; time refills one token per 5 minutes.
        assert_eq!(summary(&c.correlate(draft("other", "SuccessfulCreate", "x"), t0, wall)), "create x");
        let later = t0 + Duration::from_secs(301);
        assert!(summary(&c.correlate(draft("rs", "SuccessfulCreate", "Created pod: late"), later, wall)).starts_with("patch"));
        assert_eq!(summary(&c.correlate(draft("rs", "SuccessfulCreate", "Created pod: late2"), later, wall)), "drop");
    }

    #[test]
    fn aggregation_window_expires() {
        let mut c = Correlator::new("x");
        let t0 = Instant::now();
        for i in 0..9 {
            c.correlate(draft("rs", "R", &format!("m{i}")), t0, Timestamp::UNIX_EPOCH);
        }
        let later = t0 + AGGREGATE_INTERVAL + Duration::from_secs(1);
        assert_eq!(summary(&c.correlate(draft("rs", "R", "m9"), later, Timestamp::UNIX_EPOCH)), "create m9");
    }

    #[test]
    fn caches_stay_bounded() {
        let mut c = Correlator::with_capacity("x", 64);
        let t0 = Instant::now();
        for i in 0..1000 {
            c.correlate(draft(&format!("o{i}"), "R", "m"), t0, Timestamp::UNIX_EPOCH);
        }
        let (spam, aggregates, logs) = c.sizes();
        assert!(spam <= 64 && aggregates <= 64 && logs <= 64, "{spam} {aggregates} {logs}");
    }
}
