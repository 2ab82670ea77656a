//! [`ClipPlayer`]: streams one video layer's frames out of an `ffmpeg` child process, decoding
//! ahead on a reader thread, seeking when playback jumps, and never leaving the child behind.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::JoinHandle;

use super::timing::ClipTiming;
use crate::media::{ClipInfo, StderrTail, VideoError};

/// Frames decoded ahead of the one being shown.
const AHEAD: usize = 3;
/// Jumps forward by less than this many source seconds decode through instead of seeking.
const SEEK_FORWARD: f64 = 3.0;

/// The matrix to convert a frame's YUV to RGB with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum YuvMatrix {
    Bt601,
    Bt709,
}

/// One decoded picture: 8-bit planes, tightly packed. Chroma is 4:2:0, `((w+1)/2) × ((h+1)/2)`;
/// alpha (when the clip has it) is full size and full range (0 = transparent). Its planes go back to
/// the player's buffer pool when the frame is dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoFrame {
    /// Index of the frame in [`ClipInfo::frame_times`].
    pub source_index: u64,
    pub width: u32,
    pub height: u32,
    pub y: Vec<u8>,
    pub u: Vec<u8>,
    pub v: Vec<u8>,
    /// Cb and Cr interleaved (NV12 order, `2 × ((w+1)/2) × ((h+1)/2)` bytes): one texture fetch
    /// gives both, which is what the compositor uploads. Made on the decoder's reader thread.
    pub uv: Vec<u8>,
    pub a: Option<Vec<u8>>,
    pub matrix: YuvMatrix,
    /// Full range (0–255) luma and chroma; otherwise limited (16–235 / 16–240).
    pub full_range: bool,
    pool: Pool,
}

impl Drop for VideoFrame {
    fn drop(&mut self) {
        for plane in [&mut self.y, &mut self.u, &mut self.v, &mut self.uv] {
            self.pool.give(std::mem::take(plane));
        }
        if let Some(a) = self.a.take() {
            self.pool.give(a);
        }
    }
}

/// Plane buffers of one player, reused from frame to frame and across decoder restarts (loops,
/// seeks). Allocating megabytes per frame on reader threads that come and go makes glibc spread
/// them over per-thread arenas and keep them: measured here, a 60 s render of looping 1080p clips
/// then peaked 8–14 % above a 10 s one; with reuse it stays flat.
#[derive(Debug, Clone, Default)]
struct Pool(Arc<std::sync::Mutex<Vec<Vec<u8>>>>);

/// Buffers a pool keeps at most (a few frames' planes in flight).
const POOL_MAX: usize = 32;

impl PartialEq for Pool {
    fn eq(&self, _: &Pool) -> bool {
        true // bookkeeping, not part of the picture
    }
}

impl Pool {
    /// A buffer of `len` bytes (contents unspecified): the smallest pooled one that fits, else new.
    fn take(&self, len: usize) -> Vec<u8> {
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let best = free
            .iter()
            .enumerate()
            .filter(|(_, b)| b.capacity() >= len)
            .min_by_key(|(_, b)| b.capacity())
            .map(|(i, _)| i);
        let mut buf = match best {
            Some(i) => free.swap_remove(i),
            None => Vec::with_capacity(len),
        };
        drop(free);
        buf.resize(len, 0);
        buf
    }

    fn give(&self, mut buf: Vec<u8>) {
        if buf.capacity() == 0 {
            return;
        }
        buf.clear();
        let mut free = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if free.len() < POOL_MAX {
            free.push(buf);
        }
    }
}

/// How frames come out of ffmpeg, fixed when the player opens.
#[derive(Debug, Clone)]
struct Output {
    width: u32,
    height: u32,
    alpha: bool,
    matrix: YuvMatrix,
    full_range: bool,
    pix_fmt: &'static str,
    filter: String,
}

impl Output {
    fn plane_sizes(&self) -> (usize, usize) {
        let luma = self.width as usize * self.height as usize;
        let chroma = self.width.div_ceil(2) as usize * self.height.div_ceil(2) as usize;
        (luma, chroma)
    }

