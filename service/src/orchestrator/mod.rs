//! The job lifecycle (the seed's `RenderOrchestratorService` and `RenderJobProcessor`).
//!
//! `submit` stores a job (`pending`), marks it `queued` and hands its id to the queue. Each of the
//! `MAX_CONCURRENT_RENDERS` workers pops ids and claims the job with a compare-and-set
//! `queued → processing`, then renders it with the engine on the blocking pool: progress and ETA are
//! stored every `PROGRESS_INTERVAL_MS`, the output goes to storage (`uploading`), the scratch folder is
//! removed (`cleanup`) and the job ends `completed`, `failed` or `cancelled`. Transient errors send
//! the job back to `queued` with exponential backoff while tries remain. Whoever moves a job into a
//! final state (the worker or a cancel request) sends its callback.
//!
//! Leases (distributed mode): a worker renews the queue lease of the item it runs every third of
//! `LEASE_TTL_MS` and stops the render when the lease is lost; it acks the item at the end. A
//! redelivered item (`deliveries > 1`) whose job is still `processing` is taken over with a
//! compare-and-set on the `attempts` value read, so two workers never both own a job; every later
//! write of a worker checks that the store still shows its attempt, so a stale holder writes no
//! final state. An item delivered more than `QUEUE_MAX_DELIVERIES` times fails its job.

pub mod callback;
pub mod chunks;
mod inputs;
mod scratch;
mod stills;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use vrender_engine::{
    CancelToken, Engine, EngineConfig, OutputFormat, Progress, Project, Quality, RenderError,
    RenderRequest, RenderStats,
};

use crate::config::Settings;
use crate::model::{now_millis, JobPhase, JobRecord, JobStatus, JobView, StillSpec};
use crate::queue::{CancelBus, Delivery, Queue, QueueError, QueueItem};
use crate::storage::{output_key, Storage, StorageError, WriterState};
use crate::store::{JobStore, ProjectStore, StoreError, UpdateOutcome};
use callback::CallbackSender;
use scratch::{Scratch, STALE_SCRATCH};
use tokio::sync::watch;
use tracing::Instrument;

/// The output upload running beside a render: the stored key and size, `None` when abandoned.
type UploadTask = tokio::task::JoinHandle<Result<Option<(String, u64)>, StorageError>>;

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
    /// The merged project of a template job (see [`JobRecord::project`]).
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
    settings: Settings,
    projects: Arc<dyn ProjectStore>,
    jobs: Arc<dyn JobStore>,
    queue: Arc<dyn Queue>,
    storage: Arc<dyn Storage>,
    engine: EngineState,
    callbacks: CallbackSender,
    running: Mutex<HashMap<String, CancelToken>>,
    scratch_root: PathBuf,
    /// Where cancellations are broadcast to other processes (Redis pub/sub), when distributed.
    cancel_bus: OnceLock<Arc<dyn CancelBus>>,
    /// Set by [`Orchestrator::shutdown`]: tasks stopped by it leave their queue items unacked.
    stopping: AtomicBool,
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

