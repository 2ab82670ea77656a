//! The body of a job's own item: a long video is [split](super::split) into chunks; a still-only
//! job renders its one picture; any other job renders its whole video (with its poster and
//! thumbnail taken from the frames as they are encoded) while the output is uploaded.

use std::sync::Arc;

use vrender_engine::{CancelToken, Progress, RenderError};

use crate::jobs::Orchestrator;
use crate::model::JobPhase;

use super::claim::Claim;
use super::settle::Outcome;
use super::{stills, stopped_or};

impl Orchestrator {
    /// Renders `claim`'s job; `stop` stops it.
    pub(crate) async fn run_job(self: &Arc<Self>, claim: &Claim, stop: &CancelToken) -> Outcome {
        let job = &claim.job;
        let project = match self.project(claim).await {
            Ok(p) => p,
            Err(outcome) => return outcome,
        };
        if let Some(split) = self.split(claim, &project).await {
            return split;
        }
        let ext = job.spec.output_format.extension();
        let scratch = format!("{}-{}", job.job_id, claim.attempt);
        let inputs = match self
            .inputs(claim, project, &scratch, &format!("output.{ext}"))
            .await
        {
            Ok(i) => i,
            Err(outcome) => return outcome,
        };
        tracing::info!(job_id = %job.job_id, attempt = claim.attempt, "render started");
        if let Some(spec) = job.spec.still.clone() {
            return self.still_job(inputs, claim, &spec).await;
        }
        let (engine, media, mut request, scratch) =
            (inputs.engine, inputs.media, inputs.request, inputs.scratch);
        // Progressive upload needs the bytes behind the encoder's write position to stay put.
        request.faststart = !self.storage.progressive();
        if let Some(gif) = job.spec.gif {
            request.gif = gif;
        }
        let planned = stills::plan(job, &media.project, &scratch.path);
        request.stills = stills::outputs(&planned);

        // The upload runs alongside the render (progressive storage sends parts while it encodes).
        let upload = self.start_upload(job, &request.output);
        let cancel = stop.clone();
        let result = self
            .run_blocking(
                stop,
                move |report: &mut dyn FnMut(Progress)| {
                    engine.render(&media.project, &request, report, &cancel)
                },
                |p| self.store_progress(claim, p),
            )
            .await;
        let rendered = result.map(|stats| {
            crate::metrics::metrics()
                .encode_seconds
                .observe(stats.elapsed.as_secs_f64());
            stats.duration.as_secs_f64()
        });
        let outcome = match self.deliver(claim, rendered, upload, &planned).await {
            Ok(outcome) => outcome,
            Err(RenderError::Cancelled) => Outcome::Cancelled,
            Err(e) => stopped_or(stop, self.failed_render(&e)),
        };
        if matches!(outcome, Outcome::Done { .. }) {
            self.set_phase(claim, JobPhase::Cleanup).await;
        }
        drop(scratch);
        outcome
    }
}
