//! Frame previews: prepared projects kept between calls (assets decoded once per project version)
//! in a small LRU cache, and a gate on how many previews render at once so scrubbing cannot take the
//! GPU and CPUs from render jobs (`PREVIEW_CONCURRENCY`, `PREVIEW_CACHE_ENTRIES`).

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use vrender_engine::PreparedProject;

/// One prepared project and what must live as long as it (downloaded `s3://` sources).
pub struct Prepared {
    pub project: PreparedProject,
    /// Removed when the entry is evicted.
    pub _files: Option<crate::tempdir::TempDir>,
}

/// A cached entry: used by one preview at a time.
pub type Entry = Arc<Mutex<Prepared>>;

/// Prepared projects by key (the project's text and asset roots, or a stored project's id and
/// creation time), most recently used last.
pub struct PreviewCache {
    entries: Mutex<VecDeque<(String, Entry)>>,
    capacity: usize,
    gate: Arc<Semaphore>,
    /// How long a preview waits for a free slot before it is refused with 503.
    wait: Duration,
}

impl PreviewCache {
    pub fn new(capacity: usize, concurrency: usize) -> Self {
        PreviewCache {
            entries: Mutex::new(VecDeque::new()),
            capacity,
            gate: Arc::new(Semaphore::new(concurrency.max(1))),
            wait: Duration::from_secs(10),
        }
    }

    /// A slot to render in, or `None` after waiting too long.
    pub async fn permit(&self) -> Option<OwnedSemaphorePermit> {
        tokio::time::timeout(self.wait, self.gate.clone().acquire_owned())
            .await
            .ok()
            .and_then(Result::ok)
    }

    /// The entry under `key`, now the most recently used.
    pub fn get(&self, key: &str) -> Option<Entry> {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let i = entries.iter().position(|(k, _)| k == key)?;
        let hit = entries.remove(i)?;
        let entry = hit.1.clone();
        entries.push_back(hit);
        Some(entry)
    }

    /// Stores `entry` under `key`, evicting the least recently used beyond the capacity.
    pub fn insert(&self, key: String, entry: Entry) {
        if self.capacity == 0 {
            return;
        }
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(k, _)| *k != key);
        entries.push_back((key, entry));
        while entries.len() > self.capacity {
            entries.pop_front();
        }
    }

    /// Drops the entry under `key` (after a failed render left it in an unknown state).
    pub fn remove(&self, key: &str) {
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.retain(|(k, _)| k != key);
    }

    pub fn len(&self) -> usize {
        self.entries.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A cache key for project text: a SHA-256 of the text and the asset roots it resolves in.
pub fn content_key(text: &str, roots: &[std::path::PathBuf]) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(text.as_bytes());
    for r in roots {
        h.update([0u8]);
        h.update(r.as_os_str().as_encoded_bytes());
    }
    format!("inline:{}", hex::encode(h.finalize()))
}
