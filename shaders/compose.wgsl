// Layer compositor: one full-screen triangle per frame; the fragment shader walks the frame's layers
// bottom to top and blends each onto the backdrop. Reading the backdrop in the shader is what lets us
// do every blend mode exactly (overlay, darken, lighten cannot be fixed-function blend states).
//
// Colours are sRGB-encoded and premultiplied throughout, and blend formulas apply to sRGB-encoded
// values, as CSS `mix-blend-mode` and design tools do.
//
// Bind group 0 (see compositor/layout.rs, the Rust twin of these structs):
//   0: FrameUniforms (uniform)   1: array<GpuLayer> (storage, read)
//   2: atlas texture_2d_array    3: linear clamp sampler

struct FrameUniforms {
    size: vec2<f32>,          // output width, height in pixels
    layer_count: u32,
    split: u32,               // layers [0, split) belong to the outgoing scene, [split, count) to the incoming
    transition: u32,          // 0 none, 1 fade, 2 wipe, 3 slide
    progress: f32,            // eased transition progress 0..1
    _pad: vec2<u32>,
    background0: vec4<f32>,   // outgoing scene (or the only scene) background, premultiplied
    background1: vec4<f32>,   // incoming scene background
};

struct GpuLayer {
    inv0: vec4<f32>,          // inverse transform rows: local = (a*x + b*y + tx, c*x + d*y + ty)
    inv1: vec4<f32>,          // (a, b, c, d) in inv0, (tx, ty, width, height) here
    bbox: vec4<f32>,          // screen-space bounds (x0, y0, x1, y1), already padded for anti-aliasing
    quad: vec4<f32>,          // drawn rectangle in local units (x0, y0, x1, y1)
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

@vertex
fn vs_main(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    // One triangle covering the viewport.
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

// ---- blend modes (W3C Compositing Level 1, separable modes) ----

fn blend_fn(mode: u32, cb: vec3<f32>, cs: vec3<f32>) -> vec3<f32> {
    switch mode {
        case 1u: { return cb * cs; }                                   // multiply
        case 2u: { return cb + cs - cb * cs; }                         // screen
        case 3u: {                                                     // overlay = hard-light(backdrop)
            let lo = 2.0 * cs * cb;
            let hi = 1.0 - 2.0 * (1.0 - cs) * (1.0 - cb);
            return select(hi, lo, cb <= vec3<f32>(0.5));
        }
        case 4u: { return min(cb, cs); }                               // darken
        case 5u: { return max(cb, cs); }                               // lighten
        default: { return cs; }                                        // normal
    }
}

// Source-over with a blend function; both colours premultiplied.
fn composite(mode: u32, dst: vec4<f32>, src: vec4<f32>) -> vec4<f32> {
    if src.a <= 0.0 {
        return dst;
    }
    if mode == 0u {
        return src + dst * (1.0 - src.a);
    }
    if mode == 6u {
        // add (plus-lighter): premultiplied sum, clamped.
        return min(src + dst, vec4<f32>(1.0));
    }
    let cs = src.rgb / src.a;
    let cb = select(vec3<f32>(0.0), dst.rgb / max(dst.a, 1e-6), dst.a > 0.0);
    let mixed = (1.0 - dst.a) * cs + dst.a * blend_fn(mode, cb, cs);
    let rgb = src.a * mixed + (1.0 - src.a) * dst.rgb;
    return vec4<f32>(rgb, src.a + dst.a * (1.0 - src.a));
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

// Layer i's premultiplied colour at screen point p (before opacity), or transparent. Fields are read
// from the storage buffer one by one: copying the whole struct per pixel is slow on software GPUs.
fn layer_color(i: u32, p: vec2<f32>) -> vec4<f32> {
    let inv0 = layers[i].inv0;
    let inv1 = layers[i].inv1;
    let local = vec2<f32>(
        inv0.x * p.x + inv0.y * p.y + inv1.x,
        inv0.z * p.x + inv0.w * p.y + inv1.y,
    );
    let params = layers[i].params;
    let info = layers[i].info;
    let px = params.w; // screen pixels per local unit: turns local distances into pixels for AA
    let kind = info.x;
    let size = inv1.zw;
    if kind == 0u {
        // Image or rasterised text: a textured rectangle with anti-aliased edges.
        let quad = layers[i].quad;
        let q0 = quad.xy;
        let q1 = quad.zw;
        let half = 0.5 * (q1 - q0);
        let d = sd_round_box(local - (q0 + half), half, 0.0) * px;
        let coverage = clamp(0.5 - d, 0.0, 1.0);
        if coverage <= 0.0 {
            return vec4<f32>(0.0);
        }
        let f = clamp((local - q0) / max(q1 - q0, vec2<f32>(1e-6)), vec2<f32>(0.0), vec2<f32>(1.0));
        // Texel centres map 1:1 at natural size; clamping half a texel inside keeps filtering
        // from reading the neighbouring atlas item.
        let half_texel = 0.5 / vec2<f32>(textureDimensions(atlas));
        let r = layers[i].uv;
        let uv = clamp(mix(r.xy, r.zw, f), r.xy + half_texel, r.zw - half_texel);
        let texel = textureSampleLevel(atlas, atlas_sampler, uv, i32(info.z), 0.0);
        return texel * coverage;
    }
    let half = 0.5 * size;
    let centred = local - half;
    var d: f32;
    if kind == 2u {
        d = sd_ellipse(centred, half);
    } else {
        d = sd_round_box(centred, half, params.y);
    }
    let outer = clamp(0.5 - d * px, 0.0, 1.0);
    if outer <= 0.0 {
        return vec4<f32>(0.0);
    }
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
    return fill * inner + layers[i].stroke * ring;
}

fn composite_range(background: vec4<f32>, first: u32, last: u32, p: vec2<f32>) -> vec4<f32> {
    var dst = background;
    for (var i = first; i < last; i = i + 1u) {
        let bbox = layers[i].bbox;
        if p.x < bbox.x || p.y < bbox.y || p.x > bbox.z || p.y > bbox.w {
            continue;
        }
        let src = layer_color(i, p) * layers[i].params.x;
        dst = composite(layers[i].info.y, dst, src);
    }
    return dst;
}

@fragment
fn fs_main(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    let p = pos.xy; // pixel centre
    let n = frame.layer_count;
    switch frame.transition {
        case 1u: {
            let a = composite_range(frame.background0, 0u, frame.split, p);
            let b = composite_range(frame.background1, frame.split, n, p);
            return mix(a, b, frame.progress);
        }
        case 2u: {
            // Wipe: the incoming scene is revealed from the left edge.
            if p.x < frame.progress * frame.size.x {
                return composite_range(frame.background1, frame.split, n, p);
            }
            return composite_range(frame.background0, 0u, frame.split, p);
        }
        case 3u: {
            // Slide: the incoming scene enters from the right, pushing the outgoing one (layers are
            // already shifted on the CPU; only the seam between the backgrounds is decided here).
            if p.x >= (1.0 - frame.progress) * frame.size.x {
                return composite_range(frame.background1, frame.split, n, p);
            }
            return composite_range(frame.background0, 0u, frame.split, p);
        }
        default: {
            return composite_range(frame.background0, 0u, n, p);
        }
    }
}
