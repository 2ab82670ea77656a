//! The video project format: what users send (JSON, camelCase) and what library users build in code.
//!
//! The top-level names follow the seed's `VideoProjectDto`. A project is a sequence of *compositions*
//! (`frames`), each with a duration, a background, an optional transition in from the previous one, and
//! layers drawn bottom to top. Parsing ([`Project::from_json`]) reports type errors with their JSON path;
//! [`Project::validate`] checks ranges, limits and media files before any GPU work.

mod animation;
mod audio_track;
pub mod captions;
mod color;
mod content;
mod error;
mod facts;
mod memory;
pub mod merge;
mod parse;
mod schema;
mod style;
mod text_check;
mod text_style;
mod validate;
mod video;
mod video_check;

pub use animation::{AnimatedProperty, Animation, Easing};
pub use audio_track::AudioTrack;
pub use color::{Color, ColorParseError};
pub use content::{
    CaptionSource, CaptionsContent, ImageContent, LayerContent, ShapeContent, TextContent,
    VideoContent,
};
pub use error::ProjectError;
pub use facts::{ClipFacts, MediaFacts};
pub(crate) use memory::{media_box, raster_size};
pub use merge::{MergeError, MergeValues, MissingField, Template};
pub use schema::project_json_schema;
pub use style::{
    Anchor, BlendMode, Fill, GradientKind, GradientStop, LinearGradient, Shadow, ShapeKind, Stroke,
    TextAlign,
};
pub use text_style::{
    Cue, CueWord, FontFamilies, FontSource, FontStyle, FontWeight, Highlight, TextBackground,
    VerticalAlign, WeightKeyword,
};
pub use validate::{Limits, ValidationError, MAX_VIDEO_SIDE};
pub use video::{Fit, FitPlacement, MAX_SPEED, MIN_SPEED};

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A whole video: size, rate, quality, the timeline of compositions and audio tracks.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schemars(
    rename = "VideoProject",
    description = "A vrender video project. The numeric bounds are the server's default limits; media files, \
                   kind-specific fields and timing rules are checked when the project is validated."
)]
pub struct Project {
    /// The JSON Schema this file follows (for editors); ignored by the renderer.
    #[serde(default, rename = "$schema", skip_serializing_if = "Option::is_none")]
    pub schema: Option<String>,
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub project_id: String,
    #[serde(default)]
    #[schemars(length(max = 256))]
    pub user_id: String,
    #[serde(default)]
    #[schemars(length(max = 1024))]
    pub title: String,
    /// Pixels; even.
    #[schemars(range(min = 16, max = 7680), extend("multipleOf" = 2))]
    pub width: u32,
    /// Pixels; even.
    #[schemars(range(min = 16, max = 4320), extend("multipleOf" = 2))]
    pub height: u32,
    /// Frames per second.
    #[schemars(range(min = 1, max = 120))]
    pub frame_rate: f64,
    #[serde(default)]
    pub quality: Quality,
    /// The timeline: compositions played one after another.
    #[schemars(length(min = 1, max = 1000))]
    pub frames: Vec<Composition>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub audio_tracks: Vec<AudioTrack>,
    #[serde(default)]
    pub output_format: OutputFormat,
    /// Font files shipped with the project (resolved like media), usable by name in `font`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub fonts: Vec<FontSource>,
}

/// Encoder quality presets, exactly the seed's table (x264 CRF and preset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    /// CRF 32, `veryfast`: quick previews.
    Low,
    /// CRF 28, `fast`: balanced.
    #[default]
    Medium,
    /// CRF 23, `medium`: standard use.
    High,
    /// CRF 18, `slow`: archival.
    Ultra,
}

impl Quality {
    pub const ALL: [Quality; 4] = [Quality::Low, Quality::Medium, Quality::High, Quality::Ultra];

    /// x264 constant rate factor of the preset.
    pub fn crf(self) -> u8 {
        match self {
            Quality::Ultra => 18,
            Quality::High => 23,
            Quality::Medium => 28,
            Quality::Low => 32,
        }
    }

    /// x264 speed preset of the quality level.
    pub fn x264_preset(self) -> &'static str {
        match self {
            Quality::Ultra => "slow",
            Quality::High => "medium",
            Quality::Medium => "fast",
            Quality::Low => "veryfast",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Quality::Low => "low",
            Quality::Medium => "medium",
            Quality::High => "high",
            Quality::Ultra => "ultra",
        }
    }
}

