//! Chunked rendering across workers.
//!
//! A job whose video is longer than `CHUNK_THRESHOLD_SECONDS` (0 = never) is split into frame ranges
//! of `CHUNK_SECONDS` that any worker renders as child tasks, then one task joins them without
//! re-encoding and muxes the audio (the engine's [`Engine::render_chunk`] /
//! [`Engine::concat_chunks`]).
//!
//! - The worker that claims the parent job (`queued → processing`, as for any job) writes the
//!   [`ChunkPlan`] into the job record and pushes one queue item per chunk, `"{jobId}/chunk/{n}"`,
//!   with the job's priority, then returns.
//! - A worker popping a chunk item claims the chunk (`queued → running` with a new attempt number;
//!   a redelivered item, `deliveries > 1`, may take over a `running` chunk whose holder died),
//!   renders it into its scratch folder, uploads it to `chunks/{jobId}/{n}.{ext}` and marks it
//!   `done`. Whoever marks the last chunk done pushes `"{jobId}/concat"`.
//! - The concat worker downloads the chunks, joins them, mixes the audio for the full length,
//!   uploads the output like a normal render and completes the job through the same `finish` path
//!   (callbacks, metrics), then deletes the chunk objects.
//!
//! The plan lives in the parent's record and changes only with the store's compare-and-set
//! `update_job` on a `processing` parent, so the store stays the truth: a holder whose attempt is
//! no longer the chunk's current one (taken over) or whose parent left `processing` (cancelled,
//! failed) stops without writing anything final. Chunk failures are retried per chunk with the
//! job's `JOB_MAX_ATTEMPTS` and backoff; a chunk that fails permanently (or runs out of tries)
//! fails the whole job with its reason. Cancelling the parent stops running chunk renders (they
//! check the parent when storing progress), no concat runs, and the chunk objects are deleted.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use vrender_engine::{
    chunk_ranges, CancelToken, ChunkFile, ConcatRequest, Engine, Progress, Project, RenderError,
};

use super::{stills, Attempt, EngineState, Orchestrator, Scratch};
use crate::model::{now_millis, JobPhase, JobRecord, JobStatus};
use crate::queue::{Delivery, QueueItem};
use crate::storage::WriterState;
use crate::store::UpdateOutcome;

/// Where a chunk (or the final join) is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Not yet queued (the join, while chunks are still rendering).
    #[default]
    Waiting,
    /// In the queue (or about to be pushed again after a failure).
    Queued,
    Running,
    Done,
}

/// The state of one child task.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TaskState {
    #[serde(default)]
    pub status: TaskStatus,
    /// Tries started so far; the current holder's attempt is the latest.
    #[serde(default)]
    pub attempts: u32,
    /// Frames encoded by the current try (chunks only).
    #[serde(default)]
    pub frames_done: u64,
    /// Why the last try failed, while it is retried.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One frame range of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Chunk {
    /// First frame (inclusive).
    pub start: u64,
    /// Last frame (exclusive).
    pub end: u64,
    /// Storage key of the rendered chunk once uploaded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_key: Option<String>,
    #[serde(default)]
    pub state: TaskState,
}

impl Chunk {
    pub fn frames(&self) -> u64 {
        self.end - self.start
    }
}

/// How a job is split, and where each part is. Stored in the job record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChunkPlan {
    /// The parent attempt that wrote the plan.
    pub attempt: u32,
    pub frames_total: u64,
    pub chunks: Vec<Chunk>,
    /// The final join.
    #[serde(default)]
    pub concat: TaskState,
}

impl ChunkPlan {
    /// Chunks rendered and uploaded.
    pub fn done(&self) -> usize {
        self.chunks
            .iter()
            .filter(|c| c.state.status == TaskStatus::Done)
            .count()
    }

    /// The queue items of tasks that are not done: `(item id, running)`. Tasks waiting to be queued
    /// (the join before the last chunk) are not listed.
    pub fn open_items(&self, job_id: &str) -> Vec<(String, bool)> {
        let tasks = self
            .chunks
            .iter()
            .enumerate()
            .map(|(n, c)| (chunk_item_id(job_id, n), &c.state))
            .chain([(concat_item_id(job_id), &self.concat)]);
        tasks
            .filter_map(|(id, s)| match s.status {
                TaskStatus::Queued => Some((id, false)),
                TaskStatus::Running => Some((id, true)),
                TaskStatus::Waiting | TaskStatus::Done => None,
            })
            .collect()
    }

    fn frames_done(&self) -> u64 {
        self.chunks
            .iter()
            .map(|c| {
                if c.state.status == TaskStatus::Done {
                    c.frames()
                } else {
                    c.state.frames_done.min(c.frames())
                }
            })
            .sum()
    }
}

/// The ranges a job of `total_frames` at `frame_rate` is split into, or `None` when it renders in
/// one piece (threshold 0, short enough, or fewer than two chunks).
pub fn split(
    total_frames: u64,
    frame_rate: f64,
    threshold_seconds: f64,
    chunk_seconds: f64,
) -> Option<Vec<std::ops::Range<u64>>> {
    if threshold_seconds <= 0.0 || frame_rate <= 0.0 {
        return None;
    }
    if total_frames as f64 / frame_rate <= threshold_seconds {
        return None;
    }
    // Whole frames per chunk, so every chunk starts exactly on a frame of the timeline.
    let per_chunk = ((chunk_seconds * frame_rate).round() as u64).max(1);
    let ranges = chunk_ranges(total_frames, per_chunk);
    (ranges.len() >= 2).then_some(ranges)
}

/// Whether `plan` has exactly these frame ranges.
fn same_ranges(plan: &ChunkPlan, ranges: &[std::ops::Range<u64>]) -> bool {
    plan.chunks.len() == ranges.len()
        && plan
            .chunks
            .iter()
            .zip(ranges)
            .all(|(c, r)| c.start == r.start && c.end == r.end)
}

