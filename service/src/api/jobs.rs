//! `POST /api/v1/render/jobs`, `GET /api/v1/render/jobs[?userId=…]`, `GET|DELETE /api/v1/render/jobs/{jobId}`.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use vrender_engine::{GifOptions, OutputFormat, Quality};

use super::auth::Caller;
use super::error::Refusal;
use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::extract::JsonBody;
use super::projects::valid_id;
use super::submit::{accepted, job_project, Problems};
use super::AppState;
use crate::jobs::NewJob;
use crate::model::{JobRecord, JobStatus, JobView, StillSpec};
use crate::store::JobQuery;

/// Body of `POST /render/jobs`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitJobRequest {
    /// A stored project.
    pub project_id: String,
    /// 1 (lowest) to 10 (highest), default 5. Higher runs first.
    #[serde(default)]
    pub priority: Option<i64>,
    /// http(s) URL that receives the final job status as a signed POST.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// mp4, mov, webm, gif, hevc or png (a ZIP of PNG frames); default: the project's.
    #[serde(default)]
    pub output_format: Option<String>,
    /// low, medium, high or ultra; default: the project's.
    #[serde(default)]
    pub quality: Option<String>,
    /// Values of the template's `{{NAME}}` merge fields (the project's `mergeDefaults` fill the rest).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub merge: Option<serde_json::Map<String, serde_json::Value>>,
    /// A full-size picture of the frame at `time` (png by default), stored beside the video; its
    /// link is the job's `posterUrl`.
    #[serde(default)]
    pub poster: Option<StillSpec>,
    /// A small picture of the frame at `time` (jpeg, 320 px wide by default); `thumbnailUrl`.
    #[serde(default)]
    pub thumbnail: Option<StillSpec>,
    /// GIF output: `fps` (1–30, default the project's rate, at most 15) and `width` (16–1280, default
    /// the project's, at most 480).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub gif: Option<GifOptions>,
}

/// A page of jobs, newest first.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct JobList {
    pub items: Vec<JobView>,
    pub page: u32,
    pub limit: u32,
    pub total: u64,
    pub has_more: bool,
}

/// Submit a render job.
#[utoipa::path(
    post,
    path = "/api/v1/render/jobs",
    tag = "jobs",
    request_body = SubmitJobRequest,
    responses(
        (status = 202, description = "Queued", body = JobView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Invalid field (unknown projectId, bad priority, refused callbackUrl, …)", body = ErrorBody),
        (status = 403, description = "The project's resolution is over the user's quota (`quota` names the limit)", body = ErrorBody),
        (status = 429, description = "Rate limit, or a quota of concurrent jobs / jobs per day / render minutes per month (`quota` says which, its value, the usage and when it resets; `Retry-After` header)", body = ErrorBody),
        (status = 503, description = "The server is out of capacity: MAX_QUEUED_JOBS jobs are waiting or the disk is below MIN_FREE_DISK_MB (`Retry-After` header)", body = ErrorBody),
    )
)]
pub async fn submit_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody,
) -> Result<(StatusCode, Json<JobView>), Refusal> {
    let req: SubmitJobRequest = body.parse()?;
    let mut problems = Problems::new();
    problems.project_id(&req.project_id);
    let priority = problems.priority(req.priority);
    let output_format =
        problems.parse::<OutputFormat>("outputFormat", req.output_format.as_deref());
    let quality = problems.parse::<Quality>("quality", req.quality.as_deref());
    problems.callback_url(&state, req.callback_url.as_deref());
    problems.finish()?;
    let (merged, project) = job_project(&state, &caller, &req.project_id, req.merge).await?;
    let mut problems = Problems::new();
    super::outputs::check(
        &project,
        output_format.unwrap_or(project.output_format),
        req.poster.as_ref(),
        req.thumbnail.as_ref(),
        req.gif.as_ref(),
        &mut problems,
    );
    problems.finish()?;
    accepted(
        &state,
        &caller,
        &project,
        NewJob {
            project_id: req.project_id,
            priority,
            callback_url: req.callback_url,
            output_format,
            quality,
            project: merged,
            poster: req.poster,
            thumbnail: req.thumbnail,
            gif: req.gif,
            ..NewJob::default()
        },
    )
    .await
}

