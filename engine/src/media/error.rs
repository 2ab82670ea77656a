//! Why a media file could not be used: [`AssetError`] for a project source (not found, refused,
//! undecodable), [`VideoError`] for a clip that `ffmpeg`/`ffprobe` cannot read. Every message names
//! the file.

/// A media file could not be used.
#[derive(Debug, Clone, thiserror::Error)]
pub enum AssetError {
    #[error("`{src}`: {reason}")]
    Rejected { src: String, reason: String },
    #[error("`{src}`: file not found")]
    NotFound { src: String },
    #[error("`{src}`: cannot decode {what}: {reason}")]
    Corrupt {
        src: String,
        what: &'static str,
        reason: String,
    },
}

/// A video file could not be used. Every message names the file.
#[derive(Debug, Clone, thiserror::Error)]
pub enum VideoError {
    /// `ffmpeg`/`ffprobe` could not be started.
    #[error("cannot run {program}: {reason}")]
    Spawn { program: String, reason: String },
    /// The file is not a video we can read (probe failed, no video stream, unknown codec).
    #[error("`{file}`: not a usable video: {reason}")]
    Unsupported { file: String, reason: String },
    /// The file is a video but its contents are broken (no frames, truncated, decode failure).
    #[error("`{file}`: cannot decode video: {reason}")]
    Corrupt { file: String, reason: String },
    /// Reading the decoder's output failed.
    #[error("`{file}`: {reason}")]
    Io { file: String, reason: String },
}

impl VideoError {
    /// The file (or program) the error is about.
    pub fn file(&self) -> &str {
        match self {
            VideoError::Spawn { program, .. } => program,
            VideoError::Unsupported { file, .. }
            | VideoError::Corrupt { file, .. }
            | VideoError::Io { file, .. } => file,
        }
    }

    /// The reason alone, without the file name.
    pub fn reason(&self) -> String {
        match self {
            VideoError::Spawn { program, reason } => format!("cannot run {program}: {reason}"),
            VideoError::Unsupported { reason, .. } => reason.clone(),
            VideoError::Corrupt { reason, .. } => reason.clone(),
            VideoError::Io { reason, .. } => reason.clone(),
        }
    }

    /// As the engine's asset error for the project source `src`, so that a render reports
    /// `frames[i].layers[j].src: `clip.mp4`: cannot decode video: ...` like images do.
    pub fn to_asset_error(&self, src: &str) -> AssetError {
        AssetError::Corrupt {
            src: src.to_string(),
            what: "video",
            reason: self.reason(),
        }
    }
}
