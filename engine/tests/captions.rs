//! Captions layers on lavapipe: SRT and WebVTT cues on the right frames (first and last frame of
//! each cue, drawn exactly like a text layer with the cue's text), word highlight following the
//! WebVTT word timestamps and the even split, and malformed files reported with their line.

use std::sync::OnceLock;

use vrender_engine::project::{Anchor, Cue, Highlight, TextAlign};
use vrender_engine::{AssetResolver, Color, Composition, Engine, EngineConfig, Layer, Project};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineConfig::default()).expect("a GPU adapter (lavapipe in CI)")
    })
}

const W: u32 = 320;
const H: u32 = 120;
const FPS: f64 = 10.0;

fn project(layer: Layer) -> Project {
    let mut p = Project::new(W, H, FPS);
    let mut comp = Composition::new(6.0).background("#102030".parse().unwrap());
    comp.layers.push(layer);
    p.frames.push(comp);
    p
}

fn styled(mut l: Layer) -> Layer {
    l.size = Some(24.0);
    l.anchor = Anchor::Bottom;
    l.x = W as f64 / 2.0;
    l.y = H as f64 - 10.0;
    l
}

/// The frame a text layer with `text` in the captions' style draws.
fn reference(text: &str) -> image::RgbaImage {
    let mut t = styled(Layer::text(text));
    t.align = Some(TextAlign::Center);
    t.max_width = Some((W as f64 * 0.9).round());
    engine()
        .render_still(&project(t), 0, &AssetResolver::default())
        .unwrap()
}

fn blank() -> image::RgbaImage {
    engine()
        .render_still(
            &project(Layer::shape(
                vrender_engine::ShapeKind::Rect,
                1.0,
                1.0,
                "#00000000".parse::<Color>().unwrap(),
            )),
            0,
            &AssetResolver::default(),
        )
        .unwrap()
}

fn check_cues(file: &str, content: &str, cues: &[(f64, f64, &str)]) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join(file), content).unwrap();
    let assets = AssetResolver::relative_to(dir.path());
    let mut l = styled(Layer::captions(Vec::new()));
    l.cues = None;
    l.src = Some(file.into());
    // Cue times count from the layer's start.
    l.start = Some(0.5);
    let p = project(l);
    let at = |n: u64| engine().render_still(&p, n, &assets).unwrap();
    let empty = blank();
    for &(start, end, text) in cues {
        let first = ((start + 0.5) * FPS).round() as u64;
        let last = ((end + 0.5) * FPS).round() as u64 - 1;
        let want = reference(text);
        assert!(
            at(first) == want,
            "{file}: first frame {first} shows {text:?}"
        );
        assert!(at(last) == want, "{file}: last frame {last} shows {text:?}");
        if !cues
            .iter()
            .any(|c| ((c.1 + 0.5) * FPS).round() as u64 == first)
        {
            assert!(
                at(first - 1) != want,
                "{file}: frame {} is before {text:?}",
                first - 1
            );
        }
        if !cues
            .iter()
            .any(|c| ((c.0 + 0.5) * FPS).round() as u64 == last + 1)
        {
            assert!(at(last + 1) == empty, "{file}: nothing after {text:?}");
        }
    }
}

#[test]
fn srt_and_vtt_cues_show_on_their_frames() {
    check_cues(
        "subs.srt",
        "1\n00:00:00,500 --> 00:00:01,500\nHello there\n\n2\n00:00:01,500 --> 00:00:02,000\n<i>Second</i> cue\n\n3\n00:00:03,000 --> 00:00:04,200\nTwo\nlines\n",
        &[(0.5, 1.5, "Hello there"), (1.5, 2.0, "Second cue"), (3.0, 4.2, "Two\nlines")],
    );
    check_cues(
        "subs.vtt",
        "WEBVTT - test\n\nSTYLE\n::cue { color: red }\n\nintro\n00:01.000 --> 00:02.000 line:90%\n<v Ann>Web &amp; VTT\n\n00:02.500 --> 00:03.000\nlast\n",
        &[(1.0, 2.0, "Web & VTT"), (2.5, 3.0, "last")],
    );
}

