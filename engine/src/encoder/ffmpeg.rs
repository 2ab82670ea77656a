//! The `ffmpeg` child process: raw frames on stdin (YUV 4:2:0, or RGBA for outputs with alpha), audio
//! through a FIFO, the finished file written by ffmpeg itself (a PNG sequence zipped at the end). The
//! arguments of each format are in `formats.rs`.

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use super::{
    formats, AudioSource, Encoder, EncoderConfig, EncoderError, EncoderStatus, Frame, Packet,
};
use crate::project::OutputFormat;

/// `ffmpeg -version`'s first line, or why ffmpeg cannot run.
pub fn ffmpeg_version(ffmpeg: &Path) -> Result<String, EncoderError> {
    let out = Command::new(ffmpeg)
        .arg("-version")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| EncoderError::FfmpegMissing(format!("{}: {e}", ffmpeg.display())))?;
    if !out.status.success() {
        return Err(EncoderError::FfmpegMissing(format!(
            "{} -version failed",
            ffmpeg.display()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or_default()
        .to_string())
}

/// The ffmpeg arguments for `config`, with audio read from `audio_input` if given and a PNG
/// sequence's frames written into `sequence_dir`.
pub(crate) fn ffmpeg_args(
    config: &EncoderConfig,
    audio_input: Option<&Path>,
    sequence_dir: Option<&Path>,
) -> Vec<String> {
    let mut a: Vec<String> = Vec::new();
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    push(&[
        "-hide_banner",
        "-nostdin",
        "-loglevel",
        "error",
        "-nostats",
        "-progress",
        "pipe:2",
        "-stats_period",
        "0.25",
    ]);
    a.extend(formats::input_args(config));
    let mut push = |items: &[&str]| a.extend(items.iter().map(|s| s.to_string()));
    let has_audio = if !config.format.has_audio() {
        false
    } else if let Some(path) = audio_input {
        push(&[
            "-f",
            "f32le",
            "-ar",
            "48000",
            "-ac",
            "2",
            "-i",
            &path.to_string_lossy(),
        ]);
        true
    } else if config.silent_audio {
        push(&["-f", "lavfi", "-i", "anullsrc=r=48000:cl=stereo"]);
        true
    } else {
        false
    };
    push(&["-map", "0:v:0"]);
    if has_audio {
        push(&["-map", "1:a:0"]);
    }
    a.extend(formats::video_args(config));
    a.extend(formats::muxer_args(config, has_audio, sequence_dir));
    a
}

/// Shared between the encoder and its stderr reader.
#[derive(Default)]
struct Progress {
    frames: AtomicU64,
    ended: AtomicBool,
    errors: Mutex<Vec<String>>,
}

pub struct FfmpegEncoder {
    child: Child,
    frames_tx: Option<SyncSender<Vec<u8>>>,
    writer: Option<JoinHandle<std::io::Result<()>>>,
    audio: Option<AudioPump>,
    stderr_reader: Option<JoinHandle<()>>,
    progress: Arc<Progress>,
    reported: u64,
    finished: bool,
    output: PathBuf,
    name: String,
    expected_len: usize,
    /// A PNG sequence's frames before they are zipped into `output`.
    sequence_dir: Option<tempfile::TempDir>,
}

/// Streams audio into ffmpeg through a FIFO from its own thread.
pub(crate) struct AudioPump {
    /// Holds the FIFO; removed when the pump is dropped.
    _dir: tempfile::TempDir,
    pub(crate) fifo: PathBuf,
    thread: Option<JoinHandle<Result<(), String>>>,
}

impl AudioPump {
    pub(crate) fn start(
        mut source: Box<dyn AudioSource>,
        near: &Path,
    ) -> Result<AudioPump, EncoderError> {
        let parent = near
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let dir = tempfile::Builder::new()
            .prefix(".vrender-audio-")
            .tempdir_in(parent)
            .or_else(|_| tempfile::tempdir())
            .map_err(|e| {
                EncoderError::Failed(format!("cannot create a temp dir for the audio FIFO: {e}"))
            })?;
        let fifo = dir.path().join("audio.f32le");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes())
            .map_err(|_| EncoderError::Failed("bad FIFO path".into()))?;
        // SAFETY: `c` is a valid NUL-terminated path; mkfifo has no other preconditions.
        if unsafe { libc::mkfifo(c.as_ptr(), 0o600) } != 0 {
            return Err(EncoderError::Failed(format!(
                "mkfifo: {}",
                std::io::Error::last_os_error()
            )));
        }
        let path = fifo.clone();
        let thread = std::thread::Builder::new()
            .name("vrender-audio".into())
            .spawn(move || -> Result<(), String> {
                // Blocks until ffmpeg opens the FIFO for reading.
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .open(&path)
                    .map_err(|e| e.to_string())?;
                let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
                let mut buf = vec![0f32; 48_000 / 5 * 2];
                loop {
                    let n = source.read(&mut buf)?;
                    if n == 0 {
                        break;
                    }
                    if let Err(e) = out.write_all(bytemuck::cast_slice(&buf[..n])) {
                        // ffmpeg stopped reading (it failed or was cancelled); it reports why.
                        tracing::debug!(error = %e, "audio pipe closed");
                        return Ok(());
                    }
                }
                out.flush().ok();
                Ok(())
            })
            .map_err(|e| EncoderError::Failed(format!("cannot start the audio thread: {e}")))?;
        Ok(AudioPump {
            _dir: dir,
            fifo,
            thread: Some(thread),
        })
    }

    /// Waits for the pump; if ffmpeg never opened the FIFO, opening its read end lets the writer's
    /// `open` return so the thread can finish.
    pub(crate) fn join(&mut self) -> Result<(), String> {
        let Some(thread) = self.thread.take() else {
            return Ok(());
        };
        if !thread.is_finished() {
            use std::os::unix::fs::OpenOptionsExt;
            let _unblock = std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_NONBLOCK)
                .open(&self.fifo);
            // Dropping `_unblock` after join would keep a reader; drop it once the writer has opened.
            std::thread::sleep(std::time::Duration::from_millis(10));
            drop(_unblock);
        }
        thread
            .join()
            .map_err(|_| "audio thread panicked".to_string())?
    }
}

