//! Templates on the API: a project with `{{NAME}}` merge fields is stored as sent, and each job fills
//! in its own `merge` values; the merged project is validated in full before the job is queued.

use serde_json::{Map, Value};
use vrender_engine::{merge, AssetResolver, Project, Template, ValidationError};

use super::error::ApiError;
use super::AppState;
use crate::model::StoredProject;
use crate::storage::s3_assets;

/// Parses a project body. A template comes back with its JSON as sent; its project is that JSON with
/// the `mergeDefaults` filled in and the fields without a default left as they are.
pub fn parse(text: &str) -> Result<(Project, Option<Value>), ApiError> {
    let template = Template::from_json(text).map_err(ApiError::from_project)?;
    if !template.is_template() {
        return Ok((template.project().map_err(ApiError::from_project)?, None));
    }
    let partial = merge::merge_partial(template.json(), &Map::new())
        .map_err(|e| ApiError::from_project(e.into()))?;
    let project = Project::from_value(partial).map_err(ApiError::from_project)?;
    Ok((project, Some(template.json().clone())))
}

/// Writes the stored project's id and owner into its template, so merged projects carry them.
pub fn own(template: &mut Option<Value>, project: &Project) {
    if let Some(Value::Object(t)) = template {
        t.insert("projectId".into(), project.project_id.clone().into());
        t.insert("userId".into(), project.user_id.clone().into());
    }
}

/// Validation problems of a template that remain once the fields still holding a placeholder (checked
/// when a job fills them in) are left out.
pub fn pending_excluded(
    errors: Vec<ValidationError>,
    template: Option<&Value>,
) -> Vec<ValidationError> {
    let Some(template) = template else {
        return errors;
    };
    let pending: Vec<String> = merge::fields(template).into_values().flatten().collect();
    errors
        .into_iter()
        .filter(|e| !pending.contains(&e.path))
        .collect()
}

/// The names of a stored template's merge fields.
pub fn field_names(template: Option<&Value>) -> Option<Vec<String>> {
    template.map(|t| merge::fields(t).into_keys().collect())
}

/// A template's project with a job's `merge` values, validated in full (422 with the JSON paths of
/// every problem, each path of a merge field without a value included); `None` for a plain project
/// without values.
pub async fn merged_project(
    state: &AppState,
    stored: &StoredProject,
    values: Option<Map<String, Value>>,
) -> Result<Option<Project>, ApiError> {
    let Some(template) = &stored.template else {
        return match values {
            Some(_) => Err(ApiError::invalid_field(
                "merge",
                format!(
                    "project `{}` has no {{{{NAME}}}} merge fields",
                    stored.project.project_id
                ),
            )),
            None => Ok(None),
        };
    };
    let mut project = Template::from_value(template.clone())
        .values(values.unwrap_or_default())
        .project()
        .map_err(ApiError::from_project)?;
    project.project_id = stored.project.project_id.clone();
    project.user_id = stored.project.user_id.clone();
    validate(state, &project).await?;
    Ok(Some(project))
}

/// Validates a merged project as project creation does: `s3://` sources checked and fetched, media
/// inside the asset roots, video layers probed.
async fn validate(state: &AppState, project: &Project) -> Result<(), ApiError> {
    let errors = s3_assets::check(project, &state.settings);
    if !errors.is_empty() {
        return Err(ApiError::from_validation(errors));
    }
    let dir = state
        .settings
        .data_dir
        .join("tmp")
        .join(format!("merge-{}", uuid::Uuid::new_v4()));
    let mut checked = project.clone();
    let fetched = s3_assets::has_s3_sources(project);
    if fetched {
        match s3_assets::localize(&mut checked, state.storage.as_ref(), &dir).await {
            Ok(_) => {}
            Err(s3_assets::FetchError::Invalid { path, message }) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(ApiError::from_validation(vec![ValidationError {
                    path,
                    message,
                }]));
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&dir);
                return Err(ApiError::new(
                    axum::http::StatusCode::BAD_GATEWAY,
                    format!("cannot fetch an s3:// source: {e}"),
                ));
            }
        }
    }
    let mut roots = state.settings.asset_roots.clone();
    if fetched {
        roots.push(dir.clone());
    }
    let resolver = AssetResolver::confined_to(roots);
    let limits = state.settings.limits.clone();
    let tools = vrender_engine::video::MediaTools::for_ffmpeg(state.settings.ffmpeg.as_deref());
    let result = tokio::task::spawn_blocking(move || {
        let r = checked.validate_with_tools(&limits, &resolver, &tools);
        if fetched {
            let _ = std::fs::remove_dir_all(&dir);
        }
        r
    })
    .await
    .map_err(|e| ApiError::internal(format!("validation crashed: {e}")))?;
    result.map_err(ApiError::from_validation)
}