impl std::str::FromStr for Quality {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Quality::ALL
            .into_iter()
            .find(|q| q.as_str() == s)
            .ok_or_else(|| format!("unknown quality `{s}` (expected low, medium, high or ultra)"))
    }
}

/// Container and codec of the output file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// H.264 (x264 or NVENC) + AAC in MP4, `+faststart`.
    #[default]
    Mp4,
    /// H.264 + AAC in QuickTime; with a transparent background, ProRes 4444 with alpha.
    Mov,
    /// VP9 + Opus in WebM; with a transparent background, VP9 `yuva420p` (alpha kept).
    Webm,
    /// Animated GIF: one palette made for the clip, no sound; rate and width are render options.
    Gif,
    /// H.265 (x265) + AAC in MP4, tagged `hvc1` for Apple players.
    Hevc,
    /// One PNG per frame (RGBA with a transparent background), delivered as one ZIP archive.
    Png,
}

impl OutputFormat {
    pub const ALL: [OutputFormat; 6] = [
        OutputFormat::Mp4,
        OutputFormat::Mov,
        OutputFormat::Webm,
        OutputFormat::Gif,
        OutputFormat::Hevc,
        OutputFormat::Png,
    ];

    /// The name users write (`outputFormat`, `--format`).
    pub fn as_str(self) -> &'static str {
        match self {
            OutputFormat::Mp4 => "mp4",
            OutputFormat::Mov => "mov",
            OutputFormat::Webm => "webm",
            OutputFormat::Gif => "gif",
            OutputFormat::Hevc => "hevc",
            OutputFormat::Png => "png",
        }
    }

    /// The output file's extension.
    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Mp4 | OutputFormat::Hevc => "mp4",
            OutputFormat::Mov => "mov",
            OutputFormat::Webm => "webm",
            OutputFormat::Gif => "gif",
            OutputFormat::Png => "zip",
        }
    }

    pub fn mime_type(self) -> &'static str {
        match self {
            OutputFormat::Mp4 | OutputFormat::Hevc => "video/mp4",
            OutputFormat::Mov => "video/quicktime",
            OutputFormat::Webm => "video/webm",
            OutputFormat::Gif => "image/gif",
            OutputFormat::Png => "application/zip",
        }
    }

    /// The format an output file name implies (`.zip`: a PNG sequence; `.mp4`: H.264).
    pub fn from_extension(ext: &str) -> Option<OutputFormat> {
        match ext.to_ascii_lowercase().as_str() {
            "zip" => Some(OutputFormat::Png),
            "mp4" => Some(OutputFormat::Mp4),
            other => other.parse().ok(),
        }
    }

    /// Whether the format carries sound.
    pub fn has_audio(self) -> bool {
        !matches!(self, OutputFormat::Gif | OutputFormat::Png)
    }

    /// Whether the format keeps a transparent background's alpha.
    pub fn has_alpha(self) -> bool {
        matches!(
            self,
            OutputFormat::Mov | OutputFormat::Webm | OutputFormat::Png
        )
    }

    /// Whether chunks of the format can be rendered apart and joined without re-encoding.
    pub fn chunkable(self) -> bool {
        matches!(
            self,
            OutputFormat::Mp4 | OutputFormat::Mov | OutputFormat::Webm | OutputFormat::Hevc
        )
    }
}

impl std::str::FromStr for OutputFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        OutputFormat::ALL
            .into_iter()
            .find(|f| f.as_str() == s)
            .ok_or_else(|| {
                format!("unknown output format `{s}` (expected mp4, mov, webm, gif, hevc or png)")
            })
    }
}

/// Options of GIF output. GIFs are for chat and e-mail: small, short, few colours.
///
/// ffmpeg makes one 256-colour palette for the whole clip (`palettegen`, `stats_mode=full`) and maps
/// every frame to it with Sierra-2-4A error diffusion (`paletteuse`, `dither=sierra2_4a`): smooth
/// gradients without the crawling of ordered dithering. The palette is made at the end of the clip, so
/// ffmpeg holds the scaled clip in memory meanwhile: at most [`GifOptions::MAX_BYTES`].
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GifOptions {
    /// Frames per second, 1 to 30; default the project's rate, at most 15.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
    /// Width in pixels, 16 to 1280 and at most the project's; the height keeps the aspect ratio.
    /// Default the project's width, at most 480.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<u32>,
}

