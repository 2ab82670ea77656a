//! The end of a chaos round: waits for every job to settle, then checks the invariants — every job
//! reached a final state exactly once (never changed afterwards, called back at most once and with
//! that state), completed jobs have exactly one
//! playable output with every frame, nothing is stuck or lost, no scratch files, multipart uploads
//! or `ffmpeg` processes are left — and prints the figures.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::cluster::{self, Cluster};
use super::traffic::{self, Callback, Traffic, USER};

/// What the round found; `breaches` empty when every invariant held.
#[derive(Default)]
pub struct Outcome {
    pub lines: Vec<String>,
    pub breaches: Vec<String>,
}

/// Every job of the chaos user in the store (all pages), by id.
fn all_jobs(c: &Cluster) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for page in 1.. {
        let (s, list) = c.api().get(&format!(
            "/api/v1/render/jobs?userId={USER}&limit=100&page={page}"
        ));
        assert_eq!(s.as_u16(), 200, "{list}");
        for j in list["items"].as_array().cloned().unwrap_or_default() {
            out.insert(j["jobId"].as_str().unwrap_or_default().to_string(), j);
        }
        if list["hasMore"] != true {
            break;
        }
    }
    out
}

/// Waits up to `drain` for every job to be final; the jobs as last read.
fn settle(c: &Cluster, t: &Traffic, drain: Duration) -> BTreeMap<String, Value> {
    let start = Instant::now();
    loop {
        let jobs = all_jobs(c);
        for (id, j) in &jobs {
            t.observe(id, j["status"].as_str().unwrap_or_default());
        }
        let open = jobs
            .values()
            .filter(|j| !traffic::is_final(j["status"].as_str().unwrap_or_default()))
            .count();
        if open == 0 || start.elapsed() > drain {
            return jobs;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The first words of a job's error (its reason), for the failure figures.
fn reason(error: &str) -> String {
    let e = error.trim_start_matches("attempt ");
    let cut = e.find(':').unwrap_or(e.len()).min(60);
    e[..cut].to_string()
}

pub fn run(
    c: &Cluster,
    t: &Traffic,
    callbacks: &Mutex<Vec<Callback>>,
    expected_frames: &[u64],
    drain: Duration,
) -> Outcome {
    let mut o = Outcome::default();
    let settled = Instant::now();
    let jobs = settle(c, t, drain);
    o.lines.push(format!(
        "settled in {:.1} s after the last fault",
        settled.elapsed().as_secs_f64()
    ));
    let seen = t.jobs.lock().unwrap().clone();

    // Lost: accepted (202) but not in the store. Unanswered submissions that did create a job
    // are in the store but unknown to the traffic.
    let lost: Vec<&String> = seen.keys().filter(|id| !jobs.contains_key(*id)).collect();
    let unknown: Vec<&String> = jobs.keys().filter(|id| !seen.contains_key(*id)).collect();
    let stuck: Vec<String> = jobs
        .iter()
        .filter(|(_, j)| !traffic::is_final(j["status"].as_str().unwrap_or_default()))
        .map(|(id, j)| {
            format!(
                "{id}: {} phase {} attempts {}",
                j["status"], j["currentPhase"], j["attempts"]
            )
        })
        .collect();
    let mut by_status: BTreeMap<String, usize> = BTreeMap::new();
    let mut failed_reasons: BTreeMap<String, usize> = BTreeMap::new();
    for j in jobs.values() {
        let s = j["status"].as_str().unwrap_or_default().to_string();
        if s == "failed" {
            *failed_reasons
                .entry(reason(j["error"].as_str().unwrap_or("?")))
                .or_default() += 1;
        }
        *by_status.entry(s).or_default() += 1;
    }
    let changed: Vec<String> = seen
        .iter()
        .filter(|(_, s)| !s.changed_after_final.is_empty())
        .map(|(id, s)| {
            format!(
                "{id}: {:?} then {:?}",
                s.final_status, s.changed_after_final
            )
        })
        .collect();

    // Callbacks: one per final job, with the final status (the last ones may still be on their
    // way: up to 10 s).
    let start = Instant::now();
    let (delivered, deliveries) = loop {
        let got = callbacks.lock().unwrap().clone();
        let mut delivered: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (id, s) in &got {
            delivered.entry(id.clone()).or_default().push(s.clone());
        }
        let all = jobs.keys().all(|id| delivered.contains_key(id));
        if all || start.elapsed() > Duration::from_secs(10) {
            break (delivered, got.len());
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let mut callback_missing = Vec::new();
    let mut callback_dup = Vec::new();
    let mut callback_wrong = Vec::new();
    for (id, j) in &jobs {
        let status = j["status"].as_str().unwrap_or_default();
        match delivered.get(id).map(Vec::as_slice) {
            None | Some([]) => {
                if traffic::is_final(status) {
                    callback_missing.push(format!("{id} ({status})"))
                }
            }
            Some([one]) if one == status => {}
            Some([one]) => callback_wrong.push(format!("{id}: called back {one}, is {status}")),
            Some(many) => callback_dup.push(format!("{id}: {many:?}")),
        }
    }

    // Outputs in S3: exactly one per completed job, every frame, nothing else.
    let outputs_dir = c.s3.object_path(&c.s3.bucket, &format!("renders/{USER}"));
    let mut objects: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for p in crate::common::files_under(&outputs_dir) {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let stem = name.split('.').next().unwrap_or_default().to_string();
        objects.entry(stem).or_default().push(name);
    }
    let completed: BTreeSet<&String> = jobs
        .iter()
        .filter(|(_, j)| j["status"] == "completed")
        .map(|(id, _)| id)
        .collect();
    let duplicates: Vec<String> = objects
        .iter()
        .filter(|(_, n)| n.len() > 1)
        .map(|(id, n)| format!("{id}: {n:?}"))
        .collect();
    let stray: Vec<String> = objects
        .keys()
        .filter(|id| !completed.contains(id))
        .map(|id| {
            let status = jobs.get(id).map(|j| j["status"].clone());
            format!("{id} (job {status:?})")
        })
        .collect();
    let missing: Vec<&&String> = completed
        .iter()
        .filter(|id| !objects.contains_key(id.as_str()))
        .collect();
    let mut bad_outputs = Vec::new();
    for id in &completed {
        let Some(names) = objects.get(id.as_str()) else {
            continue;
        };
        let path = outputs_dir.join(&names[0]);
        let project = seen.get(id.as_str()).map(|s| s.project);
        let want = project.map(|p| expected_frames[p]);
        match probe_frames(&path) {
            Ok(n)
                if Some(n) == want
                    || (want.is_none() && Some(n) == jobs[*id]["framesTotal"].as_u64()) => {}
            Ok(n) => bad_outputs.push(format!("{id}: {n} frames, want {want:?}")),
            Err(e) => bad_outputs.push(format!("{id}: {e}")),
        }
    }
    let chunk_objects = crate::common::files_under(&c.s3.object_path(&c.s3.bucket, "chunks"));
    let uploads = c.s3.incomplete_uploads();

    // Scratch files and ffmpeg processes: nothing runs now, so nothing may be left.
    let scratch: Vec<String> = crate::common::files_under(&c.scratch())
        .iter()
        .map(|p| p.display().to_string())
        .collect();
    let t0 = Instant::now();
    let mut ffmpeg = cluster::ffmpeg_processes_under(c.dir.path());
    while !ffmpeg.is_empty() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(200));
        ffmpeg = cluster::ffmpeg_processes_under(c.dir.path());
    }

    let counts = t.counts.lock().unwrap();
    o.lines.push(format!(
        "jobs: {} in the store — {} accepted (202), {} created by submissions left unanswered (the API died mid-request); {} cancels sent",
        jobs.len(),
        counts.accepted,
        unknown.len(),
        counts.cancels
    ));
    o.lines.push(format!(
        "submissions refused: {:?}; tries while the API was down: {}; unanswered: {}",
        counts.refused, counts.api_down, counts.unanswered
    ));
    o.lines.push(format!(
        "final states: {by_status:?}; failed by reason: {failed_reasons:?}"
    ));
    o.lines.push(format!(
        "lost {}, stuck {}, final state changed {}",
        lost.len(),
        stuck.len(),
        changed.len()
    ));
    o.lines.push(format!(
        "outputs: {} for {} completed jobs, all frames: {}; duplicate outputs {}, stray {}, missing {}",
        objects.len(),
        completed.len(),
        bad_outputs.is_empty(),
        duplicates.len(),
        stray.len(),
        missing.len()
    ));
    o.lines.push(format!(
        "callbacks: {} deliveries for {} final jobs; missing {}, duplicate {}, wrong status {}",
        deliveries,
        jobs.len() - stuck.len(),
        callback_missing.len(),
        callback_dup.len(),
        callback_wrong.len()
    ));
    o.lines.push(format!(
        "left behind: scratch files {}, chunk objects {}, open multipart uploads {}, ffmpeg processes {}",
        scratch.len(),
        chunk_objects.len(),
        uploads.len(),
        ffmpeg.len()
    ));

    // Not an invariant (yet): the callback is sent after the final state is stored, by the process
    // that stored it; SIGKILLed in between, the callback is never sent (no outbox redelivers it).
    if !callback_missing.is_empty() {
        o.lines.push(format!(
            "callbacks never sent (the finishing process died before the POST): {}",
            callback_missing.join("; ")
        ));
    }
    let mut breach = |what: &str, list: Vec<String>| {
        if !list.is_empty() {
            o.breaches
                .push(format!("{what} ({}): {}", list.len(), list.join("; ")));
        }
    };
    breach("jobs lost", lost.iter().map(|s| s.to_string()).collect());
    breach("jobs stuck", stuck);
    breach("final state changed", changed);
    breach("callbacks duplicated", callback_dup);
    breach("callbacks with another status", callback_wrong);
    breach("duplicate outputs", duplicates);
    breach("outputs of jobs not completed", stray);
    breach(
        "completed jobs without an output",
        missing.iter().map(|s| s.to_string()).collect(),
    );
    breach("outputs not playable in full", bad_outputs);
    breach(
        "chunk objects left",
        chunk_objects
            .iter()
            .map(|p| p.display().to_string())
            .collect(),
    );
    breach("open multipart uploads", uploads);
    breach("scratch files left", scratch);
    breach("ffmpeg processes left", ffmpeg);
    breach("5xx answers", counts.server_errors.clone());
    o
}

/// Frames of the video stream, counted by ffprobe (decoding the whole file).
fn probe_frames(path: &Path) -> Result<u64, String> {
    let out = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0"])
        .args(["-show_entries", "stream=nb_read_frames", "-of", "csv=p=0"])
        .arg(path)
        .output()
        .map_err(|e| format!("ffprobe: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "ffprobe failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .map_err(|e| {
            format!(
                "ffprobe said {:?}: {e}",
                String::from_utf8_lossy(&out.stdout)
            )
        })
}
