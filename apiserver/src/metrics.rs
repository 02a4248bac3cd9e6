//! Prometheus metrics: request counts and latency histograms by
//! verb/resource/code, active watches, cached objects.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

const BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Default)]
struct Histogram {
    counts: Vec<u64>,
    sum: f64,
    count: u64,
}

impl Histogram {
    fn observe(&mut self, secs: f64) {
        if self.counts.is_empty() {
            self.counts = vec![0; BUCKETS.len()];
        }
        for (i, b) in BUCKETS.iter().enumerate() {
            if secs <= *b {
                self.counts[i] += 1;
            }
        }
        self.sum += secs;
        self.count += 1;
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        for (i, b) in BUCKETS.iter().enumerate() {
            let _ = writeln!(out, "{name}_bucket{{{labels},le=\"{b}\"}} {}", self.counts.get(i).copied().unwrap_or(0));
        }
        let _ = writeln!(out, "{name}_bucket{{{labels},le=\"+Inf\"}} {}", self.count);
        let _ = writeln!(out, "{name}_sum{{{labels}}} {}", self.sum);
        let _ = writeln!(out, "{name}_count{{{labels}}} {}", self.count);
    }
}

#[derive(Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<(String, String), Histogram>>,
    storage: Mutex<BTreeMap<(&'static str, bool), Histogram>>,
    watches: AtomicI64,
}

impl Metrics {
    pub fn observe_request(&self, verb: &str, resource: &str, code: u16, elapsed: Duration) {
        *self.requests.lock().entry((verb.to_string(), resource.to_string(), code)).or_default() += 1;
        if verb == "watch" {
            return;
        }
        self.latency.lock().entry((verb.to_string(), resource.to_string())).or_default().observe(elapsed.as_secs_f64());
    }

    pub fn observe_storage(&self, operation: &'static str, elapsed: Duration, ok: bool) {
        self.storage.lock().entry((operation, ok)).or_default().observe(elapsed.as_secs_f64());
    }

    pub fn watch_started(&self) {
        self.watches.fetch_add(1, Ordering::Relaxed);
    }

    pub fn watch_ended(&self) {
        self.watches.fetch_sub(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, cached_objects: usize, cache_revision: i64) -> String {
        let mut out = String::new();
        out.push_str("# HELP apiserver_request_total Counter of apiserver requests broken out by verb, resource and HTTP response code.\n# TYPE apiserver_request_total counter\n");
        for ((verb, resource, code), n) in self.requests.lock().iter() {
            let _ = writeln!(out, "apiserver_request_total{{verb=\"{verb}\",resource=\"{resource}\",code=\"{code}\"}} {n}");
        }
        out.push_str("# HELP apiserver_request_duration_seconds Response latency distribution in seconds for each verb and resource.\n# TYPE apiserver_request_duration_seconds histogram\n");
        for ((verb, resource), h) in self.latency.lock().iter() {
            h.render(&mut out, "apiserver_request_duration_seconds", &format!("verb=\"{verb}\",resource=\"{resource}\""));
        }
        out.push_str("# HELP apiserver_storage_duration_seconds Storage operation latency by operation and outcome.\n# TYPE apiserver_storage_duration_seconds histogram\n");
        for ((op, ok), h) in self.storage.lock().iter() {
            h.render(&mut out, "apiserver_storage_duration_seconds", &format!("operation=\"{op}\",success=\"{ok}\""));
        }
        let _ = writeln!(out, "# HELP apiserver_longrunning_requests Number of active watch requests.\n# TYPE apiserver_longrunning_requests gauge\napiserver_longrunning_requests{{verb=\"watch\"}} {}", self.watches.load(Ordering::Relaxed));
        let _ = writeln!(out, "# HELP apiserver_watch_cache_objects Objects held in the watch cache.\n# TYPE apiserver_watch_cache_objects gauge\napiserver_watch_cache_objects {cached_objects}");
        let _ = writeln!(out, "# HELP apiserver_watch_cache_resource_version The revision the watch cache has applied.\n# TYPE apiserver_watch_cache_resource_version gauge\napiserver_watch_cache_resource_version {cache_revision}");
        out
    }
}
