//! Job lifecycle over real HTTP with real renders (software Vulkan + ffmpeg): full flow with ffprobe,
//! cancel (queued and running), signed callbacks to a real local listener, restart recovery.

use crate::common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{ffprobe, tiny_project, Server};
use hmac::{Hmac, Mac};
use reqwest::StatusCode;
use serde_json::{json, Value};
use sha2::Sha256;

const RENDER_TIMEOUT: Duration = Duration::from_secs(180);

#[test]
fn full_flow_renders_and_downloads_a_video() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let project = server.create_project(&tiny_project("u-flow", 1.0, 10.0));
    let job = server.submit(&json!({"projectId": project, "priority": 7, "outputFormat": "mp4"}));
    assert_eq!(job["status"], "queued", "{job}");
    assert_eq!(job["priority"], 7);
    assert_eq!(job["userId"], "u-flow");
    let id = job["jobId"].as_str().unwrap();

    let done = server.wait_finished(id, RENDER_TIMEOUT);
    assert_eq!(done["status"], "completed", "{done}\n{}", server.log_tail());
    assert_eq!(done["progress"], 100.0);
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["framesTotal"], 10, "{done}");
    let url = done["outputUrl"].as_str().expect("outputUrl");
    assert!(
        url.starts_with(&server.base) && url.contains("signature="),
        "{url}"
    );

    let resp = server.client.get(url).send().unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "video/mp4");
    let bytes = resp.bytes().unwrap();
    let file = dir.path().join("download.mp4");
    std::fs::write(&file, &bytes).unwrap();
    let probe = ffprobe(&file);
    let video = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("video stream");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["width"], 64);
    assert_eq!(video["height"], 64);
    assert_eq!(video["nb_read_frames"], "10", "{probe}");

    // A tampered link is refused; nothing is left in the scratch folder.
    let (s, _) = server.get(&url[server.base.len()..].replace("signature=", "signature=0"));
    assert_eq!(s, StatusCode::FORBIDDEN);
    assert!(
        server.scratch_files().is_empty(),
        "{:?}",
        server.scratch_files()
    );
    // Cancelling a finished job is a conflict.
    let (s, body) = server.delete(&format!("/api/v1/render/jobs/{id}"));
    assert_eq!(s, StatusCode::CONFLICT, "{body}");
}

#[test]
fn cancel_queued_and_running_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "1")]);
    // Long enough to still be running when cancelled: 600 s at 30 fps.
    let long = server.create_project(&tiny_project("u-cancel", 600.0, 30.0));
    let running = server.submit(&json!({"projectId": long}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let queued = server.submit(&json!({"projectId": long, "priority": 1}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();

    let job = server.wait_for(&running, RENDER_TIMEOUT, |j| {
        j["status"] == "processing" && j["progress"].as_f64() > Some(0.0)
    });
    assert!(job["currentPhase"].is_string(), "{job}");
    assert!(job["progress"].as_f64().unwrap() > 0.0, "{job}");
    assert!(job["estimatedTimeRemaining"].as_f64().is_some(), "{job}");
    assert_eq!(server.job(&queued)["status"], "queued");

    // The queued job never starts.
    let (s, cancelled) = server.delete(&format!("/api/v1/render/jobs/{queued}"));
    assert_eq!(s, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");

    // The running job stops within a second and leaves no temporary files.
    assert!(
        !server.scratch_files().is_empty(),
        "a running render has scratch files"
    );
    let t = Instant::now();
    let (s, cancelled) = server.delete(&format!("/api/v1/render/jobs/{running}"));
    assert_eq!(s, StatusCode::OK, "{cancelled}");
    assert_eq!(cancelled["status"], "cancelled");
    loop {
        let (_, health) = server.get("/api/v1/health");
        if health["runningRenders"] == 0 && server.scratch_files().is_empty() {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(1),
            "render still running {:?} after cancel: {health}",
            t.elapsed()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    let after = server.job(&running);
    assert_eq!(after["status"], "cancelled");
    assert!(after.get("outputUrl").is_none());
    let q = server.job(&queued);
    assert_eq!(q["status"], "cancelled");
    assert_eq!(q["attempts"], 0, "the queued job never started: {q}");
    assert_eq!(
        server.delete(&format!("/api/v1/render/jobs/{queued}")).0,
        StatusCode::CONFLICT
    );
}

/// A real HTTP listener (axum on its own runtime) that fails the first delivery with 503.
/// (X-Signature header, body) of one delivered callback.
type Delivery = (Option<String>, Vec<u8>);

fn callback_listener() -> (String, mpsc::Receiver<Delivery>) {
    use axum::http::{HeaderMap, StatusCode as S};
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;
    let (tx, rx) = mpsc::channel();
    let (addr_tx, addr_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let calls = Arc::new(AtomicU32::new(0));
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |headers: HeaderMap, body: axum::body::Bytes| {
                    let tx = tx.clone();
                    let calls = calls.clone();
                    async move {
                        if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                            return S::SERVICE_UNAVAILABLE;
                        }
                        let sig = headers
                            .get("x-signature")
                            .and_then(|v| v.to_str().ok())
                            .map(String::from);
                        let _ = tx.send((sig, body.to_vec()));
                        S::OK
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    (format!("http://{addr}/hook"), rx)
}

#[test]
fn callback_is_signed_and_retried() {
    let dir = tempfile::tempdir().unwrap();
    let secret = "test-secret";
    let server = Server::start(
        dir.path(),
        &[
            ("CALLBACK_SECRET", secret),
            ("ALLOW_PRIVATE_CALLBACKS", "true"),
            ("CALLBACK_RETRY_BASE_MS", "100"),
        ],
    );
    let (hook, received) = callback_listener();
    let project = server.create_project(&tiny_project("u-cb", 0.5, 10.0));
    let id = server.submit(&json!({"projectId": project, "callbackUrl": hook}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let (sig, body) = received.recv_timeout(RENDER_TIMEOUT).expect("callback");
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(&body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    assert_eq!(sig.as_deref(), Some(expected.as_str()), "signature");
    let status: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status["jobId"], id);
    assert_eq!(status["status"], "completed", "{status}");
    assert!(status["outputUrl"].is_string());
    let job = server.wait_for(&id, Duration::from_secs(10), |j| {
        j["callback"]["delivered"] == true
    });
    assert_eq!(job["callback"]["attempts"], 2, "{job}");
}

#[test]
fn restart_requeues_interrupted_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "1")]);
    // Long enough to be mid-render when the server is killed, short enough to finish afterwards.
    let project = server.create_project(&tiny_project("u-restart", 60.0, 30.0));
    let interrupted = server.submit(&json!({"projectId": project}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let waiting = server.submit(&json!({"projectId": project, "priority": 1}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    server.wait_for(&interrupted, RENDER_TIMEOUT, |j| {
        j["status"] == "processing" && j["framesDone"].as_u64() > Some(0)
    });
    server.kill();

    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "1")]);
    let j = server.job(&interrupted);
    assert!(
        matches!(
            j["status"].as_str(),
            Some("queued" | "processing" | "completed")
        ),
        "{j}"
    );
    assert!(
        j["error"].as_str().unwrap_or("").contains("restart") || j["status"] != "queued",
        "{j}"
    );
    let done = server.wait_finished(&interrupted, RENDER_TIMEOUT);
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["attempts"], 2, "{done}");
    let done = server.wait_finished(&waiting, RENDER_TIMEOUT);
    assert_eq!(done["status"], "completed", "{done}");
    assert!(server.scratch_files().is_empty());
}
