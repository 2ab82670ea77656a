//! The Studio's API: the project schema, frame previews (same pixels as `--still` and as the encoded
//! video, cached, the same error bodies as project creation) and job events (Server-Sent Events),
//! against the real `vrender serve`.

use crate::common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{api_keys, assert_error_body, video, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn examples() -> String {
    repo().join("examples").display().to_string()
}

fn example(name: &str) -> Value {
    let text = std::fs::read_to_string(repo().join(format!("examples/{name}.json"))).unwrap();
    serde_json::from_str(&text).unwrap()
}

struct Preview {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    bytes: Vec<u8>,
}

impl Preview {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.bytes).unwrap_or(Value::Null)
    }

    fn image(&self) -> image::RgbaImage {
        assert_eq!(self.status, StatusCode::OK, "{}", self.json());
        image::load_from_memory(&self.bytes).unwrap().to_rgba8()
    }

    fn header(&self, name: &str) -> &str {
        self.headers[name].to_str().unwrap()
    }
}

fn preview_raw(server: &Server, query: &str, body: Option<String>) -> Preview {
    let mut req = server
        .client
        .post(server.url(&format!("/api/v1/render/previews?{query}")));
    if let Some(body) = body {
        req = req.header("content-type", "application/json").body(body);
    }
    let resp = req.send().unwrap();
    Preview {
        status: resp.status(),
        headers: resp.headers().clone(),
        bytes: resp.bytes().unwrap().to_vec(),
    }
}

fn preview(server: &Server, query: &str, project: &Value) -> Preview {
    preview_raw(server, query, Some(project.to_string()))
}

/// Distinct colours in an image (a blank frame has one).
fn colours(img: &image::RgbaImage) -> usize {
    let mut seen: Vec<[u8; 4]> = img.pixels().map(|p| p.0).collect();
    seen.sort_unstable();
    seen.dedup();
    seen.len()
}

#[test]
fn schema_is_served_and_equals_the_committed_file() {
    let dir = tempfile::tempdir().unwrap();
    // With authentication on the schema stays public (editors fetch it).
    let server = Server::start(dir.path(), &[("API_KEYS", &api_keys(&[("k1", "alice")]))]);
    let (status, schema) = server.get("/api/v1/schema/project.json");
    assert_eq!(status, StatusCode::OK);
    let committed: Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("schema/project.schema.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(schema, committed);
    let (status, doc) = server.get("/api/openapi.json");
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        doc["paths"]["/api/v1/render/projects"]["post"]["requestBody"]["content"]
            ["application/json"]["schema"]["$ref"],
        "#/components/schemas/VideoProject"
    );
    assert_eq!(
        doc["components"]["schemas"]["VideoProject"]["properties"]["width"]["minimum"],
        16
    );
    assert!(doc["paths"]["/api/v1/render/previews"]["post"].is_object());
    assert!(doc["paths"]["/api/v1/render/jobs/{jobId}/events"]["get"].is_object());
}

#[test]
fn preview_is_the_still_and_is_cached() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("ASSET_ROOTS", &examples())]);
    let hello = example("hello");

    let first = preview(&server, "frame=45", &hello);
    let img = first.image();
    assert_eq!(img.dimensions(), (1280, 720));
    assert_eq!(first.header("content-type"), "image/png");
    assert_eq!(first.header("x-frame"), "45");
    assert_eq!(first.header("x-total-frames"), "120");
    assert_eq!(first.header("x-preview-cache"), "miss");
    assert!(colours(&img) > 1000, "a real frame has many colours");

    // The CLI's --still of the same frame: the same pixels.
    let png = dir.path().join("still.png");
    video::run(
        Command::new(env!("CARGO_BIN_EXE_vrender"))
            .args(["render", "-q", "--still", "45"])
            .arg(repo().join("examples/hello.json"))
            .arg("-o")
            .arg(&png),
    );
    let still = image::open(&png).unwrap().to_rgba8();
    assert!(still == img, "preview and --still differ");

    // Same project text again: prepared once, served from the cache; another frame differs.
    let second = preview(&server, "frame=0", &hello);
    assert_eq!(second.header("x-preview-cache"), "hit");
    assert!(second.image() != img);
    // The same frame from the cache is still the same pixels.
    let again = preview(&server, "frame=45", &hello);
    assert_eq!(again.header("x-preview-cache"), "hit");
    assert!(again.image() == img);

    // time=1.5 s at 30 fps is frame 45; width scales down keeping the aspect; JPEG on request.
    let by_time = preview(&server, "time=1.5&width=640&format=jpeg", &hello);
    assert_eq!(by_time.header("x-frame"), "45");
    assert_eq!(by_time.header("content-type"), "image/jpeg");
    assert_eq!(by_time.image().dimensions(), (640, 360));
    // The end of the timeline shows the last frame.
    assert_eq!(preview(&server, "time=4", &hello).header("x-frame"), "119");

    // A stored project by id, no body.
    let mut stored_hello = hello.clone();
    stored_hello["projectId"] = json!("stored-hello");
    let id = server.create_project(&stored_hello);
    let stored = preview_raw(&server, &format!("projectId={id}&frame=45"), None);
    assert!(stored.image() == img);
    assert_eq!(stored.header("x-preview-cache"), "miss");
    let missing = preview_raw(&server, "projectId=nope&frame=1", None);
    assert_error_body(
        missing.status,
        &missing.json(),
        404,
        "/api/v1/render/previews",
    );
}

