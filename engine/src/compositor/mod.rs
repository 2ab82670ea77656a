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

use bytemuck::Zeroable;
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
    /// Group 1 of `fs_layer_backdrop` and `fs_fade`: one texture read with `textureLoad`.
    texture_layout: wgpu::BindGroupLayout,
    /// Fixed-function blend pipelines, indexed by [`BlendClass`].
    layer_pipelines: [wgpu::RenderPipeline; 4],
    backdrop_pipeline: wgpu::RenderPipeline,
    fade_pipeline: wgpu::RenderPipeline,
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

fn uniform_entry(binding: u32, visibility: wgpu::ShaderStages) -> wgpu::BindGroupLayoutEntry {
    bgl_entry(
        binding,
        visibility,
        wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: None,
        },
    )
}

fn storage_entry(
    binding: u32,
    visibility: wgpu::ShaderStages,
    read_only: bool,
) -> wgpu::BindGroupLayoutEntry {
    bgl_entry(
        binding,
        visibility,
        wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
    )
}

fn texture_entry(
    binding: u32,
    visibility: wgpu::ShaderStages,
    filterable: bool,
    dim: wgpu::TextureViewDimension,
) -> wgpu::BindGroupLayoutEntry {
    bgl_entry(
        binding,
        visibility,
        wgpu::BindingType::Texture {
            sample_type: wgpu::TextureSampleType::Float { filterable },
            view_dimension: dim,
            multisampled: false,
        },
    )
}

/// How a blend mode is drawn: the first four are fixed-function blend states, `Backdrop` means the
/// shader reads a copy of the backdrop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BlendClass {
    Normal = 0,
    Add = 1,
    Multiply = 2,
    Screen = 3,
    Backdrop = 4,
}

impl BlendClass {
    fn of(code: u32) -> BlendClass {
        match code {
            0 => BlendClass::Normal,
            6 => BlendClass::Add,
            1 => BlendClass::Multiply,
            2 => BlendClass::Screen,
            _ => BlendClass::Backdrop,
        }
    }

    /// Premultiplied source over an opaque backdrop; alpha always composes source-over so the frame
    /// stays opaque.
    fn blend_state(self) -> wgpu::BlendState {
        use wgpu::{BlendComponent, BlendFactor as F, BlendOperation};
        let color = |src_factor, dst_factor| BlendComponent {
            src_factor,
            dst_factor,
            operation: BlendOperation::Add,
        };
        let color = match self {
            BlendClass::Normal | BlendClass::Backdrop => color(F::One, F::OneMinusSrcAlpha),
            // Linear dodge: Cs + Cb, clamped by the unorm target.
            BlendClass::Add => color(F::One, F::One),
            // W3C multiply with an opaque backdrop: Cs·cb + cb·(1 − αs).
            BlendClass::Multiply => color(F::Dst, F::OneMinusSrcAlpha),
            // Screen: Cs + cb − Cs·cb = Cs·(1 − cb) + cb.
            BlendClass::Screen => color(F::OneMinusDst, F::One),
        };
        wgpu::BlendState {
            color,
            alpha: BlendComponent::OVER,
        }
    }
}

