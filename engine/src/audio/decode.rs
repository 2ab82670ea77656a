//! Decoders: one audio file → planar stereo `f32` at the file's own sample rate.
//!
//! WAV goes through `hound` (falling back to `symphonia` for WAV codecs hound does not read, such
//! as µ-law); MP3, AAC (M4A/MP4), FLAC and Ogg Vorbis through `symphonia`. Both decode packet by
//! packet, so only a few thousand frames are held at a time.

use std::fs::File;
use std::io::{BufReader, Read, Seek};
use std::path::Path;

use symphonia::core::audio::{Channels, SampleBuffer};
use symphonia::core::codecs::{DecoderOptions, CODEC_TYPE_NULL, CODEC_TYPE_VORBIS};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::{FormatOptions, FormatReader, SeekMode, SeekTo};
use symphonia::core::io::MediaSourceStream;
use symphonia::core::meta::MetadataOptions;
use symphonia::core::probe::Hint;
use symphonia::core::units::TimeBase;

use super::{AudioError, TrackCtx};

/// Sample rates we accept, in Hz. Anything outside is almost certainly a broken header.
pub const MIN_SOURCE_RATE: u32 = 8_000;
pub const MAX_SOURCE_RATE: u32 = 384_000;
/// Most channels we accept in a source file.
pub const MAX_SOURCE_CHANNELS: usize = 32;
/// Frames read from a WAV file per call.
const WAV_CHUNK: usize = 4096;
/// Below this many source frames, repositioning decodes from the start instead of seeking.
const SEEK_MIN_FRAMES: u64 = 1 << 16;

/// How the channels of a source fold into stereo: one (left, right) gain pair per source channel.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Downmix {
    weights: Vec<(f32, f32)>,
}

/// Gain of a centre / surround channel in the downmix (-3 dB), as in ITU-R BS.775.
const M3DB: f32 = std::f32::consts::FRAC_1_SQRT_2;

/// Speaker positions, as far as the downmix cares.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Pos {
    Left,
    Right,
    Centre,
    Lfe,
    SurroundLeft,
    SurroundRight,
    Other,
}

impl Downmix {
    fn from_positions(positions: &[Pos]) -> Downmix {
        let weights = match positions.len() {
            1 => vec![(1.0, 1.0)],
            2 => vec![(1.0, 0.0), (0.0, 1.0)],
            _ => positions
                .iter()
                .map(|p| match p {
                    Pos::Left => (1.0, 0.0),
                    Pos::Right => (0.0, 1.0),
                    Pos::Centre => (M3DB, M3DB),
                    Pos::Lfe => (0.0, 0.0),
                    Pos::SurroundLeft => (M3DB, 0.0),
                    Pos::SurroundRight => (0.0, M3DB),
                    Pos::Other => (0.5, 0.5),
                })
                .collect(),
        };
        Downmix { weights }
    }

    /// WAV files without a channel mask: the default WAVE_FORMAT_EXTENSIBLE order
    /// (FL, FR, FC, LFE, BL, BR, FLC, FRC, BC, SL, SR, then anything else).
    fn wav_default(channels: usize) -> Downmix {
        use Pos::*;
        const ORDER: [Pos; 11] = [
            Left,
            Right,
            Centre,
            Lfe,
            SurroundLeft,
            SurroundRight,
            Left,
            Right,
            Other,
            SurroundLeft,
            SurroundRight,
        ];
        let positions: Vec<Pos> = (0..channels)
            .map(|i| ORDER.get(i).copied().unwrap_or(Other))
            .collect();
        Downmix::from_positions(&positions)
    }

    fn from_symphonia(channels: Channels) -> Downmix {
        let positions: Vec<Pos> = channels
            .iter()
            .map(|c| {
                if c == Channels::FRONT_LEFT
                    || c == Channels::FRONT_LEFT_CENTRE
                    || c == Channels::FRONT_LEFT_WIDE
                {
                    Pos::Left
                } else if c == Channels::FRONT_RIGHT
                    || c == Channels::FRONT_RIGHT_CENTRE
                    || c == Channels::FRONT_RIGHT_WIDE
                {
                    Pos::Right
                } else if c == Channels::FRONT_CENTRE {
                    Pos::Centre
                } else if c == Channels::LFE1 || c == Channels::LFE2 {
                    Pos::Lfe
                } else if c == Channels::REAR_LEFT
                    || c == Channels::SIDE_LEFT
                    || c == Channels::REAR_LEFT_CENTRE
                {
                    Pos::SurroundLeft
                } else if c == Channels::REAR_RIGHT
                    || c == Channels::SIDE_RIGHT
                    || c == Channels::REAR_RIGHT_CENTRE
                {
                    Pos::SurroundRight
                } else {
                    Pos::Other
                }
            })
            .collect();
        Downmix::from_positions(&positions)
    }

