//! Templates and outputs over real HTTP with real renders: merge fields on job submission (422 with
//! every path, the merged pixels in the video), batches (20 distinct outputs, a bad item failing
//! alone, cancel), posters and thumbnails beside the video, still-only jobs, GIF options.

use crate::common;

use std::collections::HashSet;
use std::time::Duration;

use common::{detail_paths, ffprobe, Server};
use reqwest::StatusCode;
use serde_json::{json, Value};

const RENDER_TIMEOUT: Duration = Duration::from_secs(240);

/// A 64x64 template: background `{{BG}}`, a text `Hello {{NAME}}`, a square whose opacity is
/// `{{OP}}` (default 1).
fn template(user: &str, seconds: f64) -> Value {
    json!({
        "userId": user,
        "width": 64, "height": 64, "frameRate": 10, "quality": "ultra",
        "mergeDefaults": {"OP": 1},
        "frames": [{
            "duration": seconds,
            "background": "{{BG}}",
            "layers": [
                {"type": "shape", "shape": "rect", "x": 40, "y": 40, "width": 20, "height": 20,
                 "fill": "#ffffff", "opacity": "{{OP}}"},
                {"type": "text", "text": "Hello {{NAME}}", "size": 10, "color": "#ffffff", "x": 2, "y": 2}
            ]
        }]
    })
}

fn download(server: &Server, url: &str) -> (String, Vec<u8>) {
    let r = server.client.get(url).send().unwrap();
    assert_eq!(r.status(), 200, "{url}");
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    (ct, r.bytes().unwrap().to_vec())
}

/// The RGB pixel (x, y) of frame 0 of a 64-wide video.
fn video_pixel(path: &std::path::Path, x: usize, y: usize) -> [u8; 3] {
    let out = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-vf", "scale=in_color_matrix=bt709:in_range=tv"])
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "rgb24", "-"])
        .output()
        .unwrap();
    let i = (y * 64 + x) * 3;
    [out.stdout[i], out.stdout[i + 1], out.stdout[i + 2]]
}

