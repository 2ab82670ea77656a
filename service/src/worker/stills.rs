//! Posters, thumbnails and still-only jobs on the worker: the stills a render takes from its own
//! frames (see `vrender_engine::stills`), stored beside the video under the job's key with
//! `.poster.png` / `.thumbnail.jpg` suffixes (a chunked job composes them at the join, its frames
//! having been rendered by the chunk tasks); and the one-frame render of `POST /render/stills`.

use std::path::Path;
use std::sync::Arc;

use vrender_engine::{Engine, Project, RenderError, RenderRequest, StillOutput};

use super::claim::Claim;
use super::inputs::Inputs;
use super::settle::Outcome;
use crate::jobs::Orchestrator;
use crate::model::{JobRecord, StillFormat, StillSpec, THUMBNAIL_WIDTH};
use crate::storage::output_key;

/// Which picture of a job.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Poster,
    Thumbnail,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Poster => "poster",
            Kind::Thumbnail => "thumbnail",
        }
    }
}

/// A still to take during the render and where it goes.
pub(crate) struct Planned {
    kind: Kind,
    format: StillFormat,
    output: StillOutput,
}

fn frame_of(spec: &StillSpec, project: &Project) -> u64 {
    let total = vrender_engine::chunk::total_frames(project);
    StillOutput::frame_at(spec.time, project.frame_rate, total)
}

/// The poster and thumbnail of `job`, written into `scratch` by the render.
pub(crate) fn plan(job: &JobRecord, project: &Project, scratch: &Path) -> Vec<Planned> {
    let mut out = Vec::new();
    let specs = [
        (
            Kind::Poster,
            job.spec.poster.as_ref(),
            StillFormat::Png,
            None,
        ),
        (
            Kind::Thumbnail,
            job.spec.thumbnail.as_ref(),
            StillFormat::Jpeg,
            Some(THUMBNAIL_WIDTH.min(project.width)),
        ),
    ];
    for (kind, spec, default_format, default_width) in specs {
        let Some(spec) = spec else { continue };
        let format = spec.format.unwrap_or(default_format);
        out.push(Planned {
            kind,
            format,
            output: StillOutput {
                frame: frame_of(spec, project),
                width: spec.width.or(default_width),
                path: scratch.join(format!("{}.{}", kind.name(), format.extension())),
            },
        });
    }
    out
}

/// The requests' still list.
pub(crate) fn outputs(planned: &[Planned]) -> Vec<StillOutput> {
    planned.iter().map(|p| p.output.clone()).collect()
}

/// Writes the planned stills without the video (a chunked job's join): each frame composed and read
/// back as `request`'s render composes it, so the pictures match the joined video's frames.
pub(crate) async fn compose(
    engine: Arc<Engine>,
    project: Project,
    mut request: RenderRequest,
    planned: &[Planned],
) -> Result<(), RenderError> {
    request.stills = outputs(planned);
    tokio::task::spawn_blocking(move || engine.render_stills(&project, &request))
        .await
        .map_err(|e| RenderError::Gpu(format!("the still render crashed: {e}")))?
}

/// The storage key of a job's still: beside the video, `{jobId}.{kind}.{ext}`.
fn key(job: &JobRecord, kind: Kind, format: StillFormat) -> String {
    output_key(
        &job.user_id,
        &job.job_id,
        &format!("{}.{}", kind.name(), format.extension()),
    )
}

impl Orchestrator {
    /// Stores the stills a finished render wrote and records their keys on the job.
    async fn store_stills(&self, claim: &Claim, planned: &[Planned]) -> Result<(), String> {
        let job = &claim.job;
        let mut keys = Vec::new();
        for p in planned {
            let key = key(job, p.kind, p.format);
            self.storage
                .put_file(&key, &p.output.path, p.format.mime_type())
                .await
                .map_err(|e| format!("storing the {}: {e}", p.kind.name()))?;
            keys.push((p.kind, key));
        }
        if keys.is_empty() {
            return Ok(());
        }
        self.update_owned(claim, move |j| {
            for (kind, key) in &keys {
                match kind {
                    Kind::Poster => j.result.poster_key = Some(key.clone()),
                    Kind::Thumbnail => j.result.thumbnail_key = Some(key.clone()),
                }
            }
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// `attempt`, with the planned stills stored when it is done (a failure to store them fails it).
    pub(crate) async fn with_stills(
        &self,
        claim: &Claim,
        planned: &[Planned],
        outcome: Outcome,
    ) -> Outcome {
        match outcome {
            done @ Outcome::Done { .. } => match self.store_stills(claim, planned).await {
                Ok(()) => done,
                Err(message) => Outcome::failed(message, true, "upload"),
            },
            other => other,
        }
    }

    /// A still-only job: renders its one frame, writes the picture and stores it as the output.
    pub(crate) async fn still_job(
        &self,
        inputs: Inputs,
        claim: &Claim,
        spec: &StillSpec,
    ) -> Outcome {
        let job = &claim.job;
        let format = spec.format.unwrap_or(StillFormat::Png);
        let still = StillOutput {
            frame: frame_of(spec, &inputs.media.project),
            width: spec.width,
            path: inputs
                .scratch
                .path
                .join(format!("still.{}", format.extension())),
        };
        let path = still.path.clone();
        let (engine, media, request) = (inputs.engine, inputs.media, inputs.request);
        let result = tokio::task::spawn_blocking(move || -> Result<(), RenderError> {
            let img = engine.render_still_with_limits(
                &media.project,
                still.frame,
                &request.assets,
                &request.limits,
            )?;
            vrender_engine::stills::save(img, &still)
        })
        .await;
        match result {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return self.failed_render(&e),
            Err(e) => {
                return Outcome::failed(format!("the still render crashed: {e}"), true, "render")
            }
        }
        let key = output_key(&job.user_id, &job.job_id, format.extension());
        match self.storage.put_file(&key, &path, format.mime_type()).await {
            Ok(_) => Outcome::Done { key, seconds: 0.0 },
            Err(e) => Outcome::failed(format!("storing the still: {e}"), true, "upload"),
        }
    }
}
