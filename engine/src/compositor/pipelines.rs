//! The compiled side of the compositor: one render pipeline per (draw kind, blend class), the YUV
//! compute pipeline, their bind group layouts and samplers. Built once per [`super::Compositor`].
//!
//! Specialised pipelines instead of one general shader: on a software rasteriser every instruction
//! of the fragment stage runs for every covered pixel, so each kind of layer gets the cheapest
//! fragment shader that draws it exactly (see `shaders/layer_*.wgsl`).

use std::sync::OnceLock;

use super::FRAME_FORMAT;

const COMMON_WGSL: &str = include_str!("../../../shaders/layer_common.wgsl");
const TEXTURED_WGSL: &str = include_str!("../../../shaders/layer_textured.wgsl");
const SHAPE_WGSL: &str = include_str!("../../../shaders/layer_shape.wgsl");
const VIDEO_WGSL: &str = include_str!("../../../shaders/layer_video.wgsl");
const FADE_WGSL: &str = include_str!("../../../shaders/fade.wgsl");
const YUV_WGSL: &str = include_str!("../../../shaders/yuv.wgsl");

/// Which shader draws a layer. Chosen per frame from the layer's kind and transform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DrawKind {
    /// Image or text, any transform: bilinear sample × anti-aliased edge coverage.
    Textured = 0,
    /// Image or text, axis-aligned with pixel-aligned edges: bilinear sample only.
    TexturedPlain = 1,
    /// Image or text, axis-aligned, pixel-aligned, at its raster size: one texel per pixel.
    TexturedNearest = 2,
    /// Axis-aligned, pixel-aligned rectangle with one solid colour.
    Solid = 3,
    /// Rectangle or rounded rectangle, any transform, fill and stroke.
    Rect = 4,
    /// Ellipse, any transform, fill and stroke.
    Ellipse = 5,
    /// The inside of a large solid-filled shape, where coverage is 1: one colour.
    SolidInner = 6,
    /// The rest of that rectangle: four strips around the inside.
    RectRing = 7,
    /// The rest of that ellipse.
    EllipseRing = 8,
    /// The inside of a large transformed image or text, where coverage is 1: bilinear sample only.
    TexturedInner = 9,
    /// The anti-aliased ring around that inside.
    TexturedRing = 10,
    /// A video frame (YUV planes converted on the GPU), any transform.
    Video = 11,
    /// A video frame, axis-aligned with pixel-aligned edges.
    VideoPlain = 12,
    /// The inside of a large transformed video layer.
    VideoInner = 13,
    /// The anti-aliased ring around that inside.
    VideoRing = 14,
    /// A video frame drawn one frame pixel per output pixel, axis-aligned: plain loads.
    VideoExact = 15,
}

impl DrawKind {
    pub const ALL: [DrawKind; 16] = [
        DrawKind::Textured,
        DrawKind::TexturedPlain,
        DrawKind::TexturedNearest,
        DrawKind::Solid,
        DrawKind::Rect,
        DrawKind::Ellipse,
        DrawKind::SolidInner,
        DrawKind::RectRing,
        DrawKind::EllipseRing,
        DrawKind::TexturedInner,
        DrawKind::TexturedRing,
        DrawKind::Video,
        DrawKind::VideoPlain,
        DrawKind::VideoInner,
        DrawKind::VideoRing,
        DrawKind::VideoExact,
    ];

    /// Vertices per instance.
    pub fn vertices(self) -> u32 {
        match self {
            DrawKind::RectRing
            | DrawKind::EllipseRing
            | DrawKind::TexturedRing
            | DrawKind::VideoRing => 24,
            _ => 6,
        }
    }

    pub fn from_code(code: u32) -> DrawKind {
        DrawKind::ALL[code as usize]
    }