/// Mean x of the pure yellow pixels (the highlighted word), if any.
fn yellow_x(img: &image::RgbaImage) -> Option<f64> {
    let xs: Vec<u32> = img
        .enumerate_pixels()
        .filter(|(_, _, p)| p[0] > 230 && p[1] > 230 && p[2] < 40)
        .map(|(x, _, _)| x)
        .collect();
    (!xs.is_empty()).then(|| xs.iter().map(|&x| x as f64).sum::<f64>() / xs.len() as f64)
}

#[test]
fn word_highlight_follows_vtt_word_timestamps_and_even_split() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("words.vtt"),
        "WEBVTT\n\n00:00.000 --> 00:03.000\none <00:00.700>two <00:02.100>three\n",
    )
    .unwrap();
    let assets = AssetResolver::relative_to(dir.path());
    let mut l = styled(Layer::captions(Vec::new()));
    l.cues = None;
    l.src = Some("words.vtt".into());
    l.highlight = Some(Highlight {
        color: Some("#ffff00".parse().unwrap()),
        background: None,
    });
    let p = project(l.clone());
    let x = |p: &Project, n: u64| {
        yellow_x(&engine().render_still(p, n, &assets).unwrap()).expect("a highlighted word")
    };
    // Word starts 0.0, 0.7, 2.1 s: frames 0–6, 7–20, 21–29.
    let (a0, a1) = (x(&p, 0), x(&p, 6));
    let (b0, b1) = (x(&p, 7), x(&p, 20));
    let (c0, c1) = (x(&p, 21), x(&p, 29));
    assert_eq!((a0, b0, c0), (a1, b1, c1), "steady within a word");
    assert!(
        a0 < b0 && b0 < c0,
        "moves right word by word: {a0} {b0} {c0}"
    );

    // Inline cues without word times: an even split (1 s per word of a 3 s cue).
    l.src = None;
    l.cues = Some(vec![Cue {
        start: 0.0,
        end: 3.0,
        text: "one two three".into(),
        words: Vec::new(),
    }]);
    let p = project(l);
    assert_eq!(x(&p, 9), a0);
    assert_eq!(x(&p, 10), b0);
    assert_eq!(x(&p, 19), b0);
    assert_eq!(x(&p, 20), c0);
}

#[test]
fn malformed_caption_files_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bad.srt"),
        "1\n00:00:01,000 --> 00:00:02,000\nok\n\n2\n00:00:03,000 --> 00:00:0x,000\nbad\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad.vtt"),
        "WEBVTT\n\n00:01.000 --> 00:02.000\nfine <b\n",
    )
    .unwrap();
    for (file, line) in [("bad.srt", 6), ("bad.vtt", 4), ("none.srt", 0)] {
        let mut l = Layer::captions(Vec::new());
        l.cues = None;
        l.src = Some(file.into());
        let errors = project(l)
            .validate(&Default::default(), &AssetResolver::relative_to(dir.path()))
            .unwrap_err();
        let e = &errors[0];
        assert_eq!(e.path, "frames[0].layers[0].src");
        assert!(e.message.contains(file), "{}", e.message);
        if line > 0 {
            assert!(
                e.message.contains(&format!("line {line}:")),
                "{}",
                e.message
            );
        } else {
            assert!(e.message.contains("not found"), "{}", e.message);
        }
    }
    // Inline cues are checked field by field.
    let mut l = Layer::captions(vec![Cue {
        start: 2.0,
        end: 1.0,
        text: "a b".into(),
        words: Vec::new(),
    }]);
    l.text = Some("not here".into());
    let errors = project(l)
        .validate(&Default::default(), &AssetResolver::default())
        .unwrap_err();
    let paths: Vec<&str> = errors.iter().map(|e| e.path.as_str()).collect();
    assert!(
        paths.contains(&"frames[0].layers[0].cues[0].end"),
        "{paths:?}"
    );
    assert!(paths.contains(&"frames[0].layers[0].text"), "{paths:?}");
}
