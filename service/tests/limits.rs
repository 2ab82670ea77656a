//! Issue 8 (ops) against the real `vrender serve` binary over HTTP: request limits (body size, JSON
//! depth and array length, refused fast), per-user quotas (exact trip points, the body names the
//! limit, resets), rate-limit refill and `X-Forwarded-For` trust, JWTs signed with RS256 / ES256 / a
//! JWKS (keys made by the `openssl` CLI at test time), JSON logs with request and job ids, the new
//! metrics and the OpenAPI security schemes.

use crate::common;

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use common::{assert_error_body, key_hash, tiny_project, Server};
use reqwest::blocking::RequestBuilder;
use reqwest::StatusCode;
use serde_json::{json, Value};

fn send(rb: RequestBuilder) -> (StatusCode, Value) {
    let r = rb.send().unwrap();
    let s = r.status();
    (s, r.json().unwrap_or(Value::Null))
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

// ---- request limits ------------------------------------------------------------------------------

/// Posts raw JSON bytes; returns status, body and how long the answer took.
fn post_raw(s: &Server, path: &str, body: Vec<u8>) -> (StatusCode, Value, Duration) {
    let t = Instant::now();
    let r = s
        .client
        .post(s.url(path))
        .header("content-type", "application/json")
        .body(body)
        .send()
        .unwrap();
    let status = r.status();
    let v = r.json().unwrap_or(Value::Null);
    (status, v, t.elapsed())
}

#[test]
fn hostile_bodies_are_refused_fast_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[]);
    let projects = "/api/v1/render/projects";

    // 10 MiB (+1 byte) of valid JSON: over BODY_LIMIT_BYTES (default 10 MiB).
    let mut big = b"[\"".to_vec();
    big.resize(10 * 1024 * 1024 - 1, b'x');
    big.extend_from_slice(b"\"]");
    let (st, body, took) = post_raw(&s, projects, big);
    assert_error_body(st, &body, 413, projects);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("BODY_LIMIT_BYTES"),
        "{body}"
    );
    assert!(took < Duration::from_secs(1), "10 MiB body took {took:?}");

    // 10,000-deep nesting: refused by JSON_MAX_DEPTH (default 64) before parsing.
    for path in [projects, "/api/v1/render/jobs"] {
        let deep = format!("{}{}", "[".repeat(10_000), "]".repeat(10_000));
        let (st, body, took) = post_raw(&s, path, deep.into_bytes());
        assert_error_body(st, &body, 400, path);
        let msg = body["message"].as_str().unwrap();
        assert!(
            msg.contains("JSON_MAX_DEPTH") && msg.contains("64"),
            "{body}"
        );
        assert!(took < Duration::from_secs(1), "deep nesting took {took:?}");
        let deep_objects = format!("{}1{}", "{\"a\":".repeat(10_000), "}".repeat(10_000));
        let (st, body, _) = post_raw(&s, path, deep_objects.into_bytes());
        assert_error_body(st, &body, 400, path);
    }

    // A 1,000,000-element array (2 MB, under the body limit): refused by JSON_MAX_ARRAY_LEN.
    let long = format!("{{\"frames\": [{}0]}}", "0,".repeat(999_999));
    let (st, body, took) = post_raw(&s, projects, long.into_bytes());
    assert_error_body(st, &body, 413, projects);
    let msg = body["message"].as_str().unwrap();
    assert!(
        msg.contains("JSON_MAX_ARRAY_LEN") && msg.contains("100000"),
        "{body}"
    );
    assert_eq!(body["details"][0]["path"], "${}[100000]", "{body}");
    assert!(took < Duration::from_secs(1), "long array took {took:?}");

    // Still up and serving.
    assert_eq!(s.get("/health").0, StatusCode::OK);
    s.create_project(&tiny_project("u", 0.2, 10.0));
}

