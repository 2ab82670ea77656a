//! `GET /metrics` (Prometheus text format) and the middleware that counts HTTP requests.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::AppState;
use crate::metrics::metrics as registry;
use crate::model::JobStatus;
use crate::store::JobQuery;

/// Prometheus metrics (text exposition format 0.0.4). Public, like `/health`.
pub async fn metrics(State(state): State<AppState>) -> Response {
    let m = registry();
    match state.queue.waiting().await {
        Ok(n) => m.queue_depth.set(n as i64),
        Err(e) => tracing::warn!(error = %e, "metrics: cannot read the queue depth"),
    }
    m.renders_running.set(state.orchestrator.running() as i64);
    for status in JobStatus::ALL {
        let query = JobQuery {
            user_id: None,
            status: Some(status),
            page: 1,
            limit: 1,
        };
        match state.jobs.list_jobs(&query).await {
            Ok(page) => m
                .jobs
                .with_label_values(&[status.as_str()])
                .set(page.total as i64),
            Err(e) => tracing::warn!(error = %e, "metrics: cannot count jobs"),
        }
    }
    let mut resp = m.render().into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    resp
}

/// Middleware: `vrender_http_requests_total` and `vrender_http_request_duration_seconds`, labelled
/// with the matched route template (bounded; `unmatched` for paths no route matches).
pub async fn http_metrics(req: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let resp = next.run(req).await;
    let m = registry();
    m.http_requests
        .with_label_values(&[method.as_str(), route.as_str(), resp.status().as_str()])
        .inc();
    m.http_duration
        .with_label_values(&[method.as_str(), route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    resp
}
