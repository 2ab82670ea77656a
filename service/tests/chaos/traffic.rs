//! The steady flow of small jobs the chaos round sends through the API (while it is up), the
//! cancels of some of them, and the callback receiver that records every final-state delivery.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex, RwLock};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use reqwest::blocking::Client;
use serde_json::{json, Value};

/// The user every chaos project and job belongs to.
pub const USER: &str = "chaos";

/// A project the traffic picks from: its id and the frames its output must have.
#[derive(Clone)]
pub struct ProjectKind {
    pub id: String,
    pub frames: u64,
}

/// The projects of a round: (width, height, seconds, fps). The last is long enough to be chunked
/// when the cluster chunks.
pub const PROJECTS: &[(u32, u32, f64, f64)] = &[
    (64, 64, 1.0, 10.0),
    (96, 64, 2.0, 12.0),
    (64, 48, 4.0, 10.0),
];

pub fn project(n: usize) -> Value {
    let (w, h, seconds, fps) = PROJECTS[n];
    let mut p = crate::common::tiny_project(USER, seconds, fps);
    p["width"] = json!(w);
    p["height"] = json!(h);
    p["title"] = json!(format!("chaos {n}"));
    p
}

/// What the traffic saw of one job it submitted.
#[derive(Debug, Clone, Default)]
pub struct Seen {
    pub project: usize,
    /// The first final status it read, and any different one read later.
    pub final_status: Option<String>,
    pub changed_after_final: Vec<String>,
    pub cancel_requested: bool,
}

/// Counts of the traffic's requests.
#[derive(Debug, Default)]
pub struct Counts {
    /// 202s.
    pub accepted: usize,
    /// Submissions refused with a status (503 disk low, …): `status message` → count.
    pub refused: BTreeMap<String, usize>,
    /// Tries while the API was down (connection refused, or its address not known yet).
    pub api_down: usize,
    /// Submissions sent but not answered (the API died mid-request): the job may exist.
    pub unanswered: usize,
    /// 5xx answers to anything but a submission refused for capacity.
    pub server_errors: Vec<String>,
    pub cancels: usize,
}

#[derive(Default)]
pub struct Traffic {
    pub jobs: Mutex<BTreeMap<String, Seen>>,
    pub counts: Mutex<Counts>,
}

/// Whether a status is final.
pub fn is_final(s: &str) -> bool {
    matches!(s, "completed" | "failed" | "cancelled")
}

impl Traffic {
    /// Records a status read of job `id`.
    pub fn observe(&self, id: &str, status: &str) {
        let mut jobs = self.jobs.lock().unwrap();
        let seen = jobs.entry(id.to_string()).or_default();
        match &seen.final_status {
            Some(f) if f != status => seen.changed_after_final.push(status.to_string()),
            Some(_) => {}
            None if is_final(status) => seen.final_status = Some(status.to_string()),
            None => {}
        }
    }

    fn unfinished(&self) -> Vec<String> {
        self.jobs
            .lock()
            .unwrap()
            .iter()
            .filter(|(_, s)| s.final_status.is_none())
            .map(|(id, _)| id.clone())
            .collect()
    }
}

/// Runs the job flow until `stop`: a submission every 0.3–0.9 s while fewer than `in_flight` jobs
/// are unfinished, one in ten cancelled a moment later.
pub fn run(
    traffic: Arc<Traffic>,
    base: Arc<RwLock<Option<String>>>,
    projects: Vec<ProjectKind>,
    callback_url: String,
    in_flight: usize,
    seed: u64,
    stop: Arc<AtomicBool>,
) {
    let mut rng = StdRng::seed_from_u64(seed ^ 0x7261_6666_6963);
    let client = Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut to_cancel: Vec<(String, u32)> = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(rng.random_range(300..900)));
        let Some(base) = base.read().unwrap().clone() else {
            traffic.counts.lock().unwrap().api_down += 1;
            continue;
        };
        let unfinished = traffic.unfinished();
        for id in &unfinished {
            if let Ok(r) = client.get(format!("{base}/api/v1/render/jobs/{id}")).send() {
                if let Ok(v) = r.json::<Value>() {
                    if let Some(s) = v["status"].as_str() {
                        traffic.observe(id, s);
                    }
                }
            }
        }
        // Cancels due now (counted down in loop turns).
        to_cancel.retain_mut(|(id, turns)| {
            if *turns > 0 {
                *turns -= 1;
                return true;
            }
            if let Ok(r) = client
                .delete(format!("{base}/api/v1/render/jobs/{id}"))
                .send()
            {
                let s = r.status().as_u16();
                if s >= 500 {
                    let body = r.text().unwrap_or_default();
                    traffic
                        .counts
                        .lock()
                        .unwrap()
                        .server_errors
                        .push(format!("DELETE job {id}: {s} {body}"));
                }
                if let Some(seen) = traffic.jobs.lock().unwrap().get_mut(id.as_str()) {
                    seen.cancel_requested = true;
                }
                traffic.counts.lock().unwrap().cancels += 1;
            }
            false
        });
        if unfinished.len() >= in_flight {
            continue;
        }
        let kind = rng.random_range(0..projects.len());
        let body = json!({
            "projectId": projects[kind].id,
            "priority": rng.random_range(1..=10),
            "callbackUrl": callback_url,
        });
        match client
            .post(format!("{base}/api/v1/render/jobs"))
            .json(&body)
            .send()
        {
            Ok(r) => {
                let status = r.status().as_u16();
                let v: Value = r.json().unwrap_or(Value::Null);
                let mut counts = traffic.counts.lock().unwrap();
                if status == 202 {
                    counts.accepted += 1;
                    let id = v["jobId"].as_str().unwrap_or_default().to_string();
                    traffic.jobs.lock().unwrap().insert(
                        id.clone(),
                        Seen {
                            project: kind,
                            ..Seen::default()
                        },
                    );
                    if rng.random_bool(0.1) {
                        to_cancel.push((id, rng.random_range(0..4)));
                    }
                } else {
                    let what = format!("{status} {}", v["message"].as_str().unwrap_or("?"));
                    if status >= 500 && status != 503 {
                        counts.server_errors.push(format!("POST job: {what}"));
                    }
                    *counts.refused.entry(what).or_default() += 1;
                }
            }
            Err(e) if e.is_connect() => traffic.counts.lock().unwrap().api_down += 1,
            Err(_) => traffic.counts.lock().unwrap().unanswered += 1,
        }
    }
}

/// One callback delivery: (jobId, status).
pub type Callback = (String, String);

/// A real HTTP listener (axum on its own runtime) answering 200 to every callback; its URL and
/// the deliveries.
pub fn callback_listener() -> (String, Arc<Mutex<Vec<Callback>>>) {
    let got: Arc<Mutex<Vec<Callback>>> = Arc::default();
    let sink = got.clone();
    let (addr_tx, addr_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/hook",
                axum::routing::post(move |body: axum::body::Bytes| {
                    let sink = sink.clone();
                    async move {
                        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        sink.lock().unwrap().push((
                            v["jobId"].as_str().unwrap_or_default().to_string(),
                            v["status"].as_str().unwrap_or_default().to_string(),
                        ));
                        axum::http::StatusCode::OK
                    }
                }),
            );
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            addr_tx.send(listener.local_addr().unwrap()).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    let addr = addr_rx.recv().unwrap();
    (format!("http://{addr}/hook"), got)
}
