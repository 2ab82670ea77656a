//! `ffprobe` a video file: display size, rate, duration, alpha, audio, colour tags and the
//! presentation time of every frame (from packet timestamps, without decoding).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

use super::VideoError;

/// What [`probe`] learns about a clip. Times are seconds from the clip's first video frame.
#[derive(Debug, Clone, PartialEq)]
pub struct ClipInfo {
    /// Display size: after rotation metadata and the sample aspect ratio (width is stretched or
    /// squeezed so pixels come out square, height kept).
    pub width: u32,
    pub height: u32,
    /// Stored picture size, before rotation and aspect correction.
    pub coded_width: u32,
    pub coded_height: u32,
    /// From the first frame to the end of the last one.
    pub duration: f64,
    /// Average frames per second (frames / duration; the stream's nominal rate as a fallback).
    pub frame_rate: f64,
    pub has_alpha: bool,
    pub has_audio: bool,
    /// Channels of the first audio stream (the one a clip's sound is taken from), when known.
    pub audio_channels: Option<u32>,
    /// ffmpeg's codec name (`h264`, `vp9`, `prores`, `gif`, ...).
    pub codec: String,
    /// ffmpeg's pixel format name of the decoded stream (`yuv420p`, `yuva444p10le`, `pal8`, ...).
    pub pix_fmt: String,
    /// Presentation time of every video frame in display order, from 0 (the first frame).
    pub frame_times: Vec<f64>,
    /// Display rotation in degrees (0, 90, 180 or 270) from the file's metadata; ffmpeg applies it
    /// while decoding, and `width`/`height` are already swapped for 90 and 270.
    pub rotation: u32,
    /// ffprobe's `color_space` and `color_range` tags (empty when absent).
    pub color_space: String,
    pub color_range: String,
    /// Seconds from the container's start time to the first video frame: seeks (`-ss`) count from
    /// the container start, `frame_times` from the first frame.
    pub start_offset: f64,
    /// Alpha stored as VP8/VP9 side data (WebM `alpha_mode=1`): needs the libvpx decoder.
    pub vpx_alpha: bool,
}

/// How often this process has run `ffprobe` on a file, and decoded its first frame to check it
/// ([`check_decodes`]): tests count the media work of one render with it (per file, so renders of
/// other files in the same process do not disturb the count).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MediaRuns {
    /// `ffprobe` processes run (one [`probe`] runs two: streams and packets).
    pub ffprobe: u64,
    /// `ffmpeg` first-frame test decodes run.
    pub test_decodes: u64,
}

static RUNS: Mutex<Option<HashMap<PathBuf, MediaRuns>>> = Mutex::new(None);

fn count(file: &Path, add: impl FnOnce(&mut MediaRuns)) {
    let mut runs = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    add(runs
        .get_or_insert_with(HashMap::new)
        .entry(file.to_path_buf())
        .or_default());
}

/// The runs of `ffprobe` and test decodes on `file` (as the engine named it: a resolved path) so far.
pub fn media_runs(file: &Path) -> MediaRuns {
    let runs = RUNS.lock().unwrap_or_else(|e| e.into_inner());
    runs.as_ref()
        .and_then(|r| r.get(file).copied())
        .unwrap_or_default()
}

