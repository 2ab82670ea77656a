//! Wires the service together (store → queue → orchestrator → storage → API) and runs it: one
//! shared [`Runtime`] and two entry points, [`serve`] (REST API + optional local workers) and
//! [`work`] (workers only, for `vrender worker`).

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use tokio::net::TcpListener;

use crate::api::{self, AppState};
use crate::config::Settings;
use crate::jobs::{EngineState, Orchestrator};
use crate::queue::{Queue, QueueError};
use crate::storage::{LocalStorage, Storage, StorageError};
use crate::store::{Store, StoreError};

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
    Auth(#[from] crate::api::auth::AuthConfigError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    #[error("startup recovery: {0}")]
    Recovery(#[from] crate::jobs::OrchestratorError),
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

/// What `vrender serve` and `vrender worker` share: the stores, the queue, the storage, the engine
/// and the orchestrator with its workers running.
pub struct Runtime {
    pub settings: Arc<Settings>,
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub storage: Arc<dyn Storage>,
    /// The local storage when outputs are on local disk (serves `/files/...`); `None` with S3.
    pub local_files: Option<Arc<LocalStorage>>,
    pub orchestrator: Arc<Orchestrator>,
    pub workers: Vec<tokio::task::JoinHandle<()>>,
    pub started: Instant,
}

impl Runtime {
    /// Builds everything and starts `workers` render workers (0: none).
    async fn start(
        settings: Settings,
        base_url: String,
        workers: usize,
        started: Instant,
    ) -> Result<Runtime, ServeError> {
        crate::error_report::install_from_settings(&settings);
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
        let store = crate::store::from_settings(&settings).await?;
        let (storage, local_files) =
            crate::storage::from_settings(&settings, base_url, secret).await?;
        if local_files.is_none() {
            tracing::info!("storage: S3");
        }
        let (queue, cancels) = crate::queue::from_settings(&settings, store.clone()).await?;
        if let Some(sink) = &settings.cloudwatch_emf {
            tracing::info!(?sink, "publishing the queue depth as CloudWatch EMF lines");
            crate::emf::spawn(
                sink.clone(),
                settings.cloudwatch_emf_interval,
                queue.clone(),
            );
        }
        if cancels.is_some() {
            tracing::info!("queue: Redis (leases, cancel broadcast)");
        }

        let engine = if workers > 0 {
            EngineState::open(&settings).await
        } else {
            // API-only: no GPU needed; /health reports the engine as not started here.
            EngineState::Failed(
                "no render workers in this process (MAX_CONCURRENT_RENDERS=0)".into(),
            )
        };
        match &engine {
            EngineState::Ready(e) => {
                let gpu = crate::jobs::describe_gpu(e);
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
                if workers > 0 {
                    tracing::error!(error = %why, "render engine unavailable; jobs will fail")
                }
            }
        }

        let mut run = settings.clone();
        run.max_concurrent_renders = workers;
        let orchestrator = Arc::new(Orchestrator::new(
            run,
            store.clone(),
            store.clone(),
            queue.clone(),
            storage.clone(),
            engine,
        ));
        if let Some(bus) = &cancels {
            orchestrator.set_cancel_bus(bus.clone());
            if workers > 0 {
                let o = Arc::downgrade(&orchestrator);
                bus.subscribe_cancels(Box::new(move |id| {
                    if let Some(o) = o.upgrade() {
                        o.cancel_local(id);
                    }
                }))
                .await?;
            }
        }
        let recovery = orchestrator.recover().await?;
        tracing::info!(
            requeued = recovery.requeued,
            failed = recovery.failed,
            resubmitted = recovery.resubmitted,
            "startup recovery done"
        );
        let workers = orchestrator.spawn_workers();
        Ok(Runtime {
            settings: Arc::new(settings),
            store,
            queue,
            storage,
            local_files,
            orchestrator,
            workers,
            started,
        })
    }

    fn app_state(&self) -> Result<AppState, ServeError> {
        let settings = &self.settings;
        Ok(AppState {
            settings: settings.clone(),
            projects: self.store.clone(),
            quotas: Arc::new(crate::policy::quota::Quotas::new(
                settings.quotas.clone(),
                self.store.clone(),
            )),
            jobs: self.store.clone(),
            batches: self.store.clone(),
            queue: self.queue.clone(),
            storage: self.storage.clone(),
            local_files: self.local_files.clone(),
            orchestrator: self.orchestrator.clone(),
            ffmpeg: Arc::new(api::health::FfmpegProbe::new(settings.ffmpeg.clone())),
            started: self.started,
            auth: Arc::new(crate::api::auth::Auth::from_settings(settings)?),
            limiter: crate::api::auth::Limiter::from_settings(settings),
            capacity: Arc::new(crate::policy::capacity::Capacity::new(
                settings.capacity.clone(),
                &settings.data_dir,
            )),
            previews: Arc::new(crate::preview::PreviewCache::new(
                settings.preview_cache_entries,
                settings.preview_concurrency,
            )),
        })
    }

    /// Stops the workers (their running jobs go back to `queued`) and waits a little for them.
    async fn stop(self) {
        tracing::info!("shutting down");
        self.orchestrator.shutdown().await;
        for w in self.workers {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), w).await;
        }
    }
}

