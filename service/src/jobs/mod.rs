//! The job lifecycle seen from the API (the seed's `RenderOrchestratorService`): `submit` stores a
//! job (`pending`) with its project pinned, marks it `queued` and hands its id to the queue;
//! `cancel` ends a job that has not finished and stops its renders on this process (other
//! processes hear of it on the cancel bus); `view` is the API's picture of a job with fresh signed
//! links; `recover` puts unfinished jobs back in the queue after a restart. The workers that take
//! the queue items are in [`crate::worker`]: they share the [`Orchestrator`] state defined here.
//! Whoever moves a job into a final state (a worker or a cancel request) sends its callback.

pub mod callback;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use vrender_engine::{CancelToken, Engine, EngineConfig, OutputFormat, Project, Quality};

use crate::config::Settings;
use crate::media::MediaCache;
use crate::model::chunks::{chunk_key, ChunkPlan};
use crate::model::{
    now_millis, JobRecord, JobResult, JobSpec, JobState, JobStatus, JobView, StillSpec,
};
use crate::queue::{CancelBus, Queue, QueueError, QueueItem};
use crate::scratch::{self, STALE_SCRATCH};
use crate::storage::Storage;
use crate::store::{JobStore, ProjectStore, StoreError, UpdateOutcome};
use callback::CallbackSender;
use tracing::Instrument;

/// Why a request to the orchestrator was refused.
#[derive(Debug, thiserror::Error)]
pub enum OrchestratorError {
    #[error("no project with id `{0}`")]
    UnknownProject(String),
    #[error("no job with id `{0}`")]
    UnknownJob(String),
    #[error("job `{id}` is already {status}")]
    AlreadyFinished { id: String, status: &'static str },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
}

/// A job request, already checked by the API layer.
#[derive(Debug, Clone, Default)]
pub struct NewJob {
    pub project_id: String,
    pub priority: u8,
    pub callback_url: Option<String>,
    pub output_format: Option<OutputFormat>,
    pub quality: Option<Quality>,
    /// The project to render as the API read it (a template's merged with the job's values): it
    /// is pinned into the record (see [`JobSpec::project`](crate::model::JobSpec::project)). `None`: read from the store.
    pub project: Option<Project>,
    pub poster: Option<StillSpec>,
    pub thumbnail: Option<StillSpec>,
    /// A still-only job's picture.
    pub still: Option<StillSpec>,
    pub gif: Option<vrender_engine::GifOptions>,
}

/// The engine, once opened, or why it could not be.
pub enum EngineState {
    Ready(Arc<Engine>),
    Failed(String),
}

impl EngineState {
    /// Opens the GPU on the blocking pool.
    pub async fn open(settings: &Settings) -> EngineState {
        let config = EngineConfig {
            adapter: settings.gpu_adapter.clone(),
            ffmpeg: settings.ffmpeg.clone(),
            system_fonts: settings.system_fonts,
            ..EngineConfig::default()
        };
        match tokio::task::spawn_blocking(move || Engine::new(config)).await {
            Ok(Ok(engine)) => EngineState::Ready(Arc::new(engine)),
            Ok(Err(e)) => EngineState::Failed(e.to_string()),
            Err(e) => EngineState::Failed(format!("engine start-up crashed: {e}")),
        }
    }
}

/// The GPU adapter the engine runs on, in words.
pub fn describe_gpu(engine: &Engine) -> String {
    let a = engine.adapter();
    format!(
        "{} ({}, {}{})",
        a.name,
        a.backend,
        a.device_type,
        if a.software { ", software" } else { "" }
    )
}

/// Counts of what startup recovery did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Recovery {
    pub requeued: usize,
    pub failed: usize,
    pub resubmitted: usize,
}