impl FfmpegEncoder {
    pub fn spawn(mut config: EncoderConfig) -> Result<FfmpegEncoder, EncoderError> {
        ffmpeg_version(&config.ffmpeg)?;
        let audio = match config.audio.take() {
            Some(src) => Some(AudioPump::start(src, &config.output)?),
            None => None,
        };
        let sequence_dir = if config.format == OutputFormat::Png {
            let parent = config
                .output
                .parent()
                .filter(|p| !p.as_os_str().is_empty())
                .unwrap_or(Path::new("."));
            Some(
                tempfile::Builder::new()
                    .prefix(".vrender-png-")
                    .tempdir_in(parent)
                    .map_err(|e| {
                        EncoderError::Failed(format!(
                            "cannot create a folder for the PNG frames beside {}: {e}",
                            config.output.display()
                        ))
                    })?,
            )
        } else {
            None
        };
        let args = ffmpeg_args(
            &config,
            audio.as_ref().map(|a| a.fifo.as_path()),
            sequence_dir.as_ref().map(|d| d.path()),
        );
        tracing::debug!(?args, "starting ffmpeg");
        let mut child = Command::new(&config.ffmpeg)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| {
                EncoderError::FfmpegMissing(format!("{}: {e}", config.ffmpeg.display()))
            })?;
        let stdin = child.stdin.take().expect("piped stdin");
        let stderr = child.stderr.take().expect("piped stderr");
        let progress = Arc::new(Progress::default());
        let p = progress.clone();
        let stderr_reader = std::thread::Builder::new()
            .name("vrender-ffmpeg-log".into())
            .spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(n) = line.strip_prefix("frame=") {
                        if let Ok(n) = n.trim().parse::<u64>() {
                            p.frames.store(n, Ordering::Relaxed);
                        }
                    } else if line == "progress=end" {
                        p.ended.store(true, Ordering::Relaxed);
                    } else if !line.contains('=') || line.contains(' ') {
                        let mut errors = p.errors.lock().unwrap_or_else(|e| e.into_inner());
                        // The last 40: the tail says why it ended.
                        if errors.len() >= 40 {
                            errors.remove(0);
                        }
                        errors.push(line);
                    }
                }
            })
            .map_err(|e| EncoderError::Failed(format!("cannot start the log thread: {e}")))?;
        // Frames go to a writer thread so the render loop never blocks on the pipe while x264 is busy.
        let (frames_tx, frames_rx) = sync_channel::<Vec<u8>>(2);
        let writer = std::thread::Builder::new()
            .name("vrender-ffmpeg-in".into())
            .spawn(move || -> std::io::Result<()> {
                let mut stdin: ChildStdin = stdin;
                for frame in frames_rx {
                    stdin.write_all(&frame)?;
                }
                stdin.flush()
            })
            .map_err(|e| EncoderError::Failed(format!("cannot start the writer thread: {e}")))?;
        let name = formats::encoder_name(&config);
        let expected_len = if config.alpha {
            config.width as usize * config.height as usize * 4
        } else {
            config.stride as usize * config.height as usize * 3 / 2
        };
        Ok(FfmpegEncoder {
            child,
            frames_tx: Some(frames_tx),
            writer: Some(writer),
            audio,
            stderr_reader: Some(stderr_reader),
            progress,
            reported: 0,
            finished: false,
            output: config.output,
            name,
            expected_len,
            sequence_dir,
        })
    }

    fn error_tail(&self) -> String {
        let errors = self
            .progress
            .errors
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if errors.is_empty() {
            "ffmpeg exited unexpectedly".to_string()
        } else {
            errors
                .iter()
                .rev()
                .take(5)
                .rev()
                .cloned()
                .collect::<Vec<_>>()
                .join(" | ")
        }
    }

    fn finish(&mut self) -> Result<(), EncoderError> {
        drop(self.frames_tx.take()); // closes stdin once the writer drains
        let write_result = self.writer.take().map(|w| w.join());
        let status = self
            .child
            .wait()
            .map_err(|e| EncoderError::Failed(format!("waiting for ffmpeg: {e}")))?;
        if let Some(r) = self.stderr_reader.take() {
            let _ = r.join();
        }
        let audio_result = self.audio.as_mut().map(AudioPump::join);
        self.finished = true;
        if !status.success() {
            return Err(EncoderError::Failed(format!(
                "ffmpeg failed ({status}): {}",
                self.error_tail()
            )));
        }
        let unwritten = {
            let errors = self
                .progress
                .errors
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            crate::media::output_write_error(errors.iter().map(String::as_str))
        };
        if let Some(line) = unwritten {
            let _ = std::fs::remove_file(&self.output);
            return Err(EncoderError::Failed(format!(
                "ffmpeg exited 0 but the output is incomplete: {line}"
            )));
        }
        match write_result {
            Some(Ok(Ok(()))) | None => {}
            Some(Ok(Err(e))) => {
                return Err(EncoderError::Failed(format!(
                    "writing frames to ffmpeg: {e}"
                )))
            }
            Some(Err(_)) => {
                return Err(EncoderError::Failed("frame writer thread panicked".into()))
            }
        }
        if let Some(Err(e)) = audio_result {
            return Err(EncoderError::Audio(e));
        }
        if let Some(dir) = self.sequence_dir.take() {
            formats::zip_sequence(dir.path(), &self.output).map_err(EncoderError::Failed)?;
        }
        Ok(())
    }
}

