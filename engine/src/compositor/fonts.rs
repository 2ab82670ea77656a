//! Which fonts text may use and which font draws each character.
//!
//! The database holds the bundled DejaVu Sans (the default), the broad Noto fallback installed by
//! `make deps` (Debian's `fonts-noto-core`, `fonts-noto-cjk`, `fonts-noto-color-emoji`, loaded
//! whenever present), the machine's other fonts when system fonts are allowed, the engine's extra
//! font paths, and for the time of one render the project's own `fonts`. A layer's `font` chain
//! is applied per character (the first family that has it); characters none of the chain has fall
//! back through cosmic-text's script lists and then every loaded font.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use glyphon::fontdb;

use super::ComposeError;
use crate::media::MediaIndex;
use crate::project::{FontFamilies, FontStyle, Layer, Project, ValidationError};

const BUNDLED_FONTS: [&[u8]; 2] = [
    include_bytes!("../../../assets/fonts/DejaVuSans.ttf"),
    include_bytes!("../../../assets/fonts/DejaVuSans-Bold.ttf"),
];

/// Default family of text layers (bundled, so renders look the same on every machine).
pub const DEFAULT_FONT: &str = "DejaVu Sans";

/// Where Debian puts the Noto fallback fonts (`fonts-noto-core`, `-cjk`, `-color-emoji`).
pub const FALLBACK_DIRS: [&str; 2] = [
    "/usr/share/fonts/truetype/noto",
    "/usr/share/fonts/opentype/noto",
];

/// The engine-wide font database: bundled, fallback, system (when allowed) and extra fonts.
pub fn engine_database(extra: &[PathBuf], system_fonts: bool) -> fontdb::Database {
    let mut db = fontdb::Database::new();
    for data in BUNDLED_FONTS {
        db.load_font_data(data.to_vec());
    }
    if system_fonts {
        db.load_system_fonts();
    } else {
        for dir in FALLBACK_DIRS {
            if Path::new(dir).is_dir() {
                db.load_fonts_dir(dir);
            }
        }
    }
    for p in extra {
        if p.is_dir() {
            db.load_fonts_dir(p);
        } else if let Err(e) = db.load_font_file(p) {
            tracing::warn!(path = %p.display(), error = %e, "cannot load font file");
        }
    }
    db.set_sans_serif_family(DEFAULT_FONT);
    db
}

/// The project's fonts while they are loaded: their faces and the names they answer to.
#[derive(Debug, Default)]
pub struct ProjectFonts {
    pub faces: Vec<fontdb::ID>,
    /// Lower-case name given in `fonts[i].family` → the family name inside the file.
    pub aliases: HashMap<String, String>,
}

/// Loads `project.fonts` into `db` (checked by validation; errors here name `fonts[i].src`).
pub fn load_project_fonts(
    db: &mut fontdb::Database,
    project: &Project,
    media: &MediaIndex,
) -> Result<ProjectFonts, ComposeError> {
    let mut out = ProjectFonts::default();
    for (i, f) in project.fonts.iter().enumerate() {
        let data = media.font(&f.src).map_err(|source| ComposeError::Asset {
            path: format!("fonts[{i}].src"),
            source,
        })?;
        let ids = db.load_font_source(fontdb::Source::Binary(data));
        let Some(&first) = ids.first() else {
            for id in out.faces.drain(..) {
                db.remove_face(id);
            }
            return Err(invalid(
                format!("fonts[{i}].src"),
                "no font face could be read".into(),
            ));
        };
        if let (Some(alias), Some(face)) = (&f.family, db.face(first)) {
            if let Some((name, _)) = face.families.first() {
                out.aliases.insert(alias.to_lowercase(), name.clone());
            }
        }
        out.faces.extend(ids);
    }
    Ok(out)
}

/// A validation error at `path`, as a render error.
pub fn invalid(path: String, message: String) -> ComposeError {
    ComposeError::Invalid(vec![ValidationError { path, message }])
}

/// The family name of `db` that `name` means (case-insensitive, project aliases first).
fn find_family(db: &fontdb::Database, fonts: &ProjectFonts, name: &str) -> Option<String> {
    if let Some(real) = fonts.aliases.get(&name.to_lowercase()) {
        return Some(real.clone());
    }
    db.faces().find_map(|f| {
        f.families
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(n, _)| n.clone())
    })
}

