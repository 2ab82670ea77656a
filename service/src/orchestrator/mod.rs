//! The job lifecycle (the seed's `RenderOrchestratorService` and `RenderJobProcessor`).
//!
//! `submit` stores a job (`pending`), marks it `queued` and hands its id to the queue. Each of the
//! `MAX_CONCURRENT_RENDERS` workers pops ids and claims the job with a compare-and-set
//! `queued → processing`, then renders it with the engine on the blocking pool: progress and ETA are
//! stored every `PROGRESS_INTERVAL_MS`, the output goes to storage (`uploading`), the scratch folder is
//! removed (`cleanup`) and the job ends `completed`, `failed` or `cancelled`. Transient errors send
//! the job back to `queued` with exponential backoff while tries remain. Whoever moves a job into a
//! final state (the worker or a cancel request) sends its callback.

pub mod callback;
pub mod chunks;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use vrender_engine::{
    AssetResolver, CancelToken, Engine, EngineConfig, OutputFormat, Progress, Project, Quality,
    RenderError, RenderRequest, RenderStats,
};

use crate::config::Settings;
use crate::model::{now_millis, JobPhase, JobRecord, JobStatus, JobView};
use crate::queue::{Queue, QueueError, QueueItem};
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
#[derive(Debug, Clone)]
pub struct NewJob {
    pub project_id: String,
    pub priority: u8,
    pub callback_url: Option<String>,
    pub output_format: Option<OutputFormat>,
    pub quality: Option<Quality>,
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
    settings: Settings,
    projects: Arc<dyn ProjectStore>,
    jobs: Arc<dyn JobStore>,
    queue: Arc<dyn Queue>,
    storage: Arc<dyn Storage>,
    engine: EngineState,
    callbacks: CallbackSender,
    running: Mutex<HashMap<String, CancelToken>>,
    scratch_root: PathBuf,
}

/// How one render attempt ended.
enum Attempt {
    Done {
        key: String,
        /// Seconds of video (quotas count them).
        seconds: f64,
    },
    Cancelled,
    Failed {
        message: String,
        transient: bool,
        /// A short label for `vrender_job_failures_total`.
        reason: &'static str,
    },
}

/// Removes a job's scratch folder when dropped, whatever happened.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.0.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.0) {
                tracing::warn!(path = %self.0.display(), error = %e, "cannot remove scratch folder");
            }
        }
    }
}

