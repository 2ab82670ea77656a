//! The `ffmpeg` and `ffprobe` binaries the engine runs ([`MediaTools`]), where they are found, and
//! what their children leave on stderr ([`StderrTail`], [`output_write_error`]).

use std::path::{Path, PathBuf};

/// The ffmpeg binary to use: `explicit`, else `FFMPEG` from the environment, else `ffmpeg` on PATH.
pub fn ffmpeg_path(explicit: Option<&Path>) -> PathBuf {
    explicit
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("FFMPEG").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("ffmpeg"))
}

/// The error ffmpeg logged when the end of its output could not be written, if it did. ffmpeg (5.1)
/// exits 0 when writing the trailer or flushing the last buffered bytes fails (a disk that filled
/// just then), leaving a truncated file that does not play: this line is the only sign.
pub(crate) fn output_write_error<'a>(log: impl IntoIterator<Item = &'a str>) -> Option<String> {
    log.into_iter()
        .map(str::trim)
        .find(|l| l.starts_with("Error writing trailer") || l.starts_with("Error closing file"))
        .map(String::from)
}

/// The `ffprobe` that belongs to `ffmpeg` (the engine's configured binary, see
/// [`ffmpeg_path`]): the `ffprobe` in the same folder when `ffmpeg` is a path with a
/// folder and that file exists, otherwise `ffprobe` on `PATH` (or `$FFPROBE` when set).
pub fn ffprobe_path(ffmpeg: Option<&Path>) -> PathBuf {
    if let Some(p) = std::env::var_os("FFPROBE") {
        return PathBuf::from(p);
    }
    let ffmpeg = ffmpeg_path(ffmpeg);
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
            ffmpeg: ffmpeg_path(ffmpeg),
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
