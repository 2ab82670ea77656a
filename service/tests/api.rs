//! The REST API over real HTTP: bad input, health, OpenAPI, listing. No render needs to finish here.

use crate::common;

use common::{assert_error_body, detail_paths, tiny_project, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

/// (what, response, expected status, expected detail path)
type Case<'a> = (&'a str, (StatusCode, Value), u16, Option<&'a str>);

fn raw(
    server: &Server,
    method: reqwest::Method,
    path: &str,
    content_type: Option<&str>,
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut req = server.client.request(method, server.url(path)).body(body);
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    let r = req.send().unwrap();
    let status = r.status();
    let text = r.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}")),
    )
}

/// `v` with the value at `pointer` set (the parent must exist).
fn with(mut v: Value, pointer: &str, new: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    match v.pointer_mut(parent).unwrap_or_else(|| panic!("{pointer}")) {
        Value::Object(o) => {
            o.insert(key.to_string(), new);
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = new,
        _ => panic!("{pointer}"),
    }
    v
}

#[test]
fn bad_input_gets_4xx_with_paths_and_the_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("secret.png"), b"not really").unwrap();
    let server = Server::start(
        dir.path(),
        &[
            ("BODY_LIMIT_BYTES", "65536"),
            ("MAX_CONCURRENT_RENDERS", "1"),
        ],
    );
    std::os::unix::fs::symlink(
        outside.path().join("secret.png"),
        dir.path().join("assets/link.png"),
    )
    .unwrap();
    let good = tiny_project("u1", 1.0, 10.0);
    let image = |src: &str| {
        with(
            good.clone(),
            "/frames/0/layers",
            json!([{"type": "image", "src": src}]),
        )
    };
    let projects = "/api/v1/render/projects";
    let jobs = "/api/v1/render/jobs";
    let json_ct = Some("application/json");
    let post = reqwest::Method::POST;

    let mut cases: Vec<Case> = vec![
        (
            "malformed JSON",
            raw(
                &server,
                post.clone(),
                projects,
                json_ct,
                b"{\"width\": 64,".to_vec(),
            ),
            400,
            None,
        ),
        (
            "empty body",
            raw(&server, post.clone(), projects, json_ct, Vec::new()),
            400,
            None,
        ),
        (
            "not UTF-8",
            raw(
                &server,
                post.clone(),
                projects,
                json_ct,
                vec![b'"', 0xff, 0xfe, b'"'],
            ),
            400,
            None,
        ),
        (
            "text/plain",
            raw(
                &server,
                post.clone(),
                projects,
                Some("text/plain"),
                b"{}".to_vec(),
            ),
            415,
            None,
        ),
        (
            "no content type",
            raw(&server, post.clone(), projects, None, b"{}".to_vec()),
            415,
            None,
        ),
        (
            "huge body",
            raw(
                &server,
                post.clone(),
                projects,
                json_ct,
                format!("{{\"title\": \"{}\"}}", "x".repeat(100_000)).into_bytes(),
            ),
            413,
            None,
        ),
        (
            "array body",
            server.post(projects, &json!([1, 2])),
            422,
            None,
        ),
        (
            "width as string",
            server.post(projects, &with(good.clone(), "/width", json!("64"))),
            422,
            Some("width"),
        ),
        (
            "missing frames",
            server.post(projects, &{
                let mut p = good.clone();
                p.as_object_mut().unwrap().remove("frames");
                p
            }),
            422,
            Some("frames"),
        ),
        (
            "width 0",
            server.post(projects, &with(good.clone(), "/width", json!(0))),
            422,
            Some("width"),
        ),
        (
            "width 100000",
            server.post(projects, &with(good.clone(), "/width", json!(100000))),
            422,
            Some("width"),
        ),
        (
            "height 100000",
            server.post(projects, &with(good.clone(), "/height", json!(100000))),
            422,
            Some("height"),
        ),
        (
            "negative width",
            server.post(projects, &with(good.clone(), "/width", json!(-64))),
            422,
            Some("width"),
        ),
        (
            "frameRate 0",
            server.post(projects, &with(good.clone(), "/frameRate", json!(0))),
            422,
            Some("frameRate"),
        ),
        (
            "unknown layer type",
            server.post(
                projects,
                &with(good.clone(), "/frames/0/layers/0/type", json!("sprite")),
            ),
            422,
            Some("frames[0].layers[0].type"),
        ),
        (
            "opacity as string",
            server.post(
                projects,
                &with(good.clone(), "/frames/0/layers/0/opacity", json!("x")),
            ),
            422,
            Some("frames[0].layers[0].opacity"),
        ),
        (
            "negative duration",
            server.post(
                projects,
                &with(good.clone(), "/frames/0/duration", json!(-1)),
            ),
            422,
            Some("frames[0].duration"),
        ),
        (
            "unknown top-level field",
            server.post(
                projects,
                &with(good.clone(), "/title", json!("t"))
                    .as_object()
                    .map(|o| {
                        let mut o = o.clone();
                        o.insert("colour".into(), json!(1));
                        Value::Object(o)
                    })
                    .unwrap(),
            ),
            422,
            Some("colour"),
        ),
        (
            "traversal path",
            server.post(projects, &image("../../../../etc/passwd")),
            422,
            Some("frames[0].layers[0].src"),
        ),
        (
            "absolute path outside roots",
            server.post(projects, &image("/etc/passwd")),
            422,
            Some("frames[0].layers[0].src"),
        ),
        (
            "file:// URL",
            server.post(projects, &image("file:///etc/passwd")),
            422,
            Some("frames[0].layers[0].src"),
        ),
        (
            "symlink out of the root",
            server.post(projects, &image("link.png")),
            422,
            Some("frames[0].layers[0].src"),
        ),
        (
            "missing asset",
            server.post(projects, &image("nope.png")),
            422,
            Some("frames[0].layers[0].src"),
        ),
        (
            "bad projectId chars",
            server.post(
                projects,
                &with(good.clone(), "/title", json!("t"))
                    .as_object()
                    .map(|o| {
                        let mut o = o.clone();
                        o.insert("projectId".into(), json!("a/b"));
                        Value::Object(o)
                    })
                    .unwrap(),
            ),
            422,
            Some("projectId"),
        ),
        (
            "job: unknown projectId",
            server.post(jobs, &json!({"projectId": "no-such-project"})),
            422,
            Some("projectId"),
        ),
        (
            "job: missing projectId",
            server.post(jobs, &json!({"priority": 3})),
            422,
            Some("projectId"),
        ),
        (
            "job: projectId as number",
            server.post(jobs, &json!({"projectId": 7})),
            422,
            Some("projectId"),
        ),
        (
            "job: malformed JSON",
            raw(
                &server,
                post.clone(),
                jobs,
                json_ct,
                b"{projectId: 1}".to_vec(),
            ),
            400,
            None,
        ),
    ];
    let pid = server.create_project(&good);
    cases.extend(vec![
        (
            "job: priority 0",
            server.post(jobs, &json!({"projectId": pid, "priority": 0})),
            422,
            Some("priority"),
        ),
        (
            "job: priority 11",
            server.post(jobs, &json!({"projectId": pid, "priority": 11})),
            422,
            Some("priority"),
        ),
        (
            "job: priority string",
            server.post(jobs, &json!({"projectId": pid, "priority": "high"})),
            422,
            Some("priority"),
        ),
        (
            "job: priority fraction",
            server.post(jobs, &json!({"projectId": pid, "priority": 2.5})),
            422,
            Some("priority"),
        ),
        (
            "job: unknown field",
            server.post(jobs, &json!({"projectId": pid, "urgent": true})),
            422,
            Some("urgent"),
        ),
        (
            "job: bad outputFormat",
            server.post(jobs, &json!({"projectId": pid, "outputFormat": "avi"})),
            422,
            Some("outputFormat"),
        ),
        (
            "job: bad quality",
            server.post(jobs, &json!({"projectId": pid, "quality": "best"})),
            422,
            Some("quality"),
        ),
        (
            "job: ftp callback",
            server.post(
                jobs,
                &json!({"projectId": pid, "callbackUrl": "ftp://example.com/x"}),
            ),
            422,
            Some("callbackUrl"),
        ),
        (
            "job: loopback callback",
            server.post(
                jobs,
                &json!({"projectId": pid, "callbackUrl": "http://127.0.0.1:9/x"}),
            ),
            422,
            Some("callbackUrl"),
        ),
        (
            "job: metadata callback",
            server.post(
                jobs,
                &json!({"projectId": pid, "callbackUrl": "http://169.254.169.254/latest"}),
            ),
            422,
            Some("callbackUrl"),
        ),
        (
            "duplicate projectId",
            server.post(
                projects,
                &with(good.clone(), "/title", json!("t"))
                    .as_object()
                    .map(|o| {
                        let mut o = o.clone();
                        o.insert("projectId".into(), json!(pid));
                        Value::Object(o)
                    })
                    .unwrap(),
            ),
            409,
            None,
        ),
        (
            "list: limit 0",
            server.get("/api/v1/render/jobs?limit=0"),
            400,
            Some("limit"),
        ),
        (
            "list: page abc",
            server.get("/api/v1/render/jobs?page=abc"),
            400,
            Some("page"),
        ),
        (
            "list: bad status",
            server.get("/api/v1/render/jobs?status=done"),
            400,
            Some("status"),
        ),
        (
            "unknown job",
            server.get("/api/v1/render/jobs/does-not-exist"),
            404,
            None,
        ),
        (
            "cancel unknown job",
            server.delete("/api/v1/render/jobs/does-not-exist"),
            404,
            None,
        ),
        (
            "unknown project",
            server.get("/api/v1/render/projects/does-not-exist"),
            404,
            None,
        ),
        (
            "unknown route",
            server.get("/api/v1/nothing-here"),
            404,
            None,
        ),
        (
            "wrong method",
            raw(&server, reqwest::Method::PUT, jobs, json_ct, b"{}".to_vec()),
            405,
            None,
        ),
        (
            "bad link signature",
            server.get("/api/v1/files/renders/x.mp4?expires=99999999999&signature=00"),
            403,
            None,
        ),
        (
            "link without signature",
            server.get("/api/v1/files/renders/x.mp4"),
            403,
            None,
        ),
    ]);
    assert!(cases.len() >= 20);
    for (what, (status, body), expected, path) in &cases {
        assert!(status.is_client_error(), "{what}: {status} {body}");
        assert_error_body(*status, body, *expected, "/api");
        if let Some(p) = path {
            assert!(
                detail_paths(body).iter().any(|d| d == p),
                "{what}: expected detail path {p}: {body}"
            );
        }
    }
    // The full path of a nested problem and every problem at once.
    let (s, body) = server.post(
        projects,
        &with(
            with(good.clone(), "/width", json!(0)),
            "/frames/0/layers/0/opacity",
            json!(7),
        ),
    );
    assert_eq!(s, 422);
    let paths = detail_paths(&body);
    assert!(
        paths.contains(&"width".to_string())
            && paths.contains(&"frames[0].layers[0].opacity".to_string()),
        "{body}"
    );

    // Still serving.
    let (s, list) = server.get("/api/v1/render/jobs");
    assert_eq!(s, 200, "{list}");
    let (s, _) = server.get(&format!("/api/v1/render/projects/{pid}"));
    assert_eq!(s, 200);
    // Never a 5xx in the log.
    let log = std::fs::read_to_string(&server.log).unwrap();
    assert!(!log.contains("status=5"), "a 5xx was logged:\n{log}");
}

