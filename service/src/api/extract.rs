//! Request body extraction with errors in the API's shape: 415 without a JSON content type, 413 over
//! the body limit, 400 for bytes that are not JSON or nest deeper than `JSON_MAX_DEPTH`, 413 for an
//! array longer than `JSON_MAX_ARRAY_LEN` (both checked before parsing, see [`super::json_limits`]),
//! 422 (with the JSON path) for JSON of the wrong shape.

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::{header, StatusCode};
use serde::de::DeserializeOwned;

use super::error::{refine_path, ApiError, ErrorDetail};
use super::json_limits::{self, JsonLimitError};
use super::AppState;

/// A request body that is JSON text (checked for syntax, not yet for shape).
pub struct JsonBody(pub Bytes);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, ApiError> {
        let content_type = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let mime = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        if mime != "application/json"
            && !(mime.starts_with("application/") && mime.ends_with("+json"))
        {
            return Err(ApiError::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                format!("expected Content-Type: application/json, got `{content_type}`"),
            ));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            let status = rejection.status();
            if status == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::new(
                    status,
                    "request body is larger than the limit (BODY_LIMIT_BYTES)",
                )
            } else {
                ApiError::new(status, rejection.body_text())
            }
        })?;
        let settings = &state.settings;
        if let Err(e) =
            json_limits::check(&bytes, settings.json_max_depth, settings.json_max_array_len)
        {
            let (status, path) = match &e {
                JsonLimitError::TooDeep { path, .. } => (StatusCode::BAD_REQUEST, path),
                JsonLimitError::ArrayTooLong { path, .. } => (StatusCode::PAYLOAD_TOO_LARGE, path),
            };
            return Err(ApiError {
                status,
                message: e.to_string(),
                details: vec![ErrorDetail {
                    path: path.clone(),
                    message: e.to_string(),
                }],
            });
        }
        if let Err(e) = serde_json::from_slice::<serde::de::IgnoredAny>(&bytes) {
            return Err(ApiError::bad_request(format!("malformed JSON: {e}")));
        }
        Ok(JsonBody(bytes))
    }
}

impl JsonBody {
    /// Deserialises into `T`, reporting the JSON path of a mismatch.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let de = &mut serde_json::Deserializer::from_slice(&self.0);
        serde_path_to_error::deserialize(de).map_err(|e| {
            let path = e.path().to_string();
            let (path, message) = refine_path(
                if path == "." { "" } else { &path },
                &e.into_inner().to_string(),
            );
            let summary = if path.is_empty() {
                message.clone()
            } else {
                format!("{path}: {message}")
            };
            ApiError::invalid(summary, vec![ErrorDetail { path, message }])
        })
    }

    /// The body as text (JSON is UTF-8; checked by the syntax check).
    pub fn text(&self) -> Result<&str, ApiError> {
        std::str::from_utf8(&self.0).map_err(|_| ApiError::bad_request("body is not UTF-8"))
    }
}
