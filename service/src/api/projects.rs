//! `POST /api/v1/render/projects`, `GET /api/v1/render/projects/{projectId}`.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Extension;
use axum::Json;
use serde::Serialize;
use vrender_engine::{AssetResolver, Project, ValidationError};

use super::auth::Caller;
use super::error::Refusal;
use super::error::{ApiError, ErrorBody};
use super::extract::JsonBody;
use super::{templates, AppState};
use crate::model::{now_millis, rfc3339, StoredProject};
use crate::storage::s3_assets;
use crate::tempdir::TempDir;

/// A stored project: the VideoProject as sent (with its `projectId`) plus `createdAt`.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProjectView {
    #[serde(flatten)]
    pub project: Project,
    pub created_at: String,
    /// A template's JSON as sent (merge fields and `mergeDefaults` included).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub template: Option<serde_json::Value>,
    /// The names of a template's merge fields.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merge_fields: Option<Vec<String>>,
}

/// Ids are 1–128 characters of `A-Z a-z 0-9 _ . -`.
pub fn valid_id(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
}

/// Create a video project.
///
/// The body is a VideoProject (see the engine's project format). It is parsed and validated in full,
/// media files included (they must lie inside the configured asset roots); `projectId` is generated
/// when absent.
#[utoipa::path(
    post,
    path = "/api/v1/render/projects",
    tag = "projects",
    request_body(content = serde_json::Value, description = "VideoProject", content_type = "application/json"),
    responses(
        (status = 201, description = "Stored; the project with its projectId and createdAt", body = serde_json::Value),
        (status = 400, description = "Malformed JSON", body = ErrorBody),
        (status = 409, description = "projectId is taken", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Invalid project; `details` lists each problem with its JSON path", body = ErrorBody),
        (status = 403, description = "Resolution over the user's quota (`quota` names the limit)", body = ErrorBody),
    )
)]
pub async fn create_project(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    body: JsonBody,
) -> Result<(StatusCode, Json<ProjectView>), Refusal> {
    let Checked {
        project,
        template,
        checked,
        fetched,
        resolver,
    } = check_project(&state, &caller, body.text()?).await?;
    let limits = state.settings.limits.clone();
    // Video layers are probed with the ffmpeg/ffprobe the renders use.
    let tools = vrender_engine::video::MediaTools::for_ffmpeg(state.settings.ffmpeg.as_deref());
    // Validation reads media file headers (and probes clips): keep it off the async threads.
    tokio::task::spawn_blocking(move || {
        let r = checked.validate_with_tools(&limits, &resolver, &tools);
        drop(fetched);
        r
    })
    .await
    .map_err(|e| ApiError::internal(format!("validation crashed: {e}")))?
    .or_else(|errors| {
        // A template's fields still holding a placeholder are validated when a job fills them in.
        match templates::pending_excluded(errors, template.as_ref()) {
            remaining if remaining.is_empty() => Ok(()),
            remaining => Err(ApiError::from_validation(remaining)),
        }
    })?;
    let stored = StoredProject {
        project,
        created_at: now_millis(),
        template,
    };
    state.projects.create_project(&stored).await?;
    tracing::info!(project_id = %stored.project.project_id, user_id = %stored.project.user_id, "project stored");
    Ok((
        StatusCode::CREATED,
        Json(ProjectView {
            created_at: rfc3339(stored.created_at),
            merge_fields: templates::field_names(stored.template.as_ref()),
            template: stored.template,
            project: stored.project,
        }),
    ))
}

/// A parsed project, owned and checked for everything but media and ranges, ready to validate.
pub(crate) struct Checked {
    /// As sent, with its owner and `projectId` set (a template: with its `mergeDefaults` filled in).
    pub project: Project,
    /// A template's JSON as sent, owned like the project (`None` without merge fields).
    pub template: Option<serde_json::Value>,
    /// The same with `s3://` sources replaced by downloaded copies.
    pub checked: Project,
    /// The folder of those copies.
    pub fetched: Option<TempDir>,
    /// Resolves media inside the asset roots (and the copies' folder).
    pub resolver: AssetResolver,
}

