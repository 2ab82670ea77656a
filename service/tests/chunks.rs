//! Chunked rendering across workers, end to end: the real `vrender serve` (embedded store, queue
//! and storage) with two workers and lowered chunk settings splits a long job into chunks, renders
//! them in parallel, joins them and completes the job. The output is checked with the real
//! `ffprobe`/`ffmpeg` against a single-piece `vrender render` of the same project: exact frame
//! count, duration, PSNR ≥ 45 dB on both sides of every seam, audio length. A cancelled chunked
//! job leaves no chunk objects and no scratch files.

use crate::common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::video::{decode, moving_project, psnr, render_single, run, stream, write_tone, H, W};
use common::{ffprobe, files_under, Server};
use serde_json::{json, Value};

const TIMEOUT: Duration = Duration::from_secs(240);
const FPS: f64 = 10.0;

/// Chunks of 10 s over a 30 s threshold, two workers.
const ENV: &[(&str, &str)] = &[
    ("MAX_CONCURRENT_RENDERS", "2"),
    ("CHUNK_THRESHOLD_SECONDS", "30"),
    ("CHUNK_SECONDS", "10"),
];

fn download(server: &Server, job: &Value, to: &Path) {
    let url = job["outputUrl"].as_str().expect("outputUrl");
    let resp = server.client.get(url).send().unwrap();
    assert_eq!(resp.status(), 200);
    std::fs::write(to, resp.bytes().unwrap()).unwrap();
}

