//! `vrender-engine`: renders a JSON video project to an encoded video.
//!
//! Data flows through the modules in this order:
//! [`project`] (format and validation) → [`timeline`] (what is on screen at frame *n*) →
//! [`compositor`] (wgpu + WGSL: layers, blend modes, RGBA → YUV on the GPU) → [`encoder`]
//! (x264 through an `ffmpeg` child process, NVENC behind the `nvenc` feature) → the output file.
//! [`audio`] mixes the project's audio tracks (and the sound of video layers) into the same file;
//! [`media`] resolves and probes media files, each once per render; [`video`] decodes the clips of
//! video layers; [`render`] drives it all.
//!
//! The modules import one way (checked by the `architecture` test): `project` ← `timeline` ←
//! `media` ← {`video`, `audio`, `compositor`, `encoder`} ← `render`; nothing imports `render`, and
//! `project` and `timeline` read no file.

pub mod audio;
pub mod compositor;
pub mod encoder;
pub mod media;
pub mod project;
pub mod render;
pub mod timeline;
pub mod video;

/// The error types of every layer, under their old paths.
pub mod error {
    pub use crate::compositor::ComposeError;
    pub use crate::media::AssetError;
    pub use crate::project::ProjectError;
    pub use crate::render::RenderError;
}

/// The resolver's old home: `vrender_engine::assets::AssetResolver` still names it.
pub use media::resolver as assets;
/// Chunked rendering and stills live under `render/`; their old paths still name them.
pub use render::{chunk, stills};

pub use encoder::ChunkFile;
pub use media::{AssetError, AssetResolver, MediaIndex};
pub use project::*;
pub use render::chunk::{chunk_ranges, ConcatRequest};
pub use render::stills::StillOutput;
pub use render::{
    AdapterSummary, CancelToken, EncoderPreference, Engine, EngineConfig, Phase, PreparedProject,
    Progress, RenderError, RenderRequest, RenderStats,
};
