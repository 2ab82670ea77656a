// Shared by every layer shader (prepended to layer_textured.wgsl, layer_shape.wgsl, layer_video.wgsl).
//
// Each layer is one instanced quad covering just its pixels, bottom to top. Colours are sRGB-encoded
// and premultiplied throughout; blend formulas apply to sRGB-encoded values, as CSS
// `mix-blend-mode` and design tools do. Everything a fragment needs is computed per vertex and handed
// over as varyings (flat where constant), so the fragment stage never indexes the layer buffer: on a
// software rasteriser (lavapipe) a per-pixel storage read with a per-pixel index is a gather, and the
// fragment stage is where all the time goes.
//
// Blend modes: normal, add, multiply, screen → the `fs_*` entry points + a fixed-function blend state
// (exact W3C formulas over the opaque backdrop). overlay, darken, lighten → the `fs_*_backdrop` entry
// points: the pixels under the layer are copied to a texture (group 1) and the shader blends itself.
//
// Bind group 0 (see compositor/layout.rs, the Rust twin of these structs):
//   0: FrameUniforms (uniform)   1: array<GpuLayer> (storage, read; vertex stage, and gradients)
//   2: atlas texture_2d_array    3: linear clamp sampler   4: nearest clamp sampler
// Bind group 1 (backdrop blend modes only): 0: texture_2d<f32> (copy of the backdrop)

struct FrameUniforms {
    size: vec2<f32>,          // output width, height in pixels
    _pad: vec2<f32>,
};

struct GpuLayer {
    xform: vec4<f32>,         // local → screen: screen = (a*x + b*y + tx, c*x + d*y + ty); (a, b, c, d)
    offset: vec4<f32>,        // (tx, ty, screen pixels per local unit, opacity)
    draw: vec4<f32>,          // rectangle rasterised, local units (content rect + AA padding, if any)
    edge: vec4<f32>,          // content rectangle, local units: its edges are anti-aliased
    uv: vec4<f32>,            // atlas texels of the content rectangle (u0, v0, u1, v1), outer edges
    inner: vec4<f32>,         // where coverage is 1, local units (layers drawn as inside + ring)
    info: vec4<u32>,          // kind, blend mode, atlas page, fill kind (0 none, 1 solid, 2 gradient)
    info2: vec4<u32>,         // gradient stop count, unused x3
    shape: vec4<f32>,         // corner radius, stroke width, unused x2
    fill: vec4<f32>,          // solid fill, premultiplied
    stroke: vec4<f32>,        // stroke colour, premultiplied
    gradient: vec4<f32>,      // gradient line in local units: start (x, y), end (x, y)
    stop_offsets: array<vec4<f32>, 2>,
    stop_colors: array<vec4<f32>, 8>,  // premultiplied
};

@group(0) @binding(0) var<uniform> frame: FrameUniforms;
@group(0) @binding(1) var<storage, read> layers: array<GpuLayer>;
@group(0) @binding(2) var atlas: texture_2d_array<f32>;
@group(0) @binding(3) var linear_sampler: sampler;
@group(0) @binding(4) var nearest_sampler: sampler;
@group(1) @binding(0) var backdrop: texture_2d<f32>;

// Corner v (0..6) of layer l's drawn rectangle, in local units: two triangles
// (0,0) (1,0) (0,1) / (0,1) (1,0) (1,1).
fn corner_local(l: GpuLayer, v: u32) -> vec2<f32> {
    let corner = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    )[v];
    // select, not mix: corners are exactly the rectangle's values, so shapes drawn in pieces share
    // their vertices bit for bit.
    return select(l.draw.xy, l.draw.zw, corner > vec2<f32>(0.5));
}

// Corner v (0..6) of layer l's inside rectangle.
fn inner_local(l: GpuLayer, v: u32) -> vec2<f32> {
    let corner = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    )[v];
    return select(l.inner.xy, l.inner.zw, corner > vec2<f32>(0.5));
}

// Vertex v (0..24) of the ring between layer l's inside rectangle and its drawn rectangle: the
// strips above, below, left and right of the inside. The ring and the inside share their vertices
// exactly, so the rasteriser's fill rule gives every pixel to exactly one of them.
fn ring_local(l: GpuLayer, v: u32) -> vec2<f32> {
    let o = l.draw;
    let n = l.inner;
    var r: vec4<f32>;
    switch v / 6u {
        case 0u: { r = vec4<f32>(o.x, o.y, o.z, n.y); }   // top, full width
        case 1u: { r = vec4<f32>(o.x, n.w, o.z, o.w); }   // bottom, full width
        case 2u: { r = vec4<f32>(o.x, n.y, n.x, n.w); }   // left
        default: { r = vec4<f32>(n.z, n.y, o.z, n.w); }   // right
    }
    let corner = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    )[v % 6u];
    return select(r.xy, r.zw, corner > vec2<f32>(0.5));
}

// Local point → clip space.
fn to_clip(l: GpuLayer, local: vec2<f32>) -> vec4<f32> {
    let screen = vec2<f32>(
        l.xform.x * local.x + l.xform.y * local.y + l.offset.x,
        l.xform.z * local.x + l.xform.w * local.y + l.offset.y,
    );
    return vec4<f32>(screen.x / frame.size.x * 2.0 - 1.0, 1.0 - screen.y / frame.size.y * 2.0, 0.0, 1.0);
}

// Signed distances of a local point to the four edges of `r`, in screen pixels (positive inside).
// Affine in the point, so interpolating them per vertex is exact.
fn edge_distances(l: GpuLayer, local: vec2<f32>) -> vec4<f32> {
    let r = l.edge;
    return vec4<f32>(local.x - r.x, r.z - local.x, local.y - r.y, r.w - local.y) * l.offset.z;
}

// Anti-aliased coverage of a pixel from its edge distances.
fn edge_coverage(e: vec4<f32>) -> f32 {
    return clamp(0.5 + min(min(e.x, e.y), min(e.z, e.w)), 0.0, 1.0);
}

// ---- blend modes that need the backdrop (W3C Compositing Level 1, separable modes) ----

fn blend_fn(mode: u32, cb: vec3<f32>, cs: vec3<f32>) -> vec3<f32> {
    switch mode {
        case 3u: {                                                     // overlay = hard-light(backdrop)
            let lo = 2.0 * cs * cb;
            let hi = 1.0 - 2.0 * (1.0 - cs) * (1.0 - cb);
            return select(hi, lo, cb <= vec3<f32>(0.5));
        }
        case 4u: { return min(cb, cs); }                               // darken
        case 5u: { return max(cb, cs); }                               // lighten
        default: { return cs; }
    }
}

// `src` (premultiplied) blended onto the copied backdrop at `position` with blend mode `mode`.
fn blend_with_backdrop(position: vec4<f32>, src: vec4<f32>, mode: u32) -> vec4<f32> {
    let dst = textureLoad(backdrop, vec2<i32>(position.xy), 0);
    if src.a <= 0.0 {
        return dst;
    }
    let cs = src.rgb / src.a;
    let cb = select(vec3<f32>(0.0), dst.rgb / max(dst.a, 1e-6), dst.a > 0.0);
    let mixed = (1.0 - dst.a) * cs + dst.a * blend_fn(mode, cb, cs);
    let rgb = src.a * mixed + (1.0 - src.a) * dst.rgb;
    return vec4<f32>(rgb, src.a + dst.a * (1.0 - src.a));
}