impl GifOptions {
    pub const MAX_FPS: f64 = 30.0;
    pub const MAX_WIDTH: u32 = 1280;
    /// Longest clip, seconds.
    pub const MAX_SECONDS: f64 = 60.0;
    /// Memory ffmpeg may hold for the palette pass (frames × width × height × 4 bytes).
    pub const MAX_BYTES: f64 = 1024.0 * 1024.0 * 1024.0;

    /// The frame rate, width and height used for `project` (`frames` long), or the problems, each
    /// with its field (`gif.fps`, `gif.width`, `gif`).
    pub fn resolve(
        &self,
        width: u32,
        height: u32,
        frame_rate: f64,
        frames: u64,
    ) -> Result<(f64, u32, u32), Vec<ValidationError>> {
        let mut errors = Vec::new();
        let fps = self.fps.unwrap_or(frame_rate.min(15.0));
        if !(1.0..=Self::MAX_FPS).contains(&fps) || fps > frame_rate {
            errors.push(ValidationError {
                path: "gif.fps".into(),
                message: format!(
                    "must be between 1 and {} and at most the project's frame rate {frame_rate}, got {fps}",
                    Self::MAX_FPS
                ),
            });
        }
        let w = self.width.unwrap_or(width.min(480));
        if !(16..=Self::MAX_WIDTH).contains(&w) || w > width {
            errors.push(ValidationError {
                path: "gif.width".into(),
                message: format!(
                    "must be between 16 and {} and at most the project's width {width}, got {w}",
                    Self::MAX_WIDTH
                ),
            });
        }
        // Even, like the video formats; the aspect ratio kept.
        let h = (((height as f64 * w as f64 / width as f64) / 2.0).round() as u32 * 2).max(2);
        let seconds = frames as f64 / frame_rate;
        if seconds > Self::MAX_SECONDS {
            errors.push(ValidationError {
                path: "gif".into(),
                message: format!(
                    "a GIF may last at most {} s, this one is {seconds:.1} s",
                    Self::MAX_SECONDS
                ),
            });
        } else if errors.is_empty() {
            let bytes = (seconds * fps).ceil() * w as f64 * h as f64 * 4.0;
            if bytes > Self::MAX_BYTES {
                errors.push(ValidationError {
                    path: "gif".into(),
                    message: format!(
                        "{w}x{h} at {fps} fps for {seconds:.1} s needs {:.0} MiB for the palette pass, over {:.0} MiB: lower the width, the rate or the length",
                        bytes / 1048576.0,
                        Self::MAX_BYTES / 1048576.0
                    ),
                });
            }
        }
        if errors.is_empty() {
            Ok((fps, w, h))
        } else {
            Err(errors)
        }
    }
}

/// One scene of the timeline.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Composition {
    /// Seconds. Absent: one frame.
    #[serde(default)]
    #[schemars(range(max = 3600), extend("exclusiveMinimum" = 0))]
    pub duration: Option<f64>,
    /// Background colour; default black. `"transparent"` (or any alpha below 255) is kept in the
    /// outputs with alpha (`mov`: ProRes 4444, `webm`: VP9 `yuva420p`, `png`); the others show it
    /// over black.
    #[serde(default)]
    pub background: Option<Color>,
    /// How this composition enters from the previous one. The two overlap by the transition's duration,
    /// so the timeline is `Σ duration − Σ transition.duration` long.
    #[serde(default)]
    pub transition: Option<Transition>,
    #[serde(default)]
    pub layers: Vec<Layer>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Transition {
    #[serde(rename = "type")]
    pub kind: TransitionKind,
    /// Seconds.
    pub duration: f64,
    /// Easing of the transition progress; default linear.
    #[serde(default)]
    pub easing: Easing,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum TransitionKind {
    /// Cross-fade.
    Fade,
    /// The incoming scene is revealed from left to right.
    Wipe,
    /// The incoming scene slides in from the right and pushes the outgoing one out to the left.
    Slide,
}

/// The kind of a layer. Kind-specific fields on [`Layer`] are only allowed on their kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum LayerKind {
    Image,
    Text,
    Shape,
    /// A video clip (see [`crate::video`]): `src` plus the video fields of [`Layer`].
    Video,
    /// Timed captions from an SRT/WebVTT file (`src`) or inline `cues`, in one text style.
    Captions,
}

