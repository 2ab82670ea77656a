//! A temporary folder removed when dropped (the downloaded `s3://` media of a validation or a
//! preview). The folder may be created after the guard, or never.

use std::path::{Path, PathBuf};

/// Removes its folder, and everything in it, when dropped.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// Guards `path` (not created here).
    pub fn new(path: PathBuf) -> TempDir {
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if self.0.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.0) {
                tracing::warn!(path = %self.0.display(), error = %e, "cannot remove temporary folder");
            }
        }
    }
}
