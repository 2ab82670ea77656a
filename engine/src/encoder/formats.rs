//! The ffmpeg arguments of each output format: input pixel layout, filters, codec and muxer.
//!
//! | format | video | from the compositor |
//! | --- | --- | --- |
//! | mp4, mov | x264 `yuv420p` (CRF table: [`Quality::crf`]) | YUV 4:2:0 converted on the GPU |
//! | mov, transparent | ProRes 4444 (`prores_ks`, `yuva444p10le`) | RGBA, straight alpha |
//! | webm | VP9 `yuv420p`; transparent: `yuva420p` | YUV 4:2:0; transparent: RGBA |
//! | hevc | x265 `yuv420p` in MP4, tagged `hvc1` ([`x265_settings`]) | YUV 4:2:0 |
//! | gif | one palette for the clip, Sierra-2-4A dithering | YUV 4:2:0 |
//! | png | one PNG per frame (RGB, RGBA when transparent), zipped | YUV 4:2:0; transparent: RGBA |

use std::path::Path;

use super::EncoderConfig;
use crate::project::{OutputFormat, Quality};

/// VP9 has its own CRF scale and speed knobs; these give roughly the x264 table's trade-offs.
pub(crate) fn vp9_settings(q: Quality) -> (u8, u8) {
    match q {
        Quality::Ultra => (24, 1),
        Quality::High => (31, 2),
        Quality::Medium => (36, 4),
        Quality::Low => (40, 5),
    }
}

/// x265 CRF and preset of each quality level. x265 reaches x264's picture at a CRF about 4–5 higher
/// (its scale is shifted), and is several times slower per preset, so each level takes a faster one.
pub fn x265_settings(q: Quality) -> (u8, &'static str) {
    match q {
        Quality::Ultra => (22, "medium"),
        Quality::High => (27, "fast"),
        Quality::Medium => (31, "faster"),
        Quality::Low => (35, "veryfast"),
    }
}

/// The frame rate and size of a GIF output (see [`crate::project::GifOptions`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GifOutput {
    pub fps: f64,
    pub width: u32,
    pub height: u32,
}

/// The BT.709 limited-range tags of every YUV stream we write (the GPU's conversion matrix).
pub const BT709_TAGS: [&str; 8] = [
    "-color_range",
    "tv",
    "-colorspace",
    "bt709",
    "-color_primaries",
    "bt709",
    "-color_trc",
    "bt709",
];

/// Input options for the raw frames on stdin.
pub(crate) fn input_args(config: &EncoderConfig) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    if config.alpha {
        a.extend(["-f", "rawvideo", "-pix_fmt", "rgba"].map(String::from));
        a.extend(["-s".into(), format!("{}x{}", config.width, config.height)]);
        a.extend(["-r".into(), format!("{}", config.frame_rate)]);
    } else {
        a.extend(["-f", "rawvideo", "-pix_fmt", "yuv420p"].map(String::from));
        a.extend(["-s".into(), format!("{}x{}", config.stride, config.height)]);
        a.extend(["-r".into(), format!("{}", config.frame_rate)]);
        a.extend(BT709_TAGS.map(String::from));
    }
    a.extend(["-i", "pipe:0"].map(String::from));
    a
}

/// The video filter chain, if any.
fn filters(config: &EncoderConfig) -> Option<String> {
    let mut f: Vec<String> = Vec::new();
    if !config.alpha && config.stride != config.width {
        f.push(format!("crop={}:{}:0:0", config.width, config.height));
    }
    // Conversions in ffmpeg follow the BT.709 limited-range matrix the GPU path uses.
    let to_rgb = "scale=in_color_matrix=bt709:in_range=tv";
    match config.format {
        OutputFormat::Gif => {
            let g = config.gif.unwrap_or(GifOutput {
                fps: config.frame_rate,
                width: config.width,
                height: config.height,
            });
            f.push(format!(
                "fps={},scale={}:{}:flags=lanczos:in_color_matrix=bt709:in_range=tv",
                g.fps, g.width, g.height
            ));
            f.push(
                "split[a][b];[a]palettegen=stats_mode=full[p];[b][p]paletteuse=dither=sierra2_4a"
                    .into(),
            );
        }
        OutputFormat::Png if !config.alpha => f.push(to_rgb.into()),
        OutputFormat::Mov | OutputFormat::Webm if config.alpha => {
            f.push("scale=out_color_matrix=bt709:out_range=tv".into())
        }
        _ => {}
    }
    (!f.is_empty()).then(|| f.join(","))
}

