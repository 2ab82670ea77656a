//! S3 storage against a real S3-protocol server (s3s-fs 0.14.1, see `tests/common/s3.rs`) and the
//! real `vrender serve` binary (embedded store and queue, `S3_BUCKET` set): output keys, presigned
//! links, progressive multipart upload, abort on cancel, `s3://` assets.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::s3::S3Server;
use common::{detail_paths, ffprobe, tiny_project, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn env_of<'a>(pairs: &'a [(String, String)], extra: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied())
        .collect()
}

/// A PNG of random pixels: x264 cannot compress it much, so outputs get big with few frames.
fn write_noise_png(path: &Path, w: u32, h: u32) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    let img = image::RgbaImage::from_fn(w, h, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let b = state.to_le_bytes();
        image::Rgba([b[0], b[1], b[2], 255])
    });
    img.save(path).unwrap();
}

/// Full-frame noise that drifts by a fraction of a pixel per frame, so every frame is new.
fn noise_project(user: &str, w: u32, h: u32, fps: f64, seconds: f64) -> Value {
    json!({
        "userId": user,
        "title": "noise",
        "width": w,
        "height": h,
        "frameRate": fps,
        "quality": "ultra",
        "frames": [{
            "duration": seconds,
            "background": "#000000",
            "layers": [{
                "type": "image", "src": "noise.png", "x": 0, "y": 0,
                "width": w + 40, "height": h + 40,
                "animations": [{"property": "x", "from": 0, "to": -37, "start": 0, "end": seconds}]
            }]
        }]
    })
}

fn download(url: &str) -> (StatusCode, Vec<u8>) {
    let r = reqwest::blocking::Client::new().get(url).send().unwrap();
    let status = r.status();
    (status, r.bytes().unwrap().to_vec())
}

fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn wait_until(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let start = Instant::now();
    while !f() {
        assert!(start.elapsed() < timeout, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn output_lands_under_the_user_and_the_presigned_link_downloads_it() {
    let s3 = S3Server::start(&["renders-test"]);
    let dir = tempfile::tempdir().unwrap();
    let s3_env = s3.env();
    let server = Server::start(
        dir.path(),
        &env_of(&s3_env, &[("SIGNED_URL_EXPIRY_SECS", "3")]),
    );
    let (s, health) = server.get("/api/v1/health");
    assert_eq!(s, StatusCode::OK, "{health}");

    let pid = server.create_project(&tiny_project("bob", 1.0, 10.0));
    let job = server.submit(&json!({"projectId": pid}));
    let id = job["jobId"].as_str().unwrap().to_string();
    let job = server.wait_finished(&id, Duration::from_secs(60));
    assert_eq!(job["status"], "completed", "{job}\n{}", server.log_tail());

    let stored = s3.object_path("renders-test", &format!("renders/bob/{id}.mp4"));
    let bytes = std::fs::read(&stored).expect("the output is at renders/{userId}/{jobId}.mp4");
    let url = job["outputUrl"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!("{}/renders-test/renders/bob/{id}.mp4?", s3.endpoint)),
        "{url}"
    );
    assert!(url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=3"), "{url}");
    let (status, body) = download(&url);
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body, bytes);
    let local = dir.path().join("download.mp4");
    std::fs::write(&local, &body).unwrap();
    let probe = ffprobe(&local);
    assert_eq!(probe["streams"][0]["codec_name"], "h264", "{probe}");
    assert_eq!(probe["streams"][0]["nb_read_frames"], "10", "{probe}");

    // A changed signature, or a changed key under the same signature, is refused.
    let (sig_at, _) = url.match_indices("X-Amz-Signature=").next().unwrap();
    let mut tampered = url.clone();
    let pos = sig_at + "X-Amz-Signature=".len();
    let c = if &url[pos..pos + 1] == "0" { "1" } else { "0" };
    tampered.replace_range(pos..pos + 1, c);
    assert_eq!(download(&tampered).0, StatusCode::FORBIDDEN);
    let other_key = url.replace(&format!("{id}.mp4"), "other.mp4");
    assert_eq!(download(&other_key).0, StatusCode::FORBIDDEN);
    // Expired (SIGNED_URL_EXPIRY_SECS=3).
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(download(&url).0, StatusCode::FORBIDDEN);
}

#[test]
fn a_big_output_is_uploaded_in_parts_while_it_is_encoded_and_arrives_whole() {
    let s3 = S3Server::start(&["renders-test"]);
    let dir = tempfile::tempdir().unwrap();
    let s3_env = s3.env();
    let server = Server::start(
        dir.path(),
        &env_of(
            &s3_env,
            &[
                ("S3_PART_SIZE_MB", "5"),
                // The uploader logs the SHA-256 of the file it uploaded at debug level.
                ("RUST_LOG", "info,vrender_service::storage=debug"),
            ],
        ),
    );
    write_noise_png(&dir.path().join("assets/noise.png"), 1280, 720);
    let pid = server.create_project(&noise_project("bob", 1280, 720, 10.0, 2.0));
    let job = server.submit(&json!({"projectId": pid}));
    let id = job["jobId"].as_str().unwrap().to_string();
    let job = server.wait_finished(&id, Duration::from_secs(240));
    assert_eq!(job["status"], "completed", "{job}\n{}", server.log_tail());

    let (status, body) = download(job["outputUrl"].as_str().unwrap());
    assert_eq!(status, StatusCode::OK);
    assert!(
        body.len() > 20 * 1024 * 1024,
        "output is only {} bytes",
        body.len()
    );
    let log = std::fs::read_to_string(&server.log).unwrap();
    let line = log
        .lines()
        .find(|l| l.contains("multipart upload completed") && l.contains(&id))
        .unwrap_or_else(|| panic!("no completed multipart upload in the log:\n{log}"));
    let during: u32 = line
        .split("parts_during_encoding=")
        .nth(1)
        .and_then(|r| r.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!(during >= 2, "only {during} parts sent while encoding: {line}");
    let logged_sha = log
        .lines()
        .find(|l| l.contains("uploaded file checksum") && l.contains(&id))
        .and_then(|l| l.split("sha256=").nth(1))
        .map(|r| r.split_whitespace().next().unwrap_or_default().to_string())
        .unwrap_or_else(|| panic!("no checksum line in the log:\n{log}"));
    assert_eq!(sha256_hex(&body), logged_sha);
    assert!(s3.incomplete_uploads().is_empty(), "{:?}", s3.incomplete_uploads());
    let local = dir.path().join("big.mp4");
    std::fs::write(&local, &body).unwrap();
    let probe = ffprobe(&local);
    assert_eq!(probe["streams"][0]["nb_read_frames"], "20", "{probe}");
    assert_eq!(probe["streams"][0]["width"], 1280, "{probe}");
}

#[test]
fn a_cancelled_render_leaves_no_upload_and_no_object() {
    let s3 = S3Server::start(&["renders-test"]);
    let dir = tempfile::tempdir().unwrap();
    let s3_env = s3.env();
    let server = Server::start(dir.path(), &env_of(&s3_env, &[("S3_PART_SIZE_MB", "5")]));
    write_noise_png(&dir.path().join("assets/noise.png"), 1280, 720);
    let pid = server.create_project(&noise_project("carol", 1280, 720, 10.0, 30.0));
    let job = server.submit(&json!({"projectId": pid}));
    let id = job["jobId"].as_str().unwrap().to_string();
    // Cancel once parts of the output are in S3.
    wait_until("a part uploaded during encoding", Duration::from_secs(180), || {
        s3.pending_parts() >= 1
    });
    let (s, body) = server.delete(&format!("/api/v1/render/jobs/{id}"));
    assert_eq!(s, StatusCode::OK, "{body}");
    wait_until("the upload to be aborted", Duration::from_secs(30), || {
        s3.incomplete_uploads().is_empty()
    });
    let job = server.job(&id);
    assert_eq!(job["status"], "cancelled", "{job}");
    assert!(!s3
        .object_path("renders-test", &format!("renders/carol/{id}.mp4"))
        .exists());
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(log.contains("multipart upload aborted"), "{log}");
}

#[test]
fn s3_assets_are_fetched_and_hostile_urls_refused() {
    let s3 = S3Server::start(&["renders-test", "media-test", "private-test"]);
    let dir = tempfile::tempdir().unwrap();
    let s3_env = s3.env();
    let server = Server::start(
        dir.path(),
        &env_of(&s3_env, &[("S3_ASSET_BUCKETS", "renders-test,media-test")]),
    );
    // "Uploaded": s3s-fs serves the files under its bucket folders.
    let logo = s3.object_path("media-test", "logos/red.png");
    std::fs::create_dir_all(logo.parent().unwrap()).unwrap();
    image::RgbaImage::from_pixel(16, 16, image::Rgba([255, 0, 0, 255]))
        .save(&logo)
        .unwrap();
    std::fs::copy(&logo, s3.object_path("private-test", "red.png")).unwrap();

    let with_src = |src: &str| {
        let mut p = tiny_project("dave", 0.5, 10.0);
        p["frames"][0]["layers"]
            .as_array_mut()
            .unwrap()
            .push(json!({"type": "image", "src": src, "x": 30, "y": 30}));
        p
    };
    let pid = server.create_project(&with_src("s3://media-test/logos/red.png"));
    let job = server.submit(&json!({"projectId": pid}));
    let id = job["jobId"].as_str().unwrap().to_string();
    let job = server.wait_finished(&id, Duration::from_secs(60));
    assert_eq!(job["status"], "completed", "{job}\n{}", server.log_tail());
    let stored = s3.object_path("renders-test", &format!("renders/dave/{id}.mp4"));
    let probe = ffprobe(&stored);
    assert_eq!(probe["streams"][0]["nb_read_frames"], "5", "{probe}");
    // The red square is in the picture: decode the last frame's pixel at (37, 37).
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-sseof", "-0.1", "-i"])
        .arg(&stored)
        .args([
            "-frames:v", "1", "-vf", "crop=1:1:37:37", "-f", "rawvideo", "-pix_fmt", "rgb24", "-",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let px = &out.stdout[..3];
    assert!(px[0] > 200 && px[1] < 60 && px[2] < 60, "pixel {px:?}");

    let path = "frames[0].layers[2].src";
    for (src, words) in [
        ("s3://private-test/red.png", "not allowed"),
        ("s3://media-test", "key is missing"),
        ("s3://Media_Test/red.png", "not a valid bucket"),
        ("S3://media-test/logos/red.png", "lowercase"),
        ("s3://media-test/../private-test/red.png", "segments"),
        ("s3://media-test/logos/missing.png", "does not exist"),
    ] {
        let (s, body) = server.post("/api/v1/render/projects", &with_src(src));
        common::assert_error_body(s, &body, 422, "/api/v1/render/projects");
        assert_eq!(detail_paths(&body), vec![path.to_string()], "{src}: {body}");
        assert!(body["message"].as_str().unwrap().contains(words), "{src}: {body}");
    }
    drop(server);

    // Without S3 storage, s3:// sources are refused at submission.
    let plain_dir = tempfile::tempdir().unwrap();
    let plain = Server::start(plain_dir.path(), &[]);
    let (s, body) = plain.post(
        "/api/v1/render/projects",
        &with_src("s3://media-test/logos/red.png"),
    );
    common::assert_error_body(s, &body, 422, "/api/v1/render/projects");
    assert_eq!(detail_paths(&body), vec![path.to_string()], "{body}");
    assert!(body["message"].as_str().unwrap().contains("S3_BUCKET"), "{body}");
}
