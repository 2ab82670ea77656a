//! The cluster under test: one private redis-server, one s3s-fs, one API-only `vrender serve` and
//! several `vrender worker` processes sharing a data folder and SQLite store, all on 127.0.0.1; and
//! the faults done to it (SIGKILL a worker or the API and start it again, restart Redis empty, fill
//! the scratch disk — a small tmpfs, when run as root).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::common::redis::RedisServer;
use crate::common::s3::S3Server;
use crate::common::Server;

/// Lease time of the chaos cluster: short, so a killed worker's job comes back quickly.
pub const LEASE_TTL_MS: u64 = 3000;

/// Size of the scratch tmpfs, and the free space below which the service refuses new jobs.
const TMPFS_MB: u64 = 48;
const MIN_FREE_DISK_MB: u64 = 4;

/// The file that fills the scratch disk during a disk fault.
const FILLER: &str = ".chaos-filler";

/// Unmounts a tmpfs when dropped.
pub struct Tmpfs(PathBuf);

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

pub struct Cluster {
    // Dropped in this order: the service processes first, then the tmpfs, then the folder.
    pub api: Option<Server>,
    pub workers: Vec<Option<Server>>,
    tmpfs: Option<Tmpfs>,
    /// Why the disk fault cannot run here, when it cannot.
    pub no_disk_fault: Option<String>,
    pub redis: RedisServer,
    pub s3: S3Server,
    pub dir: tempfile::TempDir,
    /// The API's base URL while it runs, for the traffic thread.
    pub base: Arc<RwLock<Option<String>>>,
    /// Where the callbacks go.
    callback_url: String,
    chunked: bool,
}

impl Cluster {
    pub fn start(workers: usize, callback_url: &str, chunked: bool) -> Cluster {
        let dir = tempfile::tempdir().expect("temp dir");
        let scratch = dir.path().join("tmp");
        std::fs::create_dir_all(&scratch).unwrap();
        let (tmpfs, no_disk_fault) = mount_tmpfs(&scratch);
        let mut c = Cluster {
            api: None,
            workers: Vec::new(),
            tmpfs,
            no_disk_fault,
            redis: RedisServer::start(),
            s3: S3Server::start(&["chaos-renders"]),
            dir,
            base: Arc::new(RwLock::new(None)),
            callback_url: callback_url.to_string(),
            chunked,
        };
        c.start_api();
        for _ in 0..workers {
            let w = c.spawn(
                "worker",
                &[("MAX_CONCURRENT_RENDERS", "1"), ("WORKER_PORT", "0")],
            );
            c.workers.push(Some(w));
        }
        c
    }

    pub fn scratch(&self) -> PathBuf {
        self.dir.path().join("tmp")
    }

    pub fn callback_url(&self) -> &str {
        &self.callback_url
    }

    fn env(&self) -> Vec<(String, String)> {
        let dir = self.dir.path();
        let mut env: Vec<(String, String)> = vec![
            ("REDIS_URL".into(), self.redis.url()),
            (
                "SQLITE_PATH".into(),
                dir.join("vrender.db").display().to_string(),
            ),
            ("URL_SIGNING_SECRET".into(), "chaos-test-secret".into()),
            ("LEASE_TTL_MS".into(), LEASE_TTL_MS.to_string()),
            ("JOB_RETRY_BACKOFF_MS".into(), "300".into()),
            ("ALLOW_PRIVATE_CALLBACKS".into(), "true".into()),
            ("CALLBACK_SECRET".into(), "chaos-callback-secret".into()),
            ("MIN_FREE_DISK_MB".into(), MIN_FREE_DISK_MB.to_string()),
        ];
        if self.chunked {
            // Jobs of 3 s and more render as 1 s chunks on any worker.
            env.push(("CHUNK_THRESHOLD_SECONDS".into(), "3".into()));
            env.push(("CHUNK_SECONDS".into(), "1".into()));
        }
        env.extend(self.s3.env());
        env
    }

