//! Captions layers: every state (cue, highlighted word) measured once and given one atlas slot,
//! drawn into it when it comes on screen (`compositor/captions.rs`); the record per state here.

use bytemuck::Zeroable;

use super::{Pending, PrepareCtx};
use crate::compositor::atlas::Atlas;
use crate::compositor::captions::{self, CaptionSlot, TimedItem, TimedSource};
use crate::compositor::layout::{blend_code, GpuLayer};
use crate::compositor::scene::{LayerSource, SourceKind};
use crate::compositor::ComposeError;
use crate::project::{CaptionSource, CaptionsContent, Cue, Layer};

pub(super) fn prepare(
    ctx: &mut PrepareCtx,
    layer: &Layer,
    content: &CaptionsContent,
    path: &str,
) -> Result<Pending<'static>, ComposeError> {
    let file_cues;
    let cues: &[Cue] = match content.source {
        CaptionSource::File(src) => {
            file_cues = ctx
                .media
                .captions(src)
                .map_err(|source| ComposeError::Asset {
                    path: format!("{path}.src"),
                    source,
                })?;
            &file_cues
        }
        CaptionSource::Inline(cues) => cues,
    };
    let mut ts = ctx.text.lock().unwrap_or_else(|e| e.into_inner());
    let chain = ts.chain(ctx.fonts, layer, path)?;
    let (slot, index, states) = captions::prepare(
        ctx.gpu,
        &mut ts,
        chain,
        layer,
        cues,
        path,
        ctx.project.width,
        &mut ctx.items,
    )?;
    ctx.captions.push((slot, index));
    Ok(Pending::Timed {
        slot: ctx.captions.len() - 1,
        states,
    })
}

/// The layer's records, one per state, drawn from the top-left corner of its slot (atlas item
/// `item`) in the scene's captions slot `slot`.
pub(super) fn source(
    layer: &Layer,
    atlas: &Atlas,
    item: usize,
    slot: usize,
    states: &[TimedItem],
) -> LayerSource {
    let a = atlas.slots[item];
    let s = atlas.page_size as f32;
    LayerSource {
        box_size: (0.0, 0.0),
        content: [0.0; 4],
        kind: SourceKind::Textured { raster: (1, 1) },
        template: GpuLayer::zeroed(),
        end: None,
        timed: states
            .iter()
            .map(|st| {
                let mut g = GpuLayer::zeroed();
                g.info[1] = blend_code(layer.blend);
                g.info[2] = a.page;
                // Which state: records of different states differ (cache).
                g.info2[1] = st.state as u32 + 1;
                g.uv = [
                    a.x as f32 / s,
                    a.y as f32 / s,
                    (a.x + st.raster.0) as f32 / s,
                    (a.y + st.raster.1) as f32 / s,
                ];
                TimedSource {
                    from: st.from,
                    to: st.to,
                    caption: (slot, st.state),
                    box_size: st.box_size,
                    content: st.content,
                    raster: st.raster,
                    template: g,
                }
            })
            .collect(),
    }
}

/// The slot's place in the packed atlas, once it is packed.
pub(in crate::compositor) fn place_slot(
    mut slot: CaptionSlot,
    atlas: &Atlas,
    item: usize,
) -> CaptionSlot {
    slot.slot = Some(atlas.slots[item]);
    slot
}
