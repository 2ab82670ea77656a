//! What every job submission shares (`POST /render/jobs`, `/render/stills` and each item of
//! `/render/batches`): the request's own fields checked into path-named problems, the caller's
//! project loaded, and the server's capacity and the user's quotas admitted while the job is stored.

use std::str::FromStr;

use axum::http::StatusCode;
use axum::Json;

use vrender_engine::Project;

use super::auth::Caller;
use super::error::Refusal;
use super::error::{ApiError, ErrorDetail};
use super::projects::valid_id;
use super::templates::merged_project;
use super::AppState;
use crate::jobs::callback::check_url;
use crate::jobs::{NewJob, OrchestratorError};
use crate::model::{JobRecord, JobView, StoredProject};

/// The problems of one request's fields, each at its JSON path (under `prefix`, e.g. `items[3].` for
/// a batch item), turned into one 422 that lists them all.
#[derive(Debug, Default)]
pub struct Problems {
    prefix: String,
    list: Vec<ErrorDetail>,
}

impl Problems {
    /// Problems of a request body's top-level fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Problems of the fields of the object at `prefix` (which ends with a `.`).
    pub fn at(prefix: impl Into<String>) -> Self {
        Self {
            prefix: prefix.into(),
            list: Vec::new(),
        }
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.list.push(ErrorDetail {
            path: format!("{}{field}", self.prefix),
            message: message.into(),
        });
    }

    /// Problems found elsewhere, their paths relative to this object.
    pub fn extend(&mut self, details: impl IntoIterator<Item = ErrorDetail>) {
        for d in details {
            self.add(&d.path, d.message);
        }
    }

    /// A stored project's id.
    pub fn project_id(&mut self, id: &str) {
        if !valid_id(id) {
            self.add(
                "projectId",
                "must be 1 to 128 characters of A-Z, a-z, 0-9, _, . or -",
            );
        }
    }

    /// A job's priority, 1 to 10, default 5.
    pub fn priority(&mut self, priority: Option<i64>) -> u8 {
        let p = priority.unwrap_or(5);
        if (1..=10).contains(&p) {
            p as u8
        } else {
            self.add("priority", format!("must be between 1 and 10, got {p}"));
            5
        }
    }

    /// A callback URL the server may POST to (SSRF rules of `callback.rs`).
    pub fn callback_url(&mut self, state: &AppState, url: Option<&str>) {
        if let Some(url) = url {
            if let Err(e) = check_url(url, state.settings.allow_private_callbacks) {
                self.add("callbackUrl", e);
            }
        }
    }

    /// An optional field parsed from its name (`outputFormat`, `quality`).
    pub fn parse<T: FromStr<Err = String>>(
        &mut self,
        field: &str,
        value: Option<&str>,
    ) -> Option<T> {
        match value.map(str::parse::<T>).transpose() {
            Ok(v) => v,
            Err(e) => {
                self.add(field, e);
                None
            }
        }
    }

    /// `Ok` without problems, else one 422: the only problem in its message, or how many there are.
    pub fn finish(self) -> Result<(), ApiError> {
        let message = match self.list.as_slice() {
            [] => return Ok(()),
            [one] => format!("{}: {}", one.path, one.message),
            many => format!("{} invalid fields", many.len()),
        };
        Err(ApiError::invalid(message, self.list))
    }
}

/// The stored project `id` when the caller may use it; another user's project is as unknown as a
/// missing one (422 at `projectId`).
pub async fn caller_project(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<StoredProject, Refusal> {
    match state.projects.get_project(id).await? {
        Some(p) if caller.can_access(&p.project.user_id) => Ok(p),
        _ => Err(ApiError::from(OrchestratorError::UnknownProject(id.to_string())).into()),
    }
}

/// The project a job of stored project `id` renders, with `merge` values filled in when it is a
/// template (validated in full): the merged project to queue with the job (templates only), and the
/// project its options are checked against.
pub async fn job_project(
    state: &AppState,
    caller: &Caller,
    id: &str,
    merge: Option<serde_json::Map<String, serde_json::Value>>,
) -> Result<(Option<Project>, Project), Refusal> {
    let stored = caller_project(state, caller, id).await?;
    let merged = merged_project(state, &stored, merge).await?;
    let project = merged.clone().unwrap_or(stored.project);
    Ok((merged, project))
}

/// [`admit`] for a request answered with the queued job: 202 and its view.
pub async fn accepted(
    state: &AppState,
    caller: &Caller,
    project: &Project,
    job: NewJob,
) -> Result<(StatusCode, Json<JobView>), Refusal> {
    let job = admit(state, caller, project, job).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(state.orchestrator.view(&job).await),
    ))
}

/// Admits and queues a checked job of `project`: server capacity first (queue full, disk low: 503),
/// then the user's quotas; both guards are held until the job is stored, so concurrent submissions
/// are counted one by one.
pub async fn admit(
    state: &AppState,
    caller: &Caller,
    project: &Project,
    job: NewJob,
) -> Result<JobRecord, Refusal> {
    let _capacity = state.capacity.admit(state.jobs.as_ref()).await?;
    let _admission = state
        .quotas
        .admit(
            caller.quota_subject(&project.user_id),
            project.width,
            project.height,
        )
        .await?;
    // The job renders the project checked here (pinned in its record: no second read).
    let job = NewJob {
        project: Some(project.clone()),
        ..job
    };
    Ok(state.orchestrator.submit(job).await?)
}
