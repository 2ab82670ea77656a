//! Scene V1, the video benchmark (rows `v1-decode`, `v1-e2e`, `v1-peer`, `v1-rss`; `--rows v1` picks
//! them all; off by default): 1080p30, 10 s, a full-frame 1080p30 background clip, two 640x360
//! picture-in-picture clips (one at 30 fps, one at 25 fps), a title, and the three clips' audio mixed.
//!
//! The clips are generated with ffmpeg's test sources into a temporary folder (not timed):
//! `testsrc2` 1920x1080 @ 30 with a 330 Hz sine, `mandelbrot` 640x360 @ 30 with 440 Hz and `testsrc`
//! 640x360 @ 25 with 550 Hz (x264 veryfast, AAC). [`project_json`] writes the project with `"type":
//! "video"` layers; [`peer_args`] is the same scene as one ffmpeg filtergraph (`fps`/`scale`/`overlay`,
//! `drawtext` for the title as in `peer.rs`, `volume` + `amix` for the audio), encoded with the same
//! x264 settings and AAC 192 kbit/s 48 kHz stereo like our encoder. The 25 fps clip is brought to 30 fps
//! with the `fps` filter (frame repetition, as a timeline sampling the clip at each output frame does).
//!
//! While the engine has no video layers it rejects the project; the engine rows then read
//! "n/a (engine has no video layers)" and the ffmpeg-only rows (decode, peer) are still measured.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};
use vrender_engine::*;

use super::{assets_for, child_rss, Res, Row, RowKind};
use crate::peer;

pub const WIDTH: u32 = 1920;
pub const HEIGHT: u32 = 1080;
pub const FRAME_RATE: f64 = 30.0;
/// Length of the scene and of each generated clip.
pub const SECONDS: f64 = 10.0;
pub const QUALITY: Quality = Quality::Medium;
/// One line for the report's header.
pub const DESCRIPTION: &str =
    "video scene V1 — 1920x1080 @ 30 fps, 10 s: a 1080p30 background clip, \
     640x360 picture-in-picture clips at 30 and 25 fps, a title, the three clips' audio mixed";

/// One generated clip and where the scene shows it.
#[derive(Debug, Clone)]
pub struct Clip {
    pub file: PathBuf,
    pub x: f64,
    pub y: f64,
    pub width: f64,
    pub height: f64,
    pub volume: f64,
}

/// The scene's three clips in drawing order (background first).
#[derive(Debug, Clone)]
pub struct Clips {
    pub dir: PathBuf,
    pub clips: Vec<Clip>,
}

/// (file name, lavfi video source, frame rate, sine frequency, placement x, y, w, h, volume)
type ClipSpec = (&'static str, &'static str, f64, u32, [f64; 4], f64);

const SPECS: [ClipSpec; 3] = [
    (
        "background.mp4",
        "testsrc2=s=1920x1080:r=30",
        30.0,
        330,
        [0.0, 0.0, 1920.0, 1080.0],
        1.0,
    ),
    (
        "pip30.mp4",
        "mandelbrot=s=640x360:r=30",
        30.0,
        440,
        [1240.0, 60.0, 640.0, 360.0],
        0.5,
    ),
    (
        "pip25.mp4",
        "testsrc=s=640x360:r=25",
        25.0,
        550,
        [40.0, 660.0, 640.0, 360.0],
        0.5,
    ),
];

/// Generates the three clips into `dir` (about half a minute on two cores).
pub fn generate_clips(dir: &Path) -> Res<Clips> {
    let mut clips = Vec::new();
    for (name, source, rate, freq, [x, y, width, height], volume) in SPECS {
        let file = dir.join(name);
        let secs = SECONDS.to_string();
        let out = Command::new("ffmpeg")
            .args(["-hide_banner", "-nostdin", "-v", "error", "-y"])
            .args(["-f", "lavfi", "-t", &secs, "-i", source])
            .args(["-f", "lavfi", "-t", &secs, "-i"])
            .arg(format!("sine=f={freq}:sample_rate=44100"))
            .args(["-c:v", "libx264", "-preset", "veryfast", "-crf", "23"])
            .args(["-pix_fmt", "yuv420p", "-g", &(2.0 * rate).to_string()])
            .args(["-c:a", "aac", "-b:a", "128k", "-ac", "2", "-shortest"])
            .arg(&file)
            .output()?;
        if !out.status.success() {
            return Err(format!(
                "ffmpeg could not generate {name}: {}",
                String::from_utf8_lossy(&out.stderr)
            )
            .into());
        }
        clips.push(Clip {
            file,
            x,
            y,
            width,
            height,
            volume,
        });
    }
    Ok(Clips {
        dir: dir.to_path_buf(),
        clips,
    })
}