/// Probes `file` with `ffprobe`: one call for streams and container, one for the video packets'
/// timestamps. Errors name the file.
pub fn probe(ffprobe: &Path, file: &Path) -> Result<ClipInfo, VideoError> {
    let name = file.display().to_string();
    let unsupported = |reason: String| VideoError::Unsupported {
        file: name.clone(),
        reason,
    };
    let corrupt = |reason: String| VideoError::Corrupt {
        file: name.clone(),
        reason,
    };
    let meta = file
        .metadata()
        .map_err(|e| unsupported(format!("cannot read the file: {e}")))?;
    if !meta.is_file() {
        return Err(unsupported("not a regular file".into()));
    }
    if meta.len() == 0 {
        return Err(corrupt("the file is empty".into()));
    }
    let json = run(
        ffprobe,
        &[
            "-v",
            "error",
            "-print_format",
            "json",
            "-show_streams",
            "-show_format",
        ],
        file,
    )
    .map_err(|e| match e {
        RunError::Spawn(s) => s,
        RunError::Failed(reason) => unsupported(format!("ffprobe cannot read it ({reason})")),
    })?;
    let root: Value = serde_json::from_str(&json)
        .map_err(|e| unsupported(format!("unexpected ffprobe output: {e}")))?;
    let streams = root["streams"].as_array().cloned().unwrap_or_default();
    let has_audio = streams.iter().any(|s| s["codec_type"] == "audio");
    let audio_channels = streams
        .iter()
        .find(|s| s["codec_type"] == "audio")
        .and_then(|s| s["channels"].as_u64())
        .and_then(|c| u32::try_from(c).ok());
    let video = streams
        .iter()
        .find(|s| s["codec_type"] == "video" && s["disposition"]["attached_pic"] != 1)
        .ok_or_else(|| unsupported("the file has no video stream".into()))?;
    let codec = video["codec_name"].as_str().unwrap_or("").to_string();
    if codec.is_empty() || codec == "none" {
        return Err(unsupported(
            "the video codec is unknown to the installed ffmpeg".into(),
        ));
    }
    let pix_fmt = video["pix_fmt"].as_str().unwrap_or("").to_string();
    let coded_width = video["width"].as_u64().unwrap_or(0) as u32;
    let coded_height = video["height"].as_u64().unwrap_or(0) as u32;
    if coded_width == 0 || coded_height == 0 {
        return Err(corrupt("the video stream has no picture size".into()));
    }
    let rotation = rotation_of(video);
    let (mut width, mut height) = (coded_width, coded_height);
    if let Some((n, d)) = ratio(video["sample_aspect_ratio"].as_str()) {
        if n > 0 && d > 0 && n != d {
            width = ((f64::from(width) * n as f64 / d as f64).round() as u32).max(1);
        }
    }
    if rotation % 180 == 90 {
        std::mem::swap(&mut width, &mut height);
    }
    let tags = &video["tags"];
    let vpx_alpha = matches!(codec.as_str(), "vp8" | "vp9")
        && (tags["alpha_mode"] == "1" || tags["ALPHA_MODE"] == "1");
    let has_alpha = vpx_alpha || pix_fmt_has_alpha(&pix_fmt);
    let index = video["index"].as_u64().unwrap_or(0);
    let format_start = number(&root["format"]["start_time"]).unwrap_or(0.0);

    let (frame_times, first, last_duration, packets) = packet_times(ffprobe, file, index, &name)?;
    if frame_times.is_empty() {
        return Err(corrupt("the video stream holds no frames".into()));
    }
    if let Some(declared) = number(&video["nb_frames"]).map(|n| n as usize) {
        if packets < declared {
            return Err(corrupt(format!(
                "truncated: the header lists {declared} frames but only {packets} are in the file"
            )));
        }
    }
    let nominal = ratio(video["avg_frame_rate"].as_str())
        .or_else(|| ratio(video["r_frame_rate"].as_str()))
        .filter(|&(n, d)| n > 0 && d > 0)
        .map(|(n, d)| n as f64 / d as f64);
    let last = *frame_times.last().unwrap_or(&0.0);
    let step = last_duration
        .filter(|d| *d > 0.0)
        .or_else(|| (frame_times.len() > 1).then(|| last / (frame_times.len() - 1) as f64))
        .or(nominal.map(|r| 1.0 / r))
        .unwrap_or(0.04);
    let duration = last + step;
    if !(duration.is_finite() && duration > 0.0) {
        return Err(corrupt("the video lasts no time".into()));
    }
    let frame_rate = if frame_times.len() > 1 {
        frame_times.len() as f64 / duration
    } else {
        nominal.unwrap_or(1.0 / duration)
    };
    Ok(ClipInfo {
        width,
        height,
        coded_width,
        coded_height,
        duration,
        frame_rate,
        has_alpha,
        has_audio,
        audio_channels,
        codec,
        pix_fmt,
        frame_times,
        rotation,
        color_space: video["color_space"].as_str().unwrap_or("").to_string(),
        color_range: video["color_range"].as_str().unwrap_or("").to_string(),
        start_offset: (first - format_start).max(0.0),
        vpx_alpha,
    })
}

/// Decodes the first frame of `file` with `ffmpeg` (as the video player would): fails when the
/// installed ffmpeg has no decoder for the codec or the first frame is broken.
pub fn check_decodes(ffmpeg: &Path, file: &Path, info: &ClipInfo) -> Result<(), VideoError> {
    count(file, |r| r.test_decodes += 1);
    let mut cmd = Command::new(ffmpeg);
    cmd.args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]);
    if info.vpx_alpha {
        cmd.args([
            "-c:v",
            if info.codec == "vp8" {
                "libvpx"
            } else {
                "libvpx-vp9"
            },
        ]);
    }
    cmd.arg("-i").arg(file);
    cmd.args(["-map", "0:v:0", "-frames:v", "1", "-f", "null", "-"]);
    let out = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .output()
        .map_err(|e| VideoError::Spawn {
            program: ffmpeg.display().to_string(),
            reason: e.to_string(),
        })?;
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().rfind(|l| !l.trim().is_empty()).map(|l| {
        l.replace(&format!("{}: ", file.display()), "")
            .replace(&file.display().to_string(), "the file")
    });
    if !out.status.success() {
        let reason = last.unwrap_or_else(|| format!("ffmpeg exited with {}", out.status));
        let unsupported = reason.contains("Decoder") || reason.contains("decoder");
        let file = file.display().to_string();
        return Err(if unsupported {
            VideoError::Unsupported {
                file,
                reason: format!(
                    "the installed ffmpeg cannot decode {} ({reason})",
                    info.codec
                ),
            }
        } else {
            VideoError::Corrupt { file, reason }
        });
    }
    Ok(())
}

