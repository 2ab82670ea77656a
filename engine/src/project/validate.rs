//! Semantic checks of a parsed project: ranges, limits, kind-specific fields and media files.
//! Every error names the JSON path of the value and the rule it breaks.

use std::fmt;

use super::*;

/// One broken rule, at a JSON path such as `frames[2].layers[0].opacity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValidationError {
    pub path: String,
    pub message: String,
}

impl fmt::Display for ValidationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Largest side of a video we decode, in pixels (after rotation), unless
/// [`Limits::max_video_side`] says otherwise.
pub const MAX_VIDEO_SIDE: u32 = 7680;

/// Upper bounds on what one project may ask for. The defaults are documented in the README.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    pub max_width: u32,
    pub max_height: u32,
    pub max_frame_rate: f64,
    /// Seconds of timeline.
    pub max_duration: f64,
    pub max_compositions: usize,
    pub max_layers_per_composition: usize,
    pub max_text_chars: usize,
    pub max_audio_tracks: usize,
    pub max_animations_per_layer: usize,
    /// Video layers in the whole project (each one runs its own decoder during a render).
    pub max_video_layers: usize,
    /// Largest side of a video layer's clip, in display pixels.
    pub max_video_side: u32,
    /// Memory one render may hold, in MiB, as estimated at validation (see `project::memory`):
    /// projects over it are refused naming the layers that cost most. 0: no budget.
    #[serde(default = "default_max_memory_mb")]
    pub max_memory_mb: u64,
}

fn default_max_memory_mb() -> u64 {
    2048
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_width: 7680,
            max_height: 4320,
            max_frame_rate: 120.0,
            max_duration: 3600.0,
            max_compositions: 1000,
            max_layers_per_composition: 64,
            max_text_chars: 10_000,
            max_audio_tracks: 32,
            max_animations_per_layer: 64,
            max_video_layers: 16,
            max_video_side: MAX_VIDEO_SIDE,
            max_memory_mb: default_max_memory_mb(),
        }
    }
}

pub(super) struct Checker<'f> {
    errors: Vec<ValidationError>,
    pub(super) media: super::video_check::MediaCheck,
    /// The media files' facts (the only way validation learns about files).
    pub(super) facts: &'f dyn MediaFacts,
}

impl Checker<'_> {
    pub(super) fn err(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.errors.push(ValidationError {
            path: path.into(),
            message: message.into(),
        });
    }

    /// A finite number within `lo..=hi`.
    pub(super) fn range(&mut self, path: &str, v: f64, lo: f64, hi: f64) -> bool {
        if !v.is_finite() {
            self.err(path, "must be a finite number");
            false
        } else if v < lo || v > hi {
            self.err(path, format!("must be between {lo} and {hi}"));
            false
        } else {
            true
        }
    }

    pub(super) fn forbid<T>(&mut self, path: &str, field: &str, value: &Option<T>, kind: &str) {
        if value.is_some() {
            self.err(
                format!("{path}.{field}"),
                format!("not allowed on a {kind} layer"),
            );
        }
    }
}

/// Coordinates may sit off screen (for animation) but not absurdly far.
const COORD_LIMIT: f64 = 100_000.0;