/// Every family name of `db`, sorted.
pub fn families(db: &fontdb::Database) -> Vec<String> {
    let mut v: Vec<String> = db
        .faces()
        .flat_map(|f| f.families.iter().map(|(n, _)| n.clone()))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// The layer's `font` chain as family names of `db`; an unknown family is an error at `path.font`.
pub fn resolve_chain(
    db: &fontdb::Database,
    fonts: &ProjectFonts,
    font: Option<&FontFamilies>,
    path: &str,
) -> Result<Vec<String>, ComposeError> {
    let Some(font) = font else {
        return Ok(vec![DEFAULT_FONT.to_string()]);
    };
    let mut chain = Vec::new();
    for (k, name) in font.names().iter().enumerate() {
        match find_family(db, fonts, name) {
            Some(real) => chain.push(real),
            None => {
                let all = families(db);
                let shown: Vec<&str> = all.iter().take(12).map(String::as_str).collect();
                let more = all.len().saturating_sub(shown.len());
                let at = match font {
                    FontFamilies::One(_) => format!("{path}.font"),
                    FontFamilies::Chain(_) => format!("{path}.font[{k}]"),
                };
                return Err(invalid(
                    at,
                    format!(
                        "font family `{name}` is not loaded (add it to `fonts`; available: {}{})",
                        shown.join(", "),
                        if more > 0 {
                            format!(" and {more} more")
                        } else {
                            String::new()
                        }
                    ),
                ));
            }
        }
    }
    Ok(chain)
}

/// Weight and style a layer asks for.
pub fn face_style(layer: &Layer) -> (fontdb::Weight, fontdb::Style) {
    let weight = fontdb::Weight(layer.font_weight.map_or(400, |w| w.value()));
    let style = match layer.font_style.unwrap_or_default() {
        FontStyle::Normal => fontdb::Style::Normal,
        FontStyle::Italic => fontdb::Style::Italic,
        FontStyle::Oblique => fontdb::Style::Oblique,
    };
    (weight, style)
}

/// For each character of `text`, the index in `chain` of the first family whose face (closest to
/// `weight`/`style`) maps it; `None` where none does (cosmic-text's fallback takes over).
pub fn chain_choice(
    db: &fontdb::Database,
    chain: &[String],
    weight: fontdb::Weight,
    style: fontdb::Style,
    text: &str,
) -> Vec<Option<usize>> {
    let faces: Vec<Option<fontdb::ID>> = chain
        .iter()
        .map(|name| {
            db.query(&fontdb::Query {
                families: &[fontdb::Family::Name(name)],
                weight,
                stretch: fontdb::Stretch::Normal,
                style,
            })
        })
        .collect();
    let mut memo: HashMap<(usize, char), bool> = HashMap::new();
    text.chars()
        .map(|ch| {
            if chain.len() == 1 || ch.is_whitespace() || ch.is_control() {
                return Some(0);
            }
            (0..chain.len()).find(|&k| {
                *memo
                    .entry((k, ch))
                    .or_insert_with(|| faces[k].is_some_and(|id| has_glyph(db, id, ch)))
            })
        })
        .collect()
}

/// Whether face `id` maps `ch` to a glyph.
pub fn has_glyph(db: &fontdb::Database, id: fontdb::ID, ch: char) -> bool {
    db.with_face_data(id, |data, index| {
        ttf_parser::Face::parse(data, index)
            .ok()
            .and_then(|f| f.glyph_index(ch))
            .is_some()
    })
    .unwrap_or(false)
}

/// The family of a loaded colour emoji font (Noto Color Emoji from `make deps`), if any.
pub fn color_emoji_family(db: &fontdb::Database) -> Option<String> {
    db.faces().find_map(|f| {
        f.families
            .iter()
            .find(|(n, _)| n.contains("Color Emoji"))
            .map(|(n, _)| n.clone())
    })
}

/// Emoji that default to emoji presentation: pictographs, emoticons, transport, flags' regional
/// indicators and the supplemental symbols (U+1F000–U+1FAFF).
pub fn is_emoji(ch: char) -> bool {
    matches!(ch as u32, 0x1F000..=0x1FAFF)
}

/// Characters that continue an emoji sequence: zero-width joiner, variation selectors, keycap and
/// tag characters.
pub fn joins_emoji(ch: char) -> bool {
    matches!(
        ch as u32,
        0x200D | 0xFE0E | 0xFE0F | 0x20E3 | 0xE0020..=0xE007F
    )
}
