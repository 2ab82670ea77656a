//! The HTTP API (the seed's `RenderController`): thin axum handlers over the stores and the
//! orchestrator, one error body for every failure, a log line per request, OpenAPI + Swagger UI.
//!
//! Routes (all JSON, camelCase):
//! * `POST /api/v1/render/projects`, `GET /api/v1/render/projects/{projectId}`
//! * `POST /api/v1/render/jobs`, `GET /api/v1/render/jobs?userId=&status=&page=&limit=`
//! * `GET /api/v1/render/jobs/{jobId}`, `DELETE /api/v1/render/jobs/{jobId}`
//! * `GET /api/v1/render/jobs/{jobId}/events` (Server-Sent Events)
//! * `POST /api/v1/render/previews` (one frame as PNG/JPEG)
//! * `GET /api/v1/schema/project.json` (JSON Schema of the project format)
//! * `GET /` and `/studio/*` (the Studio page, see [`studio`])
//! * `POST /api/v1/render/stills` (one frame as a picture)
//! * `POST /api/v1/render/batches`, `GET|DELETE /api/v1/render/batches/{batchId}` (templates)
//! * `GET /api/v1/files/{key}?expires=&signature=` (signed output downloads)
//! * `GET /api/v1/health` (also `/health`)
//! * `GET /api/openapi.json`, `GET /api/docs` (Swagger UI)
//! * `GET /metrics` (Prometheus text, see [`crate::metrics`])
//!
//! Authentication and rate limiting: see [`auth`].

pub mod auth;
pub mod batches;
pub mod error;
pub mod events;
pub mod extract;
pub mod files;
pub mod health;
pub mod jobs;
pub mod json_limits;
pub mod metrics;
pub mod openapi_security;
pub mod outputs;
pub mod previews;
pub mod projects;
pub mod schema;
pub mod studio;
pub mod submit;
pub mod templates;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderName, Response};
use axum::routing::{get, post};
use axum::Router;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;
use tracing::Span;
use utoipa::OpenApi;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Settings;
use crate::jobs::Orchestrator;
use crate::queue::Queue;
use crate::storage::{LocalStorage, Storage};
use crate::store::{JobStore, ProjectStore};
use auth::{Auth, Limiter};
use openapi_security::SecurityAddon;

/// What the handlers share.
#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub projects: Arc<dyn ProjectStore>,
    pub jobs: Arc<dyn JobStore>,
    pub batches: Arc<dyn crate::store::BatchStore>,
    pub queue: Arc<dyn Queue>,
    pub storage: Arc<dyn Storage>,
    /// Set when outputs are on local disk and served by this service.
    pub local_files: Option<Arc<LocalStorage>>,
    pub orchestrator: Arc<Orchestrator>,
    pub ffmpeg: Arc<health::FfmpegProbe>,
    pub started: Instant,
    pub auth: Arc<Auth>,
    /// `None` when rate limiting is off.
    pub limiter: Option<Arc<Limiter>>,
    /// Per-user quotas (`QUOTA_*`; checks nothing when none is set).
    pub quotas: Arc<crate::policy::quota::Quotas>,
    /// Server capacity checks on new jobs (`MAX_QUEUED_JOBS`, `MIN_FREE_DISK_MB`).
    pub capacity: Arc<crate::policy::capacity::Capacity>,
    /// Prepared projects of recent previews and the bound on concurrent previews.
    pub previews: Arc<crate::preview::PreviewCache>,
}

#[derive(OpenApi)]
#[openapi(
    modifiers(&SecurityAddon),
    info(title = "vrender", description = "GPU video render service: projects in, rendered videos out."),
    paths(
        projects::create_project,
        projects::get_project,
        jobs::submit_job,
        jobs::list_jobs,
        jobs::get_job,
        jobs::cancel_job,
        events::job_events,
        previews::preview,
        schema::project_schema,
        outputs::submit_still,
        batches::submit_batch,
        batches::get_batch,
        batches::cancel_batch,
        files::download,
        health::health,
    ),
    components(schemas(
        crate::model::JobView,
        crate::model::JobStatus,
        crate::model::CallbackState,
        jobs::SubmitJobRequest,
        jobs::JobList,
        outputs::SubmitStillRequest,
        crate::model::StillSpec,
        crate::model::StillFormat,
        batches::SubmitBatchRequest,
        batches::BatchItemRequest,
        batches::BatchView,
        batches::BatchItemView,
        error::ErrorBody,
        error::ErrorDetail,
        error::QuotaBody,
        health::HealthReport,
        health::ComponentHealth,
    )),
    tags(
        (name = "projects", description = "Video projects"),
        (name = "jobs", description = "Render jobs"),
        (name = "previews", description = "Single frames of a project"),
        (name = "schema", description = "The project format"),
        (name = "batches", description = "One job per item of a template"),
        (name = "files", description = "Rendered outputs"),
        (name = "health", description = "Service health"),
    )
)]
pub struct ApiDoc;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The listener of `vrender worker` (`WORKER_PORT`): health and metrics only, no public API.
pub fn health_router(state: AppState) -> Router {
    Router::new()
        .route("/api/v1/health", get(health::health))
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .with_state(state)
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let body_limit = state.settings.body_limit;
    let auth = state.auth.clone();
    let limiter = state.limiter.clone();
    let api = Router::new()
        .route("/render/projects", post(projects::create_project))
        .route("/render/projects/{projectId}", get(projects::get_project))
        .route("/render/jobs", post(jobs::submit_job).get(jobs::list_jobs))
        .route(
            "/render/jobs/{jobId}",
            get(jobs::get_job).delete(jobs::cancel_job),
        )
        .route("/render/jobs/{jobId}/events", get(events::job_events))
        .route("/render/previews", post(previews::preview))
        .route("/schema/project.json", get(schema::project_schema))
        .route("/render/stills", post(outputs::submit_still))
        .route("/render/batches", post(batches::submit_batch))
        .route(
            "/render/batches/{batchId}",
            get(batches::get_batch).delete(batches::cancel_batch),
        )
        .route("/files/{*key}", get(files::download))
        .route("/health", get(health::health));
    Router::new()
        .nest("/api/v1", api)
        .route("/health", get(health::health))
        .route("/metrics", get(metrics::metrics))
        .merge(studio::router())
        .merge(SwaggerUi::new("/api/docs").external_url_unchecked("/api/openapi.json", schema::openapi()))
        .with_state(state)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(CatchPanicLayer::new())
        .layer(axum::middleware::from_fn_with_state(
            auth,
            auth::authenticate,
        ))
        .layer(axum::middleware::from_fn_with_state(
            limiter,
            auth::rate_limit,
        ))
        .layer(axum::middleware::from_fn(error::error_bodies))
        .layer(axum::middleware::from_fn(metrics::http_metrics))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("");
                    tracing::info_span!("http", method = %req.method(), path = %req.uri().path(), request_id = %id)
                })
                .on_request(())
                .on_response(|resp: &Response<_>, latency: Duration, _span: &Span| {
                    tracing::info!(
                        status = resp.status().as_u16(),
                        latency_ms = latency.as_secs_f64() * 1000.0,
                        "request"
                    );
                })
                .on_failure(()),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
}
