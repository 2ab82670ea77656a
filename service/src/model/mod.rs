//! The records the service keeps: stored projects and render jobs, the job state machine and
//! ([`chunks`]) the plan of a job rendered in pieces. Imports nothing of the service.

pub mod chunks;

use serde::{Deserialize, Serialize};
use vrender_engine::{OutputFormat, Project, Quality};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

pub fn now_millis() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as Millis)
        .unwrap_or(0)
}

/// RFC 3339 text of a timestamp, as the API shows it.
pub fn rfc3339(ms: Millis) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

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

/// A project as stored: the validated project (with its `projectId`) and when it was stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredProject {
    pub project: Project,
    pub created_at: Millis,
    /// A template's JSON as sent, `{{NAME}}` merge fields and `mergeDefaults` included; `project` is
    /// then that JSON with its defaults filled in (fields without one left as they are). Jobs merge
    /// their values into this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<serde_json::Value>,
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

/// One render job, as stored.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JobRecord {
    pub job_id: String,
    pub project_id: String,
    pub user_id: String,
    pub status: JobStatus,
    /// 1 (lowest) to 10 (highest); higher runs first.
    pub priority: u8,
    /// 0 to 100.
    pub progress: f64,
    pub current_phase: Option<String>,
    /// Seconds.
    pub estimated_time_remaining: Option<f64>,
    pub error: Option<String>,
    /// Storage key of the rendered file once completed.
    pub output_key: Option<String>,
    pub output_format: OutputFormat,
    pub quality: Option<Quality>,
    pub callback_url: Option<String>,
    pub callback: Option<CallbackState>,
    /// Tries started so far.
    pub attempts: u32,
    pub max_attempts: u32,
    pub frames_done: u64,
    pub frames_total: u64,
    pub created_at: Millis,
    pub updated_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// The chunk plan of a job rendered in chunks across workers ([`chunks`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chunks: Option<chunks::ChunkPlan>,
    /// Seconds of video rendered, set when the job completes (quotas count it).
    #[serde(default)]
    pub rendered_seconds: f64,
    /// Random token of the attempt that owns the job while `processing`: every write of a worker
    /// checks it, so a worker whose job was taken over (it lost its queue lease) writes nothing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim: Option<String>,
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
    /// Storage keys of the poster and thumbnail once stored (beside the video).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poster_key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub thumbnail_key: Option<String>,
    /// GIF output: frame rate and width.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gif: Option<vrender_engine::GifOptions>,
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
            status: job.status,
            progress: (job.progress * 10.0).round() / 10.0,
            current_phase: job.current_phase.clone(),
            estimated_time_remaining: job
                .estimated_time_remaining
                .map(|s| (s * 10.0).round() / 10.0),
            error: job.error.clone(),
            output_url,
            poster_url: None,
            thumbnail_url: None,
            project_id: job.project_id.clone(),
            user_id: job.user_id.clone(),
            priority: job.priority,
            output_format: match &job.still {
                Some(s) => s.format.unwrap_or(StillFormat::Png).as_str().to_string(),
                None => job.output_format.as_str().to_string(),
            },
            quality: job.quality.map(|q| q.as_str().to_string()),
            attempts: job.attempts,
            max_attempts: job.max_attempts,
            frames_done: job.frames_done,
            frames_total: job.frames_total,
            callback_url: job.callback_url.clone(),
            callback: job.callback.clone(),
            created_at: rfc3339(job.created_at),
            updated_at: rfc3339(job.updated_at),
            started_at: job.started_at.map(rfc3339),
            finished_at: job.finished_at.map(rfc3339),
            chunks_total: job.chunks.as_ref().map(|c| c.chunks.len()),
            chunks_done: job.chunks.as_ref().map(|c| c.done()),
        }
    }
}

/// A batch: one job per item of a template, submitted together (`POST /render/batches`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchRecord {
    pub batch_id: String,
    pub project_id: String,
    pub user_id: String,
    pub created_at: Millis,
    /// One per item, in the order sent.
    pub items: Vec<BatchItem>,
}

/// An item of a batch: its job, or why no job was made for it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchItem {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// The item's merge values did not make a valid project, or a quota refused it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
