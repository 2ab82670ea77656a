//! The engine's integration tests, gathered into one test binary (issue 25: one binary links the
//! dependency graph once instead of once per file). Each module is one former `tests/<name>.rs`,
//! unchanged; run one by its path, e.g. `cargo test -p vrender-engine --test engine golden::`.

mod audio_mix;
mod av_pipeline;
mod captions;
mod chunked;
mod compositor_paths;
mod golden;
mod media_once;
mod outputs;
mod schema;
mod text_fonts;
mod video_audio;
mod video_common;
mod video_player;
mod video_render;
mod video_validate;
