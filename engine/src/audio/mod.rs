//! Audio tracks: decode, trim, resample to 48 kHz stereo, mix with envelopes, feed the encoder.

/// An audio track could not be used.
#[derive(Debug, thiserror::Error)]
pub enum AudioError {
    #[error("{path}: {message}")]
    Track { path: String, message: String },
}
