//! `POST /api/v1/render/batches`, `GET|DELETE /api/v1/render/batches/{batchId}`: one template, one
//! job per item (each with its own merge values, callback and format).
//!
//! Each item is checked and admitted on its own, like a `POST /render/jobs`: its merged project is
//! validated in full, the user's quotas count it, and an item that fails (bad values, a refused
//! callback, a quota) gets its reason while the others are queued. Cancelling a batch cancels every
//! job of it that has not finished.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::{Extension, Json};
use serde::{Deserialize, Serialize};
use vrender_engine::OutputFormat;

use super::auth::Caller;
use super::error::Refusal;
use super::error::{ApiError, ErrorBody};
use super::extract::JsonBody;
use super::projects::valid_id;
use super::submit::{admit, caller_project, Problems};
use super::templates::merged_project;
use super::AppState;
use crate::jobs::NewJob;
use crate::model::{now_millis, rfc3339, BatchItem, BatchRecord, JobStatus};

/// Most items in one batch.
pub const MAX_BATCH_ITEMS: usize = 1000;

/// Body of `POST /render/batches`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SubmitBatchRequest {
    /// A stored project, usually a template with `{{NAME}}` merge fields.
    pub project_id: String,
    /// 1 to 1000 items, one job each.
    pub items: Vec<BatchItemRequest>,
    /// 1 (lowest) to 10 (highest), default 5, for every job of the batch.
    #[serde(default)]
    pub priority: Option<i64>,
}

/// One item of a batch.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchItemRequest {
    /// Values of the template's merge fields.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub merge: Option<serde_json::Map<String, serde_json::Value>>,
    /// http(s) URL that receives this job's final status as a signed POST.
    #[serde(default)]
    pub callback_url: Option<String>,
    /// mp4, mov, webm, gif, hevc or png; default: the project's.
    #[serde(default)]
    pub output_format: Option<String>,
}

/// A batch and where each of its jobs is.
#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchView {
    pub batch_id: String,
    pub project_id: String,
    pub user_id: String,
    pub created_at: String,
    pub total: usize,
    /// Items by status (`pending`, `queued`, `processing`, `completed`, `failed`, `cancelled`); an
    /// item refused at submission counts as `failed`.
    pub counts: BTreeMap<String, usize>,
    /// Whether every item has finished (completed, failed or cancelled).
    pub done: bool,
    pub items: Vec<BatchItemView>,
}

#[derive(Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BatchItemView {
    /// The item's position in the request.
    pub index: usize,
    /// Absent when the item was refused at submission (`error` says why).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    pub status: JobStatus,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Expiring signed download link, once completed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_url: Option<String>,
}

/// The one-line reason of a refusal, for an item.
fn reason(r: Refusal) -> String {
    match r {
        Refusal::Api(e) => {
            if e.details.len() > 1 {
                e.details
                    .iter()
                    .map(|d| format!("{}: {}", d.path, d.message))
                    .collect::<Vec<_>>()
                    .join("; ")
            } else {
                e.message
            }
        }
        Refusal::Quota(q) => format!(
            "quota {} ({}) reached: {} of {}",
            q.limit, q.setting, q.current, q.value
        ),
        Refusal::Overloaded(o) => o.message,
    }
}

/// Submit a batch of jobs of one template.
#[utoipa::path(
    post,
    path = "/api/v1/render/batches",
    tag = "batches",
    request_body = SubmitBatchRequest,
    responses(
        (status = 202, description = "Items queued (each refused item says why)", body = BatchView),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 422, description = "Invalid batch (unknown projectId, bad priority, no items or too many)", body = ErrorBody),
    )
)]
pub async fn submit_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody,
) -> Result<(StatusCode, Json<BatchView>), Refusal> {
    let req: SubmitBatchRequest = body.parse()?;
    let mut problems = Problems::new();
    problems.project_id(&req.project_id);
    let priority = problems.priority(req.priority);
    if req.items.is_empty() || req.items.len() > MAX_BATCH_ITEMS {
        problems.add(
            "items",
            format!(
                "must hold 1 to {MAX_BATCH_ITEMS} items, got {}",
                req.items.len()
            ),
        );
    }
    problems.finish()?;
    let stored = caller_project(&state, &caller, &req.project_id).await?;
    let mut items = Vec::with_capacity(req.items.len());
    for (i, item) in req.items.into_iter().enumerate() {
        let outcome = submit_item(&state, &caller, &stored, item, i, priority).await;
        items.push(match outcome {
            Ok(job_id) => BatchItem {
                job_id: Some(job_id),
                error: None,
            },
            Err(r) => BatchItem {
                job_id: None,
                error: Some(reason(r)),
            },
        });
    }
    let batch = BatchRecord {
        batch_id: uuid::Uuid::new_v4().to_string(),
        project_id: stored.project.project_id.clone(),
        user_id: stored.project.user_id.clone(),
        created_at: now_millis(),
        items,
    };
    state.batches.create_batch(&batch).await?;
    let failed = batch.items.iter().filter(|i| i.job_id.is_none()).count();
    tracing::info!(batch_id = %batch.batch_id, items = batch.items.len(), refused = failed, "batch queued");
    Ok((StatusCode::ACCEPTED, Json(view(&state, &batch).await?)))
}

