//! Golden-pixel tests: render one frame on the real GPU path (lavapipe in CI) and compare pixels with
//! colours computed here independently: the W3C blend formulas, analytic shapes, plain geometry.

use std::sync::OnceLock;

use vrender_engine::*;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineConfig::default()).expect("a GPU adapter (lavapipe in CI)")
    })
}

const W: u32 = 128;
const H: u32 = 96;

fn c(hex: &str) -> Color {
    hex.parse().unwrap()
}

fn project_with(bg: &str, layers: Vec<Layer>) -> Project {
    let mut p = Project::new(W, H, 10.0);
    let mut comp = Composition::new(2.0).background(c(bg));
    comp.layers = layers;
    p.frames.push(comp);
    p
}

fn still(p: &Project, frame: u64) -> image::RgbaImage {
    still_in(p, frame, &AssetResolver::default())
}

fn still_in(p: &Project, frame: u64, assets: &AssetResolver) -> image::RgbaImage {
    engine().render_still(p, frame, assets).expect("render")
}

fn px(img: &image::RgbaImage, x: u32, y: u32) -> [u8; 3] {
    let p = img.get_pixel(x, y);
    [p[0], p[1], p[2]]
}

#[track_caller]
fn assert_close(got: [u8; 3], want: [f64; 3], tol: f64, what: &str) {
    for k in 0..3 {
        let w = (want[k] * 255.0).round();
        assert!(
            (got[k] as f64 - w).abs() <= tol,
            "{what}: channel {k} got {got:?}, want {:?} (±{tol})",
            want.map(|v| (v * 255.0).round())
        );
    }
}

fn unit(col: Color) -> [f64; 3] {
    [
        col.r as f64 / 255.0,
        col.g as f64 / 255.0,
        col.b as f64 / 255.0,
    ]
}

/// W3C separable blend functions on sRGB-encoded values.
fn blend_ref(mode: BlendMode, b: f64, s: f64) -> f64 {
    match mode {
        BlendMode::Normal => s,
        BlendMode::Multiply => b * s,
        BlendMode::Screen => b + s - b * s,
        BlendMode::Overlay => {
            if b <= 0.5 {
                2.0 * s * b
            } else {
                1.0 - 2.0 * (1.0 - s) * (1.0 - b)
            }
        }
        BlendMode::Darken => b.min(s),
        BlendMode::Lighten => b.max(s),
        BlendMode::Add => (b + s).min(1.0),
    }
}

#[test]
fn solid_rect_covers_exactly_its_box() {
    let p = project_with(
        "#102030",
        vec![Layer::shape(ShapeKind::Rect, 40.0, 30.0, c("#ff8000")).at(20.0, 10.0)],
    );
    let img = still(&p, 0);
    assert_close(
        px(&img, 21, 11),
        unit(c("#ff8000")),
        1.0,
        "inside top-left corner",
    );
    assert_close(
        px(&img, 58, 38),
        unit(c("#ff8000")),
        1.0,
        "inside bottom-right corner",
    );
    assert_close(px(&img, 19, 11), unit(c("#102030")), 1.0, "left of the box");
    assert_close(
        px(&img, 60, 20),
        unit(c("#102030")),
        1.0,
        "right of the box",
    );
    assert_close(px(&img, 30, 40), unit(c("#102030")), 1.0, "below the box");
}

#[test]
fn every_blend_mode_matches_the_w3c_formula() {
    let backdrop = c("#4080c0");
    for source in [c("#c06020"), c("#30d0a0")] {
        for mode in BlendMode::ALL {
            for opacity in [1.0, 0.6] {
                let layer = Layer::shape(ShapeKind::Rect, 64.0, 48.0, source)
                    .at(32.0, 24.0)
                    .blended(mode)
                    .with_opacity(opacity);
                let img = still(&project_with(&backdrop.to_string(), vec![layer]), 0);
                let (b, s) = (unit(backdrop), unit(source));
                let want: [f64; 3] = std::array::from_fn(|k| {
                    let mixed = blend_ref(mode, b[k], s[k]);
                    if mode == BlendMode::Add {
                        (b[k] + opacity * s[k]).min(1.0)
                    } else {
                        opacity * mixed + (1.0 - opacity) * b[k]
                    }
                });
                assert_close(
                    px(&img, 64, 48),
                    want,
                    1.5,
                    &format!("{mode:?} of {source} at opacity {opacity}"),
                );
                assert_close(
                    px(&img, 5, 5),
                    b,
                    1.0,
                    &format!("{mode:?}: backdrop untouched"),
                );
            }
        }
    }
}