#[test]
fn template_jobs_merge_validate_and_render_the_values() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let (s, created) = server.post("/api/v1/render/projects", &template("u-tpl", 0.3));
    assert_eq!(s, StatusCode::CREATED, "{created}");
    assert_eq!(
        created["mergeFields"],
        json!(["BG", "NAME", "OP"]),
        "{created}"
    );
    let id = created["projectId"].as_str().unwrap();
    assert_eq!(created["template"]["mergeDefaults"]["OP"], 1);

    // No values: every field without a default, at every path that uses it.
    let (s, body) = server.post("/api/v1/render/jobs", &json!({"projectId": id}));
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        detail_paths(&body),
        ["frames[0].background", "frames[0].layers[1].text"],
        "{body}"
    );
    assert!(
        body["message"].as_str().unwrap().contains("2 problems"),
        "{body}"
    );
    assert!(
        body.to_string()
            .contains("merge field `{{BG}}` has no value"),
        "{body}"
    );

    // A merged value that is not valid is refused at its field before anything is queued.
    let (s, body) = server.post(
        "/api/v1/render/jobs",
        &json!({"projectId": id, "merge": {"BG": "#00ff00", "NAME": "x", "OP": 7}}),
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        detail_paths(&body),
        ["frames[0].layers[0].opacity"],
        "{body}"
    );
    let (s, body) = server.post(
        "/api/v1/render/jobs",
        &json!({"projectId": id, "merge": {"BG": "greenish", "NAME": "x"}}),
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(detail_paths(&body), ["frames[0].background"], "{body}");
    let (_, list) = server.get("/api/v1/render/jobs");
    assert_eq!(list["total"], 0, "nothing queued: {list}");

    // Values on a plain project are refused.
    let plain = server.create_project(&common::tiny_project("u-tpl", 0.2, 10.0));
    let (s, body) = server.post(
        "/api/v1/render/jobs",
        &json!({"projectId": plain, "merge": {"A": 1}}),
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(detail_paths(&body), ["merge"], "{body}");

    // Good values: the video shows them (a green background, the square at half opacity).
    let job = server
        .submit(&json!({"projectId": id, "merge": {"BG": "#00ff00", "NAME": "Ann", "OP": 0.5}}));
    let done = server.wait_finished(job["jobId"].as_str().unwrap(), RENDER_TIMEOUT);
    assert_eq!(done["status"], "completed", "{done}");
    let (_, bytes) = download(&server, done["outputUrl"].as_str().unwrap());
    let file = dir.path().join("merged.mp4");
    std::fs::write(&file, bytes).unwrap();
    let bg = video_pixel(&file, 20, 50);
    assert!(bg[1] > 230 && bg[0] < 30 && bg[2] < 30, "background {bg:?}");
    let sq = video_pixel(&file, 50, 50);
    assert!(
        (110..=150).contains(&sq[0]) && sq[1] > 230,
        "half-white over green {sq:?}"
    );
}

#[test]
fn a_batch_renders_distinct_outputs_and_a_bad_item_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "2")]);
    let id = server.create_project(&template("u-batch", 0.2));
    let mut items: Vec<Value> = (0..20)
        .map(|i| json!({"merge": {"BG": format!("#{:02x}4080", i * 12), "NAME": format!("n{i}")}}))
        .collect();
    items.insert(7, json!({"merge": {"BG": "#123456"}})); // NAME missing
    let (s, batch) = server.post(
        "/api/v1/render/batches",
        &json!({"projectId": id, "items": items, "priority": 3}),
    );
    assert_eq!(s, StatusCode::ACCEPTED, "{batch}");
    assert_eq!(batch["total"], 21);
    let bad = &batch["items"][7];
    assert_eq!(bad["status"], "failed", "{bad}");
    assert!(bad["jobId"].is_null());
    assert!(
        bad["error"]
            .as_str()
            .unwrap()
            .contains("frames[0].layers[1].text")
            && bad["error"].as_str().unwrap().contains("NAME"),
        "{bad}"
    );
    let batch_id = batch["batchId"].as_str().unwrap().to_string();
    let start = std::time::Instant::now();
    let done = loop {
        let (s, b) = server.get(&format!("/api/v1/render/batches/{batch_id}"));
        assert_eq!(s, StatusCode::OK, "{b}");
        if b["done"] == true {
            break b;
        }
        assert!(
            start.elapsed() < RENDER_TIMEOUT,
            "{b}\n{}",
            server.log_tail()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_eq!(
        done["counts"],
        json!({"completed": 20, "failed": 1}),
        "{done}"
    );
    let mut digests = HashSet::new();
    for item in done["items"].as_array().unwrap() {
        if item["index"] == 7 {
            continue;
        }
        let job = server.job(item["jobId"].as_str().unwrap());
        assert_eq!(job["priority"], 3);
        let (ct, bytes) = download(&server, item["outputUrl"].as_str().unwrap());
        assert_eq!(ct, "video/mp4");
        digests.insert(bytes);
    }
    assert_eq!(digests.len(), 20, "20 distinct outputs");

    // Unknown or other users' batches are 404.
    let (s, _) = server.get("/api/v1/render/batches/nope");
    assert_eq!(s, StatusCode::NOT_FOUND);
}

#[test]
fn cancelling_a_batch_stops_its_jobs() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[("MAX_CONCURRENT_RENDERS", "1")]);
    // 600 s each: none can finish before the cancel.
    let id = server.create_project(&template("u-cancel", 600.0));
    let mut items: Vec<Value> = (0..4)
        .map(|i| json!({"merge": {"BG": "#000000", "NAME": format!("{i}")}}))
        .collect();
    // A GIF of 600 s is over the format's length limit: that item alone is refused, by its path.
    items.push(json!({"merge": {"BG": "#000000", "NAME": "gif"}, "outputFormat": "gif"}));
    let (s, batch) = server.post(
        "/api/v1/render/batches",
        &json!({"projectId": id, "items": items}),
    );
    assert_eq!(s, StatusCode::ACCEPTED, "{batch}");
    let gif = &batch["items"][4];
    assert!(gif["jobId"].is_null(), "{gif}");
    assert!(
        gif["error"].as_str().unwrap().starts_with("items[4]."),
        "{gif}"
    );
    let first = batch["items"][0]["jobId"].as_str().unwrap().to_string();
    server.wait_for(&first, RENDER_TIMEOUT, |j| j["status"] == "processing");
    let batch_id = batch["batchId"].as_str().unwrap();
    let (s, cancelled) = server.delete(&format!("/api/v1/render/batches/{batch_id}"));
    assert_eq!(s, StatusCode::OK, "{cancelled}");
    assert_eq!(
        cancelled["counts"],
        json!({"cancelled": 4, "failed": 1}),
        "{cancelled}"
    );
    assert_eq!(cancelled["done"], true);
    // They stay cancelled: the running one stopped, the queued ones never start.
    std::thread::sleep(Duration::from_millis(500));
    for item in &cancelled["items"].as_array().unwrap()[..4] {
        let job = server.job(item["jobId"].as_str().unwrap());
        assert_eq!(job["status"], "cancelled", "{job}");
    }
}