impl Project {
    /// Checks the whole project against `limits`, learning about its media files from `facts`,
    /// and returns every broken rule at once. Reads no file itself: the engine's
    /// [`crate::media::MediaIndex`] answers from the files (and [`Project::validate`] builds one).
    pub fn validate_with_facts(
        &self,
        limits: &Limits,
        facts: &dyn MediaFacts,
    ) -> Result<(), Vec<ValidationError>> {
        let mut c = Checker {
            errors: Vec::new(),
            media: super::video_check::MediaCheck::new(),
            facts,
        };
        if self.width < 16 || self.width > limits.max_width {
            c.err(
                "width",
                format!("must be between 16 and {}", limits.max_width),
            );
        } else if !self.width.is_multiple_of(2) {
            c.err(
                "width",
                "must be even (4:2:0 video halves the chroma resolution)",
            );
        }
        if self.height < 16 || self.height > limits.max_height {
            c.err(
                "height",
                format!("must be between 16 and {}", limits.max_height),
            );
        } else if !self.height.is_multiple_of(2) {
            c.err(
                "height",
                "must be even (4:2:0 video halves the chroma resolution)",
            );
        }
        let fps_ok = c.range("frameRate", self.frame_rate, 1.0, limits.max_frame_rate);
        if self.project_id.len() > 256 {
            c.err("projectId", "must be at most 256 characters");
        }
        if self.user_id.len() > 256 {
            c.err("userId", "must be at most 256 characters");
        }
        if self.title.len() > 1024 {
            c.err("title", "must be at most 1024 characters");
        }
        if self.output_format == OutputFormat::Webm && self.quality == Quality::Ultra {
            // Fine: VP9 maps the same preset table; nothing to check. Kept explicit for readers.
        }
        super::text_check::check_fonts(&mut c, self);
        if self.frames.is_empty() {
            c.err("frames", "must contain at least one composition");
        }
        if self.frames.len() > limits.max_compositions {
            c.err(
                "frames",
                format!("at most {} compositions", limits.max_compositions),
            );
        }

        let one_frame = if fps_ok { 1.0 / self.frame_rate } else { 0.0 };
        let mut total = 0.0;
        let mut prev_duration: Option<f64> = None;
        for (i, comp) in self.frames.iter().enumerate().take(limits.max_compositions) {
            let p = format!("frames[{i}]");
            let dur = comp.duration.unwrap_or(one_frame);
            let dur_ok = comp.duration.is_none()
                || c.range(
                    &format!("{p}.duration"),
                    dur,
                    f64::MIN_POSITIVE,
                    limits.max_duration,
                );
            if dur_ok && fps_ok && dur < one_frame * 0.999 {
                c.err(
                    format!("{p}.duration"),
                    format!("must last at least one frame ({one_frame:.4} s)"),
                );
            }
            if let Some(t) = &comp.transition {
                let tp = format!("{p}.transition");
                if i == 0 {
                    c.err(&tp, "the first composition has nothing to transition from");
                } else if c.range(
                    &format!("{tp}.duration"),
                    t.duration,
                    0.0,
                    limits.max_duration,
                ) {
                    let limit = dur.min(prev_duration.unwrap_or(dur));
                    if t.duration > limit {
                        c.err(
                            format!("{tp}.duration"),
                            format!("must not exceed this or the previous composition's duration ({limit} s)"),
                        );
                    }
                    total -= t.duration;
                }
                check_easing(&mut c, &format!("{tp}.easing"), &t.easing);
            }
            // Transitions in and out of one composition must not overlap each other, or three scenes
            // would be on screen at once.
            let incoming = comp.transition.as_ref().map_or(0.0, |t| t.duration);
            let outgoing = self
                .frames
                .get(i + 1)
                .and_then(|n| n.transition.as_ref())
                .map_or(0.0, |t| t.duration);
            if incoming.is_finite() && outgoing.is_finite() && incoming + outgoing > dur + 1e-9 {
                c.err(
                    format!("frames[{}].transition.duration", i + 1),
                    format!("together with frames[{i}].transition it exceeds frames[{i}].duration ({dur} s)"),
                );
            }
            total += dur;
            prev_duration = Some(dur);
            if comp.layers.len() > limits.max_layers_per_composition {
                c.err(
                    format!("{p}.layers"),
                    format!(
                        "at most {} layers per composition",
                        limits.max_layers_per_composition
                    ),
                );
            }
            for (j, layer) in comp
                .layers
                .iter()
                .enumerate()
                .take(limits.max_layers_per_composition)
            {
                check_layer(&mut c, &format!("{p}.layers[{j}]"), layer, dur, limits);
            }
        }
        if total.is_finite() && total > limits.max_duration {
            c.err(
                "frames",
                format!(
                    "the timeline lasts {total:.3} s, more than the limit of {} s",
                    limits.max_duration
                ),
            );
        }

        if self.audio_tracks.len() > limits.max_audio_tracks {
            c.err(
                "audioTracks",
                format!("at most {} audio tracks", limits.max_audio_tracks),
            );
        }
        for (i, t) in self
            .audio_tracks
            .iter()
            .enumerate()
            .take(limits.max_audio_tracks)
        {
            let p = format!("audioTracks[{i}]");
            c.range(&format!("{p}.start"), t.start, 0.0, limits.max_duration);
            c.range(&format!("{p}.trimStart"), t.trim_start, 0.0, 1e7);
            if let Some(end) = t.trim_end {
                if c.range(&format!("{p}.trimEnd"), end, 0.0, 1e7) && end <= t.trim_start {
                    c.err(format!("{p}.trimEnd"), "must be greater than trimStart");
                }
            }
            c.range(&format!("{p}.volume"), t.volume, 0.0, 4.0);
            c.range(&format!("{p}.fadeIn"), t.fade_in, 0.0, limits.max_duration);
            c.range(
                &format!("{p}.fadeOut"),
                t.fade_out,
                0.0,
                limits.max_duration,
            );
            if let Err(e) = c.facts.audio(&t.src) {
                c.err(format!("{p}.src"), e);
            }
        }

        if c.errors.is_empty() {
            let images = std::mem::take(&mut c.media.images);
            let clips = std::mem::take(&mut c.media.clip_sizes);
            let captions = std::mem::take(&mut c.media.captions);
            super::memory::check(&mut c, self, limits, &images, &clips, &captions);
        }
        if c.errors.is_empty() {
            Ok(())
        } else {
            Err(c.errors)
        }
    }
}

