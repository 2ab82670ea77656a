//! Audio tracks: decode, trim, resample to 48 kHz stereo, mix with envelopes, feed the encoder.
//!
//! The sound of video layers joins the same mix through [`AudioMixer::for_project`] (see `clip.rs`
//! for how it is decoded and timed).
//!
//! [`AudioMixer`] streams the mix of a project's [`AudioTrack`]s as interleaved stereo `f32` at
//! [`SAMPLE_RATE`], exactly as many sample frames as the video lasts (silence pads, longer audio
//! is cut).
//!
//! # Sources
//! WAV is read with `hound` (8/16/24/32-bit integer and 32-bit float PCM; other WAV codecs such
//! as µ-law fall back to `symphonia`); MP3, AAC in M4A/MP4, FLAC and Ogg Vorbis with `symphonia`
//! (gapless trimming of MP3 encoder delay/padding on; AAC priming samples in MP4 are not removed, so
//! M4A sources play about 21 ms late). Sample rates from 8 kHz to 384 kHz and 1 to 32 channels are
//! accepted; anything else is reported as a broken file.
//!
//! * **Channels**: mono goes to both sides at full level. More than two channels are folded into
//!   stereo ITU-R BS.775 style: front left/right at 1, centre and surrounds at −3 dB (centre to
//!   both sides), LFE dropped, unknown positions at −6 dB to both sides; no normalisation (the
//!   limiter catches peaks). WAV files are assumed to use the standard WAVE_FORMAT_EXTENSIBLE
//!   channel order.
//! * **Resampling**: sources not at 48 kHz go through `rubato`'s synchronous FFT resampler
//!   ([`rubato::FftFixedInOut`]); its delay is compensated, so a sound at source time *t* is heard
//!   at *t* (within a sample). 48 kHz sources are passed through untouched.
//!
//! # Timeline semantics (all times in seconds, rounded to the nearest 48 kHz frame)
//! * The track plays the source span `[trimStart, trimEnd)` (`trimEnd` defaults to, and is capped
//!   at, the source's end) starting at timeline time `start`. A `trimStart` at or beyond the end
//!   of the source is an error.
//! * `loop`: the span repeats back to back, without gaps and without drift (the resampler runs
//!   continuously across repeats), until the video ends.
//! * The *played span* runs from `start` until the span ends (or, with `loop`, forever), cut at the
//!   end of the video.
//! * `volume` multiplies the samples (linear gain, 0 to 4).
//! * `fadeIn`/`fadeOut`: **linear** gain ramps. The fade-in rises from 0 at `start` to 1 after
//!   `fadeIn`; the fade-out falls from 1 to 0 over the last `fadeOut` of the played span, which is
//!   the end of the video when the track loops or outlasts the video. A looping track fades in
//!   only at its first start and fades out only at its very end, not at every repeat. When the two
//!   ramps overlap (short track, long fades) their gains multiply. At frame `n` the gain is
//!   `volume · min(1, (n − start)/fadeIn) · min(1, (end − n)/fadeOut)`.
//!
//! # Mixing and the limiter
//! Tracks are summed in `f32`, then every sample passes a memoryless soft limiter ([`soft_limit`]):
//! samples with magnitude up to [`LIMITER_KNEE`] (−1 dBFS) pass **bit-exactly**; above the knee the
//! excess is compressed with `tanh`, continuous in value and slope at the knee, so the output never
//! exceeds ±1.0 (it approaches it asymptotically). No look-ahead, no gain riding: quiet material is
//! never touched, loud peaks are rounded off.
//!
//! # Memory
//! Nothing is decoded ahead: each track keeps its open decoder, one packet of decoded samples and
//! about one resampler block (~1–2k frames for common rates; up to one second's worth for rates
//! with no small common period with 48 kHz, e.g. 44 101 Hz), so memory per track is a few hundred
//! KiB at most and does not grow with the length of the video or the source. Looping re-seeks the
//! source: WAV exactly via `hound`; MP3, FLAC and AAC with symphonia's accurate seek, landing
//! sample-exactly thanks to packet timestamps; Vorbis (whose seek lands a few hundred frames off in
//! symphonia 0.5), spans starting within the first ~1.4 s, and containers that cannot seek are
//! repositioned by decoding from the start and dropping the frames before `trimStart`.
//!
//! # Bad input
//! Files are checked when the mixer is created: format, sample rate, channel count, a WAV's data
//! length against its header, `trimStart` against the source length. Damaged packets inside a
//! compressed stream are skipped with a warning (as players do); a stream that ends before its
//! declared length is padded with silence. A panic inside symphonia on malformed data is caught and
//! reported as an [`AudioError::Corrupt`] for the track.
//!
//! # Timing the preparation
//! [`AudioMixer::new`] only opens files, seeks to `trimStart` and decodes the first packet; the
//! decoding cost is paid in [`AudioMixer::read`]. To time "5 tracks × 60 s", run the ignored test
//! `cargo test --release -p vrender-engine --test engine -- --ignored --nocapture audio_mix::bench_five_tracks`
//! (it generates the sources with ffmpeg, then times `new` and a full [`mix_all`]).

