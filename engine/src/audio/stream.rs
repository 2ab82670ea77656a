//! One track's sample stream: the trimmed span of its source (looped if asked), resampled to
//! 48 kHz, delivered in whatever block sizes the mixer asks for.

use rubato::{FftFixedInOut, Resampler};

use super::decode::Decoder;
use super::{AudioError, TrackCtx, SAMPLE_RATE};

/// Input block of the resampler, in source frames (rounded up to a whole resampling period).
const RESAMPLE_CHUNK: usize = 1024;

/// The trimmed span `[start, start + len)` of a source, in source frames, read once or looped.
struct Span {
    decoder: Decoder,
    ctx: TrackCtx,
    start: u64,
    len: u64,
    looped: bool,
    /// Frames of the current pass already delivered.
    done: u64,
    ended: bool,
    warned_short: bool,
    l: Vec<f32>,
    r: Vec<f32>,
}

impl Span {
    /// Appends the next frames of the span to `l`/`r`; returns how many, 0 at the end.
    fn read(&mut self, l: &mut Vec<f32>, r: &mut Vec<f32>) -> Result<usize, AudioError> {
        if self.ended {
            return Ok(0);
        }
        if self.done == self.len {
            if !self.looped {
                self.ended = true;
                return Ok(0);
            }
            self.decoder.seek(self.start)?;
            self.done = 0;
        }
        let left = self.len - self.done;
        self.l.clear();
        self.r.clear();
        let n = self.decoder.read(&mut self.l, &mut self.r)?;
        let n = if n == 0 {
            // The stream holds fewer frames than its header said: the rest of the pass is silence.
            if !self.warned_short {
                tracing::warn!(
                    track = %self.ctx.path, src = %self.ctx.src,
                    "audio ends {left} frames before the length its header declares; padding with silence"
                );
                self.warned_short = true;
            }
            let n = left.min(RESAMPLE_CHUNK as u64) as usize;
            l.resize(l.len() + n, 0.0);
            r.resize(r.len() + n, 0.0);
            n
        } else {
            let n = (n as u64).min(left) as usize;
            l.extend_from_slice(&self.l[..n]);
            r.extend_from_slice(&self.r[..n]);
            n
        };
        self.done += n as u64;
        Ok(n)
    }
}

/// A track's audio at 48 kHz. After the span ends, it yields silence forever.
pub(crate) struct TrackStream {
    span: Span,
    resampler: Option<Resampling>,
    /// Resampled frames waiting to be taken, and how far they have been taken.
    fifo_l: Vec<f32>,
    fifo_r: Vec<f32>,
    fifo_pos: usize,
    span_done: bool,
}

struct Resampling {
    rs: FftFixedInOut<f32>,
    input: [Vec<f32>; 2],
    output: Vec<Vec<f32>>,
    /// Output frames still to drop (the resampler's delay).
    skip: usize,
}

impl TrackStream {
    /// `decoder` must be positioned at `start`.
    pub fn new(
        decoder: Decoder,
        ctx: &TrackCtx,
        start: u64,
        len: u64,
        looped: bool,
    ) -> Result<Self, AudioError> {
        let rate = decoder.sample_rate();
        let resampler = if rate == SAMPLE_RATE {
            None
        } else {
            let rs =
                FftFixedInOut::<f32>::new(rate as usize, SAMPLE_RATE as usize, RESAMPLE_CHUNK, 2)
                    .map_err(|e| {
                    ctx.unsupported(format!(
                        "cannot resample {rate} Hz to {SAMPLE_RATE} Hz: {e}"
                    ))
                })?;
            let output = rs.output_buffer_allocate(true);
            let skip = rs.output_delay();
            let cap = rs.input_frames_max() + 8192;
            Some(Resampling {
                input: [Vec::with_capacity(cap), Vec::with_capacity(cap)],
                output,
                skip,
                rs,
            })
        };
        Ok(TrackStream {
            span: Span {
                decoder,
                ctx: ctx.clone(),
                start,
                len,
                looped,
                done: 0,
                ended: false,
                warned_short: false,
                l: Vec::new(),
                r: Vec::new(),
            },
            resampler,
            fifo_l: Vec::new(),
            fifo_r: Vec::new(),
            fifo_pos: 0,
            span_done: false,
        })
    }

    fn available(&self) -> usize {
        self.fifo_l.len() - self.fifo_pos
    }

    /// Decodes (and resamples) until at least `n` frames are waiting, or the span has ended.
    fn fill(&mut self, n: usize) -> Result<(), AudioError> {
        if self.fifo_pos > 0 && self.fifo_pos * 2 >= self.fifo_l.len() {
            self.fifo_l.drain(..self.fifo_pos);
            self.fifo_r.drain(..self.fifo_pos);
            self.fifo_pos = 0;
        }
        while self.available() < n {
            match &mut self.resampler {
                None => {
                    if self.span_done {
                        return Ok(());
                    }
                    if self.span.read(&mut self.fifo_l, &mut self.fifo_r)? == 0 {
                        self.span_done = true;
                    }
                }
                Some(rsm) => {
                    let need = rsm.rs.input_frames_next();
                    while rsm.input[0].len() < need && !self.span_done {
                        let [il, ir] = &mut rsm.input;
                        if self.span.read(il, ir)? == 0 {
                            self.span_done = true;
                        }
                    }
                    if rsm.input[0].len() < need {
                        // End of the span: flush the resampler with silence. The mixer never asks
                        // for more than the span's length, so this stops after the delay.
                        rsm.input[0].resize(need, 0.0);
                        rsm.input[1].resize(need, 0.0);
                    }
                    let (used, made) = rsm
                        .rs
                        .process_into_buffer(&rsm.input, &mut rsm.output, None)
                        .map_err(|e| self.span.ctx.corrupt(format!("resampling failed: {e}")))?;
                    rsm.input[0].drain(..used);
                    rsm.input[1].drain(..used);
                    let skip = rsm.skip.min(made);
                    rsm.skip -= skip;
                    self.fifo_l.extend_from_slice(&rsm.output[0][skip..made]);
                    self.fifo_r.extend_from_slice(&rsm.output[1][skip..made]);
                }
            }
        }
        Ok(())
    }

    /// Fills `l` and `r` (same length) with the next frames; silence once the span has ended.
    pub fn pull(&mut self, l: &mut [f32], r: &mut [f32]) -> Result<(), AudioError> {
        let n = l.len();
        self.fill(n)?;
        let k = self.available().min(n);
        l[..k].copy_from_slice(&self.fifo_l[self.fifo_pos..self.fifo_pos + k]);
        r[..k].copy_from_slice(&self.fifo_r[self.fifo_pos..self.fifo_pos + k]);
        l[k..].fill(0.0);
        r[k..].fill(0.0);
        self.fifo_pos += k;
        Ok(())
    }

    /// Decodes the first block now, so broken streams fail in [`super::AudioMixer::new`].
    pub fn prime(&mut self) -> Result<(), AudioError> {
        self.fill(1)
    }
}