    fn entry_points(self) -> (&'static str, &'static str) {
        match self {
            DrawKind::Textured => ("vs_textured", "fs_textured"),
            DrawKind::TexturedPlain => ("vs_textured", "fs_textured_plain"),
            DrawKind::TexturedNearest => ("vs_textured", "fs_textured_nearest"),
            DrawKind::Solid => ("vs_shape", "fs_solid"),
            DrawKind::Rect => ("vs_shape", "fs_rect"),
            DrawKind::Ellipse => ("vs_shape", "fs_ellipse"),
            DrawKind::SolidInner => ("vs_shape_inner", "fs_solid"),
            DrawKind::RectRing => ("vs_shape_ring", "fs_rect"),
            DrawKind::EllipseRing => ("vs_shape_ring", "fs_ellipse"),
            DrawKind::TexturedInner => ("vs_textured_inner", "fs_textured_plain"),
            DrawKind::TexturedRing => ("vs_textured_ring", "fs_textured"),
            DrawKind::Video => ("vs_video", "fs_video"),
            DrawKind::VideoPlain => ("vs_video", "fs_video_plain"),
            DrawKind::VideoInner => ("vs_video_inner", "fs_video_plain"),
            DrawKind::VideoRing => ("vs_video_ring", "fs_video"),
            DrawKind::VideoExact => ("vs_video", "fs_video_exact"),
        }
    }

    /// Whether the kind draws a video frame (bind group 1 holds its planes).
    pub fn video(self) -> bool {
        matches!(
            self,
            DrawKind::Video
                | DrawKind::VideoPlain
                | DrawKind::VideoInner
                | DrawKind::VideoRing
                | DrawKind::VideoExact
        )
    }

    fn textured(self) -> bool {
        matches!(
            self,
            DrawKind::Textured
                | DrawKind::TexturedPlain
                | DrawKind::TexturedNearest
                | DrawKind::TexturedInner
                | DrawKind::TexturedRing
        )
    }
}

/// How a blend mode is drawn: the first four are fixed-function blend states, `Backdrop` means the
/// shader reads a copy of the backdrop.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BlendClass {
    Normal = 0,
    Add = 1,
    Multiply = 2,
    Screen = 3,
    Backdrop = 4,
}

impl BlendClass {
    pub const ALL: [BlendClass; 5] = [
        BlendClass::Normal,
        BlendClass::Add,
        BlendClass::Multiply,
        BlendClass::Screen,
        BlendClass::Backdrop,
    ];

    /// From the blend mode number of `layout::blend_code`.
    pub fn of(code: u32) -> BlendClass {
        match code {
            0 => BlendClass::Normal,
            6 => BlendClass::Add,
            1 => BlendClass::Multiply,
            2 => BlendClass::Screen,
            _ => BlendClass::Backdrop,
        }
    }

    /// Premultiplied source over an opaque backdrop; alpha always composes source-over so the frame
    /// stays opaque. `Backdrop` writes the shader's result as is.
    fn blend_state(self) -> Option<wgpu::BlendState> {
        use wgpu::{BlendComponent, BlendFactor as F, BlendOperation};
        let color = |src_factor, dst_factor| BlendComponent {
            src_factor,
            dst_factor,
            operation: BlendOperation::Add,
        };
        let color = match self {
            BlendClass::Backdrop => return None,
            BlendClass::Normal => color(F::One, F::OneMinusSrcAlpha),
            // Linear dodge: Cs + Cb, clamped by the unorm target.
            BlendClass::Add => color(F::One, F::One),
            // W3C multiply with an opaque backdrop: Cs·cb + cb·(1 − αs).
            BlendClass::Multiply => color(F::Dst, F::OneMinusSrcAlpha),
            // Screen: Cs + cb − Cs·cb = Cs·(1 − cb) + cb.
            BlendClass::Screen => color(F::OneMinusDst, F::One),
        };
        Some(wgpu::BlendState {
            color,
            alpha: BlendComponent::OVER,
        })
    }
}