/// `old` taken up again by parent attempt `attempt`: stored chunks stay done, every other chunk is
/// queued again (its attempt count kept), the join is queued when every chunk is stored.
fn resume(old: &ChunkPlan, attempt: u32) -> ChunkPlan {
    let mut plan = old.clone();
    plan.attempt = attempt;
    for c in &mut plan.chunks {
        if c.state.status != TaskStatus::Done {
            c.state.status = TaskStatus::Queued;
            c.state.frames_done = 0;
        }
    }
    plan.concat.status = if plan.done() == plan.chunks.len() {
        TaskStatus::Queued
    } else {
        TaskStatus::Waiting
    };
    plan
}

/// A child task named by a queue item id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Task {
    Chunk { job_id: String, index: usize },
    Concat { job_id: String },
}

impl Task {
    /// `"{jobId}/chunk/{n}"` or `"{jobId}/concat"`; `None` for a plain job id.
    pub fn parse(id: &str) -> Option<Task> {
        let (job_id, rest) = id.split_once('/')?;
        if job_id.is_empty() {
            return None;
        }
        if rest == "concat" {
            return Some(Task::Concat {
                job_id: job_id.into(),
            });
        }
        let index = rest.strip_prefix("chunk/")?.parse().ok()?;
        Some(Task::Chunk {
            job_id: job_id.into(),
            index,
        })
    }

    pub fn id(&self) -> String {
        match self {
            Task::Chunk { job_id, index } => chunk_item_id(job_id, *index),
            Task::Concat { job_id } => concat_item_id(job_id),
        }
    }

    pub fn job_id(&self) -> &str {
        match self {
            Task::Chunk { job_id, .. } | Task::Concat { job_id } => job_id,
        }
    }

    /// "chunk 3" or "the join of the chunks", for messages.
    pub fn describe(&self) -> String {
        match self {
            Task::Chunk { index, .. } => format!("chunk {index}"),
            Task::Concat { .. } => "the join of the chunks".into(),
        }
    }

    /// The task's state in its job's plan.
    pub fn state<'a>(&self, job: &'a JobRecord) -> Option<&'a TaskState> {
        let plan = job.chunks.as_ref()?;
        match self {
            Task::Chunk { index, .. } => plan.chunks.get(*index).map(|c| &c.state),
            Task::Concat { .. } => Some(&plan.concat),
        }
    }
}

pub fn chunk_item_id(job_id: &str, index: usize) -> String {
    format!("{job_id}/chunk/{index}")
}

pub fn concat_item_id(job_id: &str) -> String {
    format!("{job_id}/concat")
}

/// Storage key of a rendered chunk.
pub fn chunk_key(job: &JobRecord, index: usize) -> String {
    format!(
        "chunks/{}/{index}.{}",
        job.job_id,
        job.output_format.extension()
    )
}

/// A value written by an `update_job` closure (which may run more than once: the last run wins).
#[derive(Clone, Default)]
struct Cell<T>(Arc<Mutex<Option<T>>>);

