//! `vrender worker`: render workers on the shared queue and store, no public REST API (settings
//! from the environment, see `.env.example`; `REDIS_URL` makes it share work with other processes).

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct WorkerArgs {
    /// Data folder (overrides DATA_DIR).
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
}

pub fn run(args: WorkerArgs) -> Result<()> {
    let settings = super::settings_with_data_dir(args.data_dir)?;
    super::block_on(crate::server::work(
        settings,
        crate::server::shutdown_signal(),
    ))
}