/// Pipelines and layouts, compiled once per engine.
pub struct Pipelines {
    pub compose_layout: wgpu::BindGroupLayout,
    /// Group 1 of the backdrop shaders, group 0 of the fade: one texture read with `textureLoad`.
    pub texture_layout: wgpu::BindGroupLayout,
    /// Group 1 of the video shaders: the Y, Cb, Cr and alpha planes of one layer's frame.
    pub video_layout: wgpu::BindGroupLayout,
    /// Indexed by `[DrawKind as usize][BlendClass as usize]`, each compiled on first use: a render
    /// uses a handful of the 80 combinations, and each costs start-up time and memory on a software
    /// rasteriser.
    layer: Vec<[OnceLock<wgpu::RenderPipeline>; 5]>,
    device: wgpu::Device,
    textured: wgpu::ShaderModule,
    shape: wgpu::ShaderModule,
    video: wgpu::ShaderModule,
    layers_layout: wgpu::PipelineLayout,
    backdrop_layout: wgpu::PipelineLayout,
    video_layers_layout: wgpu::PipelineLayout,
    video_backdrop_layout: wgpu::PipelineLayout,
    pub fade: wgpu::RenderPipeline,
    pub yuv_layout: wgpu::BindGroupLayout,
    pub yuv: wgpu::ComputePipeline,
    pub linear_sampler: wgpu::Sampler,
    pub nearest_sampler: wgpu::Sampler,
}

