//! The per-frame draw list: the timeline's layer states at one frame turned into GPU layer records
//! bottom to top, each with its pixel bounds and the cheapest shader that draws it exactly, and the
//! plan of passes (destinations, scissors of wipe/slide transitions, cross-fade weight).

use bytemuck::Zeroable;

use super::layout::*;
use super::pipelines::DrawKind;
use super::scene::{LayerSource, Scene, SourceKind};
use crate::project::TransitionKind;
use crate::timeline::SceneTime;

/// Which texture a segment draws into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dest {
    /// The frame itself.
    Main = 0,
    /// The incoming scene of a cross-fade, blended onto the frame at the end.
    Incoming = 1,
    /// The static-layer cache (see `cache.rs`).
    Cache = 2,
}

/// A run of layers drawn into one destination, optionally clipped (wipe and slide transitions).
#[derive(Debug, Clone)]
pub struct Segment {
    pub dest: Dest,
    pub range: std::ops::Range<u32>,
    /// x0, y0, x1, y1 in pixels.
    pub scissor: Option<[u32; 4]>,
}

/// One frame's layers bottom to top, with each layer's pixel bounds and the pass plan.
#[derive(Debug, Clone, Default)]
pub struct DrawList {
    pub layers: Vec<GpuLayer>,
    /// x0, y0, x1, y1 (exclusive) in pixels, clamped to the frame.
    pub bboxes: Vec<[u32; 4]>,
    /// Which layer of the project each record draws: (composition, layer index + 1; 0 = background).
    pub ids: Vec<(u32, u32)>,
    pub segments: Vec<Segment>,
    /// Cross-fade progress: blend `Incoming` onto `Main` with this weight.
    pub fade: Option<f32>,
    /// Clear colour of each destination (an unclipped scene's opaque background).
    pub clear: [Option<[f32; 4]>; 2],
    /// Video layers on screen: (video slot, seconds into the layer). Their records get the shown
    /// source frame before upload (see `encode.rs`).
    pub videos: Vec<(usize, f64)>,
    /// Caption states on screen: (caption slot, state). Drawn into the atlas first when they
    /// changed (see `captions.rs`).
    pub captions: Vec<(usize, usize)>,
}

impl DrawList {
    fn push_placed(&mut self, p: Placed, id: (u32, u32)) {
        for g in std::iter::once(p.first).chain(p.second) {
            self.layers.push(g);
            self.bboxes.push(p.bbox);
            self.ids.push(id);
        }
    }

    /// Closes a segment holding the layers pushed since the previous one (a scene: its background
    /// first). An unclipped scene's background becomes the pass's clear colour instead of a draw.
    fn segment(&mut self, dest: Dest, scissor: Option<[u32; 4]>) {
        let mut start = self.segments.last().map_or(0, |s| s.range.end);
        if scissor.is_none() && self.clear[dest as usize].is_none() {
            self.clear[dest as usize] = Some(self.layers[start as usize].fill);
            start += 1;
        }
        self.segments.push(Segment {
            dest,
            range: start..self.layers.len() as u32,
            scissor,
        });
    }

    /// The draw kind of record `i`.
    pub fn kind(&self, i: u32) -> DrawKind {
        DrawKind::from_code(self.layers[i as usize].info[0])
    }
}

/// Whether `v` is an integer, up to float noise.
fn on_pixel_edge(v: f64) -> bool {
    (v - v.round()).abs() < 1e-3
}

/// A placed layer: its pixel bounds and one record, or two for a large solid-filled shape (its
/// inside, drawn with the one-colour shader, then the ring around it).
struct Placed {
    bbox: [u32; 4],
    first: GpuLayer,
    second: Option<GpuLayer>,
}

