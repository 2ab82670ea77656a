//! ClipPlayer on real clips made by ffmpeg: every decoded frame's pixels say which source frame it
//! is, checked against the frame the layer timing asks for (trim, speed, loop, other rates, VFR,
//! rotation, alpha), plus seeking and the decoder child's lifetime.

use crate::video_common;

use std::sync::Arc;

use video_common::*;
use vrender_engine::video::{ClipInfo, ClipPlayer, ClipTiming, VideoError, YuvMatrix};

/// A player for the whole clip at speed 1, frames at the clip's own size.
fn play_whole(clip: &std::path::Path, info: &ClipInfo) -> ClipPlayer {
    ClipPlayer::open(
        &ffmpeg_bin(),
        clip,
        info,
        timing(0.0, None, 1.0, false),
        None,
    )
    .unwrap()
}

fn timing(trim_start: f64, trim_end: Option<f64>, speed: f64, looped: bool) -> ClipTiming {
    ClipTiming {
        trim_start,
        trim_end,
        speed,
        looped,
    }
}

/// Plays `frames` project frames at `fps` and checks each picture against `expect(n)`.
fn check_play(
    file: &std::path::Path,
    t: ClipTiming,
    fps: f64,
    frames: usize,
    expect: impl Fn(usize) -> usize,
) {
    let info = probe(file);
    let mut p = ClipPlayer::open(&ffmpeg_bin(), file, &info, t, None).unwrap();
    for n in 0..frames {
        let f = p.frame_at(n as f64 / fps).unwrap();
        let want = expect(n);
        assert_eq!(
            f.source_index as usize, want,
            "project frame {n}: source_index"
        );
        assert_eq!(index_of(&f), want, "project frame {n}: pixels");
    }
}

#[test]
fn plays_every_frame_with_trim_speed_and_loop() {
    let m = Media::new();
    let clip = m.h264("c.mp4", 60, "30", &["-g", "12"]);
    let info = probe(&clip);
    assert_eq!((info.width, info.height), (W, H));
    assert_eq!(info.frame_times.len(), 60);
    assert!((info.duration - 2.0).abs() < 1e-6, "{}", info.duration);
    assert!((info.frame_rate - 30.0).abs() < 1e-6);
    assert!(!info.has_alpha && !info.has_audio);
    // Plain: n -> n, then frozen on the last frame.
    check_play(&clip, timing(0.0, None, 1.0, false), 30.0, 70, |n| {
        n.min(59)
    });
    // trimStart 0.5 s and trimEnd 1.5 s: frames 15..45, then frozen on 44.
    check_play(&clip, timing(0.5, Some(1.5), 1.0, false), 30.0, 40, |n| {
        (15 + n).min(44)
    });
    // Twice as fast: every other frame.
    check_play(&clip, timing(0.0, None, 2.0, false), 30.0, 35, |n| {
        (2 * n).min(59)
    });
    // Half speed: each frame twice.
    check_play(&clip, timing(0.0, None, 0.5, false), 30.0, 50, |n| n / 2);
    // Loop over [1.0, 1.5): frames 30..45 repeated, the decoder seeking back at each wrap.
    check_play(&clip, timing(1.0, Some(1.5), 1.0, true), 30.0, 50, |n| {
        30 + n % 15
    });
    // A 25 fps clip in a 30 fps project: the frame on screen at each instant.
    let c25 = m.h264("c25.mp4", 50, "25", &[]);
    check_play(&c25, timing(0.0, None, 1.0, false), 30.0, 60, |n| {
        ((n as f64 / 30.0 * 25.0 + 1e-9).floor() as usize).min(49)
    });
}

#[test]
fn variable_frame_rate_follows_the_timestamps() {
    let m = Media::new();
    // Frames 0..10 every 0.1 s, then 10..30 every 1/30 s.
    let clip = m.h264(
        "vfr.mp4",
        30,
        "30",
        &[
            "-vf",
            "setpts='if(lt(N,10),N*0.1,1+(N-10)/30)/TB'",
            "-fps_mode",
            "vfr",
            "-video_track_timescale",
            "3000",
        ],
    );
    let info = probe(&clip);
    let want: Vec<f64> = (0..30)
        .map(|n| {
            if n < 10 {
                n as f64 * 0.1
            } else {
                1.0 + (n - 10) as f64 / 30.0
            }
        })
        .collect();
    assert_eq!(info.frame_times.len(), 30);
    for (a, b) in info.frame_times.iter().zip(&want) {
        assert!((a - b).abs() < 1e-6, "{a} vs {b}");
    }
    check_play(&clip, timing(0.0, None, 1.0, false), 60.0, 110, |n| {
        let tau = n as f64 / 60.0;
        want.iter().rposition(|&t| t <= tau + 1e-6).unwrap()
    });
}