pub struct Orchestrator {
    pub(crate) settings: Settings,
    pub(crate) projects: Arc<dyn ProjectStore>,
    pub(crate) jobs: Arc<dyn JobStore>,
    pub(crate) queue: Arc<dyn Queue>,
    pub(crate) storage: Arc<dyn Storage>,
    pub(crate) engine: EngineState,
    pub(crate) callbacks: CallbackSender,
    /// The queue items this process runs now (a job id, or a chunk or join item of a chunked job),
    /// each with the token that stops it.
    pub(crate) running: Mutex<HashMap<String, CancelToken>>,
    pub(crate) scratch_root: PathBuf,
    /// The `s3://` media of the jobs this process works on, fetched once per job.
    pub(crate) media: MediaCache,
    /// Where cancellations are broadcast to other processes (Redis pub/sub), when distributed.
    pub(crate) cancel_bus: OnceLock<Arc<dyn CancelBus>>,
    /// Set by [`Orchestrator::shutdown`]: items stopped by it leave their queue items unacked.
    pub(crate) stopping: AtomicBool,
}

/// The queue entry of a job: the queue carries ids and priorities only; the store is the truth.
pub(crate) fn queue_item(job: &JobRecord) -> QueueItem {
    QueueItem {
        job_id: job.job_id.clone(),
        priority: job.spec.priority,
    }
}

impl Orchestrator {
    pub fn new(
        settings: Settings,
        projects: Arc<dyn ProjectStore>,
        jobs: Arc<dyn JobStore>,
        queue: Arc<dyn Queue>,
        storage: Arc<dyn Storage>,
        engine: EngineState,
    ) -> Orchestrator {
        let callbacks = CallbackSender {
            secret: settings.callback_secret.clone(),
            allow_private: settings.allow_private_callbacks,
            max_attempts: settings.callback_max_attempts,
            retry_base: settings.callback_retry_base,
            timeout: settings.callback_timeout,
            jobs: jobs.clone(),
        };
        let scratch_root = settings.data_dir.join("tmp");
        Orchestrator {
            settings,
            projects,
            jobs,
            queue,
            storage,
            engine,
            callbacks,
            running: Mutex::new(HashMap::new()),
            media: MediaCache::new(scratch_root.clone()),
            scratch_root,
            cancel_bus: OnceLock::new(),
            stopping: AtomicBool::new(false),
        }
    }

    /// Broadcasts cancellations to the other processes from now on.
    pub fn set_cancel_bus(&self, bus: Arc<dyn CancelBus>) {
        let _ = self.cancel_bus.set(bus);
    }

    /// Stops the render of `job_id` if this process runs it (a cancel broadcast by another
    /// process); whether it did.
    pub fn cancel_local(&self, job_id: &str) -> bool {
        let stopped = self.stop_running(job_id);
        for id in &stopped {
            tracing::info!(job_id, task = %id, "render stopping: cancelled by a broadcast");
        }
        !stopped.is_empty()
    }

