//! Posters and thumbnails taken from a render's own frames: the frame the encoder is handed at that
//! index (YUV 4:2:0 or RGBA) becomes a PNG or JPEG, scaled when asked, with no second render or decode.
//! Also the RGBA readback of outputs with alpha (rows packed, alpha un-premultiplied).

use std::path::{Path, PathBuf};

use image::{DynamicImage, RgbImage, RgbaImage};

use super::error::RenderError;

/// The scaling filters of [`scale_to_width`].
pub use fast_image_resize::FilterType;

/// JPEG quality of stills (0–100): 90 keeps text sharp at about a tenth of the PNG's size.
pub const JPEG_QUALITY: u8 = 90;

/// One still to write during a render.
#[derive(Debug, Clone, PartialEq)]
pub struct StillOutput {
    /// Timeline frame (it must be inside the rendered range).
    pub frame: u64,
    /// Width in pixels (the height keeps the aspect ratio); default the video's size.
    pub width: Option<u32>,
    /// `.png`, `.jpg` or `.jpeg`.
    pub path: PathBuf,
}

impl StillOutput {
    /// The frame at `seconds` of a `frame_rate` timeline of `total` frames (the last frame when the
    /// time is at or past the end).
    pub fn frame_at(seconds: f64, frame_rate: f64, total: u64) -> u64 {
        ((seconds.max(0.0) * frame_rate).floor() as u64).min(total.saturating_sub(1))
    }

    /// Why this still cannot be written for a render of `range` at `width`, if it cannot.
    pub fn check(&self, range: &std::ops::Range<u64>, width: u32) -> Result<(), String> {
        if !range.contains(&self.frame) {
            return Err(format!(
                "still frame {} is outside the rendered frames {}..{}",
                self.frame, range.start, range.end
            ));
        }
        if let Some(w) = self.width {
            if !(16..=width).contains(&w) {
                return Err(format!(
                    "still width {w} must be between 16 and the video's width {width}"
                ));
            }
        }
        match ext(&self.path).as_deref() {
            Some("png" | "jpg" | "jpeg") => Ok(()),
            _ => Err(format!(
                "still {}: the name must end in .png, .jpg or .jpeg",
                self.path.display()
            )),
        }
    }
}

fn ext(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
}

/// Bytes per row of an RGBA readback of `width` pixels (wgpu's copy alignment).
pub(crate) fn rgba_row_bytes(width: u32) -> u32 {
    (4 * width).next_multiple_of(wgpu::COPY_BYTES_PER_ROW_ALIGNMENT)
}

/// Packs an aligned RGBA readback (premultiplied, as the compositor stores it) into `width * 4`-byte
/// rows with straight alpha, as encoders of alpha expect.
pub(crate) fn pack_rgba(mapped: &[u8], width: u32, height: u32) -> Vec<u8> {
    let row = rgba_row_bytes(width) as usize;
    let w4 = 4 * width as usize;
    let mut out = Vec::with_capacity(w4 * height as usize);
    for y in 0..height as usize {
        out.extend_from_slice(&mapped[y * row..y * row + w4]);
    }
    for px in out.chunks_exact_mut(4) {
        let a = px[3] as u32;
        if a != 0 && a != 255 {
            for c in &mut px[..3] {
                *c = ((*c as u32 * 255 + a / 2) / a).min(255) as u8;
            }
        }
    }
    out
}

