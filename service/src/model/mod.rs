//! The records the service keeps: stored projects ([`project`]), render jobs ([`job`]: what to
//! render, where it stands, what came out), the plan of a job rendered in pieces ([`chunks`]) and
//! batches ([`batch`]). Imports nothing of the service.

pub mod batch;
pub mod chunks;
pub mod job;
pub mod project;

pub use batch::{BatchItem, BatchRecord};
pub use job::{
    CallbackState, JobPhase, JobRecord, JobResult, JobSpec, JobState, JobStatus, JobView,
    StillFormat, StillSpec, THUMBNAIL_WIDTH,
};
pub use project::StoredProject;

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