    /// Stops what this process runs of `job_id`: the job itself, or its chunk and join items
    /// (`{jobId}/…`) when it renders in chunks. The ids of the items stopped.
    fn stop_running(&self, job_id: &str) -> Vec<String> {
        let prefix = format!("{job_id}/");
        let running = self.running.lock().unwrap_or_else(|p| p.into_inner());
        running
            .iter()
            .filter(|(id, _)| *id == job_id || id.starts_with(&prefix))
            .map(|(id, token)| {
                token.cancel();
                id.clone()
            })
            .collect()
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn engine(&self) -> &EngineState {
        &self.engine
    }

    /// Folder of the temporary files of running renders.
    pub fn scratch_root(&self) -> &Path {
        &self.scratch_root
    }

    /// Renders running on this instance now.
    pub fn running(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// The API view of a job, with a fresh signed `outputUrl` when it has an output.
    pub async fn view(&self, job: &JobRecord) -> JobView {
        let url = match (&job.result.output_key, job.state.status) {
            (Some(key), JobStatus::Completed) => match self
                .storage
                .signed_url(key, self.settings.signed_url_expiry)
                .await
            {
                Ok(u) => Some(u),
                Err(e) => {
                    tracing::warn!(job_id = %job.job_id, error = %e, "cannot sign output link");
                    None
                }
            },
            _ => None,
        };
        let mut view = JobView::new(job, url);
        if job.state.status == JobStatus::Completed {
            view.poster_url = self.sign(job, job.result.poster_key.as_deref()).await;
            view.thumbnail_url = self.sign(job, job.result.thumbnail_key.as_deref()).await;
        }
        view
    }

    /// A signed link to `key`, if any (a failure is logged, the link left out).
    async fn sign(&self, job: &JobRecord, key: Option<&str>) -> Option<String> {
        let key = key?;
        match self
            .storage
            .signed_url(key, self.settings.signed_url_expiry)
            .await
        {
            Ok(u) => Some(u),
            Err(e) => {
                tracing::warn!(job_id = %job.job_id, key, error = %e, "cannot sign a still's link");
                None
            }
        }
    }

    /// The project `job` renders: its merged template, else the stored project.
    pub(crate) async fn job_project(
        &self,
        job: &JobRecord,
    ) -> Result<Option<Project>, crate::store::StoreError> {
        if let Some(p) = &job.spec.project {
            return Ok(Some(p.clone()));
        }
        Ok(self
            .projects
            .get_project(&job.project_id)
            .await?
            .map(|p| p.project))
    }

    /// Stores and queues a job.
    pub async fn submit(&self, req: NewJob) -> Result<JobRecord, OrchestratorError> {
        let project = match req.project {
            Some(p) => p,
            None => {
                self.projects
                    .get_project(&req.project_id)
                    .await?
                    .ok_or_else(|| OrchestratorError::UnknownProject(req.project_id.clone()))?
                    .project
            }
        };
        let now = now_millis();
        let job = JobRecord {
            job_id: uuid::Uuid::new_v4().to_string(),
            project_id: project.project_id.clone(),
            user_id: project.user_id.clone(),
            created_at: now,
            updated_at: now,
            spec: JobSpec {
                priority: req.priority,
                output_format: req.output_format.unwrap_or(project.output_format),
                quality: req.quality,
                callback_url: req.callback_url,
                max_attempts: self.settings.job_max_attempts,
                project: Some(project),
                poster: req.poster,
                thumbnail: req.thumbnail,
                still: req.still,
                gif: req.gif,
            },
            state: JobState::new(),
            result: JobResult::default(),
        };
        self.jobs.create_job(&job).await?;
        // Mark queued before pushing: a worker claims only `queued` jobs. A crash in between leaves
        // the job `queued` in the store, and startup recovery pushes it again.
        let job = match self
            .jobs
            .update_job(
                &job.job_id,
                &[JobStatus::Pending],
                Box::new(|j| j.state.status = JobStatus::Queued),
            )
            .await?
        {
            UpdateOutcome::Updated(j) | UpdateOutcome::Mismatch(j) => j,
            UpdateOutcome::NotFound => return Err(OrchestratorError::UnknownJob(job.job_id)),
        };
        match self.queue.push(queue_item(&job), Duration::ZERO).await {
            Ok(()) => {}
            // Redis away: the job is stored `queued`, and the periodic resync pushes it once
            // Redis is back, so the request still succeeds.
            Err(QueueError::Backend(e)) if self.settings.redis_url.is_some() => {
                tracing::warn!(job_id = %job.job_id, error = %e, "cannot push the job now; the queue resync pushes it")
            }
            Err(e) => return Err(e.into()),
        }
        crate::metrics::metrics().jobs_submitted.inc();
        tracing::info!(job_id = %job.job_id, project_id = %job.project_id, priority = job.spec.priority, "job queued");
        Ok(job)
    }

    /// Cancels a job that has not finished. A queued job never starts; a running one stops at its
    /// next frame and its scratch files are removed.
    pub async fn cancel(self: &Arc<Self>, job_id: &str) -> Result<JobRecord, OrchestratorError> {
        let outcome = self
            .jobs
            .update_job(
                job_id,
                &[JobStatus::Pending, JobStatus::Queued, JobStatus::Processing],
                Box::new(|j| {
                    j.state.status = JobStatus::Cancelled;
                    j.state.current_phase = None;
                    j.state.estimated_time_remaining = None;
                    j.state.finished_at = Some(now_millis());
                }),
            )
            .await?;
        match outcome {
            UpdateOutcome::Updated(job) => {
                self.queue.remove(job_id).await?;
                self.stop_running(job_id);
                if job.state.chunks.is_some() {
                    let this = self.clone();
                    let job = job.clone();
                    tokio::spawn(async move { this.delete_chunk_objects_of(&job).await });
                }
                self.media.forget(job_id);
                if let Some(bus) = self.cancel_bus.get() {
                    if let Err(e) = bus.publish_cancel(job_id).await {
                        tracing::warn!(job_id, error = %e, "cannot broadcast the cancel; the worker notices at its next progress write");
                    }
                }
                tracing::info!(job_id, "job cancelled");
                crate::metrics::metrics()
                    .jobs_finished
                    .with_label_values(&[JobStatus::Cancelled.as_str()])
                    .inc();
                self.spawn_callback(&job);
                Ok(job)
            }
            UpdateOutcome::Mismatch(job) => Err(OrchestratorError::AlreadyFinished {
                id: job.job_id,
                status: job.state.status.as_str(),
            }),
            UpdateOutcome::NotFound => Err(OrchestratorError::UnknownJob(job_id.to_string())),
        }
    }

    /// After a restart: jobs left `processing` are re-queued (or failed when out of tries), jobs left
    /// `pending`/`queued` are pushed to the queue again, stale scratch files are removed.
    ///
    /// Distributed mode (`REDIS_URL`): other live workers may run the `processing` jobs and use the
    /// shared scratch folder, so only `pending`/`queued` jobs are pushed; a dead worker's jobs come
    /// back through the queue's lease reaper.
    pub async fn recover(self: &Arc<Self>) -> Result<Recovery, OrchestratorError> {
        let mut report = Recovery::default();
        let distributed = self.settings.redis_url.is_some();
        if distributed {
            // Other processes may be rendering in this folder: only leftovers of dead ones go.
            let removed = scratch::sweep_dead(&self.scratch_root, STALE_SCRATCH);
            if removed > 0 {
                tracing::info!(removed, "removed scratch folders of dead processes");
            }
            self.push_unfinished(&mut report).await?;
            return Ok(report);
        }
        if self.scratch_root.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.scratch_root) {
                tracing::warn!(error = %e, "cannot clear the scratch folder");
            }
        }
        for job in self.jobs.jobs_with_status(&[JobStatus::Processing]).await? {
            let retry = job.state.attempts < job.spec.max_attempts;
            let attempt = job.state.attempts;
            let outcome = self
                .jobs
                .update_job(
                    &job.job_id,
                    &[JobStatus::Processing],
                    Box::new(move |j| {
                        j.state.current_phase = None;
                        j.state.estimated_time_remaining = None;
                        if retry {
                            j.state.status = JobStatus::Queued;
                            j.state.progress = 0.0;
                            j.state.frames_done = 0;
                            j.result.error = Some(format!("attempt {attempt} was interrupted by a service restart; re-queued"));
                        } else {
                            j.state.status = JobStatus::Failed;
                            j.state.finished_at = Some(now_millis());
                            j.result.error = Some(format!(
                                "attempt {attempt} was interrupted by a service restart and no tries are left"
                            ));
                        }
                    }),
                )
                .await?;
            if let UpdateOutcome::Updated(j) = outcome {
                if retry {
                    report.requeued += 1;
                } else {
                    report.failed += 1;
                    self.spawn_callback(&j);
                }
            }
        }
        self.push_unfinished(&mut report).await?;
        Ok(report)
    }

