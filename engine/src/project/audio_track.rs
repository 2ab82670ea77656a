//! An audio track of the timeline (mixed by `audio/`).

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use super::one;

/// One audio track of the timeline (see the audio module for how it is mixed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AudioTrack {
    /// WAV, MP3, AAC/M4A, FLAC or Ogg Vorbis file, resolved like image sources.
    pub src: String,
    /// Seconds on the timeline where the track begins.
    #[serde(default)]
    pub start: f64,
    /// Seconds cut from the beginning of the source.
    #[serde(default)]
    pub trim_start: f64,
    /// Position in the source (seconds) where playback stops; default: the end of the source.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trim_end: Option<f64>,
    /// Gain, 0 to 4; default 1.
    #[serde(default = "one")]
    #[schemars(range(min = 0, max = 4))]
    pub volume: f64,
    #[serde(default)]
    pub fade_in: f64,
    #[serde(default)]
    pub fade_out: f64,
    /// Repeat the (trimmed) source until the end of the video.
    #[serde(default)]
    pub r#loop: bool,
}

impl AudioTrack {
    pub fn new(src: impl Into<String>) -> Self {
        AudioTrack {
            src: src.into(),
            start: 0.0,
            trim_start: 0.0,
            trim_end: None,
            volume: 1.0,
            fade_in: 0.0,
            fade_out: 0.0,
            r#loop: false,
        }
    }
}
