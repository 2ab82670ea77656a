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
mod range;
mod request;
mod single;
pub mod stills;

use std::borrow::Cow;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

pub use error::RenderError;
pub use range::OpenEncoder;
pub use request::*;
pub use single::PreparedProject;

use crate::compositor::gpu::Gpu;
use crate::compositor::text::TextSystem;
use crate::compositor::{Compositor, Scene};
use crate::encoder;
use crate::media::{AssetResolver, MediaIndex, ProbeCache};
use crate::project::{Limits, Project, ProjectError};
use crate::timeline::Timeline;
use range::RangeJob;

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

    /// [`Engine::render`] with a caller-supplied encoder: it receives the [`encoder::EncoderConfig`] the engine
    /// would use (size, stride, rate, quality, audio) and returns any [`encoder::Encoder`]. Benchmarks
    /// use it to measure composition alone ([`encoder::DiscardEncoder`]).
    pub fn render_with(
        &self,
        project: &Project,
        request: &RenderRequest,
        progress: &mut dyn FnMut(Progress),
        cancel: &CancelToken,
        open_encoder: &mut OpenEncoder,
    ) -> Result<RenderStats, RenderError> {
        let started = Instant::now();
        let media = self.media_index(&request.assets);
        self.check(project, &request.limits, &media)?;
        let timeline = Timeline::new(project);
        let range = range::frame_range(timeline.total_frames(), request.frames.as_ref())?;
        let mut report = range::reporter(progress, range.end - range.start);
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
        self.render_range(
            RangeJob {
                scene: &scene,
                media: &media,
                range,
                request,
                started,
            },
            &mut report,
            cancel,
            open_encoder,
        )
    }
}
