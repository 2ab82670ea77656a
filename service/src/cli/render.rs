//! `vrender render project.json -o out.mp4 [--quality Q] [--frames A..B] [--still N]`

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use indicatif::{ProgressBar, ProgressStyle};
use vrender_engine::{
    AssetResolver, CancelToken, Engine, EngineConfig, MergeValues, OutputFormat, Phase, Project,
    ProjectError, Quality, RenderRequest, StillOutput, Template,
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
    /// Override the output format: mp4, mov, webm, gif, hevc or png (a ZIP of PNG frames). Default:
    /// the output file's extension (.zip: png), else the project's.
    #[arg(long)]
    pub format: Option<OutputFormat>,
    /// GIF frame rate (default the project's, at most 15).
    #[arg(long, value_name = "FPS")]
    pub gif_fps: Option<f64>,
    /// GIF width in pixels (default the project's, at most 480).
    #[arg(long, value_name = "PIXELS")]
    pub gif_width: Option<u32>,
    /// Also write the frame at SECONDS, full size, to FILE (.png or .jpg) from the same render.
    #[arg(long, value_name = "SECONDS:FILE", value_parser = parse_still)]
    pub poster: Option<(f64, PathBuf)>,
    /// Also write a thumbnail of the frame at SECONDS to FILE (.jpg or .png), `--thumbnail-width` wide.
    #[arg(long, value_name = "SECONDS:FILE", value_parser = parse_still)]
    pub thumbnail: Option<(f64, PathBuf)>,
    /// Thumbnail width in pixels; the height keeps the aspect ratio.
    #[arg(long, value_name = "PIXELS", default_value_t = 320)]
    pub thumbnail_width: u32,
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
    /// Fill merge field NAME of a template (repeatable). VALUE is read as JSON when it is a number,
    /// true, false or null, else as text.
    #[arg(long = "merge", value_name = "NAME=VALUE", value_parser = parse_merge)]
    pub merge: Vec<(String, serde_json::Value)>,
    /// Merge field values from a JSON object file (`--merge` values win).
    #[arg(long = "merge-file", value_name = "FILE")]
    pub merge_file: Option<PathBuf>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

fn parse_still(s: &str) -> Result<(f64, PathBuf), String> {
    let (t, file) = s
        .split_once(':')
        .ok_or("expected SECONDS:FILE, e.g. 1.5:poster.png")?;
    let t: f64 = t
        .trim()
        .parse()
        .map_err(|_| format!("bad time `{t}` (seconds)"))?;
    if !t.is_finite() || t < 0.0 {
        return Err(format!("time must be 0 or more seconds, got {t}"));
    }
    Ok((t, PathBuf::from(file)))
}

fn parse_merge(s: &str) -> Result<(String, serde_json::Value), String> {
    vrender_engine::merge::parse_assignment(s)
}

/// The merge values of `--merge-file` and `--merge`.
fn merge_values(args: &RenderArgs) -> Result<MergeValues> {
    let mut values = MergeValues::new();
    if let Some(file) = &args.merge_file {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("reading merge file {}", file.display()))?;
        match serde_json::from_str::<serde_json::Value>(&text)
            .with_context(|| format!("merge file {}", file.display()))?
        {
            serde_json::Value::Object(o) => values = o,
            _ => bail!(
                "merge file {}: must be a JSON object of name → value",
                file.display()
            ),
        }
    }
    values.extend(args.merge.iter().cloned());
    Ok(values)
}

/// Reads the project file, filling its merge fields when it is a template.
fn load_project(args: &RenderArgs) -> Result<Project> {
    let values = merge_values(args)?;
    let text = std::fs::read_to_string(&args.project).map_err(|e| {
        anyhow::Error::new(ProjectError::Io {
            path: args.project.display().to_string(),
            message: e.to_string(),
        })
    })?;
    let template = Template::from_json(&text)?;
    if !values.is_empty() && !template.is_template() {
        bail!(
            "{}: --merge given, but the project has no {{{{NAME}}}} merge fields",
            args.project.display()
        );
    }
    template
        .values(values)
        .project()
        .map_err(|e| anyhow::Error::new(e).context(args.project.display().to_string()))
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
    let project = load_project(&args)?;
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
            .and_then(OutputFormat::from_extension)
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
    request.gif.fps = args.gif_fps;
    request.gif.width = args.gif_width;
    let total = vrender_engine::chunk::total_frames(&project);
    let stills = [
        args.poster.as_ref().map(|p| (p, None)),
        args.thumbnail
            .as_ref()
            .map(|t| (t, Some(args.thumbnail_width))),
    ];
    for ((t, path), width) in stills.into_iter().flatten() {
        request.stills.push(StillOutput {
            // Seconds of the timeline (with `--frames`, inside the rendered part).
            frame: StillOutput::frame_at(*t, project.frame_rate, total),
            width,
            path: path.clone(),
        });
    }

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