impl<T: Clone> Cell<T> {
    fn set(&self, v: Option<T>) {
        *self.0.lock().unwrap_or_else(|p| p.into_inner()) = v;
    }
    fn get(&self) -> Option<T> {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

fn store_failure(e: impl std::fmt::Display) -> Attempt {
    Attempt::Failed {
        message: e.to_string(),
        transient: true,
        reason: "store",
    }
}

impl Orchestrator {
    /// Runs one queue delivery: a plain job, or a child task of a chunked job. A child task holds
    /// its queue lease like a job (renewed every third of `LEASE_TTL_MS`; a lost lease stops it
    /// without writing anything) and is acked at the end unless another holder owns it now.
    pub(super) async fn run_delivery(self: &Arc<Self>, delivery: Delivery) {
        let id = delivery.item.job_id.clone();
        let Some(task) = Task::parse(&id) else {
            return self.run_job(delivery).await;
        };
        let job_id = task.job_id().to_string();
        if delivery.deliveries > self.settings.queue_max_deliveries {
            self.dead_letter(&job_id, Some(&task.describe()), delivery.deliveries)
                .await;
            self.ack(&id).await;
            if let Ok(Some(job)) = self.jobs.get_job(&job_id).await {
                if job.status.is_terminal() {
                    self.delete_chunk_objects_of(&job).await;
                }
            }
            return;
        }
        let token = CancelToken::new();
        let lease = self.keep_lease(&id, token.clone());
        let claimed = match task {
            Task::Chunk { index, .. } => {
                self.run_chunk(&job_id, index, delivery.deliveries, token)
                    .await
            }
            Task::Concat { .. } => self.run_concat(&job_id, delivery.deliveries, token).await,
        };
        let lost = lease.lost.load(std::sync::atomic::Ordering::SeqCst);
        drop(lease);
        if lost {
            tracing::warn!(item = %id, "task stopped: queue lease lost");
            return;
        }
        if self.stopping.load(std::sync::atomic::Ordering::SeqCst) {
            // Stopped by a shutdown: the item comes back once its lease expires and another
            // worker takes the chunk over (with Redis; in-process queues end with the process).
            tracing::info!(item = %id, "task stopped by shutdown; left for redelivery");
            return;
        }
        // Another worker of this process may hold the item now (taken over after a missed renew):
        // acking would release its lease.
        if let Some(mine) = claimed {
            if let Ok(Some(job)) = self.jobs.get_job(&job_id).await {
                if task
                    .state(&job)
                    .is_some_and(|s| s.status == TaskStatus::Running && s.attempts != mine)
                {
                    tracing::info!(item = %id, "not acking: another attempt owns the task now");
                    return;
                }
            }
        }
        self.ack(&id).await;
    }

    /// Called once the parent job is claimed: when its video is long enough, writes the chunk plan
    /// and queues the chunks, and returns true (this worker is then done with the job).
    pub(super) async fn split_into_chunks(self: &Arc<Self>, job: &JobRecord) -> bool {
        if self.settings.chunk_threshold_seconds <= 0.0 {
            return false;
        }
        // GIF palettes, PNG sequences, alpha and still-only jobs need the whole render in one
        // place. Posters and thumbnails of a chunked job are composed at the join.
        if !job.output_format.chunkable() || job.still.is_some() {
            return false;
        }
        // Errors here fall through to the normal path, which reports them.
        let Ok(Some(project)) = self.job_project(job).await else {
            return false;
        };
        if project.has_transparency() && job.output_format.has_alpha() {
            return false;
        }
        let total = vrender_engine::chunk::total_frames(&project);
        let Some(ranges) = split(
            total,
            project.frame_rate,
            self.settings.chunk_threshold_seconds,
            self.settings.chunk_seconds,
        ) else {
            return false;
        };
        let plan = match &job.chunks {
            // A plan of an earlier attempt of this job (interrupted by a restart, or taken over
            // from a dead worker) with the same ranges: its stored chunks are kept, the rest render
            // again. Attempt numbers keep counting, so a late holder of an earlier try cannot mark
            // a chunk of this one done.
            Some(old) if same_ranges(old, &ranges) => resume(old, job.attempts),
            old => {
                if let Some(old) = old {
                    // Different ranges (changed chunk settings): start over.
                    self.delete_chunk_objects(job, old).await;
                }
                ChunkPlan {
                    attempt: job.attempts,
                    frames_total: total,
                    chunks: ranges
                        .iter()
                        .map(|r| Chunk {
                            start: r.start,
                            end: r.end,
                            output_key: None,
                            state: TaskState {
                                status: TaskStatus::Queued,
                                ..TaskState::default()
                            },
                        })
                        .collect(),
                    concat: TaskState::default(),
                }
            }
        };
        let attempt = job.attempts;
        let p = plan.clone();
        let r = self
            .jobs
            .update_job(
                &job.job_id,
                &[JobStatus::Processing],
                Box::new(move |j| {
                    if j.attempts == attempt {
                        let done = p.frames_done();
                        j.chunks = Some(p.clone());
                        j.frames_total = p.frames_total;
                        j.frames_done = done;
                        j.progress = 90.0 * done as f64 / p.frames_total.max(1) as f64;
                        j.current_phase = Some(JobPhase::Composing.as_str().into());
                    }
                }),
            )
            .await;
        let job = match r {
            Ok(UpdateOutcome::Updated(j))
                if j.chunks.as_ref().map(|c| c.attempt) == Some(attempt) =>
            {
                j
            }
            Ok(_) => return true, // cancelled or taken over meanwhile: nothing to do
            Err(e) => {
                self.finish_logged(job, store_failure(e)).await;
                return true;
            }
        };
        tracing::info!(
            job_id = %job.job_id,
            chunks = plan.chunks.len(),
            kept = plan.done(),
            frames = total,
            "job split into chunks"
        );
        // The open tasks: the chunks not yet stored, or the join when all are.
        let items: Vec<String> = plan
            .open_items(&job.job_id)
            .into_iter()
            .map(|(id, _)| id)
            .collect();
        for id in items {
            let n = id.clone();
            let item = QueueItem {
                job_id: id,
                priority: job.priority,
            };
            if let Err(e) = self.queue.push(item, Duration::ZERO).await {
                // The job goes back to the queue (or fails when out of tries) and is split again.
                self.finish_logged(
                    &job,
                    Attempt::Failed {
                        message: format!("cannot queue `{n}`: {e}"),
                        transient: true,
                        reason: "queue",
                    },
                )
                .await;
                return true;
            }
        }
        true
    }

    async fn finish_logged(self: &Arc<Self>, job: &JobRecord, attempt: Attempt) {
        let elapsed = job
            .started_at
            .map(|t| Duration::from_millis((now_millis() - t).max(0) as u64))
            .unwrap_or_default();
        if let Err(e) = self.finish(job, attempt, elapsed).await {
            tracing::error!(job_id = %job.job_id, error = %e, "cannot record the end of a job");
        }
    }

    /// Claims chunk `index` for this worker; its attempt number, the parent and the project.
    async fn claim_chunk(
        &self,
        job_id: &str,
        index: usize,
        deliveries: u32,
    ) -> Option<(u32, JobRecord)> {
        let claimed: Cell<u32> = Cell::default();
        let c = claimed.clone();
        let r = self
            .jobs
            .update_job(
                job_id,
                &[JobStatus::Processing],
                Box::new(move |j| {
                    c.set(None);
                    let Some(chunk) = j.chunks.as_mut().and_then(|p| p.chunks.get_mut(index))
                    else {
                        return;
                    };
                    let s = &mut chunk.state;
                    // A redelivered item means the earlier holder is presumed dead.
                    let takeover = s.status == TaskStatus::Running && deliveries > 1;
                    if s.status == TaskStatus::Queued || takeover {
                        s.status = TaskStatus::Running;
                        s.attempts += 1;
                        s.frames_done = 0;
                        c.set(Some(s.attempts));
                    }
                }),
            )
            .await;
        match r {
            Ok(UpdateOutcome::Updated(j)) => claimed.get().map(|a| (a, j)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(job_id, chunk = index, error = %e, "cannot claim chunk");
                None
            }
        }
    }

    /// Renders, uploads and records one chunk; the attempt it claimed, if any. `token` stops it.
    async fn run_chunk(
        self: &Arc<Self>,
        job_id: &str,
        index: usize,
        deliveries: u32,
        token: CancelToken,
    ) -> Option<u32> {
        let Some((attempt, job)) = self.claim_chunk(job_id, index, deliveries).await else {
            tracing::debug!(
                job_id,
                chunk = index,
                "chunk not claimable (done, taken or job over)"
            );
            return None;
        };
        let item_id = chunk_item_id(job_id, index);
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(item_id.clone(), token.clone());
        tracing::info!(job_id, chunk = index, attempt, "chunk render started");
        let result = self.chunk_attempt(&job, index, attempt, &token).await;
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&item_id);
        match result {
            Ok(()) => {}
            Err(Attempt::Cancelled) => {
                tracing::info!(job_id, chunk = index, "chunk render stopped");
            }
            Err(Attempt::Failed {
                message,
                transient,
                reason,
            }) => {
                self.chunk_failed(&job, index, attempt, message, transient, reason)
                    .await
            }
            Err(Attempt::Done { .. }) => {}
        }
        Some(attempt)
    }

    /// One try of a chunk; `Ok` once it is uploaded and recorded (or found unwanted).
    async fn chunk_attempt(
        self: &Arc<Self>,
        job: &JobRecord,
        index: usize,
        attempt: u32,
        token: &CancelToken,
    ) -> Result<(), Attempt> {
        let (engine, project) = self.engine_and_project(job).await?;
        let Some(chunk) = job
            .chunks
            .as_ref()
            .and_then(|p| p.chunks.get(index))
            .cloned()
        else {
            return Err(Attempt::Cancelled);
        };
        let scratch = self.scratch(&format!("{}-chunk{index}-{attempt}", job.job_id))?;
        let ext = job.output_format.extension();
        let output = scratch.path.join(format!("chunk.{ext}"));
        // Chunks are intermediate files read once by the join: no index move (faststart stays off).
        let (project, request) = self.inputs(job, project, &scratch.path, &output).await?;
        let range = chunk.start..chunk.end;
        let job_id = job.job_id.clone();
        let result = self
            .run_blocking_with_progress(
                token,
                {
                    let token = token.clone();
                    move |report: &mut dyn FnMut(Progress)| {
                        engine.render_chunk(&project, range, &request, report, &token)
                    }
                },
                |p| self.store_chunk_progress(&job_id, index, attempt, p),
            )
            .await;
        match result {
            Ok(_) => {}
            Err(_) if token.is_cancelled() => return Err(Attempt::Cancelled),
            Err(RenderError::Cancelled) => return Err(Attempt::Cancelled),
            Err(e) => return Err(self.failed_render(&e)),
        }
        let key = chunk_key(job, index);
        if let Err(e) = self
            .storage
            .put_file(&key, &output, job.output_format.mime_type())
            .await
        {
            return Err(Attempt::Failed {
                message: format!("cannot store the chunk: {e}"),
                transient: true,
                reason: "upload",
            });
        }
        drop(scratch);
        self.chunk_done(job, index, attempt, key).await;
        Ok(())
    }

    /// Marks a chunk done; the worker that completes the set queues the join.
    async fn chunk_done(
        self: &Arc<Self>,
        job: &JobRecord,
        index: usize,
        attempt: u32,
        key: String,
    ) {
        let queue_concat: Cell<bool> = Cell::default();
        let q = queue_concat.clone();
        let k = key.clone();
        let r = self
            .jobs
            .update_job(
                &job.job_id,
                &[JobStatus::Processing],
                Box::new(move |j| {
                    q.set(None);
                    let Some(plan) = j.chunks.as_mut() else {
                        return;
                    };
                    let Some(chunk) = plan.chunks.get_mut(index) else {
                        return;
                    };
                    if chunk.state.status != TaskStatus::Running || chunk.state.attempts != attempt
                    {
                        return; // taken over
                    }
                    chunk.state.status = TaskStatus::Done;
                    chunk.state.frames_done = chunk.frames();
                    chunk.state.error = None;
                    chunk.output_key = Some(k.clone());
                    let all_done = plan.done() == plan.chunks.len();
                    if all_done && plan.concat.status == TaskStatus::Waiting {
                        plan.concat.status = TaskStatus::Queued;
                        q.set(Some(true));
                    }
                    let done = plan.frames_done();
                    j.frames_done = done;
                    j.progress = 90.0 * done as f64 / plan.frames_total.max(1) as f64;
                }),
            )
            .await;
        match r {
            Ok(UpdateOutcome::Updated(j)) => {
                let mine = j
                    .chunks
                    .as_ref()
                    .and_then(|p| p.chunks.get(index))
                    .is_some_and(|c| c.state.attempts == attempt);
                tracing::info!(job_id = %job.job_id, chunk = index, attempt, mine, "chunk stored");
                if queue_concat.get() == Some(true) {
                    let item = QueueItem {
                        job_id: concat_item_id(&job.job_id),
                        priority: job.priority,
                    };
                    if let Err(e) = self.queue.push(item, Duration::ZERO).await {
                        self.finish_logged(
                            &j,
                            Attempt::Failed {
                                message: format!("cannot queue the join of the chunks: {e}"),
                                transient: false,
                                reason: "queue",
                            },
                        )
                        .await;
                        self.delete_chunk_objects_of(&j).await;
                    }
                }
            }
            Ok(UpdateOutcome::Mismatch(_)) | Ok(UpdateOutcome::NotFound) => {
                // The job was cancelled or failed meanwhile: its chunks are not wanted. (Whoever
                // ended it deletes the objects it knew of; this one may have come later.)
                if let Err(e) = self.storage.delete(&key).await {
                    tracing::warn!(job_id = %job.job_id, key, error = %e, "cannot delete unwanted chunk");
                }
            }
            Err(e) => {
                // Not recorded: the item is retried like a failed chunk.
                self.chunk_failed(job, index, attempt, e.to_string(), true, "store")
                    .await
            }
        }
    }

    /// A chunk try failed: retry it with backoff while tries remain, else fail the whole job.
    async fn chunk_failed(
        self: &Arc<Self>,
        job: &JobRecord,
        index: usize,
        attempt: u32,
        message: String,
        transient: bool,
        reason: &'static str,
    ) {
        let chunk_desc = job
            .chunks
            .as_ref()
            .and_then(|p| p.chunks.get(index))
            .map(|c| format!("chunk {index} (frames {}..{})", c.start, c.end))
            .unwrap_or_else(|| format!("chunk {index}"));
        crate::metrics::metrics()
            .job_failures
            .with_label_values(&[reason])
            .inc();
        if transient && attempt < job.max_attempts {
            let delay = self
                .settings
                .job_retry_backoff
                .saturating_mul(1 << (attempt.saturating_sub(1)).min(16));
            tracing::warn!(job_id = %job.job_id, chunk = index, attempt, error = %message, retry_in_ms = delay.as_millis() as u64, "chunk failed; will retry");
            let requeued: Cell<bool> = Cell::default();
            let q = requeued.clone();
            let msg = format!("{chunk_desc}, attempt {attempt} failed: {message}; retrying");
            let r = self
                .jobs
                .update_job(
                    &job.job_id,
                    &[JobStatus::Processing],
                    Box::new(move |j| {
                        q.set(None);
                        let Some(chunk) = j.chunks.as_mut().and_then(|p| p.chunks.get_mut(index))
                        else {
                            return;
                        };
                        if chunk.state.status == TaskStatus::Running
                            && chunk.state.attempts == attempt
                        {
                            chunk.state.status = TaskStatus::Queued;
                            chunk.state.frames_done = 0;
                            chunk.state.error = Some(msg.clone());
                            q.set(Some(true));
                        }
                    }),
                )
                .await;
            if matches!(r, Ok(UpdateOutcome::Updated(_))) && requeued.get() == Some(true) {
                let item = QueueItem {
                    job_id: chunk_item_id(&job.job_id, index),
                    priority: job.priority,
                };
                if let Err(e) = self.queue.push(item, delay).await {
                    tracing::warn!(job_id = %job.job_id, chunk = index, error = %e, "cannot re-queue chunk");
                }
            }
            return;
        }
        // Only the chunk's current holder may end the job.
        let current = match self.jobs.get_job(&job.job_id).await {
            Ok(Some(j)) => j,
            _ => return,
        };
        let still_mine = current
            .chunks
            .as_ref()
            .and_then(|p| p.chunks.get(index))
            .is_some_and(|c| c.state.status == TaskStatus::Running && c.state.attempts == attempt);
        if current.status != JobStatus::Processing || !still_mine {
            return;
        }
        self.finish_logged(
            &current,
            Attempt::Failed {
                message: format!("{chunk_desc} failed: {message}"),
                transient: false,
                reason,
            },
        )
        .await;
        self.delete_chunk_objects_of(&current).await;
    }

    /// Stores a chunk's progress in the parent; false when this try should stop (the parent left
    /// `processing`, or the chunk was taken over).
    async fn store_chunk_progress(
        &self,
        job_id: &str,
        index: usize,
        attempt: u32,
        p: Progress,
    ) -> bool {
        let phase = JobPhase::from_engine(p.phase);
        let r = self
            .jobs
            .update_job(
                job_id,
                &[JobStatus::Processing],
                Box::new(move |j| {
                    let Some(plan) = j.chunks.as_mut() else {
                        return;
                    };
                    let Some(chunk) = plan.chunks.get_mut(index) else {
                        return;
                    };
                    if chunk.state.status != TaskStatus::Running || chunk.state.attempts != attempt
                    {
                        return;
                    }
                    chunk.state.frames_done = p.frames_done;
                    let done = plan.frames_done();
                    let total = plan.frames_total.max(1);
                    j.frames_done = done;
                    j.progress = (90.0 * done as f64 / total as f64).clamp(0.0, 90.0);
                    if matches!(phase, JobPhase::Composing | JobPhase::Encoding) {
                        j.current_phase = Some(phase.as_str().into());
                    }
                    // ETA of the whole job from its throughput so far, all workers together.
                    j.estimated_time_remaining = j.started_at.and_then(|t| {
                        let elapsed = (now_millis() - t).max(0) as f64 / 1000.0;
                        (done > 0)
                            .then(|| elapsed * (total.saturating_sub(done)) as f64 / done as f64)
                    });
                }),
            )
            .await;
        match r {
            Ok(UpdateOutcome::Updated(j)) => j
                .chunks
                .as_ref()
                .and_then(|p| p.chunks.get(index))
                .is_some_and(|c| {
                    c.state.status == TaskStatus::Running && c.state.attempts == attempt
                }),
            Ok(_) => false,
            Err(e) => {
                tracing::warn!(job_id, chunk = index, error = %e, "cannot store chunk progress");
                true
            }
        }
    }

    /// Claims the join of a job whose chunks are all done.
    async fn claim_concat(&self, job_id: &str, deliveries: u32) -> Option<(u32, JobRecord)> {
        let claimed: Cell<u32> = Cell::default();
        let c = claimed.clone();
        let r = self
            .jobs
            .update_job(
                job_id,
                &[JobStatus::Processing],
                Box::new(move |j| {
                    c.set(None);
                    let Some(plan) = j.chunks.as_mut() else {
                        return;
                    };
                    if plan.done() != plan.chunks.len() {
                        return;
                    }
                    let s = &mut plan.concat;
                    let takeover = s.status == TaskStatus::Running && deliveries > 1;
                    if s.status == TaskStatus::Queued || takeover {
                        s.status = TaskStatus::Running;
                        s.attempts += 1;
                        c.set(Some(s.attempts));
                        j.progress = j.progress.max(90.0);
                        j.current_phase = Some(JobPhase::Audio.as_str().into());
                        j.estimated_time_remaining = None;
                    }
                }),
            )
            .await;
        match r {
            Ok(UpdateOutcome::Updated(j)) => claimed.get().map(|a| (a, j)),
            Ok(_) => None,
            Err(e) => {
                tracing::warn!(job_id, error = %e, "cannot claim the join");
                None
            }
        }
    }

    /// Downloads the chunks, joins them with the audio, uploads the output and completes the job.
    async fn run_concat(
        self: &Arc<Self>,
        job_id: &str,
        deliveries: u32,
        token: CancelToken,
    ) -> Option<u32> {
        let Some((attempt, job)) = self.claim_concat(job_id, deliveries).await else {
            tracing::debug!(job_id, "join not claimable (not ready, taken or job over)");
            return None;
        };
        let item_id = concat_item_id(job_id);
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(item_id.clone(), token.clone());
        tracing::info!(job_id, attempt, "joining chunks");
        let result = self.concat_attempt(&job, attempt, &token).await;
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&item_id);
        match result {
            Attempt::Failed {
                message,
                transient: true,
                reason,
            } if attempt < job.max_attempts => {
                crate::metrics::metrics()
                    .job_failures
                    .with_label_values(&[reason])
                    .inc();
                let delay = self
                    .settings
                    .job_retry_backoff
                    .saturating_mul(1 << (attempt.saturating_sub(1)).min(16));
                tracing::warn!(job_id, attempt, error = %message, "join failed; will retry");
                let msg =
                    format!("joining the chunks, attempt {attempt} failed: {message}; retrying");
                let r = self
                    .jobs
                    .update_job(
                        job_id,
                        &[JobStatus::Processing],
                        Box::new(move |j| {
                            if let Some(plan) = j.chunks.as_mut() {
                                if plan.concat.status == TaskStatus::Running
                                    && plan.concat.attempts == attempt
                                {
                                    plan.concat.status = TaskStatus::Queued;
                                    plan.concat.error = Some(msg.clone());
                                }
                            }
                        }),
                    )
                    .await;
                if matches!(r, Ok(UpdateOutcome::Updated(_))) {
                    let item = QueueItem {
                        job_id: item_id,
                        priority: job.priority,
                    };
                    if let Err(e) = self.queue.push(item, delay).await {
                        tracing::warn!(job_id, error = %e, "cannot re-queue the join");
                    }
                }
            }
            Attempt::Failed {
                message, reason, ..
            } => {
                self.finish_logged(
                    &job,
                    Attempt::Failed {
                        message: format!("joining the chunks failed: {message}"),
                        transient: false,
                        reason,
                    },
                )
                .await;
                self.delete_chunk_objects_of(&job).await;
            }
            done @ Attempt::Done { .. } => {
                self.finish_logged(&job, done).await;
                self.delete_chunk_objects_of(&job).await;
            }
            // Cancelled: whoever cancelled the job ended it and deletes the chunks; a shutdown
            // leaves them for the next start.
            Attempt::Cancelled => tracing::info!(job_id, "join stopped"),
        }
        Some(attempt)
    }

