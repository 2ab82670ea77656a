//! Video checks shared by the chunked-rendering tests: a project whose every frame differs, frame
//! decoding with the real `ffmpeg`, PSNR.

use std::path::Path;
use std::process::Command;

use serde_json::{json, Value};

/// Width and height of [`moving_project`].
pub const W: u64 = 160;
pub const H: u64 = 90;

/// 160x90 at `fps`, `secs` long, quality `ultra` (two independent encodes of a frame at the default
/// CRF 23 already differ by ~44 dB at this size, seam or not; CRF 18 leaves room for the 45 dB
/// bar); shapes move, turn and fade on every frame so a repeated, dropped or shifted frame at a
/// seam shows. With `audio`, `tone.wav` from the asset folder plays throughout.
pub fn moving_project(user: &str, secs: f64, fps: f64, audio: bool) -> Value {
    let mut p = json!({
        "userId": user,
        "title": "chunked",
        "width": W,
        "height": H,
        "frameRate": fps,
        "quality": "ultra",
        "frames": [{
            "duration": secs,
            "background": "#203040",
            "layers": [
                {"type": "shape", "shape": "rect", "x": 0, "y": 10, "width": 30, "height": 30, "fill": "#e04020",
                 "animations": [{"property": "x", "from": 0, "to": 130, "start": 0, "end": secs}]},
                {"type": "shape", "shape": "rect", "x": 80, "y": 60, "width": 40, "height": 16, "fill": "#20e060",
                 "anchor": "center",
                 "animations": [{"property": "rotation", "from": 0, "to": 36.0 * secs, "start": 0, "end": secs}]},
                {"type": "shape", "shape": "ellipse", "x": 30, "y": 60, "width": 24, "height": 24, "fill": "#f0f0a0",
                 "anchor": "center",
                 "animations": [
                    {"property": "scale", "from": 0.5, "to": 2.0, "start": 0, "end": secs},
                    {"property": "opacity", "from": 1.0, "to": 0.3, "start": 0, "end": secs}
                 ]}
            ]
        }]
    });
    if audio {
        p["audioTracks"] = json!([{"src": "tone.wav", "loop": true}]);
    }
    p
}

/// Runs `cmd`, panicking with its stderr when it fails; its stdout.
pub fn run(cmd: &mut Command) -> Vec<u8> {
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

/// A 5 s 440 Hz tone as WAV.
pub fn write_tone(path: &Path) {
    run(Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-f", "lavfi", "-i"])
        .arg("sine=frequency=440:sample_rate=48000:duration=5")
        .arg("-y")
        .arg(path));
}

/// Every decoded frame of a `w`x`h` video as yuv420p bytes.
pub fn decode(file: &Path, w: u64, h: u64) -> Vec<Vec<u8>> {
    let raw = run(Command::new("ffmpeg")
        .args(["-v", "error", "-nostdin", "-i"])
        .arg(file)
        .args(["-map", "0:v:0", "-fps_mode", "passthrough"])
        .args(["-f", "rawvideo", "-pix_fmt", "yuv420p", "-"]));
    let len = (w * h * 3 / 2) as usize;
    assert_eq!(raw.len() % len, 0);
    raw.chunks(len).map(<[u8]>::to_vec).collect()
}

pub fn psnr(a: &[u8], b: &[u8]) -> f64 {
    let mse = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

/// The first stream of `kind` (`video`, `audio`) in an ffprobe answer.
pub fn stream<'a>(probe: &'a Value, kind: &str) -> Option<&'a Value> {
    probe["streams"]
        .as_array()?
        .iter()
        .find(|s| s["codec_type"] == kind)
}

/// Renders `project` in one piece with `vrender render` (the reference for chunked outputs).
pub fn render_single(project: &Value, dir: &Path, out: &Path) {
    let file = dir.join("single-project.json");
    std::fs::write(&file, project.to_string()).unwrap();
    run(Command::new(env!("CARGO_BIN_EXE_vrender"))
        .args(["render", "-q"])
        .arg(&file)
        .arg("-o")
        .arg(out));
}