mod clip;
mod decode;
#[cfg(feature = "preview")]
mod preview;
mod stream;

use std::path::Path;

use crate::media::{AssetError, AssetResolver, MediaIndex, MediaTools};
use crate::project::{AudioTrack, LayerKind, Project};
use crate::timeline::Timeline;

pub use decode::{MAX_SOURCE_CHANNELS, MAX_SOURCE_RATE, MIN_SOURCE_RATE};
#[cfg(feature = "preview")]
pub use preview::play;

use decode::Decoder;
use stream::TrackStream;

/// Output sample rate of the mix, in Hz.
pub const SAMPLE_RATE: u32 = 48_000;
/// Output channels of the mix (interleaved left, right).
pub const CHANNELS: u16 = 2;
/// Samples up to this magnitude (−1 dBFS) pass the limiter unchanged.
pub const LIMITER_KNEE: f32 = 0.891_250_9;

/// Frames mixed per internal block.
const BLOCK: usize = 4096;

/// An audio track could not be used. Each message starts with the JSON path of the track's
/// offending field (`audioTracks[1].src`) and names the file.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    /// A problem not tied to one file's contents.
    #[error("{path}: {message}")]
    Track { path: String, message: String },
    /// The source could not be found or may not be used.
    #[error("{path}: {source}")]
    Asset {
        path: String,
        #[source]
        source: AssetError,
    },
    /// The file is not in a format we read.
    #[error("{path}: `{src}`: not a supported audio file ({reason})")]
    Unsupported {
        path: String,
        src: String,
        reason: String,
    },
    /// The file claims to be audio we read but its contents are broken.
    #[error("{path}: `{src}`: cannot decode audio: {reason}")]
    Corrupt {
        path: String,
        src: String,
        reason: String,
    },
    /// The file could not be read.
    #[error("{path}: `{src}`: {source}")]
    Io {
        path: String,
        src: String,
        #[source]
        source: std::io::Error,
    },
    /// The trim points do not fit the source.
    #[error("{path}: `{src}`: {message}")]
    Trim {
        path: String,
        src: String,
        message: String,
    },
    /// The audio output device failed (preview playback only).
    #[error("audio output: {0}")]
    Output(String),
}

impl AudioError {
    /// The JSON path the error is about (`audioTracks[1].src`); empty for output errors.
    pub fn path(&self) -> &str {
        match self {
            AudioError::Track { path, .. }
            | AudioError::Asset { path, .. }
            | AudioError::Unsupported { path, .. }
            | AudioError::Corrupt { path, .. }
            | AudioError::Io { path, .. }
            | AudioError::Trim { path, .. } => path,
            AudioError::Output(_) => "",
        }
    }
}

/// Which track a decoder works for, to build errors.
#[derive(Debug, Clone)]
pub(crate) struct TrackCtx {
    /// `audioTracks[i]`
    index: usize,
    /// `audioTracks[i].src`
    path: String,
    src: String,
}

impl TrackCtx {
    fn new(index: usize, src: &str) -> Self {
        TrackCtx {
            index,
            path: format!("audioTracks[{index}].src"),
            src: src.to_string(),
        }
    }
    pub(crate) fn unsupported(&self, reason: String) -> AudioError {
        AudioError::Unsupported {
            path: self.path.clone(),
            src: self.src.clone(),
            reason,
        }
    }
    pub(crate) fn corrupt(&self, reason: String) -> AudioError {
        AudioError::Corrupt {
            path: self.path.clone(),
            src: self.src.clone(),
            reason,
        }
    }
    pub(crate) fn io(&self, source: std::io::Error) -> AudioError {
        AudioError::Io {
            path: self.path.clone(),
            src: self.src.clone(),
            source,
        }
    }
    fn trim(&self, field: &str, message: String) -> AudioError {
        AudioError::Trim {
            path: format!("audioTracks[{}].{field}", self.index),
            src: self.src.clone(),
            message,
        }
    }
}

