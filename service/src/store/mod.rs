//! Persistence of projects and jobs.
//!
//! The traits are what the rest of the service uses. [`SqliteStore`] is the embedded implementation
//! (one file under the data folder, survives restarts); [`MongoStore`] is the distributed one, chosen
//! when `MONGODB_URI` is set (the `mongodb` cargo feature, on by default) ([`from_settings`]). Every state change is [`JobStore::update_job`], a
//! compare-and-set on the job's status and version (a versioned `UPDATE … WHERE` in SQLite, a
//! `replaceOne` filtered on version and status in MongoDB).

#[cfg(feature = "mongodb")]
mod mongo;
mod sqlite;

#[cfg(feature = "mongodb")]
pub use mongo::MongoStore;
pub use sqlite::SqliteStore;

use std::sync::Arc;

use async_trait::async_trait;

use crate::model::{BatchRecord, JobRecord, JobStatus, StoredProject};

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

/// [`JobStore::update_job`] with a change that also answers something (did this write claim the
/// task? must the join be queued?): the answer of the change's last run comes back with the outcome
/// (`None` when it never ran: the job was missing or in another status). A store may run the change
/// more than once (a compare-and-set retried after a concurrent write); the last run is the one
/// stored.
pub async fn update_job_with<T: Send + 'static>(
    store: &dyn JobStore,
    job_id: &str,
    expected: &[JobStatus],
    change: impl Fn(&mut JobRecord) -> T + Send + Sync + 'static,
) -> Result<(UpdateOutcome, Option<T>), StoreError> {
    let answer = std::sync::Arc::new(std::sync::Mutex::new(None));
    let slot = answer.clone();
    let outcome = store
        .update_job(
            job_id,
            expected,
            Box::new(move |j| {
                let a = change(j);
                *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(a);
            }),
        )
        .await?;
    let answer = answer.lock().unwrap_or_else(|p| p.into_inner()).take();
    Ok(match outcome {
        UpdateOutcome::Updated(j) => (UpdateOutcome::Updated(j), answer),
        other => (other, None),
    })
}

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

/// Usage of one user, for quotas ([`JobStore::usage`]).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// Jobs not yet finished (pending, queued, processing).
    pub active_jobs: u64,
    /// Jobs created since the given time, whatever their status.
    pub jobs_since: u64,
    /// Sum of `rendered_seconds` of jobs completed since the given time.
    pub rendered_seconds_since: f64,
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
    /// Usage of one user for quotas: jobs not yet finished, jobs created since `since_ms`, and the sum of
    /// `rendered_seconds` of jobs completed since `since_ms`.
    async fn usage(&self, user_id: &str, since_ms: i64) -> Result<Usage, StoreError>;
    /// Whether the store answers.
    async fn ping(&self) -> Result<(), StoreError>;
}

#[async_trait]
pub trait BatchStore: Send + Sync {
    /// Stores a new batch; [`StoreError::Conflict`] when its id is taken.
    async fn create_batch(&self, batch: &BatchRecord) -> Result<(), StoreError>;
    async fn get_batch(&self, batch_id: &str) -> Result<Option<BatchRecord>, StoreError>;
}

/// Every store in one object (each implementation keeps projects, jobs and batches together).
pub trait Store: ProjectStore + JobStore + BatchStore {}
impl<T: ProjectStore + JobStore + BatchStore> Store for T {}

/// The store the settings ask for: MongoDB when `MONGODB_URI` is set, else the SQLite file.
pub async fn from_settings(
    settings: &crate::config::Settings,
) -> Result<Arc<dyn Store>, StoreError> {
    #[cfg(feature = "mongodb")]
    if let Some(uri) = &settings.mongodb_uri {
        let store = MongoStore::connect(uri).await?;
        tracing::info!(database = %store.database().name(), "job store: MongoDB");
        return Ok(Arc::new(store));
    }
    // Without the `mongodb` feature, `MONGODB_URI` is refused with the settings (config.rs).
    let path = settings.sqlite_path.clone();
    tracing::info!(path = %path.display(), "job store: SQLite");
    Ok(Arc::new(SqliteStore::open(&path)?))
}

