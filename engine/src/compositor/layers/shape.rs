//! Shape layers: rectangles, rounded rectangles and ellipses drawn from their geometry by the shape
//! shader (solid or gradient fill, stroke); nothing goes into the atlas.

use bytemuck::Zeroable;

use crate::compositor::layout::*;
use crate::compositor::scene::{LayerSource, SourceKind};
use crate::project::{Fill, Layer, ShapeContent, ShapeKind};

/// A shape layer's static part: geometry, fill, stroke.
pub(super) fn source(layer: &Layer, c: &ShapeContent) -> LayerSource {
    let box_size = (c.width, c.height);
    let mut g = GpuLayer::zeroed();
    g.info[1] = blend_code(layer.blend);
    g.shape[0] = match c.shape {
        ShapeKind::RoundedRect => c.corner_radius.unwrap_or(16.0) as f32,
        ShapeKind::Rect => c.corner_radius.unwrap_or(0.0) as f32,
        _ => 0.0,
    };
    let mut stroked = false;
    if let Some(s) = c.stroke {
        g.shape[1] = s.width as f32;
        g.stroke = s.color.premultiplied();
        stroked = s.width > 0.0;
    }
    match c.fill {
        None => g.info[3] = FILL_NONE,
        Some(Fill::Solid(c)) => {
            g.info[3] = FILL_SOLID;
            g.fill = c.premultiplied();
        }
        Some(Fill::Gradient(gr)) => {
            g.info[3] = FILL_GRADIENT;
            g.info2[0] = gr.stops.len().min(8) as u32;
            for (k, stop) in gr.stops.iter().take(8).enumerate() {
                g.stop_offsets[k / 4][k % 4] = stop.offset as f32;
                g.stop_colors[k] = stop.color.premultiplied();
            }
            // The gradient line passes through the box centre at `angle` and spans the box's
            // projection onto it (CSS linear-gradient geometry).
            let (w, h) = box_size;
            let a = gr.angle.to_radians();
            let (dx, dy) = (a.cos(), a.sin());
            let half_len = 0.5 * (w * dx.abs() + h * dy.abs());
            let (cx, cy) = (w / 2.0, h / 2.0);
            g.gradient = [
                (cx - dx * half_len) as f32,
                (cy - dy * half_len) as f32,
                (cx + dx * half_len) as f32,
                (cy + dy * half_len) as f32,
            ];
        }
    }
    let kind = if c.shape == ShapeKind::Ellipse {
        SourceKind::Ellipse
    } else {
        SourceKind::Rect {
            plain: g.shape[0] <= 0.0 && !stroked && g.info[3] == FILL_SOLID,
        }
    };
    LayerSource {
        box_size,
        content: [0.0, 0.0, box_size.0, box_size.1],
        kind,
        template: g,
        end: None,
        timed: Vec::new(),
    }
}
