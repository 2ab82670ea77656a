// RGBA (sRGB-encoded, opaque) → planar YUV 4:2:0, BT.709 limited range, packed as bytes in a storage
// buffer so the CPU reads back 1.5 bytes per pixel instead of 4.
//
// Each invocation converts an 8x2 pixel block: 16 luma bytes (4 words) and 4 Cb + 4 Cr bytes
// (1 word each), so every write is a whole u32 and no atomics are needed. Rows are `stride` bytes
// (the width rounded up to 8); columns past the real width repeat the last pixel.
//
// Bind group 0: 0: texture_2d<f32> (the composed frame)  1: array<u32> (storage, read_write)
//               2: YuvParams (uniform)

struct YuvParams {
    width: u32,
    height: u32,
    stride: u32,      // luma row length in bytes, multiple of 8
    _pad: u32,
};

@group(0) @binding(0) var frame_tex: texture_2d<f32>;
@group(0) @binding(1) var<storage, read_write> out_words: array<u32>;
@group(0) @binding(2) var<uniform> params: YuvParams;

fn load(x: u32, y: u32) -> vec3<f32> {
    let xx = min(x, params.width - 1u);
    let yy = min(y, params.height - 1u);
    return textureLoad(frame_tex, vec2<i32>(i32(xx), i32(yy)), 0).rgb;
}

const KR: f32 = 0.2126;
const KB: f32 = 0.0722;

fn luma(c: vec3<f32>) -> f32 {
    return KR * c.r + (1.0 - KR - KB) * c.g + KB * c.b;
}

fn y_byte(c: vec3<f32>) -> u32 {
    return u32(clamp(round(16.0 + 219.0 * luma(c)), 0.0, 255.0));
}

fn pack4(a: u32, b: u32, c: u32, d: u32) -> u32 {
    return a | (b << 8u) | (c << 16u) | (d << 24u);
}

@compute @workgroup_size(8, 8)
fn cs_main(@builtin(global_invocation_id) id: vec3<u32>) {
    let bx = id.x * 8u;         // first pixel column of the block
    let by = id.y * 2u;         // first pixel row
    if bx >= params.stride || by >= params.height {
        return;
    }
    var cb = array<u32, 4>(0u, 0u, 0u, 0u);
    var cr = array<u32, 4>(0u, 0u, 0u, 0u);
    var ys0 = array<u32, 8>(0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u);
    var ys1 = array<u32, 8>(0u, 0u, 0u, 0u, 0u, 0u, 0u, 0u);
    for (var k = 0u; k < 4u; k = k + 1u) {
        let x = bx + 2u * k;
        let p00 = load(x, by);
        let p10 = load(x + 1u, by);
        let p01 = load(x, by + 1u);
        let p11 = load(x + 1u, by + 1u);
        ys0[2u * k] = y_byte(p00);
        ys0[2u * k + 1u] = y_byte(p10);
        ys1[2u * k] = y_byte(p01);
        ys1[2u * k + 1u] = y_byte(p11);
        let avg = 0.25 * (p00 + p10 + p01 + p11);
        let yl = luma(avg);
        let u = (avg.b - yl) / (2.0 * (1.0 - KB));
        let v = (avg.r - yl) / (2.0 * (1.0 - KR));
        cb[k] = u32(clamp(round(128.0 + 224.0 * u), 0.0, 255.0));
        cr[k] = u32(clamp(round(128.0 + 224.0 * v), 0.0, 255.0));
    }
    let stride_words = params.stride / 4u;
    let y_row0 = (by * params.stride + bx) / 4u;
    out_words[y_row0] = pack4(ys0[0], ys0[1], ys0[2], ys0[3]);
    out_words[y_row0 + 1u] = pack4(ys0[4], ys0[5], ys0[6], ys0[7]);
    let y_row1 = y_row0 + stride_words;
    out_words[y_row1] = pack4(ys1[0], ys1[1], ys1[2], ys1[3]);
    out_words[y_row1 + 1u] = pack4(ys1[4], ys1[5], ys1[6], ys1[7]);
    let luma_words = params.stride * params.height / 4u;
    let chroma_stride = params.stride / 2u;
    let chroma_words = chroma_stride * (params.height / 2u) / 4u;
    let c_index = ((by / 2u) * chroma_stride + bx / 2u) / 4u;
    out_words[luma_words + c_index] = pack4(cb[0], cb[1], cb[2], cb[3]);
    out_words[luma_words + chroma_words + c_index] = pack4(cr[0], cr[1], cr[2], cr[3]);
}
