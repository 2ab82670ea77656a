//! Issue 16 against the real `vrender serve` binary: the render-memory budget refuses projects that
//! would amplify a small body into gigabytes (fast, without the server's memory moving) while a
//! short text in a huge box renders in little memory and a large legitimate 4K project still
//! renders; `MAX_QUEUED_JOBS` answers 503 + `Retry-After` and admits again as the queue drains (one
//! process, and two processes sharing Redis and one store); `MIN_FREE_DISK_MB` refuses new jobs and
//! degrades `/health`; a disk that fills mid-render fails the job with `disk full` (root only: a
//! tmpfs).

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{assert_error_body, detail_paths, tiny_project, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

const RENDER_TIMEOUT: Duration = Duration::from_secs(180);

/// `VmRSS` or `VmHWM` of a process, in MiB.
fn mem_mib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("no {field}"));
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap();
    kb / 1024
}

/// One sample of `/metrics`, by its full series name.
fn metric(server: &Server, series: &str) -> f64 {
    let text = server
        .client
        .get(server.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {series} in /metrics"))
}

fn huge_box_text(text: &str, size: f64, layers: usize) -> Value {
    let layer = json!({"type": "text", "text": text, "size": size, "x": 0, "y": 0,
                       "width": 30720, "height": 30720});
    json!({"width": 320, "height": 180, "frameRate": 10,
           "frames": [{"duration": 0.1, "layers": vec![layer; layers]}]})
}

#[test]
fn projects_over_the_memory_budget_are_refused_fast_without_memory_moving() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "0")]);
    // Warm the validation path once (allocator, font-free estimate).
    server.create_project(&tiny_project("u1", 1.0, 10.0));
    let rss_before = mem_mib(server.pid(), "VmRSS");
    // A text that fills a 30720² box: a 16376² raster and its atlas page, 2 GiB per layer.
    let filled = "W".repeat(10_000);
    for layers in [1, 64] {
        let started = Instant::now();
        let (status, body) = server.post(
            "/api/v1/render/projects",
            &huge_box_text(&filled, 2000.0, layers),
        );
        let took = started.elapsed();
        eprintln!("{layers} filled 30720² text layer(s): {status} in {took:?}");
        assert_error_body(status, &body, 422, "/api/v1/render/projects");
        assert!(took < Duration::from_secs(1), "{layers} layers: {took:?}");
        let paths = detail_paths(&body);
        assert!(
            !paths.is_empty() && paths.len() <= 3,
            "the costliest layers, at most three: {body}"
        );
        for (k, p) in paths.iter().enumerate() {
            assert_eq!(p, &format!("frames[0].layers[{k}]"), "{body}");
        }
        let message = body["details"][0]["message"].as_str().unwrap();
        assert!(
            message.contains("16376x16376 text raster")
                && message.contains("memory budget of 2048 MiB"),
            "{message}"
        );
    }
    let rss_after = mem_mib(server.pid(), "VmRSS");
    eprintln!("server RSS {rss_before} MiB before, {rss_after} MiB after");
    assert!(
        rss_after < rss_before + 32,
        "RSS {rss_before} → {rss_after} MiB"
    );
    // The budget is a setting.
    drop(server);
    let server = Server::start(
        dir.path(),
        &[("MAX_CONCURRENT_RENDERS", "0"), ("JOB_MAX_MEMORY_MB", "0")],
    );
    server.create_project(&huge_box_text(&filled, 2000.0, 1));
    drop(server);
    let server = Server::start(
        dir.path(),
        &[("MAX_CONCURRENT_RENDERS", "0"), ("JOB_MAX_MEMORY_MB", "1")],
    );
    let (status, body) = server.post("/api/v1/render/projects", &tiny_project("u1", 1.0, 10.0));
    assert_error_body(status, &body, 422, "/api/v1/render/projects");
    assert!(
        body["message"].as_str().unwrap().contains("1 MiB"),
        "{body}"
    );
}