#[test]
fn json_limits_trip_exactly_at_the_settings() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[("JSON_MAX_DEPTH", "8"), ("JSON_MAX_ARRAY_LEN", "1000")],
    );
    let projects = "/api/v1/render/projects";
    // At the limits the body passes the scanner and fails validation (422), one over it is refused.
    let arr = |n: usize| format!("{{\"extra\": [{}]}}", vec!["1"; n].join(",")).into_bytes();
    assert_eq!(
        post_raw(&s, projects, arr(1000)).0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        post_raw(&s, projects, arr(1001)).0,
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // `{"a": [[[[1]]]]}` is 5 deep: `nest(n)` is n deep.
    let nest = |n: usize| format!("{{\"a\": {}1{}}}", "[".repeat(n - 1), "]".repeat(n - 1));
    assert_eq!(
        post_raw(&s, projects, nest(8).into_bytes()).0,
        StatusCode::UNPROCESSABLE_ENTITY
    );
    assert_eq!(
        post_raw(&s, projects, nest(9).into_bytes()).0,
        StatusCode::BAD_REQUEST
    );
    // A real project (frames, layers, animations: 7 deep) still fits.
    s.create_project(&tiny_project("u", 0.2, 10.0));
}

// ---- quotas --------------------------------------------------------------------------------------

fn submit_as(s: &Server, key: &str, project_id: &str) -> (StatusCode, Value, Option<u64>) {
    let r = s
        .client
        .post(s.url("/api/v1/render/jobs"))
        .header("x-api-key", key)
        .json(&json!({ "projectId": project_id }))
        .send()
        .unwrap();
    let status = r.status();
    let retry = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().parse().unwrap());
    (status, r.json().unwrap_or(Value::Null), retry)
}

fn job_as(s: &Server, id: &str, key: &str) -> Value {
    send(
        s.client
            .get(s.url(&format!("/api/v1/render/jobs/{id}")))
            .header("x-api-key", key),
    )
    .1
}

fn assert_quota(body: &Value, status: u16, limit: &str, value: Value, current: Value) {
    assert_error_body(
        StatusCode::from_u16(status).unwrap(),
        body,
        status,
        "/api/v1/render/",
    );
    let q = &body["quota"];
    assert_eq!(q["limit"], limit, "{body}");
    assert_eq!(q["value"], value, "{body}");
    assert_eq!(q["current"], current, "{body}");
    assert!(
        q["setting"].as_str().unwrap().starts_with("QUOTA_"),
        "{body}"
    );
    assert!(body["message"].as_str().unwrap().contains(limit), "{body}");
}

#[test]
fn concurrent_job_quota_is_exact_race_safe_and_frees_when_a_job_ends() {
    let dir = tempfile::tempdir().unwrap();
    let keys = format!(
        "{}:alice,{}:root:admin",
        key_hash("alice-key"),
        key_hash("root-key")
    );
    let s = Server::start(
        dir.path(),
        &[
            ("API_KEYS", &keys),
            ("QUOTA_MAX_CONCURRENT_JOBS", "2"),
            // One render at a time: the second job waits queued, so both stay active.
            ("MAX_CONCURRENT_RENDERS", "1"),
        ],
    );
    let (st, p) = send(
        s.client
            .post(s.url("/api/v1/render/projects"))
            .header("x-api-key", "alice-key")
            .json(&tiny_project("alice", 20.0, 30.0)),
    );
    assert_eq!(st, StatusCode::CREATED, "{p}");
    let pid = p["projectId"].as_str().unwrap().to_string();

    // Six submissions at once: exactly two pass.
    let results: Vec<(StatusCode, Value, Option<u64>)> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| submit_as(&s, "alice-key", &pid)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let accepted: Vec<&Value> = results
        .iter()
        .filter(|r| r.0 == StatusCode::ACCEPTED)
        .map(|r| &r.1)
        .collect();
    assert_eq!(accepted.len(), 2, "{results:?}");
    let refused = results
        .iter()
        .find(|r| r.0 == StatusCode::TOO_MANY_REQUESTS)
        .unwrap();
    assert_quota(&refused.1, 429, "maxConcurrentJobs", json!(2), json!(2));
    assert!(refused.2.is_some(), "Retry-After missing");
    // Admins are not limited (their jobs of their own project: a job counts for the project's owner).
    let (st, rp) = send(
        s.client
            .post(s.url("/api/v1/render/projects"))
            .header("x-api-key", "root-key")
            .json(&tiny_project("root", 20.0, 30.0)),
    );
    assert_eq!(st, StatusCode::CREATED, "{rp}");
    for _ in 0..3 {
        let rpid = rp["projectId"].as_str().unwrap();
        assert_eq!(submit_as(&s, "root-key", rpid).0, StatusCode::ACCEPTED);
    }

    // One of alice's jobs ends (cancelled): one slot frees, exactly one. Cancel the one still queued
    // behind the other's render, so it cannot have completed on its own meanwhile.
    let ids: Vec<&str> = accepted
        .iter()
        .map(|j| j["jobId"].as_str().unwrap())
        .collect();
    let first = ids
        .iter()
        .copied()
        .find(|id| job_as(&s, id, "alice-key")["status"] == "queued")
        .unwrap_or(ids[0]);
    let (st, _) = send(
        s.client
            .delete(s.url(&format!("/api/v1/render/jobs/{first}")))
            .header("x-api-key", "alice-key"),
    );
    assert_eq!(st, StatusCode::OK);
    assert_eq!(submit_as(&s, "alice-key", &pid).0, StatusCode::ACCEPTED);
    let (st, body, _) = submit_as(&s, "alice-key", &pid);
    assert_quota(&body, st.as_u16(), "maxConcurrentJobs", json!(2), json!(2));
}

