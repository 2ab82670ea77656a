//! The distributed store: MongoDB (`MONGODB_URI`), shared by every API and worker process.
//!
//! Deliberately thin: documents are the serde form of [`StoredProject`] and [`JobRecord`] (camelCase,
//! the API's field names) plus `_id` and a `version` counter. All job logic stays in the orchestrator;
//! this file only maps records to documents and does the compare-and-set.
//!
//! Collections (in the URI's database, `vrender` when it names none):
//! - `projects`: `_id` = projectId.
//! - `jobs`: `_id` = jobId; indexes `jobId` (unique), `userId + createdAt` (listing), `status +
//!   createdAt` (recovery, queue resync).
//! - `batches`: `_id` = batchId.
//!
//! A state change is optimistic: read the job, apply the change in Rust, then `replaceOne` filtered on
//! `_id`, the `version` read *and* the expected statuses. If another process changed the job in
//! between, nothing is written and the change is tried again on the fresh record, so a finished job
//! can never be moved back by a stale writer.

use std::time::Duration;

use async_trait::async_trait;
use futures_util::TryStreamExt;
use mongodb::bson::{self, doc, Bson, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Collection, Database, IndexModel};

use super::{
    JobMutation, JobPage, JobQuery, JobStore, ProjectStore, StoreError, UpdateOutcome, Usage,
};
use crate::model::{now_millis, BatchRecord, JobRecord, JobStatus, StoredProject};

/// Database used when the URI names none.
pub const DEFAULT_DATABASE: &str = "vrender";
/// Compare-and-set attempts before giving up on a job that keeps changing under us.
const CAS_ATTEMPTS: usize = 16;

/// Projects and jobs in MongoDB. Cheap to clone (the driver pools connections).
#[derive(Clone)]
pub struct MongoStore {
    db: Database,
    projects: Collection<Document>,
    batches: Collection<Document>,
    jobs: Collection<Document>,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("mongodb: {e}"))
}

fn is_duplicate_key(e: &mongodb::error::Error) -> bool {
    use mongodb::error::{ErrorKind, WriteFailure};
    matches!(&*e.kind, ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == 11000)
}

impl MongoStore {
    /// Connects, checks the server answers and creates the indexes (idempotent).
    pub async fn connect(uri: &str) -> Result<MongoStore, StoreError> {
        let mut options = ClientOptions::parse(uri)
            .await
            .map_err(|e| StoreError::Backend(format!("MONGODB_URI: {e}")))?;
        options.app_name.get_or_insert_with(|| "vrender".into());
        // Fail fast with a clear error instead of the driver's 30 s default when the server is down.
        options
            .server_selection_timeout
            .get_or_insert(Duration::from_secs(5));
        options
            .connect_timeout
            .get_or_insert(Duration::from_secs(5));
        let client = Client::with_options(options).map_err(backend)?;
        let db = client
            .default_database()
            .unwrap_or_else(|| client.database(DEFAULT_DATABASE));
        let store = MongoStore::with_database(db);
        store.ping().await?;
        store.create_indexes().await?;
        Ok(store)
    }

    fn with_database(db: Database) -> MongoStore {
        MongoStore {
            projects: db.collection("projects"),
            jobs: db.collection("jobs"),
            batches: db.collection("batches"),
            db,
        }
    }

    /// The database in use (tests drop it).
    pub fn database(&self) -> &Database {
        &self.db
    }

    async fn create_indexes(&self) -> Result<(), StoreError> {
        let unique = IndexOptions::builder().unique(true).build();
        self.jobs
            .create_indexes([
                IndexModel::builder()
                    .keys(doc! { "jobId": 1 })
                    .options(unique)
                    .build(),
                IndexModel::builder()
                    .keys(doc! { "userId": 1, "createdAt": -1 })
                    .build(),
                IndexModel::builder()
                    .keys(doc! { "status": 1, "createdAt": 1 })
                    .build(),
            ])
            .await
            .map_err(backend)?;
        Ok(())
    }
}

// ---- document mapping (pure, unit-tested without a server) ----

/// The document of a project.
pub(crate) fn project_to_doc(p: &StoredProject) -> Result<Document, StoreError> {
    let mut d = bson::to_document(p).map_err(backend)?;
    d.insert("_id", p.project.project_id.clone());
    Ok(d)
}

