//! Where media files come from. A project names files relative to its own folder or to asset roots;
//! the service confines them to its roots so a project cannot read the server's files.

use std::path::{Component, Path, PathBuf};

use super::AssetError;

/// Resolves `src` strings of a project to files.
///
/// * `base_dir`: the project file's folder (CLI use); relative sources are looked up there first.
/// * `roots`: further folders to look in, in order.
/// * `confined`: when set (the service), a source must stay inside `base_dir`/`roots` after resolving
///   symlinks; `..` components, URLs such as `file://` and absolute paths elsewhere are rejected.
#[derive(Debug, Clone, Default)]
pub struct AssetResolver {
    pub base_dir: Option<PathBuf>,
    pub roots: Vec<PathBuf>,
    pub confined: bool,
}

/// Largest image we decode, in pixels per side; bigger files are refused before decoding.
pub const MAX_IMAGE_SIDE: u32 = 16_384;

/// Largest font file we load, in bytes (Noto CJK, among the biggest, is about 20 MiB).
pub const MAX_FONT_BYTES: u64 = 64 * 1024 * 1024;

impl AssetResolver {
    /// Sources relative to `dir` (the project file's folder); absolute paths allowed.
    pub fn relative_to(dir: impl Into<PathBuf>) -> Self {
        AssetResolver {
            base_dir: Some(dir.into()),
            roots: Vec::new(),
            confined: false,
        }
    }

    /// Sources must resolve inside one of `roots`.
    pub fn confined_to(roots: Vec<PathBuf>) -> Self {
        AssetResolver {
            base_dir: None,
            roots,
            confined: true,
        }
    }

    fn search_dirs(&self) -> impl Iterator<Item = &PathBuf> {
        self.base_dir.iter().chain(self.roots.iter())
    }

    /// Finds the file `src` names, or says why it may not or cannot be used.
    pub fn resolve(&self, src: &str) -> Result<PathBuf, AssetError> {
        let rejected = |reason: &str| AssetError::Rejected {
            src: src.to_string(),
            reason: reason.to_string(),
        };
        if src.trim().is_empty() {
            return Err(rejected("empty path"));
        }
        if src.contains('\0') {
            return Err(rejected("NUL byte in path"));
        }
        if let Some((scheme, _)) = src.split_once("://") {
            if scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '+' || c == '.' || c == '-')
            {
                return Err(rejected(
                    "URLs are not supported as sources; give a file path",
                ));
            }
        }
        let path = Path::new(src);
        if self.confined && path.components().any(|c| matches!(c, Component::ParentDir)) {
            return Err(rejected("`..` is not allowed in asset paths"));
        }
        let candidates: Vec<PathBuf> = if path.is_absolute() {
            vec![path.to_path_buf()]
        } else {
            let mut v: Vec<PathBuf> = self.search_dirs().map(|d| d.join(path)).collect();
            if v.is_empty() {
                v.push(path.to_path_buf());
            }
            v
        };
        let found = candidates.into_iter().find(|p| p.is_file());
        let Some(found) = found else {
            if path.is_absolute() && self.confined && !self.inside_roots(path) {
                return Err(rejected("absolute path outside the asset roots"));
            }
            return Err(AssetError::NotFound {
                src: src.to_string(),
            });
        };
        if self.confined {
            let real = found.canonicalize().map_err(|_| AssetError::NotFound {
                src: src.to_string(),
            })?;
            if !self.inside_roots(&real) {
                return Err(rejected("resolves outside the asset roots"));
            }
            return Ok(real);
        }
        Ok(found)
    }

    fn inside_roots(&self, real: &Path) -> bool {
        self.search_dirs()
            .filter_map(|r| r.canonicalize().ok())
            .any(|root| real.starts_with(root))
    }

    /// Resolves an image and reads its header: the file exists, is PNG/JPEG/WebP and has a sane size.
    /// Returns its size in pixels.
    pub fn check_image(&self, src: &str) -> Result<(u32, u32), AssetError> {
        let path = self.resolve(src)?;
        let corrupt = |reason: String| AssetError::Corrupt {
            src: src.to_string(),
            what: "image",
            reason,
        };
        let reader = image::ImageReader::open(&path)
            .map_err(|e| corrupt(e.to_string()))?
            .with_guessed_format()
            .map_err(|e| corrupt(e.to_string()))?;
        match reader.format() {
            Some(image::ImageFormat::Png | image::ImageFormat::Jpeg | image::ImageFormat::WebP) => {
            }
            Some(other) => {
                return Err(corrupt(format!(
                    "{other:?} images are not supported (PNG, JPEG, WebP)"
                )))
            }
            None => return Err(corrupt("not a PNG, JPEG or WebP file".into())),
        }
        let (w, h) = reader
            .into_dimensions()
            .map_err(|e| corrupt(e.to_string()))?;
        if w == 0 || h == 0 || w > MAX_IMAGE_SIDE || h > MAX_IMAGE_SIDE {
            return Err(corrupt(format!(
                "{w}x{h} is outside 1..={MAX_IMAGE_SIDE} pixels per side"
            )));
        }
        Ok((w, h))
    }

    /// Resolves and fully decodes an image to straight-alpha RGBA8.
    pub fn load_image(&self, src: &str) -> Result<image::RgbaImage, AssetError> {
        self.check_image(src)?;
        let path = self.resolve(src)?;
        let corrupt = |reason: String| AssetError::Corrupt {
            src: src.to_string(),
            what: "image",
            reason,
        };
        let img = image::ImageReader::open(&path)
            .map_err(|e| corrupt(e.to_string()))?
            .with_guessed_format()
            .map_err(|e| corrupt(e.to_string()))?
            .decode()
            .map_err(|e| corrupt(e.to_string()))?;
        Ok(img.into_rgba8())
    }
}

