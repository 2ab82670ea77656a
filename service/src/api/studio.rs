//! The Studio: a web page to write a project, preview any frame, render it and watch the job, at
//! `GET /`. Plain HTML, CSS and JavaScript compiled into the binary (`service/studio/`); nothing is
//! fetched from elsewhere. It talks to the public API only (previews, projects, jobs, job events),
//! sending the API key it asks for when the server answers 401.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;

/// The example projects offered by "Load example": (name, project JSON).
pub const EXAMPLES: &[(&str, &str)] = &[
    ("hello", include_str!("../../../examples/hello.json")),
    ("captions", include_str!("../../../examples/captions.json")),
    ("s1", include_str!("../../../examples/s1.json")),
    ("template", include_str!("../../../examples/template.json")),
    (
        "transitions",
        include_str!("../../../examples/transitions.json"),
    ),
    ("video", include_str!("../../../examples/video.json")),
];

fn file(content_type: &'static str, body: &'static str) -> Response {
    let mut resp = body.into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}

async fn index() -> Response {
    file(
        "text/html; charset=utf-8",
        include_str!("../../studio/index.html"),
    )
}

async fn script() -> Response {
    file(
        "text/javascript; charset=utf-8",
        include_str!("../../studio/studio.js"),
    )
}

async fn style() -> Response {
    file(
        "text/css; charset=utf-8",
        include_str!("../../studio/studio.css"),
    )
}

/// `[{"name": …, "project": {…}}, …]`
async fn examples() -> Response {
    let list: Vec<serde_json::Value> = EXAMPLES
        .iter()
        .map(|(name, text)| {
            serde_json::json!({
                "name": name,
                "project": serde_json::from_str::<serde_json::Value>(text).unwrap_or_default(),
            })
        })
        .collect();
    axum::Json(list).into_response()
}

/// The Studio's routes (public: the page holds no data; the API calls it makes are authenticated).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(index))
        .route("/studio/studio.js", get(script))
        .route("/studio/studio.css", get(style))
        .route("/studio/examples.json", get(examples))
}

#[cfg(test)]
mod tests {
    use super::EXAMPLES;

    #[test]
    fn every_example_is_offered() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "json") {
                let stem = path.file_stem().unwrap().to_str().unwrap();
                assert!(
                    EXAMPLES.iter().any(|(name, _)| *name == stem),
                    "examples/{stem}.json is not in the Studio's EXAMPLES"
                );
            }
        }
        for (name, text) in EXAMPLES {
            serde_json::from_str::<serde_json::Value>(text)
                .unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}
