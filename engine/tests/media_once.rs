//! Media are probed once per job (issue 26): a project of three video clips, rendered whole, as
//! three chunks joined by `concat_chunks`, and as three stills, runs `ffprobe` on each clip once (one
//! probe: two `ffprobe` processes, streams and packets) and decodes its first frame at most once,
//! counted per file by the engine's own counter ([`video::media_runs`]). Before issue 26 the counts
//! per clip were 6 + 1 (render), 16 + 4 (chunks and join) and 12 + 3 (stills).

use crate::video_common::Media;

use std::sync::OnceLock;

use vrender_engine::video::{self, MediaRuns};
use vrender_engine::*;

fn engine() -> &'static Engine {
    static ENGINE: OnceLock<Engine> = OnceLock::new();
    ENGINE.get_or_init(|| {
        Engine::new(EngineConfig::default()).expect("a GPU adapter (lavapipe in CI)")
    })
}

const CLIPS: [&str; 3] = ["a.mp4", "b.mp4", "c.mp4"];

/// Three one-second compositions at 30 fps, each showing one of three clips (with its sound on).
fn three_clips(media: &Media) -> Project {
    let mut p = Project::new(64, 48, 30.0);
    for name in CLIPS {
        media.h264(name, 30, "30", &[]);
        p.push(
            Composition::new(1.0)
                .background("#102030".parse().unwrap())
                .layer(Layer::video(name)),
        );
    }
    p
}

fn runs(media: &Media) -> Vec<MediaRuns> {
    CLIPS
        .iter()
        .map(|n| video::media_runs(&media.path(n)))
        .collect()
}

/// The runs of each clip since `before`.
fn since(media: &Media, before: &[MediaRuns]) -> Vec<MediaRuns> {
    runs(media)
        .iter()
        .zip(before)
        .map(|(now, was)| MediaRuns {
            ffprobe: now.ffprobe - was.ffprobe,
            test_decodes: now.test_decodes - was.test_decodes,
        })
        .collect()
}

fn assert_once(what: &str, per_clip: &[MediaRuns]) {
    eprintln!("{what}: {per_clip:?}");
    for (name, r) in CLIPS.iter().zip(per_clip) {
        assert_eq!(
            r.ffprobe, 2,
            "{what}: `{name}` probed more than once: {r:?}"
        );
        assert!(
            r.test_decodes <= 1,
            "{what}: `{name}` test-decoded more than once: {r:?}"
        );
    }
}

#[test]
fn each_clip_is_probed_once_per_render() {
    let media = Media::new();
    let project = three_clips(&media);
    let assets = AssetResolver::relative_to(media.dir.path());
    let before = runs(&media);
    engine()
        .render(
            &project,
            &RenderRequest::new(media.path("whole.mp4"), assets.clone()),
            &mut |_| {},
            &CancelToken::new(),
        )
        .expect("render");
    assert_once("render", &since(&media, &before));

    // The engine remembers the clips while they stay the same file: a second render probes none,
    let before = runs(&media);
    engine()
        .render(
            &project,
            &RenderRequest::new(media.path("again.mp4"), assets.clone()),
            &mut |_| {},
            &CancelToken::new(),
        )
        .expect("render again");
    let again = since(&media, &before);
    assert!(
        again.iter().all(|r| r.ffprobe == 0 && r.test_decodes == 0),
        "{again:?}"
    );
    // but a clip written again is probed again.
    media.h264(CLIPS[1], 20, "30", &[]);
    let before = runs(&media);
    engine()
        .render(
            &project,
            &RenderRequest::new(media.path("changed.mp4"), assets.clone()),
            &mut |_| {},
            &CancelToken::new(),
        )
        .expect("render of a changed clip");
    let changed = since(&media, &before);
    assert_eq!(
        changed.iter().map(|r| r.ffprobe).collect::<Vec<_>>(),
        [0, 2, 0],
        "{changed:?}"
    );
}

