//! Recording one frame's passes: the draw list's segments into their destinations, consecutive
//! layers with the same shader and blend state in one instanced draw, a pass split and a backdrop
//! copy before each layer in a backdrop blend mode, the static-layer cache reused or rebuilt, and
//! the cross-fade at the end.

use std::ops::Range;

use super::cache::{CachePlan, FrameCache};
use super::dirty::Region;
use super::draw::{Dest, DrawList};
use super::gpu::Gpu;
use super::pipelines::{BlendClass, DrawKind};
use super::scene::Scene;
use super::target::FrameTarget;
use super::video::VideoSlot;
use super::ComposeError;
use super::Compositor;

/// Records passes into one command encoder, opening and ending render passes as destinations
/// change. The first pass into a destination clears it; later ones load.
struct Recorder<'a> {
    scene: &'a Scene<'a>,
    compositor: &'a Compositor,
    target: &'a FrameTarget,
    cache: &'a FrameCache,
    videos: &'a [VideoSlot],
    list: &'a DrawList,
    encoder: &'a mut wgpu::CommandEncoder,
    pass: Option<(Dest, wgpu::RenderPass<'static>)>,
    /// Whether each destination (Main, Incoming, Cache) already holds this frame's pixels.
    started: [bool; 3],
}

impl Recorder<'_> {
    fn clear_color(&self, dest: Dest) -> [f32; 4] {
        let slot = if dest == Dest::Cache {
            Dest::Main
        } else {
            dest
        };
        // Without an unclipped background (wipe and slide transitions draw each scene's background
        // inside its scissor) the pass starts transparent: a transparent scene stays transparent,
        // and opaque formats show it over black like any other transparent pixel.
        self.list.clear[slot as usize].unwrap_or([0.0; 4])
    }

    /// Makes sure a render pass into `dest` is open.
    fn open(&mut self, dest: Dest) -> &mut wgpu::RenderPass<'static> {
        if !self.pass.as_ref().is_some_and(|(d, _)| *d == dest) {
            self.pass = None; // end the previous pass before starting another
            let load = if std::mem::replace(&mut self.started[dest as usize], true) {
                wgpu::LoadOp::Load
            } else {
                let [r, g, b, a] = self.clear_color(dest).map(f64::from);
                wgpu::LoadOp::Clear(wgpu::Color { r, g, b, a })
            };
            let p = self
                .encoder
                .begin_render_pass(&wgpu::RenderPassDescriptor {
                    label: Some("compose"),
                    color_attachments: &[Some(wgpu::RenderPassColorAttachment {
                        view: self.target.view(dest, self.cache),
                        depth_slice: None,
                        resolve_target: None,
                        ops: wgpu::Operations {
                            load,
                            store: wgpu::StoreOp::Store,
                        },
                    })],
                    ..Default::default()
                })
                .forget_lifetime();
            self.pass = Some((dest, p));
        }
        &mut self.pass.as_mut().expect("just opened").1
    }

    /// Copies `rect` (x0, y0, x1, y1) of `from` into `to`, outside any pass.
    fn copy(&mut self, from: &wgpu::Texture, to: &wgpu::Texture, rect: [u32; 4]) {
        self.pass = None;
        let origin = wgpu::Origin3d {
            x: rect[0],
            y: rect[1],
            z: 0,
        };
        self.encoder.copy_texture_to_texture(
            wgpu::TexelCopyTextureInfo {
                texture: from,
                mip_level: 0,
                origin,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::TexelCopyTextureInfo {
                texture: to,
                mip_level: 0,
                origin,
                aspect: wgpu::TextureAspect::All,
            },
            wgpu::Extent3d {
                width: rect[2] - rect[0],
                height: rect[3] - rect[1],
                depth_or_array_layers: 1,
            },
        );
    }

    /// Opens a pass into `dest` with the pipeline of (`kind`, `class`) and the layers' bind groups
    /// (group 1: a video layer's planes).
    fn bind(
        &mut self,
        dest: Dest,
        kind: DrawKind,
        class: BlendClass,
        video_group: Option<&wgpu::BindGroup>,
    ) -> &mut wgpu::RenderPass<'static> {
        let pipeline = self.compositor.pipelines.layer(kind, class);
        let bind_group = &self.scene.bind_group;
        let p = self.open(dest);
        p.set_pipeline(pipeline);
        p.set_bind_group(0, bind_group, &[]);
        if let Some(g) = video_group {
            p.set_bind_group(1, g, &[]);
        }
        p
    }

    /// Draws records `range` into `dest`, clipped to `scissor`.
    fn draw(&mut self, dest: Dest, range: Range<u32>, scissor: [u32; 4]) {
        if scissor[2] <= scissor[0] || scissor[3] <= scissor[1] {
            return;
        }
        self.open(dest); // clears the destination even if no layer follows
        let list = self.list;
        let class_of = |i: u32| BlendClass::of(list.layers[i as usize].info[1]);
        let mut i = range.start;
        while i < range.end {
            let class = class_of(i);
            let kind = list.kind(i);
            // A video layer's planes are its own bind group (1; the backdrop moves to 2).
            let (video_group, backdrop_index) = if kind.video() {
                let slot = list.layers[i as usize].info[2] as usize;
                (Some(&self.videos[slot].bind_group), 2)
            } else {
                (None, 1)
            };
            if class != BlendClass::Backdrop {
                // Consecutive layers with the same shader and blend state go in one instanced
                // draw; instances rasterise in order, so stacking is preserved.
                let mut j = i + 1;
                while j < range.end
                    && class_of(j) == class
                    && list.kind(j) == kind
                    && video_group.is_none()
                {
                    j += 1;
                }
                let p = self.bind(dest, kind, class, video_group);
                p.set_scissor_rect(
                    scissor[0],
                    scissor[1],
                    scissor[2] - scissor[0],
                    scissor[3] - scissor[1],
                );
                p.draw(0..kind.vertices(), i..j);
                i = j;
                continue;
            }
            // The layer's pixels of the backdrop, copied so the shader can read them.
            let b = list.bboxes[i as usize];
            let r = [
                b[0].max(scissor[0]),
                b[1].max(scissor[1]),
                b[2].min(scissor[2]),
                b[3].min(scissor[3]),
            ];
            if r[2] > r[0] && r[3] > r[1] {
                self.open(dest); // make sure an earlier clear has happened
                let (target, cache) = (self.target, self.cache);
                self.copy(target.texture(dest, cache), &target.backdrop, r);
                let p = self.bind(dest, kind, class, video_group);
                p.set_bind_group(backdrop_index, &target.backdrop_group, &[]);
                p.set_scissor_rect(r[0], r[1], r[2] - r[0], r[3] - r[1]);
                p.draw(0..kind.vertices(), i..i + 1);
            }
            i += 1;
        }
    }
}