/// Renews a queue lease while alive (see [`Orchestrator::keep_lease`]).
struct LeaseKeeper {
    lost: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for LeaseKeeper {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The change that starts an attempt: `processing` under a new claim.
fn start_attempt(j: &mut JobRecord, claim: &str) {
    j.status = JobStatus::Processing;
    j.attempts += 1;
    j.started_at = Some(now_millis());
    j.progress = 0.0;
    j.frames_done = 0;
    j.current_phase = Some(JobPhase::Loading.as_str().into());
    j.estimated_time_remaining = None;
    j.claim = Some(claim.to_string());
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
        // The job itself, or its chunk/join tasks (`{jobId}/…`) when it renders in chunks.
        let prefix = format!("{job_id}/");
        let mut stopped = false;
        for (id, token) in self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            if id == job_id || id.starts_with(&prefix) {
                token.cancel();
                tracing::info!(job_id, task = %id, "render stopping: cancelled by a broadcast");
                stopped = true;
            }
        }
        stopped
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
        let mut view = JobView::new(job, url);
        if job.status == JobStatus::Completed {
            view.poster_url = self.sign(job, job.poster_key.as_deref()).await;
            view.thumbnail_url = self.sign(job, job.thumbnail_key.as_deref()).await;
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
        if let Some(p) = &job.project {
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
        let project = match &req.project {
            Some(p) => p.clone(),
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
            claim: None,
            project: req.project,
            poster: req.poster,
            thumbnail: req.thumbnail,
            still: req.still,
            poster_key: None,
            thumbnail_key: None,
            gif: req.gif,
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
                status: job.status.as_str(),
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
        Ok(())
    }

    /// Starts the `MAX_CONCURRENT_RENDERS` workers; they run until the queue is closed.
    pub fn spawn_workers(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.settings.max_concurrent_renders)
            .map(|n| {
                let this = self.clone();
                tokio::spawn(async move {
                    let mut paused = false;
                    loop {
                        // A full disk would fail every job this worker takes (and burn their
                        // tries within the retry backoff): take none until there is room again.
                        if let Some(d) = this.low_disk() {
                            if this.stopping.load(Ordering::SeqCst) {
                                break;
                            }
                            if !paused {
                                tracing::warn!(worker = n, free_mib = d.free_bytes >> 20, path = %d.path.display(), "disk below MIN_FREE_DISK_MB: taking no jobs until there is room");
                                paused = true;
                            }
                            tokio::time::sleep(Duration::from_millis(500)).await;
                            continue;
                        }
                        if paused {
                            tracing::info!(worker = n, "disk has room again: taking jobs");
                            paused = false;
                        }
                        match this.queue.pop().await {
                            Ok(delivery) => {
                                if this.hold_while_disk_low(&delivery.item.job_id).await {
                                    this.run_delivery(delivery).await
                                }
                            }
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

    /// Holds a popped item, its lease renewed, while the disk is below `MIN_FREE_DISK_MB` (the
    /// disk filled while this worker waited for work). False when the process is shutting down
    /// meanwhile: the item is left unacked then and comes back after its lease.
    async fn hold_while_disk_low(&self, id: &str) -> bool {
        if self.low_disk().is_none() {
            return true;
        }
        let lease = self.keep_lease(id, CancelToken::new());
        tracing::warn!(
            item = id,
            "disk below MIN_FREE_DISK_MB: holding the item until there is room"
        );
        while self.low_disk().is_some() && !lease.lost.load(Ordering::SeqCst) {
            if self.stopping.load(Ordering::SeqCst) {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        true
    }

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

    #[tracing::instrument(name = "job", skip_all, fields(job_id = %delivery.item.job_id))]
    async fn run_job(self: &Arc<Self>, delivery: Delivery) {
        let id = delivery.item.job_id.clone();
        if delivery.deliveries > self.settings.queue_max_deliveries {
            self.dead_letter(&id, None, delivery.deliveries).await;
            self.ack(&id).await;
            return;
        }
        let token = CancelToken::new();
        // Renew from the start: the claim itself may wait on a busy store.
        let lease = self.keep_lease(&id, token.clone());
        let job = match self.claim(&id, delivery.deliveries).await {
            Some(job) => job,
            None => {
                drop(lease);
                self.ack(&id).await;
                return;
            }
        };
        if self.split_into_chunks(&job).await {
            // Long video: rendered as chunks by any worker (chunks.rs); this item is done.
            drop(lease);
            self.ack(&id).await;
            return;
        }
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.clone(), token.clone());
        let started = Instant::now();
        tracing::info!(job_id = %id, attempt = job.attempts, deliveries = delivery.deliveries, "render started");
        let attempt = self.attempt(&job, &token).await;
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&id);
        let lost = lease.lost.load(Ordering::SeqCst);
        drop(lease);
        if lost {
            // Another worker may own the job now: write no final state.
            tracing::warn!(job_id = %id, attempt = job.attempts, "render stopped: queue lease lost");
        } else if let Err(e) = self.finish(&job, attempt, started.elapsed()).await {
            tracing::error!(job_id = %id, error = %e, "cannot record the end of a render");
        }
        // A worker of this same process may have taken the job over (it holds the item's lease
        // under the same id now): acking would release its lease.
        match self.jobs.get_job(&id).await {
            Ok(Some(now)) if now.status == JobStatus::Processing && now.claim != job.claim => {
                tracing::info!(job_id = %id, "not acking: another attempt owns the job now")
            }
            _ => self.ack(&id).await,
        }
    }

    async fn ack(&self, id: &str) {
        if let Err(e) = self.queue.ack(id).await {
            tracing::warn!(job_id = id, error = %e, "cannot ack the queue item; it is delivered again after its lease");
        }
    }

    /// Renews the queue lease of `id` every third of `LEASE_TTL_MS` until dropped; when the lease
    /// is lost, cancels `token` and sets `lost`.
    fn keep_lease(&self, id: &str, token: CancelToken) -> LeaseKeeper {
        let lost = Arc::new(AtomicBool::new(false));
        let every = (self.settings.lease_ttl / 3).max(Duration::from_millis(100));
        let queue = self.queue.clone();
        let id = id.to_string();
        let flag = lost.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match queue.renew(&id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        flag.store(true, Ordering::SeqCst);
                        token.cancel();
                        tracing::warn!(job_id = %id, "queue lease lost (expired and handed to another worker?); stopping the render");
                        break;
                    }
                    // Redis away: keep rendering; the lease is re-created once it is back.
                    Err(e) => {
                        tracing::warn!(job_id = %id, error = %e, "cannot renew the queue lease")
                    }
                }
            }
        });
        LeaseKeeper { lost, task }
    }

    /// Claims a delivered job: `queued → processing`, or, for a redelivery of a job still
    /// `processing` (its earlier holder lost the lease and is presumed dead), a takeover that
    /// checks the `attempts` value read, so two workers never both own the job.
    async fn claim(&self, id: &str, deliveries: u32) -> Option<JobRecord> {
        let token = uuid::Uuid::new_v4().to_string();
        let t = token.clone();
        let first = self
            .jobs
            .update_job(
                id,
                &[JobStatus::Queued],
                Box::new(move |j| start_attempt(j, &t)),
            )
            .await;
        let seen = match first {
            Ok(UpdateOutcome::Updated(job)) => return Some(job),
            Ok(UpdateOutcome::Mismatch(j))
                if j.status == JobStatus::Processing && deliveries > 1 =>
            {
                j
            }
            Ok(_) => return None, // finished, cancelled or taken meanwhile
            Err(e) => {
                tracing::error!(job_id = %id, error = %e, "cannot claim job");
                return None;
            }
        };
        let read = seen.attempts;
        let t = token.clone();
        let takeover = self
            .jobs
            .update_job(
                id,
                &[JobStatus::Processing],
                Box::new(move |j| {
                    if j.attempts == read {
                        start_attempt(j, &t)
                    }
                }),
            )
            .await;
        match takeover {
            Ok(UpdateOutcome::Updated(job)) if job.claim.as_deref() == Some(token.as_str()) => {
                let stale_ms = now_millis() - seen.updated_at;
                tracing::warn!(job_id = %id, previous_attempt = read, deliveries, last_update_ms_ago = stale_ms, "took over a job whose worker lost its queue lease");
                crate::metrics::metrics()
                    .job_failures
                    .with_label_values(&["lease_lost"])
                    .inc();
                Some(job)
            }
            Ok(_) => None,
            Err(e) => {
                tracing::error!(job_id = %id, error = %e, "cannot take over job");
                None
            }
        }
    }

    /// Fails a job whose queue item was delivered more than `QUEUE_MAX_DELIVERIES` times.
    /// `task` names a chunk or the join of a chunked job (`None`: the job itself).
    async fn dead_letter(self: &Arc<Self>, id: &str, task: Option<&str>, deliveries: u32) {
        let what = task.map(|t| format!("{t} was ")).unwrap_or_default();
        let message = format!(
            "{what}handed to a worker {deliveries} times without finishing (limit QUEUE_MAX_DELIVERIES = {}): its workers died or lost their queue lease each time; moved to the dead-letter queue",
            self.settings.queue_max_deliveries
        );
        tracing::error!(job_id = id, deliveries, "dead-lettered");
        let now = now_millis();
        let r = self
            .jobs
            .update_job(
                id,
                &[JobStatus::Pending, JobStatus::Queued, JobStatus::Processing],
                Box::new(move |j| {
                    j.status = JobStatus::Failed;
                    j.current_phase = None;
                    j.estimated_time_remaining = None;
                    j.error = Some(message.clone());
                    j.finished_at = Some(now);
                    j.claim = None;
                }),
            )
            .await;
        match r {
            Ok(UpdateOutcome::Updated(j)) => {
                let m = crate::metrics::metrics();
                m.job_failures.with_label_values(&["dead_letter"]).inc();
                m.jobs_finished
                    .with_label_values(&[j.status.as_str()])
                    .inc();
                self.spawn_callback(&j);
            }
            Ok(_) => {}
            Err(e) => tracing::error!(job_id = id, error = %e, "cannot fail a dead-lettered job"),
        }
    }

    /// `update_job` for the attempt that owns `job`: applies `change` only while the job is
    /// `processing` under this attempt's claim. `None` when a cancel or another worker's takeover
    /// owns the job now (nothing was changed then).
    async fn update_owned(
        &self,
        job: &JobRecord,
        change: impl Fn(&mut JobRecord) + Send + Sync + 'static,
    ) -> Result<Option<JobRecord>, StoreError> {
        let claim = job.claim.clone();
        let mine = claim.clone();
        let outcome = self
            .jobs
            .update_job(
                &job.job_id,
                &[JobStatus::Processing],
                Box::new(move |j| {
                    if j.claim == claim {
                        change(j)
                    }
                }),
            )
            .await?;
        Ok(match outcome {
            UpdateOutcome::Updated(j) if j.claim == mine => Some(j),
            _ => None,
        })
    }

    async fn attempt(&self, job: &JobRecord, token: &CancelToken) -> Attempt {
        let project = match self.job_project(job).await {
            Ok(Some(p)) => p,
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
        let scratch = match Scratch::create(
            self.scratch_root
                .join(format!("{}-{}", job.job_id, job.attempts)),
        ) {
            Ok(s) => s,
            Err(e) => {
                return Attempt::Failed {
                    message: format!("cannot create scratch folder: {e}"),
                    transient: true,
                    reason: "scratch",
                }
            }
        };
        let output = scratch
            .path
            .join(format!("output.{}", job.output_format.extension()));
        let (project, mut request) = match self.inputs(job, project, &scratch.path, &output).await {
            Ok(v) => v,
            Err(a) => return a,
        };
        // Progressive upload needs the bytes behind the encoder's write position to stay put.
        request.faststart = !self.storage.progressive();

        if let Some(spec) = job.still.clone() {
            let attempt = self
                .still_job(engine, project, request, job, &spec, &scratch.path)
                .await;
            drop(scratch);
            return attempt;
        }
        if let Some(gif) = job.gif {
            request.gif = gif;
        }
        let stills = stills::plan(job, &project, &scratch.path);
        request.stills = stills::outputs(&stills);

        // The upload runs alongside the render (progressive storage sends parts while it encodes).
        let (writer, upload) = self.start_upload(job, &output);
        let result = self.render(engine, project, request, job, token).await;
        let attempt = match result {
            Ok(stats) => {
                crate::metrics::metrics()
                    .encode_seconds
                    .observe(stats.elapsed.as_secs_f64());
                let uploaded = self
                    .upload(job, writer, upload, stats.duration.as_secs_f64())
                    .await;
                self.with_stills(job, &stills, uploaded).await
            }
            Err(e) => {
                writer.send_replace(WriterState::Abandoned);
                if let Ok(Err(e)) = upload.await {
                    tracing::warn!(job_id = %job.job_id, error = %e, "upload of an abandoned render failed");
                }
                match e {
                    RenderError::Cancelled => Attempt::Cancelled,
                    e if token.is_cancelled() => {
                        tracing::debug!(job_id = %job.job_id, error = %e, "render stopped after cancel");
                        Attempt::Cancelled
                    }
                    e => self.failed_render(&e),
                }
            }
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
        let cancel = token.clone();
        self.run_blocking_with_progress(
            token,
            move |report: &mut dyn FnMut(Progress)| {
                engine.render(&project, &request, report, &cancel)
            },
            |p| self.store_progress(job, p),
        )
        .await
    }

    /// Runs `work` on the blocking pool; every `PROGRESS_INTERVAL_MS` hands the latest progress to
    /// `store`, and cancels `token` when it answers false.
    pub(super) async fn run_blocking_with_progress<T, W, S, F>(
        &self,
        token: &CancelToken,
        work: W,
        store: S,
    ) -> Result<T, RenderError>
    where
        T: Send + 'static,
        W: FnOnce(&mut dyn FnMut(Progress)) -> Result<T, RenderError> + Send + 'static,
        S: Fn(Progress) -> F,
        F: std::future::Future<Output = bool>,
    {
        let (tx, mut rx) = tokio::sync::watch::channel::<Option<Progress>>(None);
        let span = tracing::Span::current();
        let mut handle = tokio::task::spawn_blocking(move || {
            let _in_job = span.enter(); // the engine's logs carry the job id too
            let mut report = |p: Progress| {
                tx.send_replace(Some(p));
            };
            work(&mut report)
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
                    if !store(p).await {
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
            .update_owned(job, move |j| {
                j.progress = progress.clamp(0.0, 100.0);
                j.current_phase = Some(phase.as_str().into());
                j.estimated_time_remaining = eta;
                j.frames_done = p.frames_done;
                j.frames_total = p.frames_total;
            })
            .await;
        match r {
            Ok(Some(_)) => true,
            Ok(None) => false,
            Err(e) => {
                tracing::warn!(job_id = %job.job_id, error = %e, "cannot store progress");
                true
            }
        }
    }

    /// Stores the phase; false when the job is no longer this attempt's (cancelled or taken over).
    async fn set_phase(&self, job: &JobRecord, phase: JobPhase) -> bool {
        let progress = match phase {
            JobPhase::Uploading => Some(95.0),
            JobPhase::Cleanup => Some(99.0),
            _ => None,
        };
        let r = self
            .update_owned(job, move |j| {
                j.current_phase = Some(phase.as_str().into());
                if let Some(p) = progress {
                    j.progress = j.progress.max(p);
                }
            })
            .await;
        match r {
            Ok(owned) => owned.is_some(),
            Err(e) => {
                tracing::warn!(job_id = %job.job_id, error = %e, "cannot store phase");
                true
            }
        }
    }

    /// Starts storing the output while it is rendered; `Finished`/`Abandoned` on the sender ends it.
    fn start_upload(
        &self,
        job: &JobRecord,
        output: &Path,
    ) -> (watch::Sender<WriterState>, UploadTask) {
        let (tx, rx) = watch::channel(WriterState::Writing);
        let key = output_key(&job.user_id, &job.job_id, job.output_format.extension());
        let storage = self.storage.clone();
        let file = output.to_path_buf();
        let mime = job.output_format.mime_type();
        let task = tokio::spawn(async move {
            let r = storage.put_growing(&key, &file, mime, rx).await;
            r.map(|size| size.map(|bytes| (key, bytes)))
        });
        (tx, task)
    }

    async fn upload(
        &self,
        job: &JobRecord,
        writer: watch::Sender<WriterState>,
        task: UploadTask,
        seconds: f64,
    ) -> Attempt {
        if !self.set_phase(job, JobPhase::Uploading).await {
            // Cancelled, or another worker took the job over: its output is not ours to write.
            writer.send_replace(WriterState::Abandoned);
            if let Ok(Err(e)) = task.await {
                tracing::warn!(job_id = %job.job_id, error = %e, "abandoned upload failed");
            }
            return Attempt::Cancelled;
        }
        writer.send_replace(WriterState::Finished);
        let failed = |message: String| {
            if self.out_of_disk(&message, true) {
                disk_full(message)
            } else {
                Attempt::Failed {
                    message,
                    transient: true,
                    reason: "upload",
                }
            }
        };
        match task.await {
            Ok(Ok(Some((key, bytes)))) => {
                tracing::info!(job_id = %job.job_id, key, bytes, "output stored");
                crate::metrics::metrics().upload_bytes.inc_by(bytes);
                Attempt::Done { key, seconds }
            }
            Ok(Ok(None)) => failed("the upload stopped before the output was stored".into()),
            Ok(Err(e)) => failed(e.to_string()),
            Err(e) => failed(format!("the upload crashed: {e}")),
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
        // Every write below is conditional on this attempt's claim: a stale holder writes nothing,
        // so a job completes (and calls back) once.
        let updated = match attempt {
            Attempt::Done { key, seconds } => {
                let k = key.clone();
                let updated = self
                    .update_owned(job, move |j| {
                        j.status = JobStatus::Completed;
                        j.progress = 100.0;
                        j.frames_done = j.frames_total;
                        j.current_phase = None;
                        j.estimated_time_remaining = Some(0.0);
                        j.error = None;
                        j.output_key = Some(k.clone());
                        j.finished_at = Some(now);
                        j.rendered_seconds = seconds;
                    })
                    .await?;
                if updated.is_none() {
                    // Cancelled during the upload: the output is not wanted. Taken over by another
                    // worker: it writes the same key, so leave it.
                    let current = self.jobs.get_job(id).await?;
                    if current.is_some_and(|c| c.status == JobStatus::Cancelled) {
                        if let Err(e) = self.storage.delete(&key).await {
                            tracing::warn!(job_id = id, error = %e, "cannot delete unwanted output");
                        }
                    }
                }
                tracing::info!(
                    job_id = id,
                    elapsed_ms = elapsed.as_millis() as u64,
                    "render completed"
                );
                updated
            }
            Attempt::Cancelled => {
                tracing::info!(job_id = id, "render stopped (cancelled)");
                self.update_owned(job, move |j| {
                    j.status = JobStatus::Cancelled;
                    j.current_phase = None;
                    j.estimated_time_remaining = None;
                    j.finished_at = Some(now);
                })
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
                let updated = self
                    .update_owned(job, move |j| {
                        j.status = JobStatus::Queued;
                        j.progress = 0.0;
                        j.frames_done = 0;
                        j.current_phase = None;
                        j.estimated_time_remaining = None;
                        j.error = Some(format!(
                            "attempt {} failed: {message}; retrying",
                            j.attempts
                        ));
                    })
                    .await?;
                if let Some(j) = &updated {
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
                self.update_owned(job, move |j| {
                    j.status = JobStatus::Failed;
                    j.current_phase = None;
                    j.estimated_time_remaining = None;
                    j.error = Some(message.clone());
                    j.finished_at = Some(now);
                })
                .await?
            }
        };
        if let Some(j) = updated {
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

/// A render or upload that ran out of disk: retried when attempts remain (the scratch folder, and
/// with it the partial output, is removed before the next try).
fn disk_full(message: String) -> Attempt {
    Attempt::Failed {
        message: format!("disk full: {message}"),
        transient: true,
        reason: "disk_full",
    }
}

impl Orchestrator {
    /// Whether a failure was the disk filling up: the error says so, or a transient failure
    /// happened with the disk now below `MIN_FREE_DISK_MB`.
    fn out_of_disk(&self, message: &str, transient: bool) -> bool {
        crate::policy::capacity::says_out_of_disk(message)
            || (transient && self.low_disk().is_some())
    }

    /// How a failed render ends its attempt: `disk full` when the disk ran out, else by the
    /// error's kind.
    fn failed_render(&self, e: &RenderError) -> Attempt {
        let message = e.to_string();
        let transient = e.is_transient();
        if self.out_of_disk(&message, transient) {
            disk_full(message)
        } else {
            Attempt::Failed {
                transient,
                reason: render_failure_reason(e),
                message,
            }
        }
    }

    /// `DATA_DIR` or the scratch folder below `MIN_FREE_DISK_MB`, when one is.
    fn low_disk(&self) -> Option<crate::policy::capacity::DiskSpace> {
        crate::policy::capacity::Capacity::new(
            self.settings.capacity.clone(),
            &self.settings.data_dir,
        )
        .low_disk()
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