/// The inside of a shape where its coverage is exactly 1 (clear of the anti-aliased outline and the
/// stroke), as a rectangle in box units, if it is big enough to be worth drawing apart.
fn inner_rect(src: &LayerSource, aa: f64) -> Option<[f64; 4]> {
    let g = &src.template;
    if g.info[3] == FILL_GRADIENT {
        return None;
    }
    let (w, h) = src.box_size;
    let (hw, hh) = (w / 2.0, h / 2.0);
    let stroke = g.shape[1] as f64;
    // Coverage is 1 where the signed distance is below −(stroke + aa/2); keep a whole pixel.
    let m = stroke.max(0.0) + aa;
    let (dx, dy) = match src.kind {
        SourceKind::Ellipse => {
            // Corners on a smaller ellipse, with margin to spare for the approximate distance.
            let k = 2.0 * (m + aa);
            let (a, b) = (hw - k, hh - k);
            if a <= 0.0 || b <= 0.0 {
                return None;
            }
            let s = std::f64::consts::FRAC_1_SQRT_2;
            (hw - a * s, hh - b * s)
        }
        _ => {
            // A rounded corner's arc passes inside the inner rectangle's corner (convexity: the
            // corners are the inner rectangle's farthest points from the inside).
            let r = (g.shape[0] as f64).min(hw).min(hh).max(0.0);
            let d = if r > m {
                r - (r - m) * std::f64::consts::FRAC_1_SQRT_2
            } else {
                m
            };
            (d, d)
        }
    };
    let inner = [dx, dy, w - dx, h - dy];
    // Not worth a second draw below a few pixels across.
    ((inner[2] - inner[0]) > 8.0 * aa && (inner[3] - inner[1]) > 8.0 * aa).then_some(inner)
}

