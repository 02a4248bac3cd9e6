//! [`EtcdStore`]: the [`Store`] contract over a real etcd v3 cluster.
//!
//! Mapping (see also the crate README):
//!
//! * `create`: txn `if create_revision(key) == 0 then put`.
//! * `update`: txn `if create_revision(key) > 0 && mod_revision(key) == expected
//!   then put(prev_kv) else get(key)`; the `get` tells `NotFound` from
//!   `Conflict { actual }`. (The `create_revision > 0` guard matters: etcd
//!   compares a missing key as if all its revisions were 0.)
//! * `delete`: the same shape with `delete(prev_kv)`.
//! * `list`: one range `[max(prefix, start_after + "\0"), prefix_end)` with
//!   `limit` and `revision`; `remaining = count - returned` (etcd's `count` is
//!   the size of the whole range).
//! * `watch`: etcd watch from `after + 1` with `prev_kv`; `watch_changes`
//!   without it (etcd 3.4 copies its whole uncommitted write buffer for
//!   every previous value it reads).
//! * `current_revision`: the header of a cheap single-key `count_only` range.
//! * `compacted_revision`: etcd does not report its compaction point, so the
//!   store tracks a lower bound (its own compactions, `compact_revision` from
//!   watch responses, earlier answers) and then finds the exact point: a range
//!   at revision `r` fails with ErrCompacted iff `r` < the compaction point,
//!   so if reading at the known bound works the bound is the answer (one
//!   round trip, the usual case); otherwise a binary search over
//!   `(bound, current]` finds the smallest readable revision.
//! * Connection and transient failures map to `Unavailable`.

mod convert;
mod watch;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
/// The etcd client crate, for callers of [`EtcdStore::client`].
pub use etcd_client;
use etcd_client::{
    Client, Compare, CompareOp, ConnectOptions, DeleteOptions, GetOptions, PutOptions, Txn, TxnOp,
    TxnOpResponse, TxnResponse, WatchOptions,
};
use tracing::instrument;

use convert::{classify, kv_from, list_start, map_err, prefix_range, Failure};
use watch::PreviousValues;

use crate::{
    KeyValue, ListOptions, ListResult, Result, Revision, StorageError, Store, WatchStream,
};

/// How to reach etcd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EtcdConfig {
    /// Per-endpoint connection timeout.
    pub connect_timeout: Duration,
    /// Timeout of each request (`None`: no timeout). tonic applies it until
    /// the response starts, so open watch streams are not cut by it.
    pub request_timeout: Option<Duration>,
    /// HTTP/2 keep-alive `(interval, timeout)`, to notice dead connections.
    pub keep_alive: Option<(Duration, Duration)>,
    /// `(user, password)` when etcd has authentication enabled.
    pub user: Option<(String, String)>,
}

impl Default for EtcdConfig {
    fn default() -> Self {
        EtcdConfig {
            connect_timeout: Duration::from_secs(5),
            request_timeout: None,
            keep_alive: Some((Duration::from_secs(10), Duration::from_secs(5))),
            user: None,
        }
    }
}

/// A [`Store`] backed by etcd v3. Cheap to share behind an `Arc`.
#[derive(Clone)]
pub struct EtcdStore {
    client: Client,
    /// Lower bound of etcd's compaction point (see module docs).
    known_compacted: Arc<AtomicI64>,
}

impl std::fmt::Debug for EtcdStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EtcdStore")
            .field(
                "known_compacted",
                &self.known_compacted.load(Ordering::Acquire),
            )
            .finish_non_exhaustive()
    }
}

