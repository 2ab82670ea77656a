//! How an item's try ends, recorded once for every kind of item: a finished video completes its
//! job, a rendered chunk is marked done (the worker that completes the set queues the join), a
//! failed try goes back to the queue while tries remain (see [`super::retry`]) and otherwise fails
//! the whole job with the item's reason. Every write is guarded by the item's claim, so a job ends
//! (and calls back) once. Also the dead letter of an item delivered too often.

use std::sync::Arc;
use std::time::Duration;

use vrender_engine::RenderError;

use crate::jobs::Orchestrator;
use crate::model::chunks::{concat_item_id, TaskStatus};
use crate::model::{now_millis, JobStatus};
use crate::queue::QueueItem;
use crate::store::{update_job_with, UpdateOutcome};

use super::claim::Claim;
use super::item::WorkItem;

/// How one try of an item ended.
pub enum Outcome {
    /// The output (the job's, or the chunk's) is stored under `key`.
    Done {
        key: String,
        /// Seconds of video (quotas count them).
        seconds: f64,
    },
    /// The job was split into chunks: its chunk items carry it on.
    Split,
    Cancelled,
    Failed {
        message: String,
        transient: bool,
        /// A short label for `vrender_job_failures_total`.
        reason: &'static str,
    },
}

impl Outcome {
    pub fn failed(message: impl Into<String>, transient: bool, reason: &'static str) -> Outcome {
        Outcome::Failed {
            message: message.into(),
            transient,
            reason,
        }
    }
}

/// How a job ends.
enum End {
    Completed { key: String, seconds: f64 },
    Cancelled,
    Failed(String),
}

impl Orchestrator {
    /// Records how `claim`'s try ended.
    pub(crate) async fn settle(self: &Arc<Self>, claim: &Claim, outcome: Outcome, took: Duration) {
        match outcome {
            Outcome::Split => {}
            Outcome::Cancelled => {
                tracing::info!(item = %claim.item.id(), "render stopped (cancelled)");
                // A job's own render writes its end; a task's cancel was written by whoever
                // cancelled the job.
                if let WorkItem::Job { .. } = claim.item {
                    self.end_job(claim, End::Cancelled, took).await;
                }
            }
            Outcome::Failed {
                message,
                transient,
                reason,
            } => self.failed(claim, message, transient, reason, took).await,
            Outcome::Done { key, seconds } => match claim.item {
                WorkItem::Chunk { .. } => self.chunk_done(claim, key, took).await,
                _ => {
                    self.end_job(claim, End::Completed { key, seconds }, took)
                        .await
                }
            },
        }
    }

    /// A failed try: retried with backoff while tries remain, else the job fails with its reason.
    async fn failed(
        self: &Arc<Self>,
        claim: &Claim,
        message: String,
        transient: bool,
        reason: &'static str,
        took: Duration,
    ) {
        crate::metrics::metrics()
            .job_failures
            .with_label_values(&[reason])
            .inc();
        if transient && claim.attempt < claim.job.spec.max_attempts {
            return self.retry(claim, &message).await;
        }
        tracing::warn!(item = %claim.item.id(), attempt = claim.attempt, transient, error = %message, "render failed");
        let message = claim.item.failure(&claim.job, &message);
        self.end_job(claim, End::Failed(message), took).await;
    }

    /// Writes the job's final state under `claim`; the metrics, the callback and the clean-up of a
    /// job that ended here.
    async fn end_job(self: &Arc<Self>, claim: &Claim, end: End, took: Duration) {
        let id = claim.item.job_id();
        let now = now_millis();
        let output = match &end {
            End::Completed { key, .. } => Some(key.clone()),
            _ => None,
        };
        let written = self
            .update_owned(claim, move |j| match &end {
                End::Completed { key, seconds } => {
                    j.state.status = JobStatus::Completed;
                    j.state.progress = 100.0;
                    j.state.frames_done = j.state.frames_total;
                    j.state.current_phase = None;
                    j.state.estimated_time_remaining = Some(0.0);
                    j.result.error = None;
                    j.result.output_key = Some(key.clone());
                    j.state.finished_at = Some(now);
                    j.result.rendered_seconds = *seconds;
                }
                End::Cancelled => {
                    j.state.status = JobStatus::Cancelled;
                    j.state.current_phase = None;
                    j.state.estimated_time_remaining = None;
                    j.state.finished_at = Some(now);
                }
                End::Failed(message) => {
                    j.state.status = JobStatus::Failed;
                    j.state.current_phase = None;
                    j.state.estimated_time_remaining = None;
                    j.result.error = Some(message.clone());
                    j.state.finished_at = Some(now);
                }
            })
            .await;
        let j = match written {
            Ok(Some(j)) => j,
            Ok(None) => {
                // Cancelled meanwhile: an output is not wanted. Taken over by another worker: it
                // writes the same key, so leave it.
                if let Some(key) = output {
                    if let Ok(Some(c)) = self.jobs.get_job(id).await {
                        if c.state.status == JobStatus::Cancelled {
                            if let Err(e) = self.storage.delete(&key).await {
                                tracing::warn!(job_id = id, error = %e, "cannot delete unwanted output");
                            }
                        }
                    }
                }
                return;
            }
            Err(e) => {
                tracing::error!(job_id = id, error = %e, "cannot record the end of a job");
                return;
            }
        };
        if j.state.status == JobStatus::Completed {
            tracing::info!(
                job_id = id,
                elapsed_ms = took.as_millis() as u64,
                "render completed"
            );
        }
        let m = crate::metrics::metrics();
        m.jobs_finished
            .with_label_values(&[j.state.status.as_str()])
            .inc();
        if j.state.status == JobStatus::Completed {
            let elapsed = j
                .state
                .started_at
                .map(|t| Duration::from_millis((now - t).max(0) as u64))
                .unwrap_or(took);
            m.render_completed(j.state.frames_total, elapsed.as_secs_f64());
        }
        self.media.forget(id);
        if j.state.chunks.is_some() {
            self.delete_chunk_objects_of(&j).await;
        }
        self.spawn_callback(&j);
    }

