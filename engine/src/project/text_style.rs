//! How text looks beyond colour and size: font families (one or a fallback chain), weight and style,
//! project fonts, the background box behind text, vertical alignment, and caption cues with their
//! word highlight.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::Color;

/// A font shipped with the project: a TTF/OTF (or WOFF/WOFF2) file resolved like media (`src`), optionally known
/// under another family name (`family`) than the one inside the file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FontSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    pub src: String,
}

/// `font`: one family name or a fallback chain (CSS `font-family` style), tried in order for each
/// character; characters none of them has fall back through every loaded font.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FontFamilies {
    One(String),
    Chain(Vec<String>),
}

impl FontFamilies {
    pub fn names(&self) -> &[String] {
        match self {
            FontFamilies::One(s) => std::slice::from_ref(s),
            FontFamilies::Chain(v) => v,
        }
    }
}

impl From<&str> for FontFamilies {
    fn from(s: &str) -> Self {
        FontFamilies::One(s.to_string())
    }
}

/// `fontWeight`: 1–1000 (400 normal, 700 bold) or `"normal"` / `"bold"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(untagged)]
pub enum FontWeight {
    Number(u16),
    Keyword(WeightKeyword),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum WeightKeyword {
    Normal,
    Bold,
}

impl FontWeight {
    pub fn value(self) -> u16 {
        match self {
            FontWeight::Number(n) => n,
            FontWeight::Keyword(WeightKeyword::Normal) => 400,
            FontWeight::Keyword(WeightKeyword::Bold) => 700,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum FontStyle {
    #[default]
    Normal,
    Italic,
    Oblique,
}

/// Where text sits in a layer taller than the text (`height` given).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum VerticalAlign {
    #[default]
    Top,
    Middle,
    Bottom,
}

impl VerticalAlign {
    pub fn fraction(self) -> f64 {
        match self {
            VerticalAlign::Top => 0.0,
            VerticalAlign::Middle => 0.5,
            VerticalAlign::Bottom => 1.0,
        }
    }
}

/// A box drawn behind the text's lines: `padding` pixels around them, rounded corners.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TextBackground {
    pub color: Color,
    /// Pixels around the text; default 8.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 1000))]
    pub padding: Option<f64>,
    /// Pixels; default 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub corner_radius: Option<f64>,
}

/// Word highlight of captions: the word being spoken drawn in `color` and/or on a `background`
/// box. At least one of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Highlight {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub color: Option<Color>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub background: Option<Color>,
}

/// One caption: seconds relative to the layer's start, its text, and optionally when each of its
/// words (whitespace-separated) starts; without `words` a cue's time is split evenly among them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Cue {
    #[schemars(range(min = 0))]
    pub start: f64,
    #[schemars(range(min = 0))]
    pub end: f64,
    pub text: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub words: Vec<CueWord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CueWord {
    pub text: String,
    pub start: f64,
}

impl Cue {
    /// Byte ranges of the cue's words (whitespace-separated) in `text`.
    pub fn word_ranges(&self) -> Vec<std::ops::Range<usize>> {
        let mut out = Vec::new();
        let mut start = None;
        for (i, ch) in self.text.char_indices() {
            match (ch.is_whitespace(), start) {
                (true, Some(s)) => {
                    out.push(s..i);
                    start = None;
                }
                (false, None) => start = Some(i),
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push(s..self.text.len());
        }
        out
    }

    /// When each word starts: the `words` timestamps, else an even split of the cue.
    pub fn word_starts(&self) -> Vec<f64> {
        let n = self.word_ranges().len();
        if self.words.len() == n && n > 0 {
            return self.words.iter().map(|w| w.start).collect();
        }
        let step = (self.end - self.start) / n.max(1) as f64;
        (0..n).map(|k| self.start + k as f64 * step).collect()
    }
}
