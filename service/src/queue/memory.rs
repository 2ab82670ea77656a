//! In-process priority queue. Lost on restart; startup recovery re-pushes the store's queued jobs.

use std::cmp::Reverse;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::Notify;

use super::{Delivery, Queue, QueueError, QueueItem};

type Key = (Reverse<u8>, u64);

#[derive(Default)]
struct State {
    order: BTreeMap<Key, String>,
    index: HashMap<String, Key>,
    seq: u64,
    closed: bool,
}

/// A priority queue in memory. Cheap to clone.
#[derive(Clone, Default)]
pub struct MemoryQueue {
    state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
}

impl MemoryQueue {
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn insert(&self, item: QueueItem) {
        let mut s = self.lock();
        if s.closed || s.index.contains_key(&item.job_id) {
            return;
        }
        s.seq += 1;
        let key = (Reverse(item.priority), s.seq);
        s.order.insert(key, item.job_id.clone());
        s.index.insert(item.job_id, key);
        drop(s);
        self.notify.notify_one();
    }
}

#[async_trait]
impl Queue for MemoryQueue {
    async fn push(&self, item: QueueItem, delay: Duration) -> Result<(), QueueError> {
        if self.lock().closed {
            return Err(QueueError::Closed);
        }
        if delay.is_zero() {
            self.insert(item);
        } else {
            let this = self.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                this.insert(item);
            });
        }
        Ok(())
    }

    async fn pop(&self) -> Result<Delivery, QueueError> {
        loop {
            {
                let mut s = self.lock();
                if s.closed {
                    return Err(QueueError::Closed);
                }
                if let Some(((Reverse(priority), _), job_id)) = s.order.pop_first() {
                    s.index.remove(&job_id);
                    if !s.order.is_empty() {
                        // Pass the wake-up on: several pushes may have left a single stored permit.
                        self.notify.notify_one();
                    }
                    // One process: a lease cannot be lost, so every delivery is the first.
                    return Ok(Delivery {
                        item: QueueItem { job_id, priority },
                        deliveries: 1,
                    });
                }
            }
            self.notify.notified().await;
        }
    }

    async fn renew(&self, _job_id: &str) -> Result<bool, QueueError> {
        Ok(true)
    }

    async fn ack(&self, _job_id: &str) -> Result<(), QueueError> {
        Ok(())
    }

    async fn remove(&self, job_id: &str) -> Result<bool, QueueError> {
        let mut s = self.lock();
        match s.index.remove(job_id) {
            Some(key) => {
                s.order.remove(&key);
                Ok(true)
            }
            None => Ok(false),
        }
    }

    async fn waiting(&self) -> Result<usize, QueueError> {
        Ok(self.lock().order.len())
    }

    async fn close(&self) {
        self.lock().closed = true;
        self.notify.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, priority: u8) -> QueueItem {
        QueueItem {
            job_id: id.into(),
            priority,
        }
    }

    #[tokio::test]
    async fn priority_then_fifo_and_removal() {
        let q = MemoryQueue::new();
        for (id, p) in [("a", 5), ("b", 9), ("c", 5), ("d", 1), ("e", 9)] {
            q.push(item(id, p), Duration::ZERO).await.unwrap();
        }
        q.push(item("a", 5), Duration::ZERO).await.unwrap(); // duplicate: ignored
        assert_eq!(q.waiting().await.unwrap(), 5);
        assert!(q.remove("c").await.unwrap());
        assert!(!q.remove("c").await.unwrap());
        let mut got = Vec::new();
        for _ in 0..4 {
            got.push(q.pop().await.unwrap().item.job_id);
        }
        assert_eq!(got, ["b", "e", "a", "d"]);
    }

    #[tokio::test]
    async fn waiting_workers_all_wake() {
        let q = MemoryQueue::new();
        let workers: Vec<_> = (0..3)
            .map(|_| {
                let q = q.clone();
                tokio::spawn(async move { q.pop().await.unwrap().item.job_id })
            })
            .collect();
        tokio::task::yield_now().await;
        for id in ["x", "y", "z"] {
            q.push(item(id, 5), Duration::ZERO).await.unwrap();
        }
        let mut got = Vec::new();
        for w in workers {
            got.push(
                tokio::time::timeout(Duration::from_secs(2), w)
                    .await
                    .unwrap()
                    .unwrap(),
            );
        }
        got.sort();
        assert_eq!(got, ["x", "y", "z"]);
        q.push(item("later", 5), Duration::from_millis(30))
            .await
            .unwrap();
        assert_eq!(q.waiting().await.unwrap(), 0);
        assert_eq!(q.pop().await.unwrap().item.job_id, "later");
        q.close().await;
        assert!(matches!(q.pop().await, Err(QueueError::Closed)));
    }
}