impl Compositor {
    pub fn new(device: &wgpu::Device) -> Compositor {
        let vf = wgpu::ShaderStages::VERTEX_FRAGMENT;
        let frag = wgpu::ShaderStages::FRAGMENT;
        let compose_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("compose group 0: frame, layers, atlas, sampler"),
            entries: &[
                uniform_entry(0, vf),
                storage_entry(1, vf, true),
                texture_entry(2, frag, true, wgpu::TextureViewDimension::D2Array),
                bgl_entry(
                    3,
                    frag,
                    wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                ),
            ],
        });
        let texture_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("compose group 1: backdrop"),
            entries: &[texture_entry(
                0,
                frag,
                false,
                wgpu::TextureViewDimension::D2,
            )],
        });
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("compose.wgsl"),
            source: wgpu::ShaderSource::Wgsl(COMPOSE_WGSL.into()),
        });
        let layout_one = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("compose"),
            bind_group_layouts: &[Some(&compose_layout)],
            immediate_size: 0,
        });
        let layout_two = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("compose with backdrop"),
            bind_group_layouts: &[Some(&compose_layout), Some(&texture_layout)],
            immediate_size: 0,
        });
        let pipeline = |label: &str,
                        layout: &wgpu::PipelineLayout,
                        vs: &str,
                        fs: &str,
                        blend: Option<wgpu::BlendState>| {
            device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
                label: Some(label),
                layout: Some(layout),
                vertex: wgpu::VertexState {
                    module: &module,
                    entry_point: Some(vs),
                    compilation_options: Default::default(),
                    buffers: &[],
                },
                primitive: wgpu::PrimitiveState::default(),
                depth_stencil: None,
                multisample: wgpu::MultisampleState::default(),
                fragment: Some(wgpu::FragmentState {
                    module: &module,
                    entry_point: Some(fs),
                    compilation_options: Default::default(),
                    targets: &[Some(wgpu::ColorTargetState {
                        format: FRAME_FORMAT,
                        blend,
                        write_mask: wgpu::ColorWrites::ALL,
                    })],
                }),
                multiview_mask: None,
                cache: None,
            })
        };
        let layer_pipelines = [
            BlendClass::Normal,
            BlendClass::Add,
            BlendClass::Multiply,
            BlendClass::Screen,
        ]
        .map(|c| {
            pipeline(
                &format!("layer {c:?}"),
                &layout_one,
                "vs_layer",
                "fs_layer",
                Some(c.blend_state()),
            )
        });
        let backdrop_pipeline = pipeline(
            "layer with backdrop",
            &layout_two,
            "vs_layer",
            "fs_layer_backdrop",
            None,
        );
        let fade = wgpu::BlendComponent {
            src_factor: wgpu::BlendFactor::Constant,
            dst_factor: wgpu::BlendFactor::OneMinusConstant,
            operation: wgpu::BlendOperation::Add,
        };
        let fade_pipeline = pipeline(
            "cross-fade",
            &layout_two,
            "vs_fullscreen",
            "fs_fade",
            Some(wgpu::BlendState {
                color: fade,
                alpha: fade,
            }),
        );

        let comp = wgpu::ShaderStages::COMPUTE;
        let yuv_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("yuv: frame, output words, params"),
            entries: &[
                texture_entry(0, comp, false, wgpu::TextureViewDimension::D2),
                storage_entry(1, comp, false),
                uniform_entry(2, comp),
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
            texture_layout,
            layer_pipelines,
            backdrop_pipeline,
            fade_pipeline,
            yuv_layout,
            yuv_pipeline,
            sampler,
        }
    }

    fn texture_bind_group(
        &self,
        device: &wgpu::Device,
        view: &wgpu::TextureView,
        label: &str,
    ) -> wgpu::BindGroup {
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout: &self.texture_layout,
            entries: &[wgpu::BindGroupEntry {
                binding: 0,
                resource: wgpu::BindingResource::TextureView(view),
            }],
        })
    }
}