#[test]
fn posters_thumbnails_and_stills_are_stored_with_signed_links() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let id = server.create_project(&common::tiny_project("u-still", 1.0, 10.0));

    // Bad options are named by field.
    let (s, body) = server.post(
        "/api/v1/render/jobs",
        &json!({"projectId": id, "poster": {"time": 0.5, "width": 10},
                "thumbnail": {"time": -1, "width": 999}}),
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(
        detail_paths(&body),
        ["poster.width", "thumbnail.time", "thumbnail.width"],
        "{body}"
    );

    let job = server.submit(&json!({
        "projectId": id,
        "poster": {"time": 0.5},
        "thumbnail": {"time": 0.5, "width": 32}
    }));
    let done = server.wait_finished(job["jobId"].as_str().unwrap(), RENDER_TIMEOUT);
    assert_eq!(done["status"], "completed", "{done}\n{}", server.log_tail());
    let (ct, poster) = download(&server, done["posterUrl"].as_str().expect("posterUrl"));
    assert_eq!(ct, "image/png");
    let poster = image::load_from_memory(&poster).unwrap();
    assert_eq!((poster.width(), poster.height()), (64, 64));
    let (ct, thumb) = download(
        &server,
        done["thumbnailUrl"].as_str().expect("thumbnailUrl"),
    );
    assert_eq!(ct, "image/jpeg");
    let thumb = image::load_from_memory(&thumb).unwrap();
    assert_eq!((thumb.width(), thumb.height()), (32, 32));
    // Stored beside the video.
    let files: Vec<String> = common::files_under(&dir.path().join("outputs"))
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    let job_id = done["jobId"].as_str().unwrap();
    for name in ["mp4", "poster.png", "thumbnail.jpg"] {
        assert!(files.contains(&format!("{job_id}.{name}")), "{files:?}");
    }

    // A still-only job: its output is the picture.
    let (s, still) = server.post(
        "/api/v1/render/stills",
        &json!({"projectId": id, "time": 0.5, "width": 48, "format": "jpeg"}),
    );
    assert_eq!(s, StatusCode::ACCEPTED, "{still}");
    assert_eq!(still["outputFormat"], "jpeg");
    let done = server.wait_finished(still["jobId"].as_str().unwrap(), RENDER_TIMEOUT);
    assert_eq!(done["status"], "completed", "{done}\n{}", server.log_tail());
    let (ct, bytes) = download(&server, done["outputUrl"].as_str().unwrap());
    assert_eq!(ct, "image/jpeg");
    let img = image::load_from_memory(&bytes).unwrap();
    assert_eq!((img.width(), img.height()), (48, 48));
    let (s, body) = server.post(
        "/api/v1/render/stills",
        &json!({"projectId": id, "time": 0.5, "width": 4}),
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(detail_paths(&body), ["width"], "{body}");
}

#[test]
fn gif_jobs_take_their_options() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path(), &[]);
    let id = server.create_project(&common::tiny_project("u-gif", 1.0, 10.0));
    let (s, body) = server.post(
        "/api/v1/render/jobs",
        &json!({"projectId": id, "outputFormat": "gif", "gif": {"width": 2000, "fps": 0}}),
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(detail_paths(&body), ["gif.fps", "gif.width"], "{body}");
    let (s, body) = server.post(
        "/api/v1/render/jobs",
        &json!({"projectId": id, "gif": {"width": 32}}),
    );
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(detail_paths(&body), ["gif"], "{body}");

    let job = server
        .submit(&json!({"projectId": id, "outputFormat": "gif", "gif": {"width": 32, "fps": 5}}));
    assert_eq!(job["outputFormat"], "gif");
    let done = server.wait_finished(job["jobId"].as_str().unwrap(), RENDER_TIMEOUT);
    assert_eq!(done["status"], "completed", "{done}\n{}", server.log_tail());
    let (ct, bytes) = download(&server, done["outputUrl"].as_str().unwrap());
    assert_eq!(ct, "image/gif");
    let file = dir.path().join("a.gif");
    std::fs::write(&file, bytes).unwrap();
    let probe = ffprobe(&file);
    let v = &probe["streams"][0];
    assert_eq!(v["codec_name"], "gif");
    assert_eq!(
        (v["width"].as_u64(), v["height"].as_u64()),
        (Some(32), Some(32))
    );
    assert_eq!(v["nb_read_frames"], "5", "{probe}");
}

