//! Error types of the engine. Each says what went wrong and where (a JSON path or a file).

pub use crate::media::AssetError;
use crate::project::ValidationError;

/// The project could not be read, parsed or validated. Never worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("{}", fmt_parse(path, message))]
    Parse { path: String, message: String },
    #[error("cannot read project file {path}: {message}")]
    Io { path: String, message: String },
    #[error("{}", fmt_invalid(.0))]
    Invalid(Vec<ValidationError>),
    /// Merge fields without a value, or values that do not fit.
    #[error(transparent)]
    Merge(#[from] crate::project::MergeError),
}

fn fmt_parse(path: &str, message: &str) -> String {
    if path.is_empty() {
        format!("invalid project JSON: {message}")
    } else {
        format!("{path}: {message}")
    }
}

fn fmt_invalid(errors: &[ValidationError]) -> String {
    let mut s = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            s.push_str("; ");
        }
        s.push_str(&e.to_string());
    }
    s
}

impl ProjectError {
    /// Each problem as (JSON path, message), for APIs that report them one by one.
    pub fn details(&self) -> Vec<ValidationError> {
        match self {
            ProjectError::Parse { path, message } => {
                vec![ValidationError {
                    path: path.clone(),
                    message: message.clone(),
                }]
            }
            ProjectError::Io { path, message } => {
                vec![ValidationError {
                    path: String::new(),
                    message: format!("{path}: {message}"),
                }]
            }
            ProjectError::Invalid(errors) => errors.clone(),
            ProjectError::Merge(e) => e
                .details()
                .into_iter()
                .map(|(path, message)| ValidationError { path, message })
                .collect(),
        }
    }
}

impl From<Vec<ValidationError>> for ProjectError {
    fn from(errors: Vec<ValidationError>) -> Self {
        ProjectError::Invalid(errors)
    }
}

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
