//! The peer row: the same project rendered by **one `ffmpeg -filter_complex` command**, the way a
//! user without this engine would script it. [`project_args`] translates a [`Project`] of image,
//! shape and text layers into that command (ffmpeg's argv); `vrender-bench peer-command` prints it.
//!
//! The translation is faithful in what costs time (every picture decoded, resampled, rotated, scaled
//! and alpha-blended per frame where it moves; every text drawn per frame; the compositions
//! cross-faded; the same size, rate, frame count and x264 settings), and approximate in looks:
//!
//! - **Easing**: `easeInOut` is smoothstep (`3t² − 2t³`), `easeIn` is `t²`, `easeOut` is `1 − (1 − t)²`,
//!   `cubicBezier` is linear (our curves are CSS cubic Béziers; ffmpeg expressions have no solver).
//! - **Rotation and scale** pivot on the layer's centre (ours pivot on the anchor; S1's pictures and
//!   shapes are centre-anchored, so S1 is unaffected). A picture is resampled twice per frame where
//!   it both rotates and scales (`rotate`, then `scale` with `eval=frame`, sizes rounded to even).
//! - **Blend modes** (`multiply`, `screen`, …) are drawn as normal alpha blending: `overlay` has no
//!   blend modes, and the `blend` filter would need full-frame inputs. This makes the peer slightly
//!   *cheaper* than the real scene, so the ratio row errs in ffmpeg's favour.
//! - **Shapes** are rasterised once per composition by `geq` (the same signed-distance coverage,
//!   inner stroke and CSS gradient geometry as our shader, sRGB interpolation), then rotated/scaled
//!   and overlaid per frame like a picture. Animated opacity of pictures and shapes is replaced by
//!   the last animation's end value (`overlay` has no per-frame alpha).
//! - **Text** is `drawtext` with the bundled DejaVu fonts, one `drawtext` per line (ffmpeg 5.1 has
//!   no alignment): lines are wrapped at `maxWidth` greedily on spaces by the font's advance widths
//!   (no kerning), placed in a box of `lineHeight` lines and aligned with `text_w`. Stroke is
//!   `borderw`, shadow is `shadowx/shadowy`, animated opacity is drawtext's `alpha`; animated x/y
//!   move the text; text rotation and scale are ignored.
//! - **Transitions**: `fade` is `xfade=fade`, `wipe` is `xfade=wiperight`, `slide` is
//!   `xfade=slideleft`, all linear (transition easing ignored). A composition without a transition
//!   is appended with `concat`.
//! - **Colour**: ffmpeg's own RGB→YUV conversions (BT.601 matrix in swscale's defaults) while the
//!   output is tagged BT.709 like ours. Audio tracks are not translated (S1 has none).
//!
//! Video layers are not translated here: the video scene V1 has its own hand-written filtergraph in
//! `video_scene.rs`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use vrender_engine::*;

use super::Res;

/// The bundled fonts, found from the build's source tree (the harness runs where it was built).
pub fn font_file(bold: bool) -> PathBuf {
    let name = if bold {
        "DejaVuSans-Bold.ttf"
    } else {
        "DejaVuSans.ttf"
    };
    let local = Path::new("assets/fonts").join(name);
    if local.exists() {
        return local;
    }
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../assets/fonts")
        .join(name)
}

/// Escapes a filter option value for both levels it passes through: the option parser (`:` `'` `\`
/// are special) and the filtergraph parser (`[` `]` `,` `;` `'` `\`).
pub fn esc(value: &str) -> String {
    let mut opt = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '\\' | '\'' | ':') {
            opt.push('\\');
        }
        opt.push(c);
    }
    let mut graph = String::with_capacity(opt.len());
    for c in opt.chars() {
        if matches!(c, '\\' | '\'' | '[' | ']' | ',' | ';') {
            graph.push('\\');
        }
        graph.push(c);
    }
    graph
}

/// A number as ffmpeg parses it (no exponent, no needless digits).
fn num(v: f64) -> String {
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" || s.is_empty() {
        "0".into()
    } else {
        s.to_string()
    }
}

