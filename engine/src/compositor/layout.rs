//! CPU twins of the shader structs (`shaders/compose.wgsl`, `shaders/yuv.wgsl`), defined once here
//! with `bytemuck` so the bytes we upload are exactly what the shaders read.

use bytemuck::{Pod, Zeroable};

/// `FrameUniforms` in compose.wgsl (bind group 0, binding 0).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct FrameUniforms {
    pub size: [f32; 2],
    pub layer_count: u32,
    pub split: u32,
    pub transition: u32,
    pub progress: f32,
    pub _pad: [u32; 2],
    pub background0: [f32; 4],
    pub background1: [f32; 4],
}

/// `GpuLayer` in compose.wgsl (bind group 0, binding 1, an array).
#[repr(C)]
#[derive(Debug, Clone, Copy, Pod, Zeroable)]
pub struct GpuLayer {
    pub inv0: [f32; 4],
    pub inv1: [f32; 4],
    pub bbox: [f32; 4],
    pub quad: [f32; 4],
    pub params: [f32; 4],
    pub info: [u32; 4],
    pub info2: [u32; 4],
    pub uv: [f32; 4],
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
    pub _pad: u32,
}

pub const KIND_TEXTURED: u32 = 0;
pub const KIND_RECT: u32 = 1;
pub const KIND_ELLIPSE: u32 = 2;

pub const FILL_NONE: u32 = 0;
pub const FILL_SOLID: u32 = 1;
pub const FILL_GRADIENT: u32 = 2;

pub const TRANSITION_NONE: u32 = 0;
pub const TRANSITION_FADE: u32 = 1;
pub const TRANSITION_WIPE: u32 = 2;
pub const TRANSITION_SLIDE: u32 = 3;

/// Blend mode numbers as `blend_fn`/`composite` in compose.wgsl read them.
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

const _: () = assert!(std::mem::size_of::<FrameUniforms>() == 64);
const _: () = assert!(std::mem::size_of::<GpuLayer>() == 21 * 16);