/// BT.709 limited-range YUV 4:2:0 (rows `stride` bytes) to RGB.
pub(crate) fn yuv420_to_rgb(data: &[u8], width: u32, height: u32, stride: u32) -> RgbImage {
    let (w, h, s) = (width as usize, height as usize, stride as usize);
    let cw = s / 2;
    let y_plane = &data[..s * h];
    let ch = h.div_ceil(2);
    let u_plane = &data[s * h..s * h + cw * ch];
    let v_plane = &data[s * h + cw * ch..s * h + 2 * cw * ch];
    // Each chroma sample covers its 2x2 block, as ffmpeg's own yuv420p → RGB conversion does, so a
    // still equals the video's frame as ffmpeg decodes it.
    let chroma = |plane: &[u8], x: usize, y: usize| -> f32 { plane[(y / 2) * cw + x / 2] as f32 };
    let mut img = RgbImage::new(width, height);
    for y in 0..h {
        for x in 0..w {
            let luma = (y_plane[y * s + x] as f32 - 16.0) * (255.0 / 219.0);
            let cb = (chroma(u_plane, x, y) - 128.0) * (255.0 / 224.0);
            let cr = (chroma(v_plane, x, y) - 128.0) * (255.0 / 224.0);
            let r = luma + 1.5748 * cr;
            let g = luma - 0.1873 * cb - 0.4681 * cr;
            let b = luma + 1.8556 * cb;
            let q = |v: f32| v.round().clamp(0.0, 255.0) as u8;
            img.put_pixel(x as u32, y as u32, image::Rgb([q(r), q(g), q(b)]));
        }
    }
    img
}

/// Writes `still` from a frame as the encoder receives it.
pub(crate) fn write(
    still: &StillOutput,
    frame: &[u8],
    size: (u32, u32, u32),
    alpha: bool,
) -> Result<(), RenderError> {
    let (width, height, stride) = size;
    let img = if alpha {
        DynamicImage::ImageRgba8(
            RgbaImage::from_raw(width, height, frame.to_vec())
                .ok_or_else(|| RenderError::Request("still: frame size mismatch".into()))?,
        )
    } else {
        DynamicImage::ImageRgb8(yuv420_to_rgb(frame, width, height, stride))
    };
    save(img, still)
}

/// `img` scaled to `width` pixels, the height keeping the aspect ratio, with `filter` (a convolution
/// of `fast_image_resize`: SIMD, and alpha premultiplied while filtering so transparent pixels do not
/// darken the edges). The same image when it already has that width.
pub fn scale_to_width(img: DynamicImage, width: u32, filter: FilterType) -> DynamicImage {
    use fast_image_resize::{ResizeAlg, ResizeOptions, Resizer};
    if width == img.width() || width == 0 {
        return img;
    }
    let h = ((img.height() as f64 * width as f64 / img.width() as f64).round() as u32).max(1);
    let options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(filter));
    let mut resizer = Resizer::new();
    let scaled = match &img {
        DynamicImage::ImageRgb8(_) => {
            let mut dst = image::RgbImage::new(width, h);
            resizer
                .resize(&img, &mut dst, &options)
                .map(|()| DynamicImage::ImageRgb8(dst))
        }
        other => {
            // RGBA as it is; any other layout converted once.
            let src = match other {
                DynamicImage::ImageRgba8(_) => std::borrow::Cow::Borrowed(other),
                _ => std::borrow::Cow::Owned(DynamicImage::ImageRgba8(other.to_rgba8())),
            };
            let mut dst = image::RgbaImage::new(width, h);
            resizer
                .resize(src.as_ref(), &mut dst, &options)
                .map(|()| DynamicImage::ImageRgba8(dst))
        }
    };
    // Same pixel type on both sides and a non-empty size: it cannot fail; fall back regardless.
    scaled.unwrap_or_else(|_| img.resize_exact(width, h, image::imageops::FilterType::Lanczos3))
}

/// Writes `img` as a JPEG of `quality` (1–100; stills use [`JPEG_QUALITY`]) with `jpeg-encoder` (AVX2
/// where the CPU has it). JPEG has no alpha: it is dropped.
pub fn encode_jpeg(
    img: &DynamicImage,
    quality: u8,
    out: impl std::io::Write,
) -> Result<(), String> {
    use jpeg_encoder::{ColorType, Encoder};
    let converted;
    let (data, color) = match img {
        DynamicImage::ImageRgb8(i) => (i.as_raw(), ColorType::Rgb),
        DynamicImage::ImageRgba8(i) => (i.as_raw(), ColorType::Rgba),
        other => {
            converted = other.to_rgba8();
            (converted.as_raw(), ColorType::Rgba)
        }
    };
    let side = |v: u32| u16::try_from(v).map_err(|_| format!("{v} pixels is too large for JPEG"));
    Encoder::new(out, quality)
        .encode(data, side(img.width())?, side(img.height())?, color)
        .map_err(|e| e.to_string())
}