/// `0xRRGGBB@alpha`, ffmpeg's colour syntax.
pub fn color(c: Color) -> String {
    format!(
        "0x{:02x}{:02x}{:02x}@{}",
        c.r,
        c.g,
        c.b,
        num(c.a as f64 / 255.0)
    )
}

/// The output half of the command: the same x264 settings and stream tags as our encoder
/// (`engine/src/encoder/ffmpeg.rs`) for `quality`, MP4 with the index at the front.
pub fn x264_output_args(quality: Quality, frames: u64, output: &Path) -> Vec<String> {
    let mut a: Vec<String> = vec!["-frames:v".into(), frames.to_string()];
    a.extend(
        [
            "-c:v",
            "libx264",
            "-preset",
            quality.x264_preset(),
            "-crf",
            &quality.crf().to_string(),
            "-pix_fmt",
            "yuv420p",
        ]
        .map(String::from),
    );
    a.extend(encoder::BT709_TAGS.map(String::from));
    a.extend(["-movflags", "+faststart", "-f", "mp4", "-y"].map(String::from));
    a.push(output.to_string_lossy().into_owned());
    a
}

/// The ffmpeg expression of an easing curve applied to `p` (already clipped to 0..1).
fn ease(easing: Easing, p: &str) -> String {
    match easing {
        Easing::EaseInOut => format!("({p})*({p})*(3-2*({p}))"),
        Easing::EaseIn => format!("({p})*({p})"),
        Easing::EaseOut => format!("(1-(1-({p}))*(1-({p})))"),
        Easing::Linear | Easing::CubicBezier(_) => format!("({p})"),
    }
}

/// The ffmpeg expression of one property over composition time `t` (the engine's rule: the latest
/// animation that has started wins, before the first one its `from` holds), and whether it moves.
fn property(layer: &Layer, property: AnimatedProperty, base: f64) -> (String, bool) {
    let mut anims: Vec<&Animation> = layer
        .animations
        .iter()
        .filter(|a| a.property == property)
        .collect();
    anims.sort_by(|a, b| a.start.total_cmp(&b.start));
    let Some(first) = anims.first() else {
        return (num(base), false);
    };
    if anims.iter().all(|a| a.from == a.to && a.from == first.from) {
        return (num(first.from), false);
    }
    let mut expr = num(first.from);
    for a in anims {
        let value = if a.end > a.start {
            let p = format!("clip((t-{})/{},0,1)", num(a.start), num(a.end - a.start));
            format!(
                "({}+{}*{})",
                num(a.from),
                num(a.to - a.from),
                ease(a.easing, &p)
            )
        } else {
            num(a.to)
        };
        expr = format!("if(gte(t,{}),{value},{expr})", num(a.start));
    }
    (expr, true)
}

/// The largest value a property reaches (static value or any animation end point).
fn max_of(layer: &Layer, property: AnimatedProperty, base: f64) -> f64 {
    let mut it = layer
        .animations
        .iter()
        .filter(|a| a.property == property)
        .flat_map(|a| [a.from, a.to])
        .peekable();
    if it.peek().is_none() {
        base
    } else {
        it.fold(f64::MIN, f64::max)
    }
}

/// The value a property ends at (for properties the peer cannot animate).
fn final_of(layer: &Layer, property: AnimatedProperty, base: f64) -> f64 {
    layer
        .animations
        .iter()
        .filter(|a| a.property == property)
        .max_by(|a, b| a.start.total_cmp(&b.start))
        .map_or(base, |a| a.to)
}

/// The `enable=` option of a layer with `start`/`end`, if any.
fn enable(layer: &Layer) -> String {
    match (layer.start, layer.end) {
        (None, None) => String::new(),
        (s, e) => format!(
            ":enable={}",
            esc(&format!(
                "between(t,{},{})",
                num(s.unwrap_or(0.0)),
                num(e.map_or(1e9, |e| e - 1e-6))
            ))
        ),
    }
}

