//! `POST /api/v1/render/previews`: one frame of a project as PNG or JPEG, rendered by the engine
//! that renders the videos (the pixels the video's frame is encoded from).
//!
//! The project is the request body (a VideoProject, checked exactly as `POST /render/projects`
//! checks it, with the same error bodies) or a stored one named by `projectId`. Prepared projects
//! are cached between calls (see [`crate::preview`]), so scrubbing pays for composing a frame only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{FromRequest, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::Response;
use axum::Extension;
use tokio::sync::OwnedSemaphorePermit;
use vrender_engine::{Engine, ProjectError, RenderError};

use super::auth::Caller;
use super::error::Refusal;
use super::error::{ApiError, ErrorBody, ErrorDetail};
use super::extract::JsonBody;
use super::projects::{check_project, valid_id, Checked};
use super::AppState;
use crate::jobs::EngineState;
use crate::preview::{content_key, Prepared};

/// Image encodings of a preview.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Format {
    Png,
    Jpeg,
}

/// Which frame, how large, in what format (the query string).
#[derive(Debug)]
struct Params {
    project_id: Option<String>,
    frame: Option<u64>,
    time: Option<f64>,
    width: Option<u32>,
    format: Format,
}

const JPEG_QUALITY: u8 = 85;

fn parse_params(q: &HashMap<String, String>) -> Result<Params, ApiError> {
    let mut problems = Vec::new();
    let mut problem = |path: &str, message: &str| {
        problems.push(ErrorDetail {
            path: path.into(),
            message: message.into(),
        })
    };
    for name in q.keys() {
        if !["projectId", "frame", "time", "width", "format"].contains(&name.as_str()) {
            problem(name, "unknown query parameter");
        }
    }
    let frame = q.get("frame").and_then(|v| {
        v.parse::<u64>()
            .map_err(|_| problem("frame", "must be a frame number (0, 1, 2, …)"))
            .ok()
    });
    let time = q.get("time").and_then(|v| match v.parse::<f64>() {
        Ok(t) if t.is_finite() && t >= 0.0 => Some(t),
        _ => {
            problem("time", "must be a number of seconds, 0 or more");
            None
        }
    });
    if q.contains_key("frame") && q.contains_key("time") {
        problem("time", "give either frame or time, not both");
    }
    let width = q.get("width").and_then(|v| match v.parse::<u32>() {
        Ok(w) if (16..=7680).contains(&w) => Some(w),
        _ => {
            problem("width", "must be an integer from 16 to 7680");
            None
        }
    });
    let format = match q.get("format").map(String::as_str) {
        None | Some("png") => Format::Png,
        Some("jpeg") | Some("jpg") => Format::Jpeg,
        Some(_) => {
            problem("format", "must be png or jpeg");
            Format::Png
        }
    };
    let project_id = q.get("projectId").cloned();
    if project_id.as_deref().is_some_and(|id| !valid_id(id)) {
        problem(
            "projectId",
            "must be 1 to 128 characters of A-Z, a-z, 0-9, _, . or -",
        );
    }
    if !problems.is_empty() {
        return Err(ApiError::bad_query(problems));
    }
    Ok(Params {
        project_id,
        frame,
        time,
        width,
        format,
    })
}

