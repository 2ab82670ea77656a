//! `vrender play project.json`: mixes the project's audio tracks exactly as a render would and plays
//! them on the default output device (feature `preview`).

use std::path::PathBuf;

use anyhow::{bail, Result};
use clap::Args;
use vrender_engine::timeline::Timeline;
use vrender_engine::{audio, AssetResolver, Project, ProjectError};

#[derive(Args, Debug)]
pub struct PlayArgs {
    /// The project JSON file.
    pub project: PathBuf,
}

pub fn run(args: PlayArgs) -> Result<()> {
    let project = Project::from_file(&args.project)?;
    let base = args
        .project
        .parent()
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    let assets = AssetResolver::relative_to(base);
    project
        .validate(&Default::default(), &assets)
        .map_err(ProjectError::Invalid)?;
    let timeline = Timeline::new(&project);
    let frames = (timeline.duration() * audio::SAMPLE_RATE as f64).round() as u64;
    let tools = vrender_engine::video::MediaTools::default();
    let Some(mixer) = audio::AudioMixer::for_project(&project, &assets, &tools, frames)? else {
        bail!(
            "{}: the project has no audio tracks and no video layer with sound",
            args.project.display()
        );
    };
    eprintln!(
        "playing {:.1} s of audio from {}",
        timeline.duration(),
        args.project.display()
    );
    audio::play(mixer)?;
    Ok(())
}