/// The per-pixel `geq` expressions (r, g, b, a; straight alpha) of a shape layer of `w`×`h` pixels,
/// mirroring `layer_color` in shaders/compose.wgsl.
fn shape_geq(layer: &Layer, w: f64, h: f64) -> String {
    let (hw, hh) = (w / 2.0, h / 2.0);
    // Signed distance (pixels, negative inside) into register 0.
    let px = format!("(X+0.5-{})", num(hw));
    let py = format!("(Y+0.5-{})", num(hh));
    let sd = match layer.shape {
        Some(ShapeKind::Ellipse) => format!(
            "st(1,hypot({px}/{hw},{py}/{hh}));st(2,hypot({px}/{hw2},{py}/{hh2}));\
             st(0,if(lt(ld(2),1e-6),-{m},ld(1)*(ld(1)-1)/ld(2)))",
            hw = num(hw),
            hh = num(hh),
            hw2 = num(hw * hw),
            hh2 = num(hh * hh),
            m = num(hw.min(hh))
        ),
        _ => {
            let r = match layer.shape {
                Some(ShapeKind::RoundedRect) => layer.corner_radius.unwrap_or(16.0),
                _ => layer.corner_radius.unwrap_or(0.0),
            }
            .min(hw.min(hh));
            format!(
                "st(1,abs({px})-{qx});st(2,abs({py})-{qy});\
                 st(0,hypot(max(ld(1),0),max(ld(2),0))+min(max(ld(1),ld(2)),0)-{r})",
                qx = num(hw - r),
                qy = num(hh - r),
                r = num(r)
            )
        }
    };
    let sw = layer.stroke.as_ref().map_or(0.0, |s| s.width);
    // Coverage of the fill (inside the stroke) into 3, of the stroke ring into 4.
    let cover = format!(
        "st(5,clip(0.5-ld(0),0,1));st(3,if({stroked},clip(0.5-(ld(0)+{sw}),0,1),ld(5)));\
         st(4,max(ld(5)-ld(3),0))",
        stroked = u8::from(sw > 0.0),
        sw = num(sw)
    );
    let stroke = layer.stroke.as_ref().map(|s| s.color).unwrap_or(Color {
        r: 0,
        g: 0,
        b: 0,
        a: 0,
    });
    // The fill's channel value (0..255) for channel index `c` (0 r, 1 g, 2 b, 3 a).
    let fill_channel = |c: usize| -> String {
        let ch = |col: Color| -> f64 { [col.r, col.g, col.b, col.a][c] as f64 };
        match layer.fill.as_ref() {
            None => "0".into(),
            Some(Fill::Solid(col)) => num(ch(*col)),
            Some(Fill::Gradient(g)) if g.stops.is_empty() => "0".into(),
            Some(Fill::Gradient(g)) => {
                let a = g.angle.to_radians();
                let (dx, dy) = (a.cos(), a.sin());
                let len = w * dx.abs() + h * dy.abs();
                let t = format!(
                    "clip(({px}*{dx}+{py}*{dy})/{len}+0.5,0,1)",
                    dx = num(dx),
                    dy = num(dy),
                    len = num(len.max(1e-6))
                );
                let mut expr = num(ch(g.stops[0].color));
                for k in 1..g.stops.len() {
                    let (s0, s1) = (&g.stops[k - 1], &g.stops[k]);
                    let (c0, c1) = (ch(s0.color), ch(s1.color));
                    let seg = format!(
                        "{}+{}*clip((ld(6)-{})/{},0,1)",
                        num(c0),
                        num(c1 - c0),
                        num(s0.offset),
                        num((s1.offset - s0.offset).max(1e-6))
                    );
                    expr = format!("if(gt(ld(6),{}),{seg},{expr})", num(s0.offset));
                }
                format!("st(6,{t});{expr}")
            }
        }
    };
    let s = |c: usize| [stroke.r, stroke.g, stroke.b, stroke.a][c] as f64;
    // Straight-alpha "stroke ring over fill": a = af·ci + as·cr (disjoint coverage), colour weighted.
    let alpha = format!(
        "({fa})/255*ld(3)+{sa}/255*ld(4)",
        fa = fill_channel(3),
        sa = num(s(3))
    );
    let mut out = String::new();
    for (c, name) in ["r", "g", "b"].iter().enumerate() {
        let _ = write!(
            out,
            "{name}={}:",
            esc(&format!(
                "{sd};{cover};st(7,{alpha});if(lte(ld(7),0),0,(({fc})*({fa})/255*ld(3)+{sc}*{sa}/255*ld(4))/ld(7))",
                fc = fill_channel(c),
                fa = fill_channel(3),
                sc = num(s(c)),
                sa = num(s(3))
            ))
        );
    }
    let _ = write!(out, "a={}", esc(&format!("{sd};{cover};255*({alpha})")));
    out
}

