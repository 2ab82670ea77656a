//! The asset atlas: every image and rasterised text of a render packed into the pages of one
//! 2D-array texture, uploaded once and sampled by every frame (the seed's "frame caching for
//! repeated layers").

use etagere::{size2, AtlasAllocator};

use super::ComposeError;

/// Where one item landed: array layer and texel rectangle.
#[derive(Debug, Clone, Copy)]
pub struct AtlasSlot {
    pub page: u32,
    pub x: u32,
    pub y: u32,
    pub width: u32,
    pub height: u32,
}

/// What goes into the atlas.
pub enum AtlasItem {
    /// Premultiplied RGBA8 pixels.
    Pixels {
        width: u32,
        height: u32,
        data: Vec<u8>,
    },
    /// A texture already on the GPU (rasterised text), copied in.
    Texture {
        texture: wgpu::Texture,
        width: u32,
        height: u32,
    },
}

impl AtlasItem {
    fn size(&self) -> (u32, u32) {
        match self {
            AtlasItem::Pixels { width, height, .. } | AtlasItem::Texture { width, height, .. } => {
                (*width, *height)
            }
        }
    }
}

pub struct Atlas {
    /// Kept with its view for the render's lifetime (caption states are copied into it).
    pub texture: wgpu::Texture,
    pub view: wgpu::TextureView,
    pub page_size: u32,
    pub slots: Vec<AtlasSlot>,
}

/// Gap between packed items so bilinear filtering never reads a neighbour.
const GAP: u32 = 2;

impl Atlas {
    /// Packs and uploads `items`; `slots[i]` is where `items[i]` went.
    pub fn build(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        items: Vec<AtlasItem>,
        max_side: u32,
        max_pages: u32,
    ) -> Result<Atlas, ComposeError> {
        let largest = items
            .iter()
            .map(|i| {
                let (w, h) = i.size();
                w.max(h)
            })
            .max()
            .unwrap_or(1);
        let page_size = (largest + 2 * GAP)
            .max(2048)
            .next_multiple_of(256)
            .min(max_side);
        let mut pages: Vec<AtlasAllocator> = Vec::new();
        let mut slots = Vec::with_capacity(items.len());
        // Pack the biggest first for tighter pages, but keep the caller's order in `slots`.
        let mut order: Vec<usize> = (0..items.len()).collect();
        order.sort_by_key(|&i| {
            let (w, h) = items[i].size();
            std::cmp::Reverse(w as u64 * h as u64)
        });
        let mut placed = vec![None; items.len()];
        for i in order {
            let (w, h) = items[i].size();
            let want = size2((w + GAP) as i32, (h + GAP) as i32);
            let mut found = None;
            for (p, alloc) in pages.iter_mut().enumerate() {
                if let Some(a) = alloc.allocate(want) {
                    found = Some((p, a));
                    break;
                }
            }
            let (p, a) = match found {
                Some(f) => f,
                None => {
                    if pages.len() as u32 >= max_pages {
                        return Err(ComposeError::Gpu(format!(
                            "the project's images and text need more than {max_pages} atlas pages of {page_size}px"
                        )));
                    }
                    let mut alloc = AtlasAllocator::new(size2(page_size as i32, page_size as i32));
                    let a = alloc.allocate(want).ok_or_else(|| {
                        ComposeError::Gpu(format!(
                            "a {w}x{h} item does not fit a {page_size}px atlas page"
                        ))
                    })?;
                    pages.push(alloc);
                    (pages.len() - 1, a)
                }
            };
            placed[i] = Some(AtlasSlot {
                page: p as u32,
                x: a.rectangle.min.x as u32,
                y: a.rectangle.min.y as u32,
                width: w,
                height: h,
            });
        }
        slots.extend(placed.into_iter().map(|s| s.expect("every item placed")));

        let layers = pages.len().max(1) as u32;
        let texture = device.create_texture(&wgpu::TextureDescriptor {
            label: Some("asset atlas"),
            size: wgpu::Extent3d {
                width: page_size,
                height: page_size,
                depth_or_array_layers: layers,
            },
            mip_level_count: 1,
            sample_count: 1,
            dimension: wgpu::TextureDimension::D2,
            format: wgpu::TextureFormat::Rgba8Unorm,
            usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
            view_formats: &[],
        });
        let mut encoder = device.create_command_encoder(&Default::default());
        for (item, slot) in items.iter().zip(&slots) {
            let dst = wgpu::TexelCopyTextureInfo {
                texture: &texture,
                mip_level: 0,
                origin: wgpu::Origin3d {
                    x: slot.x,
                    y: slot.y,
                    z: slot.page,
                },
                aspect: wgpu::TextureAspect::All,
            };
            let extent = wgpu::Extent3d {
                width: slot.width,
                height: slot.height,
                depth_or_array_layers: 1,
            };
            match item {
                AtlasItem::Pixels { width, data, .. } => queue.write_texture(
                    dst,
                    data,
                    wgpu::TexelCopyBufferLayout {
                        offset: 0,
                        bytes_per_row: Some(4 * width),
                        rows_per_image: None,
                    },
                    extent,
                ),
                AtlasItem::Texture { texture: src, .. } => encoder.copy_texture_to_texture(
                    wgpu::TexelCopyTextureInfo {
                        texture: src,
                        mip_level: 0,
                        origin: wgpu::Origin3d::ZERO,
                        aspect: wgpu::TextureAspect::All,
                    },
                    dst,
                    extent,
                ),
            }
        }
        queue.submit([encoder.finish()]);
        let view = texture.create_view(&wgpu::TextureViewDescriptor {
            dimension: Some(wgpu::TextureViewDimension::D2Array),
            ..Default::default()
        });
        Ok(Atlas {
            texture,
            view,
            page_size,
            slots,
        })
    }

    /// Normalised (u0, v0, u1, v1) of a slot's outer edges (the shader clamps half a texel inside).
    pub fn uv(&self, slot: &AtlasSlot) -> [f32; 4] {
        let s = self.page_size as f32;
        [
            slot.x as f32 / s,
            slot.y as f32 / s,
            (slot.x + slot.width) as f32 / s,
            (slot.y + slot.height) as f32 / s,
        ]
    }
}
