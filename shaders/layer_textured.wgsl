// Textured layers: images and rasterised text, sampled from the atlas (appended to layer_common.wgsl).
//
//   vs_textured + fs_textured          rotated / scaled / sub-pixel placed: bilinear sample × edge
//                                      coverage × opacity
//   vs_textured + fs_textured_plain    axis-aligned with pixel-aligned edges: bilinear sample × opacity
//   vs_textured + fs_textured_nearest  axis-aligned, pixel-aligned, at its raster size: one texel
//   vs_textured_inner + fs_textured_plain   the inside of a large transformed layer (coverage 1)
//   vs_textured_ring + fs_textured          the anti-aliased ring around that inside
//   *_backdrop                         the same colour blended by the shader (overlay, darken, lighten)

struct TexVarying {
    @builtin(position) position: vec4<f32>,
    @location(0) @interpolate(linear) uv: vec2<f32>,
    @location(1) @interpolate(linear) edges: vec4<f32>,
    @location(2) @interpolate(flat) uv_min_max: vec4<f32>,
    @location(3) @interpolate(flat) page_mode: vec2<u32>,
    @location(4) @interpolate(flat) opacity: f32,
};

fn textured_varying(l: GpuLayer, local: vec2<f32>) -> TexVarying {
    let f = (local - l.edge.xy) / max(l.edge.zw - l.edge.xy, vec2<f32>(1e-6));
    // Texel centres map 1:1 at natural size; clamping half a texel inside keeps filtering from
    // reading the neighbouring atlas item.
    let half_texel = 0.5 / vec2<f32>(textureDimensions(atlas));
    var out: TexVarying;
    out.position = to_clip(l, local);
    out.uv = mix(l.uv.xy, l.uv.zw, f);
    out.edges = edge_distances(l, local);
    out.uv_min_max = vec4<f32>(l.uv.xy + half_texel, l.uv.zw - half_texel);
    out.page_mode = vec2<u32>(l.info.z, l.info.y);
    out.opacity = l.offset.w;
    return out;
}

@vertex
fn vs_textured(@builtin(vertex_index) v: u32, @builtin(instance_index) i: u32) -> TexVarying {
    let l = layers[i];
    return textured_varying(l, corner_local(l, v));
}

@vertex
fn vs_textured_inner(@builtin(vertex_index) v: u32, @builtin(instance_index) i: u32) -> TexVarying {
    let l = layers[i];
    return textured_varying(l, inner_local(l, v));
}

@vertex
fn vs_textured_ring(@builtin(vertex_index) v: u32, @builtin(instance_index) i: u32) -> TexVarying {
    let l = layers[i];
    return textured_varying(l, ring_local(l, v));
}

fn sample_linear(in: TexVarying) -> vec4<f32> {
    let uv = clamp(in.uv, in.uv_min_max.xy, in.uv_min_max.zw);
    return textureSampleLevel(atlas, linear_sampler, uv, in.page_mode.x, 0.0);
}

fn textured_color(in: TexVarying) -> vec4<f32> {
    return sample_linear(in) * (edge_coverage(in.edges) * in.opacity);
}

fn plain_color(in: TexVarying) -> vec4<f32> {
    return sample_linear(in) * in.opacity;
}

fn nearest_color(in: TexVarying) -> vec4<f32> {
    return textureSampleLevel(atlas, nearest_sampler, in.uv, in.page_mode.x, 0.0) * in.opacity;
}

@fragment
fn fs_textured(in: TexVarying) -> @location(0) vec4<f32> {
    return textured_color(in);
}

@fragment
fn fs_textured_plain(in: TexVarying) -> @location(0) vec4<f32> {
    return plain_color(in);
}

@fragment
fn fs_textured_nearest(in: TexVarying) -> @location(0) vec4<f32> {
    return nearest_color(in);
}

@fragment
fn fs_textured_backdrop(in: TexVarying) -> @location(0) vec4<f32> {
    return blend_with_backdrop(in.position, textured_color(in), in.page_mode.y);
}

@fragment
fn fs_textured_plain_backdrop(in: TexVarying) -> @location(0) vec4<f32> {
    return blend_with_backdrop(in.position, plain_color(in), in.page_mode.y);
}

@fragment
fn fs_textured_nearest_backdrop(in: TexVarying) -> @location(0) vec4<f32> {
    return blend_with_backdrop(in.position, nearest_color(in), in.page_mode.y);
}
