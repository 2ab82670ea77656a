//! `vrender-bench`: measures the render pipeline side by side in one run and prints a Markdown table
//! (or, with `--json`, one JSON object to compare across commits).
//!
//! ```text
//! cargo run --release -p vrender-bench -- [--project examples/s1.json]
//!     [--rows compose,encode,e2e,peer,rss,audio] [--frames N] [--json]
//! cargo run --release -p vrender-bench -- --rows v1          # the video scene V1 (off by default)
//! cargo run --release -p vrender-bench -- --rows captions    # captions scene C1 (off by default)
//! cargo run --release -p vrender-bench -- peer-command       # print the peer's ffmpeg command
//! cargo run --release -p vrender-bench -- chunks [--seconds 60] [--chunk-seconds 10] [--workers 2]
//! cargo run --release -p vrender-bench -- preview [--scrubs 50] [--width 960] [--format jpeg]
//! cargo run --release -p vrender-bench -- outputs [--frames 150] [--batch 100] [--batch-seconds 5]
//! ```
//!
//! Rows: composition only (GPU work + YUV readback, frames discarded), the encode-only ceiling (the
//! same raw frames, rendered beforehand into memory, through the same ffmpeg/x264 settings), end to end,
//! their ratio, the peer (the same scene as one ffmpeg filtergraph, see `peer.rs`) and end to end ÷ peer,
//! peak RSS of a 10 s and a 60 s render (each in a child process), audio preparation for 5 tracks ×
//! 60 s, and end to end with 3 audio tracks. `v1-*` rows measure the video scene (`video_scene.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use clap::{Args, Parser, Subcommand, ValueEnum};
use serde_json::json;
use vrender_engine::encoder::{self, DiscardEncoder, Encoder, EncoderConfig, Frame};
use vrender_engine::*;

mod captions_scene;
mod chunks;
mod outputs;
mod peer;
mod preview;
mod video_scene;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// Benchmarks the vrender engine on one project (composition, encode ceiling, end to end, an ffmpeg
/// filtergraph peer, RSS, audio; optionally the video scene V1) and prints a Markdown table.
#[derive(Parser, Debug)]
#[command(name = "vrender-bench", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Cmd>,

    /// The project to benchmark.
    #[arg(long, default_value = "examples/s1.json")]
    project: PathBuf,

    /// Rows to measure, comma-separated (`v1` = all four V1 rows).
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "compose,encode,e2e,peer,rss,audio"
    )]
    rows: Vec<RowKind>,

    /// Render only the first N frames of each timeline (quick runs; RSS's 60 s row renders 6 N).
    #[arg(long, value_name = "N")]
    frames: Option<u64>,

    /// Print one JSON object (scene, adapter, cores, rows as {name, value, unit}) instead of Markdown.
    #[arg(long)]
    json: bool,

    /// Length of the captions scene C1 (`--rows captions`), seconds; one cue per 2 s.
    #[arg(long, default_value_t = 600.0)]
    captions_seconds: f64,

    /// Internal: render PROJECT once end to end and print this process's peak RSS as JSON.
    #[arg(long, value_name = "PROJECT", hide = true)]
    child_render: Option<PathBuf>,

    /// Internal (with --child-render): make every composition this many times longer.
    #[arg(long, default_value_t = 1.0, hide = true)]
    scale: f64,
}

#[derive(Subcommand, Debug)]
enum Cmd {
    /// Chunked rendering: one long job in one piece vs in chunks with 1 and N workers.
    Chunks(ChunksArgs),
    /// Frame preview latency, cold and warm (p50/p95), as the Studio's scrubber sees it.
    Preview(PreviewArgs),
    /// End-to-end fps per output format, and batch throughput through `vrender serve`.
    Outputs(outputs::OutputsArgs),
    /// Print the peer's ffmpeg command for the project (shell-quoted) and exit.
    PeerCommand {
        /// The project to translate.
        #[arg(long, default_value = "examples/s1.json")]
        project: PathBuf,
        /// Only the first N frames.
        #[arg(long, value_name = "N")]
        frames: Option<u64>,
        /// Instead: generate the video scene V1's clips into DIR and print V1's peer command.
        #[arg(long, value_name = "DIR")]
        v1_clips: Option<PathBuf>,
    },
}

