//! Text layers: shaped with cosmic-text and drawn with glyphon into a texture once per render; the
//! compositor then treats the texture like an image (so text gets transforms and blend modes too).

use std::ops::Range;
use std::path::PathBuf;

use glyphon::{
    Buffer, Cache, Color as GColor, ColorMode, ContentType, CustomGlyph, FontSystem,
    RasterizeCustomGlyphRequest, RasterizedCustomGlyph, Resolution, SwashCache, TextArea,
    TextAtlas, TextBounds, TextRenderer, Viewport,
};

use super::fonts::{self, ProjectFonts};
use super::text_shape::{self as ts, ShapeSpec};
use super::ComposeError;
use crate::media::MediaIndex;
use crate::project::{Layer, LayerKind, Project, TextAlign};

pub use super::fonts::DEFAULT_FONT;

/// Font database and glyph caches. One per engine, behind a mutex (text is drawn once per render).
pub struct TextSystem {
    fonts: FontSystem,
    swash: SwashCache,
    atlas: TextAtlas,
    renderer: TextRenderer,
    viewport: Viewport,
}

/// A text layer drawn into its own texture (premultiplied RGBA, sRGB-encoded).
pub struct RasterText {
    pub texture: wgpu::Texture,
    pub width: u32,
    pub height: u32,
    /// The layer's box in local units (what anchors and alignment refer to).
    pub box_size: (f64, f64),
    /// The rectangle the texture covers, in local units relative to the box's top-left corner
    /// (x0, y0, x1, y1): the text's ink (and background box) plus a transparent margin for strokes
    /// and shadows, cut to the box grown by that margin.
    pub content: [f64; 4],
}

/// What [`TextSystem::measure`] finds: the raster's size, the box and the content rectangle (as
/// in [`RasterText`]).
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    pub raster: (u32, u32),
    pub box_size: (f64, f64),
    pub content: [f64; 4],
}

/// One string to draw in a layer's style: a text layer's text or one caption cue (state).
pub struct TextJob<'a> {
    pub text: &'a str,
    /// The layer's `font` chain, resolved ([`TextSystem::chain`]).
    pub chain: &'a [String],
    /// Byte range of the word drawn in the layer's `highlight` (captions).
    pub highlight: Option<Range<usize>>,
    /// JSON path of the layer, for errors.
    pub path: &'a str,
}

/// One shaped glyph, for inspection (tests, tools): which characters it draws, with which glyph of
/// which face, and its box in layer units (advance × line box, relative to the box's top-left).
#[derive(Debug, Clone)]
pub struct GlyphBox {
    pub chars: String,
    pub glyph_id: u16,
    pub family: String,
    /// The face's file (`None` for the bundled DejaVu Sans and fonts loaded from memory).
    pub font_file: Option<PathBuf>,
    pub face_index: u32,
    pub rect: [f64; 4],
}

/// Coverage mask of a rounded rectangle filling `w` × `h` pixels with corner radius `r`.
fn rounded_box_mask(w: u16, h: u16, r: f32) -> Vec<u8> {
    let (w, h) = (w as usize, h as usize);
    let (hw, hh) = (w as f32 / 2.0, h as f32 / 2.0);
    let r = r.min(hw).min(hh).max(0.0);
    let mut out = vec![0u8; w * h];
    for y in 0..h {
        for x in 0..w {
            let px = (x as f32 + 0.5 - hw).abs() - (hw - r);
            let py = (y as f32 + 0.5 - hh).abs() - (hh - r);
            let outside = (px.max(0.0).powi(2) + py.max(0.0).powi(2)).sqrt() + px.max(py).min(0.0);
            let d = outside - r;
            out[y * w + x] = ((0.5 - d).clamp(0.0, 1.0) * 255.0).round() as u8;
        }
    }
    out
}

/// Custom glyphs are rounded boxes; the id is the corner radius in raster pixels (glyphon caches
/// them by id and size, which then fixes the mask).
fn rasterize_box(req: RasterizeCustomGlyphRequest) -> Option<RasterizedCustomGlyph> {
    Some(RasterizedCustomGlyph {
        data: rounded_box_mask(req.width, req.height, req.id as f32),
        content_type: ContentType::Mask,
    })
}

fn to_g(c: crate::project::Color) -> GColor {
    GColor::rgba(c.r, c.g, c.b, c.a)
}

