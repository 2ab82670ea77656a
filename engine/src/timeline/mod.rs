//! The timeline: which compositions are on screen at frame *n*, and every layer's animated properties
//! at that moment. Pure CPU arithmetic, no GPU; the compositor turns its output into pixels.

mod easing;

use crate::project::{AnimatedProperty, Composition, Layer, Project, TransitionKind};

/// Where a composition sits on the timeline.
#[derive(Debug, Clone, Copy)]
struct Span {
    start: f64,
    duration: f64,
}

/// The project's compositions laid out in time.
#[derive(Debug, Clone)]
pub struct Timeline {
    spans: Vec<Span>,
    frame_rate: f64,
    total_frames: u64,
    duration: f64,
}

/// A composition visible at some instant, with its local time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SceneTime {
    pub composition: usize,
    /// Seconds since the composition began.
    pub local: f64,
}

/// A transition in progress: `from` is leaving, `to` is entering.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ActiveTransition {
    pub kind: TransitionKind,
    /// Eased progress 0..1.
    pub progress: f64,
    pub from: SceneTime,
}

/// What is on screen at one frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FrameScene {
    /// The frontmost (newest) composition.
    pub scene: SceneTime,
    pub transition: Option<ActiveTransition>,
}

/// A layer's animated properties at one instant.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LayerState {
    pub x: f64,
    pub y: f64,
    pub scale: f64,
    pub rotation: f64,
    pub opacity: f64,
}

impl Timeline {
    /// Lays out a validated project. Composition *k* with a transition starts that many seconds before
    /// composition *k − 1* ends.
    pub fn new(project: &Project) -> Timeline {
        let fps = project.frame_rate;
        let mut spans = Vec::with_capacity(project.frames.len());
        let mut cursor = 0.0f64;
        for comp in &project.frames {
            let duration = comp.duration.unwrap_or(1.0 / fps);
            let overlap = comp.transition.as_ref().map_or(0.0, |t| t.duration);
            let start = (cursor - overlap).max(0.0);
            spans.push(Span { start, duration });
            cursor = start + duration;
        }
        let duration = cursor;
        // A frame exists for every frame start before the end; rounding keeps 5 s × 30 fps = 150.
        let total_frames = ((duration * fps) - 1e-6).ceil().max(1.0) as u64;
        Timeline {
            spans,
            frame_rate: fps,
            total_frames,
            duration,
        }
    }

    pub fn total_frames(&self) -> u64 {
        self.total_frames
    }

    pub fn frame_rate(&self) -> f64 {
        self.frame_rate
    }

    /// Seconds of video.
    pub fn duration(&self) -> f64 {
        self.total_frames as f64 / self.frame_rate
    }

    /// Seconds covered by the compositions (the video may round it up to whole frames).
    pub fn content_duration(&self) -> f64 {
        self.duration
    }

    /// Timeline seconds at which composition `k` begins (None past the last one).
    pub fn composition_start(&self, k: usize) -> Option<f64> {
        self.spans.get(k).map(|s| s.start)
    }

    /// Timeline seconds at which frame `n` is sampled.
    pub fn time_of(&self, frame: u64) -> f64 {
        frame as f64 / self.frame_rate
    }

    /// What is on screen at frame `n`.
    pub fn scene_at(&self, project: &Project, frame: u64) -> FrameScene {
        let t = self.time_of(frame);
        // The newest composition that has started, clamped to the last one (rounding at the end).
        let k = self
            .spans
            .iter()
            .rposition(|s| s.start <= t + 1e-9)
            .unwrap_or(0);
        let span = self.spans[k];
        let scene = SceneTime {
            composition: k,
            local: (t - span.start).clamp(0.0, span.duration),
        };
        let transition = project.frames[k].transition.as_ref().and_then(|tr| {
            let into = t - span.start;
            if k == 0 || tr.duration <= 0.0 || into >= tr.duration {
                return None;
            }
            let prev = self.spans[k - 1];
            Some(ActiveTransition {
                kind: tr.kind,
                progress: tr.easing.apply(into / tr.duration),
                from: SceneTime {
                    composition: k - 1,
                    local: (t - prev.start).clamp(0.0, prev.duration),
                },
            })
        });
        FrameScene { scene, transition }
    }
}

impl Composition {
    /// The duration in seconds (one frame when absent).
    pub fn duration_at(&self, frame_rate: f64) -> f64 {
        self.duration.unwrap_or(1.0 / frame_rate)
    }
}