    fn frame_bytes(&self) -> usize {
        let (luma, chroma) = self.plane_sizes();
        luma + 2 * chroma + if self.alpha { luma } else { 0 }
    }
}

/// A running ffmpeg child and the thread reading its frames.
struct Decode {
    child: Child,
    rx: Option<Receiver<Result<VideoFrame, VideoError>>>,
    reader: Option<JoinHandle<()>>,
    stderr: StderrTail,
    /// Index of the frame the next receive yields.
    next: usize,
}

impl Drop for Decode {
    fn drop(&mut self) {
        // Unblock the reader (a full channel) first, then end the child, then collect both.
        drop(self.rx.take());
        let _ = self.child.kill();
        let _ = self.child.wait();
        if let Some(h) = self.reader.take() {
            let _ = h.join();
        }
    }
}

/// Streams the frames of one clip for one layer. See the [module docs](self).
pub struct ClipPlayer {
    ffmpeg: PathBuf,
    file: PathBuf,
    info: ClipInfo,
    timing: ClipTiming,
    out: Output,
    decode: Option<Decode>,
    last: Option<Arc<VideoFrame>>,
    /// Plane buffers shared with the reader threads.
    pool: Pool,
}

impl std::fmt::Debug for ClipPlayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClipPlayer")
            .field("file", &self.file)
            .field("size", &(self.out.width, self.out.height))
            .field("running", &self.decode.is_some())
            .finish()
    }
}

/// The matrix of a clip from its `color_space` tag; unknown: BT.601 below 720 lines, else BT.709.
fn matrix_of(info: &ClipInfo) -> YuvMatrix {
    match info.color_space.as_str() {
        "bt709" => YuvMatrix::Bt709,
        "smpte170m" | "bt470bg" | "fcc" | "smpte240m" => YuvMatrix::Bt601,
        _ if info.height < 720 => YuvMatrix::Bt601,
        _ => YuvMatrix::Bt709,
    }
}

fn output_for(info: &ClipInfo, size: (u32, u32)) -> Output {
    let (width, height) = size;
    let alpha = info.has_alpha;
    let native_yuv = info.pix_fmt.starts_with("yuv");
    let keep = if alpha {
        info.vpx_alpha || info.pix_fmt == "yuva420p"
    } else {
        info.pix_fmt == "yuv420p" || info.pix_fmt == "yuvj420p"
    };
    let matrix = matrix_of(info);
    let mut filter = format!("scale={width}:{height}:flags=bicubic");
    let (pix_fmt, full_range) = if keep {
        let full = info.pix_fmt.starts_with("yuvj") || info.color_range == "pc";
        let fmt = match (alpha, info.pix_fmt.as_str()) {
            (true, _) => "yuva420p",
            (false, "yuvj420p") => "yuvj420p",
            _ => "yuv420p",
        };
        (fmt, full)
    } else {
        // Converted by swscale: say which matrix and range we want. YUV sources keep their own
        // matrix; RGB and palette sources get the one an untagged clip of that size would have.
        let m = match matrix {
            YuvMatrix::Bt601 => "bt601",
            YuvMatrix::Bt709 => "bt709",
        };
        if !native_yuv || info.pix_fmt.starts_with("yuvj") || info.color_range == "pc" {
            filter.push_str(&format!(":out_color_matrix={m}:out_range=tv"));
        }
        (if alpha { "yuva420p" } else { "yuv420p" }, false)
    };
    filter.push_str(&format!(",format={pix_fmt}"));
    Output {
        width,
        height,
        alpha,
        matrix,
        full_range,
        pix_fmt,
        filter,
    }
}