/// One behaviour suite for every store implementation.
#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::{now_millis, BatchItem};
    use vrender_engine::OutputFormat;

    pub(crate) fn sample_job(id: &str, user: &str) -> JobRecord {
        JobRecord {
            job_id: id.into(),
            project_id: "p".into(),
            user_id: user.into(),
            created_at: now_millis(),
            updated_at: now_millis(),
            spec: crate::model::JobSpec {
                priority: 5,
                output_format: OutputFormat::Mp4,
                quality: None,
                callback_url: None,
                max_attempts: 3,
                project: None,
                poster: None,
                thumbnail: None,
                still: None,
                gif: None,
            },
            state: crate::model::JobState {
                status: JobStatus::Queued,
                ..crate::model::JobState::new()
            },
            result: crate::model::JobResult::default(),
        }
    }

    #[test]
    fn old_records_load_without_a_plan() {
        let mut job = sample_job("j", "u");
        let mut v = serde_json::to_value(&job).unwrap();
        v.as_object_mut().unwrap().remove("chunks");
        let back: JobRecord = serde_json::from_value(v).unwrap();
        assert!(back.state.chunks.is_none());
        job.state.chunks = Some(crate::model::chunks::ChunkPlan {
            attempt: 1,
            frames_total: 20,
            chunks: vec![crate::model::chunks::Chunk {
                start: 0,
                end: 20,
                output_key: None,
                state: crate::model::chunks::TaskState::default(),
            }],
            concat: crate::model::chunks::TaskState::default(),
        });
        let back: JobRecord = serde_json::from_str(&serde_json::to_string(&job).unwrap()).unwrap();
        assert_eq!(back.state.chunks, job.state.chunks);
    }

    /// A batch of three items (one refused at submission) by user `u`.
    pub(crate) fn sample_batch(id: &str) -> BatchRecord {
        BatchRecord {
            batch_id: id.into(),
            project_id: "p1".into(),
            user_id: "u".into(),
            created_at: 1_700_000_000_000,
            items: vec![
                BatchItem {
                    job_id: Some("j-a".into()),
                    error: None,
                },
                BatchItem {
                    job_id: None,
                    error: Some("frames[0].layers[1].text: no value for {{NAME}}".into()),
                },
                BatchItem {
                    job_id: Some("j-c".into()),
                    error: None,
                },
            ],
        }
    }

    /// What every [`BatchStore`] must do: store, read back item for item in order, refuse a taken
    /// id, and say `None` for an unknown one.
    pub(crate) async fn batch_conformance<S: BatchStore>(store: &S) {
        let b = sample_batch("b1");
        store.create_batch(&b).await.unwrap();
        let back = store.get_batch("b1").await.unwrap().expect("stored");
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&b).unwrap()
        );
        assert!(matches!(
            store.create_batch(&b).await,
            Err(StoreError::Conflict(_))
        ));
        assert!(store.get_batch("nope").await.unwrap().is_none());
    }

    pub(crate) async fn conformance<S: JobStore>(store: &S) {
        for i in 0..5 {
            let mut j = sample_job(&format!("j{i}"), if i % 2 == 0 { "a" } else { "b" });
            j.created_at += i; // distinct, increasing creation times
            store.create_job(&j).await.unwrap();
        }
        assert!(matches!(
            store.create_job(&sample_job("j0", "a")).await,
            Err(StoreError::Conflict(_))
        ));
        let page = store
            .list_jobs(&JobQuery {
                user_id: Some("a".into()),
                status: None,
                page: 1,
                limit: 2,
            })
            .await
            .unwrap();
        assert_eq!(page.total, 3);
        let ids: Vec<_> = page.items.iter().map(|j| j.job_id.as_str()).collect();
        assert_eq!(ids, ["j4", "j2"], "newest first");
        let page2 = store
            .list_jobs(&JobQuery {
                user_id: Some("a".into()),
                status: None,
                page: 2,
                limit: 2,
            })
            .await
            .unwrap();
        assert_eq!(page2.items.len(), 1);
        assert_eq!(page2.items[0].job_id, "j0");

        let to_processing: JobMutation = Box::new(|j| j.state.status = JobStatus::Processing);
        assert!(matches!(
            store.update_job("j1", &[JobStatus::Queued], to_processing).await.unwrap(),
            UpdateOutcome::Updated(j) if j.state.status == JobStatus::Processing
        ));
        let again: JobMutation = Box::new(|j| j.state.status = JobStatus::Processing);
        assert!(matches!(
            store
                .update_job("j1", &[JobStatus::Queued], again)
                .await
                .unwrap(),
            UpdateOutcome::Mismatch(_)
        ));
        let none: JobMutation = Box::new(|_| {});
        assert!(matches!(
            store.update_job("nope", &[], none).await.unwrap(),
            UpdateOutcome::NotFound
        ));
        let by_status = store
            .jobs_with_status(&[JobStatus::Processing])
            .await
            .unwrap();
        assert_eq!(by_status.len(), 1);
        assert_eq!(by_status[0].job_id, "j1");
        let processing_page = store
            .list_jobs(&JobQuery {
                user_id: None,
                status: Some(JobStatus::Processing),
                page: 1,
                limit: 10,
            })
            .await
            .unwrap();
        assert_eq!(processing_page.total, 1);

        // A finished job is never moved back by a writer that expects it running.
        let complete: JobMutation = Box::new(|j| j.state.status = JobStatus::Completed);
        store
            .update_job("j1", &[JobStatus::Processing], complete)
            .await
            .unwrap();
        let back: JobMutation = Box::new(|j| j.state.status = JobStatus::Processing);
        assert!(matches!(
            store.update_job("j1", &[JobStatus::Processing, JobStatus::Queued], back).await.unwrap(),
            UpdateOutcome::Mismatch(j) if j.state.status == JobStatus::Completed
        ));

        // Concurrent compare-and-sets never lose an update (the futures run interleaved on one task;
        // each store call still waits on I/O or the blocking pool, so the writes really overlap).
        let tasks = (0..8).map(|_| async {
            for _ in 0..10 {
                let inc: JobMutation = Box::new(|j| j.state.attempts += 1);
                store.update_job("j3", &[], inc).await.unwrap();
            }
        });
        futures_util::future::join_all(tasks).await;
        let j3 = store.get_job("j3").await.unwrap().unwrap();
        assert_eq!(j3.state.attempts, 80);

        // Usage for quotas: user a has j0, j2, j4 (all queued); b has j1 (completed), j3 (queued).
        let t0 = store.get_job("j0").await.unwrap().unwrap().created_at;
        let u = store.usage("a", 0).await.unwrap();
        assert_eq!((u.active_jobs, u.jobs_since), (3, 3));
        assert_eq!(u.rendered_seconds_since, 0.0);
        // Created since j4 (the newest of a's jobs): only j4.
        let t4 = store.get_job("j4").await.unwrap().unwrap().created_at;
        assert_eq!(store.usage("a", t4).await.unwrap().jobs_since, 1);
        let done: JobMutation = Box::new(|j| {
            j.state.status = JobStatus::Completed;
            j.result.rendered_seconds = 2.5;
            j.state.finished_at = Some(now_millis());
        });
        store.update_job("j2", &[], done).await.unwrap();
        let done4: JobMutation = Box::new(|j| {
            j.state.status = JobStatus::Completed;
            j.result.rendered_seconds = 1.25;
            j.state.finished_at = Some(0); // long ago: outside any window
        });
        store.update_job("j4", &[], done4).await.unwrap();
        let u = store.usage("a", t0).await.unwrap();
        assert_eq!((u.active_jobs, u.jobs_since), (1, 3));
        assert_eq!(u.rendered_seconds_since, 2.5);
        assert_eq!(
            store.usage("a", 0).await.unwrap().rendered_seconds_since,
            3.75
        );
        let b = store.usage("b", 0).await.unwrap();
        assert_eq!((b.active_jobs, b.jobs_since), (1, 2));
        assert_eq!(store.usage("nobody", 0).await.unwrap(), Usage::default());
        store.ping().await.unwrap();
    }
}
