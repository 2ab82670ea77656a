//! The memory one render of a project will hold, estimated at validation from the project, the image
//! headers and the probed clips (no decoding, no GPU), so that a project over
//! [`Limits::max_memory_mb`] is refused before any work with the layers that cost most.
//!
//! What is counted mirrors what `compositor::scene` and `render` allocate: every image raster (kept
//! as pixels until the atlas is built) and the largest image decode (natural size, decoded then
//! converted to RGBA, one at a time); the glyph cache of the largest text; every text raster (sized like `compositor::text`: the
//! text's ink, at most the box, at the raster scale, at most the largest texture side); the atlas
//! pages, packed like `compositor::atlas` packs them; each video layer's decoder (its output frames
//! in flight, its plane textures, ffmpeg's reference frames); and the frame targets (four RGBA
//! textures, the YUV buffer and three readback buffers).

use std::collections::HashMap;

use etagere::{size2, AtlasAllocator};

use super::validate::Checker;
use super::{Layer, LayerKind, Limits, Project};

/// Largest side of a raster (the GPU's texture limit, 16384, less the atlas gap).
const RASTER_MAX_SIDE: u32 = 16_384 - 8;
/// Bytes of RGBA.
const RGBA: u64 = 4;
/// Frame-sized buffers per render, in bytes per pixel: four RGBA textures (frame, incoming scene,
/// backdrop copy, static-layer cache), the YUV 4:2:0 buffer and three readback buffers.
const FRAME_BYTES_PER_PIXEL: u64 = 4 * 4 + 4 * 3 / 2;
/// Decoded frames of one video layer alive at once (the read-ahead channel, the one being read,
/// the one shown) and the reference frames ffmpeg keeps at the coded size.
const VIDEO_FRAMES: u64 = 5;
const DECODER_REFERENCE_FRAMES: u64 = 8;
/// Glyph advance assumed per character, in ems (wider than most glyphs, so an upper bound).
const EM_PER_CHAR: f64 = 1.0;

/// The natural size of an image and the sizes of a clip, recorded while checking layers.
#[derive(Debug, Clone, Copy)]
pub(super) struct ClipSizes {
    pub display: (u32, u32),
    pub coded: (u32, u32),
    pub alpha: bool,
}

/// One layer's share of the estimate.
struct Cost {
    path: String,
    what: String,
    bytes: u64,
}

const MIB: u64 = 1024 * 1024;

/// Adds errors naming the costliest layers when the estimate exceeds `limits.max_memory_mb`.
/// Runs on a project that passed every other check.
pub(super) fn check(
    c: &mut Checker,
    project: &Project,
    limits: &Limits,
    images: &HashMap<String, (u32, u32)>,
    clips: &HashMap<String, ClipSizes>,
    captions: &HashMap<String, Vec<super::Cue>>,
) {
    if limits.max_memory_mb == 0 {
        return;
    }
    let estimate = estimate(project, images, clips, captions);
    let budget = limits.max_memory_mb.saturating_mul(MIB);
    if estimate.total <= budget {
        return;
    }
    let mut costs = estimate.layers;
    costs.sort_by_key(|k| std::cmp::Reverse(k.bytes));
    let total_mib = estimate.total.div_ceil(MIB);
    let tail = format!(
        "the render would hold about {total_mib} MiB, more than the memory budget of {} MiB",
        limits.max_memory_mb
    );
    let named: Vec<&Cost> = costs.iter().filter(|k| k.bytes > 0).take(3).collect();
    if named.is_empty() {
        c.err("width", tail);
        return;
    }
    for k in named {
        c.err(
            &k.path,
            format!(
                "{} takes about {} MiB; {tail}",
                k.what,
                k.bytes.div_ceil(MIB)
            ),
        );
    }
}

struct Estimate {
    total: u64,
    layers: Vec<Cost>,
}

