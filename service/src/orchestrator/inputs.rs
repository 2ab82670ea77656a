//! The inputs of one render attempt, built one way for every queue item (a whole job or still, a
//! chunk, the join's poster and thumbnail): the job's project with its `s3://` media fetched into
//! the attempt's scratch folder and pointed at the copies, and the `RenderRequest` the job's
//! settings make. Before this was shared, the chunk path built its own request and never fetched
//! `s3://` media, so every chunk of such a job failed (issue 26).

use std::path::Path;

use vrender_engine::{AssetResolver, Project, RenderRequest};

use super::{Attempt, Orchestrator};
use crate::model::JobRecord;
use crate::storage::s3_assets;

impl Orchestrator {
    /// `project` ready to render from local files, and the request that writes it to `output`.
    /// Fetched media go to `scratch/assets` (an asset root for this attempt only). The request
    /// leaves the index at the end of the file (`faststart` false): callers that deliver the file
    /// itself set it.
    pub(super) async fn inputs(
        &self,
        job: &JobRecord,
        mut project: Project,
        scratch: &Path,
        output: &Path,
    ) -> Result<(Project, RenderRequest), Attempt> {
        let mut roots = self.settings.asset_roots.clone();
        let dir = scratch.join("assets");
        match s3_assets::prepare(&mut project, &self.settings, self.storage.as_ref(), &dir).await {
            Ok(true) => roots.push(dir),
            Ok(false) => {}
            Err(e) => {
                return Err(Attempt::Failed {
                    transient: matches!(e, s3_assets::FetchError::Storage { .. }),
                    message: format!("cannot fetch an s3:// source: {e}"),
                    reason: "asset",
                })
            }
        }
        let mut request = RenderRequest::new(output, AssetResolver::confined_to(roots));
        request.quality = job.quality;
        request.format = Some(job.output_format);
        request.limits = self.settings.limits.clone();
        request.faststart = false;
        Ok((project, request))
    }
}