async fn bind(settings: &Settings, port: u16) -> Result<(TcpListener, SocketAddr), ServeError> {
    let addr = SocketAddr::new(settings.host, port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(io(format!("bind {addr}")))?;
    let local = listener.local_addr().map_err(io("local address"))?;
    Ok((listener, local))
}

/// `PUBLIC_BASE_URL`, else the bound address (`127.0.0.1` when bound to all interfaces).
fn base_url(settings: &Settings, local: SocketAddr) -> String {
    settings.public_base_url.clone().unwrap_or_else(|| {
        let ip = if local.ip().is_unspecified() {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            local.ip()
        };
        format!("http://{}", SocketAddr::new(ip, local.port()))
    })
}

/// `vrender serve`: the REST API plus `MAX_CONCURRENT_RENDERS` local workers (0: API only, the
/// workers run as `vrender worker` on the Redis queue), until `shutdown` resolves. Prints
/// `listening on http://ADDR` to stdout once the socket is bound (tests and scripts read it to
/// learn the port when `PORT=0`).
pub async fn serve(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let started = Instant::now();
    let (listener, local) = bind(&settings, settings.port).await?;
    let base = base_url(&settings, local);
    let workers = settings.max_concurrent_renders;
    let rt = Runtime::start(settings, base.clone(), workers, started).await?;
    let state = rt.app_state()?;
    if state.auth.enabled() {
        tracing::info!("authentication on (API keys / JWT)");
    } else {
        tracing::warn!("authentication is off: set API_KEYS, API_KEYS_FILE or JWT_SECRET before exposing the service");
    }
    tracing::info!(%local, base_url = %base, workers = rt.workers.len(), "listening");
    serve_router(listener, local, api::router(state), shutdown).await?;
    rt.stop().await;
    Ok(())
}

/// Serves `app` on `listener` until `shutdown` resolves; prints `listening on http://ADDR` first
/// (tests and scripts read it to learn the port when it is 0).
async fn serve_router(
    listener: TcpListener,
    local: SocketAddr,
    app: axum::Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    println!("listening on http://{local}");
    axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
    .map_err(io("serve"))
}

/// `vrender worker`: render workers on the shared queue (`REDIS_URL`) and store, no public API;
/// with `WORKER_PORT`, a listener for `/api/v1/health` and `/metrics` only. Prints
/// `worker ready` (and `listening on http://ADDR` with a port) to stdout once it takes jobs.
pub async fn work(
    settings: Settings,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let started = Instant::now();
    if settings.redis_url.is_none() {
        tracing::warn!("REDIS_URL is not set: this worker has an in-process queue and only runs jobs left in the store at its start");
    }
    let workers = settings.max_concurrent_renders.max(1);
    let listener = match settings.worker_port {
        Some(port) => Some(bind(&settings, port).await?),
        None => None,
    };
    let base = match &listener {
        Some((_, local)) => base_url(&settings, *local),
        None => settings
            .public_base_url
            .clone()
            .unwrap_or_else(|| format!("http://127.0.0.1:{}", settings.port)),
    };
    let rt = Runtime::start(settings, base, workers, started).await?;
    tracing::info!(workers = rt.workers.len(), "worker ready");
    println!("worker ready");
    match listener {
        Some((listener, local)) => {
            serve_router(
                listener,
                local,
                api::health_router(rt.app_state()?),
                shutdown,
            )
            .await?
        }
        None => shutdown.await,
    }
    rt.stop().await;
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