/// Places one layer: `(a, b, c, d, tx, ty)` maps local units to screen pixels. `None` when it is
/// entirely off screen.
fn place(
    src: &LayerSource,
    xf: [f64; 6],
    scale: f64,
    opacity: f64,
    frame: (f64, f64),
) -> Option<Placed> {
    let [a, b, c, d, tx, ty] = xf;
    let fwd = |lx: f64, ly: f64| (a * lx + b * ly + tx, c * lx + d * ly + ty);
    let q = src.content;
    // Axis-aligned (no rotation, positive scale) with every edge on a pixel boundary: no
    // anti-aliasing is needed, so the layer takes a cheaper shader and its exact rectangle.
    let (sx0, sy0) = fwd(q[0], q[1]);
    let (sx1, sy1) = fwd(q[2], q[3]);
    let aligned = b.abs() < 1e-9
        && c.abs() < 1e-9
        && a > 0.0
        && d > 0.0
        && [sx0, sy0, sx1, sy1].into_iter().all(on_pixel_edge);
    let aa = 1.0 / scale.max(1e-6);
    let inner = match src.kind {
        SourceKind::Rect { plain: true } if aligned => None,
        // Rounded corners, strokes and ellipses need their distance function even when aligned.
        SourceKind::Rect { .. } | SourceKind::Ellipse => inner_rect(src, aa),
        _ if aligned => None,
        SourceKind::Textured { .. } | SourceKind::Video { .. } => {
            // Edge coverage is 1 from half a pixel inside the edges; keep a whole one.
            let r = [q[0] + aa, q[1] + aa, q[2] - aa, q[3] - aa];
            (r[2] - r[0] > 8.0 * aa && r[3] - r[1] > 8.0 * aa).then_some(r)
        }
    };
    let kind = match src.kind {
        SourceKind::Textured { raster } if aligned => {
            let (w, h) = ((sx1 - sx0).round(), (sy1 - sy0).round());
            if (w, h) == (raster.0 as f64, raster.1 as f64) {
                DrawKind::TexturedNearest
            } else {
                DrawKind::TexturedPlain
            }
        }
        SourceKind::Textured { .. } if inner.is_some() => DrawKind::TexturedRing,
        SourceKind::Textured { .. } => DrawKind::Textured,
        SourceKind::Video { size, .. } if aligned => {
            // One frame pixel per output pixel (the shown part of the frame at its decoded size)?
            let uv = src.template.uv;
            let shown = (
                (size.0 as f64 * (uv[2] - uv[0]) as f64).round(),
                (size.1 as f64 * (uv[3] - uv[1]) as f64).round(),
            );
            if ((sx1 - sx0).round(), (sy1 - sy0).round()) == shown {
                DrawKind::VideoExact
            } else {
                DrawKind::VideoPlain
            }
        }
        SourceKind::Video { .. } if inner.is_some() => DrawKind::VideoRing,
        SourceKind::Video { .. } => DrawKind::Video,
        SourceKind::Rect { plain: true } if aligned => DrawKind::Solid,
        SourceKind::Rect { .. } if inner.is_some() => DrawKind::RectRing,
        SourceKind::Rect { .. } => DrawKind::Rect,
        SourceKind::Ellipse if inner.is_some() => DrawKind::EllipseRing,
        SourceKind::Ellipse => DrawKind::Ellipse,
    };
    // One screen pixel of padding around anti-aliased edges.
    let pad = if aligned { 0.0 } else { aa };
    let draw = [q[0] - pad, q[1] - pad, q[2] + pad, q[3] + pad];
    let corners = [
        fwd(draw[0], draw[1]),
        fwd(draw[2], draw[1]),
        fwd(draw[0], draw[3]),
        fwd(draw[2], draw[3]),
    ];
    let (mut x0, mut y0, mut x1, mut y1) = (f64::MAX, f64::MAX, f64::MIN, f64::MIN);
    for (x, y) in corners {
        x0 = x0.min(x);
        y0 = y0.min(y);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    let (x0, y0) = (x0.floor().max(0.0), y0.floor().max(0.0));
    let (x1, y1) = (x1.ceil().min(frame.0), y1.ceil().min(frame.1));
    if x1 <= x0 || y1 <= y0 {
        return None;
    }
    let mut g = src.template;
    g.info[0] = kind as u32;
    g.xform = [a as f32, b as f32, c as f32, d as f32];
    g.offset = [tx as f32, ty as f32, scale as f32, opacity as f32];
    g.draw = draw.map(|v| v as f32);
    g.edge = q.map(|v| v as f32);
    let bbox = [x0 as u32, y0 as u32, x1 as u32, y1 as u32];
    Some(match inner {
        // The inside first (skipped when a shape has no fill), then the ring.
        Some(r) => {
            g.inner = r.map(|v| v as f32);
            let mut inside = g;
            inside.info[0] = match kind {
                DrawKind::TexturedRing => DrawKind::TexturedInner,
                DrawKind::VideoRing => DrawKind::VideoInner,
                _ => DrawKind::SolidInner,
            } as u32;
            let shape = matches!(kind, DrawKind::RectRing | DrawKind::EllipseRing);
            if shape && g.info[3] == FILL_NONE {
                Placed {
                    bbox,
                    first: g,
                    second: None,
                }
            } else {
                Placed {
                    bbox,
                    first: inside,
                    second: Some(g),
                }
            }
        }
        None => Placed {
            bbox,
            first: g,
            second: None,
        },
    })
}

impl Scene<'_> {
    /// Appends one scene's background (as a full-frame rectangle) and visible layers, shifted `dx`
    /// pixels (slide transitions).
    fn push_scene(&self, list: &mut DrawList, st: SceneTime, dx: f64) {
        let comp = &self.project.frames[st.composition];
        let ci = st.composition as u32;
        let duration = comp.duration_at(self.project.frame_rate);
        let frame = (self.project.width as f64, self.project.height as f64);
        let bg = LayerSource {
            box_size: frame,
            content: [0.0, 0.0, frame.0, frame.1],
            kind: SourceKind::Rect { plain: true },
            template: GpuLayer {
                info: [0, 0, 0, FILL_SOLID],
                fill: comp
                    .background
                    .unwrap_or(crate::project::Color::BLACK)
                    .premultiplied(),
                ..GpuLayer::zeroed()
            },
            end: None,
            timed: Vec::new(),
        };
        let placed = place(&bg, [1.0, 0.0, 0.0, 1.0, dx, 0.0], 1.0, 1.0, frame);
        let placed = placed.unwrap_or_else(|| {
            // Slid entirely out: keep an empty record so the segment has its background.
            let mut g = bg.template;
            g.info[0] = DrawKind::Solid as u32;
            Placed {
                bbox: [0, 0, 0, 0],
                first: g,
                second: None,
            }
        });
        list.push_placed(placed, (ci, 0));
        for (li, (layer, src)) in comp
            .layers
            .iter()
            .zip(&self.sources[st.composition])
            .enumerate()
        {
            let visible = match src.end {
                Some(end) => st.local + 1e-9 >= layer.start.unwrap_or(0.0) && st.local < end - 1e-9,
                None => layer.visible_at(st.local, duration),
            };
            if !visible {
                continue;
            }
            // Captions: the state on screen now, drawn like a text layer.
            let state;
            let src = if src.timed.is_empty() {
                src
            } else {
                let t = st.local - layer.start.unwrap_or(0.0);
                let Some(now) = super::captions::active(&src.timed, t) else {
                    continue;
                };
                list.captions.push(now.caption);
                state = LayerSource {
                    box_size: now.box_size,
                    content: now.content,
                    kind: SourceKind::Textured { raster: now.raster },
                    template: now.template,
                    end: None,
                    timed: Vec::new(),
                };
                &state
            };
            let s = layer.state_at(st.local);
            if s.opacity <= 0.0 || s.scale <= 1e-6 {
                continue;
            }
            let (ax, ay) = layer.anchor.fraction();
            let anchor = (ax * src.box_size.0, ay * src.box_size.1);
            let (sin, cos) = s.rotation.to_radians().sin_cos();
            // screen = pos + scale · R(θ) · (local − anchor), θ clockwise on a y-down screen.
            let (a, b, c, d) = (s.scale * cos, -s.scale * sin, s.scale * sin, s.scale * cos);
            let pos = (s.x + dx, s.y);
            let tx = pos.0 - (a * anchor.0 + b * anchor.1);
            let ty = pos.1 - (c * anchor.0 + d * anchor.1);
            if let Some(placed) = place(src, [a, b, c, d, tx, ty], s.scale, s.opacity, frame) {
                if let SourceKind::Video { slot, .. } = src.kind {
                    list.videos
                        .push((slot, st.local - layer.start.unwrap_or(0.0)));
                }
                list.push_placed(placed, (ci, li as u32 + 1));
            }
        }
    }

    /// What to draw for frame `n`: the layers bottom to top and how to split them into passes.
    pub fn frame_data(&self, frame: u64) -> DrawList {
        let fs = self.timeline.scene_at(&self.project, frame);
        let (w, h) = (self.project.width, self.project.height);
        let mut list = DrawList::default();
        match fs.transition {
            None => {
                self.push_scene(&mut list, fs.scene, 0.0);
                list.segment(Dest::Main, None);
            }
            Some(tr) => {
                let p = tr.progress;
                match tr.kind {
                    TransitionKind::Fade => {
                        self.push_scene(&mut list, tr.from, 0.0);
                        list.segment(Dest::Main, None);
                        self.push_scene(&mut list, fs.scene, 0.0);
                        list.segment(Dest::Incoming, None);
                        list.fade = Some(p as f32);
                    }
                    TransitionKind::Wipe => {
                        // The incoming scene is revealed from the left: it owns x < split.
                        let split = ((p * w as f64).round() as u32).min(w);
                        self.push_scene(&mut list, tr.from, 0.0);
                        list.segment(Dest::Main, Some([split, 0, w, h]));
                        self.push_scene(&mut list, fs.scene, 0.0);
                        list.segment(Dest::Main, Some([0, 0, split, h]));
                    }
                    TransitionKind::Slide => {
                        // The incoming scene enters from the right and pushes the outgoing one out.
                        let split = (((1.0 - p) * w as f64).round() as u32).min(w);
                        self.push_scene(&mut list, tr.from, -p * w as f64);
                        list.segment(Dest::Main, Some([0, 0, split, h]));
                        self.push_scene(&mut list, fs.scene, (1.0 - p) * w as f64);
                        list.segment(Dest::Main, Some([split, 0, w, h]));
                    }
                }
            }
        }
        list
    }
}