/// The soft limiter applied to the mix: identity up to [`LIMITER_KNEE`], then
/// `knee + (1 − knee)·tanh((|x| − knee)/(1 − knee))` with the sign of `x`, so the output stays
/// within ±1.0. NaN becomes silence.
#[inline]
pub fn soft_limit(x: f32) -> f32 {
    let a = x.abs();
    if a <= LIMITER_KNEE {
        return x;
    }
    if x.is_nan() {
        return 0.0;
    }
    const RANGE: f32 = 1.0 - LIMITER_KNEE;
    let y = LIMITER_KNEE + RANGE * ((a - LIMITER_KNEE) / RANGE).tanh();
    y.min(1.0).copysign(x)
}

/// Where a track's samples come from.
enum Stream {
    /// An audio file of `audioTracks`.
    File(Box<TrackStream>),
    /// The sound of a video layer's clip.
    Clip(Box<clip::ClipAudio>),
}

impl Stream {
    fn pull(&mut self, l: &mut [f32], r: &mut [f32]) -> Result<(), AudioError> {
        match self {
            Stream::File(s) => s.pull(l, r),
            Stream::Clip(c) => c.pull(l, r),
        }
    }
}

struct Track {
    stream: Stream,
    /// Timeline frames `[start, end)` where the track sounds.
    start: u64,
    end: u64,
    volume: f32,
    fade_in: f64,
    fade_out: f64,
}

impl Track {
    fn gain(&self, n: u64) -> f32 {
        let mut g = 1.0f64;
        if self.fade_in > 0.0 {
            g *= ((n - self.start) as f64 / self.fade_in).min(1.0);
        }
        if self.fade_out > 0.0 {
            g *= ((self.end - n) as f64 / self.fade_out).min(1.0);
        }
        if g == 1.0 {
            self.volume
        } else {
            self.volume * g as f32
        }
    }
}

/// Streams the mix of a project's audio tracks. See the [module docs](self) for the semantics.
pub struct AudioMixer {
    tracks: Vec<Track>,
    total_frames: u64,
    pos: u64,
    l: Vec<f32>,
    r: Vec<f32>,
}

fn secs_to_frames(secs: f64, rate: u32) -> u64 {
    if secs.is_finite() && secs > 0.0 {
        (secs * f64::from(rate)).round() as u64
    } else {
        0
    }
}

impl AudioMixer {
    /// Opens and prepares all tracks: checks each file, seeks to its `trimStart` and decodes the
    /// first packet. `total_frames` is the output length in sample frames at 48 kHz.
    pub fn new(
        tracks: &[AudioTrack],
        assets: &AssetResolver,
        total_frames: u64,
    ) -> Result<AudioMixer, AudioError> {
        let mut prepared = Vec::with_capacity(tracks.len());
        for (i, t) in tracks.iter().enumerate() {
            let ctx = TrackCtx::new(i, &t.src);
            let path = assets.resolve(&t.src).map_err(|source| AudioError::Asset {
                path: ctx.path.clone(),
                source,
            })?;
            if let Some(track) = prepare_track(&ctx, t, &path, total_frames)? {
                prepared.push(track);
            }
        }
        Ok(AudioMixer {
            tracks: prepared,
            total_frames,
            pos: 0,
            l: vec![0.0; BLOCK],
            r: vec![0.0; BLOCK],
        })
    }

    /// Whether `project` has audio tracks or unmuted video layers (whose clips may have sound).
    pub fn may_sound(project: &Project) -> bool {
        !project.audio_tracks.is_empty()
            || project
                .frames
                .iter()
                .flat_map(|c| &c.layers)
                .any(|l| l.kind == LayerKind::Video && !l.muted())
    }