    async fn concat_attempt(&self, job: &JobRecord, attempt: u32, token: &CancelToken) -> Attempt {
        let (engine, project) = match self.engine_and_project(job).await {
            Ok(v) => v,
            Err(a) => return a,
        };
        let Some(plan) = job.chunks.clone() else {
            return Attempt::Cancelled;
        };
        let scratch = match self.scratch(&format!("{}-concat-{attempt}", job.job_id)) {
            Ok(s) => s,
            Err(a) => return a,
        };
        let ext = job.output_format.extension();
        let mut files = Vec::with_capacity(plan.chunks.len());
        for (n, chunk) in plan.chunks.iter().enumerate() {
            let key = chunk
                .output_key
                .clone()
                .unwrap_or_else(|| chunk_key(job, n));
            let path = scratch.path.join(format!("{n}.{ext}"));
            if let Err(e) = self.storage.get_file(&key, &path).await {
                return Attempt::Failed {
                    message: format!("cannot fetch chunk {n}: {e}"),
                    transient: true,
                    reason: "download",
                };
            }
            files.push(ChunkFile {
                path,
                frames: chunk.frames(),
            });
        }
        // The project's media, `s3://` sources fetched, for the poster and thumbnail and the join's
        // audio.
        let stills_out = scratch.path.join("stills");
        let (project, stills_request) =
            match self.inputs(job, project, &scratch.path, &stills_out).await {
                Ok(v) => v,
                Err(a) => return a,
            };
        // The poster and thumbnail first: a failure there costs no join.
        let planned = stills::plan(job, &project, &scratch.path);
        if !planned.is_empty() {
            let composed = stills::compose(
                engine.clone(),
                project.clone(),
                stills_request.clone(),
                &planned,
            );
            if let Err(e) = composed.await {
                return self.failed_render(&e);
            }
        }
        let output = scratch.path.join(format!("output.{ext}"));
        let request = ConcatRequest {
            chunks: files,
            output: output.clone(),
            format: Some(job.output_format),
            assets: stills_request.assets,
            limits: self.settings.limits.clone(),
            silent_audio: false,
            // Progressive upload needs the bytes behind the muxer's write position to stay put.
            faststart: !self.storage.progressive(),
        };
        // Stored while it is written, like a normal render's output.
        let (writer, upload) = self.start_upload(job, &output);
        let result = self
            .run_blocking_with_progress(
                token,
                {
                    let token = token.clone();
                    move |_report: &mut dyn FnMut(Progress)| {
                        engine.concat_chunks(&project, &request, &token)
                    }
                },
                // No progress from the join; the tick checks that the job still wants it.
                |_| async { true },
            )
            .await;
        let attempt = match result {
            Ok(stats) => {
                let uploaded = self
                    .upload(job, writer, upload, stats.duration.as_secs_f64())
                    .await;
                self.with_stills(job, &planned, uploaded).await
            }
            Err(e) => {
                writer.send_replace(WriterState::Abandoned);
                if let Ok(Err(e)) = upload.await {
                    tracing::warn!(job_id = %job.job_id, error = %e, "upload of an abandoned join failed");
                }
                match e {
                    _ if token.is_cancelled() => Attempt::Cancelled,
                    RenderError::Cancelled => Attempt::Cancelled,
                    e => {
                        let wanted = matches!(
                            self.jobs.get_job(&job.job_id).await,
                            Ok(Some(j)) if j.status == JobStatus::Processing
                        );
                        if wanted {
                            self.failed_render(&e)
                        } else {
                            tracing::debug!(job_id = %job.job_id, error = %e, "join stopped after cancel");
                            Attempt::Cancelled
                        }
                    }
                }
            }
        };
        if matches!(attempt, Attempt::Done { .. }) {
            self.set_phase(job, JobPhase::Cleanup).await;
        }
        drop(scratch);
        attempt
    }

