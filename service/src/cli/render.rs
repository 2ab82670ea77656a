//! `vrender render project.json -o out.mp4 [--quality Q] [--frames A..B] [--still N]`

use std::path::PathBuf;

use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The project JSON file.
    pub project: PathBuf,
    /// Output file (.mp4, .mov, .webm; .png with --still).
    #[arg(short, long)]
    pub output: PathBuf,
}

pub fn run(args: RenderArgs) -> Result<()> {
    anyhow::bail!("render is not implemented yet ({})", args.project.display())
}
