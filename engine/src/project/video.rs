//! The video layer's project fields: their defaults, and the `fit` modes shared by image and video
//! layers (how a picture of one aspect ratio fills a box of another).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Layer;

/// Slowest allowed `speed` of a video layer (quarter speed).
pub const MIN_SPEED: f64 = 0.25;
/// Fastest allowed `speed` of a video layer (four times as fast).
pub const MAX_SPEED: f64 = 4.0;

/// How an image or video fills its layer's box (`width` × `height`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum Fit {
    /// Stretched to the box, aspect ratio ignored (the default; what image layers always did).
    #[default]
    Fill,
    /// Scaled to fit inside the box, aspect kept, centred; the rest of the box stays empty.
    Contain,
    /// Scaled to cover the box, aspect kept, centred; the overflow is cropped.
    Cover,
    /// Natural size, centred in the box; what does not fit is cropped.
    None,
}

/// Where a picture lands inside its layer box, and which part of it is shown.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FitPlacement {
    /// Drawn rectangle `[x, y, width, height]` in box pixels (origin: the box's top-left corner).
    pub dst: [f64; 4],
    /// Shown part of the picture as normalised texture coordinates `[u0, v0, u1, v1]`.
    pub uv: [f64; 4],
}

impl Fit {
    /// Places a `content_w` × `content_h` picture in a `box_w` × `box_h` box. Degenerate sizes
    /// (zero, negative, non-finite) give an empty `dst`.
    pub fn place(self, box_w: f64, box_h: f64, content_w: f64, content_h: f64) -> FitPlacement {
        let ok = |v: f64| v.is_finite() && v > 0.0;
        if !(ok(box_w) && ok(box_h) && ok(content_w) && ok(content_h)) {
            return FitPlacement {
                dst: [0.0; 4],
                uv: [0.0, 0.0, 1.0, 1.0],
            };
        }
        let scale = match self {
            Fit::Fill => {
                return FitPlacement {
                    dst: [0.0, 0.0, box_w, box_h],
                    uv: [0.0, 0.0, 1.0, 1.0],
                }
            }
            Fit::Contain => (box_w / content_w).min(box_h / content_h),
            Fit::Cover => (box_w / content_w).max(box_h / content_h),
            Fit::None => 1.0,
        };
        // One axis at a time: the scaled picture is centred; where it overflows the box it is
        // cropped symmetrically, where it is smaller it is drawn smaller.
        let axis = |boxed: f64, content: f64| -> (f64, f64, f64, f64) {
            let drawn = content * scale;
            if drawn <= boxed {
                ((boxed - drawn) / 2.0, drawn, 0.0, 1.0)
            } else {
                let shown = boxed / drawn;
                (0.0, boxed, (1.0 - shown) / 2.0, (1.0 + shown) / 2.0)
            }
        };
        let (x, w, u0, u1) = axis(box_w, content_w);
        let (y, h, v0, v1) = axis(box_h, content_h);
        FitPlacement {
            dst: [x, y, w, h],
            uv: [u0, v0, u1, v1],
        }
    }
}

impl Layer {
    /// `fit`, default [`Fit::Fill`].
    pub fn fit(&self) -> Fit {
        self.fit.unwrap_or_default()
    }

    /// `trimStart` in source seconds, default 0.
    pub fn trim_start(&self) -> f64 {
        self.trim_start.unwrap_or(0.0)
    }

    /// `speed`, default 1.
    pub fn speed(&self) -> f64 {
        self.speed.unwrap_or(1.0)
    }

    /// `loop`, default false.
    pub fn looped(&self) -> bool {
        self.looped.unwrap_or(false)
    }

    /// `volume`, default 1.
    pub fn volume(&self) -> f64 {
        self.volume.unwrap_or(1.0)
    }

    /// `muted`, default false.
    pub fn muted(&self) -> bool {
        self.muted.unwrap_or(false)
    }

    /// `fadeIn` in seconds, default 0.
    pub fn fade_in(&self) -> f64 {
        self.fade_in.unwrap_or(0.0)
    }

    /// `fadeOut` in seconds, default 0.
    pub fn fade_out(&self) -> f64 {
        self.fade_out.unwrap_or(0.0)
    }

    /// Builder: play the source from `trim_start` to `trim_end` seconds.
    pub fn trimmed(mut self, trim_start: f64, trim_end: Option<f64>) -> Self {
        self.trim_start = Some(trim_start);
        self.trim_end = trim_end;
        self
    }

    /// Builder: playback rate.
    pub fn at_speed(mut self, speed: f64) -> Self {
        self.speed = Some(speed);
        self
    }

    /// Builder: repeat the trimmed span.
    pub fn looping(mut self) -> Self {
        self.looped = Some(true);
        self
    }

    /// Builder: how the picture fills the box.
    pub fn fitted(mut self, fit: Fit) -> Self {
        self.fit = Some(fit);
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fit_modes_place_a_wide_picture_in_a_square_box() {
        // 200x100 picture in a 100x100 box.
        let p = Fit::Fill.place(100.0, 100.0, 200.0, 100.0);
        assert_eq!(p.dst, [0.0, 0.0, 100.0, 100.0]);
        assert_eq!(p.uv, [0.0, 0.0, 1.0, 1.0]);
        let p = Fit::Contain.place(100.0, 100.0, 200.0, 100.0);
        assert_eq!(p.dst, [0.0, 25.0, 100.0, 50.0]);
        assert_eq!(p.uv, [0.0, 0.0, 1.0, 1.0]);
        let p = Fit::Cover.place(100.0, 100.0, 200.0, 100.0);
        assert_eq!(p.dst, [0.0, 0.0, 100.0, 100.0]);
        assert_eq!(p.uv, [0.25, 0.0, 0.75, 1.0]);
        let p = Fit::None.place(100.0, 100.0, 200.0, 50.0);
        assert_eq!(p.dst, [0.0, 25.0, 100.0, 50.0]);
        assert_eq!(p.uv, [0.25, 0.0, 0.75, 1.0]);
        let p = Fit::Cover.place(0.0, 100.0, 200.0, 100.0);
        assert_eq!(p.dst, [0.0; 4]);
    }

    #[test]
    fn fit_parses_lowercase_names() {
        for (s, f) in [
            ("fill", Fit::Fill),
            ("contain", Fit::Contain),
            ("cover", Fit::Cover),
            ("none", Fit::None),
        ] {
            assert_eq!(serde_json::from_str::<Fit>(&format!("\"{s}\"")).unwrap(), f);
        }
        assert!(serde_json::from_str::<Fit>("\"stretch\"").is_err());
    }
}
