//! Chunked rendering: a long timeline split into frame ranges that render independently (on any
//! machine), then joined without re-encoding.
//!
//! 1. [`chunk_ranges`] splits the timeline into whole-frame ranges.
//! 2. [`Engine::render_chunk`] renders one range as a video-only file. Each chunk gets a fresh
//!    encoder with the render's usual settings, so it starts on a keyframe (IDR for H.264, a key
//!    frame for VP9) and nothing refers across a chunk boundary.
//! 3. [`Engine::concat_chunks`] joins the chunk files with ffmpeg's concat demuxer (`-c:v copy`),
//!    mixes the project's audio for the full length and writes the final container (`+faststart`
//!    for MP4/MOV unless turned off). The output has exactly the timeline's frame count.

use std::ops::Range;
use std::path::PathBuf;
use std::time::Instant;

use super::error::RenderError;
use super::{CancelToken, Engine, Progress, RenderRequest, RenderStats};
use crate::encoder::concat::{concat, ChunkFile, ConcatConfig};
use crate::media::AssetResolver;
use crate::project::{Limits, OutputFormat, Project};
use crate::timeline::Timeline;

/// Splits `0..total_frames` into consecutive ranges of `frames_per_chunk` frames (the last one may
/// be shorter). `frames_per_chunk` 0 counts as 1.
pub fn chunk_ranges(total_frames: u64, frames_per_chunk: u64) -> Vec<Range<u64>> {
    let step = frames_per_chunk.max(1);
    (0..total_frames.div_ceil(step))
        .map(|i| i * step..((i + 1) * step).min(total_frames))
        .collect()
}

/// The timeline's frame count.
pub fn total_frames(project: &Project) -> u64 {
    Timeline::new(project).total_frames()
}

/// What [`Engine::concat_chunks`] joins.
#[derive(Debug, Clone)]
pub struct ConcatRequest {
    /// The chunk files in timeline order, with their frame counts; together they must cover the
    /// whole timeline.
    pub chunks: Vec<ChunkFile>,
    /// The final file.
    pub output: PathBuf,
    /// Overrides the project's output format; must be the chunks' format.
    pub format: Option<OutputFormat>,
    /// How the project's audio paths are resolved.
    pub assets: AssetResolver,
    pub limits: Limits,
    /// Add a silent audio track when the project has none.
    pub silent_audio: bool,
    /// MP4/MOV: index at the front (see [`RenderRequest::faststart`]); off when the output is
    /// uploaded while it is written.
    pub faststart: bool,
}

impl Engine {
    /// Renders `range` of the timeline as a video-only chunk for [`Engine::concat_chunks`]; the
    /// project's audio is ignored. `request.frames` is replaced by `range`.
    pub fn render_chunk(
        &self,
        project: &Project,
        range: Range<u64>,
        request: &RenderRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<RenderStats, RenderError> {
        let mut request = request.clone();
        request.frames = Some(range);
        request.video_only = true;
        request.silent_audio = false;
        self.render(project, &request, progress, cancel)
    }

    /// Joins chunk files into `request.output` without re-encoding the video and muxes the
    /// project's audio (mixed for the full length). On error or cancel the partial output is removed.
    pub fn concat_chunks(
        &self,
        project: &Project,
        request: &ConcatRequest,
        cancel: &CancelToken,
    ) -> Result<RenderStats, RenderError> {
        let started = Instant::now();
        let media = self.media_index(&request.assets);
        self.check(project, &request.limits, &media)?;
        let timeline = Timeline::new(project);
        let total = timeline.total_frames();
        let covered: u64 = request.chunks.iter().map(|c| c.frames).sum();
        if covered != total {
            return Err(RenderError::Request(format!(
                "the chunks hold {covered} frames but the timeline has {total}"
            )));
        }
        // The audio tracks and the sound of video layers, mixed once for the whole length.
        let audio: Option<Box<dyn crate::encoder::AudioSource>> =
            if !crate::audio::AudioMixer::may_sound(project) {
                None
            } else {
                let rate = crate::audio::SAMPLE_RATE as f64 / project.frame_rate;
                let end = (total as f64 * rate).round() as u64;
                crate::audio::AudioMixer::for_prepared(project, &timeline, &media, end)?.map(
                    |mixer| {
                        Box::new(crate::audio::MixerSource::new(mixer, 0))
                            as Box<dyn crate::encoder::AudioSource>
                    },
                )
            };
        let config = ConcatConfig {
            chunks: request.chunks.clone(),
            frame_rate: project.frame_rate,
            format: request.format.unwrap_or(project.output_format),
            output: request.output.clone(),
            ffmpeg: self.ffmpeg(),
            audio,
            silent_audio: request.silent_audio,
            faststart: request.faststart,
        };
        let done = concat(config, &|| cancel.is_cancelled())?;
        if !done {
            return Err(RenderError::Cancelled);
        }
        let output_bytes = std::fs::metadata(&request.output)
            .map(|m| m.len())
            .unwrap_or(0);
        tracing::info!(
            chunks = request.chunks.len(),
            frames = total,
            elapsed_s = started.elapsed().as_secs_f64(),
            bytes = output_bytes,
            "chunks joined"
        );
        Ok(RenderStats {
            frames: total,
            width: project.width,
            height: project.height,
            frame_rate: project.frame_rate,
            duration: std::time::Duration::from_secs_f64(total as f64 / project.frame_rate),
            elapsed: started.elapsed(),
            encoder: "copy (concat)".into(),
            adapter: self.adapter().name.clone(),
            output_bytes,
            cached_frames: 0,
            partial_frames: 0,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_cover_the_timeline_exactly() {
        assert_eq!(chunk_ranges(600, 100).len(), 6);
        assert_eq!(chunk_ranges(601, 100).last(), Some(&(600..601)));
        assert_eq!(chunk_ranges(50, 100), vec![0..50]);
        assert_eq!(chunk_ranges(3, 0), vec![0..1, 1..2, 2..3]);
        assert!(chunk_ranges(0, 10).is_empty());
        let r = chunk_ranges(1234, 77);
        assert_eq!(r.first().map(|r| r.start), Some(0));
        assert!(r.windows(2).all(|w| w[0].end == w[1].start));
        assert_eq!(r.last().map(|r| r.end), Some(1234));
    }
}