    /// The mixer of a whole project: its `audioTracks` plus the sound of every unmuted video layer
    /// whose clip has audio (clips probed and decoded with `tools`). None when the project has no
    /// audio tracks and no video layer that could sound, so that the output gets no audio stream.
    pub fn for_project(
        project: &Project,
        assets: &AssetResolver,
        tools: &MediaTools,
        total_frames: u64,
    ) -> Result<Option<AudioMixer>, AudioError> {
        let media = MediaIndex::new(assets.clone(), tools.clone());
        AudioMixer::for_prepared(project, &Timeline::new(project), &media, total_frames)
    }

    /// [`AudioMixer::for_project`] with the render's timeline and media index (each clip probed at
    /// most once per render, by whichever stage asks first).
    pub fn for_prepared(
        project: &Project,
        timeline: &Timeline,
        media: &MediaIndex,
        total_frames: u64,
    ) -> Result<Option<AudioMixer>, AudioError> {
        if !AudioMixer::may_sound(project) {
            return Ok(None);
        }
        let clips = clip::clip_tracks(project, timeline, media, total_frames)?;
        if project.audio_tracks.is_empty() && clips.is_empty() {
            return Ok(None);
        }
        let mut mixer = AudioMixer::new(&project.audio_tracks, media.assets(), total_frames)?;
        mixer.tracks.extend(clips);
        Ok(Some(mixer))
    }

    /// Fills `out` (interleaved L, R) with the next samples; returns the number of `f32` values
    /// written (always even); 0 means the mix is finished.
    pub fn read(&mut self, out: &mut [f32]) -> Result<usize, AudioError> {
        let frames = (out.len() / 2) as u64;
        let n_total = frames.min(self.total_frames - self.pos) as usize;
        let mut done = 0usize;
        while done < n_total {
            let n = (n_total - done).min(BLOCK);
            let block = &mut out[done * 2..(done + n) * 2];
            self.mix_block(block)?;
            done += n;
        }
        Ok(done * 2)
    }

    fn mix_block(&mut self, out: &mut [f32]) -> Result<(), AudioError> {
        let n = out.len() / 2;
        let pos = self.pos;
        out.fill(0.0);
        for t in &mut self.tracks {
            let a = pos.max(t.start);
            let b = (pos + n as u64).min(t.end);
            if a >= b {
                continue;
            }
            let k = (b - a) as usize;
            let (l, r) = (&mut self.l[..k], &mut self.r[..k]);
            t.stream.pull(l, r)?;
            let off = (a - pos) as usize;
            for (j, (sl, sr)) in l.iter().zip(r.iter()).enumerate() {
                let g = t.gain(a + j as u64);
                let o = &mut out[(off + j) * 2..(off + j) * 2 + 2];
                o[0] += sl * g;
                o[1] += sr * g;
            }
        }
        for s in out.iter_mut() {
            *s = soft_limit(*s);
        }
        self.pos += n as u64;
        Ok(())
    }

    /// Output length in sample frames at [`SAMPLE_RATE`].
    pub fn total_frames(&self) -> u64 {
        self.total_frames
    }

    /// Sample frames already delivered by [`AudioMixer::read`].
    pub fn position(&self) -> u64 {
        self.pos
    }
}

fn prepare_track(
    ctx: &TrackCtx,
    t: &AudioTrack,
    path: &Path,
    total_frames: u64,
) -> Result<Option<Track>, AudioError> {
    let mut decoder = Decoder::open(path, ctx)?;
    let rate = decoder.sample_rate();
    let frames = match decoder.frames() {
        Some(f) => f,
        None => match &mut decoder {
            Decoder::Sym(d) => d.count_frames_guarded()?,
            Decoder::Wav(_) => 0,
        },
    };
    let src_start = secs_to_frames(t.trim_start, rate);
    let seconds = |f: u64| f as f64 / f64::from(rate);
    if frames == 0 {
        return Err(ctx.corrupt("the file holds no audio samples".into()));
    }
    if src_start >= frames {
        return Err(ctx.trim(
            "trimStart",
            format!(
                "trimStart {} s is at or beyond the end of the source ({:.3} s long)",
                t.trim_start,
                seconds(frames)
            ),
        ));
    }
    let src_end = t
        .trim_end
        .map_or(frames, |e| secs_to_frames(e, rate).min(frames));
    if src_end <= src_start {
        return Err(ctx.trim(
            "trimEnd",
            "the trimmed span is shorter than one sample".into(),
        ));
    }
    let len = src_end - src_start;
    let out_len = (len as u128 * u128::from(SAMPLE_RATE)).div_ceil(u128::from(rate)) as u64;
    let start = secs_to_frames(t.start, SAMPLE_RATE);
    let end = if t.r#loop {
        total_frames
    } else {
        start.saturating_add(out_len).min(total_frames)
    };
    tracing::debug!(
        track = %ctx.path, src = %ctx.src, rate, channels = ?decoder.channels(), source_frames = frames,
        span = ?(src_start, src_end), timeline = ?(start, end), looped = t.r#loop,
        "audio track prepared"
    );
    if start >= end {
        tracing::info!(track = %ctx.path, "audio track starts after the end of the video; skipped");
        return Ok(None);
    }
    if src_start > 0 {
        decoder.seek(src_start)?;
    }
    let mut stream = TrackStream::new(decoder, ctx, src_start, len, t.r#loop)?;
    stream.prime()?;
    Ok(Some(Track {
        stream: Stream::File(Box::new(stream)),
        start,
        end,
        volume: t.volume as f32,
        fade_in: t.fade_in.max(0.0) * f64::from(SAMPLE_RATE),
        fade_out: t.fade_out.max(0.0) * f64::from(SAMPLE_RATE),
    }))
}

