//! CPU twins of the shader structs (`shaders/layer_common.wgsl`, `shaders/yuv.wgsl`), defined once here
//! with `bytemuck` so the bytes we upload are exactly what the shaders read.

use bytemuck::{Pod, Zeroable};

/// `FrameUniforms` in layer_common.wgsl (bind group 0, binding 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct FrameUniforms {
    pub size: [f32; 2],
    pub _pad: [f32; 2],
}

/// `GpuLayer` in layer_common.wgsl (bind group 0, binding 1, an array; read by the vertex stages, and
/// by the fragment stage only for gradient stops).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Pod, Zeroable)]
pub struct GpuLayer {
    /// Local → screen linear part (a, b, c, d): screen = (a·x + b·y + tx, c·x + d·y + ty).
    pub xform: [f32; 4],
    /// (tx, ty, screen pixels per local unit, opacity).
    pub offset: [f32; 4],
    /// Rectangle rasterised, local units (the content rectangle plus anti-aliasing padding).
    pub draw: [f32; 4],
    /// Content rectangle, local units (anti-aliased edges; a shape's box).
    pub edge: [f32; 4],
    /// Atlas texels of the content rectangle (u0, v0, u1, v1).
    pub uv: [f32; 4],
    /// Where coverage is 1, local units (layers drawn as an inside and a ring around it).
    pub inner: [f32; 4],
    /// kind, blend mode, atlas page, fill kind.
    pub info: [u32; 4],
    /// gradient stop count, unused ×3.
    pub info2: [u32; 4],
    /// corner radius, stroke width, unused ×2.
    pub shape: [f32; 4],
    pub fill: [f32; 4],
    pub stroke: [f32; 4],
    pub gradient: [f32; 4],
    pub stop_offsets: [[f32; 4]; 2],
    pub stop_colors: [[f32; 4]; 8],
}

/// `YuvParams` in yuv.wgsl (bind group 0, binding 2).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct YuvParams {
    pub width: u32,
    pub height: u32,
    pub stride: u32,
    /// Top-left pixel of the converted region (a multiple of 8, and of 2); 0, 0 for whole frames.
    pub origin_x: u32,
    pub origin_y: u32,
    pub _pad: [u32; 3],
}

pub const FILL_NONE: u32 = 0;
pub const FILL_SOLID: u32 = 1;
pub const FILL_GRADIENT: u32 = 2;

/// Blend mode numbers as layer_common.wgsl reads them (`blend_fn`).
pub fn blend_code(mode: crate::project::BlendMode) -> u32 {
    use crate::project::BlendMode::*;
    match mode {
        Normal => 0,
        Multiply => 1,
        Screen => 2,
        Overlay => 3,
        Darken => 4,
        Lighten => 5,
        Add => 6,
    }
}

const _: () = assert!(std::mem::size_of::<FrameUniforms>() == 16);
const _: () = assert!(std::mem::size_of::<YuvParams>() == 32);
const _: () = assert!(std::mem::size_of::<GpuLayer>() == 22 * 16);
