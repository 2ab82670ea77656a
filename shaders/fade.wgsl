// Cross-fade: the incoming scene (group 0 texture) over the outgoing one; the pipeline's blend
// constant is the transition's progress.

@group(0) @binding(0) var incoming: texture_2d<f32>;

@vertex
fn vs_fullscreen(@builtin(vertex_index) i: u32) -> @builtin(position) vec4<f32> {
    let uv = vec2<f32>(f32((i << 1u) & 2u), f32(i & 2u));
    return vec4<f32>(uv * 2.0 - 1.0, 0.0, 1.0);
}

@fragment
fn fs_fade(@builtin(position) pos: vec4<f32>) -> @location(0) vec4<f32> {
    return textureLoad(incoming, vec2<i32>(pos.xy), 0);
}
