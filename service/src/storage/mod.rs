//! Where rendered videos go and how clients download them.
//!
//! [`LocalStorage`] keeps files under the data folder and hands out expiring HMAC-signed links that
//! the service itself serves (`GET /api/v1/files/{key}?expires=…&signature=…`). `S3Storage`
//! (selected when `S3_BUCKET` is set; the `s3` cargo feature, on by default) uploads with multipart
//! uploads, progressively while the encoder writes (`put_growing`), and hands out presigned GETs.

mod local;
#[cfg(feature = "s3")]
mod s3;
pub mod s3_assets;
mod s3_url;

pub use local::{LinkError, LocalStorage};
#[cfg(feature = "s3")]
pub use s3::S3Storage;
pub use s3_url::S3Url;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sha2::{Digest, Sha256};
use tokio::sync::watch;

use crate::config::Settings;

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
    /// An S3 request failed (the message carries the S3 error code when there is one).
    #[error("s3: {context}: {message}")]
    S3 { context: String, message: String },
    /// The object does not exist.
    #[error("storage: no object `{0}`")]
    NotFound(String),
    /// The object is larger than allowed (`size` is at least what was seen).
    #[error("storage: `{object}` is {size} bytes or more, over the limit of {limit} bytes")]
    TooLarge {
        object: String,
        size: u64,
        limit: u64,
    },
    /// The storage cannot do this (e.g. `s3://` assets without S3 storage).
    #[error("storage: {0}")]
    Unsupported(String),
    /// A storage setting cannot be used.
    #[error("storage setting {name}: {message}")]
    Config { name: &'static str, message: String },
}

/// What the writer of a file that is uploaded while it grows is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriterState {
    /// Still writing: only bytes well behind the end are final.
    Writing,
    /// Done: the file is complete, upload the rest.
    Finished,
    /// Failed or cancelled: drop what was uploaded.
    Abandoned,
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
    /// A link that downloads `key` until `ttl` from now.
    async fn signed_url(&self, key: &str, ttl: Duration) -> Result<String, StorageError>;
    async fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Whether files can be stored now.
    async fn ping(&self) -> Result<(), StorageError>;
    /// Copies the stored object `key` to the local file `dest`; returns its size in bytes.
    async fn get_file(&self, key: &str, dest: &Path) -> Result<u64, StorageError>;

    /// Whether [`Storage::put_growing`] uploads while the file is written. The writer must then keep
    /// bytes behind its write position final (MP4 without `+faststart`, WebM).
    fn progressive(&self) -> bool {
        false
    }

    /// Stores `file` under `key` while another task writes it: returns the size once `state` says
    /// `Finished` and everything is stored, `None` when it says `Abandoned` (nothing is left behind).
    /// Default: wait for the writer, then [`Storage::put_file`].
    async fn put_growing(
        &self,
        key: &str,
        file: &Path,
        content_type: &str,
        mut state: watch::Receiver<WriterState>,
    ) -> Result<Option<u64>, StorageError> {
        let end = match state
            .wait_for(|s| *s != WriterState::Writing)
            .await
            .map(|s| *s)
        {
            Ok(s) => s,
            // The writer went away without saying: treat as abandoned.
            Err(_) => WriterState::Abandoned,
        };
        match end {
            WriterState::Finished => self.put_file(key, file, content_type).await.map(Some),
            _ => Ok(None),
        }
    }

    /// Copies the object an `s3://bucket/key` asset source names to `dest` (S3 storage only; the
    /// caller checked the bucket against `S3_ASSET_BUCKETS`).
    async fn get_s3_asset(&self, url: &S3Url, dest: &Path) -> Result<u64, StorageError> {
        let _ = dest;
        Err(StorageError::Unsupported(format!(
            "cannot read {url}: s3:// sources need S3 storage (S3_BUCKET)"
        )))
    }
}

/// The storage the settings ask for: S3 when `S3_BUCKET` is set, else local disk under
/// `<DATA_DIR>/outputs`. The second value is the local storage, when that is the one, for the
/// signed-download route.
pub async fn from_settings(
    settings: &Settings,
    base_url: String,
    secret: Vec<u8>,
) -> Result<(Arc<dyn Storage>, Option<Arc<LocalStorage>>), StorageError> {
    #[cfg(feature = "s3")]
    if let Some(s3) = S3Storage::from_settings(settings).await? {
        return Ok((Arc::new(s3), None));
    }
    // Without the `s3` feature, `S3_BUCKET` is refused with the settings (config.rs).
    let local = Arc::new(LocalStorage::new(
        settings.data_dir.join("outputs"),
        base_url,
        secret,
    )?);
    Ok((local.clone(), Some(local)))
}

/// The key of a job's output: `renders/{userId}/{jobId}.{ext}`. A userId that is not a plain key
/// segment (characters outside `[A-Za-z0-9._-]`, `.`/`..`, empty, over 100 characters) is replaced by
/// `u-` and a SHA-256 prefix, so keys stay valid and users never share a folder.
pub fn output_key(user_id: &str, job_id: &str, ext: &str) -> String {
    let plain = (1..=100).contains(&user_id.len())
        && user_id != "."
        && user_id != ".."
        && !user_id.starts_with("u-")
        && user_id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    let folder = if plain {
        user_id.to_string()
    } else {
        // `u-` ids are hashed too, so a plain id can never equal another user's hashed folder.
        format!(
            "u-{}",
            &hex::encode(Sha256::digest(user_id.as_bytes()))[..32]
        )
    };
    format!("renders/{folder}/{job_id}.{ext}")
}

pub use crate::config::names::valid_key;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_keys_are_valid_for_any_user_id() {
        assert_eq!(output_key("alice", "j1", "mp4"), "renders/alice/j1.mp4");
        for user in [
            "",
            ".",
            "..",
            "a/b",
            "../x",
            "é",
            "a b",
            "u-x",
            &"x".repeat(300),
        ] {
            let key = output_key(user, "j1", "mp4");
            assert!(valid_key(&key), "{user:?} -> {key}");
            assert!(key.starts_with("renders/u-"), "{key}");
        }
        assert_ne!(output_key("a/b", "j", "mp4"), output_key("a_b", "j", "mp4"));
        assert_ne!(output_key("a/b", "j", "mp4"), output_key("a?b", "j", "mp4"));
    }
}