/// What project creation and previews share: parse (422 at the JSON path), set the owner and the
/// `projectId`, check the resolution quota and fetch `s3://` sources.
pub(crate) async fn check_project(
    state: &AppState,
    caller: &Caller,
    text: &str,
) -> Result<Checked, Refusal> {
    let (mut project, mut template) = templates::parse(text)?;
    // `$schema` only helps editors; it is not part of the stored project.
    project.schema = None;
    if let Some(serde_json::Value::Object(t)) = &mut template {
        t.remove("$schema");
    }
    // With authentication on, a project belongs to its creator (an admin may name another user).
    match caller {
        Caller::User { user_id, admin } if !admin || project.user_id.is_empty() => {
            project.user_id = user_id.clone();
        }
        _ => {}
    }
    if project.project_id.is_empty() {
        project.project_id = uuid::Uuid::new_v4().to_string();
    } else if !valid_id(&project.project_id) {
        return Err(ApiError::invalid_field(
            "projectId",
            "must be 1 to 128 characters of A-Z, a-z, 0-9, _, . or -",
        )
        .into());
    }
    templates::own(&mut template, &project);
    state.quotas.check_resolution(
        caller.quota_subject(&project.user_id),
        project.width,
        project.height,
    )?;
    // `s3://` sources: checked here, fetched into a temporary folder so they are validated like files.
    let (checked, fetched) = s3_assets_for_validation(state, &project).await?;
    let mut roots = state.settings.asset_roots.clone();
    roots.extend(fetched.iter().map(|d| d.path().to_path_buf()));
    Ok(Checked {
        project,
        template,
        checked,
        fetched,
        resolver: AssetResolver::confined_to(roots),
    })
}

/// The project to validate (its `s3://` sources replaced by downloaded copies) and the folder of the
/// copies. Refused or missing `s3://` sources are 422 at their field.
async fn s3_assets_for_validation(
    state: &AppState,
    project: &Project,
) -> Result<(Project, Option<TempDir>), ApiError> {
    let errors = s3_assets::check(project, &state.settings);
    if !errors.is_empty() {
        return Err(ApiError::from_validation(errors));
    }
    if !s3_assets::has_s3_sources(project) {
        return Ok((project.clone(), None));
    }
    let dir = TempDir::new(
        state
            .settings
            .data_dir
            .join("tmp")
            .join(format!("validate-{}", uuid::Uuid::new_v4())),
    );
    let mut checked = project.clone();
    match s3_assets::localize(&mut checked, state.storage.as_ref(), dir.path()).await {
        Ok(_) => Ok((checked, Some(dir))),
        Err(s3_assets::FetchError::Invalid { path, message }) => {
            Err(ApiError::from_validation(vec![ValidationError {
                path,
                message,
            }]))
        }
        Err(e @ s3_assets::FetchError::Storage { .. }) => {
            tracing::warn!(error = %e, "cannot fetch s3:// asset");
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!("cannot fetch an s3:// source: {e}"),
            ))
        }
    }
}

/// Get a stored project.
#[utoipa::path(
    get,
    path = "/api/v1/render/projects/{projectId}",
    tag = "projects",
    params(("projectId" = String, Path, description = "Project id")),
    responses(
        (status = 200, description = "The project", body = serde_json::Value),
        (status = 404, description = "No such project", body = ErrorBody),
    )
)]
pub async fn get_project(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Path(project_id): Path<String>,
) -> Result<Json<ProjectView>, ApiError> {
    if !valid_id(&project_id) {
        return Err(ApiError::not_found(format!(
            "no project with id `{project_id}`"
        )));
    }
    let stored = state
        .projects
        .get_project(&project_id)
        .await?
        .filter(|p| caller.can_access(&p.project.user_id))
        .ok_or_else(|| ApiError::not_found(format!("no project with id `{project_id}`")))?;
    Ok(Json(ProjectView {
        created_at: rfc3339(stored.created_at),
        merge_fields: templates::field_names(stored.template.as_ref()),
        template: stored.template,
        project: stored.project,
    }))
}
