//! [`MediaIndex`]: a render's media, each source learnt once. Validation asks it for the project's
//! [`MediaFacts`]; scene preparation, the audio mixer and the video players then take the same
//! answers (clip probes, image sizes, fonts, captions) instead of reading the files again. The
//! indexes of one engine share a [`ProbeCache`], so the renders of one job in a process (its
//! chunks, their join, its stills) probe each clip once between them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{check_decodes, probe, AssetError, AssetResolver, ClipInfo, MediaTools, VideoError};
use crate::project::{ClipFacts, Cue, Limits, MediaFacts, Project, ValidationError};

/// A project's media files, resolved with one [`AssetResolver`] and read with one set of
/// [`MediaTools`], each learnt at most once: a clip is probed once (and test-decoded once, when
/// validation asks), an image's header read once, a font or caption file read and parsed once.
/// Answers are cached by resolved file (clips) or by source (the rest), errors too. Shared by
/// reference between the stages of a render, and between the renders of a prepared project.
#[derive(Debug)]
pub struct MediaIndex {
    assets: AssetResolver,
    tools: MediaTools,
    known: Mutex<Known>,
    shared: Option<Arc<ProbeCache>>,
}

/// Clip probes (and first-frame checks) shared between the media indexes of one engine, by file
/// identity: path, device, inode, size and modification time, so a file changed or replaced in
/// between is probed again. Only successes are kept; at most [`ProbeCache::CAPACITY`] files.
#[derive(Debug, Default)]
pub struct ProbeCache {
    clips: Mutex<HashMap<FileKey, SharedClip>>,
}

#[derive(Debug, Clone)]
struct SharedClip {
    info: Arc<ClipInfo>,
    decodes: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct FileKey {
    path: PathBuf,
    dev: u64,
    ino: u64,
    len: u64,
    modified: (i64, i64),
}

impl FileKey {
    fn of(path: &Path) -> Option<FileKey> {
        use std::os::unix::fs::MetadataExt;
        let m = std::fs::metadata(path).ok()?;
        Some(FileKey {
            path: path.to_path_buf(),
            dev: m.dev(),
            ino: m.ino(),
            len: m.len(),
            modified: (m.mtime(), m.mtime_nsec()),
        })
    }
}

impl ProbeCache {
    /// Files remembered at most; the cache starts over when it is full.
    pub const CAPACITY: usize = 1024;

    fn get(&self, key: &FileKey) -> Option<SharedClip> {
        let clips = self.clips.lock().unwrap_or_else(|e| e.into_inner());
        clips.get(key).cloned()
    }

    fn put(&self, key: FileKey, clip: SharedClip) {
        let mut clips = self.clips.lock().unwrap_or_else(|e| e.into_inner());
        if clips.len() >= Self::CAPACITY && !clips.contains_key(&key) {
            clips.clear();
        }
        clips.insert(key, clip);
    }
}

#[derive(Debug, Default)]
struct Known {
    clips: HashMap<PathBuf, Result<Arc<ClipInfo>, VideoError>>,
    /// Clips whose first frame was decoded (the result of the check).
    decodes: HashMap<PathBuf, Result<(), VideoError>>,
    images: HashMap<String, Result<(u32, u32), AssetError>>,
    fonts: HashMap<String, Result<Arc<Vec<u8>>, AssetError>>,
    captions: HashMap<String, Result<Arc<Vec<Cue>>, AssetError>>,
}

impl MediaIndex {
    /// An index of its own: every clip is probed the first time this index is asked for it.
    pub fn new(assets: AssetResolver, tools: MediaTools) -> MediaIndex {
        MediaIndex {
            assets,
            tools,
            known: Mutex::new(Known::default()),
            shared: None,
        }
    }

    /// An index that takes clip probes from `shared` (and adds its own there): the engine's.
    pub fn sharing(
        assets: AssetResolver,
        tools: MediaTools,
        shared: Arc<ProbeCache>,
    ) -> MediaIndex {
        MediaIndex {
            shared: Some(shared),
            ..MediaIndex::new(assets, tools)
        }
    }

    /// What `shared` knows of `file` (and its identity, to add to it).
    fn shared(&self, file: &Path) -> (Option<FileKey>, Option<SharedClip>) {
        let Some(shared) = &self.shared else {
            return (None, None);
        };
        let key = FileKey::of(file);
        let known = key.as_ref().and_then(|k| shared.get(k));
        (key, known)
    }

    pub fn assets(&self) -> &AssetResolver {
        &self.assets
    }

    pub fn tools(&self) -> &MediaTools {
        &self.tools
    }

    fn known(&self) -> std::sync::MutexGuard<'_, Known> {
        self.known.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The file `src` names (see [`AssetResolver::resolve`]).
    pub fn resolve(&self, src: &str) -> Result<PathBuf, AssetError> {
        self.assets.resolve(src)
    }

