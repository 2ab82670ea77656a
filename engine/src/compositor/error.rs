//! [`ComposeError`]: why the compositor could not prepare or draw a frame: the GPU failed, a media
//! file could not be used, or the project asks for something the compositor cannot do (an unknown
//! font). The render turns it into its own error with the same message.

use crate::media::AssetError;
use crate::project::ValidationError;

/// The compositor failed.
#[derive(Debug, thiserror::Error)]
pub enum ComposeError {
    #[error("GPU: {0}")]
    Gpu(String),
    /// A media file at JSON path `path` (`frames[i].layers[j].src`, `fonts[i].src`).
    #[error("{path}: {source}")]
    Asset {
        path: String,
        #[source]
        source: AssetError,
    },
    /// Problems with the project found while preparing it (each at its JSON path).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<ValidationError>),
}
