//! Scene preparation: everything one render draws, made once before the first frame. Images are
//! decoded (downscaled to the largest size they are drawn at) and text is rasterised, all packed
//! into one atlas uploaded once; each layer gets a [`LayerSource`]: its box, what it samples and its
//! colours. Per frame only transforms and opacity change (see `draw.rs`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use bytemuck::Zeroable;
use wgpu::util::DeviceExt;

use super::atlas::{Atlas, AtlasItem};
use super::captions::{CaptionSlot, TimedItem, TimedSource};
use super::gpu::Gpu;
use super::layout::*;
use super::text::{TextJob, TextSystem};
use super::video::VideoSlot;
use super::ComposeError;
use super::Compositor;
use crate::media::MediaIndex;
use crate::project::{Fill, Layer, LayerKind, Project, ShapeKind};
use crate::timeline::Timeline;
use crate::video::{ClipPlayer, ClipTiming};

/// What kind of pixels a layer has, as far as choosing its shader goes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) enum SourceKind {
    /// Sampled from the atlas; `raster` is the size of its pixels there.
    Textured {
        raster: (u32, u32),
    },
    /// A video layer's current frame: `slot` indexes [`Scene::videos`].
    Video {
        slot: usize,
        /// The decoded frame's size.
        size: (u32, u32),
    },
    /// A rectangle; `plain` when one solid colour fills it with no stroke or rounded corners.
    Rect {
        plain: bool,
    },
    Ellipse,
}

/// A layer's static part: its box, what it samples, its colours.
pub(super) struct LayerSource {
    /// The box anchors refer to, local units.
    pub box_size: (f64, f64),
    /// The content rectangle in local units (a text raster's margin lies outside the box).
    pub content: [f64; 4],
    pub kind: SourceKind,
    /// Everything but the per-frame transform, opacity, draw rectangle and draw kind.
    pub template: GpuLayer,
    /// Composition-local time the layer disappears when it is not the layer's own `end` (a video
    /// layer lasts as long as its clip plays); `None`: the layer's `end` or the composition's.
    pub end: Option<f64>,
    /// Captions: the states shown in turn (seconds after the layer's start), sorted; when not
    /// empty, the fields above are unused and a frame draws the state on screen, if any.
    pub timed: Vec<TimedSource>,
}

/// One render's GPU resources and prepared layers.
pub struct Scene<'p> {
    /// Borrowed for one render; owned by a [`crate::render::PreparedProject`] kept between previews.
    pub(super) project: Cow<'p, Project>,
    pub timeline: Timeline,
    pub(super) sources: Vec<Vec<LayerSource>>,
    /// Frame size, bound in `bind_group`.
    _frame_buf: wgpu::Buffer,
    pub(super) layer_buf: wgpu::Buffer,
    pub(super) bind_group: wgpu::BindGroup,
    /// The decoders and textures of video layers, used by one frame at a time.
    pub(super) videos: Mutex<Vec<VideoSlot>>,
    /// Captions layers' atlas slots; states are drawn into them as they come on screen.
    pub(super) captions: Mutex<Vec<CaptionSlot>>,
    /// Shared with the engine (not borrowed), so a scene can outlive one call (previews).
    pub(super) text: Arc<Mutex<TextSystem>>,
    pub(super) atlas: Atlas,
    /// The project's fonts stay loaded while captions may still be drawn.
    _fonts: FontsGuard,
}

/// Image size at which to keep a decoded image: the largest it is ever drawn, never upscaled.
fn image_raster_size(
    natural: (u32, u32),
    box_size: (f64, f64),
    max_scale: f64,
    max_side: u32,
) -> (u32, u32) {
    let want_w = (box_size.0 * max_scale).ceil().max(1.0);
    let want_h = (box_size.1 * max_scale).ceil().max(1.0);
    let (nw, nh) = (natural.0 as f64, natural.1 as f64);
    // Downscale only when the image is much larger than needed: saves atlas space and avoids aliasing.
    let (mut w, mut h) = if nw > want_w * 1.25 || nh > want_h * 1.25 {
        (want_w.min(nw), want_h.min(nh))
    } else {
        (nw, nh)
    };
    let fit = (max_side as f64 / w.max(h)).min(1.0);
    w = (w * fit).round().max(1.0);
    h = (h * fit).round().max(1.0);
    (w as u32, h as u32)
}

