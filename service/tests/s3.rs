//! S3 storage against a real S3-protocol server (s3s-fs 0.14.1, see `tests/common/s3.rs`) and the
//! real `vrender serve` binary (embedded store and queue, `S3_BUCKET` set): output keys, presigned
//! links, progressive multipart upload, abort on cancel, `s3://` assets.

use crate::common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::s3::S3Server;
use common::video::{run, stream, write_tone};
use common::{detail_paths, ffprobe, tiny_project, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

fn env_of<'a>(
    pairs: &'a [(String, String)],
    extra: &[(&'a str, &'a str)],
) -> Vec<(&'a str, &'a str)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .chain(extra.iter().copied())
        .collect()
}

/// A PNG of random pixels: x264 cannot compress it much, so outputs get big with few frames.
fn write_noise_png(path: &Path, w: u32, h: u32, seed: u64) {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15 ^ seed.wrapping_mul(0xff51_afd7_ed55_8ccd);
    let img = image::RgbaImage::from_fn(w, h, |_, _| {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let b = state.to_le_bytes();
        image::Rgba([b[0], b[1], b[2], 255])
    });
    img.save(path).unwrap();
}

/// `frames` frames, each a full-frame still of one of the noise images `noise-{i % images}.png`. x264
/// cannot predict one frame from the others (they are unrelated noise, and more apart than its
/// reference frames reach), so every frame is about as big as a key frame.
fn noise_project(user: &str, w: u32, h: u32, fps: f64, frames: usize, images: usize) -> Value {
    let frames: Vec<Value> = (0..frames)
        .map(|i| {
            json!({
                "duration": 1.0 / fps,
                "background": "#000000",
                "layers": [{
                    "type": "image", "src": format!("noise-{}.png", i % images),
                    "x": 0, "y": 0, "width": w, "height": h
                }]
            })
        })
        .collect();
    json!({
        "userId": user,
        "title": "noise",
        "width": w,
        "height": h,
        "frameRate": fps,
        "quality": "ultra",
        "frames": frames
    })
}

/// Writes `n` different noise images into the assets folder of `data_dir`.
fn write_noise_pngs(data_dir: &Path, n: usize, w: u32, h: u32) {
    let assets = data_dir.join("assets");
    std::fs::create_dir_all(&assets).unwrap();
    for i in 0..n {
        write_noise_png(&assets.join(format!("noise-{i}.png")), w, h, i as u64 + 1);
    }
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
    assert_eq!(
        health["components"]["storage"]["detail"], "s3 bucket renders-test",
        "{health}"
    );
    assert_eq!(health["mode"], "distributed", "{health}");

    let pid = server.create_project(&tiny_project("bob", 1.0, 10.0));
    let job = server.submit(&json!({"projectId": pid,
        "poster": {"time": 0.5}, "thumbnail": {"time": 0.5, "width": 32}}));
    let id = job["jobId"].as_str().unwrap().to_string();
    let job = server.wait_finished(&id, Duration::from_secs(60));
    assert_eq!(job["status"], "completed", "{job}\n{}", server.log_tail());

    // The poster and thumbnail are objects beside the video, with their own signed links.
    for (field, name, mime, width) in [
        ("posterUrl", "poster.png", "image/png", 64),
        ("thumbnailUrl", "thumbnail.jpg", "image/jpeg", 32),
    ] {
        let key = format!("renders/bob/{id}.{name}");
        let stored = std::fs::read(s3.object_path("renders-test", &key))
            .unwrap_or_else(|e| panic!("{key}: {e}"));
        let url = job[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field}: {job}"));
        assert!(
            url.starts_with(&format!("{}/renders-test/{key}?", s3.endpoint))
                && url.contains("X-Amz-Signature="),
            "{url}"
        );
        let resp = reqwest::blocking::get(url).unwrap();
        assert_eq!(resp.status(), StatusCode::OK, "{url}");
        assert_eq!(resp.headers()["content-type"], mime, "{url}");
        let body = resp.bytes().unwrap().to_vec();
        assert_eq!(body, stored);
        let img = image::load_from_memory(&body).unwrap();
        assert_eq!(img.width(), width, "{name}");
    }

    let stored = s3.object_path("renders-test", &format!("renders/bob/{id}.mp4"));
    let bytes = std::fs::read(&stored).expect("the output is at renders/{userId}/{jobId}.mp4");
    let url = job["outputUrl"].as_str().unwrap().to_string();
    assert!(
        url.starts_with(&format!(
            "{}/renders-test/renders/bob/{id}.mp4?",
            s3.endpoint
        )),
        "{url}"
    );
    assert!(
        url.contains("X-Amz-Signature=") && url.contains("X-Amz-Expires=3"),
        "{url}"
    );
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
    // About 0.7 MB a frame (measured): 36 frames are ~25 MB.
    const FRAMES: usize = 36;
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
                ("LOG_FORMAT", "json"),
            ],
        ),
    );
    write_noise_pngs(dir.path(), 8, 1280, 720);
    let pid = server.create_project(&noise_project("bob", 1280, 720, 10.0, FRAMES, 8));
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
    // The uploader's log lines (JSON) about this job's key.
    let log = std::fs::read_to_string(&server.log).unwrap();
    let fields_of = |message: &str| -> Value {
        log.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .map(|v| v["fields"].clone())
            .find(|f| f["message"] == message && f["key"].as_str().is_some_and(|k| k.contains(&id)))
            .unwrap_or_else(|| panic!("no `{message}` line in the log:\n{log}"))
    };
    let done = fields_of("multipart upload completed");
    let during = done["parts_during_encoding"].as_u64().unwrap_or(0);
    assert!(
        during >= 2,
        "only {during} parts sent while encoding: {done}"
    );
    assert!(done["parts"].as_u64().unwrap_or(0) >= 5, "{done}");
    let logged_sha = fields_of("uploaded file checksum")["sha256"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert_eq!(sha256_hex(&body), logged_sha);
    assert!(
        s3.incomplete_uploads().is_empty(),
        "{:?}",
        s3.incomplete_uploads()
    );
    let local = dir.path().join("big.mp4");
    std::fs::write(&local, &body).unwrap();
    let probe = ffprobe(&local);
    assert_eq!(
        probe["streams"][0]["nb_read_frames"],
        FRAMES.to_string(),
        "{probe}"
    );
    assert_eq!(probe["streams"][0]["width"], 1280, "{probe}");
}

