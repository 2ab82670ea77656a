//! Test media for the video tests, made by the real `ffmpeg`: clips whose frame *n* is a flat colour
//! that encodes *n* (luma `20 + 2·(n mod 100)`, Cb `64 + 32·⌊n/100⌋`), so a decoded frame's index can
//! be read back from its pixels.

#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use vrender_engine::video::{self, ClipInfo, VideoFrame};

pub const W: u32 = 64;
pub const H: u32 = 48;

/// Luma of frame `n` (`n` < 300).
pub fn luma_of(n: usize) -> u8 {
    (20 + 2 * (n % 100)) as u8
}

/// Cb of frame `n`.
pub fn cb_of(n: usize) -> u8 {
    (64 + 32 * (n / 100)) as u8
}

/// The frame index a decoded picture encodes (centre pixel, nearest code).
pub fn index_of(f: &VideoFrame) -> usize {
    let y = f.y[(f.height / 2 * f.width + f.width / 2) as usize];
    let cw = f.width.div_ceil(2);
    let u = f.u[(f.height.div_ceil(2) / 2 * cw + cw / 2) as usize];
    let low = ((f64::from(y) - 20.0) / 2.0).round().max(0.0) as usize;
    let high = ((f64::from(u) - 64.0) / 32.0).round().max(0.0) as usize;
    high * 100 + low
}

pub struct Media {
    pub dir: tempfile::TempDir,
}

impl Media {
    pub fn new() -> Media {
        Media {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `frames` raw 4:2:0 frames (64x48, luma `20 + 3n`, with alpha `alpha(n)` when given) piped
    /// into ffmpeg at `fps`, encoded with `args` (output options) into `name`.
    pub fn clip(
        &self,
        name: &str,
        frames: usize,
        fps: &str,
        alpha: Option<&dyn Fn(usize, u32) -> u8>,
        args: &[&str],
    ) -> PathBuf {
        let out = self.path(name);
        let pix = if alpha.is_some() {
            "yuva420p"
        } else {
            "yuv420p"
        };
        let size = format!("{W}x{H}");
        let mut child = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo"])
            .args(["-pix_fmt", pix, "-s", &size, "-r", fps, "-i", "pipe:0"])
            .args(args)
            .arg(&out)
            .stdin(Stdio::piped())
            .spawn()
            .expect("ffmpeg must be installed");
        let mut stdin = child.stdin.take().unwrap();
        let (luma, chroma) = ((W * H) as usize, (W * H / 4) as usize);
        for n in 0..frames {
            let mut buf = vec![luma_of(n); luma];
            buf.extend(std::iter::repeat_n(cb_of(n), chroma));
            buf.extend(std::iter::repeat_n(128u8, chroma));
            if let Some(a) = alpha {
                buf.extend((0..luma as u32).map(|i| a(n, i % W)));
            }
            stdin.write_all(&buf).unwrap();
        }
        drop(stdin);
        assert!(
            child.wait().unwrap().success(),
            "ffmpeg failed making {name}"
        );
        out
    }

    /// Lossless H.264 in MP4, `frames` frames at `fps`.
    pub fn h264(&self, name: &str, frames: usize, fps: &str, extra: &[&str]) -> PathBuf {
        let mut args = vec!["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p"];
        args.extend_from_slice(extra);
        self.clip(name, frames, fps, None, &args)
    }

    pub fn ffmpeg(&self, args: &[&str]) {
        let st = Command::new("ffmpeg")
            .args(["-hide_banner", "-loglevel", "error", "-y"])
            .args(args)
            .current_dir(self.dir.path())
            .status()
            .unwrap();
        assert!(st.success(), "ffmpeg {args:?} failed");
    }
}

pub fn probe(file: &Path) -> ClipInfo {
    video::probe(&video::ffprobe_path(None), file).unwrap()
}

pub fn ffmpeg_bin() -> PathBuf {
    vrender_engine::encoder::ffmpeg_path(None)
}

/// Whether a process still exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => false,
        Ok(stat) => {
            let state = stat.rsplit(')').next().unwrap_or("").trim_start();
            !state.starts_with('Z') && !state.starts_with('X')
        }
    }
}

/// Children of this test process whose command is ffmpeg and that read or write a file of `media`.
/// (The engine's tests share one process, so other tests' decoders and encoders run beside these.)
pub fn ffmpeg_children(media: &Media) -> Vec<u32> {
    let dir = media.dir.path().to_string_lossy().into_owned();
    let me = std::process::id();
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{me}/task")) else {
        return out;
    };
    for t in tasks.flatten() {
        if let Ok(c) = std::fs::read_to_string(t.path().join("children")) {
            for pid in c.split_whitespace().filter_map(|p| p.parse::<u32>().ok()) {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
                let mine = String::from_utf8_lossy(&cmdline).contains(dir.as_str());
                if comm.trim() == "ffmpeg" && mine && alive(pid) {
                    out.push(pid);
                }
            }
        }
    }
    out
}