    /// The clip at `file` (a resolved source), probed with `ffprobe` the first time it is asked for.
    pub fn clip(&self, file: &Path) -> Result<Arc<ClipInfo>, VideoError> {
        if let Some(r) = self.known().clips.get(file) {
            return r.clone();
        }
        let (key, shared) = self.shared(file);
        let r = match shared {
            Some(clip) => {
                if clip.decodes {
                    self.known().decodes.insert(file.to_path_buf(), Ok(()));
                }
                Ok(clip.info)
            }
            None => {
                let r = probe(&self.tools.ffprobe, file).map(Arc::new);
                if let (Some(key), Some(shared), Ok(info)) = (key, &self.shared, &r) {
                    let info = Arc::clone(info);
                    shared.put(
                        key,
                        SharedClip {
                            info,
                            decodes: false,
                        },
                    );
                }
                r
            }
        };
        self.known().clips.insert(file.to_path_buf(), r.clone());
        r
    }

    /// [`MediaIndex::clip`], and its first frame decoded once to check that the installed `ffmpeg`
    /// can decode it (validation).
    pub fn checked_clip(&self, file: &Path) -> Result<Arc<ClipInfo>, VideoError> {
        let info = self.clip(file)?;
        let known = self.known().decodes.get(file).cloned();
        let r = match known {
            Some(r) => r,
            None => {
                let r = check_decodes(&self.tools.ffmpeg, file, &info);
                self.known().decodes.insert(file.to_path_buf(), r.clone());
                if let (Some(shared), Ok(())) = (&self.shared, &r) {
                    if let Some(key) = FileKey::of(file) {
                        let info = Arc::clone(&info);
                        shared.put(
                            key,
                            SharedClip {
                                info,
                                decodes: true,
                            },
                        );
                    }
                }
                r
            }
        };
        r.map(|()| info)
    }

    /// An image's natural size, from its header (see [`AssetResolver::check_image`]).
    pub fn image_size(&self, src: &str) -> Result<(u32, u32), AssetError> {
        if let Some(r) = self.known().images.get(src) {
            return r.clone();
        }
        let r = self.assets.check_image(src);
        self.known().images.insert(src.to_string(), r.clone());
        r
    }

    /// A font file's TrueType/OpenType bytes (see [`AssetResolver::load_font`]).
    pub fn font(&self, src: &str) -> Result<Arc<Vec<u8>>, AssetError> {
        if let Some(r) = self.known().fonts.get(src) {
            return r.clone();
        }
        let r = self.assets.load_font(src).map(Arc::new);
        self.known().fonts.insert(src.to_string(), r.clone());
        r
    }

    /// A caption file's cues (see [`AssetResolver::load_captions`]).
    pub fn captions(&self, src: &str) -> Result<Arc<Vec<Cue>>, AssetError> {
        if let Some(r) = self.known().captions.get(src) {
            return r.clone();
        }
        let r = self.assets.load_captions(src).map(Arc::new);
        self.known().captions.insert(src.to_string(), r.clone());
        r
    }
}

impl MediaFacts for MediaIndex {
    fn image(&self, src: &str) -> Result<(u32, u32), String> {
        self.image_size(src).map_err(|e| e.to_string())
    }

    fn clip(&self, src: &str) -> Result<ClipFacts, String> {
        let file = self.resolve(src).map_err(|e| e.to_string())?;
        let info = self
            .checked_clip(&file)
            .map_err(|e| e.to_asset_error(src).to_string())?;
        Ok(ClipFacts {
            width: info.width,
            height: info.height,
            coded_width: info.coded_width,
            coded_height: info.coded_height,
            has_alpha: info.has_alpha,
            duration: info.duration,
        })
    }

    fn font(&self, src: &str) -> Result<(), String> {
        MediaIndex::font(self, src)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    fn captions(&self, src: &str) -> Result<Vec<Cue>, String> {
        MediaIndex::captions(self, src)
            .map(|c| c.as_ref().clone())
            .map_err(|e| e.to_string())
    }

    fn audio(&self, src: &str) -> Result<(), String> {
        self.resolve(src).map(|_| ()).map_err(|e| e.to_string())
    }
}

impl Project {
    /// Checks the whole project against `limits` and resolves every media file with `assets`,
    /// returning every broken rule at once. Video clips are probed with `ffprobe`/`ffmpeg` from
    /// `PATH` (or `$FFMPEG`/`$FFPROBE`); see [`Project::validate_with_tools`].
    pub fn validate(
        &self,
        limits: &Limits,
        assets: &AssetResolver,
    ) -> Result<(), Vec<ValidationError>> {
        self.validate_with_tools(limits, assets, &MediaTools::default())
    }

    /// [`Project::validate`] probing video clips with the given `ffmpeg`/`ffprobe` (each file once):
    /// [`Project::validate_with_facts`] against a fresh [`MediaIndex`].
    pub fn validate_with_tools(
        &self,
        limits: &Limits,
        assets: &AssetResolver,
        tools: &MediaTools,
    ) -> Result<(), Vec<ValidationError>> {
        self.validate_with_facts(limits, &MediaIndex::new(assets.clone(), tools.clone()))
    }
}