#[derive(Args, Debug)]
pub struct ChunksArgs {
    /// The project (default: a built-in 640x360 @ 30 fps moving-shapes project of --seconds).
    #[arg(long)]
    project: Option<PathBuf>,
    /// Length of the built-in project.
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// Length of each chunk.
    #[arg(long, default_value_t = 10.0)]
    chunk_seconds: f64,
    /// Workers (threads sharing one engine) for the parallel run.
    #[arg(long, default_value_t = 2)]
    workers: usize,
}

#[derive(Args, Debug)]
pub struct PreviewArgs {
    /// The project.
    #[arg(long, default_value = "examples/s1.json")]
    project: PathBuf,
    /// Warm previews (frames across the timeline, shuffled).
    #[arg(long, default_value_t = 50)]
    scrubs: usize,
    /// Cold previews (the project prepared from scratch each time).
    #[arg(long, default_value_t = 5)]
    cold: usize,
    /// Scale previews down to this width (the Studio asks for at most 960).
    #[arg(long)]
    width: Option<u32>,
    /// png or jpeg.
    #[arg(long, default_value = "png", value_parser = ["png", "jpeg"])]
    format: String,
}

/// What `--rows` can pick.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowKind {
    /// Composition only: GPU + YUV readback, frames discarded.
    Compose,
    /// Encode-only ceiling: the same raw frames through the same x264 settings.
    Encode,
    /// End to end (render → mp4), with ÷ ceiling and ÷ peer when those rows run too.
    E2e,
    /// The same scene as one ffmpeg -filter_complex command.
    Peer,
    /// Peak RSS of a 10 s and a 60 s render, each in a child process.
    Rss,
    /// Audio preparation (5 tracks × 60 s) and end to end with 3 tracks.
    Audio,
    /// All V1 (video scene) rows.
    V1,
    /// V1: decode-only fps of its three clips.
    V1Decode,
    /// V1: end to end.
    #[value(name = "v1-e2e")]
    V1E2e,
    /// V1: its ffmpeg filtergraph, and end to end ÷ it.
    V1Peer,
    /// V1: peak RSS of a 10 s and a 60 s render.
    V1Rss,
    /// Scene C1: end to end and peak RSS with and without captions (`--captions-seconds`).
    Captions,
}

/// One measurement; `value` is `None` where it cannot be measured (`note` says why).
#[derive(Debug, Clone)]
pub struct Row {
    name: String,
    value: Option<f64>,
    unit: &'static str,
    decimals: usize,
    note: Option<String>,
}

impl Row {
    pub fn new(name: &str, value: Option<f64>, unit: &'static str, decimals: usize) -> Row {
        Row {
            name: name.to_string(),
            value,
            unit,
            decimals,
            note: None,
        }
    }
    pub fn fps(name: &str, fps: f64) -> Row {
        Row::new(name, Some(fps), "fps", 1)
    }
    pub fn ratio(name: &str, ratio: f64, decimals: usize) -> Row {
        Row::new(name, Some(ratio), "ratio", decimals)
    }
    pub fn na(name: &str, unit: &'static str, note: &str) -> Row {
        Row {
            note: Some(note.to_string()),
            ..Row::new(name, None, unit, 0)
        }
    }
    /// The same row with a detail shown after its name (or instead of a missing value).
    pub fn noted(mut self, note: impl Into<String>) -> Row {
        self.note = Some(note.into());
        self
    }
    fn label(&self) -> String {
        match (&self.note, self.value) {
            (Some(n), Some(_)) => format!("{} ({n})", self.name),
            _ => self.name.clone(),
        }
    }
    fn cell(&self) -> String {
        match (self.value, self.unit) {
            (None, _) => self.note.clone().unwrap_or_else(|| "n/a".into()),
            (Some(v), "ratio") => format!("{v:.*}", self.decimals),
            (Some(v), u) => format!("{v:.*} {u}", self.decimals),
        }
    }
    fn to_json(&self) -> serde_json::Value {
        let mut v = json!({ "name": self.name, "value": self.value, "unit": self.unit });
        if let Some(n) = &self.note {
            v["note"] = json!(n);
        }
        v
    }
}