fn estimate(
    project: &Project,
    images: &HashMap<String, (u32, u32)>,
    clips: &HashMap<String, ClipSizes>,
    captions: &HashMap<String, Vec<super::Cue>>,
) -> Estimate {
    let mut layers = Vec::new();
    let mut items: Vec<(u32, u32)> = Vec::new();
    let mut seen_images: HashMap<(String, u32, u32), ()> = HashMap::new();
    let mut largest_decode = 0u64;
    let mut largest_glyphs = 0u64;
    let mut total = project.width as u64 * project.height as u64 * FRAME_BYTES_PER_PIXEL;
    for (ci, comp) in project.frames.iter().enumerate() {
        for (li, layer) in comp.layers.iter().enumerate() {
            let path = format!("frames[{ci}].layers[{li}]");
            match layer.kind {
                LayerKind::Image => {
                    let src = layer.src.clone().unwrap_or_default();
                    let Some(&natural) = images.get(&src) else {
                        continue;
                    };
                    let (rw, rh) = media_raster(layer, natural);
                    largest_decode = largest_decode.max(natural.0 as u64 * natural.1 as u64 * 8);
                    if seen_images.insert((src, rw, rh), ()).is_some() {
                        continue; // the same pixels are shared
                    }
                    items.push((rw, rh));
                    let bytes = 2 * rw as u64 * rh as u64 * RGBA;
                    total += bytes / 2;
                    layers.push(Cost {
                        path,
                        what: format!("the {rw}x{rh} image raster (and its atlas copy)"),
                        bytes,
                    });
                }
                LayerKind::Text => {
                    let (rw, rh) = text_raster(layer);
                    // glyphon's glyph cache holds the largest glyphs (a texture of about twice
                    // the glyph size per side), trimmed after each layer.
                    let glyph =
                        (layer.size.unwrap_or(48.0) * layer.max_scale().clamp(1.0, 4.0) * 2.0)
                            .min(RASTER_MAX_SIDE as f64) as u64;
                    largest_glyphs = largest_glyphs.max(glyph * glyph * RGBA);
                    items.push((rw, rh));
                    let bytes = 2 * rw as u64 * rh as u64 * RGBA;
                    total += bytes / 2;
                    layers.push(Cost {
                        path,
                        what: format!("the {rw}x{rh} text raster (and its atlas copy)"),
                        bytes,
                    });
                }
                LayerKind::Video => {
                    let Some(clip) = clips.get(&path) else {
                        continue;
                    };
                    let (dw, dh) = media_raster(layer, clip.display);
                    let per_pixel = if clip.alpha { 5 } else { 3 }; // halves: 4:2:0 + alpha
                    let decoded = dw as u64 * dh as u64 * per_pixel / 2;
                    let coded = clip.coded.0 as u64 * clip.coded.1 as u64 * 3 / 2;
                    let bytes = decoded * (VIDEO_FRAMES + 1) + coded * DECODER_REFERENCE_FRAMES;
                    total += bytes;
                    layers.push(Cost {
                        path,
                        what: format!("the {dw}x{dh} video decoder"),
                        bytes,
                    });
                }
                LayerKind::Captions => {
                    // One atlas slot as large as the largest cue; states are drawn into it as
                    // they come on screen (plus one raster at a time on its way there).
                    let (mut rw, mut rh) = (1, 1);
                    for cue in captions.get(&path).map_or(&[][..], |v| &v[..]) {
                        let mut one = layer.clone();
                        one.text = Some(cue.text.clone());
                        if one.max_width.is_none() && one.width.is_none() {
                            one.max_width = Some(project.width as f64 * 0.9);
                        }
                        let (w, h) = text_raster(&one);
                        (rw, rh) = (rw.max(w), rh.max(h));
                    }
                    items.push((rw, rh));
                    let bytes = 2 * rw as u64 * rh as u64 * RGBA;
                    total += bytes / 2;
                    layers.push(Cost {
                        path,
                        what: format!("the {rw}x{rh} caption raster (and its atlas slot)"),
                        bytes,
                    });
                }
                LayerKind::Shape => {}
            }
        }
    }
    total += largest_decode + largest_glyphs + atlas_bytes(&items);
    Estimate { total, layers }
}

