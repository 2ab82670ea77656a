//! One retry policy for every item: a failed try whose error is transient goes back to the queue
//! after `JOB_RETRY_BACKOFF_MS × 2^(try − 1)` while the job's `JOB_MAX_ATTEMPTS` allow; the reason
//! is kept in the record (the job's `error`, or the chunk's) while it waits.

use std::time::Duration;

use crate::jobs::Orchestrator;
use crate::queue::QueueItem;

use super::claim::Claim;

/// The wait before try `attempt + 1`.
pub fn backoff(base: Duration, attempt: u32) -> Duration {
    base.saturating_mul(1 << attempt.saturating_sub(1).min(16))
}

impl Orchestrator {
    /// Sends `claim`'s item back to the queue after a failed try (`message` says why).
    pub(crate) async fn retry(&self, claim: &Claim, message: &str) {
        let delay = backoff(self.settings.job_retry_backoff, claim.attempt);
        tracing::warn!(item = %claim.item.id(), attempt = claim.attempt, error = %message, retry_in_ms = delay.as_millis() as u64, "render failed; will retry");
        let (item, attempt, message) = (claim.item.clone(), claim.attempt, message.to_string());
        let written = self
            .update_owned(claim, move |j| item.requeue(j, attempt, &message))
            .await;
        match written {
            Ok(Some(j)) => {
                let entry = QueueItem {
                    job_id: claim.item.id(),
                    priority: j.spec.priority,
                };
                if let Err(e) = self.queue.push(entry, delay).await {
                    tracing::warn!(item = %claim.item.id(), error = %e, "cannot re-queue; the queue resync (or the next start) pushes it");
                }
            }
            Ok(None) => {} // cancelled or taken over meanwhile
            Err(e) => {
                tracing::warn!(item = %claim.item.id(), error = %e, "cannot record the retry")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_per_try_and_saturates() {
        let base = Duration::from_millis(200);
        assert_eq!(backoff(base, 1), base);
        assert_eq!(backoff(base, 2), base * 2);
        assert_eq!(backoff(base, 4), base * 8);
        assert_eq!(backoff(base, 0), base);
        assert_eq!(backoff(base, 100), base * (1 << 16));
    }
}
