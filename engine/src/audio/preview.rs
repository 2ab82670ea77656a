//! `play`: the mix on the default output device, through `cpal` (feature `preview`).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample, StreamConfig};

use super::{AudioError, AudioMixer, SAMPLE_RATE};

/// Interleaved stereo samples per block handed to the audio thread.
const BLOCK: usize = 4096 * 2;
/// Blocks queued ahead of the device (about 0.7 s).
const QUEUE: usize = 4;

/// Plays the mix on the default output device and returns when it has been played.
///
/// The device must accept 48 kHz (any channel count: stereo goes to the first two channels,
/// a mono device gets the average) in f32, i16, i32 or u16 samples.
pub fn play(mut mixer: AudioMixer) -> Result<(), AudioError> {
    let out = |m: String| AudioError::Output(m);
    let host = cpal::default_host();
    let device = host
        .default_output_device()
        .ok_or_else(|| out("no default output device".into()))?;
    let preferred = [
        SampleFormat::F32,
        SampleFormat::I16,
        SampleFormat::I32,
        SampleFormat::U16,
    ];
    let ranges: Vec<_> = device
        .supported_output_configs()
        .map_err(|e| out(format!("cannot query the output device: {e}")))?
        .filter(|r| r.min_sample_rate() <= SAMPLE_RATE && SAMPLE_RATE <= r.max_sample_rate())
        .filter(|r| preferred.contains(&r.sample_format()) && r.channels() >= 1)
        .collect();
    let range = preferred
        .iter()
        .find_map(|f| {
            let of_format = ranges.iter().filter(|r| r.sample_format() == *f);
            // Stereo if offered, else the fewest channels.
            of_format.min_by_key(|r| if r.channels() == 2 { 0 } else { r.channels() })
        })
        .copied()
        .ok_or_else(|| out(format!("the output device does not play {SAMPLE_RATE} Hz")))?;
    let format = range.sample_format();
    let config = range.with_sample_rate(SAMPLE_RATE).config();
    tracing::info!(channels = config.channels, ?format, "playing audio preview");
    match format {
        SampleFormat::F32 => run::<f32>(&device, config, &mut mixer),
        SampleFormat::I16 => run::<i16>(&device, config, &mut mixer),
        SampleFormat::I32 => run::<i32>(&device, config, &mut mixer),
        _ => run::<u16>(&device, config, &mut mixer),
    }
}

fn run<T>(
    device: &cpal::Device,
    config: StreamConfig,
    mixer: &mut AudioMixer,
) -> Result<(), AudioError>
where
    T: SizedSample + FromSample<f32> + Send + 'static,
{
    let out = |m: String| AudioError::Output(m);
    let channels = usize::from(config.channels);
    let (tx, rx) = mpsc::sync_channel::<Vec<f32>>(QUEUE);
    let finished = Arc::new(AtomicBool::new(false));
    let failed = Arc::new(AtomicBool::new(false));
    let (fin, fail) = (finished.clone(), failed.clone());
    let mut pending: VecDeque<f32> = VecDeque::new();
    let mut sender_gone = false;
    let stream = device
        .build_output_stream::<T, _, _>(
            config,
            move |data: &mut [T], _| {
                for frame in data.chunks_mut(channels) {
                    if pending.len() < 2 && !sender_gone {
                        match rx.try_recv() {
                            Ok(block) => pending.extend(block),
                            Err(mpsc::TryRecvError::Disconnected) => sender_gone = true,
                            Err(mpsc::TryRecvError::Empty) => {}
                        }
                    }
                    let (l, r) = match (pending.pop_front(), pending.pop_front()) {
                        (Some(l), Some(r)) => (l, r),
                        _ => {
                            if sender_gone {
                                fin.store(true, Ordering::Release);
                            }
                            (0.0, 0.0)
                        }
                    };
                    match frame.len() {
                        1 => frame[0] = T::from_sample((l + r) * 0.5),
                        _ => {
                            frame[0] = T::from_sample(l);
                            frame[1] = T::from_sample(r);
                            for s in &mut frame[2..] {
                                *s = T::from_sample(0.0f32);
                            }
                        }
                    }
                }
            },
            move |e| {
                tracing::error!("audio output error: {e}");
                fail.store(true, Ordering::Release);
            },
            None,
        )
        .map_err(|e| out(format!("cannot open the output stream: {e}")))?;
    stream
        .play()
        .map_err(|e| out(format!("cannot start playback: {e}")))?;
    loop {
        let mut block = vec![0.0f32; BLOCK];
        let n = mixer.read(&mut block)?;
        if n == 0 {
            break;
        }
        block.truncate(n);
        if tx.send(block).is_err() || failed.load(Ordering::Acquire) {
            return Err(out("the output stream stopped".into()));
        }
    }
    drop(tx);
    while !finished.load(Ordering::Acquire) {
        if failed.load(Ordering::Acquire) {
            return Err(out("the output stream stopped".into()));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    // Let the device play out its buffer.
    std::thread::sleep(Duration::from_millis(200));
    Ok(())
}
