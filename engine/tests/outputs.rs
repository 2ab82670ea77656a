//! Output formats, posters/thumbnails and merge fields, rendered for real (software Vulkan + ffmpeg)
//! and measured from the files with `ffprobe`/`ffmpeg`: codec, pixel format, size, frame count and
//! duration of every format; the alpha of transparent outputs decoded back (golden pixels); stills
//! against the video's own frame (PSNR); merged values in the rendered pixels.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use serde_json::{json, Value};
use vrender_engine::*;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineConfig::default()).expect("a GPU adapter (lavapipe in CI)")
    })
}

const W: u32 = 160;
const H: u32 = 90;
const FPS: f64 = 10.0;

/// One second: a background (`bg`), a half-transparent red square on the left, an opaque blue one on
/// the right moving down 2 px a frame, and a text.
fn project(bg: &str) -> Project {
    Project::from_value(json!({
        "width": W, "height": H, "frameRate": FPS, "quality": "ultra",
        "frames": [{
            "duration": 1.0,
            "background": bg,
            "layers": [
                {"type": "shape", "shape": "rect", "x": 10, "y": 20, "width": 40, "height": 40,
                 "fill": "#ff0000", "opacity": 0.5},
                {"type": "shape", "shape": "rect", "x": 100, "y": 10, "width": 40, "height": 40,
                 "fill": "#0000ff",
                 "animations": [{"property": "y", "from": 10, "to": 30, "start": 0, "end": 1}]},
                {"type": "text", "text": "vrender", "size": 14, "color": "#ffffff", "x": 50, "y": 68}
            ]
        }]
    }))
    .unwrap()
}

fn render(p: &Project, out: &Path, format: OutputFormat, tweak: impl FnOnce(&mut RenderRequest)) {
    let mut req = RenderRequest::new(out, AssetResolver::relative_to(out.parent().unwrap()));
    req.format = Some(format);
    tweak(&mut req);
    engine()
        .render(p, &req, &mut |_| {}, &CancelToken::new())
        .unwrap_or_else(|e| panic!("{format:?}: {e}"));
}

/// ffprobe's first video stream, frames counted.
fn probe(path: &Path) -> Value {
    let out = Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_streams", "-show_format", "-of", "json"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut s = v["streams"][0].clone();
    s["format"] = v["format"].clone();
    s
}

