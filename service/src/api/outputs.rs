//! Output options of a job beyond the video: poster, thumbnail and GIF settings (checked against the
//! project before the job is queued), and `POST /api/v1/render/stills` for a still-only job.

use axum::extract::State;
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::Deserialize;
use vrender_engine::{GifOptions, OutputFormat, Project};

use super::auth::Caller;
use super::error::ErrorBody;
use super::error::Refusal;
use super::extract::JsonBody;
use super::submit::{accepted, job_project, Problems};
use super::AppState;
use crate::jobs::NewJob;
use crate::model::{JobView, StillSpec};

/// Problems of a still's time and width, at `field` (`poster`, `thumbnail`; empty: top level).
fn check_still(field: &str, spec: &StillSpec, project: &Project, problems: &mut Problems) {
    let at = |name: &str| match field {
        "" => name.to_string(),
        f => format!("{f}.{name}"),
    };
    if !spec.time.is_finite() || spec.time < 0.0 {
        problems.add(
            &at("time"),
            format!("must be 0 or more seconds, got {}", spec.time),
        );
    }
    if let Some(w) = spec.width {
        if !(16..=project.width).contains(&w) {
            problems.add(
                &at("width"),
                format!(
                    "must be between 16 and the video's width {}, got {w}",
                    project.width
                ),
            );
        }
    }
}

/// Problems of a job's poster, thumbnail and GIF options for `project` rendered as `format`.
pub fn check(
    project: &Project,
    format: OutputFormat,
    poster: Option<&StillSpec>,
    thumbnail: Option<&StillSpec>,
    gif: Option<&GifOptions>,
    problems: &mut Problems,
) {
    if let Some(p) = poster {
        if p.width.is_some() {
            problems.add(
                "poster.width",
                "a poster is full size; ask for a thumbnail for a smaller picture",
            );
        }
        let time_only = StillSpec {
            width: None,
            ..p.clone()
        };
        check_still("poster", &time_only, project, problems);
    }
    if let Some(t) = thumbnail {
        check_still("thumbnail", t, project, problems);
    }
    if gif.is_some() && format != OutputFormat::Gif {
        problems.add(
            "gif",
            format!("GIF options need outputFormat gif, not {}", format.as_str()),
        );
    } else if format == OutputFormat::Gif {
        // The defaults must fit too (a long clip is refused here, not at render time).
        if let Err(errors) = gif.copied().unwrap_or_default().resolve(
            project.width,
            project.height,
            project.frame_rate,
            vrender_engine::chunk::total_frames(project),
        ) {
            for e in errors {
                problems.add(&e.path, e.message);
            }
        }
    }
}

/// Body of `POST /render/stills`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitStillRequest {
    /// A stored project (or template).
    pub project_id: String,
    /// Seconds into the video; at or past the end: the last frame.
    pub time: f64,
    /// Width in pixels, 16 to the video's width; default the video's.
    #[serde(default)]
    pub width: Option<u32>,
    /// png (default) or jpeg.
    #[serde(default)]
    pub format: Option<crate::model::StillFormat>,
    /// Values of the template's merge fields.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub merge: Option<serde_json::Map<String, serde_json::Value>>,
    /// 1 (lowest) to 10 (highest), default 5.
    #[serde(default)]
    pub priority: Option<i64>,
    #[serde(default)]
    pub callback_url: Option<String>,
}

/// Render one frame as a picture (a still-only job).
///
/// The job runs like a render job (queue, status, callback); its `outputUrl` is the picture.
#[utoipa::path(
    post,
    path = "/api/v1/render/stills",
    tag = "jobs",
    request_body = SubmitStillRequest,
    responses(
        (status = 202, description = "Queued", body = JobView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Invalid field (unknown projectId, bad time or width, missing merge values, …)", body = ErrorBody),
        (status = 429, description = "A quota or the rate limit", body = ErrorBody),
        (status = 503, description = "Out of capacity", body = ErrorBody),
    )
)]
pub async fn submit_still(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody,
) -> Result<(StatusCode, Json<JobView>), Refusal> {
    let req: SubmitStillRequest = body.parse()?;
    let mut problems = Problems::new();
    problems.project_id(&req.project_id);
    let priority = problems.priority(req.priority);
    problems.callback_url(&state, req.callback_url.as_deref());
    problems.finish()?;
    let (merged, project) = job_project(&state, &caller, &req.project_id, req.merge).await?;
    let spec = StillSpec {
        time: req.time,
        width: req.width,
        format: req.format,
    };
    let mut problems = Problems::new();
    check_still("", &spec, &project, &mut problems);
    problems.finish()?;
    accepted(
        &state,
        &caller,
        &project,
        NewJob {
            project_id: project.project_id.clone(),
            priority,
            callback_url: req.callback_url,
            project: merged,
            still: Some(spec),
            ..NewJob::default()
        },
    )
    .await
}