/// One layer. Common fields (placement, transform, timing, animation) apply to every kind; the rest are
/// kind-specific and rejected on other kinds by validation (one flat struct keeps JSON errors precise).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Layer {
    #[serde(rename = "type")]
    pub kind: LayerKind,

    // --- placement and transform (pixels, degrees clockwise) ---
    #[serde(default)]
    #[schemars(range(min = -100000, max = 100000))]
    pub x: f64,
    #[serde(default)]
    #[schemars(range(min = -100000, max = 100000))]
    pub y: f64,
    /// Width in pixels. Images and videos default to their natural (display) size, text to its measured
    /// size; shapes need it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub width: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub height: Option<f64>,
    /// Which point of the layer sits at (x, y) and is the centre of rotation and scale. Default top-left.
    #[serde(default)]
    pub anchor: Anchor,
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 100))]
    pub scale: f64,
    #[serde(default)]
    #[schemars(range(min = -36000, max = 36000))]
    pub rotation: f64,
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 1))]
    pub opacity: f64,
    #[serde(default)]
    pub blend: BlendMode,
    /// Seconds inside the composition when the layer appears (default 0) and disappears (default: end).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end: Option<f64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub animations: Vec<Animation>,

    // --- image and video ---
    /// Image file (PNG, JPEG, WebP) or, on a video layer, a video file, relative to the project file's
    /// folder or an asset root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub src: Option<String>,
    /// How the picture fills the layer's box; default [`Fit::Fill`] (stretched).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fit: Option<Fit>,

    // --- video (accessors with the defaults: [`Layer::trim_start`], [`Layer::speed`], ...) ---
    /// Source seconds skipped at the start of the clip; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim_start: Option<f64>,
    /// Source second where the clip stops; default its end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim_end: Option<f64>,
    /// Playback rate, [`MIN_SPEED`] to [`MAX_SPEED`]; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.25, max = 4))]
    pub speed: Option<f64>,
    /// Repeat the trimmed span until the layer ends; default false.
    #[serde(default, rename = "loop", skip_serializing_if = "Option::is_none")]
    pub looped: Option<bool>,
    /// Gain of the clip's sound, 0 to 4; default 1.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 4))]
    pub volume: Option<f64>,
    /// Leave the clip's sound out; default false.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub muted: Option<bool>,
    /// Seconds of linear fade at the start / end of the clip's sound; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fade_in: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fade_out: Option<f64>,

    // --- text ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// Font family name or a fallback chain of them; default "DejaVu Sans" (bundled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font: Option<FontFamilies>,
    /// 1–1000 or `"normal"` / `"bold"`; default normal (400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font_weight: Option<FontWeight>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub font_style: Option<FontStyle>,
    /// Extra pixels between letters (negative: tighter); default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = -1000, max = 1000))]
    pub letter_spacing: Option<f64>,
    /// A box behind the text's lines.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<TextBackground>,
    /// Where the text sits in a taller box (`height`); default top.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vertical_align: Option<VerticalAlign>,
    /// Pick the largest font size (up to `size`, or without it as large as fits) at which the text
    /// fits `width` × `height`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_fit: Option<bool>,

    // --- captions (and the text style above) ---
    /// Inline cues, instead of a caption file in `src`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cues: Option<Vec<Cue>>,
    /// Word highlight following the spoken word.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub highlight: Option<Highlight>,
    /// Most lines a cue may wrap to; longer cues are drawn smaller until they fit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 20))]
    pub max_lines: Option<u32>,
    /// Font size in pixels; default 48.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 2000))]
    pub size: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<Color>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub align: Option<TextAlign>,
    /// Wrap lines longer than this many pixels.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_width: Option<f64>,
    /// Line height as a multiple of the size; default 1.2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line_height: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shadow: Option<Shadow>,

    // --- shape ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shape: Option<ShapeKind>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fill: Option<Fill>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corner_radius: Option<f64>,

    // --- text and shape ---
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stroke: Option<Stroke>,
}

fn one() -> f64 {
    1.0
}

