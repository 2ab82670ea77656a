//! Keyframed animations of a layer's properties, and their easing curves (evaluated in
//! `timeline/`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A keyframed property change from `from` to `to` between `start` and `end` seconds of the composition.
///
/// Several animations of one property play in order. Before the first one starts the property holds its
/// `from`, between and after them the last `to` (CSS `animation-fill-mode: both`). A property without
/// animations keeps the layer's static value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Animation {
    pub property: AnimatedProperty,
    pub from: f64,
    pub to: f64,
    pub start: f64,
    pub end: f64,
    #[serde(default)]
    pub easing: Easing,
}

impl Animation {
    pub fn new(property: AnimatedProperty, from: f64, to: f64, start: f64, end: f64) -> Self {
        Animation {
            property,
            from,
            to,
            start,
            end,
            easing: Easing::Linear,
        }
    }

    pub fn eased(mut self, easing: Easing) -> Self {
        self.easing = easing;
        self
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum AnimatedProperty {
    X,
    Y,
    Scale,
    Rotation,
    Opacity,
}

/// Easing curves; the named ones are the CSS cubic-bezier curves of the same name.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Easing {
    #[default]
    Linear,
    EaseIn,
    EaseOut,
    EaseInOut,
    /// `{"cubicBezier": [x1, y1, x2, y2]}` with x1, x2 in 0..=1.
    CubicBezier([f64; 4]),
}