fn main() {
    let cli = Cli::parse();
    if let Err(e) = run(cli) {
        eprintln!("vrender-bench: {e}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Res<()> {
    match &cli.command {
        Some(Cmd::Chunks(args)) => return chunks::run(args),
        Some(Cmd::Preview(args)) => return preview::run(args),
        Some(Cmd::Outputs(args)) => return outputs::run(args),
        Some(Cmd::PeerCommand {
            project,
            frames,
            v1_clips: Some(dir),
        }) => {
            std::fs::create_dir_all(dir)?;
            let clips = video_scene::generate_clips(dir)?;
            let args = video_scene::peer_args(&clips, *frames, &dir.join("v1-peer.mp4"))?;
            let _ = project;
            println!("{}", peer::shell_line("ffmpeg", &args));
            return Ok(());
        }
        Some(Cmd::PeerCommand {
            project, frames, ..
        }) => {
            let args = peer::project_args(
                &Project::from_file(project)?,
                &assets_for(project),
                Path::new("peer.mp4"),
                *frames,
            )?;
            println!("{}", peer::shell_line("ffmpeg", &args));
            return Ok(());
        }
        None => {}
    }
    if let Some(path) = &cli.child_render {
        return child_render(path, cli.scale, cli.frames);
    }
    bench(&cli)
}

/// Child mode: one end-to-end render, then report this process's peak RSS.
fn child_render(path: &Path, scale: f64, frames: Option<u64>) -> Res<()> {
    let project = scaled(&Project::from_file(path)?, scale);
    let engine = Engine::new(EngineConfig::default())?;
    let dir = tempfile::tempdir()?;
    let mut req = RenderRequest::new(dir.path().join("out.mp4"), assets_for(path));
    req.frames = frames.map(|n| 0..n);
    let stats = engine.render(&project, &req, &mut |_| {}, &CancelToken::new())?;
    println!(
        "{}",
        json!({ "frames": stats.frames, "fps": stats.fps(), "vm_hwm_kib": vm_hwm_kib() })
    );
    Ok(())
}

/// What a child render reported.
pub struct ChildRss {
    pub frames: u64,
    pub fps: f64,
    pub kib: u64,
}

/// Renders `project` (`scale` times longer, at most `frames` frames) in a child process; its peak RSS.
pub fn child_rss(project: &Path, scale: f64, frames: Option<u64>) -> Res<ChildRss> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.arg("--child-render")
        .arg(project)
        .args(["--scale", &scale.to_string()]);
    if let Some(n) = frames {
        cmd.args(["--frames", &n.to_string()]);
    }
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!(
            "child render failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    Ok(ChildRss {
        frames: v["frames"].as_u64().unwrap_or(0),
        fps: v["fps"].as_f64().unwrap_or(0.0),
        kib: v["vm_hwm_kib"].as_u64().unwrap_or(0),
    })
}

/// Runs ffmpeg with `args` (which write `output`), checks that `output` has `frames` video frames, and
/// returns the frames per second of wall time.
pub fn time_ffmpeg(args: &[String], frames: u64, output: &Path) -> Res<f64> {
    let started = Instant::now();
    let out = Command::new("ffmpeg")
        .args(["-loglevel", "error"])
        .args(args)
        .output()?;
    let secs = started.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!(
            "the ffmpeg peer failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let got = count_frames(output)?;
    if got != frames {
        return Err(format!(
            "the ffmpeg peer wrote {got} frames, expected {frames} ({})",
            output.display()
        )
        .into());
    }
    Ok(frames as f64 / secs)
}

/// Video frames (packets) in a file, by ffprobe.
pub fn count_frames(file: &Path) -> Res<u64> {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-count_packets",
            "-show_entries",
            "stream=nb_read_packets",
            "-of",
            "csv=p=0",
        ])
        .arg(file)
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "ffprobe {}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().parse()?)
}

