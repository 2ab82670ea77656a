//! The workers (the seed's `RenderJobProcessor`): `MAX_CONCURRENT_RENDERS` tasks that take queue
//! items and run every one through the same pipeline, written once in [`Orchestrator::run_item`]:
//!
//! 1. **dead letter**: an item delivered more than `QUEUE_MAX_DELIVERIES` times fails its job;
//! 2. **lease** ([`lease`]): renewed while the item runs; a lost lease stops the render;
//! 3. **claim** ([`claim`]): one compare-and-set on the item's part of the job record (the job, or
//!    its chunk or join), a redelivered item taking over from a holder presumed dead;
//! 4. **inputs** ([`inputs`]): the pinned project, its `s3://` media fetched once per job on this
//!    process, the render request;
//! 5. **the item's own body**: [`render`] (a whole video, a still, or the [`split`] of a long
//!    video into chunks), [`chunk`] (one frame range), [`concat`] (the join);
//! 6. **settle** ([`settle`]): the outcome recorded under the claim (a stale holder writes nothing),
//!    a failed try retried with one backoff policy ([`retry`]) while tries remain;
//! 7. **ack**, unless another attempt of this process holds the item now.
//!
//! Progress goes to the store every `PROGRESS_INTERVAL_MS` ([`progress`]); outputs are uploaded
//! while they are written ([`upload`]); posters and thumbnails are in [`stills`].

mod chunk;
mod claim;
mod concat;
mod inputs;
pub mod item;
mod lease;
mod progress;
mod render;
mod retry;
mod settle;
mod split;
mod stills;
mod upload;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use vrender_engine::CancelToken;

use crate::jobs::Orchestrator;
use crate::queue::{Delivery, QueueError};
use item::WorkItem;
use lease::Lease;
use settle::Outcome;

impl Orchestrator {
    /// Starts the `MAX_CONCURRENT_RENDERS` workers; they run until the queue is closed.
    pub fn spawn_workers(self: &Arc<Self>) -> Vec<tokio::task::JoinHandle<()>> {
        (0..self.settings.max_concurrent_renders)
            .map(|n| {
                let this = self.clone();
                tokio::spawn(async move { this.work(n).await })
            })
            .collect()
    }

    /// One worker: takes items until the queue is closed.
    async fn work(self: Arc<Self>, n: usize) {
        let mut paused = false;
        loop {
            // A full disk would fail every job this worker takes (and burn their tries within the
            // retry backoff): take none until there is room again.
            if let Some(d) = self.low_disk() {
                if self.stopping.load(Ordering::SeqCst) {
                    break;
                }
                if !paused {
                    tracing::warn!(worker = n, free_mib = d.free_bytes >> 20, path = %d.path.display(), "disk below MIN_FREE_DISK_MB: taking no jobs until there is room");
                    paused = true;
                }
                tokio::time::sleep(Duration::from_millis(500)).await;
                continue;
            }
            if paused {
                tracing::info!(worker = n, "disk has room again: taking jobs");
                paused = false;
            }
            match self.queue.pop().await {
                Ok(delivery) => self.run_item(delivery).await,
                Err(QueueError::Closed) => break,
                Err(e) => {
                    tracing::error!(worker = n, error = %e, "queue error");
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        }
    }

    /// Runs one queue delivery through the pipeline (see the module's documentation).
    #[tracing::instrument(name = "item", skip_all, fields(job_id = %delivery.item.job_id))]
    async fn run_item(self: &Arc<Self>, delivery: Delivery) {
        let id = delivery.item.job_id.clone();
        let item = WorkItem::parse(&id);
        if delivery.deliveries > self.settings.queue_max_deliveries {
            self.dead_letter(&item, delivery.deliveries).await;
            self.ack(&id).await;
            return;
        }
        let stop = CancelToken::new();
        // Renewed from the start: the claim itself may wait on a busy store.
        let lease = Lease::keep(
            self.queue.clone(),
            self.settings.lease_ttl,
            &id,
            stop.clone(),
        );
        if !self.hold_while_disk_low(&id, &lease).await {
            return; // shutting down: the item comes back after its lease
        }
        let Some(claim) = self.claim(item, delivery.deliveries).await else {
            drop(lease);
            self.ack(&id).await;
            return;
        };
        self.running_insert(&id, &stop);
        let started = Instant::now();
        let outcome = match &claim.item {
            WorkItem::Job { .. } => self.run_job(&claim, &stop).await,
            WorkItem::Chunk { index, .. } => self.run_chunk(&claim, *index, &stop).await,
            WorkItem::Concat { .. } => self.run_concat(&claim, &stop).await,
        };
        self.running_remove(&id);
        let lost = lease.lost();
        drop(lease);
        if lost {
            // Another worker may own the item now: write nothing final.
            tracing::warn!(item = %id, attempt = claim.attempt, "stopped: queue lease lost");
        } else if self.stopping.load(Ordering::SeqCst) {
            // Stopped by a shutdown (which put a running job back to `queued`): the item comes back
            // once its lease expires (with Redis; in-process queues end with the process).
            tracing::info!(item = %id, "stopped by shutdown; left for redelivery");
            return;
        } else {
            self.settle(&claim, outcome, started.elapsed()).await;
        }
        // A worker of this same process may have taken the item over (it holds the item's lease
        // under the same id now): acking would release its lease.
        if self.taken_over(&claim).await {
            tracing::info!(item = %id, "not acking: another attempt owns the item now");
            return;
        }
        self.ack(&id).await;
    }

    /// Holds a popped item, its lease renewed, while the disk is below `MIN_FREE_DISK_MB` (the
    /// disk filled while this worker waited for work). False when the process is shutting down
    /// meanwhile: the item is left unacked then and comes back after its lease.
    async fn hold_while_disk_low(&self, id: &str, lease: &Lease) -> bool {
        if self.low_disk().is_none() {
            return true;
        }
        tracing::warn!(
            item = id,
            "disk below MIN_FREE_DISK_MB: holding the item until there is room"
        );
        while self.low_disk().is_some() && !lease.lost() {
            if self.stopping.load(Ordering::SeqCst) {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        true
    }

    async fn ack(&self, id: &str) {
        if let Err(e) = self.queue.ack(id).await {
            tracing::warn!(item = id, error = %e, "cannot ack the queue item; it is delivered again after its lease");
        }
    }

    fn running_insert(&self, id: &str, stop: &CancelToken) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(id.to_string(), stop.clone());
    }

    fn running_remove(&self, id: &str) {
        self.running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(id);
    }
}

/// The body of an item ended by a stop (a cancel, a lost lease, a shutdown) or by an error.
pub(crate) fn stopped_or(stop: &CancelToken, outcome: Outcome) -> Outcome {
    if stop.is_cancelled() {
        Outcome::Cancelled
    } else {
        outcome
    }
}
