//! Persistence of projects and jobs.
//!
//! The traits are what the rest of the service uses; [`SqliteStore`] is the embedded implementation
//! (one file under the data folder, survives restarts). A MongoDB implementation slots in behind the
//! same traits: every state change is [`JobStore::update_job`], a compare-and-set on the job's status
//! (a `findOneAndUpdate` with a status filter in MongoDB, a versioned `UPDATE … WHERE` here).

mod sqlite;

pub use sqlite::SqliteStore;

use async_trait::async_trait;

use crate::model::{JobRecord, JobStatus, StoredProject};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} already exists")]
    Conflict(String),
    #[error("store: {0}")]
    Backend(String),
    #[error("stored record {id} cannot be read: {message}")]
    Corrupt { id: String, message: String },
}

/// A change to a job, applied by [`JobStore::update_job`] only while the job is in an expected status.
pub type JobMutation = Box<dyn Fn(&mut JobRecord) + Send + Sync>;

/// Result of a compare-and-set update.
#[derive(Debug)]
pub enum UpdateOutcome {
    /// The job was in an expected status; this is the record after the change.
    Updated(JobRecord),
    /// The job was in another status; this is the record as it is, unchanged.
    Mismatch(JobRecord),
    NotFound,
}

/// A page of the job list, newest first.
#[derive(Debug, Clone)]
pub struct JobQuery {
    pub user_id: Option<String>,
    pub status: Option<JobStatus>,
    /// 1-based.
    pub page: u32,
    pub limit: u32,
}

#[derive(Debug, Clone)]
pub struct JobPage {
    pub items: Vec<JobRecord>,
    pub total: u64,
}

#[async_trait]
pub trait ProjectStore: Send + Sync {
    /// Stores a new project; [`StoreError::Conflict`] when its id is taken.
    async fn create_project(&self, project: &StoredProject) -> Result<(), StoreError>;
    async fn get_project(&self, project_id: &str) -> Result<Option<StoredProject>, StoreError>;
}

#[async_trait]
pub trait JobStore: Send + Sync {
    /// Stores a new job; [`StoreError::Conflict`] when its id is taken.
    async fn create_job(&self, job: &JobRecord) -> Result<(), StoreError>;
    async fn get_job(&self, job_id: &str) -> Result<Option<JobRecord>, StoreError>;
    async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage, StoreError>;
    /// Atomically applies `change` if the job's status is one of `expected` (any status when empty),
    /// and sets `updatedAt`.
    async fn update_job(
        &self,
        job_id: &str,
        expected: &[JobStatus],
        change: JobMutation,
    ) -> Result<UpdateOutcome, StoreError>;
    /// All jobs in these statuses, oldest first (startup recovery).
    async fn jobs_with_status(&self, statuses: &[JobStatus]) -> Result<Vec<JobRecord>, StoreError>;
    /// Whether the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
}
