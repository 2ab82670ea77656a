//! `GET /api/v1/health`: store, queue, storage, ffmpeg and GPU; 503 when one is down.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::AppState;
use crate::jobs::EngineState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
const FFMPEG_CACHE: Duration = Duration::from_secs(30);

/// One dependency's state.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComponentHealth {
    /// `up`, `degraded` (the disk only) or `down`
    pub status: String,
    /// What was found (a version, a count) or what went wrong.
    pub detail: String,
}

impl ComponentHealth {
    fn up(detail: impl Into<String>) -> Self {
        ComponentHealth {
            status: "up".into(),
            detail: detail.into(),
        }
    }
    fn down(detail: impl Into<String>) -> Self {
        ComponentHealth {
            status: "down".into(),
            detail: detail.into(),
        }
    }
    /// Working, but short of something (the disk below `MIN_FREE_DISK_MB`): the report says
    /// `degraded` while the answer stays 200, since status reads and downloads still work.
    fn degraded(detail: impl Into<String>) -> Self {
        ComponentHealth {
            status: "degraded".into(),
            detail: detail.into(),
        }
    }
    fn is_up(&self) -> bool {
        self.status == "up"
    }
    fn is_down(&self) -> bool {
        self.status == "down"
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    /// `ok`, or `degraded` when a component is not up (the answer is 503 only when one is down)
    pub status: String,
    pub version: String,
    /// `distributed` when `REDIS_URL`, `MONGODB_URI` or `S3_BUCKET` is set, else `embedded`
    pub mode: String,
    pub uptime_seconds: u64,
    pub running_renders: usize,
    /// store, queue, storage, ffmpeg, gpu, disk
    pub components: BTreeMap<String, ComponentHealth>,
}

/// Caches `ffmpeg -version` (spawning it on every probe would be wasteful).
pub struct FfmpegProbe {
    binary: PathBuf,
    cached: Mutex<Option<(Instant, ComponentHealth)>>,
}

impl FfmpegProbe {
    pub fn new(binary: Option<PathBuf>) -> Self {
        FfmpegProbe {
            binary: binary.unwrap_or_else(|| "ffmpeg".into()),
            cached: Mutex::new(None),
        }
    }

    async fn check(&self) -> ComponentHealth {
        if let Some((at, h)) = self
            .cached
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
        {
            if at.elapsed() < FFMPEG_CACHE {
                return h.clone();
            }
        }
        let out = tokio::process::Command::new(&self.binary)
            .arg("-version")
            .kill_on_drop(true)
            .output()
            .await;
        let h = match out {
            Ok(o) if o.status.success() => {
                let text = String::from_utf8_lossy(&o.stdout);
                ComponentHealth::up(text.lines().next().unwrap_or("ffmpeg").to_string())
            }
            Ok(o) => ComponentHealth::down(format!(
                "`{} -version` exited with {}",
                self.binary.display(),
                o.status
            )),
            Err(e) => ComponentHealth::down(format!("cannot run {}: {e}", self.binary.display())),
        };
        *self.cached.lock().unwrap_or_else(|p| p.into_inner()) = Some((Instant::now(), h.clone()));
        h
    }
}

async fn timed<F: Future<Output = ComponentHealth>>(f: F) -> ComponentHealth {
    tokio::time::timeout(CHECK_TIMEOUT, f)
        .await
        .unwrap_or_else(|_| ComponentHealth::down("timed out"))
}

/// Service health.
#[utoipa::path(
    get,
    path = "/api/v1/health",
    tag = "health",
    responses(
        (status = 200, description = "Everything is up, or only the disk is low (`status: degraded`, the disk component says how much is free)", body = HealthReport),
        (status = 503, description = "A component is down", body = HealthReport),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthReport>) {
    let store = timed(async {
        match state.jobs.ping().await {
            Ok(()) => ComponentHealth::up(if state.settings.mongodb_uri.is_some() {
                "mongodb"
            } else {
                "sqlite"
            }),
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    });
    let queue = timed(async {
        match state.queue.waiting().await {
            Ok(n) => ComponentHealth::up(format!(
                "{}, {n} waiting",
                if state.settings.redis_url.is_some() {
                    "redis"
                } else {
                    "in-process"
                }
            )),
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    });
    let storage = timed(async {
        match state.storage.ping().await {
            Ok(()) => ComponentHealth::up(match (&state.local_files, &state.settings.s3_bucket) {
                (None, Some(bucket)) => format!("s3 bucket {bucket}"),
                _ => "local disk".to_string(),
            }),
            Err(e) => ComponentHealth::down(e.to_string()),
        }
    });
    let ffmpeg = timed(state.ffmpeg.check());
    let (store, queue, storage, ffmpeg) = tokio::join!(store, queue, storage, ffmpeg);
    let gpu = match state.orchestrator.engine() {
        // An API-only process (`vrender serve` with MAX_CONCURRENT_RENDERS=0) needs no GPU.
        _ if state.orchestrator.settings().max_concurrent_renders == 0 => {
            ComponentHealth::up("not used: API only (MAX_CONCURRENT_RENDERS=0)")
        }
        EngineState::Ready(engine) => ComponentHealth::up(crate::jobs::describe_gpu(engine)),
        EngineState::Failed(why) => ComponentHealth::down(why.clone()),
    };
    let disk = disk_health(&state.capacity);
    let components: BTreeMap<String, ComponentHealth> = [
        ("disk", disk),
        ("store", store),
        ("queue", queue),
        ("storage", storage),
        ("ffmpeg", ffmpeg),
        ("gpu", gpu),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let all_up = components.values().all(ComponentHealth::is_up);
    let any_down = components.values().any(ComponentHealth::is_down);
    let report = HealthReport {
        status: if all_up { "ok" } else { "degraded" }.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        mode: if state.settings.redis_url.is_some()
            || state.settings.mongodb_uri.is_some()
            || state.settings.s3_bucket.is_some()
        {
            "distributed"
        } else {
            "embedded"
        }
        .into(),
        uptime_seconds: state.started.elapsed().as_secs(),
        running_renders: state.orchestrator.running(),
        components,
    };
    (
        if any_down {
            StatusCode::SERVICE_UNAVAILABLE
        } else {
            StatusCode::OK
        },
        Json(report),
    )
}

/// Free space of `DATA_DIR` and its scratch folder against `MIN_FREE_DISK_MB`.
fn disk_health(capacity: &crate::policy::capacity::Capacity) -> ComponentHealth {
    let min_mb = capacity.settings().min_free_disk_mb;
    let mut parts = Vec::new();
    let mut low = false;
    for d in capacity.disks() {
        match d {
            Ok(d) => {
                let mb = d.free_bytes / (1024 * 1024);
                low |= d.free_bytes < capacity.min_free_bytes();
                parts.push(format!("{mb} MiB free in {}", d.path.display()));
            }
            Err(e) => return ComponentHealth::down(format!("cannot read free disk space: {e}")),
        }
    }
    let detail = format!("{} (minimum {min_mb} MiB)", parts.join(", "));
    if low {
        ComponentHealth::degraded(format!("low: {detail}; new jobs are refused"))
    } else {
        ComponentHealth::up(detail)
    }
}
