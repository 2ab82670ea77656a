//! Command-line subcommands. Each is a thin shell over the engine or the service.

#[cfg(feature = "preview")]
pub mod play;
pub mod render;
pub mod serve;
pub mod worker;

/// Logs to stderr; `RUST_LOG` filters (default `default`: `info` for the servers, `warn` for
/// `vrender render`, whose own lines and progress bar say what happens), `LOG_FORMAT=json` for JSON
/// lines (each with the fields of its spans: `request_id` in a request, `job_id` in a job's run).
/// Colours only when stderr is a terminal. ERROR events also go to the error-tracking hook
/// ([`crate::error_report`]).
pub fn init_tracing(default: &str) {
    use std::io::IsTerminal;
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(crate::error_report::ErrorReportLayer::global().clone());
    if std::env::var("LOG_FORMAT").as_deref() == Ok("json") {
        registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .init();
    } else {
        registry
            .with(
                fmt::layer()
                    .with_ansi(std::io::stderr().is_terminal())
                    .with_writer(std::io::stderr),
            )
            .init();
    }
}

/// Settings from the environment with a `--data-dir` flag applied: it moves the folders derived
/// from the data folder too, unless their own settings are given.
pub(crate) fn settings_with_data_dir(
    data_dir: Option<std::path::PathBuf>,
) -> anyhow::Result<crate::config::Settings> {
    use anyhow::Context;
    let mut settings = crate::config::Settings::from_env().context("reading settings")?;
    if let Some(d) = data_dir {
        if std::env::var_os("ASSET_ROOTS").is_none() {
            settings.asset_roots = vec![d.join("assets")];
        }
        if std::env::var_os("SQLITE_PATH").is_none() {
            settings.sqlite_path = d.join("vrender.db");
        }
        settings.data_dir = d;
    }
    Ok(settings)
}

/// Runs a server future (`serve` or `work`) on a multi-threaded tokio runtime.
pub(crate) fn block_on<E>(
    fut: impl std::future::Future<Output = Result<(), E>>,
) -> anyhow::Result<()>
where
    E: std::error::Error + Send + Sync + 'static,
{
    use anyhow::Context;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(fut)?;
    Ok(())
}
