//! `GET /api/v1/files/{key}?expires=…&signature=…`: downloads of rendered outputs through signed,
//! expiring links (local storage only; S3 links point at S3).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::response::Response;
use tower::ServiceExt;
use tower_http::services::ServeFile;

use super::error::{ApiError, ErrorBody};
use super::AppState;
use crate::storage::LinkError;

/// Download a rendered file (the job's `outputUrl`). Supports `Range` requests.
#[utoipa::path(
    get,
    path = "/api/v1/files/{key}",
    tag = "files",
    params(
        ("key" = String, Path, description = "Storage key, e.g. renders/<userId>/<jobId>.mp4"),
        ("expires" = u64, Query, description = "Unix time the link expires"),
        ("signature" = String, Query, description = "HMAC-SHA256 of the key and expiry, hex"),
    ),
    responses(
        (status = 200, description = "The file", content_type = "video/mp4"),
        (status = 403, description = "Bad signature", body = ErrorBody),
        (status = 404, description = "Not found", body = ErrorBody),
        (status = 410, description = "Link expired", body = ErrorBody),
    )
)]
pub async fn download(
    State(state): State<AppState>,
    Path(key): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    req: Request,
) -> Result<Response, ApiError> {
    let Some(local) = &state.local_files else {
        return Err(ApiError::not_found("files are not served by this instance"));
    };
    let expires = params.get("expires").and_then(|v| v.parse::<u64>().ok());
    let (Some(expires), Some(signature)) = (expires, params.get("signature")) else {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "missing or malformed expires/signature",
        ));
    };
    let path = local.verify(&key, expires, signature).map_err(|e| {
        let status = match e {
            LinkError::BadSignature => StatusCode::FORBIDDEN,
            LinkError::Expired => StatusCode::GONE,
            LinkError::NotFound => StatusCode::NOT_FOUND,
        };
        ApiError::new(status, e.to_string())
    })?;
    let resp = ServeFile::new(path)
        .oneshot(req)
        .await
        .map_err(|e| ApiError::internal(format!("cannot read file: {e}")))?;
    Ok(resp.map(Body::new))
}
