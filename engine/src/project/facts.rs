//! What validation knows of a project's media files, behind a trait: `project/` reads no file. The
//! engine's media index (`media::MediaIndex`) answers from the files, probing each once; a test
//! answers from a table.

use super::Cue;

/// The facts of a video clip that validation checks.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipFacts {
    /// Display size (after rotation and the sample aspect ratio).
    pub width: u32,
    pub height: u32,
    /// Stored picture size.
    pub coded_width: u32,
    pub coded_height: u32,
    pub has_alpha: bool,
    /// Seconds from the first frame to the end of the last one.
    pub duration: f64,
}

/// The media a project names, as validation sees them. Each answer is the source's facts or why it
/// cannot be used: a message that names the source (`` `a.png`: file not found ``).
pub trait MediaFacts {
    /// An image layer's picture: its natural size in pixels.
    fn image(&self, src: &str) -> Result<(u32, u32), String>;
    /// A video layer's clip (probed, its first frame decodable).
    fn clip(&self, src: &str) -> Result<ClipFacts, String>;
    /// A font of the project's `fonts`: readable as a font.
    fn font(&self, src: &str) -> Result<(), String>;
    /// A captions layer's SRT or WebVTT file: its cues.
    fn captions(&self, src: &str) -> Result<Vec<Cue>, String>;
    /// An audio track's file: it exists and may be used.
    fn audio(&self, src: &str) -> Result<(), String>;
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::HashMap;

    use super::*;
    use crate::project::{Composition, FontSource, Layer, Limits, Project};

    /// Media facts from a table: no file exists anywhere. Records every question asked.
    #[derive(Default)]
    struct Table {
        images: HashMap<&'static str, (u32, u32)>,
        clips: HashMap<&'static str, ClipFacts>,
        asked: RefCell<Vec<String>>,
    }

    impl Table {
        fn ask(&self, what: &str, src: &str) {
            self.asked.borrow_mut().push(format!("{what} {src}"));
        }
    }

    fn missing(src: &str) -> String {
        format!("`{src}`: file not found")
    }

    impl MediaFacts for Table {
        fn image(&self, src: &str) -> Result<(u32, u32), String> {
            self.ask("image", src);
            self.images.get(src).copied().ok_or_else(|| missing(src))
        }
        fn clip(&self, src: &str) -> Result<ClipFacts, String> {
            self.ask("clip", src);
            self.clips.get(src).copied().ok_or_else(|| missing(src))
        }
        fn font(&self, src: &str) -> Result<(), String> {
            self.ask("font", src);
            Err(missing(src))
        }
        fn captions(&self, src: &str) -> Result<Vec<Cue>, String> {
            self.ask("captions", src);
            Err(missing(src))
        }
        fn audio(&self, src: &str) -> Result<(), String> {
            self.ask("audio", src);
            Ok(())
        }
    }

    fn clip(width: u32, height: u32, duration: f64) -> ClipFacts {
        ClipFacts {
            width,
            height,
            coded_width: width,
            coded_height: height,
            has_alpha: false,
            duration,
        }
    }

    fn table() -> Table {
        Table {
            images: HashMap::from([("logo.png", (64, 32))]),
            clips: HashMap::from([("clip.mp4", clip(640, 360, 2.0))]),
            ..Table::default()
        }
    }

    fn project(layers: Vec<Layer>) -> Project {
        let mut p = Project::new(320, 180, 30.0);
        let mut comp = Composition::new(1.0);
        comp.layers = layers;
        p.push(comp);
        p
    }

    #[test]
    fn media_known_to_the_facts_validate_without_files() {
        let facts = table();
        let p = project(vec![Layer::image("logo.png"), Layer::video("clip.mp4")]);
        assert_eq!(p.validate_with_facts(&Limits::default(), &facts), Ok(()));
        assert_eq!(
            *facts.asked.borrow(),
            ["image logo.png", "clip clip.mp4"],
            "each source asked for once, in layer order"
        );
    }

    #[test]
    fn what_the_facts_say_is_checked_at_the_layer_path() {
        let facts = table();
        let mut p = project(vec![
            Layer::image("gone.png"),
            Layer::video("clip.mp4").trimmed(2.5, None),
            Layer::video("big.mp4"),
        ]);
        p.fonts.push(FontSource {
            family: None,
            src: "font.ttf".into(),
        });
        let limits = Limits {
            max_video_side: 1000,
            ..Limits::default()
        };
        let mut facts = facts;
        facts.clips.insert("big.mp4", clip(1920, 1080, 5.0));
        let errors = p.validate_with_facts(&limits, &facts).unwrap_err();
        let got: Vec<(&str, &str)> = errors
            .iter()
            .map(|e| (e.path.as_str(), e.message.as_str()))
            .collect();
        assert_eq!(
            got,
            [
                ("fonts[0].src", "`font.ttf`: file not found"),
                ("frames[0].layers[0].src", "`gone.png`: file not found"),
                (
                    "frames[0].layers[1].trimStart",
                    "2.5 s is at or beyond the end of `clip.mp4` (2.000 s long)"
                ),
                (
                    "frames[0].layers[2].src",
                    "`big.mp4`: the video is 1920x1080, larger than 1000 pixels per side"
                ),
            ]
        );
    }

    #[test]
    fn the_memory_estimate_uses_the_facts_sizes() {
        // The same project passes with a small clip and is refused with a huge one: the estimate
        // reads the size the facts give, not a file.
        let p = project(vec![Layer::video("clip.mp4")]);
        let limits = Limits {
            max_memory_mb: 200,
            ..Limits::default()
        };
        assert_eq!(p.validate_with_facts(&limits, &table()), Ok(()));
        let mut huge = table();
        huge.clips.insert("clip.mp4", clip(7680, 4320, 2.0));
        let errors = p.validate_with_facts(&limits, &huge).unwrap_err();
        assert!(
            errors.iter().any(|e| e.message.contains("MiB")),
            "{errors:?}"
        );
    }
}
