//! The frame loop of a render: compose frame N+1 on the GPU while frame N is read back (YUV, or
//! RGBA for outputs with alpha) and handed to the encoder, taking posters and thumbnails on the way.

use std::collections::VecDeque;
use std::ops::Range;
use std::time::{Duration, Instant};

use super::error::RenderError;
use super::stills::{self, StillOutput};
use super::{CancelToken, Engine};
use crate::compositor::{FrameTarget, Region, Reuse, Scene};
use crate::encoder::{self, Frame};

/// Which frames [`Engine::frame_loop`] composes, what it may reuse from earlier frames, whether
/// it reads back RGBA (outputs with alpha) instead of YUV, and the stills to take on the way.
pub(super) struct FramePlan<'a> {
    pub range: Range<u64>,
    pub reuse: Reuse,
    pub alpha: bool,
    pub stills: &'a [StillOutput],
}

/// Staging buffers in flight: composing frame N+1 overlaps reading back and encoding frame N.
const READBACK_SLOTS: usize = 3;

impl Engine {
    /// Composes, converts and reads back every frame of `range`, handing each to `enc`. Returns how
    /// many frames started from the static-layer cache and how many were composed only in part.
    pub(super) fn frame_loop(
        &self,
        scene: &Scene<'_>,
        target: &FrameTarget,
        plan: FramePlan,
        enc: &mut dyn encoder::Encoder,
        cancel: &CancelToken,
        report: &mut dyn FnMut(u64, Instant),
    ) -> Result<(u64, u64), RenderError> {
        let FramePlan {
            range,
            reuse,
            alpha,
            stills,
        } = plan;
        let device = &self.gpu.device;
        let (w, h) = (target.width, target.height);
        let len = if alpha {
            stills::rgba_row_bytes(w) as u64 * h as u64
        } else {
            target.yuv_len()
        };
        let staging: Vec<wgpu::Buffer> = (0..READBACK_SLOTS)
            .map(|_| {
                device.create_buffer(&wgpu::BufferDescriptor {
                    label: Some("yuv readback"),
                    size: len,
                    usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
                    mapped_at_creation: false,
                })
            })
            .collect();
        struct InFlight {
            slot: usize,
            frame: u64,
            submission: wgpu::SubmissionIndex,
            mapped: std::sync::mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
        }
        let mut in_flight: VecDeque<InFlight> = VecDeque::with_capacity(READBACK_SLOTS);
        let started = Instant::now();
        let mut last_report = Instant::now();
        let mut encoded = 0u64;
        let mut cached_frames = 0u64;
        let mut partial_frames = 0u64;
        let drain = |f: InFlight, enc: &mut dyn encoder::Encoder| -> Result<(), RenderError> {
            device
                .poll(wgpu::PollType::Wait {
                    submission_index: Some(f.submission),
                    timeout: None,
                })
                .map_err(|e| RenderError::Gpu(format!("waiting for frame {}: {e}", f.frame)))?;
            f.mapped
                .recv()
                .map_err(|_| RenderError::Gpu("readback callback dropped".into()))?
                .map_err(|e| RenderError::Gpu(format!("mapping frame {}: {e}", f.frame)))?;
            if let Some(e) = self.gpu.take_error() {
                return Err(RenderError::Gpu(format!("frame {}: {e}", f.frame)));
            }
            let buffer = &staging[f.slot];
            let mapped = buffer
                .slice(..)
                .get_mapped_range()
                .map_err(|e| RenderError::Gpu(format!("reading frame {}: {e}", f.frame)))?;
            let data = if alpha {
                stills::pack_rgba(&mapped, w, h)
            } else {
                mapped.to_vec()
            };
            drop(mapped);
            buffer.unmap();
            for still in stills.iter().filter(|s| s.frame == f.frame) {
                stills::write(still, &data, (w, h, target.stride), alpha)?;
            }
            enc.send_frame(Some(Frame {
                index: f.frame,
                data,
            }))?;
            Ok(())
        };
        for n in range {
            if cancel.is_cancelled() {
                return Err(RenderError::Cancelled);
            }
            if in_flight.len() == READBACK_SLOTS {
                let f = in_flight.pop_front().expect("non-empty");
                drain(f, enc)?;
            }
            let slot = (n as usize) % READBACK_SLOTS;
            let mut encoder = device.create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("frame"),
            });
            let composed =
                scene.encode_frame(&self.gpu, &self.compositor, &mut encoder, target, n, reuse)?;
            cached_frames += u64::from(composed.from_cache);
            partial_frames += u64::from(composed.region != Region::Full);
            if alpha {
                target.copy_rgba(&mut encoder, &staging[slot]);
            } else {
                target.encode_yuv(
                    &self.gpu.queue,
                    &self.compositor,
                    &mut encoder,
                    composed.region,
                );
                encoder.copy_buffer_to_buffer(&target.yuv, 0, &staging[slot], 0, len);
            }
            let submission = self.gpu.queue.submit([encoder.finish()]);
            let (tx, rx) = std::sync::mpsc::channel();
            staging[slot]
                .slice(..)
                .map_async(wgpu::MapMode::Read, move |r| {
                    let _ = tx.send(r);
                });
            in_flight.push_back(InFlight {
                slot,
                frame: n,
                submission,
                mapped: rx,
            });
            while let Ok(encoder::Packet::Written { frames_encoded }) = enc.receive_packet() {
                encoded = frames_encoded;
            }
            if last_report.elapsed() >= Duration::from_millis(250) {
                last_report = Instant::now();
                report(encoded, started);
            }
        }
        while let Some(f) = in_flight.pop_front() {
            if cancel.is_cancelled() {
                return Err(RenderError::Cancelled);
            }
            drain(f, enc)?;
        }
        Ok((cached_frames, partial_frames))
    }
}
