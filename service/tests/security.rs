//! Issue 8 against the real `vrender serve` binary over HTTP: `/metrics` (Prometheus text whose
//! counters move when a job runs), authentication and tenant isolation (API keys and HS256 JWTs),
//! per-key rate limiting.

use crate::common;

use std::collections::HashMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::{assert_error_body, key_hash, tiny_project, Server};
use reqwest::blocking::RequestBuilder;
use reqwest::StatusCode;
use serde_json::{json, Value};

// ---- Prometheus text parsing ---------------------------------------------------------------------

/// `name{labels}` → value, for every sample line; panics on a line that is neither a sample nor a
/// `# HELP` / `# TYPE` comment.
fn parse_prometheus(text: &str) -> HashMap<String, f64> {
    let mut out = HashMap::new();
    for line in text.lines() {
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix("# ") {
            assert!(
                c.starts_with("HELP ") || c.starts_with("TYPE "),
                "bad comment: {line}"
            );
            continue;
        }
        let (series, value) = line
            .rsplit_once(' ')
            .unwrap_or_else(|| panic!("bad line: {line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "bad metric name: {line}"
        );
        if name_end < series.len() {
            let labels = &series[name_end..];
            assert!(labels.ends_with('}'), "bad labels: {line}");
            for pair in labels[1..labels.len() - 1]
                .split("\",")
                .filter(|p| !p.is_empty())
            {
                let (k, v) = pair
                    .split_once("=\"")
                    .unwrap_or_else(|| panic!("bad label: {line}"));
                assert!(
                    k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                    "{line}"
                );
                let _ = v;
            }
        }
        let v: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("bad value in: {line}"));
        assert!(
            out.insert(series.to_string(), v).is_none(),
            "duplicate: {line}"
        );
    }
    out
}

fn scrape(server: &Server) -> HashMap<String, f64> {
    let r = server.client.get(server.url("/metrics")).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/plain; version=0.0.4"), "{ct}");
    parse_prometheus(&r.text().unwrap())
}

fn value(m: &HashMap<String, f64>, series: &str) -> f64 {
    m.get(series).copied().unwrap_or(0.0)
}

