//! `vrender render project.json -o out.mp4 [--quality Q] [--frames A..B] [--still N]`

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use vrender_engine::{
    AssetResolver, CancelToken, Engine, EngineConfig, OutputFormat, Phase, Project, ProjectError,
    Quality, RenderRequest,
};

#[derive(Args, Debug)]
pub struct RenderArgs {
    /// The project JSON file.
    pub project: PathBuf,
    /// Output file (.mp4, .mov, .webm; .png with --still).
    #[arg(short, long)]
    pub output: PathBuf,
    /// Override the project's quality: low, medium, high, ultra.
    #[arg(long)]
    pub quality: Option<Quality>,
    /// Override the output format (default: the project's, or the output file's extension).
    #[arg(long)]
    pub format: Option<OutputFormat>,
    /// Render only frames A..B (half-open, 0-based).
    #[arg(long, value_parser = parse_range)]
    pub frames: Option<std::ops::Range<u64>>,
    /// Render frame N to a PNG instead of a video.
    #[arg(long, value_name = "N")]
    pub still: Option<u64>,
    /// Extra folders to resolve media paths in (after the project file's folder).
    #[arg(long = "asset-root")]
    pub asset_roots: Vec<PathBuf>,
    /// Prefer the GPU adapter whose name contains this (e.g. llvmpipe).
    #[arg(long)]
    pub adapter: Option<String>,
    /// Add a silent audio track when the project has no audio.
    #[arg(long)]
    pub silent_audio: bool,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_range(s: &str) -> Result<std::ops::Range<u64>, String> {
    let (a, b) = s.split_once("..").ok_or("expected A..B, e.g. 0..30")?;
    let a: u64 = a
        .trim()
        .parse()
        .map_err(|_| format!("bad start frame `{a}`"))?;
    let b: u64 = b
        .trim()
        .parse()
        .map_err(|_| format!("bad end frame `{b}`"))?;
    if b <= a {
        return Err(format!("empty range {a}..{b}"));
    }
    Ok(a..b)
}

pub fn run(args: RenderArgs) -> Result<()> {
    let project = Project::from_file(&args.project).map_err(|e| match e {
        ProjectError::Io { .. } => anyhow::Error::new(e),
        other => anyhow::Error::new(other).context(args.project.display().to_string()),
    })?;
    let base = args
        .project
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let mut assets = AssetResolver::relative_to(base);
    assets.roots = args.asset_roots.clone();
    // Check the project before opening the GPU: bad input fails fast with every problem listed.
    project
        .validate(&Default::default(), &assets)
        .map_err(ProjectError::Invalid)?;
    let engine = Engine::new(EngineConfig {
        adapter: args.adapter.clone(),
        system_fonts: true,
        ..Default::default()
    })?;

    if let Some(n) = args.still {
        let img = engine.render_still(&project, n, &assets)?;
        img.save(&args.output)
            .with_context(|| format!("writing {}", args.output.display()))?;
        if !args.quiet {
            eprintln!("wrote frame {n} to {}", args.output.display());
        }
        return Ok(());
    }

    let format = args.format.or_else(|| {
        args.output
            .extension()
            .and_then(|e| e.to_str())
            .and_then(|e| e.to_ascii_lowercase().parse().ok())
    });
    if let Some(parent) = args.output.parent().filter(|p| !p.as_os_str().is_empty()) {
        if !parent.is_dir() {
            bail!("output folder {} does not exist", parent.display());
        }
    }
    let mut request = RenderRequest::new(&args.output, assets);
    request.quality = args.quality;
    request.format = format;
    request.frames = args.frames.clone();
    request.silent_audio = args.silent_audio;

    let bar = if args.quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template(
            "{spinner} {msg:10} [{bar:40}] {pos}/{len} frames  {per_sec}  ETA {eta}",
        )
        .expect("valid template")
        .progress_chars("=> "),
    );
    bar.enable_steady_tick(Duration::from_millis(200));
    let cancel = CancelToken::new();
    let stats = engine.render(
        &project,
        &request,
        &mut |p| {
            bar.set_length(p.frames_total);
            bar.set_position(p.frames_done);
            bar.set_message(p.phase.as_str());
            if p.phase == Phase::Encoding && p.frames_done == p.frames_total {
                bar.finish_and_clear();
            }
        },
        &cancel,
    );
    bar.finish_and_clear();
    let stats = stats?;
    if !args.quiet {
        eprintln!(
            "wrote {} ({} frames, {:.1} s of video, {:.1} MB) in {:.1} s: {:.1} fps, {}, on {}",
            args.output.display(),
            stats.frames,
            stats.duration.as_secs_f64(),
            stats.output_bytes as f64 / 1e6,
            stats.elapsed.as_secs_f64(),
            stats.fps(),
            stats.encoder,
            stats.adapter
        );
    }
    Ok(())
}
