//! Fonts and text layout on real fonts and lavapipe: every script of a mixed string gets a real
//! glyph (checked against the drawing face's cmap) and pixels in its box; no silent tofu; project
//! fonts (used, aliased, missing, hostile); auto-fit, vertical alignment, letter spacing and the
//! background box.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use vrender_engine::project::{FontSource, TextBackground, VerticalAlign};
use vrender_engine::{AssetResolver, Color, Composition, Engine, EngineConfig, Layer, Project};

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineConfig::default()).expect("a GPU adapter (lavapipe in CI)")
    })
}

fn c(hex: &str) -> Color {
    hex.parse().unwrap()
}

fn project(w: u32, h: u32, layers: Vec<Layer>) -> Project {
    let mut p = Project::new(w, h, 10.0);
    let mut comp = Composition::new(1.0).background(c("#000000"));
    comp.layers = layers;
    p.frames.push(comp);
    p
}

fn bundled_font() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/fonts/DejaVuSans.ttf")
}

/// Pixels of `img` inside `r` (x0, y0, x1, y1) that are not the black background.
fn lit_in(img: &image::RgbaImage, r: [f64; 4]) -> usize {
    let (x0, y0) = (r[0].floor().max(0.0) as u32, r[1].floor().max(0.0) as u32);
    let x1 = (r[2].ceil() as u32).min(img.width());
    let y1 = (r[3].ceil() as u32).min(img.height());
    let mut n = 0;
    for y in y0..y1 {
        for x in x0..x1 {
            let p = img.get_pixel(x, y);
            if p[0] as u32 + p[1] as u32 + p[2] as u32 > 60 {
                n += 1;
            }
        }
    }
    n
}

/// Bounding box of the pixels brighter than the background (x0, y0, x1, y1 exclusive).
fn lit_box(img: &image::RgbaImage) -> Option<[u32; 4]> {
    let mut r = [u32::MAX, u32::MAX, 0, 0];
    for (x, y, p) in img.enumerate_pixels() {
        if p[0] as u32 + p[1] as u32 + p[2] as u32 > 60 {
            r = [r[0].min(x), r[1].min(y), r[2].max(x + 1), r[3].max(y + 1)];
        }
    }
    (r[0] != u32::MAX).then_some(r)
}

#[test]
fn every_script_gets_a_real_glyph_and_pixels_in_its_box() {
    let text = "Héllo 你好 مرحبا שלום नमस्ते สวัสดี 😀";
    let mut layer = Layer::text(text).at(10.0, 10.0);
    layer.size = Some(40.0);
    let glyphs = engine().text_glyphs(&layer).expect("shaped");
    // Every drawn character is covered by a glyph that is not the missing glyph, from a face whose
    // cmap maps that character.
    for ch in text.chars().filter(|c| !c.is_whitespace()) {
        let g = glyphs
            .iter()
            .find(|g| g.chars.contains(ch))
            .unwrap_or_else(|| panic!("no glyph covers {ch:?}"));
        assert_ne!(
            g.glyph_id, 0,
            "{ch:?} drawn as the missing glyph by {}",
            g.family
        );
        let file = g.font_file.clone().unwrap_or_else(bundled_font);
        let data = std::fs::read(&file).unwrap();
        let face = ttf_parser::Face::parse(&data, g.face_index).unwrap();
        assert!(
            face.glyph_index(ch).is_some(),
            "{ch:?}: {} ({}) has no cmap entry",
            g.family,
            file.display()
        );
    }
    let families: Vec<&str> = glyphs.iter().map(|g| g.family.as_str()).collect();
    assert!(
        families.iter().any(|f| f.contains("CJK")),
        "CJK from Noto CJK (run `make deps`): {families:?}"
    );
    assert!(families.contains(&"Noto Color Emoji"), "{families:?}");
    // Pixels in each glyph's box on the rendered frame.
    let p = project(1200, 120, vec![layer]);
    let img = engine()
        .render_still(&p, 0, &AssetResolver::default())
        .expect("render");
    // (A combining mark has no advance of its own: its ink is over its base, the glyph before.)
    let mut base = [0.0; 4];
    for g in glyphs.iter().filter(|g| !g.chars.trim().is_empty()) {
        let rect = if g.rect[2] - g.rect[0] < 1.0 {
            base
        } else {
            g.rect
        };
        base = rect;
        let r = [
            rect[0] + 10.0,
            rect[1] + 10.0,
            rect[2] + 10.0,
            rect[3] + 10.0,
        ];
        assert!(
            lit_in(&img, r) > 3,
            "no pixels for {:?} ({}) in {r:?}",
            g.chars,
            g.family
        );
    }
    // The emoji is in colour (Noto Color Emoji's grinning face is yellow), not white text.
    let emoji = glyphs.iter().find(|g| g.chars.contains('😀')).unwrap();
    let r = emoji.rect;
    let yellow = (r[0] as u32 + 10..r[2] as u32 + 10)
        .flat_map(|x| (r[1] as u32 + 10..r[3] as u32 + 10).map(move |y| (x, y)))
        .filter(|&(x, y)| {
            let p = img.get_pixel(x, y);
            p[0] > 180 && p[1] > 120 && p[2] < 90
        })
        .count();
    assert!(yellow > 50, "colour emoji: {yellow} yellow pixels");
}