fn check_easing(c: &mut Checker, path: &str, easing: &Easing) {
    if let Easing::CubicBezier([x1, y1, x2, y2]) = *easing {
        if ![x1, y1, x2, y2].iter().all(|v| v.is_finite()) {
            c.err(path, "cubicBezier values must be finite numbers");
        } else if !(0.0..=1.0).contains(&x1) || !(0.0..=1.0).contains(&x2) {
            c.err(path, "cubicBezier x1 and x2 must be between 0 and 1");
        } else if !(-10.0..=10.0).contains(&y1) || !(-10.0..=10.0).contains(&y2) {
            c.err(path, "cubicBezier y1 and y2 must be between -10 and 10");
        }
    }
}

fn check_layer(c: &mut Checker, p: &str, l: &Layer, comp_duration: f64, limits: &Limits) {
    c.range(&format!("{p}.x"), l.x, -COORD_LIMIT, COORD_LIMIT);
    c.range(&format!("{p}.y"), l.y, -COORD_LIMIT, COORD_LIMIT);
    let max_side = limits.max_width.max(limits.max_height) as f64 * 4.0;
    if let Some(w) = l.width {
        c.range(&format!("{p}.width"), w, 0.0, max_side);
    }
    if let Some(h) = l.height {
        c.range(&format!("{p}.height"), h, 0.0, max_side);
    }
    c.range(&format!("{p}.scale"), l.scale, 0.0, 100.0);
    c.range(&format!("{p}.rotation"), l.rotation, -36_000.0, 36_000.0);
    c.range(&format!("{p}.opacity"), l.opacity, 0.0, 1.0);
    let start_ok = l
        .start
        .is_none_or(|s| c.range(&format!("{p}.start"), s, 0.0, comp_duration));
    let end_ok = l
        .end
        .is_none_or(|e| c.range(&format!("{p}.end"), e, 0.0, limits.max_duration));
    if let (Some(s), Some(e), true, true) = (l.start, l.end, start_ok, end_ok) {
        if e <= s {
            c.err(format!("{p}.end"), "must be greater than start");
        }
    }
    if l.animations.len() > limits.max_animations_per_layer {
        c.err(
            format!("{p}.animations"),
            format!(
                "at most {} animations per layer",
                limits.max_animations_per_layer
            ),
        );
    }
    for (k, a) in l
        .animations
        .iter()
        .enumerate()
        .take(limits.max_animations_per_layer)
    {
        let ap = format!("{p}.animations[{k}]");
        let (lo, hi) = match a.property {
            AnimatedProperty::X | AnimatedProperty::Y => (-COORD_LIMIT, COORD_LIMIT),
            AnimatedProperty::Scale => (0.0, 100.0),
            AnimatedProperty::Rotation => (-36_000.0, 36_000.0),
            AnimatedProperty::Opacity => (0.0, 1.0),
        };
        c.range(&format!("{ap}.from"), a.from, lo, hi);
        c.range(&format!("{ap}.to"), a.to, lo, hi);
        let s_ok = c.range(&format!("{ap}.start"), a.start, 0.0, limits.max_duration);
        let e_ok = c.range(&format!("{ap}.end"), a.end, 0.0, limits.max_duration);
        if s_ok && e_ok && a.end < a.start {
            c.err(format!("{ap}.end"), "must not be before start");
        }
        check_easing(c, &format!("{ap}.easing"), &a.easing);
    }
    // Animations of one property play in order and must not overlap.
    for prop in [
        AnimatedProperty::X,
        AnimatedProperty::Y,
        AnimatedProperty::Scale,
        AnimatedProperty::Rotation,
        AnimatedProperty::Opacity,
    ] {
        let mut spans: Vec<(usize, f64, f64)> = l
            .animations
            .iter()
            .enumerate()
            .filter(|(_, a)| a.property == prop && a.start.is_finite() && a.end.is_finite())
            .map(|(k, a)| (k, a.start, a.end))
            .collect();
        spans.sort_by(|a, b| a.1.total_cmp(&b.1));
        for w in spans.windows(2) {
            if w[1].1 < w[0].2 {
                c.err(
                    format!("{p}.animations[{}].start", w[1].0),
                    format!("overlaps animations[{}] of the same property", w[0].0),
                );
            }
        }
    }

    match l.kind {
        LayerKind::Image => {
            c.forbid(p, "text", &l.text, "image");
            c.forbid(p, "font", &l.font, "image");
            c.forbid(p, "size", &l.size, "image");
            c.forbid(p, "color", &l.color, "image");
            c.forbid(p, "align", &l.align, "image");
            c.forbid(p, "maxWidth", &l.max_width, "image");
            c.forbid(p, "lineHeight", &l.line_height, "image");
            c.forbid(p, "shadow", &l.shadow, "image");
            c.forbid(p, "shape", &l.shape, "image");
            c.forbid(p, "fill", &l.fill, "image");
            c.forbid(p, "cornerRadius", &l.corner_radius, "image");
            c.forbid(p, "stroke", &l.stroke, "image");
            super::video_check::forbid_video_fields(c, p, l, "image");
            super::text_check::forbid_text_style(c, p, l, "image");
            match &l.src {
                None => c.err(format!("{p}.src"), "is required on an image layer"),
                Some(src) => match c.facts.image(src) {
                    Ok(size) => {
                        c.media.images.insert(src.clone(), size);
                    }
                    Err(e) => c.err(format!("{p}.src"), e),
                },
            }
        }
        LayerKind::Text => {
            c.forbid(p, "src", &l.src, "text");
            super::video_check::forbid_video_fields(c, p, l, "text");
            super::text_check::check_text_layer(c, p, l, limits);
        }
        LayerKind::Captions => {
            super::text_check::check_captions_layer(c, p, l, limits);
        }
        LayerKind::Shape => {
            c.forbid(p, "src", &l.src, "shape");
            c.forbid(p, "fit", &l.fit, "shape");
            super::video_check::forbid_video_fields(c, p, l, "shape");
            c.forbid(p, "text", &l.text, "shape");
            c.forbid(p, "font", &l.font, "shape");
            c.forbid(p, "size", &l.size, "shape");
            c.forbid(p, "color", &l.color, "shape");
            c.forbid(p, "align", &l.align, "shape");
            c.forbid(p, "maxWidth", &l.max_width, "shape");
            c.forbid(p, "lineHeight", &l.line_height, "shape");
            c.forbid(p, "shadow", &l.shadow, "shape");
            super::text_check::forbid_text_style(c, p, l, "shape");
            match l.shape {
                None => c.err(
                    format!("{p}.shape"),
                    "is required on a shape layer (rect, roundedRect or ellipse)",
                ),
                Some(ShapeKind::RoundedRect) => {}
                Some(_) => {
                    if l.corner_radius.is_some() && l.shape != Some(ShapeKind::Rect) {
                        c.err(
                            format!("{p}.cornerRadius"),
                            "only applies to rect and roundedRect shapes",
                        );
                    }
                }
            }
            if let Some(r) = l.corner_radius {
                c.range(&format!("{p}.cornerRadius"), r, 0.0, max_side);
            }
            if l.width.is_none() {
                c.err(format!("{p}.width"), "is required on a shape layer");
            }
            if l.height.is_none() {
                c.err(format!("{p}.height"), "is required on a shape layer");
            }
            if l.fill.is_none() && l.stroke.is_none() {
                c.err(
                    format!("{p}.fill"),
                    "a shape needs a fill, a stroke or both",
                );
            }
            if let Some(Fill::Gradient(g)) = &l.fill {
                c.range(&format!("{p}.fill.angle"), g.angle, -3600.0, 3600.0);
                if g.stops.len() < 2 || g.stops.len() > 8 {
                    c.err(format!("{p}.fill.stops"), "must have between 2 and 8 stops");
                }
                let mut last = 0.0;
                for (k, s) in g.stops.iter().enumerate() {
                    let sp = format!("{p}.fill.stops[{k}].offset");
                    if c.range(&sp, s.offset, 0.0, 1.0) {
                        if s.offset < last {
                            c.err(sp, "offsets must not decrease");
                        }
                        last = s.offset;
                    }
                }
            }
            if let Some(s) = &l.stroke {
                c.range(&format!("{p}.stroke.width"), s.width, 0.0, 1000.0);
            }
        }
        LayerKind::Video => {
            super::text_check::forbid_text_style(c, p, l, "video");
            super::video_check::check_video_layer(c, p, l, comp_duration, limits);
        }
    }
}