#[test]
fn seeks_anywhere_and_back() {
    let m = Media::new();
    let clip = m.h264("g.mp4", 90, "30", &["-g", "25", "-bf", "2"]);
    let info = probe(&clip);
    let mut p = play_whole(&clip, &info);
    for target in [47usize, 48, 80, 3, 26, 25, 24, 89, 0, 60] {
        let f = p.frame_at(target as f64 / 30.0).unwrap();
        assert_eq!((f.source_index as usize, index_of(&f)), (target, target));
    }
    // Same frame again: the same Arc, no new decode.
    let a = p.frame_at(2.0).unwrap();
    let b = p.frame_at(2.0 + 0.001).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
}

#[test]
fn rotation_metadata_swaps_the_display_size() {
    let m = Media::new();
    // ffmpeg 5.1 keeps the rotate tag only when copying the stream.
    let plain = m.h264("p.mp4", 10, "30", &[]);
    m.ffmpeg(&[
        "-i",
        plain.to_str().unwrap(),
        "-c",
        "copy",
        "-metadata:s:v:0",
        "rotate=90",
        "r.mp4",
    ]);
    let clip = m.path("r.mp4");
    let info = probe(&clip);
    assert_eq!((info.coded_width, info.coded_height), (W, H));
    assert_eq!((info.width, info.height), (H, W));
    assert_eq!(info.rotation % 180, 90);
    let mut p = play_whole(&clip, &info);
    assert_eq!(p.size(), (H, W));
    let f = p.frame_at(5.0 / 30.0).unwrap();
    assert_eq!((f.width, f.height), (H, W));
    assert_eq!(f.y.len(), (H * W) as usize);
    assert_eq!(f.u.len(), (H.div_ceil(2) * W.div_ceil(2)) as usize);
    assert_eq!(index_of(&f), 5);
    // A downscaled, odd output size on request.
    let mut small = ClipPlayer::open(
        &ffmpeg_bin(),
        &clip,
        &info,
        timing(0.0, None, 1.0, false),
        Some((13, 17)),
    )
    .unwrap();
    let f = small.frame_at(0.0).unwrap();
    assert_eq!(
        (f.width, f.height, f.y.len(), f.u.len()),
        (13, 17, 13 * 17, 7 * 9)
    );
    assert_eq!(index_of(&f), 0);
}

#[test]
fn non_square_pixels_are_stretched_to_display_size() {
    let m = Media::new();
    let clip = m.h264("sar.mp4", 3, "30", &["-vf", "setsar=2/1"]);
    let info = probe(&clip);
    assert_eq!((info.width, info.height), (2 * W, H));
    let mut p = play_whole(&clip, &info);
    assert_eq!(p.frame_at(0.0).unwrap().width, 2 * W);
}

#[test]
fn vp9_alpha_in_webm() {
    let m = Media::new();
    // Opaque left half, transparent right half.
    let alpha = |_n: usize, x: u32| if x < W / 2 { 255u8 } else { 0u8 };
    let clip = m.clip(
        "a.webm",
        12,
        "30",
        Some(&alpha),
        &[
            "-c:v",
            "libvpx-vp9",
            "-pix_fmt",
            "yuva420p",
            "-lossless",
            "1",
        ],
    );
    let info = probe(&clip);
    assert!(info.has_alpha, "{info:?}");
    let mut p = play_whole(&clip, &info);
    assert!(p.has_alpha());
    for n in [0usize, 7, 11] {
        let f = p.frame_at(n as f64 / 30.0).unwrap();
        assert_eq!(index_of(&f), n);
        let a = f.a.as_ref().expect("alpha plane");
        let row = (H / 2 * W) as usize;
        assert!(a[row + 4] > 250, "left alpha {}", a[row + 4]);
        assert!(
            a[row + W as usize - 4] < 5,
            "right alpha {}",
            a[row + W as usize - 4]
        );
    }
}

