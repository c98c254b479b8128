//! Files the plugin writes: private directories (0700), private files (0600) written
//! to a temporary file in the same directory and renamed over the target, and lock
//! files waited on for a bounded time.
//!
//! Modes are set when a file is created, never by a chmod afterwards, so there is no
//! moment where another user could open it.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Creates `dir` and its missing parents with mode 0700.
pub fn create_private_dir(dir: &Path) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir)
}

/// Writes `bytes` to `path` atomically: a new file with `mode` beside the target,
/// flushed to disk, then renamed over it. Readers see the old or the new content,
/// never a half-written file. The parent directory must exist.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> io::Result<()> {
    let temp = temp_path(path);
    let result = (|| {
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&temp)?;
        // The umask may have taken bits off `mode` (a 0664 kubeconfig would come back
        // 0644); the file is not visible under its name yet, so set it exactly.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            file.set_permissions(fs::Permissions::from_mode(mode))?;
        }
        file.write_all(bytes)?;
        file.sync_all()?;
        drop(file);
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

fn temp_path(path: &Path) -> PathBuf {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    path.with_file_name(format!(".{name}.{}-{nanos}.tmp", std::process::id()))
}

/// An exclusive advisory lock on a lock file, released when dropped (or when the
/// process dies, however it dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the exclusive lock on `path` (creating the file, mode 0600), waiting at
/// most `wait`. `Ok(None)` when another process still holds it after `wait`.
pub fn lock(path: &Path, wait: Duration) -> io::Result<Option<Lock>> {
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path)?;
    let deadline = Instant::now() + wait;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(Some(Lock { _file: file })),
            Err(fs::TryLockError::WouldBlock) => {
                if Instant::now() >= deadline {
                    return Ok(None);
                }
                // Bounded polling: a lock holder typically finishes within one token
                // request; 5 ms keeps 32 waiters cheap and responsive.
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(fs::TryLockError::Error(err)) => return Err(err),
        }
    }
}

/// Whether group or others may read the file (Unix); always false elsewhere, where
/// mode bits mean nothing.
pub fn readable_by_others(metadata: &fs::Metadata) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.permissions().mode() & 0o077 != 0
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        false
    }
}

/// The file's permission bits (Unix), for keeping a kubeconfig's mode on rewrite.
pub fn mode(metadata: &fs::Metadata) -> u32 {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        metadata.permissions().mode() & 0o7777
    }
    #[cfg(not(unix))]
    {
        let _ = metadata;
        0o600
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn atomic_write_creates_private_files_and_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("a/b");
        create_private_dir(&sub).unwrap();
        let file = sub.join("f");
        write_atomic(&file, b"one", 0o600).unwrap();
        write_atomic(&file, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(fs::metadata(&sub).unwrap().permissions().mode() & 0o777, 0o700);
        }
        let leftovers: Vec<_> = fs::read_dir(&sub).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn lock_waits_a_bounded_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("x.lock");
        let held = lock(&path, Duration::ZERO).unwrap().expect("free lock");
        let started = Instant::now();
        assert!(lock(&path, Duration::from_millis(50)).unwrap().is_none());
        assert!(started.elapsed() >= Duration::from_millis(50));
        drop(held);
        assert!(lock(&path, Duration::ZERO).unwrap().is_some());
    }
}
