//! The types a caller hands a render and gets back: creation-time options ([`EngineConfig`]),
//! per-render parameters ([`RenderRequest`]), progress reports, the cancel token and the stats of a
//! finished render.

use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::stills::StillOutput;
pub use crate::compositor::AdapterSummary;
pub use crate::encoder::EncoderPreference;
use crate::media::AssetResolver;
use crate::project::{GifOptions, Limits, OutputFormat, Quality};

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
    /// Compose and convert only the part of a frame that changed since the previous one (default
    /// true; frames with one opaque scene and no video or captions on screen). The pixels are
    /// identical either way; off is for measuring and testing.
    pub dirty_regions: bool,
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
            dirty_regions: true,
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
    /// Frames composed and converted only where they changed since the previous frame.
    pub partial_frames: u64,
}

impl RenderStats {
    pub fn fps(&self) -> f64 {
        self.frames as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}