    /// Marks a stored chunk done; the worker that completes the set queues the join.
    async fn chunk_done(self: &Arc<Self>, claim: &Claim, key: String, took: Duration) {
        let WorkItem::Chunk { index, .. } = claim.item else {
            return;
        };
        let (item, token, k) = (claim.item.clone(), claim.token.clone(), key.clone());
        let r = update_job_with(
            self.jobs.as_ref(),
            claim.item.job_id(),
            &[JobStatus::Processing],
            move |j| {
                if !item.owned_by(j, &token) {
                    return false; // taken over: the new holder stores the same key
                }
                let Some(plan) = j.state.chunks.as_mut() else {
                    return false;
                };
                let chunk = &mut plan.chunks[index];
                chunk.state.status = TaskStatus::Done;
                chunk.state.frames_done = chunk.frames();
                chunk.state.error = None;
                chunk.output_key = Some(k.clone());
                let join =
                    plan.done() == plan.chunks.len() && plan.concat.status == TaskStatus::Waiting;
                if join {
                    plan.concat.status = TaskStatus::Queued;
                }
                let done = plan.frames_done();
                j.state.frames_done = done;
                j.state.progress = 90.0 * done as f64 / plan.frames_total.max(1) as f64;
                join
            },
        )
        .await;
        let job_id = claim.item.job_id();
        match r {
            Ok((UpdateOutcome::Updated(j), Some(join))) => {
                tracing::info!(
                    job_id,
                    chunk = index,
                    attempt = claim.attempt,
                    "chunk stored"
                );
                if join {
                    let item = QueueItem {
                        job_id: concat_item_id(job_id),
                        priority: j.spec.priority,
                    };
                    if let Err(e) = self.queue.push(item, Duration::ZERO).await {
                        tracing::warn!(job_id, error = %e, "cannot queue the join of the chunks now; the queue resync pushes it");
                    }
                }
            }
            Ok((UpdateOutcome::Updated(_), _)) => {}
            Ok(_) => {
                // The job was cancelled or failed meanwhile: its chunks are not wanted. (Whoever
                // ended it deletes the objects it knew of; this one may have come later.)
                if let Err(e) = self.storage.delete(&key).await {
                    tracing::warn!(job_id, key, error = %e, "cannot delete unwanted chunk");
                }
            }
            // Not recorded: retried like a failed chunk.
            Err(e) => Box::pin(self.failed(claim, e.to_string(), true, "store", took)).await,
        }
    }

    /// Fails the job of an item delivered more than `QUEUE_MAX_DELIVERIES` times.
    pub(crate) async fn dead_letter(self: &Arc<Self>, item: &WorkItem, deliveries: u32) {
        let id = item.job_id();
        let what = item
            .describe()
            .map(|t| format!("{t} was "))
            .unwrap_or_default();
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
                    j.state.status = JobStatus::Failed;
                    j.state.current_phase = None;
                    j.state.estimated_time_remaining = None;
                    j.result.error = Some(message.clone());
                    j.state.finished_at = Some(now);
                    j.state.claim = None;
                }),
            )
            .await;
        match r {
            Ok(UpdateOutcome::Updated(j)) => {
                let m = crate::metrics::metrics();
                m.job_failures.with_label_values(&["dead_letter"]).inc();
                m.jobs_finished
                    .with_label_values(&[j.state.status.as_str()])
                    .inc();
                self.media.forget(id);
                self.spawn_callback(&j);
            }
            Ok(_) => {}
            Err(e) => tracing::error!(job_id = id, error = %e, "cannot fail a dead-lettered job"),
        }
        if let Ok(Some(job)) = self.jobs.get_job(id).await {
            if job.state.status.is_terminal() && job.state.chunks.is_some() {
                self.delete_chunk_objects_of(&job).await;
            }
        }
    }

    /// Whether a failure was the disk filling up: the error says so, or a transient failure
    /// happened with the disk now below `MIN_FREE_DISK_MB`.
    pub(crate) fn out_of_disk(&self, message: &str, transient: bool) -> bool {
        crate::policy::capacity::says_out_of_disk(message)
            || (transient && self.low_disk().is_some())
    }

    /// How a failed render ends its try: `disk full` when the disk ran out, else by the error's
    /// kind.
    pub(crate) fn failed_render(&self, e: &RenderError) -> Outcome {
        let message = e.to_string();
        let transient = e.is_transient();
        if self.out_of_disk(&message, transient) {
            disk_full(message)
        } else {
            Outcome::failed(message, transient, render_failure_reason(e))
        }
    }
}

/// A render or upload that ran out of disk: retried when attempts remain (the scratch folder, and
/// with it the partial output, is removed before the next try).
pub(crate) fn disk_full(message: String) -> Outcome {
    Outcome::failed(format!("disk full: {message}"), true, "disk_full")
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