#[test]
fn daily_job_quota_resets_at_the_window_boundary() {
    const WINDOW_MS: u64 = 6000;
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[("QUOTA_JOBS_PER_DAY", "3"), ("QUOTA_DAY_SECONDS", "6")],
    );
    let pid = s.create_project(&tiny_project("dana", 0.2, 10.0));
    // Start just after a window boundary so the four submissions fall into one window.
    let into = now_ms() % WINDOW_MS;
    if into > 500 {
        std::thread::sleep(Duration::from_millis(WINDOW_MS - into + 50));
    }
    for _ in 0..3 {
        s.submit(&json!({ "projectId": pid }));
    }
    let r = s
        .client
        .post(s.url("/api/v1/render/jobs"))
        .json(&json!({ "projectId": pid }))
        .send()
        .unwrap();
    let st = r.status();
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    let body: Value = r.json().unwrap();
    assert_quota(&body, st.as_u16(), "jobsPerDay", json!(3), json!(3));
    assert!((1..=6).contains(&retry), "Retry-After {retry}");
    let resets = body["quota"]["resetsAt"].as_str().unwrap().to_string();
    assert!(
        body["message"].as_str().unwrap().contains(&resets),
        "{body}"
    );
    // After the reset time a new window starts.
    std::thread::sleep(Duration::from_millis(
        WINDOW_MS - now_ms() % WINDOW_MS + 100,
    ));
    s.submit(&json!({ "projectId": pid }));
}

#[test]
fn render_minutes_and_resolution_quotas() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[
            // 3 s of video a month.
            ("QUOTA_RENDER_MINUTES_PER_MONTH", "0.05"),
            ("QUOTA_MAX_RESOLUTION", "64x64"),
            ("QUOTA_OVERRIDES", "big:resolution=none"),
        ],
    );
    // Resolution: 403 at project creation, naming the limit and the refused size.
    let mut wide = tiny_project("erin", 1.0, 10.0);
    wide["width"] = json!(96);
    let (st, body) = s.post("/api/v1/render/projects", &wide);
    assert_quota(
        &body,
        st.as_u16(),
        "maxResolution",
        json!("64x64"),
        json!("96x64"),
    );
    assert!(body["quota"].get("resetsAt").is_none(), "{body}");
    // … but not for the user whose override lifts it.
    wide["userId"] = json!("big");
    s.create_project(&wide);

    // Minutes: 1 s jobs; the 4th is refused once 3 s are used.
    let pid = s.create_project(&tiny_project("erin", 1.0, 10.0));
    for i in 0..3 {
        let job = s.submit(&json!({ "projectId": pid }));
        let done = s.wait_finished(job["jobId"].as_str().unwrap(), Duration::from_secs(120));
        assert_eq!(done["status"], "completed", "job {i}: {done}");
    }
    let (st, body) = s.post("/api/v1/render/jobs", &json!({ "projectId": pid }));
    assert_quota(
        &body,
        st.as_u16(),
        "renderMinutesPerMonth",
        json!(0.05),
        json!(0.05),
    );
    let resets = body["quota"]["resetsAt"].as_str().unwrap();
    assert!(resets.ends_with("-01T00:00:00Z"), "{resets}");
    // Another user has their own usage.
    let other = s.create_project(&tiny_project("frank", 1.0, 10.0));
    s.submit(&json!({ "projectId": other }));
}