/// What a frame may reuse from the frames before it on the same target (both on in renders; off for
/// single frames, measurements and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Reuse {
    /// Static bottom layers composed once (see `cache.rs`).
    pub cache: bool,
    /// Only the part that changed drawn again (see `dirty.rs`).
    pub dirty: bool,
}

/// What [`Scene::encode_frame`] composed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Composed {
    /// The frame started from the static-layer cache (see `cache.rs`).
    pub from_cache: bool,
    /// The part of the frame drawn again: [`Region::Full`], or only what changed since the previous
    /// frame (see `dirty.rs`); the YUV pass converts the same part.
    pub region: Region,
}

impl Scene<'_> {
    /// Uploads frame `n`'s layers and records its passes into `target`: one render pass, plus one per
    /// layer in a backdrop blend mode (overlay, darken, lighten) and two more during a cross-fade.
    /// With `reuse.dirty`, only the part that changed since the previous frame on this target is
    /// drawn again (see `dirty.rs`); with `reuse.cache` (and a full frame), static bottom layers are
    /// composed once and reused (see `cache.rs`). The pixels are the same either way. Video layers get their frame for this time
    /// first (decoded ahead by their players; uploaded only when it changed).
    pub fn encode_frame(
        &self,
        gpu: &Gpu,
        compositor: &Compositor,
        encoder: &mut wgpu::CommandEncoder,
        target: &FrameTarget,
        frame: u64,
        reuse: Reuse,
    ) -> Result<Composed, ComposeError> {
        let mut list = self.frame_data(frame);
        if !list.captions.is_empty() {
            super::captions::show(
                gpu,
                &self.text,
                &self.captions,
                &self.atlas.texture,
                encoder,
                &list.captions,
            )?;
        }
        let mut videos = self.videos.lock().unwrap_or_else(|e| e.into_inner());
        if !list.videos.is_empty() {
            let mut shown = vec![None; videos.len()];
            for &(slot, tau) in &list.videos {
                shown[slot] = Some(videos[slot].show(gpu, tau)?);
            }
            // The shown frame is part of what a record draws: the cache sees a changed picture.
            for g in &mut list.layers {
                if DrawKind::from_code(g.info[0]).video() {
                    let slot = g.info[2] as usize;
                    let index = shown[slot].unwrap_or(0);
                    g.info2[1] = index as u32;
                    g.info2[2] = (index >> 32) as u32;
                    (g.fill, g.shape) = videos[slot].colour;
                }
            }
        }
        gpu.queue
            .write_buffer(&self.layer_buf, 0, bytemuck::cast_slice(&list.layers));
        let region = target.dirty.lock().unwrap_or_else(|e| e.into_inner()).plan(
            &list,
            reuse.dirty,
            (target.width, target.height),
            target.stride,
        );
        let mut frame_cache = target.cache.lock().unwrap_or_else(|e| e.into_inner());
        // A region is drawn without the static-layer cache (what the cache holds stays valid).
        let plan = match region {
            Region::Full => frame_cache.plan(&list, reuse.cache),
            Region::Part(_) => CachePlan::Bypass,
        };
        let mut rec = Recorder {
            scene: self,
            compositor,
            target,
            cache: &frame_cache,
            videos: &videos,
            list: &list,
            encoder,
            pass: None,
            // A region starts from the previous frame's pixels.
            started: [region != Region::Full, false, false],
        };
        if let Region::Part(r) = region {
            // Every record from the background up, clipped to the region.
            if r[2] > r[0] && r[3] > r[1] {
                let range = list.segments[0].range.clone();
                rec.draw(
                    Dest::Main,
                    range.start - 1..range.end,
                    [r[0], r[1], r[2].min(target.width), r[3]],
                );
            }
            rec.pass = None;
            return Ok(Composed {
                from_cache: false,
                region,
            });
        }
        let full = [0, 0, target.width, target.height];
        match plan {
            CachePlan::Bypass => {
                for seg in &list.segments {
                    rec.draw(seg.dest, seg.range.clone(), seg.scissor.unwrap_or(full));
                }
            }
            CachePlan::Reuse { from } | CachePlan::Rebuild { len: from } => {
                let range = list.segments[0].range.clone();
                let split = range.start + from as u32;
                if matches!(plan, CachePlan::Rebuild { .. }) {
                    rec.draw(Dest::Cache, range.start..split, full);
                }
                rec.copy(&frame_cache.texture, &target.texture, full);
                rec.started[Dest::Main as usize] = true;
                rec.draw(Dest::Main, split..range.end, full);
            }
        }
        if let Some(progress) = list.fade {
            let p = rec.open(Dest::Main);
            p.set_pipeline(&compositor.pipelines.fade);
            p.set_bind_group(0, &target.incoming_group, &[]);
            let k = progress as f64;
            p.set_blend_constant(wgpu::Color {
                r: k,
                g: k,
                b: k,
                a: k,
            });
            p.draw(0..3, 0..1);
        }
        rec.pass = None;
        Ok(Composed {
            from_cache: plan != CachePlan::Bypass,
            region: Region::Full,
        })
    }
}
