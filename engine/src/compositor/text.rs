//! Text layers: shaped with cosmic-text and drawn with glyphon into a texture once per render; the
//! compositor then treats the texture like an image (so text gets transforms and blend modes too).

use std::path::PathBuf;

use glyphon::{
    fontdb, Attrs, Buffer, Cache, Color as GColor, ColorMode, Family, FontSystem, Metrics,
    Resolution, Shaping, SwashCache, TextArea, TextAtlas, TextBounds, TextRenderer, Viewport,
};

use crate::project::{Layer, TextAlign};
use crate::RenderError;

const BUNDLED_FONTS: [&[u8]; 2] = [
    include_bytes!("../../../assets/fonts/DejaVuSans.ttf"),
    include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf"),
];

/// Default family of text layers (bundled, so renders look the same on every machine).
pub const DEFAULT_FONT: &str = "DejaVu Sans";

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
    /// (x0, y0, x1, y1): the text's ink plus a transparent margin for strokes and shadows, cut to
    /// the box grown by that margin.
    pub content: [f64; 4],
}

/// The text's ink in buffer pixels (x0, y0, x1, y1): each glyph's advance widened by a third of an
/// em on both sides (overhangs), each line from its top (or an ascender above its baseline) to its
/// bottom (or a descender below it). Empty text gives an empty rectangle at the origin.
fn ink_rect(buffer: &Buffer, font_px: f64) -> [f64; 4] {
    let mut r = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
    for run in buffer.layout_runs() {
        let top = (run.line_top as f64).min(run.line_y as f64 - 1.3 * font_px);
        let bottom =
            ((run.line_top + run.line_height) as f64).max(run.line_y as f64 + 0.6 * font_px);
        for g in run.glyphs {
            r[0] = r[0].min(g.x as f64 - font_px / 3.0);
            r[2] = r[2].max((g.x + g.w) as f64 + font_px / 3.0);
            r[1] = r[1].min(top);
            r[3] = r[3].max(bottom);
        }
    }
    if r[0] > r[2] {
        [0.0; 4]
    } else {
        r
    }
}