/// Scales `img` to the still's width (Lanczos 3; the height keeps the aspect ratio) and writes it as
/// PNG or JPEG (quality [`JPEG_QUALITY`]) by the name's extension.
pub fn save(img: impl Into<DynamicImage>, still: &StillOutput) -> Result<(), RenderError> {
    let img: DynamicImage = img.into();
    let img = match still.width {
        Some(w) => scale_to_width(img, w, FilterType::Lanczos3),
        None => img,
    };
    let io = |e: std::io::Error| RenderError::Io {
        context: format!("writing {}", still.path.display()),
        source: e,
    };
    let encode_err = |e: image::ImageError| RenderError::Io {
        context: format!("encoding {}", still.path.display()),
        source: std::io::Error::other(e.to_string()),
    };
    let file = std::fs::File::create(&still.path).map_err(io)?;
    let mut out = std::io::BufWriter::new(file);
    match ext(&still.path).as_deref() {
        Some("jpg" | "jpeg") => {
            encode_jpeg(&img, JPEG_QUALITY, &mut out).map_err(|e| RenderError::Io {
                context: format!("encoding {}", still.path.display()),
                source: std::io::Error::other(e),
            })?
        }
        _ => img
            .write_to(&mut out, image::ImageFormat::Png)
            .map_err(encode_err)?,
    }
    use std::io::Write;
    out.flush().map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scaling_keeps_size_ratio_and_does_not_darken_transparent_edges() {
        // Left half transparent black, right half opaque white.
        let img = RgbaImage::from_fn(64, 32, |x, _| {
            if x < 32 {
                image::Rgba([0, 0, 0, 0])
            } else {
                image::Rgba([255, 255, 255, 255])
            }
        });
        let out = scale_to_width(DynamicImage::ImageRgba8(img), 16, FilterType::Lanczos3);
        assert_eq!((out.width(), out.height()), (16, 8));
        let out = out.to_rgba8();
        let mut edge = 0;
        for p in out.pixels() {
            if p[3] > 0 {
                // The black of transparent pixels must not bleed into the white: with the alpha
                // premultiplied while filtering, every visible pixel stays white.
                assert!(p[0] >= 250 && p[1] >= 250 && p[2] >= 250, "{p:?}");
                edge += usize::from(p[3] < 255);
            }
        }
        assert!(edge > 0, "no partly transparent edge pixel");
    }

    #[test]
    fn grey_and_colour_round_trip_through_bt709() {
        // A flat colour in limited-range BT.709: Y 63, Cb 102, Cr 240 is about pure red (255, 0, 0).
        let (w, h, s) = (4u32, 2u32, 8u32);
        let mut data = vec![63u8; (s * h) as usize];
        data.extend(vec![102u8; (s / 2 * h / 2) as usize]);
        data.extend(vec![240u8; (s / 2 * h / 2) as usize]);
        let img = yuv420_to_rgb(&data, w, h, s);
        let p = img.get_pixel(1, 1).0;
        assert!(p[0] >= 250 && p[1] <= 5 && p[2] <= 5, "{p:?}");
    }

    #[test]
    fn alpha_is_unpremultiplied() {
        let row = rgba_row_bytes(1) as usize;
        let mut mapped = vec![0u8; row];
        mapped[..4].copy_from_slice(&[64, 0, 32, 128]);
        assert_eq!(pack_rgba(&mapped, 1, 1), vec![128, 0, 64, 128]);
    }

    #[test]
    fn frame_times_clamp_to_the_timeline() {
        assert_eq!(StillOutput::frame_at(1.0, 30.0, 90), 30);
        assert_eq!(StillOutput::frame_at(99.0, 30.0, 90), 89);
        assert_eq!(StillOutput::frame_at(-1.0, 30.0, 90), 0);
    }
}