#[test]
fn prometheus_parser_refuses_garbage() {
    let ok = parse_prometheus("# HELP a x\n# TYPE a counter\na{b=\"c\",d=\"e\"} 1\nz 2.5\n");
    assert_eq!(ok["a{b=\"c\",d=\"e\"}"], 1.0);
    assert_eq!(ok["z"], 2.5);
    for bad in [
        "a b c",
        "# nonsense",
        "a{b=\"c\"} x",
        "a-b 1",
        "{b=\"c\"} 1",
    ] {
        assert!(
            std::panic::catch_unwind(|| parse_prometheus(bad)).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn metrics_move_when_a_job_runs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let before = scrape(&server);
    for name in [
        "vrender_queue_depth",
        "vrender_renders_running",
        "vrender_jobs{status=\"completed\"}",
        "vrender_jobs{status=\"queued\"}",
        "vrender_frames_rendered_total",
        "vrender_jobs_submitted_total",
        "vrender_render_fps",
    ] {
        assert!(before.contains_key(name), "{name} missing: {before:?}");
    }
    assert!(
        before
            .keys()
            .any(|k| k.starts_with("vrender_gpu_adapter_info{adapter=\"")),
        "{before:?}"
    );
    assert_eq!(value(&before, "vrender_jobs_submitted_total"), 0.0);

    let pid = server.create_project(&tiny_project("metrics-user", 1.0, 10.0));
    let job = server.submit(&json!({"projectId": pid}));
    let id = job["jobId"].as_str().unwrap();
    let done = server.wait_finished(id, Duration::from_secs(120));
    assert_eq!(done["status"], "completed", "{done}");
    let frames = done["framesTotal"].as_f64().unwrap();
    assert_eq!(frames, 10.0);

    let after = scrape(&server);
    assert_eq!(value(&after, "vrender_jobs_submitted_total"), 1.0);
    assert_eq!(
        value(&after, "vrender_jobs_finished_total{status=\"completed\"}"),
        1.0
    );
    assert_eq!(value(&after, "vrender_frames_rendered_total"), frames);
    assert!(value(&after, "vrender_render_fps") > 0.0, "{after:?}");
    assert_eq!(value(&after, "vrender_render_duration_seconds_count"), 1.0);
    assert_eq!(value(&after, "vrender_jobs{status=\"completed\"}"), 1.0);
    assert_eq!(value(&after, "vrender_jobs{status=\"queued\"}"), 0.0);
    assert_eq!(value(&after, "vrender_queue_depth"), 0.0);
    let post =
        "vrender_http_requests_total{method=\"POST\",route=\"/api/v1/render/jobs\",status=\"202\"}";
    assert_eq!(value(&after, post), 1.0, "{after:?}");
    let polls = "vrender_http_requests_total{method=\"GET\",route=\"/api/v1/render/jobs/{jobId}\",status=\"200\"}";
    assert!(value(&after, polls) >= 1.0, "{after:?}");
    assert!(
        value(
            &after,
            "vrender_http_request_duration_seconds_count{method=\"GET\",route=\"/api/v1/render/jobs/{jobId}\"}"
        ) >= 1.0
    );
    // Routes are templates, never raw paths (bounded label values).
    assert!(!after.keys().any(|k| k.contains(id)), "job id in a label");
    // A 404 is counted under `unmatched`.
    let _ = server.get("/no/such/route");
    let later = scrape(&server);
    assert_eq!(
        value(
            &later,
            "vrender_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"
        ),
        1.0
    );
    assert!(
        value(
            &later,
            "vrender_http_requests_total{method=\"GET\",route=\"/metrics\",status=\"200\"}"
        ) >= 2.0
    );
}

#[test]
fn queue_depth_and_job_gauges_follow_the_queue() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "1")]);
    // A long render occupies the only worker; two more jobs wait.
    let long = server.create_project(&tiny_project("q", 120.0, 30.0));
    let first = server.submit(&json!({"projectId": long}));
    let first = first["jobId"].as_str().unwrap().to_string();
    server.wait_for(&first, Duration::from_secs(60), |j| {
        j["status"] == "processing"
    });
    let mut ids = vec![first];
    for _ in 0..2 {
        ids.push(
            server.submit(&json!({"projectId": long}))["jobId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let m = scrape(&server);
    assert_eq!(value(&m, "vrender_queue_depth"), 2.0, "{m:?}");
    assert_eq!(value(&m, "vrender_jobs{status=\"queued\"}"), 2.0);
    assert_eq!(value(&m, "vrender_jobs{status=\"processing\"}"), 1.0);
    assert_eq!(value(&m, "vrender_renders_running"), 1.0);
    for id in &ids {
        let (st, body) = server.delete(&format!("/api/v1/render/jobs/{id}"));
        assert_eq!(st, StatusCode::OK, "{body}");
    }
    for id in &ids {
        server.wait_finished(id, Duration::from_secs(30));
    }
    let m = scrape(&server);
    assert_eq!(value(&m, "vrender_queue_depth"), 0.0, "{m:?}");
    assert_eq!(value(&m, "vrender_jobs{status=\"cancelled\"}"), 3.0);
    assert_eq!(
        value(&m, "vrender_jobs_finished_total{status=\"cancelled\"}"),
        3.0
    );
    assert_eq!(value(&m, "vrender_jobs_submitted_total"), 3.0);
}

#[test]
fn failures_are_counted_by_reason() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("JOB_MAX_ATTEMPTS", "1")]);
    let pic = dir.path().join("assets/pic.png");
    image::RgbaImage::from_pixel(8, 8, image::Rgba([255, 0, 0, 255]))
        .save(&pic)
        .unwrap();
    let mut project = tiny_project("f", 0.5, 10.0);
    project["frames"][0]["layers"] = json!([
        {"type": "image", "src": "pic.png", "x": 0, "y": 0, "width": 8, "height": 8}
    ]);
    let pid = server.create_project(&project);
    // The asset disappears between validation and the render: the render-time validation refuses
    // the project (permanent, `invalid_project`).
    std::fs::remove_file(&pic).unwrap();
    let job = server.submit(&json!({"projectId": pid}));
    let done = server.wait_finished(job["jobId"].as_str().unwrap(), Duration::from_secs(60));
    assert_eq!(done["status"], "failed", "{done}");
    let m = scrape(&server);
    let failures: Vec<(&String, &f64)> = m
        .iter()
        .filter(|(k, _)| k.starts_with("vrender_job_failures_total{"))
        .collect();
    assert_eq!(
        failures,
        vec![(
            &"vrender_job_failures_total{reason=\"invalid_project\"}".to_string(),
            &1.0
        )],
        "{m:?}"
    );
    assert_eq!(
        value(&m, "vrender_jobs_finished_total{status=\"failed\"}"),
        1.0
    );
    assert_eq!(value(&m, "vrender_jobs{status=\"failed\"}"), 1.0);
    assert_eq!(value(&m, "vrender_frames_rendered_total"), 0.0);
}

