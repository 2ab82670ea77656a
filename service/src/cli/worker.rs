//! `vrender worker`: render workers on the shared queue and store, no public REST API (settings
//! from the environment, see `.env.example`; `REDIS_URL` makes it share work with other processes).

use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;

use crate::config::Settings;

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// Data folder (overrides DATA_DIR).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn run(args: WorkerArgs) -> Result<()> {
    let mut settings = Settings::from_env().context("reading settings")?;
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
    runtime.block_on(crate::server::work(
        settings,
        crate::server::shutdown_signal(),
    ))?;
    Ok(())
}
