//! The Studio page in a real headless browser (Debian's chromium + chromium-driver, driven by
//! selenium from `service/tests/browser/studio.py`, installed by `scripts/install-test-servers.sh`):
//! load an example, see its preview and its filmstrip (a click shows that frame), scrub, play, see a
//! validation error at its JSON path, render,
//! watch the progress reach 100 % and play the video; with authentication on, the API key prompt
//! and no other user's jobs. Screenshots of every step go to `<target>/tmp/studio-screenshots/`.
//!
//! Without chromium this test is skipped with a message, except in CI (`CI=true`) where it fails.

use crate::common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{api_keys, Server};
use serde_json::json;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The venv python with selenium, or why the browser test cannot run here.
fn browser_python() -> Result<PathBuf, String> {
    let root = std::env::var_os("VRENDER_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/vrender-tools")))
        .ok_or("no HOME")?;
    let python = root.join("browser-venv/bin/python");
    for needed in [
        Path::new("/usr/bin/chromium"),
        Path::new("/usr/bin/chromedriver"),
        &python,
    ] {
        if !needed.exists() {
            return Err(format!(
                "{} is missing (run scripts/install-test-servers.sh)",
                needed.display()
            ));
        }
    }
    Ok(python)
}

fn screenshots(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("studio-screenshots")
        .join(name);
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn run_script(python: &Path, args: &[&str], server: &Server) {
    let out = Command::new(python)
        .arg(repo().join("service/tests/browser/studio.py"))
        .args(args)
        .output()
        .expect("run the browser script");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser steps failed ({}):\n{stderr}\n{stdout}\nserver log:\n{}",
        out.status,
        server.log_tail()
    );
    eprintln!("{stdout}");
}

#[test]
fn studio_in_a_headless_browser() {
    let python = match browser_python() {
        Ok(p) => p,
        Err(why) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED studio_in_a_headless_browser: {why}");
            return;
        }
        Err(why) => panic!("CI must run the browser test: {why}"),
    };
    let examples = repo().join("examples").display().to_string();

    // Open server: the whole tour.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("ASSET_ROOTS", &examples)]);
    let shots = screenshots("main");
    run_script(
        &python,
        &["main", &server.base, &shots.display().to_string()],
        &server,
    );
    for step in ["preview", "scrubbed", "error-shown", "rendered"] {
        assert!(
            std::fs::read_dir(&shots).unwrap().any(|e| e
                .unwrap()
                .file_name()
                .to_string_lossy()
                .contains(step)),
            "no screenshot of {step}"
        );
    }
    drop(server);

    // With API keys: the prompt, and only the user's own jobs.
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(
        dir.path(),
        &[
            ("ASSET_ROOTS", &examples),
            ("API_KEYS", &api_keys(&[("ka", "alice"), ("kb", "bob")])),
        ],
    );
    let job_of = |key: &str, user: &str| -> String {
        let project = common::tiny_project(user, 0.5, 10.0);
        let created: serde_json::Value = server
            .client
            .post(server.url("/api/v1/render/projects"))
            .header("x-api-key", key)
            .json(&project)
            .send()
            .unwrap()
            .json()
            .unwrap();
        let job: serde_json::Value = server
            .client
            .post(server.url("/api/v1/render/jobs"))
            .header("x-api-key", key)
            .json(&json!({"projectId": created["projectId"]}))
            .send()
            .unwrap()
            .json()
            .unwrap();
        job["jobId"].as_str().unwrap().to_string()
    };
    let own = job_of("ka", "alice");
    let other = job_of("kb", "bob");
    let shots = screenshots("auth");
    run_script(
        &python,
        &[
            "auth",
            &server.base,
            &shots.display().to_string(),
            "ka",
            &own,
            &other,
        ],
        &server,
    );
}