// ---- rate limiting -------------------------------------------------------------------------------

#[test]
fn rate_limit_refills_and_trusts_one_proxy() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[
            ("RATE_LIMIT_PER_SECOND", "0.5"),
            ("RATE_LIMIT_BURST", "3"),
            ("TRUST_PROXY_HEADERS", "1"),
        ],
    );
    let get = |xff: &str| {
        s.client
            .get(s.url("/api/v1/render/jobs"))
            .header("x-forwarded-for", xff)
            .send()
            .unwrap()
    };
    for i in 0..3 {
        assert_eq!(get("1.1.1.1").status(), StatusCode::OK, "request {i}");
    }
    let r = get("1.1.1.1");
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(r.headers()["retry-after"], "2");
    // A forged left-most entry does not escape: the proxy's entry (right-most) is the client.
    assert_eq!(
        get("9.9.9.9, 1.1.1.1").status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    // Another client behind the proxy has its own bucket.
    for _ in 0..3 {
        assert_eq!(get("2.2.2.2").status(), StatusCode::OK);
    }
    // One token refills every 2 s: exactly one more request passes.
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(get("1.1.1.1").status(), StatusCode::OK);
    assert_eq!(get("1.1.1.1").status(), StatusCode::TOO_MANY_REQUESTS);
}