fn premultiply(img: &mut image::RgbaImage) {
    for px in img.pixels_mut() {
        let a = px[3] as u32;
        if a < 255 {
            for c in 0..3 {
                px[c] = ((px[c] as u32 * a + 127) / 255) as u8;
            }
        }
    }
}

/// A layer's box from its width/height and its media's natural size (one given keeps the aspect).
fn media_box(layer: &Layer, natural: (u32, u32)) -> (f64, f64) {
    match (layer.width, layer.height) {
        (Some(w), Some(h)) => (w, h),
        (Some(w), None) => (w, w * natural.1 as f64 / natural.0 as f64),
        (None, Some(h)) => (h * natural.0 as f64 / natural.1 as f64, h),
        (None, None) => (natural.0 as f64, natural.1 as f64),
    }
}

/// Where a layer's pixels come from, before the atlas is packed.
enum Pending {
    Item {
        index: usize,
        box_size: (f64, f64),
        content: [f64; 4],
        /// The shown part of the item (0..1; `fit`).
        uv: [f64; 4],
    },
    Shape,
    Timed {
        slot: usize,
        states: Vec<TimedItem>,
    },
    Video {
        slot: usize,
        size: (u32, u32),
        box_size: (f64, f64),
        content: [f64; 4],
        uv: [f64; 4],
        end: Option<f64>,
    },
}

/// The rectangle (x0, y0, x1, y1) of a `fit` placement in box units, and its texture part.
fn fitted(layer: &Layer, box_size: (f64, f64), natural: (u32, u32)) -> ([f64; 4], [f64; 4]) {
    let p = layer.fit.unwrap_or_default().place(
        box_size.0,
        box_size.1,
        natural.0 as f64,
        natural.1 as f64,
    );
    let [x, y, w, h] = p.dst;
    ([x, y, x + w, y + h], p.uv)
}

/// The size the whole picture is drawn at (before the layer's scale) under a `fit` placement.
fn drawn_size(content: [f64; 4], uv: [f64; 4]) -> (f64, f64) {
    let w = (content[2] - content[0]) / (uv[2] - uv[0]).max(1e-9);
    let h = (content[3] - content[1]) / (uv[3] - uv[1]).max(1e-9);
    (w.max(1.0), h.max(1.0))
}

impl<'p> Scene<'p> {
    /// The project this scene draws.
    pub fn project(&self) -> &Project {
        &self.project
    }

