//! Chunked rendering end to end: a moving project rendered as independent frame-range chunks
//! ([`Engine::render_chunk`]) and joined without re-encoding ([`Engine::concat_chunks`]) must have
//! exactly the single render's frame count and duration, and the frames on both sides of every
//! seam must match the single render (PSNR ≥ 45 dB), measured on the decoded outputs with the real
//! `ffmpeg`/`ffprobe`.

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

const W: u32 = 320;
const H: u32 = 180;
const FPS: f64 = 30.0;

/// A 4-second project where something moves on every frame (sliding, rotating, fading and
/// scaling shapes over a gradient), so a seam that repeats, drops or shifts a frame shows.
fn moving_project(secs: f64) -> Project {
    use AnimatedProperty::*;
    let mut p = Project::new(W, H, FPS);
    // CRF 18: two independent encodes of one frame at CRF 23 are already only ~45-46 dB apart at
    // this size, seam or not; a bad seam (shifted, repeated frame) is far below either.
    p.quality = Quality::Ultra;
    p.push(
        Composition::new(secs)
            .background("#203040".parse().unwrap())
            .layer(
                Layer::shape(
                    ShapeKind::Rect,
                    60.0,
                    60.0,
                    "#e04020".parse::<Color>().unwrap(),
                )
                .at(10.0, 20.0)
                .animate(Animation::new(X, 10.0, 250.0, 0.0, secs)),
            )
            .layer(
                Layer::shape(
                    ShapeKind::Rect,
                    50.0,
                    30.0,
                    "#20e060".parse::<Color>().unwrap(),
                )
                .at(160.0, 120.0)
                .anchored(Anchor::Center)
                .animate(Animation::new(Rotation, 0.0, 720.0, 0.0, secs)),
            )
            .layer(
                Layer::shape(
                    ShapeKind::Ellipse,
                    40.0,
                    40.0,
                    "#f0f0a0".parse::<Color>().unwrap(),
                )
                .at(40.0, 100.0)
                .anchored(Anchor::Center)
                .animate(Animation::new(Y, 100.0, 30.0, 0.0, secs).eased(Easing::EaseInOut))
                .animate(Animation::new(Scale, 0.5, 2.0, 0.0, secs))
                .animate(Animation::new(Opacity, 1.0, 0.3, 0.0, secs)),
            ),
    );
    p
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

/// (codec_type, frames counted by decoding, duration in seconds) for each stream.
fn probe(file: &Path) -> Vec<(String, u64, f64)> {
    let out = output(
        Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-count_frames",
                "-show_entries",
                "stream=codec_type,nb_read_frames,duration:format=duration",
                "-of",
                "json",
            ])
            .arg(file),
    );
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
    let format_duration: f64 = v["format"]["duration"]
        .as_str()
        .and_then(|d| d.parse().ok())
        .unwrap_or(f64::NAN);
    v["streams"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["codec_type"].as_str().unwrap_or_default().to_string(),
                s["nb_read_frames"]
                    .as_str()
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(0),
                // WebM has no per-stream duration: fall back to the container's.
                s["duration"]
                    .as_str()
                    .and_then(|d| d.parse().ok())
                    .unwrap_or(format_duration),
            )
        })
        .collect()
}

/// Every decoded video frame as planar yuv420p bytes, in presentation order.
fn decode(file: &Path) -> Vec<Vec<u8>> {
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
                "yuv420p",
                "-",
            ]),
    );
    let len = (W * H * 3 / 2) as usize;
    assert_eq!(raw.len() % len, 0, "decoded video is not whole frames");
    raw.chunks(len).map(<[u8]>::to_vec).collect()
}

/// PSNR in dB of `b` against `a` over all planes (infinite when identical).
fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// Renders `p` whole into `dir/single.{ext}` and in chunks of `per_chunk` frames joined into
/// `dir/joined.{ext}`; returns both paths and the chunk boundaries.
fn single_and_chunked(
    dir: &Path,
    p: &Project,
    per_chunk: u64,
    format: OutputFormat,
    assets: &AssetResolver,
) -> (PathBuf, PathBuf, Vec<u64>) {
    let ext = format.extension();
    let single = dir.join(format!("single.{ext}"));
    let mut req = RenderRequest::new(&single, assets.clone());
    req.format = Some(format);
    engine()
        .render(p, &req, &mut |_| {}, &CancelToken::new())
        .expect("single render");
    let total = chunk::total_frames(p);
    let ranges = chunk_ranges(total, per_chunk);
    let mut chunks = Vec::new();
    for (n, range) in ranges.iter().enumerate() {
        let path = dir.join(format!("chunk-{n}.{ext}"));
        let mut req = RenderRequest::new(&path, assets.clone());
        req.format = Some(format);
        let stats = engine()
            .render_chunk(p, range.clone(), &req, &mut |_| {}, &CancelToken::new())
            .expect("chunk render");
        assert_eq!(stats.frames, range.end - range.start);
        // Chunks carry no audio: it is mixed once for the whole length when joining.
        assert!(
            probe(&path).iter().all(|s| s.0 == "video"),
            "chunk {n} has a non-video stream"
        );
        chunks.push(ChunkFile {
            path,
            frames: range.end - range.start,
        });
    }
    let joined = dir.join(format!("joined.{ext}"));
    let stats = engine()
        .concat_chunks(
            p,
            &ConcatRequest {
                chunks,
                output: joined.clone(),
                format: Some(format),
                assets: assets.clone(),
                limits: Limits::default(),
                silent_audio: false,
                faststart: true,
            },
            &CancelToken::new(),
        )
        .expect("concat");
    assert_eq!(stats.frames, total);
    let seams = ranges.iter().skip(1).map(|r| r.start).collect();
    (single, joined, seams)
}