#[test]
fn long_job_renders_in_chunks_on_two_workers_and_matches_a_single_render() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(data.join("assets")).unwrap();
    write_tone(&data.join("assets/tone.wav"));
    let server = Server::start(&data, ENV);
    let project = moving_project("u-chunks", 60.0, FPS, true);
    let pid = server.create_project(&project);
    let started = Instant::now();
    // A poster and a thumbnail do not stop the split: they are composed at the join.
    let job = server.submit(&json!({"projectId": pid, "outputFormat": "mp4",
        "poster": {"time": 42.0}, "thumbnail": {"time": 42.0, "width": 80}}));
    let id = job["jobId"].as_str().unwrap().to_string();

    // Both workers render chunks at once: seen as two running renders for one job.
    let mut saw_two = false;
    let mut max_done = 0;
    let done = loop {
        let j = server.job(&id);
        let (_, health) = server.get("/api/v1/health");
        if j["status"] == "processing" && health["runningRenders"] == 2 {
            saw_two = true;
        }
        if let Some(n) = j["chunksDone"].as_u64() {
            assert!(n >= max_done, "chunksDone went back: {j}");
            max_done = n;
        }
        if matches!(
            j["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        ) {
            break j;
        }
        assert!(
            started.elapsed() < TIMEOUT,
            "not done in {TIMEOUT:?}: {j}\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let elapsed = started.elapsed();
    assert_eq!(done["status"], "completed", "{done}\n{}", server.log_tail());
    assert_eq!(done["chunksTotal"], 6, "{done}");
    assert_eq!(done["chunksDone"], 6, "{done}");
    assert_eq!(done["framesTotal"], 600, "{done}");
    assert_eq!(done["progress"], 100.0);
    assert!(saw_two, "never saw two chunks rendering at once");
    eprintln!("chunked job: {:.1} s", elapsed.as_secs_f64());

    let joined = dir.path().join("joined.mp4");
    download(&server, &done, &joined);
    // The chunk objects and scratch files are gone.
    assert!(files_under(&data.join("outputs/chunks")).is_empty());
    assert!(
        server.scratch_files().is_empty(),
        "{:?}",
        server.scratch_files()
    );

    // The same project rendered in one piece by the CLI.
    // (Written next to tone.wav: the CLI resolves media relative to the project file.)
    let single = dir.path().join("single.mp4");
    render_single(&project, &data.join("assets"), &single);

    let probe = ffprobe(&joined);
    let video = stream(&probe, "video").expect("video stream");
    assert_eq!(video["codec_name"], "h264");
    assert_eq!(video["nb_read_frames"], "600", "{probe}");
    let vdur: f64 = video["duration"].as_str().unwrap().parse().unwrap();
    assert!((vdur - 60.0).abs() < 0.15, "video lasts {vdur} s");
    let audio = stream(&probe, "audio").expect("audio stream");
    let adur: f64 = audio["duration"].as_str().unwrap().parse().unwrap();
    assert!((adur - 60.0).abs() < 0.1, "audio lasts {adur} s");
    let single_probe = ffprobe(&single);
    assert_eq!(
        stream(&single_probe, "video").unwrap()["nb_read_frames"],
        "600"
    );

    let a = decode(&single, W, H);
    let b = decode(&joined, W, H);
    assert_eq!((a.len(), b.len()), (600, 600));
    // The poster is the video's frame 420 (42 s at 10 fps), the thumbnail the same picture smaller.
    let still = |key: &str| {
        let url = done[key]
            .as_str()
            .unwrap_or_else(|| panic!("{key}: {done}"));
        let resp = server.client.get(url).send().unwrap();
        assert_eq!(resp.status(), 200, "{key}");
        image::load_from_memory(&resp.bytes().unwrap()).unwrap()
    };
    let rgb_frame = |n: u32| {
        run(Command::new("ffmpeg")
            .args(["-v", "error", "-nostdin", "-i"])
            .arg(&joined)
            .args(["-vf", &format!("select=eq(n\\,{n})"), "-frames:v", "1"])
            .args(["-f", "rawvideo", "-pix_fmt", "rgb24", "-"]))
    };
    let poster = still("posterUrl").to_rgb8();
    assert_eq!((poster.width() as u64, poster.height() as u64), (W, H));
    let db = psnr(poster.as_raw(), &rgb_frame(420));
    eprintln!("poster vs the joined video's frame 420: {db:.1} dB");
    assert!(db >= 38.0, "poster vs frame 420: {db:.1} dB");
    assert!(
        psnr(poster.as_raw(), &rgb_frame(400)) < db,
        "the poster is closer to frame 400"
    );
    let thumb = still("thumbnailUrl");
    assert_eq!((thumb.width(), thumb.height()), (80, 45));

    for seam in [100usize, 200, 300, 400, 500] {
        for n in [seam - 1, seam] {
            let db = psnr(&a[n], &b[n]);
            eprintln!("seam {seam}: frame {n}: PSNR {db:.1} dB");
            assert!(db >= 45.0, "frame {n} at seam {seam}: PSNR {db:.1} dB");
        }
        // Neighbouring frames differ, so a shifted frame would fail the check above.
        assert!(psnr(&a[seam - 1], &b[seam]) < 45.0);
    }
}

#[test]
fn cancelling_a_chunked_job_leaves_no_chunks_or_scratch_files() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), ENV);
    // 20 chunks: still rendering when cancelled.
    let pid = server.create_project(&moving_project("u-cancel", 200.0, FPS, false));
    let job = server.submit(&json!({"projectId": pid}));
    let id = job["jobId"].as_str().unwrap().to_string();
    // Cancel once some chunks are stored and others are rendering.
    let j = server.wait_for(&id, TIMEOUT, |j| {
        j["chunksDone"].as_u64().unwrap_or(0) >= 1
            || j["status"] != "processing" && j["status"] != "queued"
    });
    assert_eq!(j["status"], "processing", "{j}");
    assert_eq!(j["chunksTotal"], 20, "{j}");
    let chunk_dir = dir.path().join(format!("outputs/chunks/{id}"));
    assert!(
        !files_under(&chunk_dir).is_empty(),
        "a stored chunk is in storage"
    );
    let (s, body) = server.delete(&format!("/api/v1/render/jobs/{id}"));
    assert_eq!(s.as_u16(), 200, "{body}");
    assert_eq!(body["status"], "cancelled");
    let t = Instant::now();
    loop {
        let (_, health) = server.get("/api/v1/health");
        if health["runningRenders"] == 0
            && server.scratch_files().is_empty()
            && files_under(&chunk_dir).is_empty()
        {
            break;
        }
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "after cancel: {health}, scratch {:?}, chunks {:?}",
            server.scratch_files(),
            files_under(&chunk_dir)
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    // Nothing comes back later: no join runs, no chunk is stored again.
    std::thread::sleep(Duration::from_millis(800));
    let after = server.job(&id);
    assert_eq!(after["status"], "cancelled", "{after}");
    assert!(after.get("outputUrl").is_none());
    assert!(files_under(&chunk_dir).is_empty());
    assert!(files_under(&dir.path().join("outputs/renders")).is_empty());
    assert!(server.scratch_files().is_empty());
}