/// The whole mix in memory (tests, preview): `total_frames` × 2 interleaved samples.
pub fn mix_all(
    tracks: &[AudioTrack],
    assets: &AssetResolver,
    total_frames: u64,
) -> Result<Vec<f32>, AudioError> {
    let mut mixer = AudioMixer::new(tracks, assets, total_frames)?;
    let len = usize::try_from(total_frames.saturating_mul(2)).map_err(|_| AudioError::Track {
        path: "audioTracks".into(),
        message: format!("{total_frames} frames do not fit in memory"),
    })?;
    let mut out = vec![0.0f32; len];
    let mut done = 0;
    while done < len {
        let n = mixer.read(&mut out[done..])?;
        if n == 0 {
            break;
        }
        done += n;
    }
    Ok(out)
}

/// The mix of frames `skip..` of the timeline, as the encoder's audio input. Starting mid-timeline
/// (`--frames A..B`, chunks) mixes from the start and drops the lead-in, so fades and loops land
/// exactly where they would in a full render.
pub(crate) struct MixerSource {
    mixer: AudioMixer,
    skip_frames: u64,
}

impl MixerSource {
    pub(crate) fn new(mixer: AudioMixer, skip_frames: u64) -> Self {
        MixerSource { mixer, skip_frames }
    }
}

impl crate::encoder::AudioSource for MixerSource {
    fn read(&mut self, out: &mut [f32]) -> Result<usize, String> {
        while self.skip_frames > 0 {
            let n = (self.skip_frames as usize * CHANNELS as usize).min(out.len());
            let got = self.mixer.read(&mut out[..n]).map_err(|e| e.to_string())?;
            if got == 0 {
                self.skip_frames = 0;
                return Ok(0);
            }
            self.skip_frames -= (got / CHANNELS as usize) as u64;
        }
        self.mixer.read(out).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_is_identity_below_the_knee_and_bounded_above() {
        for i in 0..=1000 {
            let x = LIMITER_KNEE * i as f32 / 1000.0;
            assert_eq!(soft_limit(x).to_bits(), x.to_bits());
            assert_eq!(soft_limit(-x).to_bits(), (-x).to_bits());
        }
        let mut prev = LIMITER_KNEE;
        for i in 1..=2000 {
            let x = LIMITER_KNEE + i as f32 * 0.005;
            let y = soft_limit(x);
            assert!(y >= prev && y <= 1.0, "{x} -> {y}");
            assert_eq!(soft_limit(-x), -y);
            prev = y;
        }
        // Continuous at the knee, and close to full scale for large inputs.
        assert!((soft_limit(LIMITER_KNEE + 1e-4) - (LIMITER_KNEE + 1e-4)).abs() < 1e-5);
        assert!(soft_limit(10.0) > 0.999);
        assert_eq!(soft_limit(f32::NAN), 0.0);
        assert_eq!(soft_limit(f32::INFINITY), 1.0);
    }

    #[test]
    fn knee_is_minus_one_dbfs() {
        let db = 20.0 * f64::from(LIMITER_KNEE).log10();
        assert!((db + 1.0).abs() < 1e-4, "{db}");
    }
}
