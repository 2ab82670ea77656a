//! `s3://bucket/key` media sources in projects. The engine reads local files only (it stays sync and
//! file-based), so the service checks these URLs when a project is stored, downloads them into the
//! job's scratch folder before rendering and points the project at the copies.

use std::collections::HashMap;
use std::path::Path;

use vrender_engine::{Project, ValidationError};

use super::{S3Url, Storage, StorageError};
use crate::config::Settings;

/// Why `s3://` sources could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// A source is refused or names an object that does not exist (the caller's mistake: 422 at that
    /// field; a render fails without retry).
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
    /// S3 or the local disk failed (worth a retry).
    #[error("{path}: {source}")]
    Storage {
        path: String,
        #[source]
        source: StorageError,
    },
}

/// Whether `src` is meant as an S3 URL (any case of the scheme, so `S3://` gets a clear error).
fn is_s3(src: &str) -> bool {
    src.get(..5)
        .is_some_and(|p| p.eq_ignore_ascii_case("s3://"))
}

/// Every media source of a project with its JSON path.
fn sources_mut(project: &mut Project) -> Vec<(String, &mut String)> {
    let mut out = Vec::new();
    for (i, frame) in project.frames.iter_mut().enumerate() {
        for (j, layer) in frame.layers.iter_mut().enumerate() {
            if let Some(src) = layer.src.as_mut() {
                out.push((format!("frames[{i}].layers[{j}].src"), src));
            }
        }
    }
    for (i, track) in project.audio_tracks.iter_mut().enumerate() {
        out.push((format!("audioTracks[{i}].src"), &mut track.src));
    }
    for (i, font) in project.fonts.iter_mut().enumerate() {
        out.push((format!("fonts[{i}].src"), &mut font.src));
    }
    out
}

fn sources(project: &Project) -> Vec<(String, &str)> {
    let mut out = Vec::new();
    for (i, frame) in project.frames.iter().enumerate() {
        for (j, layer) in frame.layers.iter().enumerate() {
            if let Some(src) = layer.src.as_deref() {
                out.push((format!("frames[{i}].layers[{j}].src"), src));
            }
        }
    }
    for (i, track) in project.audio_tracks.iter().enumerate() {
        out.push((format!("audioTracks[{i}].src"), track.src.as_str()));
    }
    for (i, font) in project.fonts.iter().enumerate() {
        out.push((format!("fonts[{i}].src"), font.src.as_str()));
    }
    out
}

/// Whether the project has `s3://` sources.
pub fn has_s3_sources(project: &Project) -> bool {
    sources(project).iter().any(|(_, s)| is_s3(s))
}

/// Checks the form of every `s3://` source and that its bucket is allowed (`S3_ASSET_BUCKETS`,
/// default the output bucket; none without S3 storage). One error per refused source.
pub fn check(project: &Project, settings: &Settings) -> Vec<ValidationError> {
    let mut errors = Vec::new();
    for (path, src) in sources(project) {
        if !is_s3(src) {
            continue;
        }
        let message = match S3Url::parse(src) {
            Err(why) => format!("malformed S3 URL: {why}"),
            Ok(_) if settings.s3_bucket.is_none() => {
                "s3:// sources need S3 storage (S3_BUCKET is not set on this service)".to_string()
            }
            Ok(url) if !settings.s3.asset_buckets.contains(&url.bucket) => format!(
                "bucket `{}` is not allowed for assets (allowed: {})",
                url.bucket,
                settings.s3.asset_buckets.join(", ")
            ),
            Ok(_) => continue,
        };
        errors.push(ValidationError { path, message });
    }
    errors
}

/// Downloads the project's `s3://` sources into `dir` (created if needed) and rewrites them to the
/// local copies. The sources must have passed [`check`]. Returns how many objects were fetched.
pub async fn localize(
    project: &mut Project,
    storage: &dyn Storage,
    dir: &Path,
) -> Result<usize, FetchError> {
    let mut fetched: HashMap<String, String> = HashMap::new();
    for (path, src) in sources_mut(project) {
        if !is_s3(src) {
            continue;
        }
        if let Some(local) = fetched.get(src.as_str()) {
            *src = local.clone();
            continue;
        }
        let url = S3Url::parse(src).map_err(|why| FetchError::Invalid {
            path: path.clone(),
            message: format!("malformed S3 URL: {why}"),
        })?;
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| FetchError::Storage {
                path: path.clone(),
                source: StorageError::io(format!("create {}", dir.display()), e),
            })?;
        // The local name is ours (a counter and the key's extension): the key never becomes a path.
        let ext = url
            .key
            .rsplit_once('.')
            .map(|(_, e)| e)
            .filter(|e| (1..=5).contains(&e.len()) && e.chars().all(|c| c.is_ascii_alphanumeric()))
            .unwrap_or("bin");
        let dest = dir.join(format!("asset-{}.{ext}", fetched.len()));
        match storage.get_s3_asset(&url, &dest).await {
            Ok(bytes) => tracing::debug!(%url, bytes, "asset fetched"),
            Err(StorageError::NotFound(_)) => {
                return Err(FetchError::Invalid {
                    path,
                    message: format!("{url} does not exist"),
                })
            }
            Err(StorageError::TooLarge { size, limit, .. }) => {
                return Err(FetchError::Invalid {
                    path,
                    message: format!(
                        "{url} is {size} bytes or more, over the limit S3_ASSET_MAX_MB = {} MiB",
                        limit / (1024 * 1024)
                    ),
                })
            }
            Err(source) => return Err(FetchError::Storage { path, source }),
        }
        let local = dest.to_string_lossy().into_owned();
        fetched.insert(src.clone(), local.clone());
        *src = local;
    }
    Ok(fetched.len())
}

/// Before a render: re-checks the project's `s3://` sources against the current settings (they may
/// have changed since submission), downloads them into `dir` and rewrites them. `Ok(false)` when the
/// project has none (nothing to add to the asset roots).
pub async fn prepare(
    project: &mut Project,
    settings: &Settings,
    storage: &dyn Storage,
    dir: &Path,
) -> Result<bool, FetchError> {
    if !has_s3_sources(project) {
        return Ok(false);
    }
    if let Some(e) = check(project, settings).into_iter().next() {
        return Err(FetchError::Invalid {
            path: e.path,
            message: e.message,
        });
    }
    localize(project, storage, dir).await?;
    Ok(true)
}
