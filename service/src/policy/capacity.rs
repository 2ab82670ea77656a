//! Server capacity checks on new jobs: `POST /api/v1/render/jobs` answers 503 with `Retry-After`
//! while `MAX_QUEUED_JOBS` jobs are waiting (counted in the job store, so across every process that
//! shares it) or while `DATA_DIR` or its scratch folder has less than `MIN_FREE_DISK_MB` free. The
//! disk reading is also what `/health` reports and what tells a failed render that the disk filled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::CapacitySettings;
use crate::model::JobStatus;
use crate::store::{JobQuery, JobStore, StoreError};

/// `Retry-After` of a refusal because the queue is full.
pub const QUEUE_FULL_RETRY_AFTER: Duration = Duration::from_secs(10);
/// `Retry-After` of a refusal because the disk is low.
pub const DISK_LOW_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Free space of one folder's file system.
#[derive(Debug, Clone)]
pub struct DiskSpace {
    pub path: PathBuf,
    /// Bytes an unprivileged writer may still use.
    pub free_bytes: u64,
}

/// Bytes available to unprivileged writers on the file system of `path` (or of its nearest
/// existing ancestor).
pub fn free_bytes(path: &Path) -> std::io::Result<u64> {
    use std::os::unix::ffi::OsStrExt;
    let mut p = path;
    while !p.exists() {
        p = p.parent().unwrap_or(Path::new("/"));
    }
    let c = std::ffi::CString::new(p.as_os_str().as_bytes())
        .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated path and `st` a valid out-parameter of the right type.
    if unsafe { libc::statvfs(c.as_ptr(), &mut st) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(st.f_bavail as u64 * st.f_frsize as u64)
}

/// Why a new job is refused now; the API answers 503 with `Retry-After`.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct Overloaded {
    pub message: String,
    pub retry_after: Duration,
    /// `queue_full` or `disk_low`, the label of `vrender_jobs_refused_total`.
    pub reason: &'static str,
}

/// The capacity checks of one process.
pub struct Capacity {
    settings: CapacitySettings,
    /// `DATA_DIR` and the scratch folder under it.
    dirs: Vec<PathBuf>,
    /// Held from the queue count until the job is stored, so this process's submissions are
    /// counted one by one (other processes sharing the store may overshoot by their own in-flight
    /// submissions).
    submit: tokio::sync::Mutex<()>,
}

impl Capacity {
    pub fn new(settings: CapacitySettings, data_dir: &Path) -> Capacity {
        Capacity {
            settings,
            dirs: vec![data_dir.to_path_buf(), data_dir.join("tmp")],
            submit: tokio::sync::Mutex::new(()),
        }
    }

    pub fn settings(&self) -> &CapacitySettings {
        &self.settings
    }

    /// The free space of each guarded folder.
    pub fn disks(&self) -> Vec<std::io::Result<DiskSpace>> {
        self.dirs
            .iter()
            .map(|d| {
                free_bytes(d).map(|free_bytes| DiskSpace {
                    path: d.clone(),
                    free_bytes,
                })
            })
            .collect()
    }

    /// The minimum free space in bytes (0 when not checked).
    pub fn min_free_bytes(&self) -> u64 {
        self.settings.min_free_disk_mb.saturating_mul(1024 * 1024)
    }

    /// The first guarded folder whose disk is below the minimum, with its free space.
    pub fn low_disk(&self) -> Option<DiskSpace> {
        let min = self.min_free_bytes();
        if min == 0 {
            return None;
        }
        self.disks()
            .into_iter()
            .flatten()
            .find(|d| d.free_bytes < min)
    }

    /// Admits a new job, or says why not. Keep the guard until the job is stored.
    pub async fn admit(
        &self,
        jobs: &dyn JobStore,
    ) -> Result<tokio::sync::MutexGuard<'_, ()>, Refused> {
        // statvfs is one quick system call: fine on the async thread.
        if let Some(d) = self.low_disk() {
            return Err(Refused::Overloaded(Overloaded {
                message: format!(
                    "the server is low on disk space ({} MiB free in {}, minimum {} MiB); try again later",
                    d.free_bytes / (1024 * 1024),
                    d.path.display(),
                    self.settings.min_free_disk_mb
                ),
                retry_after: DISK_LOW_RETRY_AFTER,
                reason: "disk_low",
            }));
        }
        let guard = self.submit.lock().await;
        if let Some(max) = self.settings.max_queued_jobs {
            let query = JobQuery {
                user_id: None,
                status: Some(JobStatus::Queued),
                page: 1,
                limit: 1,
            };
            let waiting = jobs.list_jobs(&query).await.map_err(Refused::Store)?.total;
            if waiting >= max {
                return Err(Refused::Overloaded(Overloaded {
                    message: format!(
                        "the render queue is full ({waiting} jobs waiting, limit {max}); try again later"
                    ),
                    retry_after: QUEUE_FULL_RETRY_AFTER,
                    reason: "queue_full",
                }));
            }
        }
        Ok(guard)
    }
}

/// Why [`Capacity::admit`] said no.
#[derive(Debug, thiserror::Error)]
pub enum Refused {
    #[error(transparent)]
    Overloaded(Overloaded),
    /// The waiting jobs could not be counted.
    #[error(transparent)]
    Store(StoreError),
}

/// Whether an error message says the disk is full (`ENOSPC`, `EDQUOT`). The orchestrator also
/// counts a transient failure with the disk below `MIN_FREE_DISK_MB` as one (ffmpeg does not
/// always pass the reason on).
pub fn says_out_of_disk(error: &str) -> bool {
    let e = error.to_ascii_lowercase();
    e.contains("no space left on device")
        || e.contains("os error 28")
        || e.contains("disk quota exceeded")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_of_a_real_folder_and_of_a_missing_one() {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(dir.path()).unwrap();
        assert!(free > 0);
        // A folder not created yet is judged by its nearest existing parent.
        let missing = free_bytes(&dir.path().join("a/b/c")).unwrap();
        assert!(
            missing.abs_diff(free) < 64 * 1024 * 1024,
            "{missing} vs {free}"
        );
        let c = Capacity::new(
            CapacitySettings {
                max_queued_jobs: None,
                min_free_disk_mb: u64::MAX / (2 * 1024 * 1024),
            },
            dir.path(),
        );
        assert!(c.low_disk().is_some());
        let c = Capacity::new(
            CapacitySettings {
                max_queued_jobs: None,
                min_free_disk_mb: 0,
            },
            dir.path(),
        );
        assert!(c.low_disk().is_none());
        assert!(says_out_of_disk("ffmpeg: No space left on device"));
        assert!(says_out_of_disk(
            "writing x: No space left on device (os error 28)"
        ));
        assert!(!says_out_of_disk("encoder: crashed"));
    }
}
