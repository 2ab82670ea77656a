// Video layers: one decoded frame as planar YUV 4:2:0 (+ alpha) textures, converted to RGB here on
// the GPU (appended to layer_common.wgsl, whose backdrop texture moves to group 2 for this module).
//
//   vs_video + fs_video               rotated / scaled / sub-pixel placed: edge coverage applied
//   vs_video + fs_video_plain         axis-aligned with pixel-aligned edges
//   vs_video_inner + fs_video_plain   the inside of a large transformed layer (coverage 1)
//   vs_video_ring + fs_video          the anti-aliased ring around that inside
//   *_backdrop                        the same colour blended by the shader (overlay, darken, lighten)
//
// Record fields used: `uv` = the shown part of the frame (0..1, `fit`), `fill` = (Kr, Kb) of the
// clip's matrix (BT.601 or BT.709), `shape` = (luma offset, luma scale, chroma scale) of its range
// (limited: 16/255, 255/219, 255/224; full: 0, 1, 1).
//
// Bind group 1: 0 Y, 1 Cb, 2 Cr (R8 unorm, chroma at half size), 3 alpha (R8, 1x1 white when the
// clip has none).

@group(1) @binding(0) var plane_y: texture_2d<f32>;
@group(1) @binding(1) var plane_u: texture_2d<f32>;
@group(1) @binding(2) var plane_v: texture_2d<f32>;
@group(1) @binding(3) var plane_a: texture_2d<f32>;

struct VideoVarying {
    @builtin(position) position: vec4<f32>,
    @location(0) @interpolate(linear) uv: vec2<f32>,
    @location(1) @interpolate(linear) edges: vec4<f32>,
    @location(2) @interpolate(flat) uv_min_max: vec4<f32>,
    // Kr, Kb, luma offset, luma scale
    @location(3) @interpolate(flat) matrix: vec4<f32>,
    // chroma scale, opacity, blend mode
    @location(4) @interpolate(flat) params: vec3<f32>,
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
    out.params = vec3<f32>(l.shape.z, l.offset.w, f32(l.info.y));
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

// The frame's premultiplied sRGB-encoded colour at the pixel (Y'CbCr → R'G'B', no linearisation:
// the frame stays in the encoded values the compositor blends in).
fn video_rgba(in: VideoVarying) -> vec4<f32> {
    let uv = clamp(in.uv, in.uv_min_max.xy, in.uv_min_max.zw);
    let kr = in.matrix.x;
    let kb = in.matrix.y;
    let y = (textureSampleLevel(plane_y, linear_sampler, uv, 0.0).r - in.matrix.z) * in.matrix.w;
    let cb = (textureSampleLevel(plane_u, linear_sampler, uv, 0.0).r - 128.0 / 255.0) * in.params.x;
    let cr = (textureSampleLevel(plane_v, linear_sampler, uv, 0.0).r - 128.0 / 255.0) * in.params.x;
    let a = textureSampleLevel(plane_a, linear_sampler, uv, 0.0).r;
    let r = y + 2.0 * (1.0 - kr) * cr;
    let b = y + 2.0 * (1.0 - kb) * cb;
    let g = (y - kr * r - kb * b) / (1.0 - kr - kb);
    return vec4<f32>(clamp(vec3<f32>(r, g, b), vec3<f32>(0.0), vec3<f32>(1.0)) * a, a);
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
fn fs_video_backdrop(in: VideoVarying) -> @location(0) vec4<f32> {
    return blend_with_backdrop(in.position, video_color(in), u32(in.params.z));
}

@fragment
fn fs_video_plain_backdrop(in: VideoVarying) -> @location(0) vec4<f32> {
    return blend_with_backdrop(in.position, video_plain_color(in), u32(in.params.z));
}
