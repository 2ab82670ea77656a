//! One error body everywhere (the seed's all-exceptions filter):
//! `{statusCode, error, message, path, timestamp, requestId, details?}`.
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
    pub quota: Option<crate::quota::QuotaExceeded>,
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
    let quota = parts.extensions.remove::<crate::quota::QuotaExceeded>();
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
    use super::refine_path;

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
