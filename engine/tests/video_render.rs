//! Video layers through the whole renderer (real ffmpeg decoders, real lavapipe): every composed
//! frame shows exactly the source frame the timing rules predict (trim, speed, loop, freeze, another
//! frame rate), a partial render equals the same frames of a whole one, `fit` places the picture
//! where predicted, and no decoder process outlives a render, a cancel or a failure.

use crate::video_common;

use std::sync::{Arc, Mutex, OnceLock};

use video_common::*;
use vrender_engine::encoder::{DiscardEncoder, Frame};
use vrender_engine::*;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineConfig::default()).expect("a GPU adapter (lavapipe in CI)")
    })
}

/// A lossless H.264 clip of `frames` flat grey frames at `fps`: frame n has luma `20 + 2n`
/// (n < 100), so any colour path that keeps greys grey keeps n readable.
fn grey_clip(media: &Media, name: &str, frames: usize, fps: &str) {
    use std::io::Write;
    let out = media.path(name);
    let size = format!("{W}x{H}");
    let mut child = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo"])
        .args([
            "-pix_fmt", "yuv420p", "-s", &size, "-r", fps, "-i", "pipe:0",
        ])
        .args(["-c:v", "libx264", "-qp", "0", "-pix_fmt", "yuv420p"])
        .arg(&out)
        .stdin(std::process::Stdio::piped())
        .spawn()
        .expect("ffmpeg must be installed");
    let mut stdin = child.stdin.take().unwrap();
    let (luma, chroma) = ((W * H) as usize, (W * H / 4) as usize);
    for n in 0..frames {
        let mut buf = vec![(20 + 2 * n) as u8; luma];
        buf.extend(std::iter::repeat_n(128u8, 2 * chroma));
        stdin.write_all(&buf).unwrap();
    }
    drop(stdin);
    assert!(
        child.wait().unwrap().success(),
        "ffmpeg failed making {name}"
    );
}

/// The source frame a composed frame shows, from its centre luma (greys survive BT.601 → RGB →
/// BT.709 within a code).
fn shown(frame: &[u8]) -> usize {
    let stride = W.next_multiple_of(8) as usize;
    let y = frame[(H as usize / 2) * stride + W as usize / 2] as f64;
    ((y - 20.0) / 2.0).round().max(0.0) as usize
}

/// Tests in this file count the process's ffmpeg children, so they run one at a time.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

fn background_luma(frame: &[u8]) -> u8 {
    let stride = W.next_multiple_of(8) as usize;
    frame[(H as usize / 2) * stride + W as usize / 2]
}

fn project(fps: f64, seconds: f64, layer: Layer) -> Project {
    let mut p = Project::new(W, H, fps);
    let mut comp = Composition::new(seconds).background("#ffffff".parse().unwrap());
    comp.layers.push(layer);
    p.frames.push(comp);
    p
}

fn video(src: &str) -> Layer {
    let mut l: Layer = serde_json::from_value(serde_json::json!({"type": "video", "src": src}))
        .expect("a video layer");
    l.x = 0.0;
    l.y = 0.0;
    l
}

fn with(l: Layer, patch: serde_json::Value) -> Layer {
    let mut v = serde_json::to_value(&l).unwrap();
    for (k, val) in patch.as_object().unwrap() {
        v[k] = val.clone();
    }
    serde_json::from_value(v).expect("valid layer fields")
}

/// Composes every frame (or `range`) without encoding; returns the YUV frames.
fn compose(p: &Project, media: &Media, range: Option<std::ops::Range<u64>>) -> Vec<Vec<u8>> {
    let kept: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let mut req = RenderRequest::new("/dev/null", AssetResolver::relative_to(media.dir.path()));
    req.frames = range;
    engine()
        .render_with(p, &req, &mut |_| {}, &CancelToken::new(), &mut |_| {
            let kept = kept.clone();
            Ok(Box::new(DiscardEncoder::new(move |f: &Frame| {
                kept.lock().unwrap().push(f.data.clone())
            })))
        })
        .expect("render");
    let frames = std::mem::take(&mut *kept.lock().unwrap());
    assert!(
        ffmpeg_children(media).is_empty(),
        "a decoder outlived the render"
    );
    frames
}