    fn channels(&self) -> usize {
        self.weights.len()
    }

    /// Appends interleaved source frames to `l`/`r`, folded to stereo.
    fn push(&self, interleaved: &[f32], l: &mut Vec<f32>, r: &mut Vec<f32>) {
        let ch = self.channels();
        match ch {
            1 => {
                l.extend_from_slice(interleaved);
                r.extend_from_slice(interleaved);
            }
            2 => {
                for f in interleaved.chunks_exact(2) {
                    l.push(f[0]);
                    r.push(f[1]);
                }
            }
            _ => {
                for f in interleaved.chunks_exact(ch) {
                    let (mut a, mut b) = (0.0f32, 0.0f32);
                    for (s, (wl, wr)) in f.iter().zip(&self.weights) {
                        a += s * wl;
                        b += s * wr;
                    }
                    l.push(a);
                    r.push(b);
                }
            }
        }
    }
}

/// An open source file.
pub(crate) enum Decoder {
    Wav(WavDecoder),
    Sym(Box<SymDecoder>),
}

impl Decoder {
    /// Opens `path` and checks its header: format, sample rate, channels, and for WAV that the file
    /// holds as much data as its header declares.
    pub fn open(path: &Path, ctx: &TrackCtx) -> Result<Decoder, AudioError> {
        let mut magic = [0u8; 12];
        let mut f = File::open(path).map_err(|e| ctx.io(e))?;
        let n = read_up_to(&mut f, &mut magic).map_err(|e| ctx.io(e))?;
        drop(f);
        let is_wav = n == 12
            && (&magic[0..4] == b"RIFF" || &magic[0..4] == b"RIFX")
            && &magic[8..12] == b"WAVE";
        if is_wav {
            match WavDecoder::open(path, ctx) {
                Ok(d) => return Ok(Decoder::Wav(d)),
                // A WAV codec hound does not read (µ-law, A-law, ...): let symphonia try.
                Err(WavOpenError::Unsupported) => {}
                Err(WavOpenError::Failed(e)) => return Err(e),
            }
        }
        let d = guard(ctx, || SymDecoder::open(path, ctx))?;
        Ok(Decoder::Sym(Box::new(d)))
    }

    pub fn sample_rate(&self) -> u32 {
        match self {
            Decoder::Wav(d) => d.rate,
            Decoder::Sym(d) => d.rate,
        }
    }

    pub fn channels(&self) -> Option<usize> {
        match self {
            Decoder::Wav(d) => Some(d.downmix.channels()),
            Decoder::Sym(d) => d.channels,
        }
    }

    /// Length in frames, when the container says (WAV always; the others usually).
    pub fn frames(&self) -> Option<u64> {
        match self {
            Decoder::Wav(d) => Some(d.frames),
            Decoder::Sym(d) => d.frames,
        }
    }

    /// Appends the next frames (a packet's worth, or up to 4096 for WAV) to `l`/`r`.
    /// Returns how many were appended; 0 at the end of the stream.
    pub fn read(&mut self, l: &mut Vec<f32>, r: &mut Vec<f32>) -> Result<usize, AudioError> {
        match self {
            Decoder::Wav(d) => d.read(l, r),
            Decoder::Sym(d) => {
                let ctx = d.ctx.clone();
                guard(&ctx, || d.read(l, r))
            }
        }
    }

    /// Positions the stream so that the next [`Decoder::read`] starts at source frame `frame`.
    pub fn seek(&mut self, frame: u64) -> Result<(), AudioError> {
        match self {
            Decoder::Wav(d) => d.seek(frame),
            Decoder::Sym(d) => {
                let ctx = d.ctx.clone();
                guard(&ctx, || d.seek(frame))
            }
        }
    }
}

