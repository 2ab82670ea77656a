//! Why a project could not be used: [`ProjectError`] (unreadable, not JSON of the format, invalid,
//! merge fields without values). Never worth retrying.

use super::ValidationError;

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
    Merge(#[from] super::MergeError),
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
