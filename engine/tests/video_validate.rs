//! Validation of video layers before any GPU work: broken and unusable files, bad fields, limits,
//! each reported at its JSON path and naming the file.

use crate::video_common;

use video_common::*;
use vrender_engine::assets::AssetResolver;
use vrender_engine::project::{Composition, Layer, Limits, Project};
use vrender_engine::video::{self, VideoError};

fn project_with(layers: Vec<Layer>) -> Project {
    let mut p = Project::new(64, 48, 30.0);
    let mut c = Composition::new(2.0);
    c.layers = layers;
    p.push(c);
    p
}

fn errors(m: &Media, p: &Project, limits: &Limits) -> Vec<String> {
    match p.validate(limits, &AssetResolver::relative_to(m.dir.path())) {
        Ok(()) => Vec::new(),
        Err(e) => e.iter().map(|e| e.to_string()).collect(),
    }
}

/// Exactly one error, at `path`, containing every one of `words`.
fn one_error(m: &Media, layer: Layer, path: &str, words: &[&str]) {
    let e = errors(m, &project_with(vec![layer]), &Limits::default());
    assert_eq!(e.len(), 1, "{e:?}");
    assert!(e[0].starts_with(&format!("{path}: ")), "{e:?}");
    for w in words {
        assert!(e[0].contains(w), "{:?} lacks {w:?}", e[0]);
    }
}

#[test]
fn good_video_layers_pass() {
    let m = Media::new();
    m.h264("ok.mp4", 30, "30", &[]);
    m.ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=32x16",
        "-frames:v",
        "1",
        "pic.png",
    ]);
    let layers = [
        Layer::video("ok.mp4"),
        Layer::video("ok.mp4")
            .trimmed(0.5, Some(0.9))
            .at_speed(4.0)
            .looping(),
        Layer::video("ok.mp4").at_speed(0.25),
        Layer::image("pic.png").fitted(vrender_engine::project::Fit::Cover),
    ];
    let e = errors(&m, &project_with(layers.to_vec()), &Limits::default());
    assert!(e.is_empty(), "{e:?}");
    let json = r#"{"width":64,"height":48,"frameRate":30,"frames":[{"duration":1,"layers":[
        {"type":"video","src":"ok.mp4","trimStart":0.1,"trimEnd":0.8,"speed":1.5,"loop":true,
         "volume":0.5,"muted":false,"fadeIn":0.2,"fadeOut":0.3,"fit":"contain"}]}]}"#;
    let p = Project::from_json(json).unwrap();
    let l = &p.frames[0].layers[0];
    assert!(l.looped() && l.speed() == 1.5 && l.volume() == 0.5 && l.trim_end == Some(0.8));
    assert_eq!(l.fit(), vrender_engine::project::Fit::Contain);
    assert!(errors(&m, &p, &Limits::default()).is_empty());
    // Round trip keeps `loop` spelled as in JSON.
    assert!(p.to_json_pretty().contains("\"loop\": true"));
}

