//! [`RenderError`]: anything that stops a render, from every layer below (project, media,
//! compositor, encoder, audio), and whether trying again may help ([`RenderError::is_transient`]).

use crate::compositor::ComposeError;
use crate::media::AssetError;
use crate::project::ProjectError;

/// Anything that stops a render.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error(transparent)]
    Project(#[from] ProjectError),
    #[error("{path}: {source}")]
    Asset {
        path: String,
        #[source]
        source: AssetError,
    },
    #[error("GPU: {0}")]
    Gpu(String),
    #[error(transparent)]
    Encoder(#[from] crate::encoder::EncoderError),
    #[error(transparent)]
    Audio(#[from] crate::audio::AudioError),
    #[error("render cancelled")]
    Cancelled,
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid render request: {0}")]
    Request(String),
}

impl RenderError {
    /// Whether trying again may succeed (device loss, I/O hiccups, an encoder crash), as opposed to a
    /// problem with the project itself, which fails the same way every time.
    pub fn is_transient(&self) -> bool {
        match self {
            RenderError::Gpu(_) | RenderError::Io { .. } => true,
            RenderError::Encoder(e) => e.is_transient(),
            RenderError::Project(_)
            | RenderError::Asset { .. }
            | RenderError::Audio(_)
            | RenderError::Cancelled
            | RenderError::Request(_) => false,
        }
    }
}

impl From<ComposeError> for RenderError {
    fn from(e: ComposeError) -> Self {
        match e {
            ComposeError::Gpu(message) => RenderError::Gpu(message),
            ComposeError::Asset { path, source } => RenderError::Asset { path, source },
            ComposeError::Invalid(errors) => RenderError::Project(ProjectError::Invalid(errors)),
        }
    }
}
