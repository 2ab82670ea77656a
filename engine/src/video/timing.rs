//! Frame-exact time mapping of a video layer: layer-local time → source time → source frame, and
//! where a layer ends by default. Pure arithmetic, shared by the picture and the sound.
//!
//! For layer-local time τ (seconds since the layer's `start`), the source time is
//! `s = trimStart + τ·speed`. With `loop`, `s` wraps inside `[trimStart, trimEnd)`; without, past
//! `trimEnd` the picture freezes on the last frame before `trimEnd`. The frame shown is the one
//! with the largest timestamp ≤ `s` (within [`EPSILON`], so that frame *n* of a 30 fps project
//! shows frame *n* of a 30 fps clip despite rounding, even from containers such as WebM/Matroska
//! whose timestamps are rounded to whole milliseconds).

use crate::media::ClipInfo;
use crate::project::Layer;

/// Tolerance of time comparisons, in seconds: half a millisecond, the rounding error of
/// millisecond timestamps (WebM, Matroska, FLV). A frame may thus show up to 0.5 ms early.
pub const EPSILON: f64 = 5e-4;

/// How a layer plays its clip (the layer's video fields with their defaults applied).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipTiming {
    /// Source seconds where playback starts.
    pub trim_start: f64,
    /// Source seconds where playback stops (capped at the clip's duration); None = the clip's end.
    pub trim_end: Option<f64>,
    /// Source seconds per layer second.
    pub speed: f64,
    pub looped: bool,
}

impl ClipTiming {
    /// The timing of a video layer.
    pub fn of_layer(layer: &Layer) -> ClipTiming {
        ClipTiming {
            trim_start: layer.trim_start(),
            trim_end: layer.trim_end,
            speed: layer.speed(),
            looped: layer.looped(),
        }
    }

    /// The played source span `[start, end)` of a clip lasting `duration` seconds. Bad values
    /// (negative, reversed, non-finite) are clamped into the clip rather than trusted.
    pub fn span(&self, duration: f64) -> (f64, f64) {
        let duration = if duration.is_finite() && duration > 0.0 {
            duration
        } else {
            0.0
        };
        let start = finite_or(self.trim_start, 0.0).clamp(0.0, duration);
        let end = self
            .trim_end
            .map_or(duration, |e| finite_or(e, duration))
            .clamp(start, duration);
        (start, end)
    }

    fn speed(&self) -> f64 {
        if self.speed.is_finite() && self.speed > 0.0 {
            self.speed
        } else {
            1.0
        }
    }

    /// Layer seconds one pass of the span lasts.
    pub fn pass_length(&self, duration: f64) -> f64 {
        let (start, end) = self.span(duration);
        (end - start) / self.speed()
    }

    /// Source time for layer-local time `tau` (before the freeze: may lie past `trimEnd` without
    /// loop). Negative `tau` counts as 0.
    pub fn source_time(&self, duration: f64, tau: f64) -> f64 {
        let (start, end) = self.span(duration);
        let tau = finite_or(tau, 0.0).max(0.0);
        let offset = tau * self.speed();
        if self.looped && end - start > EPSILON {
            let len = end - start;
            let mut off = offset.rem_euclid(len);
            if len - off < EPSILON {
                off = 0.0;
            }
            start + off
        } else {
            start + offset
        }
    }

    /// Index into `frame_times` (sorted, from 0) of the frame shown at layer-local time `tau`
    /// of a clip lasting `duration`. `frame_times` must not be empty.
    pub fn frame_index(&self, frame_times: &[f64], duration: f64, tau: f64) -> usize {
        let (_, end) = self.span(duration);
        let s = self.source_time(duration, tau);
        let n = if s >= end - EPSILON {
            // Frozen (or exactly at the end): the last frame that starts before trimEnd.
            frame_times.partition_point(|&t| t < end - EPSILON)
        } else {
            frame_times.partition_point(|&t| t <= s + EPSILON)
        };
        n.saturating_sub(1).min(frame_times.len().saturating_sub(1))
    }
}

fn finite_or(v: f64, default: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        default
    }
}