#[test]
fn broken_files_are_reported_with_path_and_file() {
    let m = Media::new();
    let p = "frames[0].layers[0].src";
    m.h264("ok.mp4", 30, "30", &[]);
    // 1. missing
    one_error(&m, Layer::video("nope.mp4"), p, &["nope.mp4", "not found"]);
    // 2. empty
    std::fs::write(m.path("empty.mp4"), b"").unwrap();
    one_error(&m, Layer::video("empty.mp4"), p, &["empty.mp4", "empty"]);
    // 3. text renamed .mp4
    std::fs::write(
        m.path("text.mp4"),
        b"hello, this is not a video\n".repeat(50),
    )
    .unwrap();
    one_error(
        &m,
        Layer::video("text.mp4"),
        p,
        &["text.mp4", "ffprobe cannot read it (Invalid data"],
    );
    // 4. truncated mp4 (index at the end, cut off)
    let bytes = std::fs::read(m.path("ok.mp4")).unwrap();
    std::fs::write(m.path("trunc.mp4"), &bytes[..bytes.len() / 2]).unwrap();
    one_error(&m, Layer::video("trunc.mp4"), p, &["trunc.mp4"]);
    // 5. truncated mp4 with the index in front: the header lists more frames than there are
    m.h264("fs.mp4", 60, "30", &["-movflags", "+faststart"]);
    let bytes = std::fs::read(m.path("fs.mp4")).unwrap();
    std::fs::write(m.path("fs_cut.mp4"), &bytes[..bytes.len() * 2 / 3]).unwrap();
    one_error(
        &m,
        Layer::video("fs_cut.mp4"),
        p,
        &["fs_cut.mp4", "truncated"],
    );
    // 6. audio only
    m.ffmpeg(&["-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", "audio.m4a"]);
    one_error(
        &m,
        Layer::video("audio.m4a"),
        p,
        &["audio.m4a", "no video stream"],
    );
    // 7. a directory
    std::fs::create_dir(m.path("dir.mp4")).unwrap();
    one_error(&m, Layer::video("dir.mp4"), p, &["dir.mp4"]);
    // 8. a video stream without frames
    m.ffmpeg(&["-i", "ok.mp4", "-frames:v", "0", "-c", "copy", "zero.mp4"]);
    one_error(&m, Layer::video("zero.mp4"), p, &["zero.mp4"]);
    // 9. a still image is accepted as a one-frame clip
    m.ffmpeg(&[
        "-f",
        "lavfi",
        "-i",
        "color=c=red:s=32x16",
        "-frames:v",
        "1",
        "still.png",
    ]);
    let e = errors(
        &m,
        &project_with(vec![Layer::video("still.png")]),
        &Limits::default(),
    );
    assert!(e.is_empty(), "{e:?}");
    // 10. no src at all
    let mut l = Layer::video("x");
    l.src = None;
    one_error(&m, l, p, &["required"]);
    // 11. random bytes with a video extension
    let noise: Vec<u8> = (0..20_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(m.path("noise.webm"), noise).unwrap();
    one_error(&m, Layer::video("noise.webm"), p, &["noise.webm"]);
}

#[test]
fn bad_fields_and_limits() {
    let m = Media::new();
    m.h264("ok.mp4", 30, "30", &[]); // 1 s
    let p = "frames[0].layers[0]";
    one_error(
        &m,
        Layer::video("ok.mp4").trimmed(1.0, None),
        &format!("{p}.trimStart"),
        &["beyond the end", "ok.mp4"],
    );
    one_error(
        &m,
        Layer::video("ok.mp4").trimmed(5.0, None),
        &format!("{p}.trimStart"),
        &["beyond"],
    );
    one_error(
        &m,
        Layer::video("ok.mp4").trimmed(0.5, Some(0.5)),
        &format!("{p}.trimEnd"),
        &["greater than trimStart"],
    );
    one_error(
        &m,
        Layer::video("ok.mp4").trimmed(-1.0, None),
        &format!("{p}.trimStart"),
        &["between"],
    );
    one_error(
        &m,
        Layer::video("ok.mp4").at_speed(100.0),
        &format!("{p}.speed"),
        &["between 0.25 and 4"],
    );
    one_error(
        &m,
        Layer::video("ok.mp4").at_speed(0.0),
        &format!("{p}.speed"),
        &["between"],
    );
    one_error(
        &m,
        Layer::video("ok.mp4").at_speed(f64::NAN),
        &format!("{p}.speed"),
        &["finite"],
    );
    let mut l = Layer::video("ok.mp4");
    l.volume = Some(5.0);
    one_error(&m, l, &format!("{p}.volume"), &["between 0 and 4"]);
    let mut l = Layer::video("ok.mp4");
    l.fade_in = Some(-1.0);
    one_error(&m, l, &format!("{p}.fadeIn"), &["between"]);
    // Video fields on other kinds, `fit` on text, text fields on video.
    let mut l = Layer::image("x.png");
    l.speed = Some(2.0);
    l.looped = Some(true);
    let mut t = Layer::text("hi");
    t.fit = Some(vrender_engine::project::Fit::Cover);
    let mut v = Layer::video("ok.mp4");
    v.text = Some("x".into());
    let e = errors(&m, &project_with(vec![l, t, v]), &Limits::default());
    for want in [
        "frames[0].layers[0].speed: not allowed on a image layer",
        "frames[0].layers[0].loop: not allowed on a image layer",
        "frames[0].layers[1].fit: not allowed on a text layer",
        "frames[0].layers[2].text: not allowed on a video layer",
    ] {
        assert!(e.iter().any(|x| x == want), "{want} not in {e:?}");
    }
    // Resolution and layer-count limits.
    let small = Limits {
        max_video_side: 32,
        max_video_layers: 2,
        ..Limits::default()
    };
    let e = errors(&m, &project_with(vec![Layer::video("ok.mp4"); 3]), &small);
    assert!(
        e.iter()
            .any(|x| x.starts_with("frames[0].layers[0].src: ") && x.contains("64x48")),
        "{e:?}"
    );
    assert!(
        e.iter()
            .any(|x| x == "frames[0].layers[2]: at most 2 video layers per project"),
        "{e:?}"
    );
}

#[test]
fn probe_errors_name_the_file() {
    let m = Media::new();
    let ffprobe = video::ffprobe_path(None);
    let missing = m.path("missing.mov");
    let e = video::probe(&ffprobe, &missing).unwrap_err();
    assert!(e.to_string().contains("missing.mov"), "{e}");
    let e = video::probe(
        std::path::Path::new("/nonexistent/ffprobe"),
        &m.h264("a.mp4", 2, "30", &[]),
    )
    .unwrap_err();
    assert!(matches!(e, VideoError::Spawn { .. }), "{e}");
}
