//! Joins video-only chunks into one container without re-encoding and muxes the audio.
//!
//! The chunks come from [`crate::Engine::render_chunk`]: each was encoded by a fresh encoder with
//! the same settings, so each starts on a keyframe and their stream parameters match; ffmpeg's concat
//! demuxer can then copy the packets (`-c:v copy`). Every entry of the list carries its exact
//! duration (`frames / fps`) so the timestamps of chunk *n+1* start where chunk *n* ends, whatever
//! the chunk containers report. The audio is mixed once for the whole length and streamed in through
//! the same FIFO as a normal render ([`super::ffmpeg`]'s audio pump).

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::Duration;

use super::ffmpeg::AudioPump;
use super::{AudioSource, EncoderError};
use crate::project::OutputFormat;

/// One chunk file and how many frames it holds.
#[derive(Debug, Clone)]
pub struct ChunkFile {
    pub path: PathBuf,
    pub frames: u64,
}

/// What [`concat`] joins and where it writes.
pub struct ConcatConfig {
    /// In timeline order.
    pub chunks: Vec<ChunkFile>,
    pub frame_rate: f64,
    pub format: OutputFormat,
    pub output: PathBuf,
    pub ffmpeg: PathBuf,
    /// Audio for the whole length, if any.
    pub audio: Option<Box<dyn AudioSource>>,
    /// Add a silent stereo track when `audio` is `None`.
    pub silent_audio: bool,
    /// MP4/MOV: `+faststart` (index moved to the front at the end).
    pub faststart: bool,
}

/// A concat-demuxer list line value: single-quoted, with `'` written as `'\''`.
fn quote(path: &std::path::Path) -> String {
    format!("'{}'", path.to_string_lossy().replace('\'', r"'\''"))
}

/// The concat demuxer's list file for `chunks`.
pub(crate) fn list_file(chunks: &[ChunkFile], frame_rate: f64) -> String {
    let mut s = String::from("ffconcat version 1.0\n");
    for c in chunks {
        s.push_str(&format!("file {}\n", quote(&c.path)));
        s.push_str(&format!("duration {:.9}\n", c.frames as f64 / frame_rate));
    }
    s
}

/// Joins `config.chunks` into `config.output`; `cancelled` is polled while ffmpeg runs. The partial
/// output is removed on error or cancel (reported as `Ok(false)`).
pub fn concat(
    mut config: ConcatConfig,
    cancelled: &dyn Fn() -> bool,
) -> Result<bool, EncoderError> {
    if config.chunks.is_empty() {
        return Err(EncoderError::Failed("no chunks to join".into()));
    }
    super::ffmpeg_version(&config.ffmpeg)?;
    let parent = config
        .output
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(std::path::Path::new("."))
        .to_path_buf();
    // Absolute paths: the demuxer resolves relative ones against the list file's folder.
    let chunks: Vec<ChunkFile> = config
        .chunks
        .iter()
        .map(|c| ChunkFile {
            path: std::path::absolute(&c.path).unwrap_or_else(|_| c.path.clone()),
            frames: c.frames,
        })
        .collect();
    // Removed when dropped, whatever happens.
    let mut list_file_handle = tempfile::Builder::new()
        .prefix(".vrender-concat-")
        .suffix(".txt")
        .tempfile_in(&parent)
        .map_err(|e| EncoderError::Failed(format!("cannot create the concat list: {e}")))?;
    list_file_handle
        .write_all(list_file(&chunks, config.frame_rate).as_bytes())
        .and_then(|_| list_file_handle.flush())
        .map_err(|e| EncoderError::Failed(format!("cannot write the concat list: {e}")))?;
    let list = list_file_handle.path().to_path_buf();
    let mut audio = match config.audio.take() {
        Some(src) => Some(AudioPump::start(src, &config.output)?),
        None => None,
    };
    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-f",
        "concat",
        "-safe",
        "0",
        "-i",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(list.to_string_lossy().into_owned());
    let has_audio = if let Some(a) = &audio {
        args.extend(["-f", "f32le", "-ar", "48000", "-ac", "2", "-i"].map(String::from));
        args.push(a.fifo.to_string_lossy().into_owned());
        true
    } else if config.silent_audio {
        args.extend(["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"].map(String::from));
        true
    } else {
        false
    };
    args.extend(["-map", "0:v:0", "-c:v", "copy"].map(String::from));
    if config.format == OutputFormat::Hevc {
        // Stream copy keeps the codec but not the chunks' `hvc1` tag (ffmpeg's default is hev1).
        args.extend(["-tag:v", "hvc1"].map(String::from));
    }
    if has_audio {
        args.extend(["-map", "1:a:0"].map(String::from));
        match config.format {
            OutputFormat::Webm => {
                args.extend(["-c:a", "libopus", "-b:a", "128k"].map(String::from))
            }
            _ => args.extend(["-c:a", "aac", "-b:a", "192k"].map(String::from)),
        }
        args.push("-shortest".into());
    }
    if config.faststart
        && matches!(
            config.format,
            OutputFormat::Mp4 | OutputFormat::Mov | OutputFormat::Hevc
        )
    {
        args.extend(["-movflags", "+faststart"].map(String::from));
    }
    args.extend([
        "-f".to_string(),
        super::formats::muxer(config.format).into(),
    ]);
    args.push("-y".into());
    args.push(config.output.to_string_lossy().into_owned());
    tracing::debug!(?args, "joining chunks");
    let mut child = Command::new(&config.ffmpeg)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| EncoderError::FfmpegMissing(format!("{}: {e}", config.ffmpeg.display())))?;
    let mut stderr = child.stderr.take();
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_string(&mut text);
        }
        text
    });
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if cancelled() => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(None);
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(25)),
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(Some(format!("waiting for ffmpeg: {e}")));
            }
        }
    };
    let log = reader.join().unwrap_or_default();
    let audio_result = audio.as_mut().map(AudioPump::join);
    let fail = |output: &std::path::Path| {
        let _ = std::fs::remove_file(output);
    };
    match status {
        Err(None) => {
            fail(&config.output);
            Ok(false)
        }
        Err(Some(e)) => {
            fail(&config.output);
            Err(EncoderError::Failed(e))
        }
        Ok(s) if !s.success() => {
            fail(&config.output);
            let tail: Vec<&str> = log.lines().rev().take(5).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            Err(EncoderError::Failed(format!(
                "joining chunks failed ({s}): {}",
                if tail.is_empty() {
                    "no message".to_string()
                } else {
                    tail.join(" | ")
                }
            )))
        }
        Ok(_) => {
            if let Some(line) = crate::media::output_write_error(log.lines()) {
                fail(&config.output);
                return Err(EncoderError::Failed(format!(
                    "joining chunks: ffmpeg exited 0 but the output is incomplete: {line}"
                )));
            }
            if let Some(Err(e)) = audio_result {
                fail(&config.output);
                return Err(EncoderError::Audio(e));
            }
            Ok(true)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_quotes_paths_and_gives_exact_durations() {
        let list = list_file(
            &[
                ChunkFile {
                    path: "/tmp/a'b/0.mp4".into(),
                    frames: 300,
                },
                ChunkFile {
                    path: "/tmp/c/1.mp4".into(),
                    frames: 7,
                },
            ],
            30.0,
        );
        assert_eq!(
            list,
            "ffconcat version 1.0\nfile '/tmp/a'\\''b/0.mp4'\nduration 10.000000000\nfile '/tmp/c/1.mp4'\nduration 0.233333333\n"
        );
    }
}
