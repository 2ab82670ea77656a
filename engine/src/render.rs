//! The render pipeline driver: project → timeline → compositor → encoder → file.
//!
//! [`Engine`] owns the GPU device and the compiled pipelines (creation-time options in
//! [`EngineConfig`]); each [`Engine::render`] call takes per-render parameters ([`RenderRequest`]).
//! One `Engine` is `Send + Sync` and may run several renders at once from different threads.

use std::borrow::Cow;
use std::collections::VecDeque;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::assets::AssetResolver;
use crate::compositor::gpu::Gpu;
use crate::compositor::text::TextSystem;
use crate::compositor::{Compositor, FrameTarget, Scene};
use crate::encoder::{self, EncoderConfig, Frame};
use crate::error::{ProjectError, RenderError};
use crate::project::{GifOptions, Limits, OutputFormat, Project, Quality};
use crate::stills::{self, StillOutput};
use crate::timeline::Timeline;

/// Creation-time options of an [`Engine`].
#[derive(Debug, Clone, Default)]
pub struct EngineConfig {
    /// Prefer this adapter name substring (e.g. "llvmpipe" or "H100"); default: the first real GPU,
    /// else software Vulkan.
    pub adapter: Option<String>,
    /// Path to the `ffmpeg` binary; default `ffmpeg` on PATH.
    pub ffmpeg: Option<PathBuf>,
    /// Extra font files or folders for text layers (the bundled DejaVu Sans is always loaded).
    pub font_paths: Vec<PathBuf>,
    /// Let text use the machine's installed fonts (fontconfig's folders). Off: only the bundled
    /// DejaVu Sans, the Noto fallback fonts of `make deps` (when installed), `font_paths` and each
    /// project's own `fonts` — renders then look the same on every machine. The CLI turns it on.
    pub system_fonts: bool,
}

/// Which encoder to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderPreference {
    /// NVENC when compiled in (`nvenc` feature) and present, else x264.
    #[default]
    Auto,
    /// Always the ffmpeg/x264 path.
    Software,
}

/// Per-render parameters.
#[derive(Debug, Clone)]
pub struct RenderRequest {
    /// The output file to write (its folder must exist).
    pub output: PathBuf,
    /// Overrides the project's quality.
    pub quality: Option<Quality>,
    /// Overrides the project's output format.
    pub format: Option<OutputFormat>,
    /// Only these frames of the timeline (half-open range).
    pub frames: Option<Range<u64>>,
    /// How media paths in the project are resolved.
    pub assets: AssetResolver,
    pub limits: Limits,
    pub encoder: EncoderPreference,
    /// Add a silent audio track when the project has none (default: no audio stream).
    pub silent_audio: bool,
    /// MP4/MOV: move the index (`moov`) to the front when the file is done (default true), so players
    /// start without a range request. ffmpeg then rewrites the whole file at the end; turn it off when
    /// the file is uploaded while it is written (everything but the header stays where it was written).
    pub faststart: bool,
    /// Write the video stream only, ignoring the project's audio (chunks of a chunked render; the
    /// audio is mixed once for the whole length when the chunks are joined).
    pub video_only: bool,
    /// Compose static bottom layers once and reuse them while they stay the same (default true).
    /// The pixels are identical either way; off is for measuring and testing.
    pub frame_cache: bool,
    /// GIF output: frame rate and width (see [`GifOptions`]).
    pub gif: GifOptions,
    /// Posters and thumbnails taken from this render's frames as they are encoded.
    pub stills: Vec<StillOutput>,
}

impl RenderRequest {
    pub fn new(output: impl Into<PathBuf>, assets: AssetResolver) -> Self {
        RenderRequest {
            output: output.into(),
            quality: None,
            format: None,
            frames: None,
            assets,
            limits: Limits::default(),
            encoder: EncoderPreference::Auto,
            silent_audio: false,
            faststart: true,
            video_only: false,
            frame_cache: true,
            gif: GifOptions::default(),
            stills: Vec::new(),
        }
    }
}