#[test]
fn a_character_no_font_has_is_an_error_naming_it() {
    let layer = Layer::text("ok \u{10FFFD} \u{E0001}x");
    let p = project(128, 96, vec![Layer::text("fine"), layer]);
    let err = engine()
        .render_still(&p, 0, &AssetResolver::default())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("frames[0].layers[1].text") && err.contains("U+10FFFD"),
        "{err}"
    );
}

/// Ink width of the top rows of an "I" relative to its middle: serifs make it wider.
fn serif_ratio(img: &image::RgbaImage) -> f64 {
    let b = lit_box(img).expect("ink");
    let width_at = |y: u32| {
        (b[0]..b[2])
            .filter(|&x| img.get_pixel(x, y)[0] > 128)
            .count() as f64
    };
    width_at(b[1] + 2) / width_at((b[1] + b[3]) / 2)
}

#[test]
fn a_project_font_is_used_under_its_own_or_a_given_name() {
    let serif = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSerif.ttf");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(serif, dir.path().join("brand.ttf")).expect("fonts-dejavu-core's serif");
    let assets = AssetResolver::relative_to(dir.path());
    let mut i = Layer::text("I").at(20.0, 0.0);
    i.size = Some(150.0);

    // The engine (system fonts off) does not know DejaVu Serif: without the project font it is
    // an error naming the family.
    i.font = Some("DejaVu Serif".into());
    let err = engine()
        .render_still(&project(160, 200, vec![i.clone()]), 0, &assets)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("layers[0].font") && err.contains("DejaVu Serif"),
        "{err}"
    );

    let mut p = project(160, 200, vec![i.clone()]);
    p.fonts.push(FontSource {
        family: None,
        src: "brand.ttf".into(),
    });
    let with_serif = engine().render_still(&p, 0, &assets).expect("render");
    i.font = None;
    let sans = engine()
        .render_still(&project(160, 200, vec![i.clone()]), 0, &assets)
        .expect("render");
    let (rs, rn) = (serif_ratio(&with_serif), serif_ratio(&sans));
    assert!(rs > 2.0 && rn < 1.2, "serif {rs}, sans {rn}");

    // Under an alias, as the first of a chain.
    i.font = Some(vrender_engine::project::FontFamilies::Chain(vec![
        "Brand".into(),
        "DejaVu Sans".into(),
    ]));
    let mut p = project(160, 200, vec![i]);
    p.fonts.push(FontSource {
        family: Some("Brand".into()),
        src: "brand.ttf".into(),
    });
    let aliased = engine().render_still(&p, 0, &assets).expect("render");
    assert_eq!(aliased, with_serif);
}

#[test]
fn missing_and_hostile_font_files_are_errors_at_their_path() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let real = std::fs::read(bundled_font()).unwrap();
    std::fs::write(d.join("truncated.ttf"), &real[..1500]).unwrap();
    std::fs::write(
        d.join("text.ttf"),
        b"this is not a font at all, just some text",
    )
    .unwrap();
    let mut woff2 = b"wOF2".to_vec();
    woff2.extend_from_slice(&[0; 64]);
    std::fs::write(d.join("font.woff2"), woff2).unwrap();
    // A 64-byte WOFF2 whose header says it unpacks to 4 GiB: refused before unpacking.
    let mut bomb = b"wOF2".to_vec();
    bomb.extend_from_slice(&[0; 12]);
    bomb.extend_from_slice(&u32::MAX.to_be_bytes());
    bomb.extend_from_slice(&[0; 44]);
    std::fs::write(d.join("bomb.woff2"), bomb).unwrap();
    // A sparse file over the size limit: refused from its size, never read.
    let huge = std::fs::File::create(d.join("huge.ttf")).unwrap();
    huge.set_len(200 * 1024 * 1024).unwrap();
    let mut p = project(128, 96, vec![Layer::text("x")]);
    for src in [
        "missing.ttf",
        "truncated.ttf",
        "text.ttf",
        "font.woff2",
        "huge.ttf",
        "bomb.woff2",
    ] {
        p.fonts.push(FontSource {
            family: None,
            src: src.into(),
        });
    }
    let errors = p
        .validate(&Default::default(), &AssetResolver::relative_to(d))
        .unwrap_err();
    let find = |path: &str| {
        errors
            .iter()
            .find(|e| e.path == path)
            .unwrap_or_else(|| panic!("no error at {path}: {errors:?}"))
            .message
            .clone()
    };
    assert!(find("fonts[0].src").contains("not found"));
    assert!(find("fonts[1].src").contains("font"));
    assert!(find("fonts[2].src").contains("not a"));
    assert!(find("fonts[3].src").contains("not a valid WOFF2 font"));
    assert!(find("fonts[4].src").contains("limit"));
    let bomb = find("fonts[5].src");
    assert!(
        bomb.contains("WOFF2") && bomb.contains("4294967295 bytes") && bomb.contains("limit"),
        "{bomb}"
    );
}

