//! Every error response of the API: one error body everywhere (the seed's all-exceptions filter),
//! `{statusCode, error, message, path, timestamp, requestId, details?, quota?}`, and the mapping of
//! each domain error (store, orchestrator, quota, capacity) to its status, headers and body.
//!
//! Handlers return [`ApiError`], which only carries status, message and details; the
//! [`error_bodies`] middleware adds the request's path, time and id, and also rewrites every other
//! 4xx/5xx response (axum's own rejections, 404 and 405 from the router, 413 from the body limit, a
//! caught panic) into the same shape.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use vrender_engine::{ProjectError, ValidationError};

use crate::jobs::OrchestratorError;
use crate::model::{now_millis, rfc3339};
use crate::policy::capacity::{Overloaded, Refused};
use crate::policy::quota::{QuotaError, QuotaExceeded};
use crate::store::StoreError;

/// One problem with a request, at a JSON path of its body (or a query parameter name).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// e.g. `frames[0].layers[1].opacity`
    pub path: String,
    pub message: String,
}

/// The error body of every 4xx/5xx response.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    pub status_code: u16,
    /// The HTTP reason phrase, e.g. `Unprocessable Entity`.
    pub error: String,
    pub message: String,
    /// The request path.
    pub path: String,
    /// RFC 3339.
    pub timestamp: String,
    /// Also in the `x-request-id` response header.
    pub request_id: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<ErrorDetail>,
    /// Set on 429/403 answers of a quota: which limit, its value, the usage, when it resets.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quota: Option<QuotaBody>,
}

/// A refused request: which limit, its value, the current usage and when it resets.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[schema(as = QuotaExceeded)]
#[serde(rename_all = "camelCase")]
pub struct QuotaBody {
    /// `maxConcurrentJobs`, `jobsPerDay`, `renderMinutesPerMonth` or `maxResolution`.
    pub limit: &'static str,
    /// The setting that sets it.
    pub setting: &'static str,
    /// The limit's value.
    #[schema(value_type = Object)]
    pub value: serde_json::Value,
    /// The user's usage (or the refused resolution).
    #[schema(value_type = Object)]
    pub current: serde_json::Value,
    /// RFC 3339; absent when it resets when one of the user's jobs finishes, or never.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resets_at: Option<String>,
    /// Also the `Retry-After` header (429 only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after_seconds: Option<u64>,
}

impl From<QuotaExceeded> for QuotaBody {
    fn from(q: QuotaExceeded) -> Self {
        QuotaBody {
            limit: q.limit,
            setting: q.setting,
            value: q.value,
            current: q.current,
            resets_at: q.resets_at,
            retry_after_seconds: q.retry_after_seconds,
        }
    }
}

/// What a handler reports; turned into an [`ErrorBody`] by [`error_bodies`].
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
    pub details: Vec<ErrorDetail>,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError {
            status,
            message: message.into(),
            details: Vec::new(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 422 with one detail per problem.
    pub fn invalid(message: impl Into<String>, details: Vec<ErrorDetail>) -> Self {
        ApiError {
            status: StatusCode::UNPROCESSABLE_ENTITY,
            message: message.into(),
            details,
        }
    }

    /// 400 for bad query parameters: every problem in `details`, and all of them in the message.
    pub fn bad_query(problems: Vec<ErrorDetail>) -> Self {
        let message = format!(
            "bad query: {}",
            problems
                .iter()
                .map(|p| format!("{}: {}", p.path, p.message))
                .collect::<Vec<_>>()
                .join("; ")
        );
        ApiError {
            status: StatusCode::BAD_REQUEST,
            message,
            details: problems,
        }
    }

    /// 422 for one field.
    pub fn invalid_field(path: impl Into<String>, message: impl Into<String>) -> Self {
        let (path, message) = (path.into(), message.into());
        Self::invalid(
            format!("{path}: {message}"),
            vec![ErrorDetail { path, message }],
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }

    /// 422 from engine validation errors.
    pub fn from_validation(errors: Vec<ValidationError>) -> Self {
        let details: Vec<ErrorDetail> = errors
            .into_iter()
            .map(|e| {
                let (path, message) = refine_path(&e.path, &e.message);
                ErrorDetail { path, message }
            })
            .collect();
        let message = match details.as_slice() {
            [one] => format!("invalid project: {}: {}", one.path, one.message),
            many => format!("invalid project: {} problems", many.len()),
        };
        Self::invalid(message, details)
    }

    pub fn from_project(e: ProjectError) -> Self {
        Self::from_validation(e.details())
    }
}

/// serde reports a missing or unknown field at the parent's path; name the field itself.
pub fn refine_path(path: &str, message: &str) -> (String, String) {
    let field = ["missing field `", "unknown field `"]
        .iter()
        .find_map(|p| message.strip_prefix(p))
        .and_then(|rest| rest.split('`').next());
    let path = path.trim_start_matches('.');
    let full = match field {
        // serde_path_to_error already names an unknown field; a missing one it does not.
        Some(f) if path == f || path.ends_with(&format!(".{f}")) => path.to_string(),
        Some(f) if path.is_empty() => f.to_string(),
        Some(f) => format!("{path}.{f}"),
        None => path.to_string(),
    };
    // serde_json appends " at line 1 column 42"; the path already says where.
    let message = match message.rfind(" at line ") {
        Some(i) if message[i..].contains(" column ") => &message[..i],
        _ => message,
    };
    (full, message.to_string())
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(status = self.status.as_u16(), message = %self.message, "request failed");
        }
        let mut resp = self.status.into_response();
        resp.extensions_mut().insert(self);
        resp
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => {
                ApiError::new(StatusCode::CONFLICT, format!("{what} already exists"))
            }
            other => ApiError::new(StatusCode::SERVICE_UNAVAILABLE, other.to_string()),
        }
    }
}