/// The title, shared by the project and the peer's `drawtext`.
pub fn title() -> Layer {
    let mut l = Layer::text("Scene V1").at(960.0, 120.0);
    l.anchor = Anchor::Center;
    l.size = Some(96.0);
    l.align = Some(TextAlign::Center);
    l.stroke = Some(Stroke {
        color: "#000000".parse().expect("a colour"),
        width: 4.0,
    });
    l
}

/// The V1 project lasting `seconds` (clips loop past their 10 s), sources relative to the clips' folder.
pub fn project_json(clips: &Clips, seconds: f64) -> Res<Value> {
    let mut layers: Vec<Value> = clips
        .clips
        .iter()
        .map(|c| {
            json!({
                "type": "video",
                "src": c.file.file_name().map(|n| n.to_string_lossy().into_owned()),
                "x": c.x,
                "y": c.y,
                "width": c.width,
                "height": c.height,
                "fit": "cover",
                "trimStart": 0,
                "speed": 1,
                "loop": true,
                "volume": c.volume,
                "muted": false,
            })
        })
        .collect();
    layers.push(serde_json::to_value(title())?);
    Ok(json!({
        "projectId": "v1",
        "userId": "bench",
        "title": "Scene V1 (video benchmark)",
        "width": WIDTH,
        "height": HEIGHT,
        "frameRate": FRAME_RATE,
        "quality": QUALITY.as_str(),
        "outputFormat": "mp4",
        "frames": [{ "duration": seconds, "background": "#000000", "layers": layers }],
    }))
}

pub fn frames_of(frames: Option<u64>) -> u64 {
    let total = (SECONDS * FRAME_RATE).round() as u64;
    frames.map_or(total, |n| n.min(total))
}

/// ffmpeg decoding the three clips at once (video and audio) into `-f null`.
pub fn decode_args(clips: &Clips, frames: Option<u64>) -> Vec<String> {
    let secs = frames_of(frames) as f64 / FRAME_RATE;
    let mut a: Vec<String> = ["-hide_banner", "-nostdin", "-v", "error"]
        .map(String::from)
        .to_vec();
    for c in &clips.clips {
        a.extend(["-t".into(), secs.to_string(), "-i".into()]);
        a.push(c.file.to_string_lossy().into_owned());
    }
    for i in 0..clips.clips.len() {
        a.extend(["-map".into(), i.to_string()]);
    }
    a.extend(["-f", "null", "-"].map(String::from));
    a
}

