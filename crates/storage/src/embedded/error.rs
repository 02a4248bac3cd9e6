//! Turning redb (and other low-level) errors into [`StorageError`] with context.

use std::fmt::Display;

use crate::StorageError;

pub fn internal(message: String) -> StorageError {
    StorageError::Internal(message)
}

/// `.ctx("what we were doing")` on any result whose error is displayable.
pub trait Ctx<T> {
    fn ctx(self, what: &str) -> Result<T, StorageError>;
}

impl<T, E: Display> Ctx<T> for Result<T, E> {
    fn ctx(self, what: &str) -> Result<T, StorageError> {
        self.map_err(|e| StorageError::Internal(format!("redb: {what}: {e}")))
    }
}