/// Runs symphonia code, turning a panic on malformed data (a decoder bug) into an error for the
/// track instead of taking the render down.
fn guard<T>(ctx: &TrackCtx, f: impl FnOnce() -> Result<T, AudioError>) -> Result<T, AudioError> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(r) => r,
        Err(payload) => {
            let what = payload
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_default();
            Err(ctx.corrupt(format!("the decoder failed on malformed data ({what})")))
        }
    }
}

fn read_up_to(f: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

fn check_format(ctx: &TrackCtx, rate: u32, channels: usize) -> Result<(), AudioError> {
    if !(MIN_SOURCE_RATE..=MAX_SOURCE_RATE).contains(&rate) {
        return Err(ctx.corrupt(format!(
            "sample rate {rate} Hz is outside the supported {MIN_SOURCE_RATE}..={MAX_SOURCE_RATE} Hz"
        )));
    }
    if channels == 0 || channels > MAX_SOURCE_CHANNELS {
        return Err(ctx.corrupt(format!(
            "{channels} channels (supported: 1 to {MAX_SOURCE_CHANNELS})"
        )));
    }
    Ok(())
}

enum WavOpenError {
    Unsupported,
    Failed(AudioError),
}

pub(crate) struct WavDecoder {
    reader: hound::WavReader<BufReader<File>>,
    ctx: TrackCtx,
    rate: u32,
    frames: u64,
    pos: u64,
    float: bool,
    scale: f32,
    downmix: Downmix,
    scratch: Vec<f32>,
}

impl WavDecoder {
    fn open(path: &Path, ctx: &TrackCtx) -> Result<WavDecoder, WavOpenError> {
        let fail = |e: hound::Error| match e {
            hound::Error::Unsupported => WavOpenError::Unsupported,
            hound::Error::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                WavOpenError::Failed(ctx.corrupt("truncated WAV header".into()))
            }
            hound::Error::IoError(e) => WavOpenError::Failed(ctx.io(e)),
            other => WavOpenError::Failed(ctx.corrupt(format!("invalid WAV file: {other}"))),
        };
        let open = || -> Result<hound::WavReader<BufReader<File>>, WavOpenError> {
            let file = File::open(path).map_err(|e| WavOpenError::Failed(ctx.io(e)))?;
            hound::WavReader::new(BufReader::new(file)).map_err(fail)
        };
        let reader = open()?;
        let spec = reader.spec();
        check_format(ctx, spec.sample_rate, usize::from(spec.channels))
            .map_err(WavOpenError::Failed)?;
        // Truncated files: the header promises more sample data than the file holds.
        let declared = u64::from(reader.len()) * u64::from(spec.bits_per_sample.div_ceil(8));
        let mut inner = reader.into_inner();
        let data_start = inner
            .stream_position()
            .map_err(|e| WavOpenError::Failed(ctx.io(e)))?;
        let file_len = inner
            .get_ref()
            .metadata()
            .map_err(|e| WavOpenError::Failed(ctx.io(e)))?
            .len();
        if file_len < data_start + declared {
            return Err(WavOpenError::Failed(ctx.corrupt(format!(
                "truncated WAV file: the header declares {declared} bytes of samples but only {} are present",
                file_len.saturating_sub(data_start)
            ))));
        }
        let reader = open()?;
        let float = spec.sample_format == hound::SampleFormat::Float;
        let scale = if float {
            1.0
        } else {
            1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32
        };
        Ok(WavDecoder {
            frames: u64::from(reader.duration()),
            reader,
            ctx: ctx.clone(),
            rate: spec.sample_rate,
            pos: 0,
            float,
            scale,
            downmix: Downmix::wav_default(usize::from(spec.channels)),
            scratch: Vec::new(),
        })
    }

    fn read(&mut self, l: &mut Vec<f32>, r: &mut Vec<f32>) -> Result<usize, AudioError> {
        let n = (self.frames - self.pos).min(WAV_CHUNK as u64) as usize;
        if n == 0 {
            return Ok(0);
        }
        let ch = self.downmix.channels();
        self.scratch.clear();
        let err = |e: hound::Error| self.ctx.corrupt(format!("reading WAV samples: {e}"));
        if self.float {
            for s in self.reader.samples::<f32>().take(n * ch) {
                self.scratch.push(s.map_err(err)?);
            }
        } else {
            for s in self.reader.samples::<i32>().take(n * ch) {
                self.scratch.push(s.map_err(err)? as f32 * self.scale);
            }
        }
        if self.scratch.len() != n * ch {
            return Err(self
                .ctx
                .corrupt("WAV data ended before the length its header declares".into()));
        }
        self.downmix.push(&self.scratch, l, r);
        self.pos += n as u64;
        Ok(n)
    }

    fn seek(&mut self, frame: u64) -> Result<(), AudioError> {
        let frame = frame.min(self.frames);
        // `frames` came from a u32 header field.
        self.reader.seek(frame as u32).map_err(|e| self.ctx.io(e))?;
        self.pos = frame;
        Ok(())
    }
}