    /// Deletes the stored chunks of `job`'s current plan (after the job ended).
    async fn delete_chunk_objects_of(&self, job: &JobRecord) {
        // The record may be older than the last chunk's upload: read the plan again.
        let plan = match self.jobs.get_job(&job.job_id).await {
            Ok(Some(j)) => j.chunks,
            _ => job.chunks.clone(),
        };
        if let Some(plan) = plan {
            self.delete_chunk_objects(job, &plan).await;
        }
    }

    /// Deletes every chunk object a plan may have stored (missing ones are fine).
    async fn delete_chunk_objects(&self, job: &JobRecord, plan: &ChunkPlan) {
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

    /// After a cancel of `job`: stop its child renders on this instance and delete its chunks.
    pub(super) fn cancel_children(self: &Arc<Self>, job: &JobRecord) {
        let prefix = format!("{}/", job.job_id);
        for (id, token) in self
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
        {
            if id.starts_with(&prefix) {
                token.cancel();
            }
        }
        if job.chunks.is_some() {
            let this = self.clone();
            let job = job.clone();
            tokio::spawn(async move { this.delete_chunk_objects_of(&job).await });
        }
    }

    async fn engine_and_project(&self, job: &JobRecord) -> Result<(Arc<Engine>, Project), Attempt> {
        let project = match self.job_project(job).await {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Err(Attempt::Failed {
                    message: format!("project `{}` no longer exists", job.project_id),
                    transient: false,
                    reason: "project_missing",
                })
            }
            Err(e) => return Err(store_failure(e)),
        };
        match &self.engine {
            EngineState::Ready(e) => Ok((e.clone(), project)),
            EngineState::Failed(why) => Err(Attempt::Failed {
                message: format!("the render engine is unavailable: {why}"),
                transient: true,
                reason: "engine_unavailable",
            }),
        }
    }

