//! End-to-end tests of `vrender render`: the real binary, real lavapipe, real ffmpeg/ffprobe.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common;
use common::ffprobe;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn vrender() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vrender"));
    c.env("RUST_LOG", "warn");
    c
}

fn video_stream(p: &serde_json::Value) -> &serde_json::Value {
    p["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .expect("a video stream")
}

#[test]
fn every_example_renders_and_probes_right() {
    let dir = tempfile::tempdir().unwrap();
    let examples = repo().join("examples");
    let mut count = 0;
    for entry in std::fs::read_dir(&examples).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("json") {
            continue;
        }
        let project: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let out = dir.path().join(format!("{name}.mp4"));
        let status = vrender()
            .args(["render", "-q"])
            .arg(&path)
            .arg("-o")
            .arg(&out)
            .status()
            .unwrap();
        assert!(status.success(), "rendering {name} failed");
        let p = ffprobe(&out);
        let v = video_stream(&p);
        assert_eq!(v["codec_name"], "h264", "{name}");
        assert_eq!(v["pix_fmt"], "yuv420p", "{name}");
        assert_eq!(v["color_space"], "bt709", "{name}");
        assert_eq!(v["color_transfer"], "bt709", "{name}");
        assert_eq!(v["color_primaries"], "bt709", "{name}");
        assert_eq!(v["color_range"], "tv", "{name}");
        assert_eq!(v["width"], project["width"], "{name}");
        assert_eq!(v["height"], project["height"], "{name}");
        let fps = project["frameRate"].as_f64().unwrap();
        assert_eq!(v["r_frame_rate"], format!("{}/1", fps as u64), "{name}");
        // Expected length: Σ duration − Σ transition overlap.
        let secs: f64 = project["frames"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                c["duration"].as_f64().unwrap()
                    - c["transition"]["duration"].as_f64().unwrap_or(0.0)
            })
            .sum();
        let frames: u64 = v["nb_read_frames"].as_str().unwrap().parse().unwrap();
        assert_eq!(frames, (secs * fps).round() as u64, "{name} frame count");
        let duration: f64 = p["format"]["duration"].as_str().unwrap().parse().unwrap();
        assert!(
            (duration - secs).abs() < 0.1,
            "{name}: duration {duration} vs {secs}"
        );
        count += 1;
    }
    assert!(count >= 3, "found {count} examples");
}