#[test]
fn preview_input_errors_match_project_creation() {
    let dir = tempfile::tempdir().unwrap();
    let fixtures = repo().join("tests/fixtures/invalid");
    let server = Server::start(
        dir.path(),
        &[("ASSET_ROOTS", &fixtures.display().to_string())],
    );
    let expected: serde_json::Map<String, Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("expected.json")).unwrap())
            .unwrap();
    for file in expected.keys() {
        let text = std::fs::read_to_string(fixtures.join(file)).unwrap();
        let created = server
            .client
            .post(server.url("/api/v1/render/projects"))
            .header("content-type", "application/json")
            .body(text.clone())
            .send()
            .unwrap();
        let created_status = created.status();
        let created: Value = created.json().unwrap();
        let previewed = preview_raw(&server, "frame=0", Some(text));
        let previewed_body = previewed.json();
        assert_eq!(previewed.status, created_status, "{file}: {previewed_body}");
        assert!(created_status.is_client_error(), "{file}: {created}");
        assert_error_body(
            previewed.status,
            &previewed_body,
            created_status.as_u16(),
            "/api/v1/render/previews",
        );
        for key in ["error", "message", "details"] {
            assert_eq!(previewed_body[key], created[key], "{file}: {key}");
        }
    }
    // Not JSON, wrong content type, unknown and bad parameters, a frame past the end.
    let hello = json!({"width": 64, "height": 64, "frameRate": 10, "frames": [{"duration": 1}]});
    let no_type = server
        .client
        .post(server.url("/api/v1/render/previews"))
        .body(hello.to_string())
        .send()
        .unwrap();
    assert_eq!(no_type.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    for (query, path) in [
        ("frame=-1", "frame"),
        ("time=x", "time"),
        ("width=4", "width"),
        ("format=gif", "format"),
        ("colour=red", "colour"),
        ("frame=1&time=1", "time"),
    ] {
        let r = preview(&server, query, &hello);
        let body = r.json();
        assert_error_body(r.status, &body, 400, "/api/v1/render/previews");
        assert_eq!(body["details"][0]["path"], path, "{query}: {body}");
    }
    let past = preview(&server, "frame=10", &hello);
    let body = past.json();
    assert_error_body(past.status, &body, 422, "/api/v1/render/previews");
    assert_eq!(body["details"][0]["path"], "frame", "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("10 frames"),
        "{body}"
    );
    let past = preview(&server, "time=1.2", &hello);
    assert_eq!(past.json()["details"][0]["path"], "time");
}

/// One server-sent event.
#[derive(Debug)]
struct Sse {
    event: String,
    id: Option<u64>,
    data: Value,
}

/// Reads events until the stream ends.
fn read_events(resp: reqwest::blocking::Response, limit: Duration) -> Vec<Sse> {
    let started = Instant::now();
    let mut out = Vec::new();
    let (mut event, mut id, mut data) = (String::new(), None, String::new());
    for line in BufReader::new(resp).lines() {
        let line = line.unwrap();
        assert!(
            started.elapsed() < limit,
            "stream still open after {limit:?}"
        );
        if line.is_empty() {
            if !data.is_empty() {
                out.push(Sse {
                    event: std::mem::take(&mut event),
                    id: id.take(),
                    data: serde_json::from_str(&data).unwrap_or(Value::String(data.clone())),
                });
            }
            data.clear();
        } else if let Some(v) = line.strip_prefix("event:") {
            event = v.trim().to_string();
        } else if let Some(v) = line.strip_prefix("id:") {
            id = v.trim().parse().ok();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
    }
    out
}

fn open_events(server: &Server, job: &str, key: Option<&str>) -> reqwest::blocking::Response {
    let client = reqwest::blocking::Client::builder()
        .timeout(Duration::from_secs(120))
        .build()
        .unwrap();
    let mut req = client.get(server.url(&format!("/api/v1/render/jobs/{job}/events")));
    if let Some(k) = key {
        req = req.header("x-api-key", k);
    }
    req.send().unwrap()
}

fn event_streams(server: &Server) -> f64 {
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("vrender_job_event_streams "))
        .and_then(|v| v.trim().parse().ok())
        .expect("vrender_job_event_streams in /metrics")
}

