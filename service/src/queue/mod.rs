//! Delivery of job ids to workers, highest priority first.
//!
//! Items are opaque strings: a job id or a child task id such as `{jobId}/chunk/{n}` (chunked
//! renders). The queue only carries ids; the job store is the source of truth (a worker claims a job with a
//! compare-and-set `queued → processing`, so a stale or duplicate entry is harmless). [`MemoryQueue`]
//! is the embedded implementation; a Redis implementation (sorted set + blocking pop) slots in behind
//! the same trait.

mod memory;

pub use memory::MemoryQueue;

use std::time::Duration;

use async_trait::async_trait;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("queue is closed")]
    Closed,
    #[error("queue: {0}")]
    Backend(String),
}

/// One queue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueItem {
    pub job_id: String,
    /// 1 (lowest) to 10 (highest).
    pub priority: u8,
}

/// An item handed to a worker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivery {
    pub item: QueueItem,
    /// 1 = first delivery; >1 = an earlier holder lost its lease or dropped it.
    pub deliveries: u32,
}

#[async_trait]
pub trait Queue: Send + Sync {
    /// Adds a job, available to workers after `delay`. Pushing a job that is already waiting is a no-op.
    async fn push(&self, item: QueueItem, delay: Duration) -> Result<(), QueueError>;
    /// Waits for the next job: highest priority first, first in first out within a priority, and
    /// leases it to this process.
    async fn pop(&self) -> Result<Delivery, QueueError>;
    /// Extends the lease of an item this process holds; false when the lease is lost.
    async fn renew(&self, job_id: &str) -> Result<bool, QueueError>;
    /// Done with the item, whatever the outcome (a retry is a new `push`).
    async fn ack(&self, job_id: &str) -> Result<(), QueueError>;
    /// Drops a waiting job; whether it was waiting.
    async fn remove(&self, job_id: &str) -> Result<bool, QueueError>;
    /// Jobs waiting now.
    async fn waiting(&self) -> Result<usize, QueueError>;
    /// Wakes all waiting `pop` calls with [`QueueError::Closed`].
    async fn close(&self);
}
