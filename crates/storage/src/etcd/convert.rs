//! Mapping between our types and etcd's: keys, ranges, key-values, errors.

use bytes::Bytes;
use tonic::Code;

use crate::{KeyValue, Result, StorageError};

/// The key etcd's "all keys from here" ranges start at, and the range end
/// meaning "to the end of the keyspace".
const NUL: u8 = 0;

/// The etcd range `[key, range_end)` covering every key that starts with
/// `prefix`. An empty prefix is the whole keyspace (`"\0"`, `"\0"`), as etcd
/// rejects empty keys.
pub fn prefix_range(prefix: &str) -> (Vec<u8>, Vec<u8>) {
    let key = if prefix.is_empty() {
        vec![NUL]
    } else {
        prefix.as_bytes().to_vec()
    };
    (key, prefix_end(prefix.as_bytes()))
}

/// The smallest key greater than every key starting with `prefix`: drop
/// trailing 0xff bytes and increment the last byte (`"\0"` if none is left).
pub fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < 0xff {
            end.push(last + 1);
            return end;
        }
    }
    vec![NUL]
}

/// Where a list starts: the prefix, or just after `start_after` (`start_after
/// + "\0"`, the smallest key greater than it) when that is further.
pub fn list_start(prefix_key: Vec<u8>, start_after: Option<&str>) -> Vec<u8> {
    match start_after {
        Some(after) => {
            let mut next = after.as_bytes().to_vec();
            next.push(NUL);
            next.max(prefix_key)
        }
        None => prefix_key,
    }
}

pub fn key_string(key: &[u8]) -> Result<String> {
    String::from_utf8(key.to_vec()).map_err(|_| {
        StorageError::Internal(format!(
            "etcd returned a key that is not UTF-8: {:?}",
            Bytes::copy_from_slice(key)
        ))
    })
}

pub fn kv_from(kv: &etcd_client::KeyValue) -> Result<KeyValue> {
    Ok(KeyValue {
        key: key_string(kv.key())?,
        value: Bytes::copy_from_slice(kv.value()),
        create_revision: kv.create_revision(),
        mod_revision: kv.mod_revision(),
    })
}

/// What an etcd error means for us. `Compacted` and `Future` need the
/// caller's context (which revision was asked for) to become a
/// [`StorageError`].
#[derive(Debug)]
pub enum Failure {
    Compacted,
    Future,
    Other(StorageError),
}

impl Failure {
    /// For calls where a revision error is not expected.
    pub fn into_error(self) -> StorageError {
        match self {
            Failure::Compacted => {
                StorageError::Internal("etcd: unexpected ErrCompacted".to_owned())
            }
            Failure::Future => StorageError::Internal("etcd: unexpected ErrFutureRev".to_owned()),
            Failure::Other(e) => e,
        }
    }
}

pub fn classify(error: etcd_client::Error) -> Failure {
    use etcd_client::Error as E;
    match error {
        E::GRpcStatus(status) => {
            let message = status.message();
            if message.contains("required revision has been compacted") {
                Failure::Compacted
            } else if message.contains("required revision is a future revision") {
                Failure::Future
            } else {
                let text = format!("etcd: {:?}: {message}", status.code());
                Failure::Other(match status.code() {
                    Code::Unavailable
                    | Code::DeadlineExceeded
                    | Code::Cancelled
                    | Code::Aborted
                    | Code::ResourceExhausted
                    | Code::Unknown => StorageError::Unavailable(text),
                    _ => StorageError::Internal(text),
                })
            }
        }
        e @ (E::TransportError(_) | E::IoError(_) | E::EndpointError(_)) => {
            Failure::Other(StorageError::Unavailable(format!("etcd: {e}")))
        }
        e => Failure::Other(StorageError::Internal(format!("etcd: {e}"))),
    }
}

/// For calls where a revision error is not expected.
pub fn map_err(error: etcd_client::Error) -> StorageError {
    classify(error).into_error()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_end_cases() {
        let cases: [(&[u8], &[u8]); 5] = [
            (b"/a/", b"/a0"),
            (b"a", b"b"),
            (b"a\xff", b"b"),
            (b"\xff\xff", b"\0"),
            (b"", b"\0"),
        ];
        for (prefix, expected) in cases {
            assert_eq!(prefix_end(prefix), expected, "prefix {prefix:?}");
        }
    }

    #[test]
    fn prefix_range_of_empty_prefix_is_everything() {
        assert_eq!(prefix_range(""), (vec![0], vec![0]));
        assert_eq!(prefix_range("/x/"), (b"/x/".to_vec(), b"/x0".to_vec()));
    }

    #[test]
    fn list_start_cases() {
        let cases = [
            ("/a/", None, &b"/a/"[..]),
            ("/a/", Some("/a/k"), &b"/a/k\0"[..]),
            ("/a/", Some("/"), &b"/a/"[..]),
            ("", Some(""), &b"\0"[..]),
        ];
        for (prefix, after, expected) in cases {
            assert_eq!(
                list_start(prefix_range(prefix).0, after),
                expected,
                "{prefix:?} after {after:?}"
            );
        }
    }
}