/// Get a job's status.
#[utoipa::path(
    get,
    path = "/api/v1/render/jobs/{jobId}",
    tag = "jobs",
    params(("jobId" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "The job", body = JobView),
        (status = 404, description = "No such job", body = ErrorBody),
    )
)]
pub async fn get_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(job_id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    let job = visible_job(&state, &caller, &job_id).await?;
    Ok(Json(state.orchestrator.view(&job).await))
}

/// The job `job_id` if it exists and the caller may see it; otherwise 404, so ids of other users'
/// jobs do not leak.
pub(crate) async fn visible_job(
    state: &AppState,
    caller: &Caller,
    job_id: &str,
) -> Result<JobRecord, ApiError> {
    let not_found = || ApiError::not_found(format!("no job with id `{job_id}`"));
    if !valid_id(job_id) {
        return Err(not_found());
    }
    state
        .jobs
        .get_job(job_id)
        .await?
        .filter(|j| caller.can_access(&j.user_id))
        .ok_or_else(not_found)
}

/// List jobs, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/render/jobs",
    tag = "jobs",
    params(
        ("userId" = Option<String>, Query, description = "Only this user's jobs"),
        ("status" = Option<JobStatus>, Query, description = "Only jobs in this status"),
        ("page" = Option<u32>, Query, description = "1-based page, default 1"),
        ("limit" = Option<u32>, Query, description = "Page size 1–100, default 20"),
    ),
    responses(
        (status = 200, description = "A page of jobs", body = JobList),
        (status = 400, description = "Bad query parameter", body = ErrorBody),
    )
)]
pub async fn list_jobs(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(params): Query<HashMap<String, String>>,
) -> Result<Json<JobList>, ApiError> {
    let mut problems = Vec::new();
    let mut number = |name: &str, default: u32, max: u32| -> u32 {
        match params.get(name).map(|v| v.parse::<u32>()) {
            None => default,
            Some(Ok(n)) if (1..=max).contains(&n) => n,
            Some(_) => {
                problems.push(ErrorDetail {
                    path: name.into(),
                    message: format!("must be an integer from 1 to {max}"),
                });
                default
            }
        }
    };
    let page = number("page", 1, 1_000_000);
    let limit = number("limit", 20, 100);
    let status = match params
        .get("status")
        .map(|s| s.parse::<JobStatus>())
        .transpose()
    {
        Ok(s) => s,
        Err(e) => {
            problems.push(ErrorDetail {
                path: "status".into(),
                message: e,
            });
            None
        }
    };
    for name in params.keys() {
        if !["userId", "status", "page", "limit"].contains(&name.as_str()) {
            problems.push(ErrorDetail {
                path: name.clone(),
                message: "unknown query parameter".into(),
            });
        }
    }
    if !problems.is_empty() {
        return Err(ApiError::bad_query(problems));
    }
    // A user sees only their own jobs: their id is the filter, and asking for another user's jobs
    // finds none.
    let user_id = match (caller.restricted_to(), params.get("userId")) {
        (Some(own), Some(asked)) if asked != own => {
            return Ok(Json(JobList {
                items: Vec::new(),
                page,
                limit,
                total: 0,
                has_more: false,
            }))
        }
        (Some(own), _) => Some(own.to_string()),
        (None, asked) => asked.cloned(),
    };
    let query = JobQuery {
        user_id,
        status,
        page,
        limit,
    };
    let found = state.jobs.list_jobs(&query).await?;
    let mut items = Vec::with_capacity(found.items.len());
    for job in &found.items {
        items.push(state.orchestrator.view(job).await);
    }
    let has_more = (page as u64) * (limit as u64) < found.total;
    Ok(Json(JobList {
        items,
        page,
        limit,
        total: found.total,
        has_more,
    }))
}

/// Cancel a job.
///
/// A queued job never starts; a running job stops at its next frame and its temporary files are
/// removed. Cancelling a finished job is a 409.
#[utoipa::path(
    delete,
    path = "/api/v1/render/jobs/{jobId}",
    tag = "jobs",
    params(("jobId" = String, Path, description = "Job id")),
    responses(
        (status = 200, description = "Cancelled; the job", body = JobView),
        (status = 404, description = "No such job", body = ErrorBody),
        (status = 409, description = "The job has already finished", body = ErrorBody),
    )
)]
pub async fn cancel_job(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(job_id): Path<String>,
) -> Result<Json<JobView>, ApiError> {
    visible_job(&state, &caller, &job_id).await?;
    let job = state.orchestrator.cancel(&job_id).await?;
    Ok(Json(state.orchestrator.view(&job).await))
}