impl EtcdStore {
    /// Connect to any of `endpoints` (e.g. `http://127.0.0.1:2379`) and check
    /// that the cluster answers. `Unavailable` if it does not.
    #[instrument(skip(config))]
    pub async fn connect(endpoints: &[String], config: EtcdConfig) -> Result<Self> {
        if endpoints.is_empty() {
            return Err(StorageError::Unavailable(
                "no etcd endpoints given".to_owned(),
            ));
        }
        let mut options = ConnectOptions::new().with_connect_timeout(config.connect_timeout);
        if let Some(timeout) = config.request_timeout {
            options = options.with_timeout(timeout);
        }
        if let Some((interval, timeout)) = config.keep_alive {
            options = options.with_keep_alive(interval, timeout);
        }
        if let Some((user, password)) = config.user {
            options = options.with_user(user, password);
        }
        let client =
            Client::connect(endpoints, Some(options))
                .await
                .map_err(|e| match classify(e) {
                    Failure::Other(StorageError::Internal(message)) => {
                        StorageError::Unavailable(message)
                    }
                    other => other.into_error(),
                })?;
        let store = EtcdStore {
            client,
            known_compacted: Arc::new(AtomicI64::new(0)),
        };
        // Fail fast on a wrong address rather than at the first request.
        tokio::time::timeout(config.connect_timeout, store.current_revision())
            .await
            .map_err(|_| {
                StorageError::Unavailable(format!("etcd at {endpoints:?} did not answer"))
            })??;
        Ok(store)
    }

    /// The underlying client, for callers that need etcd-specific calls.
    pub fn client(&self) -> &Client {
        &self.client
    }

    async fn txn(&self, txn: Txn) -> Result<TxnResponse> {
        self.client.kv_client().txn(txn).await.map_err(map_err)
    }

    /// A prefix watch from `after + 1`, with or without previous values.
    async fn watch_from(&self, prefix: &str, after: Revision, previous: PreviousValues) -> Result<WatchStream> {
        let start = after.saturating_add(1).max(1);
        // Report a compacted start revision as an error of this call, like
        // the embedded store; the stream itself also reports it.
        if !self.readable(start).await? {
            return Err(self.compacted_error(after).await);
        }
        let (key, end) = prefix_range(prefix);
        let options = WatchOptions::new()
            .with_range(end)
            .with_start_revision(start);
        let options = match previous {
            PreviousValues::Wanted => options.with_prev_key(),
            PreviousValues::Omitted => options,
        };
        let inner = self
            .client
            .watch_client()
            .watch(key, Some(options))
            .await
            .map_err(map_err)?;
        Ok(watch::adapt(inner, after, previous, self.known_compacted.clone()))
    }

    /// Whether a range at `revision` is still possible (not compacted).
    async fn readable(&self, revision: Revision) -> Result<bool> {
        let options = GetOptions::new().with_revision(revision).with_count_only();
        match self.client.kv_client().get(vec![0], Some(options)).await {
            Ok(_) => Ok(true),
            Err(e) => match classify(e) {
                Failure::Compacted => Ok(false),
                Failure::Future => Ok(true),
                Failure::Other(e) => Err(e),
            },
        }
    }

    fn learn_compacted(&self, revision: Revision) {
        self.known_compacted.fetch_max(revision, Ordering::AcqRel);
    }

    /// Error for a request at `requested` that etcd refused as compacted.
    async fn compacted_error(&self, requested: Revision) -> StorageError {
        let compacted = match self.compacted_revision().await {
            Ok(c) => c,
            Err(_) => self
                .known_compacted
                .load(Ordering::Acquire)
                .max(requested + 1),
        };
        StorageError::Compacted {
            requested,
            compacted,
        }
    }

    async fn future_error(&self, requested: Revision) -> StorageError {
        match self.current_revision().await {
            Ok(current) => StorageError::FutureRevision { requested, current },
            Err(e) => e,
        }
    }
}

fn header_revision(header: Option<&etcd_client::ResponseHeader>) -> Result<Revision> {
    header
        .map(|h| h.revision())
        .ok_or_else(|| StorageError::Internal("etcd response without a header".to_owned()))
}

