//! Command-line subcommands. Each is a thin shell over the engine or the service.

#[cfg(feature = "preview")]
pub mod play;
pub mod render;
pub mod serve;

/// Logs to stderr; `RUST_LOG` filters (default `info`), `LOG_FORMAT=json` for JSON lines (each with
/// the fields of its spans: `request_id` in a request, `job_id` in a job's run). ERROR events also go
/// to the error-tracking hook ([`crate::error_report`]).
pub fn init_tracing() {
    use tracing_subscriber::prelude::*;
    use tracing_subscriber::{fmt, EnvFilter};
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let registry = tracing_subscriber::registry()
        .with(filter)
        .with(crate::error_report::ErrorReportLayer::global().clone());
    if std::env::var("LOG_FORMAT").as_deref() == Ok("json") {
        registry
            .with(fmt::layer().json().with_writer(std::io::stderr))
            .init();
    } else {
        registry
            .with(fmt::layer().with_writer(std::io::stderr))
            .init();
    }
}
