//! One file per layer kind: each turns its kind's typed content ([`LayerContent`]) into what the
//! scene draws, in two steps: `prepare` before the atlas is packed (decode, rasterise, open the
//! decoder; pixels appended to the atlas items) and `source` after (the layer's static record,
//! pointing into the packed atlas). A new kind is one file here and one arm in each match below.
//!
//! `image.rs`, `text.rs`, `captions.rs`, `shape.rs`, `video.rs`; the fitting and sizing shared by
//! pictures (images and video frames) are here.

mod captions;
mod image;
mod shape;
mod text;
mod video;

pub(super) use captions::place_slot;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::atlas::{Atlas, AtlasItem};
use super::captions::{CaptionSlot, TimedItem};
use super::fonts::ProjectFonts;
use super::gpu::Gpu;
use super::layout::*;
use super::scene::{LayerSource, SourceKind};
use super::text::TextSystem;
use super::video::VideoSlot;
use super::{ComposeError, Compositor};
use crate::media::MediaIndex;
use crate::project::{media_box, raster_size, Fit, Layer, LayerContent, Project, ShapeContent};
use bytemuck::Zeroable;

/// What every layer's preparation may use and add to: the GPU, the media, the project's fonts, and
/// the scene's atlas items, video decoders and caption slots collected so far.
pub(super) struct PrepareCtx<'a> {
    pub gpu: &'a Gpu,
    pub compositor: &'a Compositor,
    pub text: &'a Arc<Mutex<TextSystem>>,
    pub fonts: &'a ProjectFonts,
    pub media: &'a MediaIndex,
    pub project: &'a Project,
    /// Pixels and textures to pack into the atlas.
    pub items: Vec<AtlasItem>,
    /// Decoded images by (source, raster size): an image drawn twice at one size is packed once.
    pub images: HashMap<(String, u32, u32), usize>,
    pub videos: Vec<VideoSlot>,
    /// Captions layers' slots and the index of their atlas item.
    pub captions: Vec<(CaptionSlot, usize)>,
}

/// Where a layer's pixels come from, before the atlas is packed.
pub(super) enum Pending<'a> {
    /// An atlas item (an image, a text raster).
    Item {
        index: usize,
        box_size: (f64, f64),
        content: [f64; 4],
        /// The shown part of the item (0..1; `fit`).
        uv: [f64; 4],
    },
    /// A shape draws itself from its geometry.
    Shape(ShapeContent<'a>),
    /// Caption states drawn into slot `slot` of the scene's captions as they come on screen.
    Timed { slot: usize, states: Vec<TimedItem> },
    Video {
        slot: usize,
        size: (u32, u32),
        box_size: (f64, f64),
        content: [f64; 4],
        uv: [f64; 4],
        end: Option<f64>,
    },
}

/// Prepares one layer (at JSON path `path`) by its kind.
pub(super) fn prepare<'l>(
    ctx: &mut PrepareCtx,
    layer: &'l Layer,
    path: &str,
) -> Result<Pending<'l>, ComposeError> {
    match layer.content() {
        LayerContent::Image(c) => image::prepare(ctx, layer, &c, path),
        LayerContent::Video(c) => video::prepare(ctx, layer, &c, path),
        LayerContent::Text(c) => text::prepare(ctx, layer, &c, path),
        LayerContent::Captions(c) => captions::prepare(ctx, layer, &c, path),
        LayerContent::Shape(c) => Ok(Pending::Shape(c)),
    }
}

/// A prepared layer's static record, once the atlas is packed.
pub(super) fn source(
    pending: &Pending,
    layer: &Layer,
    atlas: &Atlas,
    captions: &[(CaptionSlot, usize)],
) -> LayerSource {
    match pending {
        &Pending::Item {
            index,
            box_size,
            content,
            uv,
        } => textured(layer, atlas, index, box_size, content, uv),
        Pending::Timed { slot, states } => {
            captions::source(layer, atlas, captions[*slot].1, *slot, states)
        }
        &Pending::Video {
            slot,
            size,
            box_size,
            content,
            uv,
            end,
        } => video::source(layer, slot, size, box_size, content, uv, end),
        Pending::Shape(c) => shape::source(layer, c),
    }
}

/// The record of a layer drawn from atlas item `index` (images and text).
fn textured(
    layer: &Layer,
    atlas: &Atlas,
    index: usize,
    box_size: (f64, f64),
    content: [f64; 4],
    uv: [f64; 4],
) -> LayerSource {
    let slot = atlas.slots[index];
    let mut g = GpuLayer::zeroed();
    g.info[1] = blend_code(layer.blend);
    g.info[2] = slot.page;
    let a = atlas.uv(&slot);
    let (du, dv) = (a[2] - a[0], a[3] - a[1]);
    g.uv = [
        a[0] + uv[0] as f32 * du,
        a[1] + uv[1] as f32 * dv,
        a[0] + uv[2] as f32 * du,
        a[1] + uv[3] as f32 * dv,
    ];
    LayerSource {
        box_size,
        content,
        kind: SourceKind::Textured {
            raster: (slot.width, slot.height),
        },
        template: g,
        end: None,
        timed: Vec::new(),
    }
}

/// The rectangle (x0, y0, x1, y1) of a `fit` placement in box units, and its texture part.
fn fitted(fit: Fit, box_size: (f64, f64), natural: (u32, u32)) -> ([f64; 4], [f64; 4]) {
    let p = fit.place(box_size.0, box_size.1, natural.0 as f64, natural.1 as f64);
    let [x, y, w, h] = p.dst;
    ([x, y, x + w, y + h], p.uv)
}

/// The size the whole picture is drawn at (before the layer's scale) under a `fit` placement.
fn drawn_size(content: [f64; 4], uv: [f64; 4]) -> (f64, f64) {
    let w = (content[2] - content[0]) / (uv[2] - uv[0]).max(1e-9);
    let h = (content[3] - content[1]) / (uv[3] - uv[1]).max(1e-9);
    (w.max(1.0), h.max(1.0))
}

/// A picture's box, placement and raster size on this GPU: what images and video frames share.
struct Placed {
    box_size: (f64, f64),
    content: [f64; 4],
    uv: [f64; 4],
    raster: (u32, u32),
}

fn place(ctx: &PrepareCtx, layer: &Layer, fit: Fit, natural: (u32, u32)) -> Placed {
    let box_size = media_box(layer, natural);
    let (content, uv) = fitted(fit, box_size, natural);
    let raster = raster_size(
        natural,
        drawn_size(content, uv),
        layer.max_scale(),
        ctx.gpu.max_texture_side - 8,
    );
    Placed {
        box_size,
        content,
        uv,
        raster,
    }
}
