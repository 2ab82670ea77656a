//! `vrender-bench outputs`: end-to-end fps of each output format on one project (MP4 beside HEVC, GIF,
//! the PNG sequence and the two transparent formats), and batch throughput: N jobs of a 720p template
//! submitted as one batch to `vrender serve` in embedded mode (SQLite, in-process queue), in jobs per
//! minute, beside its peer: each item's merged project as one ffmpeg filtergraph command (`peer.rs`),
//! as many at once as the server renders — a script looping over ffmpeg.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Args;
use serde_json::{json, Value};
use vrender_engine::*;

use crate::{assets_for, print_rows, Res, Row};

#[derive(Args, Debug)]
pub struct OutputsArgs {
    /// The project for the format rows.
    #[arg(long, default_value = "examples/s1.json")]
    project: PathBuf,
    /// Only the first N frames of the project.
    #[arg(long, value_name = "N", default_value_t = 150)]
    frames: u64,
    /// Items in the batch (0: no batch row).
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Length of the batch template, seconds (1280x720 at 30 fps).
    #[arg(long, default_value_t = 5.0)]
    batch_seconds: f64,
    /// The `vrender` binary (default: beside this one).
    #[arg(long)]
    vrender: Option<PathBuf>,
    /// `MAX_CONCURRENT_RENDERS` of the server.
    #[arg(long, default_value_t = 2)]
    concurrency: usize,
    /// Print JSON instead of Markdown.
    #[arg(long)]
    json: bool,
}

/// The project with every composition's background transparent.
fn transparent(p: &Project) -> Project {
    let mut p = p.clone();
    for c in &mut p.frames {
        c.background = Some(Color::TRANSPARENT);
    }
    p
}

pub fn run(args: &OutputsArgs) -> Res<()> {
    let project = Project::from_file(&args.project)?;
    let assets = assets_for(&args.project);
    let engine = Engine::new(EngineConfig::default())?;
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();
    let frames = args.frames.min(chunk::total_frames(&project));
    // Warm-up: shader variants compile on first use.
    let mut warm = RenderRequest::new(dir.path().join("warm.mp4"), assets.clone());
    warm.frames = Some(0..frames.min(10));
    engine.render(&project, &warm, &mut |_| {}, &CancelToken::new())?;
    let clear = transparent(&project);
    let cases: [(&str, &Project, OutputFormat, &str); 6] = [
        ("mp4 (x264)", &project, OutputFormat::Mp4, "mp4"),
        ("hevc (x265)", &project, OutputFormat::Hevc, "mp4"),
        ("gif (480 px, 15 fps)", &project, OutputFormat::Gif, "gif"),
        ("png sequence (zip)", &project, OutputFormat::Png, "zip"),
        (
            "transparent mov (ProRes 4444)",
            &clear,
            OutputFormat::Mov,
            "mov",
        ),
        (
            "transparent webm (VP9 yuva420p)",
            &clear,
            OutputFormat::Webm,
            "webm",
        ),
    ];
    for (name, p, format, ext) in cases {
        let out = dir.path().join(format!("out.{ext}"));
        let mut req = RenderRequest::new(&out, assets.clone());
        req.format = Some(format);
        req.frames = Some(0..frames);
        let stats = engine.render(p, &req, &mut |_| {}, &CancelToken::new())?;
        eprintln!(
            "{name}: {:.1} fps, {:.2} MB, {}",
            stats.fps(),
            stats.output_bytes as f64 / 1e6,
            stats.encoder
        );
        rows.push(
            Row::fps(&format!("end to end → {name}"), stats.fps()).noted(format!(
                "{frames} frames, {:.2} MB",
                stats.output_bytes as f64 / 1e6
            )),
        );
    }
    drop(engine);
    if args.batch > 0 {
        let (row, ours) = batch(args, dir.path())?;
        rows.push(row);
        let peer = batch_peer(args, dir.path())?;
        rows.push(Row::new(
            &format!(
                "peer: the same {} items, one ffmpeg filtergraph command each, {} at once",
                args.batch, args.concurrency
            ),
            Some(peer),
            "jobs/min",
            2,
        ));
        rows.push(Row::ratio("batch throughput ÷ peer", ours / peer, 2));
    }
    let scene = format!(
        "{} ({}x{} @ {} fps, first {frames} frames)",
        args.project.display(),
        project.width,
        project.height,
        project.frame_rate
    );
    print_rows(&scene, &rows, args.json);
    Ok(())
}

/// The batch template: 1280x720 at 30 fps, a background colour, a moving card and a text per item.
fn template(seconds: f64) -> Value {
    json!({
        "userId": "bench",
        "width": 1280, "height": 720, "frameRate": 30, "quality": "medium",
        "frames": [{
            "duration": seconds,
            "background": "{{BG}}",
            "layers": [
                {"type": "shape", "shape": "rect", "x": 100, "y": 200, "width": 400, "height": 240,
                 "fill": "#f1faee", "cornerRadius": 24,
                 "animations": [{"property": "x", "from": 100, "to": 780, "start": 0, "end": seconds}]},
                {"type": "text", "text": "Hello {{NAME}}", "size": 72, "color": "#ffffff", "x": 100, "y": 80}
            ]
        }]
    })
}

/// The merge values of batch item `i`: its own background colour and name.
fn item_values(i: usize) -> Value {
    json!({
        "BG": format!("#{:02x}{:02x}60", (i * 37) % 256, (i * 11) % 256),
        "NAME": format!("customer {i}")
    })
}