/// What the render is doing now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Loading,
    Composing,
    Encoding,
    Audio,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::Loading => "loading",
            Phase::Composing => "composing",
            Phase::Encoding => "encoding",
            Phase::Audio => "audio",
        }
    }
}

/// A progress report, sent at most a few times per second and once at the end of each phase.
#[derive(Debug, Clone, Copy)]
pub struct Progress {
    pub phase: Phase,
    /// Frames fully encoded so far.
    pub frames_done: u64,
    pub frames_total: u64,
    /// Measured throughput over the render so far.
    pub fps: f64,
    /// Estimated time left, from the measured throughput.
    pub eta: Option<Duration>,
}

impl Progress {
    /// 0.0 ..= 1.0
    pub fn fraction(&self) -> f64 {
        if self.frames_total == 0 {
            1.0
        } else {
            self.frames_done as f64 / self.frames_total as f64
        }
    }
}

/// Cancels a render from another thread; the render stops at the next frame boundary.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// Measurements of a finished render.
#[derive(Debug, Clone)]
pub struct RenderStats {
    pub frames: u64,
    pub width: u32,
    pub height: u32,
    pub frame_rate: f64,
    pub duration: Duration,
    /// Wall time of the whole render.
    pub elapsed: Duration,
    pub encoder: String,
    pub adapter: String,
    pub output_bytes: u64,
    /// Frames that started from the static-layer cache instead of drawing every layer.
    pub cached_frames: u64,
}

impl RenderStats {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// The GPU adapter a render engine runs on.
#[derive(Debug, Clone, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    /// Whether this is a software rasteriser (lavapipe/llvmpipe).
    pub software: bool,
}

/// The render engine: a GPU device, compiled pipelines and fonts, shared by all renders.
pub struct Engine {
    config: EngineConfig,
    gpu: Gpu,
    compositor: Compositor,
    /// Shared with prepared scenes (they keep their project's fonts loaded while they live).
    text: Arc<Mutex<TextSystem>>,
}

/// Which frames [`Engine::frame_loop`] composes, whether it may use the static-layer cache, whether
/// it reads back RGBA (outputs with alpha) instead of YUV, and the stills to take on the way.
struct FramePlan<'a> {
    range: Range<u64>,
    cache: bool,
    alpha: bool,
    stills: &'a [StillOutput],
}