impl Encoder for FfmpegEncoder {
    fn send_frame(&mut self, frame: Option<Frame>) -> Result<(), EncoderError> {
        match frame {
            Some(frame) => {
                if frame.data.len() != self.expected_len {
                    return Err(EncoderError::Failed(format!(
                        "frame {} has {} bytes, expected {}",
                        frame.index,
                        frame.data.len(),
                        self.expected_len
                    )));
                }
                let tx = self
                    .frames_tx
                    .as_ref()
                    .ok_or_else(|| EncoderError::Failed("encoder already flushed".into()))?;
                if tx.send(frame.data).is_err() {
                    // The writer stopped: ffmpeg died. Collect its reason.
                    let _ = self.finish();
                    return Err(EncoderError::Failed(self.error_tail()));
                }
                Ok(())
            }
            None => self.finish(),
        }
    }

    fn receive_packet(&mut self) -> Result<Packet, EncoderStatus> {
        let n = self.progress.frames.load(Ordering::Relaxed);
        if n > self.reported {
            self.reported = n;
            return Ok(Packet::Written { frames_encoded: n });
        }
        if self.finished {
            Err(EncoderStatus::LimitReached)
        } else {
            Err(EncoderStatus::NeedMoreData)
        }
    }

    fn abort(&mut self) {
        if !self.finished {
            let _ = self.child.kill();
            drop(self.frames_tx.take());
            let _ = self.child.wait();
            if let Some(w) = self.writer.take() {
                let _ = w.join();
            }
            if let Some(a) = self.audio.as_mut() {
                let _ = a.join();
            }
            self.finished = true;
        }
        let _ = std::fs::remove_file(&self.output);
    }

    fn name(&self) -> String {
        self.name.clone()
    }
}

impl Drop for FfmpegEncoder {
    fn drop(&mut self) {
        if !self.finished {
            self.abort();
        }
    }
}
