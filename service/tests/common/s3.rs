//! A private S3-protocol server for tests: `s3s-fs` 0.14.1 (install with
//! `scripts/install-test-servers.sh`) on 127.0.0.1, a free port, a temporary root; killed on drop.
//!
//! s3s-fs keeps bucket `b`'s object `k` in the file `<root>/b/k`, and an incomplete multipart upload
//! as `<root>/.upload-<id>.json` plus `<root>/.upload_id-<id>.part-<n>` files. It does not implement
//! ListMultipartUploads, so tests look for those files instead.

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const ACCESS_KEY: &str = "vrender-test";
pub const SECRET_KEY: &str = "vrender-test-secret-key";

pub struct S3Server {
    child: Child,
    _root: tempfile::TempDir,
    pub root: PathBuf,
    pub endpoint: String,
    pub bucket: String,
}

/// The s3s-fs binary: `S3S_FS_BIN`, else `bin/s3s-fs` under the tools folder of
/// `scripts/install-test-servers.sh` (`VRENDER_TOOLS`, default `~/.cache/vrender-tools`), else `PATH`.
pub fn s3s_fs_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("S3S_FS_BIN") {
        return PathBuf::from(p);
    }
    let tools = std::env::var_os("VRENDER_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache/vrender-tools")));
    if let Some(tools) = tools {
        let cached = tools.join("bin/s3s-fs");
        if cached.is_file() {
            return cached;
        }
    }
    if let Some(path) = std::env::var_os("PATH") {
        for dir in std::env::split_paths(&path) {
            let p = dir.join("s3s-fs");
            if p.is_file() {
                return p;
            }
        }
    }
    panic!(
        "s3s-fs not found: run `bash scripts/install-test-servers.sh` (cargo install s3s-fs@0.14.1 \
         --locked --features binary into $VRENDER_TOOLS or ~/.cache/vrender-tools) or set S3S_FS_BIN"
    );
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

impl S3Server {
    /// Starts s3s-fs with the buckets `buckets` (the first is the output bucket).
    pub fn start(buckets: &[&str]) -> S3Server {
        let root_dir = tempfile::tempdir().expect("temp dir");
        let root = root_dir.path().to_path_buf();
        for b in buckets {
            std::fs::create_dir_all(root.join(b)).expect("bucket dir");
        }
        let bin = s3s_fs_bin();
        let mut last_err = String::new();
        // A free port can be taken between the probe and the bind: try a few.
        for _ in 0..5 {
            let port = free_port();
            let mut child = Command::new(&bin)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
                .arg(&root)
                .env("RUST_LOG", "warn")
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap_or_else(|e| panic!("spawn {}: {e}", bin.display()));
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(10) {
                if let Ok(Some(status)) = child.try_wait() {
                    last_err = format!("s3s-fs exited: {status}");
                    break;
                }
                if TcpStream::connect_timeout(&addr, Duration::from_millis(200)).is_ok() {
                    return S3Server {
                        child,
                        _root: root_dir,
                        root,
                        endpoint: format!("http://{addr}"),
                        bucket: buckets[0].to_string(),
                    };
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        panic!("s3s-fs did not start: {last_err}");
    }

    /// Settings for `vrender serve` against this server.
    pub fn env(&self) -> Vec<(String, String)> {
        [
            ("S3_BUCKET", self.bucket.as_str()),
            ("S3_ENDPOINT", self.endpoint.as_str()),
            ("S3_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY),
            // No instance-metadata lookups on a developer machine.
            ("AWS_EC2_METADATA_DISABLED", "true"),
            ("AWS_PROFILE", ""),
            ("AWS_SESSION_TOKEN", ""),
        ]
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Where s3s-fs keeps an object.
    pub fn object_path(&self, bucket: &str, key: &str) -> PathBuf {
        self.root.join(bucket).join(key)
    }

    /// Files of multipart uploads that were neither completed nor aborted.
    pub fn incomplete_uploads(&self) -> Vec<String> {
        std::fs::read_dir(&self.root)
            .map(|rd| {
                rd.flatten()
                    .filter_map(|e| e.file_name().to_str().map(String::from))
                    .filter(|n| n.starts_with(".upload") || n.contains(".upload-"))
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Parts uploaded to incomplete multipart uploads so far.
    pub fn pending_parts(&self) -> usize {
        self.incomplete_uploads()
            .iter()
            .filter(|n| n.starts_with(".upload_id-"))
            .count()
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
