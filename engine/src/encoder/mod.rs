//! Encoders: raw YUV 4:2:0 frames in, an encoded video file out.

/// The encoder failed.
#[derive(Debug, thiserror::Error)]
pub enum EncoderError {
    #[error("ffmpeg was not found on PATH; install it (Debian: apt-get install ffmpeg)")]
    FfmpegMissing,
    #[error("encoder: {0}")]
    Failed(String),
}

impl EncoderError {
    pub fn is_transient(&self) -> bool {
        matches!(self, EncoderError::Failed(_))
    }
}
