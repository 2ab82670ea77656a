//! Composes a project's frames on the GPU and reads them back as YUV without encoding, printing the
//! throughput: `cargo run --release -p vrender-engine --example compose_only -- examples/s1.json [N]`.

use std::path::PathBuf;

use vrender_engine::encoder::DiscardEncoder;
use vrender_engine::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = PathBuf::from(
        std::env::args()
            .nth(1)
            .ok_or("usage: compose_only project.json [frames]")?,
    );
    let frames: Option<u64> = std::env::args().nth(2).map(|s| s.parse()).transpose()?;
    let project = Project::from_file(&path)?;
    let engine = Engine::new(EngineConfig::default())?;
    let mut request = RenderRequest::new(
        "/dev/null",
        AssetResolver::relative_to(path.parent().unwrap()),
    );
    request.frames = frames.map(|n| 0..n);
    let stats = engine.render_with(
        &project,
        &request,
        &mut |_| {},
        &CancelToken::new(),
        &mut |_| Ok(Box::new(DiscardEncoder::new(|_| {}))),
    )?;
    println!(
        "{} frames in {:.2} s: {:.2} fps on {}",
        stats.frames,
        stats.elapsed.as_secs_f64(),
        stats.fps(),
        stats.adapter
    );
    Ok(())
}
