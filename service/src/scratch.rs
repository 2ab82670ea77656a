//! Scratch folders of renders (`<DATA_DIR>/tmp/<name>/`): created per attempt, removed when the
//! attempt ends, and the leftovers of dead processes swept at startup.
//!
//! Several processes may share one scratch root (workers on one machine with one `DATA_DIR`), so a
//! starting process must not remove the folders of live renders. While a render runs, its process
//! holds an exclusive lock (`flock`) on the folder's `.owner` file; the kernel drops it when the
//! process dies, SIGKILL included. A folder whose `.owner` can be locked is a dead process's and goes
//! at once; one without `.owner` (written before this scheme, or its process died between creating
//! the folder and the lock) goes once untouched for a day.

use std::fs::{File, TryLockError};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The lock file in every scratch folder.
const OWNER: &str = ".owner";

/// Folders without an owner lock untouched this long are leftovers of a dead process (a render
/// writes its output continuously, so its folder's newest file is always recent).
pub(crate) const STALE_SCRATCH: Duration = Duration::from_secs(24 * 3600);

/// A render's scratch folder: removed when dropped, whatever happened; locked as its process's
/// while alive.
pub(crate) struct Scratch {
    pub(crate) path: PathBuf,
    _owner: File,
}

impl Scratch {
    /// Creates `path` and takes its owner lock. The lock file is locked under a private name and
    /// renamed into place, so a sweep never sees an unlocked `.owner` of a live render.
    pub(crate) fn create(path: PathBuf) -> std::io::Result<Scratch> {
        std::fs::create_dir_all(&path)?;
        let private = path.join(format!(".owner-{}", std::process::id()));
        let owner = File::create(&private)?;
        owner.try_lock().map_err(|e| match e {
            TryLockError::Error(e) => e,
            TryLockError::WouldBlock => std::io::Error::other("scratch lock held elsewhere"),
        })?;
        std::fs::rename(&private, path.join(OWNER))?;
        Ok(Scratch {
            path,
            _owner: owner,
        })
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if self.path.exists() {
            if let Err(e) = std::fs::remove_dir_all(&self.path) {
                tracing::warn!(path = %self.path.display(), error = %e, "cannot remove scratch folder");
            }
        }
    }
}

/// Whether the folder's `.owner` exists and no live process holds its lock.
fn owner_dead(dir: &Path) -> bool {
    let Ok(f) = File::open(dir.join(OWNER)) else {
        return false;
    };
    f.try_lock().is_ok()
}

/// The newest modification time of a folder and the files directly in it.
fn newest(dir: &Path) -> Option<std::time::SystemTime> {
    let mut t = std::fs::metadata(dir).and_then(|m| m.modified()).ok()?;
    for e in std::fs::read_dir(dir).ok()?.flatten() {
        if let Ok(m) = e.metadata().and_then(|m| m.modified()) {
            t = t.max(m);
        }
    }
    Some(t)
}

/// Removes the folders under `root` that belong to no live process: their owner lock is free, or
/// they have none and were untouched for `older_than`; how many.
pub(crate) fn sweep_dead(root: &Path, older_than: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(root) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let path = e.path();
        if !path.is_dir() {
            continue;
        }
        let dead = if path.join(OWNER).exists() {
            owner_dead(&path)
        } else {
            newest(&path)
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age > older_than)
        };
        if dead {
            match std::fs::remove_dir_all(&path) {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "cannot remove a dead process's scratch folder")
                }
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_scratch_folders_of_dead_owners_or_untouched_for_long_are_swept() {
        use std::time::SystemTime;
        let root = tempfile::tempdir().unwrap();
        let old_dir = root.path().join("job-a-1");
        let busy_dir = root.path().join("job-b-1");
        for d in [&old_dir, &busy_dir] {
            std::fs::create_dir(d).unwrap();
            std::fs::write(d.join("output.mp4"), b"x").unwrap();
        }
        let long_ago = SystemTime::now() - Duration::from_secs(3 * 24 * 3600);
        let set = |p: &Path| File::open(p).unwrap().set_modified(long_ago).unwrap();
        set(&old_dir.join("output.mp4"));
        set(&old_dir);
        // The busy folder is old itself, but its output is being written.
        set(&busy_dir);
        // A live render (this process holds the lock) and a dead one (its lock file, unlocked).
        let live = Scratch::create(root.path().join("job-c-1")).unwrap();
        std::fs::write(live.path.join("output.mp4"), b"x").unwrap();
        let dead_dir = root.path().join("job-d-1");
        std::fs::create_dir(&dead_dir).unwrap();
        std::fs::write(dead_dir.join(OWNER), b"").unwrap();
        std::fs::write(dead_dir.join("output.mp4"), b"x").unwrap();

        let removed = sweep_dead(root.path(), STALE_SCRATCH);
        assert_eq!(removed, 2);
        assert!(!old_dir.exists());
        assert!(
            !dead_dir.exists(),
            "a folder whose owner lock is free goes at once"
        );
        assert!(busy_dir.join("output.mp4").exists());
        assert!(
            live.path.join("output.mp4").exists(),
            "a locked folder stays"
        );
        assert_eq!(sweep_dead(&root.path().join("none"), STALE_SCRATCH), 0);
        let path = live.path.clone();
        drop(live);
        assert!(!path.exists(), "removed on drop");
    }

    #[test]
    fn a_folder_of_a_killed_process_is_swept() {
        // A child process takes the lock the way a render does and is SIGKILLed.
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("job-e-1");
        std::fs::create_dir(&dir).unwrap();
        let lock = dir.join(OWNER);
        std::fs::write(&lock, b"").unwrap();
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(r#"exec 9>>"$0" && flock 9 && exec sleep 30"#)
            .arg(&lock)
            .spawn()
            .expect("sh and flock(1) run");
        // Wait until the child holds the lock.
        let start = std::time::Instant::now();
        while File::open(&lock).unwrap().try_lock().is_ok() {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "flock did not lock"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(sweep_dead(root.path(), STALE_SCRATCH), 0, "owner alive");
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(sweep_dead(root.path(), STALE_SCRATCH), 1, "owner dead");
        assert!(!dir.exists());
    }
}