#[test]
fn woff_and_woff2_fonts_draw_like_their_ttf() {
    // One font (DejaVu Serif cut down to "I" with fontTools' pyftsubset) as TTF, WOFF and WOFF2.
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let assets = AssetResolver::relative_to(&fixtures);
    let draw = |src: &str| {
        let mut i = Layer::text("I").at(20.0, 0.0);
        i.size = Some(150.0);
        i.font = Some("Brand".into());
        let mut p = project(160, 200, vec![i]);
        p.fonts.push(FontSource {
            family: Some("Brand".into()),
            src: src.into(),
        });
        engine()
            .render_still(&p, 0, &assets)
            .unwrap_or_else(|e| panic!("{src}: {e}"))
    };
    let ttf = draw("serif-I.ttf");
    assert!(
        serif_ratio(&ttf) > 2.0,
        "the serif I: {}",
        serif_ratio(&ttf)
    );
    assert!(draw("serif-I.woff2") == ttf, "WOFF2 draws differently");
    assert!(draw("serif-I.woff") == ttf, "WOFF draws differently");
}

#[test]
fn auto_fit_fills_the_box_without_leaving_it() {
    for (text, w, h) in [
        ("AUTOFIT", 600.0, 300.0),
        ("Hi", 600.0, 100.0),
        ("two words", 300.0, 260.0),
    ] {
        let mut l = Layer::text(text).at(20.0, 20.0).sized(w, h);
        l.auto_fit = Some(true);
        let glyphs = engine().text_glyphs(&l).expect("shaped");
        let mut r = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for g in &glyphs {
            r = [
                r[0].min(g.rect[0]),
                r[1].min(g.rect[1]),
                r[2].max(g.rect[2]),
                r[3].max(g.rect[3]),
            ];
        }
        let (mw, mh) = (r[2] - r[0], r[3] - r[1]);
        assert!(
            mw <= w + 0.5 && mh <= h + 0.5,
            "{text}: {mw}x{mh} in {w}x{h}"
        );
        assert!(
            mw >= 0.95 * w || mh >= 0.95 * h,
            "{text}: {mw}x{mh} fills less than 95 % of {w}x{h}"
        );
        // The ink stays inside the box on screen (give or take one anti-aliased pixel).
        let img = engine()
            .render_still(&project(660, 340, vec![l]), 0, &AssetResolver::default())
            .expect("render");
        let ink = lit_box(&img).expect("ink");
        assert!(
            ink[0] >= 19 && ink[1] >= 19 && ink[2] as f64 <= 21.0 + w && ink[3] as f64 <= 21.0 + h,
            "{text}: ink {ink:?}"
        );
    }
}