#[test]
fn health_openapi_and_docs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (s, health) = server.get("/api/v1/health");
    for c in ["store", "queue", "storage", "ffmpeg", "gpu"] {
        assert!(health["components"][c]["status"].is_string(), "{health}");
    }
    assert_eq!(health["components"]["ffmpeg"]["status"], "up", "{health}");
    assert_eq!(health["components"]["store"]["status"], "up", "{health}");
    let gpu_up = health["components"]["gpu"]["status"] == "up";
    assert_eq!(
        s,
        if gpu_up {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        "{health}"
    );
    assert_eq!(server.get("/health").0, s);

    let (s, doc) = server.get("/api/openapi.json");
    assert_eq!(s, 200);
    let paths = doc["paths"].as_object().unwrap();
    for p in [
        "/api/v1/render/projects",
        "/api/v1/render/projects/{projectId}",
        "/api/v1/render/jobs",
        "/api/v1/render/jobs/{jobId}",
        "/api/v1/files/{key}",
        "/api/v1/health",
    ] {
        assert!(paths.contains_key(p), "openapi lacks {p}");
    }
    assert!(paths["/api/v1/render/jobs/{jobId}"].get("delete").is_some());
    let r = server.client.get(server.url("/api/docs/")).send().unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().unwrap().contains("swagger"), "Swagger UI page");
    // Responses carry the request id header.
    let r = server
        .client
        .get(server.url("/api/v1/render/jobs"))
        .send()
        .unwrap();
    assert!(r.headers().contains_key("x-request-id"));
}