    fn scratch(&self, name: &str) -> Result<Scratch, Attempt> {
        Scratch::create(self.scratch_root.join(name)).map_err(|e| Attempt::Failed {
            message: format!("cannot create scratch folder: {e}"),
            transient: true,
            reason: "scratch",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_round_trip() {
        let id = "0b6f1c1e-2f55-4c56-9b7e-1f0e7f3c2a11";
        assert_eq!(Task::parse(id), None);
        let t = Task::parse(&format!("{id}/chunk/12")).unwrap();
        assert_eq!(
            t,
            Task::Chunk {
                job_id: id.into(),
                index: 12
            }
        );
        assert_eq!(t.id(), format!("{id}/chunk/12"));
        assert_eq!(
            Task::parse(&format!("{id}/concat")),
            Some(Task::Concat { job_id: id.into() })
        );
        for bad in ["/concat", "x/chunk/", "x/chunk/-1", "x/chunk/a", "x/other"] {
            assert_eq!(Task::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_plan_with_the_same_ranges_resumes_with_its_stored_chunks() {
        let ranges = split(300, 10.0, 5.0, 10.0).unwrap();
        let mut old = ChunkPlan {
            attempt: 1,
            frames_total: 300,
            chunks: ranges
                .iter()
                .map(|r| Chunk {
                    start: r.start,
                    end: r.end,
                    output_key: None,
                    state: TaskState::default(),
                })
                .collect(),
            concat: TaskState::default(),
        };
        old.chunks[0].state = TaskState {
            status: TaskStatus::Done,
            attempts: 1,
            frames_done: 100,
            error: None,
        };
        old.chunks[1].state = TaskState {
            status: TaskStatus::Running,
            attempts: 2,
            frames_done: 40,
            error: None,
        };
        assert!(same_ranges(&old, &ranges));
        assert!(!same_ranges(&old, &split(300, 10.0, 5.0, 5.0).unwrap()));
        let plan = resume(&old, 2);
        assert_eq!(plan.attempt, 2);
        assert_eq!(plan.done(), 1);
        assert_eq!(plan.chunks[1].state.status, TaskStatus::Queued);
        assert_eq!(
            plan.chunks[1].state.attempts, 2,
            "attempt numbers keep counting"
        );
        assert_eq!(plan.frames_done(), 100);
        assert_eq!(plan.concat.status, TaskStatus::Waiting);
        assert_eq!(
            plan.open_items("j"),
            vec![
                ("j/chunk/1".to_string(), false),
                ("j/chunk/2".to_string(), false)
            ]
        );
        // Every chunk stored: only the join is left.
        for c in &mut old.chunks {
            c.state.status = TaskStatus::Done;
        }
        let plan = resume(&old, 3);
        assert_eq!(plan.open_items("j"), vec![("j/concat".to_string(), false)]);
    }

    #[test]
    fn split_respects_threshold_and_whole_frames() {
        assert_eq!(split(600, 10.0, 0.0, 10.0), None, "0 = never");
        assert_eq!(
            split(600, 10.0, 60.0, 10.0),
            None,
            "not longer than the threshold"
        );
        let r = split(600, 10.0, 30.0, 10.0).unwrap();
        assert_eq!(r.len(), 6);
        assert_eq!(r[5], 500..600);
        // 29.97 fps, 10 s chunks: 300 frames each, the last one shorter.
        let r = split(1000, 30_000.0 / 1001.0, 1.0, 10.0).unwrap();
        assert_eq!(
            r.iter().map(|r| r.end - r.start).collect::<Vec<_>>(),
            [300, 300, 300, 100]
        );
        assert_eq!(split(100, 10.0, 1.0, 60.0), None, "a single chunk");
    }

    /// Contract 2 on the chunk level, against the real SQLite store: a redelivered item takes over a
    /// running chunk, the stale holder is told to stop and its result is ignored, and the worker
    /// that stores the last chunk queues the join.
    #[tokio::test]
    async fn redelivery_takes_over_and_the_stale_holder_stops() {
        use crate::queue::{MemoryQueue, Queue};
        use crate::storage::LocalStorage;
        use crate::store::{JobStore, SqliteStore};
        use vrender_engine::Phase;

        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let data = dir.path().display().to_string();
        let settings =
            crate::config::Settings::from_lookup(|k| (k == "DATA_DIR").then(|| data.clone()))
                .unwrap();
        let storage = Arc::new(
            LocalStorage::new(dir.path().join("out"), "http://x".into(), b"k".to_vec()).unwrap(),
        );
        let queue = Arc::new(MemoryQueue::new());
        let o = Arc::new(Orchestrator::new(
            settings,
            store.clone(),
            store.clone(),
            queue.clone(),
            storage,
            EngineState::Failed("no engine in this test".into()),
        ));
        let mut job = crate::store::tests::sample_job("j", "u");
        job.status = JobStatus::Processing;
        let chunk = |start, end| Chunk {
            start,
            end,
            output_key: None,
            state: TaskState {
                status: TaskStatus::Queued,
                ..TaskState::default()
            },
        };
        job.chunks = Some(ChunkPlan {
            attempt: 1,
            frames_total: 20,
            chunks: vec![chunk(0, 10), chunk(10, 20)],
            concat: TaskState::default(),
        });
        store.create_job(&job).await.unwrap();
        let progress = |done| Progress {
            phase: Phase::Composing,
            frames_done: done,
            frames_total: 10,
            fps: 1.0,
            eta: None,
        };

        let (first, _) = o.claim_chunk("j", 0, 1).await.unwrap();
        assert_eq!(first, 1);
        assert!(
            o.claim_chunk("j", 0, 1).await.is_none(),
            "a duplicate first delivery waits"
        );
        assert!(o.claim_chunk("j", 7, 1).await.is_none(), "no such chunk");
        assert!(o.claim_chunk("x", 0, 1).await.is_none(), "no such job");
        let (second, _) = o.claim_chunk("j", 0, 2).await.unwrap();
        assert_eq!(second, 2, "a redelivery takes the chunk over");
        assert!(!o.store_chunk_progress("j", 0, first, progress(5)).await);
        assert!(o.store_chunk_progress("j", 0, second, progress(5)).await);
        let j = store.get_job("j").await.unwrap().unwrap();
        assert_eq!((j.frames_done, j.progress), (5, 22.5));

        // The stale holder's result is ignored; the current one's counts.
        o.chunk_done(&job, 0, first, chunk_key(&job, 0)).await;
        let plan = store.get_job("j").await.unwrap().unwrap().chunks.unwrap();
        assert_eq!(plan.chunks[0].state.status, TaskStatus::Running);
        o.chunk_done(&job, 0, second, chunk_key(&job, 0)).await;
        assert_eq!(
            queue.waiting().await.unwrap(),
            0,
            "no join before the last chunk"
        );
        let (a, _) = o.claim_chunk("j", 1, 1).await.unwrap();
        o.chunk_done(&job, 1, a, chunk_key(&job, 1)).await;
        let j = store.get_job("j").await.unwrap().unwrap();
        let plan = j.chunks.unwrap();
        assert_eq!(plan.done(), 2);
        assert_eq!(plan.concat.status, TaskStatus::Queued);
        assert_eq!(j.frames_done, 20);
        assert_eq!(queue.pop().await.unwrap().item.job_id, "j/concat");
        // The join is claimed once; a redelivery may take it over.
        assert_eq!(o.claim_concat("j", 1).await.map(|c| c.0), Some(1));
        assert!(o.claim_concat("j", 1).await.is_none());
        assert_eq!(o.claim_concat("j", 2).await.map(|c| c.0), Some(2));
    }

    #[test]
    fn old_records_load_without_a_plan() {
        let mut job = crate::store::tests::sample_job("j", "u");
        let mut v = serde_json::to_value(&job).unwrap();
        v.as_object_mut().unwrap().remove("chunks");
        let back: JobRecord = serde_json::from_value(v).unwrap();
        assert!(back.chunks.is_none());
        job.chunks = Some(ChunkPlan {
            attempt: 1,
            frames_total: 20,
            chunks: vec![Chunk {
                start: 0,
                end: 20,
                output_key: None,
                state: TaskState::default(),
            }],
            concat: TaskState::default(),
        });
        let back: JobRecord = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(back.chunks, job.chunks);
    }
}