/// Greedy word wrap by advance widths (pixels at `size`); explicit newlines always break.
fn wrap_lines(face: &ttf_parser::Face, text: &str, size: f64, wrap: Option<f64>) -> Vec<String> {
    let scale = size / face.units_per_em() as f64;
    let width = |s: &str| -> f64 {
        s.chars()
            .map(|c| {
                face.glyph_index(c)
                    .and_then(|g| face.glyph_hor_advance(g))
                    .unwrap_or(0) as f64
                    * scale
            })
            .sum()
    };
    let mut lines = Vec::new();
    for para in text.split('\n') {
        let Some(max) = wrap else {
            lines.push(para.to_string());
            continue;
        };
        let mut line = String::new();
        for word in para.split(' ') {
            let candidate = if line.is_empty() {
                word.to_string()
            } else {
                format!("{line} {word}")
            };
            if !line.is_empty() && width(&candidate) > max {
                lines.push(std::mem::take(&mut line));
                line = word.to_string();
            } else {
                line = candidate;
            }
        }
        lines.push(line);
    }
    lines
}

/// `drawtext` filters (one per line) drawing a text layer.
pub fn text_filters(layer: &Layer) -> Res<Vec<String>> {
    let bold = layer.font.as_ref().is_some_and(|f| {
        f.names()
            .iter()
            .any(|n| n.to_ascii_lowercase().contains("bold"))
    }) || layer.font_weight.is_some_and(|w| w.value() >= 600);
    let font = font_file(bold);
    let data = std::fs::read(&font).map_err(|e| format!("{}: {e}", font.display()))?;
    let face = ttf_parser::Face::parse(&data, 0).map_err(|e| format!("{}: {e}", font.display()))?;
    let size = layer.size.unwrap_or(48.0);
    let lh = size * layer.line_height.unwrap_or(1.2);
    let upem = face.units_per_em() as f64;
    let (ascent, descent) = (
        face.ascender() as f64 / upem * size,
        face.descender() as f64 / upem * size,
    );
    let lines = wrap_lines(
        &face,
        layer.text.as_deref().unwrap_or(""),
        size,
        layer.max_width.or(layer.width),
    );
    let advance = |s: &str| -> f64 {
        s.chars()
            .map(|c| {
                face.glyph_index(c)
                    .and_then(|g| face.glyph_hor_advance(g))
                    .unwrap_or(0) as f64
                    * size
                    / upem
            })
            .sum()
    };
    let box_w = layer
        .width
        .or(layer.max_width)
        .unwrap_or_else(|| lines.iter().map(|l| advance(l)).fold(0.0, f64::max));
    let box_h = layer.height.unwrap_or(lines.len() as f64 * lh);
    let (ax, ay) = layer.anchor.fraction();
    let (x, _) = property(layer, AnimatedProperty::X, layer.x);
    let (y, _) = property(layer, AnimatedProperty::Y, layer.y);
    let (opacity, _) = property(layer, AnimatedProperty::Opacity, layer.opacity);
    let left = format!("({x})-{}", num(ax * box_w));
    let top = format!("({y})-{}", num(ay * box_h));
    let col = layer.color.unwrap_or(Color {
        r: 255,
        g: 255,
        b: 255,
        a: 255,
    });
    let mut common = format!(
        "fontfile={}:fontsize={}:fontcolor={}:expansion=none:alpha={}",
        esc(&font.to_string_lossy()),
        num(size),
        esc(&color(col)),
        esc(&format!("clip({opacity},0,1)"))
    );
    if let Some(s) = layer.stroke.as_ref().filter(|s| s.width > 0.0) {
        let _ = write!(
            common,
            ":borderw={}:bordercolor={}",
            s.width.round().max(1.0),
            esc(&color(s.color))
        );
    }
    if let Some(s) = &layer.shadow {
        let _ = write!(
            common,
            ":shadowx={}:shadowy={}:shadowcolor={}",
            s.offset_x.round(),
            s.offset_y.round(),
            esc(&color(s.color))
        );
    }
    common.push_str(&enable(layer));
    let mut out = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let lx = match layer.align.unwrap_or_default() {
            TextAlign::Left => left.clone(),
            TextAlign::Center => format!("{left}+({}-text_w)/2", num(box_w)),
            TextAlign::Right => format!("{left}+{}-text_w", num(box_w)),
        };
        // Baseline: the font's ascent+descent centred in the line box (as cosmic-text lays out);
        // drawtext's y is the top of the line's tallest glyph, `ascent` above the baseline.
        let baseline = i as f64 * lh + (lh - (ascent - descent)) / 2.0 + ascent;
        let ly = format!("{top}+{}-ascent", num(baseline));
        out.push(format!(
            "drawtext={common}:text={}:x={}:y={}",
            esc(line),
            esc(&lx),
            esc(&ly)
        ));
    }
    Ok(out)
}