#[test]
fn health_is_503_when_ffmpeg_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("FFMPEG_PATH", "/nonexistent/ffmpeg")]);
    let (s, health) = server.get("/api/v1/health");
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{health}");
    assert_eq!(health["components"]["ffmpeg"]["status"], "down");
    assert_eq!(health["status"], "degraded");
}

#[test]
fn list_paginates_newest_first_and_filters_by_user() {
    let dir = tempfile::tempdir().unwrap();
    // One worker, so most jobs just wait; the listing does not depend on renders.
    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "1")]);
    let p1 = server.create_project(&tiny_project("alice", 1.0, 10.0));
    let p2 = server.create_project(&tiny_project("bob", 1.0, 10.0));
    let mut alice = Vec::new();
    for i in 0..5 {
        alice.push(
            server.submit(&json!({"projectId": p1, "priority": 1 + i}))["jobId"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let bob = server.submit(&json!({"projectId": p2}))["jobId"]
        .as_str()
        .unwrap()
        .to_string();

    let (s, page1) = server.get("/api/v1/render/jobs?userId=alice&limit=2");
    assert_eq!(s, 200, "{page1}");
    assert_eq!(page1["total"], 5);
    assert_eq!(page1["hasMore"], true);
    let ids = |p: &Value| {
        p["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|j| j["jobId"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    assert_eq!(ids(&page1), vec![alice[4].clone(), alice[3].clone()]);
    let (_, page3) = server.get("/api/v1/render/jobs?userId=alice&limit=2&page=3");
    assert_eq!(ids(&page3), vec![alice[0].clone()]);
    assert_eq!(page3["hasMore"], false);
    for j in page1["items"].as_array().unwrap() {
        assert_eq!(j["userId"], "alice");
    }
    let (_, bobs) = server.get("/api/v1/render/jobs?userId=bob");
    assert_eq!(ids(&bobs), vec![bob]);
    let (_, all) = server.get("/api/v1/render/jobs?limit=100");
    assert_eq!(all["total"], 6);
    let (_, none) = server.get("/api/v1/render/jobs?userId=carol");
    assert_eq!(none["total"], 0);
    assert_eq!(none["items"], json!([]));
}