/// Frame `n` decoded to `pix_fmt` with the BT.709 matrix the encoders were told about.
fn decode(path: &Path, n: u32, pix_fmt: &str, decoder: Option<&str>) -> Vec<u8> {
    let mut cmd = Command::new("ffmpeg");
    cmd.args(["-v", "error"]);
    if let Some(d) = decoder {
        cmd.args(["-c:v", d]);
    }
    let out = cmd
        .arg("-i")
        .arg(path)
        .args([
            "-vf",
            &format!("select=eq(n\\,{n}),scale=in_color_matrix=bt709:in_range=tv"),
            "-frames:v",
            "1",
            "-f",
            "rawvideo",
            "-pix_fmt",
            pix_fmt,
            "-",
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

fn psnr(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let mse = a
        .iter()
        .zip(b)
        .map(|(x, y)| (*x as f64 - *y as f64).powi(2))
        .sum::<f64>()
        / a.len() as f64;
    if mse == 0.0 {
        return 99.0;
    }
    10.0 * (255.0f64 * 255.0 / mse).log10()
}

fn px(rgba: &[u8], width: u32, x: u32, y: u32) -> [u8; 4] {
    let i = ((y * width + x) * 4) as usize;
    [rgba[i], rgba[i + 1], rgba[i + 2], rgba[i + 3]]
}

fn near(a: u8, b: u8, tol: u8) -> bool {
    a.abs_diff(b) <= tol
}

struct Out {
    dir: tempfile::TempDir,
}

impl Out {
    fn new() -> Self {
        Out {
            dir: tempfile::tempdir().unwrap(),
        }
    }
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

#[test]
fn hevc_is_x265_in_mp4_tagged_hvc1() {
    let d = Out::new();
    let out = d.path("a.mp4");
    render(&project("#203040"), &out, OutputFormat::Hevc, |_| {});
    let s = probe(&out);
    assert_eq!(s["codec_name"], "hevc", "{s}");
    assert_eq!(s["codec_tag_string"], "hvc1", "{s}");
    assert_eq!(s["pix_fmt"], "yuv420p");
    assert_eq!(
        (s["width"].as_u64(), s["height"].as_u64()),
        (Some(160), Some(90))
    );
    assert_eq!(s["nb_read_frames"], "10");
    assert!(s["format"]["format_name"].as_str().unwrap().contains("mp4"));
}

#[test]
fn gif_has_the_asked_rate_width_and_length() {
    let d = Out::new();
    let out = d.path("a.gif");
    render(&project("#203040"), &out, OutputFormat::Gif, |r| {
        r.gif = GifOptions {
            fps: Some(5.0),
            width: Some(80),
        };
    });
    let s = probe(&out);
    assert_eq!(s["codec_name"], "gif", "{s}");
    assert_eq!(
        (s["width"].as_u64(), s["height"].as_u64()),
        (Some(80), Some(46))
    );
    assert_eq!(s["nb_read_frames"], "5", "{s}");
    let duration: f64 = s["format"]["duration"].as_str().unwrap().parse().unwrap();
    assert!((duration - 1.0).abs() < 0.05, "duration {duration}");
    // The palette keeps the colours: the opaque blue square is still blue.
    let rgb = decode(&out, 0, "rgb24", None);
    let i = ((15 * 80 + 60) * 3) as usize; // (120, 30) in the full frame
    assert!(rgb[i + 2] > 200 && rgb[i] < 40, "{:?}", &rgb[i..i + 3]);

    // Limits: a width over the project's, a rate over the clip's, named by field.
    let mut req = RenderRequest::new(d.path("b.gif"), AssetResolver::relative_to(d.dir.path()));
    req.format = Some(OutputFormat::Gif);
    req.gif.width = Some(400);
    req.gif.fps = Some(20.0);
    let err = engine()
        .render(&project("#203040"), &req, &mut |_| {}, &CancelToken::new())
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("gif.width") && err.contains("gif.fps"),
        "{err}"
    );
    assert!(!d.path("b.gif").exists());
}

#[test]
fn png_sequence_is_one_zip_of_every_frame() {
    let d = Out::new();
    let out = d.path("a.zip");
    render(&project("#203040"), &out, OutputFormat::Png, |_| {});
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&out).unwrap()).unwrap();
    assert_eq!(zip.len(), 10);
    let names: Vec<String> = zip.file_names().map(String::from).collect();
    assert!(names.contains(&"frame_000001.png".to_string()), "{names:?}");
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name("frame_000001.png").unwrap(), &mut data).unwrap();
    let img = image::load_from_memory(&data).unwrap();
    assert_eq!((img.width(), img.height()), (W, H));
    assert!(
        matches!(img, image::DynamicImage::ImageRgb8(_)),
        "opaque: RGB"
    );
    // No frames left beside the archive.
    let left: Vec<_> = std::fs::read_dir(d.dir.path()).unwrap().collect();
    assert_eq!(left.len(), 1);
}

/// The golden pixels of the transparent project: background alpha 0; the 50 % red square alpha
/// ~128 and red; the opaque blue square alpha 255 and blue.
fn check_alpha(rgba: &[u8], what: &str, tol: u8) {
    let bg = px(rgba, W, 5, 5);
    assert_eq!(bg[3], 0, "{what}: background {bg:?}");
    let red = px(rgba, W, 30, 40);
    assert!(near(red[3], 128, tol), "{what}: red square {red:?}");
    assert!(
        red[0] > 230 && red[1] < 30 && red[2] < 30,
        "{what}: red square {red:?}"
    );
    let blue = px(rgba, W, 120, 30);
    assert!(near(blue[3], 255, tol), "{what}: blue square {blue:?}");
    assert!(
        blue[2] > 230 && blue[0] < 30,
        "{what}: blue square {blue:?}"
    );
}

