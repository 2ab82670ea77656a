//! The frame target: the composed frame texture, the helper textures a frame needs (the incoming
//! scene of a cross-fade, the backdrop copy, the static-layer cache) and the YUV 4:2:0 conversion
//! buffer the readback copies from. One per render, sized to the output.

use bytemuck::Zeroable;
use wgpu::util::DeviceExt;

use super::cache::FrameCache;
use super::dirty::{DirtyTracker, Region};
use super::draw::Dest;
use super::gpu::Gpu;
use super::layout::YuvParams;
use super::{Compositor, FRAME_FORMAT};

/// The composed frame texture and its YUV 4:2:0 conversion buffer.
pub struct FrameTarget {
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    /// The incoming scene during a cross-fade.
    incoming: wgpu::Texture,
    incoming_view: wgpu::TextureView,
    pub(super) incoming_group: wgpu::BindGroup,
    /// Copy of the pixels under a layer in a backdrop blend mode.
    pub(super) backdrop: wgpu::Texture,
    pub(super) backdrop_group: wgpu::BindGroup,
    /// The static bottom layers of recent frames, composed once (see `cache.rs`).
    pub(super) cache: std::sync::Mutex<FrameCache>,
    /// The previous frame's records, to compose only what changed (see `dirty.rs`).
    pub(super) dirty: std::sync::Mutex<DirtyTracker>,
    pub yuv: wgpu::Buffer,
    yuv_params: wgpu::Buffer,
    yuv_bind_group: wgpu::BindGroup,
    pub width: u32,
    pub height: u32,
    /// Luma row length in bytes (width rounded up to 8, see yuv.wgsl).
    pub stride: u32,
}

impl FrameTarget {
    pub fn new(gpu: &Gpu, compositor: &Compositor, width: u32, height: u32) -> FrameTarget {
        let frame_texture = |label: &str, usage: wgpu::TextureUsages| {
            gpu.texture_2d(label, (width, height), FRAME_FORMAT, usage)
        };
        use wgpu::TextureUsages as U;
        // COPY_SRC: overlay/darken/lighten layers of the incoming scene copy their backdrop from it.
        let incoming = frame_texture(
            "incoming scene",
            U::RENDER_ATTACHMENT | U::TEXTURE_BINDING | U::COPY_SRC,
        );
        let incoming_view = incoming.create_view(&Default::default());
        let incoming_group =
            compositor
                .pipelines
                .texture_bind_group(&gpu.device, &incoming_view, "incoming scene");
        let backdrop = frame_texture("backdrop copy", U::COPY_DST | U::TEXTURE_BINDING);
        let backdrop_group = compositor.pipelines.texture_bind_group(
            &gpu.device,
            &backdrop.create_view(&Default::default()),
            "backdrop copy",
        );
        // COPY_DST: frames start from a copy of the static-layer cache.
        let texture = frame_texture(
            "frame",
            U::RENDER_ATTACHMENT | U::TEXTURE_BINDING | U::COPY_SRC | U::COPY_DST,
        );
        let cache = std::sync::Mutex::new(FrameCache::new(frame_texture(
            "static layers cache",
            U::RENDER_ATTACHMENT | U::COPY_SRC,
        )));
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
                    ..YuvParams::zeroed()
                }),
                usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            });
        let yuv_bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("yuv"),
            layout: &compositor.pipelines.yuv_layout,
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
            cache,
            dirty: Default::default(),
            yuv,
            yuv_params: params,
            yuv_bind_group,
            width,
            height,
            stride,
        }
    }

    /// The texture behind `dest` (the cache's is locked by the caller and passed in).
    pub(super) fn texture<'a>(&'a self, dest: Dest, cache: &'a FrameCache) -> &'a wgpu::Texture {
        match dest {
            Dest::Main => &self.texture,
            Dest::Incoming => &self.incoming,
            Dest::Cache => &cache.texture,
        }
    }

    pub(super) fn view<'a>(&'a self, dest: Dest, cache: &'a FrameCache) -> &'a wgpu::TextureView {
        match dest {
            Dest::Main => &self.view,
            Dest::Incoming => &self.incoming_view,
            Dest::Cache => &cache.view,
        }
    }

    fn yuv_len_for(stride: u32, height: u32) -> u64 {
        stride as u64 * height as u64 * 3 / 2
    }

    /// Bytes of one YUV frame as laid out in [`FrameTarget::yuv`].
    pub fn yuv_len(&self) -> u64 {
        Self::yuv_len_for(self.stride, self.height)
    }

    /// Records a copy of the composed frame (RGBA, premultiplied) into `buffer`, rows aligned to
    /// `COPY_BYTES_PER_ROW_ALIGNMENT` (outputs with alpha read it instead of the YUV buffer).
    pub fn copy_rgba(&self, encoder: &mut wgpu::CommandEncoder, buffer: &wgpu::Buffer) {
        let row = (4 * self.width).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT);
        encoder.copy_texture_to_buffer(
            wgpu::TexelCopyTextureInfo {
                texture: &self.texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyBufferInfo {
                buffer,
                layout: wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(row),
                    rows_per_image: None,
                },
            },
            wgpu::Extent3d {
                width: self.width,
                height: self.height,
                depth_or_array_layers: 1,
            },
        );
    }

    /// Records the RGBA → YUV conversion of `region` of the composed frame (the rest of the YUV
    /// buffer keeps the previous frame's values; see `dirty.rs`).
    pub fn encode_yuv(
        &self,
        queue: &wgpu::Queue,
        compositor: &Compositor,
        encoder: &mut wgpu::CommandEncoder,
        region: Region,
    ) {
        let [x0, y0, x1, y1] = match region {
            Region::Full => [0, 0, self.stride, self.height],
            Region::Part(r) => r,
        };
        if x1 <= x0 || y1 <= y0 {
            return;
        }
        // Written before this frame's commands run (at the next submit), after the previous frame's.
        queue.write_buffer(
            &self.yuv_params,
            0,
            bytemuck::bytes_of(&YuvParams {
                width: self.width,
                height: self.height,
                stride: self.stride,
                origin_x: x0,
                origin_y: y0,
                ..YuvParams::zeroed()
            }),
        );
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("rgba to yuv420p"),
            timestamp_writes: None,
        });
        pass.set_pipeline(&compositor.pipelines.yuv);
        pass.set_bind_group(0, &self.yuv_bind_group, &[]);
        pass.dispatch_workgroups(((x1 - x0) / 8).div_ceil(8), ((y1 - y0) / 2).div_ceil(8), 1);
    }
}