#[test]
fn each_clip_is_probed_once_per_chunked_render() {
    let media = Media::new();
    let project = three_clips(&media);
    let assets = AssetResolver::relative_to(media.dir.path());
    let before = runs(&media);
    let total = chunk::total_frames(&project);
    let mut chunks = Vec::new();
    for (n, range) in chunk_ranges(total, total.div_ceil(3))
        .into_iter()
        .enumerate()
    {
        let path = media.path(&format!("chunk-{n}.mp4"));
        let req = RenderRequest::new(&path, assets.clone());
        engine()
            .render_chunk(
                &project,
                range.clone(),
                &req,
                &mut |_| {},
                &CancelToken::new(),
            )
            .expect("chunk");
        chunks.push(ChunkFile {
            path,
            frames: range.end - range.start,
        });
    }
    assert_eq!(chunks.len(), 3);
    engine()
        .concat_chunks(
            &project,
            &ConcatRequest {
                chunks,
                output: media.path("joined.mp4"),
                format: None,
                assets: assets.clone(),
                limits: Limits::default(),
                silent_audio: false,
                faststart: true,
            },
            &CancelToken::new(),
        )
        .expect("concat");
    assert_once("3 chunks + concat", &since(&media, &before));
}

#[test]
fn each_clip_is_probed_once_for_stills() {
    let media = Media::new();
    let project = three_clips(&media);
    let assets = AssetResolver::relative_to(media.dir.path());
    let before = runs(&media);
    let mut req = RenderRequest::new(media.path("unused.mp4"), assets.clone());
    req.stills = [10, 40, 70]
        .iter()
        .map(|&frame| StillOutput {
            frame,
            width: None,
            path: media.path(&format!("still-{frame}.png")),
        })
        .collect();
    engine().render_stills(&project, &req).expect("stills");
    for s in &req.stills {
        assert!(s.path.is_file(), "{} was not written", s.path.display());
    }
    assert_once("3 stills", &since(&media, &before));
}

/// Every frame of `render`'s encoder input, by timeline index.
fn frames_of(
    render: impl FnOnce(
        &mut dyn FnMut(encoder::EncoderConfig) -> Result<Box<dyn encoder::Encoder>, RenderError>,
    ),
) -> Vec<(u64, Vec<u8>)> {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = std::sync::Arc::clone(&got);
    render(&mut move |_| {
        let sink = std::sync::Arc::clone(&sink);
        Ok(Box::new(encoder::DiscardEncoder::new(
            move |f: &encoder::Frame| sink.lock().unwrap().push((f.index, f.data.clone())),
        )))
    });
    let frames = got.lock().unwrap().clone();
    frames
}

#[test]
fn a_prepared_project_renders_ranges_without_probing_again() {
    let media = Media::new();
    let project = three_clips(&media);
    let assets = AssetResolver::relative_to(media.dir.path());
    let before = runs(&media);
    let prepared = engine()
        .prepare(project.clone(), &assets, &Limits::default())
        .expect("prepare");
    let total = prepared.total_frames();
    let mut ranges = Vec::new();
    for range in chunk_ranges(total, total.div_ceil(3)) {
        let mut req = RenderRequest::new(media.path("unused.mp4"), assets.clone());
        req.frames = Some(range);
        req.video_only = true;
        ranges.extend(frames_of(|open| {
            engine()
                .render_prepared_with(&prepared, &req, &mut |_| {}, &CancelToken::new(), open)
                .expect("range of the prepared project");
        }));
    }
    assert_once("prepare + 3 ranges", &since(&media, &before));
    let whole = frames_of(|open| {
        let req = RenderRequest::new(media.path("unused.mp4"), assets.clone());
        engine()
            .render_with(&project, &req, &mut |_| {}, &CancelToken::new(), open)
            .expect("whole render");
    });
    assert_eq!(ranges.len() as u64, total);
    assert_eq!(
        ranges.iter().map(|f| f.0).collect::<Vec<_>>(),
        (0..total).collect::<Vec<_>>()
    );
    for ((n, a), (_, b)) in ranges.iter().zip(&whole) {
        assert!(
            a == b,
            "frame {n} of the ranges differs from the whole render's"
        );
    }
}
