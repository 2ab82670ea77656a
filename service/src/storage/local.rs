//! Local-disk storage with signed, expiring download links.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::{valid_key, Storage, StorageError};

type HmacSha256 = Hmac<Sha256>;

/// Why a download link is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    #[error("the link is malformed or its signature does not match")]
    BadSignature,
    #[error("the link has expired")]
    Expired,
    #[error("the file no longer exists")]
    NotFound,
}

/// Files under `root`, links under `base_url`.
pub struct LocalStorage {
    root: PathBuf,
    base_url: String,
    secret: Vec<u8>,
}

impl LocalStorage {
    /// `base_url` is how clients reach the service (`http://host:port`), `secret` the link key.
    pub fn new(root: PathBuf, base_url: String, secret: Vec<u8>) -> Result<Self, StorageError> {
        std::fs::create_dir_all(&root)
            .map_err(|e| StorageError::io(format!("create {}", root.display()), e))?;
        Ok(LocalStorage {
            root,
            base_url: base_url.trim_end_matches('/').to_string(),
            secret,
        })
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        if !valid_key(key) {
            return Err(StorageError::InvalidKey(key.to_string()));
        }
        Ok(self.root.join(key))
    }

    fn mac(&self, key: &str, expires: u64) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(key.as_bytes());
        mac.update(b"\n");
        mac.update(expires.to_string().as_bytes());
        mac
    }

    /// The signed query string of a link to `key` valid until `expires` (Unix seconds).
    pub fn sign(&self, key: &str, expires: u64) -> String {
        let sig = hex::encode(self.mac(key, expires).finalize().into_bytes());
        format!("expires={expires}&signature={sig}")
    }

    /// Checks a link and returns the file it names.
    pub fn verify(&self, key: &str, expires: u64, signature: &str) -> Result<PathBuf, LinkError> {
        let sig = hex::decode(signature).map_err(|_| LinkError::BadSignature)?;
        let path = self.path_of(key).map_err(|_| LinkError::BadSignature)?;
        self.mac(key, expires)
            .verify_slice(&sig)
            .map_err(|_| LinkError::BadSignature)?;
        if expires < unix_now() {
            return Err(LinkError::Expired);
        }
        if !path.is_file() {
            return Err(LinkError::NotFound);
        }
        Ok(path)
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[async_trait]
impl Storage for LocalStorage {
    async fn put_file(
        &self,
        key: &str,
        file: &Path,
        _content_type: &str,
    ) -> Result<u64, StorageError> {
        let dest = self.path_of(key)?;
        if let Some(parent) = dest.parent() {
            tokio::fs::create_dir_all(parent)
                .await
                .map_err(|e| StorageError::io(format!("create {}", parent.display()), e))?;
        }
        // Same file system in the default layout: a rename. Elsewhere: copy, then the caller's
        // cleanup removes the original.
        if tokio::fs::rename(file, &dest).await.is_err() {
            tokio::fs::copy(file, &dest).await.map_err(|e| {
                StorageError::io(format!("copy {} to {}", file.display(), dest.display()), e)
            })?;
        }
        let meta = tokio::fs::metadata(&dest)
            .await
            .map_err(|e| StorageError::io(format!("stat {}", dest.display()), e))?;
        Ok(meta.len())
    }

    async fn signed_url(&self, key: &str, ttl: Duration) -> Result<String, StorageError> {
        self.path_of(key)?;
        let expires = unix_now() + ttl.as_secs().max(1);
        Ok(format!(
            "{}/api/v1/files/{key}?{}",
            self.base_url,
            self.sign(key, expires)
        ))
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path_of(key)?;
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(StorageError::io(format!("remove {}", path.display()), e)),
        }
    }

    async fn get_file(&self, key: &str, dest: &Path) -> Result<u64, StorageError> {
        let path = self.path_of(key)?;
        match tokio::fs::copy(&path, dest).await {
            Ok(n) => Ok(n),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(StorageError::NotFound(key.to_string()))
            }
            Err(e) => Err(StorageError::io(
                format!("copy {} to {}", path.display(), dest.display()),
                e,
            )),
        }
    }

    async fn ping(&self) -> Result<(), StorageError> {
        let probe = self.root.join(format!(".probe-{}", uuid::Uuid::new_v4()));
        tokio::fs::write(&probe, b"ok")
            .await
            .map_err(|e| StorageError::io(format!("write {}", probe.display()), e))?;
        tokio::fs::remove_file(&probe)
            .await
            .map_err(|e| StorageError::io(format!("remove {}", probe.display()), e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn links_verify_and_expire() {
        let dir = tempfile::tempdir().unwrap();
        let s =
            LocalStorage::new(dir.path().join("out"), "http://h:1/".into(), b"k".to_vec()).unwrap();
        let src = dir.path().join("a.mp4");
        std::fs::write(&src, b"video").unwrap();
        assert_eq!(
            s.put_file("renders/a.mp4", &src, "video/mp4")
                .await
                .unwrap(),
            5
        );
        let url = s
            .signed_url("renders/a.mp4", Duration::from_secs(60))
            .await
            .unwrap();
        assert!(url.starts_with("http://h:1/api/v1/files/renders/a.mp4?expires="));
        let query = url.split_once('?').unwrap().1;
        let expires: u64 = query.split('&').next().unwrap()["expires=".len()..]
            .parse()
            .unwrap();
        let sig = &query.split_once("signature=").unwrap().1;
        assert!(s.verify("renders/a.mp4", expires, sig).is_ok());
        assert_eq!(
            s.verify("renders/a.mp4", expires + 1, sig),
            Err(LinkError::BadSignature)
        );
        assert_eq!(
            s.verify("renders/b.mp4", expires, sig),
            Err(LinkError::BadSignature)
        );
        let old = s.sign("renders/a.mp4", 10);
        let old_sig = old.split_once("signature=").unwrap().1;
        assert_eq!(
            s.verify("renders/a.mp4", 10, old_sig),
            Err(LinkError::Expired)
        );
        assert!(s.put_file("../x", &src, "video/mp4").await.is_err());
        s.ping().await.unwrap();
        let copy = dir.path().join("copy.mp4");
        assert_eq!(s.get_file("renders/a.mp4", &copy).await.unwrap(), 5);
        assert_eq!(std::fs::read(&copy).unwrap(), b"video");
        assert!(matches!(
            s.get_file("renders/none.mp4", &copy).await,
            Err(StorageError::NotFound(_))
        ));
        assert!(s.get_file("../a.mp4", &copy).await.is_err());
        s.delete("renders/a.mp4").await.unwrap();
        assert_eq!(
            s.verify("renders/a.mp4", expires, sig),
            Err(LinkError::NotFound)
        );
    }
}