impl TextSystem {
    pub fn new(device: &wgpu::Device, queue: &wgpu::Queue, extra: &[PathBuf]) -> TextSystem {
        let mut db = fontdb::Database::new();
        for data in BUNDLED_FONTS {
            db.load_font_data(data.to_vec());
        }
        for p in extra {
            if p.is_dir() {
                db.load_fonts_dir(p);
            } else if let Err(e) = db.load_font_file(p) {
                tracing::warn!(path = %p.display(), error = %e, "cannot load font file");
            }
        }
        db.set_sans_serif_family(DEFAULT_FONT);
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

    /// Whether `family` names a loaded font.
    pub fn has_family(&self, family: &str) -> bool {
        self.fonts.db().faces().any(|f| {
            f.families
                .iter()
                .any(|(name, _)| name.eq_ignore_ascii_case(family))
        })
    }

    pub fn families(&self) -> Vec<String> {
        let mut v: Vec<String> = self
            .fonts
            .db()
            .faces()
            .flat_map(|f| f.families.iter().map(|(n, _)| n.clone()))
            .collect();
        v.sort();
        v.dedup();
        v
    }

    /// Shapes and draws one text layer at `raster_scale` device pixels per layer unit.
    pub fn rasterize(
        &mut self,
        device: &wgpu::Device,
        queue: &wgpu::Queue,
        layer: &Layer,
        raster_scale: f64,
        max_side: u32,
    ) -> Result<RasterText, RenderError> {
        let text = layer.text.as_deref().unwrap_or("");
        let family = layer
            .font
            .clone()
            .unwrap_or_else(|| DEFAULT_FONT.to_string());
        let size = layer.size.unwrap_or(48.0);
        let line_height = layer.line_height.unwrap_or(1.2);
        let stroke = layer.stroke.as_ref().filter(|s| s.width > 0.0);
        let shadow = layer.shadow.as_ref();
        let margin = 2.0
            + stroke.map_or(0.0, |s| s.width)
            + shadow.map_or(0.0, |s| s.offset_x.abs().max(s.offset_y.abs()));
        let wrap = layer.max_width.or(layer.width);

        // The raster covers the text's ink (cut to the box and its margin), not the whole box: a
        // short text in a huge box costs its few glyphs. Shrink the raster scale if the texture
        // would still exceed the device limit.
        let mut rs = raster_scale.max(1.0);
        let (buffer, box_size, content) = loop {
            let (buffer, measured) = self.shape(
                text,
                &family,
                size * rs,
                line_height,
                wrap.map(|w| w * rs),
                layer.align,
            );
            let box_w = layer.width.or(wrap).unwrap_or(measured.0 / rs);
            let box_h = layer.height.unwrap_or(measured.1 / rs);
            let ink = ink_rect(&buffer, size * rs).map(|v| v / rs);
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
                break (buffer, (box_w, box_h), content);
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

        let texture = super::gpu::texture_2d(
            device,
            "text layer",
            (width, height),
            wgpu::TextureFormat::Rgba8Unorm,
            wgpu::TextureUsages::RENDER_ATTACHMENT | wgpu::TextureUsages::COPY_SRC,
        );
        let view = texture.create_view(&Default::default());
        self.viewport.update(queue, Resolution { width, height });

        // Draw order: shadow (with its stroke), stroke rings, fill. Strokes are the text drawn in the
        // stroke colour at 16 offsets around a circle (and a half-radius ring for thick strokes).
        let color = layer.color.unwrap_or(crate::project::Color::WHITE);
        let to_g = |c: crate::project::Color| GColor::rgba(c.r, c.g, c.b, c.a);
        let origin = ((-content[0] * rs) as f32, (-content[1] * rs) as f32);
        let mut offsets: Vec<(f32, f32, GColor)> = Vec::new();
        let rings = |dx: f32, dy: f32, c: GColor, out: &mut Vec<(f32, f32, GColor)>| {
            if let Some(s) = stroke {
                let r = (s.width * rs) as f32;
                let radii: &[f32] = if r > 2.0 { &[1.0, 0.5] } else { &[1.0] };
                for &k in radii {
                    for i in 0..16 {
                        let a = i as f32 / 16.0 * std::f32::consts::TAU;
                        out.push((dx + a.cos() * r * k, dy + a.sin() * r * k, c));
                    }
                }
            }
        };
        if let Some(sh) = shadow {
            let (dx, dy) = ((sh.offset_x * rs) as f32, (sh.offset_y * rs) as f32);
            rings(dx, dy, to_g(sh.color), &mut offsets);
            offsets.push((dx, dy, to_g(sh.color)));
        }
        if let Some(s) = stroke {
            rings(0.0, 0.0, to_g(s.color), &mut offsets);
        }
        offsets.push((0.0, 0.0, to_g(color)));
        let bounds = TextBounds {
            left: 0,
            top: 0,
            right: width as i32,
            bottom: height as i32,
        };
        let areas = offsets.iter().map(|&(dx, dy, c)| TextArea {
            buffer: &buffer,
            left: origin.0 + dx,
            top: origin.1 + dy,
            scale: 1.0,
            bounds,
            default_color: c,
            custom_glyphs: &[],
        });
        self.renderer
            .prepare(
                device,
                queue,
                &mut self.fonts,
                &mut self.atlas,
                &self.viewport,
                areas,
                &mut self.swash,
            )
            .map_err(|e| RenderError::Gpu(format!("preparing text: {e}")))?;
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
                .map_err(|e| RenderError::Gpu(format!("drawing text: {e}")))?;
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

    /// Lays out `text`; returns the buffer and its measured size in pixels.
    fn shape(
        &mut self,
        text: &str,
        family: &str,
        size: f64,
        line_height: f64,
        wrap: Option<f64>,
        align: Option<TextAlign>,
    ) -> (Buffer, (f64, f64)) {
        let metrics = Metrics::new(size as f32, (size * line_height) as f32);
        let mut buffer = Buffer::new(&mut self.fonts, metrics);
        let attrs = Attrs::new().family(Family::Name(family));
        let align = match align.unwrap_or_default() {
            TextAlign::Left => glyphon::cosmic_text::Align::Left,
            TextAlign::Center => glyphon::cosmic_text::Align::Center,
            TextAlign::Right => glyphon::cosmic_text::Align::Right,
        };
        buffer.set_size(wrap.map(|w| w as f32), None);
        buffer.set_text(text, &attrs, Shaping::Advanced, Some(align));
        buffer.shape_until_scroll(&mut self.fonts, false);
        let measure = |b: &Buffer| {
            b.layout_runs().fold((0.0f64, 0.0f64), |(w, h), run| {
                (
                    w.max(run.line_w as f64),
                    h.max((run.line_top + run.line_height) as f64),
                )
            })
        };
        let mut measured = measure(&buffer);
        if wrap.is_none() {
            // Without a wrap width, align lines within the widest one.
            buffer.set_size(Some(measured.0.ceil() as f32), None);
            buffer.shape_until_scroll(&mut self.fonts, false);
            measured = measure(&buffer);
        }
        (buffer, measured)
    }
}
