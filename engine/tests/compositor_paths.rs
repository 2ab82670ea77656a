//! The compositor's fast paths draw exactly what the general path would: large transformed layers
//! drawn as an inside plus an anti-aliased ring leave no seam (no pixel drawn twice or missed), and
//! frames that start from the static-layer cache are bit-for-bit the frames drawn without it.

use std::sync::{Arc, Mutex, OnceLock};

use vrender_engine::encoder::{DiscardEncoder, Frame};
use vrender_engine::*;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineConfig::default()).expect("a GPU adapter (lavapipe in CI)")
    })
}

fn c(hex: &str) -> Color {
    hex.parse().unwrap()
}

/// Every pixel of `img` within `r` (x0, y0, x1, y1) equals `want` within ±`tol`.
#[track_caller]
fn assert_uniform(img: &image::RgbaImage, r: [u32; 4], want: [u8; 3], tol: i32, what: &str) {
    for y in r[1]..r[3] {
        for x in r[0]..r[2] {
            let p = img.get_pixel(x, y);
            for k in 0..3 {
                assert!(
                    (p[k] as i32 - want[k] as i32).abs() <= tol,
                    "{what}: pixel ({x}, {y}) is {:?}, want {want:?} ±{tol}",
                    &p.0[..3]
                );
            }
        }
    }
}

#[test]
fn inside_and_ring_pieces_leave_no_seam() {
    // Half-transparent layers show any pixel blended twice (darker) or skipped (white).
    let dir = tempfile::tempdir().unwrap();
    image::RgbaImage::from_pixel(200, 120, image::Rgba([0, 0, 255, 255]))
        .save(dir.path().join("blue.png"))
        .unwrap();
    let assets = AssetResolver::relative_to(dir.path());
    let mut p = Project::new(640, 360, 10.0);
    let mut comp = Composition::new(1.0).background(c("#ffffff"));
    comp.layers = vec![
        Layer::shape(ShapeKind::RoundedRect, 240.0, 160.0, c("#000000"))
            .at(160.0, 180.0)
            .anchored(Anchor::Center)
            .rotated(17.0)
            .with_opacity(0.5),
        Layer::shape(ShapeKind::Ellipse, 200.0, 140.0, c("#ff0000"))
            .at(480.0, 100.0)
            .anchored(Anchor::Center)
            .rotated(-23.0)
            .scaled(0.9)
            .with_opacity(0.5),
        Layer::image("blue.png")
            .at(480.0, 270.0)
            .anchored(Anchor::Center)
            .rotated(31.0)
            .scaled(0.75)
            .with_opacity(0.5),
    ];
    p.frames.push(comp);
    let img = engine().render_still(&p, 0, &assets).expect("render");
    // Black at 50 % over white: 128 (±1 for rounding); the regions lie well inside each layer,
    // across the seams between the inside and the ring.
    assert_uniform(
        &img,
        [110, 150, 210, 210],
        [128, 128, 128],
        1,
        "rounded rect",
    );
    assert_uniform(&img, [440, 80, 520, 120], [255, 128, 128], 1, "ellipse");
    assert_uniform(&img, [460, 255, 500, 285], [128, 128, 255], 1, "image");
    // And their outlines are still anti-aliased: some pixel near each edge is in between.
    let between = |x0: u32, x1: u32, y: u32| {
        (x0..x1).any(|x| {
            let v = img.get_pixel(x, y)[0];
            v > 130 && v < 250
        })
    };
    assert!(between(20, 110, 180), "rounded rect edge is smooth");
}

