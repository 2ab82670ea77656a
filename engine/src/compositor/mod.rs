//! The GPU compositor: turns the timeline's layer states into pixels with wgpu.
//!
//! * [`Compositor`] owns what is compiled once per engine: the compose and YUV pipelines
//!   (`shaders/compose.wgsl`, `shaders/yuv.wgsl`) and their bind group layouts.
//! * [`Scene`] owns what one render needs: the asset atlas (images and text, uploaded once) and the
//!   per-frame layer buffer. [`Scene::encode_frame`] records one render pass per frame.
//! * [`FrameTarget`] owns the frame texture and the YUV buffer the readback copies from.

mod atlas;
pub mod gpu;
pub mod layout;
pub mod text;

use std::collections::HashMap;
use std::sync::Mutex;

use wgpu::util::DeviceExt;

use crate::assets::AssetResolver;
use crate::project::{Fill, LayerKind, Project, ShapeKind, TransitionKind};
use crate::timeline::{SceneTime, Timeline};
use crate::RenderError;
use atlas::{Atlas, AtlasItem};
use gpu::Gpu;
use layout::*;
use text::TextSystem;

const COMPOSE_WGSL: &str = include_str!("../../../shaders/compose.wgsl");
const YUV_WGSL: &str = include_str!("../../../shaders/yuv.wgsl");

/// Format of composed frames: sRGB-encoded values stored as plain unorm, because blending happens on
/// encoded values (CSS semantics) and the YUV conversion wants encoded R'G'B'.
pub const FRAME_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// Pipelines and layouts, compiled once per engine.
pub struct Compositor {
    compose_layout: wgpu::BindGroupLayout,
    compose_pipeline: wgpu::RenderPipeline,
    yuv_layout: wgpu::BindGroupLayout,
    yuv_pipeline: wgpu::ComputePipeline,
    sampler: wgpu::Sampler,
}

fn bgl_entry(
    binding: u32,
    visibility: wgpu::ShaderStages,
    ty: wgpu::BindingType,
) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility,
        ty,
        count: None,
    }
}

impl Compositor {
    pub fn new(device: &wgpu::Device) -> Compositor {
        let frag = wgpu::ShaderStages::FRAGMENT;
        let compose_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("compose: frame, layers, atlas, sampler"),
            entries: &[
                bgl_entry(
                    0,
                    frag,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                bgl_entry(
                    1,
                    frag,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: true },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                bgl_entry(
                    2,
                    frag,
                    wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2Array,
                        multisampled: false,
                    },
                ),
                bgl_entry(
                    3,
                    frag,
                    wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                ),
            ],
        });
        let compose_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("compose.wgsl"),
            source: wgpu::ShaderSource::Wgsl(COMPOSE_WGSL.into()),
        });
        let compose_pipeline_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("compose"),
                bind_group_layouts: &[Some(&compose_layout)],
                immediate_size: 0,
            });
        let compose_pipeline = device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
            label: Some("compose"),
            layout: Some(&compose_pipeline_layout),
            vertex: wgpu::VertexState {
                module: &compose_module,
                entry_point: Some("vs_main"),
                compilation_options: Default::default(),
                buffers: &[],
            },
            primitive: wgpu::PrimitiveState::default(),
            depth_stencil: None,
            multisample: wgpu::MultisampleState::default(),
            fragment: Some(wgpu::FragmentState {
                module: &compose_module,
                entry_point: Some("fs_main"),
                compilation_options: Default::default(),
                // No fixed-function blending: the shader composites every layer itself.
                targets: &[Some(wgpu::ColorTargetState {
                    format: FRAME_FORMAT,
                    blend: None,
                    write_mask: wgpu::ColorWrites::ALL,
                })],
            }),
            multiview_mask: None,
            cache: None,
        });

        let comp = wgpu::ShaderStages::COMPUTE;
        let yuv_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("yuv: frame, output words, params"),
            entries: &[
                bgl_entry(
                    0,
                    comp,
                    wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: false },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                ),
                bgl_entry(
                    1,
                    comp,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                bgl_entry(
                    2,
                    comp,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
            ],
        });
        let yuv_module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("yuv.wgsl"),
            source: wgpu::ShaderSource::Wgsl(YUV_WGSL.into()),
        });
        let yuv_pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("yuv"),
            bind_group_layouts: &[Some(&yuv_layout)],
            immediate_size: 0,
        });
        let yuv_pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("yuv"),
            layout: Some(&yuv_pipeline_layout),
            module: &yuv_module,
            entry_point: Some("cs_main"),
            compilation_options: Default::default(),
            cache: None,
        });
        let sampler = device.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("atlas"),
            address_mode_u: wgpu::AddressMode::ClampToEdge,
            address_mode_v: wgpu::AddressMode::ClampToEdge,
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        Compositor {
            compose_layout,
            compose_pipeline,
            yuv_layout,
            yuv_pipeline,
            sampler,
        }
    }
}