impl From<OrchestratorError> for ApiError {
    fn from(e: OrchestratorError) -> Self {
        match e {
            OrchestratorError::UnknownProject(_) => {
                ApiError::invalid_field("projectId", e.to_string())
            }
            OrchestratorError::UnknownJob(_) => ApiError::not_found(e.to_string()),
            OrchestratorError::AlreadyFinished { .. } => {
                ApiError::new(StatusCode::CONFLICT, e.to_string())
            }
            OrchestratorError::Store(e) => e.into(),
            OrchestratorError::Queue(e) => {
                ApiError::new(StatusCode::SERVICE_UNAVAILABLE, e.to_string())
            }
        }
    }
}

/// 429 for a limit that time lifts (with `Retry-After`), else 403; the body's `quota` field names
/// the limit.
impl IntoResponse for QuotaExceeded {
    fn into_response(self) -> Response {
        let status = if self.time_lifts {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::FORBIDDEN
        };
        let mut resp = ApiError::new(status, self.message()).into_response();
        if let Some(s) = self.retry_after_seconds {
            resp.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(s));
        }
        // The error-body middleware puts this in the body's `quota` field.
        resp.extensions_mut().insert(QuotaBody::from(self));
        resp
    }
}

/// 503 with `Retry-After`, counted in `vrender_jobs_refused_total`.
impl IntoResponse for Overloaded {
    fn into_response(self) -> Response {
        crate::metrics::metrics()
            .jobs_refused
            .with_label_values(&[self.reason])
            .inc();
        let mut resp = ApiError::new(StatusCode::SERVICE_UNAVAILABLE, self.message).into_response();
        resp.headers_mut().insert(
            header::RETRY_AFTER,
            HeaderValue::from(self.retry_after.as_secs().max(1)),
        );
        resp
    }
}

/// The error of a handler that admits new work: an ordinary [`ApiError`], a quota refusal, or the
/// server out of capacity.
#[derive(Debug)]
pub enum Refusal {
    Api(ApiError),
    Quota(Box<QuotaExceeded>),
    /// The server is out of capacity (queue full, disk low): 503 with `Retry-After`.
    Overloaded(Overloaded),
}

impl From<Refused> for Refusal {
    fn from(r: Refused) -> Self {
        match r {
            Refused::Overloaded(o) => Refusal::Overloaded(o),
            Refused::Store(e) => Refusal::Api(e.into()),
        }
    }
}

impl From<QuotaError> for Refusal {
    fn from(e: QuotaError) -> Self {
        match e {
            QuotaError::Exceeded(q) => Refusal::Quota(q),
            QuotaError::Store(e) => Refusal::Api(e.into()),
        }
    }
}

impl From<ApiError> for Refusal {
    fn from(e: ApiError) -> Self {
        Refusal::Api(e)
    }
}

impl From<Box<QuotaExceeded>> for Refusal {
    fn from(q: Box<QuotaExceeded>) -> Self {
        Refusal::Quota(q)
    }
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Api(e.into())
    }
}

impl From<OrchestratorError> for Refusal {
    fn from(e: OrchestratorError) -> Self {
        Refusal::Api(e.into())
    }
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Api(e) => e.into_response(),
            Refusal::Quota(q) => (*q).into_response(),
            Refusal::Overloaded(o) => o.into_response(),
        }
    }
}

const MAX_REWRITTEN_BODY: usize = 16 * 1024;