pub(crate) fn doc_to_project(mut d: Document) -> Result<StoredProject, StoreError> {
    let id = d.get_str("_id").unwrap_or("?").to_string();
    d.remove("_id");
    bson::from_document(d).map_err(|e| StoreError::Corrupt {
        id,
        message: e.to_string(),
    })
}

/// The document of a job at `version`.
pub(crate) fn job_to_doc(job: &JobRecord, version: i64) -> Result<Document, StoreError> {
    let mut d = bson::to_document(job).map_err(backend)?;
    d.insert("_id", job.job_id.clone());
    d.insert("version", version);
    Ok(d)
}

/// The job in a document and its version.
pub(crate) fn doc_to_job(mut d: Document) -> Result<(JobRecord, i64), StoreError> {
    let id = d.get_str("_id").unwrap_or("?").to_string();
    let version = match d.remove("version") {
        Some(Bson::Int64(v)) => v,
        Some(Bson::Int32(v)) => v as i64,
        _ => 0,
    };
    d.remove("_id");
    let job = bson::from_document(d).map_err(|e| StoreError::Corrupt {
        id,
        message: e.to_string(),
    })?;
    Ok((job, version))
}

fn status_list(statuses: &[JobStatus]) -> Vec<Bson> {
    statuses.iter().map(|s| Bson::from(s.as_str())).collect()
}

/// The filter of a job listing.
pub(crate) fn list_filter(q: &JobQuery) -> Document {
    let mut f = Document::new();
    if let Some(u) = &q.user_id {
        f.insert("userId", u.clone());
    }
    if let Some(s) = q.status {
        f.insert("status", s.as_str());
    }
    f
}

/// The filter of a compare-and-set: this id, the version read, and (when given) one of the statuses.
pub(crate) fn cas_filter(job_id: &str, version: i64, expected: &[JobStatus]) -> Document {
    let mut f = doc! { "_id": job_id, "version": version };
    if !expected.is_empty() {
        f.insert("status", doc! { "$in": status_list(expected) });
    }
    f
}

#[async_trait]
impl super::BatchStore for MongoStore {
    async fn create_batch(&self, batch: &BatchRecord) -> Result<(), StoreError> {
        let mut d = bson::to_document(batch).map_err(backend)?;
        d.insert("_id", batch.batch_id.clone());
        match self.batches.insert_one(d).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => {
                Err(StoreError::Conflict(format!("batch {}", batch.batch_id)))
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn get_batch(&self, batch_id: &str) -> Result<Option<BatchRecord>, StoreError> {
        let Some(mut d) = self
            .batches
            .find_one(doc! { "_id": batch_id })
            .await
            .map_err(backend)?
        else {
            return Ok(None);
        };
        d.remove("_id");
        bson::from_document(d)
            .map(Some)
            .map_err(|e| StoreError::Corrupt {
                id: batch_id.to_string(),
                message: e.to_string(),
            })
    }
}

#[async_trait]
impl ProjectStore for MongoStore {
    async fn create_project(&self, project: &StoredProject) -> Result<(), StoreError> {
        match self.projects.insert_one(project_to_doc(project)?).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => Err(StoreError::Conflict(format!(
                "project {}",
                project.project.project_id
            ))),
            Err(e) => Err(backend(e)),
        }
    }

    async fn get_project(&self, project_id: &str) -> Result<Option<StoredProject>, StoreError> {
        self.projects
            .find_one(doc! { "_id": project_id })
            .await
            .map_err(backend)?
            .map(doc_to_project)
            .transpose()
    }
}

#[async_trait]
impl JobStore for MongoStore {
    async fn create_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        match self.jobs.insert_one(job_to_doc(job, 0)?).await {
            Ok(_) => Ok(()),
            Err(e) if is_duplicate_key(&e) => {
                Err(StoreError::Conflict(format!("job {}", job.job_id)))
            }
            Err(e) => Err(backend(e)),
        }
    }

    async fn get_job(&self, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        Ok(self
            .jobs
            .find_one(doc! { "_id": job_id })
            .await
            .map_err(backend)?
            .map(doc_to_job)
            .transpose()?
            .map(|(j, _)| j))
    }