pub(crate) fn bgl_entry(
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

pub(crate) fn texture_entry(
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

fn sampler(device: &wgpu::Device, label: &str, filter: wgpu::FilterMode) -> wgpu::Sampler {
    device.create_sampler(&wgpu::SamplerDescriptor {
        label: Some(label),
        address_mode_u: wgpu::AddressMode::ClampToEdge,
        address_mode_v: wgpu::AddressMode::ClampToEdge,
        mag_filter: filter,
        min_filter: filter,
        ..Default::default()
    })
}

/// A render pipeline drawing into a frame texture.
fn render_pipeline(
    device: &wgpu::Device,
    label: &str,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    (vs, fs): (&str, &str),
    blend: Option<wgpu::BlendState>,
) -> wgpu::RenderPipeline {
    device.create_render_pipeline(&wgpu::RenderPipelineDescriptor {
        label: Some(label),
        layout: Some(layout),
        vertex: wgpu::VertexState {
            module,
            entry_point: Some(vs),
            compilation_options: Default::default(),
            buffers: &[],
        },
        primitive: wgpu::PrimitiveState::default(),
        depth_stencil: None,
        multisample: wgpu::MultisampleState::default(),
        fragment: Some(wgpu::FragmentState {
            module,
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
}

impl Pipelines {
    pub fn new(device: &wgpu::Device) -> Pipelines {
        let vf = wgpu::ShaderStages::VERTEX_FRAGMENT;
        let frag = wgpu::ShaderStages::FRAGMENT;
        let sampler_entry = |binding| {
            bgl_entry(
                binding,
                frag,
                wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
            )
        };
        let compose_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("layers group 0: frame, layers, atlas, samplers"),
            entries: &[
                uniform_entry(0, vf),
                storage_entry(1, vf, true),
                texture_entry(2, vf, true, wgpu::TextureViewDimension::D2Array),
                sampler_entry(3),
                sampler_entry(4),
            ],
        });
        let texture_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("one texture (backdrop copy, incoming scene)"),
            entries: &[texture_entry(
                0,
                frag,
                false,
                wgpu::TextureViewDimension::D2,
            )],
        });
        let module = |label: &str, source: String| {
            device.create_shader_module(wgpu::ShaderModuleDescriptor {
                label: Some(label),
                source: wgpu::ShaderSource::Wgsl(source.into()),
            })
        };
        let textured = module(
            "layer_textured.wgsl",
            format!("{COMMON_WGSL}\n{TEXTURED_WGSL}"),
        );
        let shape = module("layer_shape.wgsl", format!("{COMMON_WGSL}\n{SHAPE_WGSL}"));
        // Video shaders use group 1 for their planes, so their backdrop copy moves to group 2.
        let video_common = COMMON_WGSL.replace(
            "@group(1) @binding(0) var backdrop",
            "@group(2) @binding(0) var backdrop",
        );
        assert_ne!(
            video_common, COMMON_WGSL,
            "layer_common.wgsl declares the backdrop"
        );
        let video = module("layer_video.wgsl", format!("{video_common}\n{VIDEO_WGSL}"));
        let video_layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("video planes"),
            entries: &[0, 1, 2].map(|b| {
                texture_entry(
                    b,
                    frag | wgpu::ShaderStages::VERTEX,
                    true,
                    wgpu::TextureViewDimension::D2,
                )
            }),
        });
        let video_layers_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("video layers"),
            bind_group_layouts: &[Some(&compose_layout), Some(&video_layout)],
            immediate_size: 0,
        });
        let video_backdrop_layout =
            device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
                label: Some("video layers with backdrop"),
                bind_group_layouts: &[
                    Some(&compose_layout),
                    Some(&video_layout),
                    Some(&texture_layout),
                ],
                immediate_size: 0,
            });
        let layers_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("layers"),
            bind_group_layouts: &[Some(&compose_layout)],
            immediate_size: 0,
        });
        let backdrop_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("layers with backdrop"),
            bind_group_layouts: &[Some(&compose_layout), Some(&texture_layout)],
            immediate_size: 0,
        });
        let layer = DrawKind::ALL
            .iter()
            .map(|_| std::array::from_fn(|_| OnceLock::new()))
            .collect();

        let fade_module = module("fade.wgsl", FADE_WGSL.to_string());
        let fade_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("cross-fade"),
            bind_group_layouts: &[Some(&texture_layout)],
            immediate_size: 0,
        });
        let fade_blend = wgpu::BlendComponent {
            src_factor: wgpu::BlendFactor::Constant,
            dst_factor: wgpu::BlendFactor::OneMinusConstant,
            operation: wgpu::BlendOperation::Add,
        };
        let fade = render_pipeline(
            device,
            "cross-fade",
            &fade_layout,
            &fade_module,
            ("vs_fullscreen", "fs_fade"),
            Some(wgpu::BlendState {
                color: fade_blend,
                alpha: fade_blend,
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
        let yuv_module = module("yuv.wgsl", YUV_WGSL.to_string());
        let yuv_pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("yuv"),
            bind_group_layouts: &[Some(&yuv_layout)],
            immediate_size: 0,
        });
        let yuv = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("yuv"),
            layout: Some(&yuv_pipeline_layout),
            module: &yuv_module,
            entry_point: Some("cs_main"),
            compilation_options: Default::default(),
            cache: None,
        });
        Pipelines {
            compose_layout,
            texture_layout,
            video_layout,
            layer,
            device: device.clone(),
            textured,
            shape,
            video,
            layers_layout,
            backdrop_layout,
            video_layers_layout,
            video_backdrop_layout,
            fade,
            yuv_layout,
            yuv,
            linear_sampler: sampler(device, "linear clamp", wgpu::FilterMode::Linear),
            nearest_sampler: sampler(device, "nearest clamp", wgpu::FilterMode::Nearest),
        }
    }

    /// The pipeline drawing `kind` in `class`.
    pub fn layer(&self, kind: DrawKind, class: BlendClass) -> &wgpu::RenderPipeline {
        self.layer[kind as usize][class as usize].get_or_init(|| {
            let (module, normal, with_backdrop) = if kind.video() {
                (
                    &self.video,
                    &self.video_layers_layout,
                    &self.video_backdrop_layout,
                )
            } else if kind.textured() {
                (&self.textured, &self.layers_layout, &self.backdrop_layout)
            } else {
                (&self.shape, &self.layers_layout, &self.backdrop_layout)
            };
            let (vs, fs) = kind.entry_points();
            let (fs_name, layout) = if class == BlendClass::Backdrop {
                (format!("{fs}_backdrop"), with_backdrop)
            } else {
                (fs.to_string(), normal)
            };
            render_pipeline(
                &self.device,
                &format!("{kind:?} {class:?}"),
                layout,
                module,
                (vs, &fs_name),
                class.blend_state(),
            )
        })
    }

    /// A bind group of [`Pipelines::texture_layout`] over `view`.
    pub fn texture_bind_group(
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
