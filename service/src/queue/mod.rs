//! Delivery of job ids to workers, highest priority first, with leases.
//!
//! The queue only carries ids; the job store is the source of truth (a worker claims a job with a
//! compare-and-set `queued → processing`, so a stale or duplicate entry is harmless). Items are opaque
//! strings: a job id or a child task id such as `{jobId}/chunk/{n}`.
//!
//! Delivery is at least once: [`Queue::pop`] leases an item to the caller, which renews the lease
//! while it works ([`Queue::renew`]) and acks it at the end ([`Queue::ack`]). An item whose lease
//! expires (its worker died) is delivered again with `deliveries + 1`.
//!
//! [`MemoryQueue`] is the embedded implementation (leases are trivial in one process);
//! `RedisQueue` is the distributed one, selected by `REDIS_URL` (see [`from_settings`]; the `redis`
//! cargo feature, on by default).

mod memory;
#[cfg(feature = "redis")]
pub mod redis;

pub use memory::MemoryQueue;
#[cfg(feature = "redis")]
pub use redis::RedisQueue;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::config::Settings;
use crate::store::JobStore;

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
    /// Adds an item, available to workers after `delay`. Pushing an item that is already waiting
    /// (or delayed) is a no-op.
    async fn push(&self, item: QueueItem, delay: Duration) -> Result<(), QueueError>;
    /// Waits for the next item (highest priority first, first in first out within a priority) and
    /// leases it to this process for the lease time.
    async fn pop(&self) -> Result<Delivery, QueueError>;
    /// Extends the lease of an item this process holds; false when the lease is lost.
    async fn renew(&self, job_id: &str) -> Result<bool, QueueError>;
    /// Done with the item, whatever the outcome (a retry is a new `push`).
    async fn ack(&self, job_id: &str) -> Result<(), QueueError>;
    /// Drops a waiting item; whether it was waiting.
    async fn remove(&self, job_id: &str) -> Result<bool, QueueError>;
    /// Items waiting now (not counting delayed ones or leased ones).
    async fn waiting(&self) -> Result<usize, QueueError>;
    /// Wakes all waiting `pop` calls with [`QueueError::Closed`].
    async fn close(&self);
}

/// The queue the settings ask for: Redis when `REDIS_URL` is set, else in-process. The Redis queue
/// starts its background tasks (lease reaper, resync of the store's queued jobs after a Redis
/// restart) here; `jobs` is the store it resyncs from. The second value is the cancel broadcast
/// between processes, when the queue has one.
pub async fn from_settings(
    settings: &Settings,
    jobs: Arc<dyn JobStore>,
) -> Result<(Arc<dyn Queue>, Option<Arc<dyn CancelBus>>), QueueError> {
    #[cfg(feature = "redis")]
    if let Some(url) = &settings.redis_url {
        let config = redis::RedisQueueConfig::from_settings(settings);
        let q = Arc::new(RedisQueue::connect(url, config).await?);
        q.spawn_maintenance(jobs);
        return Ok((q.clone(), Some(q)));
    }
    // Without the `redis` feature, `REDIS_URL` is refused with the settings (config.rs).
    let _ = (settings, jobs);
    Ok((Arc::new(MemoryQueue::new()), None))
}

/// What [`CancelBus::subscribe_cancels`] calls with each cancelled job id.
pub type OnCancel = Box<dyn for<'a> Fn(&'a str) + Send + Sync>;

/// Tells the other processes that a job was cancelled, so the one running it stops at once.
#[async_trait]
pub trait CancelBus: Send + Sync {
    async fn publish_cancel(&self, job_id: &str) -> Result<(), QueueError>;
    /// Calls `on_cancel` with the id of every job another process cancels.
    async fn subscribe_cancels(&self, on_cancel: OnCancel) -> Result<(), QueueError>;
}

#[cfg(feature = "redis")]
#[async_trait]
impl CancelBus for RedisQueue {
    async fn publish_cancel(&self, job_id: &str) -> Result<(), QueueError> {
        RedisQueue::publish_cancel(self, job_id).await
    }
    async fn subscribe_cancels(&self, on_cancel: OnCancel) -> Result<(), QueueError> {
        RedisQueue::subscribe_cancels(self, on_cancel).await
    }
}