/// A string shaped and placed for drawing (see [`TextSystem::layout`]).
struct Layout {
    buffer: Buffer,
    /// Font size in layer units (after fitting).
    size: f64,
    /// Raster pixels per layer unit.
    rs: f64,
    box_size: (f64, f64),
    content: [f64; 4],
    width: u32,
    height: u32,
    /// Vertical offset of the text in its box, layer units.
    dy: f64,
    /// Background boxes: colour, rectangle in layer units, corner radius.
    boxes: Vec<(crate::project::Color, [f64; 4], f64)>,
}

fn union(a: [f64; 4], b: [f64; 4]) -> [f64; 4] {
    [
        a[0].min(b[0]),
        a[1].min(b[1]),
        a[2].max(b[2]),
        a[3].max(b[3]),
    ]
}

impl TextSystem {
    /// Loads the bundled, fallback and extra fonts, and the machine's fonts when `system_fonts`.
    pub fn new(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        extra: &[PathBuf],
        system_fonts: bool,
    ) -> TextSystem {
        TextSystem::with_database(device, queue, fonts::engine_database(extra, system_fonts))
    }

    /// A text system of its own with this one's fonts: a project with fonts of its own gets one,
    /// so renders running at the same time never shape with each other's project fonts.
    pub fn fork(&self, device: &wgpu::Device, queue: &wgpu::Queue) -> TextSystem {
        TextSystem::with_database(device, queue, self.fonts.db().clone())
    }

    fn with_database(
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        db: glyphon::fontdb::Database,
    ) -> TextSystem {
        let fonts = FontSystem::new_with_locale_and_db("en-US".into(), db);
        let cache = Cache::new(device);
        let mut atlas = TextAtlas::with_color_mode(
            device,
            queue,
            &cache,
            wgpu::TextureFormat::Rgba8Unorm,
            ColorMode::Web, // sRGB-encoded colours stored as-is, like the rest of the compositor
        );
        let renderer =
            TextRenderer::new(&mut atlas, device, wgpu::MultisampleState::default(), None);
        let viewport = Viewport::new(device, &cache);
        TextSystem {
            fonts,
            swash: SwashCache::new(),
            atlas,
            renderer,
            viewport,
        }
    }

    /// Every loaded family name, sorted.
    pub fn families(&self) -> Vec<String> {
        fonts::families(self.fonts.db())
    }

    /// Loads the project's `fonts` (into a text system of the project's own: see [`Self::fork`]).
    pub fn load(
        &mut self,
        project: &Project,
        media: &MediaIndex,
    ) -> Result<ProjectFonts, ComposeError> {
        if project.fonts.is_empty() {
            return Ok(ProjectFonts::default());
        }
        fonts::load_project_fonts(self.fonts.db_mut(), project, media)
    }

    /// The layer's `font` chain as loaded family names; an unknown family is an error at its path.
    pub fn chain(
        &self,
        loaded: &ProjectFonts,
        layer: &Layer,
        path: &str,
    ) -> Result<Vec<String>, ComposeError> {
        fonts::resolve_chain(self.fonts.db(), loaded, layer.font.as_ref(), path)
    }

