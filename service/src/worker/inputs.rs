//! The inputs of one try, prepared one way for every item (a whole job or still, a chunk, the
//! join): the job's project (pinned in its record at submission, so no store read), its `s3://`
//! media fetched once per job on this process and shared by the job's items here
//! ([`crate::media`]), the engine, a scratch folder, and the `RenderRequest` the job's settings
//! make. Before this was shared, the chunk path built its own request and never fetched `s3://`
//! media, so every chunk of such a job failed (issue 26).

use std::path::Path;
use std::sync::Arc;

use vrender_engine::{AssetResolver, Engine, Project, RenderRequest};

use crate::jobs::{EngineState, Orchestrator};
use crate::media::LocalMedia;
use crate::scratch::Scratch;
use crate::storage::s3_assets::FetchError;

use super::claim::Claim;
use super::settle::Outcome;

/// What a try renders with.
pub struct Inputs {
    pub engine: Arc<Engine>,
    /// The project, ready to render from local files.
    pub media: Arc<LocalMedia>,
    /// The request that writes the output; `faststart` is off (callers that deliver the file
    /// itself set it).
    pub request: RenderRequest,
    /// The try's scratch folder (removed when dropped).
    pub scratch: Scratch,
}

impl Orchestrator {
    /// The project `claim`'s job renders: pinned in its record (no store read), or read from the
    /// store for a record written before projects were pinned.
    pub(crate) async fn project(&self, claim: &Claim) -> Result<Project, Outcome> {
        let job = &claim.job;
        if let Some(p) = &job.spec.project {
            return Ok(p.clone());
        }
        match self.job_project(job).await {
            Ok(Some(p)) => Ok(p),
            Ok(None) => Err(Outcome::failed(
                format!("project `{}` no longer exists", job.project_id),
                false,
                "project_missing",
            )),
            Err(e) => Err(Outcome::failed(e.to_string(), true, "store")),
        }
    }

    /// The inputs of `claim`'s try of `project`, with a scratch folder named `scratch` and the
    /// output at `output` inside it.
    pub(crate) async fn inputs(
        &self,
        claim: &Claim,
        project: Project,
        scratch: &str,
        output: &str,
    ) -> Result<Inputs, Outcome> {
        let job = &claim.job;
        let engine = match &self.engine {
            EngineState::Ready(e) => e.clone(),
            EngineState::Failed(why) => {
                return Err(Outcome::failed(
                    format!("the render engine is unavailable: {why}"),
                    true,
                    "engine_unavailable",
                ))
            }
        };
        let scratch = Scratch::create(self.scratch_root.join(scratch)).map_err(|e| {
            Outcome::failed(
                format!("cannot create scratch folder: {e}"),
                true,
                "scratch",
            )
        })?;
        let media = self
            .media
            .localise(&job.job_id, project, &self.settings, self.storage.as_ref())
            .await
            .map_err(|e| {
                Outcome::failed(
                    format!("cannot fetch an s3:// source: {e}"),
                    matches!(e, FetchError::Storage { .. }),
                    "asset",
                )
            })?;
        let mut roots = self.settings.asset_roots.clone();
        roots.extend(media.root.clone());
        let mut request =
            RenderRequest::new(scratch.path.join(output), AssetResolver::confined_to(roots));
        request.quality = job.spec.quality;
        request.format = Some(job.spec.output_format);
        request.limits = self.settings.limits.clone();
        request.faststart = false;
        Ok(Inputs {
            engine,
            media,
            request,
            scratch,
        })
    }
}

impl Inputs {
    /// The output file the request writes.
    pub fn output(&self) -> &Path {
        &self.request.output
    }
}
