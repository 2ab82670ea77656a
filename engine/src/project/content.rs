//! Typed content per layer kind: what a validated [`Layer`] draws, viewed once as its kind's own
//! fields ([`LayerContent`]). The wire format stays one flat `Layer` (serde's `deny_unknown_fields`
//! does not combine with `flatten` or internally tagged enums); code past validation asks for the
//! content instead of picking optional fields that its kind happens to use.

use super::{Cue, Fill, Fit, Layer, LayerKind, ShapeKind, Stroke};

/// A layer's content, by kind. Borrowed from the layer; the common fields (position, size,
/// animations, blend) and the text style stay on the [`Layer`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum LayerContent<'a> {
    Image(ImageContent<'a>),
    Video(VideoContent<'a>),
    Text(TextContent<'a>),
    Captions(CaptionsContent<'a>),
    Shape(ShapeContent<'a>),
}

/// An image layer: the picture's source and how it fills the box.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ImageContent<'a> {
    pub src: &'a str,
    pub fit: Fit,
}

/// A video layer: the clip's source and how it fills the box (its timing: `video::ClipTiming`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VideoContent<'a> {
    pub src: &'a str,
    pub fit: Fit,
}

/// A text layer: its text (the style is the layer's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TextContent<'a> {
    pub text: &'a str,
}

/// Where a captions layer's cues come from.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum CaptionSource<'a> {
    /// An SRT or WebVTT file.
    File(&'a str),
    /// Cues written in the project.
    Inline(&'a [Cue]),
}

/// A captions layer: its cues' source (the style is the layer's).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CaptionsContent<'a> {
    pub source: CaptionSource<'a>,
}

/// A shape layer: geometry, fill and stroke.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ShapeContent<'a> {
    pub shape: ShapeKind,
    pub width: f64,
    pub height: f64,
    pub corner_radius: Option<f64>,
    pub fill: Option<&'a Fill>,
    pub stroke: Option<&'a Stroke>,
}

impl Layer {
    /// The layer's content as its kind's fields. Meant for validated layers: a field validation
    /// requires and that is missing reads as empty (no source, no text, a zero-size rectangle).
    pub fn content(&self) -> LayerContent<'_> {
        let src = self.src.as_deref().unwrap_or_default();
        let fit = self.fit.unwrap_or_default();
        match self.kind {
            LayerKind::Image => LayerContent::Image(ImageContent { src, fit }),
            LayerKind::Video => LayerContent::Video(VideoContent { src, fit }),
            LayerKind::Text => LayerContent::Text(TextContent {
                text: self.text.as_deref().unwrap_or(""),
            }),
            LayerKind::Captions => LayerContent::Captions(CaptionsContent {
                source: match (&self.src, &self.cues) {
                    (Some(file), _) => CaptionSource::File(file),
                    (None, cues) => CaptionSource::Inline(cues.as_deref().unwrap_or_default()),
                },
            }),
            LayerKind::Shape => LayerContent::Shape(ShapeContent {
                shape: self.shape.unwrap_or(ShapeKind::Rect),
                width: self.width.unwrap_or(0.0),
                height: self.height.unwrap_or(0.0),
                corner_radius: self.corner_radius,
                fill: self.fill.as_ref(),
                stroke: self.stroke.as_ref(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_reads_its_own_fields() {
        let l = Layer::image("a.png");
        assert_eq!(
            l.content(),
            LayerContent::Image(ImageContent {
                src: "a.png",
                fit: Fit::default()
            })
        );
        let l: Layer = serde_json::from_value(serde_json::json!(
            {"type": "video", "src": "c.mp4", "fit": "cover"}
        ))
        .unwrap();
        assert_eq!(
            l.content(),
            LayerContent::Video(VideoContent {
                src: "c.mp4",
                fit: Fit::Cover
            })
        );
        assert_eq!(
            Layer::text("hi").content(),
            LayerContent::Text(TextContent { text: "hi" })
        );
        let cues = vec![Cue {
            start: 0.0,
            end: 1.0,
            text: "one".into(),
            words: Vec::new(),
        }];
        let l = Layer::captions(cues.clone());
        assert_eq!(
            l.content(),
            LayerContent::Captions(CaptionsContent {
                source: CaptionSource::Inline(&cues)
            })
        );
        let mut file = l.clone();
        file.cues = None;
        file.src = Some("subs.srt".into());
        assert_eq!(
            file.content(),
            LayerContent::Captions(CaptionsContent {
                source: CaptionSource::File("subs.srt")
            })
        );
        let red: Fill = "#ff0000".parse::<super::super::Color>().unwrap().into();
        let l = Layer::shape(ShapeKind::Ellipse, 30.0, 20.0, red.clone());
        assert_eq!(
            l.content(),
            LayerContent::Shape(ShapeContent {
                shape: ShapeKind::Ellipse,
                width: 30.0,
                height: 20.0,
                corner_radius: None,
                fill: Some(&red),
                stroke: None,
            })
        );
    }
}
