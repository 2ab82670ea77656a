//! Encoders: raw YUV 4:2:0 frames in, an encoded video file out.
//!
//! The API follows rav1e: configure ([`EncoderConfig`]), open a context ([`open`]), then
//! [`Encoder::send_frame`] frames (and `None` to flush) while [`Encoder::receive_packet`] reports what
//! came out, until it answers [`EncoderStatus::LimitReached`].
//!
//! The x264 path runs `ffmpeg` as a child process fed raw YUV on stdin (no frames on disk); ffmpeg
//! also muxes the audio and writes the container. NVENC sits behind the `nvenc` cargo feature; without
//! it (or without the hardware) [`open`] falls back to x264 with one log line.

pub mod concat;
mod ffmpeg;
mod formats;

use std::path::PathBuf;

/// The `ffmpeg` binary to use (it lives with the other media tools).
pub use crate::media::ffmpeg_path;
pub use concat::ChunkFile;
pub use ffmpeg::{ffmpeg_version, FfmpegEncoder};
pub use formats::{x265_settings, GifOutput, BT709_TAGS};

use crate::project::{OutputFormat, Quality};

/// Which encoder to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EncoderPreference {
    /// NVENC when compiled in (`nvenc` feature) and present, else x264.
    #[default]
    Auto,
    /// Always the ffmpeg/x264 path.
    Software,
}

/// The encoder failed.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("ffmpeg was not found ({0}); install it (Debian: apt-get install ffmpeg)")]
    FfmpegMissing(String),
    #[error("encoder: {0}")]
    Failed(String),
    #[error("audio: {0}")]
    Audio(String),
}

impl EncoderError {
    /// A crashed or killed encoder may work next time; a missing ffmpeg or bad audio will not.
    pub fn is_transient(&self) -> bool {
        matches!(self, EncoderError::Failed(_))
    }
}

/// A source of interleaved stereo f32 samples at 48 kHz that the encoder muxes with the video.
pub trait AudioSource: Send {
    /// Fills `out` with the next samples; returns how many values were written, 0 at the end.
    fn read(&mut self, out: &mut [f32]) -> Result<usize, String>;
}

/// Creation-time settings of an encoder.
pub struct EncoderConfig {
    pub width: u32,
    pub height: u32,
    /// Luma row length of the frames sent (≥ width; the encoder crops the padding).
    pub stride: u32,
    pub frame_rate: f64,
    pub quality: Quality,
    pub format: OutputFormat,
    pub output: PathBuf,
    pub ffmpeg: PathBuf,
    /// Audio to mux, if any.
    pub audio: Option<Box<dyn AudioSource>>,
    /// Add a silent stereo track when `audio` is `None`.
    pub silent_audio: bool,
    /// MP4/MOV: `-movflags +faststart` (the index at the front; ffmpeg rewrites the file at the end).
    pub faststart: bool,
    /// Frames are RGBA with straight alpha, rows `width * 4` bytes (outputs that keep a transparent
    /// background); otherwise YUV 4:2:0.
    pub alpha: bool,
    /// GIF output: its rate and size (default: the project's).
    pub gif: Option<GifOutput>,
}

/// One raw frame: planar YUV 4:2:0, BT.709 limited range, rows `stride` bytes long; or, with
/// [`EncoderConfig::alpha`], RGBA (sRGB-encoded, straight alpha), rows `width * 4` bytes long.
pub struct Frame {
    pub index: u64,
    pub data: Vec<u8>,
}

/// What the encoder produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    /// The encoder wrote frames into the output file itself (the ffmpeg path muxes directly);
    /// carries the running count of encoded frames.
    Written { frames_encoded: u64 },
}

/// Why [`Encoder::receive_packet`] has no packet.
#[derive(Debug)]
pub enum EncoderStatus {
    /// Nothing new yet: send more frames (or wait).
    NeedMoreData,
    /// Flushed and finished: the output file is complete.
    LimitReached,
    /// The encoder failed.
    Failure(EncoderError),
}

/// A running encoder.
pub trait Encoder: Send {
    /// Queues a frame; `None` signals the end of the stream and flushes.
    fn send_frame(&mut self, frame: Option<Frame>) -> Result<(), EncoderError>;
    /// The next packet, or why there is none.
    fn receive_packet(&mut self) -> Result<Packet, EncoderStatus>;
    /// Stops at once and removes the partial output.
    fn abort(&mut self);
    /// Human-readable name, e.g. "x264 (ffmpeg, preset fast, crf 28)".
    fn name(&self) -> String;
}

/// Opens the preferred encoder, falling back to x264 when NVENC is not compiled in or not present.
pub fn open(
    config: EncoderConfig,
    preference: EncoderPreference,
) -> Result<Box<dyn Encoder>, EncoderError> {
    if preference == EncoderPreference::Auto
        && matches!(config.format, OutputFormat::Mp4 | OutputFormat::Mov)
        && !config.alpha
    {
        if cfg!(feature = "nvenc") {
            tracing::info!("NVENC session setup is not implemented in this build; using x264");
        } else {
            tracing::debug!("built without the `nvenc` feature; using x264");
        }
    }
    Ok(Box::new(FfmpegEncoder::spawn(config)?))
}

/// An encoder that hands each raw frame to a callback and writes nothing: for measuring the
/// compositor alone, or for tools that want the YUV frames themselves.
pub struct DiscardEncoder<F: FnMut(&Frame) + Send> {
    on_frame: F,
    frames: u64,
    reported: u64,
    finished: bool,
}

impl<F: FnMut(&Frame) + Send> DiscardEncoder<F> {
    pub fn new(on_frame: F) -> Self {
        DiscardEncoder {
            on_frame,
            frames: 0,
            reported: 0,
            finished: false,
        }
    }
}

impl<F: FnMut(&Frame) + Send> Encoder for DiscardEncoder<F> {
    fn send_frame(&mut self, frame: Option<Frame>) -> Result<(), EncoderError> {
        match frame {
            Some(f) => {
                (self.on_frame)(&f);
                self.frames += 1;
            }
            None => self.finished = true,
        }
        Ok(())
    }

    fn receive_packet(&mut self) -> Result<Packet, EncoderStatus> {
        if self.frames > self.reported {
            self.reported = self.frames;
            Ok(Packet::Written {
                frames_encoded: self.frames,
            })
        } else if self.finished {
            Err(EncoderStatus::LimitReached)
        } else {
            Err(EncoderStatus::NeedMoreData)
        }
    }

    fn abort(&mut self) {
        self.finished = true;
    }

    fn name(&self) -> String {
        "none (frames discarded)".into()
    }
}