/// Checks frame count, duration and seam PSNR of `joined` against `single`.
fn assert_seamless(single: &Path, joined: &Path, total: u64, seams: &[u64]) {
    let expected = total as f64 / FPS;
    let video = |f: &Path| {
        probe(f)
            .into_iter()
            .find(|s| s.0 == "video")
            .expect("a video stream")
    };
    let (_, single_frames, _) = video(single);
    let (_, joined_frames, joined_duration) = video(joined);
    assert_eq!(single_frames, total, "single render frame count");
    assert_eq!(
        joined_frames, total,
        "joined frame count (ffprobe -count_frames)"
    );
    assert!(
        (joined_duration - expected).abs() <= 1.5 / FPS,
        "joined video lasts {joined_duration} s, expected {expected} s"
    );
    let a = decode(single);
    let b = decode(joined);
    assert_eq!(a.len(), b.len());
    for &s in seams {
        for n in [s - 1, s] {
            let db = psnr(&a[n as usize], &b[n as usize]);
            eprintln!("seam {s}: frame {n}: PSNR {db:.1} dB");
            assert!(
                db >= 45.0,
                "frame {n} at the seam {s}: PSNR {db:.1} dB < 45"
            );
        }
        // The seam frames really differ from their neighbours (the project moves), so a
        // repeated or dropped frame would fail the check above.
        assert!(psnr(&a[s as usize - 1], &b[s as usize]) < 45.0);
    }
}

#[test]
fn six_chunks_join_to_the_single_render_mp4() {
    let dir = tempfile::tempdir().unwrap();
    let p = moving_project(4.0);
    let assets = AssetResolver::relative_to(dir.path());
    // 120 frames in 6 chunks of 20.
    let (single, joined, seams) =
        single_and_chunked(dir.path(), &p, 20, OutputFormat::Mp4, &assets);
    assert_eq!(seams.len(), 5);
    assert_seamless(&single, &joined, 120, &seams);
    // MP4 with faststart: the index (moov) comes before the media data (mdat).
    let bytes = std::fs::read(&joined).unwrap();
    let pos = |tag: &[u8]| bytes.windows(4).position(|w| w == tag);
    assert!(pos(b"moov") < pos(b"mdat"), "moov is not before mdat");
}

/// A 2 s project (60 frames) as `format` in chunks of 25, 25 and 10, joined and checked against the
/// single render; returns the joined file (in `dir`).
fn uneven_chunks(dir: &Path, format: OutputFormat) -> PathBuf {
    let p = moving_project(2.0);
    let assets = AssetResolver::relative_to(dir);
    let (single, joined, seams) = single_and_chunked(dir, &p, 25, format, &assets);
    assert_eq!(seams, vec![25, 50]);
    assert_seamless(&single, &joined, 60, &seams);
    joined
}

#[test]
fn uneven_chunks_join_exactly_webm() {
    let dir = tempfile::tempdir().unwrap();
    uneven_chunks(dir.path(), OutputFormat::Webm);
}

#[test]
fn hevc_chunks_join_exactly_and_keep_the_hvc1_tag() {
    let dir = tempfile::tempdir().unwrap();
    let joined = uneven_chunks(dir.path(), OutputFormat::Hevc);
    let tag = output(
        Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "v:0"])
            .args(["-show_entries", "stream=codec_name,codec_tag_string"])
            .args(["-of", "csv=p=0"])
            .arg(&joined),
    );
    assert_eq!(String::from_utf8_lossy(&tag).trim(), "hevc,hvc1");
}

/// Writes `secs` of a 440 Hz mono sine as a 48 kHz float WAV.
fn tone_wav(path: &Path, secs: f64) {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate: 48_000,
        bits_per_sample: 32,
        sample_format: hound::SampleFormat::Float,
    };
    let mut w = hound::WavWriter::create(path, spec).unwrap();
    for i in 0..(secs * 48_000.0) as usize {
        let t = i as f64 / 48_000.0;
        w.write_sample((0.5 * (2.0 * std::f64::consts::PI * 440.0 * t).sin()) as f32)
            .unwrap();
    }
    w.finalize().unwrap();
}