/// Reads a file of at most `limit` bytes (checked before reading).
fn read_limited(
    path: &Path,
    src: &str,
    what: &'static str,
    limit: u64,
) -> Result<Vec<u8>, AssetError> {
    let corrupt = |reason: String| AssetError::Corrupt {
        src: src.to_string(),
        what,
        reason,
    };
    let len = std::fs::metadata(path)
        .map_err(|e| corrupt(e.to_string()))?
        .len();
    if len > limit {
        return Err(corrupt(format!(
            "{len} bytes is over the limit of {} MiB",
            limit / (1024 * 1024)
        )));
    }
    std::fs::read(path).map_err(|e| corrupt(e.to_string()))
}

impl AssetResolver {
    /// Resolves and reads a font file — TrueType/OpenType, a collection, or either packed as WOFF or
    /// WOFF2 (unpacked here) — and checks that its faces parse. Returns the TrueType/OpenType bytes.
    pub fn load_font(&self, src: &str) -> Result<Vec<u8>, AssetError> {
        let path = self.resolve(src)?;
        let data = read_limited(&path, src, "font", MAX_FONT_BYTES)?;
        let corrupt = |reason: String| AssetError::Corrupt {
            src: src.to_string(),
            what: "font",
            reason,
        };
        let data = unpack_web_font(data).map_err(corrupt)?;
        check_font_data(&data).map_err(corrupt)?;
        Ok(data)
    }

    /// Resolves and parses an SRT or WebVTT file; errors name the line.
    pub fn load_captions(&self, src: &str) -> Result<Vec<crate::project::Cue>, AssetError> {
        let path = self.resolve(src)?;
        let corrupt = |reason: String| AssetError::Corrupt {
            src: src.to_string(),
            what: "captions",
            reason,
        };
        let data = read_limited(
            &path,
            src,
            "captions",
            crate::project::captions::MAX_CAPTION_BYTES,
        )?;
        let text = String::from_utf8(data).map_err(|e| {
            let line = 1 + e.as_bytes()[..e.utf8_error().valid_up_to()]
                .iter()
                .filter(|&&b| b == b'\n')
                .count();
            corrupt(format!("line {line}: not UTF-8 text"))
        })?;
        crate::project::captions::parse(&text).map_err(|e| corrupt(e.to_string()))
    }
}

/// The TrueType/OpenType font inside a WOFF or WOFF2 file (`wuff`); other data as it is. The size
/// the header announces must be within [`MAX_FONT_BYTES`] before anything is unpacked (a small file
/// must not unpack into gigabytes), and so must the unpacked font.
fn unpack_web_font(data: Vec<u8>) -> Result<Vec<u8>, String> {
    let kind = match data.get(..4) {
        Some(b"wOF2") => "WOFF2",
        Some(b"wOFF") => "WOFF",
        _ => return Ok(data),
    };
    // Both headers: signature, flavor, length (u32 each), numTables, reserved (u16 each), then
    // totalSfntSize (u32, big-endian) at byte 16.
    let announced = data
        .get(16..20)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as u64)
        .ok_or_else(|| format!("not a {kind} font (header too short)"))?;
    if announced > MAX_FONT_BYTES {
        return Err(format!(
            "the {kind} font unpacks to {announced} bytes, over the limit of {} MiB",
            MAX_FONT_BYTES / (1024 * 1024)
        ));
    }
    let unpacked = match kind {
        "WOFF2" => wuff::decompress_woff2(&data),
        _ => wuff::decompress_woff1(&data),
    }
    .map_err(|e| format!("not a valid {kind} font ({e:?})"))?;
    if unpacked.len() as u64 > MAX_FONT_BYTES {
        return Err(format!(
            "the {kind} font unpacks to {} bytes, over the limit of {} MiB",
            unpacked.len(),
            MAX_FONT_BYTES / (1024 * 1024)
        ));
    }
    Ok(unpacked)
}

/// Whether `data` is a font we can use: TrueType/OpenType or a collection, every face parsing.
pub fn check_font_data(data: &[u8]) -> Result<(), String> {
    if data.len() < 4 {
        return Err("not a font file (too short)".into());
    }
    let faces = ttf_parser::fonts_in_collection(data).unwrap_or(1);
    if faces == 0 || faces > 256 {
        return Err(format!("a font collection of {faces} faces"));
    }
    for i in 0..faces {
        let face = ttf_parser::Face::parse(data, i)
            .map_err(|e| format!("not a TrueType/OpenType font ({e})"))?;
        if face.number_of_glyphs() == 0 {
            return Err("the font has no glyphs".into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn confined_resolver_rejects_escapes() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("ok.txt"), b"x").unwrap();
        std::fs::write(outside.path().join("secret.txt"), b"x").unwrap();
        std::os::unix::fs::symlink(
            outside.path().join("secret.txt"),
            root.path().join("link.txt"),
        )
        .unwrap();
        let r = AssetResolver::confined_to(vec![root.path().to_path_buf()]);
        assert!(r.resolve("ok.txt").is_ok());
        for bad in [
            "../secret.txt",
            "a/../../secret.txt",
            "file:///etc/passwd",
            "/etc/passwd",
            "link.txt",
            "",
        ] {
            assert!(r.resolve(bad).is_err(), "{bad} must be rejected");
        }
        let abs = outside.path().join("secret.txt");
        assert!(matches!(
            r.resolve(abs.to_str().unwrap()),
            Err(AssetError::Rejected { .. })
        ));
    }
}
