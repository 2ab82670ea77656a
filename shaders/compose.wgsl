// Layer compositor. Each layer is drawn as one instanced quad covering just its pixels (a software
// rasteriser such as lavapipe then shades only what is covered), bottom to top. Colours are
// sRGB-encoded and premultiplied throughout, and blend formulas apply to sRGB-encoded values, as CSS
// `mix-blend-mode` and design tools do.
//
// Blend modes:
//   normal, add, multiply, screen → `fs_layer` + a fixed-function blend state. With an opaque backdrop
//     (every composition has an opaque background) these states are the exact W3C formulas.
//   overlay, darken, lighten → `fs_layer_backdrop`: the pass is split, the backdrop under the layer is
//     copied to a texture, and the shader computes the formula itself.
//
// Bind group 0 (see compositor/layout.rs, the Rust twin of these structs):
//   0: FrameUniforms (uniform)   1: array<GpuLayer> (storage, read)
//   2: atlas texture_2d_array    3: linear clamp sampler
// Bind group 1 (fs_layer_backdrop, fs_fade only): 0: texture_2d<f32> (backdrop, or the incoming scene)

struct FrameUniforms {
    size: vec2<f32>,          // output width, height in pixels
    _pad: vec2<f32>,
};

struct GpuLayer {
    xform0: vec4<f32>,        // local → screen: screen = (a*x + b*y + tx, c*x + d*y + ty); (a, b, c, d)
    xform1: vec4<f32>,        // (tx, ty, box width, box height)
    quad: vec4<f32>,          // drawn rectangle in local units (x0, y0, x1, y1), before AA padding
    params: vec4<f32>,        // opacity, corner radius, stroke width, screen pixels per local unit
    info: vec4<u32>,          // kind (0 image/text, 1 rect, 2 ellipse), blend mode, atlas page, fill kind (0 none, 1 solid, 2 gradient)
    info2: vec4<u32>,         // gradient stop count, unused x3
    uv: vec4<f32>,            // atlas rectangle (u0, v0, u1, v1), outer texel edges
    fill: vec4<f32>,          // solid fill, premultiplied
    stroke: vec4<f32>,        // stroke colour, premultiplied
    gradient: vec4<f32>,      // gradient line in local units: start (x, y), end (x, y)
    stop_offsets: array<vec4<f32>, 2>,
    stop_colors: array<vec4<f32>, 8>,  // premultiplied
};

@group(0) @binding(0) var<uniform> frame: FrameUniforms;
@group(0) @binding(1) var<storage, read> layers: array<GpuLayer>;
@group(0) @binding(2) var atlas: texture_2d_array<f32>;
@group(0) @binding(3) var atlas_sampler: sampler;
@group(1) @binding(0) var backdrop: texture_2d<f32>;

struct LayerVarying {
    @builtin(position) position: vec4<f32>,
    @location(0) local: vec2<f32>,
    @location(1) @interpolate(flat) index: u32,
};

@vertex
fn vs_layer(@builtin(vertex_index) v: u32, @builtin(instance_index) i: u32) -> LayerVarying {
    let l = layers[i];
    // Pad the quad by one screen pixel so anti-aliased edges have room.
    let pad = 1.0 / max(l.params.w, 1e-6);
    let q0 = l.quad.xy - vec2<f32>(pad);
    let q1 = l.quad.zw + vec2<f32>(pad);
    // Two triangles: corners (0,0) (1,0) (0,1) / (0,1) (1,0) (1,1).
    let corner = array<vec2<f32>, 6>(
        vec2<f32>(0.0, 0.0), vec2<f32>(1.0, 0.0), vec2<f32>(0.0, 1.0),
        vec2<f32>(0.0, 1.0), vec2<f32>(1.0, 0.0), vec2<f32>(1.0, 1.0),
    )[v];
    let local = mix(q0, q1, corner);
    let screen = vec2<f32>(
        l.xform0.x * local.x + l.xform0.y * local.y + l.xform1.x,
        l.xform0.z * local.x + l.xform0.w * local.y + l.xform1.y,
    );
    var out: LayerVarying;
    out.position = vec4<f32>(screen.x / frame.size.x * 2.0 - 1.0, 1.0 - screen.y / frame.size.y * 2.0, 0.0, 1.0);
    out.local = local;
    out.index = i;
    return out;
}

// ---- shapes (signed distances in local units, negative inside) ----

fn sd_round_box(p: vec2<f32>, half: vec2<f32>, r: f32) -> f32 {
    let rr = min(r, min(half.x, half.y));
    let q = abs(p) - half + rr;
    return length(max(q, vec2<f32>(0.0))) + min(max(q.x, q.y), 0.0) - rr;
}

