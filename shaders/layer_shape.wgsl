// Shapes: rectangles, rounded rectangles and ellipses with a solid or gradient fill and an inner
// stroke, anti-aliased with analytic signed distances (appended to layer_common.wgsl).
//
//   vs_shape + fs_solid        axis-aligned, pixel-aligned rectangle with a solid fill: one colour
//   vs_shape + fs_rect         rectangle or rounded rectangle, any transform
//   vs_shape + fs_ellipse      ellipse, any transform
//   vs_shape_inner + fs_solid  the inside of a large solid-filled shape, where coverage is 1: one
//                              colour (the record's `inner` rectangle, fully inside the outline)
//   vs_shape_ring + fs_rect / fs_ellipse   the rest of that shape: four strips around the inside
//   *_backdrop                 the same colour blended by the shader (overlay, darken, lighten)

struct ShapeVarying {
    @builtin(position) position: vec4<f32>,
    @location(0) @interpolate(linear) local: vec2<f32>,
    @location(1) @interpolate(flat) half_size: vec2<f32>,
    // corner radius, stroke width, screen pixels per local unit, opacity
    @location(2) @interpolate(flat) params: vec4<f32>,
    @location(3) @interpolate(flat) fill: vec4<f32>,
    @location(4) @interpolate(flat) stroke: vec4<f32>,
    // fill kind, blend mode, layer index (gradients read their stops)
    @location(5) @interpolate(flat) info: vec3<u32>,
};

fn shape_varying(l: GpuLayer, i: u32, local: vec2<f32>) -> ShapeVarying {
    let half = 0.5 * (l.edge.zw - l.edge.xy);
    var out: ShapeVarying;
    out.position = to_clip(l, local);
    out.local = local - l.edge.xy - half;   // relative to the shape's centre
    out.half_size = half;
    out.params = vec4<f32>(l.shape.x, l.shape.y, l.offset.z, l.offset.w);
    out.fill = l.fill * l.offset.w;
    out.stroke = l.stroke * l.offset.w;
    out.info = vec3<u32>(l.info.w, l.info.y, i);
    return out;
}

@vertex
fn vs_shape(@builtin(vertex_index) v: u32, @builtin(instance_index) i: u32) -> ShapeVarying {
    let l = layers[i];
    return shape_varying(l, i, corner_local(l, v));
}

@vertex
fn vs_shape_inner(@builtin(vertex_index) v: u32, @builtin(instance_index) i: u32) -> ShapeVarying {
    let l = layers[i];
    return shape_varying(l, i, inner_local(l, v));
}

@vertex
fn vs_shape_ring(@builtin(vertex_index) v: u32, @builtin(instance_index) i: u32) -> ShapeVarying {
    let l = layers[i];
    return shape_varying(l, i, ring_local(l, v));
}

// ---- signed distances in local units, negative inside ----

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

fn gradient_color(i: u32, centred: vec2<f32>, half: vec2<f32>) -> vec4<f32> {
    let local = centred + half;   // gradient geometry is in box coordinates
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
    return color * layers[i].offset.w;
}

// Premultiplied colour of a shape at distance `d` (local units) from its outline, opacity applied.
fn shape_color(in: ShapeVarying, d: f32) -> vec4<f32> {
    let px = in.params.z;
    let outer = clamp(0.5 - d * px, 0.0, 1.0);
    // Strokes sit inside the shape's box, as CSS borders do.
    let sw = in.params.y;
    let inner = select(outer, clamp(0.5 - (d + sw) * px, 0.0, 1.0), sw > 0.0);
    var fill = in.fill;
    if in.info.x == 2u {
        fill = gradient_color(in.info.z, in.local, in.half_size);
    } else if in.info.x == 0u {
        fill = vec4<f32>(0.0);
    }
    let ring = max(outer - inner, 0.0);
    return fill * inner + in.stroke * ring;
}

fn rect_color(in: ShapeVarying) -> vec4<f32> {
    return shape_color(in, sd_round_box(in.local, in.half_size, in.params.x));
}

fn ellipse_color(in: ShapeVarying) -> vec4<f32> {
    return shape_color(in, sd_ellipse(in.local, in.half_size));
}

@fragment
fn fs_solid(in: ShapeVarying) -> @location(0) vec4<f32> {
    return in.fill;
}

@fragment
fn fs_rect(in: ShapeVarying) -> @location(0) vec4<f32> {
    return rect_color(in);
}

@fragment
fn fs_ellipse(in: ShapeVarying) -> @location(0) vec4<f32> {
    return ellipse_color(in);
}

@fragment
fn fs_solid_backdrop(in: ShapeVarying) -> @location(0) vec4<f32> {
    return blend_with_backdrop(in.position, in.fill, in.info.y);
}

@fragment
fn fs_rect_backdrop(in: ShapeVarying) -> @location(0) vec4<f32> {
    return blend_with_backdrop(in.position, rect_color(in), in.info.y);
}

@fragment
fn fs_ellipse_backdrop(in: ShapeVarying) -> @location(0) vec4<f32> {
    return blend_with_backdrop(in.position, ellipse_color(in), in.info.y);
}
