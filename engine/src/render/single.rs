//! Single frames: the stills of a render without its video, a still of any frame, and projects
//! prepared once for many frames (previews scrubbing a timeline, ranges rendered into encoders by
//! [`Engine::render_prepared_with`]).

use std::borrow::Cow;
use std::time::Instant;

use super::error::RenderError;
use super::range::{frame_range, RangeJob};
use super::stills;
use super::{CancelToken, Engine, RenderRequest};
use crate::compositor::{FrameTarget, Reuse, Scene};
use crate::encoder::{DiscardEncoder, Frame};
use crate::media::{AssetResolver, MediaIndex};
use crate::project::{Limits, Project};
use crate::timeline::Timeline;

impl Engine {
    /// Writes `request.stills` (posters, thumbnails) without encoding a video: each still's frame
    /// composed and read back exactly as a render of `request` would (YUV 4:2:0 for opaque
    /// formats, RGBA for transparent ones), so the pictures match the video's frames. For renders
    /// split into chunks, whose frames are encoded elsewhere.
    pub fn render_stills(
        &self,
        project: &Project,
        request: &RenderRequest,
    ) -> Result<(), RenderError> {
        let mut frames: Vec<u64> = request.stills.iter().map(|s| s.frame).collect();
        frames.sort_unstable();
        frames.dedup();
        // Validated once and prepared once (after the first still's frame is found in the
        // timeline); each still is then a one-frame, video-only render of that scene into nothing.
        let media = self.media_index(&request.assets);
        self.check(project, &request.limits, &media)?;
        let timeline = Timeline::new(project);
        let total = timeline.total_frames();
        let mut scene: Option<Scene<'_>> = None;
        for frame in frames {
            let range = frame_range(total, Some(&(frame..frame + 1)))?;
            let mut one = request.clone();
            one.frames = Some(range.clone());
            one.stills = request
                .stills
                .iter()
                .filter(|s| s.frame == frame)
                .cloned()
                .collect();
            one.video_only = true;
            one.silent_audio = false;
            if scene.is_none() {
                scene = Some(Scene::prepare(
                    &self.gpu,
                    &self.compositor,
                    &self.text,
                    Cow::Borrowed(project),
                    timeline.clone(),
                    &media,
                )?);
            }
            let scene = scene.as_ref().expect("prepared above");
            let job = RangeJob {
                scene,
                media: &media,
                range,
                request: &one,
                started: Instant::now(),
            };
            self.render_range(job, &mut |_, _, _| {}, &CancelToken::new(), &mut |_| {
                Ok(Box::new(DiscardEncoder::new(|_: &Frame| {})))
            })?;
        }
        Ok(())
    }

    /// Renders one frame of the timeline to an RGBA image (sRGB-encoded, straight alpha; opaque unless
    /// a background is transparent).
    pub fn render_still(
        &self,
        project: &Project,
        frame: u64,
        assets: &AssetResolver,
    ) -> Result<image::RgbaImage, RenderError> {
        self.render_still_with_limits(project, frame, assets, &Limits::default())
    }

    pub fn render_still_with_limits(
        &self,
        project: &Project,
        frame: u64,
        assets: &AssetResolver,
        limits: &Limits,
    ) -> Result<image::RgbaImage, RenderError> {
        let mut prepared = self.prepare(project.clone(), assets, limits)?;
        self.render_prepared(&mut prepared, frame)
    }

    /// Validates `project` and prepares it for [`Engine::render_prepared`]: media decoded, text
    /// rasterised, the atlas uploaded and a frame target allocated, once for any number of frames
    /// (previews scrubbing a timeline). The result belongs to this engine.
    pub fn prepare(
        &self,
        project: Project,
        assets: &AssetResolver,
        limits: &Limits,
    ) -> Result<PreparedProject, RenderError> {
        let media = self.media_index(assets);
        self.check(&project, limits, &media)?;
        let timeline = Timeline::new(&project);
        let scene = Scene::prepare(
            &self.gpu,
            &self.compositor,
            &self.text,
            Cow::Owned(project),
            timeline,
            &media,
        )?;
        let (w, h) = (scene.project().width, scene.project().height);
        let target = FrameTarget::new(&self.gpu, &self.compositor, w, h);
        let readback = self.gpu.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("still readback"),
            size: stills::rgba_row_bytes(w) as u64 * h as u64,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(PreparedProject {
            scene,
            media,
            target,
            readback,
        })
    }

    /// Renders frame `frame` of a project prepared by [`Engine::prepare`] (of this engine) to an
    /// RGBA image (sRGB-encoded, straight alpha; opaque unless a background is transparent): the
    /// composed pixels the video's frame is made from.
    pub fn render_prepared(
        &self,
        prepared: &mut PreparedProject,
        frame: u64,
    ) -> Result<image::RgbaImage, RenderError> {
        let PreparedProject {
            scene,
            target,
            readback: buffer,
            ..
        } = prepared;
        let total = scene.timeline.total_frames();
        if frame >= total {
            return Err(RenderError::Request(format!(
                "frame {frame} is past the end (the timeline has {total} frames)"
            )));
        }
        let (w, h) = (scene.project().width, scene.project().height);
        let mut encoder = self.gpu.device.create_command_encoder(&Default::default());
        scene.encode_frame(
            &self.gpu,
            &self.compositor,
            &mut encoder,
            target,
            frame,
            Reuse::default(),
        )?;
        target.copy_rgba(&mut encoder, buffer);
        let submission = self.gpu.queue.submit([encoder.finish()]);
        let (tx, rx) = std::sync::mpsc::channel();
        buffer.slice(..).map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.gpu
            .device
            .poll(wgpu::PollType::Wait {
                submission_index: Some(submission),
                timeout: None,
            })
            .map_err(|e| RenderError::Gpu(format!("waiting for the still: {e}")))?;
        if let Some(e) = self.gpu.take_error() {
            return Err(RenderError::Gpu(format!("frame {frame}: {e}")));
        }
        rx.recv()
            .map_err(|_| RenderError::Gpu("readback callback dropped".into()))?
            .map_err(|e| RenderError::Gpu(format!("mapping the still: {e}")))?;
        let mapped = buffer
            .slice(..)
            .get_mapped_range()
            .map_err(|e| RenderError::Gpu(format!("reading the still: {e}")))?;
        // Straight alpha, as image files expect (the compositor keeps it premultiplied).
        let pixels = stills::pack_rgba(&mapped, w, h);
        drop(mapped);
        buffer.unmap();
        Ok(image::RgbaImage::from_raw(w, h, pixels).expect("buffer size matches"))
    }
}

/// A project made ready by [`Engine::prepare`], once: validated, its media indexed, its scene
/// (decoded media, text, atlas) prepared, and a frame target, kept between calls so each frame
/// ([`Engine::render_prepared`]) or frame range ([`Engine::render_prepared_with`]) costs only its
/// composition and encoding.
pub struct PreparedProject {
    pub(super) scene: Scene<'static>,
    /// The project's media as validation and preparation learnt them (audio is mixed from it).
    pub(super) media: MediaIndex,
    target: FrameTarget,
    readback: wgpu::Buffer,
}

impl PreparedProject {
    pub fn project(&self) -> &Project {
        self.scene.project()
    }

    /// Frames of the project's timeline.
    pub fn total_frames(&self) -> u64 {
        self.scene.timeline.total_frames()
    }
}