/// A layer's static part: its box, what it samples, its colours. Per frame only the transform and
/// opacity change.
struct LayerSource {
    box_size: (f64, f64),
    quad: [f32; 4],
    template: GpuLayer,
}

/// One render's GPU resources and prepared layers.
pub struct Scene<'p> {
    project: &'p Project,
    pub timeline: Timeline,
    sources: Vec<Vec<LayerSource>>,
    frame_buf: wgpu::Buffer,
    layer_buf: wgpu::Buffer,
    bind_group: wgpu::BindGroup,
    capacity: usize,
    _atlas: Atlas,
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

impl<'p> Scene<'p> {
    /// Decodes media, rasterises text and uploads everything into the atlas.
    pub fn prepare(
        gpu: &Gpu,
        compositor: &Compositor,
        text: &Mutex<TextSystem>,
        project: &'p Project,
        assets: &AssetResolver,
    ) -> Result<Scene<'p>, RenderError> {
        let timeline = Timeline::new(project);
        let mut items: Vec<AtlasItem> = Vec::new();
        let mut image_cache: HashMap<(String, u32, u32), usize> = HashMap::new();
        // (composition, layer) → atlas item index for textured layers.
        let mut item_of: Vec<Vec<Option<usize>>> = Vec::new();
        let mut boxes: Vec<Vec<((f64, f64), [f32; 4])>> = Vec::new();
        for (ci, comp) in project.frames.iter().enumerate() {
            let mut comp_items = Vec::new();
            let mut comp_boxes = Vec::new();
            for (li, layer) in comp.layers.iter().enumerate() {
                let path = format!("frames[{ci}].layers[{li}]");
                match layer.kind {
                    LayerKind::Image => {
                        let src = layer.src.as_deref().unwrap_or_default();
                        let asset_err = |source| RenderError::Asset {
                            path: format!("{path}.src"),
                            source,
                        };
                        let natural = assets.check_image(src).map_err(asset_err)?;
                        let box_size = match (layer.width, layer.height) {
                            (Some(w), Some(h)) => (w, h),
                            (Some(w), None) => (w, w * natural.1 as f64 / natural.0 as f64),
                            (None, Some(h)) => (h * natural.0 as f64 / natural.1 as f64, h),
                            (None, None) => (natural.0 as f64, natural.1 as f64),
                        };
                        let (rw, rh) = image_raster_size(
                            natural,
                            box_size,
                            layer.max_scale(),
                            gpu.max_texture_side - 8,
                        );
                        let key = (src.to_string(), rw, rh);
                        let index = match image_cache.get(&key) {
                            Some(&i) => i,
                            None => {
                                let mut img = assets.load_image(src).map_err(asset_err)?;
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
                        comp_items.push(Some(index));
                        comp_boxes
                            .push((box_size, [0.0, 0.0, box_size.0 as f32, box_size.1 as f32]));
                    }
                    LayerKind::Text => {
                        let mut ts = text.lock().unwrap_or_else(|e| e.into_inner());
                        let family = layer.font.as_deref().unwrap_or(text::DEFAULT_FONT);
                        if !ts.has_family(family) {
                            return Err(RenderError::Request(format!(
                                "{path}.font: font family `{family}` is not installed (available: {})",
                                ts.families().join(", ")
                            )));
                        }
                        let raster_scale = layer.max_scale().clamp(1.0, 4.0);
                        let r = ts.rasterize(
                            &gpu.device,
                            &gpu.queue,
                            layer,
                            raster_scale,
                            gpu.max_texture_side - 8,
                        )?;
                        let m = r.margin as f32;
                        let (bw, bh) = r.box_size;
                        comp_boxes.push((r.box_size, [-m, -m, bw as f32 + m, bh as f32 + m]));
                        items.push(AtlasItem::Texture {
                            texture: r.texture,
                            width: r.width,
                            height: r.height,
                        });
                        comp_items.push(Some(items.len() - 1));
                    }
                    LayerKind::Shape => {
                        let size = (layer.width.unwrap_or(0.0), layer.height.unwrap_or(0.0));
                        comp_boxes.push((size, [0.0, 0.0, size.0 as f32, size.1 as f32]));
                        comp_items.push(None);
                    }
                }
            }
            item_of.push(comp_items);
            boxes.push(comp_boxes);
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
                let (box_size, quad) = boxes[ci][li];
                let mut g = GpuLayer::zeroed();
                g.info[1] = blend_code(layer.blend);
                g.inv1[2] = box_size.0 as f32;
                g.inv1[3] = box_size.1 as f32;
                g.quad = quad;
                if let Some(index) = item_of[ci][li] {
                    let slot = atlas.slots[index];
                    g.info[0] = KIND_TEXTURED;
                    g.info[2] = slot.page;
                    g.uv = atlas.uv(&slot);
                } else {
                    g.info[0] = if layer.shape == Some(ShapeKind::Ellipse) {
                        KIND_ELLIPSE
                    } else {
                        KIND_RECT
                    };
                    g.params[1] = match layer.shape {
                        Some(ShapeKind::RoundedRect) => layer.corner_radius.unwrap_or(16.0) as f32,
                        Some(ShapeKind::Rect) => layer.corner_radius.unwrap_or(0.0) as f32,
                        _ => 0.0,
                    };
                    if let Some(s) = &layer.stroke {
                        g.params[2] = s.width as f32;
                        g.stroke = s.color.premultiplied();
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
                            // The gradient line passes through the box centre at `angle` and spans the
                            // box's projection onto it (CSS linear-gradient geometry).
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
                }
                v.push(LayerSource {
                    box_size,
                    quad,
                    template: g,
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
        let capacity = (2 * max_layers).max(1);
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
                contents: bytemuck::bytes_of(&FrameUniforms::zeroed()),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            });
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("compose"),
            layout: &compositor.compose_layout,
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
                    resource: wgpu::BindingResource::Sampler(&compositor.sampler),
                },
            ],
        });
        Ok(Scene {
            project,
            timeline,
            sources,
            frame_buf,
            layer_buf,
            bind_group,
            capacity,
            _atlas: atlas,
        })
    }

    /// Appends the visible layers of one scene, shifted `dx` pixels (slide transitions).
    fn push_layers(&self, out: &mut Vec<GpuLayer>, st: SceneTime, dx: f64) {
        let comp = &self.project.frames[st.composition];
        let duration = comp.duration_at(self.project.frame_rate);
        let (fw, fh) = (self.project.width as f64, self.project.height as f64);
        for (layer, src) in comp.layers.iter().zip(&self.sources[st.composition]) {
            if !layer.visible_at(st.local, duration) {
                continue;
            }
            let s = layer.state_at(st.local);
            if s.opacity <= 0.0 || s.scale <= 1e-6 {
                continue;
            }
            let (ax, ay) = layer.anchor.fraction();
            let anchor = (ax * src.box_size.0, ay * src.box_size.1);
            let (sin, cos) = s.rotation.to_radians().sin_cos();
            let pos = (s.x + dx, s.y);
            // Forward: screen = pos + scale · R(θ) · (local − anchor), θ clockwise on a y-down screen.
            let fwd = |lx: f64, ly: f64| {
                let (u, v) = (lx - anchor.0, ly - anchor.1);
                (
                    pos.0 + s.scale * (cos * u - sin * v),
                    pos.1 + s.scale * (sin * u + cos * v),
                )
            };
            let q = src.quad.map(|v| v as f64);
            let corners = [
                fwd(q[0], q[1]),
                fwd(q[2], q[1]),
                fwd(q[0], q[3]),
                fwd(q[2], q[3]),
            ];
            let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
            for (x, y) in corners {
                x0 = x0.min(x);
                y0 = y0.min(y);
                x1 = x1.max(x);
                y1 = y1.max(y);
            }
            if x1 < -1.0 || y1 < -1.0 || x0 > fw + 1.0 || y0 > fh + 1.0 {
                continue; // entirely off screen
            }
            // Inverse: local = anchor + R(−θ) · (screen − pos) / scale.
            let k = 1.0 / s.scale;
            let (a, b, c, d) = (cos * k, sin * k, -sin * k, cos * k);
            let tx = anchor.0 - (a * pos.0 + b * pos.1);
            let ty = anchor.1 - (c * pos.0 + d * pos.1);
            let mut g = src.template;
            g.inv0 = [a as f32, b as f32, c as f32, d as f32];
            g.inv1[0] = tx as f32;
            g.inv1[1] = ty as f32;
            g.bbox = [
                (x0 - 1.0) as f32,
                (y0 - 1.0) as f32,
                (x1 + 1.0) as f32,
                (y1 + 1.0) as f32,
            ];
            g.params[0] = s.opacity as f32;
            g.params[3] = s.scale as f32;
            out.push(g);
        }
    }

    /// The uniforms and layer array of frame `n`.
    pub fn frame_data(&self, frame: u64) -> (FrameUniforms, Vec<GpuLayer>) {
        let fs = self.timeline.scene_at(self.project, frame);
        let w = self.project.width as f64;
        let bg = |i: usize| {
            self.project.frames[i]
                .background
                .unwrap_or(crate::project::Color::BLACK)
                .premultiplied()
        };
        let mut layers = Vec::with_capacity(self.capacity);
        let mut u = FrameUniforms::zeroed();
        u.size = [self.project.width as f32, self.project.height as f32];
        match fs.transition {
            None => {
                self.push_layers(&mut layers, fs.scene, 0.0);
                u.split = layers.len() as u32;
                u.background0 = bg(fs.scene.composition);
            }
            Some(tr) => {
                let p = tr.progress;
                let (dx0, dx1) = if tr.kind == TransitionKind::Slide {
                    (-p * w, (1.0 - p) * w)
                } else {
                    (0.0, 0.0)
                };
                self.push_layers(&mut layers, tr.from, dx0);
                u.split = layers.len() as u32;
                self.push_layers(&mut layers, fs.scene, dx1);
                u.transition = match tr.kind {
                    TransitionKind::Fade => TRANSITION_FADE,
                    TransitionKind::Wipe => TRANSITION_WIPE,
                    TransitionKind::Slide => TRANSITION_SLIDE,
                };
                u.progress = p as f32;
                u.background0 = bg(tr.from.composition);
                u.background1 = bg(fs.scene.composition);
            }
        }
        u.layer_count = layers.len() as u32;
        (u, layers)
    }

    /// Uploads frame `n`'s layer states and records its render pass into `target`.
    pub fn encode_frame(
        &self,
        gpu: &Gpu,
        compositor: &Compositor,
        encoder: &mut wgpu::CommandEncoder,
        target: &FrameTarget,
        frame: u64,
    ) {
        let (uniforms, layers) = self.frame_data(frame);
        gpu.queue
            .write_buffer(&self.frame_buf, 0, bytemuck::bytes_of(&uniforms));
        if !layers.is_empty() {
            gpu.queue
                .write_buffer(&self.layer_buf, 0, bytemuck::cast_slice(&layers));
        }
        let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
            label: Some("compose frame"),
            color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                view: &target.view,
                depth_slice: None,
                resolve_target: None,
                ops: wgpu::Operations {
                    load: wgpu::LoadOp::Clear(wgpu::Color::BLACK),
                    store: wgpu::StoreOp::Store,
                },
            })],
            ..Default::default()
        });
        pass.set_pipeline(&compositor.compose_pipeline);
        pass.set_bind_group(0, &self.bind_group, &[]);
        pass.draw(0..3, 0..1);
    }
}

