//! The embedded store: SQLite (WAL) in `SQLITE_PATH` (default `<DATA_DIR>/vrender.db`), one writer connection and a few
//! reader connections, each call on the blocking thread pool.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    JobMutation, JobPage, JobQuery, JobStore, ProjectStore, StoreError, UpdateOutcome, Usage,
};
use crate::model::{now_millis, BatchRecord, JobRecord, JobStatus, StoredProject};

const READERS: usize = 4;

/// Projects and jobs in one SQLite file. Cheap to clone.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
}

fn backend(e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(e.to_string())
}

fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = Connection::open(path).map_err(backend)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))
        .map_err(backend)?;
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
    )
    .map_err(backend)?;
    Ok(conn)
}

impl SqliteStore {
    /// Opens (creating if needed) the database file.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let writer = open(path)?;
        writer
            .execute_batch(
                "CREATE TABLE IF NOT EXISTS projects (
                    id TEXT PRIMARY KEY,
                    created_at INTEGER NOT NULL,
                    data TEXT NOT NULL
                );
                CREATE TABLE IF NOT EXISTS jobs (
                    seq INTEGER PRIMARY KEY AUTOINCREMENT,
                    id TEXT NOT NULL UNIQUE,
                    user_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    version INTEGER NOT NULL,
                    data TEXT NOT NULL
                );
                CREATE INDEX IF NOT EXISTS jobs_by_user ON jobs (user_id, seq DESC);
                CREATE INDEX IF NOT EXISTS jobs_by_status ON jobs (status, seq);
                CREATE INDEX IF NOT EXISTS jobs_by_user_created ON jobs (user_id, created_at);
                CREATE INDEX IF NOT EXISTS jobs_by_user_status ON jobs (user_id, status);
                CREATE TABLE IF NOT EXISTS batches (
                    id TEXT PRIMARY KEY,
                    created_at INTEGER NOT NULL,
                    data TEXT NOT NULL
                );",
            )
            .map_err(backend)?;
        let readers = (0..READERS)
            .map(|_| open(path).map(Mutex::new))
            .collect::<Result<_, _>>()?;
        Ok(SqliteStore {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
            }),
        })
    }

    async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let i = inner.next_reader.fetch_add(1, Ordering::Relaxed) % inner.readers.len();
            let conn = inner.readers[i].lock().unwrap_or_else(|p| p.into_inner());
            f(&conn)
        })
        .await
        .map_err(backend)?
    }

    async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, StoreError> {
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut conn)
        })
        .await
        .map_err(backend)?
    }
}

fn is_unique_violation(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::ConstraintViolation)
}

fn decode_job(id: &str, data: &str) -> Result<JobRecord, StoreError> {
    serde_json::from_str(data).map_err(|e| StoreError::Corrupt {
        id: id.to_string(),
        message: e.to_string(),
    })
}

fn encode<T: serde::Serialize>(v: &T) -> Result<String, StoreError> {
    serde_json::to_string(v).map_err(backend)
}

impl SqliteStore {
    /// Inserts a JSON record into `table` (`projects` or `batches`: id, created_at, data);
    /// [`StoreError::Conflict`] names the `kind` and id when the id is taken.
    async fn insert_record(
        &self,
        table: &'static str,
        kind: &'static str,
        id: String,
        created: i64,
        data: String,
    ) -> Result<(), StoreError> {
        self.write(move |c| {
            c.execute(
                &format!("INSERT INTO {table} (id, created_at, data) VALUES (?1, ?2, ?3)"),
                params![id, created, data],
            )
            .map_err(|e| {
                if is_unique_violation(&e) {
                    StoreError::Conflict(format!("{kind} {id}"))
                } else {
                    backend(e)
                }
            })?;
            Ok(())
        })
        .await
    }