// ---- JWT RS256 / ES256 / JWKS --------------------------------------------------------------------

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A private key (PKCS#8 PEM) and its public key (PEM) in `dir`.
fn keypair(dir: &Path, name: &str, rsa: bool) -> (Vec<u8>, std::path::PathBuf) {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let p = private.to_str().unwrap();
    if rsa {
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            p,
        ]);
    } else {
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            p,
        ]);
    }
    openssl(&[
        "pkey",
        "-in",
        p,
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    (std::fs::read(&private).unwrap(), public)
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn rsa_jwk(public: &Path, kid: &str) -> Value {
    let out = String::from_utf8(openssl(&[
        "rsa",
        "-pubin",
        "-in",
        public.to_str().unwrap(),
        "-noout",
        "-modulus",
    ]))
    .unwrap();
    let n = hex::decode(out.trim().trim_start_matches("Modulus=")).unwrap();
    json!({"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256", "n": b64(&n), "e": "AQAB"})
}

fn ec_jwk(public: &Path, kid: &str) -> Value {
    let der = openssl(&[
        "pkey",
        "-pubin",
        "-in",
        public.to_str().unwrap(),
        "-outform",
        "DER",
    ]);
    let point = &der[der.len() - 64..]; // uncompressed point: 04 || x || y
    json!({"kty": "EC", "kid": kid, "crv": "P-256", "x": b64(&point[..32]), "y": b64(&point[32..])})
}

fn claims(extra: &[(&str, Value)]) -> Value {
    let t = now_ms() / 1000;
    let mut c = json!({
        "sub": "jwt-user", "exp": t + 600, "iat": t, "iss": "https://issuer.test", "aud": "vrender",
    });
    for (k, v) in extra {
        c[*k] = v.clone();
    }
    c
}

fn sign(
    alg: jsonwebtoken::Algorithm,
    kid: Option<&str>,
    key: &jsonwebtoken::EncodingKey,
    c: &Value,
) -> String {
    let mut h = jsonwebtoken::Header::new(alg);
    h.kid = kid.map(String::from);
    jsonwebtoken::encode(&h, c, key).unwrap()
}

fn status_with(s: &Server, token: &str) -> StatusCode {
    s.client
        .get(s.url("/api/v1/render/jobs"))
        .bearer_auth(token)
        .send()
        .unwrap()
        .status()
}

#[test]
fn rs256_es256_and_jwks_tokens() {
    use jsonwebtoken::{Algorithm, EncodingKey};
    let keys = tempfile::tempdir().unwrap();
    let (rsa_priv, rsa_pub) = keypair(keys.path(), "rsa", true);
    let (rsa2_priv, rsa2_pub) = keypair(keys.path(), "rsa2", true);
    let (ec_priv, ec_pub) = keypair(keys.path(), "ec", false);
    let (other_priv, _) = keypair(keys.path(), "other", true);
    let rsa = EncodingKey::from_rsa_pem(&rsa_priv).unwrap();
    let rsa2 = EncodingKey::from_rsa_pem(&rsa2_priv).unwrap();
    let ec = EncodingKey::from_ec_pem(&ec_priv).unwrap();
    let other = EncodingKey::from_rsa_pem(&other_priv).unwrap();
    let jwks = keys.path().join("jwks.json");
    std::fs::write(
        &jwks,
        json!({"keys": [rsa_jwk(&rsa2_pub, "r2"), ec_jwk(&ec_pub, "e1")]}).to_string(),
    )
    .unwrap();

    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir.path(),
        &[
            ("JWT_PUBLIC_KEY_FILE", rsa_pub.to_str().unwrap()),
            ("JWT_JWKS_FILE", jwks.to_str().unwrap()),
            ("JWT_ISSUER", "https://issuer.test"),
            ("JWT_AUDIENCE", "vrender"),
        ],
    );
    let good = claims(&[]);
    let t = now_ms() / 1000;
    let ok = [
        ("RS256, PEM key", sign(Algorithm::RS256, None, &rsa, &good)),
        (
            "RS256, JWKS r2",
            sign(Algorithm::RS256, Some("r2"), &rsa2, &good),
        ),
        (
            "ES256, JWKS e1",
            sign(Algorithm::ES256, Some("e1"), &ec, &good),
        ),
    ];
    for (what, token) in &ok {
        assert_eq!(status_with(&s, token), StatusCode::OK, "{what}");
    }
    // The token's user is the caller.
    let (st, p) = send(
        s.client
            .post(s.url("/api/v1/render/projects"))
            .bearer_auth(&ok[2].1)
            .json(&tiny_project("someone-else", 0.2, 10.0)),
    );
    assert_eq!(st, StatusCode::CREATED, "{p}");
    assert_eq!(p["userId"], "jwt-user");

    let public_pem = std::fs::read(&rsa_pub).unwrap();
    let bad = [
        (
            "expired",
            sign(
                Algorithm::RS256,
                None,
                &rsa,
                &claims(&[("exp", json!(t - 3600))]),
            ),
        ),
        (
            "not yet valid",
            sign(
                Algorithm::RS256,
                None,
                &rsa,
                &claims(&[("nbf", json!(t + 3600))]),
            ),
        ),
        (
            "wrong issuer",
            sign(
                Algorithm::RS256,
                None,
                &rsa,
                &claims(&[("iss", json!("https://evil.test"))]),
            ),
        ),
        (
            "wrong audience",
            sign(
                Algorithm::RS256,
                None,
                &rsa,
                &claims(&[("aud", json!("other"))]),
            ),
        ),
        (
            "unknown RSA key",
            sign(Algorithm::RS256, None, &other, &good),
        ),
        (
            "r2's kid, signed by another key",
            sign(Algorithm::RS256, Some("r2"), &other, &good),
        ),
        (
            "unknown kid",
            sign(Algorithm::RS256, Some("nope"), &rsa2, &good),
        ),
        (
            "ES256 without kid (no EC PEM key)",
            sign(Algorithm::ES256, None, &ec, &good),
        ),
        (
            "kid e1 (EC) but RS256",
            sign(Algorithm::RS256, Some("e1"), &rsa, &good),
        ),
        // Algorithm confusion: HS256 keyed with the public key's PEM text.
        (
            "HS256 with the public key as secret",
            sign(
                Algorithm::HS256,
                None,
                &EncodingKey::from_secret(&public_pem),
                &good,
            ),
        ),
        (
            "HS256 with the public key as secret, kid r2",
            sign(
                Algorithm::HS256,
                Some("r2"),
                &EncodingKey::from_secret(&public_pem),
                &good,
            ),
        ),
        (
            "alg none",
            format!(
                "{}.{}.",
                b64(br#"{"alg":"none","typ":"JWT"}"#),
                b64(good.to_string().as_bytes())
            ),
        ),
    ];
    for (what, token) in &bad {
        assert_eq!(status_with(&s, token), StatusCode::UNAUTHORIZED, "{what}");
    }
    drop(s);

    // An EC PEM key: ES256 only.
    let dir2 = tempfile::tempdir().unwrap();
    let s = Server::start(
        dir2.path(),
        &[("JWT_PUBLIC_KEY_FILE", ec_pub.to_str().unwrap())],
    );
    assert_eq!(
        status_with(&s, &sign(Algorithm::ES256, None, &ec, &good)),
        StatusCode::OK
    );
    assert_eq!(
        status_with(&s, &sign(Algorithm::RS256, None, &rsa, &good)),
        StatusCode::UNAUTHORIZED
    );
}

#[test]
fn bad_key_files_stop_the_server_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, "not a key").unwrap();
    let jwks = dir.path().join("jwks.json");
    std::fs::write(
        &jwks,
        r#"{"keys":[{"kty":"oct","kid":"k","k":"c2VjcmV0"}]}"#,
    )
    .unwrap();
    for (name, path, expect) in [
        ("JWT_PUBLIC_KEY_FILE", &garbage, "PEM"),
        ("JWT_JWKS_FILE", &jwks, "symmetric"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_vrender"))
            .arg("serve")
            .env("PORT", "0")
            .env("HOST", "127.0.0.1")
            .env("DATA_DIR", dir.path())
            .env(name, path)
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(name) && err.contains(expect), "{err}");
    }
}