impl Layer {
    /// Whether the layer is shown at `local` seconds into a composition lasting `comp_duration`.
    pub fn visible_at(&self, local: f64, comp_duration: f64) -> bool {
        let start = self.start.unwrap_or(0.0);
        let end = self.end.unwrap_or(comp_duration.max(start) + 1.0);
        local + 1e-9 >= start && local < end - 1e-9
    }

    /// The animated properties at `local` seconds into the composition.
    pub fn state_at(&self, local: f64) -> LayerState {
        LayerState {
            x: self.property_at(AnimatedProperty::X, self.x, local),
            y: self.property_at(AnimatedProperty::Y, self.y, local),
            scale: self.property_at(AnimatedProperty::Scale, self.scale, local),
            rotation: self.property_at(AnimatedProperty::Rotation, self.rotation, local),
            opacity: self
                .property_at(AnimatedProperty::Opacity, self.opacity, local)
                .clamp(0.0, 1.0),
        }
    }

    /// The value of one property: the static value without animations, else `animation-fill-mode: both`.
    pub fn property_at(&self, property: AnimatedProperty, base: f64, local: f64) -> f64 {
        let mut value = None;
        let mut first: Option<(f64, f64)> = None; // (start, from) of the earliest animation
        for a in self.animations.iter().filter(|a| a.property == property) {
            if first.is_none_or(|(s, _)| a.start < s) {
                first = Some((a.start, a.from));
            }
            if local >= a.start {
                let t = if a.end > a.start {
                    (local - a.start) / (a.end - a.start)
                } else {
                    1.0
                };
                let v = a.from + (a.to - a.from) * a.easing.apply(t);
                // The latest animation that has started wins (validation forbids overlaps).
                match value {
                    Some((s, _)) if s > a.start => {}
                    _ => value = Some((a.start, v)),
                }
            }
        }
        match (value, first) {
            (Some((_, v)), _) => v,
            (None, Some((_, from))) => from,
            (None, None) => base,
        }
    }

    /// The largest scale this layer reaches, to rasterise text and size images sharply.
    pub fn max_scale(&self) -> f64 {
        self.animations
            .iter()
            .filter(|a| a.property == AnimatedProperty::Scale)
            .flat_map(|a| {
                // Easing curves may overshoot (y outside 0..1); sample them.
                (0..=16).map(move |i| a.from + (a.to - a.from) * a.easing.apply(i as f64 / 16.0))
            })
            .fold(self.scale, f64::max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::project::{Animation, Easing, Layer, Project};

    fn project(durations: &[(f64, Option<f64>)]) -> Project {
        let mut p = Project::new(64, 64, 30.0);
        for &(d, tr) in durations {
            let mut c = Composition::new(d);
            if let Some(t) = tr {
                c = c.transition(TransitionKind::Fade, t);
            }
            p.frames.push(c);
        }
        p
    }

    #[test]
    fn frame_counts_and_overlaps() {
        let p = project(&[(5.0, None), (5.0, Some(0.5))]);
        let tl = Timeline::new(&p);
        assert_eq!(tl.total_frames(), 285); // 9.5 s × 30
        let s = tl.scene_at(&p, 150 - 15); // 4.5 s: the fade begins
        assert_eq!(s.scene.composition, 1);
        let tr = s.transition.unwrap();
        assert_eq!(tr.from.composition, 0);
        assert!(tr.progress.abs() < 1e-9);
        let s = tl.scene_at(&p, 150); // 5.0 s: fade finished
        assert!(s.transition.is_none());
        assert_eq!(tl.scene_at(&p, 284).scene.composition, 1);
        // A single-frame composition.
        let p = project(&[(1.0 / 30.0, None)]);
        assert_eq!(Timeline::new(&p).total_frames(), 1);
    }

    #[test]
    fn animation_fill_both() {
        let l = Layer::text("x")
            .at(10.0, 0.0)
            .animate(Animation::new(AnimatedProperty::X, 100.0, 200.0, 1.0, 2.0))
            .animate(
                Animation::new(AnimatedProperty::X, 300.0, 400.0, 3.0, 4.0).eased(Easing::EaseIn),
            );
        assert_eq!(l.property_at(AnimatedProperty::X, l.x, 0.0), 100.0);
        assert_eq!(l.property_at(AnimatedProperty::X, l.x, 1.5), 150.0);
        assert_eq!(l.property_at(AnimatedProperty::X, l.x, 2.5), 200.0);
        assert_eq!(l.property_at(AnimatedProperty::X, l.x, 9.0), 400.0);
        assert_eq!(l.property_at(AnimatedProperty::Y, l.y, 1.5), 0.0);
    }
}