    /// Decodes media, rasterises text and uploads everything into the atlas. `timeline` is the
    /// project's; its media are taken from `media` (probed there at most once).
    pub fn prepare(
        gpu: &Gpu,
        compositor: &Compositor,
        text: &Arc<Mutex<TextSystem>>,
        project: Cow<'p, Project>,
        timeline: Timeline,
        media: &MediaIndex,
    ) -> Result<Scene<'p>, ComposeError> {
        let owned = project;
        let project: &Project = &owned;
        let mut videos: Vec<VideoSlot> = Vec::new();
        let fonts = FontsGuard::load(text, project, media)?;
        let mut captions: Vec<(CaptionSlot, usize)> = Vec::new();
        let mut items: Vec<AtlasItem> = Vec::new();
        let mut image_cache: HashMap<(String, u32, u32), usize> = HashMap::new();
        let mut pending: Vec<Vec<Pending>> = Vec::new();
        for (ci, comp) in project.frames.iter().enumerate() {
            let mut comp_pending = Vec::new();
            for (li, layer) in comp.layers.iter().enumerate() {
                let path = format!("frames[{ci}].layers[{li}]");
                let p = match layer.kind {
                    LayerKind::Image => {
                        let src = layer.src.as_deref().unwrap_or_default();
                        let asset_err = |source| ComposeError::Asset {
                            path: format!("{path}.src"),
                            source,
                        };
                        let natural = media.image_size(src).map_err(asset_err)?;
                        let box_size = media_box(layer, natural);
                        let (content, uv) = fitted(layer, box_size, natural);
                        let (rw, rh) = image_raster_size(
                            natural,
                            drawn_size(content, uv),
                            layer.max_scale(),
                            gpu.max_texture_side - 8,
                        );
                        let key = (src.to_string(), rw, rh);
                        let index = match image_cache.get(&key) {
                            Some(&i) => i,
                            None => {
                                let mut img = media.assets().load_image(src).map_err(asset_err)?;
                                if (rw, rh) != img.dimensions() {
                                    img = image::imageops::resize(
                                        &img,
                                        rw,
                                        rh,
                                        image::imageops::FilterType::Triangle,
                                    );
                                }
                                premultiply(&mut img);
                                items.push(AtlasItem::Pixels {
                                    width: rw,
                                    height: rh,
                                    data: img.into_raw(),
                                });
                                image_cache.insert(key, items.len() - 1);
                                items.len() - 1
                            }
                        };
                        Pending::Item {
                            index,
                            box_size,
                            content,
                            uv,
                        }
                    }
                    LayerKind::Text => {
                        let mut ts = text.lock().unwrap_or_else(|e| e.into_inner());
                        let chain = ts.chain(fonts.loaded(), layer, &path)?;
                        let job = TextJob {
                            text: layer.text.as_deref().unwrap_or(""),
                            chain: &chain,
                            highlight: None,
                            path: &path,
                        };
                        let raster_scale = layer.max_scale().clamp(1.0, 4.0);
                        let r = ts.rasterize(
                            &gpu.device,
                            &gpu.queue,
                            layer,
                            &job,
                            raster_scale,
                            gpu.max_texture_side - 8,
                        )?;
                        items.push(AtlasItem::Texture {
                            texture: r.texture,
                            width: r.width,
                            height: r.height,
                        });
                        Pending::Item {
                            index: items.len() - 1,
                            box_size: r.box_size,
                            content: r.content,
                            uv: [0.0, 0.0, 1.0, 1.0],
                        }
                    }
                    LayerKind::Captions => {
                        let cues = super::captions::cues(layer, media, &path)?;
                        let mut ts = text.lock().unwrap_or_else(|e| e.into_inner());
                        let chain = ts.chain(fonts.loaded(), layer, &path)?;
                        let (slot, index, states) = super::captions::prepare(
                            gpu,
                            &mut ts,
                            chain,
                            layer,
                            &cues,
                            &path,
                            project.width,
                            &mut items,
                        )?;
                        captions.push((slot, index));
                        Pending::Timed {
                            slot: captions.len() - 1,
                            states,
                        }
                    }
                    LayerKind::Shape => Pending::Shape,
                    LayerKind::Video => {
                        let src = layer.src.as_deref().unwrap_or_default();
                        let src_path = format!("{path}.src");
                        let file = media.resolve(src).map_err(|source| ComposeError::Asset {
                            path: src_path.clone(),
                            source,
                        })?;
                        let video_err = |e: crate::media::VideoError| ComposeError::Asset {
                            path: src_path.clone(),
                            source: e.to_asset_error(src),
                        };
                        let info = media.clip(&file).map_err(video_err)?;
                        let natural = (info.width, info.height);
                        let box_size = media_box(layer, natural);
                        let (content, uv) = fitted(layer, box_size, natural);
                        // Let the decoder downscale a clip shown much smaller than its size.
                        let out = image_raster_size(
                            natural,
                            drawn_size(content, uv),
                            layer.max_scale(),
                            gpu.max_texture_side - 8,
                        );
                        let player = ClipPlayer::open(
                            &media.tools().ffmpeg,
                            &file,
                            &info,
                            ClipTiming::of_layer(layer),
                            (out != natural).then_some(out),
                        )
                        .map_err(video_err)?;
                        let size = player.size();
                        videos.push(VideoSlot::new(
                            gpu,
                            compositor,
                            src_path.clone(),
                            src.to_string(),
                            player,
                        ));
                        Pending::Video {
                            slot: videos.len() - 1,
                            size,
                            box_size,
                            content,
                            uv,
                            end: crate::video::clip_end(layer, &info),
                        }
                    }
                };
                comp_pending.push(p);
            }
            pending.push(comp_pending);
        }
        let max_pages = gpu.device.limits().max_texture_array_layers;
        let atlas = Atlas::build(
            &gpu.device,
            &gpu.queue,
            items,
            gpu.max_texture_side,
            max_pages,
        )?;

