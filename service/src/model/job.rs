//! A render job as stored ([`JobRecord`]: what to render, where it stands, what came out), its
//! state machine ([`JobStatus`], [`JobPhase`]), its pictures ([`StillSpec`]) and the API's view of
//! it ([`JobView`]).

use serde::{Deserialize, Serialize};
use vrender_engine::{OutputFormat, Project, Quality};

use super::{chunks, rfc3339, Millis};

/// Where a job is in its life: `pending → queued → processing → completed | failed | cancelled`.
/// A transient failure sends a job from `processing` back to `queued` while tries remain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Stored, not yet handed to the queue.
    Pending,
    /// Waiting for a worker.
    Queued,
    /// A worker is rendering it.
    Processing,
    Completed,
    Failed,
    Cancelled,
}

impl JobStatus {
    pub const ALL: [JobStatus; 6] = [
        JobStatus::Pending,
        JobStatus::Queued,
        JobStatus::Processing,
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];
    pub const TERMINAL: [JobStatus; 3] = [
        JobStatus::Completed,
        JobStatus::Failed,
        JobStatus::Cancelled,
    ];

    pub fn is_terminal(self) -> bool {
        Self::TERMINAL.contains(&self)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Queued => "queued",
            JobStatus::Processing => "processing",
            JobStatus::Completed => "completed",
            JobStatus::Failed => "failed",
            JobStatus::Cancelled => "cancelled",
        }
    }
}

impl std::str::FromStr for JobStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        JobStatus::ALL.into_iter().find(|j| j.as_str() == s).ok_or_else(|| {
            format!("unknown status `{s}` (expected pending, queued, processing, completed, failed or cancelled)")
        })
    }
}

/// What the render is doing, as shown in `currentPhase`. The first four come from the engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobPhase {
    Loading,
    Composing,
    Encoding,
    Audio,
    Uploading,
    Cleanup,
}

impl JobPhase {
    pub fn as_str(self) -> &'static str {
        match self {
            JobPhase::Loading => "loading",
            JobPhase::Composing => "composing",
            JobPhase::Encoding => "encoding",
            JobPhase::Audio => "audio",
            JobPhase::Uploading => "uploading",
            JobPhase::Cleanup => "cleanup",
        }
    }

    pub fn from_engine(phase: vrender_engine::Phase) -> Self {
        match phase {
            vrender_engine::Phase::Loading => JobPhase::Loading,
            vrender_engine::Phase::Composing => JobPhase::Composing,
            vrender_engine::Phase::Encoding => JobPhase::Encoding,
            vrender_engine::Phase::Audio => JobPhase::Audio,
        }
    }
}

/// How the completion callback went.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CallbackState {
    pub delivered: bool,
    pub attempts: u32,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// One render job, as stored: who and when, then what to render ([`JobSpec`]), where it stands
/// ([`JobState`]) and what came out ([`JobResult`]). The three parts are flattened into one
/// document, so the stored records keep the shape they always had.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub job_id: String,
    pub project_id: String,
    pub user_id: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    #[serde(flatten)]
    pub spec: JobSpec,
    #[serde(flatten)]
    pub state: JobState,
    #[serde(flatten)]
    pub result: JobResult,
}

/// What a job renders and how: fixed when it is submitted.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobSpec {
    /// 1 (lowest) to 10 (highest); higher runs first.
    pub priority: u8,
    pub output_format: OutputFormat,
    pub quality: Option<Quality>,
    pub callback_url: Option<String>,
    pub max_attempts: u32,
    /// The project this job renders, pinned when the job is submitted (the stored project as it
    /// was then, or a template merged with the job's `merge` values), so the workers never read
    /// the project store. Records written before it was pinned lack it for plain jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub project: Option<Project>,
    /// A full-size picture of one frame, taken from the frames as they are encoded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster: Option<StillSpec>,
    /// A small picture of one frame, taken the same way.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail: Option<StillSpec>,
    /// A still-only job (`POST /render/stills`): this picture is the output, no video is made.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub still: Option<StillSpec>,
    /// GIF output: frame rate and width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gif: Option<vrender_engine::GifOptions>,
}

/// Where a job stands: its status, who holds it, its progress.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobState {
    pub status: JobStatus,
    /// Tries started so far.
    pub attempts: u32,
    /// Random token of the attempt that owns the job while `processing`: every write of a worker
    /// checks it, so a worker whose job was taken over (it lost its queue lease) writes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
    /// 0 to 100.
    pub progress: f64,
    pub current_phase: Option<String>,
    /// Seconds.
    pub estimated_time_remaining: Option<f64>,
    pub frames_done: u64,
    pub frames_total: u64,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// The chunk plan of a job rendered in chunks across workers ([`chunks`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<chunks::ChunkPlan>,
    /// How the completion callback went.
    pub callback: Option<CallbackState>,
}

/// What came out of a job: its files, the video seconds it counts for, or why it failed.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobResult {
    /// Storage key of the rendered file once completed.
    pub output_key: Option<String>,
    /// Storage keys of the poster and thumbnail once stored (beside the video).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_key: Option<String>,
    /// Seconds of video rendered, set when the job completes (quotas count it).
    #[serde(default)]
    pub rendered_seconds: f64,
    /// Why the job failed, or why its last try did while it is retried.
    pub error: Option<String>,
}

impl JobState {
    /// A new job's state: `pending`, untried.
    pub fn new() -> JobState {
        JobState {
            status: JobStatus::Pending,
            attempts: 0,
            claim: None,
            progress: 0.0,
            current_phase: None,
            estimated_time_remaining: None,
            frames_done: 0,
            frames_total: 0,
            started_at: None,
            finished_at: None,
            chunks: None,
            callback: None,
        }
    }
}