/// Filters, codec, pixel format and codec options of the video stream.
pub(crate) fn video_args(config: &EncoderConfig) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    if let Some(f) = filters(config) {
        push(&["-vf", &f]);
    }
    let q = config.quality;
    match (config.format, config.alpha) {
        (OutputFormat::Mov, true) => {
            // ProRes 4444 with a 16-bit alpha plane.
            push(&["-c:v", "prores_ks", "-profile:v", "4444"]);
            push(&["-pix_fmt", "yuva444p10le", "-alpha_bits", "16"]);
        }
        (OutputFormat::Mp4 | OutputFormat::Mov, _) => {
            push(&["-c:v", "libx264", "-preset", q.x264_preset()]);
            push(&["-crf", &q.crf().to_string(), "-pix_fmt", "yuv420p"]);
        }
        (OutputFormat::Webm, alpha) => {
            let (crf, speed) = vp9_settings(q);
            push(&["-c:v", "libvpx-vp9", "-crf", &crf.to_string(), "-b:v", "0"]);
            push(&["-deadline", "good", "-cpu-used", &speed.to_string()]);
            push(&["-row-mt", "1"]);
            if alpha {
                // libvpx encodes the alpha plane as a second stream; alt-ref frames break it.
                push(&["-pix_fmt", "yuva420p", "-auto-alt-ref", "0"]);
            } else {
                push(&["-pix_fmt", "yuv420p"]);
            }
        }
        (OutputFormat::Hevc, _) => {
            let (crf, preset) = x265_settings(q);
            push(&[
                "-c:v",
                "libx265",
                "-preset",
                preset,
                "-crf",
                &crf.to_string(),
            ]);
            push(&["-x265-params", "log-level=error", "-pix_fmt", "yuv420p"]);
            // Apple players open HEVC in MP4 only when tagged hvc1 (ffmpeg's default is hev1).
            push(&["-tag:v", "hvc1"]);
        }
        (OutputFormat::Gif, _) => push(&["-c:v", "gif"]),
        (OutputFormat::Png, alpha) => {
            push(&[
                "-c:v",
                "png",
                "-pix_fmt",
                if alpha { "rgba" } else { "rgb24" },
            ]);
        }
    }
    if !matches!(config.format, OutputFormat::Gif | OutputFormat::Png) {
        // Tag the stream so players decode with the matrix we encoded with.
        push(&BT709_TAGS);
    }
    a
}

/// Muxer options and the output name. `sequence_dir` is where a PNG sequence's frames go before
/// they are zipped.
pub(crate) fn muxer_args(
    config: &EncoderConfig,
    has_audio: bool,
    sequence_dir: Option<&Path>,
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    if has_audio {
        match config.format {
            OutputFormat::Webm => a.extend(["-c:a", "libopus", "-b:a", "128k"].map(String::from)),
            _ => a.extend(["-c:a", "aac", "-b:a", "192k"].map(String::from)),
        }
        // The audio is exactly as long as the video; cut a silent generator there too.
        a.push("-shortest".into());
    }
    let mp4_like = matches!(
        config.format,
        OutputFormat::Mp4 | OutputFormat::Mov | OutputFormat::Hevc
    );
    if config.faststart && mp4_like {
        a.extend(["-movflags", "+faststart"].map(String::from));
    }
    match (config.format, sequence_dir) {
        (OutputFormat::Png, Some(dir)) => {
            a.extend(["-f", "image2"].map(String::from));
            a.push("-y".into());
            a.push(dir.join("frame_%06d.png").to_string_lossy().into_owned());
        }
        (format, _) => {
            a.extend(["-f".to_string(), muxer(format).to_string()]);
            a.push("-y".into());
            a.push(config.output.to_string_lossy().into_owned());
        }
    }
    a
}

/// ffmpeg's muxer name of a format.
pub(crate) fn muxer(format: OutputFormat) -> &'static str {
    match format {
        OutputFormat::Mp4 | OutputFormat::Hevc => "mp4",
        OutputFormat::Mov => "mov",
        OutputFormat::Webm => "webm",
        OutputFormat::Gif => "gif",
        OutputFormat::Png => "image2",
    }
}

/// The encoder's name for logs and stats.
pub(crate) fn encoder_name(config: &EncoderConfig) -> String {
    let q = config.quality;
    match (config.format, config.alpha) {
        (OutputFormat::Mov, true) => "ProRes 4444 with alpha (ffmpeg prores_ks)".into(),
        (OutputFormat::Webm, alpha) => {
            let (crf, speed) = vp9_settings(q);
            let alpha = if alpha { ", yuva420p" } else { "" };
            format!("libvpx-vp9 (ffmpeg, crf {crf}, cpu-used {speed}{alpha})")
        }
        (OutputFormat::Hevc, _) => {
            let (crf, preset) = x265_settings(q);
            format!("x265 (ffmpeg, preset {preset}, crf {crf})")
        }
        (OutputFormat::Gif, _) => match config.gif {
            Some(g) => format!(
                "GIF (ffmpeg palettegen + paletteuse, {}x{} at {} fps)",
                g.width, g.height, g.fps
            ),
            None => "GIF (ffmpeg palettegen + paletteuse)".into(),
        },
        (OutputFormat::Png, alpha) => {
            format!("PNG sequence ({}, zip)", if alpha { "RGBA" } else { "RGB" })
        }
        _ => format!("x264 (ffmpeg, preset {}, crf {})", q.x264_preset(), q.crf()),
    }
}

/// Packs the PNG frames of `dir` (sorted by name) into a ZIP at `output`, stored uncompressed (PNG is
/// compressed already).
pub(crate) fn zip_sequence(dir: &Path, output: &Path) -> Result<u64, String> {
    use std::io::Write;
    let mut names: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| format!("reading {}: {e}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "png"))
        .collect();
    names.sort();
    let file =
        std::fs::File::create(output).map_err(|e| format!("creating {}: {e}", output.display()))?;
    let mut zip = zip::ZipWriter::new(std::io::BufWriter::new(file));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Stored)
        .large_file(false);
    for path in &names {
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let data = std::fs::read(path).map_err(|e| format!("reading {}: {e}", path.display()))?;
        zip.start_file(name, options)
            .map_err(|e| format!("zip: {e}"))?;
        zip.write_all(&data).map_err(|e| format!("zip: {e}"))?;
    }
    zip.finish()
        .map_err(|e| format!("zip: {e}"))?
        .flush()
        .map_err(|e| format!("zip: {e}"))?;
    Ok(names.len() as u64)
}
