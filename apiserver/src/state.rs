//! Everything a request handler needs, built once at start-up.

use std::sync::Arc;

use jiff::Timestamp;

use crate::allocator::Allocators;
use crate::cache::WatchCache;
use crate::discovery::Discovery;
use crate::metrics::Metrics;
use crate::openapi::OpenApi;
use crate::registry::Registry;
use storage::DynStore;

/// Injected time, so tests control `creationTimestamp` and ages.
pub trait Clock: Send + Sync {
    fn now(&self) -> Timestamp;
}

pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// Limits and knobs of request handling.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest accepted request body.
    pub max_body_bytes: usize,
    /// Deepest accepted JSON nesting.
    pub max_json_depth: usize,
    /// Default and maximum watch timeout when the client gives none.
    pub min_watch_timeout_secs: u64,
    /// How long a consistent read waits for the watch cache to catch up
    /// before reading storage directly.
    pub consistent_read_wait: std::time::Duration,
    /// How long a request naming a resourceVersion newer than the cache waits
    /// before "Too large resource version".
    pub resource_version_wait: std::time::Duration,
    /// How often watches with `allowWatchBookmarks` get a BOOKMARK.
    pub bookmark_interval: std::time::Duration,
    /// How often storage history is compacted (to the revision seen one
    /// interval earlier, as upstream compacts etcd).
    pub compaction_interval: std::time::Duration,
    /// Watch-cache events kept per resource for resuming watches.
    pub watch_history: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_body_bytes: 3 * 1024 * 1024,
            max_json_depth: 100,
            min_watch_timeout_secs: 1800,
            consistent_read_wait: std::time::Duration::from_millis(250),
            resource_version_wait: std::time::Duration::from_secs(3),
            bookmark_interval: std::time::Duration::from_secs(60),
            compaction_interval: std::time::Duration::from_secs(300),
            watch_history: crate::cache::HISTORY_PER_RESOURCE,
        }
    }
}

pub struct AppState {
    pub registry: Arc<Registry>,
    pub store: DynStore,
    pub cache: Arc<WatchCache>,
    /// Storage key prefix, e.g. `/registry`.
    pub root: String,
    pub discovery: Discovery,
    pub openapi: OpenApi,
    pub metrics: Arc<Metrics>,
    pub allocators: Allocators,
    pub clock: Arc<dyn Clock>,
    pub limits: Limits,
    pub authenticator: Arc<dyn crate::auth::Authenticator>,
    pub authorizer: Arc<dyn crate::auth::Authorizer>,
    pub admission: Vec<Arc<dyn crate::admission::AdmissionPlugin>>,
    /// Set when the authorizer is RBAC (reviews and escalation checks use it).
    pub rbac: Option<Arc<crate::rbac_authz::RbacAuthorizer>>,
    /// Set when a service-account signing key is configured.
    pub service_accounts: Option<Arc<crate::serviceaccount::TokenAuthenticator>>,
}

impl AppState {
    pub fn now(&self) -> Timestamp {
        // Kubernetes timestamps have second precision.
        Timestamp::from_second(self.clock.now().as_second()).unwrap_or(Timestamp::UNIX_EPOCH)
    }

    pub fn now_rfc3339(&self) -> String {
        self.now().to_string()
    }
}

pub type SharedState = Arc<AppState>;