#[test]
fn axis_aligned_rounded_shapes_are_split_without_a_seam() {
    // Pixel-aligned rounded rectangle and ellipse: inside and ring without anti-aliasing padding.
    let mut p = Project::new(320, 180, 10.0);
    let mut comp = Composition::new(1.0).background(c("#ffffff"));
    comp.layers = vec![
        Layer::shape(ShapeKind::RoundedRect, 140.0, 100.0, c("#000000"))
            .at(10.0, 40.0)
            .with_opacity(0.5),
        Layer::shape(ShapeKind::Ellipse, 120.0, 100.0, c("#ff0000"))
            .at(180.0, 40.0)
            .with_opacity(0.5),
    ];
    p.frames.push(comp);
    let img = engine()
        .render_still(&p, 0, &AssetResolver::default())
        .expect("render");
    assert_uniform(&img, [30, 60, 140, 120], [128, 128, 128], 1, "rounded rect");
    assert_uniform(&img, [215, 70, 265, 110], [255, 128, 128], 1, "ellipse");
    // The rounded corner is still cut: the box's corner pixel is background.
    assert_uniform(&img, [10, 40, 12, 42], [255, 255, 255], 0, "cut corner");
}

/// Composes `p` without encoding and returns every frame's YUV bytes and the render's stats.
/// `cache`: the static-layer cache; `dirty`: only what changed composed again.
fn compose(
    p: &Project,
    assets: &AssetResolver,
    cache: bool,
    dirty: bool,
) -> (Vec<Vec<u8>>, RenderStats) {
    let kept: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
    let mut req = RenderRequest::new("/dev/null", assets.clone());
    req.frame_cache = cache;
    req.dirty_regions = dirty;
    let stats = engine()
        .render_with(p, &req, &mut |_| {}, &CancelToken::new(), &mut |_| {
            let kept = kept.clone();
            Ok(Box::new(DiscardEncoder::new(move |f: &Frame| {
                kept.lock().unwrap().push(f.data.clone())
            })))
        })
        .expect("render");
    let frames = std::mem::take(&mut *kept.lock().unwrap());
    (frames, stats)
}

#[test]
fn cached_frames_equal_uncached_ones_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let photo = image::RgbaImage::from_fn(160, 90, |x, y| {
        image::Rgba([(x * 255 / 160) as u8, (y * 255 / 90) as u8, 128, 255])
    });
    photo.save(dir.path().join("photo.png")).unwrap();
    let assets = AssetResolver::relative_to(dir.path());
    let moving = |from: f64, to: f64| {
        Layer::shape(ShapeKind::Ellipse, 60.0, 40.0, c("#20c040"))
            .at(from, 100.0)
            .anchored(Anchor::Center)
            .animate(Animation::new(AnimatedProperty::X, from, to, 0.0, 1.0))
    };
    let mut p = Project::new(320, 180, 10.0);
    // Scene 1: static background picture and text under a moving shape, a static multiply layer and
    // an overlay layer above it, and a layer that stops moving halfway (the cache grows).
    let mut a = Composition::new(2.0).background(c("#101820"));
    a.layers = vec![
        Layer::image("photo.png").at(0.0, 0.0).sized(320.0, 180.0),
        Layer::shape(ShapeKind::RoundedRect, 120.0, 60.0, c("#ff804080"))
            .at(20.0, 20.0)
            .rotated(8.0),
        Layer::text("Static").at(200.0, 20.0),
        Layer::shape(ShapeKind::Rect, 50.0, 50.0, c("#4080ff"))
            .at(10.0, 120.0)
            .animate(Animation::new(AnimatedProperty::X, 10.0, 120.0, 0.0, 1.0)),
        moving(40.0, 280.0),
        Layer::shape(ShapeKind::Rect, 100.0, 40.0, c("#ff0000"))
            .at(110.0, 130.0)
            .blended(BlendMode::Multiply),
        Layer::shape(ShapeKind::Ellipse, 80.0, 80.0, c("#ffff00"))
            .at(230.0, 90.0)
            .blended(BlendMode::Overlay),
    ];
    // Scene 2 after a cross-fade: an overlay layer at the bottom of the cached part.
    let mut b = Composition::new(1.0)
        .background(c("#302010"))
        .transition(TransitionKind::Fade, 0.5);
    b.layers = vec![
        Layer::image("photo.png").at(0.0, 0.0).sized(320.0, 180.0),
        Layer::shape(ShapeKind::Rect, 200.0, 100.0, c("#808080"))
            .at(60.0, 40.0)
            .blended(BlendMode::Overlay),
        moving(280.0, 40.0),
    ];
    p.frames = vec![a, b];

    let (cached, with) = compose(&p, &assets, true, false);
    let (plain, without) = compose(&p, &assets, false, false);
    assert_eq!(cached.len(), plain.len());
    assert!(
        with.cached_frames > cached.len() as u64 / 2,
        "most frames start from the cache: {} of {}",
        with.cached_frames,
        cached.len()
    );
    assert_eq!(without.cached_frames, 0);
    for (n, (x, y)) in cached.iter().zip(&plain).enumerate() {
        assert!(x == y, "frame {n} differs with the cache");
    }
    // Both reuses together (how renders run) give the same pixels too.
    let (both, _) = compose(&p, &assets, true, true);
    for (n, (x, y)) in both.iter().zip(&plain).enumerate() {
        assert!(x == y, "frame {n} differs with the cache and dirty regions");
    }
}