    async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage, StoreError> {
        let filter = list_filter(query);
        let total = self
            .jobs
            .count_documents(filter.clone())
            .await
            .map_err(backend)?;
        let skip = (query.page.max(1) as u64 - 1) * query.limit as u64;
        let docs: Vec<Document> = self
            .jobs
            .find(filter)
            .sort(doc! { "createdAt": -1, "_id": -1 })
            .skip(skip)
            .limit(query.limit as i64)
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let items = docs
            .into_iter()
            .map(|d| doc_to_job(d).map(|(j, _)| j))
            .collect::<Result<_, _>>()?;
        Ok(JobPage { items, total })
    }

    async fn update_job(
        &self,
        job_id: &str,
        expected: &[JobStatus],
        change: JobMutation,
    ) -> Result<UpdateOutcome, StoreError> {
        for _ in 0..CAS_ATTEMPTS {
            let Some(d) = self
                .jobs
                .find_one(doc! { "_id": job_id })
                .await
                .map_err(backend)?
            else {
                return Ok(UpdateOutcome::NotFound);
            };
            let (mut job, version) = doc_to_job(d)?;
            if !expected.is_empty() && !expected.contains(&job.state.status) {
                return Ok(UpdateOutcome::Mismatch(job));
            }
            change(&mut job);
            job.updated_at = now_millis();
            let r = self
                .jobs
                .replace_one(
                    cas_filter(job_id, version, expected),
                    job_to_doc(&job, version + 1)?,
                )
                .await
                .map_err(backend)?;
            if r.matched_count == 1 {
                return Ok(UpdateOutcome::Updated(job));
            }
            // Another process wrote first: look again (it may have left an expected status).
        }
        Err(StoreError::Backend(format!(
            "job {job_id} kept changing concurrently ({CAS_ATTEMPTS} tries)"
        )))
    }

    async fn jobs_with_status(&self, statuses: &[JobStatus]) -> Result<Vec<JobRecord>, StoreError> {
        let docs: Vec<Document> = self
            .jobs
            .find(doc! { "status": { "$in": status_list(statuses) } })
            .sort(doc! { "createdAt": 1, "_id": 1 })
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        docs.into_iter()
            .map(|d| doc_to_job(d).map(|(j, _)| j))
            .collect()
    }