// ---- authentication ------------------------------------------------------------------------------

const JWT_SECRET: &str = "test-secret-0123456789-0123456789-abcdef";

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn jwt(secret: &str, claims: Value) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::default(),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

fn send(rb: RequestBuilder) -> (StatusCode, Value) {
    let r = rb.send().unwrap();
    let s = r.status();
    (s, r.json().unwrap_or(Value::Null))
}

fn auth_server(dir: &std::path::Path) -> Server {
    let keys = format!(
        "{}:alice,{}:bob,{}:root:admin",
        key_hash("alice-key"),
        key_hash("bob-key"),
        key_hash("root-key")
    );
    std::fs::write(
        dir.join("keys"),
        format!("# more keys\n{}:carol\n", key_hash("carol-key")),
    )
    .unwrap();
    let keys_file = dir.join("keys").display().to_string();
    Server::start(
        dir,
        &[
            ("API_KEYS", &keys),
            ("API_KEYS_FILE", &keys_file),
            ("JWT_SECRET", JWT_SECRET),
            ("JWT_ISSUER", "https://issuer.test"),
            ("JWT_AUDIENCE", "vrender"),
        ],
    )
}

#[test]
fn authentication_is_required_when_configured() {
    let dir = tempfile::tempdir().unwrap();
    let s = auth_server(dir.path());
    let jobs = s.url("/api/v1/render/jobs");
    let c = &s.client;

    // No credentials, a wrong key, a non-bearer scheme: 401 with the common body.
    for rb in [
        c.get(&jobs),
        c.get(&jobs).header("x-api-key", "nope"),
        c.get(&jobs).bearer_auth("nope"),
        c.get(&jobs).header("authorization", "Basic YWxpY2U6eA=="),
        c.get(&jobs).bearer_auth(key_hash("alice-key")), // the stored hash is not the key
    ] {
        let r = rb.send().unwrap();
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
        let body: Value = r.json().unwrap();
        assert_error_body(StatusCode::UNAUTHORIZED, &body, 401, "/api/v1/render/jobs");
    }
    let (st, body) = send(
        c.post(s.url("/api/v1/render/projects"))
            .json(&tiny_project("x", 0.5, 10.0)),
    );
    assert_error_body(st, &body, 401, "/api/v1/render/projects");

    // Keys from API_KEYS (both headers) and API_KEYS_FILE work.
    assert_eq!(
        send(c.get(&jobs).bearer_auth("alice-key")).0,
        StatusCode::OK
    );
    assert_eq!(
        send(c.get(&jobs).header("x-api-key", "bob-key")).0,
        StatusCode::OK
    );
    assert_eq!(
        send(c.get(&jobs).header("x-api-key", "carol-key")).0,
        StatusCode::OK
    );

    // JWTs: valid → 200; wrong signature, expired, not yet valid, wrong audience, wrong issuer,
    // no exp → 401.
    let t = now();
    let good =
        json!({"sub": "dave", "iss": "https://issuer.test", "aud": "vrender", "exp": t + 600});
    assert_eq!(
        send(c.get(&jobs).bearer_auth(jwt(JWT_SECRET, good.clone()))).0,
        StatusCode::OK
    );
    let with = |k: &str, v: Value| {
        let mut c = good.clone();
        c[k] = v;
        c
    };
    let mut no_exp = good.clone();
    no_exp.as_object_mut().unwrap().remove("exp");
    for (what, token) in [
        (
            "wrong signature",
            jwt("another-secret-0123456789-0123456789-xyz", good.clone()),
        ),
        ("expired", jwt(JWT_SECRET, with("exp", json!(t - 3600)))),
        (
            "not yet valid",
            jwt(JWT_SECRET, with("nbf", json!(t + 3600))),
        ),
        (
            "wrong audience",
            jwt(JWT_SECRET, with("aud", json!("someone-else"))),
        ),
        (
            "wrong issuer",
            jwt(JWT_SECRET, with("iss", json!("https://evil.test"))),
        ),
        ("no exp", jwt(JWT_SECRET, no_exp)),
        ("tampered", {
            let tok = jwt(JWT_SECRET, good.clone());
            let mut parts: Vec<String> = tok.split('.').map(String::from).collect();
            parts[1] = jsonwebtoken::encode(
                &jsonwebtoken::Header::default(),
                &with("sub", json!("root")),
                &jsonwebtoken::EncodingKey::from_secret(b"x"),
            )
            .unwrap()
            .split('.')
            .nth(1)
            .unwrap()
            .to_string();
            parts.join(".")
        }),
    ] {
        let (st, body) = send(c.get(&jobs).bearer_auth(token));
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{what}: {body}");
    }

    // Public routes stay public.
    assert_eq!(
        c.get(s.url("/api/v1/health")).send().unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        c.get(s.url("/health")).send().unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        c.get(s.url("/metrics")).send().unwrap().status(),
        StatusCode::OK
    );
    assert_eq!(
        c.get(s.url("/api/openapi.json")).send().unwrap().status(),
        StatusCode::OK
    );
}

