//! Test harness: the real `vrender serve` binary on an ephemeral port with a temporary data folder,
//! driven over real HTTP.
#![allow(dead_code)]

pub mod redis;
pub mod s3;
pub mod video;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Settings the harness controls; cleared from the inherited environment.
const SETTINGS: &[&str] = &[
    "PORT",
    "HOST",
    "PUBLIC_BASE_URL",
    "DATA_DIR",
    "ASSET_ROOTS",
    "MAX_CONCURRENT_RENDERS",
    "JOB_MAX_ATTEMPTS",
    "JOB_RETRY_BACKOFF_MS",
    "PROGRESS_INTERVAL_MS",
    "CHUNK_THRESHOLD_SECONDS",
    "CHUNK_SECONDS",
    "CALLBACK_SECRET",
    "ALLOW_PRIVATE_CALLBACKS",
    "CALLBACK_MAX_ATTEMPTS",
    "CALLBACK_RETRY_BASE_MS",
    "CALLBACK_TIMEOUT_MS",
    "SIGNED_URL_EXPIRY_SECS",
    "URL_SIGNING_SECRET",
    "BODY_LIMIT_BYTES",
    "GPU_ADAPTER",
    "FFMPEG_PATH",
    "MONGODB_URI",
    "REDIS_URL",
    "S3_BUCKET",
    "S3_ENDPOINT",
    "S3_REGION",
    "S3_FORCE_PATH_STYLE",
    "S3_PREFIX",
    "S3_PART_SIZE_MB",
    "S3_PROGRESSIVE_UPLOAD",
    "S3_ASSET_BUCKETS",
    "S3_TIMEOUT_SECS",
    "S3_ASSET_MAX_MB",
    "CLOUDWATCH_EMF",
    "CLOUDWATCH_EMF_INTERVAL_SECS",
    "LOG_FORMAT",
    "API_KEYS",
    "API_KEYS_FILE",
    "JWT_SECRET",
    "JWT_ISSUER",
    "JWT_AUDIENCE",
    "RATE_LIMIT_PER_SECOND",
    "RATE_LIMIT_BURST",
    "JSON_MAX_DEPTH",
    "JSON_MAX_ARRAY_LEN",
    "QUOTA_MAX_CONCURRENT_JOBS",
    "QUOTA_JOBS_PER_DAY",
    "QUOTA_RENDER_MINUTES_PER_MONTH",
    "QUOTA_MAX_RESOLUTION",
    "QUOTA_DAY_SECONDS",
    "QUOTA_OVERRIDES",
    "JWT_PUBLIC_KEY_FILE",
    "JWT_JWKS_FILE",
    "TRUST_PROXY_HEADERS",
    "ERROR_WEBHOOK_URL",
    "ERROR_WEBHOOK_TIMEOUT_MS",
    "LEASE_TTL_MS",
    "QUEUE_MAX_DELIVERIES",
    "SQLITE_PATH",
    "WORKER_PORT",
    "PREVIEW_CONCURRENCY",
    "PREVIEW_CACHE_ENTRIES",
    "JOB_MAX_MEMORY_MB",
    "MAX_QUEUED_JOBS",
    "MIN_FREE_DISK_MB",
];

pub struct Server {
    child: Child,
    pub base: String,
    pub data_dir: PathBuf,
    pub log: PathBuf,
    pub client: Client,
}

impl Server {
    /// Starts `vrender serve` on `data_dir` (assets in `<data_dir>/assets`) with extra settings.
    pub fn start(data_dir: &Path, env: &[(&str, &str)]) -> Server {
        Server::start_command("serve", data_dir, env)
    }