pub(crate) struct SymDecoder {
    path: std::path::PathBuf,
    ctx: TrackCtx,
    format: Box<dyn FormatReader>,
    decoder: Box<dyn symphonia::core::codecs::Decoder>,
    track_id: u32,
    rate: u32,
    channels: Option<usize>,
    frames: Option<u64>,
    /// Whether seeking lands exactly: timestamps count frames and the packet timestamps match
    /// the decoder output. Not so for Vorbis in symphonia 0.5 (measured a few hundred frames
    /// off), which is therefore repositioned by decoding from the start.
    exact_seek: bool,
    /// Frames still to drop from the decoder output (after reopening to reach a position).
    discard: u64,
    /// After a seek: the timestamp (= frame) the next output must start at. Packets carry their
    /// own timestamps, which stay right even when a decoder swallows the first packet after a
    /// reset (Vorbis does), so the frames to drop are counted from them.
    seek_to: Option<u64>,
    sample_buf: Option<SampleBuffer<f32>>,
    downmix: Option<Downmix>,
    /// Decode errors skipped so far (logged once).
    skipped: u64,
}

impl SymDecoder {
    fn open(path: &Path, ctx: &TrackCtx) -> Result<SymDecoder, AudioError> {
        let file = File::open(path).map_err(|e| ctx.io(e))?;
        let mss = MediaSourceStream::new(Box::new(file), Default::default());
        let mut hint = Hint::new();
        if let Some(ext) = path.extension().and_then(|e| e.to_str()) {
            hint.with_extension(ext);
        }
        let opts = FormatOptions {
            enable_gapless: true,
            ..Default::default()
        };
        let probed = symphonia::default::get_probe()
            .format(&hint, mss, &opts, &MetadataOptions::default())
            .map_err(|e| ctx.unsupported(sym_reason(&e)))?;
        let format = probed.format;
        let track = format
            .tracks()
            .iter()
            .find(|t| {
                t.codec_params.codec != CODEC_TYPE_NULL && t.codec_params.sample_rate.is_some()
            })
            .ok_or_else(|| ctx.unsupported("the file has no audio track".into()))?;
        let params = track.codec_params.clone();
        let track_id = track.id;
        let decoder = symphonia::default::get_codecs()
            .make(&params, &DecoderOptions::default())
            .map_err(|e| ctx.unsupported(sym_reason(&e)))?;
        let rate = params.sample_rate.unwrap_or(0);
        let channels = params.channels.map(|c| c.count());
        check_format(ctx, rate, channels.unwrap_or(1))?;
        let exact_seek = params.codec != CODEC_TYPE_VORBIS
            && params
                .time_base
                .is_none_or(|tb| tb == TimeBase::new(1, rate));
        Ok(SymDecoder {
            path: path.to_path_buf(),
            ctx: ctx.clone(),
            format,
            decoder,
            track_id,
            rate,
            channels,
            frames: params.n_frames,
            exact_seek,
            discard: 0,
            seek_to: None,
            sample_buf: None,
            downmix: None,
            skipped: 0,
        })
    }

    /// [`SymDecoder::count_frames`], with decoder panics turned into errors.
    pub fn count_frames_guarded(&mut self) -> Result<u64, AudioError> {
        let ctx = self.ctx.clone();
        guard(&ctx, || self.count_frames())
    }

    /// Counts the frames of a stream whose container does not say (no decoding, packets only).
    fn count_frames(&mut self) -> Result<u64, AudioError> {
        let mut total = 0u64;
        loop {
            match self.format.next_packet() {
                Ok(p) if p.track_id() == self.track_id => total += p.dur,
                Ok(_) => {}
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
                Err(e) => return Err(self.ctx.corrupt(sym_reason(&e))),
            }
        }
        self.reopen()?;
        Ok(total)
    }