/// The batch's peer: every item's merged project rendered by its own ffmpeg filtergraph command
/// (`peer.rs`, the same x264 settings), `concurrency` commands at once. Jobs per minute.
fn batch_peer(args: &OutputsArgs, dir: &Path) -> Res<f64> {
    let projects = (0..args.batch)
        .map(|i| {
            let Value::Object(values) = item_values(i) else {
                unreachable!("an object")
            };
            Template::from_value(template(args.batch_seconds))
                .values(values)
                .project()
        })
        .collect::<Result<Vec<Project>, _>>()?;
    let assets = AssetResolver::relative_to(dir);
    let commands = projects
        .iter()
        .enumerate()
        .map(|(i, p)| {
            crate::peer::project_args(p, &assets, &dir.join(format!("peer-{i}.mp4")), None)
        })
        .collect::<Res<Vec<Vec<String>>>>()?;
    let next = std::sync::atomic::AtomicUsize::new(0);
    let started = Instant::now();
    let failures: Vec<String> = std::thread::scope(|s| {
        let workers: Vec<_> = (0..args.concurrency.max(1))
            .map(|_| {
                s.spawn(|| -> Result<(), String> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        let Some(cmd) = commands.get(i) else {
                            return Ok(());
                        };
                        let out = Command::new("ffmpeg")
                            .args(["-v", "error"])
                            .args(cmd)
                            .output()
                            .map_err(|e| format!("ffmpeg: {e}"))?;
                        if !out.status.success() {
                            return Err(format!(
                                "peer item {i}: {}",
                                String::from_utf8_lossy(&out.stderr)
                            ));
                        }
                        let _ = std::fs::remove_file(dir.join(format!("peer-{i}.mp4")));
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .filter_map(|w| w.join().unwrap_or_else(|_| Err("panicked".into())).err())
            .collect()
    });
    if let Some(e) = failures.first() {
        return Err(e.clone().into());
    }
    let secs = started.elapsed().as_secs_f64();
    let per_min = args.batch as f64 / secs * 60.0;
    eprintln!(
        "batch peer: {} ffmpeg commands, {} at once, in {secs:.1} s = {per_min:.2} jobs/min",
        args.batch, args.concurrency
    );
    Ok(per_min)
}

/// Starts `vrender serve` on a temporary data folder; the child and its base URL.
fn serve(binary: &Path, data: &Path, concurrency: usize) -> Res<(std::process::Child, String)> {
    let mut child = Command::new(binary)
        .arg("serve")
        .env("PORT", "0")
        .env("HOST", "127.0.0.1")
        .env("DATA_DIR", data)
        .env("MAX_CONCURRENT_RENDERS", concurrency.to_string())
        .env("CHUNK_THRESHOLD_SECONDS", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("{}: {e}", binary.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    for line in BufReader::new(stdout).lines() {
        if let Some(addr) = line?.strip_prefix("listening on ") {
            return Ok((child, addr.to_string()));
        }
    }
    let _ = child.kill();
    Err("vrender serve exited before listening".into())
}

fn batch(args: &OutputsArgs, dir: &Path) -> Res<(Row, f64)> {
    let binary = match &args.vrender {
        Some(b) => b.clone(),
        None => std::env::current_exe()?
            .parent()
            .ok_or("no folder")?
            .join("vrender"),
    };
    let data = dir.join("serve");
    std::fs::create_dir_all(&data)?;
    let (mut child, base) = serve(&binary, &data, args.concurrency)?;
    let result = (|| -> Res<(Row, f64)> {
        let client = reqwest::blocking::Client::new();
        let created: Value = client
            .post(format!("{base}/api/v1/render/projects"))
            .json(&template(args.batch_seconds))
            .send()?
            .json()?;
        let id = created["projectId"].as_str().ok_or(format!("{created}"))?;
        let items: Vec<Value> = (0..args.batch)
            .map(|i| json!({ "merge": item_values(i) }))
            .collect();
        let started = Instant::now();
        let batch: Value = client
            .post(format!("{base}/api/v1/render/batches"))
            .json(&json!({"projectId": id, "items": items}))
            .send()?
            .json()?;
        let batch_id = batch["batchId"].as_str().ok_or(format!("{batch}"))?;
        let done = loop {
            std::thread::sleep(Duration::from_millis(500));
            let b: Value = client
                .get(format!("{base}/api/v1/render/batches/{batch_id}"))
                .send()?
                .json()?;
            if b["done"] == true {
                break b;
            }
        };
        let secs = started.elapsed().as_secs_f64();
        let completed = done["counts"]["completed"].as_u64().unwrap_or(0);
        if completed != args.batch as u64 {
            return Err(format!("batch finished with {}", done["counts"]).into());
        }
        let per_min = completed as f64 / secs * 60.0;
        eprintln!(
            "batch: {completed} jobs of {} s 1280x720 in {secs:.1} s = {per_min:.2} jobs/min",
            args.batch_seconds
        );
        Ok((
            Row::new(
                &format!(
                    "batch throughput ({} × {} s 1280x720 template, embedded, {} renders at once)",
                    args.batch, args.batch_seconds, args.concurrency
                ),
                Some(per_min),
                "jobs/min",
                2,
            ),
            per_min,
        ))
    })();
    let _ = child.kill();
    let _ = child.wait();
    result
}