/// Middleware: gives every 4xx/5xx response the [`ErrorBody`] shape.
pub async fn error_bodies(req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    let resp = next.run(req).await;
    let status = resp.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return resp;
    }
    let (mut parts, body) = resp.into_parts();
    let quota = parts.extensions.remove::<QuotaBody>();
    let (message, details) = match parts.extensions.remove::<ApiError>() {
        Some(e) => (e.message, e.details),
        None => {
            let is_json = parts
                .headers
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with("application/json"));
            if is_json {
                return Response::from_parts(parts, body);
            }
            let bytes = axum::body::to_bytes(body, MAX_REWRITTEN_BODY)
                .await
                .unwrap_or_default();
            let text = String::from_utf8_lossy(&bytes).trim().to_string();
            let message = if text.is_empty() {
                default_message(status)
            } else if status.is_server_error() {
                "internal error".to_string() // never leak panic messages or internals
            } else {
                text
            };
            (message, Vec::new())
        }
    };
    let body = ErrorBody {
        status_code: status.as_u16(),
        error: status.canonical_reason().unwrap_or("Error").to_string(),
        message,
        path,
        timestamp: rfc3339(now_millis()),
        request_id,
        details,
        quota,
    };
    let json = serde_json::to_vec(&body).unwrap_or_else(|_| b"{}".to_vec());
    parts.headers.remove(header::CONTENT_LENGTH);
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Response::from_parts(parts, Body::from(json))
}

fn default_message(status: StatusCode) -> String {
    match status {
        StatusCode::NOT_FOUND => "no such route".into(),
        StatusCode::METHOD_NOT_ALLOWED => "method not allowed on this route".into(),
        s => s.canonical_reason().unwrap_or("error").into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The answers of the policy's refusals: status, `Retry-After`, message and the `quota` field.
    #[test]
    fn policy_refusals_keep_their_status_headers_and_body() {
        let daily = QuotaExceeded {
            limit: "jobsPerDay",
            setting: "QUOTA_JOBS_PER_DAY",
            value: json!(3),
            current: json!(3),
            resets_at: Some("2026-12-08T00:00:00Z".into()),
            retry_after_seconds: Some(42),
            time_lifts: true,
        };
        let r = daily.into_response();
        assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
        assert_eq!(r.headers()[header::RETRY_AFTER], "42");
        assert_eq!(
            r.extensions().get::<ApiError>().unwrap().message,
            "quota exceeded: jobsPerDay (QUOTA_JOBS_PER_DAY) is 3, current 3; resets at \
             2026-12-08T00:00:00Z"
        );
        assert_eq!(
            serde_json::to_string(r.extensions().get::<QuotaBody>().unwrap()).unwrap(),
            r#"{"limit":"jobsPerDay","setting":"QUOTA_JOBS_PER_DAY","value":3,"current":3,"resetsAt":"2026-12-08T00:00:00Z","retryAfterSeconds":42}"#
        );
        let size = QuotaExceeded {
            limit: "maxResolution",
            setting: "QUOTA_MAX_RESOLUTION",
            value: json!("1280x720"),
            current: json!("1920x1080"),
            resets_at: None,
            retry_after_seconds: None,
            time_lifts: false,
        };
        let r = Refusal::from(Box::new(size)).into_response();
        assert_eq!(r.status(), StatusCode::FORBIDDEN);
        assert!(r.headers().get(header::RETRY_AFTER).is_none());
        assert_eq!(
            serde_json::to_string(r.extensions().get::<QuotaBody>().unwrap()).unwrap(),
            r#"{"limit":"maxResolution","setting":"QUOTA_MAX_RESOLUTION","value":"1280x720","current":"1920x1080"}"#
        );
        let full = Overloaded {
            message: "the render queue is full".into(),
            retry_after: std::time::Duration::from_millis(300),
            reason: "queue_full",
        };
        let r = Refusal::from(Refused::Overloaded(full)).into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(
            r.extensions().get::<ApiError>().unwrap().message,
            "the render queue is full"
        );
    }

    #[test]
    fn field_paths_name_the_field() {
        assert_eq!(refine_path("", "missing field `width`").0, "width");
        assert_eq!(
            refine_path("frames[0]", "missing field `layers`").0,
            "frames[0].layers"
        );
        assert_eq!(
            refine_path(".", "unknown field `foo`, expected one of `a`").0,
            "foo"
        );
        assert_eq!(
            refine_path("a.foo", "unknown field `foo`, expected one of `a`").0,
            "a.foo"
        );
        assert_eq!(
            refine_path(
                "priority",
                "invalid type: string \"x\", expected i64 at line 1 column 20"
            ),
            (
                "priority".to_string(),
                "invalid type: string \"x\", expected i64".to_string()
            )
        );
    }
}