impl Layer {
    fn new(kind: LayerKind) -> Self {
        Layer {
            kind,
            x: 0.0,
            y: 0.0,
            width: None,
            height: None,
            anchor: Anchor::default(),
            scale: 1.0,
            rotation: 0.0,
            opacity: 1.0,
            blend: BlendMode::default(),
            start: None,
            end: None,
            animations: Vec::new(),
            src: None,
            fit: None,
            trim_start: None,
            trim_end: None,
            speed: None,
            looped: None,
            volume: None,
            muted: None,
            fade_in: None,
            fade_out: None,
            text: None,
            font: None,
            font_weight: None,
            font_style: None,
            letter_spacing: None,
            background: None,
            vertical_align: None,
            auto_fit: None,
            cues: None,
            highlight: None,
            max_lines: None,
            size: None,
            color: None,
            align: None,
            max_width: None,
            line_height: None,
            shadow: None,
            shape: None,
            fill: None,
            corner_radius: None,
            stroke: None,
        }
    }

    /// An image layer showing `src` at its natural size.
    pub fn image(src: impl Into<String>) -> Self {
        Layer {
            src: Some(src.into()),
            ..Layer::new(LayerKind::Image)
        }
    }

    /// A video layer playing `src` from its start at its natural display size.
    pub fn video(src: impl Into<String>) -> Self {
        Layer {
            src: Some(src.into()),
            ..Layer::new(LayerKind::Video)
        }
    }

    /// A text layer in the default font, 48 px, white.
    pub fn text(text: impl Into<String>) -> Self {
        Layer {
            text: Some(text.into()),
            ..Layer::new(LayerKind::Text)
        }
    }

    /// A captions layer showing `cues` (seconds relative to the layer's start) in the default style.
    pub fn captions(cues: Vec<Cue>) -> Self {
        Layer {
            cues: Some(cues),
            ..Layer::new(LayerKind::Captions)
        }
    }

    /// A shape of the given size filled with `fill`.
    pub fn shape(shape: ShapeKind, width: f64, height: f64, fill: impl Into<Fill>) -> Self {
        Layer {
            shape: Some(shape),
            width: Some(width),
            height: Some(height),
            fill: Some(fill.into()),
            ..Layer::new(LayerKind::Shape)
        }
    }

    pub fn at(mut self, x: f64, y: f64) -> Self {
        self.x = x;
        self.y = y;
        self
    }

    pub fn sized(mut self, width: f64, height: f64) -> Self {
        self.width = Some(width);
        self.height = Some(height);
        self
    }

    pub fn anchored(mut self, anchor: Anchor) -> Self {
        self.anchor = anchor;
        self
    }

    pub fn blended(mut self, blend: BlendMode) -> Self {
        self.blend = blend;
        self
    }

    pub fn with_opacity(mut self, opacity: f64) -> Self {
        self.opacity = opacity;
        self
    }

    pub fn rotated(mut self, degrees: f64) -> Self {
        self.rotation = degrees;
        self
    }

    pub fn scaled(mut self, scale: f64) -> Self {
        self.scale = scale;
        self
    }

    pub fn animate(mut self, animation: Animation) -> Self {
        self.animations.push(animation);
        self
    }

    /// Visible only between `start` and `end` seconds of its composition.
    pub fn between(mut self, start: f64, end: f64) -> Self {
        self.start = Some(start);
        self.end = Some(end);
        self
    }
}

impl Project {
    /// Whether a composition's background is not opaque (the alpha outputs keep it).
    pub fn has_transparency(&self) -> bool {
        self.frames
            .iter()
            .any(|c| c.background.is_some_and(|b| b.a < 255))
    }

    /// A project with no compositions yet.
    pub fn new(width: u32, height: u32, frame_rate: f64) -> Self {
        Project {
            schema: None,
            project_id: String::new(),
            user_id: String::new(),
            title: String::new(),
            width,
            height,
            frame_rate,
            quality: Quality::default(),
            frames: Vec::new(),
            audio_tracks: Vec::new(),
            output_format: OutputFormat::default(),
            fonts: Vec::new(),
        }
    }

    pub fn push(&mut self, composition: Composition) -> &mut Self {
        self.frames.push(composition);
        self
    }
}

impl Composition {
    pub fn new(duration: f64) -> Self {
        Composition {
            duration: Some(duration),
            background: None,
            transition: None,
            layers: Vec::new(),
        }
    }

    pub fn background(mut self, color: Color) -> Self {
        self.background = Some(color);
        self
    }

    pub fn transition(mut self, kind: TransitionKind, duration: f64) -> Self {
        self.transition = Some(Transition {
            kind,
            duration,
            easing: Easing::Linear,
        });
        self
    }

    pub fn layer(mut self, layer: Layer) -> Self {
        self.layers.push(layer);
        self
    }
}