impl ClipPlayer {
    /// Prepares to play `file` (probed as `info`) with `timing`. `out_size`: the exact size every
    /// frame will have (the compositor may ask for a smaller one when the clip is shown small);
    /// None = the clip's display size. Nothing is decoded until the first [`ClipPlayer::frame_at`].
    pub fn open(
        ffmpeg: &Path,
        file: &Path,
        info: &ClipInfo,
        timing: ClipTiming,
        out_size: Option<(u32, u32)>,
    ) -> Result<ClipPlayer, VideoError> {
        let name = file.display().to_string();
        if info.frame_times.is_empty() {
            return Err(VideoError::Corrupt {
                file: name,
                reason: "the video stream holds no frames".into(),
            });
        }
        let size = out_size.unwrap_or((info.width, info.height));
        if size.0 == 0 || size.1 == 0 || size.0 > 16_384 || size.1 > 16_384 {
            return Err(VideoError::Unsupported {
                file: name,
                reason: format!("cannot output frames of {}x{}", size.0, size.1),
            });
        }
        Ok(ClipPlayer {
            ffmpeg: ffmpeg.to_path_buf(),
            file: file.to_path_buf(),
            info: info.clone(),
            timing,
            out: output_for(info, size),
            decode: None,
            last: None,
            pool: Pool::default(),
        })
    }

    /// Size of every frame, in pixels.
    pub fn size(&self) -> (u32, u32) {
        (self.out.width, self.out.height)
    }

    /// Whether frames carry an alpha plane.
    pub fn has_alpha(&self) -> bool {
        self.out.alpha
    }

    /// Whether an ffmpeg child is running for this player (tests, diagnostics).
    pub fn child_pid(&self) -> Option<u32> {
        self.decode.as_ref().map(|d| d.child.id())
    }

    /// The index into [`ClipInfo::frame_times`] shown at layer-local time `tau`.
    pub fn index_at(&self, tau: f64) -> usize {
        self.timing
            .frame_index(&self.info.frame_times, self.info.duration, tau)
    }

    /// The frame for layer-local time `tau`. Calls come with non-decreasing `tau` in a render, but
    /// a still, a chunk or `--frames` may start anywhere: then the decoder seeks. The same
    /// `source_index` as the last call means the same picture (the caller may skip the upload).
    pub fn frame_at(&mut self, tau: f64) -> Result<Arc<VideoFrame>, VideoError> {
        let want = self.index_at(tau);
        if let Some(last) = &self.last {
            if last.source_index == want as u64 {
                return Ok(Arc::clone(last));
            }
        }
        let restart = match &self.decode {
            None => true,
            Some(d) => {
                let times = &self.info.frame_times;
                want < d.next || times[want] - times[d.next.min(want)] > SEEK_FORWARD
            }
        };
        if restart {
            self.decode = None;
            self.decode = Some(self.spawn(want)?);
        }
        let result = self.receive_until(want);
        if result.is_err() {
            self.decode = None;
            self.last = None;
        }
        let frame = Arc::new(result?);
        self.last = Some(Arc::clone(&frame));
        Ok(frame)
    }

    fn receive_until(&mut self, want: usize) -> Result<VideoFrame, VideoError> {
        let total = self.info.frame_times.len();
        let Some(d) = self.decode.as_mut() else {
            return Err(self.corrupt("the decoder is not running".into()));
        };
        loop {
            let got = d.rx.as_ref().map(|rx| rx.recv());
            match got {
                Some(Ok(Ok(frame))) => {
                    d.next += 1;
                    if frame.source_index as usize == want {
                        return Ok(frame);
                    }
                }
                Some(Ok(Err(e))) => return Err(e),
                Some(Err(_)) | None => {
                    // The pipe ended: the file holds fewer frames than its packets promised, or
                    // ffmpeg failed.
                    let status = d.child.wait().ok();
                    let tail = d.stderr.finish();
                    let why = match (status, tail.is_empty()) {
                        (_, false) => tail,
                        (Some(s), true) if !s.success() => format!("ffmpeg exited with {s}"),
                        _ => "no error reported".into(),
                    };
                    let next = d.next;
                    return Err(self.corrupt(format!(
                        "the decoder stopped after frame {next} of {total} (frame {want} was needed): {why}"
                    )));
                }
            }
        }
    }

    fn corrupt(&self, reason: String) -> VideoError {
        VideoError::Corrupt {
            file: self.file.display().to_string(),
            reason,
        }
    }