#[test]
fn transparent_outputs_keep_alpha() {
    let d = Out::new();
    let p = project("transparent");
    assert!(p.has_transparency());

    let mov = d.path("a.mov");
    render(&p, &mov, OutputFormat::Mov, |_| {});
    let s = probe(&mov);
    assert_eq!(s["codec_name"], "prores", "{s}");
    assert_eq!(s["codec_tag_string"], "ap4h", "{s}"); // ProRes 4444
    assert!(
        s["pix_fmt"].as_str().unwrap().starts_with("yuva444p"),
        "{s}"
    );
    assert_eq!(s["nb_read_frames"], "10");
    check_alpha(&decode(&mov, 0, "rgba", None), "prores", 2);

    let webm = d.path("a.webm");
    render(&p, &webm, OutputFormat::Webm, |_| {});
    let s = probe(&webm);
    assert_eq!(s["codec_name"], "vp9", "{s}");
    assert_eq!(s["tags"]["alpha_mode"], "1", "{s}");
    assert_eq!(s["nb_read_frames"], "10");
    // ffmpeg's own VP9 decoder drops the alpha side data; libvpx keeps it.
    check_alpha(&decode(&webm, 0, "rgba", Some("libvpx-vp9")), "vp9", 12);

    let zip_path = d.path("a.zip");
    render(&p, &zip_path, OutputFormat::Png, |_| {});
    let mut zip = zip::ZipArchive::new(std::fs::File::open(&zip_path).unwrap()).unwrap();
    let mut data = Vec::new();
    std::io::Read::read_to_end(&mut zip.by_name("frame_000001.png").unwrap(), &mut data).unwrap();
    let img = image::load_from_memory(&data).unwrap().to_rgba8();
    check_alpha(img.as_raw(), "png", 1);

    // A still of the same frame has the same straight alpha.
    let still = engine()
        .render_still(&p, 0, &AssetResolver::relative_to(d.dir.path()))
        .unwrap();
    check_alpha(still.as_raw(), "render_still", 1);

    // The same project as MP4 has no alpha: the background shows black.
    let mp4 = d.path("a.mp4");
    render(&p, &mp4, OutputFormat::Mp4, |_| {});
    let rgb = decode(&mp4, 0, "rgb24", None);
    assert!(rgb[..3].iter().all(|c| *c < 8), "{:?}", &rgb[..3]);
}

#[test]
fn poster_and_thumbnail_are_the_videos_frames() {
    let d = Out::new();
    let out = d.path("a.mp4");
    let p = project("#203040");
    let poster = d.path("poster.png");
    let thumb = d.path("thumb.jpg");
    render(&p, &out, OutputFormat::Mp4, |r| {
        r.stills = vec![
            StillOutput {
                frame: 7,
                width: None,
                path: poster.clone(),
            },
            StillOutput {
                frame: 7,
                width: Some(80),
                path: thumb.clone(),
            },
        ];
    });
    let img = image::open(&poster).unwrap().to_rgb8();
    assert_eq!(img.dimensions(), (W, H));
    let frame = decode(&out, 7, "rgb24", None);
    let db = psnr(img.as_raw(), &frame);
    assert!(db >= 38.0, "poster vs video frame 7: {db:.2} dB");
    // And not another frame: the blue square moves.
    let other = psnr(img.as_raw(), &decode(&out, 2, "rgb24", None));
    assert!(
        other < db - 3.0,
        "frame 2 matches too well: {other:.2} vs {db:.2} dB"
    );
    println!("poster PSNR vs decoded frame: {db:.2} dB (frame 2: {other:.2} dB)");

    let t = image::open(&thumb).unwrap().to_rgb8();
    assert_eq!(t.dimensions(), (80, 45));
    let small = image::imageops::resize(&img, 80, 45, image::imageops::FilterType::Lanczos3);
    let db = psnr(t.as_raw(), small.as_raw());
    assert!(
        db >= 30.0,
        "thumbnail vs scaled poster: {db:.2} dB (JPEG q90)"
    );

    // A still outside the rendered frames is refused before anything is written.
    let mut req = RenderRequest::new(d.path("b.mp4"), AssetResolver::relative_to(d.dir.path()));
    req.frames = Some(0..5);
    req.stills = vec![StillOutput {
        frame: 7,
        width: None,
        path: d.path("late.png"),
    }];
    let err = engine()
        .render(&p, &req, &mut |_| {}, &CancelToken::new())
        .unwrap_err()
        .to_string();
    assert!(err.contains("outside the rendered frames"), "{err}");
}