/// The single response of a one-operation txn branch.
fn only_response(response: &TxnResponse) -> Result<TxnOpResponse> {
    response
        .op_responses()
        .into_iter()
        .next()
        .ok_or_else(|| StorageError::Internal("etcd txn returned no operation response".to_owned()))
}

/// `NotFound` or `Conflict` from the `get` of a failed conditional txn.
fn rejection(key: &str, expected: Revision, response: &TxnResponse) -> Result<StorageError> {
    let TxnOpResponse::Get(get) = only_response(response)? else {
        return Err(StorageError::Internal(
            "etcd txn else-branch did not return a get".to_owned(),
        ));
    };
    Ok(match get.kvs().first() {
        None => StorageError::NotFound {
            key: key.to_owned(),
        },
        Some(kv) => StorageError::Conflict {
            key: key.to_owned(),
            expected,
            actual: kv.mod_revision(),
        },
    })
}

#[async_trait]
impl Store for EtcdStore {
    #[instrument(level = "debug", skip(self))]
    async fn get(&self, key: &str) -> Result<Option<KeyValue>> {
        let response = self
            .client
            .kv_client()
            .get(key, None)
            .await
            .map_err(map_err)?;
        response.kvs().first().map(kv_from).transpose()
    }

    #[instrument(level = "debug", skip(self))]
    async fn list(&self, opts: ListOptions) -> Result<ListResult> {
        let (prefix_key, end) = prefix_range(&opts.prefix);
        let start = list_start(prefix_key, opts.start_after.as_deref());
        let requested = opts.revision.filter(|&r| r > 0);
        let mut options = GetOptions::new().with_range(end);
        if let Some(limit) = opts.limit.filter(|&l| l > 0) {
            options = options.with_limit(i64::try_from(limit).unwrap_or(i64::MAX));
        }
        if let Some(revision) = requested {
            options = options.with_revision(revision);
        }
        let response = match self.client.kv_client().get(start, Some(options)).await {
            Ok(response) => response,
            Err(e) => {
                return Err(match (classify(e), requested) {
                    (Failure::Compacted, Some(r)) => self.compacted_error(r).await,
                    (Failure::Future, Some(r)) => self.future_error(r).await,
                    (failure, _) => failure.into_error(),
                })
            }
        };
        let kvs = response
            .kvs()
            .iter()
            .map(kv_from)
            .collect::<Result<Vec<_>>>()?;
        let returned = i64::try_from(kvs.len()).unwrap_or(i64::MAX);
        let more = response.more();
        let remaining = if more {
            (response.count() - returned).max(0)
        } else {
            0
        };
        let revision = match requested {
            Some(r) => r,
            None => header_revision(response.header())?,
        };
        Ok(ListResult {
            kvs,
            revision,
            more,
            remaining,
        })
    }

    #[instrument(level = "debug", skip(self))]
    async fn count(&self, prefix: &str) -> Result<i64> {
        let (key, end) = prefix_range(prefix);
        let options = GetOptions::new().with_range(end).with_count_only();
        let response = self
            .client
            .kv_client()
            .get(key, Some(options))
            .await
            .map_err(map_err)?;
        Ok(response.count())
    }