/// Bytes of the atlas texture `compositor::atlas` would build for items of these sizes.
fn atlas_bytes(items: &[(u32, u32)]) -> u64 {
    const GAP: u32 = 2;
    let largest = items.iter().map(|&(w, h)| w.max(h)).max().unwrap_or(1);
    let page = (largest + 2 * GAP)
        .max(2048)
        .next_multiple_of(256)
        .min(RASTER_MAX_SIDE + 8);
    let mut sorted = items.to_vec();
    sorted.sort_by_key(|&(w, h)| std::cmp::Reverse(w as u64 * h as u64));
    let mut pages: Vec<AtlasAllocator> = Vec::new();
    for (w, h) in sorted {
        let want = size2((w + GAP) as i32, (h + GAP) as i32);
        if pages.iter_mut().any(|p| p.allocate(want).is_some()) {
            continue;
        }
        let mut p = AtlasAllocator::new(size2(page as i32, page as i32));
        let _ = p.allocate(want);
        pages.push(p);
    }
    pages.len().max(1) as u64 * page as u64 * page as u64 * RGBA
}

/// The raster an image or a clip is kept at: the largest it is drawn (box × its largest scale,
/// through `fit`), never above its natural size, downscaled only when much larger (as the scene does).
fn media_raster(layer: &Layer, natural: (u32, u32)) -> (u32, u32) {
    let (nw, nh) = (natural.0 as f64, natural.1 as f64);
    let box_size = media_box(layer, natural);
    let placed = layer
        .fit
        .unwrap_or_default()
        .place(box_size.0, box_size.1, nw, nh);
    let [_, _, dw, dh] = placed.dst;
    let drawn = (
        (dw / (placed.uv[2] - placed.uv[0]).max(1e-9)).max(1.0),
        (dh / (placed.uv[3] - placed.uv[1]).max(1e-9)).max(1.0),
    );
    raster_size(natural, drawn, layer.max_scale(), RASTER_MAX_SIDE)
}

/// A layer's box from its width/height and its media's natural size (one given keeps the aspect).
pub(crate) fn media_box(layer: &Layer, natural: (u32, u32)) -> (f64, f64) {
    let (nw, nh) = (natural.0 as f64, natural.1 as f64);
    match (layer.width, layer.height) {
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => (w, w * nh / nw),
        (None, Some(h)) => (h * nw / nh, h),
        (None, None) => (nw, nh),
    }
}

/// Picture size at which to keep a decoded image (or decode a clip) drawn at `drawn` × `scale` at
/// the largest: never upscaled, downscaled only when much larger than needed (saves atlas space
/// and avoids aliasing), at most `max_side` on its longer side. The scene and the memory estimate
/// both size rasters with it.
pub(crate) fn raster_size(
    natural: (u32, u32),
    drawn: (f64, f64),
    scale: f64,
    max_side: u32,
) -> (u32, u32) {
    let want = (
        (drawn.0 * scale).ceil().max(1.0),
        (drawn.1 * scale).ceil().max(1.0),
    );
    let (nw, nh) = (natural.0 as f64, natural.1 as f64);
    let (mut w, mut h) = if nw > want.0 * 1.25 || nh > want.1 * 1.25 {
        (want.0.min(nw), want.1.min(nh))
    } else {
        (nw, nh)
    };
    let fit = (max_side as f64 / w.max(h)).min(1.0);
    w = (w * fit).round().max(1.0);
    h = (h * fit).round().max(1.0);
    (w as u32, h as u32)
}

