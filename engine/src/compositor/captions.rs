//! Captions layers. Every distinct state of a layer (a cue, or a cue with one word highlighted) is
//! shaped and measured before the first frame (so characters no font can draw are reported up
//! front), and one atlas slot as large as the largest state is reserved. During the render a state
//! is drawn into the slot when it comes on screen — once per cue or word change, never per frame —
//! so a captioned video holds one caption raster however long it is, and the static-layer cache
//! holds while a state stays up.

use std::collections::HashMap;
use std::sync::Mutex;

use super::atlas::{AtlasItem, AtlasSlot};
use super::gpu::Gpu;
use super::layout::GpuLayer;
use super::text::{Measured, TextJob, TextSystem};
use super::ComposeError;
use crate::project::{Cue, Layer};

/// One state on the layer's timeline, before the atlas is packed: shown from `from` to `to`
/// seconds after the layer's start.
pub(super) struct TimedItem {
    pub from: f64,
    pub to: f64,
    pub state: usize,
    pub raster: (u32, u32),
    pub box_size: (f64, f64),
    pub content: [f64; 4],
}

/// A state on the layer's timeline with its record template (the slot's top-left part).
#[derive(Debug, Clone)]
pub(crate) struct TimedSource {
    pub from: f64,
    pub to: f64,
    /// (index into [`super::Scene`]'s caption slots, state in that slot).
    pub caption: (usize, usize),
    pub box_size: (f64, f64),
    pub content: [f64; 4],
    pub raster: (u32, u32),
    pub template: GpuLayer,
}

/// A captions layer's atlas slot and what it needs to draw its states.
pub(crate) struct CaptionSlot {
    /// The layer with the captions' defaults filled in.
    style: Layer,
    chain: Vec<String>,
    /// Each distinct state: its text, highlighted word (byte range) and JSON path for errors.
    states: Vec<(String, Option<std::ops::Range<usize>>, String)>,
    raster_scale: f64,
    /// Where in the atlas (set once packed).
    pub slot: Option<AtlasSlot>,
    shown: Option<usize>,
    /// The last raster copied in, kept until the next one replaces it.
    _last: Option<wgpu::Texture>,
}

/// The state on screen `t` seconds after the layer's start: the latest-starting one that covers
/// `t` (`timed` is sorted by `from`).
pub(super) fn active(timed: &[TimedSource], t: f64) -> Option<&TimedSource> {
    let n = timed.partition_point(|s| s.from <= t + 1e-9);
    timed[..n].iter().rev().find(|s| t < s.to - 1e-9)
}

/// Measures every state of a captions layer and reserves its atlas slot (appended to `items`).
#[allow(clippy::too_many_arguments)]
pub(super) fn prepare(
    gpu: &Gpu,
    ts: &mut TextSystem,
    chain: Vec<String>,
    layer: &Layer,
    cues: &[Cue],
    path: &str,
    frame_width: u32,
    items: &mut Vec<AtlasItem>,
) -> Result<(CaptionSlot, usize, Vec<TimedItem>), ComposeError> {
    // Captions wrap at 90 % of the frame unless the layer says otherwise.
    let mut style = layer.clone();
    if style.max_width.is_none() && style.width.is_none() {
        style.max_width = Some((frame_width as f64 * 0.9).round());
    }
    let raster_scale = layer.max_scale().clamp(1.0, 4.0);
    let max_side = gpu.max_texture_side - 8;
    let mut known: HashMap<(&str, Option<usize>), (usize, Measured)> = HashMap::new();
    let mut states = Vec::new();
    let mut out = Vec::new();
    let mut slot_size = (1u32, 1u32);
    for (ci, cue) in cues.iter().enumerate() {
        let mut spans: Vec<(f64, f64, Option<usize>)> = Vec::new();
        if layer.highlight.is_some() {
            let starts = cue.word_starts();
            for (k, &s) in starts.iter().enumerate() {
                let e = starts.get(k + 1).copied().unwrap_or(cue.end);
                if e > s {
                    spans.push((s, e, Some(k)));
                }
            }
        }
        if spans.is_empty() {
            spans.push((cue.start, cue.end, None));
        }
        let words = cue.word_ranges();
        for (from, to, word) in spans {
            let key = (cue.text.as_str(), word);
            let (state, m) = match known.get(&key) {
                Some(&v) => v,
                None => {
                    let cue_path = format!("{path}.cues[{ci}]");
                    let highlight = word.and_then(|k| words.get(k).cloned());
                    let job = TextJob {
                        text: &cue.text,
                        chain: &chain,
                        highlight: highlight.clone(),
                        path: &cue_path,
                    };
                    let m = ts.measure(&style, &job, raster_scale, max_side)?;
                    slot_size = (slot_size.0.max(m.raster.0), slot_size.1.max(m.raster.1));
                    states.push((cue.text.clone(), highlight, cue_path));
                    let v = (states.len() - 1, m);
                    known.insert(key, v);
                    v
                }
            };
            out.push(TimedItem {
                from,
                to,
                state,
                raster: m.raster,
                box_size: m.box_size,
                content: m.content,
            });
        }
    }
    out.sort_by(|a, b| a.from.total_cmp(&b.from));
    items.push(AtlasItem::Pixels {
        width: slot_size.0,
        height: slot_size.1,
        data: vec![0; slot_size.0 as usize * slot_size.1 as usize * 4],
    });
    let slot = CaptionSlot {
        style,
        chain,
        states,
        raster_scale,
        slot: None,
        shown: None,
        _last: None,
    };
    Ok((slot, items.len() - 1, out))
}

/// Draws the wanted state of each caption slot on screen into the atlas, where it changed.
pub(super) fn show(
    gpu: &Gpu,
    text: &Mutex<TextSystem>,
    slots: &Mutex<Vec<CaptionSlot>>,
    atlas: &wgpu::Texture,
    encoder: &mut wgpu::CommandEncoder,
    wanted: &[(usize, usize)],
) -> Result<(), ComposeError> {
    let mut slots = slots.lock().unwrap_or_else(|e| e.into_inner());
    for &(i, state) in wanted {
        let c = &mut slots[i];
        if c.shown == Some(state) {
            continue;
        }
        let Some(slot) = c.slot else { continue };
        let (text_s, highlight, path) = &c.states[state];
        let job = TextJob {
            text: text_s,
            chain: &c.chain,
            highlight: highlight.clone(),
            path,
        };
        let r = text.lock().unwrap_or_else(|e| e.into_inner()).rasterize(
            &gpu.device,
            &gpu.queue,
            &c.style,
            &job,
            c.raster_scale,
            gpu.max_texture_side - 8,
        )?;
        encoder.copy_texture_to_texture(
            wgpu::TexelCopyTextureInfo {
                texture: &r.texture,
                mip_level: 0,
                origin: wgpu::Origin3d::ZERO,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyTextureInfo {
                texture: atlas,
                mip_level: 0,
                origin: wgpu::Origin3d {
                    x: slot.x,
                    y: slot.y,
                    z: slot.page,
                },
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::Extent3d {
                width: r.width.min(slot.width),
                height: r.height.min(slot.height),
                depth_or_array_layers: 1,
            },
        );
        c.shown = Some(state);
        c._last = Some(r.texture);
    }
    Ok(())
}
