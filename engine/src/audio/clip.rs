//! The sound of video layers: each unmuted video layer whose clip has audio becomes a mixer track,
//! decoded by an `ffmpeg` child (48 kHz stereo `f32`, streamed, never whole in memory).
//!
//! Timing follows the picture ([`crate::video::timing`]): the layer sounds from its composition's
//! start on the timeline plus the layer's `start`, until [`crate::video::clip_end`] (capped at the
//! composition's end). It plays the source span `[trimStart, trimEnd)` at `speed`, repeated back to
//! back with `loop`; each repeat is cut or padded to its exact length so loops never drift.
//! `speed ≠ 1` goes through ffmpeg's `atempo` (chained twice below 0.5), which keeps the pitch.
//! `volume` and the linear `fadeIn`/`fadeOut` work as for audio tracks.

use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};

use super::{secs_to_frames, AudioError, Track, SAMPLE_RATE};
use crate::media::{ClipInfo, MediaIndex, StderrTail};
use crate::project::{LayerKind, Project};
use crate::timeline::Timeline;
use crate::video::{self, ClipTiming};

/// One video layer's sound.
pub(crate) struct ClipAudio {
    ffmpeg: PathBuf,
    file: PathBuf,
    /// `frames[i].layers[j].src` and the source as written, for errors.
    path: String,
    src: String,
    /// Seconds from the container start to the clip's first video frame.
    start_offset: f64,
    /// Source span in clip seconds.
    span: (f64, f64),
    speed: f64,
    looped: bool,
    /// A mono source: put into both channels at unity, as audio tracks and editors do (ffmpeg's
    /// own `-ac 2` upmix would lower it by 3 dB, its centre-channel gain).
    mono: bool,
    /// Output frames of one pass (fractional; passes start at `round(k · pass_len)`).
    pass_len: f64,
    pass: u64,
    /// Frames delivered in the current pass.
    pass_pos: u64,
    child: Option<AudioChild>,
    ended: bool,
    warned_short: bool,
    bytes: Vec<u8>,
}

struct AudioChild {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: StderrTail,
    eof: bool,
}

impl Drop for AudioChild {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `atempo` filters for `speed` (each stage is limited to 0.5..=100 in ffmpeg 5).
fn atempo_chain(speed: f64) -> Vec<String> {
    let mut v = Vec::new();
    let mut s = speed;
    while s < 0.5 - 1e-12 {
        v.push("atempo=0.5".to_string());
        s /= 0.5;
    }
    if (s - 1.0).abs() > 1e-9 {
        v.push(format!("atempo={s:.9}"));
    }
    v
}

impl ClipAudio {
    fn error(&self, message: String) -> AudioError {
        AudioError::Corrupt {
            path: self.path.clone(),
            src: self.src.clone(),
            reason: message,
        }
    }

    fn pass_frames(&self, k: u64) -> u64 {
        let at = |k: u64| (k as f64 * self.pass_len).round() as u64;
        at(k + 1) - at(k)
    }

    fn spawn(&self) -> Result<AudioChild, AudioError> {
        let (a, b) = self.span;
        let mut cmd = Command::new(&self.ffmpeg);
        cmd.args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]);
        let at = self.start_offset + a;
        if at > 0.0 {
            cmd.args(["-ss", &format!("{at:.6}")]);
        }
        cmd.args(["-t", &format!("{:.6}", b - a)]);
        cmd.arg("-i").arg(&self.file);
        // Pad a late-starting stream with silence so that output time 0 is the seek point.
        let mut filters = Vec::new();
        if self.mono {
            filters.push("pan=stereo|c0=c0|c1=c0".to_string());
        }
        filters.push("aresample=async=1:first_pts=0".to_string());
        filters.extend(atempo_chain(self.speed));
        cmd.args([
            "-map",
            "0:a:0",
            "-vn",
            "-sn",
            "-dn",
            "-af",
            &filters.join(","),
        ]);
        cmd.args([
            "-f",
            "f32le",
            "-ac",
            "2",
            "-ar",
            &SAMPLE_RATE.to_string(),
            "pipe:1",
        ]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().map_err(|e| AudioError::Track {
            path: self.path.clone(),
            message: format!("cannot run {}: {e}", self.ffmpeg.display()),
        })?;
        let stderr = StderrTail::spawn(child.stderr.take());
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(self.error("ffmpeg has no output pipe".into()));
        };
        Ok(AudioChild {
            child,
            stdout: BufReader::with_capacity(1 << 16, stdout),
            stderr,
            eof: false,
        })
    }

    /// Fills `l` and `r` (same length) with the next frames; silence after the last pass.
    pub(crate) fn pull(&mut self, l: &mut [f32], r: &mut [f32]) -> Result<(), AudioError> {
        let mut done = 0;
        while done < l.len() {
            if self.ended {
                l[done..].fill(0.0);
                r[done..].fill(0.0);
                return Ok(());
            }
            let pass_frames = self.pass_frames(self.pass);
            if self.pass_pos >= pass_frames {
                self.child = None;
                if !self.looped {
                    self.ended = true;
                    continue;
                }
                self.pass += 1;
                self.pass_pos = 0;
                continue;
            }
            if self.child.is_none() {
                self.child = Some(self.spawn()?);
            }
            let want = (l.len() - done).min((pass_frames - self.pass_pos) as usize);
            let got = self.read(&mut l[done..done + want], &mut r[done..done + want])?;
            self.pass_pos += got as u64;
            done += got;
        }
        Ok(())
    }

    /// Reads up to `l.len()` frames of the current pass; pads with silence once ffmpeg is done.
    fn read(&mut self, l: &mut [f32], r: &mut [f32]) -> Result<usize, AudioError> {
        let n = l.len();
        let Some(c) = self.child.as_mut() else {
            return Ok(0);
        };
        let mut frames = 0;
        if !c.eof {
            self.bytes.resize(n * 8, 0);
            let mut filled = 0;
            while filled < n * 8 {
                match c.stdout.read(&mut self.bytes[filled..n * 8]) {
                    Ok(0) => {
                        c.eof = true;
                        break;
                    }
                    Ok(k) => filled += k,
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(self.error(format!("reading decoded audio: {e}"))),
                }
            }
            frames = filled / 8;
            for (i, f) in self.bytes[..frames * 8].chunks_exact(8).enumerate() {
                l[i] = f32::from_le_bytes([f[0], f[1], f[2], f[3]]);
                r[i] = f32::from_le_bytes([f[4], f[5], f[6], f[7]]);
            }
            if c.eof {
                let status = c.child.wait().map_err(|e| self.error(e.to_string()))?;
                let Some(c) = self.child.as_mut() else {
                    return Ok(frames);
                };
                if !status.success() {
                    let tail = c.stderr.finish();
                    return Err(
                        self.error(format!("ffmpeg failed decoding the clip's audio: {tail}"))
                    );
                }
            }
        }
        if frames < n {
            // The source's audio ends before the span does (shorter than the picture): silence.
            if !self.warned_short && n - frames > 2 {
                tracing::debug!(layer = %self.path, "clip audio ends before the span; padding with silence");
                self.warned_short = true;
            }
            l[frames..].fill(0.0);
            r[frames..].fill(0.0);
        }
        Ok(n)
    }
}