#[test]
fn the_cli_merges_values_and_writes_formats_and_stills() {
    let dir = tempfile::tempdir().unwrap();
    let mut t = template("u-cli", 0.5);
    t["frames"][0]["background"] = json!("{{BG}}");
    let project = dir.path().join("t.json");
    std::fs::write(&project, t.to_string()).unwrap();
    let vrender = || std::process::Command::new(env!("CARGO_BIN_EXE_vrender"));

    // Without values: one line naming each missing field and its paths; no output.
    let out = vrender()
        .args(["render", "-q"])
        .arg(&project)
        .arg("-o")
        .arg(dir.path().join("x.mp4"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("merge field `BG` has no value (used at frames[0].background)")
            && stderr
                .contains("merge field `NAME` has no value (used at frames[0].layers[1].text)"),
        "{stderr}"
    );
    assert!(!dir.path().join("x.mp4").exists());

    // Values from a file and the command line (the command line wins), GIF options, stills.
    let values = dir.path().join("values.json");
    std::fs::write(
        &values,
        json!({"BG": "#ff0000", "NAME": "file"}).to_string(),
    )
    .unwrap();
    let gif = dir.path().join("a.gif");
    let poster = dir.path().join("p.png");
    let thumb = dir.path().join("t.jpg");
    let out = vrender()
        .args([
            "render",
            "-q",
            "--merge",
            "BG=#0000ff",
            "--merge",
            "OP=0.25",
        ])
        .arg("--merge-file")
        .arg(&values)
        .args(["--gif-width", "32", "--gif-fps", "4"])
        .arg("--poster")
        .arg(format!("0.2:{}", poster.display()))
        .arg("--thumbnail")
        .arg(format!("0.2:{}", thumb.display()))
        .args(["--thumbnail-width", "16"])
        .arg(&project)
        .arg("-o")
        .arg(&gif)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let probe = ffprobe(&gif);
    let v = &probe["streams"][0];
    assert_eq!(v["codec_name"], "gif");
    assert_eq!(v["width"], 32);
    assert_eq!(v["nb_read_frames"], "2", "{probe}");
    let p = image::open(&poster).unwrap().to_rgb8();
    assert_eq!(p.dimensions(), (64, 64));
    let bg = p.get_pixel(20, 50).0;
    assert!(
        bg[2] > 230 && bg[0] < 30,
        "--merge BG wins over the file: {bg:?}"
    );
    assert_eq!(image::open(&thumb).unwrap().width(), 16);

    // Values for a project without merge fields are a mistake.
    let plain = dir.path().join("plain.json");
    std::fs::write(&plain, common::tiny_project("u", 0.2, 10.0).to_string()).unwrap();
    let out = vrender()
        .args(["render", "-q", "--merge", "A=1"])
        .arg(&plain)
        .arg("-o")
        .arg(dir.path().join("y.mp4"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("has no {{NAME}} merge fields"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