/// An upper bound of the raster `compositor::text` draws for a text layer: the text's extent
/// (each character one em wide, wrapped at the wrap width, each line `lineHeight` tall plus room
/// for ascenders and descenders), cut to the box, plus the margin for stroke and shadow, at the
/// raster scale, shrunk to the largest texture side.
fn text_raster(layer: &Layer) -> (u32, u32) {
    let text = layer.text.as_deref().unwrap_or("");
    let size = layer.size.unwrap_or(48.0);
    let line_height = layer.line_height.unwrap_or(1.2);
    let margin = text_margin(layer);
    let wrap = layer.max_width.or(layer.width);
    let em = size * EM_PER_CHAR;
    let mut ink_w: f64 = 0.0;
    let mut lines = 0.0;
    for line in text.split('\n') {
        let natural = line.chars().count() as f64 * em;
        match wrap {
            Some(w) if w > 0.0 => {
                ink_w = ink_w.max(natural.min(w));
                lines += (natural / w).ceil().max(1.0);
            }
            _ => {
                ink_w = ink_w.max(natural);
                lines += 1.0;
            }
        }
    }
    // `compositor::text` widens the ink by a third of an em on each side and reaches 1.3 em above
    // and 0.6 em below each baseline.
    let ink_h = lines * size * line_height + 2.0 * size;
    let ink_w = ink_w + size;
    let box_w = layer.width.or(wrap).unwrap_or(ink_w);
    let box_h = layer.height.unwrap_or(ink_h);
    let rs = layer.max_scale().clamp(1.0, 4.0);
    let mut w = (ink_w.min(box_w).max(0.0) + 2.0 * margin) * rs;
    let mut h = (ink_h.min(box_h).max(0.0) + 2.0 * margin) * rs;
    let side = w.max(h);
    if side > RASTER_MAX_SIDE as f64 {
        let k = RASTER_MAX_SIDE as f64 / side;
        w *= k;
        h *= k;
    }
    (
        (w.ceil() as u32).clamp(1, RASTER_MAX_SIDE),
        (h.ceil() as u32).clamp(1, RASTER_MAX_SIDE),
    )
}

/// Transparent border around a text layer's ink that holds strokes and shadows, in layer units.
fn text_margin(layer: &Layer) -> f64 {
    2.0 + layer
        .background
        .as_ref()
        .map_or(0.0, |b| b.padding.unwrap_or(8.0))
        + layer
            .stroke
            .as_ref()
            .filter(|s| s.width > 0.0)
            .map_or(0.0, |s| s.width)
        + layer
            .shadow
            .as_ref()
            .map_or(0.0, |s| s.offset_x.abs().max(s.offset_y.abs()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(t: &str, w: f64, h: f64, size: f64) -> Layer {
        let mut l = Layer::text(t);
        l.width = Some(w);
        l.height = Some(h);
        l.size = Some(size);
        l
    }

    #[test]
    fn a_short_text_in_a_huge_box_costs_its_ink_not_its_box() {
        let (w, h) = text_raster(&text("Hi", 30720.0, 30720.0, 48.0));
        assert!(w <= 160 && h <= 160, "{w}x{h}");
    }

    #[test]
    fn a_text_that_fills_a_huge_box_is_capped_at_the_texture_side() {
        let t = "W".repeat(10_000);
        let (w, h) = text_raster(&text(&t, 30720.0, 30720.0, 2000.0));
        assert_eq!((w, h), (RASTER_MAX_SIDE, RASTER_MAX_SIDE));
    }

    #[test]
    fn atlas_pages_follow_the_packing() {
        // One item: one page of at least 2048².
        assert_eq!(atlas_bytes(&[(10, 10)]), 2048 * 2048 * 4);
        // Two items that cannot share a page: two pages.
        let big = (3000, 3000);
        let page = 3004u64.next_multiple_of(256);
        assert_eq!(atlas_bytes(&[big, big]), 2 * page * page * 4);
    }

    #[test]
    fn media_is_kept_at_its_drawn_size() {
        let mut l = Layer::image("a.png");
        l.width = Some(400.0);
        l.height = Some(300.0);
        assert_eq!(media_raster(&l, (4000, 3000)), (400, 300));
        // Never upscaled.
        l.width = Some(30720.0);
        l.height = Some(30720.0);
        assert_eq!(media_raster(&l, (100, 80)), (100, 80));
    }
}