/// Sorted presentation times of the stream's packets relative to the first, the first absolute
/// time, the last packet's duration, and the number of packets read. Packets the demuxer marks as discarded (before an edit
/// list's start) are left out: the decoder drops their frames too.
fn packet_times(
    ffprobe: &Path,
    file: &Path,
    index: u64,
    name: &str,
) -> Result<(Vec<f64>, f64, Option<f64>, usize), VideoError> {
    let select = index.to_string();
    let csv = run(
        ffprobe,
        &[
            "-v",
            "error",
            "-select_streams",
            &select,
            "-show_entries",
            "packet=pts_time,dts_time,duration_time,flags",
            "-of",
            "csv=p=0",
        ],
        file,
    )
    .map_err(|e| match e {
        RunError::Spawn(s) => s,
        RunError::Failed(reason) => VideoError::Corrupt {
            file: name.to_string(),
            reason: format!("reading the video packets failed ({reason})"),
        },
    })?;
    let mut times: Vec<(f64, Option<f64>)> = Vec::new();
    let mut packets = 0;
    for line in csv.lines() {
        let f: Vec<&str> = line.split(',').collect();
        if f.len() < 4 {
            continue;
        }
        packets += 1;
        if f[3].contains('D') {
            continue;
        }
        let t = f[0].parse::<f64>().ok().or_else(|| f[1].parse().ok());
        if let Some(t) = t.filter(|t| t.is_finite()) {
            times.push((t, f[2].parse().ok()));
        }
    }
    times.sort_by(|a, b| a.0.total_cmp(&b.0));
    times.dedup_by(|a, b| (a.0 - b.0).abs() < 1e-9);
    let Some(&(first, _)) = times.first() else {
        return Ok((Vec::new(), 0.0, None, packets));
    };
    let last_duration = times.last().and_then(|t| t.1);
    Ok((
        times.iter().map(|(t, _)| t - first).collect(),
        first,
        last_duration,
        packets,
    ))
}

enum RunError {
    Spawn(VideoError),
    Failed(String),
}

fn run(ffprobe: &Path, args: &[&str], file: &Path) -> Result<String, RunError> {
    count(file, |r| r.ffprobe += 1);
    let out = Command::new(ffprobe)
        .args(args)
        .arg("-i")
        .arg(file)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| {
            RunError::Spawn(VideoError::Spawn {
                program: ffprobe.display().to_string(),
                reason: e.to_string(),
            })
        })?;
    if !out.status.success() {
        let err = String::from_utf8_lossy(&out.stderr);
        let msg = err
            .lines()
            .rfind(|l| !l.trim().is_empty())
            .unwrap_or("no details")
            .replace(&format!("{}: ", file.display()), "")
            .replace(&file.display().to_string(), "the file");
        return Err(RunError::Failed(msg.trim().to_string()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn number(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        .filter(|x: &f64| x.is_finite())
}

fn ratio(s: Option<&str>) -> Option<(u64, u64)> {
    let (a, b) = s?.split_once([':', '/'])?;
    Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
}

/// Display rotation from the display matrix side data or the legacy `rotate` tag, in 0..360.
fn rotation_of(video: &Value) -> u32 {
    let from_matrix = video["side_data_list"].as_array().and_then(|list| {
        list.iter()
            .find_map(|sd| number(&sd["rotation"]).map(|r| -r))
    });
    let deg = from_matrix.or_else(|| number(&video["tags"]["rotate"]));
    deg.map_or(0, |d| {
        (((d / 90.0).round() as i64 * 90).rem_euclid(360)) as u32
    })
}

/// Whether ffmpeg's pixel format carries alpha (or may, for palettes).
pub(crate) fn pix_fmt_has_alpha(pix_fmt: &str) -> bool {
    pix_fmt == "pal8"
        || pix_fmt.starts_with("yuva")
        || pix_fmt.starts_with("rgba")
        || pix_fmt.starts_with("bgra")
        || pix_fmt.starts_with("argb")
        || pix_fmt.starts_with("abgr")
        || pix_fmt.starts_with("gbrap")
        || pix_fmt.starts_with("ya")
        || pix_fmt.starts_with("rgba64")
}