#[test]
fn gif_decodes_with_an_alpha_plane() {
    let m = Media::new();
    let src = m.h264("g.mp4", 10, "10", &[]);
    m.ffmpeg(&["-i", src.to_str().unwrap(), "-pix_fmt", "gray", "g.gif"]);
    let gif = m.path("g.gif");
    // The grey levels the GIF really holds, decoded to RGBA by ffmpeg on its own.
    let rgba = std::process::Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-i",
            gif.to_str().unwrap(),
            "-f",
            "rawvideo",
            "-pix_fmt",
            "rgba",
            "-",
        ])
        .output()
        .unwrap()
        .stdout;
    let info = probe(&gif);
    assert!(info.has_alpha, "{info:?}");
    assert_eq!(info.frame_times.len(), 10);
    let mut p = play_whole(&gif, &info);
    let centre = (H / 2 * W + W / 2) as usize;
    for n in [0usize, 4, 9] {
        let f = p.frame_at(n as f64 / 10.0).unwrap();
        assert!(f.a.as_ref().is_some_and(|a| a.iter().all(|&v| v == 255)));
        // Converted from RGB to limited-range BT.601 YUV: y = 16 + 219·g/255.
        let g = f64::from(rgba[(n * (W * H) as usize + centre) * 4 + 1]);
        let y = f64::from(f.y[centre]);
        assert!(
            (y - (16.0 + 219.0 * g / 255.0)).abs() <= 1.5,
            "frame {n}: {y} for grey {g}"
        );
        assert!(!f.full_range);
        assert_eq!(f.matrix, YuvMatrix::Bt601);
    }
    // Each frame is a different grey: the frames are not mixed up.
    let g: Vec<u8> = (0..10)
        .map(|n| rgba[(n * (W * H) as usize + centre) * 4 + 1])
        .collect();
    assert!(g.windows(2).all(|w| w[0] < w[1]), "{g:?}");
}

#[test]
fn colour_tags_are_reported() {
    let m = Media::new();
    let c709 = m.h264(
        "hd.mp4",
        2,
        "30",
        &["-colorspace", "bt709", "-color_range", "tv"],
    );
    let cj = m.clip(
        "j.mp4",
        2,
        "30",
        None,
        &["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuvj420p"],
    );
    let plain = m.h264("sd.mp4", 2, "30", &[]);
    for (file, matrix, full) in [
        (&c709, YuvMatrix::Bt709, false),
        (&cj, YuvMatrix::Bt601, true),
        (&plain, YuvMatrix::Bt601, false),
    ] {
        let info = probe(file);
        let mut p = play_whole(file, &info);
        let f = p.frame_at(0.0).unwrap();
        assert_eq!(
            (f.matrix, f.full_range),
            (matrix, full),
            "{}",
            file.display()
        );
        assert_eq!(index_of(&f), 0, "{}: no range conversion", file.display());
    }
}

#[test]
fn no_leftover_process_after_drop_or_failure() {
    let m = Media::new();
    let clip = m.h264("long.mp4", 120, "30", &["-movflags", "+faststart"]);
    let info = probe(&clip);
    let mut p = play_whole(&clip, &info);
    p.frame_at(0.0).unwrap();
    let pid = p.child_pid().expect("a decoder runs");
    assert!(alive(pid));
    // A seek back replaces the child.
    p.frame_at(1.0).unwrap();
    p.frame_at(0.1).unwrap();
    let pid2 = p.child_pid().unwrap();
    assert_ne!(pid, pid2);
    assert!(!alive(pid), "the replaced decoder must be gone");
    drop(p);
    assert!(!alive(pid2), "dropping the player must end its decoder");

    // A file cut in half after it was probed (changed between validation and render): decoding
    // stops early, and the render must fail naming the file instead of freezing or hanging.
    let bytes = std::fs::read(&clip).unwrap();
    let cut = m.path("cut.mp4");
    std::fs::write(&cut, &bytes).unwrap();
    let info = probe(&cut);
    assert_eq!(info.frame_times.len(), 120);
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let mut p = play_whole(&cut, &info);
    p.frame_at(0.0).unwrap();
    let pid = p.child_pid().unwrap();
    let mut failed = None;
    for n in 1..120 {
        match p.frame_at(n as f64 / 30.0) {
            Ok(f) => assert_eq!(index_of(&f), n),
            Err(e) => {
                failed = Some((n, e));
                break;
            }
        }
    }
    let (n, e) = failed.expect("a truncated file must fail");
    assert!(n > 5 && n < 119, "failed at {n}");
    assert!(matches!(e, VideoError::Corrupt { .. }), "{e}");
    assert!(e.to_string().contains("cut.mp4"), "{e}");
    assert!(p.child_pid().is_none());
    assert!(!alive(pid), "a failed decoder must be gone");
}