#[test]
fn partial_frames_equal_full_ones_bit_for_bit() {
    let dir = tempfile::tempdir().unwrap();
    let assets = AssetResolver::relative_to(dir.path());
    let mut p = Project::new(320, 180, 10.0);
    // Scene 1: a card sliding under a static text, through a multiply and an overlay layer; a
    // half-transparent rotating square; a layer that shows up at 1 s (the stack changes: a full frame);
    // and a last second where nothing moves (nothing to compose).
    let mut a = Composition::new(3.0).background(c("#203040"));
    a.layers = vec![
        Layer::shape(ShapeKind::RoundedRect, 80.0, 50.0, c("#f1faee"))
            .at(10.0, 60.0)
            .animate(Animation::new(AnimatedProperty::X, 10.0, 230.0, 0.0, 2.0)),
        Layer::text("Hello").at(20.0, 70.0),
        Layer::shape(ShapeKind::Rect, 60.0, 60.0, c("#ff000080"))
            .at(120.0, 40.0)
            .rotated(10.0)
            .animate(Animation::new(
                AnimatedProperty::Rotation,
                10.0,
                80.0,
                0.0,
                2.0,
            )),
        Layer::shape(ShapeKind::Rect, 90.0, 40.0, c("#40ff40"))
            .at(100.0, 70.0)
            .blended(BlendMode::Multiply),
        Layer::shape(ShapeKind::Ellipse, 70.0, 70.0, c("#ffff00"))
            .at(180.0, 50.0)
            .blended(BlendMode::Overlay),
        Layer::shape(ShapeKind::Rect, 30.0, 30.0, c("#0000ff"))
            .at(280.0, 140.0)
            .between(1.0, 3.0),
    ];
    // Scene 2 after a slide (clipped passes: full frames), then a moving ellipse on its own.
    let mut b = Composition::new(1.5)
        .background(c("#302010"))
        .transition(TransitionKind::Slide, 0.5);
    b.layers = vec![Layer::shape(ShapeKind::Ellipse, 40.0, 40.0, c("#20c040"))
        .at(20.0, 20.0)
        .animate(Animation::new(AnimatedProperty::Y, 20.0, 120.0, 0.0, 1.5))];
    p.frames = vec![a, b];

    let (partial, with) = compose(&p, &assets, false, true);
    let (full, without) = compose(&p, &assets, false, false);
    assert_eq!(partial.len(), full.len());
    assert!(
        with.partial_frames > partial.len() as u64 / 2,
        "most frames are composed in part: {} of {}",
        with.partial_frames,
        partial.len()
    );
    assert_eq!(without.partial_frames, 0);
    for (n, (x, y)) in partial.iter().zip(&full).enumerate() {
        assert!(x == y, "frame {n} differs when composed in part");
    }
}