#[test]
fn ellipse_follows_its_equation() {
    let layer = Layer::shape(ShapeKind::Ellipse, 80.0, 40.0, c("#ffffff"))
        .at(64.0, 48.0)
        .anchored(Anchor::Center);
    let img = still(&project_with("#000000", vec![layer]), 0);
    let (a, b) = (40.0, 20.0);
    let mut checked = 0;
    for y in 0..H {
        for x in 0..W {
            let (dx, dy) = (x as f64 + 0.5 - 64.0, y as f64 + 0.5 - 48.0);
            let e = (dx / a).powi(2) + (dy / b).powi(2);
            let v = img.get_pixel(x, y)[0];
            if e < 0.8 {
                assert!(v >= 250, "({x},{y}) inside the ellipse is {v}");
                checked += 1;
            } else if e > 1.25 {
                assert!(v <= 5, "({x},{y}) outside the ellipse is {v}");
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000);
}

#[test]
fn rounded_corners_are_cut() {
    let mut layer = Layer::shape(ShapeKind::RoundedRect, 60.0, 60.0, c("#ffffff")).at(30.0, 20.0);
    layer.corner_radius = Some(20.0);
    let img = still(&project_with("#000000", vec![layer]), 0);
    assert!(
        img.get_pixel(31, 21)[0] < 5,
        "the corner pixel is outside the arc"
    );
    assert!(
        img.get_pixel(60, 21)[0] > 250,
        "the top edge midpoint is inside"
    );
    // On the arc's 45° diagonal: centre (50, 40), radius 20 → inside at distance 17, outside at 23.
    let d = 17.0 / 2f64.sqrt();
    assert!(img.get_pixel((50.0 - d) as u32, (40.0 - d) as u32)[0] > 240);
    let d = 23.0 / 2f64.sqrt();
    assert!(img.get_pixel((50.0 - d) as u32, (40.0 - d) as u32)[0] < 15);
}

#[test]
fn rotation_scale_and_anchor_move_the_box() {
    // A 60x10 bar rotated 90° about its centre becomes a 10x60 bar.
    let bar = Layer::shape(ShapeKind::Rect, 60.0, 10.0, c("#ffffff"))
        .at(64.0, 48.0)
        .anchored(Anchor::Center)
        .rotated(90.0);
    let img = still(&project_with("#000000", vec![bar]), 0);
    assert!(img.get_pixel(64, 22)[0] > 250, "rotated bar reaches up");
    assert!(img.get_pixel(64, 74)[0] > 250, "rotated bar reaches down");
    assert!(img.get_pixel(40, 48)[0] < 5, "no longer reaches left");
    // 45°: a point on the diagonal is covered.
    let bar = Layer::shape(ShapeKind::Rect, 60.0, 6.0, c("#ffffff"))
        .at(64.0, 48.0)
        .anchored(Anchor::Center)
        .rotated(45.0);
    let img = still(&project_with("#000000", vec![bar]), 0);
    assert!(
        img.get_pixel(64 + 15, 48 + 15)[0] > 240,
        "clockwise on a y-down screen"
    );
    assert!(img.get_pixel(64 + 15, 48 - 15)[0] < 5);
    // Scale 2 about the centre doubles the box.
    let sq = Layer::shape(ShapeKind::Rect, 20.0, 20.0, c("#ffffff"))
        .at(64.0, 48.0)
        .anchored(Anchor::Center)
        .scaled(2.0);
    let img = still(&project_with("#000000", vec![sq]), 0);
    assert!(img.get_pixel(64 - 18, 48 - 18)[0] > 250);
    assert!(img.get_pixel(64 - 22, 48)[0] < 5);
    // Bottom-right anchor: the box ends at (x, y).
    let sq = Layer::shape(ShapeKind::Rect, 20.0, 20.0, c("#ffffff"))
        .at(64.0, 48.0)
        .anchored(Anchor::BottomRight);
    let img = still(&project_with("#000000", vec![sq]), 0);
    assert!(img.get_pixel(62, 46)[0] > 250);
    assert!(img.get_pixel(66, 50)[0] < 5);
    assert!(img.get_pixel(42, 26)[0] < 5);
}

#[test]
fn linear_gradient_interpolates_along_its_angle() {
    let grad = Fill::Gradient(LinearGradient {
        kind: GradientKind::Linear,
        angle: 0.0,
        stops: vec![
            GradientStop {
                offset: 0.0,
                color: c("#000000"),
            },
            GradientStop {
                offset: 1.0,
                color: c("#ffffff"),
            },
        ],
    });
    let layer = Layer::shape(ShapeKind::Rect, W as f64, H as f64, grad);
    let img = still(&project_with("#ff0000", vec![layer]), 0);
    for x in [0u32, 32, 64, 100, 127] {
        let want = (x as f64 + 0.5) / W as f64;
        assert_close(
            px(&img, x, 40),
            [want; 3],
            1.5,
            &format!("gradient at x={x}"),
        );
    }
    // 90°: top to bottom.
    let grad = Fill::Gradient(LinearGradient {
        kind: GradientKind::Linear,
        angle: 90.0,
        stops: vec![
            GradientStop {
                offset: 0.0,
                color: c("#000000"),
            },
            GradientStop {
                offset: 1.0,
                color: c("#ffffff"),
            },
        ],
    });
    let img = still(
        &project_with(
            "#ff0000",
            vec![Layer::shape(ShapeKind::Rect, W as f64, H as f64, grad)],
        ),
        0,
    );
    assert_close(px(&img, 10, 24), [24.5 / 96.0; 3], 1.5, "vertical gradient");
}

#[test]
fn stroke_sits_inside_the_edge() {
    let mut layer = Layer::shape(ShapeKind::Rect, 60.0, 40.0, c("#0000ff")).at(20.0, 20.0);
    layer.stroke = Some(Stroke {
        color: c("#ffff00"),
        width: 4.0,
    });
    let img = still(&project_with("#000000", vec![layer]), 0);
    assert_close(
        px(&img, 21, 40),
        unit(c("#ffff00")),
        1.0,
        "stroke on the left edge",
    );
    assert_close(
        px(&img, 50, 40),
        unit(c("#0000ff")),
        1.0,
        "fill in the middle",
    );
    assert_close(px(&img, 18, 40), [0.0; 3], 1.0, "nothing outside");
}

fn write_quadrants(path: &std::path::Path, format: image::ImageFormat) {
    let img = image::RgbaImage::from_fn(32, 32, |x, y| match (x < 16, y < 16) {
        (true, true) => image::Rgba([255, 0, 0, 255]),
        (false, true) => image::Rgba([0, 255, 0, 255]),
        (true, false) => image::Rgba([0, 0, 255, 255]),
        (false, false) => image::Rgba([255, 255, 255, 128]),
    });
    if format == image::ImageFormat::Jpeg {
        image::DynamicImage::ImageRgba8(img)
            .to_rgb8()
            .save_with_format(path, format)
            .unwrap();
    } else {
        img.save_with_format(path, format).unwrap();
    }
}

#[test]
fn images_upload_once_and_draw_at_natural_and_given_sizes() {
    let dir = tempfile::tempdir().unwrap();
    write_quadrants(&dir.path().join("q.png"), image::ImageFormat::Png);
    let assets = AssetResolver::relative_to(dir.path());
    let p = project_with("#000000", vec![Layer::image("q.png").at(10.0, 10.0)]);
    let img = still_in(&p, 0, &assets);
    assert_close(px(&img, 17, 17), [1.0, 0.0, 0.0], 1.0, "top-left quadrant");
    assert_close(px(&img, 33, 17), [0.0, 1.0, 0.0], 1.0, "top-right quadrant");
    assert_close(
        px(&img, 17, 33),
        [0.0, 0.0, 1.0],
        1.0,
        "bottom-left quadrant",
    );
    // Half-transparent white over black: straight-alpha over → 128/255.
    assert_close(
        px(&img, 33, 33),
        [128.0 / 255.0; 3],
        1.5,
        "semi-transparent quadrant",
    );
    // Drawn at 64x64 (twice its size).
    let p = project_with(
        "#000000",
        vec![Layer::image("q.png").at(0.0, 0.0).sized(64.0, 64.0)],
    );
    let img = still_in(&p, 0, &assets);
    assert_close(px(&img, 10, 10), [1.0, 0.0, 0.0], 1.0, "scaled top-left");
    assert_close(px(&img, 54, 10), [0.0, 1.0, 0.0], 1.0, "scaled top-right");
}

#[test]
fn jpeg_and_webp_decode() {
    let dir = tempfile::tempdir().unwrap();
    write_quadrants(&dir.path().join("q.jpg"), image::ImageFormat::Jpeg);
    write_quadrants(&dir.path().join("q.webp"), image::ImageFormat::WebP);
    let assets = AssetResolver::relative_to(dir.path());
    for name in ["q.jpg", "q.webp"] {
        let p = project_with("#000000", vec![Layer::image(name).at(0.0, 0.0)]);
        let img = still_in(&p, 0, &assets);
        assert_close(px(&img, 6, 6), [1.0, 0.0, 0.0], 12.0, name); // JPEG is lossy
        assert_close(px(&img, 6, 26), [0.0, 0.0, 1.0], 12.0, name);
    }
}

#[test]
fn text_is_drawn_inside_its_box_and_aligned() {
    let mut t = Layer::text("HHHH").at(64.0, 48.0).anchored(Anchor::Center);
    t.size = Some(24.0);
    t.color = Some(c("#ffffff"));
    let img = still(&project_with("#000000", vec![t]), 0);
    let (mut n, mut sx, mut sy) = (0u64, 0f64, 0f64);
    for (x, y, p) in img.enumerate_pixels() {
        if p[0] > 128 {
            n += 1;
            sx += x as f64;
            sy += y as f64;
        }
    }
    assert!(n > 200, "text drew {n} bright pixels");
    let (cx, cy) = (sx / n as f64, sy / n as f64);
    assert!(
        (cx - 64.0).abs() < 3.0,
        "centred horizontally, centroid x = {cx}"
    );
    assert!(
        (cy - 48.0).abs() < 6.0,
        "centred vertically, centroid y = {cy}"
    );
    // Colour: the stems of H are solid white.
    assert!(img
        .pixels()
        .any(|p| p[0] == 255 && p[1] == 255 && p[2] == 255));
}

#[test]
fn unknown_font_is_a_clear_error() {
    let mut t = Layer::text("x");
    t.font = Some("No Such Font".into());
    let err = engine()
        .render_still(
            &project_with("#000000", vec![t]),
            0,
            &AssetResolver::default(),
        )
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("frames[0].layers[0].font") && msg.contains("No Such Font"),
        "{msg}"
    );
}

#[test]
fn animation_easing_and_timing() {
    // x from 0 to 100 over 1 s at 10 fps; a 10 px square.
    let sq = |easing| {
        Layer::shape(ShapeKind::Rect, 10.0, 10.0, c("#ffffff"))
            .at(0.0, 40.0)
            .animate(Animation::new(AnimatedProperty::X, 0.0, 100.0, 0.0, 1.0).eased(easing))
    };
    let left_edge =
        |img: &image::RgbaImage| (0..W).find(|&x| img.get_pixel(x, 45)[0] > 128).unwrap();
    let img = still(&project_with("#000000", vec![sq(Easing::Linear)]), 5);
    assert_eq!(left_edge(&img), 50);
    // CSS ease-in at t = 0.5 → 0.3153.
    let img = still(&project_with("#000000", vec![sq(Easing::EaseIn)]), 5);
    assert_eq!(left_edge(&img), 32);
    // Opacity animation: 0 → 1 over 1 s, frame 5 → half.
    let fade = Layer::shape(ShapeKind::Rect, W as f64, H as f64, c("#ffffff")).animate(
        Animation::new(AnimatedProperty::Opacity, 0.0, 1.0, 0.0, 1.0),
    );
    let img = still(&project_with("#000000", vec![fade]), 5);
    assert_close(px(&img, 5, 5), [0.5; 3], 1.5, "half faded in");
}

#[test]
fn layer_start_and_end_times() {
    let l = Layer::shape(ShapeKind::Rect, W as f64, H as f64, c("#ffffff")).between(0.5, 1.0);
    let p = project_with("#000000", vec![l]);
    assert_eq!(px(&still(&p, 4), 1, 1), [0, 0, 0], "before start");
    assert_eq!(px(&still(&p, 5), 1, 1), [255, 255, 255], "at start");
    assert_eq!(px(&still(&p, 9), 1, 1), [255, 255, 255], "just before end");
    assert_eq!(px(&still(&p, 10), 1, 1), [0, 0, 0], "at end");
}

fn two_scenes(kind: TransitionKind) -> Project {
    let mut p = Project::new(W, H, 10.0);
    p.frames
        .push(Composition::new(1.0).background(c("#000000")));
    p.frames.push(
        Composition::new(1.0)
            .background(c("#ffffff"))
            .transition(kind, 1.0),
    );
    p
}

#[test]
fn transitions_fade_wipe_and_slide() {
    // Both scenes last 1 s and overlap fully: frame 5 is halfway through the transition.
    let p = two_scenes(TransitionKind::Fade);
    let img = still(&p, 5);
    assert_close(px(&img, 64, 48), [0.5; 3], 1.5, "fade halfway");
    let p = two_scenes(TransitionKind::Wipe);
    let img = still(&p, 5);
    assert_eq!(
        px(&img, 10, 48),
        [255, 255, 255],
        "wipe reveals the new scene from the left"
    );
    assert_eq!(px(&img, 120, 48), [0, 0, 0]);
    // Slide: the incoming scene's layer moves with it.
    let mut p = two_scenes(TransitionKind::Slide);
    p.frames[1]
        .layers
        .push(Layer::shape(ShapeKind::Rect, 10.0, 10.0, c("#ff0000")).at(0.0, 0.0));
    let img = still(&p, 5);
    assert_eq!(
        px(&img, 10, 48),
        [0, 0, 0],
        "left half still shows the old scene"
    );
    assert_eq!(
        px(&img, 120, 48),
        [255, 255, 255],
        "right half shows the new one"
    );
    assert_eq!(
        px(&img, 66, 5),
        [255, 0, 0],
        "the new scene's layer is shifted by half the width"
    );
}

#[test]
fn backdrop_blend_modes_work_inside_a_cross_fade() {
    // The incoming scene (white) holds an overlay layer: overlay over white stays white, so halfway
    // through the fade the frame is mid grey; the overlay layer must read its backdrop from the
    // incoming scene, not from the frame.
    let mut p = two_scenes(TransitionKind::Fade);
    p.frames[1].layers.push(
        Layer::shape(ShapeKind::Rect, W as f64, H as f64, c("#3060c0")).blended(BlendMode::Overlay),
    );
    p.frames[0].layers.push(
        Layer::shape(ShapeKind::Rect, W as f64, H as f64, c("#808080")).blended(BlendMode::Darken),
    );
    let img = still(&p, 5);
    // Outgoing: darken(black, grey) = black. Incoming: overlay(white, blue-ish) = white.
    assert_close(px(&img, 64, 48), [0.5; 3], 1.5, "fade of black and white");
}
