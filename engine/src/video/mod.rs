//! Video clips as layer content: probing files ([`probe`]), mapping layer time to source frames
//! ([`timing`]), streaming decoded frames out of an `ffmpeg` child ([`ClipPlayer`]) and the clip's
//! sound ([`audio`], mixed by [`crate::audio::AudioMixer`]).
//!
//! Everything goes through the installed `ffmpeg`/`ffprobe` binaries: whatever codecs they decode
//! can be used. Frames come out as 8-bit planar YUV 4:2:0 (plus an alpha plane for clips with
//! alpha); the compositor converts them to RGB on the GPU.

mod player;
mod probe;
pub mod timing;

use std::path::{Path, PathBuf};

pub use player::{ClipPlayer, VideoFrame, YuvMatrix};
pub use probe::{check_decodes, media_runs, probe, ClipInfo, MediaRuns};
pub use timing::{clip_end, ClipTiming};

use crate::error::AssetError;

/// Largest side of a video we decode, in pixels (after rotation), unless
/// [`crate::Limits::max_video_side`] says otherwise.
pub const MAX_VIDEO_SIDE: u32 = 7680;

/// A video file could not be used. Every message names the file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VideoError {
    /// `ffmpeg`/`ffprobe` could not be started.
    #[error("cannot run {program}: {reason}")]
    Spawn { program: String, reason: String },
    /// The file is not a video we can read (probe failed, no video stream, unknown codec).
    #[error("`{file}`: not a usable video: {reason}")]
    Unsupported { file: String, reason: String },
    /// The file is a video but its contents are broken (no frames, truncated, decode failure).
    #[error("`{file}`: cannot decode video: {reason}")]
    Corrupt { file: String, reason: String },
    /// Reading the decoder's output failed.
    #[error("`{file}`: {reason}")]
    Io { file: String, reason: String },
}

impl VideoError {
    /// The file (or program) the error is about.
    pub fn file(&self) -> &str {
        match self {
            VideoError::Spawn { program, .. } => program,
            VideoError::Unsupported { file, .. }
            | VideoError::Corrupt { file, .. }
            | VideoError::Io { file, .. } => file,
        }
    }

    /// The reason alone, without the file name.
    pub fn reason(&self) -> String {
        match self {
            VideoError::Spawn { program, reason } => format!("cannot run {program}: {reason}"),
            VideoError::Unsupported { reason, .. } => reason.clone(),
            VideoError::Corrupt { reason, .. } => reason.clone(),
            VideoError::Io { reason, .. } => reason.clone(),
        }
    }

    /// As the engine's asset error for the project source `src`, so that a render reports
    /// `frames[i].layers[j].src: `clip.mp4`: cannot decode video: ...` like images do
    /// (wrap it in [`crate::RenderError::Asset`] with the layer's `src` path).
    pub fn to_asset_error(&self, src: &str) -> AssetError {
        AssetError::Corrupt {
            src: src.to_string(),
            what: "video",
            reason: self.reason(),
        }
    }

    /// [`crate::RenderError::Asset`] at JSON path `path` (`frames[i].layers[j].src`).
    pub fn into_render_error(self, path: &str, src: &str) -> crate::RenderError {
        crate::RenderError::Asset {
            path: path.to_string(),
            source: self.to_asset_error(src),
        }
    }
}

/// The `ffprobe` that belongs to `ffmpeg` (the engine's configured binary, see
/// [`crate::encoder::ffmpeg_path`]): the `ffprobe` in the same folder when `ffmpeg` is a path with a
/// folder and that file exists, otherwise `ffprobe` on `PATH` (or `$FFPROBE` when set).
pub fn ffprobe_path(ffmpeg: Option<&Path>) -> PathBuf {
    if let Some(p) = std::env::var_os("FFPROBE") {
        return PathBuf::from(p);
    }
    let ffmpeg = crate::encoder::ffmpeg_path(ffmpeg);
    if let Some(dir) = ffmpeg.parent().filter(|d| !d.as_os_str().is_empty()) {
        let name = match ffmpeg.extension() {
            Some(ext) => format!("ffprobe.{}", ext.to_string_lossy()),
            None => "ffprobe".to_string(),
        };
        let candidate = dir.join(name);
        if candidate.is_file() {
            return candidate;
        }
    }
    PathBuf::from("ffprobe")
}

/// The `ffmpeg` and `ffprobe` binaries used to read clips.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaTools {
    pub ffmpeg: PathBuf,
    pub ffprobe: PathBuf,
}

impl MediaTools {
    /// The engine's configured `ffmpeg` (None: `$FFMPEG` or `ffmpeg` on PATH) and its `ffprobe`
    /// ([`ffprobe_path`]).
    pub fn for_ffmpeg(ffmpeg: Option<&Path>) -> MediaTools {
        MediaTools {
            ffmpeg: crate::encoder::ffmpeg_path(ffmpeg),
            ffprobe: ffprobe_path(ffmpeg),
        }
    }
}

impl Default for MediaTools {
    fn default() -> Self {
        MediaTools::for_ffmpeg(None)
    }
}

/// Keeps the last lines a child writes to stderr (drained on a thread so the child never blocks).
pub(crate) struct StderrTail {
    handle: Option<std::thread::JoinHandle<String>>,
}

impl StderrTail {
    pub(crate) fn spawn(stderr: Option<std::process::ChildStderr>) -> StderrTail {
        let handle = stderr.map(|mut s| {
            std::thread::spawn(move || {
                use std::io::Read;
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while let Ok(n) = s.read(&mut chunk) {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.len() > 16_384 {
                        buf.drain(..buf.len() - 8192);
                    }
                }
                let text = String::from_utf8_lossy(&buf);
                let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                lines[lines.len().saturating_sub(3)..].join(" / ")
            })
        });
        StderrTail { handle }
    }

    /// The last few lines, once the child has closed stderr.
    pub(crate) fn finish(&mut self) -> String {
        self.handle
            .take()
            .and_then(|h| h.join().ok())
            .unwrap_or_default()
    }
}
