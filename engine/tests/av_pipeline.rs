//! End-to-end audio/video tests: real projects rendered through `Engine::render` (GPU compositor,
//! ffmpeg encoder, audio mixer muxed through the FIFO) into real files, then measured from the
//! decoded output with the real `ffmpeg`/`ffprobe` binaries: where the click is heard, which frame
//! flashes, how long each stream lasts, which codecs were written.
//!
//! Times are taken from the decoded streams as ffprobe reports them (frame `pts_time`, after the
//! container's edit lists and the codecs' priming/pre-skip are applied), so an encoder delay that
//! the muxer does not compensate shows up as an offset here.

use std::f64::consts::PI;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use vrender_engine::*;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineConfig::default()).expect("a GPU adapter (lavapipe in CI)")
    })
}

const W: u32 = 160;
const H: u32 = 90;
const FPS: f64 = 30.0;
/// Decoded audio is read back at this rate (the mixer's rate).
const SR: f64 = 48_000.0;
/// One AAC frame, the granularity of the encoder's output length.
const AAC_FRAME_S: f64 = 1024.0 / SR;
/// Amplitude of the click and of the tones (below the limiter's knee, so they pass unchanged).
const AMP: f32 = 0.8;

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
    /// File names in the folder, sorted.
    fn listing(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }
}