impl Default for JobState {
    fn default() -> Self {
        JobState::new()
    }
}

/// The picture format of a still.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StillFormat {
    /// Lossless; keeps a transparent background.
    Png,
    /// Quality 90 (`vrender_engine::stills::JPEG_QUALITY`); transparent areas come out black.
    Jpeg,
}

impl StillFormat {
    pub fn extension(self) -> &'static str {
        match self {
            StillFormat::Png => "png",
            StillFormat::Jpeg => "jpg",
        }
    }

    pub fn mime_type(self) -> &'static str {
        match self {
            StillFormat::Png => "image/png",
            StillFormat::Jpeg => "image/jpeg",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StillFormat::Png => "png",
            StillFormat::Jpeg => "jpeg",
        }
    }
}

/// One frame as a picture: a poster, a thumbnail or a still-only job's output.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StillSpec {
    /// Seconds into the video; at or past the end: the last frame.
    pub time: f64,
    /// Width in pixels, 16 to the video's width; the height keeps the aspect ratio. Posters are full
    /// size; thumbnails default to 320.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
    /// png or jpeg; default png for posters and stills, jpeg for thumbnails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<StillFormat>,
}

/// Thumbnail width when none is asked for.
pub const THUMBNAIL_WIDTH: u32 = 320;

/// A job as the API shows it: the seed's `RenderJobStatusDto` and more.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobView {
    pub job_id: String,
    pub status: JobStatus,
    /// 0 to 100.
    pub progress: f64,
    /// loading, composing, encoding, audio, uploading, cleanup
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_phase: Option<String>,
    /// Seconds, from the measured throughput.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub estimated_time_remaining: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Expiring signed download link, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_url: Option<String>,
    /// Expiring signed link of the poster, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub poster_url: Option<String>,
    /// Expiring signed link of the thumbnail, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub thumbnail_url: Option<String>,
    pub project_id: String,
    pub user_id: String,
    pub priority: u8,
    /// mp4, mov, webm, gif, hevc or png (a ZIP of PNG frames); a still-only job: its picture's
    /// format (png or jpeg)
    pub output_format: String,
    /// low, medium, high or ultra; absent: the project's own
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quality: Option<String>,
    pub attempts: u32,
    pub max_attempts: u32,
    pub frames_done: u64,
    pub frames_total: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub callback: Option<CallbackState>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Chunks of a job rendered in chunks across workers, and how many are rendered.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks_total: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub chunks_done: Option<usize>,
}

impl JobView {
    /// The view of `job`, with `output_url` filled in by the caller (it needs the storage).
    pub fn new(job: &JobRecord, output_url: Option<String>) -> Self {
        JobView {
            job_id: job.job_id.clone(),
            status: job.state.status,
            progress: (job.state.progress * 10.0).round() / 10.0,
            current_phase: job.state.current_phase.clone(),
            estimated_time_remaining: job
                .state
                .estimated_time_remaining
                .map(|s| (s * 10.0).round() / 10.0),
            error: job.result.error.clone(),
            output_url,
            poster_url: None,
            thumbnail_url: None,
            project_id: job.project_id.clone(),
            user_id: job.user_id.clone(),
            priority: job.spec.priority,
            output_format: match &job.spec.still {
                Some(s) => s.format.unwrap_or(StillFormat::Png).as_str().to_string(),
                None => job.spec.output_format.as_str().to_string(),
            },
            quality: job.spec.quality.map(|q| q.as_str().to_string()),
            attempts: job.state.attempts,
            max_attempts: job.spec.max_attempts,
            frames_done: job.state.frames_done,
            frames_total: job.state.frames_total,
            callback_url: job.spec.callback_url.clone(),
            callback: job.state.callback.clone(),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            started_at: job.state.started_at.map(rfc3339),
            finished_at: job.state.finished_at.map(rfc3339),
            chunks_total: job.state.chunks.as_ref().map(|c| c.chunks.len()),
            chunks_done: job.state.chunks.as_ref().map(|c| c.done()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The record is split in three parts in code, but its document is the flat one stored before
    /// the split: an old document reads and writes back unchanged.
    #[test]
    fn the_stored_document_keeps_its_flat_shape() {
        let old = serde_json::json!({
            "jobId": "j", "projectId": "p", "userId": "u",
            "status": "completed", "priority": 7, "progress": 100.0,
            "currentPhase": null, "estimatedTimeRemaining": 0.0, "error": null,
            "outputKey": "renders/u/j.mp4", "outputFormat": "mp4", "quality": "high",
            "callbackUrl": "https://example.com/hook",
            "callback": {"delivered": true, "attempts": 1},
            "attempts": 2, "maxAttempts": 3, "framesDone": 30, "framesTotal": 30,
            "createdAt": 1, "updatedAt": 5, "startedAt": 2, "finishedAt": 5,
            "renderedSeconds": 1.0, "claim": "c",
            "poster": {"time": 0.5}, "posterKey": "renders/u/j.poster.png"
        });
        let record: JobRecord = serde_json::from_value(old.clone()).unwrap();
        assert_eq!(record.state.status, JobStatus::Completed);
        assert_eq!(record.spec.priority, 7);
        assert_eq!(record.result.output_key.as_deref(), Some("renders/u/j.mp4"));
        assert_eq!(serde_json::to_value(&record).unwrap(), old);
    }
}
