//! Scene preparation: everything one render draws, made once before the first frame. Each layer is
//! prepared by its kind's file in `layers/` (images decoded, downscaled to the largest size they
//! are drawn at; text rasterised; decoders opened), all pixels packed into one atlas uploaded once;
//! each layer gets a [`LayerSource`]: its box, what it samples and its colours. Per frame only
//! transforms and opacity change (see `draw.rs`).

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use wgpu::util::DeviceExt;

use super::atlas::Atlas;
use super::captions::{CaptionSlot, TimedSource};
use super::gpu::Gpu;
use super::layers::{self, PrepareCtx};
use super::layout::*;
use super::text::TextSystem;
use super::video::VideoSlot;
use super::ComposeError;
use super::Compositor;
use crate::media::MediaIndex;
use crate::project::Project;
use crate::timeline::Timeline;

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
    /// The engine's text system (not borrowed, so a scene can outlive one call: previews), or the
    /// project's own when it has fonts, which keeps them while captions may still be drawn.
    pub(super) text: Arc<Mutex<TextSystem>>,
    pub(super) atlas: Atlas,
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
        // A project with fonts of its own gets a text system of its own (the engine's fonts and
        // the project's), kept by the scene for the captions it draws while frames render: renders
        // running at the same time never see each other's project fonts.
        let text = if project.fonts.is_empty() {
            Arc::clone(text)
        } else {
            let own = lock(text).fork(&gpu.device, &gpu.queue);
            Arc::new(Mutex::new(own))
        };
        let fonts = lock(&text).load(project, media)?;
        let mut ctx = PrepareCtx {
            gpu,
            compositor,
            text: &text,
            fonts: &fonts,
            media,
            project,
            items: Vec::new(),
            images: HashMap::new(),
            videos: Vec::new(),
            captions: Vec::new(),
        };
        let mut pending = Vec::with_capacity(project.frames.len());
        for (ci, comp) in project.frames.iter().enumerate() {
            let mut comp_pending = Vec::with_capacity(comp.layers.len());
            for (li, layer) in comp.layers.iter().enumerate() {
                let path = format!("frames[{ci}].layers[{li}]");
                comp_pending.push(layers::prepare(&mut ctx, layer, &path)?);
            }
            pending.push(comp_pending);
        }
        let PrepareCtx {
            items,
            videos,
            captions,
            ..
        } = ctx;
        let max_pages = gpu.device.limits().max_texture_array_layers;
        let atlas = Atlas::build(
            &gpu.device,
            &gpu.queue,
            items,
            gpu.max_texture_side,
            max_pages,
        )?;
        let sources: Vec<Vec<LayerSource>> = project
            .frames
            .iter()
            .zip(&pending)
            .map(|(comp, pending)| {
                comp.layers
                    .iter()
                    .zip(pending)
                    .map(|(layer, p)| layers::source(p, layer, &atlas, &captions))
                    .collect()
            })
            .collect();

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
                    .map(|(slot, item)| layers::place_slot(slot, &atlas, item))
                    .collect(),
            ),
            text,
            atlas,
        })
    }
}

fn lock(text: &Mutex<TextSystem>) -> std::sync::MutexGuard<'_, TextSystem> {
    text.lock().unwrap_or_else(|e| e.into_inner())
}