    /// The shape parameters of `job` at font size `size` (raster pixels) and raster scale `rs`.
    fn spec<'a>(&self, layer: &Layer, job: &'a TextJob, size: f64, rs: f64) -> ShapeSpec<'a> {
        let (weight, style) = fonts::face_style(layer);
        let captions = layer.kind == LayerKind::Captions;
        let default_align = if captions {
            TextAlign::Center
        } else {
            TextAlign::Left
        };
        let align = match layer.align.unwrap_or(default_align) {
            TextAlign::Left => glyphon::cosmic_text::Align::Left,
            TextAlign::Center => glyphon::cosmic_text::Align::Center,
            TextAlign::Right => glyphon::cosmic_text::Align::Right,
        };
        let colored = match (
            &job.highlight,
            layer.highlight.as_ref().and_then(|h| h.color),
        ) {
            (Some(r), Some(c)) => Some((r.clone(), to_g(c))),
            _ => None,
        };
        ShapeSpec {
            text: job.text,
            chain: job.chain,
            weight,
            style,
            size,
            line_height: layer.line_height.unwrap_or(1.2),
            letter_spacing: layer.letter_spacing.unwrap_or(0.0) * rs,
            wrap: wrap_width(layer).map(|w| w * rs),
            align,
            colored,
        }
    }

    /// The font size the layer is drawn at: `size`, or with `autoFit` the largest that fits
    /// `width` × `height`, and for captions at most `maxLines` lines.
    fn fitted_size(&mut self, layer: &Layer, job: &TextJob) -> f64 {
        let size = layer.size.unwrap_or(48.0);
        let auto = layer.auto_fit == Some(true);
        let max_lines = layer.max_lines.map(|n| n as usize);
        if !auto && max_lines.is_none() {
            return size;
        }
        let max = if auto && layer.size.is_none() {
            2000.0
        } else {
            size
        };
        let fits = |this: &mut Self, s: f64| {
            let spec = this.spec(layer, job, s, 1.0);
            let (buffer, (w, h)) = ts::shape(&mut this.fonts, &spec);
            let lines_ok = max_lines.is_none_or(|n| ts::line_count(&buffer) <= n);
            let box_ok = !auto
                || (w <= layer.width.unwrap_or(f64::MAX) + 0.5
                    && h <= layer.height.unwrap_or(f64::MAX) + 0.5);
            lines_ok && box_ok
        };
        ts::largest_fitting(max, |s| fits(self, s))
    }

    /// Shapes `job` as the layer draws it at scale 1 and lists its glyphs.
    pub fn glyphs(&mut self, layer: &Layer, job: &TextJob) -> Vec<GlyphBox> {
        let size = self.fitted_size(layer, job);
        let spec = self.spec(layer, job, size, 1.0);
        let (buffer, measured) = ts::shape(&mut self.fonts, &spec);
        let dy = vertical_offset(layer, measured.1);
        let db = self.fonts.db();
        let mut out = Vec::new();
        for run in buffer.layout_runs() {
            for g in run.glyphs {
                let face = db.face(g.font_id);
                let file = face.and_then(|f| match &f.source {
                    glyphon::fontdb::Source::File(p)
                    | glyphon::fontdb::Source::SharedFile(p, _) => Some(p.clone()),
                    _ => None,
                });
                out.push(GlyphBox {
                    chars: run.text.get(g.start..g.end).unwrap_or("").to_string(),
                    glyph_id: g.glyph_id,
                    family: face
                        .and_then(|f| f.families.first().map(|(n, _)| n.clone()))
                        .unwrap_or_default(),
                    font_file: file,
                    face_index: face.map_or(0, |f| f.index),
                    rect: [
                        g.x as f64,
                        run.line_top as f64 + dy,
                        (g.x + g.w) as f64,
                        (run.line_top + run.line_height) as f64 + dy,
                    ],
                });
            }
        }
        out
    }

    /// Shapes and draws one string in the layer's style at `raster_scale` device pixels per layer
    /// unit. Characters no loaded font can draw are an error at `{path}.text` naming them.
    pub fn rasterize(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        layer: &Layer,
        job: &TextJob,
        raster_scale: f64,
        max_side: u32,
    ) -> Result<RasterText, ComposeError> {
        let l = self.layout(layer, job, raster_scale, max_side)?;
        self.draw(device, queue, layer, job, l)
    }

    /// The raster size, box and content rectangle [`Self::rasterize`] would give, without drawing
    /// (and with the same check for characters no font can draw).
    pub fn measure(
        &mut self,
        layer: &Layer,
        job: &TextJob,
        raster_scale: f64,
        max_side: u32,
    ) -> Result<Measured, ComposeError> {
        let l = self.layout(layer, job, raster_scale, max_side)?;
        Ok(Measured {
            raster: (l.width, l.height),
            box_size: l.box_size,
            content: l.content,
        })
    }

    /// Shapes one string and places it: raster scale and size, box, content rectangle, boxes.
    fn layout(
        &mut self,
        layer: &Layer,
        job: &TextJob,
        raster_scale: f64,
        max_side: u32,
    ) -> Result<Layout, ComposeError> {
        let size = self.fitted_size(layer, job);
        let stroke = layer.stroke.as_ref().filter(|s| s.width > 0.0);
        let shadow = layer.shadow.as_ref();
        let background = layer.background.as_ref();
        let pad = background.map_or(0.0, |b| b.padding.unwrap_or(8.0));
        let margin = 2.0
            + pad
            + stroke.map_or(0.0, |s| s.width)
            + shadow.map_or(0.0, |s| s.offset_x.abs().max(s.offset_y.abs()));
        let highlight_bg = layer.highlight.as_ref().and_then(|h| h.background);

        // The raster covers the text's ink (cut to the box and its margin), not the whole box: a
        // short text in a huge box costs its few glyphs. Shrink the raster scale if the texture
        // would still exceed the device limit.
        let mut rs = raster_scale.max(1.0);
        let mut checked = false;
        let (buffer, box_size, content, dy, boxes) = loop {
            let spec = self.spec(layer, job, size * rs, rs);
            let (buffer, measured) = ts::shape(&mut self.fonts, &spec);
            if !checked {
                let missing = ts::missing_chars(&buffer);
                if !missing.is_empty() {
                    return Err(fonts::invalid(
                        format!("{}.text", job.path),
                        format!(
                            "no loaded font can draw {} (add a font that has them to `fonts`)",
                            ts::describe_chars(&missing)
                        ),
                    ));
                }
                checked = true;
            }
            let box_w = layer.width.or(wrap_width(layer)).unwrap_or(measured.0 / rs);
            let box_h = layer.height.unwrap_or(measured.1 / rs);
            let dy = vertical_offset(layer, measured.1 / rs);
            let shift = |r: [f64; 4]| [r[0] / rs, r[1] / rs + dy, r[2] / rs, r[3] / rs + dy];
            let mut ink = shift(ts::ink_rect(&buffer, size * rs));
            // Background boxes (colour, rectangle in layer units, radius).
            let mut boxes: Vec<(crate::project::Color, [f64; 4], f64)> = Vec::new();
            if let (Some(b), Some(r)) = (background, ts::glyph_rect(&buffer, job.text, None)) {
                let r = shift(r);
                let r = [r[0] - pad, r[1] - pad, r[2] + pad, r[3] + pad];
                boxes.push((b.color, r, b.corner_radius.unwrap_or(0.0)));
            }
            if let (Some(c), Some(range)) = (highlight_bg, &job.highlight) {
                if let Some(r) = ts::glyph_rect(&buffer, job.text, Some(range)) {
                    let r = shift(r);
                    let p = 0.12 * size;
                    let r = [r[0] - p, r[1], r[2] + p, r[3]];
                    boxes.push((c, r, 0.25 * size));
                }
            }
            for (_, r, _) in &boxes {
                ink = union(ink, *r);
            }
            let content = [
                (ink[0] - margin).max(-margin),
                (ink[1] - margin).max(-margin),
                (ink[2] + margin).min(box_w + margin),
                (ink[3] + margin).min(box_h + margin),
            ];
            let side = (content[2] - content[0])
                .max(content[3] - content[1])
                .max(0.0)
                * rs;
            if side.ceil() <= max_side as f64 || rs <= 0.05 {
                break (buffer, (box_w, box_h), content, dy, boxes);
            }
            rs *= max_side as f64 / side * 0.99;
        };
        let width = (((content[2] - content[0]) * rs).ceil().max(1.0) as u32).min(max_side);
        let height = (((content[3] - content[1]) * rs).ceil().max(1.0) as u32).min(max_side);
        // The texel grid fixes the rectangle the texture covers exactly.
        let content = [
            content[0],
            content[1],
            content[0] + width as f64 / rs,
            content[1] + height as f64 / rs,
        ];
        Ok(Layout {
            buffer,
            size,
            rs,
            box_size,
            content,
            width,
            height,
            dy,
            boxes,
        })
    }

    /// Draws a laid-out string into a texture of its raster size.
    fn draw(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        layer: &Layer,
        job: &TextJob,
        l: Layout,
    ) -> Result<RasterText, ComposeError> {
        let Layout {
            buffer,
            size,
            rs,
            box_size,
            content,
            width,
            height,
            dy,
            boxes,
        } = l;
        let stroke = layer.stroke.as_ref().filter(|s| s.width > 0.0);
        let shadow = layer.shadow.as_ref();
        let texture = super::gpu::texture_2d(
            device,
            "text layer",
            (width, height),
            wgpu::TextureFormat::Rgba8Unorm,
            wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        );
        let view = texture.create_view(&Default::default());
        self.viewport.update(queue, Resolution { width, height });

        // Strokes and shadows are drawn in one colour: with a highlight colour, they use the text
        // shaped without it.
        let plain = if job.highlight.is_some()
            && layer.highlight.as_ref().is_some_and(|h| h.color.is_some())
            && (stroke.is_some() || shadow.is_some())
        {
            let plain_job = TextJob {
                highlight: None,
                ..*job
            };
            let spec = self.spec(layer, &plain_job, size * rs, rs);
            Some(ts::shape(&mut self.fonts, &spec).0)
        } else {
            None
        };
        let outline: &Buffer = plain.as_ref().unwrap_or(&buffer);

        // Draw order: background boxes, shadow (with its stroke), stroke rings, fill. Strokes are
        // the text drawn in the stroke colour at 16 offsets around a circle (and a half-radius
        // ring for thick strokes).
        let color = layer.color.unwrap_or(crate::project::Color::WHITE);
        let origin = ((-content[0] * rs) as f32, ((dy - content[1]) * rs) as f32);
        let mut offsets: Vec<(f32, f32, GColor, bool)> = Vec::new();
        let rings = |dx: f32, dy: f32, c: GColor, out: &mut Vec<(f32, f32, GColor, bool)>| {
            if let Some(s) = stroke {
                let r = (s.width * rs) as f32;
                let radii: &[f32] = if r > 2.0 { &[1.0, 0.5] } else { &[1.0] };
                for &k in radii {
                    for i in 0..16 {
                        let a = i as f32 / 16.0 * std::f32::consts::TAU;
                        out.push((dx + a.cos() * r * k, dy + a.sin() * r * k, c, true));
                    }
                }
            }
        };
        if let Some(sh) = shadow {
            let (dx, dy) = ((sh.offset_x * rs) as f32, (sh.offset_y * rs) as f32);
            rings(dx, dy, to_g(sh.color), &mut offsets);
            offsets.push((dx, dy, to_g(sh.color), true));
        }
        if let Some(s) = stroke {
            rings(0.0, 0.0, to_g(s.color), &mut offsets);
        }
        offsets.push((0.0, 0.0, to_g(color), false));
        // The boxes ride on the first area (custom glyphs are drawn before its text).
        let first = offsets[0];
        let custom: Vec<CustomGlyph> = boxes
            .iter()
            .map(|(c, r, radius)| CustomGlyph {
                id: (radius * rs).round().clamp(0.0, u16::MAX as f64) as u16,
                left: ((r[0] - content[0]) * rs) as f32 - (origin.0 + first.0),
                top: ((r[1] - content[1]) * rs) as f32 - (origin.1 + first.1),
                width: ((r[2] - r[0]) * rs) as f32,
                height: ((r[3] - r[1]) * rs) as f32,
                color: Some(to_g(*c)),
                snap_to_physical_pixel: true,
                metadata: 0,
            })
            .collect();
        let bounds = TextBounds {
            left: 0,
            top: 0,
            right: width as i32,
            bottom: height as i32,
        };
        let areas = offsets
            .iter()
            .enumerate()
            .map(|(i, &(dx, dy, c, is_outline))| TextArea {
                buffer: if is_outline { outline } else { &buffer },
                left: origin.0 + dx,
                top: origin.1 + dy,
                scale: 1.0,
                bounds,
                default_color: c,
                custom_glyphs: if i == 0 { &custom } else { &[] },
            });
        self.renderer
            .prepare_with_custom(
                device,
                queue,
                &mut self.fonts,
                &mut self.atlas,
                &self.viewport,
                areas,
                &mut self.swash,
                rasterize_box,
            )
            .map_err(|e| ComposeError::Gpu(format!("preparing text: {e}")))?;
        let mut encoder = device.create_command_encoder(&Default::default());
        {
            let mut pass = encoder.begin_render_pass(&wgpu::RenderPassDescriptor {
                label: Some("text layer"),
                color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                    view: &view,
                    depth_slice: None,
                    resolve_target: None,
                    ops: wgpu::Operations {
                        load: wgpu::LoadOp::Clear(wgpu::Color::TRANSPARENT),
                        store: wgpu::StoreOp::Store,
                    },
                })],
                ..Default::default()
            });
            self.renderer
                .render(&self.atlas, &self.viewport, &mut pass)
                .map_err(|e| ComposeError::Gpu(format!("drawing text: {e}")))?;
        }
        queue.submit([encoder.finish()]);
        self.atlas.trim();
        Ok(RasterText {
            texture,
            width,
            height,
            box_size,
            content,
        })
    }
}

/// The width lines wrap at: `maxWidth`, else `width` (the scene gives captions a default).
fn wrap_width(layer: &Layer) -> Option<f64> {
    layer.max_width.or(layer.width)
}

/// How far the text moves down in its box (`verticalAlign` with a `height`), layer units.
fn vertical_offset(layer: &Layer, text_h: f64) -> f64 {
    match (layer.vertical_align, layer.height) {
        (Some(v), Some(h)) => (h - text_h) * v.fraction(),
        _ => 0.0,
    }
}