    /// Pushes the `pending` and `queued` jobs (a pending one is marked queued first).
    async fn push_unfinished(&self, report: &mut Recovery) -> Result<(), OrchestratorError> {
        for job in self
            .jobs
            .jobs_with_status(&[JobStatus::Pending, JobStatus::Queued])
            .await?
        {
            if job.state.status == JobStatus::Pending {
                self.jobs
                    .update_job(
                        &job.job_id,
                        &[JobStatus::Pending],
                        Box::new(|j| j.state.status = JobStatus::Queued),
                    )
                    .await?;
            }
            self.queue.push(queue_item(&job), Duration::ZERO).await?;
            report.resubmitted += 1;
        }
        Ok(())
    }

    /// Starts the `MAX_CONCURRENT_RENDERS` workers; they run until the queue is closed.
    /// Stops taking jobs and stops running renders; their jobs go back to `queued` for the next start.
    pub async fn shutdown(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        self.queue.close().await;
        let running: Vec<(String, CancelToken)> = self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .drain()
            .collect();
        for (job_id, token) in running {
            token.cancel();
            let r = self
                .jobs
                .update_job(
                    &job_id,
                    &[JobStatus::Processing],
                    Box::new(|j| {
                        j.state.status = JobStatus::Queued;
                        j.state.attempts = j.state.attempts.saturating_sub(1);
                        j.state.progress = 0.0;
                        j.state.frames_done = 0;
                        j.state.current_phase = None;
                        j.state.estimated_time_remaining = None;
                    }),
                )
                .await;
            if let Err(e) = r {
                tracing::warn!(job_id, error = %e, "cannot re-queue a running job at shutdown");
            }
        }
    }