#[test]
fn merged_values_show_in_the_pixels() {
    let d = Out::new();
    for (name, rgb) in [("red.png", [255u8, 0, 0]), ("green.png", [0, 255, 0])] {
        image::RgbImage::from_pixel(8, 8, image::Rgb(rgb))
            .save(d.path(name))
            .unwrap();
    }
    let template = json!({
        "width": 64, "height": 64, "frameRate": 10,
        "mergeDefaults": {"BG": "#000000", "ALPHA": 1},
        "frames": [{"duration": 0.1, "background": "{{BG}}", "layers": [
            {"type": "image", "src": "{{PHOTO}}", "x": 0, "y": 0, "width": 32, "height": 64,
             "opacity": "{{ALPHA}}"},
            {"type": "text", "text": "Hi {{NAME}}", "size": 12, "x": 34, "y": 4}
        ]}]
    })
    .to_string();
    let assets = AssetResolver::relative_to(d.dir.path());
    let still = |p: &Project| engine().render_still(p, 0, &assets).unwrap();

    let p = Project::from_json_merged(
        &template,
        &json!({"PHOTO": "red.png", "BG": "#0000ff", "NAME": "Ann"})
            .as_object()
            .unwrap()
            .clone(),
    )
    .unwrap();
    assert_eq!(p.frames[0].layers[1].text.as_deref(), Some("Hi Ann"));
    assert_eq!(p.frames[0].layers[0].opacity, 1.0); // the default, as a number
    let img = still(&p);
    assert_eq!(img.get_pixel(10, 32).0[..3], [255, 0, 0]);
    assert_eq!(img.get_pixel(60, 60).0[..3], [0, 0, 255]);

    // The builder: another photo, half opacity over the default black.
    let p = Template::from_json(&template)
        .unwrap()
        .set("PHOTO", "green.png")
        .set("NAME", "Bo")
        .set("ALPHA", 0.5)
        .project()
        .unwrap();
    let img = still(&p);
    let g = img.get_pixel(10, 32).0;
    assert!(g[0] < 5 && (120..=136).contains(&g[1]), "{g:?}");
    assert_eq!(img.get_pixel(60, 60).0[..3], [0, 0, 0]);
    // The text differs between the two names.
    let ann = Project::from_json_merged(
        &template,
        &json!({"PHOTO": "green.png", "NAME": "Ann", "ALPHA": 0.5})
            .as_object()
            .unwrap()
            .clone(),
    )
    .unwrap();
    assert_ne!(still(&ann), img, "the merged name is drawn");

    // Missing values: every placeholder, every path.
    let err = Project::from_json_merged(&template, &Default::default()).unwrap_err();
    let details = err.details();
    let paths: Vec<&str> = details.iter().map(|d| d.path.as_str()).collect();
    assert_eq!(
        paths,
        ["frames[0].layers[1].text", "frames[0].layers[0].src"],
        "{err}"
    );
    assert!(err.to_string().contains("`NAME` has no value"), "{err}");
    // A merged value of the wrong type is a parse error at its path.
    let err = Project::from_json_merged(
        &template,
        &json!({"PHOTO": "red.png", "NAME": "x", "ALPHA": "half"})
            .as_object()
            .unwrap()
            .clone(),
    )
    .unwrap_err();
    assert_eq!(
        err.details()[0].path,
        "frames[0].layers[0].opacity",
        "{err}"
    );
}

/// Wipe and slide transitions between transparent scenes keep the background transparent on both
/// sides of the split (the clipped passes start from transparent, not opaque black).
#[test]
fn transitions_between_transparent_scenes_keep_alpha() {
    for kind in ["wipe", "slide"] {
        let p = Project::from_value(json!({
            "width": W, "height": H, "frameRate": FPS,
            "frames": [
                {"duration": 1.0, "background": "transparent", "layers": [
                    {"type": "shape", "shape": "rect", "x": 0, "y": 0, "width": W, "height": 10,
                     "fill": "#ff0000"}]},
                {"duration": 1.0, "background": "transparent",
                 "transition": {"type": kind, "duration": 0.6}, "layers": [
                    {"type": "shape", "shape": "rect", "x": 0, "y": 0, "width": W, "height": 10,
                     "fill": "#0000ff"}]}
            ]
        }))
        .unwrap();
        // Frame 7 of 10 + 10 − 6: in the middle of the transition.
        let still = engine()
            .render_still(&p, 7, &AssetResolver::relative_to(Path::new(".")))
            .unwrap();
        for x in [2, W / 2, W - 3] {
            let bg = px(still.as_raw(), W, x, 50);
            assert_eq!(bg[3], 0, "{kind}: background at x={x}: {bg:?}");
            let bar = px(still.as_raw(), W, x, 5);
            assert_eq!(bar[3], 255, "{kind}: bar at x={x}: {bar:?}");
        }
        // Both scenes' bars show: wipe reveals the incoming (blue) from the left, slide pushes the
        // outgoing (red) out to the left.
        let (left, right) = if kind == "wipe" { (2, 0) } else { (0, 2) };
        assert!(px(still.as_raw(), W, 2, 5)[left] > 200, "{kind}");
        assert!(px(still.as_raw(), W, W - 3, 5)[right] > 200, "{kind}");
    }
}
