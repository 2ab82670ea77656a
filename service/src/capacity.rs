//! Server capacity checks on new jobs: `POST /api/v1/render/jobs` answers 503 with `Retry-After`
//! while `MAX_QUEUED_JOBS` jobs are waiting (counted in the job store, so across every process that
//! shares it) or while `DATA_DIR` or its scratch folder has less than `MIN_FREE_DISK_MB` free. The
//! disk reading is also what `/health` reports and what tells a failed render that the disk filled.

use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::api::error::ApiError;
use crate::config::ConfigError;
use crate::model::JobStatus;
use crate::store::{JobQuery, JobStore};

/// `Retry-After` of a refusal because the queue is full.
pub const QUEUE_FULL_RETRY_AFTER: Duration = Duration::from_secs(10);
/// `Retry-After` of a refusal because the disk is low.
pub const DISK_LOW_RETRY_AFTER: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapacitySettings {
    /// `MAX_QUEUED_JOBS` (unset or 0: no limit): jobs waiting (`queued`) beyond which new jobs are
    /// refused.
    pub max_queued_jobs: Option<u64>,
    /// `MIN_FREE_DISK_MB` (default 1024; 0: not checked): free space `DATA_DIR` and its scratch
    /// folder must keep for new jobs to be accepted.
    pub min_free_disk_mb: u64,
}

impl CapacitySettings {
    pub fn from_lookup(get: &impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let num = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
            match get(name) {
                None => Ok(default),
                Some(v) => v.trim().parse::<u64>().map_err(|_| ConfigError {
                    name,
                    value: v.clone(),
                    message: "expected a whole number (0 turns the check off)".into(),
                }),
            }
        };
        let max_queued = num("MAX_QUEUED_JOBS", 0)?;
        Ok(CapacitySettings {
            max_queued_jobs: (max_queued > 0).then_some(max_queued),
            min_free_disk_mb: num("MIN_FREE_DISK_MB", 1024)?,
        })
    }
}

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

/// Why a new job is refused now; answers 503 with `Retry-After`.
#[derive(Debug, Clone)]
pub struct Overloaded {
    pub message: String,
    pub retry_after: Duration,
    /// `queue_full` or `disk_low`, the label of `vrender_jobs_refused_total`.
    pub reason: &'static str,
}

impl IntoResponse for Overloaded {
    fn into_response(self) -> Response {
        crate::metrics::metrics()
            .jobs_refused
            .with_label_values(&[self.reason])
            .inc();
        let mut resp = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, self.message).into_response();
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after.as_secs().max(1)),
        );
        resp
    }
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
#[derive(Debug)]
pub enum Refused {
    Overloaded(Overloaded),
    Store(crate::store::StoreError),
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
    fn settings() {
        let get = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(n, _)| *n == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let s = CapacitySettings::from_lookup(&get(&[])).unwrap();
        assert_eq!(s.max_queued_jobs, None);
        assert_eq!(s.min_free_disk_mb, 1024);
        let s = CapacitySettings::from_lookup(&get(&[
            ("MAX_QUEUED_JOBS", "50"),
            ("MIN_FREE_DISK_MB", "0"),
        ]))
        .unwrap();
        assert_eq!(s.max_queued_jobs, Some(50));
        assert_eq!(s.min_free_disk_mb, 0);
        for (k, v) in [("MAX_QUEUED_JOBS", "-1"), ("MIN_FREE_DISK_MB", "lots")] {
            let pairs: &'static [(&'static str, &'static str)] = Box::leak(Box::new([(k, v)]));
            assert_eq!(
                CapacitySettings::from_lookup(&get(pairs)).unwrap_err().name,
                k
            );
        }
    }

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