/// Where a video layer ends, in **composition-local** seconds (like `start`/`end`): its `end`
/// when given; otherwise, without loop, `start + (trimEnd − trimStart)/speed` (the clip played
/// once); with loop `None`, meaning "until the composition ends". The caller still caps it at the
/// composition's duration. The compositor (visibility) and the audio mixer both use this.
pub fn clip_end(layer: &Layer, info: &ClipInfo) -> Option<f64> {
    if let Some(end) = layer.end {
        return Some(end);
    }
    let timing = ClipTiming::of_layer(layer);
    if timing.looped {
        return None;
    }
    Some(layer.start.unwrap_or(0.0) + timing.pass_length(info.duration))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn times(n: usize, fps: f64) -> Vec<f64> {
        (0..n).map(|i| i as f64 / fps).collect()
    }

    fn t(trim_start: f64, trim_end: Option<f64>, speed: f64, looped: bool) -> ClipTiming {
        ClipTiming {
            trim_start,
            trim_end,
            speed,
            looped,
        }
    }

    #[test]
    fn same_rate_maps_frame_n_to_frame_n() {
        let ft = times(300, 30.0);
        let plain = t(0.0, None, 1.0, false);
        for n in 0..300u32 {
            assert_eq!(
                plain.frame_index(&ft, 10.0, f64::from(n) / 30.0),
                n as usize
            );
        }
        // 29.97 too: n / (30000/1001) computed both ways.
        let ntsc: Vec<f64> = (0..300).map(|i| i as f64 * 1001.0 / 30000.0).collect();
        for n in 0..300u32 {
            let tau = f64::from(n) / (30000.0 / 1001.0);
            assert_eq!(plain.frame_index(&ntsc, 10.01, tau), n as usize);
        }
    }

    #[test]
    fn trim_speed_and_freeze() {
        let ft = times(30, 30.0); // 1 s clip
        let d = 1.0;
        // trimStart 0.5 s: frame 15 first.
        assert_eq!(t(0.5, None, 1.0, false).frame_index(&ft, d, 0.0), 15);
        // speed 2: every other frame.
        let fast = t(0.0, None, 2.0, false);
        for n in 0..15u32 {
            assert_eq!(
                fast.frame_index(&ft, d, f64::from(n) / 30.0),
                2 * n as usize
            );
        }
        // speed 0.5: each frame twice.
        let slow = t(0.0, None, 0.5, false);
        for n in 0..60u32 {
            assert_eq!(
                slow.frame_index(&ft, d, f64::from(n) / 30.0),
                n as usize / 2
            );
        }
        // Past the end: frozen on the last frame; with trimEnd 0.5, the last frame before 0.5.
        assert_eq!(t(0.0, None, 1.0, false).frame_index(&ft, d, 5.0), 29);
        assert_eq!(t(0.0, Some(0.5), 1.0, false).frame_index(&ft, d, 0.5), 14);
        assert_eq!(t(0.0, Some(0.51), 1.0, false).frame_index(&ft, d, 3.0), 15);
        // trimEnd beyond the clip is capped.
        assert_eq!(t(0.0, Some(9.0), 1.0, false).frame_index(&ft, d, 3.0), 29);
    }

    #[test]
    fn loops_wrap_inside_the_span() {
        let ft = times(30, 30.0);
        let l = t(0.2, Some(0.5), 1.0, true); // frames 6..15, 9 frames per pass
        for n in 0..40u32 {
            assert_eq!(
                l.frame_index(&ft, 1.0, f64::from(n) / 30.0),
                6 + n as usize % 9
            );
        }
        let whole = t(0.0, None, 1.0, true);
        assert_eq!(whole.frame_index(&ft, 1.0, 1.0), 0);
        assert_eq!(whole.frame_index(&ft, 1.0, 61.0 / 30.0), 1);
    }

    #[test]
    fn other_rates_and_vfr() {
        // A 25 fps clip in a 30 fps project: the frame on screen at each project frame.
        let ft = times(50, 25.0);
        let p = t(0.0, None, 1.0, false);
        for n in 0..60u32 {
            let tau = f64::from(n) / 30.0;
            let expect = (tau * 25.0 + 1e-9).floor() as usize;
            assert_eq!(p.frame_index(&ft, 2.0, tau), expect.min(49));
        }
        // Variable rate: frames at irregular times.
        let vfr = [0.0, 0.1, 0.15, 0.4, 0.41, 1.0];
        let want = [
            (0.0, 0),
            (0.099, 0),
            (0.1, 1),
            (0.2, 2),
            (0.405, 3),
            (0.9, 4),
            (2.0, 5),
        ];
        for (tau, i) in want {
            assert_eq!(p.frame_index(&vfr, 1.1, tau), i, "tau {tau}");
        }
    }

    #[test]
    fn bad_values_do_not_panic() {
        let ft = times(3, 30.0);
        for timing in [
            t(f64::NAN, None, 1.0, true),
            t(5.0, Some(-1.0), f64::INFINITY, true),
            t(0.0, Some(0.0), 0.0, true),
            t(-3.0, None, -2.0, false),
        ] {
            for tau in [f64::NAN, -1.0, 0.0, 1e12] {
                assert!(timing.frame_index(&ft, 0.1, tau) < 3);
            }
        }
    }

    #[test]
    fn default_layer_end() {
        let info = ClipInfo {
            width: 2,
            height: 2,
            coded_width: 2,
            coded_height: 2,
            duration: 4.0,
            frame_rate: 1.0,
            has_alpha: false,
            has_audio: false,
            audio_channels: None,
            codec: "h264".into(),
            pix_fmt: "yuv420p".into(),
            frame_times: times(4, 1.0),
            rotation: 0,
            color_space: String::new(),
            color_range: String::new(),
            start_offset: 0.0,
            vpx_alpha: false,
        };
        let mut l = Layer::video("a.mp4").trimmed(1.0, Some(3.0)).at_speed(2.0);
        l.start = Some(0.5);
        assert_eq!(clip_end(&l, &info), Some(1.5));
        assert_eq!(clip_end(&l.clone().looping(), &info), None);
        l.end = Some(9.0);
        assert_eq!(clip_end(&l, &info), Some(9.0));
    }
}