// ---- JSON logs, metrics, OpenAPI -----------------------------------------------------------------

/// The fields of every span of a JSON log line.
fn span_fields(line: &Value) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    if let Some(spans) = line["spans"].as_array() {
        for s in spans {
            if let Some(o) = s.as_object() {
                for (k, v) in o {
                    out.insert(k.clone(), v.clone());
                }
            }
        }
    }
    out
}

#[test]
fn json_logs_carry_request_and_job_ids_and_metrics_count_encode_and_upload() {
    let dir = tempfile::tempdir().unwrap();
    let s = Server::start(dir.path(), &[("LOG_FORMAT", "json")]);
    let pid = s.create_project(&tiny_project("logs", 0.5, 10.0));
    let (st, job) = send(
        s.client
            .post(s.url("/api/v1/render/jobs"))
            .header("x-request-id", "req-test-42")
            .json(&json!({ "projectId": pid })),
    );
    assert_eq!(st, StatusCode::ACCEPTED, "{job}");
    let id = job["jobId"].as_str().unwrap().to_string();
    let done = s.wait_finished(&id, Duration::from_secs(120));
    assert_eq!(done["status"], "completed", "{done}");
    std::thread::sleep(Duration::from_millis(300)); // let the last lines reach the file

    let text = std::fs::read_to_string(&s.log).unwrap();
    // Every log line is JSON (lines not starting with `{` come from C libraries writing to stderr
    // directly, e.g. Mesa's `XDG_RUNTIME_DIR` warning, not from the service's logging).
    let lines: Vec<Value> = text
        .lines()
        .filter(|l| l.starts_with('{'))
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    assert!(lines.len() >= 10, "too few JSON lines:\n{text}");
    for l in text
        .lines()
        .filter(|l| !l.starts_with('{') && !l.trim().is_empty())
    {
        assert!(
            !l.contains("INFO") && !l.contains("vrender"),
            "a log line that is not JSON: {l}"
        );
    }
    let message = |l: &Value| l["fields"]["message"].as_str().unwrap_or("").to_string();
    // Every line of the submit request carries its request id…
    let of_request: Vec<&Value> = lines
        .iter()
        .filter(|l| span_fields(l).get("request_id") == Some(&json!("req-test-42")))
        .collect();
    let msgs: Vec<String> = of_request.iter().map(|l| message(l)).collect();
    assert!(msgs.contains(&"job queued".to_string()), "{msgs:?}");
    assert!(msgs.contains(&"request".to_string()), "{msgs:?}");
    // … and every line of the job's run its job id.
    for m in ["render started", "output stored", "render completed"] {
        let l = lines
            .iter()
            .find(|l| message(l) == m)
            .unwrap_or_else(|| panic!("no `{m}` line in:\n{text}"));
        assert_eq!(span_fields(l).get("job_id"), Some(&json!(id)), "{l}");
    }

    let metrics = s
        .client
        .get(s.url("/metrics"))
        .send()
        .unwrap()
        .text()
        .unwrap();
    let sample = |name: &str| -> f64 {
        metrics
            .lines()
            .find_map(|l| l.strip_prefix(name).and_then(|r| r.strip_prefix(' ')))
            .unwrap_or_else(|| panic!("{name} missing:\n{metrics}"))
            .parse()
            .unwrap()
    };
    assert_eq!(sample("vrender_encode_seconds_count"), 1.0);
    assert!(sample("vrender_encode_seconds_sum") > 0.0);
    // The one output: outputs/renders/{userId}/{jobId}.mp4.
    let user_dir = std::fs::read_dir(dir.path().join("outputs/renders"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let output = std::fs::read_dir(user_dir)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    let size = std::fs::metadata(output).unwrap().len();
    assert_eq!(sample("vrender_upload_bytes_total"), size as f64);

    // OpenAPI: the security schemes and the 401/403/429 answers.
    let (st, doc) = s.get("/api/openapi.json");
    assert_eq!(st, StatusCode::OK);
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["bearer"]["scheme"], "bearer", "{schemes}");
    assert_eq!(schemes["apiKey"]["name"], "x-api-key", "{schemes}");
    let submit = &doc["paths"]["/api/v1/render/jobs"]["post"];
    for code in ["401", "403", "429"] {
        assert!(
            submit["responses"][code].is_object(),
            "{code} missing: {submit}"
        );
    }
    assert!(submit["security"].is_array(), "{submit}");
    assert!(doc["paths"]["/api/v1/health"]["get"]["security"].is_null());
    assert!(doc["components"]["schemas"]["QuotaExceeded"].is_object());
}

/// The queue depth reaches a CloudWatch agent's EMF listener (a real TCP listener here; no agent
/// can run on this machine) as EMF documents, and follows the queue.
#[test]
fn queue_depth_is_published_as_cloudwatch_emf() {
    use std::io::{BufRead, BufReader};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let emf = format!("tcp://{addr}");
    // No render workers: submitted jobs stay in the queue.
    let s = Server::start(
        dir.path(),
        &[
            ("MAX_CONCURRENT_RENDERS", "0"),
            ("CLOUDWATCH_EMF", emf.as_str()),
            ("CLOUDWATCH_EMF_INTERVAL_SECS", "1"),
        ],
    );
    listener.set_nonblocking(false).unwrap();
    let (conn, _) = listener.accept().unwrap();
    conn.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut lines = BufReader::new(conn).lines();
    let mut next_depth = || -> (u64, Value) {
        let line = lines.next().expect("an EMF line").expect("read");
        let v: Value = serde_json::from_str(&line).expect("a JSON line");
        (v["QueueDepth"].as_u64().expect("QueueDepth"), v)
    };
    let (first, doc) = next_depth();
    assert_eq!(first, 0, "{doc}");
    let d = &doc["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(d["Namespace"], "VRender", "{doc}");
    assert_eq!(d["Dimensions"], json!([["Queue"]]), "{doc}");
    assert_eq!(d["Metrics"][0]["Name"], "QueueDepth", "{doc}");
    assert_eq!(doc["Queue"], "render");
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let ts = doc["_aws"]["Timestamp"].as_i64().unwrap();
    assert!(
        (now_ms - ts).abs() < 10_000,
        "timestamp {ts} vs now {now_ms}"
    );

    let pid = s.create_project(&tiny_project("emf-user", 1.0, 10.0));
    for _ in 0..3 {
        s.submit(&json!({"projectId": pid}));
    }
    let start = Instant::now();
    loop {
        let (depth, doc) = next_depth();
        if depth == 3 {
            break;
        }
        assert!(depth <= 3, "{doc}");
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "depth stays {depth}"
        );
    }
}
