//! Shaping one text: the `font` chain applied per character as rich-text spans, weight, style,
//! letter spacing and the highlighted word's colour; measuring lines, words and ink; the search
//! for the size that fits a box (auto-fit, caption `maxLines`); and finding characters no loaded
//! font could draw (so they are reported instead of drawn as empty boxes).

use std::ops::Range;

use glyphon::cosmic_text::Align;
use glyphon::{fontdb, Attrs, Buffer, Color as GColor, Family, FontSystem, Metrics, Shaping};

/// What to shape, in pixels of the raster (sizes already multiplied by the raster scale).
pub struct ShapeSpec<'a> {
    pub text: &'a str,
    pub chain: &'a [String],
    pub weight: fontdb::Weight,
    pub style: fontdb::Style,
    pub size: f64,
    pub line_height: f64,
    /// Extra pixels between letters.
    pub letter_spacing: f64,
    pub wrap: Option<f64>,
    pub align: Align,
    /// A byte range of `text` drawn in its own colour.
    pub colored: Option<(Range<usize>, GColor)>,
}

/// Lays out `spec`; returns the buffer and its measured size (widest line, bottom of the last).
pub fn shape(fonts: &mut FontSystem, spec: &ShapeSpec) -> (Buffer, (f64, f64)) {
    let metrics = Metrics::new(spec.size as f32, (spec.size * spec.line_height) as f32);
    let mut buffer = Buffer::new(fonts, metrics);
    let spacing_em = (spec.letter_spacing / spec.size.max(1e-6)) as f32;
    let choice =
        super::fonts::chain_choice(fonts.db(), spec.chain, spec.weight, spec.style, spec.text);
    // Emoji (with their joiners, variation selectors and modifiers) in the colour emoji font when
    // one is loaded: monochrome fonts such as DejaVu Sans map some of them too.
    let emoji = super::fonts::color_emoji_family(fonts.db());
    let emoji_k = spec.chain.len();
    let mut names: Vec<&str> = spec.chain.iter().map(String::as_str).collect();
    if let Some(e) = &emoji {
        names.push(e);
    }
    // Spans of equal (family, coloured) runs.
    let mut spans: Vec<(Range<usize>, usize, bool)> = Vec::new();
    let mut prev_emoji = false;
    for ((i, ch), k) in spec.text.char_indices().zip(&choice) {
        let is_emoji = emoji.is_some()
            && (super::fonts::is_emoji(ch) || (prev_emoji && super::fonts::joins_emoji(ch)));
        prev_emoji = is_emoji;
        let k = if is_emoji { emoji_k } else { k.unwrap_or(0) };
        let col = spec.colored.as_ref().is_some_and(|(r, _)| r.contains(&i));
        let end = i + ch.len_utf8();
        match spans.last_mut() {
            Some((r, kk, cc)) if *kk == k && *cc == col => r.end = end,
            _ => spans.push((i..end, k, col)),
        }
    }
    let color = spec.colored.as_ref().map(|(_, c)| *c);
    let weights: Vec<fontdb::Weight> = names
        .iter()
        .map(|name| matched_weight(fonts.db(), name, spec))
        .collect();
    let rich: Vec<(&str, Attrs)> = spans
        .iter()
        .map(|(r, k, col)| {
            let color = if *col { color } else { None };
            let a = attrs(names[*k], weights[*k], spec, spacing_em, color);
            (&spec.text[r.clone()], a)
        })
        .collect();
    buffer.set_size(spec.wrap.map(|w| w as f32), None);
    buffer.set_rich_text(
        rich,
        &attrs(names[0], weights[0], spec, spacing_em, None),
        Shaping::Advanced,
        Some(spec.align),
    );
    buffer.shape_until_scroll(fonts, false);
    let mut measured = measure(&buffer);
    if spec.wrap.is_none() {
        // Without a wrap width, align lines within the widest one.
        buffer.set_size(Some(measured.0.ceil() as f32), None);
        buffer.shape_until_scroll(fonts, false);
        measured = measure(&buffer);
    }
    (buffer, measured)
}

/// The weight to ask the shaper for in family `name`: the weight of the face that CSS-like
/// matching picks for `spec`'s weight and style (the nearest the family has). The shaper uses a
/// family's faces at their exact weight only, so a family loaded with one bold face would
/// otherwise give normal-weight text to a fallback font.
fn matched_weight(db: &fontdb::Database, name: &str, spec: &ShapeSpec) -> fontdb::Weight {
    let query = fontdb::Query {
        families: &[fontdb::Family::Name(name)],
        weight: spec.weight,
        stretch: fontdb::Stretch::Normal,
        style: spec.style,
    };
    db.query(&query)
        .and_then(|id| db.face(id))
        .map_or(spec.weight, |face| face.weight)
}