fn sd_ellipse(p: vec2<f32>, half: vec2<f32>) -> f32 {
    // Quilez's first-order approximation: exact on the axes, close enough elsewhere for 1 px AA.
    let k0 = length(p / half);
    let k1 = length(p / (half * half));
    if k1 < 1e-6 {
        return -min(half.x, half.y);
    }
    return k0 * (k0 - 1.0) / k1;
}

fn gradient_color(i: u32, local: vec2<f32>) -> vec4<f32> {
    let a = layers[i].gradient.xy;
    let d = layers[i].gradient.zw - a;
    let t = clamp(dot(local - a, d) / max(dot(d, d), 1e-6), 0.0, 1.0);
    let n = layers[i].info2.x;
    var color = layers[i].stop_colors[0];
    for (var k = 1u; k < n; k = k + 1u) {
        let o0 = layers[i].stop_offsets[(k - 1u) / 4u][(k - 1u) % 4u];
        let o1 = layers[i].stop_offsets[k / 4u][k % 4u];
        if t >= o1 {
            color = layers[i].stop_colors[k];
        } else if t > o0 {
            color = mix(layers[i].stop_colors[k - 1u], layers[i].stop_colors[k], (t - o0) / max(o1 - o0, 1e-6));
        }
    }
    return color;
}

// Layer i's premultiplied colour at a local point, opacity applied.
fn layer_color(i: u32, local: vec2<f32>) -> vec4<f32> {
    let params = layers[i].params;
    let info = layers[i].info;
    let px = params.w; // screen pixels per local unit: turns local distances into pixels for AA
    if info.x == 0u {
        // Image or rasterised text: a textured rectangle with anti-aliased edges.
        let quad = layers[i].quad;
        let q0 = quad.xy;
        let q1 = quad.zw;
        let half = 0.5 * (q1 - q0);
        let d = sd_round_box(local - (q0 + half), half, 0.0) * px;
        let coverage = clamp(0.5 - d, 0.0, 1.0);
        let f = clamp((local - q0) / max(q1 - q0, vec2<f32>(1e-6)), vec2<f32>(0.0), vec2<f32>(1.0));
        // Texel centres map 1:1 at natural size; clamping half a texel inside keeps filtering
        // from reading the neighbouring atlas item.
        let half_texel = 0.5 / vec2<f32>(textureDimensions(atlas));
        let r = layers[i].uv;
        let uv = clamp(mix(r.xy, r.zw, f), r.xy + half_texel, r.zw - half_texel);
        let texel = textureSampleLevel(atlas, atlas_sampler, uv, i32(info.z), 0.0);
        return texel * (coverage * params.x);
    }
    let size = layers[i].xform1.zw;
    let half = 0.5 * size;
    let centred = local - half;
    var d: f32;
    if info.x == 2u {
        d = sd_ellipse(centred, half);
    } else {
        d = sd_round_box(centred, half, params.y);
    }
    let outer = clamp(0.5 - d * px, 0.0, 1.0);
    // Strokes sit inside the shape's box, as CSS borders do.
    let sw = params.z;
    let inner = select(outer, clamp(0.5 - (d + sw) * px, 0.0, 1.0), sw > 0.0);
    var fill = vec4<f32>(0.0);
    if info.w == 1u {
        fill = layers[i].fill;
    } else if info.w == 2u {
        fill = gradient_color(i, local);
    }
    let ring = max(outer - inner, 0.0);
    return (fill * inner + layers[i].stroke * ring) * params.x;
}

@fragment
fn fs_layer(in: LayerVarying) -> @location(0) vec4<f32> {
    return layer_color(in.index, in.local);
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

@fragment
fn fs_layer_backdrop(in: LayerVarying) -> @location(0) vec4<f32> {
    let dst = textureLoad(backdrop, vec2<i32>(in.position.xy), 0);
    let src = layer_color(in.index, in.local);
    if src.a <= 0.0 {
        return dst;
    }
    let cs = src.rgb / src.a;
    let cb = select(vec3<f32>(0.0), dst.rgb / max(dst.a, 1e-6), dst.a > 0.0);
    let mixed = (1.0 - dst.a) * cs + dst.a * blend_fn(layers[in.index].info.y, cb, cs);
    let rgb = src.a * mixed + (1.0 - src.a) * dst.rgb;
    return vec4<f32>(rgb, src.a + dst.a * (1.0 - src.a));
}

// ---- cross-fade: the incoming scene (group 1 texture) over the outgoing one, blend constant = progress ----

@vertex
fn vs_fullscreen(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn fs_fade(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    return textureLoad(backdrop, vec2<i32>(pos.xy), 0);
}
