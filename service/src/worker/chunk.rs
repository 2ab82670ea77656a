//! The body of a chunk item: renders frames `start..end` of the job's timeline into the try's
//! scratch folder and stores the file at `chunks/{jobId}/{n}.{ext}` (an intermediate read once by
//! the join, so no index move). Marking it done, and queueing the join when it is the last, is the
//! settle step's ([`super::settle`]).

use std::sync::Arc;

use vrender_engine::{CancelToken, Progress, RenderError};

use crate::jobs::Orchestrator;
use crate::model::chunks::chunk_key;

use super::claim::Claim;
use super::settle::Outcome;
use super::stopped_or;

impl Orchestrator {
    /// Renders and stores chunk `index` of `claim`'s job; `stop` stops it.
    pub(crate) async fn run_chunk(
        self: &Arc<Self>,
        claim: &Claim,
        index: usize,
        stop: &CancelToken,
    ) -> Outcome {
        let job = &claim.job;
        tracing::info!(job_id = %job.job_id, chunk = index, attempt = claim.attempt, "chunk render started");
        let Some(chunk) = job.state.chunks.as_ref().and_then(|p| p.chunks.get(index)) else {
            return Outcome::Cancelled;
        };
        let range = chunk.start..chunk.end;
        let project = match self.project(claim).await {
            Ok(p) => p,
            Err(outcome) => return outcome,
        };
        let scratch = format!("{}-chunk{index}-{}", job.job_id, claim.attempt);
        let ext = job.spec.output_format.extension();
        let inputs = match self
            .inputs(claim, project, &scratch, &format!("chunk.{ext}"))
            .await
        {
            Ok(i) => i,
            Err(outcome) => return outcome,
        };
        let output = inputs.output().to_path_buf();
        let (engine, media, request) = (inputs.engine, inputs.media, inputs.request);
        let cancel = stop.clone();
        let result = self
            .run_blocking(
                stop,
                move |report: &mut dyn FnMut(Progress)| {
                    engine.render_chunk(&media.project, range, &request, report, &cancel)
                },
                |p| self.store_progress(claim, p),
            )
            .await;
        match result {
            Ok(_) => {}
            Err(RenderError::Cancelled) => return Outcome::Cancelled,
            Err(e) => return stopped_or(stop, self.failed_render(&e)),
        }
        let key = chunk_key(job, index);
        if let Err(e) = self
            .storage
            .put_file(&key, &output, job.spec.output_format.mime_type())
            .await
        {
            return Outcome::failed(format!("cannot store the chunk: {e}"), true, "upload");
        }
        drop(inputs.scratch);
        Outcome::Done { key, seconds: 0.0 }
    }
}