use bytemuck::Zeroable;

/// The composed frame texture and its YUV 4:2:0 conversion buffer.
pub struct FrameTarget {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub yuv: wgpu::Buffer,
    yuv_bind_group: wgpu::BindGroup,
    pub width: u32,
    pub height: u32,
    /// Luma row length in bytes (width rounded up to 8, see yuv.wgsl).
    pub stride: u32,
}

impl FrameTarget {
    pub fn new(gpu: &Gpu, compositor: &Compositor, width: u32, height: u32) -> FrameTarget {
        let texture = gpu.device.create_texture(&wgpu::TextureDescriptor {
            label: Some("frame"),
            size: wgpu::Extent3d {
                width,
                height,
                depth_or_array_layers: 1,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: FRAME_FORMAT,
            usage: wgpu::TextureUsages::RENDER_ATTACHMENT
                | wgpu::TextureUsages::TEXTURE_BINDING
                | wgpu::TextureUsages::COPY_SRC,
            view_formats: &[],
        });
        let view = texture.create_view(&Default::default());
        let stride = width.next_multiple_of(8);
        let yuv = gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("yuv420p"),
            size: Self::yuv_len_for(stride, height),
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
            mapped_at_creation: false,
        });
        let params = gpu
            .device
            .create_buffer_init(&wgpu::util::BufferInitDescriptor {
                label: Some("yuv params"),
                contents: bytemuck::bytes_of(&YuvParams {
                    width,
                    height,
                    stride,
                    _pad: 0,
                }),
                usage: wgpu::BufferUsages::UNIFORM,
            });
        let yuv_bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("yuv"),
            layout: &compositor.yuv_layout,
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: wgpu::BindingResource::TextureView(&view),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: yuv.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 2,
                    resource: params.as_entire_binding(),
                },
            ],
        });
        FrameTarget {
            texture,
            view,
            yuv,
            yuv_bind_group,
            width,
            height,
            stride,
        }
    }

    fn yuv_len_for(stride: u32, height: u32) -> u64 {
        stride as u64 * height as u64 * 3 / 2
    }

    /// Bytes of one YUV frame as laid out in [`FrameTarget::yuv`].
    pub fn yuv_len(&self) -> u64 {
        Self::yuv_len_for(self.stride, self.height)
    }

    /// Records the RGBA → YUV conversion of the composed frame.
    pub fn encode_yuv(&self, compositor: &Compositor, encoder: &mut wgpu::CommandEncoder) {
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("rgba to yuv420p"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&compositor.yuv_pipeline);
        pass.set_bind_group(0, &self.yuv_bind_group, &[]);
        pass.dispatch_workgroups(
            (self.stride / 8).div_ceil(8),
            (self.height / 2).div_ceil(8),
            1,
        );
    }
}