    /// Sends the job's callback in the background, when it has one.
    pub(crate) fn spawn_callback(self: &Arc<Self>, job: &JobRecord) {
        if job.spec.callback_url.is_none() {
            return;
        }
        let this = self.clone();
        let job = job.clone();
        tokio::spawn(async move {
            let view = this.view(&job).await;
            match serde_json::to_vec(&view) {
                Ok(body) => this.callbacks.deliver(&job, body).await,
                Err(e) => {
                    tracing::error!(job_id = %job.job_id, error = %e, "cannot serialise callback")
                }
            }
        }.in_current_span());
    }
    /// Deletes the stored chunks of `job`'s current plan (after the job ended).
    pub(crate) async fn delete_chunk_objects_of(&self, job: &JobRecord) {
        // The record may be older than the last chunk's upload: read the plan again.
        let plan = match self.jobs.get_job(&job.job_id).await {
            Ok(Some(j)) => j.state.chunks,
            _ => job.state.chunks.clone(),
        };
        if let Some(plan) = plan {
            self.delete_chunk_objects(job, &plan).await;
        }
    }

    /// Deletes every chunk object a plan may have stored (missing ones are fine).
    pub(crate) async fn delete_chunk_objects(&self, job: &JobRecord, plan: &ChunkPlan) {
        for (n, chunk) in plan.chunks.iter().enumerate() {
            let key = chunk
                .output_key
                .clone()
                .unwrap_or_else(|| chunk_key(job, n));
            if let Err(e) = self.storage.delete(&key).await {
                tracing::warn!(job_id = %job.job_id, key, error = %e, "cannot delete chunk");
            }
        }
    }

    /// `DATA_DIR` or the scratch folder below `MIN_FREE_DISK_MB`, when one is.
    pub(crate) fn low_disk(&self) -> Option<crate::policy::capacity::DiskSpace> {
        crate::policy::capacity::Capacity::new(
            self.settings.capacity.clone(),
            &self.settings.data_dir,
        )
        .low_disk()
    }
}
