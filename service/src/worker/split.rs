//! The split of a long video: a job whose video is longer than `CHUNK_THRESHOLD_SECONDS` (0 =
//! never) becomes frame ranges of `CHUNK_SECONDS` that any worker renders as items of their own
//! ([`super::chunk`]), then one item joins them without re-encoding and muxes the audio
//! ([`super::concat`]). The worker that claims the job writes the [`ChunkPlan`] into the job record
//! (keeping the chunks an earlier try stored when the ranges are the same) and queues the open
//! items; the job stays `processing` until the join ends it.

use std::time::Duration;

use vrender_engine::Project;

use crate::jobs::Orchestrator;
use crate::model::chunks::{resume, same_ranges, split, ChunkPlan};
use crate::model::JobPhase;
use crate::queue::QueueItem;

use super::claim::Claim;
use super::settle::Outcome;

impl Orchestrator {
    /// Called once the job is claimed: when its video is long enough, writes the chunk plan and
    /// queues the chunks ([`Outcome::Split`]: this worker is then done with the job). `None` when
    /// the job renders in one piece.
    pub(crate) async fn split(&self, claim: &Claim, project: &Project) -> Option<Outcome> {
        let job = &claim.job;
        if self.settings.chunk_threshold_seconds <= 0.0 {
            return None;
        }
        // GIF palettes, PNG sequences, alpha and still-only jobs need the whole render in one
        // place. Posters and thumbnails of a chunked job are composed at the join.
        if !job.spec.output_format.chunkable() || job.spec.still.is_some() {
            return None;
        }
        if project.has_transparency() && job.spec.output_format.has_alpha() {
            return None;
        }
        let total = vrender_engine::chunk::total_frames(project);
        let ranges = split(
            total,
            project.frame_rate,
            self.settings.chunk_threshold_seconds,
            self.settings.chunk_seconds,
        )?;
        let plan = match &job.state.chunks {
            // A plan of an earlier attempt of this job (interrupted by a restart, or taken over
            // from a dead worker) with the same ranges: its stored chunks are kept, the rest render
            // again. Attempt numbers keep counting, so a late holder of an earlier try cannot mark
            // a chunk of this one done.
            Some(old) if same_ranges(old, &ranges) => resume(old, claim.attempt),
            old => {
                if let Some(old) = old {
                    // Different ranges (changed chunk settings): start over.
                    self.delete_chunk_objects(job, old).await;
                }
                ChunkPlan::new(claim.attempt, total, &ranges)
            }
        };
        let p = plan.clone();
        let written = self
            .update_owned(claim, move |j| {
                let done = p.frames_done();
                j.state.chunks = Some(p.clone());
                j.state.frames_total = p.frames_total;
                j.state.frames_done = done;
                j.state.progress = 90.0 * done as f64 / p.frames_total.max(1) as f64;
                j.state.current_phase = Some(JobPhase::Composing.as_str().into());
            })
            .await;
        match written {
            Ok(Some(_)) => {}
            Ok(None) => return Some(Outcome::Cancelled), // cancelled or taken over meanwhile
            Err(e) => return Some(Outcome::failed(e.to_string(), true, "store")),
        }
        tracing::info!(
            job_id = %job.job_id,
            chunks = plan.chunks.len(),
            kept = plan.done(),
            frames = total,
            "job split into chunks"
        );
        // The open tasks: the chunks not yet stored, or the join when all are.
        for (id, _) in plan.open_items(&job.job_id) {
            let item = QueueItem {
                job_id: id.clone(),
                priority: job.spec.priority,
            };
            if let Err(e) = self.queue.push(item, Duration::ZERO).await {
                // The job goes back to the queue (or fails when out of tries) and is split again.
                return Some(Outcome::failed(
                    format!("cannot queue `{id}`: {e}"),
                    true,
                    "queue",
                ));
            }
        }
        Some(Outcome::Split)
    }
}
