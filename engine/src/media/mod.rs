//! Media files: where a project's sources are ([`AssetResolver`]), the `ffmpeg`/`ffprobe` binaries
//! that read them ([`MediaTools`]), what a clip is ([`probe`]) and the index that learns each
//! source's facts once per render and hands them on ([`MediaIndex`], the project's
//! [`crate::project::MediaFacts`]).
//!
//! `resolver.rs` finds and checks files, `tools.rs` locates the binaries, `probe.rs` runs `ffprobe`,
//! `index.rs` caches what was learnt, `error.rs` says why a file could not be used,
//! `project_file.rs` reads project files.

mod error;
mod index;
mod probe;
mod project_file;
pub mod resolver;
mod tools;

pub use error::{AssetError, VideoError};
pub use index::{MediaIndex, ProbeCache};
pub use probe::{check_decodes, media_runs, probe, ClipInfo, MediaRuns};
pub use resolver::{check_font_data, AssetResolver, MAX_FONT_BYTES, MAX_IMAGE_SIDE};
pub use tools::{ffmpeg_path, ffprobe_path, MediaTools};
pub(crate) use tools::{output_write_error, StderrTail};
