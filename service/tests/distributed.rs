//! Distributed mode with real processes on one machine: `vrender serve` API processes
//! (MAX_CONCURRENT_RENDERS=0) and `vrender worker` processes on one private redis-server and one
//! shared SQLite file (SQLITE_PATH; no MongoDB server can run here), with outputs in one private
//! S3-protocol server (s3s-fs), as a deployment on ECS would run them.

use crate::common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::redis::RedisServer;
use common::s3::S3Server;
use common::{ffprobe, Server};
use serde_json::{json, Value};

/// Lease time of these tests: short, so a dead worker's job comes back quickly.
const LEASE_TTL_MS: u64 = 3000;

struct Cluster {
    redis: RedisServer,
    s3: S3Server,
    dir: tempfile::TempDir,
    extra: Vec<(String, String)>,
}

impl Cluster {
    fn new(extra: &[(&str, &str)]) -> Cluster {
        Cluster {
            redis: RedisServer::start(),
            s3: S3Server::start(&["dist-renders"]),
            dir: tempfile::tempdir().unwrap(),
            extra: extra
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    fn env(&self) -> Vec<(String, String)> {
        let dir = self.dir.path();
        let mut env: Vec<(String, String)> = vec![
            ("REDIS_URL".into(), self.redis.url()),
            (
                "SQLITE_PATH".into(),
                dir.join("vrender.db").display().to_string(),
            ),
            (
                "URL_SIGNING_SECRET".into(),
                "distributed-test-secret".into(),
            ),
            ("LEASE_TTL_MS".into(), LEASE_TTL_MS.to_string()),
            ("JOB_RETRY_BACKOFF_MS".into(), "200".into()),
        ];
        env.extend(self.s3.env());
        env.extend(self.extra.iter().cloned());
        env
    }

    fn start(&self, command: &str, more: &[(&str, &str)]) -> Server {
        let mut env = self.env();
        env.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Server::start_command(command, self.dir.path(), &env)
    }

    /// An API-only `vrender serve`.
    fn api(&self) -> Server {
        self.start("serve", &[("MAX_CONCURRENT_RENDERS", "0")])
    }

    /// A `vrender worker` with one render at a time and a health port.
    fn worker(&self) -> Server {
        let w = self.start(
            "worker",
            &[("MAX_CONCURRENT_RENDERS", "1"), ("WORKER_PORT", "0")],
        );
        let (s, health) = w.get("/api/v1/health");
        assert_eq!(s.as_u16(), 200, "worker health: {health}");
        assert_eq!(health["mode"], "distributed", "{health}");
        w
    }
}

/// 160x90 at 30 fps, `seconds` long.
fn project(seconds: f64) -> Value {
    let mut p = common::tiny_project("dist-user", seconds, 30.0);
    p["width"] = json!(160);
    p["height"] = json!(90);
    p
}

fn submit(api: &Server, project_id: &str, priority: u8) -> String {
    let job = api.submit(&json!({"projectId": project_id, "priority": priority}));
    job["jobId"].as_str().unwrap().to_string()
}

/// Downloads a completed job's output through its presigned link and checks it plays.
fn check_output(api: &Server, job: &Value, dest: &Path) {
    let url = job["outputUrl"].as_str().expect("outputUrl");
    let bytes = api.client.get(url).send().unwrap();
    assert_eq!(bytes.status().as_u16(), 200);
    std::fs::write(dest, bytes.bytes().unwrap()).unwrap();
    let probe = ffprobe(dest);
    let video = probe["streams"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["codec_type"] == "video")
        .unwrap_or_else(|| panic!("no video stream: {probe}"));
    assert_eq!(video["width"], 160, "{probe}");
    let frames: u64 = video["nb_read_frames"].as_str().unwrap().parse().unwrap();
    assert_eq!(frames, job["framesTotal"].as_u64().unwrap(), "{probe}");
}

/// The objects under `renders/dist-user/` in the S3 server.
fn stored_outputs(s3: &S3Server) -> Vec<PathBuf> {
    std::fs::read_dir(s3.object_path(&s3.bucket, "renders/dist-user"))
        .map(|rd| rd.flatten().map(|e| e.path()).collect())
        .unwrap_or_default()
}

fn logs(servers: &[&Server]) -> String {
    servers
        .iter()
        .map(|s| std::fs::read_to_string(&s.log).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn sigkilled_worker_loses_no_job() {
    let cluster = Cluster::new(&[]);
    let api = cluster.api();
    let mut workers: Vec<Option<Server>> = (0..3).map(|_| Some(cluster.worker())).collect();
    // 450 frames: about a second each here (lavapipe renders 160x90 at a few hundred fps); the
    // victim is longer so it is surely killed mid-render.
    let project_id = api.create_project(&project(15.0));
    let long_project = api.create_project(&project(60.0));
    // The job to kill first, at the top priority so its redelivery is next in line.
    let victim = submit(&api, &long_project, 10);
    let mut ids = vec![victim.clone()];
    for n in 0..11u8 {
        ids.push(submit(&api, &project_id, 1 + n % 9));
    }
    api.wait_for(&victim, Duration::from_secs(120), |j| {
        j["status"] == "processing"
    });
    let holder = workers
        .iter()
        .position(|w| {
            w.as_ref().is_some_and(|w| {
                std::fs::read_to_string(&w.log)
                    .unwrap_or_default()
                    .lines()
                    .any(|l| l.contains("render started") && l.contains(&victim))
            })
        })
        .expect("a worker logged the victim's start");
    let killed_at = Instant::now();
    workers[holder].take().unwrap().kill();
    println!("SIGKILLed worker {holder} while it rendered job {victim}");
    // Taken over: a new attempt starts once the lease expired and a worker is free.
    let taken = api.wait_for(&victim, Duration::from_secs(90), |j| {
        j["attempts"].as_u64().unwrap_or(0) >= 2 || j["status"] != "processing"
    });
    let takeover = killed_at.elapsed();
    let ttl = Duration::from_millis(LEASE_TTL_MS);
    println!(
        "takeover: {:.2} s after the SIGKILL (lease {:.1} s, renewed every {:.1} s: it expired {:.1}–{:.1} s after the kill), so at most {:.2} s after the lease expired",
        takeover.as_secs_f64(),
        ttl.as_secs_f64(),
        ttl.as_secs_f64() / 3.0,
        ttl.as_secs_f64() * 2.0 / 3.0,
        ttl.as_secs_f64(),
        (takeover.saturating_sub(ttl * 2 / 3)).as_secs_f64()
    );
    assert_eq!(taken["attempts"], 2, "{taken}");
    assert!(takeover < ttl + Duration::from_secs(30), "{takeover:?}");

    let live: Vec<&Server> = workers.iter().flatten().collect();
    let out = tempfile::tempdir().unwrap();
    for id in &ids {
        let job = api.wait_finished(id, Duration::from_secs(300));
        assert_eq!(job["status"], "completed", "{job}\n{}", logs(&live));
        check_output(&api, &job, &out.path().join(format!("{id}.mp4")));
    }
    let outputs = stored_outputs(&cluster.s3);
    let names: BTreeSet<String> = outputs
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let want: BTreeSet<String> = ids.iter().map(|id| format!("{id}.mp4")).collect();
    assert_eq!(names, want, "one object per job in S3, nothing else");
    // These outputs are smaller than one part, so each is one PutObject after its render and a killed
    // worker leaves no multipart upload (tests/s3.rs covers the multipart clean-up).
    let open = cluster.s3.incomplete_uploads();
    assert!(open.is_empty(), "incomplete multipart uploads: {open:?}");
    let log = logs(&live);
    assert!(log.contains("took over a job"), "no takeover logged");
    // Each job completed exactly once across all workers.
    for id in &ids {
        let n = log
            .lines()
            .filter(|l| l.contains("render completed") && l.contains(id.as_str()))
            .count();
        assert_eq!(n, 1, "job {id} completed {n} times");
    }
    let (s, list) = api.get("/api/v1/render/jobs?userId=dist-user&limit=100");
    assert_eq!(s.as_u16(), 200);
    assert_eq!(list["total"], 12, "{list}");
}

#[test]
fn cancel_through_another_api_stops_the_worker_within_a_second() {
    // Progress is stored rarely, so only the broadcast can stop the render quickly.
    let cluster = Cluster::new(&[("PROGRESS_INTERVAL_MS", "5000")]);
    let api1 = cluster.api();
    let api2 = cluster.api();
    let worker = cluster.worker();
    let project_id = api1.create_project(&project(120.0));
    let id = submit(&api1, &project_id, 5);
    let job = api1.wait_for(&id, Duration::from_secs(120), |j| {
        j["status"] == "processing"
    });
    let scratch = cluster
        .dir
        .path()
        .join("tmp")
        .join(format!("{id}-{}", job["attempts"]));
    let start = Instant::now();
    while !scratch.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no scratch folder {scratch:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    // Let it render a little.
    std::thread::sleep(Duration::from_millis(500));
    let (s, body) = api2.delete(&format!("/api/v1/render/jobs/{id}"));
    let deleted = Instant::now();
    assert_eq!(s.as_u16(), 200, "{body}");
    assert_eq!(body["status"], "cancelled", "{body}");
    while scratch.exists() {
        assert!(
            deleted.elapsed() < Duration::from_secs(5),
            "the worker did not stop; log:\n{}",
            worker.log_tail()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let stopped = deleted.elapsed();
    println!(
        "cancel via a second API process: the worker removed the scratch folder {} ms after the DELETE response",
        stopped.as_millis()
    );
    assert!(stopped < Duration::from_secs(1), "{stopped:?}");
    let log = std::fs::read_to_string(&worker.log).unwrap();
    assert!(log.contains("cancelled by a broadcast"), "{log}");
    let job = api1.job(&id);
    assert_eq!(job["status"], "cancelled");
    assert!(job.get("outputUrl").is_none(), "{job}");
    let key = format!("renders/dist-user/{id}.mp4");
    assert!(!cluster.s3.object_path(&cluster.s3.bucket, &key).exists());
    assert!(cluster.s3.incomplete_uploads().is_empty());
}

#[test]
fn redis_restart_loses_no_job() {
    let mut cluster = Cluster::new(&[]);
    let api = cluster.api();
    let workers = [cluster.worker(), cluster.worker()];
    let project_id = api.create_project(&project(10.0));
    let mut ids: Vec<String> = (0..6).map(|n| submit(&api, &project_id, 3 + n)).collect();
    // Restart Redis (empty: no persistence) once the first job renders, while the others wait in
    // the queue.
    api.wait_for(&ids[5], Duration::from_secs(120), |j| {
        j["status"] != "queued"
    });
    cluster.redis.restart();
    let restarted = Instant::now();
    println!("Redis restarted (empty)");
    // A job submitted after the restart goes through too (the API reconnects).
    let start = Instant::now();
    loop {
        let (s, body) = api.post(
            "/api/v1/render/jobs",
            &json!({"projectId": project_id, "priority": 5}),
        );
        if s.as_u16() == 202 {
            ids.push(body["jobId"].as_str().unwrap().to_string());
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "API did not reconnect: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let out = tempfile::tempdir().unwrap();
    let all: Vec<&Server> = workers.iter().chain([&api]).collect();
    for id in &ids {
        let job = api.wait_finished(id, Duration::from_secs(300));
        assert_eq!(job["status"], "completed", "{job}\n{}", logs(&all));
        check_output(&api, &job, &out.path().join(format!("{id}.mp4")));
    }
    println!(
        "all {} jobs completed {:.1} s after the Redis restart",
        ids.len(),
        restarted.elapsed().as_secs_f64()
    );
    let log = logs(&all);
    assert!(
        log.contains("pushed again") || log.contains("lease re-created"),
        "nothing was resynced after the restart:\n{log}"
    );
}

#[test]
fn job_past_max_deliveries_is_dead_lettered_and_failed() {
    // One delivery allowed: the redelivery after a SIGKILL goes to the dead-letter set.
    let cluster = Cluster::new(&[("QUEUE_MAX_DELIVERIES", "1")]);
    let api = cluster.api();
    let mut workers: Vec<Option<Server>> = (0..2).map(|_| Some(cluster.worker())).collect();
    let project_id = api.create_project(&project(60.0));
    let id = submit(&api, &project_id, 5);
    api.wait_for(&id, Duration::from_secs(120), |j| {
        j["status"] == "processing"
    });
    let holder = workers
        .iter()
        .position(|w| {
            w.as_ref().is_some_and(|w| {
                std::fs::read_to_string(&w.log)
                    .unwrap_or_default()
                    .contains("render started")
            })
        })
        .expect("a worker logged the start");
    workers[holder].take().unwrap().kill();
    let job = api.wait_finished(&id, Duration::from_secs(60));
    assert_eq!(job["status"], "failed", "{job}");
    let error = job["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("QUEUE_MAX_DELIVERIES") && error.contains("dead-letter"),
        "{job}"
    );
    assert_eq!(job["attempts"], 1, "not started again: {job}");
    // The surviving worker dead-lettered it and counts it.
    let w = workers.iter().flatten().next().unwrap();
    let metrics = w
        .client
        .get(w.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    assert!(
        metrics.contains("vrender_job_failures_total{reason=\"dead_letter\"} 1"),
        "{metrics}"
    );
}

/// Lines of a log that say `what` about job `id`, without terminal colour codes.
fn log_lines(server: &Server, what: &str, id: &str) -> Vec<String> {
    std::fs::read_to_string(&server.log)
        .unwrap_or_default()
        .lines()
        .map(common::strip_ansi)
        .filter(|l| l.contains(what) && l.contains(id))
        .collect()
}

/// Waits until one of `workers` (`None`: gone) logs the start of a chunk of job `id`; its index.
fn first_to_start_a_chunk(workers: &[Option<&Server>], id: &str) -> usize {
    let start = Instant::now();
    loop {
        if let Some(n) = workers
            .iter()
            .position(|w| w.is_some_and(|w| !log_lines(w, "chunk render started", id).is_empty()))
        {
            return n;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "no chunk started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// SIGKILLs the first of `workers` that starts a chunk of job `id`, while it renders it; its log.
fn kill_the_first_chunk_holder(workers: &mut [Option<Server>], id: &str) -> String {
    let victim =
        first_to_start_a_chunk(&workers.iter().map(Option::as_ref).collect::<Vec<_>>(), id);
    let killed = workers[victim].take().unwrap();
    let in_flight = log_lines(&killed, "chunk render started", id).len()
        > log_lines(&killed, "chunk stored", id).len();
    let log = std::fs::read_to_string(&killed.log).unwrap_or_default();
    killed.kill();
    assert!(
        in_flight,
        "the killed worker had finished its chunk already"
    );
    println!("SIGKILLed worker {victim} while it rendered a chunk of job {id}");
    log
}

/// Waits for job `id` to end; the one live worker of `workers` and the job, checked completed.
fn completed_on_the_survivor<'a>(
    api: &Server,
    workers: &'a [Option<Server>],
    id: &str,
) -> (&'a Server, Value) {
    let survivor = workers.iter().flatten().next().unwrap();
    let done = api.wait_finished(id, Duration::from_secs(300));
    assert_eq!(
        done["status"],
        "completed",
        "{done}\n{}",
        survivor.log_tail()
    );
    (survivor, done)
}

#[test]
fn chunked_job_on_two_workers_survives_a_killed_worker_and_matches_a_single_render() {
    // 60 s at 30 fps = 1800 frames in 6 chunks of 300, over two worker processes.
    let cluster = Cluster::new(&[("CHUNK_THRESHOLD_SECONDS", "30"), ("CHUNK_SECONDS", "10")]);
    let api = cluster.api();
    let mut workers = [Some(cluster.worker()), Some(cluster.worker())];
    let project = common::video::moving_project("dist-user", 60.0, 30.0, false);
    let project_id = api.create_project(&project);
    let id = submit(&api, &project_id, 5);

    // Kill the first worker that starts a chunk, while it renders it.
    let victim_log = kill_the_first_chunk_holder(&mut workers, &id);

    let (survivor, done) = completed_on_the_survivor(&api, &workers, &id);
    assert_eq!(done["chunksTotal"], 6, "{done}");
    assert_eq!(done["chunksDone"], 6, "{done}");
    assert_eq!(done["framesTotal"], 1800, "{done}");
    // The killed worker's chunk was taken over by the survivor (a second attempt of that chunk).
    let retaken = log_lines(survivor, "chunk render started", &id)
        .into_iter()
        .filter(|l| l.contains("attempt=2"))
        .count();
    assert!(
        retaken >= 1,
        "no chunk taken over:\n{}",
        log_lines(survivor, "chunk", &id).join("\n")
    );
    assert!(victim_log.contains("chunk render started"));

    // The output: exactly the timeline's frames, equal to a one-piece render at every seam.
    let out = tempfile::tempdir().unwrap();
    let joined = out.path().join("joined.mp4");
    check_output(&api, &done, &joined);
    let single = out.path().join("single.mp4");
    common::video::render_single(&project, out.path(), &single);
    let (w, h) = (common::video::W, common::video::H);
    let a = common::video::decode(&single, w, h);
    let b = common::video::decode(&joined, w, h);
    assert_eq!((a.len(), b.len()), (1800, 1800));
    let mut worst = f64::INFINITY;
    for seam in (300..1800).step_by(300) {
        for n in [seam - 1, seam] {
            let db = common::video::psnr(&a[n], &b[n]);
            worst = worst.min(db);
            assert!(db >= 45.0, "frame {n} at seam {seam}: PSNR {db:.1} dB");
        }
        // Neighbouring frames differ, so a shifted frame would fail the check above.
        assert!(common::video::psnr(&a[seam - 1], &b[seam]) < 45.0);
    }
    println!("chunked over 2 worker processes, one killed: seam PSNR ≥ {worst:.1} dB");

    // In S3: the output once, no chunk objects left, no open multipart upload.
    let s3 = &cluster.s3;
    assert!(s3
        .object_path(&s3.bucket, &format!("renders/dist-user/{id}.mp4"))
        .is_file());
    let chunks = s3.object_path(&s3.bucket, &format!("chunks/{id}"));
    let t = Instant::now();
    while std::fs::read_dir(&chunks).is_ok_and(|mut d| d.next().is_some()) {
        assert!(t.elapsed() < Duration::from_secs(5), "chunk objects left");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(s3.incomplete_uploads().is_empty());
}

#[test]
fn chunked_job_survives_a_redis_restart() {
    // 12 chunks of 150 frames on two workers: when Redis restarts (empty), most chunks are still
    // waiting in the queue and are lost with it; the resync re-pushes them from the job's plan.
    let mut cluster = Cluster::new(&[("CHUNK_THRESHOLD_SECONDS", "30"), ("CHUNK_SECONDS", "5")]);
    let api = cluster.api();
    let workers = [cluster.worker(), cluster.worker()];
    let project = common::video::moving_project("dist-user", 60.0, 30.0, false);
    let project_id = api.create_project(&project);
    let id = submit(&api, &project_id, 5);
    let j = api.wait_for(&id, Duration::from_secs(120), |j| {
        j["chunksDone"].as_u64().unwrap_or(0) >= 1
            || matches!(
                j["status"].as_str(),
                Some("completed" | "failed" | "cancelled")
            )
    });
    assert_eq!(j["status"], "processing", "{j}");
    let done_before = j["chunksDone"].as_u64().unwrap();
    cluster.redis.restart();
    let restarted = Instant::now();
    let all: Vec<&Server> = workers.iter().chain([&api]).collect();
    let done = api.wait_finished(&id, Duration::from_secs(300));
    assert_eq!(done["status"], "completed", "{done}\n{}", logs(&all));
    assert_eq!(done["chunksDone"], 12, "{done}");
    println!(
        "chunked job: Redis restarted with {done_before}/12 chunks done; completed {:.1} s later",
        restarted.elapsed().as_secs_f64()
    );
    let pushed: usize = workers
        .iter()
        .chain([&api])
        .map(|s| log_lines(s, "pushed again", &format!("{id}/chunk/")).len())
        .sum();
    assert!(pushed >= 1, "no chunk was resynced:\n{}", logs(&all));
    let out = tempfile::tempdir().unwrap();
    check_output(&api, &done, &out.path().join("joined.mp4"));
}

#[test]
fn a_worker_stopped_mid_chunk_leaves_the_chunk_for_another_worker() {
    // SIGTERM (a scale-in, a deploy): the worker stops its chunk render and does not ack the item,
    // so the item comes back when its lease expires and the other worker takes the chunk over —
    // without waiting for the resync's stale-job pass.
    let cluster = Cluster::new(&[("CHUNK_THRESHOLD_SECONDS", "30"), ("CHUNK_SECONDS", "10")]);
    let api = cluster.api();
    let workers = [cluster.worker(), cluster.worker()];
    let project = common::video::moving_project("dist-user", 60.0, 30.0, false);
    let project_id = api.create_project(&project);
    let id = submit(&api, &project_id, 5);
    let stopped = first_to_start_a_chunk(&workers.iter().map(Some).collect::<Vec<_>>(), &id);
    let status = std::process::Command::new("kill")
        .args(["-TERM", &workers[stopped].pid().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let done = api.wait_finished(&id, Duration::from_secs(300));
    let all: Vec<&Server> = workers.iter().chain([&api]).collect();
    assert_eq!(done["status"], "completed", "{done}\n{}", logs(&all));
    assert_eq!(done["chunksDone"], 6, "{done}");
    assert_eq!(done["framesTotal"], 1800, "{done}");
    let left = log_lines(&workers[stopped], "left for redelivery", &id);
    assert_eq!(left.len(), 1, "{}", workers[stopped].log_tail());
    let survivor = &workers[1 - stopped];
    let retaken = log_lines(survivor, "chunk render started", &id)
        .into_iter()
        .filter(|l| l.contains("attempt=2"))
        .count();
    assert_eq!(retaken, 1, "{}", survivor.log_tail());
    // Redelivered by the lease, not re-pushed by the resync.
    for s in &all {
        assert!(log_lines(s, "pushed again", &id).is_empty());
    }
    let out = tempfile::tempdir().unwrap();
    check_output(&api, &done, &out.path().join("joined.mp4"));
}

/// A chunked job whose clip, image and font are `s3://` objects, on two worker processes with
/// Redis and the S3-protocol server, one SIGKILLed while it renders a chunk: it completes, every
/// frame equals a one-piece render of the same project from local files, and the survivor fetched
/// the job's media once for all the chunks and the join it ran (issue 26).
#[test]
fn chunked_job_with_s3_clip_image_and_font_survives_a_killed_worker() {
    // 12 s at 30 fps = 360 frames in 3 chunks of 120.
    let cluster = Cluster::new(&[("CHUNK_THRESHOLD_SECONDS", "5"), ("CHUNK_SECONDS", "4")]);
    let s3 = &cluster.s3;
    let media = Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/media");
    for (from, key) in [
        ("clip-a.mp4", "media/clip.mp4"),
        ("badge.png", "media/badge.png"),
        ("brand-serif.woff2", "media/brand.woff2"),
    ] {
        let to = s3.object_path(&s3.bucket, key);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(media.join(from), to).unwrap();
    }
    let project = |clip: &str, image: &str, font: &str| {
        json!({
            "userId": "dist-user",
            "width": 160,
            "height": 90,
            "frameRate": 30,
            "quality": "ultra",
            "fonts": [{"family": "Brand", "src": font}],
            "frames": [{
                "duration": 12,
                "background": "#000000",
                "layers": [
                    {"type": "video", "src": clip, "x": 0, "y": 0, "width": 160, "height": 90,
                     "fit": "cover", "loop": true},
                    {"type": "image", "src": image, "x": 110, "y": 4, "width": 44, "height": 44},
                    {"type": "text", "text": "Wg", "font": ["Brand"], "fontWeight": "bold", "size": 40,
                     "color": "#ffffff", "x": 8, "y": 40}
                ]
            }]
        })
    };
    let bucket = &s3.bucket;
    let remote = project(
        &format!("s3://{bucket}/media/clip.mp4"),
        &format!("s3://{bucket}/media/badge.png"),
        &format!("s3://{bucket}/media/brand.woff2"),
    );
    let api = cluster.api();
    let mut workers = [Some(cluster.worker()), Some(cluster.worker())];
    let project_id = api.create_project(&remote);
    let id = submit(&api, &project_id, 5);

    kill_the_first_chunk_holder(&mut workers, &id);

    let (survivor, done) = completed_on_the_survivor(&api, &workers, &id);
    assert_eq!(done["chunksTotal"], 3, "{done}");
    assert_eq!(done["framesTotal"], 360, "{done}");
    let fetched = log_lines(survivor, "s3:// media fetched for the job", &id).len();
    let ran = log_lines(survivor, "chunk render started", &id).len()
        + log_lines(survivor, "joining chunks", &id).len();
    assert!(ran >= 2, "the survivor ran {ran} items");
    assert_eq!(
        fetched, 1,
        "the survivor fetched the job's media {fetched} times for {ran} items"
    );

    // Every frame: the one-piece render of the same project with the media as local files.
    let out = tempfile::tempdir().unwrap();
    for (from, to) in [
        ("clip-a.mp4", "clip.mp4"),
        ("badge.png", "badge.png"),
        ("brand-serif.woff2", "brand.woff2"),
    ] {
        std::fs::copy(media.join(from), out.path().join(to)).unwrap();
    }
    let joined = out.path().join("joined.mp4");
    check_output(&api, &done, &joined);
    let single = out.path().join("single.mp4");
    common::video::render_single(
        &project("clip.mp4", "badge.png", "brand.woff2"),
        out.path(),
        &single,
    );
    let a = common::video::decode(&single, 160, 90);
    let b = common::video::decode(&joined, 160, 90);
    assert_eq!((a.len(), b.len()), (360, 360));
    let worst = (0..360)
        .map(|n| (common::video::psnr(&a[n], &b[n]), n))
        .fold((f64::INFINITY, 0), |w, x| if x.0 < w.0 { x } else { w });
    assert!(worst.0 >= 40.0, "frame {}: PSNR {:.1} dB", worst.1, worst.0);
    // The font is the fetched one: without it the text is drawn differently.
    let mut fallback = project("clip.mp4", "badge.png", "brand.woff2");
    fallback["frames"][0]["layers"][2]["font"] = json!(["DejaVu Sans"]);
    let other = out.path().join("fallback.mp4");
    common::video::render_single(&fallback, out.path(), &other);
    let c = common::video::decode(&other, 160, 90);
    assert!(common::video::psnr(&c[0], &b[0]) < worst.0 - 3.0);
    println!(
        "chunked from s3:// media over 2 workers, one killed: every frame ≥ {:.1} dB",
        worst.0
    );
}