    fn reopen(&mut self) -> Result<(), AudioError> {
        let fresh = SymDecoder::open(&self.path, &self.ctx)?;
        self.format = fresh.format;
        self.decoder = fresh.decoder;
        self.track_id = fresh.track_id;
        self.discard = 0;
        self.seek_to = None;
        Ok(())
    }

    fn read(&mut self, l: &mut Vec<f32>, r: &mut Vec<f32>) -> Result<usize, AudioError> {
        loop {
            let packet = match self.format.next_packet() {
                Ok(p) => p,
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(0)
                }
                Err(SymError::ResetRequired) => return Ok(0),
                Err(e) => return Err(self.ctx.corrupt(sym_reason(&e))),
            };
            if packet.track_id() != self.track_id {
                continue;
            }
            let ts = packet.ts();
            let decoded = match self.decoder.decode(&packet) {
                Ok(d) => d,
                Err(SymError::DecodeError(msg)) => {
                    // A damaged packet: skip it, as players do.
                    if self.skipped == 0 {
                        tracing::warn!(track = %self.ctx.path, src = %self.ctx.src, "skipping undecodable audio packet: {msg}");
                    }
                    self.skipped += 1;
                    continue;
                }
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    return Ok(0)
                }
                Err(e) => return Err(self.ctx.corrupt(sym_reason(&e))),
            };
            let spec = *decoded.spec();
            let frames = decoded.frames();
            if frames == 0 {
                continue;
            }
            let ch = spec.channels.count();
            check_format(&self.ctx, spec.rate, ch)?;
            if spec.rate != self.rate {
                return Err(self.ctx.unsupported(format!(
                    "the sample rate changes within the file ({} Hz, then {} Hz)",
                    self.rate, spec.rate
                )));
            }
            let downmix = Downmix::from_symphonia(spec.channels);
            if self.downmix.as_ref() != Some(&downmix) {
                self.downmix = Some(downmix);
            }
            let needs_new = self
                .sample_buf
                .as_ref()
                .is_none_or(|b| b.capacity() < frames * ch);
            if needs_new {
                self.sample_buf = Some(SampleBuffer::new(decoded.capacity() as u64, spec));
            }
            let (Some(buf), Some(downmix)) = (self.sample_buf.as_mut(), self.downmix.as_ref())
            else {
                continue;
            };
            buf.copy_interleaved_ref(decoded);
            let samples = buf.samples();
            if let Some(target) = self.seek_to {
                if ts > target {
                    tracing::warn!(src = %self.ctx.src, "seek landed {} frames late", ts - target);
                }
                let skip = target.saturating_sub(ts);
                if skip >= frames as u64 {
                    continue;
                }
                self.seek_to = None;
                self.discard = skip;
            }
            let skip = self.discard.min(frames as u64) as usize;
            self.discard -= skip as u64;
            if skip == frames {
                continue;
            }
            downmix.push(&samples[skip * ch..frames * ch], l, r);
            return Ok(frames - skip);
        }
    }

    fn seek(&mut self, frame: u64) -> Result<(), AudioError> {
        if frame >= SEEK_MIN_FRAMES && self.exact_seek {
            let to = SeekTo::TimeStamp {
                ts: frame,
                track_id: self.track_id,
            };
            match self.format.seek(SeekMode::Accurate, to) {
                Ok(seeked) => {
                    self.decoder.reset();
                    self.discard = 0;
                    self.seek_to = Some(seeked.required_ts);
                    return Ok(());
                }
                Err(e) => {
                    tracing::debug!(src = %self.ctx.src, "seek failed ({e}); decoding from the start instead");
                }
            }
        }
        self.reopen()?;
        self.discard = frame;
        Ok(())
    }
}

fn sym_reason(e: &SymError) -> String {
    match e {
        SymError::IoError(e) => format!("I/O error: {e}"),
        SymError::DecodeError(m) => format!("malformed data: {m}"),
        SymError::SeekError(k) => format!("seek failed: {k:?}"),
        SymError::Unsupported(m) => (*m).to_string(),
        SymError::LimitError(m) => format!("limit exceeded: {m}"),
        SymError::ResetRequired => "the stream changes format midway".to_string(),
    }
}