/// Render a preview frame.
///
/// The body is a VideoProject, validated exactly as by `POST /render/projects` (the same 4xx
/// bodies); or, with `projectId`, no body and a stored project. `frame` (default 0) or `time` (seconds)
/// picks the frame; `width` scales it down (aspect kept). The project is prepared once (media decoded,
/// text rasterised) and kept for later calls with the same project text; `X-Preview-Cache` says
/// `hit` or `miss`. At most `PREVIEW_CONCURRENCY` previews render at once; the others wait up to
/// 10 s, then get 503.
#[utoipa::path(
    post,
    path = "/api/v1/render/previews",
    tag = "previews",
    params(
        ("projectId" = Option<String>, Query, description = "A stored project (then send no body)"),
        ("frame" = Option<u64>, Query, description = "0-based frame number; default 0"),
        ("time" = Option<f64>, Query, description = "Seconds into the timeline (instead of frame)"),
        ("width" = Option<u32>, Query, description = "Scale down to this width (16–7680), aspect kept"),
        ("format" = Option<String>, Query, description = "png (default) or jpeg"),
    ),
    request_body(content = inline(Object), description = "VideoProject (see /api/v1/schema/project.json)", content_type = "application/json"),
    responses(
        (status = 200, description = "The frame; headers X-Frame, X-Total-Frames, X-Preview-Cache", content_type = "image/png"),
        (status = 400, description = "Malformed JSON or bad query parameter", body = ErrorBody),
        (status = 404, description = "No such stored project", body = ErrorBody),
        (status = 413, description = "Body over the limit", body = ErrorBody),
        (status = 415, description = "Not application/json", body = ErrorBody),
        (status = 422, description = "Invalid project (`details` lists each problem with its JSON path), or a frame past the end", body = ErrorBody),
        (status = 503, description = "No render engine in this process, or previews are busy", body = ErrorBody),
    )
)]
pub async fn preview(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Query(query): Query<HashMap<String, String>>,
    request: Request,
) -> Result<Response, Refusal> {
    let params = parse_params(&query)?;
    let engine = match state.orchestrator.engine() {
        EngineState::Ready(e) => e.clone(),
        EngineState::Failed(why) => {
            return Err(ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("previews need the render engine, which is not running here: {why}"),
            )
            .into())
        }
    };
    // The project to prepare on a cache miss: a stored one, or the body checked like a new project.
    let (key, source) = match &params.project_id {
        Some(id) => {
            let stored = state
                .projects
                .get_project(id)
                .await?
                .filter(|p| caller.can_access(&p.project.user_id))
                .ok_or_else(|| ApiError::not_found(format!("no project with id `{id}`")))?;
            let key = format!("stored:{id}:{}", stored.created_at);
            (key, Source::Stored(Box::new(stored.project)))
        }
        None => {
            let body = JsonBody::from_request(request, &state).await?;
            let text = body.text()?.to_string();
            // Per caller: a cache hit skips the checks (quota included) the caller has not passed.
            let key = format!(
                "{}:{}",
                caller.user_id().unwrap_or(""),
                content_key(&text, &state.settings.asset_roots)
            );
            (key, Source::Inline(text))
        }
    };
    let permit = state.previews.permit().await.ok_or_else(|| {
        ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "previews are busy; try again",
        )
    })?;
    let started = Instant::now();
    // The permit travels with the blocking work: a client that hangs up does not free its slot
    // before the GPU work it started is done.
    let (entry, hit, permit) = match state.previews.get(&key) {
        Some(entry) => (entry, true, permit),
        None => {
            let (prepared, permit) = prepare(&state, &caller, &engine, source, permit).await?;
            let entry = Arc::new(Mutex::new(prepared));
            state.previews.insert(key.clone(), entry.clone());
            (entry, false, permit)
        }
    };
    let result = tokio::task::spawn_blocking(move || {
        let out = render(&engine, &entry, &params);
        drop(permit);
        out
    })
    .await
    .map_err(|e| ApiError::internal(format!("preview crashed: {e}")))?;
    let out = match result {
        Ok(out) => out,
        Err(e) => {
            if e.status.is_server_error() {
                state.previews.remove(&key);
            }
            return Err(e.into());
        }
    };
    crate::metrics::metrics()
        .preview_seconds
        .with_label_values(&[if hit { "hit" } else { "miss" }])
        .observe(started.elapsed().as_secs_f64());
    let mut resp = Response::new(Body::from(out.bytes));
    let headers = resp.headers_mut();
    let mime = match out.format {
        Format::Png => "image/png",
        Format::Jpeg => "image/jpeg",
    };
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert("x-frame", out.frame.into());
    headers.insert("x-total-frames", out.total.into());
    headers.insert(
        "x-preview-cache",
        HeaderValue::from_static(if hit { "hit" } else { "miss" }),
    );
    headers.insert("x-render-ms", (started.elapsed().as_millis() as u64).into());
    Ok(resp)
}

enum Source {
    Stored(Box<vrender_engine::Project>),
    Inline(String),
}