    /// Starts ffmpeg so that its first output frame is source frame `first`.
    fn spawn(&self, first: usize) -> Result<Decode, VideoError> {
        let times = &self.info.frame_times;
        let mut cmd = Command::new(&self.ffmpeg);
        cmd.args(["-hide_banner", "-nostdin", "-nostats", "-loglevel", "error"]);
        if self.info.vpx_alpha {
            // The native VP8/VP9 decoders ignore the alpha side data; libvpx reads it.
            let dec = if self.info.codec == "vp8" {
                "libvpx"
            } else {
                "libvpx-vp9"
            };
            cmd.args(["-c:v", dec]);
        }
        if first > 0 {
            // Accurate seek: ffmpeg decodes from the keyframe before and drops frames before the
            // seek point, so aim half-way between the previous frame and the wanted one.
            let gap = times[first] - times[first - 1];
            let at = self.info.start_offset + times[first] - gap / 2.0;
            cmd.args(["-ss", &format!("{:.6}", at.max(0.0))]);
        }
        cmd.arg("-i").arg(&self.file);
        cmd.args(["-map", "0:v:0", "-an", "-sn", "-dn"]);
        cmd.args(["-fps_mode", "passthrough", "-vf", &self.out.filter]);
        cmd.args(["-f", "rawvideo", "-pix_fmt", self.out.pix_fmt, "pipe:1"]);
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        tracing::debug!(file = %self.file.display(), first, "starting video decoder");
        let mut child = cmd.spawn().map_err(|e| VideoError::Spawn {
            program: self.ffmpeg.display().to_string(),
            reason: e.to_string(),
        })?;
        let stderr = StderrTail::spawn(child.stderr.take());
        let Some(stdout) = child.stdout.take() else {
            let _ = child.kill();
            let _ = child.wait();
            return Err(self.corrupt("ffmpeg has no output pipe".into()));
        };
        let (tx, rx) = sync_channel(AHEAD);
        let out = self.out.clone();
        let file = self.file.display().to_string();
        let pool = self.pool.clone();
        let spawned = std::thread::Builder::new()
            .name("video-decode".into())
            .spawn(move || read_frames(stdout, tx, out, first, file, pool));
        let reader = match spawned {
            Ok(h) => h,
            Err(e) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(self.corrupt(format!("cannot start the reader thread: {e}")));
            }
        };
        Ok(Decode {
            child,
            rx: Some(rx),
            reader: Some(reader),
            stderr,
            next: first,
        })
    }
}

/// The reader thread: cuts ffmpeg's output into frames until the pipe ends or the player is gone.
fn read_frames(
    mut stdout: ChildStdout,
    tx: SyncSender<Result<VideoFrame, VideoError>>,
    out: Output,
    first: usize,
    file: String,
    pool: Pool,
) {
    let bytes = out.frame_bytes();
    let (luma, chroma) = out.plane_sizes();
    let mut index = first as u64;
    loop {
        let mut buf = pool.take(bytes);
        let mut filled = 0;
        while filled < bytes {
            match stdout.read(&mut buf[filled..]) {
                Ok(0) => break,
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    let _ = tx.send(Err(VideoError::Io {
                        file,
                        reason: format!("reading decoded frames: {e}"),
                    }));
                    return;
                }
            }
        }
        if filled == 0 {
            return; // clean end of stream
        }
        if filled < bytes {
            let _ = tx.send(Err(VideoError::Corrupt {
                file,
                reason: format!("the decoder's output ended inside frame {index}"),
            }));
            return;
        }
        let copy = |from: &[u8]| {
            let mut plane = pool.take(from.len());
            plane.copy_from_slice(from);
            plane
        };
        let a = out.alpha.then(|| copy(&buf[luma + 2 * chroma..]));
        let v = copy(&buf[luma + chroma..luma + 2 * chroma]);
        let u = copy(&buf[luma..luma + chroma]);
        let mut uv = pool.take(2 * chroma);
        for (pair, (cb, cr)) in uv.chunks_exact_mut(2).zip(u.iter().zip(&v)) {
            pair[0] = *cb;
            pair[1] = *cr;
        }
        buf.truncate(luma);
        let frame = VideoFrame {
            source_index: index,
            width: out.width,
            height: out.height,
            y: buf,
            u,
            v,
            uv,
            a,
            matrix: out.matrix,
            full_range: out.full_range,
            pool: pool.clone(),
        };
        if tx.send(Ok(frame)).is_err() {
            return; // the player is gone
        }
        index += 1;
    }
}
