//! Audio mixer tests on real files: WAVs written with hound, compressed files made by the real
//! `ffmpeg` binary. Everything is measured from the mixed output (levels, onsets, periods,
//! frequencies), against expectations derived from the track parameters.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::Command;

use vrender_engine::assets::AssetResolver;
use vrender_engine::audio::{mix_all, AudioError, AudioMixer, LIMITER_KNEE, SAMPLE_RATE};
use vrender_engine::project::AudioTrack;

const SR: f64 = SAMPLE_RATE as f64;

struct Dir {
    dir: tempfile::TempDir,
}

impl Dir {
    fn new() -> Dir {
        Dir {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
    fn assets(&self) -> AssetResolver {
        AssetResolver::relative_to(self.dir.path())
    }
}

/// Writes interleaved samples as a 32-bit float WAV.
fn wav_f32(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample(*s).unwrap();
    }
    w.finalize().unwrap();
}

/// Writes interleaved samples as a 16-bit integer WAV.
fn wav_i16(path: &Path, rate: u32, channels: u16, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for s in samples {
        w.write_sample((s * 32767.0).round() as i16).unwrap();
    }
    w.finalize().unwrap();
}

fn sine(rate: u32, secs: f64, freq: f64, amp: f64) -> Vec<f32> {
    let n = (secs * f64::from(rate)).round() as usize;
    (0..n)
        .map(|i| (amp * (2.0 * PI * freq * i as f64 / f64::from(rate)).sin()) as f32)
        .collect()
}

/// Silence with single-sample clicks at `(seconds, amplitude)`.
fn clicks(rate: u32, secs: f64, at: &[(f64, f32)]) -> Vec<f32> {
    let mut v = vec![0.0f32; (secs * f64::from(rate)).round() as usize];
    for &(t, a) in at {
        v[(t * f64::from(rate)).round() as usize] = a;
    }
    v
}

fn ffmpeg(args: &[&str]) {
    let out = Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y"])
        .args(args)
        .output()
        .expect("ffmpeg must be installed");
    assert!(
        out.status.success(),
        "ffmpeg {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn left(mix: &[f32]) -> Vec<f32> {
    mix.chunks_exact(2).map(|f| f[0]).collect()
}
fn right(mix: &[f32]) -> Vec<f32> {
    mix.chunks_exact(2).map(|f| f[1]).collect()
}

fn rms(x: &[f32]) -> f64 {
    (x.iter().map(|s| f64::from(*s).powi(2)).sum::<f64>() / x.len() as f64).sqrt()
}

fn db(x: f64) -> f64 {
    20.0 * x.log10()
}

/// Indices of local peaks above `thr` (at least `gap` samples apart).
fn peaks(x: &[f32], thr: f32, gap: usize) -> Vec<usize> {
    let mut out: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < x.len() {
        if x[i].abs() > thr {
            let end = (i + gap).min(x.len());
            let best = (i..end)
                .max_by(|&a, &b| x[a].abs().total_cmp(&x[b].abs()))
                .unwrap();
            out.push(best);
            i = best + gap;
        } else {
            i += 1;
        }
    }
    out
}

/// Frequency from rising zero crossings (linear interpolation between samples).
fn frequency(x: &[f32]) -> f64 {
    let mut crossings = Vec::new();
    for i in 1..x.len() {
        if x[i - 1] < 0.0 && x[i] >= 0.0 {
            let frac = f64::from(-x[i - 1]) / f64::from(x[i] - x[i - 1]);
            crossings.push(i as f64 - 1.0 + frac);
        }
    }
    assert!(crossings.len() > 10, "no periodic signal");
    let span = crossings.last().unwrap() - crossings[0];
    (crossings.len() - 1) as f64 / span * SR
}

fn first_above(x: &[f32], thr: f32) -> Option<usize> {
    x.iter().position(|s| s.abs() > thr)
}
fn last_above(x: &[f32], thr: f32) -> Option<usize> {
    x.iter().rposition(|s| s.abs() > thr)
}

fn track(src: &str) -> AudioTrack {
    AudioTrack::new(src)
}

fn frames(secs: f64) -> u64 {
    (secs * SR).round() as u64
}

// ---------------------------------------------------------------------------------------------
// Levels, fades, limiter

#[test]
fn mix_levels_follow_volumes_and_fades() {
    let d = Dir::new();
    // Tone A: 440 Hz at amplitude 0.25 for 4 s, fade-in 1 s.
    wav_f32(&d.path("a.wav"), 48_000, 1, &sine(48_000, 4.0, 440.0, 0.25));
    // Tone B: 1 kHz at amplitude 0.1 for 3 s, volume 2, from t = 1 s, fade-out over its last 1 s.
    wav_f32(&d.path("b.wav"), 48_000, 1, &sine(48_000, 3.0, 1000.0, 0.1));
    let a = AudioTrack {
        fade_in: 1.0,
        ..track("a.wav")
    };
    let b = AudioTrack {
        start: 1.0,
        volume: 2.0,
        fade_out: 1.0,
        ..track("b.wav")
    };
    let mix = mix_all(&[a, b], &d.assets(), frames(4.5)).unwrap();
    let l = left(&mix);
    assert_eq!(
        l,
        right(&mix),
        "mono sources play identically on both sides"
    );

    // Expected envelope, straight from the track parameters.
    let gain_a = |t: f64| (t / 1.0).clamp(0.0, 1.0) * if t < 4.0 { 1.0 } else { 0.0 };
    let gain_b = |t: f64| {
        if (1.0..4.0).contains(&t) {
            2.0 * ((4.0 - t) / 1.0).min(1.0)
        } else {
            0.0
        }
    };
    let win = frames(0.05) as usize; // 50 ms: whole periods of 440 Hz (22) and 1 kHz (50)
    let mut checked = 0;
    let mut w0 = 0;
    while w0 + win <= l.len() {
        let expected_ms: f64 = (w0..w0 + win)
            .map(|i| {
                let t = i as f64 / SR;
                (0.25 * gain_a(t)).powi(2) / 2.0 + (0.1 * gain_b(t)).powi(2) / 2.0
            })
            .sum::<f64>()
            / win as f64;
        let measured = rms(&l[w0..w0 + win]);
        if expected_ms > 1e-5 {
            let diff = db(measured) - db(expected_ms.sqrt());
            assert!(
                diff.abs() < 0.5,
                "window at {:.3} s: {:.2} dB off",
                w0 as f64 / SR,
                diff
            );
            checked += 1;
        } else {
            assert!(
                measured < 0.004,
                "window at {:.3} s should be (nearly) silent: {measured}",
                w0 as f64 / SR
            );
        }
        w0 += win;
    }
    assert!(checked >= 75, "only {checked} windows checked");
    // After both tracks end: exact silence.
    assert!(l[frames(4.0) as usize..].iter().all(|s| *s == 0.0));
}

#[test]
fn quiet_48k_float_source_passes_bit_exactly() {
    let d = Dir::new();
    let mut stereo = Vec::new();
    for (i, s) in sine(48_000, 1.0, 997.0, 0.8).iter().enumerate() {
        stereo.push(*s);
        stereo.push(if i % 2 == 0 { -s * 0.5 } else { s * 0.25 });
    }
    wav_f32(&d.path("t.wav"), 48_000, 2, &stereo);
    let mix = mix_all(&[track("t.wav")], &d.assets(), frames(1.0)).unwrap();
    assert_eq!(mix.len(), stereo.len());
    // Bit-exact (`==`: the sum starts from +0.0, so a source -0.0 comes out as +0.0).
    let diff = mix.iter().zip(&stereo).position(|(a, b)| a != b);
    assert_eq!(diff, None, "below the knee the mix is bit-exact");
}

#[test]
fn loud_sums_are_soft_limited() {
    let d = Dir::new();
    wav_f32(&d.path("a.wav"), 48_000, 1, &sine(48_000, 1.0, 200.0, 0.9));
    wav_f32(&d.path("b.wav"), 48_000, 1, &sine(48_000, 1.0, 200.0, 0.9));
    let tracks = [
        AudioTrack {
            volume: 2.0,
            ..track("a.wav")
        },
        track("b.wav"),
    ];
    let mix = mix_all(&tracks, &d.assets(), frames(1.0)).unwrap();
    let peak = mix.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    assert!(peak <= 1.0 && peak > 0.99, "peak {peak}");
    // Samples whose sum stays under the knee are untouched: near zero crossings the sum is 2.7 x.
    let src = sine(48_000, 1.0, 200.0, 0.9);
    for (i, s) in src.iter().enumerate() {
        let sum = s * 2.0 + s;
        if sum.abs() <= LIMITER_KNEE * 0.99 {
            assert!(
                (mix[2 * i] - sum).abs() < 1e-6,
                "sample {i}: {} vs {sum}",
                mix[2 * i]
            );
        }
    }
}

// ---------------------------------------------------------------------------------------------
// start, trimStart, trimEnd, loop

#[test]
fn start_delays_the_track() {
    let d = Dir::new();
    wav_f32(
        &d.path("c48.wav"),
        48_000,
        1,
        &clicks(48_000, 1.0, &[(0.5, 0.8)]),
    );
    wav_f32(
        &d.path("c44.wav"),
        44_100,
        1,
        &clicks(44_100, 1.0, &[(0.5, 0.8)]),
    );
    for (src, tol) in [("c48.wav", 0usize), ("c44.wav", 2)] {
        let t = AudioTrack {
            start: 1.25,
            ..track(src)
        };
        let mix = mix_all(&[t], &d.assets(), frames(3.0)).unwrap();
        let l = left(&mix);
        let p = peaks(&l, 0.2, 1000);
        assert_eq!(p.len(), 1, "{src}: {p:?}");
        let expected = frames(1.75) as usize;
        assert!(
            p[0].abs_diff(expected) <= tol,
            "{src}: click at {} instead of {expected}",
            p[0]
        );
        // Nothing before the track starts.
        assert!(
            l[..frames(1.25) as usize].iter().all(|s| s.abs() < 1e-3),
            "{src}"
        );
    }
}

#[test]
fn trim_start_and_end_select_the_source_span() {
    let d = Dir::new();
    let src = clicks(48_000, 4.0, &[(1.0, 0.3), (2.0, 0.6), (3.0, 0.9)]);
    wav_f32(&d.path("clicks.wav"), 48_000, 1, &src);
    let t = AudioTrack {
        start: 0.5,
        trim_start: 1.5,
        trim_end: Some(2.5),
        ..track("clicks.wav")
    };
    let mix = mix_all(&[t], &d.assets(), frames(4.0)).unwrap();
    let l = left(&mix);
    let p = peaks(&l, 0.1, 1000);
    // Only the click at source 2.0 s survives, heard at 0.5 + (2.0 - 1.5) = 1.0 s.
    assert_eq!(p, vec![frames(1.0) as usize]);
    assert!((l[p[0]] - 0.6).abs() < 1e-6);

    // A tone shows the played span: trimEnd - trimStart = 1.5 s from start = 0.25 s.
    wav_f32(
        &d.path("tone.wav"),
        44_100,
        1,
        &sine(44_100, 4.0, 500.0, 0.5),
    );
    let t = AudioTrack {
        start: 0.25,
        trim_start: 1.0,
        trim_end: Some(2.5),
        ..track("tone.wav")
    };
    let mix = mix_all(&[t], &d.assets(), frames(3.0)).unwrap();
    let l = left(&mix);
    let on = first_above(&l, 0.05).unwrap();
    let off = last_above(&l, 0.05).unwrap();
    assert!(on.abs_diff(frames(0.25) as usize) < 100, "starts at {on}");
    assert!(off.abs_diff(frames(1.75) as usize) < 100, "ends at {off}");
}

#[test]
fn loop_repeats_the_trimmed_span_without_drift() {
    let d = Dir::new();
    // 1 s sources with a click at 0.25 s, at 48 kHz and 44.1 kHz.
    wav_f32(
        &d.path("l48.wav"),
        48_000,
        1,
        &clicks(48_000, 1.0, &[(0.25, 0.8)]),
    );
    wav_f32(
        &d.path("l44.wav"),
        44_100,
        1,
        &clicks(44_100, 1.0, &[(0.25, 0.8)]),
    );
    for (src, tol) in [("l48.wav", 0usize), ("l44.wav", 2)] {
        // Whole source looped from t = 0.5 s: clicks every 1 s from 0.75 s.
        let t = AudioTrack {
            start: 0.5,
            r#loop: true,
            ..track(src)
        };
        let mix = mix_all(&[t], &d.assets(), frames(10.0)).unwrap();
        let p = peaks(&left(&mix), 0.2, 1000);
        assert_eq!(p.len(), 10, "{src}: {p:?}");
        for (k, at) in p.iter().enumerate() {
            let expected = frames(0.75 + k as f64) as usize;
            assert!(
                at.abs_diff(expected) <= tol,
                "{src}: click {k} at {at}, expected {expected}"
            );
        }

        // Trimmed span [0.2, 0.5): period 0.3 s, click 0.05 s into each repeat.
        let t = AudioTrack {
            trim_start: 0.2,
            trim_end: Some(0.5),
            r#loop: true,
            ..track(src)
        };
        let mix = mix_all(&[t], &d.assets(), frames(9.0)).unwrap();
        let p = peaks(&left(&mix), 0.2, 1000);
        assert_eq!(p.len(), 30, "{src}: {p:?}");
        let period = (p[29] - p[0]) as f64 / 29.0;
        assert!(
            (period - 0.3 * SR).abs() < 0.2,
            "{src}: period {period} frames"
        );
        for (k, at) in p.iter().enumerate() {
            let expected = frames(0.05 + 0.3 * k as f64) as usize;
            assert!(
                at.abs_diff(expected) <= tol,
                "{src}: click {k} at {at}, expected {expected}"
            );
        }
    }
}

#[test]
fn looping_track_fades_in_once_and_out_at_the_video_end() {
    let d = Dir::new();
    wav_f32(
        &d.path("tone.wav"),
        48_000,
        1,
        &sine(48_000, 0.5, 1000.0, 0.5),
    );
    let t = AudioTrack {
        r#loop: true,
        fade_in: 0.5,
        fade_out: 1.0,
        ..track("tone.wav")
    };
    let mix = mix_all(&[t], &d.assets(), frames(4.0)).unwrap();
    let l = left(&mix);
    let level = |t0: f64| rms(&l[frames(t0) as usize..frames(t0 + 0.02) as usize]);
    let full = 0.5 / 2f64.sqrt();
    // Fade-in only over the first 0.5 s; repeats at 0.5, 1.0, ... play at full level.
    assert!(
        (db(level(0.24)) - db(full * 0.5)).abs() < 0.5,
        "{}",
        db(level(0.24))
    );
    assert!(
        (db(level(0.115)) - db(full * 0.25)).abs() < 0.5,
        "{}",
        db(level(0.115))
    );
    for t0 in [0.6, 1.1, 1.6, 2.1, 2.6] {
        assert!(
            (db(level(t0)) - db(full)).abs() < 0.5,
            "at {t0}: {}",
            db(level(t0))
        );
    }
    // Fade-out over the last second of the video.
    assert!((db(level(3.49)) - db(full * 0.5)).abs() < 0.5);
    assert!(level(3.98) < full * 0.03);
}

#[test]
fn flac_seek_matches_wav_exactly() {
    // trimStart past the seek threshold exercises symphonia's accurate seek, also on every loop.
    let d = Dir::new();
    let src: Vec<f32> = sine(48_000, 6.0, 310.0, 0.4)
        .iter()
        .enumerate()
        .map(|(i, s)| if i % 12_000 == 0 { 0.9 } else { *s })
        .collect();
    wav_i16(&d.path("s.wav"), 48_000, 1, &src);
    ffmpeg(&[
        "-i",
        d.path("s.wav").to_str().unwrap(),
        "-c:a",
        "flac",
        d.path("s.flac").to_str().unwrap(),
    ]);
    for (trim_start, looped) in [(2.3, false), (3.7, true)] {
        let mk = |src: &str| AudioTrack {
            start: 0.1,
            trim_start,
            trim_end: Some(trim_start + 1.1),
            r#loop: looped,
            ..track(src)
        };
        let w = mix_all(&[mk("s.wav")], &d.assets(), frames(5.0)).unwrap();
        let f = mix_all(&[mk("s.flac")], &d.assets(), frames(5.0)).unwrap();
        let first_diff = w.iter().zip(&f).position(|(a, b)| a != b);
        assert_eq!(first_diff, None, "trimStart {trim_start}, loop {looped}");
    }
}

#[test]
fn trim_start_is_sample_accurate_in_every_format() {
    // Tone bursts once a second (the one at 3.5 s louder); trimStart 3.0 s moves it to 0.5 s. Past
    // 65 536 frames MP3/FLAC/AAC seek, Vorbis decodes from the start: both must land exactly.
    let d = Dir::new();
    let mut v = vec![0.0f32; 48_000 * 6];
    for k in 0..6 {
        for j in 0..48 {
            v[k * 48_000 + 24_000 + j] = if k == 3 { 0.8 } else { 0.3 } * (j as f32 * 0.5).sin();
        }
    }
    wav_i16(&d.path("b.wav"), 48_000, 1, &v);
    let wav = d.path("b.wav");
    for ext in ["mp3", "ogg", "m4a", "flac"] {
        ffmpeg(&[
            "-i",
            wav.to_str().unwrap(),
            d.path(&format!("b.{ext}")).to_str().unwrap(),
        ]);
    }
    let onset = |src: String, trim_start: f64| {
        let t = AudioTrack {
            trim_start,
            ..track(&src)
        };
        let mix = mix_all(&[t], &d.assets(), frames(6.0)).unwrap();
        first_above(&left(&mix), 0.5).unwrap()
    };
    let reference = onset("b.wav".into(), 0.0);
    assert!(reference.abs_diff(frames(3.5) as usize) <= 3);
    for ext in ["wav", "mp3", "ogg", "m4a", "flac"] {
        let full = onset(format!("b.{ext}"), 0.0) as i64 - reference as i64;
        let trimmed =
            onset(format!("b.{ext}"), 3.0) as i64 - (reference - frames(3.0) as usize) as i64;
        // AAC in MP4 keeps its 1024 priming samples (documented): up to ~21 ms late.
        let late = if ext == "m4a" { 1030 } else { 2 };
        for (what, off) in [("untrimmed", full), ("trimStart 3 s", trimmed)] {
            assert!(
                (-2..=late).contains(&off),
                "{ext} {what}: {off} samples off"
            );
        }
        assert_eq!(full, trimmed, "{ext}: trimming must not shift the audio");
    }
}

// ---------------------------------------------------------------------------------------------
// Length

#[test]
fn output_length_is_exactly_total_frames() {
    let d = Dir::new();
    wav_i16(
        &d.path("short.wav"),
        44_100,
        2,
        &sine(44_100, 1.0, 300.0, 0.3).repeat(2),
    );
    wav_i16(
        &d.path("long.wav"),
        22_050,
        1,
        &sine(22_050, 10.0, 300.0, 0.3),
    );
    let total = frames(3.0) + 7;
    for tracks in [
        vec![track("short.wav")],
        vec![track("long.wav")],
        vec![
            AudioTrack {
                start: 2.5,
                ..track("long.wav")
            },
            track("short.wav"),
        ],
        vec![AudioTrack {
            r#loop: true,
            ..track("short.wav")
        }],
        vec![AudioTrack {
            start: 5.0,
            ..track("short.wav")
        }],
        vec![],
    ] {
        let mix = mix_all(&tracks, &d.assets(), total).unwrap();
        assert_eq!(mix.len() as u64, total * 2);

        // Streaming with an awkward (odd) buffer size gives the same samples and then 0.
        let mut m = AudioMixer::new(&tracks, &d.assets(), total).unwrap();
        assert_eq!(m.total_frames(), total);
        let mut buf = vec![0.0f32; 1001];
        let mut streamed = Vec::new();
        loop {
            let n = m.read(&mut buf).unwrap();
            assert_eq!(n % 2, 0);
            if n == 0 {
                break;
            }
            streamed.extend_from_slice(&buf[..n]);
        }
        assert_eq!(streamed, mix);
        assert_eq!(m.read(&mut buf).unwrap(), 0);
    }
    // The short source pads with silence; the long one is cut.
    let mix = mix_all(&[track("short.wav")], &d.assets(), total).unwrap();
    let off = last_above(&left(&mix), 0.01).unwrap();
    assert!(
        off.abs_diff(frames(1.0) as usize) < 50,
        "short source ends at {off}"
    );
    let mix = mix_all(&[track("long.wav")], &d.assets(), total).unwrap();
    assert!(
        rms(&left(&mix)[(total - 4800) as usize..]) > 0.2,
        "long source plays to the very end"
    );
    assert!(mix_all(&[track("long.wav")], &d.assets(), 0)
        .unwrap()
        .is_empty());
}

// ---------------------------------------------------------------------------------------------
// Formats, channels

#[test]
fn compressed_formats_decode_and_resample_to_48k() {
    let d = Dir::new();
    // 1 kHz at 44.1 kHz stereo, amplitude 0.5 (-9 dBFS RMS), 3 s.
    let src = sine(44_100, 3.0, 1000.0, 0.5);
    let stereo: Vec<f32> = src.iter().flat_map(|s| [*s, *s]).collect();
    wav_i16(&d.path("tone.wav"), 44_100, 2, &stereo);
    let wav = d.path("tone.wav");
    for (name, codec) in [
        ("tone.mp3", vec!["-c:a", "libmp3lame", "-b:a", "192k"]),
        ("tone.flac", vec!["-c:a", "flac"]),
        ("tone.ogg", vec!["-c:a", "libvorbis", "-q:a", "6"]),
        ("tone.m4a", vec!["-c:a", "aac", "-b:a", "192k"]),
        ("tone.wav", vec![]),
    ] {
        if !codec.is_empty() {
            let mut args = vec!["-i", wav.to_str().unwrap()];
            args.extend(codec.iter().copied());
            let out = d.path(name);
            args.push(out.to_str().unwrap());
            ffmpeg(&args);
        }
        let mix = mix_all(&[track(name)], &d.assets(), frames(3.5)).unwrap();
        for ch in [left(&mix), right(&mix)] {
            let mid = &ch[frames(0.5) as usize..frames(2.5) as usize];
            let f = frequency(mid);
            assert!((f - 1000.0).abs() < 0.5, "{name}: {f} Hz");
            let level = db(rms(mid));
            let expected = db(0.5 / 2f64.sqrt());
            assert!(
                (level - expected).abs() < 0.5,
                "{name}: {level:.2} dBFS, expected {expected:.2}"
            );
            // About 3 s of sound, then silence.
            let on = first_above(&ch, 0.1).unwrap();
            let off = last_above(&ch, 0.1).unwrap();
            assert!(on < frames(0.05) as usize, "{name}: starts at {on}");
            assert!(
                off.abs_diff(frames(3.0) as usize) < frames(0.06) as usize,
                "{name}: ends at {off}"
            );
        }
    }
}

#[test]
fn mono_and_surround_fold_to_stereo() {
    let d = Dir::new();
    let tone = sine(48_000, 1.0, 800.0, 0.4);
    // 5.1 WAV (FL FR FC LFE BL BR): tone in the centre only, another in the left surround, LFE loud.
    let mut six = Vec::new();
    for s in &tone {
        six.extend_from_slice(&[0.0, 0.0, *s, 0.9, *s * 0.5, 0.0]);
    }
    wav_f32(&d.path("six.wav"), 48_000, 6, &six);
    let mix = mix_all(&[track("six.wav")], &d.assets(), frames(1.0)).unwrap();
    let (l, r) = (left(&mix), right(&mix));
    let expect_r = 0.4 * std::f64::consts::FRAC_1_SQRT_2 / 2f64.sqrt();
    let expect_l = 0.4 * 1.5 * std::f64::consts::FRAC_1_SQRT_2 / 2f64.sqrt();
    assert!(
        (db(rms(&r)) - db(expect_r)).abs() < 0.1,
        "right {:.2} dB",
        db(rms(&r))
    );
    assert!(
        (db(rms(&l)) - db(expect_l)).abs() < 0.1,
        "left {:.2} dB",
        db(rms(&l))
    );

    // A 6-channel FLAC via symphonia, same layout.
    ffmpeg(&[
        "-i",
        d.path("six.wav").to_str().unwrap(),
        "-c:a",
        "flac",
        d.path("six.flac").to_str().unwrap(),
    ]);
    let mix = mix_all(&[track("six.flac")], &d.assets(), frames(1.0)).unwrap();
    assert!((db(rms(&right(&mix))) - db(expect_r)).abs() < 0.1);
    assert!((db(rms(&left(&mix))) - db(expect_l)).abs() < 0.1);
}

// ---------------------------------------------------------------------------------------------
// Bad input

fn expect_err(tracks: &[AudioTrack], assets: &AssetResolver, path: &str, file: &str) -> AudioError {
    let e = match AudioMixer::new(tracks, assets, frames(1.0)) {
        Err(e) => e,
        Ok(_) => panic!("{file}: expected an error"),
    };
    let msg = e.to_string();
    assert!(
        msg.starts_with(path),
        "{file}: `{msg}` should start with {path}"
    );
    assert!(msg.contains(file), "{file}: `{msg}` should name the file");
    assert_eq!(e.path(), path);
    e
}

#[test]
fn bad_files_are_reported_with_the_track_path() {
    let d = Dir::new();
    wav_i16(&d.path("ok.wav"), 48_000, 1, &sine(48_000, 1.0, 440.0, 0.5));
    let with_ok = |bad: AudioTrack| vec![track("ok.wav"), bad];

    // Missing file.
    expect_err(
        &with_ok(track("missing.wav")),
        &d.assets(),
        "audioTracks[1].src",
        "missing.wav",
    );

    // Truncated WAV: the header promises 1 s, half the data is there.
    let full = std::fs::read(d.path("ok.wav")).unwrap();
    std::fs::write(d.path("cut.wav"), &full[..full.len() / 2]).unwrap();
    let e = expect_err(
        &with_ok(track("cut.wav")),
        &d.assets(),
        "audioTracks[1].src",
        "cut.wav",
    );
    assert!(e.to_string().contains("truncated"), "{e}");
    // Cut inside the header.
    std::fs::write(d.path("stub.wav"), &full[..30]).unwrap();
    expect_err(
        &with_ok(track("stub.wav")),
        &d.assets(),
        "audioTracks[1].src",
        "stub.wav",
    );

    // A text file named .mp3, an empty .ogg, random bytes named .m4a / .flac.
    std::fs::write(
        d.path("notes.mp3"),
        "this is not audio, just some text\n".repeat(50),
    )
    .unwrap();
    let e = expect_err(
        &with_ok(track("notes.mp3")),
        &d.assets(),
        "audioTracks[1].src",
        "notes.mp3",
    );
    assert!(e.to_string().contains("not a supported audio file"), "{e}");
    std::fs::write(d.path("empty.ogg"), b"").unwrap();
    expect_err(
        &with_ok(track("empty.ogg")),
        &d.assets(),
        "audioTracks[1].src",
        "empty.ogg",
    );
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    for name in ["noise.m4a", "noise.flac"] {
        std::fs::write(d.path(name), &noise).unwrap();
        // Random bytes may happen to contain an MP3 sync word; then they decode to (near) noise or
        // fail. Either way: no panic, and an error names the track.
        if let Err(e) = AudioMixer::new(&with_ok(track(name)), &d.assets(), frames(1.0)) {
            assert!(e.to_string().starts_with("audioTracks[1]"), "{e}");
        }
    }

    // WAV headers with 0 channels and with a 1 Hz sample rate.
    std::fs::write(d.path("zero.wav"), wav_header(0, 48_000, 16, 0)).unwrap();
    expect_err(
        &with_ok(track("zero.wav")),
        &d.assets(),
        "audioTracks[1].src",
        "zero.wav",
    );
    let mut one_hz = wav_header(1, 1, 16, 200);
    one_hz.extend(std::iter::repeat_n(0u8, 200));
    std::fs::write(d.path("onehz.wav"), one_hz).unwrap();
    let e = expect_err(
        &with_ok(track("onehz.wav")),
        &d.assets(),
        "audioTracks[1].src",
        "onehz.wav",
    );
    assert!(e.to_string().contains("1 Hz"), "{e}");

    // Source shorter than trimStart.
    let t = AudioTrack {
        trim_start: 2.0,
        ..track("ok.wav")
    };
    let e = expect_err(&[t], &d.assets(), "audioTracks[0].trimStart", "ok.wav");
    assert!(e.to_string().contains("beyond the end"), "{e}");
    ffmpeg(&[
        "-i",
        d.path("ok.wav").to_str().unwrap(),
        d.path("ok.mp3").to_str().unwrap(),
    ]);
    let t = AudioTrack {
        trim_start: 5.0,
        ..track("ok.mp3")
    };
    expect_err(
        &[track("ok.wav"), track("ok.wav"), t],
        &d.assets(),
        "audioTracks[2].trimStart",
        "ok.mp3",
    );

    // A directory, and a path outside confined roots.
    std::fs::create_dir(d.path("dir.wav")).unwrap();
    expect_err(
        &[track("dir.wav")],
        &d.assets(),
        "audioTracks[0].src",
        "dir.wav",
    );
    let confined = AssetResolver::confined_to(vec![d.dir.path().to_path_buf()]);
    expect_err(
        &[track("../etc/passwd.wav")],
        &confined,
        "audioTracks[0].src",
        "passwd.wav",
    );
}

/// A PCM WAV header (44 bytes) with the given fields; `data_len` bytes of data announced.
fn wav_header(channels: u16, rate: u32, bits: u16, data_len: u32) -> Vec<u8> {
    let block_align = channels * bits / 8;
    let mut h = Vec::new();
    h.extend_from_slice(b"RIFF");
    h.extend_from_slice(&(36 + data_len).to_le_bytes());
    h.extend_from_slice(b"WAVEfmt ");
    h.extend_from_slice(&16u32.to_le_bytes());
    h.extend_from_slice(&1u16.to_le_bytes());
    h.extend_from_slice(&channels.to_le_bytes());
    h.extend_from_slice(&rate.to_le_bytes());
    h.extend_from_slice(&(rate * u32::from(block_align)).to_le_bytes());
    h.extend_from_slice(&block_align.to_le_bytes());
    h.extend_from_slice(&bits.to_le_bytes());
    h.extend_from_slice(b"data");
    h.extend_from_slice(&data_len.to_le_bytes());
    h
}

// ---------------------------------------------------------------------------------------------
// Benchmark (ignored by default):
// cargo test --release -p vrender-engine --test engine -- --ignored --nocapture audio_mix::bench_five_tracks

#[test]
#[ignore]
fn bench_five_tracks_60s() {
    let d = Dir::new();
    let gen = |name: &str, freq: u32, extra: &[&str]| {
        let lavfi = format!("sine=frequency={freq}:sample_rate=44100:duration=60");
        let mut args = vec!["-f", "lavfi", "-i", lavfi.as_str(), "-ac", "2"];
        args.extend_from_slice(extra);
        let out = d.path(name);
        args.push(out.to_str().unwrap());
        ffmpeg(&args);
    };
    gen("a.mp3", 220, &["-c:a", "libmp3lame", "-b:a", "192k"]);
    gen("b.m4a", 330, &["-c:a", "aac", "-b:a", "192k"]);
    gen("c.flac", 440, &["-c:a", "flac"]);
    gen("d.ogg", 550, &["-c:a", "libvorbis"]);
    gen("e.wav", 660, &["-c:a", "pcm_s16le"]);
    let tracks: Vec<AudioTrack> = ["a.mp3", "b.m4a", "c.flac", "d.ogg", "e.wav"]
        .iter()
        .map(|s| AudioTrack {
            volume: 0.5,
            fade_in: 1.0,
            fade_out: 1.0,
            ..track(s)
        })
        .collect();
    let t0 = std::time::Instant::now();
    let mut m = AudioMixer::new(&tracks, &d.assets(), frames(60.0)).unwrap();
    let prepared = t0.elapsed();
    let mut buf = vec![0.0f32; 8192];
    while m.read(&mut buf).unwrap() > 0 {}
    let total = t0.elapsed();
    println!(
        "audio: 5 tracks x 60 s (mp3, m4a, flac, ogg, wav; 44.1 kHz stereo -> 48 kHz): new() {:.1} ms, \
         new() + full mix {:.1} ms ({:.0}x real time)",
        prepared.as_secs_f64() * 1e3,
        total.as_secs_f64() * 1e3,
        60.0 / total.as_secs_f64()
    );
}

/// Without a usable output device `play` reports an error; with one it plays 0.2 s. Never a panic.
#[cfg(feature = "preview")]
#[test]
fn preview_play_returns() {
    let d = Dir::new();
    wav_f32(&d.path("t.wav"), 48_000, 1, &sine(48_000, 0.2, 440.0, 0.1));
    let m = AudioMixer::new(&[track("t.wav")], &d.assets(), frames(0.2)).unwrap();
    match vrender_engine::audio::play(m) {
        Ok(()) => {}
        Err(e) => assert!(matches!(e, AudioError::Output(_)), "{e}"),
    }
}
