//! `vrender serve`: the REST service. Settings come from the environment (see `.env.example`); the
//! flags override the most common ones.

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::config::Settings;

#[derive(Args, Debug)]
pub struct ServeArgs {
    /// Port to listen on (overrides PORT; 0 picks a free one).
    #[arg(long)]
    pub port: Option<u16>,
    /// Data folder (overrides DATA_DIR).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn run(args: ServeArgs) -> Result<()> {
    let mut settings = Settings::from_env().context("reading settings")?;
    if let Some(p) = args.port {
        settings.port = p;
    }
    if let Some(d) = args.data_dir {
        if std::env::var_os("ASSET_ROOTS").is_none() {
            settings.asset_roots = vec![d.join("assets")];
        }
        if std::env::var_os("SQLITE_PATH").is_none() {
            settings.sqlite_path = d.join("vrender.db");
        }
        settings.data_dir = d;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting tokio")?;
    runtime.block_on(crate::server::serve(
        settings,
        crate::server::shutdown_signal(),
    ))?;
    Ok(())
}
