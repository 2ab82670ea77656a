//! Frame caching for repeated layers (the seed's optimisation): the bottom layers that did not
//! change since the previous frame (static backgrounds, pictures and text under the moving layers)
//! are composed once into a cached texture; while they stay the same, each frame starts from a copy
//! of it and draws only the layers above.
//!
//! "The same" is decided on what is drawn, not on the project: a layer is static at a frame when its
//! GPU record (transform, opacity, colours, atlas rectangle — everything the shaders read) and its
//! place in the stack equal the previous frame's, and the background colour is unchanged. The
//! cached prefix is drawn by the same pipelines onto the same clear colour as an uncached frame
//! would be, so a cached frame is bit-for-bit the uncached one (tests compare them).

use super::draw::DrawList;
use super::layout::GpuLayer;

/// The cache texture and what it holds.
pub struct FrameCache {
    pub(super) texture: wgpu::Texture,
    pub(super) view: wgpu::TextureView,
    /// The previous frame's bottom-up records of its single unclipped scene, with ids and clear.
    previous: Option<Prefix>,
    /// How many records of `previous` the texture holds composed (0: nothing valid).
    cached: usize,
}

#[derive(Debug, Clone, PartialEq)]
struct Prefix {
    clear: [f32; 4],
    ids: Vec<(u32, u32)>,
    layers: Vec<GpuLayer>,
}

/// What the frame encoder should do with the cache this frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CachePlan {
    /// Draw everything into the frame as usual.
    Bypass,
    /// Copy the cache into the frame, then draw records from `from` (segment-relative) on.
    Reuse { from: usize },
    /// Compose the first `len` records into the cache, copy it into the frame, draw the rest.
    Rebuild { len: usize },
}

impl FrameCache {
    pub fn new(texture: wgpu::Texture) -> FrameCache {
        let view = texture.create_view(&Default::default());
        FrameCache {
            texture,
            view,
            previous: None,
            cached: 0,
        }
    }

    /// Decides this frame's use of the cache and remembers the frame for the next decision.
    /// Only frames made of one unclipped scene (no transition in progress) use it.
    pub fn plan(&mut self, list: &DrawList, enabled: bool) -> CachePlan {
        let single = list.segments.len() == 1
            && list.segments[0].scissor.is_none()
            && list.fade.is_none()
            && list.clear[0].is_some();
        if !enabled || !single {
            self.previous = None;
            self.cached = 0;
            return CachePlan::Bypass;
        }
        let range = list.segments[0].range.clone();
        let (start, end) = (range.start as usize, range.end as usize);
        let current = Prefix {
            clear: list.clear[0].expect("checked"),
            // The background record's id is the first; it became the clear colour.
            ids: list.ids[start..end].to_vec(),
            layers: list.layers[start..end].to_vec(),
        };
        // Records equal to the previous frame's, from the bottom up.
        let same = match &self.previous {
            Some(p) if p.clear == current.clear => p
                .ids
                .iter()
                .zip(&p.layers)
                .zip(current.ids.iter().zip(&current.layers))
                .take_while(|(a, b)| a == b)
                .count(),
            _ => 0,
        };
        self.previous = Some(current);
        if self.cached > 0 && self.cached <= same {
            // Everything in the cache is still drawn the same way. Grow it if more became static
            // (the layers just above stopped moving), else reuse it.
            if same > self.cached {
                self.cached = same;
                return CachePlan::Rebuild { len: same };
            }
            return CachePlan::Reuse { from: self.cached };
        }
        self.cached = 0;
        if same == 0 {
            return CachePlan::Bypass;
        }
        self.cached = same;
        CachePlan::Rebuild { len: same }
    }
}