/// Writes mono samples as a 32-bit float WAV.
fn write_wav(path: &Path, rate: u32, samples: &[f32]) {
    let spec = hound::WavSpec {
        channels: 1,
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

/// `secs` of silence with a 5 ms burst of a 1 kHz sine (amplitude [`AMP`], starting at phase 0)
/// beginning exactly at sample `round(at · rate)`.
fn click_wav(path: &Path, rate: u32, secs: f64, at: f64) {
    let r = f64::from(rate);
    let mut v = vec![0.0f32; (secs * r).round() as usize];
    let first = (at * r).round() as usize;
    let len = (0.005 * r).round() as usize;
    for (i, s) in v[first..first + len].iter_mut().enumerate() {
        *s = AMP * (2.0 * PI * 1000.0 * i as f64 / r).sin() as f32;
    }
    write_wav(path, rate, &v);
}

/// `secs` of a 440 Hz sine at amplitude [`AMP`], 48 kHz.
fn tone_wav(path: &Path, secs: f64) {
    let v: Vec<f32> = (0..(secs * SR).round() as usize)
        .map(|i| AMP * (2.0 * PI * 440.0 * i as f64 / SR).sin() as f32)
        .collect();
    write_wav(path, 48_000, &v);
}

/// A black `secs`-long project at [`FPS`] whose only content is a full-screen white rect on
/// timeline frame `flash_frame` (and no other frame).
fn flash_project(secs: f64, flash_frame: u64) -> Project {
    let t = flash_frame as f64 / FPS;
    let mut p = Project::new(W, H, FPS);
    p.quality = Quality::Low;
    p.push(
        Composition::new(secs)
            .background("#000000".parse().unwrap())
            .layer(
                Layer::shape(
                    ShapeKind::Rect,
                    f64::from(W),
                    f64::from(H),
                    "#ffffff".parse::<Color>().unwrap(),
                )
                .between(t, t + 1.0 / FPS),
            ),
    );
    p
}

fn render(p: &Project, req: &RenderRequest) -> Result<RenderStats, RenderError> {
    engine().render(p, req, &mut |_| {}, &CancelToken::new())
}

fn render_ok(p: &Project, req: &RenderRequest) -> RenderStats {
    let stats = render(p, req).unwrap_or_else(|e| panic!("render failed: {e}"));
    assert!(req.output.is_file(), "no output file {:?}", req.output);
    stats
}

fn output(cmd: &mut Command) -> Vec<u8> {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("cannot run {cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

#[derive(Debug, Clone)]
struct StreamInfo {
    codec_type: String,
    codec_name: String,
    /// Container-declared stream duration, seconds.
    duration: Option<f64>,
}

fn probe_streams(file: &Path) -> Vec<StreamInfo> {
    let out = output(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-show_entries",
                "stream=codec_type,codec_name,duration",
                "-of",
                "json",
            ])
            .arg(file),
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| StreamInfo {
            codec_type: s["codec_type"].as_str().unwrap_or_default().to_string(),
            codec_name: s["codec_name"].as_str().unwrap_or_default().to_string(),
            duration: s["duration"].as_str().and_then(|d| d.parse().ok()),
        })
        .collect()
}

/// Presentation times of the decoded frames of the first `kind` ("v" or "a") stream.
fn frame_times(file: &Path, kind: &str) -> Vec<f64> {
    let mut cmd = Command::new("ffprobe");
    cmd.args(["-v", "error", "-select_streams", &format!("{kind}:0")]);
    cmd.args([
        "-show_entries",
        "frame=pts_time,best_effort_timestamp_time",
        "-of",
        "json",
    ])
    .arg(file);
    let v: serde_json::Value = serde_json::from_slice(&output(&mut cmd)).unwrap();
    v["frames"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            let t = f["pts_time"]
                .as_str()
                .or_else(|| f["best_effort_timestamp_time"].as_str())
                .expect("a decoded frame without a timestamp");
            t.parse().unwrap()
        })
        .collect()
}

/// Each decoded video frame as (presentation time, mean luma 0–255), in presentation order.
fn video_frames(file: &Path) -> Vec<(f64, f64)> {
    let times = frame_times(file, "v");
    let raw = output(
        Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(file)
            .args([
                "-map",
                "0:v:0",
                "-fps_mode",
                "passthrough",
                "-f",
                "rawvideo",
                "-pix_fmt",
                "gray",
                "-",
            ]),
    );
    let px = (W * H) as usize;
    assert_eq!(raw.len() % px, 0, "decoded video is not whole frames");
    let means: Vec<f64> = raw
        .chunks(px)
        .map(|f| f.iter().map(|&b| f64::from(b)).sum::<f64>() / px as f64)
        .collect();
    assert_eq!(
        means.len(),
        times.len(),
        "ffmpeg decoded {} frames, ffprobe {}",
        means.len(),
        times.len()
    );
    times.into_iter().zip(means).collect()
}

/// The decoded audio: presentation time of its first sample, and its samples as interleaved
/// stereo f32 at 48 kHz.
struct DecodedAudio {
    start: f64,
    samples: Vec<f32>,
}

impl DecodedAudio {
    fn frames(&self) -> usize {
        self.samples.len() / 2
    }
    /// The time just after the last decoded sample.
    fn end(&self) -> f64 {
        self.start + self.frames() as f64 / SR
    }
    fn left(&self) -> impl Iterator<Item = f32> + '_ {
        self.samples.iter().step_by(2).copied()
    }
    /// Time of the first left-channel sample with magnitude above `threshold`.
    fn onset(&self, threshold: f32) -> Option<f64> {
        self.left()
            .position(|s| s.abs() > threshold)
            .map(|i| self.start + i as f64 / SR)
    }
    /// Largest magnitude (both channels) between times `a` and `b`.
    fn peak(&self, a: f64, b: f64) -> f32 {
        let i = |t: f64| ((((t - self.start) * SR).round().max(0.0)) as usize).min(self.frames());
        self.samples[i(a) * 2..i(b) * 2]
            .iter()
            .fold(0.0f32, |m, s| m.max(s.abs()))
    }
    /// RMS of the left channel between times `a` and `b`.
    fn rms(&self, a: f64, b: f64) -> f64 {
        let i = |t: f64| ((((t - self.start) * SR).round().max(0.0)) as usize).min(self.frames());
        let (a, b) = (i(a), i(b));
        assert!(b > a, "empty window");
        let sum: f64 = self.samples[a * 2..b * 2]
            .iter()
            .step_by(2)
            .map(|&s| f64::from(s).powi(2))
            .sum();
        (sum / (b - a) as f64).sqrt()
    }
}

fn decode_audio(file: &Path) -> DecodedAudio {
    let start = *frame_times(file, "a")
        .first()
        .expect("the audio stream has no frames");
    let raw = output(
        Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(file)
            .args([
                "-map", "0:a:0", "-f", "f32le", "-ac", "2", "-ar", "48000", "-",
            ]),
    );
    let samples = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    DecodedAudio { start, samples }
}

/// Index and time of each frame brighter than mid-grey.
fn bright_frames(frames: &[(f64, f64)]) -> Vec<(usize, f64)> {
    frames
        .iter()
        .enumerate()
        .filter(|(_, (_, mean))| *mean > 128.0)
        .map(|(i, (t, _))| (i, *t))
        .collect()
}

/// Threshold for the click onset: a quarter of its amplitude, far above the codecs' pre-echo.
const ONSET: f32 = AMP / 4.0;