        let mut sources = Vec::with_capacity(project.frames.len());
        for (ci, comp) in project.frames.iter().enumerate() {
            let mut v = Vec::with_capacity(comp.layers.len());
            for (li, layer) in comp.layers.iter().enumerate() {
                v.push(match &pending[ci][li] {
                    &Pending::Item {
                        index,
                        box_size,
                        content,
                        uv,
                    } => {
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
                    Pending::Timed { slot, states } => {
                        let a = atlas.slots[captions[*slot].1];
                        let s = atlas.page_size as f32;
                        LayerSource {
                            box_size: (0.0, 0.0),
                            content: [0.0; 4],
                            kind: SourceKind::Textured { raster: (1, 1) },
                            template: GpuLayer::zeroed(),
                            end: None,
                            timed: states
                                .iter()
                                .map(|st| {
                                    // The state is drawn into the slot's top-left corner.
                                    let mut g = GpuLayer::zeroed();
                                    g.info[1] = blend_code(layer.blend);
                                    g.info[2] = a.page;
                                    // Which state: records of different states differ (cache).
                                    g.info2[1] = st.state as u32 + 1;
                                    g.uv = [
                                        a.x as f32 / s,
                                        a.y as f32 / s,
                                        (a.x + st.raster.0) as f32 / s,
                                        (a.y + st.raster.1) as f32 / s,
                                    ];
                                    TimedSource {
                                        from: st.from,
                                        to: st.to,
                                        caption: (*slot, st.state),
                                        box_size: st.box_size,
                                        content: st.content,
                                        raster: st.raster,
                                        template: g,
                                    }
                                })
                                .collect(),
                        }
                    }
                    &Pending::Video {
                        slot,
                        size,
                        box_size,
                        content,
                        uv,
                        end,
                    } => {
                        let mut g = GpuLayer::zeroed();
                        g.info[1] = blend_code(layer.blend);
                        g.info[2] = slot as u32;
                        g.uv = uv.map(|v| v as f32);
                        LayerSource {
                            box_size,
                            content,
                            kind: SourceKind::Video { slot, size },
                            template: g,
                            end,
                            timed: Vec::new(),
                        }
                    }
                    Pending::Shape => shape_source(layer),
                });
            }
            sources.push(v);
        }

        let max_layers = project
            .frames
            .iter()
            .map(|c| c.layers.len())
            .max()
            .unwrap_or(0);
        // Two scenes during a transition, each with its background; a large transformed layer (and
        // a background slid by a fraction of a pixel) takes two records: an inside and a ring.
        let capacity = 2 * 2 * (max_layers + 1);
        let layer_buf = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("layers"),
            size: (capacity * std::mem::size_of::<GpuLayer>()) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        let frame_buf = gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("frame uniforms"),
                contents: bytemuck::bytes_of(&FrameUniforms {
                    size: [project.width as f32, project.height as f32],
                    _pad: [0.0; 2],
                }),
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let p = &compositor.pipelines;
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("layers"),
            layout: &p.compose_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: frame_buf.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: layer_buf.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: wgpu::BindingResource::TextureView(&atlas.view),
                },
                wgpu::BindGroupEntry {
                    binding: 3,
                    resource: wgpu::BindingResource::Sampler(&p.linear_sampler),
                },
                wgpu::BindGroupEntry {
                    binding: 4,
                    resource: wgpu::BindingResource::Sampler(&p.nearest_sampler),
                },
            ],
        });
        Ok(Scene {
            project: owned,
            timeline,
            sources,
            _frame_buf: frame_buf,
            layer_buf,
            bind_group,
            videos: Mutex::new(videos),
            captions: Mutex::new(
                captions
                    .into_iter()
                    .map(|(mut c, index)| {
                        c.slot = Some(atlas.slots[index]);
                        c
                    })
                    .collect(),
            ),
            text: Arc::clone(text),
            atlas,
            _fonts: fonts,
        })
    }
}

