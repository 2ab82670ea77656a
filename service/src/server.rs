//! Wires the service together (store → queue → orchestrator → storage → API) and runs it.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use crate::api::{self, AppState};
use crate::config::Settings;
use crate::orchestrator::{EngineState, Orchestrator};
use crate::queue::MemoryQueue;
use crate::storage::{LocalStorage, StorageError};
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Storage(#[from] StorageError),
    #[error(transparent)]
    Auth(#[from] crate::auth::AuthConfigError),
    #[error("startup recovery: {0}")]
    Recovery(#[from] crate::orchestrator::OrchestratorError),
}

fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServeError {
    let context = context.into();
    move |source| ServeError::Io { context, source }
}

/// The key of download links: the setting, else a random key kept in the data folder so links
/// survive restarts.
fn signing_secret(settings: &Settings) -> Result<Vec<u8>, ServeError> {
    if let Some(s) = &settings.url_signing_secret {
        return Ok(s.as_bytes().to_vec());
    }
    let path = settings.data_dir.join("signing.key");
    if let Ok(existing) = std::fs::read(&path) {
        if existing.len() >= 32 {
            return Ok(existing);
        }
    }
    let key: [u8; 32] = rand::random();
    let text = hex::encode(key).into_bytes();
    write_private(&path, &text).map_err(io(format!("write {}", path.display())))?;
    Ok(text)
}

fn write_private(path: &Path, data: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    opts.mode(0o600);
    opts.open(path)?.write_all(data)
}

/// Runs the service until `shutdown` resolves. Prints `listening on http://ADDR` to stdout once the
/// socket is bound (tests and scripts read it to learn the port when `PORT=0`).
pub async fn serve(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let started = Instant::now();
    crate::error_report::install_from_settings(&settings);
    let present = settings.distributed_settings_present();
    if !present.is_empty() {
        tracing::warn!(
            settings = ?present,
            "distributed mode (MongoDB/Redis/S3) is not implemented yet; running on embedded defaults"
        );
    }
    if settings.callback_secret.is_none() {
        tracing::warn!(
            "CALLBACK_SECRET is not set: callbacks are sent without an X-Signature header"
        );
    }
    let data = &settings.data_dir;
    std::fs::create_dir_all(data).map_err(io(format!("create {}", data.display())))?;
    for root in &settings.asset_roots {
        if !root.is_dir() {
            tracing::warn!(root = %root.display(), "asset root does not exist; projects using it are rejected");
        }
    }
    let secret = signing_secret(&settings)?;
    let auth = Arc::new(crate::auth::Auth::from_settings(&settings)?);
    if auth.enabled() {
        tracing::info!("authentication on (API keys / JWT)");
    } else {
        tracing::warn!("authentication is off: set API_KEYS, API_KEYS_FILE or JWT_SECRET before exposing the service");
    }
    let limiter = crate::auth::Limiter::from_settings(&settings);
    let store = crate::store::from_settings(&settings).await?;

    let addr = SocketAddr::new(settings.host, settings.port);
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(io(format!("bind {addr}")))?;
    let local = listener.local_addr().map_err(io("local address"))?;
    let base_url = settings.public_base_url.clone().unwrap_or_else(|| {
        let ip = if local.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            local.ip()
        };
        format!("http://{}", SocketAddr::new(ip, local.port()))
    });
    let local_storage = Arc::new(LocalStorage::new(
        data.join("outputs"),
        base_url.clone(),
        secret,
    )?);
    let queue = Arc::new(MemoryQueue::new());

    let engine = EngineState::open(&settings).await;
    match &engine {
        EngineState::Ready(e) => {
            let gpu = crate::orchestrator::describe_gpu(e);
            crate::metrics::metrics()
                .gpu_adapter
                .with_label_values(&[gpu.as_str()])
                .set(1.0);
            tracing::info!(%gpu, "render engine ready")
        }
        EngineState::Failed(why) => {
            crate::metrics::metrics()
                .gpu_adapter
                .with_label_values(&["none"])
                .set(1.0);
            tracing::error!(error = %why, "render engine unavailable; jobs will fail")
        }
    }

    let settings = Arc::new(settings);
    let orchestrator = Arc::new(Orchestrator::new(
        (*settings).clone(),
        store.clone(),
        store.clone(),
        queue.clone(),
        local_storage.clone(),
        engine,
    ));
    let recovery = orchestrator.recover().await?;
    tracing::info!(
        requeued = recovery.requeued,
        failed = recovery.failed,
        resubmitted = recovery.resubmitted,
        "startup recovery done"
    );
    let workers = orchestrator.spawn_workers();

    let state = AppState {
        settings: settings.clone(),
        projects: store.clone(),
        quotas: Arc::new(crate::quota::Quotas::new(
            settings.quotas.clone(),
            store.clone(),
        )),
        jobs: store,
        queue,
        storage: local_storage.clone(),
        local_files: Some(local_storage),
        orchestrator: orchestrator.clone(),
        ffmpeg: Arc::new(api::health::FfmpegProbe::new(settings.ffmpeg.clone())),
        started,
        auth,
        limiter,
    };
    let app = api::router(state);
    tracing::info!(%local, %base_url, workers = workers.len(), "listening");
    println!("listening on http://{local}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(io("serve"))?;
    tracing::info!("shutting down");
    orchestrator.shutdown().await;
    for w in workers {
        let _ = tokio::time::timeout(std::time::Duration::from_secs(5), w).await;
    }
    Ok(())
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}
