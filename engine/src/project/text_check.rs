//! Validation of text and captions layers (style fields, caption files and cues) and of the
//! project's own fonts (`fonts[i].src`: resolved like media and parsed as a font).

use super::validate::Checker;
use super::{Cue, Layer, Limits, Project};

/// Most entries in `fonts` and in a `font` fallback chain.
pub const MAX_PROJECT_FONTS: usize = 32;
const MAX_CHAIN: usize = 16;

/// Text-only fields on a layer of another `kind` are errors naming the field.
pub(super) fn forbid_text_style(c: &mut Checker, p: &str, l: &Layer, kind: &str) {
    c.forbid(p, "fontWeight", &l.font_weight, kind);
    c.forbid(p, "fontStyle", &l.font_style, kind);
    c.forbid(p, "letterSpacing", &l.letter_spacing, kind);
    c.forbid(p, "background", &l.background, kind);
    c.forbid(p, "verticalAlign", &l.vertical_align, kind);
    c.forbid(p, "autoFit", &l.auto_fit, kind);
    forbid_caption_fields(c, p, l, kind);
}

fn forbid_caption_fields(c: &mut Checker, p: &str, l: &Layer, kind: &str) {
    c.forbid(p, "cues", &l.cues, kind);
    c.forbid(p, "highlight", &l.highlight, kind);
    c.forbid(p, "maxLines", &l.max_lines, kind);
}

/// The style fields shared by text and captions layers.
pub(super) fn check_text_style(c: &mut Checker, p: &str, l: &Layer, max_side: f64, kind: &str) {
    c.forbid(p, "fit", &l.fit, kind);
    c.forbid(p, "shape", &l.shape, kind);
    c.forbid(p, "fill", &l.fill, kind);
    c.forbid(p, "cornerRadius", &l.corner_radius, kind);
    if let Some(size) = l.size {
        c.range(&format!("{p}.size"), size, 1.0, 2000.0);
    }
    if let Some(mw) = l.max_width {
        c.range(&format!("{p}.maxWidth"), mw, 1.0, max_side);
    }
    if let Some(lh) = l.line_height {
        c.range(&format!("{p}.lineHeight"), lh, 0.1, 10.0);
    }
    if let Some(font) = &l.font {
        let names = font.names();
        if names.is_empty() || names.len() > MAX_CHAIN {
            c.err(
                format!("{p}.font"),
                format!("must name 1 to {MAX_CHAIN} font families"),
            );
        }
        for (k, name) in names.iter().enumerate() {
            if name.trim().is_empty() || name.len() > 200 {
                let at = match font {
                    super::FontFamilies::One(_) => format!("{p}.font"),
                    super::FontFamilies::Chain(_) => format!("{p}.font[{k}]"),
                };
                c.err(at, "must be a font family name");
            }
        }
    }
    if let Some(w) = l.font_weight {
        c.range(&format!("{p}.fontWeight"), w.value() as f64, 1.0, 1000.0);
    }
    if let Some(ls) = l.letter_spacing {
        c.range(&format!("{p}.letterSpacing"), ls, -1000.0, 1000.0);
    }
    if let Some(b) = &l.background {
        if let Some(pad) = b.padding {
            c.range(&format!("{p}.background.padding"), pad, 0.0, 1000.0);
        }
        if let Some(r) = b.corner_radius {
            c.range(&format!("{p}.background.cornerRadius"), r, 0.0, max_side);
        }
    }
    if l.vertical_align.is_some() && l.height.is_none() {
        c.err(
            format!("{p}.verticalAlign"),
            "needs `height` (the box the text is aligned in)",
        );
    }
    if l.auto_fit == Some(true) && (l.width.is_none() || l.height.is_none()) {
        c.err(
            format!("{p}.autoFit"),
            "needs `width` and `height` (the box the text must fit)",
        );
    }
    if let Some(s) = &l.shadow {
        c.range(&format!("{p}.shadow.offsetX"), s.offset_x, -1000.0, 1000.0);
        c.range(&format!("{p}.shadow.offsetY"), s.offset_y, -1000.0, 1000.0);
    }
    if let Some(s) = &l.stroke {
        c.range(&format!("{p}.stroke.width"), s.width, 0.0, 100.0);
    }
}