/// Checks and prepares a project on the blocking pool; errors as project creation reports them.
async fn prepare(
    state: &AppState,
    caller: &Caller,
    engine: &Arc<Engine>,
    source: Source,
    permit: OwnedSemaphorePermit,
) -> Result<(Prepared, OwnedSemaphorePermit), Refusal> {
    let (project, fetched, resolver) = match source {
        Source::Inline(text) => {
            let Checked {
                checked,
                fetched,
                resolver,
                ..
            } = check_project(state, caller, &text).await?;
            (checked, fetched, resolver)
        }
        Source::Stored(project) => {
            // Stored projects were validated at creation; their s3:// sources are fetched again.
            let text = serde_json::to_string(&project)
                .map_err(|e| ApiError::internal(format!("stored project: {e}")))?;
            let Checked {
                checked,
                fetched,
                resolver,
                ..
            } = check_project(state, &Caller::Open, &text).await?;
            (checked, fetched, resolver)
        }
    };
    let limits = state.settings.limits.clone();
    let engine = engine.clone();
    let (prepared, permit) =
        tokio::task::spawn_blocking(move || (engine.prepare(project, &resolver, &limits), permit))
            .await
            .map_err(|e| ApiError::internal(format!("preparing the preview crashed: {e}")))?;
    let prepared = prepared.map_err(render_error)?;
    Ok((
        Prepared {
            project: prepared,
            _files: fetched,
        },
        permit,
    ))
}

/// Engine errors in the API's shape: the project's problems are 422 at their JSON path.
fn render_error(e: RenderError) -> ApiError {
    match e {
        RenderError::Project(p) => ApiError::from_project(p),
        RenderError::Asset { path, source } => ApiError::from_project(ProjectError::Invalid(vec![
            vrender_engine::ValidationError {
                path,
                message: source.to_string(),
            },
        ])),
        RenderError::Request(m) => ApiError::invalid_field("frame", m),
        other => ApiError::internal(format!("preview failed: {other}")),
    }
}

struct Rendered {
    bytes: Vec<u8>,
    format: Format,
    frame: u64,
    total: u64,
}

/// Renders the asked frame of a prepared project, scales and encodes it.
fn render(engine: &Engine, entry: &Mutex<Prepared>, params: &Params) -> Result<Rendered, ApiError> {
    let mut prepared = entry.lock().unwrap_or_else(|e| e.into_inner());
    let total = prepared.project.total_frames();
    let rate = prepared.project.project().frame_rate;
    let frame = match (params.frame, params.time) {
        (Some(f), _) => f,
        (None, Some(t)) => {
            let f = (t * rate + 1e-6).floor() as u64;
            // The end of the timeline shows its last frame.
            if f == total && t * rate <= total as f64 + 1e-6 {
                total.saturating_sub(1)
            } else {
                f
            }
        }
        (None, None) => 0,
    };
    if frame >= total {
        let (path, message) = match params.time {
            Some(t) if params.frame.is_none() => (
                "time",
                format!(
                    "{t} s is past the end (the timeline lasts {:.3} s)",
                    total as f64 / rate
                ),
            ),
            _ => (
                "frame",
                format!("frame {frame} is past the end (the timeline has {total} frames)"),
            ),
        };
        return Err(ApiError::invalid_field(path, message));
    }
    let mut image = engine
        .render_prepared(&mut prepared.project, frame)
        .map_err(render_error)?;
    drop(prepared);
    if let Some(w) = params.width.filter(|&w| w < image.width()) {
        image = vrender_engine::stills::scale_to_width(
            image.into(),
            w,
            vrender_engine::stills::FilterType::Bilinear,
        )
        .into_rgba8();
    }
    let mut bytes = Vec::new();
    let cursor = &mut std::io::Cursor::new(&mut bytes);
    let encoded = match params.format {
        Format::Png => image
            .write_to(cursor, image::ImageFormat::Png)
            .map_err(|e| e.to_string()),
        Format::Jpeg => vrender_engine::stills::encode_jpeg(
            &image::DynamicImage::ImageRgba8(image),
            JPEG_QUALITY,
            cursor,
        ),
    };
    encoded.map_err(|e| ApiError::internal(format!("encoding the preview: {e}")))?;
    Ok(Rendered {
        bytes,
        format: params.format,
        frame,
        total,
    })
}
