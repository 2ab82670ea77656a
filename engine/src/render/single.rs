//! Single frames: the stills of a render without its video, a still of any frame, and projects
//! prepared once for many frames (previews scrubbing a timeline).

use std::borrow::Cow;

use super::error::RenderError;
use super::frames::FramePlan;
use super::stills::{self, StillOutput};
use super::{CancelToken, Engine, RenderRequest};
use crate::compositor::{FrameTarget, Reuse, Scene};
use crate::encoder::{DiscardEncoder, Frame};
use crate::media::AssetResolver;
use crate::project::{Limits, OutputFormat, Project, ProjectError};
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
        // Validated once and prepared once (on the first still that passes its checks); each still
        // then composes its one frame on a fresh target, as a one-frame render would.
        let media = self.media_index(&request.assets);
        self.check(project, &request.limits, &media)?;
        let timeline = Timeline::new(project);
        let total = timeline.total_frames();
        let mut scene: Option<Scene<'_>> = None;
        let format = request.format.unwrap_or(project.output_format);
        let alpha = format.has_alpha() && project.has_transparency();
        for frame in frames {
            let range = frame..frame + 1;
            if range.end > total {
                return Err(RenderError::Request(format!(
                    "frames {}..{} is outside the timeline's 0..{total}",
                    range.start, range.end
                )));
            }
            if format == OutputFormat::Gif {
                request
                    .gif
                    .resolve(project.width, project.height, project.frame_rate, 1)
                    .map_err(|e| RenderError::Project(ProjectError::Invalid(e)))?;
            }
            let stills: Vec<StillOutput> = request
                .stills
                .iter()
                .filter(|s| s.frame == frame)
                .cloned()
                .collect();
            for still in &stills {
                still
                    .check(&range, project.width)
                    .map_err(RenderError::Request)?;
            }
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
            let target =
                FrameTarget::new(&self.gpu, &self.compositor, project.width, project.height);
            let mut discard = DiscardEncoder::new(|_: &Frame| {});
            self.frame_loop(
                scene,
                &target,
                FramePlan {
                    range,
                    reuse: Reuse {
                        cache: request.frame_cache,
                        dirty: request.dirty_regions,
                    },
                    alpha,
                    stills: &stills,
                },
                &mut discard,
                &CancelToken::new(),
                &mut |_, _| {},
            )?;
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

/// A project made ready for single frames by [`Engine::prepare`]: its scene (decoded media, text,
/// atlas) and a frame target, kept between calls so each frame costs only its composition.
pub struct PreparedProject {
    scene: Scene<'static>,
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
