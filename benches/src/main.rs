//! `vrender-bench`: measures the render pipeline side by side in one run and prints a Markdown table.
//!
//! ```text
//! cargo run --release -p vrender-bench -- [--project examples/s1.json] [--skip-rss] [--skip-audio]
//! ```
//!
//! Rows: composition only (GPU work + YUV readback, frames discarded), the encode-only ceiling (the
//! same raw frames, rendered beforehand into memory, through the same ffmpeg/x264 settings), end to end,
//! their ratio, peak RSS of a 10 s and a 60 s render (each in a child process), audio preparation for
//! 5 tracks × 60 s, and end to end with 3 audio tracks.
//!
//! `--chunks` measures chunked rendering instead (see `chunks.rs`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use vrender_engine::encoder::{self, DiscardEncoder, Encoder, EncoderConfig, Frame};
use vrender_engine::*;

mod chunks;

fn main() {
    if let Err(e) = run() {
        eprintln!("vrender-bench: {e}");
        std::process::exit(1);
    }
}

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn arg_value(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn flag(name: &str) -> bool {
    std::env::args().any(|a| a == name)
}

fn run() -> Res<()> {
    if flag("--chunks") {
        return chunks::run();
    }
    // Child mode: one end-to-end render, then report this process's peak RSS.
    if let Some(path) = arg_value("--child-render") {
        let scale: f64 = arg_value("--scale").unwrap_or_else(|| "1".into()).parse()?;
        let project = scaled(&Project::from_file(&path)?, scale);
        let engine = Engine::new(EngineConfig::default())?;
        let dir = tempfile::tempdir()?;
        let req = RenderRequest::new(dir.path().join("out.mp4"), assets_for(Path::new(&path)));
        let stats = engine.render(&project, &req, &mut |_| {}, &CancelToken::new())?;
        println!(
            "{{\"frames\": {}, \"fps\": {:.3}, \"vm_hwm_kib\": {}}}",
            stats.frames,
            stats.fps(),
            vm_hwm_kib()
        );
        return Ok(());
    }

    let path = PathBuf::from(arg_value("--project").unwrap_or_else(|| "examples/s1.json".into()));
    let project = Project::from_file(&path)?;
    let assets = assets_for(&path);
    let engine = Engine::new(EngineConfig::default())?;
    let adapter = engine.adapter().clone();
    let cores = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1);
    let quality = project.quality;
    eprintln!(
        "benchmarking {} on {} ({}, {cores} CPU cores)…",
        path.display(),
        adapter.name,
        adapter.backend
    );
    let mut rows: Vec<(String, String)> = Vec::new();
    let dir = tempfile::tempdir()?;

    // 1. Composition only, keeping the frames for the encode-only run.
    let kept: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let mut config_seen: Option<(u32, u32, u32, f64)> = None;
    let req = RenderRequest::new(dir.path().join("discard.mp4"), assets.clone());
    let compose =
        engine.render_with(&project, &req, &mut |_| {}, &CancelToken::new(), &mut |c| {
            config_seen = Some((c.width, c.height, c.stride, c.frame_rate));
            let kept = kept.clone();
            Ok(Box::new(DiscardEncoder::new(move |f: &Frame| {
                kept.lock().unwrap().push(f.data.clone())
            })))
        })?;
    let mut frames = std::mem::take(&mut *kept.lock().unwrap());
    let compose_fps = compose.fps();
    rows.push((
        "composition only (GPU + YUV readback)".into(),
        format!("{compose_fps:.1} fps"),
    ));

    // 2. Encode-only ceiling: the same raw frames through the same x264 settings.
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
    })?;
    let n = frames.len() as u64;
    for (i, data) in frames.drain(..).enumerate() {
        enc.send_frame(Some(Frame {
            index: i as u64,
            data,
        }))?;
    }
    enc.send_frame(None)?;
    let ceiling_fps = n as f64 / started.elapsed().as_secs_f64();
    rows.push((
        format!(
            "encode-only ceiling (x264 preset {}, crf {})",
            quality.x264_preset(),
            quality.crf()
        ),
        format!("{ceiling_fps:.1} fps"),
    ));

    // 3. End to end.
    let req = RenderRequest::new(dir.path().join("e2e.mp4"), assets.clone());
    let e2e = engine.render(&project, &req, &mut |_| {}, &CancelToken::new())?;
    let e2e_fps = e2e.fps();
    rows.push((
        "end to end (render → mp4)".into(),
        format!("{e2e_fps:.1} fps"),
    ));
    rows.push((
        "end to end ÷ encode ceiling".into(),
        format!("{:.2}", e2e_fps / ceiling_fps),
    ));

    // 4. Peak RSS of a 10 s and a 60 s render, each in its own process.
    if !flag("--skip-rss") {
        let mut rss = Vec::new();
        for scale in [1.0, 6.0] {
            let out = Command::new(std::env::current_exe()?)
                .args([
                    "--child-render",
                    &path.to_string_lossy(),
                    "--scale",
                    &scale.to_string(),
                ])
                .output()?;
            if !out.status.success() {
                return Err(format!(
                    "child render failed: {}",
                    String::from_utf8_lossy(&out.stderr)
                )
                .into());
            }
            let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
            let kib = v["vm_hwm_kib"].as_u64().unwrap_or(0);
            rows.push((
                format!(
                    "peak RSS, {:.1} s render ({} frames, {:.1} fps)",
                    v["frames"].as_f64().unwrap_or(0.0) / project.frame_rate,
                    v["frames"],
                    v["fps"].as_f64().unwrap_or(0.0)
                ),
                format!("{:.0} MiB", kib as f64 / 1024.0),
            ));
            rss.push(kib as f64);
        }
        rows.push(("RSS 60 s ÷ 10 s".into(), format!("{:.3}", rss[1] / rss[0])));
    }

    // 5. Audio: preparation of 5 × 60 s tracks, and end to end with 3 tracks.
    if !flag("--skip-audio") {
        let media = dir.path().join("audio");
        std::fs::create_dir_all(&media)?;
        let formats = ["wav", "mp3", "m4a", "flac", "ogg"];
        for (i, ext) in formats.iter().enumerate() {
            let f = 220 * (i + 1);
            let status = Command::new("ffmpeg")
                .args([
                    "-v",
                    "error",
                    "-y",
                    "-f",
                    "lavfi",
                    "-i",
                    &format!("sine=f={f}:d=60:sample_rate=44100"),
                    "-ac",
                    "2",
                ])
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
        rows.push((
            format!(
                "audio: decode + resample + mix 5 tracks × 60 s ({} formats)",
                formats.len()
            ),
            format!("{:.2} s", prep.as_secs_f64()),
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
        let req = RenderRequest::new(dir.path().join("e2e-audio.mp4"), assets.clone());
        let stats = engine.render(&with_audio, &req, &mut |_| {}, &CancelToken::new())?;
        rows.push((
            "end to end with 3 audio tracks".into(),
            format!("{:.1} fps", stats.fps()),
        ));
        rows.push((
            "audio cost (1 − with ÷ without)".into(),
            format!("{:.1} %", 100.0 * (1.0 - stats.fps() / e2e_fps)),
        ));
    }

    let mut out = std::io::stdout().lock();
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
    writeln!(out, "| measurement | result |\n|---|---|")?;
    for (k, v) in rows {
        writeln!(out, "| {k} | {v} |")?;
    }
    Ok(())
}

fn assets_for(path: &Path) -> AssetResolver {
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
