//! `vrender-engine`: renders a JSON video project to an encoded video.
//!
//! Data flows through the modules in this order:
//! [`project`] (format and validation) → [`timeline`] (what is on screen at frame *n*) →
//! [`compositor`] (wgpu + WGSL: layers, blend modes, RGBA → YUV on the GPU) → [`encoder`]
//! (x264 through an `ffmpeg` child process, NVENC behind the `nvenc` feature) → the output file.
//! [`audio`] mixes the project's audio tracks (and the sound of video layers) into the same file;
//! [`media`] resolves and probes media files, each once per render; [`video`] decodes the clips of
//! video layers.

pub mod audio;
pub mod chunk;
pub mod compositor;
pub mod encoder;
pub mod error;
pub mod media;
pub mod project;
pub mod stills;
pub mod timeline;
pub mod video;

pub use chunk::{chunk_ranges, ConcatRequest};
pub use encoder::ChunkFile;
pub use error::{AssetError, ProjectError, RenderError};
/// The resolver's old home: `vrender_engine::assets::AssetResolver` still names it.
pub use media::resolver as assets;
pub use media::{AssetResolver, MediaIndex};
pub use project::*;
pub use stills::StillOutput;
pub mod render;

pub use render::{
    AdapterSummary, CancelToken, EncoderPreference, Engine, EngineConfig, Phase, PreparedProject,
    Progress, RenderRequest, RenderStats,
};