/// A text layer: its text, its style; caption fields are refused.
pub(super) fn check_text_layer(c: &mut Checker, p: &str, l: &Layer, limits: &Limits) {
    forbid_caption_fields(c, p, l, "text");
    match &l.text {
        None => c.err(format!("{p}.text"), "is required on a text layer"),
        Some(t) if t.chars().count() > limits.max_text_chars => c.err(
            format!("{p}.text"),
            format!("at most {} characters", limits.max_text_chars),
        ),
        Some(_) => {}
    }
    let max_side = limits.max_width.max(limits.max_height) as f64 * 4.0;
    check_text_style(c, p, l, max_side, "text");
}

/// A captions layer: a caption file or inline cues (parsed and checked; the cues are kept for the
/// memory estimate), the highlight and the style.
pub(super) fn check_captions_layer(c: &mut Checker, p: &str, l: &Layer, limits: &Limits) {
    c.forbid(p, "text", &l.text, "captions");
    super::video_check::forbid_video_fields(c, p, l, "captions");
    let max_side = limits.max_width.max(limits.max_height) as f64 * 4.0;
    check_text_style(c, p, l, max_side, "captions");
    if let Some(h) = &l.highlight {
        if h.color.is_none() && h.background.is_none() {
            c.err(
                format!("{p}.highlight"),
                "needs a `color`, a `background` or both",
            );
        }
    }
    if let Some(n) = l.max_lines {
        c.range(&format!("{p}.maxLines"), n as f64, 1.0, 20.0);
    }
    let cues = match (&l.src, &l.cues) {
        (Some(_), Some(_)) => {
            c.err(format!("{p}.cues"), "give either `src` or `cues`, not both");
            return;
        }
        (None, None) => {
            c.err(
                format!("{p}.src"),
                "a captions layer needs `src` (an SRT or WebVTT file) or `cues`",
            );
            return;
        }
        (Some(src), None) => match c.facts.captions(src) {
            Ok(cues) => cues,
            Err(e) => {
                c.err(format!("{p}.src"), e);
                return;
            }
        },
        (None, Some(cues)) => {
            if cues.len() > super::captions::MAX_CUES {
                c.err(
                    format!("{p}.cues"),
                    format!("at most {} cues", super::captions::MAX_CUES),
                );
                return;
            }
            for (k, cue) in cues.iter().enumerate() {
                check_cue(c, &format!("{p}.cues[{k}]"), cue, limits);
            }
            cues.clone()
        }
    };
    for (k, cue) in cues.iter().enumerate() {
        if cue.text.chars().count() > limits.max_text_chars {
            c.err(
                format!("{p}.cues[{k}].text"),
                format!("at most {} characters", limits.max_text_chars),
            );
        }
    }
    c.media.captions.insert(p.to_string(), cues);
}

fn check_cue(c: &mut Checker, p: &str, cue: &Cue, limits: &Limits) {
    let start_ok = c.range(&format!("{p}.start"), cue.start, 0.0, limits.max_duration);
    let end_ok = c.range(&format!("{p}.end"), cue.end, 0.0, limits.max_duration);
    if start_ok && end_ok && cue.end <= cue.start {
        c.err(format!("{p}.end"), "must be after `start`");
    }
    if cue.words.is_empty() {
        return;
    }
    let n = cue.word_ranges().len();
    if cue.words.len() != n {
        c.err(
            format!("{p}.words"),
            format!(
                "has {} entries but `text` has {n} words (one entry per whitespace-separated word)",
                cue.words.len()
            ),
        );
        return;
    }
    let mut last = cue.start;
    for (k, w) in cue.words.iter().enumerate() {
        let wp = format!("{p}.words[{k}].start");
        if c.range(&wp, w.start, cue.start.min(cue.end), cue.end.max(cue.start)) {
            if w.start < last {
                c.err(wp, "word starts must not decrease");
            }
            last = w.start;
        }
    }
}

/// `fonts`: each file exists (confined like media) and is a font we can read.
pub(super) fn check_fonts(c: &mut Checker, project: &Project) {
    if project.fonts.len() > MAX_PROJECT_FONTS {
        c.err("fonts", format!("at most {MAX_PROJECT_FONTS} fonts"));
    }
    for (i, f) in project.fonts.iter().enumerate().take(MAX_PROJECT_FONTS) {
        if let Some(family) = &f.family {
            if family.trim().is_empty() || family.len() > 200 {
                c.err(format!("fonts[{i}].family"), "must be a font family name");
            }
        }
        if let Err(e) = c.facts.font(&f.src) {
            c.err(format!("fonts[{i}].src"), e);
        }
    }
}
