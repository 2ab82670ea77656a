//! In-process priority queue. Lost on restart; startup recovery re-pushes the store's queued jobs.
//! Leases are trivial here: the queue dies with the process that holds them, so they never expire;
//! `deliveries` counts pops of an item since its last ack.

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
    /// Items handed out and not acked yet, with how many holders have them (a retry pushed
    /// before the ack may be popped by a second worker while the first has not acked yet).
    leased: HashMap<String, u32>,
    /// Delivery counts of items popped, kept until acked.
    deliveries: HashMap<String, u32>,
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
                    let n = s.deliveries.entry(job_id.clone()).or_insert(0);
                    *n += 1;
                    let deliveries = *n;
                    *s.leased.entry(job_id.clone()).or_insert(0) += 1;
                    return Ok(Delivery {
                        item: QueueItem { job_id, priority },
                        deliveries,
                    });
                }
            }
            self.notify.notified().await;
        }
    }

    async fn renew(&self, job_id: &str) -> Result<bool, QueueError> {
        Ok(self.lock().leased.contains_key(job_id))
    }

    async fn ack(&self, job_id: &str) -> Result<(), QueueError> {
        let mut s = self.lock();
        let last = match s.leased.get_mut(job_id) {
            Some(n) if *n > 1 => {
                *n -= 1;
                false
            }
            Some(_) => true,
            None => false,
        };
        if last {
            s.leased.remove(job_id);
            s.deliveries.remove(job_id);
        }
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
        let later = q.pop().await.unwrap();
        assert_eq!((later.item.job_id.as_str(), later.deliveries), ("later", 1));
        assert!(q.renew("later").await.unwrap());
        // Pushed again before the ack (a retry): the next delivery counts 2 until acked.
        q.push(item("later", 5), Duration::ZERO).await.unwrap();
        assert_eq!(q.pop().await.unwrap().deliveries, 2);
        // The first holder's ack leaves the second holder's lease.
        q.ack("later").await.unwrap();
        assert!(q.renew("later").await.unwrap());
        q.ack("later").await.unwrap();
        assert!(!q.renew("later").await.unwrap());
        q.close().await;
        assert!(matches!(q.pop().await, Err(QueueError::Closed)));
    }
}
