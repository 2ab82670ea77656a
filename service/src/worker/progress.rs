//! Progress while an item renders: the engine runs on the blocking pool and reports to a watch
//! channel; every `PROGRESS_INTERVAL_MS` the latest report goes to the store under the item's claim
//! (the job's progress and ETA; a chunk's frames summed into its job's), and the render stops when
//! the claim is no longer the holder's (a cancel from any instance, a takeover).

use vrender_engine::{CancelToken, Progress, RenderError};

use crate::jobs::Orchestrator;
use crate::model::{now_millis, JobPhase};
use crate::store::StoreError;

use super::claim::Claim;
use super::item::WorkItem;

impl Orchestrator {
    /// Runs `work` on the blocking pool; every `PROGRESS_INTERVAL_MS` hands the latest progress to
    /// `store`, and cancels `token` when it answers false.
    pub(crate) async fn run_blocking<T, W, S, F>(
        &self,
        token: &CancelToken,
        work: W,
        store: S,
    ) -> Result<T, RenderError>
    where
        T: Send + 'static,
        W: FnOnce(&mut dyn FnMut(Progress)) -> Result<T, RenderError> + Send + 'static,
        S: Fn(Progress) -> F,
        F: std::future::Future<Output = bool>,
    {
        let (tx, mut rx) = tokio::sync::watch::channel::<Option<Progress>>(None);
        let span = tracing::Span::current();
        let mut handle = tokio::task::spawn_blocking(move || {
            let _in_job = span.enter(); // the engine's logs carry the job id too
            let mut report = |p: Progress| {
                tx.send_replace(Some(p));
            };
            work(&mut report)
        });
        let mut tick = tokio::time::interval(self.settings.progress_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                res = &mut handle => {
                    return match res {
                        Ok(r) => r,
                        Err(e) => Err(RenderError::Request(format!("the render crashed: {e}"))),
                    };
                }
                _ = tick.tick() => {
                    if !rx.has_changed().unwrap_or(false) {
                        continue;
                    }
                    let Some(p) = *rx.borrow_and_update() else { continue };
                    if !store(p).await {
                        token.cancel();
                    }
                }
            }
        }
    }

    /// Stores a progress report of `claim`'s render; false when the holder no longer owns it.
    pub(crate) async fn store_progress(&self, claim: &Claim, p: Progress) -> bool {
        let phase = JobPhase::from_engine(p.phase);
        let index = match claim.item {
            WorkItem::Chunk { index, .. } => Some(index),
            _ => None,
        };
        let r = self
            .update_owned(claim, move |j| match index {
                None => {
                    // 0–90 % for the frames (composing and encoding run together), 90 % audio,
                    // 95 % upload.
                    let progress = match phase {
                        JobPhase::Audio => 90.0,
                        _ => 90.0 * p.fraction(),
                    };
                    j.state.progress = progress.clamp(0.0, 100.0);
                    j.state.current_phase = Some(phase.as_str().into());
                    j.state.estimated_time_remaining = p.eta.map(|d| d.as_secs_f64());
                    j.state.frames_done = p.frames_done;
                    j.state.frames_total = p.frames_total;
                }
                Some(index) => {
                    let Some(plan) = j.state.chunks.as_mut() else {
                        return;
                    };
                    plan.chunks[index].state.frames_done = p.frames_done;
                    let done = plan.frames_done();
                    let total = plan.frames_total.max(1);
                    j.state.frames_done = done;
                    j.state.progress = (90.0 * done as f64 / total as f64).clamp(0.0, 90.0);
                    if matches!(phase, JobPhase::Composing | JobPhase::Encoding) {
                        j.state.current_phase = Some(phase.as_str().into());
                    }
                    // ETA of the whole job from its throughput so far, all workers together.
                    j.state.estimated_time_remaining = j.state.started_at.and_then(|t| {
                        let elapsed = (now_millis() - t).max(0) as f64 / 1000.0;
                        (done > 0)
                            .then(|| elapsed * (total.saturating_sub(done)) as f64 / done as f64)
                    });
                }
            })
            .await;
        still_owned(claim, r, "progress")
    }

    /// Stores the job's phase; false when the holder no longer owns the item.
    pub(crate) async fn set_phase(&self, claim: &Claim, phase: JobPhase) -> bool {
        let progress = match phase {
            JobPhase::Uploading => Some(95.0),
            JobPhase::Cleanup => Some(99.0),
            _ => None,
        };
        let r = self
            .update_owned(claim, move |j| {
                j.state.current_phase = Some(phase.as_str().into());
                if let Some(p) = progress {
                    j.state.progress = j.state.progress.max(p);
                }
            })
            .await;
        still_owned(claim, r, "phase")
    }
}

/// Whether a guarded write found the item still the holder's; a store error counts as yes (the
/// render goes on, and the next write tells).
fn still_owned<T>(claim: &Claim, written: Result<Option<T>, StoreError>, what: &str) -> bool {
    match written {
        Ok(owned) => owned.is_some(),
        Err(e) => {
            tracing::warn!(item = %claim.item.id(), error = %e, "cannot store {what}");
            true
        }
    }
}