/// Attributes of a span in family `name` at `weight`.
fn attrs<'b>(
    name: &'b str,
    weight: fontdb::Weight,
    spec: &ShapeSpec,
    spacing_em: f32,
    color: Option<GColor>,
) -> Attrs<'b> {
    let mut a = Attrs::new()
        .family(Family::Name(name))
        .weight(weight)
        .style(spec.style);
    if spec.letter_spacing != 0.0 {
        a = a.letter_spacing(spacing_em);
    }
    if let Some(c) = color {
        a = a.color(c);
    }
    a
}

/// Widest line and bottom of the last line, in buffer pixels.
pub fn measure(b: &Buffer) -> (f64, f64) {
    b.layout_runs().fold((0.0f64, 0.0f64), |(w, h), run| {
        (
            w.max(run.line_w as f64),
            h.max((run.line_top + run.line_height) as f64),
        )
    })
}

/// Laid-out lines.
pub fn line_count(b: &Buffer) -> usize {
    b.layout_runs().count()
}

/// The rectangle of the glyphs' advances and line boxes (x0, y0, x1, y1), buffer pixels; `None`
/// for text without glyphs. With `range`, only glyphs of that byte range of the whole text
/// (lines joined by `\n`).
pub fn glyph_rect(b: &Buffer, text: &str, range: Option<&Range<usize>>) -> Option<[f64; 4]> {
    let line_starts: Vec<usize> = std::iter::once(0)
        .chain(text.match_indices('\n').map(|(i, _)| i + 1))
        .collect();
    let mut r = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for run in b.layout_runs() {
        let base = line_starts.get(run.line_i).copied().unwrap_or(0);
        for g in run.glyphs {
            if let Some(rg) = range {
                if !rg.contains(&(base + g.start)) {
                    continue;
                }
            }
            r[0] = r[0].min(g.x as f64);
            r[2] = r[2].max((g.x + g.w) as f64);
            r[1] = r[1].min(run.line_top as f64);
            r[3] = r[3].max((run.line_top + run.line_height) as f64);
        }
    }
    (r[0] <= r[2]).then_some(r)
}

/// The text's ink in buffer pixels (x0, y0, x1, y1): each glyph's advance widened by a third of an
/// em on both sides (overhangs), each line from its top (or an ascender above its baseline) to its
/// bottom (or a descender below it). Empty text gives an empty rectangle at the origin.
pub fn ink_rect(buffer: &Buffer, font_px: f64) -> [f64; 4] {
    let mut r = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for run in buffer.layout_runs() {
        let top = (run.line_top as f64).min(run.line_y as f64 - 1.3 * font_px);
        let bottom =
            ((run.line_top + run.line_height) as f64).max(run.line_y as f64 + 0.6 * font_px);
        for g in run.glyphs {
            r[0] = r[0].min(g.x as f64 - font_px / 3.0);
            r[2] = r[2].max((g.x + g.w) as f64 + font_px / 3.0);
            r[1] = r[1].min(top);
            r[3] = r[3].max(bottom);
        }
    }
    if r[0] > r[2] {
        [0.0; 4]
    } else {
        r
    }
}

/// Characters shaped to the missing glyph (id 0) because no loaded font maps them, in order of
/// first appearance. Whitespace, controls and invisible format characters are not drawn anyway.
pub fn missing_chars(b: &Buffer) -> Vec<char> {
    let mut out: Vec<char> = Vec::new();
    for run in b.layout_runs() {
        for g in run.glyphs {
            if g.glyph_id != 0 {
                continue;
            }
            for ch in run.text.get(g.start..g.end).unwrap_or("").chars() {
                if !invisible(ch) && !out.contains(&ch) {
                    out.push(ch);
                }
            }
        }
    }
    out
}

fn invisible(ch: char) -> bool {
    ch.is_whitespace()
        || ch.is_control()
        || matches!(ch as u32,
            0x00AD | 0x034F | 0x061C | 0x180E | 0x200B..=0x200F | 0x202A..=0x202E
            | 0x2060..=0x206F | 0xFE00..=0xFE0F | 0xFEFF | 0xE0000..=0xE0FFF)
}

/// `U+4F60 '你', U+1F600 '😀'` for an error message (at most 16 listed).
pub fn describe_chars(chars: &[char]) -> String {
    let mut s: Vec<String> = chars
        .iter()
        .take(16)
        .map(|c| format!("U+{:04X} '{c}'", *c as u32))
        .collect();
    if chars.len() > 16 {
        s.push(format!("and {} more", chars.len() - 16));
    }
    s.join(", ")
}

/// The largest size in `1..=max` (to 1/64 px) whose layout `fits`; 1 when none does.
pub fn largest_fitting(max: f64, mut fits: impl FnMut(f64) -> bool) -> f64 {
    if fits(max) {
        return max;
    }
    let (mut lo, mut hi) = (1.0f64, max);
    if !fits(lo) {
        return lo;
    }
    while hi - lo > 1.0 / 64.0 {
        let mid = 0.5 * (lo + hi);
        if fits(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}