    fn spawn(&self, command: &str, more: &[(&str, &str)]) -> Server {
        let mut env = self.env();
        env.extend(more.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        Server::start_command(command, self.dir.path(), &env)
    }

    fn start_api(&mut self) {
        let api = self.spawn("serve", &[("MAX_CONCURRENT_RENDERS", "0")]);
        *self.base.write().unwrap() = Some(api.base.clone());
        self.api = Some(api);
    }

    /// SIGKILLs worker `n`, leaves it down for `down` and starts a new one in its place.
    pub fn kill_worker(&mut self, n: usize, down: Duration) {
        if let Some(w) = self.workers[n].take() {
            w.kill();
        }
        std::thread::sleep(down);
        let w = self.spawn(
            "worker",
            &[("MAX_CONCURRENT_RENDERS", "1"), ("WORKER_PORT", "0")],
        );
        self.workers[n] = Some(w);
    }

    /// SIGKILLs the API process, leaves it down for `down` and starts it again.
    pub fn kill_api(&mut self, down: Duration) {
        *self.base.write().unwrap() = None;
        if let Some(api) = self.api.take() {
            api.kill();
        }
        std::thread::sleep(down);
        self.start_api();
    }

    /// Restarts Redis empty (no persistence) after `down`.
    pub fn restart_redis(&mut self, down: Duration) {
        self.redis.restart_after(down);
    }

    /// Fills the scratch disk to the last byte, holds it full for `hold`, frees it. `None` when the
    /// scratch folder is not a tmpfs of ours (the fault is skipped then).
    pub fn fill_disk(&self, hold: Duration) -> Option<u64> {
        self.tmpfs.as_ref()?;
        let path = self.scratch().join(FILLER);
        let written = fill(&path);
        std::thread::sleep(hold);
        let _ = std::fs::remove_file(&path);
        Some(written)
    }

    /// Every log file the service processes wrote (killed ones included).
    pub fn logs(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.dir.path())
            .map(|rd| {
                rd.flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        p.file_name()
                            .and_then(|n| n.to_str())
                            .is_some_and(|n| n.starts_with("server-") && n.ends_with(".log"))
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The API process, running.
    pub fn api(&self) -> &Server {
        self.api.as_ref().expect("the API runs")
    }
}

/// Mounts a tmpfs on `dir` when this runs as root and may mount; otherwise why not.
fn mount_tmpfs(dir: &Path) -> (Option<Tmpfs>, Option<String>) {
    let uid = Command::new("id").arg("-u").output().map(|o| o.stdout);
    if uid
        .map(|u| String::from_utf8_lossy(&u).trim() != "0")
        .unwrap_or(true)
    {
        return (None, Some("mounting a tmpfs needs root".into()));
    }
    let st = Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={TMPFS_MB}m"), "tmpfs"])
        .arg(dir)
        .status();
    match st {
        Ok(s) if s.success() => (Some(Tmpfs(dir.to_path_buf())), None),
        Ok(s) => (None, Some(format!("mount -t tmpfs failed ({s})"))),
        Err(e) => (None, Some(format!("cannot run mount: {e}"))),
    }
}

/// Writes zeros to `path` until the disk is full; the bytes written.
fn fill(path: &Path) -> u64 {
    use std::io::Write;
    let Ok(mut f) = std::fs::File::create(path) else {
        return 0;
    };
    let chunk = vec![0u8; 1 << 16];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    written
}

/// `ffmpeg` processes whose command line mentions `dir` (a render's scratch folder is in it).
pub fn ffmpeg_processes_under(dir: &Path) -> Vec<String> {
    let needle = dir.display().to_string();
    let mut found = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(raw) = std::fs::read(e.path().join("cmdline")) else {
            continue;
        };
        let args: Vec<String> = raw
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        let is_ffmpeg = args
            .first()
            .is_some_and(|a| Path::new(a).file_name().is_some_and(|n| n == "ffmpeg"));
        if is_ffmpeg && args.iter().any(|a| a.contains(&needle)) {
            found.push(format!("pid {pid}: {}", args.join(" ")));
        }
    }
    found
}