#[track_caller]
fn assert_shows(frames: &[Vec<u8>], want: impl Fn(usize) -> usize, what: &str) {
    let got: Vec<usize> = frames.iter().map(|f| shown(f)).collect();
    let expected: Vec<usize> = (0..frames.len()).map(want).collect();
    assert_eq!(
        got, expected,
        "{what}: source frame shown at each output frame"
    );
}

#[test]
fn every_output_frame_shows_the_predicted_source_frame() {
    let _serial = serial();
    let media = Media::new();
    grey_clip(&media, "c30.mp4", 90, "30");
    grey_clip(&media, "c25.mp4", 75, "25");

    let p = project(
        30.0,
        1.0,
        with(video("c30.mp4"), serde_json::json!({"trimStart": 1.0})),
    );
    assert_shows(&compose(&p, &media, None), |k| 30 + k, "trimStart 1 s");

    let p = project(
        30.0,
        1.0,
        with(video("c30.mp4"), serde_json::json!({"speed": 2.0})),
    );
    assert_shows(&compose(&p, &media, None), |k| 2 * k, "speed 2");

    let p = project(
        30.0,
        1.0,
        with(video("c30.mp4"), serde_json::json!({"speed": 0.5})),
    );
    assert_shows(&compose(&p, &media, None), |k| k / 2, "speed 0.5");

    let p = project(
        30.0,
        2.0,
        with(
            video("c30.mp4"),
            serde_json::json!({"trimStart": 0.5, "trimEnd": 1.5, "loop": true}),
        ),
    );
    assert_shows(&compose(&p, &media, None), |k| 15 + k % 30, "loop of 1 s");

    // 25 fps into 30 fps: the latest source frame at or before each output time.
    let p = project(30.0, 2.0, video("c25.mp4"));
    assert_shows(&compose(&p, &media, None), |k| k * 25 / 30, "25 → 30 fps");

    // Layer start: the clip starts at 0.5 s; before it the background shows.
    let p = project(
        30.0,
        1.0,
        with(video("c30.mp4"), serde_json::json!({"start": 0.5})),
    );
    let frames = compose(&p, &media, None);
    assert!(frames[..15].iter().all(|f| background_luma(f) == 235));
    assert_shows(&frames[15..], |k| k, "start 0.5 s");
}

#[test]
fn a_clip_ends_or_freezes_as_documented() {
    let _serial = serial();
    let media = Media::new();
    grey_clip(&media, "c10.mp4", 10, "30");
    // No end: the layer lasts as long as the clip plays (10 frames), then the background.
    let p = project(30.0, 1.0, video("c10.mp4"));
    let frames = compose(&p, &media, None);
    assert_shows(&frames[..10], |k| k, "the clip plays");
    assert!(
        frames[10..].iter().all(|f| background_luma(f) == 235),
        "background after the clip"
    );
    // An `end` later than the clip without loop: the last frame holds.
    let p = project(
        30.0,
        1.0,
        with(video("c10.mp4"), serde_json::json!({"end": 1.0})),
    );
    assert_shows(
        &compose(&p, &media, None),
        |k| k.min(9),
        "freeze on the last frame",
    );
}

#[test]
fn a_partial_render_equals_the_same_frames_of_a_whole_one() {
    let _serial = serial();
    let media = Media::new();
    grey_clip(&media, "c30.mp4", 90, "30");
    let p = project(
        30.0,
        3.0,
        with(
            video("c30.mp4"),
            serde_json::json!({"speed": 1.5, "loop": true}),
        ),
    );
    let whole = compose(&p, &media, None);
    for range in [37..52, 80..90] {
        let part = compose(&p, &media, Some(range.clone()));
        assert_eq!(part.len() as u64, range.end - range.start);
        for (i, f) in part.iter().enumerate() {
            assert!(
                *f == whole[range.start as usize + i],
                "frame {} differs",
                range.start as usize + i
            );
        }
    }
}