    #[instrument(level = "debug", skip(self, value), fields(len = value.len()))]
    async fn create(&self, key: &str, value: Bytes) -> Result<KeyValue> {
        let txn = Txn::new()
            .when([Compare::create_revision(key, CompareOp::Equal, 0)])
            .and_then([TxnOp::put(key, value.to_vec(), None)]);
        let response = self.txn(txn).await?;
        if !response.succeeded() {
            return Err(StorageError::AlreadyExists {
                key: key.to_owned(),
            });
        }
        let revision = header_revision(response.header())?;
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision: revision,
            mod_revision: revision,
        })
    }

    #[instrument(level = "debug", skip(self, value), fields(len = value.len()))]
    async fn update(&self, key: &str, value: Bytes, expected: Revision) -> Result<KeyValue> {
        let txn = Txn::new()
            .when([
                Compare::create_revision(key, CompareOp::Greater, 0),
                Compare::mod_revision(key, CompareOp::Equal, expected),
            ])
            .and_then([TxnOp::put(
                key,
                value.to_vec(),
                Some(PutOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let response = self.txn(txn).await?;
        if !response.succeeded() {
            return Err(rejection(key, expected, &response)?);
        }
        let revision = header_revision(response.header())?;
        let TxnOpResponse::Put(put) = only_response(&response)? else {
            return Err(StorageError::Internal(
                "etcd txn did not return a put".to_owned(),
            ));
        };
        let create_revision = put
            .prev_key()
            .map(|prev| prev.create_revision())
            .ok_or_else(|| {
                StorageError::Internal("etcd put returned no previous value".to_owned())
            })?;
        Ok(KeyValue {
            key: key.to_owned(),
            value,
            create_revision,
            mod_revision: revision,
        })
    }

    #[instrument(level = "debug", skip(self))]
    async fn delete(&self, key: &str, expected: Option<Revision>) -> Result<(Revision, KeyValue)> {
        let mut compares = vec![Compare::create_revision(key, CompareOp::Greater, 0)];
        if let Some(expected) = expected {
            compares.push(Compare::mod_revision(key, CompareOp::Equal, expected));
        }
        let txn = Txn::new()
            .when(compares)
            .and_then([TxnOp::delete(
                key,
                Some(DeleteOptions::new().with_prev_key()),
            )])
            .or_else([TxnOp::get(key, None)]);
        let response = self.txn(txn).await?;
        if !response.succeeded() {
            return Err(rejection(key, expected.unwrap_or(0), &response)?);
        }
        let revision = header_revision(response.header())?;
        let TxnOpResponse::Delete(deleted) = only_response(&response)? else {
            return Err(StorageError::Internal(
                "etcd txn did not return a delete".to_owned(),
            ));
        };
        let prev = deleted
            .prev_kvs()
            .first()
            .map(kv_from)
            .transpose()?
            .ok_or_else(|| {
                StorageError::Internal("etcd delete returned no previous value".to_owned())
            })?;
        Ok((revision, prev))
    }

    #[instrument(level = "debug", skip(self))]
    async fn watch(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.watch_from(prefix, after, PreviousValues::Wanted).await
    }

    #[instrument(level = "debug", skip(self))]
    async fn watch_changes(&self, prefix: &str, after: Revision) -> Result<WatchStream> {
        self.watch_from(prefix, after, PreviousValues::Omitted).await
    }

    #[instrument(level = "debug", skip(self))]
    async fn compact(&self, revision: Revision) -> Result<()> {
        match self.client.kv_client().compact(revision, None).await {
            Ok(_) => {
                self.learn_compacted(revision);
                Ok(())
            }
            Err(e) => match classify(e) {
                // Already compacted at or past `revision`: nothing to do.
                Failure::Compacted => Ok(()),
                Failure::Future => Err(self.future_error(revision).await),
                Failure::Other(e) => Err(e),
            },
        }
    }

    async fn current_revision(&self) -> Result<Revision> {
        let options = GetOptions::new().with_count_only();
        let response = self
            .client
            .kv_client()
            .get(vec![0], Some(options))
            .await
            .map_err(map_err)?;
        header_revision(response.header())
    }

    #[instrument(level = "debug", skip(self))]
    async fn compacted_revision(&self) -> Result<Revision> {
        let known = self.known_compacted.load(Ordering::Acquire);
        if self.readable(known.max(1)).await? {
            return Ok(known);
        }
        // `lo` is not readable, `hi` (the current revision) always is.
        let (mut lo, mut hi) = (known.max(1), self.current_revision().await?);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.readable(mid).await? {
                hi = mid;
            } else {
                lo = mid;
            }
        }
        self.learn_compacted(hi);
        Ok(hi)
    }
}