/// Mixer tracks for the sound of every unmuted video layer of `project` whose clip has audio (clips
/// as `media` knows them). `total_frames` is the output length in 48 kHz frames.
pub(super) fn clip_tracks(
    project: &Project,
    timeline: &Timeline,
    media: &MediaIndex,
    total_frames: u64,
) -> Result<Vec<Track>, AudioError> {
    let mut tracks = Vec::new();
    for (ci, comp) in project.frames.iter().enumerate() {
        let comp_start = timeline.composition_start(ci).unwrap_or(0.0);
        let comp_dur = comp.duration_at(project.frame_rate);
        for (li, layer) in comp.layers.iter().enumerate() {
            if layer.kind != LayerKind::Video || layer.muted() {
                continue;
            }
            let path = format!("frames[{ci}].layers[{li}].src");
            let src = layer.src.clone().unwrap_or_default();
            let file = media.resolve(&src).map_err(|source| AudioError::Asset {
                path: path.clone(),
                source,
            })?;
            let info = media.clip(&file).map_err(|e| AudioError::Track {
                path: path.clone(),
                message: e.to_asset_error(&src).to_string(),
            })?;
            if !info.has_audio {
                continue;
            }
            if let Some(t) = prepare(
                &media.tools().ffmpeg,
                &file,
                &info,
                layer,
                (path, src),
                comp_start,
                comp_dur,
                total_frames,
            ) {
                tracks.push(t);
            }
        }
    }
    Ok(tracks)
}

#[allow(clippy::too_many_arguments)]
fn prepare(
    ffmpeg: &Path,
    file: &Path,
    info: &ClipInfo,
    layer: &crate::project::Layer,
    (path, src): (String, String),
    comp_start: f64,
    comp_dur: f64,
    total_frames: u64,
) -> Option<Track> {
    let timing = ClipTiming::of_layer(layer);
    let layer_start = layer.start.unwrap_or(0.0).max(0.0);
    let local_end = video::clip_end(layer, info)
        .unwrap_or(comp_dur)
        .min(comp_dur);
    let start = secs_to_frames(comp_start + layer_start, SAMPLE_RATE);
    let end = secs_to_frames(comp_start + local_end, SAMPLE_RATE).min(total_frames);
    if start >= end {
        return None;
    }
    let span = timing.span(info.duration);
    let speed = layer.speed();
    let pass_len = (span.1 - span.0) / speed * f64::from(SAMPLE_RATE);
    if pass_len < 1.0 {
        return None;
    }
    tracing::debug!(layer = %path, file = %file.display(), ?span, speed, timeline = ?(start, end), "clip audio prepared");
    let stream = ClipAudio {
        ffmpeg: ffmpeg.to_path_buf(),
        file: file.to_path_buf(),
        path,
        src,
        start_offset: info.start_offset,
        span,
        speed,
        looped: timing.looped,
        mono: info.audio_channels == Some(1),
        pass_len,
        pass: 0,
        pass_pos: 0,
        child: None,
        ended: false,
        warned_short: false,
        bytes: Vec::new(),
    };
    Some(Track {
        stream: super::Stream::Clip(Box::new(stream)),
        start,
        end,
        volume: layer.volume() as f32,
        fade_in: layer.fade_in().max(0.0) * f64::from(SAMPLE_RATE),
        fade_out: layer.fade_out().max(0.0) * f64::from(SAMPLE_RATE),
    })
}

#[cfg(test)]
mod tests {
    use super::atempo_chain;

    #[test]
    fn atempo_stages_stay_in_range() {
        assert!(atempo_chain(1.0).is_empty());
        for speed in [0.25, 0.3, 0.5, 0.75, 1.5, 2.0, 4.0] {
            let stages: Vec<f64> = atempo_chain(speed)
                .iter()
                .map(|s| s.trim_start_matches("atempo=").parse().unwrap())
                .collect();
            assert!(
                stages.iter().all(|s| (0.5..=100.0).contains(s)),
                "{stages:?}"
            );
            let product: f64 = stages.iter().product();
            assert!((product - speed).abs() < 1e-6, "{speed}: {stages:?}");
        }
        assert_eq!(atempo_chain(0.25).len(), 2);
        assert_eq!(atempo_chain(4.0).len(), 1);
    }
}