/// A shape layer's static part: geometry, fill, stroke.
fn shape_source(layer: &Layer) -> LayerSource {
    let box_size = (layer.width.unwrap_or(0.0), layer.height.unwrap_or(0.0));
    let mut g = GpuLayer::zeroed();
    g.info[1] = blend_code(layer.blend);
    g.shape[0] = match layer.shape {
        Some(ShapeKind::RoundedRect) => layer.corner_radius.unwrap_or(16.0) as f32,
        Some(ShapeKind::Rect) => layer.corner_radius.unwrap_or(0.0) as f32,
        _ => 0.0,
    };
    let mut stroked = false;
    if let Some(s) = &layer.stroke {
        g.shape[1] = s.width as f32;
        g.stroke = s.color.premultiplied();
        stroked = s.width > 0.0;
    }
    match &layer.fill {
        None => g.info[3] = FILL_NONE,
        Some(Fill::Solid(c)) => {
            g.info[3] = FILL_SOLID;
            g.fill = c.premultiplied();
        }
        Some(Fill::Gradient(gr)) => {
            g.info[3] = FILL_GRADIENT;
            g.info2[0] = gr.stops.len().min(8) as u32;
            for (k, stop) in gr.stops.iter().take(8).enumerate() {
                g.stop_offsets[k / 4][k % 4] = stop.offset as f32;
                g.stop_colors[k] = stop.color.premultiplied();
            }
            // The gradient line passes through the box centre at `angle` and spans the box's
            // projection onto it (CSS linear-gradient geometry).
            let (w, h) = box_size;
            let a = gr.angle.to_radians();
            let (dx, dy) = (a.cos(), a.sin());
            let half_len = 0.5 * (w * dx.abs() + h * dy.abs());
            let (cx, cy) = (w / 2.0, h / 2.0);
            g.gradient = [
                (cx - dx * half_len) as f32,
                (cy - dy * half_len) as f32,
                (cx + dx * half_len) as f32,
                (cy + dy * half_len) as f32,
            ];
        }
    }
    let kind = if layer.shape == Some(ShapeKind::Ellipse) {
        SourceKind::Ellipse
    } else {
        SourceKind::Rect {
            plain: g.shape[0] <= 0.0 && !stroked && g.info[3] == FILL_SOLID,
        }
    };
    LayerSource {
        box_size,
        content: [0.0, 0.0, box_size.0, box_size.1],
        kind,
        template: g,
        end: None,
        timed: Vec::new(),
    }
}

/// The project's fonts, loaded for the time of one scene preparation (text is drawn then).
struct FontsGuard {
    text: Arc<Mutex<TextSystem>>,
    loaded: Option<super::fonts::ProjectFonts>,
}

impl FontsGuard {
    fn load(
        text: &Arc<Mutex<TextSystem>>,
        project: &Project,
        media: &MediaIndex,
    ) -> Result<Self, ComposeError> {
        let loaded = text
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .load(project, media)?;
        Ok(FontsGuard {
            text: Arc::clone(text),
            loaded: Some(loaded),
        })
    }

    fn loaded(&self) -> &super::fonts::ProjectFonts {
        self.loaded.as_ref().expect("loaded until dropped")
    }
}

impl Drop for FontsGuard {
    fn drop(&mut self) {
        if let Some(l) = self.loaded.take() {
            self.text
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .unload(l);
        }
    }
}