/// Checks and queues one item; its job id, or why it was refused.
async fn submit_item(
    state: &AppState,
    caller: &Caller,
    stored: &crate::model::StoredProject,
    item: BatchItemRequest,
    index: usize,
    priority: u8,
) -> Result<String, Refusal> {
    let mut problems = Problems::at(format!("items[{index}]."));
    let output_format =
        problems.parse::<OutputFormat>("outputFormat", item.output_format.as_deref());
    problems.callback_url(state, item.callback_url.as_deref());
    problems.finish()?;
    let merged = merged_project(state, stored, item.merge).await?;
    let project = merged.as_ref().unwrap_or(&stored.project);
    // The format's own limits (a GIF's length and size) hold for each merged project.
    let mut problems = Problems::at(format!("items[{index}]."));
    super::outputs::check(
        project,
        output_format.unwrap_or(project.output_format),
        None,
        None,
        None,
        &mut problems,
    );
    problems.finish()?;
    let job = admit(
        state,
        caller,
        project,
        NewJob {
            project_id: stored.project.project_id.clone(),
            priority,
            callback_url: item.callback_url,
            output_format,
            project: merged.clone(),
            ..NewJob::default()
        },
    )
    .await?;
    Ok(job.job_id)
}

/// The view of a batch with its jobs' current status.
async fn view(state: &AppState, batch: &BatchRecord) -> Result<BatchView, ApiError> {
    let mut counts = BTreeMap::new();
    let mut items = Vec::with_capacity(batch.items.len());
    for (index, item) in batch.items.iter().enumerate() {
        let job = match &item.job_id {
            Some(id) => state.jobs.get_job(id).await?,
            None => None,
        };
        let v = match (&item.job_id, job) {
            (Some(id), Some(job)) => {
                let jv = state.orchestrator.view(&job).await;
                BatchItemView {
                    index,
                    job_id: Some(id.clone()),
                    status: job.state.status,
                    error: job.result.error.clone(),
                    output_url: jv.output_url,
                }
            }
            (id, _) => BatchItemView {
                index,
                job_id: id.clone(),
                status: JobStatus::Failed,
                error: item
                    .error
                    .clone()
                    .or_else(|| Some("the job no longer exists".into())),
                output_url: None,
            },
        };
        *counts.entry(v.status.as_str().to_string()).or_insert(0) += 1;
        items.push(v);
    }
    Ok(BatchView {
        batch_id: batch.batch_id.clone(),
        project_id: batch.project_id.clone(),
        user_id: batch.user_id.clone(),
        created_at: rfc3339(batch.created_at),
        total: items.len(),
        done: items.iter().all(|i| i.status.is_terminal()),
        counts,
        items,
    })
}

async fn visible_batch(
    state: &AppState,
    caller: &Caller,
    batch_id: &str,
) -> Result<BatchRecord, ApiError> {
    let not_found = || ApiError::not_found(format!("no batch with id `{batch_id}`"));
    if !valid_id(batch_id) {
        return Err(not_found());
    }
    state
        .batches
        .get_batch(batch_id)
        .await?
        .filter(|b| caller.can_access(&b.user_id))
        .ok_or_else(not_found)
}

/// Get a batch: each item's status and the counts per status.
#[utoipa::path(
    get,
    path = "/api/v1/render/batches/{batchId}",
    tag = "batches",
    params(("batchId" = String, Path, description = "Batch id")),
    responses(
        (status = 200, description = "The batch", body = BatchView),
        (status = 404, description = "No such batch", body = ErrorBody),
    )
)]
pub async fn get_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(batch_id): Path<String>,
) -> Result<Json<BatchView>, ApiError> {
    let batch = visible_batch(&state, &caller, &batch_id).await?;
    Ok(Json(view(&state, &batch).await?))
}

/// Cancel a batch: every job of it that has not finished is cancelled (queued ones never start,
/// running ones stop at their next frame).
#[utoipa::path(
    delete,
    path = "/api/v1/render/batches/{batchId}",
    tag = "batches",
    params(("batchId" = String, Path, description = "Batch id")),
    responses(
        (status = 200, description = "Cancelled; the batch", body = BatchView),
        (status = 404, description = "No such batch", body = ErrorBody),
    )
)]
pub async fn cancel_batch(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(batch_id): Path<String>,
) -> Result<Json<BatchView>, ApiError> {
    let batch = visible_batch(&state, &caller, &batch_id).await?;
    let mut cancelled = 0;
    for id in batch.items.iter().filter_map(|i| i.job_id.as_deref()) {
        let running = state
            .jobs
            .get_job(id)
            .await?
            .is_some_and(|job| !job.state.status.is_terminal());
        // A job that finishes meanwhile answers 409; it stays as it finished.
        if running && state.orchestrator.cancel(id).await.is_ok() {
            cancelled += 1;
        }
    }
    tracing::info!(batch_id, cancelled, "batch cancelled");
    Ok(Json(view(&state, &batch).await?))
}
