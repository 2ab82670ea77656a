//! One frame range of a prepared scene, rendered into an encoder: the part of a render after
//! validation and scene preparation, shared by whole renders ([`Engine::render_with`]), renders of
//! a [`PreparedProject`] (chunks of one job) and stills ([`Engine::render_stills`]).

use std::ops::Range;
use std::time::{Duration, Instant};

use super::error::RenderError;
use super::frames::FramePlan;
use super::{CancelToken, Engine, Phase, PreparedProject, Progress, RenderRequest, RenderStats};
use crate::compositor::{FrameTarget, Reuse, Scene};
use crate::encoder::{self, EncoderConfig};
use crate::media::MediaIndex;
use crate::project::{OutputFormat, ProjectError};

/// A caller's encoder factory: it gets the [`EncoderConfig`] the engine would use.
pub type OpenEncoder<'a> =
    dyn FnMut(EncoderConfig) -> Result<Box<dyn encoder::Encoder>, RenderError> + 'a;

/// What [`Engine::render_range`] renders: frames `range` of `scene` (its media in `media`), as
/// `request` asks, for a render that started at `started`.
pub(super) struct RangeJob<'a, 's> {
    pub scene: &'a Scene<'s>,
    pub media: &'a MediaIndex,
    pub range: Range<u64>,
    pub request: &'a RenderRequest,
    pub started: Instant,
}

/// `frames` of a timeline of `total` frames (all when `None`), or why they are not in it.
pub(super) fn frame_range(
    total: u64,
    frames: Option<&Range<u64>>,
) -> Result<Range<u64>, RenderError> {
    match frames {
        None => Ok(0..total),
        Some(r) if r.start < r.end && r.end <= total => Ok(r.clone()),
        Some(r) => Err(RenderError::Request(format!(
            "frames {}..{} is outside the timeline's 0..{total}",
            r.start, r.end
        ))),
    }
}

/// Progress reports of a render of `frames` frames: (phase, frames done, when the frame loop
/// started) → fps and time left.
pub(super) fn reporter(
    progress: &mut dyn FnMut(Progress),
    frames: u64,
) -> impl FnMut(Phase, u64, Option<Instant>) + '_ {
    move |phase: Phase, done: u64, loop_started: Option<Instant>| {
        let fps = loop_started.map_or(0.0, |t| done as f64 / t.elapsed().as_secs_f64().max(1e-6));
        let eta = (fps > 0.0).then(|| Duration::from_secs_f64((frames - done) as f64 / fps));
        progress(Progress {
            phase,
            frames_done: done,
            frames_total: frames,
            fps,
            eta,
        });
    }
}

impl Engine {
    /// Renders `request.frames` (all when `None`) of a project prepared by [`Engine::prepare`] into
    /// the encoder `open_encoder` returns, as [`Engine::render_with`] would — without validating
    /// or preparing again: the chunks of one job, or several outputs of one project, share the
    /// preparation. `request.assets` and `request.limits` are not used (the preparation's are).
    pub fn render_prepared_with(
        &self,
        prepared: &PreparedProject,
        request: &RenderRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
        open_encoder: &mut OpenEncoder,
    ) -> Result<RenderStats, RenderError> {
        let started = Instant::now();
        let range = frame_range(prepared.total_frames(), request.frames.as_ref())?;
        let mut report = reporter(progress, range.end - range.start);
        self.render_range(
            RangeJob {
                scene: &prepared.scene,
                media: &prepared.media,
                range,
                request,
                started,
            },
            &mut report,
            cancel,
            open_encoder,
        )
    }

