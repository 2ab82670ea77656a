//! Ownership of an item: the claim (one compare-and-set on the item's part of the job record, see
//! [`WorkItem::claim`]) and the guarded write every later change of the holder goes through, so a
//! holder whose item was cancelled or taken over writes nothing.

use crate::jobs::Orchestrator;
use crate::model::JobRecord;
use crate::model::JobStatus;
use crate::store::{update_job_with, StoreError, UpdateOutcome};

use super::item::WorkItem;

/// An item this worker holds.
pub struct Claim {
    pub item: WorkItem,
    /// The random token written into the record by the claim.
    pub token: String,
    /// The try number (the job's `attempts`, or its task's).
    pub attempt: u32,
    /// The job record as the claim left it.
    pub job: JobRecord,
}

impl Orchestrator {
    /// Claims `item` (see [`WorkItem::claim`]); `None` when it is not claimable (finished,
    /// cancelled, held by a live worker, a join whose chunks are not all done, no such job).
    pub(crate) async fn claim(&self, item: WorkItem, deliveries: u32) -> Option<Claim> {
        let token = uuid::Uuid::new_v4().to_string();
        let (it, t) = (item.clone(), token.clone());
        let r = update_job_with(
            self.jobs.as_ref(),
            item.job_id(),
            item.claimable_from(),
            move |j| it.claim(j, deliveries, &t),
        )
        .await;
        let (job, claimed) = match r {
            Ok((UpdateOutcome::Updated(job), Some(Some(c)))) => (job, c),
            Ok(_) => {
                tracing::debug!(item = %item.id(), "not claimable (done, taken or job over)");
                return None;
            }
            Err(e) => {
                tracing::error!(item = %item.id(), error = %e, "cannot claim");
                return None;
            }
        };
        if claimed.takeover {
            let stale_ms = crate::model::now_millis() - job.updated_at;
            match item {
                WorkItem::Job { .. } => {
                    tracing::warn!(item = %item.id(), attempt = claimed.attempt, deliveries, last_update_ms_ago = stale_ms, "took over a job whose worker lost its queue lease")
                }
                _ => {
                    tracing::warn!(item = %item.id(), attempt = claimed.attempt, deliveries, "took over a task whose worker lost its queue lease")
                }
            }
            crate::metrics::metrics()
                .job_failures
                .with_label_values(&["lease_lost"])
                .inc();
        }
        Some(Claim {
            item,
            token,
            attempt: claimed.attempt,
            job,
        })
    }

    /// `update_job` for the holder of `claim`: applies `change` only while it owns the item.
    /// `None` when a cancel or another worker's takeover owns it now (nothing was changed then).
    pub(crate) async fn update_owned(
        &self,
        claim: &Claim,
        change: impl Fn(&mut JobRecord) + Send + Sync + 'static,
    ) -> Result<Option<JobRecord>, StoreError> {
        let (item, token) = (claim.item.clone(), claim.token.clone());
        let (outcome, mine) = update_job_with(
            self.jobs.as_ref(),
            claim.item.job_id(),
            &[JobStatus::Processing],
            move |j| {
                let mine = item.owned_by(j, &token);
                if mine {
                    change(j)
                }
                mine
            },
        )
        .await?;
        Ok(match outcome {
            UpdateOutcome::Updated(j) if mine == Some(true) => Some(j),
            _ => None,
        })
    }