/// The queue entry of a job: the queue carries ids and priorities only; the store is the truth.
fn queue_item(job: &JobRecord) -> QueueItem {
    QueueItem {
        job_id: job.job_id.clone(),
        priority: job.priority,
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
            scratch_root,
        }
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
        let url = match (&job.output_key, job.status) {
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
        JobView::new(job, url)
    }

    /// Stores and queues a job.
    pub async fn submit(&self, req: NewJob) -> Result<JobRecord, OrchestratorError> {
        let project = self
            .projects
            .get_project(&req.project_id)
            .await?
            .ok_or_else(|| OrchestratorError::UnknownProject(req.project_id.clone()))?
            .project;
        let now = now_millis();
        let job = JobRecord {
            job_id: uuid::Uuid::new_v4().to_string(),
            project_id: project.project_id.clone(),
            user_id: project.user_id.clone(),
            status: JobStatus::Pending,
            priority: req.priority,
            progress: 0.0,
            current_phase: None,
            estimated_time_remaining: None,
            error: None,
            output_key: None,
            output_format: req.output_format.unwrap_or(project.output_format),
            quality: req.quality,
            callback_url: req.callback_url,
            callback: None,
            attempts: 0,
            max_attempts: self.settings.job_max_attempts,
            frames_done: 0,
            frames_total: 0,
            created_at: now,
            updated_at: now,
            started_at: None,
            finished_at: None,
            chunks: None,
            rendered_seconds: 0.0,
        };
        self.jobs.create_job(&job).await?;
        // Mark queued before pushing: a worker claims only `queued` jobs. A crash in between leaves
        // the job `queued` in the store, and startup recovery pushes it again.
        let job = match self
            .jobs
            .update_job(
                &job.job_id,
                &[JobStatus::Pending],
                Box::new(|j| j.status = JobStatus::Queued),
            )
            .await?
        {
            UpdateOutcome::Updated(j) | UpdateOutcome::Mismatch(j) => j,
            UpdateOutcome::NotFound => return Err(OrchestratorError::UnknownJob(job.job_id)),
        };
        self.queue.push(queue_item(&job), Duration::ZERO).await?;
        crate::metrics::metrics().jobs_submitted.inc();
        tracing::info!(job_id = %job.job_id, project_id = %job.project_id, priority = job.priority, "job queued");
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
                    j.status = JobStatus::Cancelled;
                    j.current_phase = None;
                    j.estimated_time_remaining = None;
                    j.finished_at = Some(now_millis());
                }),
            )
            .await?;
        match outcome {
            UpdateOutcome::Updated(job) => {
                self.queue.remove(job_id).await?;
                if let Some(token) = self
                    .running
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .get(job_id)
                {
                    token.cancel();
                }
                self.cancel_children(&job);
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
                status: job.status.as_str(),
            }),
            UpdateOutcome::NotFound => Err(OrchestratorError::UnknownJob(job_id.to_string())),
        }
    }

    /// After a restart: jobs left `processing` are re-queued (or failed when out of tries), jobs left
    /// `pending`/`queued` are pushed to the queue again, stale scratch files are removed.
    pub async fn recover(self: &Arc<Self>) -> Result<Recovery, OrchestratorError> {
        let mut report = Recovery::default();
        if self.scratch_root.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.scratch_root) {
                tracing::warn!(error = %e, "cannot clear the scratch folder");
            }
        }
        for job in self.jobs.jobs_with_status(&[JobStatus::Processing]).await? {
            let retry = job.attempts < job.max_attempts;
            let attempt = job.attempts;
            let outcome = self
                .jobs
                .update_job(
                    &job.job_id,
                    &[JobStatus::Processing],
                    Box::new(move |j| {
                        j.current_phase = None;
                        j.estimated_time_remaining = None;
                        if retry {
                            j.status = JobStatus::Queued;
                            j.progress = 0.0;
                            j.frames_done = 0;
                            j.error = Some(format!("attempt {attempt} was interrupted by a service restart; re-queued"));
                        } else {
                            j.status = JobStatus::Failed;
                            j.finished_at = Some(now_millis());
                            j.error = Some(format!(
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
        for job in self
            .jobs
            .jobs_with_status(&[JobStatus::Pending, JobStatus::Queued])
            .await?
        {
            if job.status == JobStatus::Pending {
                self.jobs
                    .update_job(
                        &job.job_id,
                        &[JobStatus::Pending],
                        Box::new(|j| j.status = JobStatus::Queued),
                    )
                    .await?;
            }
            self.queue.push(queue_item(&job), Duration::ZERO).await?;
            report.resubmitted += 1;
        }
        Ok(report)
    }

    /// Starts the workers; they run until the queue is closed.
    pub fn spawn_workers(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.settings.max_concurrent_renders)
            .map(|n| {
                let this = self.clone();
                tokio::spawn(async move {
                    loop {
                        match this.queue.pop().await {
                            Ok(delivery) => this.run_delivery(delivery).await,
                            Err(QueueError::Closed) => break,
                            Err(e) => {
                                tracing::error!(worker = n, error = %e, "queue error");
                                tokio::time::sleep(Duration::from_secs(1)).await;
                            }
                        }
                    }
                })
            })
            .collect()
    }

    /// Stops taking jobs and stops running renders; their jobs go back to `queued` for the next start.
    pub async fn shutdown(&self) {
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
                        j.status = JobStatus::Queued;
                        j.attempts = j.attempts.saturating_sub(1);
                        j.progress = 0.0;
                        j.frames_done = 0;
                        j.current_phase = None;
                        j.estimated_time_remaining = None;
                    }),
                )
                .await;
            if let Err(e) = r {
                tracing::warn!(job_id, error = %e, "cannot re-queue a running job at shutdown");
            }
        }
    }

    #[tracing::instrument(name = "job", skip_all, fields(job_id = %item.job_id))]
    async fn run_job(self: &Arc<Self>, item: QueueItem) {
        let id = item.job_id;
        let claim = self
            .jobs
            .update_job(
                &id,
                &[JobStatus::Queued],
                Box::new(|j| {
                    j.status = JobStatus::Processing;
                    j.attempts += 1;
                    j.started_at = Some(now_millis());
                    j.progress = 0.0;
                    j.frames_done = 0;
                    j.current_phase = Some(JobPhase::Loading.as_str().into());
                    j.estimated_time_remaining = None;
                }),
            )
            .await;
        let job = match claim {
            Ok(UpdateOutcome::Updated(job)) => job,
            Ok(_) => return, // cancelled or taken meanwhile
            Err(e) => {
                tracing::error!(job_id = %id, error = %e, "cannot claim job");
                return;
            }
        };
        if self.split_into_chunks(&job).await {
            return; // long video: rendered as chunks by any worker (chunks.rs)
        }
        let token = CancelToken::new();
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), token.clone());
        let started = Instant::now();
        tracing::info!(job_id = %id, attempt = job.attempts, "render started");
        let attempt = self.attempt(&job, &token).await;
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        if let Err(e) = self.finish(&job, attempt, started.elapsed()).await {
            tracing::error!(job_id = %id, error = %e, "cannot record the end of a render");
        }
    }

    async fn attempt(&self, job: &JobRecord, token: &CancelToken) -> Attempt {
        let project = match self.projects.get_project(&job.project_id).await {
            Ok(Some(p)) => p.project,
            Ok(None) => {
                return Attempt::Failed {
                    message: format!("project `{}` no longer exists", job.project_id),
                    transient: false,
                    reason: "project_missing",
                }
            }
            Err(e) => {
                return Attempt::Failed {
                    message: e.to_string(),
                    transient: true,
                    reason: "store",
                }
            }
        };
        let engine = match &self.engine {
            EngineState::Ready(e) => e.clone(),
            EngineState::Failed(why) => {
                return Attempt::Failed {
                    message: format!("the render engine is unavailable: {why}"),
                    transient: true,
                    reason: "engine_unavailable",
                }
            }
        };
        let scratch = Scratch(
            self.scratch_root
                .join(format!("{}-{}", job.job_id, job.attempts)),
        );
        if let Err(e) = std::fs::create_dir_all(&scratch.0) {
            return Attempt::Failed {
                message: format!("cannot create scratch folder: {e}"),
                transient: true,
                reason: "scratch",
            };
        }
        let output = scratch
            .0
            .join(format!("output.{}", job.output_format.extension()));
        let mut request = RenderRequest::new(
            &output,
            AssetResolver::confined_to(self.settings.asset_roots.clone()),
        );
        request.quality = job.quality;
        request.format = Some(job.output_format);
        request.limits = self.settings.limits.clone();

        let result = self.render(engine, project, request, job, token).await;
        let attempt = match result {
            Ok(stats) => {
                crate::metrics::metrics()
                    .encode_seconds
                    .observe(stats.elapsed.as_secs_f64());
                self.upload(job, &output, stats.duration.as_secs_f64())
                    .await
            }
            Err(RenderError::Cancelled) => Attempt::Cancelled,
            Err(e) if token.is_cancelled() => {
                tracing::debug!(job_id = %job.job_id, error = %e, "render stopped after cancel");
                Attempt::Cancelled
            }
            Err(e) => Attempt::Failed {
                transient: e.is_transient(),
                reason: render_failure_reason(&e),
                message: e.to_string(),
            },
        };
        if matches!(attempt, Attempt::Done { .. }) {
            self.set_phase(job, JobPhase::Cleanup).await;
        }
        drop(scratch);
        attempt
    }

    /// Runs the engine on the blocking pool, storing progress as it goes. Stops the render when the
    /// stored job leaves `processing` (a cancel from this or another instance).
    async fn render(
        &self,
        engine: Arc<Engine>,
        project: Project,
        request: RenderRequest,
        job: &JobRecord,
        token: &CancelToken,
    ) -> Result<RenderStats, RenderError> {
        let (tx, mut rx) = tokio::sync::watch::channel::<Option<Progress>>(None);
        let cancel = token.clone();
        let span = tracing::Span::current();
        let mut handle = tokio::task::spawn_blocking(move || {
            let _in_job = span.enter(); // the engine's logs carry the job id too
            let mut report = |p: Progress| {
                tx.send_replace(Some(p));
            };
            engine.render(&project, &request, &mut report, &cancel)
        });
        let mut tick = tokio::time::interval(self.settings.progress_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                res = &mut handle => {
                    return match res {
                        Ok(r) => r,
                        Err(e) => Err(RenderError::Request(format!("the render crashed: {e}"))),
                    };
                }
                _ = tick.tick() => {
                    if !rx.has_changed().unwrap_or(false) {
                        continue;
                    }
                    let Some(p) = *rx.borrow_and_update() else { continue };
                    let still_running = self.store_progress(job, p).await;
                    if !still_running {
                        token.cancel();
                    }
                }
            }
        }
    }

    /// Stores a progress report; false when the job is no longer `processing`.
    async fn store_progress(&self, job: &JobRecord, p: Progress) -> bool {
        let phase = JobPhase::from_engine(p.phase);
        // 0–90 % for the frames (composing and encoding run together), 90 % audio, 95 % upload.
        let progress = match phase {
            JobPhase::Audio => 90.0,
            _ => 90.0 * p.fraction(),
        };
        let eta = p.eta.map(|d| d.as_secs_f64());
        let r = self
            .jobs
            .update_job(
                &job.job_id,
                &[JobStatus::Processing],
                Box::new(move |j| {
                    j.progress = progress.clamp(0.0, 100.0);
                    j.current_phase = Some(phase.as_str().into());
                    j.estimated_time_remaining = eta;
                    j.frames_done = p.frames_done;
                    j.frames_total = p.frames_total;
                }),
            )
            .await;
        match r {
            Ok(UpdateOutcome::Updated(_)) => true,
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(job_id = %job.job_id, error = %e, "cannot store progress");
                true
            }
        }
    }

    async fn set_phase(&self, job: &JobRecord, phase: JobPhase) {
        let progress = match phase {
            JobPhase::Uploading => Some(95.0),
            JobPhase::Cleanup => Some(99.0),
            _ => None,
        };
        let r = self
            .jobs
            .update_job(
                &job.job_id,
                &[JobStatus::Processing],
                Box::new(move |j| {
                    j.current_phase = Some(phase.as_str().into());
                    if let Some(p) = progress {
                        j.progress = j.progress.max(p);
                    }
                }),
            )
            .await;
        if let Err(e) = r {
            tracing::warn!(job_id = %job.job_id, error = %e, "cannot store phase");
        }
    }

    async fn upload(&self, job: &JobRecord, output: &Path, seconds: f64) -> Attempt {
        self.set_phase(job, JobPhase::Uploading).await;
        let key = format!("renders/{}.{}", job.job_id, job.output_format.extension());
        match self
            .storage
            .put_file(&key, output, job.output_format.mime_type())
            .await
        {
            Ok(bytes) => {
                tracing::info!(job_id = %job.job_id, key, bytes, "output stored");
                crate::metrics::metrics().upload_bytes.inc_by(bytes);
                Attempt::Done { key, seconds }
            }
            Err(e) => Attempt::Failed {
                message: e.to_string(),
                transient: true,
                reason: "upload",
            },
        }
    }

    async fn finish(
        self: &Arc<Self>,
        job: &JobRecord,
        attempt: Attempt,
        elapsed: Duration,
    ) -> Result<(), StoreError> {
        let id = job.job_id.as_str();
        let now = now_millis();
        let outcome = match attempt {
            Attempt::Done { key, seconds } => {
                let k = key.clone();
                let outcome = self
                    .jobs
                    .update_job(
                        id,
                        &[JobStatus::Processing],
                        Box::new(move |j| {
                            j.status = JobStatus::Completed;
                            j.progress = 100.0;
                            j.frames_done = j.frames_total;
                            j.current_phase = None;
                            j.estimated_time_remaining = Some(0.0);
                            j.error = None;
                            j.output_key = Some(k.clone());
                            j.finished_at = Some(now);
                            j.rendered_seconds = seconds;
                        }),
                    )
                    .await?;
                if !matches!(outcome, UpdateOutcome::Updated(_)) {
                    // Cancelled during the upload: the output is not wanted.
                    if let Err(e) = self.storage.delete(&key).await {
                        tracing::warn!(job_id = id, error = %e, "cannot delete unwanted output");
                    }
                }
                tracing::info!(
                    job_id = id,
                    elapsed_ms = elapsed.as_millis() as u64,
                    "render completed"
                );
                outcome
            }
            Attempt::Cancelled => {
                tracing::info!(job_id = id, "render stopped (cancelled)");
                self.jobs
                    .update_job(
                        id,
                        &[JobStatus::Processing],
                        Box::new(move |j| {
                            j.status = JobStatus::Cancelled;
                            j.current_phase = None;
                            j.estimated_time_remaining = None;
                            j.finished_at = Some(now);
                        }),
                    )
                    .await?
            }
            Attempt::Failed {
                message,
                transient,
                reason,
            } if transient && job.attempts < job.max_attempts => {
                crate::metrics::metrics()
                    .job_failures
                    .with_label_values(&[reason])
                    .inc();
                let delay = self
                    .settings
                    .job_retry_backoff
                    .saturating_mul(1 << (job.attempts - 1).min(16));
                tracing::warn!(job_id = id, attempt = job.attempts, error = %message, retry_in_ms = delay.as_millis() as u64, "render failed; will retry");
                let outcome = self
                    .jobs
                    .update_job(
                        id,
                        &[JobStatus::Processing],
                        Box::new(move |j| {
                            j.status = JobStatus::Queued;
                            j.progress = 0.0;
                            j.frames_done = 0;
                            j.current_phase = None;
                            j.estimated_time_remaining = None;
                            j.error = Some(format!(
                                "attempt {} failed: {message}; retrying",
                                j.attempts
                            ));
                        }),
                    )
                    .await?;
                if let UpdateOutcome::Updated(j) = &outcome {
                    if let Err(e) = self.queue.push(queue_item(j), delay).await {
                        tracing::warn!(job_id = id, error = %e, "cannot re-queue; it is picked up at the next start");
                    }
                }
                return Ok(());
            }
            Attempt::Failed {
                message,
                transient,
                reason,
            } => {
                crate::metrics::metrics()
                    .job_failures
                    .with_label_values(&[reason])
                    .inc();
                tracing::warn!(job_id = id, attempt = job.attempts, transient, error = %message, "render failed");
                self.jobs
                    .update_job(
                        id,
                        &[JobStatus::Processing],
                        Box::new(move |j| {
                            j.status = JobStatus::Failed;
                            j.current_phase = None;
                            j.estimated_time_remaining = None;
                            j.error = Some(message.clone());
                            j.finished_at = Some(now);
                        }),
                    )
                    .await?
            }
        };
        if let UpdateOutcome::Updated(j) = outcome {
            let m = crate::metrics::metrics();
            m.jobs_finished
                .with_label_values(&[j.status.as_str()])
                .inc();
            if j.status == JobStatus::Completed {
                m.render_completed(j.frames_total, elapsed.as_secs_f64());
            }
            self.spawn_callback(&j);
        }
        Ok(())
    }

    /// Sends the job's callback in the background, when it has one.
    fn spawn_callback(self: &Arc<Self>, job: &JobRecord) {
        if job.callback_url.is_none() {
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
}

/// The `reason` label of a failed render.
fn render_failure_reason(e: &RenderError) -> &'static str {
    match e {
        RenderError::Gpu(_) => "gpu",
        RenderError::Io { .. } => "io",
        RenderError::Encoder(_) => "encoder",
        RenderError::Project(_) => "invalid_project",
        RenderError::Asset { .. } => "asset",
        RenderError::Audio(_) => "audio",
        RenderError::Request(_) => "request",
        RenderError::Cancelled => "cancelled",
    }
}
