//! `vrender-bench chunks`: wall time of one long job rendered in one piece vs in chunks, with 1 and
//! N workers (threads sharing one [`Engine`], as `MAX_CONCURRENT_RENDERS` workers of one
//! `vrender serve` do), including the final join. Prints a Markdown table with speedup and
//! efficiency (speedup / workers) against the single-piece render on one worker.
//!
//! ```text
//! cargo run --release -p vrender-bench -- chunks [--project P.json] [--seconds 60]
//!     [--chunk-seconds 10] [--workers 2]
//! ```
//! Without `--project` a built-in 640x360 @ 30 fps moving-shapes project of `--seconds` is used.

use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use vrender_engine::*;

use super::{assets_for, ChunksArgs, Res};

fn builtin_project(secs: f64) -> Project {
    use AnimatedProperty::*;
    let mut p = Project::new(640, 360, 30.0);
    p.quality = Quality::Medium;
    let color = |s: &str| s.parse::<Color>().expect("a valid colour");
    p.push(
        Composition::new(secs)
            .background(color("#203040"))
            .layer(
                Layer::shape(ShapeKind::Rect, 120.0, 120.0, color("#e04020"))
                    .animate(Animation::new(X, 0.0, 520.0, 0.0, secs)),
            )
            .layer(
                Layer::shape(ShapeKind::Ellipse, 90.0, 90.0, color("#f0f0a0"))
                    .at(320.0, 180.0)
                    .anchored(Anchor::Center)
                    .animate(Animation::new(Scale, 0.5, 2.5, 0.0, secs))
                    .animate(Animation::new(Rotation, 0.0, 36.0 * secs, 0.0, secs)),
            )
            .layer(
                Layer::text("chunked")
                    .at(40.0, 280.0)
                    .animate(Animation::new(Opacity, 1.0, 0.2, 0.0, secs)),
            ),
    );
    p
}

/// Renders `ranges` with `workers` threads pulling the next chunk, then joins them; wall time.
fn chunked(
    engine: &Engine,
    project: &Project,
    assets: &AssetResolver,
    dir: &Path,
    ranges: &[std::ops::Range<u64>],
    workers: usize,
) -> Res<Duration> {
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let files: Mutex<Vec<Option<ChunkFile>>> = Mutex::new(vec![None; ranges.len()]);
    let errors: Mutex<Vec<String>> = Mutex::default();
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                let Some(range) = ranges.get(n) else { break };
                let path = dir.join(format!("chunk-{n}.mp4"));
                let req = RenderRequest::new(&path, assets.clone());
                match engine.render_chunk(
                    project,
                    range.clone(),
                    &req,
                    &mut |_| {},
                    &CancelToken::new(),
                ) {
                    Ok(stats) => {
                        files.lock().unwrap_or_else(|p| p.into_inner())[n] = Some(ChunkFile {
                            path,
                            frames: stats.frames,
                        })
                    }
                    Err(e) => errors
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(e.to_string()),
                }
            });
        }
    });
    if let Some(e) = errors.into_inner().unwrap_or_default().into_iter().next() {
        return Err(e.into());
    }
    let chunks: Vec<ChunkFile> = files
        .into_inner()
        .unwrap_or_default()
        .into_iter()
        .collect::<Option<_>>()
        .ok_or("a chunk is missing")?;
    engine.concat_chunks(
        project,
        &ConcatRequest {
            chunks,
            output: dir.join(format!("joined-{workers}.mp4")),
            format: Some(OutputFormat::Mp4),
            assets: assets.clone(),
            limits: Limits::default(),
            silent_audio: false,
            faststart: true,
        },
        &CancelToken::new(),
    )?;
    Ok(started.elapsed())
}

/// Renders the whole timeline in one piece (one worker: a single render cannot use more).
fn single(engine: &Engine, project: &Project, assets: &AssetResolver, dir: &Path) -> Res<Duration> {
    let started = Instant::now();
    let req = RenderRequest::new(dir.join("single.mp4"), assets.clone());
    engine.render(project, &req, &mut |_| {}, &CancelToken::new())?;
    Ok(started.elapsed())
}

fn load_avg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

pub fn run(args: &ChunksArgs) -> Res<()> {
    let (secs, chunk_secs, workers) = (args.seconds, args.chunk_seconds, args.workers.max(1));
    let (project, assets, name) = match &args.project {
        Some(path) => (
            Project::from_file(path)?,
            assets_for(path),
            path.display().to_string(),
        ),
        None => (
            builtin_project(secs),
            AssetResolver::relative_to("."),
            format!("built-in 640x360@30 moving shapes, {secs} s"),
        ),
    };
    let engine = Engine::new(EngineConfig::default())?;
    let total = chunk::total_frames(&project);
    let per_chunk = ((chunk_secs * project.frame_rate).round() as u64).max(1);
    let ranges = chunk_ranges(total, per_chunk);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    eprintln!(
        "chunk benchmark: {name}, {total} frames in {} chunks, on {} ({cores} CPU cores); load before: {}",
        ranges.len(),
        engine.adapter().name,
        load_avg()
    );
    let dir = tempfile::tempdir()?;
    let t_single = single(&engine, &project, &assets, dir.path())?;
    let mut rows = vec![("1 piece".to_string(), 1usize, t_single)];
    for w in [1, workers] {
        let t = chunked(&engine, &project, &assets, dir.path(), &ranges, w)?;
        rows.push((format!("{} chunks", ranges.len()), w, t));
    }
    println!("| mode | workers | wall time | fps | speedup | efficiency |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (mode, w, t) in rows {
        let speedup = t_single.as_secs_f64() / t.as_secs_f64();
        println!(
            "| {mode} | {w} | {:.2} s | {:.1} | {speedup:.2}× | {:.0} % |",
            t.as_secs_f64(),
            total as f64 / t.as_secs_f64(),
            100.0 * speedup / w as f64
        );
    }
    println!("\n(load average after: {})", load_avg());
    Ok(())
}