/// The issue's 250-byte project: before, its one frame took the server from ~98 MiB to 2.2 GiB
/// (a 16384² text raster copied into a 16384² atlas page). Its raster now covers the text's ink.
#[test]
fn a_short_text_in_a_huge_box_renders_in_little_memory() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "1")]);
    // Warm-up render: GPU pipelines, encoder, allocator pools.
    let warm = server.create_project(&tiny_project("u1", 0.2, 10.0));
    let id = server.submit(&json!({"projectId": warm}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        server.wait_finished(&id, RENDER_TIMEOUT)["status"],
        "completed"
    );
    let peak_before = mem_mib(server.pid(), "VmHWM");
    let body: Value = serde_json::from_str(
        r#"{"width":320,"height":180,"frameRate":10,"frames":[{"duration":0.1,"layers":[{"type":"text","text":"Hi","x":0,"y":0,"width":30720,"height":30720}]}]}"#,
    )
    .unwrap();
    let pid = server.create_project(&body);
    let id = server.submit(&json!({"projectId": pid}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let job = server.wait_finished(&id, RENDER_TIMEOUT);
    assert_eq!(job["status"], "completed", "{job}");
    let peak_after = mem_mib(server.pid(), "VmHWM");
    eprintln!("peak RSS: {peak_before} MiB after the warm-up, {peak_after} MiB after the render");
    assert!(
        peak_after < peak_before + 128,
        "peak RSS {peak_before} → {peak_after} MiB"
    );
}

/// `ffmpeg -f lavfi -i SOURCE -frames:v 1 OUT`.
fn ffmpeg_still(source: &str, out: &Path) {
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-y",
            "-f",
            "lavfi",
            "-i",
            source,
            "-frames:v",
            "1",
        ])
        .arg(out)
        .status()
        .expect("ffmpeg runs");
    assert!(st.success(), "ffmpeg {source}");
}