    /// Starts `vrender <command>` (`serve`, or `worker` with `WORKER_PORT` set) like [`Server::start`].
    pub fn start_command(command: &str, data_dir: &Path, env: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(data_dir.join("assets")).unwrap();
        let log = data_dir.join(format!(
            "server-{}.log",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_vrender"));
        cmd.arg(command);
        for k in SETTINGS {
            cmd.env_remove(k);
        }
        cmd.env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("DATA_DIR", data_dir)
            .env("RUST_LOG", "info")
            .env("PROGRESS_INTERVAL_MS", "100")
            // Long test jobs render in one piece unless a test asks for chunks (tests/chunks.rs).
            .env("CHUNK_THRESHOLD_SECONDS", "0");
        for (k, v) in env {
            cmd.env(k, v);
        }
        cmd.stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap());
        let mut child = cmd.spawn().expect("spawn vrender");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(addr) = line.strip_prefix("listening on ") {
                    let _ = tx.send(addr.to_string());
                }
            }
        });
        let base = match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(b) => b,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "server did not start; log:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
        };
        let client = Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Server {
            child,
            base,
            data_dir: data_dir.to_path_buf(),
            log,
            client,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn get(&self, path: &str) -> (StatusCode, Value) {
        let r = self.client.get(self.url(path)).send().unwrap();
        let status = r.status();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn post(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let r = self.client.post(self.url(path)).json(body).send().unwrap();
        let status = r.status();
        (status, r.json().unwrap_or(Value::Null))
    }

    pub fn delete(&self, path: &str) -> (StatusCode, Value) {
        let r = self.client.delete(self.url(path)).send().unwrap();
        let status = r.status();
        (status, r.json().unwrap_or(Value::Null))
    }

    /// Creates a project; returns its id.
    pub fn create_project(&self, project: &Value) -> String {
        let (s, body) = self.post("/api/v1/render/projects", project);
        assert_eq!(s, StatusCode::CREATED, "{body}");
        body["projectId"].as_str().unwrap().to_string()
    }

    pub fn submit(&self, body: &Value) -> Value {
        let (s, job) = self.post("/api/v1/render/jobs", body);
        assert_eq!(s, StatusCode::ACCEPTED, "{job}");
        job
    }

    pub fn job(&self, id: &str) -> Value {
        let (s, job) = self.get(&format!("/api/v1/render/jobs/{id}"));
        assert_eq!(s, StatusCode::OK, "{job}");
        job
    }

    /// Polls a job until `done` holds or `timeout` passes.
    pub fn wait_for(&self, id: &str, timeout: Duration, done: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            let job = self.job(id);
            if done(&job) {
                return job;
            }
            if start.elapsed() > timeout {
                panic!(
                    "job {id} did not get there in {timeout:?}: {job}\nlog tail:\n{}",
                    self.log_tail()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn wait_finished(&self, id: &str, timeout: Duration) -> Value {
        self.wait_for(id, timeout, |j| {
            matches!(
                j["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
        })
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGKILL: no graceful shutdown.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Files left in the scratch folder.
    pub fn scratch_files(&self) -> Vec<PathBuf> {
        files_under(&self.data_dir.join("tmp"))
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The SHA-256 hash (hex) of an API key, as `API_KEYS` and `API_KEYS_FILE` hold keys.
pub fn key_hash(key: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(key.as_bytes()))
}

/// `API_KEYS` for (key, userId) pairs.
pub fn api_keys(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(key, user)| format!("{}:{user}", key_hash(key)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A small valid project: 64x64, `seconds` long at `fps`, a moving square and a text.
pub fn tiny_project(user: &str, seconds: f64, fps: f64) -> Value {
    json!({
        "userId": user,
        "title": "test",
        "width": 64,
        "height": 64,
        "frameRate": fps,
        "quality": "low",
        "frames": [{
            "duration": seconds,
            "background": "#203040",
            "layers": [
                {"type": "shape", "shape": "rect", "x": 4, "y": 4, "width": 20, "height": 20, "fill": "#ff3300",
                 "animations": [{"property": "x", "from": 0, "to": 40, "start": 0, "end": seconds}]},
                {"type": "text", "text": "hi", "size": 16, "color": "#ffffff", "x": 8, "y": 36}
            ]
        }]
    })
}

/// Asserts the common error body and returns it.
pub fn assert_error_body(status: StatusCode, body: &Value, expected: u16, path_prefix: &str) {
    assert_eq!(status.as_u16(), expected, "{body}");
    assert_eq!(body["statusCode"], expected, "{body}");
    for key in ["error", "message", "path", "timestamp", "requestId"] {
        assert!(body[key].is_string(), "missing {key}: {body}");
    }
    assert!(
        body["path"].as_str().unwrap().starts_with(path_prefix),
        "{body}"
    );
    assert!(!body["requestId"].as_str().unwrap().is_empty(), "{body}");
}

/// The `details[].path` values of an error body.
pub fn detail_paths(body: &Value) -> Vec<String> {
    body["details"]
        .as_array()
        .map(|d| {
            d.iter()
                .filter_map(|x| x["path"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// ffprobe's view of a media file: streams (with counted frames) and format, as JSON.
pub fn ffprobe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-show_streams",
            "-show_format",
            "-of",
            "json",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs");
    assert!(
        out.status.success(),
        "ffprobe failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A log line without its terminal colour codes.
pub fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters final-letter
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Files under `dir`, recursively (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        if let Ok(rd) = std::fs::read_dir(&d) {
            for e in rd.flatten() {
                if e.path().is_dir() {
                    stack.push(e.path());
                } else {
                    out.push(e.path());
                }
            }
        }
    }
    out
}
