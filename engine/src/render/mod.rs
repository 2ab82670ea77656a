//! The render pipeline driver: project → timeline → compositor → encoder → file.
//!
//! [`Engine`] owns the GPU device and the compiled pipelines (creation-time options in
//! [`EngineConfig`]); each [`Engine::render`] call takes per-render parameters ([`RenderRequest`]).
//! One `Engine` is `Send + Sync` and may run several renders at once from different threads.
//!
//! The caller's types are in `request.rs`, the frame loop in `frames.rs`, single frames and
//! prepared projects in `single.rs`, chunked renders in `chunk.rs`, posters and thumbnails in
//! `stills.rs`, the render's error in `error.rs`.

pub mod chunk;
mod error;
mod frames;
mod request;
mod single;
pub mod stills;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use error::RenderError;
pub use request::*;
pub use single::PreparedProject;

use crate::compositor::gpu::Gpu;
use crate::compositor::text::TextSystem;
use crate::compositor::{Compositor, FrameTarget, Reuse, Scene};
use crate::encoder::{self, EncoderConfig};
use crate::media::{AssetResolver, MediaIndex, ProbeCache};
use crate::project::ProjectError;
use crate::project::{Limits, OutputFormat, Project};
use crate::timeline::Timeline;
use frames::FramePlan;

/// The render engine: a GPU device, compiled pipelines and fonts, shared by all renders.
pub struct Engine {
    config: EngineConfig,
    gpu: Gpu,
    compositor: Compositor,
    /// Shared with prepared scenes (they keep their project's fonts loaded while they live).
    text: Arc<Mutex<TextSystem>>,
    /// Clip probes shared by this engine's renders (the chunks, join and stills of one job).
    probes: Arc<ProbeCache>,
}

impl Engine {
    /// Opens the GPU (a real one when present, else software Vulkan) and compiles the pipelines.
    pub fn new(config: EngineConfig) -> Result<Engine, RenderError> {
        let gpu = Gpu::open(config.adapter.as_deref())?;
        let compositor = Compositor::new(&gpu.device);
        let text = Arc::new(Mutex::new(TextSystem::new(
            &gpu.device,
            &gpu.queue,
            &config.font_paths,
            config.system_fonts,
        )));
        Ok(Engine {
            config,
            gpu,
            compositor,
            text,
            probes: Arc::default(),
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The glyphs a text layer's text is shaped into (engine fonts only, no project fonts): which
    /// face draws each character and where, in layer units from the box's top-left corner.
    pub fn text_glyphs(
        &self,
        layer: &crate::project::Layer,
    ) -> Result<Vec<crate::compositor::text::GlyphBox>, RenderError> {
        let mut ts = self.text.lock().unwrap_or_else(|e| e.into_inner());
        let chain = ts.chain(&Default::default(), layer, "layer")?;
        let job = crate::compositor::text::TextJob {
            text: layer.text.as_deref().unwrap_or(""),
            chain: &chain,
            highlight: None,
            path: "layer",
        };
        Ok(ts.glyphs(layer, &job))
    }

    /// The adapter renders run on.
    pub fn adapter(&self) -> &AdapterSummary {
        &self.gpu.summary
    }

    /// The `ffmpeg` and `ffprobe` this engine decodes video layers with.
    pub fn media_tools(&self) -> crate::media::MediaTools {
        crate::media::MediaTools::for_ffmpeg(self.config.ffmpeg.as_deref())
    }

    /// An index of the media `assets` resolves, read with this engine's tools, for the stages of
    /// one render; it shares this engine's clip probes, so a clip already probed by another render
    /// of this engine (and unchanged since) is not probed again.
    pub fn media_index(&self, assets: &AssetResolver) -> MediaIndex {
        MediaIndex::sharing(assets.clone(), self.media_tools(), Arc::clone(&self.probes))
    }

    /// The `ffmpeg` binary this engine encodes with.
    pub fn ffmpeg(&self) -> PathBuf {
        encoder::ffmpeg_path(self.config.ffmpeg.as_deref())
    }

    pub(crate) fn check(
        &self,
        project: &Project,
        limits: &Limits,
        media: &MediaIndex,
    ) -> Result<(), RenderError> {
        project
            .validate_with_facts(limits, media)
            .map_err(|e| RenderError::Project(ProjectError::Invalid(e)))
    }

    /// Renders `project` to `request.output`, reporting progress and stopping when `cancel` fires.
    /// On any error or cancellation the partial output file is removed.
    pub fn render(
        &self,
        project: &Project,
        request: &RenderRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
    ) -> Result<RenderStats, RenderError> {
        let preference = request.encoder;
        self.render_with(project, request, progress, cancel, &mut |config| {
            Ok(encoder::open(config, preference)?)
        })
    }

    /// [`Engine::render`] with a caller-supplied encoder: it receives the [`EncoderConfig`] the engine
    /// would use (size, stride, rate, quality, audio) and returns any [`encoder::Encoder`]. Benchmarks
    /// use it to measure composition alone ([`encoder::DiscardEncoder`]).
    pub fn render_with(
        &self,
        project: &Project,
        request: &RenderRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
        open_encoder: &mut dyn FnMut(
            EncoderConfig,
        ) -> Result<Box<dyn encoder::Encoder>, RenderError>,
    ) -> Result<RenderStats, RenderError> {
        let started = Instant::now();
        let media = self.media_index(&request.assets);
        self.check(project, &request.limits, &media)?;
        let timeline = Timeline::new(project);
        let total = timeline.total_frames();
        let range = match &request.frames {
            None => 0..total,
            Some(r) if r.start < r.end && r.end <= total => r.clone(),
            Some(r) => {
                return Err(RenderError::Request(format!(
                    "frames {}..{} is outside the timeline's 0..{total}",
                    r.start, r.end
                )))
            }
        };
        let frames = range.end - range.start;
        let mut report = |phase: Phase, done: u64, loop_started: Option<Instant>| {
            let fps =
                loop_started.map_or(0.0, |t| done as f64 / t.elapsed().as_secs_f64().max(1e-6));
            let eta = (fps > 0.0).then(|| Duration::from_secs_f64((frames - done) as f64 / fps));
            progress(Progress {
                phase,
                frames_done: done,
                frames_total: frames,
                fps,
                eta,
            });
        };
        report(Phase::Loading, 0, None);
        let scene = Scene::prepare(
            &self.gpu,
            &self.compositor,
            &self.text,
            Cow::Borrowed(project),
            timeline,
            &media,
        )?;
        if cancel.is_cancelled() {
            return Err(RenderError::Cancelled);
        }
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
            crate::audio::AudioMixer::for_prepared(project, &scene.timeline, &media, end)?.map(
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
            &scene,
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