#[test]
fn a_large_legitimate_4k_project_validates_and_renders() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "1")]);
    let mut layers = Vec::new();
    for k in 0..6 {
        let name = format!("big{k}.png");
        ffmpeg_still(
            &format!("testsrc2=size=4000x3000,hue=h={}", k * 60),
            &dir.path().join("assets").join(&name),
        );
        layers.push(
            json!({"type": "image", "src": name, "x": 1920, "y": 1080, "width": 3840,
            "height": 2160, "anchor": "center", "fit": "cover", "opacity": 0.5,
            "animations": [{"property": "scale", "from": 1, "to": 1.2, "start": 0, "end": 0.2}]}),
        );
    }
    layers.push(
        json!({"type": "text", "text": "4K title", "size": 300, "x": 1920, "y": 1080,
        "anchor": "center", "width": 3840, "height": 2160}),
    );
    let project = json!({"width": 3840, "height": 2160, "frameRate": 10, "quality": "low",
        "frames": [{"duration": 0.2, "layers": layers}]});
    let started = Instant::now();
    let pid = server.create_project(&project);
    eprintln!(
        "4K project with six 4000x3000 images validated in {:?}",
        started.elapsed()
    );
    let id = server.submit(&json!({"projectId": pid}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let job = server.wait_finished(&id, RENDER_TIMEOUT);
    assert_eq!(job["status"], "completed", "{job}");
    assert_eq!(job["framesTotal"], 2, "{job}");
}

fn submit_raw(server: &Server, project_id: &str) -> (StatusCode, Value, Option<u64>) {
    let r = server
        .client
        .post(server.url("/api/v1/render/jobs"))
        .json(&json!({"projectId": project_id}))
        .send()
        .unwrap();
    let status = r.status();
    let retry = r
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    (status, r.json().unwrap_or(Value::Null), retry)
}

#[test]
fn a_full_queue_answers_503_and_admits_again_as_it_drains() {
    let dir = tempfile::tempdir().unwrap();
    // No workers: jobs stay queued until cancelled.
    let server = Server::start(
        dir.path(),
        &[("MAX_CONCURRENT_RENDERS", "0"), ("MAX_QUEUED_JOBS", "3")],
    );
    let pid = server.create_project(&tiny_project("u1", 1.0, 10.0));
    let mut ids = Vec::new();
    for _ in 0..3 {
        let (s, job, _) = submit_raw(&server, &pid);
        assert_eq!(s, StatusCode::ACCEPTED, "{job}");
        ids.push(job["jobId"].as_str().unwrap().to_string());
    }
    let series = r#"vrender_jobs_refused_total{reason="queue_full"}"#;
    assert_eq!(metric(&server, series), 0.0);
    for n in 1..=2 {
        let (s, body, retry) = submit_raw(&server, &pid);
        assert_error_body(s, &body, 503, "/api/v1/render/jobs");
        assert_eq!(retry, Some(10), "{body}");
        let msg = body["message"].as_str().unwrap();
        assert!(msg.contains("3 jobs waiting, limit 3"), "{msg}");
        assert_eq!(metric(&server, series), n as f64);
    }
    // One job leaves the queue: exactly one more is admitted.
    let (s, _) = server.delete(&format!("/api/v1/render/jobs/{}", ids[0]));
    assert_eq!(s, StatusCode::OK);
    assert_eq!(submit_raw(&server, &pid).0, StatusCode::ACCEPTED);
    assert_eq!(submit_raw(&server, &pid).0, StatusCode::SERVICE_UNAVAILABLE);
    // Status reads still work while full.
    assert_eq!(server.job(&ids[1])["status"], "queued");
}

#[test]
fn the_queue_limit_holds_across_processes_sharing_redis_and_the_store() {
    let redis = common::redis::RedisServer::start();
    let dir = tempfile::tempdir().unwrap();
    let env = [
        ("MAX_CONCURRENT_RENDERS", "0"),
        ("MAX_QUEUED_JOBS", "2"),
        ("REDIS_URL", &redis.url()),
    ];
    let a = Server::start(dir.path(), &env);
    let b = Server::start(dir.path(), &env);
    let pid = a.create_project(&tiny_project("u1", 1.0, 10.0));
    assert_eq!(submit_raw(&a, &pid).0, StatusCode::ACCEPTED);
    assert_eq!(submit_raw(&b, &pid).0, StatusCode::ACCEPTED);
    for s in [&a, &b] {
        let (status, body, retry) = submit_raw(s, &pid);
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(retry, Some(10));
    }
    // A worker drains the queue; both API processes admit again.
    let worker = Server::start_command(
        "worker",
        dir.path(),
        &[
            ("MAX_CONCURRENT_RENDERS", "1"),
            ("REDIS_URL", &redis.url()),
            ("WORKER_PORT", "0"),
        ],
    );
    let deadline = Instant::now() + RENDER_TIMEOUT;
    loop {
        let (s, _, _) = submit_raw(&b, &pid);
        if s == StatusCode::ACCEPTED {
            break;
        }
        assert!(Instant::now() < deadline, "never admitted again");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(worker);
}

#[test]
fn low_disk_refuses_new_jobs_and_degrades_health() {
    let dir = tempfile::tempdir().unwrap();
    // More than any disk here has.
    let server = Server::start(
        dir.path(),
        &[
            ("MAX_CONCURRENT_RENDERS", "0"),
            ("MIN_FREE_DISK_MB", "1000000000"),
        ],
    );
    // Projects are still accepted; jobs are not.
    let pid = server.create_project(&tiny_project("u1", 1.0, 10.0));
    let (s, body, retry) = submit_raw(&server, &pid);
    assert_error_body(s, &body, 503, "/api/v1/render/jobs");
    assert_eq!(retry, Some(60));
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("low on disk space"),
        "{body}"
    );
    assert_eq!(
        metric(&server, r#"vrender_jobs_refused_total{reason="disk_low"}"#),
        1.0
    );
    let (s, health) = server.get("/api/v1/health");
    assert_eq!(s, StatusCode::OK, "{health}");
    assert_eq!(health["status"], "degraded", "{health}");
    assert_eq!(
        health["components"]["disk"]["status"], "degraded",
        "{health}"
    );
    let detail = health["components"]["disk"]["detail"].as_str().unwrap();
    assert!(
        detail.contains("MiB free in") && detail.contains("minimum 1000000000 MiB"),
        "{detail}"
    );
    // With room, health is ok and the disk up.
    drop(server);
    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "0")]);
    let (_, health) = server.get("/api/v1/health");
    assert_eq!(health["components"]["disk"]["status"], "up", "{health}");
    assert_eq!(submit_raw(&server, &pid).0, StatusCode::ACCEPTED);
}

