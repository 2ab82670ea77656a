//! `vrender serve`: the REST service. Settings come from the environment (see `.env.example`); the
//! flags override the most common ones.

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

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
    let mut settings = super::settings_with_data_dir(args.data_dir)?;
    if let Some(p) = args.port {
        settings.port = p;
    }
    super::block_on(crate::server::serve(
        settings,
        crate::server::shutdown_signal(),
    ))
}
