//! Video layers: the clip (probed once, by the media index) gets a decoder that downscales it to
//! the largest size it is drawn at, and plane textures its frames are uploaded to as they show.

use bytemuck::Zeroable;

use super::{place, Pending, PrepareCtx};
use crate::compositor::layout::{blend_code, GpuLayer};
use crate::compositor::scene::{LayerSource, SourceKind};
use crate::compositor::video::VideoSlot;
use crate::compositor::ComposeError;
use crate::media::VideoError;
use crate::project::{Layer, VideoContent};
use crate::video::{clip_end, ClipPlayer, ClipTiming};

pub(super) fn prepare(
    ctx: &mut PrepareCtx,
    layer: &Layer,
    content: &VideoContent,
    path: &str,
) -> Result<Pending<'static>, ComposeError> {
    let src = content.src;
    let src_path = format!("{path}.src");
    let file = ctx
        .media
        .resolve(src)
        .map_err(|source| ComposeError::Asset {
            path: src_path.clone(),
            source,
        })?;
    let video_err = |e: VideoError| ComposeError::Asset {
        path: src_path.clone(),
        source: e.to_asset_error(src),
    };
    let info = ctx.media.clip(&file).map_err(video_err)?;
    let natural = (info.width, info.height);
    // Let the decoder downscale a clip shown much smaller than its size.
    let placed = place(ctx, layer, content.fit, natural);
    let out = placed.raster;
    let player = ClipPlayer::open(
        &ctx.media.tools().ffmpeg,
        &file,
        &info,
        ClipTiming::of_layer(layer),
        (out != natural).then_some(out),
    )
    .map_err(video_err)?;
    let size = player.size();
    ctx.videos.push(VideoSlot::new(
        ctx.gpu,
        ctx.compositor,
        src_path.clone(),
        src.to_string(),
        player,
    ));
    Ok(Pending::Video {
        slot: ctx.videos.len() - 1,
        size,
        box_size: placed.box_size,
        content: placed.content,
        uv: placed.uv,
        end: clip_end(layer, &info),
    })
}

/// The layer's record: it samples the frame textures of decoder `slot`.
pub(super) fn source(
    layer: &Layer,
    slot: usize,
    size: (u32, u32),
    box_size: (f64, f64),
    content: [f64; 4],
    uv: [f64; 4],
    end: Option<f64>,
) -> LayerSource {
    let mut g = GpuLayer::zeroed();
    g.info[1] = blend_code(layer.blend);
    g.info[2] = slot as u32;
    g.uv = uv.map(|v| v as f32);
    LayerSource {
        box_size,
        content,
        kind: SourceKind::Video { slot, size },
        template: g,
        end,
        timed: Vec::new(),
    }
}
