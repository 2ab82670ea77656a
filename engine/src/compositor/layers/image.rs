//! Image layers: the picture decoded once per size it is drawn at (downscaled to the largest, never
//! upscaled), premultiplied and packed into the atlas.

use super::{place, Pending, PrepareCtx};
use crate::compositor::atlas::AtlasItem;
use crate::compositor::ComposeError;
use crate::project::{ImageContent, Layer};

pub(super) fn prepare(
    ctx: &mut PrepareCtx,
    layer: &Layer,
    content: &ImageContent,
    path: &str,
) -> Result<Pending<'static>, ComposeError> {
    let src = content.src;
    let asset_err = |source| ComposeError::Asset {
        path: format!("{path}.src"),
        source,
    };
    let natural = ctx.media.image_size(src).map_err(asset_err)?;
    let placed = place(ctx, layer, content.fit, natural);
    let (rw, rh) = placed.raster;
    let key = (src.to_string(), rw, rh);
    let index = match ctx.images.get(&key) {
        Some(&i) => i,
        None => {
            let mut img = ctx.media.assets().load_image(src).map_err(asset_err)?;
            if (rw, rh) != img.dimensions() {
                img = image::imageops::resize(&img, rw, rh, image::imageops::FilterType::Triangle);
            }
            premultiply(&mut img);
            ctx.items.push(AtlasItem::Pixels {
                width: rw,
                height: rh,
                data: img.into_raw(),
            });
            ctx.images.insert(key, ctx.items.len() - 1);
            ctx.items.len() - 1
        }
    };
    Ok(Pending::Item {
        index,
        box_size: placed.box_size,
        content: placed.content,
        uv: placed.uv,
    })
}

fn premultiply(img: &mut image::RgbaImage) {
    for px in img.pixels_mut() {
        let a = px[3] as u32;
        if a < 255 {
            for c in 0..3 {
                px[c] = ((px[c] as u32 * a + 127) / 255) as u8;
            }
        }
    }
}
