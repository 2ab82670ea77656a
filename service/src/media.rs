//! Where a job's `s3://` media live on this process: fetched once per job into a scratch folder of
//! their own, and shared by every queue item of the job this process runs (the whole render, each
//! chunk it takes, the join). The engine reads local files only, so the project handed to it points
//! at these copies (see [`crate::storage::s3_assets`]).
//!
//! An entry goes when this process ends the job ([`MediaCache::forget`]) or after it has been idle
//! for [`IDLE`] (the job ended on another process); its folder is removed once no render uses it.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::OnceCell;
use vrender_engine::Project;

use crate::config::Settings;
use crate::scratch::Scratch;
use crate::storage::s3_assets::{self, FetchError};
use crate::storage::{Storage, StorageError};

/// How long an entry nobody asked for is kept.
pub const IDLE: Duration = Duration::from_secs(600);

/// A job's project ready to render from local files.
pub struct LocalMedia {
    /// The project with its `s3://` sources pointed at the local copies.
    pub project: Project,
    /// The folder of the copies (an extra asset root), when the project has `s3://` sources.
    pub root: Option<PathBuf>,
    /// Removes the copies when the last user lets go.
    _dir: Option<Scratch>,
}

struct Entry {
    media: Arc<OnceCell<Arc<LocalMedia>>>,
    used: Instant,
}

/// The localised media of the jobs this process works on, by job id.
pub struct MediaCache {
    root: PathBuf,
    jobs: Mutex<HashMap<String, Entry>>,
}

impl MediaCache {
    /// A cache whose folders go under `root` (the scratch root).
    pub fn new(root: PathBuf) -> MediaCache {
        MediaCache {
            root,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    /// `project` (job `job_id`'s) ready to render from local files: its `s3://` sources fetched
    /// on the first call for the job, the same copies handed out after that. A failed fetch is
    /// tried again by the next call.
    pub async fn localise(
        &self,
        job_id: &str,
        project: Project,
        settings: &Settings,
        storage: &dyn Storage,
    ) -> Result<Arc<LocalMedia>, FetchError> {
        if !s3_assets::has_s3_sources(&project) {
            return Ok(Arc::new(LocalMedia {
                project,
                root: None,
                _dir: None,
            }));
        }
        let cell = {
            let mut jobs = self.lock();
            let now = Instant::now();
            jobs.retain(|_, e| now.duration_since(e.used) < IDLE);
            let e = jobs.entry(job_id.to_string()).or_insert_with(|| Entry {
                media: Arc::default(),
                used: now,
            });
            e.used = now;
            e.media.clone()
        };
        let media = cell
            .get_or_try_init(|| self.fetch(job_id, project, settings, storage))
            .await?;
        Ok(media.clone())
    }

    async fn fetch(
        &self,
        job_id: &str,
        mut project: Project,
        settings: &Settings,
        storage: &dyn Storage,
    ) -> Result<Arc<LocalMedia>, FetchError> {
        // One folder per process and job: processes sharing a scratch root never share copies.
        let path = self
            .root
            .join(format!("{job_id}-media-{}", std::process::id()));
        let dir = Scratch::create(path.clone()).map_err(|e| FetchError::Storage {
            path: "media".into(),
            source: StorageError::io(format!("create {}", path.display()), e),
        })?;
        s3_assets::prepare(&mut project, settings, storage, &dir.path).await?;
        tracing::info!(job_id, dir = %dir.path.display(), "s3:// media fetched for the job");
        Ok(Arc::new(LocalMedia {
            project,
            root: Some(dir.path.clone()),
            _dir: Some(dir),
        }))
    }

    /// Drops the job's entry (the job ended): its folder goes once no render uses it.
    pub fn forget(&self, job_id: &str) {
        self.lock().remove(job_id);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Entry>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }
}