/// A layer's box size and the rectangle it draws, in local units.
type LayerBox = ((f64, f64), [f32; 4]);

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
        let mut boxes: Vec<Vec<LayerBox>> = Vec::new();
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
                    LayerKind::Video => {
                        return Err(RenderError::Request(format!(
                            "{path}: video layers are not drawn yet"
                        )));
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
                g.xform1[2] = box_size.0 as f32;
                g.xform1[3] = box_size.1 as f32;
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
        let capacity = 2 * (max_layers + 1); // two scenes during a transition, each with its background
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
            _atlas: atlas,
        })
    }

    /// Appends one scene's background (as a full-frame rectangle) and visible layers, shifted `dx`
    /// pixels (slide transitions).
    fn push_scene(&self, list: &mut DrawList, st: SceneTime, dx: f64) {
        let comp = &self.project.frames[st.composition];
        let duration = comp.duration_at(self.project.frame_rate);
        let (fw, fh) = (self.project.width as f64, self.project.height as f64);
        let mut bg = GpuLayer::zeroed();
        bg.xform0 = [1.0, 0.0, 0.0, 1.0];
        bg.xform1 = [dx as f32, 0.0, fw as f32, fh as f32];
        bg.quad = [0.0, 0.0, fw as f32, fh as f32];
        bg.params = [1.0, 0.0, 0.0, 1.0];
        bg.info = [KIND_RECT, 0, 0, FILL_SOLID];
        bg.fill = comp
            .background
            .unwrap_or(crate::project::Color::BLACK)
            .premultiplied();
        list.push(bg, [0, 0, self.project.width, self.project.height]);
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
            // screen = pos + scale · R(θ) · (local − anchor), θ clockwise on a y-down screen.
            let (a, b, c, d) = (s.scale * cos, -s.scale * sin, s.scale * sin, s.scale * cos);
            let pos = (s.x + dx, s.y);
            let tx = pos.0 - (a * anchor.0 + b * anchor.1);
            let ty = pos.1 - (c * anchor.0 + d * anchor.1);
            let fwd = |lx: f64, ly: f64| (a * lx + b * ly + tx, c * lx + d * ly + ty);
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
            // One pixel of anti-aliasing padding, clamped to the frame.
            let (x0, y0) = ((x0 - 1.0).floor().max(0.0), (y0 - 1.0).floor().max(0.0));
            let (x1, y1) = ((x1 + 1.0).ceil().min(fw), (y1 + 1.0).ceil().min(fh));
            if x1 <= x0 || y1 <= y0 {
                continue; // entirely off screen
            }
            let mut g = src.template;
            g.xform0 = [a as f32, b as f32, c as f32, d as f32];
            g.xform1[0] = tx as f32;
            g.xform1[1] = ty as f32;
            g.params[0] = s.opacity as f32;
            g.params[3] = s.scale as f32;
            list.push(g, [x0 as u32, y0 as u32, x1 as u32, y1 as u32]);
        }
    }

    /// What to draw for frame `n`: the layers bottom to top and how to split them into passes.
    pub fn frame_data(&self, frame: u64) -> DrawList {
        let fs = self.timeline.scene_at(self.project, frame);
        let (w, h) = (self.project.width, self.project.height);
        let mut list = DrawList::default();
        match fs.transition {
            None => {
                self.push_scene(&mut list, fs.scene, 0.0);
                list.segment(Dest::Main, None);
            }
            Some(tr) => {
                let p = tr.progress;
                match tr.kind {
                    TransitionKind::Fade => {
                        self.push_scene(&mut list, tr.from, 0.0);
                        list.segment(Dest::Main, None);
                        self.push_scene(&mut list, fs.scene, 0.0);
                        list.segment(Dest::Incoming, None);
                        list.fade = Some(p as f32);
                    }
                    TransitionKind::Wipe => {
                        // The incoming scene is revealed from the left: it owns x < split.
                        let split = ((p * w as f64).round() as u32).min(w);
                        self.push_scene(&mut list, tr.from, 0.0);
                        list.segment(Dest::Main, Some([split, 0, w, h]));
                        self.push_scene(&mut list, fs.scene, 0.0);
                        list.segment(Dest::Main, Some([0, 0, split, h]));
                    }
                    TransitionKind::Slide => {
                        // The incoming scene enters from the right and pushes the outgoing one out.
                        let split = (((1.0 - p) * w as f64).round() as u32).min(w);
                        self.push_scene(&mut list, tr.from, -p * w as f64);
                        list.segment(Dest::Main, Some([0, 0, split, h]));
                        self.push_scene(&mut list, fs.scene, (1.0 - p) * w as f64);
                        list.segment(Dest::Main, Some([split, 0, w, h]));
                    }
                }
            }
        }
        list
    }

    /// Uploads frame `n`'s layers and records its passes into `target`: one render pass, plus one per
    /// layer in a backdrop blend mode (overlay, darken, lighten) and two more during a cross-fade.
    pub fn encode_frame(
        &self,
        gpu: &Gpu,
        compositor: &Compositor,
        encoder: &mut wgpu::CommandEncoder,
        target: &FrameTarget,
        frame: u64,
    ) {
        let list = self.frame_data(frame);
        let uniforms = FrameUniforms {
            size: [self.project.width as f32, self.project.height as f32],
            _pad: [0.0; 2],
        };
        gpu.queue
            .write_buffer(&self.frame_buf, 0, bytemuck::bytes_of(&uniforms));
        gpu.queue
            .write_buffer(&self.layer_buf, 0, bytemuck::cast_slice(&list.layers));

        let mut pass: Option<(Dest, wgpu::RenderPass<'static>)> = None;
        let mut cleared = [false; 2];
        let mut open = |encoder: &mut wgpu::CommandEncoder,
                        pass: &mut Option<(Dest, wgpu::RenderPass<'static>)>,
                        dest: Dest| {
            if pass.as_ref().is_some_and(|(d, _)| *d == dest) {
                return;
            }
            *pass = None; // end the previous pass before starting another
            let load = if std::mem::replace(&mut cleared[dest as usize], true) {
                wgpu::LoadOp::Load
            } else {
                let [r, g, b, a] = list.clear[dest as usize]
                    .unwrap_or([0.0, 0.0, 0.0, 1.0])
                    .map(f64::from);
                wgpu::LoadOp::Clear(wgpu::Color { r, g, b, a })
            };
            let p = encoder
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("compose"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: target.view(dest),
                        depth_slice: None,
                        resolve_target: None,
                        ops: wgpu::Operations {
                            load,
                            store: wgpu::StoreOp::Store,
                        },
                    })],
                    ..Default::default()
                })
                .forget_lifetime();
            *pass = Some((dest, p));
        };
        let full = [0, 0, target.width, target.height];
        for seg in &list.segments {
            let scissor = seg.scissor.unwrap_or(full);
            if scissor[2] <= scissor[0] || scissor[3] <= scissor[1] {
                continue;
            }
            open(encoder, &mut pass, seg.dest); // clears the destination even if no layer follows
            let mut i = seg.range.start;
            while i < seg.range.end {
                let class = BlendClass::of(list.layers[i as usize].info[1]);
                if class != BlendClass::Backdrop {
                    // Consecutive layers with the same blend state go in one instanced draw; instances
                    // rasterise in order, so stacking is preserved.
                    let mut j = i + 1;
                    while j < seg.range.end
                        && BlendClass::of(list.layers[j as usize].info[1]) == class
                    {
                        j += 1;
                    }
                    open(encoder, &mut pass, seg.dest);
                    let (_, p) = pass.as_mut().expect("pass open");
                    p.set_pipeline(&compositor.layer_pipelines[class as usize]);
                    p.set_bind_group(0, &self.bind_group, &[]);
                    p.set_scissor_rect(
                        scissor[0],
                        scissor[1],
                        scissor[2] - scissor[0],
                        scissor[3] - scissor[1],
                    );
                    p.draw(0..6, i..j);
                    i = j;
                    continue;
                }
                // The layer's pixels of the backdrop, copied so the shader can read them.
                let b = list.bboxes[i as usize];
                let r = [
                    b[0].max(scissor[0]),
                    b[1].max(scissor[1]),
                    b[2].min(scissor[2]),
                    b[3].min(scissor[3]),
                ];
                if r[2] > r[0] && r[3] > r[1] {
                    open(encoder, &mut pass, seg.dest); // make sure an earlier clear has happened
                    pass = None;
                    let origin = wgpu::Origin3d {
                        x: r[0],
                        y: r[1],
                        z: 0,
                    };
                    encoder.copy_texture_to_texture(
                        wgpu::TexelCopyTextureInfo {
                            texture: target.texture(seg.dest),
                            mip_level: 0,
                            origin,
                            aspect: wgpu::TextureAspect::All,
                        },
                        wgpu::TexelCopyTextureInfo {
                            texture: &target.backdrop,
                            mip_level: 0,
                            origin,
                            aspect: wgpu::TextureAspect::All,
                        },
                        wgpu::Extent3d {
                            width: r[2] - r[0],
                            height: r[3] - r[1],
                            depth_or_array_layers: 1,
                        },
                    );
                    open(encoder, &mut pass, seg.dest);
                    let (_, p) = pass.as_mut().expect("pass open");
                    p.set_pipeline(&compositor.backdrop_pipeline);
                    p.set_bind_group(0, &self.bind_group, &[]);
                    p.set_bind_group(1, &target.backdrop_group, &[]);
                    p.set_scissor_rect(r[0], r[1], r[2] - r[0], r[3] - r[1]);
                    p.draw(0..6, i..i + 1);
                }
                i += 1;
            }
        }
        if let Some(progress) = list.fade {
            open(encoder, &mut pass, Dest::Main);
            let (_, p) = pass.as_mut().expect("pass open");
            p.set_pipeline(&compositor.fade_pipeline);
            p.set_bind_group(0, &self.bind_group, &[]);
            p.set_bind_group(1, &target.incoming_group, &[]);
            let k = progress as f64;
            p.set_blend_constant(wgpu::Color {
                r: k,
                g: k,
                b: k,
                a: k,
            });
            p.draw(0..3, 0..1);
        }
        drop(pass);
    }
}