    async fn usage(&self, user_id: &str, since_ms: i64) -> Result<Usage, StoreError> {
        let active = self
            .jobs
            .count_documents(doc! {
                "userId": user_id,
                "status": { "$in": status_list(&[JobStatus::Pending, JobStatus::Queued, JobStatus::Processing]) },
            })
            .await
            .map_err(backend)?;
        let since = self
            .jobs
            .count_documents(doc! { "userId": user_id, "createdAt": { "$gte": since_ms } })
            .await
            .map_err(backend)?;
        let sums: Vec<Document> = self
            .jobs
            .aggregate(vec![
                doc! { "$match": {
                    "userId": user_id,
                    "status": JobStatus::Completed.as_str(),
                    "finishedAt": { "$gte": since_ms },
                } },
                doc! { "$group": { "_id": Bson::Null, "s": { "$sum": "$renderedSeconds" } } },
            ])
            .await
            .map_err(backend)?
            .try_collect()
            .await
            .map_err(backend)?;
        let seconds = sums
            .first()
            .and_then(|d| match d.get("s") {
                Some(Bson::Double(f)) => Some(*f),
                Some(Bson::Int32(i)) => Some(*i as f64),
                Some(Bson::Int64(i)) => Some(*i as f64),
                _ => None,
            })
            .unwrap_or(0.0);
        Ok(Usage {
            active_jobs: active,
            jobs_since: since,
            rendered_seconds_since: seconds,
        })
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.db
            .run_command(doc! { "ping": 1 })
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{batch_conformance, conformance, sample_batch, sample_job};

    fn sample_project() -> StoredProject {
        let text = std::fs::read_to_string(
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/transitions.json"),
        )
        .unwrap();
        StoredProject {
            project: serde_json::from_str(&text).unwrap(),
            created_at: 1_700_000_000_000,
            template: None,
        }
    }

    #[test]
    fn job_documents_round_trip_with_the_api_field_names() {
        let mut job = sample_job("j1", "user-1");
        job.state.status = JobStatus::Processing;
        job.state.frames_total = 600;
        job.state.started_at = Some(job.created_at + 5);
        let d = job_to_doc(&job, 7).unwrap();
        // The indexed fields are top-level, camelCase, with the types the indexes expect.
        assert_eq!(d.get_str("_id").unwrap(), "j1");
        assert_eq!(d.get_str("jobId").unwrap(), "j1");
        assert_eq!(d.get_str("userId").unwrap(), "user-1");
        assert_eq!(d.get_str("status").unwrap(), "processing");
        assert_eq!(d.get_i64("createdAt").unwrap(), job.created_at);
        assert_eq!(d.get_i64("version").unwrap(), 7);
        let (back, version) = doc_to_job(d).unwrap();
        assert_eq!(version, 7);
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&job).unwrap()
        );
    }

    #[test]
    fn project_documents_round_trip() {
        let p = sample_project();
        let d = project_to_doc(&p).unwrap();
        assert_eq!(d.get_str("_id").unwrap(), p.project.project_id);
        let back = doc_to_project(d).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&p).unwrap()
        );
    }

    #[test]
    fn batch_documents_round_trip() {
        let b = sample_batch("b1");
        let d = bson::to_document(&b).unwrap();
        assert_eq!(d.get_i64("createdAt").unwrap(), b.created_at);
        assert_eq!(d.get_array("items").unwrap().len(), 3);
        let back: BatchRecord = bson::from_document(d).unwrap();
        assert_eq!(
            serde_json::to_value(&back).unwrap(),
            serde_json::to_value(&b).unwrap()
        );
    }

    #[test]
    fn a_corrupt_document_names_the_record() {
        let d = doc! { "_id": "bad", "version": 1_i64, "jobId": "bad", "status": "exploded" };
        match doc_to_job(d) {
            Err(StoreError::Corrupt { id, .. }) => assert_eq!(id, "bad"),
            other => panic!("expected Corrupt, got {other:?}"),
        }
    }

    #[test]
    fn filters() {
        let q = JobQuery {
            user_id: Some("u".into()),
            status: Some(JobStatus::Queued),
            page: 2,
            limit: 10,
        };
        assert_eq!(list_filter(&q), doc! { "userId": "u", "status": "queued" });
        let all = JobQuery {
            user_id: None,
            status: None,
            page: 1,
            limit: 10,
        };
        assert_eq!(list_filter(&all), Document::new());
        assert_eq!(
            cas_filter("j", 3, &[JobStatus::Queued, JobStatus::Processing]),
            doc! { "_id": "j", "version": 3_i64, "status": { "$in": ["queued", "processing"] } }
        );
        assert_eq!(
            cas_filter("j", 0, &[]),
            doc! { "_id": "j", "version": 0_i64 }
        );
    }

    /// The same conformance suite as the SQLite store, against a real server. No MongoDB server can
    /// be installed on the machines this project is built on, so `cargo test` lists it as ignored
    /// with this reason; run it with `MONGODB_URI=mongodb://HOST:27017 cargo test -p vrender-service
    /// --lib mongo -- --ignored`.
    #[tokio::test]
    #[ignore = "needs a MongoDB server: set MONGODB_URI and run with --ignored"]
    async fn conformance_against_a_real_server() {
        let uri = std::env::var("MONGODB_URI")
            .expect("MONGODB_URI must point at a MongoDB server for this test");
        let store = MongoStore::connect(&uri).await.expect("connect");
        // A private database per run so runs never see each other's jobs.
        let db_name = format!("vrender_test_{}", uuid::Uuid::new_v4().simple());
        let store = MongoStore::with_database(store.db.client().database(&db_name));
        store.create_indexes().await.unwrap();
        let p = sample_project();
        store.create_project(&p).await.unwrap();
        assert!(matches!(
            store.create_project(&p).await,
            Err(StoreError::Conflict(_))
        ));
        assert_eq!(
            store
                .get_project(&p.project.project_id)
                .await
                .unwrap()
                .unwrap()
                .project
                .project_id,
            p.project.project_id
        );
        conformance(&store).await;
        batch_conformance(&store).await;
        store.db.drop().await.unwrap();
    }
}