#[test]
fn audio_is_mixed_once_for_the_whole_length() {
    let dir = tempfile::tempdir().unwrap();
    tone_wav(&dir.path().join("tone.wav"), 5.0);
    let mut p = moving_project(2.0);
    p.quality = Quality::Low;
    p.audio_tracks.push(AudioTrack::new("tone.wav"));
    let assets = AssetResolver::relative_to(dir.path());
    let (_, joined, _) = single_and_chunked(dir.path(), &p, 25, OutputFormat::Mp4, &assets);
    let streams = probe(&joined);
    let audio = streams
        .iter()
        .find(|s| s.0 == "audio")
        .expect("the joined file has an audio stream");
    assert!(
        (audio.2 - 2.0).abs() < 0.05,
        "audio lasts {} s, expected 2 s",
        audio.2
    );
    let video = streams.iter().find(|s| s.0 == "video").unwrap();
    assert_eq!(video.1, 60);
}

#[test]
fn chunks_must_cover_the_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let p = moving_project(1.0);
    let err = engine()
        .concat_chunks(
            &p,
            &ConcatRequest {
                chunks: vec![ChunkFile {
                    path: dir.path().join("missing.mp4"),
                    frames: 10,
                }],
                output: dir.path().join("out.mp4"),
                format: None,
                assets: AssetResolver::relative_to(dir.path()),
                limits: Limits::default(),
                silent_audio: false,
                faststart: true,
            },
            &CancelToken::new(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("10 frames"), "{err}");
    assert!(!dir.path().join("out.mp4").exists());
}

#[test]
fn a_video_project_chunks_seamlessly() {
    // Each chunk starts its own decoder with a seek to its first frame; the join must equal the
    // single render frame for frame, with the clip's sound mixed once.
    let dir = tempfile::tempdir().unwrap();
    let status = Command::new("ffmpeg")
        .args(["-hide_banner", "-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("gradients=s={W}x{H}:r=30:d=3:speed=0.05"))
        .args(["-f", "lavfi", "-i", "sine=f=440:d=3"])
        .args([
            "-c:v", "libx264", "-g", "30", "-pix_fmt", "yuv420p", "-c:a", "aac",
        ])
        .arg(dir.path().join("clip.mp4"))
        .status()
        .expect("ffmpeg");
    assert!(status.success());
    let assets = AssetResolver::relative_to(dir.path());
    let clip: Layer = serde_json::from_value(serde_json::json!({
        "type": "video", "src": "clip.mp4", "width": W, "height": H, "trimStart": 0.4,
        "speed": 1.25, "loop": true
    }))
    .unwrap();
    let mut p = moving_project(3.0);
    p.frames[0].layers.insert(0, clip);
    // 90 frames in chunks of 25: seams inside GOPs and across loop wraps.
    let (single, joined, seams) =
        single_and_chunked(dir.path(), &p, 25, OutputFormat::Mp4, &assets);
    assert_eq!(seams.len(), 3);
    assert_seamless(&single, &joined, 90, &seams);
    assert!(
        probe(&joined).iter().any(|s| s.0 == "audio"),
        "the clip's sound is in the joined file"
    );
}

/// Unmounts a tmpfs when dropped.
struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_join_onto_a_disk_that_fills_fails_instead_of_leaving_a_truncated_file() {
    // Found by the chaos harness: ffmpeg exits 0 when the disk fills while it writes the trailer,
    // and the join reported success with a 4096-byte file that does not play.
    let uid = output(Command::new("id").arg("-u"));
    if String::from_utf8_lossy(&uid).trim() != "0" {
        eprintln!("skipped: mounting a tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    std::fs::create_dir(&full).unwrap();
    // Two pages: one for the concat list, one for the start of the output.
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=8k", "tmpfs"])
        .arg(&full)
        .status()
        .unwrap();
    if !st.success() {
        eprintln!("skipped: cannot mount a tmpfs here");
        return;
    }
    let _mount = Tmpfs(full.clone());
    let p = moving_project(1.0);
    let assets = AssetResolver::relative_to(dir.path());
    let mut chunks = Vec::new();
    for (n, range) in chunk_ranges(chunk::total_frames(&p), 15)
        .into_iter()
        .enumerate()
    {
        let path = dir.path().join(format!("chunk-{n}.mp4"));
        let req = RenderRequest::new(&path, assets.clone());
        engine()
            .render_chunk(&p, range.clone(), &req, &mut |_| {}, &CancelToken::new())
            .expect("chunk render");
        chunks.push(ChunkFile {
            path,
            frames: range.end - range.start,
        });
    }
    let size: u64 = chunks
        .iter()
        .map(|c| std::fs::metadata(&c.path).unwrap().len())
        .sum();
    assert!(size > 8192, "the joined file must not fit: {size} bytes");
    let out = full.join("joined.mp4");
    let err = engine()
        .concat_chunks(
            &p,
            &ConcatRequest {
                chunks,
                output: out.clone(),
                format: None,
                assets,
                limits: Limits::default(),
                silent_audio: false,
                faststart: false,
            },
            &CancelToken::new(),
        )
        .expect_err("the join cannot succeed on a full disk");
    assert!(err.to_string().contains("No space left on device"), "{err}");
    assert!(!out.exists(), "the truncated output is removed");
}
