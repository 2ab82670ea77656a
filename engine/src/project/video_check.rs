//! Validation of video layers: their fields, the layer count, and the clip itself (its facts from
//! [`super::MediaFacts`]: probed, first frame decoded).

use std::collections::HashMap;

use super::memory::ClipSizes;
use super::validate::Checker;
use super::{Layer, Limits, MAX_SPEED, MIN_SPEED};

/// What one validation learnt of the media, for the memory estimate, and the video layers seen.
pub(super) struct MediaCheck {
    video_layers: usize,
    /// Natural sizes of the images checked, by `src` (for the memory estimate).
    pub(super) images: HashMap<String, (u32, u32)>,
    /// Sizes of the clips of the video layers checked, by layer path (for the memory estimate).
    pub(super) clip_sizes: HashMap<String, ClipSizes>,
    /// Cues of the captions layers checked, by layer path (for the memory estimate).
    pub(super) captions: HashMap<String, Vec<super::Cue>>,
}

impl MediaCheck {
    pub(super) fn new() -> Self {
        MediaCheck {
            video_layers: 0,
            images: HashMap::new(),
            clip_sizes: HashMap::new(),
            captions: HashMap::new(),
        }
    }
}

/// Video-only fields on a layer of another `kind` are errors naming the field.
pub(super) fn forbid_video_fields(c: &mut Checker, p: &str, l: &Layer, kind: &str) {
    c.forbid(p, "trimStart", &l.trim_start, kind);
    c.forbid(p, "trimEnd", &l.trim_end, kind);
    c.forbid(p, "speed", &l.speed, kind);
    c.forbid(p, "loop", &l.looped, kind);
    c.forbid(p, "volume", &l.volume, kind);
    c.forbid(p, "muted", &l.muted, kind);
    c.forbid(p, "fadeIn", &l.fade_in, kind);
    c.forbid(p, "fadeOut", &l.fade_out, kind);
}

pub(super) fn check_video_layer(
    c: &mut Checker,
    p: &str,
    l: &Layer,
    comp_duration: f64,
    limits: &Limits,
) {
    for (field, v) in [
        ("text", l.text.is_some()),
        ("font", l.font.is_some()),
        ("size", l.size.is_some()),
        ("color", l.color.is_some()),
        ("align", l.align.is_some()),
        ("maxWidth", l.max_width.is_some()),
        ("lineHeight", l.line_height.is_some()),
        ("shadow", l.shadow.is_some()),
        ("shape", l.shape.is_some()),
        ("fill", l.fill.is_some()),
        ("cornerRadius", l.corner_radius.is_some()),
        ("stroke", l.stroke.is_some()),
    ] {
        if v {
            c.err(format!("{p}.{field}"), "not allowed on a video layer");
        }
    }
    c.media.video_layers += 1;
    if c.media.video_layers == limits.max_video_layers + 1 {
        c.err(
            p,
            format!(
                "at most {} video layers per project",
                limits.max_video_layers
            ),
        );
    }
    let max_dur = limits.max_duration.max(comp_duration);
    if let Some(s) = l.speed {
        if c.range(&format!("{p}.speed"), s, MIN_SPEED, MAX_SPEED) && s == 0.0 {
            c.err(format!("{p}.speed"), "must not be 0");
        }
    }
    if let Some(v) = l.volume {
        c.range(&format!("{p}.volume"), v, 0.0, 4.0);
    }
    if let Some(f) = l.fade_in {
        c.range(&format!("{p}.fadeIn"), f, 0.0, max_dur);
    }
    if let Some(f) = l.fade_out {
        c.range(&format!("{p}.fadeOut"), f, 0.0, max_dur);
    }
    let trim_start_ok = l
        .trim_start
        .is_none_or(|t| c.range(&format!("{p}.trimStart"), t, 0.0, 1e7));
    match l.trim_end {
        None => {}
        Some(e) => {
            let ok = c.range(&format!("{p}.trimEnd"), e, 0.0, 1e7);
            if ok && trim_start_ok && e <= l.trim_start() {
                c.err(format!("{p}.trimEnd"), "must be greater than trimStart");
            }
        }
    }
    let Some(src) = &l.src else {
        c.err(format!("{p}.src"), "is required on a video layer");
        return;
    };
    if c.media.video_layers > limits.max_video_layers {
        return; // over the limit: not worth probing
    }
    let info = match c.facts.clip(src) {
        Ok(info) => info,
        Err(e) => {
            c.err(format!("{p}.src"), e);
            return;
        }
    };
    c.media.clip_sizes.insert(
        p.to_string(),
        ClipSizes {
            display: (info.width, info.height),
            coded: (info.coded_width, info.coded_height),
            alpha: info.has_alpha,
        },
    );
    let side = limits.max_video_side;
    if info.width > side || info.height > side {
        c.err(
            format!("{p}.src"),
            format!(
                "`{src}`: the video is {}x{}, larger than {side} pixels per side",
                info.width, info.height
            ),
        );
    }
    if trim_start_ok && l.trim_start() >= info.duration {
        c.err(
            format!("{p}.trimStart"),
            format!(
                "{} s is at or beyond the end of `{src}` ({:.3} s long)",
                l.trim_start(),
                info.duration
            ),
        );
    }
}
