//! Video clips as layer content: probing files ([`probe`]), mapping layer time to source frames
//! ([`timing`]), streaming decoded frames out of an `ffmpeg` child ([`ClipPlayer`]) and the clip's
//! sound ([`audio`], mixed by [`crate::audio::AudioMixer`]).
//!
//! Everything goes through the installed `ffmpeg`/`ffprobe` binaries: whatever codecs they decode
//! can be used. Frames come out as 8-bit planar YUV 4:2:0 (plus an alpha plane for clips with
//! alpha); the compositor converts them to RGB on the GPU.

mod player;
pub mod timing;

pub use player::{ClipPlayer, VideoFrame, YuvMatrix};
pub use timing::{clip_end, ClipTiming};

/// Probing and the media tools live in [`crate::media`]; these names stay here for callers.
pub use crate::media::{
    check_decodes, ffprobe_path, media_runs, probe, ClipInfo, MediaRuns, MediaTools, VideoError,
};
/// Largest side of a video we decode, in pixels (after rotation), unless
/// [`crate::project::Limits::max_video_side`] says otherwise.
pub use crate::project::MAX_VIDEO_SIDE;