    /// Composes frames `job.range` of the prepared scene into a fresh frame target and hands them
    /// to the encoder `open_encoder` returns (with the project's audio mixed unless the request is
    /// video-only), writing the request's stills on the way.
    pub(super) fn render_range(
        &self,
        job: RangeJob,
        report: &mut dyn FnMut(Phase, u64, Option<Instant>),
        cancel: &CancelToken,
        open_encoder: &mut OpenEncoder,
    ) -> Result<RenderStats, RenderError> {
        let RangeJob {
            scene,
            media,
            range,
            request,
            started,
        } = job;
        let project = scene.project();
        let frames = range.end - range.start;
        let target = FrameTarget::new(&self.gpu, &self.compositor, project.width, project.height);
        let format = request.format.unwrap_or(project.output_format);
        let quality = request.quality.unwrap_or(project.quality);
        let alpha = format.has_alpha() && project.has_transparency();
        let gif = match format {
            OutputFormat::Gif => {
                let (fps, width, height) = request
                    .gif
                    .resolve(project.width, project.height, project.frame_rate, frames)
                    .map_err(|e| RenderError::Project(ProjectError::Invalid(e)))?;
                Some(encoder::GifOutput { fps, width, height })
            }
            _ => None,
        };
        for still in &request.stills {
            still
                .check(&range, project.width)
                .map_err(RenderError::Request)?;
        }
        let audio: Option<Box<dyn encoder::AudioSource>> = if request.video_only
            || !format.has_audio()
            || !crate::audio::AudioMixer::may_sound(project)
        {
            None
        } else {
            report(Phase::Audio, 0, None);
            let rate = crate::audio::SAMPLE_RATE as f64 / project.frame_rate;
            let skip = (range.start as f64 * rate).round() as u64;
            let end = (range.end as f64 * rate).round() as u64;
            crate::audio::AudioMixer::for_prepared(project, &scene.timeline, media, end)?.map(
                |mixer| {
                    Box::new(crate::audio::MixerSource::new(mixer, skip))
                        as Box<dyn encoder::AudioSource>
                },
            )
        };
        let config = EncoderConfig {
            width: project.width,
            height: project.height,
            stride: target.stride,
            frame_rate: project.frame_rate,
            quality,
            format,
            output: request.output.clone(),
            ffmpeg: self.ffmpeg(),
            audio,
            silent_audio: request.silent_audio && !request.video_only,
            faststart: request.faststart,
            alpha,
            gif,
        };
        let mut enc = open_encoder(config)?;
        let encoder_name = enc.name();
        tracing::info!(
            frames,
            width = project.width,
            height = project.height,
            fps = project.frame_rate,
            encoder = %encoder_name,
            adapter = %self.gpu.summary.name,
            "render started"
        );

        let result = self.frame_loop(
            scene,
            &target,
            FramePlan {
                range,
                reuse: Reuse {
                    cache: request.frame_cache,
                    dirty: request.dirty_regions,
                },
                alpha,
                stills: &request.stills,
            },
            &mut *enc,
            cancel,
            &mut |done, t| report(Phase::Composing, done, Some(t)),
        );
        let (cached_frames, partial_frames) = match result {
            Ok(n) => n,
            Err(e) => {
                enc.abort();
                return Err(e);
            }
        };
        // Every frame is composed and handed over; x264 is flushing its look-ahead.
        report(Phase::Encoding, frames.saturating_sub(1), Some(started));
        if let Err(e) = enc.send_frame(None) {
            enc.abort();
            return Err(e.into());
        }
        report(Phase::Encoding, frames, Some(started));
        let output_bytes = std::fs::metadata(&request.output)
            .map(|m| m.len())
            .unwrap_or(0);
        let stats = RenderStats {
            frames,
            width: project.width,
            height: project.height,
            frame_rate: project.frame_rate,
            duration: Duration::from_secs_f64(frames as f64 / project.frame_rate),
            elapsed: started.elapsed(),
            encoder: encoder_name,
            adapter: self.gpu.summary.name.clone(),
            output_bytes,
            cached_frames,
            partial_frames,
        };
        tracing::info!(
            frames,
            elapsed_s = stats.elapsed.as_secs_f64(),
            fps = stats.fps(),
            bytes = output_bytes,
            "render finished"
        );
        Ok(stats)
    }
}