    /// Whether another attempt holds `claim`'s item now.
    pub(crate) async fn taken_over(&self, claim: &Claim) -> bool {
        match self.jobs.get_job(claim.item.job_id()).await {
            Ok(Some(now)) => claim
                .item
                .holder(&now)
                .is_some_and(|holder| holder != claim.token),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

    use vrender_engine::{Phase, Progress};

    use super::*;
    use crate::jobs::EngineState;
    use crate::model::chunks::{chunk_key, Chunk, ChunkPlan, TaskState, TaskStatus};
    use crate::queue::{MemoryQueue, Queue};
    use crate::storage::LocalStorage;
    use crate::store::{JobStore, SqliteStore};
    use crate::worker::settle::Outcome;

    /// An orchestrator on a real SQLite store and an in-process queue, without an engine.
    fn fixture() -> (
        tempfile::TempDir,
        Arc<SqliteStore>,
        Arc<MemoryQueue>,
        Arc<Orchestrator>,
    ) {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(SqliteStore::open(&dir.path().join("db")).unwrap());
        let data = dir.path().display().to_string();
        let settings =
            crate::config::Settings::from_lookup(|k| (k == "DATA_DIR").then(|| data.clone()))
                .unwrap();
        let storage = Arc::new(
            LocalStorage::new(dir.path().join("out"), "http://x".into(), b"k".to_vec()).unwrap(),
        );
        let queue = Arc::new(MemoryQueue::new());
        let o = Arc::new(Orchestrator::new(
            settings,
            store.clone(),
            store.clone(),
            queue.clone(),
            storage,
            EngineState::Failed("no engine in this test".into()),
        ));
        (dir, store, queue, o)
    }

    /// Contract 2 on the chunk level, against the real SQLite store: a redelivered item takes over
    /// a running chunk, the stale holder is told to stop and its result is ignored, and the worker
    /// that stores the last chunk queues the join.
    #[tokio::test]
    async fn redelivery_takes_over_and_the_stale_holder_stops() {
        let (_dir, store, queue, o) = fixture();
        let mut job = crate::store::tests::sample_job("j", "u");
        job.state.status = JobStatus::Processing;
        let chunk = |start, end| Chunk {
            start,
            end,
            output_key: None,
            state: TaskState {
                status: TaskStatus::Queued,
                ..TaskState::default()
            },
        };
        job.state.chunks = Some(ChunkPlan {
            attempt: 1,
            frames_total: 20,
            chunks: vec![chunk(0, 10), chunk(10, 20)],
            concat: TaskState::default(),
        });
        store.create_job(&job).await.unwrap();
        let progress = |done| Progress {
            phase: Phase::Composing,
            frames_done: done,
            frames_total: 10,
            fps: 1.0,
            eta: None,
        };
        let chunk_item = |index| WorkItem::Chunk {
            job_id: "j".into(),
            index,
        };
        let concat = WorkItem::Concat { job_id: "j".into() };
        let done = |index| Outcome::Done {
            key: chunk_key(&job, index),
            seconds: 0.0,
        };
        let took = Duration::ZERO;

        let first = o.claim(chunk_item(0), 1).await.unwrap();
        assert_eq!(first.attempt, 1);
        assert!(
            o.claim(chunk_item(0), 1).await.is_none(),
            "a duplicate first delivery waits"
        );
        assert!(o.claim(chunk_item(7), 1).await.is_none(), "no such chunk");
        assert!(
            o.claim(
                WorkItem::Chunk {
                    job_id: "x".into(),
                    index: 0
                },
                1
            )
            .await
            .is_none(),
            "no such job"
        );
        assert!(
            o.claim(concat.clone(), 1).await.is_none(),
            "chunks not done"
        );
        let second = o.claim(chunk_item(0), 2).await.unwrap();
        assert_eq!(second.attempt, 2, "a redelivery takes the chunk over");
        assert!(o.taken_over(&first).await);
        assert!(!o.taken_over(&second).await);
        assert!(!o.store_progress(&first, progress(5)).await);
        assert!(o.store_progress(&second, progress(5)).await);
        let j = store.get_job("j").await.unwrap().unwrap();
        assert_eq!((j.state.frames_done, j.state.progress), (5, 22.5));

        // The stale holder's result is ignored; the current one's counts.
        o.settle(&first, done(0), took).await;
        let plan = store
            .get_job("j")
            .await
            .unwrap()
            .unwrap()
            .state
            .chunks
            .unwrap();
        assert_eq!(plan.chunks[0].state.status, TaskStatus::Running);
        o.settle(&second, done(0), took).await;
        assert_eq!(
            queue.waiting().await.unwrap(),
            0,
            "no join before the last chunk"
        );
        let last = o.claim(chunk_item(1), 1).await.unwrap();
        o.settle(&last, done(1), took).await;
        let j = store.get_job("j").await.unwrap().unwrap();
        let plan = j.state.chunks.unwrap();
        assert_eq!(plan.done(), 2);
        assert_eq!(plan.concat.status, TaskStatus::Queued);
        assert_eq!(j.state.frames_done, 20);
        assert_eq!(queue.pop().await.unwrap().item.job_id, "j/concat");
        // The join is claimed once; a redelivery may take it over.
        assert_eq!(o.claim(concat.clone(), 1).await.map(|c| c.attempt), Some(1));
        assert!(o.claim(concat.clone(), 1).await.is_none());
        assert_eq!(o.claim(concat, 2).await.map(|c| c.attempt), Some(2));
    }

    /// A job's claim is one compare-and-set: a queued job is claimed once, a processing one only by
    /// a redelivery, and a failed try goes back to `queued` under its claim only.
    #[tokio::test]
    async fn a_job_is_claimed_once_and_retried_under_its_claim() {
        let (_dir, store, queue, o) = fixture();
        let mut job = crate::store::tests::sample_job("j", "u");
        job.state.status = JobStatus::Queued;
        job.spec.max_attempts = 3;
        store.create_job(&job).await.unwrap();
        let item = || WorkItem::Job { job_id: "j".into() };
        let a = o.claim(item(), 1).await.unwrap();
        assert_eq!(a.attempt, 1);
        assert!(
            o.claim(item(), 1).await.is_none(),
            "held: only a redelivery may take it"
        );
        let b = o.claim(item(), 2).await.unwrap();
        assert_eq!(b.attempt, 2);
        // The stale holder's failure writes nothing; the holder's goes back to the queue.
        let failed = || Outcome::failed("boom", true, "test");
        o.settle(&a, failed(), Duration::ZERO).await;
        assert_eq!(queue.waiting().await.unwrap(), 0);
        o.settle(&b, failed(), Duration::ZERO).await;
        let j = store.get_job("j").await.unwrap().unwrap();
        assert_eq!(j.state.status, JobStatus::Queued);
        assert_eq!(
            j.result.error.as_deref(),
            Some("attempt 2 failed: boom; retrying")
        );
        // Out of tries: the next failure ends the job.
        let c = o.claim(item(), 1).await.unwrap();
        assert_eq!(c.attempt, 3);
        o.settle(&c, failed(), Duration::ZERO).await;
        let j = store.get_job("j").await.unwrap().unwrap();
        assert_eq!(j.state.status, JobStatus::Failed);
        assert_eq!(j.result.error.as_deref(), Some("boom"));
    }
}