#[test]
fn job_events_arrive_in_order_and_the_video_frame_is_the_preview() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            ("ASSET_ROOTS", &examples()),
            ("API_KEYS", &api_keys(&[("k1", "alice"), ("k2", "bob")])),
            ("MAX_CONCURRENT_RENDERS", "1"),
        ],
    );
    // 160x90, every frame different, CRF 18 ("ultra"); plus a photo so the frame is not flat.
    let mut project = video::moving_project("alice", 2.0, 30.0, false);
    project["frames"][0]["layers"]
        .as_array_mut()
        .unwrap()
        .insert(
            0,
            json!({"type": "image", "src": "media/photo1.png", "width": 160, "height": 90}),
        );
    let authed = |req: reqwest::blocking::RequestBuilder| req.header("x-api-key", "k1");
    let created: Value = authed(server.client.post(server.url("/api/v1/render/projects")))
        .json(&project)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let project_id = created["projectId"].as_str().unwrap().to_string();
    let job: Value = authed(server.client.post(server.url("/api/v1/render/jobs")))
        .json(&json!({"projectId": project_id}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let job_id = job["jobId"].as_str().unwrap().to_string();

    // Auth and ownership as for the job itself.
    assert_eq!(open_events(&server, &job_id, None).status(), 401);
    assert_eq!(open_events(&server, &job_id, Some("k2")).status(), 404);

    let resp = open_events(&server, &job_id, Some("k1"));
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(resp.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/event-stream"));
    let events = read_events(resp, Duration::from_secs(120));
    assert!(events.len() >= 2, "{events:?}");
    let (last, before) = events.split_last().unwrap();
    assert_eq!(last.event, "end", "{events:?}");
    assert!(before.iter().all(|e| e.event == "job"), "{events:?}");
    for (i, e) in events.iter().enumerate() {
        assert_eq!(e.id, Some(i as u64), "ids count up: {events:?}");
        assert_eq!(e.data["jobId"], job_id.as_str());
    }
    let progress: Vec<f64> = events
        .iter()
        .map(|e| e.data["progress"].as_f64().unwrap())
        .collect();
    assert!(
        progress.windows(2).all(|w| w[0] <= w[1]),
        "progress goes forward: {progress:?}"
    );
    assert_eq!(last.data["status"], "completed", "{last:?}");
    assert_eq!(last.data["progress"], 100.0);
    let url = last.data["outputUrl"]
        .as_str()
        .expect("outputUrl at the end");

    // The preview of a frame against that frame of the encoded video (CRF 18).
    let video_file = dir.path().join("out.mp4");
    let bytes = server.client.get(url).send().unwrap().bytes().unwrap();
    std::fs::write(&video_file, &bytes).unwrap();
    let frames = video::decode(&video_file, video::W, video::H);
    let stored = server
        .client
        .post(server.url(&format!(
            "/api/v1/render/previews?projectId={project_id}&frame=37"
        )))
        .header("x-api-key", "k1")
        .send()
        .unwrap();
    assert_eq!(stored.status(), StatusCode::OK);
    let png = dir.path().join("preview.png");
    std::fs::write(&png, stored.bytes().unwrap()).unwrap();
    // ffmpeg's BT.709 conversion of the preview, as the engine converts frames for x264.
    let yuv = video::run(
        Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(&png)
            .args([
                "-vf",
                "scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int,format=yuv420p",
                "-f",
                "rawvideo",
                "pipe:1",
            ]),
    );
    let same = video::psnr(&yuv, &frames[37]);
    assert!(same >= 38.0, "preview vs video frame 37: {same:.2} dB");
    let other = video::psnr(&yuv, &frames[20]);
    assert!(
        other < same - 3.0,
        "frame 20 should match worse ({other:.2} dB)"
    );
    // Bob cannot preview Alice's project.
    let bob = server
        .client
        .post(server.url(&format!("/api/v1/render/previews?projectId={project_id}")))
        .header("x-api-key", "k2")
        .send()
        .unwrap();
    assert_eq!(bob.status(), StatusCode::NOT_FOUND);

    // A client that hangs up costs nothing: its stream is gone within a few seconds.
    let long = video::moving_project("alice", 30.0, 30.0, false);
    let created: Value = authed(server.client.post(server.url("/api/v1/render/projects")))
        .json(&long)
        .send()
        .unwrap()
        .json()
        .unwrap();
    let job: Value = authed(server.client.post(server.url("/api/v1/render/jobs")))
        .json(&json!({"projectId": created["projectId"]}))
        .send()
        .unwrap()
        .json()
        .unwrap();
    let long_id = job["jobId"].as_str().unwrap().to_string();
    let resp = open_events(&server, &long_id, Some("k1"));
    let mut reader = BufReader::new(resp);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(
        line.starts_with("event:")
            || line.starts_with("id:")
            || line.starts_with("data:")
            || line.starts_with(':'),
        "{line}"
    );
    assert_eq!(event_streams(&server), 1.0);
    drop(reader);
    let started = Instant::now();
    while event_streams(&server) > 0.0 {
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the stream of a closed connection is still open"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let (status, _) = authed_delete(&server, &long_id);
    assert_eq!(status, StatusCode::OK);
}

fn authed_delete(server: &Server, job: &str) -> (StatusCode, Value) {
    let r = server
        .client
        .delete(server.url(&format!("/api/v1/render/jobs/{job}")))
        .header("x-api-key", "k1")
        .send()
        .unwrap();
    let status = r.status();
    (status, r.json().unwrap_or(Value::Null))
}