fn bench(cli: &Cli) -> Res<()> {
    let want = |k: RowKind| cli.rows.contains(&k);
    let path = &cli.project;
    let project = Project::from_file(path)?;
    let assets = assets_for(path);
    let engine = Engine::new(EngineConfig::default())?;
    let adapter = engine.adapter().clone();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let quality = project.quality;
    let total = chunk::total_frames(&project);
    let n = cli.frames.map_or(total, |f| f.min(total));
    let range = cli.frames.map(|f| 0..f);
    eprintln!(
        "benchmarking {} ({n} frames) on {} ({}, {cores} CPU cores)…",
        path.display(),
        adapter.name,
        adapter.backend
    );
    let mut rows: Vec<Row> = Vec::new();
    let dir = tempfile::tempdir()?;

    // 0. Warm-up, untimed: the software rasteriser compiles each shader variant on first use.
    {
        let mut req = RenderRequest::new(dir.path().join("warmup.mp4"), assets.clone());
        let total = vrender_engine::timeline::Timeline::new(&project).total_frames();
        req.frames = Some(0..total.min(30));
        engine.render_with(
            &project,
            &req,
            &mut |_| {},
            &CancelToken::new(),
            &mut |_| Ok(Box::new(DiscardEncoder::new(|_: &Frame| {}))),
        )?;
    }

    // 1. Composition only (frames discarded), then, untimed, the same frames kept in memory for
    // the encode-only run (keeping 3 MB per frame costs more than composing it on lavapipe).
    let mut frames: Vec<Vec<u8>> = Vec::new();
    let mut config_seen: Option<(u32, u32, u32, f64)> = None;
    if want(RowKind::Compose) || want(RowKind::Encode) {
        let keep = want(RowKind::Encode);
        let kept: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let mut req = RenderRequest::new(dir.path().join("discard.mp4"), assets.clone());
        req.frames = range.clone();
        let compose =
            engine.render_with(&project, &req, &mut |_| {}, &CancelToken::new(), &mut |c| {
                config_seen = Some((c.width, c.height, c.stride, c.frame_rate));
                Ok(Box::new(DiscardEncoder::new(|_: &Frame| {})))
            })?;
        if keep {
            engine.render_with(
                &project,
                &req,
                &mut |_| {},
                &CancelToken::new(),
                &mut |_| {
                    let kept = kept.clone();
                    Ok(Box::new(DiscardEncoder::new(move |f: &Frame| {
                        kept.lock().unwrap().push(f.data.clone())
                    })))
                },
            )?;
        }
        frames = std::mem::take(&mut *kept.lock().unwrap());
        if want(RowKind::Compose) {
            rows.push(Row::fps(
                "composition only (GPU + YUV readback)",
                compose.fps(),
            ));
            rows.push(Row::new(
                "frames started from the static-layer cache",
                Some(compose.cached_frames as f64),
                "frames",
                0,
            ));
            rows.push(Row::new(
                "frames composed only where they changed (dirty regions)",
                Some(compose.partial_frames as f64),
                "frames",
                0,
            ));
            // The same without reusing earlier frames, to show what the cache and regions are worth.
            let mut req = RenderRequest::new(dir.path().join("discard.mp4"), assets.clone());
            req.frames = range.clone();
            req.frame_cache = false;
            req.dirty_regions = false;
            let uncached = engine.render_with(
                &project,
                &req,
                &mut |_| {},
                &CancelToken::new(),
                &mut |_| Ok(Box::new(DiscardEncoder::new(|_: &Frame| {}))),
            )?;
            rows.push(Row::fps(
                "composition only, frame cache and dirty regions off",
                uncached.fps(),
            ));
        }
    }

    // 2. Encode-only ceiling: the same raw frames through the same x264 settings.
    let mut ceiling_fps = None;
    if want(RowKind::Encode) {
        let (width, height, stride, frame_rate) = config_seen.ok_or("no frames rendered")?;
        let started = Instant::now();
        let mut enc = encoder::FfmpegEncoder::spawn(EncoderConfig {
            width,
            height,
            stride,
            frame_rate,
            quality,
            format: OutputFormat::Mp4,
            output: dir.path().join("ceiling.mp4"),
            ffmpeg: encoder::ffmpeg_path(None),
            audio: None,
            silent_audio: false,
            faststart: true,
            alpha: false,
            gif: None,
        })?;
        let count = frames.len() as u64;
        for (i, data) in frames.drain(..).enumerate() {
            enc.send_frame(Some(Frame {
                index: i as u64,
                data,
            }))?;
        }
        enc.send_frame(None)?;
        let fps = count as f64 / started.elapsed().as_secs_f64();
        ceiling_fps = Some(fps);
        rows.push(Row::fps(
            &format!(
                "encode-only ceiling (x264 preset {}, crf {})",
                quality.x264_preset(),
                quality.crf()
            ),
            fps,
        ));
    }
    drop(frames);

    // 3. End to end.
    let mut e2e_fps = None;
    if want(RowKind::E2e) {
        let mut req = RenderRequest::new(dir.path().join("e2e.mp4"), assets.clone());
        req.frames = range.clone();
        let e2e = engine.render(&project, &req, &mut |_| {}, &CancelToken::new())?;
        e2e_fps = Some(e2e.fps());
        rows.push(Row::fps("end to end (render → mp4)", e2e.fps()));
        if let Some(c) = ceiling_fps {
            rows.push(Row::ratio("end to end ÷ encode ceiling", e2e.fps() / c, 2));
        }
    }

    // 4. The peer: the same scene as one ffmpeg filtergraph, same x264 settings.
    if want(RowKind::Peer) {
        let out = dir.path().join("peer.mp4");
        let args = peer::project_args(&project, &assets, &out, cli.frames)?;
        let fps = time_ffmpeg(&args, n, &out)?;
        rows.push(Row::fps(
            &format!(
                "peer: one ffmpeg -filter_complex (x264 preset {}, crf {})",
                quality.x264_preset(),
                quality.crf()
            ),
            fps,
        ));
        if let Some(e) = e2e_fps {
            rows.push(Row::ratio("end to end ÷ ffmpeg filtergraph", e / fps, 2));
        }
    }

    // 5. Peak RSS of a 10 s and a 60 s render, each in its own process.
    if want(RowKind::Rss) {
        let mut rss = Vec::new();
        for scale in [1.0, 6.0] {
            let limit = cli.frames.map(|f| (f as f64 * scale) as u64);
            let r = child_rss(path, scale, limit)?;
            let secs = chunk::total_frames(&scaled(&project, scale)) as f64 / project.frame_rate;
            rows.push(
                Row::new(
                    &format!("peak RSS, {secs:.1} s render"),
                    Some(r.kib as f64 / 1024.0),
                    "MiB",
                    0,
                )
                .noted(format!("{} frames, {:.1} fps", r.frames, r.fps)),
            );
            rss.push(r.kib as f64);
        }
        rows.push(Row::ratio("RSS 60 s ÷ 10 s", rss[1] / rss[0], 3));
    }

    // 6. Audio: preparation of 5 × 60 s tracks, and end to end with 3 tracks.
    if want(RowKind::Audio) {
        audio_rows(
            &engine,
            &project,
            &assets,
            range.clone(),
            e2e_fps,
            dir.path(),
            &mut rows,
        )?;
    }

    // 7. The video scene V1.
    let v1 = [
        RowKind::V1,
        RowKind::V1Decode,
        RowKind::V1E2e,
        RowKind::V1Peer,
        RowKind::V1Rss,
    ];
    let with_v1 = v1.iter().any(|k| want(*k));
    if with_v1 {
        video_scene::run_rows(&cli.rows, &engine, cli.frames, &mut rows)?;
    }

    // 8. The captions scene C1.
    if want(RowKind::Captions) {
        captions_scene::run_rows(cli.captions_seconds, dir.path(), &mut rows)?;
    }

    let mut out = std::io::stdout().lock();
    if cli.json {
        let report = json!({
            "scene": path.to_string_lossy(),
            "width": project.width,
            "height": project.height,
            "frameRate": project.frame_rate,
            "frames": n,
            "quality": quality.as_str(),
            "adapter": { "name": adapter.name, "backend": adapter.backend,
                         "deviceType": adapter.device_type, "software": adapter.software },
            "cores": cores,
            "ffmpeg": encoder::ffmpeg_version(&encoder::ffmpeg_path(None)).ok(),
            "commit": git_commit(),
            "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        });
        let mut report = report;
        if want(RowKind::Captions) {
            report["c1"] = json!({
                "scene": captions_scene::DESCRIPTION,
                "seconds": cli.captions_seconds,
            });
        }
        if with_v1 {
            report["v1"] = json!({
                "scene": video_scene::DESCRIPTION,
                "frames": video_scene::frames_of(cli.frames),
                "videoLayers": video_scene::engine_knows_video_layers(),
            });
        }
        writeln!(out, "{}", serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    writeln!(
        out,
        "\n{} — {}x{} @ {} fps, {} frames — {} ({}), {cores} cores\n",
        path.display(),
        project.width,
        project.height,
        project.frame_rate,
        n,
        adapter.name,
        adapter.backend
    )?;
    if with_v1 {
        writeln!(
            out,
            "V1 rows: {}, {} frames\n",
            video_scene::DESCRIPTION,
            video_scene::frames_of(cli.frames)
        )?;
    }
    if want(RowKind::Captions) {
        writeln!(
            out,
            "C1 rows: {}, {} s\n",
            captions_scene::DESCRIPTION,
            cli.captions_seconds
        )?;
    }
    writeln!(out, "| measurement | result |\n|---|---|")?;
    for r in rows {
        writeln!(out, "| {} | {} |", r.label(), r.cell())?;
    }
    Ok(())
}

fn audio_rows(
    engine: &Engine,
    project: &Project,
    assets: &AssetResolver,
    range: Option<std::ops::Range<u64>>,
    e2e_fps: Option<f64>,
    dir: &Path,
    rows: &mut Vec<Row>,
) -> Res<()> {
    let media = dir.join("audio");
    std::fs::create_dir_all(&media)?;
    let formats = ["wav", "mp3", "m4a", "flac", "ogg"];
    for (i, ext) in formats.iter().enumerate() {
        let f = 220 * (i + 1);
        let status = Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-y", "-f", "lavfi", "-i"])
            .arg(format!("sine=f={f}:d=60:sample_rate=44100"))
            .args(["-ac", "2"])
            .arg(media.join(format!("t{i}.{ext}")))
            .status()?;
        if !status.success() {
            return Err(format!("ffmpeg could not make a test {ext}").into());
        }
    }
    let audio_assets = AssetResolver::relative_to(&media);
    let tracks: Vec<AudioTrack> = formats
        .iter()
        .enumerate()
        .map(|(i, ext)| AudioTrack {
            volume: 0.3,
            fade_in: 0.5,
            fade_out: 1.0,
            ..AudioTrack::new(format!("t{i}.{ext}"))
        })
        .collect();
    let started = Instant::now();
    let samples = audio::mix_all(&tracks, &audio_assets, 60 * audio::SAMPLE_RATE as u64)?;
    let prep = started.elapsed();
    rows.push(Row::new(
        &format!(
            "audio: decode + resample + mix 5 tracks × 60 s ({} formats)",
            formats.len()
        ),
        Some(prep.as_secs_f64()),
        "s",
        2,
    ));
    drop(samples);

    let mut with_audio = project.clone();
    for (i, ext) in formats.iter().take(3).enumerate() {
        let src = media.join(format!("t{i}.{ext}"));
        with_audio.audio_tracks.push(AudioTrack {
            volume: 0.3,
            ..AudioTrack::new(src.to_string_lossy())
        });
    }
    let mut req = RenderRequest::new(dir.join("e2e-audio.mp4"), assets.clone());
    req.frames = range;
    let stats = engine.render(&with_audio, &req, &mut |_| {}, &CancelToken::new())?;
    rows.push(Row::fps("end to end with 3 audio tracks", stats.fps()));
    if let Some(e) = e2e_fps {
        rows.push(Row::new(
            "audio cost (1 − with ÷ without)",
            Some(100.0 * (1.0 - stats.fps() / e)),
            "%",
            1,
        ));
    }
    Ok(())
}

/// Prints `rows` under a `scene` line, as a Markdown table or (`json`) one JSON object.
pub fn print_rows(scene: &str, rows: &[Row], json: bool) {
    let adapter = Engine::new(EngineConfig::default())
        .map(|e| e.adapter().name.clone())
        .unwrap_or_default();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    if json {
        let report = json!({
            "scene": scene, "adapter": adapter, "cores": cores, "commit": git_commit(),
            "rows": rows.iter().map(Row::to_json).collect::<Vec<_>>(),
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        );
        return;
    }
    println!("\n{scene} — {adapter}, {cores} cores\n");
    println!("| measurement | result |\n|---|---|");
    for r in rows {
        println!("| {} | {} |", r.label(), r.cell());
    }
}

/// `git describe` of the working tree, when run inside one.
fn git_commit() -> Option<String> {
    let out = Command::new("git")
        .args(["describe", "--always", "--dirty"])
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

pub fn assets_for(path: &Path) -> AssetResolver {
    AssetResolver::relative_to(
        path.parent()
            .map(Path::to_path_buf)
            .unwrap_or_else(|| PathBuf::from(".")),
    )
}

/// The same scenes, each lasting `scale` times longer (animations keep their timing).
fn scaled(p: &Project, scale: f64) -> Project {
    let mut p = p.clone();
    for c in &mut p.frames {
        c.duration = c.duration.map(|d| d * scale);
    }
    p
}

/// This process's peak resident set size, from /proc.
fn vm_hwm_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
        let c = Cli::try_parse_from(["b", "--rows", "compose,v1-e2e", "--frames", "30"]).unwrap();
        assert_eq!(c.rows, vec![RowKind::Compose, RowKind::V1E2e]);
        assert_eq!(c.frames, Some(30));
        let c = Cli::try_parse_from(["b"]).unwrap();
        assert_eq!(c.rows.len(), 6);
        assert!(!c.rows.contains(&RowKind::V1));
        let c = Cli::try_parse_from(["b", "chunks", "--workers", "4"]).unwrap();
        assert!(matches!(
            c.command,
            Some(Cmd::Chunks(ChunksArgs { workers: 4, .. }))
        ));
    }
}
