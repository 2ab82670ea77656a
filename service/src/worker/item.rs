//! What a queue item asks a worker to do, typed: render a job (a video, a still, or the split of a
//! long video into chunks), render one chunk of a chunked job, or join a job's chunks. The queue
//! carries item ids (`{jobId}`, `{jobId}/chunk/{n}`, `{jobId}/concat`, the format stored in Redis
//! and in the chunk plans of running jobs); they are parsed once, here, when an item is taken.
//!
//! Each item also knows its part of the job record: how it is claimed, who owns it (the claim token
//! of the job, or of its chunk or join in the plan) and how it goes back to the queue for a retry.
//! Every write of a worker goes through these, so jobs and chunk tasks share one ownership rule.

use crate::model::chunks::{chunk_item_id, concat_item_id, TaskState, TaskStatus};
use crate::model::{now_millis, JobPhase, JobRecord, JobStatus};

/// One unit of work of a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkItem {
    /// The job itself: a whole render, a still-only job, or the split of a long video.
    Job { job_id: String },
    /// Frames `chunks[index]` of a chunked job.
    Chunk { job_id: String, index: usize },
    /// The join of a chunked job's chunks (with the audio, the poster and the thumbnail).
    Concat { job_id: String },
}

/// How a claim went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claimed {
    /// The try number of the item (the job's `attempts`, or the task's).
    pub attempt: u32,
    /// Whether it was taken over from a holder presumed dead (a redelivered item).
    pub takeover: bool,
}

impl WorkItem {
    /// The item named by a queue id.
    pub fn parse(id: &str) -> WorkItem {
        let task = id.split_once('/').and_then(|(job_id, rest)| {
            if job_id.is_empty() {
                return None;
            }
            if rest == "concat" {
                return Some(WorkItem::Concat {
                    job_id: job_id.into(),
                });
            }
            let index = rest.strip_prefix("chunk/")?.parse().ok()?;
            Some(WorkItem::Chunk {
                job_id: job_id.into(),
                index,
            })
        });
        // Anything else is a job id (the store says whether it exists).
        task.unwrap_or_else(|| WorkItem::Job { job_id: id.into() })
    }

    /// The queue id of the item.
    pub fn id(&self) -> String {
        match self {
            WorkItem::Job { job_id } => job_id.clone(),
            WorkItem::Chunk { job_id, index } => chunk_item_id(job_id, *index),
            WorkItem::Concat { job_id } => concat_item_id(job_id),
        }
    }

    pub fn job_id(&self) -> &str {
        match self {
            WorkItem::Job { job_id }
            | WorkItem::Chunk { job_id, .. }
            | WorkItem::Concat { job_id } => job_id,
        }
    }

    /// The item in messages: `None` for the job itself, "chunk 3", "the join of the chunks".
    pub fn describe(&self) -> Option<String> {
        match self {
            WorkItem::Job { .. } => None,
            WorkItem::Chunk { index, .. } => Some(format!("chunk {index}")),
            WorkItem::Concat { .. } => Some("the join of the chunks".into()),
        }
    }