/// Measures the A/V offset in `file`: asserts the only bright frame is `flash_frame`, presented
/// `flash_frame / FPS` after the first frame, and that the click is heard less than `max_offset`
/// (at most one frame) away from it. Returns (click time, flash time) as presented.
fn assert_in_sync(file: &Path, flash_frame: usize, max_offset: f64, what: &str) -> (f64, f64) {
    let frames = video_frames(file);
    let bright = bright_frames(&frames);
    assert_eq!(
        bright.iter().map(|b| b.0).collect::<Vec<_>>(),
        vec![flash_frame],
        "{what}: bright frames (index, time) {bright:?}, means around: {:?}",
        &frames[flash_frame.saturating_sub(2)..(flash_frame + 3).min(frames.len())]
    );
    let flash = bright[0].1;
    let first = frames[0].0;
    let want = flash_frame as f64 / FPS;
    assert!(
        (flash - first - want).abs() < 1e-3,
        "{what}: frame {flash_frame} is presented {:.4} s after frame 0, not {want} s",
        flash - first
    );
    let audio = decode_audio(file);
    let click = audio
        .onset(ONSET)
        .unwrap_or_else(|| panic!("{what}: no click in the decoded audio"));
    // Nothing but the click: the lead-in is silent (no stray sound to mistake for it).
    let lead_in = audio.peak(audio.start, click - 0.010);
    assert!(
        lead_in < 0.05,
        "{what}: the audio before the click peaks at {lead_in}"
    );
    eprintln!(
        "{what}: audio starts at {:.6} s, video at {first:.6} s; click at {click:.6} s, \
         flash frame {flash_frame} at {flash:.6} s: offset {:+.2} ms (lead-in peak {lead_in:.4})",
        audio.start,
        (click - flash) * 1e3
    );
    assert!(
        (click - flash).abs() < max_offset.min(1.0 / FPS),
        "{what}: click at {click:.5} s, flash at {flash:.5} s: more than {:.1} ms apart",
        max_offset.min(1.0 / FPS) * 1e3
    );
    (click, flash)
}

/// Tighter than the one-frame requirement for MP4: an uncompensated AAC priming delay (1024
/// samples, 21.3 ms) or resampler delay would exceed it.
const MP4_MAX_OFFSET: f64 = 0.002;

#[test]
fn click_and_flash_are_in_sync_in_mp4() {
    // A 48 kHz source goes through untouched; a 44.1 kHz one through the resampler, whose delay
    // the mixer claims to compensate.
    for rate in [48_000u32, 44_100] {
        let d = Dir::new();
        click_wav(&d.path("click.wav"), rate, 3.0, 2.0);
        let mut p = flash_project(3.0, 60);
        p.audio_tracks.push(AudioTrack::new("click.wav"));
        let out = d.path("sync.mp4");
        let stats = render_ok(&p, &RenderRequest::new(&out, d.assets()));
        assert_eq!(stats.frames, 90);
        let what = format!("mp4, {rate} Hz source");
        let (click, flash) = assert_in_sync(&out, 60, MP4_MAX_OFFSET, &what);
        assert!(
            (click - 2.0).abs() < MP4_MAX_OFFSET && (flash - 2.0).abs() < 1e-3,
            "{what}: click at {click:.5} s, flash at {flash:.5} s, not both at 2.000 s"
        );
    }
}

#[test]
fn webm_has_vp9_and_opus_in_sync() {
    let d = Dir::new();
    click_wav(&d.path("click.wav"), 48_000, 3.0, 2.0);
    let mut p = flash_project(3.0, 60);
    p.audio_tracks.push(AudioTrack::new("click.wav"));
    let out = d.path("sync.webm");
    let mut req = RenderRequest::new(&out, d.assets());
    req.format = Some(OutputFormat::Webm);
    render_ok(&p, &req);
    let streams = probe_streams(&out);
    let codecs: Vec<(&str, &str)> = streams
        .iter()
        .map(|s| (s.codec_type.as_str(), s.codec_name.as_str()))
        .collect();
    assert_eq!(codecs, [("video", "vp9"), ("audio", "opus")]);
    // ffmpeg 5.1's WebM muxer shifts all timestamps by the Opus pre-skip (312 samples, rounded
    // to 7 ms) and its demuxer then moves the audio back by the pre-skip, so the video decodes
    // 7 ms late relative to the audio: measured offset -7.0 ms. Allow up to 10 ms (a third of a
    // frame), which still catches an uncompensated pre-skip or AAC-sized delay on top of it.
    let (click, _) = assert_in_sync(&out, 60, 0.010, "webm");
    assert!(
        (click - 2.0).abs() < MP4_MAX_OFFSET,
        "webm: the click is heard at {click:.5} s, not at 2.000 s"
    );
}