#[test]
fn vertical_align_letter_spacing_and_background_box() {
    // Bottom alignment: the ink ends near the box's bottom, not its top.
    let mut l = Layer::text("Ag").at(10.0, 10.0).sized(200.0, 180.0);
    l.size = Some(40.0);
    l.vertical_align = Some(VerticalAlign::Bottom);
    let img = engine()
        .render_still(&project(220, 200, vec![l]), 0, &AssetResolver::default())
        .unwrap();
    let ink = lit_box(&img).unwrap();
    assert!(ink[3] > 170 && ink[3] <= 190 && ink[1] > 120, "{ink:?}");

    // Letter spacing adds exactly its pixels between glyph origins.
    let mut a = Layer::text("HHH");
    a.size = Some(40.0);
    let mut b = a.clone();
    b.letter_spacing = Some(12.0);
    let ga = engine().text_glyphs(&a).unwrap();
    let gb = engine().text_glyphs(&b).unwrap();
    let step = |g: &[vrender_engine::compositor::text::GlyphBox]| g[1].rect[0] - g[0].rect[0];
    assert!(
        (step(&gb) - step(&ga) - 12.0).abs() < 0.5,
        "{} vs {}",
        step(&gb),
        step(&ga)
    );

    // A red box with 10 px padding behind the text, rounded corners cut.
    let mut t = Layer::text("Box").at(30.0, 30.0);
    t.size = Some(40.0);
    t.background = Some(TextBackground {
        color: c("#ff0000"),
        padding: Some(10.0),
        corner_radius: Some(12.0),
    });
    let g = engine().text_glyphs(&t).unwrap();
    let x0 = g[0].rect[0] + 30.0;
    let (y0, y1) = (g[0].rect[1] + 30.0, g[0].rect[3] + 30.0);
    let img = engine()
        .render_still(&project(240, 140, vec![t]), 0, &AssetResolver::default())
        .unwrap();
    let red = |x: f64, y: f64| {
        let p = img.get_pixel(x as u32, y as u32);
        p[0] > 200 && p[1] < 40 && p[2] < 40
    };
    let mid = (y0 + y1) / 2.0;
    assert!(red(x0 - 5.0, mid), "padding is red");
    assert!(!red(x0 - 14.0, mid), "nothing beyond the padding");
    assert!(red(x0 - 8.0, y0 - 8.0 + 12.0), "inside the rounded edge");
    assert!(!red(x0 - 9.0, y0 - 9.0), "the corner is cut");
}

/// A project font whose file holds only a bold face is used for text of any weight (the nearest
/// face of the family, as CSS matching picks it), not replaced by a fallback font: the shaper takes
/// a family's faces at their exact weight only, so normal-weight text once came out in DejaVu Sans.
#[test]
fn a_project_font_with_one_bold_face_serves_text_of_any_weight() {
    let bold = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSansMono-Bold.ttf");
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(bold, dir.path().join("brand.ttf")).expect("fonts-dejavu-core's bold mono");
    let assets = AssetResolver::relative_to(dir.path());
    let mut text = Layer::text("Wg il").at(8.0, 40.0);
    text.size = Some(40.0);
    text.font = Some("Brand".into());
    let render = |layer: &Layer, with_font: bool| {
        let mut p = project(160, 90, vec![layer.clone()]);
        if with_font {
            p.fonts.push(FontSource {
                family: Some("Brand".into()),
                src: "brand.ttf".into(),
            });
        }
        engine().render_still(&p, 0, &assets).expect("render")
    };
    let normal = render(&text, true);
    let mut heavy = text.clone();
    heavy.font_weight = Some(serde_json::from_str("\"bold\"").unwrap());
    assert!(
        render(&heavy, true) == normal,
        "normal-weight text is not drawn with the family's one (bold) face"
    );
    text.font = None;
    assert!(render(&text, false) != normal, "drawn in the default font");
}

/// Renders running at the same time keep their project fonts to themselves: two projects name the
/// same family ("Brand") for two faces of one family (DejaVu Serif regular, DejaVu Serif bold),
/// rendered side by side again and again, each always equals its render alone. (The engine once
/// loaded every render's project fonts into its one font database, so one could draw with the
/// other's face.)
#[test]
fn renders_at_the_same_time_keep_their_project_fonts_apart() {
    let dir = tempfile::tempdir().unwrap();
    let fonts = Path::new("/usr/share/fonts/truetype/dejavu");
    std::fs::copy(fonts.join("DejaVuSerif.ttf"), dir.path().join("a.ttf")).unwrap();
    std::fs::copy(fonts.join("DejaVuSerif-Bold.ttf"), dir.path().join("b.ttf")).unwrap();
    let assets = AssetResolver::relative_to(dir.path());
    let with_font = |src: &str| {
        let mut text = Layer::text("Wg il").at(8.0, 40.0);
        text.size = Some(40.0);
        text.font = Some("Brand".into());
        let mut p = project(160, 90, vec![text]);
        p.fonts.push(FontSource {
            family: Some("Brand".into()),
            src: src.into(),
        });
        p
    };
    let (a, b) = (with_font("a.ttf"), with_font("b.ttf"));
    let render = |p: &Project| engine().render_still(p, 0, &assets).expect("render");
    let (alone_a, alone_b) = (render(&a), render(&b));
    assert!(alone_a != alone_b, "the two faces draw alike");
    for round in 0..8 {
        std::thread::scope(|s| {
            let ta = s.spawn(|| render(&a));
            let tb = s.spawn(|| render(&b));
            assert!(
                ta.join().unwrap() == alone_a,
                "round {round}: the regular face's render changed"
            );
            assert!(
                tb.join().unwrap() == alone_b,
                "round {round}: the bold face's render changed"
            );
        });
    }
}
