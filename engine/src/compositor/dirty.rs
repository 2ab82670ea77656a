//! Dirty regions: when only part of a frame changed since the previous one (a card sliding over a
//! still background, a counter ticking), only that part is composed again and converted to YUV; the
//! frame texture and the YUV buffer keep the previous frame's pixels everywhere else.
//!
//! A record is unchanged when its GPU record (everything the shaders read), its pixel bounds and its
//! place in the stack equal the previous frame's. The region is the union of the old and new bounds of
//! every changed record, rounded out to the YUV pass's 8×2 pixel blocks. Inside it every record is
//! drawn again bottom up, clipped to it, starting from the background drawn as a solid rectangle:
//! the same shaders in the same order over the same starting colour, so the pixels are the ones a
//! full composition gives (tests compare whole renders both ways).
//!
//! Only frames that are one unclipped scene with an opaque background, no cross-fade, no video layer
//! and no caption on screen take part (video frames and caption states change what a record shows
//! without changing the record); any other frame is composed in full and starts the tracking again.

use super::draw::DrawList;
use super::layout::GpuLayer;
use super::pipelines::DrawKind;

/// Above this share of the frame, composing everything costs the same: the frame is drawn in full.
const MAX_SHARE: f64 = 0.6;

/// The previous frame as drawn, when it can be compared with.
#[derive(Default)]
pub struct DirtyTracker {
    previous: Option<Snapshot>,
}

#[derive(Debug, Clone, PartialEq)]
struct Snapshot {
    clear: [f32; 4],
    ids: Vec<(u32, u32)>,
    layers: Vec<GpuLayer>,
    bboxes: Vec<[u32; 4]>,
}

/// Which part of a frame to compose.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Region {
    /// All of it, the usual way.
    Full,
    /// Only this rectangle (x0, y0, x1, y1; multiples of 8 and 2, clamped to the YUV stride and the
    /// height), its background record included; empty when nothing changed.
    Part([u32; 4]),
}

impl DirtyTracker {
    /// Decides what frame `list` needs composed on a target that holds the previous frame, and
    /// remembers `list` for the next frame. `enabled: false` (previews, measurements) forgets it.
    pub fn plan(
        &mut self,
        list: &DrawList,
        enabled: bool,
        size: (u32, u32),
        stride: u32,
    ) -> Region {
        let current = enabled.then(|| snapshot(list)).flatten();
        let previous = std::mem::replace(&mut self.previous, current);
        let (Some(prev), Some(cur)) = (previous, self.previous.as_ref()) else {
            return Region::Full;
        };
        if prev.clear != cur.clear || prev.ids != cur.ids {
            return Region::Full;
        }
        let mut dirty: Option<[u32; 4]> = None;
        for i in 0..cur.layers.len() {
            if prev.layers[i] == cur.layers[i] && prev.bboxes[i] == cur.bboxes[i] {
                continue;
            }
            for b in [prev.bboxes[i], cur.bboxes[i]] {
                if b[2] > b[0] && b[3] > b[1] {
                    dirty = Some(match dirty {
                        None => b,
                        Some(d) => [
                            d[0].min(b[0]),
                            d[1].min(b[1]),
                            d[2].max(b[2]),
                            d[3].max(b[3]),
                        ],
                    });
                }
            }
        }
        let Some(d) = dirty else {
            return Region::Part([0, 0, 0, 0]);
        };
        // One pixel of margin for anti-aliasing, then whole YUV blocks (8 columns, 2 rows).
        let (w, h) = size;
        let x0 = d[0].saturating_sub(1) / 8 * 8;
        let y0 = d[1].saturating_sub(1) / 2 * 2;
        let x1 = (d[2] + 1).next_multiple_of(8).min(stride);
        let y1 = (d[3] + 1).next_multiple_of(2).min(h);
        let area = (x1.min(w) - x0) as f64 * (y1 - y0) as f64;
        if area > MAX_SHARE * w as f64 * h as f64 {
            return Region::Full;
        }
        Region::Part([x0, y0, x1, y1])
    }
}

/// The frame's single scene with its background record first, if the frame can take part.
fn snapshot(list: &DrawList) -> Option<Snapshot> {
    let single = list.segments.len() == 1
        && list.segments[0].scissor.is_none()
        && list.fade.is_none()
        && list.videos.is_empty()
        && list.captions.is_empty();
    let clear = list.clear[0]?;
    let range = list.segments.first()?.range.clone();
    // The background record (a full-frame solid rectangle) sits just below the segment: it became the
    // clear colour, and a region redraws it instead.
    if !single || clear[3] < 1.0 || range.start == 0 {
        return None;
    }
    let (start, end) = (range.start as usize - 1, range.end as usize);
    let bg = &list.layers[start];
    if list.ids[start].1 != 0 || bg.fill != clear || list.kind(start as u32) != DrawKind::Solid {
        return None;
    }
    Some(Snapshot {
        clear,
        ids: list.ids[start..end].to_vec(),
        layers: list.layers[start..end].to_vec(),
        bboxes: list.bboxes[start..end].to_vec(),
    })
}