/// Unmounts a tmpfs when dropped.
struct Tmpfs(std::path::PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_disk_that_fills_mid_render_fails_the_job_and_the_server_keeps_serving() {
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    if String::from_utf8_lossy(&uid).trim() != "0" {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let scratch = dir.path().join("tmp");
    std::fs::create_dir_all(&scratch).unwrap();
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=20m", "tmpfs"])
        .arg(&scratch)
        .status()
        .unwrap();
    if !st.success() {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let _mount = Tmpfs(scratch.clone());
    std::fs::create_dir_all(dir.path().join("assets")).unwrap();
    // Two seconds of noise: incompressible, so the render's output is several MiB.
    let st = Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg("nullsrc=s=320x180:r=30,geq=lum='random(1)*255':cb=128:cr=128")
        .args([
            "-t", "2", "-c:v", "libx264", "-crf", "10", "-pix_fmt", "yuv420p",
        ])
        .arg(dir.path().join("assets/noise.mp4"))
        .status()
        .unwrap();
    assert!(st.success());
    let server = Server::start(
        dir.path(),
        &[
            ("MAX_CONCURRENT_RENDERS", "1"),
            ("MIN_FREE_DISK_MB", "1"),
            ("JOB_MAX_ATTEMPTS", "2"),
            ("JOB_RETRY_BACKOFF_MS", "100"),
        ],
    );
    let project = json!({"width": 320, "height": 180, "frameRate": 30, "quality": "ultra",
        "frames": [{"duration": 2, "layers": [{"type": "video", "src": "noise.mp4"}]}]});
    let pid = server.create_project(&project);
    // Leave 1.5 MiB: above the minimum (the job is admitted), below what the output needs.
    let filler = scratch.join("filler");
    let free = vrender_free_bytes(&scratch);
    write_zeros(&filler, free - 1536 * 1024);
    let id = server.submit(&json!({"projectId": pid}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let job = server.wait_finished(&id, RENDER_TIMEOUT);
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["attempts"], 2, "retried once: {job}");
    assert!(
        job["error"].as_str().unwrap().starts_with("disk full"),
        "{job}"
    );
    assert_eq!(
        metric(&server, r#"vrender_job_failures_total{reason="disk_full"}"#),
        2.0
    );
    let left: Vec<_> = common::files_under(&scratch)
        .into_iter()
        .filter(|p| p != &filler)
        .collect();
    assert!(left.is_empty(), "partial files left: {left:?}");
    let (s, _) = server.get("/api/v1/health");
    assert_eq!(s, StatusCode::OK);
    // Room again: the same project renders.
    std::fs::remove_file(&filler).unwrap();
    let id = server.submit(&json!({"projectId": pid}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        server.wait_finished(&id, RENDER_TIMEOUT)["status"],
        "completed"
    );
}

fn vrender_free_bytes(path: &Path) -> u64 {
    let out = Command::new("df")
        .args(["--output=avail", "-B1"])
        .arg(path)
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .nth(1)
        .and_then(|l| l.trim().parse().ok())
        .unwrap()
}

fn write_zeros(path: &Path, bytes: u64) {
    use std::io::Write;
    let mut f = std::fs::File::create(path).unwrap();
    let chunk = vec![0u8; 1 << 16];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).unwrap();
        left -= n as u64;
    }
    f.sync_all().unwrap();
}