    /// The JSON record `id` of `table`, if any.
    async fn get_record<T: serde::de::DeserializeOwned + Send + 'static>(
        &self,
        table: &'static str,
        id: &str,
    ) -> Result<Option<T>, StoreError> {
        let id = id.to_string();
        self.read(move |c| {
            let data: Option<String> = c
                .query_row(
                    &format!("SELECT data FROM {table} WHERE id = ?1"),
                    params![id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(backend)?;
            data.map(|d| {
                serde_json::from_str(&d).map_err(|e| StoreError::Corrupt {
                    id,
                    message: e.to_string(),
                })
            })
            .transpose()
        })
        .await
    }
}

#[async_trait]
impl ProjectStore for SqliteStore {
    async fn create_project(&self, project: &StoredProject) -> Result<(), StoreError> {
        let id = project.project.project_id.clone();
        self.insert_record(
            "projects",
            "project",
            id,
            project.created_at,
            encode(project)?,
        )
        .await
    }

    async fn get_project(&self, project_id: &str) -> Result<Option<StoredProject>, StoreError> {
        self.get_record("projects", project_id).await
    }
}

#[async_trait]
impl super::BatchStore for SqliteStore {
    async fn create_batch(&self, batch: &BatchRecord) -> Result<(), StoreError> {
        let id = batch.batch_id.clone();
        self.insert_record("batches", "batch", id, batch.created_at, encode(batch)?)
            .await
    }

    async fn get_batch(&self, batch_id: &str) -> Result<Option<BatchRecord>, StoreError> {
        self.get_record("batches", batch_id).await
    }
}

#[async_trait]
impl JobStore for SqliteStore {
    async fn create_job(&self, job: &JobRecord) -> Result<(), StoreError> {
        let data = encode(job)?;
        let (id, user, status, created) = (
            job.job_id.clone(),
            job.user_id.clone(),
            job.state.status.as_str(),
            job.created_at,
        );
        self.write(move |c| {
            c.execute(
                "INSERT INTO jobs (id, user_id, status, created_at, version, data) VALUES (?1, ?2, ?3, ?4, 0, ?5)",
                params![id, user, status, created, data],
            )
            .map_err(|e| if is_unique_violation(&e) { StoreError::Conflict(format!("job {id}")) } else { backend(e) })?;
            Ok(())
        })
        .await
    }

    async fn get_job(&self, job_id: &str) -> Result<Option<JobRecord>, StoreError> {
        let id = job_id.to_string();
        self.read(move |c| {
            let data: Option<String> = c
                .query_row("SELECT data FROM jobs WHERE id = ?1", params![id], |r| {
                    r.get(0)
                })
                .optional()
                .map_err(backend)?;
            data.map(|d| decode_job(&id, &d)).transpose()
        })
        .await
    }

    async fn list_jobs(&self, query: &JobQuery) -> Result<JobPage, StoreError> {
        let q = query.clone();
        self.read(move |c| {
            let status = q.status.map(|s| s.as_str());
            let filter = "(?1 IS NULL OR user_id = ?1) AND (?2 IS NULL OR status = ?2)";
            let total: i64 = c
                .query_row(
                    &format!("SELECT COUNT(*) FROM jobs WHERE {filter}"),
                    params![q.user_id, status],
                    |r| r.get(0),
                )
                .map_err(backend)?;
            let offset = (q.page.max(1) as i64 - 1) * q.limit as i64;
            let mut stmt = c
                .prepare_cached(&format!(
                    "SELECT id, data FROM jobs WHERE {filter} ORDER BY seq DESC LIMIT ?3 OFFSET ?4"
                ))
                .map_err(backend)?;
            let rows = stmt
                .query_map(params![q.user_id, status, q.limit as i64, offset], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                })
                .map_err(backend)?;
            let mut items = Vec::new();
            for row in rows {
                let (id, data) = row.map_err(backend)?;
                items.push(decode_job(&id, &data)?);
            }
            Ok(JobPage {
                items,
                total: total as u64,
            })
        })
        .await
    }

    async fn update_job(
        &self,
        job_id: &str,
        expected: &[JobStatus],
        change: JobMutation,
    ) -> Result<UpdateOutcome, StoreError> {
        let id = job_id.to_string();
        let expected = expected.to_vec();
        self.write(move |c| {
            // IMMEDIATE takes the write lock before the read, waiting up to busy_timeout: with
            // several processes on one file (SQLITE_PATH), a deferred transaction that reads and
            // then writes fails at once with SQLITE_BUSY when another process wrote in between.
            let tx = c
                .transaction_with_behavior(TransactionBehavior::Immediate)
                .map_err(backend)?;
            let row: Option<(String, i64)> = tx
                .query_row("SELECT data, version FROM jobs WHERE id = ?1", params![id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(backend)?;
            let Some((data, version)) = row else { return Ok(UpdateOutcome::NotFound) };
            let mut job = decode_job(&id, &data)?;
            if !expected.is_empty() && !expected.contains(&job.state.status) {
                return Ok(UpdateOutcome::Mismatch(job));
            }
            change(&mut job);
            job.updated_at = now_millis();
            let n = tx
                .execute(
                    "UPDATE jobs SET status = ?1, data = ?2, version = version + 1 WHERE id = ?3 AND version = ?4",
                    params![job.state.status.as_str(), encode(&job)?, id, version],
                )
                .map_err(backend)?;
            if n != 1 {
                return Err(StoreError::Backend(format!("job {id} changed concurrently")));
            }
            tx.commit().map_err(backend)?;
            Ok(UpdateOutcome::Updated(job))
        })
        .await
    }

    async fn jobs_with_status(&self, statuses: &[JobStatus]) -> Result<Vec<JobRecord>, StoreError> {
        let statuses: Vec<&'static str> = statuses.iter().map(|s| s.as_str()).collect();
        self.read(move |c| {
            let mut out = Vec::new();
            let mut stmt = c
                .prepare_cached("SELECT id, data FROM jobs WHERE status = ?1 ORDER BY seq")
                .map_err(backend)?;
            for s in statuses {
                let rows = stmt
                    .query_map(params![s], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
                    })
                    .map_err(backend)?;
                for row in rows {
                    let (id, data) = row.map_err(backend)?;
                    out.push(decode_job(&id, &data)?);
                }
            }
            out.sort_by_key(|j| j.created_at);
            Ok(out)
        })
        .await
    }

    async fn usage(&self, user_id: &str, since_ms: i64) -> Result<Usage, StoreError> {
        let user = user_id.to_string();
        self.read(move |c| {
            // Each part uses an index on user_id (+ status or created_at); the completed jobs'
            // finish time and seconds live in the JSON document.
            let (active, since, seconds): (i64, i64, f64) = c
                .query_row(
                    "SELECT
                        (SELECT COUNT(*) FROM jobs WHERE user_id = ?1
                            AND status IN ('pending', 'queued', 'processing')),
                        (SELECT COUNT(*) FROM jobs WHERE user_id = ?1 AND created_at >= ?2),
                        (SELECT COALESCE(SUM(json_extract(data, '$.renderedSeconds')), 0.0)
                            FROM jobs WHERE user_id = ?1 AND status = 'completed'
                            AND json_extract(data, '$.finishedAt') >= ?2)",
                    params![user, since_ms],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .map_err(backend)?;
            Ok(Usage {
                active_jobs: active as u64,
                jobs_since: since as u64,
                rendered_seconds_since: seconds,
            })
        })
        .await
    }

    async fn ping(&self) -> Result<(), StoreError> {
        self.read(|c| c.query_row("SELECT 1", [], |_| Ok(())).map_err(backend))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::tests::{batch_conformance, conformance};

    #[tokio::test]
    async fn conformance_suite() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("t.db")).unwrap();
        conformance(&store).await;
        batch_conformance(&store).await;
    }
}
