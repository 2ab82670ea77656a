//! Where rendered videos go and how clients download them.
//!
//! [`LocalStorage`] keeps files under the data folder and hands out expiring HMAC-signed links that
//! the service itself serves (`GET /api/v1/files/{key}?expires=…&signature=…`). An S3 implementation
//! slots in behind the same trait (`put_file` → multipart upload, `signed_url` → a presigned GET).

mod local;

pub use local::{LinkError, LocalStorage};

use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid storage key `{0}`")]
    InvalidKey(String),
    #[error("storage: {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
}

impl StorageError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        StorageError::Io {
            context: context.into(),
            source,
        }
    }
}

#[async_trait]
pub trait Storage: Send + Sync {
    /// Stores the file at `file` under `key` (the file may be moved away). Returns its size in bytes.
    async fn put_file(
        &self,
        key: &str,
        file: &Path,
        content_type: &str,
    ) -> Result<u64, StorageError>;
    /// Copies the stored object `key` to the local file `dest`; returns its size in bytes.
    async fn get_file(&self, key: &str, dest: &Path) -> Result<u64, StorageError>;
    /// A link that downloads `key` until `ttl` from now.
    async fn signed_url(&self, key: &str, ttl: Duration) -> Result<String, StorageError>;
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Whether files can be stored now.
    async fn ping(&self) -> Result<(), StorageError>;
}

/// Storage keys are relative paths of `[A-Za-z0-9._-]` segments, none of them `.` or `..`.
pub fn valid_key(key: &str) -> bool {
    !key.is_empty()
        && key.len() <= 512
        && key.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
}
