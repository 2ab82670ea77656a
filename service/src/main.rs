//! `vrender`: the command-line front end. `render` drives the engine directly; `serve` runs the REST
//! service; `worker` runs render workers only. The commands are thin; the work lives in `vrender-engine` and the service library.

use clap::{Parser, Subcommand};

use vrender_service::cli;

#[derive(Parser)]
#[command(
    name = "vrender",
    version,
    about = "GPU video renderer: JSON project in, encoded video out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Render a project file to a video (or one frame to a PNG with --still).
    Render(Box<cli::render::RenderArgs>),
    /// Run the REST render service (settings from the environment, see .env.example).
    Serve(cli::serve::ServeArgs),
    /// Run render workers on the shared queue (REDIS_URL) and store, without the public API.
    Worker(cli::worker::WorkerArgs),
    /// Play a project's mixed audio on the local output device (feature `preview`).
    #[cfg(feature = "preview")]
    Play(cli::play::PlayArgs),
}

fn main() {
    let cli = Cli::parse();
    cli::init_tracing(match cli.command {
        Command::Render(_) => "warn",
        _ => "info",
    });
    let result = match cli.command {
        Command::Render(args) => cli::render::run(*args),
        Command::Serve(args) => cli::serve::run(args),
        Command::Worker(args) => cli::worker::run(args),
        #[cfg(feature = "preview")]
        Command::Play(args) => cli::play::run(args),
    };
    if let Err(e) = result {
        // One line, the whole chain: `vrender: frames[0].layers[1].src: `a.png`: file not found`.
        eprintln!("vrender: {e:#}");
        std::process::exit(1);
    }
}