/// Runs ffmpeg on `input` with `filter` and returns one frame of raw `pix_fmt` bytes.
fn ffmpeg_raw(input: &Path, filter: &str, pix_fmt: &str) -> Vec<u8> {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(input)
        .args([
            "-vf",
            filter,
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            pix_fmt,
            "pipe:1",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

const TO_RGB: &str =
    "scale=in_color_matrix=bt709:in_range=tv:out_range=pc:flags=accurate_rnd+full_chroma_int";
const TO_YUV: &str =
    "scale=out_color_matrix=bt709:out_range=tv:flags=accurate_rnd+full_chroma_int,format=yuv420p";

/// One frame of `video` decoded by ffmpeg in `pix_fmt` (RGB via BT.709 limited range).
fn decode_frame(video: &Path, frame: u64, pix_fmt: &str) -> Vec<u8> {
    let select = format!("select=eq(n\\,{frame})");
    let filter = if pix_fmt == "rgb24" {
        format!("{select},{TO_RGB}")
    } else {
        select
    };
    ffmpeg_raw(video, &filter, pix_fmt)
}

/// ffmpeg's own conversion of a PNG to `pix_fmt`, going through BT.709 limited-range 4:2:0 for rgb24
/// (the best any 4:2:0 pipeline can do) or stopping at yuv420p.
fn ffmpeg_convert(png: &Path, pix_fmt: &str) -> Vec<u8> {
    let filter = if pix_fmt == "rgb24" {
        format!("{TO_YUV},{TO_RGB}")
    } else {
        TO_YUV.to_string()
    };
    ffmpeg_raw(png, &filter, pix_fmt)
}

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse: f64 = a
        .iter()
        .zip(b)
        .map(|(&x, &y)| (x as f64 - y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-12)).log10()
}

#[test]
fn decoded_frame_matches_still_at_crf_18() {
    let dir = tempfile::tempdir().unwrap();
    let project = repo().join("examples/hello.json");
    let video = dir.path().join("hello.mp4");
    let png = dir.path().join("f45.png");
    let st = vrender()
        .args(["render", "-q", "--quality", "ultra", "--frames", "30..60"])
        .arg(&project)
        .arg("-o")
        .arg(&video)
        .status()
        .unwrap();
    assert!(st.success());
    let st = vrender()
        .args(["render", "-q", "--still", "45"])
        .arg(&project)
        .arg("-o")
        .arg(&png)
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(ffprobe(&video)["streams"][0]["nb_read_frames"], "30");
    // Frame 45 of the timeline is frame 15 of the 30..60 excerpt.
    // In the codec's domain: the decoded YUV against ffmpeg's BT.709 conversion of the still. This
    // checks the GPU colour conversion and x264 at CRF 18 together.
    let decoded_yuv = decode_frame(&video, 15, "yuv420p");
    let yuv_psnr = psnr(&ffmpeg_convert(&png, "yuv420p"), &decoded_yuv);
    assert!(yuv_psnr >= 38.0, "YUV PSNR {yuv_psnr:.2} dB < 38 dB");
    // In RGB: 4:2:0 chroma cannot keep saturated sharp edges (the red card, the badge), so the bound is
    // what ffmpeg's own round trip through yuv420p achieves on the same still, less 1 dB.
    let still = image::open(&png).unwrap().to_rgb8();
    let rgb_psnr = psnr(still.as_raw(), &decode_frame(&video, 15, "rgb24"));
    let floor = psnr(still.as_raw(), &ffmpeg_convert(&png, "rgb24"));
    assert!(
        rgb_psnr >= floor - 1.0,
        "RGB PSNR {rgb_psnr:.2} dB, the 4:2:0 round trip gives {floor:.2} dB"
    );
    // And it is really that frame: another frame of the excerpt matches worse.
    let other = decode_frame(&video, 0, "yuv420p");
    assert!(
        psnr(&ffmpeg_convert(&png, "yuv420p"), &other) < yuv_psnr - 3.0,
        "frame 0 should match worse"
    );
}

#[test]
fn malformed_projects_fail_with_a_clear_one_line_error() {
    let fixtures = repo().join("tests/fixtures/invalid");
    let expected: serde_json::Map<String, serde_json::Value> =
        serde_json::from_str(&std::fs::read_to_string(fixtures.join("expected.json")).unwrap())
            .unwrap();
    assert!(expected.len() >= 15);
    let dir = tempfile::tempdir().unwrap();
    for (file, want) in &expected {
        let want = want.as_str().unwrap();
        let out_file = dir.path().join("out.mp4");
        let out = vrender()
            .args(["render", "-q"])
            .arg(fixtures.join(file))
            .arg("-o")
            .arg(&out_file)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{file}: exit status {:?}, stderr: {stderr}",
            out.status
        );
        assert!(!stderr.contains("panicked"), "{file} panicked: {stderr}");
        let last = stderr
            .lines()
            .rfind(|l| l.starts_with("vrender: "))
            .unwrap_or_else(|| panic!("{file}: no error line in {stderr}"));
        assert!(
            last.contains(want),
            "{file}: `{last}` does not contain `{want}`"
        );
        assert!(!out_file.exists(), "{file}: no output file on failure");
    }
}

#[test]
fn a_render_prints_its_result_line_without_log_noise() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("hello.mp4");
    // No RUST_LOG: the CLI's own default.
    let run = Command::new(env!("CARGO_BIN_EXE_vrender"))
        .env_remove("RUST_LOG")
        .arg("render")
        .arg(repo().join("examples/hello.json"))
        .arg("-o")
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success());
    let stderr = String::from_utf8_lossy(&run.stderr);
    let stdout = String::from_utf8_lossy(&run.stdout);
    let all = format!("{stdout}{stderr}");
    assert!(all.contains("wrote "), "{all}");
    for noise in [" INFO ", "\x1b[", "XDG_RUNTIME_DIR"] {
        assert!(!all.contains(noise), "{noise:?} in: {all}");
    }
}

#[test]
fn bad_command_lines_fail_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    let hello = repo().join("examples/hello.json");
    let cases: &[(&[&str], &str)] = &[
        (&["--frames", "10..5"], "empty range"),
        (&["--frames", "0..100000"], "outside the timeline"),
        (&["--quality", "best"], "unknown quality"),
        (&["--still", "99999"], "past the end"),
    ];
    for (extra, want) in cases {
        let out = vrender()
            .args(["render", "-q"])
            .arg(&hello)
            .arg("-o")
            .arg(dir.path().join("x.mp4"))
            .args(*extra)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{extra:?} should fail");
        assert!(stderr.contains(want), "{extra:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    let out = vrender()
        .args(["render", "-q", "/nonexistent/p.json", "-o", "x.mp4"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .contains("cannot read project file /nonexistent/p.json"));
}
