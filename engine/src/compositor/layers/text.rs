//! Text layers: the text shaped in the layer's font chain and rasterised once (at up to 4× for
//! layers that scale up), as an atlas item.

use super::{Pending, PrepareCtx};
use crate::compositor::atlas::AtlasItem;
use crate::compositor::text::TextJob;
use crate::compositor::ComposeError;
use crate::project::{Layer, TextContent};

pub(super) fn prepare(
    ctx: &mut PrepareCtx,
    layer: &Layer,
    content: &TextContent,
    path: &str,
) -> Result<Pending<'static>, ComposeError> {
    let mut ts = ctx.text.lock().unwrap_or_else(|e| e.into_inner());
    let chain = ts.chain(ctx.fonts, layer, path)?;
    let job = TextJob {
        text: content.text,
        chain: &chain,
        highlight: None,
        path,
    };
    let raster_scale = layer.max_scale().clamp(1.0, 4.0);
    let gpu = ctx.gpu;
    let r = ts.rasterize(
        &gpu.device,
        &gpu.queue,
        layer,
        &job,
        raster_scale,
        gpu.max_texture_side - 8,
    )?;
    ctx.items.push(AtlasItem::Texture {
        texture: r.texture,
        width: r.width,
        height: r.height,
    });
    Ok(Pending::Item {
        index: ctx.items.len() - 1,
        box_size: r.box_size,
        content: r.content,
        uv: [0.0, 0.0, 1.0, 1.0],
    })
}