    /// The item's task in the job's chunk plan (`None` for the job itself, or a missing task).
    pub fn task<'a>(&self, j: &'a JobRecord) -> Option<&'a TaskState> {
        let plan = j.state.chunks.as_ref()?;
        match self {
            WorkItem::Job { .. } => None,
            WorkItem::Chunk { index, .. } => plan.chunks.get(*index).map(|c| &c.state),
            WorkItem::Concat { .. } => Some(&plan.concat),
        }
    }

    fn task_mut<'a>(&self, j: &'a mut JobRecord) -> Option<&'a mut TaskState> {
        let plan = j.state.chunks.as_mut()?;
        match self {
            WorkItem::Job { .. } => None,
            WorkItem::Chunk { index, .. } => plan.chunks.get_mut(*index).map(|c| &mut c.state),
            WorkItem::Concat { .. } => Some(&mut plan.concat),
        }
    }

    /// The job statuses a claim accepts.
    pub fn claimable_from(&self) -> &'static [JobStatus] {
        match self {
            WorkItem::Job { .. } => &[JobStatus::Queued, JobStatus::Processing],
            _ => &[JobStatus::Processing],
        }
    }

    /// Claims the item in `j` under `token` when it waits in the queue, or, for a redelivered item
    /// (`deliveries > 1`: its earlier holder lost the lease and is presumed dead), when it is held.
    /// Runs inside the store's compare-and-set, so two workers never both own an item.
    pub fn claim(&self, j: &mut JobRecord, deliveries: u32, token: &str) -> Option<Claimed> {
        let redelivered = deliveries > 1;
        if let WorkItem::Job { .. } = self {
            let takeover = j.state.status == JobStatus::Processing;
            if j.state.status != JobStatus::Queued && !(takeover && redelivered) {
                return None;
            }
            j.state.status = JobStatus::Processing;
            j.state.attempts += 1;
            j.state.started_at = Some(now_millis());
            j.state.progress = 0.0;
            j.state.frames_done = 0;
            j.state.current_phase = Some(JobPhase::Loading.as_str().into());
            j.state.estimated_time_remaining = None;
            j.state.claim = Some(token.to_string());
            return Some(Claimed {
                attempt: j.state.attempts,
                takeover,
            });
        }
        if let WorkItem::Concat { .. } = self {
            // The join waits for every chunk.
            let plan = j.state.chunks.as_ref()?;
            if plan.done() != plan.chunks.len() {
                return None;
            }
        }
        let s = self.task_mut(j)?;
        let takeover = s.status == TaskStatus::Running;
        if s.status != TaskStatus::Queued && !(takeover && redelivered) {
            return None;
        }
        s.status = TaskStatus::Running;
        s.attempts += 1;
        s.frames_done = 0;
        s.claim = Some(token.to_string());
        let attempt = s.attempts;
        if let WorkItem::Concat { .. } = self {
            j.state.progress = j.state.progress.max(90.0);
            j.state.current_phase = Some(JobPhase::Audio.as_str().into());
            j.state.estimated_time_remaining = None;
        }
        Some(Claimed { attempt, takeover })
    }

    /// The claim token of the item's current holder, when it is held: the job is `processing` and
    /// the item (the job, or its task) is claimed.
    pub fn holder<'a>(&self, j: &'a JobRecord) -> Option<&'a str> {
        if j.state.status != JobStatus::Processing {
            return None;
        }
        match self {
            WorkItem::Job { .. } => j.state.claim.as_deref(),
            _ => self
                .task(j)
                .filter(|s| s.status == TaskStatus::Running)
                .and_then(|s| s.claim.as_deref()),
        }
    }

    /// Whether the holder of `token` owns the item in `j` now (not cancelled, not taken over).
    pub fn owned_by(&self, j: &JobRecord, token: &str) -> bool {
        self.holder(j) == Some(token)
    }

    /// Sends the item back to the queue's side of the record after a failed try (the caller pushes
    /// it again): the job `queued`, or the task `queued` with the reason kept.
    pub fn requeue(&self, j: &mut JobRecord, attempt: u32, message: &str) {
        let what = self.what(j);
        if let WorkItem::Job { .. } = self {
            j.state.status = JobStatus::Queued;
            j.state.progress = 0.0;
            j.state.frames_done = 0;
            j.state.current_phase = None;
            j.state.estimated_time_remaining = None;
            j.result.error = Some(format!("attempt {attempt} failed: {message}; retrying"));
        } else if let Some(s) = self.task_mut(j) {
            s.status = TaskStatus::Queued;
            s.frames_done = 0;
            s.error = Some(format!(
                "{what}, attempt {attempt} failed: {message}; retrying"
            ));
        }
    }

    /// How a final failure of the item reads in the job's `error`.
    pub fn failure(&self, j: &JobRecord, message: &str) -> String {
        match self {
            WorkItem::Job { .. } => message.to_string(),
            _ => format!("{} failed: {message}", self.what(j)),
        }
    }

    /// "chunk 3 (frames 300..400)", "joining the chunks", "the job".
    fn what(&self, j: &JobRecord) -> String {
        match self {
            WorkItem::Job { .. } => "the job".into(),
            WorkItem::Chunk { index, .. } => j
                .state
                .chunks
                .as_ref()
                .and_then(|p| p.chunks.get(*index))
                .map(|c| format!("chunk {index} (frames {}..{})", c.start, c.end))
                .unwrap_or_else(|| format!("chunk {index}")),
            WorkItem::Concat { .. } => "joining the chunks".into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_ids_round_trip() {
        let id = "0b6f1c1e-2f55-4c56-9b7e-1f0e7f3c2a11";
        assert_eq!(WorkItem::parse(id), WorkItem::Job { job_id: id.into() });
        let t = WorkItem::parse(&format!("{id}/chunk/12"));
        assert_eq!(
            t,
            WorkItem::Chunk {
                job_id: id.into(),
                index: 12
            }
        );
        assert_eq!(t.id(), format!("{id}/chunk/12"));
        assert_eq!(
            WorkItem::parse(&format!("{id}/concat")),
            WorkItem::Concat { job_id: id.into() }
        );
        // Not a task: taken as a job id, which no job has.
        for bad in ["/concat", "x/chunk/", "x/chunk/-1", "x/chunk/a", "x/other"] {
            assert_eq!(
                WorkItem::parse(bad),
                WorkItem::Job { job_id: bad.into() },
                "{bad}"
            );
        }
    }
}