#[test]
fn a_chunk_that_fails_permanently_fails_the_job_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), ENV);
    let badge = dir.path().join("assets/badge.png");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/media/badge.png"),
        &badge,
    )
    .unwrap();
    let mut project = moving_project("u-fail", 200.0, FPS, false);
    project["frames"][0]["layers"].as_array_mut().unwrap().push(
        json!({"type": "image", "src": "badge.png", "x": 100, "y": 4, "width": 40, "height": 40}),
    );
    let pid = server.create_project(&project);
    let id = server.submit(&json!({"projectId": pid}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    server.wait_for(&id, TIMEOUT, |j| j["chunksDone"].as_u64().unwrap_or(0) >= 1);
    // The asset disappears: the chunks rendered from now on fail (not a transient error).
    std::fs::remove_file(&badge).unwrap();
    let done = server.wait_finished(&id, TIMEOUT);
    assert_eq!(done["status"], "failed", "{done}");
    let error = done["error"].as_str().unwrap_or_default();
    assert!(
        error.starts_with("chunk ") && error.contains("badge.png"),
        "the reason names the chunk and the cause: {error}"
    );
    assert!(done.get("outputUrl").is_none());
    let chunk_dir = dir.path().join(format!("outputs/chunks/{id}"));
    let t = Instant::now();
    while !(files_under(&chunk_dir).is_empty() && server.scratch_files().is_empty()) {
        assert!(
            t.elapsed() < Duration::from_secs(3),
            "left behind: {:?} {:?}",
            files_under(&chunk_dir),
            server.scratch_files()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_restart_keeps_the_stored_chunks_and_renders_only_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    // One worker: chunks are stored one by one, so the kill leaves some stored and some not.
    let env: &[(&str, &str)] = &[
        ("MAX_CONCURRENT_RENDERS", "1"),
        ("CHUNK_THRESHOLD_SECONDS", "30"),
        ("CHUNK_SECONDS", "10"),
    ];
    let server = Server::start(dir.path(), env);
    let project = moving_project("u-resume", 100.0, FPS, false);
    let pid = server.create_project(&project);
    let id = server.submit(&json!({"projectId": pid}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();
    let j = server.wait_for(&id, TIMEOUT, |j| {
        j["chunksDone"].as_u64().unwrap_or(0) >= 3
            || matches!(
                j["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
    });
    assert_eq!(j["status"], "processing", "{j}");
    server.kill();
    let server = Server::start(dir.path(), env);
    let done = server.wait_finished(&id, TIMEOUT);
    assert_eq!(done["status"], "completed", "{done}\n{}", server.log_tail());
    assert_eq!(done["chunksDone"], 10, "{done}");
    assert_eq!(done["framesTotal"], 1000, "{done}");
    // The restarted process kept the stored chunks (its split says how many) and rendered only
    // the others.
    let log = std::fs::read_to_string(&server.log).unwrap();
    let lines: Vec<String> = log.lines().map(common::strip_ansi).collect();
    let split = lines
        .iter()
        .find(|l| l.contains("job split into chunks") && l.contains(&id))
        .unwrap_or_else(|| panic!("no split after the restart:\n{log}"));
    let kept: u64 = split
        .split_once("kept=")
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no kept= in {split}"));
    assert!(kept >= 3, "{split}");
    let rendered = lines
        .iter()
        .filter(|l| l.contains("chunk render started") && l.contains(&id))
        .count() as u64;
    assert_eq!(rendered, 10 - kept, "kept {kept}:\n{log}");
    let joined = dir.path().join("joined.mp4");
    download(&server, &done, &joined);
    let probe = ffprobe(&joined);
    assert_eq!(stream(&probe, "video").unwrap()["nb_read_frames"], "1000");
    // The joined video equals a one-piece render on both sides of every seam.
    let single = dir.path().join("single.mp4");
    render_single(&project, dir.path(), &single);
    let (a, b) = (decode(&single, W, H), decode(&joined, W, H));
    for seam in (100..1000).step_by(100) {
        for n in [seam - 1, seam] {
            let db = psnr(&a[n], &b[n]);
            assert!(db >= 45.0, "frame {n} at seam {seam}: PSNR {db:.1} dB");
        }
    }
    eprintln!("restart: {kept} of 10 chunks kept, {rendered} rendered again");
}
