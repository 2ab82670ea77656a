// Video layers: one decoded frame as planar YUV 4:2:0 (+ alpha) textures, converted to RGB here on
// the GPU (appended to layer_common.wgsl, whose backdrop texture moves to group 2 for this module).
//
//   vs_video + fs_video               rotated / scaled / sub-pixel placed: edge coverage applied
//   vs_video + fs_video_plain         axis-aligned with pixel-aligned edges
//   vs_video + fs_video_exact         axis-aligned, pixel-aligned, one frame pixel per output pixel:
//                                     plain loads, no filtering
//   vs_video_inner + fs_video_plain   the inside of a large transformed layer (coverage 1)
//   vs_video_ring + fs_video          the anti-aliased ring around that inside
//   *_backdrop                        the same colour blended by the shader (overlay, darken, lighten)
//
// Record fields used: `uv` = the shown part of the frame (0..1, `fit`), `fill` = (Kr, Kb) of the
// clip's matrix (BT.601 or BT.709), `shape` = (luma offset, luma scale, chroma scale) of its range
// (limited: 16/255, 255/219, 255/224; full: 0, 1, 1) and 1 when the clip has alpha.
//
// Bind group 1: 0 Y (R8 unorm), 1 CbCr interleaved at half size (RG8 unorm, as NV12), 2 alpha (R8,
// 1x1 white when the clip has none; not read then). Texture fetches are what a software rasteriser
// pays for per pixel, so chroma is one fetch and an opaque clip's alpha none.

@group(1) @binding(0) var plane_y: texture_2d<f32>;
@group(1) @binding(1) var plane_uv: texture_2d<f32>;
@group(1) @binding(2) var plane_a: texture_2d<f32>;

struct VideoVarying {
    @builtin(position) position: vec4<f32>,
    @location(0) @interpolate(linear) uv: vec2<f32>,
    @location(1) @interpolate(linear) edges: vec4<f32>,
    @location(2) @interpolate(flat) uv_min_max: vec4<f32>,
    // Kr, Kb, luma offset, luma scale
    @location(3) @interpolate(flat) matrix: vec4<f32>,
    // chroma scale, opacity, blend mode, has alpha
    @location(4) @interpolate(flat) params: vec4<f32>,
};

fn video_varying(l: GpuLayer, local: vec2<f32>) -> VideoVarying {
    let f = (local - l.edge.xy) / max(l.edge.zw - l.edge.xy, vec2<f32>(1e-6));
    let half_texel = 0.5 / vec2<f32>(textureDimensions(plane_y));
    var out: VideoVarying;
    out.position = to_clip(l, local);
    out.uv = mix(l.uv.xy, l.uv.zw, f);
    out.edges = edge_distances(l, local);
    out.uv_min_max = vec4<f32>(l.uv.xy + half_texel, l.uv.zw - half_texel);
    out.matrix = vec4<f32>(l.fill.x, l.fill.y, l.shape.x, l.shape.y);
    out.params = vec4<f32>(l.shape.z, l.offset.w, f32(l.info.y), l.shape.w);
    return out;
}

@vertex
fn vs_video(@builtin(vertex_index) v: u32, @builtin(instance_index) i: u32) -> VideoVarying {
    let l = layers[i];
    return video_varying(l, corner_local(l, v));
}

@vertex
fn vs_video_inner(@builtin(vertex_index) v: u32, @builtin(instance_index) i: u32) -> VideoVarying {
    let l = layers[i];
    return video_varying(l, inner_local(l, v));
}

@vertex
fn vs_video_ring(@builtin(vertex_index) v: u32, @builtin(instance_index) i: u32) -> VideoVarying {
    let l = layers[i];
    return video_varying(l, ring_local(l, v));
}

// Y'CbCr (0..1 byte values) → premultiplied R'G'B'A with the clip's matrix and range.
fn yuv_to_rgba(in: VideoVarying, y8: f32, c8: vec2<f32>, a: f32) -> vec4<f32> {
    let kr = in.matrix.x;
    let kb = in.matrix.y;
    let y = (y8 - in.matrix.z) * in.matrix.w;
    let c = (c8 - 128.0 / 255.0) * in.params.x;
    let cb = c.x;
    let cr = c.y;
    let r = y + 2.0 * (1.0 - kr) * cr;
    let b = y + 2.0 * (1.0 - kb) * cb;
    let g = (y - kr * r - kb * b) / (1.0 - kr - kb);
    return vec4<f32>(clamp(vec3<f32>(r, g, b), vec3<f32>(0.0), vec3<f32>(1.0)) * a, a);
}

// The frame's colour at the pixel when frame pixels map 1:1 onto output pixels: plain loads (the
// cheapest texture access on a software rasteriser), chroma at half the coordinates.
fn video_exact_rgba(in: VideoVarying) -> vec4<f32> {
    let p = vec2<i32>(floor(in.uv * vec2<f32>(textureDimensions(plane_y))));
    var a = 1.0;
    if in.params.w > 0.5 {
        a = textureLoad(plane_a, p, 0).r;
    }
    return yuv_to_rgba(in, textureLoad(plane_y, p, 0).r, textureLoad(plane_uv, p / 2, 0).rg, a);
}

// The frame's premultiplied sRGB-encoded colour at the pixel (Y'CbCr → R'G'B', no linearisation:
// the frame stays in the encoded values the compositor blends in).
fn video_rgba(in: VideoVarying) -> vec4<f32> {
    let uv = clamp(in.uv, in.uv_min_max.xy, in.uv_min_max.zw);
    var a = 1.0;
    if in.params.w > 0.5 {
        a = textureSampleLevel(plane_a, linear_sampler, uv, 0.0).r;
    }
    return yuv_to_rgba(
        in,
        textureSampleLevel(plane_y, linear_sampler, uv, 0.0).r,
        textureSampleLevel(plane_uv, linear_sampler, uv, 0.0).rg,
        a,
    );
}

fn video_color(in: VideoVarying) -> vec4<f32> {
    return video_rgba(in) * (edge_coverage(in.edges) * in.params.y);
}

fn video_plain_color(in: VideoVarying) -> vec4<f32> {
    return video_rgba(in) * in.params.y;
}

@fragment
fn fs_video(in: VideoVarying) -> @location(0) vec4<f32> {
    return video_color(in);
}

@fragment
fn fs_video_plain(in: VideoVarying) -> @location(0) vec4<f32> {
    return video_plain_color(in);
}

@fragment
fn fs_video_exact(in: VideoVarying) -> @location(0) vec4<f32> {
    return video_exact_rgba(in) * in.params.y;
}

@fragment
fn fs_video_exact_backdrop(in: VideoVarying) -> @location(0) vec4<f32> {
    return blend_with_backdrop(in.position, video_exact_rgba(in) * in.params.y, u32(in.params.z));
}

@fragment
fn fs_video_backdrop(in: VideoVarying) -> @location(0) vec4<f32> {
    return blend_with_backdrop(in.position, video_color(in), u32(in.params.z));
}

@fragment
fn fs_video_plain_backdrop(in: VideoVarying) -> @location(0) vec4<f32> {
    return blend_with_backdrop(in.position, video_plain_color(in), u32(in.params.z));
}
