//! The chunk plan of a job rendered in pieces across workers, as stored in its record: the frame
//! ranges, where each chunk and the final join stand, and the storage key of each rendered chunk.
//! The plan changes only through the store's compare-and-set on a `processing` parent (the worker's
//! `worker::item` decides who owns which part).

use serde::{Deserialize, Serialize};
use vrender_engine::chunk_ranges;

use super::JobRecord;

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
    /// Random token of the try that holds the task while it is `running`: every write of a worker
    /// checks it, so a holder whose task was taken over writes nothing (as a job's `claim`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
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
    /// A new plan of `ranges` by parent attempt `attempt`: every chunk queued, the join waiting.
    pub fn new(attempt: u32, frames_total: u64, ranges: &[std::ops::Range<u64>]) -> ChunkPlan {
        ChunkPlan {
            attempt,
            frames_total,
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

    pub fn frames_done(&self) -> u64 {
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
pub fn same_ranges(plan: &ChunkPlan, ranges: &[std::ops::Range<u64>]) -> bool {
    plan.chunks.len() == ranges.len()
        && plan
            .chunks
            .iter()
            .zip(ranges)
            .all(|(c, r)| c.start == r.start && c.end == r.end)
}

/// `old` taken up again by parent attempt `attempt`: stored chunks stay done, every other chunk is
/// queued again (its attempt count kept), the join is queued when every chunk is stored.
pub fn resume(old: &ChunkPlan, attempt: u32) -> ChunkPlan {
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

/// The queue item id of chunk `index` of `job_id` (the queue carries ids; `worker::item` parses them).
pub fn chunk_item_id(job_id: &str, index: usize) -> String {
    format!("{job_id}/chunk/{index}")
}

/// The queue item id of the join of `job_id`'s chunks.
pub fn concat_item_id(job_id: &str) -> String {
    format!("{job_id}/concat")
}

/// Storage key of a rendered chunk.
pub fn chunk_key(job: &JobRecord, index: usize) -> String {
    format!(
        "chunks/{}/{index}.{}",
        job.job_id,
        job.spec.output_format.extension()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plan_with_the_same_ranges_resumes_with_its_stored_chunks() {
        let ranges = split(300, 10.0, 5.0, 10.0).unwrap();
        let mut old = ChunkPlan::new(1, 300, &ranges);
        old.chunks[0].state = TaskState {
            status: TaskStatus::Done,
            attempts: 1,
            frames_done: 100,
            error: None,
            claim: None,
        };
        old.chunks[1].state = TaskState {
            status: TaskStatus::Running,
            attempts: 2,
            frames_done: 40,
            error: None,
            claim: None,
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
}
