//! The GPU compositor: turns the timeline's layer states into pixels with wgpu.
//!
//! Data flow, one file each:
//! * `pipelines.rs` — [`Compositor`]'s compiled part: one pipeline per (draw kind, blend class), the
//!   YUV pipeline, layouts, samplers (`shaders/*.wgsl`). Built once per engine.
//! * `scene.rs` — [`Scene`]: what one render needs, made before the first frame (images decoded,
//!   text rasterised, both packed into the atlas of `atlas.rs`; each layer's static record), one
//!   file per layer kind in `layers/` (`image.rs`, `text.rs`, `captions.rs`, `shape.rs`, `video.rs`).
//! * `draw.rs` — the per-frame [`DrawList`]: layer records bottom to top, each with the cheapest
//!   shader that draws it exactly, and the pass plan (transitions).
//! * `cache.rs` — frame caching for repeated layers: static bottom layers composed once.
//! * `dirty.rs` — dirty regions: only the part of a frame that changed is composed and converted.
//! * `encode.rs` — recording a frame's passes ([`Scene::encode_frame`]).
//! * `target.rs` — [`FrameTarget`]: the frame texture and the YUV 4:2:0 buffer read back.
//! * `video.rs` — video layers: each one's decoder, plane textures and uploads.
//! * `layout.rs` — the CPU twins of the shader structs; `gpu.rs` opens the device; `error.rs` says
//!   why composing failed ([`ComposeError`]); `text.rs`
//!   rasterises text with glyphon (`text_shape.rs` shapes and measures it, `fonts.rs` picks the
//!   fonts); `captions.rs` draws each caption state once and picks the one on screen.

mod atlas;
mod cache;
mod captions;
mod dirty;
mod draw;
mod encode;
mod error;
pub mod fonts;
pub mod gpu;
mod layers;
pub mod layout;
mod pipelines;
mod scene;
mod target;
pub mod text;
mod text_shape;
mod video;

pub use dirty::Region;
pub use draw::{Dest, DrawList, Segment};
pub use encode::{Composed, Reuse};
pub use error::ComposeError;
pub use gpu::AdapterSummary;
pub use pipelines::{BlendClass, DrawKind};
pub use scene::Scene;
pub use target::FrameTarget;

/// Format of composed frames: sRGB-encoded values stored as plain unorm, because blending happens on
/// encoded values (CSS semantics) and the YUV conversion wants encoded R'G'B'. (It is also the
/// format software rasterisers have fast paths for.)
pub const FRAME_FORMAT: wgpu::TextureFormat = wgpu::TextureFormat::Rgba8Unorm;

/// Pipelines and layouts, compiled once per engine.
pub struct Compositor {
    pub(crate) pipelines: pipelines::Pipelines,
}

impl Compositor {
    pub fn new(device: &wgpu::Device) -> Compositor {
        Compositor {
            pipelines: pipelines::Pipelines::new(device),
        }
    }
}
