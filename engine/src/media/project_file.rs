//! Reading a project file from disk, the one file `project/` does not read itself.

use std::path::Path;

use crate::project::{Project, ProjectError};

impl Project {
    /// Reads and parses a project file.
    pub fn from_file(path: impl AsRef<Path>) -> Result<Project, ProjectError> {
        let path = path.as_ref();
        let json = std::fs::read_to_string(path).map_err(|e| ProjectError::Io {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        Project::from_json(&json)
    }
}
