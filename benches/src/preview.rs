//! `vrender-bench preview`: latency of a frame preview (what `POST /api/v1/render/previews` does
//! after parsing: prepare the project on a cache miss, compose the frame, read it back, scale and
//! encode it) on one project, cold and warm, as p50/p95.
//!
//! ```text
//! cargo run --release -p vrender-bench -- preview [--project examples/s1.json] [--scrubs 50]
//!     [--cold 5] [--width 960] [--format jpeg|png]
//! ```
//! *Cold*: a project seen for the first time (media decoded, text rasterised, atlas uploaded) plus
//! its first frame, on an engine already open. *Warm*: `--scrubs` frames spread over the timeline in
//! a shuffled order (a user dragging the scrubber back and forth) on the cached prepared project.

use std::time::Instant;

use vrender_engine::*;

use super::{assets_for, PreviewArgs, Res};

/// Scales (when `width` is smaller) and encodes a frame as the service does.
fn encode(img: image::RgbaImage, width: Option<u32>, jpeg: bool) -> Res<usize> {
    let img = match width.filter(|&w| w < img.width()) {
        Some(w) => {
            let h = ((img.height() as f64 * w as f64 / img.width() as f64).round() as u32).max(1);
            image::imageops::resize(&img, w, h, image::imageops::FilterType::Triangle)
        }
        None => img,
    };
    let mut out = Vec::new();
    let cursor = &mut std::io::Cursor::new(&mut out);
    if jpeg {
        image::DynamicImage::ImageRgba8(img)
            .to_rgb8()
            .write_with_encoder(image::codecs::jpeg::JpegEncoder::new_with_quality(
                cursor, 85,
            ))?;
    } else {
        img.write_to(cursor, image::ImageFormat::Png)?;
    }
    Ok(out.len())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut ms: Vec<f64>) -> (f64, f64, f64, f64) {
    ms.sort_by(f64::total_cmp);
    (
        percentile(&ms, 0.5),
        percentile(&ms, 0.95),
        ms[0],
        ms[ms.len() - 1],
    )
}

pub fn run(args: &PreviewArgs) -> Res<()> {
    let project = Project::from_file(&args.project)?;
    let assets = assets_for(&args.project);
    let limits = Limits::default();
    let jpeg = args.format == "jpeg";
    let t = Instant::now();
    let engine = Engine::new(EngineConfig::default())?;
    let engine_ms = t.elapsed().as_secs_f64() * 1e3;
    let total = vrender_engine::timeline::Timeline::new(&project).total_frames();

    let mut cold = Vec::new();
    for i in 0..args.cold.max(1) {
        let t = Instant::now();
        let mut prepared = engine.prepare(project.clone(), &assets, &limits)?;
        let img = engine.render_prepared(&mut prepared, (i as u64 * 37) % total)?;
        encode(img, args.width, jpeg)?;
        cold.push(t.elapsed().as_secs_f64() * 1e3);
    }

    let mut prepared = engine.prepare(project.clone(), &assets, &limits)?;
    // Frames spread evenly over the timeline, visited in a fixed shuffled order.
    let n = args.scrubs.max(1) as u64;
    let mut frames: Vec<u64> = (0..n).map(|i| i * total / n).collect();
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for i in (1..frames.len()).rev() {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        frames.swap(i, (seed % (i as u64 + 1)) as usize);
    }
    let mut warm = Vec::new();
    let mut compose = Vec::new();
    let mut bytes = 0;
    for &f in &frames {
        let t = Instant::now();
        let img = engine.render_prepared(&mut prepared, f)?;
        compose.push(t.elapsed().as_secs_f64() * 1e3);
        bytes = encode(img, args.width, jpeg)?;
        warm.push(t.elapsed().as_secs_f64() * 1e3);
    }

    let size = match args.width {
        Some(w) => format!("scaled to {w} px wide"),
        None => format!("{}x{}", project.width, project.height),
    };
    println!(
        "Preview latency: {} ({}x{}, {total} frames), {} {size}, adapter {}, {} CPU cores; engine start {engine_ms:.0} ms (once per process)\n",
        args.project.display(),
        project.width,
        project.height,
        args.format,
        engine.adapter().name,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );
    println!("| preview | runs | p50 ms | p95 ms | min ms | max ms |");
    println!("|---|---:|---:|---:|---:|---:|");
    for (name, ms) in [
        ("cold (prepare + frame + encode)", cold),
        ("warm (frame + encode)", warm),
        ("warm, compose + readback only", compose),
    ] {
        let runs = ms.len();
        let (p50, p95, min, max) = summary(ms);
        println!("| {name} | {runs} | {p50:.1} | {p95:.1} | {min:.1} | {max:.1} |");
    }
    println!("\nlast encoded preview: {bytes} bytes");
    Ok(())
}