/// Which texture a segment draws into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// The frame itself.
    Main = 0,
    /// The incoming scene of a cross-fade, blended onto the frame at the end.
    Incoming = 1,
}

/// A run of layers drawn into one destination, optionally clipped (wipe and slide transitions).
#[derive(Debug, Clone)]
pub struct Segment {
    pub dest: Dest,
    pub range: std::ops::Range<u32>,
    /// x0, y0, x1, y1 in pixels.
    pub scissor: Option<[u32; 4]>,
}

/// One frame's layers bottom to top, with each layer's pixel bounds and the pass plan.
#[derive(Debug, Clone, Default)]
pub struct DrawList {
    pub layers: Vec<GpuLayer>,
    /// x0, y0, x1, y1 (exclusive) in pixels, clamped to the frame.
    pub bboxes: Vec<[u32; 4]>,
    pub segments: Vec<Segment>,
    /// Cross-fade progress: blend `Incoming` onto `Main` with this weight.
    pub fade: Option<f32>,
    /// Clear colour of each destination (an unclipped scene's opaque background).
    pub clear: [Option<[f32; 4]>; 2],
}

impl DrawList {
    fn push(&mut self, layer: GpuLayer, bbox: [u32; 4]) {
        self.layers.push(layer);
        self.bboxes.push(bbox);
    }