#[test]
fn excerpt_takes_audio_from_the_same_timeline_position() {
    let d = Dir::new();
    click_wav(&d.path("click.wav"), 48_000, 4.0, 2.0);
    let mut p = flash_project(4.0, 60);
    p.audio_tracks.push(AudioTrack::new("click.wav"));
    let out = d.path("excerpt.mp4");
    let mut req = RenderRequest::new(&out, d.assets());
    req.frames = Some(30..90);
    let stats = render_ok(&p, &req);
    assert_eq!(stats.frames, 60);
    // Timeline frame 60 is the excerpt's frame 30, at 1.0 s; the click must follow it there.
    let (click, _) = assert_in_sync(&out, 30, MP4_MAX_OFFSET, "excerpt 30..90");
    assert!(
        (click - 1.0).abs() < 1.0 / FPS,
        "excerpt: the click is heard at {click:.4} s, not at 1.0 s"
    );
    let audio = decode_audio(&out);
    let frames = video_frames(&out);
    assert_eq!(frames.len(), 60);
    let video_end = frames.last().unwrap().0 + 1.0 / FPS;
    assert!(
        (audio.end() - video_end).abs() <= AAC_FRAME_S,
        "excerpt: audio ends at {:.4} s, video at {video_end:.4} s",
        audio.end()
    );
}

/// Renders a 2 s video with a 440 Hz tone of `tone_secs` and checks both streams last 2 s.
fn check_durations(tone_secs: f64) -> DecodedAudio {
    let d = Dir::new();
    tone_wav(&d.path("tone.wav"), tone_secs);
    let mut p = flash_project(2.0, 30);
    p.audio_tracks.push(AudioTrack::new("tone.wav"));
    let out = d.path("len.mp4");
    let stats = render_ok(&p, &RenderRequest::new(&out, d.assets()));
    assert_eq!(stats.frames, 60);
    let what = format!("{tone_secs} s tone in a 2 s video");

    let frames = video_frames(&out);
    assert_eq!(frames.len(), 60, "{what}: decoded video frames");
    let video_end = frames.last().unwrap().0 + 1.0 / FPS;
    assert!(
        (video_end - 2.0).abs() < 1e-3,
        "{what}: video ends at {video_end}"
    );
    let audio = decode_audio(&out);
    let streams = probe_streams(&out);
    let declared = |kind: &str| {
        streams
            .iter()
            .find(|s| s.codec_type == kind)
            .and_then(|s| s.duration)
            .unwrap_or_else(|| panic!("{what}: no {kind} stream duration in {streams:?}"))
    };
    let (v_decl, a_decl) = (declared("video"), declared("audio"));
    eprintln!(
        "{what}: video {} frames ending at {video_end:.6} s (declared {v_decl:.6} s); audio {} samples \
         from {:.6} s ending at {:.6} s (declared {a_decl:.6} s)",
        frames.len(),
        audio.frames(),
        audio.start,
        audio.end()
    );
    assert!(
        (audio.end() - video_end).abs() <= AAC_FRAME_S,
        "{what}: decoded audio ends at {:.4} s, video at {video_end:.4} s",
        audio.end()
    );
    assert!(
        (a_decl - v_decl).abs() <= AAC_FRAME_S,
        "{what}: declared durations: audio {a_decl:.4} s, video {v_decl:.4} s"
    );
    // The tone is there from the start.
    let rms = audio.rms(0.05, 0.4);
    let want = f64::from(AMP) / 2f64.sqrt();
    assert!(
        (20.0 * (rms / want).log10()).abs() < 0.5,
        "{what}: tone RMS {rms:.4}, want {want:.4}"
    );
    audio
}

#[test]
fn longer_audio_is_cut_at_the_end_of_the_video() {
    let audio = check_durations(5.0);
    // The tone plays to the end of the video.
    let rms = audio.rms(1.6, 1.95);
    assert!(rms > 0.5, "tone RMS near the end is {rms:.4}");
}

#[test]
fn shorter_audio_is_padded_with_silence() {
    let audio = check_durations(0.5);
    // The tone stops at 0.5 s; the rest, after the codec's frame of overhang, is silent.
    let tail = audio.peak(0.55, audio.end());
    assert!(tail < 1e-3, "the padding after the tone peaks at {tail}");
}