/// The ffmpeg command (argv without the program) rendering `project` to `output` as one
/// `-filter_complex`: `frames` caps the frame count (default: the whole timeline).
pub fn project_args(
    project: &Project,
    assets: &AssetResolver,
    output: &Path,
    frames: Option<u64>,
) -> Res<Vec<String>> {
    let fps = project.frame_rate;
    let (w, h) = (project.width, project.height);
    let total = chunk::total_frames(project);
    let frames = frames.map_or(total, |n| n.min(total));
    let mut inputs: Vec<String> = vec!["-hide_banner".into(), "-nostdin".into()];
    let mut n_inputs = 0usize;
    let mut graph: Vec<String> = Vec::new();
    let mut label = 0usize;
    let mut fresh = |prefix: &str| {
        label += 1;
        format!("{prefix}{label}")
    };
    let mut comps: Vec<(String, f64)> = Vec::new();
    for comp in &project.frames {
        let dur = comp.duration_at(fps);
        let bg = comp.background.unwrap_or(Color {
            r: 0,
            g: 0,
            b: 0,
            a: 255,
        });
        let mut cur = fresh("c");
        graph.push(format!(
            "color=c={}:s={w}x{h}:r={}:d={},format=yuv420p[{cur}]",
            esc(&color(bg)),
            num(fps),
            num(dur + 1.0 / fps)
        ));
        for layer in &comp.layers {
            let visible_at_all = layer.opacity > 0.0 || !layer.animations.is_empty();
            if !visible_at_all {
                continue;
            }
            let sprite = match layer.kind {
                LayerKind::Text => {
                    let next = fresh("c");
                    let filters = text_filters(layer)?;
                    if filters.is_empty() {
                        continue;
                    }
                    graph.push(format!("[{cur}]{}[{next}]", filters.join(",")));
                    cur = next;
                    continue;
                }
                LayerKind::Image => {
                    let src = layer.src.as_deref().ok_or("an image layer without src")?;
                    let path = assets.resolve(src)?;
                    let (iw, ih) = assets.check_image(src)?;
                    inputs.extend(["-i".into(), path.to_string_lossy().into_owned()]);
                    n_inputs += 1;
                    let bw = layer.width.unwrap_or(iw as f64);
                    let bh = layer.height.unwrap_or(ih as f64);
                    (format!("[{}:v]format=rgba", n_inputs - 1), bw, bh)
                }
                LayerKind::Shape => {
                    let bw = layer.width.unwrap_or(100.0);
                    let bh = layer.height.unwrap_or(100.0);
                    let (sw, sh) = (bw.round().max(1.0), bh.round().max(1.0));
                    (
                        format!(
                            "color=c=black@0:s={}x{}:r={},format=rgba,trim=end_frame=1,geq={}",
                            num(sw),
                            num(sh),
                            num(fps),
                            shape_geq(layer, sw, sh)
                        ),
                        bw,
                        bh,
                    )
                }
                #[allow(unreachable_patterns)]
                other => return Err(format!("the peer cannot translate {other:?} layers").into()),
            };
            let (source, bw, bh) = sprite;
            let (rot, rot_moves) = property(layer, AnimatedProperty::Rotation, layer.rotation);
            let (scale, scale_moves) = property(layer, AnimatedProperty::Scale, layer.scale);
            let smax = max_of(layer, AnimatedProperty::Scale, layer.scale).max(1e-3);
            let opacity = final_of(layer, AnimatedProperty::Opacity, layer.opacity).clamp(0.0, 1.0);
            let even = |v: f64| ((v / 2.0).round() * 2.0).max(2.0);
            let mut chain = format!(
                "{source},scale={}:{}",
                num(even(bw * smax)),
                num(even(bh * smax))
            );
            if opacity < 1.0 {
                let _ = write!(chain, ",colorchannelmixer=aa={}", num(opacity));
            }
            let rotate = |a: &str| {
                format!(
                    ",rotate=a={}:ow={}:oh={}:c=black@0",
                    esc(&format!("({a})*PI/180")),
                    esc("hypot(iw,ih)"),
                    "ow"
                )
            };
            let static_rot = !rot_moves && rot.parse::<f64>().is_ok_and(|r| r != 0.0);
            if static_rot {
                chain.push_str(&rotate(&rot));
            }
            if rot_moves || scale_moves {
                // One decoded frame, repeated with this composition's timestamps.
                let _ = write!(
                    chain,
                    ",loop=loop=-1:size=1,setpts={}",
                    esc(&format!("N/({}*TB)", num(fps)))
                );
            }
            if rot_moves {
                chain.push_str(&rotate(&rot));
            }
            let size_now = if scale_moves {
                let f = format!("({scale})/{}", num(smax));
                let _ = write!(
                    chain,
                    ",scale=w={}:h={}:eval=frame",
                    esc(&format!("max(2,trunc(iw*{f}/2)*2)")),
                    esc(&format!("max(2,trunc(ih*{f}/2)*2)"))
                );
                format!("({scale})")
            } else {
                num(layer.scale)
            };
            let sprite_label = fresh("s");
            graph.push(format!("{chain}[{sprite_label}]"));
            // Centre of the layer's box: the anchor point shifted to the centre, at the current scale.
            let (ax, ay) = layer.anchor.fraction();
            let (x, _) = property(layer, AnimatedProperty::X, layer.x);
            let (y, _) = property(layer, AnimatedProperty::Y, layer.y);
            let cx = format!("({x})+{}*{size_now}-w/2", num((0.5 - ax) * bw));
            let cy = format!("({y})+{}*{size_now}-h/2", num((0.5 - ay) * bh));
            let next = fresh("c");
            graph.push(format!(
                "[{cur}][{sprite_label}]overlay=x={}:y={}:format=yuv420{}[{next}]",
                esc(&cx),
                esc(&cy),
                enable(layer)
            ));
            cur = next;
        }
        comps.push((cur, dur));
    }
    // Join the compositions on the engine's timeline (a transition overlaps the previous one).
    let (mut acc, first_dur) = comps
        .first()
        .cloned()
        .ok_or("a project without compositions")?;
    let mut acc_end = first_dur;
    for (k, (next, dur)) in comps.iter().enumerate().skip(1) {
        let out = fresh("j");
        match project.frames[k]
            .transition
            .as_ref()
            .filter(|t| t.duration > 0.0)
        {
            Some(tr) => {
                let kind = match tr.kind {
                    TransitionKind::Fade => "fade",
                    TransitionKind::Wipe => "wiperight",
                    TransitionKind::Slide => "slideleft",
                };
                let offset = (acc_end - tr.duration).max(0.0);
                graph.push(format!(
                    "[{acc}][{next}]xfade=transition={kind}:duration={}:offset={}[{out}]",
                    num(tr.duration),
                    num(offset)
                ));
                acc_end = offset + dur;
            }
            None => {
                let cut = fresh("t");
                graph.push(format!(
                    "[{acc}]trim=end_frame={}[{cut}];[{cut}][{next}]concat=n=2:v=1:a=0[{out}]",
                    (acc_end * fps).round() as u64
                ));
                acc_end += dur;
            }
        }
        acc = out;
    }
    let vout = fresh("v");
    graph.push(format!("[{acc}]format=yuv420p[{vout}]"));
    let mut args = inputs;
    args.extend([
        "-filter_complex".into(),
        graph.join(";\n"),
        "-map".into(),
        format!("[{vout}]"),
    ]);
    args.extend(x264_output_args(project.quality, frames, output));
    Ok(args)
}

