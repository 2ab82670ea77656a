//! The body of the join item of a chunked job: downloads the stored chunks, composes the poster
//! and thumbnail (a failure there costs no join), joins the chunks without re-encoding with the
//! audio mixed for the full length, and uploads the output while it is written, like a whole
//! render. Completing the job and deleting the chunk objects is the settle step's.

use std::sync::Arc;

use vrender_engine::{CancelToken, ChunkFile, ConcatRequest, Progress, RenderError};

use crate::jobs::Orchestrator;
use crate::model::chunks::chunk_key;
use crate::model::{JobPhase, JobStatus};

use super::claim::Claim;
use super::settle::Outcome;
use super::stills;

impl Orchestrator {
    /// Joins the chunks of `claim`'s job into its output; `stop` stops it.
    pub(crate) async fn run_concat(self: &Arc<Self>, claim: &Claim, stop: &CancelToken) -> Outcome {
        let job = &claim.job;
        tracing::info!(job_id = %job.job_id, attempt = claim.attempt, "joining chunks");
        let Some(plan) = job.state.chunks.clone() else {
            return Outcome::Cancelled;
        };
        let project = match self.project(claim).await {
            Ok(p) => p,
            Err(outcome) => return outcome,
        };
        let ext = job.spec.output_format.extension();
        let scratch = format!("{}-concat-{}", job.job_id, claim.attempt);
        // The request writes the poster and thumbnail; the join writes the output beside it.
        let inputs = match self.inputs(claim, project, &scratch, "stills").await {
            Ok(i) => i,
            Err(outcome) => return outcome,
        };
        let dir = inputs.scratch.path.clone();
        let mut files = Vec::with_capacity(plan.chunks.len());
        for (n, chunk) in plan.chunks.iter().enumerate() {
            let key = chunk
                .output_key
                .clone()
                .unwrap_or_else(|| chunk_key(job, n));
            let path = dir.join(format!("{n}.{ext}"));
            if let Err(e) = self.storage.get_file(&key, &path).await {
                return Outcome::failed(format!("cannot fetch chunk {n}: {e}"), true, "download");
            }
            files.push(ChunkFile {
                path,
                frames: chunk.frames(),
            });
        }
        let (engine, media, stills_request) = (inputs.engine, inputs.media, inputs.request);
        let planned = stills::plan(job, &media.project, &dir);
        if !planned.is_empty() {
            let composed = stills::compose(
                engine.clone(),
                media.project.clone(),
                stills_request.clone(),
                &planned,
            );
            if let Err(e) = composed.await {
                return self.failed_render(&e);
            }
        }
        let output = dir.join(format!("output.{ext}"));
        let request = ConcatRequest {
            chunks: files,
            output: output.clone(),
            format: Some(job.spec.output_format),
            assets: stills_request.assets,
            limits: self.settings.limits.clone(),
            silent_audio: false,
            // Progressive upload needs the bytes behind the muxer's write position to stay put.
            faststart: !self.storage.progressive(),
        };
        // Stored while it is written, like a whole render's output.
        let upload = self.start_upload(job, &output);
        let cancel = stop.clone();
        let result = self
            .run_blocking(
                stop,
                move |_report: &mut dyn FnMut(Progress)| {
                    engine.concat_chunks(&media.project, &request, &cancel)
                },
                // No progress from the join; the tick checks that the job still wants it.
                |_| async { true },
            )
            .await;
        let rendered = result.map(|stats| stats.duration.as_secs_f64());
        let outcome = match self.deliver(claim, rendered, upload, &planned).await {
            Ok(outcome) => outcome,
            Err(e) => {
                let wanted = matches!(
                    self.jobs.get_job(&job.job_id).await,
                    Ok(Some(j)) if j.state.status == JobStatus::Processing
                );
                match e {
                    _ if stop.is_cancelled() || !wanted => Outcome::Cancelled,
                    RenderError::Cancelled => Outcome::Cancelled,
                    e => self.failed_render(&e),
                }
            }
        };
        if matches!(outcome, Outcome::Done { .. }) {
            self.set_phase(claim, JobPhase::Cleanup).await;
        }
        outcome
    }
}
