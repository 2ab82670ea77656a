//! Using the engine as a library: build a project in code and render it.
//!
//! ```text
//! cargo run --release -p vrender-engine --example render_in_code -- out.mp4
//! ```

use vrender_engine::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let output = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "render_in_code.mp4".into());

    // 720p, 30 fps, two scenes joined by a wipe.
    let mut project = Project::new(1280, 720, 30.0);
    project.title = "Built in code".into();
    project.quality = Quality::Low;
    let red: Color = "#e63946".parse()?;
    let title = Layer::text("Rendered from Rust")
        .at(640.0, 360.0)
        .anchored(Anchor::Center)
        .animate(
            Animation::new(AnimatedProperty::Scale, 0.6, 1.0, 0.0, 1.0).eased(Easing::EaseOut),
        );
    let card = Layer::shape(ShapeKind::RoundedRect, 700.0, 200.0, red)
        .at(640.0, 360.0)
        .anchored(Anchor::Center)
        .with_opacity(0.8)
        .animate(
            Animation::new(AnimatedProperty::Rotation, -5.0, 5.0, 0.0, 2.0)
                .eased(Easing::EaseInOut),
        );
    project.push(
        Composition::new(2.0)
            .background("#1d3557".parse()?)
            .layer(card)
            .layer(title),
    );
    let dot = Layer::shape(ShapeKind::Ellipse, 200.0, 200.0, Color::WHITE)
        .at(640.0, 360.0)
        .anchored(Anchor::Center)
        .blended(BlendMode::Overlay);
    project.push(
        Composition::new(2.0)
            .background("#457b9d".parse()?)
            .transition(TransitionKind::Wipe, 0.5)
            .layer(dot),
    );

    // Media paths (none here) would resolve against the current folder.
    let engine = Engine::new(EngineConfig::default())?;
    println!(
        "rendering on {} ({})",
        engine.adapter().name,
        engine.adapter().backend
    );
    let request = RenderRequest::new(&output, AssetResolver::relative_to("."));
    let stats = engine.render(
        &project,
        &request,
        &mut |p| eprint!("\r{:>5.1} % {:?}   ", 100.0 * p.fraction(), p.phase),
        &CancelToken::new(),
    )?;
    eprintln!();
    println!(
        "wrote {output}: {} frames in {:.2} s ({:.1} fps)",
        stats.frames,
        stats.elapsed.as_secs_f64(),
        stats.fps()
    );
    Ok(())
}