/// Staging buffers in flight: composing frame N+1 overlaps reading back and encoding frame N.
const READBACK_SLOTS: usize = 3;

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
    pub fn media_tools(&self) -> crate::video::MediaTools {
        crate::video::MediaTools::for_ffmpeg(self.config.ffmpeg.as_deref())
    }

    /// The `ffmpeg` binary this engine encodes with.
    pub fn ffmpeg(&self) -> PathBuf {
        encoder::ffmpeg_path(self.config.ffmpeg.as_deref())
    }

    pub(crate) fn check(
        &self,
        project: &Project,
        limits: &Limits,
        assets: &AssetResolver,
    ) -> Result<(), RenderError> {
        project
            .validate_with_tools(limits, assets, &self.media_tools())
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
        self.check(project, &request.limits, &request.assets)?;
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
            &request.assets,
            &self.media_tools(),
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
            let tools = crate::video::MediaTools::for_ffmpeg(self.config.ffmpeg.as_deref());
            crate::audio::AudioMixer::for_project(project, &request.assets, &tools, end)?.map(
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
                cache: request.frame_cache,
                alpha,
                stills: &request.stills,
            },
            &mut *enc,
            cancel,
            &mut |done, t| report(Phase::Composing, done, Some(t)),
        );
        let cached_frames = match result {
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

    /// Composes, converts and reads back every frame of `range`, handing each to `enc`.
    fn frame_loop(
        &self,
        scene: &Scene<'_>,
        target: &FrameTarget,
        plan: FramePlan,
        enc: &mut dyn encoder::Encoder,
        cancel: &CancelToken,
        report: &mut dyn FnMut(u64, Instant),
    ) -> Result<u64, RenderError> {
        let FramePlan {
            range,
            cache: frame_cache,
            alpha,
            stills,
        } = plan;
        let device = &self.gpu.device;
        let (w, h) = (target.width, target.height);
        let len = if alpha {
            stills::rgba_row_bytes(w) as u64 * h as u64
        } else {
            target.yuv_len()
        };
        let staging: Vec<wgpu::Buffer> = (0..READBACK_SLOTS)
            .map(|_| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("yuv readback"),
                    size: len,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        struct InFlight {
            slot: usize,
            frame: u64,
            submission: wgpu::SubmissionIndex,
            mapped: std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
        }
        let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(READBACK_SLOTS);
        let started = Instant::now();
        let mut last_report = Instant::now();
        let mut encoded = 0u64;
        let mut cached_frames = 0u64;
        let drain = |f: InFlight, enc: &mut dyn encoder::Encoder| -> Result<(), RenderError> {
            device
                .poll(wgpu::PollType::Wait {
                    submission_index: Some(f.submission),
                    timeout: None,
                })
                .map_err(|e| RenderError::Gpu(format!("waiting for frame {}: {e}", f.frame)))?;
            f.mapped
                .recv()
                .map_err(|_| RenderError::Gpu("readback callback dropped".into()))?
                .map_err(|e| RenderError::Gpu(format!("mapping frame {}: {e}", f.frame)))?;
            if let Some(e) = self.gpu.take_error() {
                return Err(RenderError::Gpu(format!("frame {}: {e}", f.frame)));
            }
            let buffer = &staging[f.slot];
            let mapped = buffer
                .slice(..)
                .get_mapped_range()
                .map_err(|e| RenderError::Gpu(format!("reading frame {}: {e}", f.frame)))?;
            let data = if alpha {
                stills::pack_rgba(&mapped, w, h)
            } else {
                mapped.to_vec()
            };
            drop(mapped);
            buffer.unmap();
            for still in stills.iter().filter(|s| s.frame == f.frame) {
                stills::write(still, &data, (w, h, target.stride), alpha)?;
            }
            enc.send_frame(Some(Frame {
                index: f.frame,
                data,
            }))?;
            Ok(())
        };
        for n in range {
            if cancel.is_cancelled() {
                return Err(RenderError::Cancelled);
            }
            if in_flight.len() == READBACK_SLOTS {
                let f = in_flight.pop_front().expect("non-empty");
                drain(f, enc)?;
            }
            let slot = (n as usize) % READBACK_SLOTS;
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
            if scene.encode_frame(
                &self.gpu,
                &self.compositor,
                &mut encoder,
                target,
                n,
                frame_cache,
            )? {
                cached_frames += 1;
            }
            if alpha {
                target.copy_rgba(&mut encoder, &staging[slot]);
            } else {
                target.encode_yuv(&self.compositor, &mut encoder);
                encoder.copy_buffer_to_buffer(&target.yuv, 0, &staging[slot], 0, len);
            }
            let submission = self.gpu.queue.submit([encoder.finish()]);
            let (tx, rx) = std::sync::mpsc::channel();
            staging[slot]
                .slice(..)
                .map_async(wgpu::MapMode::Read, move |r| {
                    let _ = tx.send(r);
                });
            in_flight.push_back(InFlight {
                slot,
                frame: n,
                submission,
                mapped: rx,
            });
            while let Ok(encoder::Packet::Written { frames_encoded }) = enc.receive_packet() {
                encoded = frames_encoded;
            }
            if last_report.elapsed() >= Duration::from_millis(250) {
                last_report = Instant::now();
                report(encoded, started);
            }
        }
        while let Some(f) = in_flight.pop_front() {
            if cancel.is_cancelled() {
                return Err(RenderError::Cancelled);
            }
            drain(f, enc)?;
        }
        Ok(cached_frames)
    }

    /// Renders one frame of the timeline to an RGBA image (sRGB-encoded, straight alpha; opaque unless
    /// a background is transparent).
    pub fn render_still(
        &self,
        project: &Project,
        frame: u64,
        assets: &AssetResolver,
    ) -> Result<image::RgbaImage, RenderError> {
        self.render_still_with_limits(project, frame, assets, &Limits::default())
    }

    pub fn render_still_with_limits(
        &self,
        project: &Project,
        frame: u64,
        assets: &AssetResolver,
        limits: &Limits,
    ) -> Result<image::RgbaImage, RenderError> {
        let mut prepared = self.prepare(project.clone(), assets, limits)?;
        self.render_prepared(&mut prepared, frame)
    }

    /// Validates `project` and prepares it for [`Engine::render_prepared`]: media decoded, text
    /// rasterised, the atlas uploaded and a frame target allocated, once for any number of frames
    /// (previews scrubbing a timeline). The result belongs to this engine.
    pub fn prepare(
        &self,
        project: Project,
        assets: &AssetResolver,
        limits: &Limits,
    ) -> Result<PreparedProject, RenderError> {
        self.check(&project, limits, assets)?;
        let scene = Scene::prepare(
            &self.gpu,
            &self.compositor,
            &self.text,
            Cow::Owned(project),
            assets,
            &self.media_tools(),
        )?;
        let (w, h) = (scene.project().width, scene.project().height);
        let target = FrameTarget::new(&self.gpu, &self.compositor, w, h);
        let row = (4 * w).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        let readback = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("still readback"),
            size: row as u64 * h as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(PreparedProject {
            scene,
            target,
            readback,
            row,
        })
    }

    /// Renders frame `frame` of a project prepared by [`Engine::prepare`] (of this engine) to an
    /// RGBA image (sRGB-encoded, opaque): the pixels the video's frame is encoded from.
    pub fn render_prepared(
        &self,
        prepared: &mut PreparedProject,
        frame: u64,
    ) -> Result<image::RgbaImage, RenderError> {
        let PreparedProject {
            scene,
            target,
            readback: buffer,
            row,
        } = prepared;
        let row = *row;
        let total = scene.timeline.total_frames();
        if frame >= total {
            return Err(RenderError::Request(format!(
                "frame {frame} is past the end (the timeline has {total} frames)"
            )));
        }
        let (w, h) = (scene.project().width, scene.project().height);
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        scene.encode_frame(
            &self.gpu,
            &self.compositor,
            &mut encoder,
            target,
            frame,
            false,
        )?;
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &target.texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row),
                    rows_per_image: None,
                },
            },
            wgpu::Extent3d {
                width: w,
                height: h,
                depth_or_array_layers: 1,
            },
        );
        let submission = self.gpu.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        buffer.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.gpu
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: None,
            })
            .map_err(|e| RenderError::Gpu(format!("waiting for the still: {e}")))?;
        if let Some(e) = self.gpu.take_error() {
            return Err(RenderError::Gpu(format!("frame {frame}: {e}")));
        }
        rx.recv()
            .map_err(|_| RenderError::Gpu("readback callback dropped".into()))?
            .map_err(|e| RenderError::Gpu(format!("mapping the still: {e}")))?;
        let mapped = buffer
            .slice(..)
            .get_mapped_range()
            .map_err(|e| RenderError::Gpu(format!("reading the still: {e}")))?;
        // Straight alpha, as image files expect (the compositor keeps it premultiplied).
        let pixels = stills::pack_rgba(&mapped, w, h);
        drop(mapped);
        buffer.unmap();
        Ok(image::RgbaImage::from_raw(w, h, pixels).expect("buffer size matches"))
    }
}

/// A project made ready for single frames by [`Engine::prepare`]: its scene (decoded media, text,
/// atlas) and a frame target, kept between calls so each frame costs only its composition.
pub struct PreparedProject {
    scene: Scene<'static>,
    target: FrameTarget,
    readback: wgpu::Buffer,
    row: u32,
}

impl PreparedProject {
    pub fn project(&self) -> &Project {
        self.scene.project()
    }

    /// Frames of the project's timeline.
    pub fn total_frames(&self) -> u64 {
        self.scene.timeline.total_frames()
    }
}