#[test]
fn no_audio_tracks_means_no_audio_stream_unless_silent_audio_is_asked_for() {
    let d = Dir::new();
    let p = flash_project(1.0, 10);
    let out = d.path("mute.mp4");
    render_ok(&p, &RenderRequest::new(&out, d.assets()));
    let streams = probe_streams(&out);
    assert_eq!(
        streams
            .iter()
            .map(|s| s.codec_type.as_str())
            .collect::<Vec<_>>(),
        ["video"],
        "{streams:?}"
    );

    let out = d.path("silent.mp4");
    let mut req = RenderRequest::new(&out, d.assets());
    req.silent_audio = true;
    render_ok(&p, &req);
    let streams = probe_streams(&out);
    let codecs: Vec<(&str, &str)> = streams
        .iter()
        .map(|s| (s.codec_type.as_str(), s.codec_name.as_str()))
        .collect();
    assert_eq!(codecs, [("video", "h264"), ("audio", "aac")]);
    let audio = decode_audio(&out);
    let peak = audio.samples.iter().fold(0.0f32, |m, s| m.max(s.abs()));
    let video_end = video_frames(&out).last().unwrap().0 + 1.0 / FPS;
    eprintln!(
        "silent audio: {} samples from {:.6} s to {:.6} s, peak {peak}; video ends at {video_end:.6} s",
        audio.frames(),
        audio.start,
        audio.end()
    );
    assert!(audio.frames() > 0, "the silent track holds no samples");
    assert!(peak < 1e-3, "the silent track peaks at {peak} (> -60 dBFS)");
    assert!(
        (audio.end() - video_end).abs() <= AAC_FRAME_S,
        "silent audio ends at {:.4} s, video at {video_end:.4} s",
        audio.end()
    );
}

#[test]
fn bad_audio_sources_fail_the_render_naming_the_track() {
    let d = Dir::new();
    std::fs::write(
        d.path("notes.mp3"),
        "these are not the sounds you are looking for\n",
    )
    .unwrap();
    for (src, want) in [
        ("missing.wav", "not found"),
        ("notes.mp3", "not a supported audio file"),
    ] {
        let mut p = flash_project(1.0, 10);
        p.audio_tracks.push(AudioTrack::new(src));
        let out = d.path("bad.mp4");
        let err = render(&p, &RenderRequest::new(&out, d.assets()))
            .expect_err("a render with a broken audio track must fail");
        let msg = err.to_string();
        assert!(msg.contains("audioTracks[0]"), "{src}: {msg}");
        assert!(
            msg.contains(src),
            "{src}: the message does not name the file: {msg}"
        );
        assert!(msg.contains(want), "{src}: {msg}");
        assert!(
            !err.is_transient(),
            "{src}: a bad file is not worth retrying"
        );
        assert!(!out.exists(), "{src}: a partial output was left behind");
        // Nor anything else (the audio FIFO's temp folder lives next to the output).
        assert_eq!(d.listing(), ["notes.mp3"], "{src}: leftovers");
    }
}

/// Names of the top-level boxes of an MP4 file, in file order.
fn top_level_boxes(file: &Path) -> Vec<String> {
    let data = std::fs::read(file).unwrap();
    let mut names = Vec::new();
    let mut at = 0usize;
    while at + 8 <= data.len() {
        let size32 = u32::from_be_bytes(data[at..at + 4].try_into().unwrap()) as u64;
        let name = String::from_utf8_lossy(&data[at + 4..at + 8]).into_owned();
        let size = match size32 {
            0 => (data.len() - at) as u64,
            1 => u64::from_be_bytes(data[at + 8..at + 16].try_into().unwrap()),
            n => n,
        };
        assert!(size >= 8, "box {name} at {at} has size {size}");
        names.push(name);
        at += size as usize;
    }
    assert_eq!(at, data.len(), "boxes do not end at the end of the file");
    names
}

#[test]
fn faststart_decides_whether_the_index_comes_before_the_media() {
    let d = Dir::new();
    let p = flash_project(0.5, 3);
    let order = |faststart: bool| {
        let out = d.path(&format!("faststart-{faststart}.mp4"));
        let mut req = RenderRequest::new(&out, d.assets());
        req.faststart = faststart;
        render_ok(&p, &req);
        let boxes = top_level_boxes(&out);
        let pos = |n: &str| {
            boxes
                .iter()
                .position(|b| b == n)
                .unwrap_or_else(|| panic!("{boxes:?}"))
        };
        (pos("moov") < pos("mdat"), boxes)
    };
    let (front, boxes) = order(true);
    assert!(front, "faststart: moov must precede mdat: {boxes:?}");
    // Without faststart ffmpeg never moves data: the index is appended after the media, which is
    // what lets the service upload the file while it grows.
    let (front, boxes) = order(false);
    assert!(!front, "no faststart: moov must follow mdat: {boxes:?}");
}