    /// Closes a segment holding the layers pushed since the previous one (a scene: its background
    /// first). An unclipped scene's background becomes the pass's clear colour instead of a draw.
    fn segment(&mut self, dest: Dest, scissor: Option<[u32; 4]>) {
        let mut start = self.segments.last().map_or(0, |s| s.range.end);
        if scissor.is_none() && self.clear[dest as usize].is_none() {
            self.clear[dest as usize] = Some(self.layers[start as usize].fill);
            start += 1;
        }
        self.segments.push(Segment {
            dest,
            range: start..self.layers.len() as u32,
            scissor,
        });
    }
}

/// The composed frame texture and its YUV 4:2:0 conversion buffer.
pub struct FrameTarget {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    /// The incoming scene during a cross-fade.
    incoming: wgpu::Texture,
    incoming_view: wgpu::TextureView,
    incoming_group: wgpu::BindGroup,
    /// Copy of the pixels under a layer in a backdrop blend mode.
    backdrop: wgpu::Texture,
    backdrop_group: wgpu::BindGroup,
    pub yuv: wgpu::Buffer,
    yuv_bind_group: wgpu::BindGroup,
    pub width: u32,
    pub height: u32,
    /// Luma row length in bytes (width rounded up to 8, see yuv.wgsl).
    pub stride: u32,
}

impl FrameTarget {
    pub fn new(gpu: &Gpu, compositor: &Compositor, width: u32, height: u32) -> FrameTarget {
        let frame_texture = |label: &str, usage: wgpu::TextureUsages| {
            gpu.device.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width,
                    height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: FRAME_FORMAT,
                usage,
                view_formats: &[],
            })
        };
        use wgpu::TextureUsages as U;
        // COPY_SRC: overlay/darken/lighten layers of the incoming scene copy their backdrop from it.
        let incoming = frame_texture(
            "incoming scene",
            U::RENDER_ATTACHMENT | U::TEXTURE_BINDING | U::COPY_SRC,
        );
        let incoming_view = incoming.create_view(&Default::default());
        let incoming_group =
            compositor.texture_bind_group(&gpu.device, &incoming_view, "incoming scene");
        let backdrop = frame_texture("backdrop copy", U::COPY_DST | U::TEXTURE_BINDING);
        let backdrop_group = compositor.texture_bind_group(
            &gpu.device,
            &backdrop.create_view(&Default::default()),
            "backdrop copy",
        );
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
        let _ = frame_texture;
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
            incoming,
            incoming_view,
            incoming_group,
            backdrop,
            backdrop_group,
            yuv,
            yuv_bind_group,
            width,
            height,
            stride,
        }
    }

    fn texture(&self, dest: Dest) -> &wgpu::Texture {
        match dest {
            Dest::Main => &self.texture,
            Dest::Incoming => &self.incoming,
        }
    }

    fn view(&self, dest: Dest) -> &wgpu::TextureView {
        match dest {
            Dest::Main => &self.view,
            Dest::Incoming => &self.incoming_view,
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
