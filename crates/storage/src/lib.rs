//! The storage contract every backend implements, modelled on etcd v3.
//!
//! * One global, monotonic `revision` (an `i64`, as in etcd) counts every write.
//!   The API server exposes it as `resourceVersion`.
//! * Each key carries the revision that created it (`create_revision`) and the
//!   revision of its last write (`mod_revision`).
//! * History older than the compaction point is gone: asking for it yields
//!   [`StorageError::Compacted`] (the API server turns that into 410 Gone / Expired).
//! * Watches deliver every change with a revision strictly greater than the
//!   revision they start *after*, in revision order, with no gaps.
//!
//! Backends: [`embedded::EmbeddedStore`] (redb, the default, single node) and
//! [`etcd::EtcdStore`] (real etcd v3). Both pass the suite in `tests/contract.rs`.
//! [`test_etcd::TestEtcd`] starts a throw-away etcd for tests and benchmarks.

use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

pub mod embedded;
pub mod etcd;
pub mod test_etcd;

/// A global store revision (etcd's `revision`, Kubernetes' `resourceVersion`).
pub type Revision = i64;

/// One key with its value and revisions.
#[derive(Clone, PartialEq, Eq)]
pub struct KeyValue {
    pub key: String,
    pub value: Bytes,
    /// Revision of the write that created this key (since its last deletion).
    pub create_revision: Revision,
    /// Revision of the last write to this key.
    pub mod_revision: Revision,
}

impl fmt::Debug for KeyValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyValue")
            .field("key", &self.key)
            .field("value_len", &self.value.len())
            .field("create_revision", &self.create_revision)
            .field("mod_revision", &self.mod_revision)
            .finish()
    }
}

/// What a list returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListResult {
    /// Keys in ascending byte order.
    pub kvs: Vec<KeyValue>,
    /// The revision the list was read at (the store's current revision when
    /// `ListOptions::revision` was `None`).
    pub revision: Revision,
    /// True when `limit` cut the result short and more keys remain.
    pub more: bool,
    /// How many keys under the prefix come after the last returned one
    /// (only meaningful when `more` is true).
    pub remaining: i64,
}

/// Parameters of a list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Only keys starting with this prefix.
    pub prefix: String,
    /// Only keys strictly greater than this one (pagination).
    pub start_after: Option<String>,
    /// At most this many keys (0 or `None`: no limit).
    pub limit: Option<usize>,
    /// Read at this past revision instead of now. Must not be older than the
    /// compaction point, nor newer than the current revision.
    pub revision: Option<Revision>,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchEvent {
    /// A key was created or updated; `kv.mod_revision` is the event's revision.
    /// `kv.create_revision == kv.mod_revision` means it was created.
    Put { kv: KeyValue, prev: Option<KeyValue> },
    /// A key was deleted at `revision`; `prev` is its last value.
    Delete { revision: Revision, prev: KeyValue },
}

impl WatchEvent {
    pub fn revision(&self) -> Revision {
        match self {
            WatchEvent::Put { kv, .. } => kv.mod_revision,
            WatchEvent::Delete { revision, .. } => *revision,
        }
    }

    pub fn key(&self) -> &str {
        match self {
            WatchEvent::Put { kv, .. } => &kv.key,
            WatchEvent::Delete { prev, .. } => &prev.key,
        }
    }
}

/// A stream of watch events. It ends with an error item if the backend
/// cannot continue (e.g. the history it needs was compacted).
pub type WatchStream = BoxStream<'static, Result<WatchEvent, StorageError>>;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("key {key:?} already exists")]
    AlreadyExists { key: String },
    #[error("key {key:?} not found")]
    NotFound { key: String },
    /// The key's current `mod_revision` is not the expected one.
    #[error("key {key:?} was modified: expected revision {expected}, found {actual}")]
    Conflict { key: String, expected: Revision, actual: Revision },
    /// The requested revision is older than the compaction point.
    #[error("revision {requested} has been compacted (compacted up to {compacted})")]
    Compacted { requested: Revision, compacted: Revision },
    /// The requested revision is newer than the current revision.
    #[error("revision {requested} is in the future (current revision {current})")]
    FutureRevision { requested: Revision, current: Revision },
    #[error("storage backend unavailable: {0}")]
    Unavailable(String),
    #[error("storage internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = StorageError> = std::result::Result<T, E>;

/// The contract. All methods are safe to call concurrently.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The latest value of `key`, or `None`.
    async fn get(&self, key: &str) -> Result<Option<KeyValue>>;

    /// Keys under a prefix, optionally paginated and at a past revision.
    async fn list(&self, opts: ListOptions) -> Result<ListResult>;

    /// Number of keys under `prefix` now.
    async fn count(&self, prefix: &str) -> Result<i64>;

    /// Create `key` if absent. Returns the new key-value.
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue>;

    /// Replace `key` only if its `mod_revision` is `expected`.
    /// `NotFound` when the key is absent, `Conflict` when the revision differs.
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue>;

    /// Delete `key`, only if its `mod_revision` is `expected` when given.
    /// Returns the deletion's revision and the last value.
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)>;

    /// Every change under `prefix` with revision > `after`, in order.
    /// `Compacted` when `after + 1` < the compaction point (as etcd: after
    /// `compact(r)` a watch may still start at revision `r`).
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream>;

    /// [`Store::watch`] for a consumer that keeps every value itself (the
    /// API server's watch cache): previous values may be left out, so
    /// `Put.prev` may be `None` and `Delete.prev` may carry only the key
    /// (empty value, revisions 0). On etcd this spares a read of the old
    /// value for every event.
    async fn watch_changes(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.watch(prefix, after).await
    }

    /// Forget history older than `revision`: afterwards lists at a revision
    /// `< revision` and watches starting before it fail with `Compacted`.
    async fn compact(&self, revision: Revision) -> Result<()>;

    /// The revision of the last write (0 for an empty store).
    async fn current_revision(&self) -> Result<Revision>;

    /// The compaction point (0 if never compacted).
    async fn compacted_revision(&self) -> Result<Revision>;
}

pub type DynStore = Arc<dyn Store>;