#[test]
fn users_only_see_their_own_projects_and_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let s = auth_server(dir.path());
    let c = &s.client;
    let alice = |rb: RequestBuilder| send(rb.bearer_auth("alice-key"));
    let bob = |rb: RequestBuilder| send(rb.header("x-api-key", "bob-key"));
    let root = |rb: RequestBuilder| send(rb.bearer_auth("root-key"));

    // Alice's project is hers whatever userId it names.
    let (st, project) = alice(
        c.post(s.url("/api/v1/render/projects"))
            .json(&tiny_project("bob", 1.0, 10.0)),
    );
    assert_eq!(st, StatusCode::CREATED, "{project}");
    assert_eq!(project["userId"], "alice");
    let pid = project["projectId"].as_str().unwrap().to_string();
    let (st, job) = alice(
        c.post(s.url("/api/v1/render/jobs"))
            .json(&json!({"projectId": pid})),
    );
    assert_eq!(st, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["userId"], "alice");
    let jid = job["jobId"].as_str().unwrap().to_string();
    let job_url = s.url(&format!("/api/v1/render/jobs/{jid}"));
    let project_url = s.url(&format!("/api/v1/render/projects/{pid}"));

    // Bob (API key) and a JWT user: 404 for Alice's project and job, nothing in lists, 422 when
    // submitting her project, 404 when cancelling her job.
    let dave = jwt(
        JWT_SECRET,
        json!({"sub": "dave", "iss": "https://issuer.test", "aud": "vrender", "exp": now() + 600}),
    );
    let as_dave = |rb: RequestBuilder| send(rb.bearer_auth(&dave));
    for (who, call) in [
        (
            "bob",
            &bob as &dyn Fn(RequestBuilder) -> (StatusCode, Value),
        ),
        ("dave", &as_dave),
    ] {
        let (st, body) = call(c.get(&job_url));
        assert_error_body(st, &body, 404, "/api/v1/render/jobs/");
        let (st, body) = call(c.get(&project_url));
        assert_error_body(st, &body, 404, "/api/v1/render/projects/");
        let (st, list) = call(c.get(s.url("/api/v1/render/jobs")));
        assert_eq!(st, StatusCode::OK);
        assert_eq!(list["total"], 0, "{who}: {list}");
        let (st, list) = call(c.get(s.url("/api/v1/render/jobs?userId=alice")));
        assert_eq!(st, StatusCode::OK);
        assert_eq!(list["total"], 0, "{who}: {list}");
        let (st, body) = call(
            c.post(s.url("/api/v1/render/jobs"))
                .json(&json!({"projectId": pid})),
        );
        assert_error_body(st, &body, 422, "/api/v1/render/jobs");
        let (st, body) = call(c.delete(&job_url));
        assert_error_body(st, &body, 404, "/api/v1/render/jobs/");
    }
    // Alice's job was not cancelled by them.
    let (_, j) = alice(c.get(&job_url));
    assert_ne!(j["status"], "cancelled", "{j}");

    // Alice sees her job; the admin sees everything and can filter by user.
    let (_, list) = alice(c.get(s.url("/api/v1/render/jobs")));
    assert_eq!(list["total"], 1, "{list}");
    assert_eq!(list["items"][0]["jobId"], jid.as_str());
    let (st, _) = root(c.get(&job_url));
    assert_eq!(st, StatusCode::OK);
    let (st, _) = root(c.get(&project_url));
    assert_eq!(st, StatusCode::OK);
    let (_, list) = root(c.get(s.url("/api/v1/render/jobs?userId=alice")));
    assert_eq!(list["total"], 1, "{list}");
    let admin_jwt = jwt(
        JWT_SECRET,
        json!({"sub": "ops", "roles": ["admin"], "iss": "https://issuer.test", "aud": "vrender", "exp": now() + 600}),
    );
    assert_eq!(
        send(c.get(&job_url).bearer_auth(&admin_jwt)).0,
        StatusCode::OK
    );

    // The render completes; its signed link downloads without credentials.
    let start = std::time::Instant::now();
    let done = loop {
        let (_, j) = alice(c.get(&job_url));
        if matches!(
            j["status"].as_str(),
            Some("completed" | "failed" | "cancelled")
        ) {
            break j;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "{j}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(done["status"], "completed", "{done}");
    let link = done["outputUrl"].as_str().unwrap();
    let r = c.get(link).send().unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.bytes().unwrap().len() > 100);

    // A second job of Alice's, cancelled by the admin.
    let (_, job2) = alice(
        c.post(s.url("/api/v1/render/jobs"))
            .json(&json!({"projectId": pid})),
    );
    let jid2 = job2["jobId"].as_str().unwrap();
    let (st, body) = root(c.delete(s.url(&format!("/api/v1/render/jobs/{jid2}"))));
    assert!(
        st == StatusCode::OK || st == StatusCode::CONFLICT,
        "admin cancel: {st} {body}"
    );
}