/// The V1 scene as one ffmpeg filtergraph, written to `output`.
pub fn peer_args(clips: &Clips, frames: Option<u64>, output: &Path) -> Res<Vec<String>> {
    let n = frames_of(frames);
    let mut a: Vec<String> = vec!["-hide_banner".into(), "-nostdin".into()];
    for c in &clips.clips {
        a.extend(["-i".into(), c.file.to_string_lossy().into_owned()]);
    }
    let mut g: Vec<String> = Vec::new();
    let fps = FRAME_RATE;
    g.push(format!(
        "color=c=black:s={WIDTH}x{HEIGHT}:r={fps}:d={},format=yuv420p[base0]",
        SECONDS + 1.0 / fps
    ));
    for (i, c) in clips.clips.iter().enumerate() {
        g.push(format!(
            "[{i}:v]fps={fps},scale={}:{},setsar=1[clip{i}]",
            c.width, c.height
        ));
        g.push(format!(
            "[base{i}][clip{i}]overlay=x={}:y={}:eof_action=pass[base{}]",
            c.x,
            c.y,
            i + 1
        ));
    }
    let title = peer::text_filters(&title())?.join(",");
    g.push(format!(
        "[base{}]{title},format=yuv420p[vout]",
        clips.clips.len()
    ));
    let mut mix = String::new();
    for (i, c) in clips.clips.iter().enumerate() {
        g.push(format!("[{i}:a]volume={}[a{i}]", c.volume));
        mix.push_str(&format!("[a{i}]"));
    }
    g.push(format!(
        "{mix}amix=inputs={}:normalize=0:duration=longest,aresample=48000,\
         aformat=sample_fmts=fltp:channel_layouts=stereo[aout]",
        clips.clips.len()
    ));
    a.extend([
        "-filter_complex".into(),
        g.join(";\n"),
        "-map".into(),
        "[vout]".into(),
        "-map".into(),
        "[aout]".into(),
        "-c:a".into(),
        "aac".into(),
        "-b:a".into(),
        "192k".into(),
        "-t".into(),
        (n as f64 / fps).to_string(),
    ]);
    a.extend(peer::x264_output_args(QUALITY, n, output));
    Ok(a)
}

/// Whether the engine's project format has the `video` layer type.
pub fn engine_knows_video_layers() -> bool {
    serde_json::from_value::<LayerKind>(json!("video")).is_ok()
}

/// Whether a render error says that video layers are not supported.
fn lacks_video(e: &dyn std::fmt::Display) -> bool {
    e.to_string().to_ascii_lowercase().contains("video")
}

const NO_VIDEO: &str = "n/a (engine has no video layers)";