#[test]
fn fit_places_the_picture_where_predicted() {
    let _serial = serial();
    // A 64x48 (4:3) clip in a 64x24 box at the top of the frame.
    let media = Media::new();
    grey_clip(&media, "c.mp4", 10, "30");
    let still = |fit: &str| {
        let l = with(
            video("c.mp4"),
            serde_json::json!({"width": 64, "height": 24, "fit": fit, "end": 0.3}),
        );
        engine()
            .render_still(
                &project(30.0, 0.3, l),
                0,
                &AssetResolver::relative_to(media.dir.path()),
            )
            .expect("still")
    };
    let is_bg = |img: &image::RgbaImage, x: u32, y: u32| img.get_pixel(x, y)[0] == 255;
    // contain: 32x24 centred → columns 16..48 of rows 0..24.
    let img = still("contain");
    assert!(
        is_bg(&img, 8, 12) && is_bg(&img, 56, 12),
        "contain leaves the sides"
    );
    assert!(
        !is_bg(&img, 17, 12) && !is_bg(&img, 46, 12),
        "contain draws the middle"
    );
    // cover and fill: the whole box.
    for fit in ["cover", "fill"] {
        let img = still(fit);
        assert!(
            !is_bg(&img, 1, 12) && !is_bg(&img, 62, 12),
            "{fit} fills the box"
        );
        assert!(is_bg(&img, 32, 30), "{fit} stays inside the box");
    }
    // none: natural size centred, cropped to the box: the box is covered.
    let img = still("none");
    assert!(!is_bg(&img, 1, 1) && !is_bg(&img, 62, 22) && is_bg(&img, 32, 30));
    assert!(ffmpeg_children(&media).is_empty());
}

#[test]
fn no_decoder_outlives_a_cancel_or_a_failure() {
    let _serial = serial();
    let media = Media::new();
    grey_clip(&media, "c30.mp4", 90, "30");
    let p = project(30.0, 3.0, video("c30.mp4"));
    let cancel = CancelToken::new();
    let mut req = RenderRequest::new("/dev/null", AssetResolver::relative_to(media.dir.path()));
    req.frames = None;
    let c2 = cancel.clone();
    let mut seen = 0;
    let r = engine().render_with(&p, &req, &mut |_| {}, &cancel, &mut |_| {
        let c2 = c2.clone();
        Ok(Box::new(DiscardEncoder::new(move |f: &Frame| {
            if f.index == 10 {
                c2.cancel();
            }
        })))
    });
    seen += 1;
    assert!(matches!(r, Err(RenderError::Cancelled)), "{r:?}");
    assert!(
        ffmpeg_children(&media).is_empty(),
        "decoder left after a cancel"
    );

    // A file that is cut short: the render fails naming the layer's src, and leaves nothing.
    let good = std::fs::read(media.path("c30.mp4")).unwrap();
    std::fs::write(media.path("cut.mp4"), &good[..good.len() / 3]).unwrap();
    let p = project(30.0, 3.0, video("cut.mp4"));
    let out = media.path("out.mp4");
    let req = RenderRequest::new(&out, AssetResolver::relative_to(media.dir.path()));
    let r = engine().render(&p, &req, &mut |_| {}, &CancelToken::new());
    let e = r.expect_err("a truncated clip fails");
    assert!(e.to_string().contains("frames[0].layers[0].src"), "{e}");
    assert!(!out.exists(), "no partial output");
    assert!(
        ffmpeg_children(&media).is_empty(),
        "decoder left after a failure"
    );
    assert_eq!(seen, 1);
}

#[test]
fn an_alpha_clip_blends_over_the_background() {
    let _serial = serial();
    // White, half transparent on the left half, opaque on the right, as VP9 with alpha in WebM.
    let media = Media::new();
    media.ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=white:s=64x48:r=30:d=1,format=yuva420p,geq=lum=235:cb=128:cr=128:a='if(lt(X,32),128,255)'",
        "-c:v",
        "libvpx-vp9",
        "-pix_fmt",
        "yuva420p",
        "-lossless",
        "1",
        "alpha.webm",
    ]);
    let mut p = project(30.0, 0.5, video("alpha.webm"));
    p.frames[0].background = Some("#ff0000".parse().unwrap());
    let img = engine()
        .render_still(&p, 5, &AssetResolver::relative_to(media.dir.path()))
        .expect("still");
    let px = |x: u32, y: u32| img.get_pixel(x, y).0;
    // Premultiplied white at 128/255 over red: (255, 128, 128) give or take rounding.
    let left = px(12, 24);
    assert!(left[0] >= 253, "{left:?}");
    assert!(
        (126..=131).contains(&left[1]) && (126..=131).contains(&left[2]),
        "{left:?}"
    );
    let right = px(52, 24);
    assert!(
        right[..3].iter().all(|&c| c >= 253),
        "opaque white: {right:?}"
    );
    assert!(ffmpeg_children(&media).is_empty());
}
