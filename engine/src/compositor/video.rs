//! Video layers on the GPU: one [`VideoSlot`] per video layer of the project — its clip player (the
//! `ffmpeg` decoder child, see [`crate::video`]), the plane textures its frames are uploaded to
//! (Y, CbCr interleaved at half size, alpha), and the bind group the video shaders read. A frame is uploaded
//! only when the shown source frame changes (slow motion and freeze frames upload nothing); the
//! YUV → RGB conversion happens in `shaders/layer_video.wgsl`.

use super::gpu::Gpu;
use super::ComposeError;
use super::Compositor;
use crate::video::{ClipPlayer, VideoFrame, YuvMatrix};

/// One video layer's decoder and textures.
pub(super) struct VideoSlot {
    /// JSON path of the layer's `src`, and the `src` itself, for errors.
    path: String,
    src: String,
    player: ClipPlayer,
    planes: [wgpu::Texture; 3],
    has_alpha: bool,
    pub bind_group: wgpu::BindGroup,
    /// Source index of the frame in the textures.
    uploaded: Option<u64>,
    /// The shader's colour parameters of the frames ([`colour_params`]).
    pub colour: ([f32; 4], [f32; 4]),
}

fn plane(gpu: &Gpu, label: &str, size: (u32, u32), format: wgpu::TextureFormat) -> wgpu::Texture {
    use wgpu::TextureUsages as U;
    gpu.texture_2d(label, size, format, U::TEXTURE_BINDING | U::COPY_DST)
}

fn write_plane(gpu: &Gpu, texture: &wgpu::Texture, data: &[u8]) {
    let size = texture.size();
    gpu.queue.write_texture(
        wgpu::TexelCopyTextureInfo {
            texture,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        data,
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(size.width * texture.format().block_copy_size(None).unwrap_or(1)),
            rows_per_image: None,
        },
        size,
    );
}

impl VideoSlot {
    pub fn new(
        gpu: &Gpu,
        compositor: &Compositor,
        path: String,
        src: String,
        player: ClipPlayer,
    ) -> VideoSlot {
        let (w, h) = player.size();
        let chroma = (w.div_ceil(2), h.div_ceil(2));
        use wgpu::TextureFormat::{R8Unorm, Rg8Unorm};
        let has_alpha = player.has_alpha();
        let alpha_size = if has_alpha { (w, h) } else { (1, 1) };
        let planes = [
            plane(gpu, "video Y", (w, h), R8Unorm),
            plane(gpu, "video CbCr", chroma, Rg8Unorm),
            plane(gpu, "video alpha", alpha_size, R8Unorm),
        ];
        if !has_alpha {
            write_plane(gpu, &planes[2], &[255]);
        }
        let views = planes
            .each_ref()
            .map(|t| t.create_view(&Default::default()));
        let entries: Vec<wgpu::BindGroupEntry> = views
            .iter()
            .enumerate()
            .map(|(i, view)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: wgpu::BindingResource::TextureView(view),
            })
            .collect();
        let bind_group = gpu.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("video planes"),
            layout: &compositor.pipelines.video_layout,
            entries: &entries,
        });
        VideoSlot {
            path,
            src,
            player,
            planes,
            has_alpha,
            bind_group,
            uploaded: None,
            colour: colour_params(YuvMatrix::Bt709, false, has_alpha),
        }
    }

    /// Makes the frame shown at `tau` seconds into the layer current in the textures (uploading it
    /// only if it is not already there) and returns its source index.
    pub fn show(&mut self, gpu: &Gpu, tau: f64) -> Result<u64, ComposeError> {
        let frame = self.player.frame_at(tau).map_err(|e| ComposeError::Asset {
            path: self.path.clone(),
            source: e.to_asset_error(&self.src),
        })?;
        if self.uploaded != Some(frame.source_index) {
            self.upload(gpu, &frame);
            self.uploaded = Some(frame.source_index);
            self.colour = colour_params(frame.matrix, frame.full_range, self.has_alpha);
        }
        Ok(frame.source_index)
    }

    fn upload(&self, gpu: &Gpu, frame: &VideoFrame) {
        write_plane(gpu, &self.planes[0], &frame.y);
        write_plane(gpu, &self.planes[1], &frame.uv);
        if let Some(a) = &frame.a {
            write_plane(gpu, &self.planes[2], a);
        }
    }
}

/// The record fields the video shader reads for a clip's colours: `fill` = (Kr, Kb) of its matrix,
/// `shape` = (luma offset, luma scale, chroma scale) of its range and 1 when it has alpha.
pub(super) fn colour_params(
    matrix: YuvMatrix,
    full_range: bool,
    alpha: bool,
) -> ([f32; 4], [f32; 4]) {
    let (kr, kb) = match matrix {
        YuvMatrix::Bt601 => (0.299, 0.114),
        YuvMatrix::Bt709 => (0.2126, 0.0722),
    };
    let a = if alpha { 1.0 } else { 0.0 };
    let range = if full_range {
        [0.0, 1.0, 1.0, a]
    } else {
        [16.0 / 255.0, 255.0 / 219.0, 255.0 / 224.0, a]
    };
    ([kr, kb, 0.0, 0.0], range)
}