// ---- rate limiting -------------------------------------------------------------------------------

#[test]
fn rate_limit_trips_at_the_burst() {
    let dir = tempfile::tempdir().unwrap();
    // One request per 100 s sustained: the burst is all a key gets during the test.
    let s = Server::start(
        dir.path(),
        &[("RATE_LIMIT_PER_SECOND", "0.01"), ("RATE_LIMIT_BURST", "5")],
    );
    let c = &s.client;
    let jobs = s.url("/api/v1/render/jobs");
    for i in 0..5 {
        let r = c.get(&jobs).header("x-api-key", "k1").send().unwrap();
        assert_eq!(r.status(), StatusCode::OK, "request {}", i + 1);
    }
    let r = c.get(&jobs).header("x-api-key", "k1").send().unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=100).contains(&retry), "Retry-After {retry}");
    let body: Value = r.json().unwrap();
    assert_error_body(
        StatusCode::TOO_MANY_REQUESTS,
        &body,
        429,
        "/api/v1/render/jobs",
    );
    assert!(
        body["message"].as_str().unwrap().contains("rate limit"),
        "{body}"
    );

    // Another key has its own bucket; requests without one share the client IP's.
    for _ in 0..5 {
        assert_eq!(
            c.get(&jobs)
                .header("x-api-key", "k2")
                .send()
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
    assert_eq!(
        c.get(&jobs)
            .header("x-api-key", "k2")
            .send()
            .unwrap()
            .status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    for _ in 0..5 {
        assert_eq!(c.get(&jobs).send().unwrap().status(), StatusCode::OK);
    }
    assert_eq!(
        c.get(&jobs).send().unwrap().status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Health probes and scrapes are never limited.
    for _ in 0..10 {
        assert_eq!(
            c.get(s.url("/api/v1/health")).send().unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(
            c.get(s.url("/metrics")).send().unwrap().status(),
            StatusCode::OK
        );
    }
}

#[test]
fn without_rate_limit_settings_nothing_is_limited() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    for _ in 0..50 {
        assert_eq!(
            s.client
                .get(s.url("/api/v1/render/jobs"))
                .send()
                .unwrap()
                .status(),
            StatusCode::OK
        );
    }
}