#[test]
fn a_cancelled_render_leaves_no_upload_and_no_object() {
    let s3 = S3Server::start(&["renders-test"]);
    let dir = tempfile::tempdir().unwrap();
    let s3_env = s3.env();
    let server = Server::start(dir.path(), &env_of(&s3_env, &[("S3_PART_SIZE_MB", "5")]));
    write_noise_pngs(dir.path(), 8, 1280, 720);
    let pid = server.create_project(&noise_project("carol", 1280, 720, 10.0, 300, 8));
    let job = server.submit(&json!({"projectId": pid}));
    let id = job["jobId"].as_str().unwrap().to_string();
    // Cancel once parts of the output are in S3.
    wait_until(
        "a part uploaded during encoding",
        Duration::from_secs(180),
        || s3.pending_parts() >= 1,
    );
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

/// "Uploads" a 16×16 red PNG: s3s-fs serves the files under its bucket folders.
fn put_red_logo(s3: &S3Server, bucket: &str, key: &str) -> std::path::PathBuf {
    let logo = s3.object_path(bucket, key);
    std::fs::create_dir_all(logo.parent().unwrap()).unwrap();
    image::RgbaImage::from_pixel(16, 16, image::Rgba([255, 0, 0, 255]))
        .save(&logo)
        .unwrap();
    logo
}

/// The red logo placed at (30, 30) is in the picture: pixel (37, 37) of each of `frames` decoded
/// frames of `video`.
fn assert_red_logo_shown(video: &Path, frames: usize) {
    let pixels = run(std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .args([
            "-vf",
            "format=rgb24,crop=1:1:37:37",
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgb24",
            "-",
        ]));
    assert_eq!(pixels.len(), frames * 3);
    for px in pixels.chunks(3) {
        assert!(px[0] > 200 && px[1] < 60 && px[2] < 60, "pixel {px:?}");
    }
}

#[test]
fn s3_assets_are_fetched_and_hostile_urls_refused() {
    let s3 = S3Server::start(&["renders-test", "media-test", "private-test"]);
    let dir = tempfile::tempdir().unwrap();
    let s3_env = s3.env();
    let server = Server::start(
        dir.path(),
        &env_of(
            &s3_env,
            &[
                ("S3_ASSET_BUCKETS", "renders-test,media-test"),
                ("S3_ASSET_MAX_MB", "1"),
            ],
        ),
    );
    let logo = put_red_logo(&s3, "media-test", "logos/red.png");
    std::fs::copy(&logo, s3.object_path("private-test", "red.png")).unwrap();
    // Over S3_ASSET_MAX_MB (1 MiB): refused before it is read.
    std::fs::write(s3.object_path("media-test", "big.png"), vec![7u8; 2 << 20]).unwrap();

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
    assert_red_logo_shown(&stored, 5);

    let path = "frames[0].layers[2].src";
    for (src, words) in [
        ("s3://private-test/red.png", "not allowed"),
        ("s3://media-test", "key is missing"),
        ("s3://Media_Test/red.png", "not a valid bucket"),
        ("S3://media-test/logos/red.png", "lowercase"),
        ("s3://media-test/../private-test/red.png", "segments"),
        ("s3://media-test/logos/missing.png", "does not exist"),
        (
            "s3://media-test/big.png",
            "over the limit S3_ASSET_MAX_MB = 1 MiB",
        ),
    ] {
        let (s, body) = server.post("/api/v1/render/projects", &with_src(src));
        common::assert_error_body(s, &body, 422, "/api/v1/render/projects");
        assert_eq!(detail_paths(&body), vec![path.to_string()], "{src}: {body}");
        assert!(
            body["message"].as_str().unwrap().contains(words),
            "{src}: {body}"
        );
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
    assert!(
        body["message"].as_str().unwrap().contains("S3_BUCKET"),
        "{body}"
    );
}

/// A project long enough to be split into chunks, whose image and audio are `s3://` sources: each
/// chunk fetches the media it draws and the join fetches the audio it mixes (issue 26: the chunk
/// path once built its own inputs without the fetch, so every chunk of such a job failed).
#[test]
fn chunked_jobs_fetch_s3_media_too() {
    let s3 = S3Server::start(&["renders-test", "media-test"]);
    let dir = tempfile::tempdir().unwrap();
    let s3_env = s3.env();
    let server = Server::start(
        dir.path(),
        &env_of(
            &s3_env,
            &[
                ("S3_ASSET_BUCKETS", "media-test"),
                ("CHUNK_THRESHOLD_SECONDS", "1"),
                ("CHUNK_SECONDS", "1"),
            ],
        ),
    );
    put_red_logo(&s3, "media-test", "logos/red.png");
    let tone = s3.object_path("media-test", "sound/tone.wav");
    std::fs::create_dir_all(tone.parent().unwrap()).unwrap();
    write_tone(&tone);

    let mut p = tiny_project("erin", 2.0, 10.0);
    p["frames"][0]["layers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "image", "src": "s3://media-test/logos/red.png", "x": 30, "y": 30}));
    p["audioTracks"] = json!([{"src": "s3://media-test/sound/tone.wav"}]);
    let pid = server.create_project(&p);
    let job = server.submit(&json!({"projectId": pid, "poster": {"time": 1.5}}));
    let id = job["jobId"].as_str().unwrap().to_string();
    let job = server.wait_finished(&id, Duration::from_secs(120));
    assert_eq!(job["status"], "completed", "{job}\n{}", server.log_tail());
    assert_eq!(job["chunksTotal"], 2, "not split into chunks: {job}");
    let stored = s3.object_path("renders-test", &format!("renders/erin/{id}.mp4"));
    let probe = ffprobe(&stored);
    let video = stream(&probe, "video").expect("a video stream");
    assert_eq!(video["nb_read_frames"], "20", "{probe}");
    assert!(
        stream(&probe, "audio").is_some(),
        "the s3:// audio is missing: {probe}"
    );
    // The red logo is in the picture of both chunks.
    assert_red_logo_shown(&stored, 20);
    // The media were fetched once for the job's items on this process, and went with the job.
    let log = std::fs::read_to_string(&server.log).unwrap_or_default();
    let fetched = log
        .lines()
        .filter(|l| l.contains("s3:// media fetched for the job") && l.contains(&id))
        .count();
    assert_eq!(fetched, 1, "fetched {fetched} times for one job");
    let t = std::time::Instant::now();
    while !server.scratch_files().is_empty() {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "left behind: {:?}",
            server.scratch_files()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}