/// Measures the selected V1 rows into `rows`.
pub fn run_rows(
    selected: &[RowKind],
    engine: &Engine,
    frames: Option<u64>,
    rows: &mut Vec<Row>,
) -> Res<()> {
    let want = |k: RowKind| selected.contains(&k) || selected.contains(&RowKind::V1);
    let dir = tempfile::tempdir()?;
    eprintln!("V1: generating the clips…");
    let clips = generate_clips(dir.path())?;
    let n = frames_of(frames);

    if want(RowKind::V1Decode) {
        let started = Instant::now();
        let out = Command::new("ffmpeg")
            .args(decode_args(&clips, frames))
            .output()?;
        if !out.status.success() {
            return Err(
                format!("V1 decode failed: {}", String::from_utf8_lossy(&out.stderr)).into(),
            );
        }
        let fps = n as f64 / started.elapsed().as_secs_f64();
        rows.push(Row::fps(
            "V1: decode only, 3 clips at once (ffmpeg → null)",
            fps,
        ));
    }

    // The project, 10 s and 60 s, beside the clips.
    let file10 = clips.dir.join("v1.json");
    let file60 = clips.dir.join("v1-60s.json");
    let v10 = project_json(&clips, SECONDS)?;
    std::fs::write(&file10, serde_json::to_string_pretty(&v10)?)?;
    std::fs::write(
        &file60,
        serde_json::to_string_pretty(&project_json(&clips, 6.0 * SECONDS)?)?,
    )?;
    let parsed = Project::from_json(&serde_json::to_string(&v10)?);
    let unsupported = match &parsed {
        Err(_) if !engine_knows_video_layers() => true,
        Err(e) => return Err(format!("V1 project: {e}").into()),
        Ok(_) => false,
    };

    let mut e2e_fps = None;
    if want(RowKind::V1E2e) {
        let name = "V1: end to end (render → mp4)";
        match &parsed {
            Ok(project) if !unsupported => {
                let mut req =
                    RenderRequest::new(dir.path().join("v1-e2e.mp4"), assets_for(&file10));
                req.frames = frames.map(|n| 0..n);
                match engine.render(project, &req, &mut |_| {}, &CancelToken::new()) {
                    Ok(stats) => {
                        e2e_fps = Some(stats.fps());
                        rows.push(Row::fps(name, stats.fps()));
                    }
                    Err(e) if lacks_video(&e) => rows.push(Row::na(name, "fps", NO_VIDEO)),
                    Err(e) => return Err(format!("V1 render: {e}").into()),
                }
            }
            _ => rows.push(Row::na(name, "fps", NO_VIDEO)),
        }
    }

    if want(RowKind::V1Peer) {
        let out = dir.path().join("v1-peer.mp4");
        let fps = super::time_ffmpeg(&peer_args(&clips, frames, &out)?, n, &out)?;
        rows.push(Row::fps(
            "V1 peer: one ffmpeg filtergraph (fps/scale/overlay/drawtext/amix, same x264 settings)",
            fps,
        ));
        if want(RowKind::V1E2e) {
            let name = "V1: end to end ÷ ffmpeg filtergraph";
            match e2e_fps {
                Some(e) => rows.push(Row::ratio(name, e / fps, 2)),
                None => rows.push(Row::na(name, "ratio", NO_VIDEO)),
            }
        }
    }

    if want(RowKind::V1Rss) {
        if unsupported {
            for secs in [SECONDS, 6.0 * SECONDS] {
                rows.push(Row::na(
                    &format!("V1: peak RSS, {secs} s render"),
                    "MiB",
                    NO_VIDEO,
                ));
            }
        } else {
            let mut rss = Vec::new();
            for (file, secs, mult) in [(&file10, SECONDS, 1), (&file60, 6.0 * SECONDS, 6)] {
                let limit = frames.map(|n| n * mult);
                let r = child_rss(file, 1.0, limit)?;
                rows.push(
                    Row::new(
                        &format!("V1: peak RSS, {secs} s render"),
                        Some(r.kib as f64 / 1024.0),
                        "MiB",
                        0,
                    )
                    .noted(format!("{} frames, {:.1} fps", r.frames, r.fps)),
                );
                rss.push(r.kib as f64);
            }
            rows.push(Row::ratio("V1: RSS 60 s ÷ 10 s", rss[1] / rss[0], 3));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_project_and_peer_are_built() {
        let clips = Clips {
            dir: PathBuf::from("/tmp/v1"),
            clips: SPECS
                .iter()
                .map(|(name, _, _, _, [x, y, width, height], volume)| Clip {
                    file: PathBuf::from("/tmp/v1").join(name),
                    x: *x,
                    y: *y,
                    width: *width,
                    height: *height,
                    volume: *volume,
                })
                .collect(),
        };
        let v = project_json(&clips, 60.0).unwrap();
        let layers = v["frames"][0]["layers"].as_array().unwrap();
        assert_eq!(layers.len(), 4);
        assert_eq!(layers[0]["type"], "video");
        assert_eq!(layers[2]["src"], "pip25.mp4");
        assert_eq!(layers[3]["type"], "text");
        assert_eq!(v["frames"][0]["duration"], 60.0);
        let args = peer_args(&clips, Some(30), Path::new("o.mp4")).unwrap();
        let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert!(graph.contains("amix=inputs=3"));
        assert_eq!(graph.matches("overlay=").count(), 3);
        assert!(args.windows(2).any(|w| w[0] == "-frames:v" && w[1] == "30"));
    }

    /// Generates the clips and runs the whole V1 peer: every frame and a 48 kHz stereo audio stream.
    /// `cargo test -p vrender-bench -- --ignored` (about 20 s on two cores).
    #[test]
    #[ignore = "generates three 10 s clips and encodes 300 frames"]
    fn v1_peer_writes_every_frame() {
        let dir = tempfile::tempdir().unwrap();
        let clips = generate_clips(dir.path()).unwrap();
        let out = dir.path().join("peer.mp4");
        let fps = crate::time_ffmpeg(&peer_args(&clips, None, &out).unwrap(), 300, &out).unwrap();
        assert!(fps > 0.0);
        let probe = Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "a:0", "-show_entries"])
            .args(["stream=sample_rate,channels", "-of", "csv=p=0"])
            .arg(&out)
            .output()
            .unwrap();
        assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "48000,2");
        let decode = Command::new("ffmpeg")
            .args(decode_args(&clips, Some(30)))
            .status()
            .unwrap();
        assert!(decode.success());
    }
}
