//! The queue lease of the item a worker runs: renewed every third of `LEASE_TTL_MS` from the moment
//! the item is taken (the claim itself may wait on a busy store); when a renewal finds the lease
//! gone (it expired and the item went to another worker), the item's render is stopped and the
//! worker writes nothing final. Redis being away is not a loss: the lease is re-created once it is
//! back.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use vrender_engine::CancelToken;

use crate::queue::Queue;

/// Renews a queue lease while alive.
pub struct Lease {
    lost: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// Starts renewing the lease of item `id`; a lost lease cancels `token`.
    pub fn keep(queue: Arc<dyn Queue>, ttl: Duration, id: &str, token: CancelToken) -> Lease {
        let lost = Arc::new(AtomicBool::new(false));
        let every = (ttl / 3).max(Duration::from_millis(100));
        let id = id.to_string();
        let flag = lost.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match queue.renew(&id).await {
                    Ok(true) => {}
                    Ok(false) => {
                        flag.store(true, Ordering::SeqCst);
                        token.cancel();
                        tracing::warn!(item = %id, "queue lease lost (expired and handed to another worker?); stopping the render");
                        break;
                    }
                    Err(e) => {
                        tracing::warn!(item = %id, error = %e, "cannot renew the queue lease")
                    }
                }
            }
        });
        Lease { lost, task }
    }

    /// Whether a renewal found the lease gone.
    pub fn lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.task.abort();
    }
}