/// Quotes an argv for a POSIX shell (for `peer-command`).
pub fn shell_line(program: &str, args: &[String]) -> String {
    let mut s = program.to_string();
    for a in args {
        s.push(' ');
        if !a.is_empty()
            && a.chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_./:=+@,".contains(c))
        {
            s.push_str(a);
        } else {
            s.push('\'');
            s.push_str(&a.replace('\'', r"'\''"));
            s.push('\'');
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_both_levels() {
        assert_eq!(esc("a,b"), r"a\,b");
        assert_eq!(esc("a:b"), r"a\\:b");
        assert_eq!(esc("it's"), r"it\\\'s");
        assert_eq!(num(1.50), "1.5");
        assert_eq!(num(-0.0), "0");
        assert_eq!(num(30.0), "30");
    }

    #[test]
    fn s1_translates() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let project = Project::from_file(root.join("s1.json")).unwrap();
        let args = project_args(
            &project,
            &AssetResolver::relative_to(&root),
            Path::new("out.mp4"),
            None,
        )
        .unwrap();
        let graph = &args[args.iter().position(|a| a == "-filter_complex").unwrap() + 1];
        assert_eq!(graph.matches("xfade=transition=fade").count(), 1);
        // photo1, photo2, photo4 and the rounded rectangle rotate; photo3 (0 → 0) does not.
        assert_eq!(graph.matches("rotate=").count(), 2 * 4);
        assert!(graph.matches("drawtext=").count() >= 6);
        assert_eq!(args.iter().filter(|a| *a == "-i").count(), 10);
        let frames = &args[args.iter().position(|a| a == "-frames:v").unwrap() + 1];
        assert_eq!(frames, "300");
    }

    /// Runs the whole S1 peer through ffmpeg (x264 `ultrafast` to save time) and counts the frames:
    /// `cargo test -p vrender-bench -- --ignored` (about 20 s on two cores).
    #[test]
    #[ignore = "runs ffmpeg over all 300 frames of S1"]
    fn s1_peer_writes_every_frame() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples");
        let project = Project::from_file(root.join("s1.json")).unwrap();
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("peer.mp4");
        let mut args =
            project_args(&project, &AssetResolver::relative_to(&root), &out, None).unwrap();
        let preset = args.iter().position(|a| a == "-preset").unwrap() + 1;
        args[preset] = "ultrafast".into();
        let status = std::process::Command::new("ffmpeg")
            .args(["-loglevel", "error"])
            .args(&args)
            .status()
            .unwrap();
        assert!(status.success());
        assert_eq!(
            crate::count_frames(&out).unwrap(),
            chunk::total_frames(&project)
        );
    }
}
