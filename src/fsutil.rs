//! Files the plugin reads and writes, and whom it trusts with them
//! (docs/security.md#files-and-directories).
//!
//! - Reads: [`read_regular`] opens without blocking, accepts only a regular file and
//!   reads at most a cap, so a FIFO, `/dev/zero` or a 200 MB file is one clear
//!   refusal instead of a hang or a memory blow-up.
//! - Writes: private directories (0700); files written to a temporary file beside the
//!   target, with the mode (and, when replacing, the owner and group) set before it
//!   is renamed over the target. Modes are set at creation, never by a chmod
//!   afterwards, so there is no moment where another user could open the file.
//! - Trust: [`check_private_dir`] and [`read_private`] refuse what another user owns or
//!   could have written; lock and entry files are opened without following symlinks.
//!
//! Platform rules live here and nowhere else: on Unix, owner and mode bits; on other
//! platforms, the user profile's ACLs are relied on and the checks pass.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

/// Caps for files someone else may have written (docs/security.md#read-limits).
pub const MAX_CONFIG_FILE: u64 = 4 * 1024 * 1024;
/// kubeconfig files carry embedded certificates for many clusters.
pub const MAX_KUBECONFIG: u64 = 8 * 1024 * 1024;
/// A client secret is a short string.
pub const MAX_SECRET: u64 = 16 * 1024;
/// A cache entry or a remembered endpoint.
pub const MAX_CACHE_FILE: u64 = 64 * 1024;

/// Why a file could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("not found")]
    NotFound,
    #[error("is a {0}, not a regular file")]
    NotRegular(&'static str),
    #[error("is larger than {}", size_text(*.0))]
    TooLarge(u64),
    #[error("is owned by another user (uid {0})")]
    NotOwned(u32),
    #[error("is readable by group or others")]
    Exposed,
    #[error("is a symbolic link")]
    Symlink,
    #[error(transparent)]
    Io(io::Error),
}

impl From<io::Error> for ReadError {
    fn from(err: io::Error) -> Self {
        match err.kind() {
            io::ErrorKind::NotFound => ReadError::NotFound,
            _ => ReadError::Io(err),
        }
    }
}

fn size_text(bytes: u64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{} MiB", bytes / (1024 * 1024))
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

/// Reads `path` in full when it is a regular file of at most `cap` bytes. Symlinks
/// are followed (dotfile managers link kubeconfig); the open never blocks (a FIFO is
/// refused, not waited on).
pub fn read_regular(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_read(path, false)?;
    let metadata = file.metadata()?;
    check_regular(&metadata)?;
    read_capped(file, &metadata, cap)
}

/// Like [`read_regular`], for text: invalid UTF-8 is an error, and a leading UTF-8
/// byte-order mark (Windows editors write one) is dropped, as kubectl drops it.
pub fn read_text(path: &Path, cap: u64) -> Result<String, ReadError> {
    let bytes = read_regular(path, cap)?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ReadError::Io(io::Error::new(io::ErrorKind::InvalidData, "is not UTF-8 text")))?;
    Ok(strip_bom(text))
}

/// `text` without a leading byte-order mark.
pub fn strip_bom(text: String) -> String {
    match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_owned(),
        None => text,
    }
}

/// Reads a file only this user could have written: not a symlink, a regular file
/// owned by the current user, unreadable by group and others, at most `cap` bytes.
/// For cache entries, whose content is handed out as the user's token.
pub fn read_private(path: &Path, cap: u64) -> Result<Vec<u8>, ReadError> {
    let file = open_read(path, true)?;
    let metadata = file.metadata()?;
    check_regular(&metadata)?;
    if let Some(owner) = foreign_owner(&metadata) {
        return Err(ReadError::NotOwned(owner));
    }
    if readable_by_others(&metadata) {
        return Err(ReadError::Exposed);
    }
    read_capped(file, &metadata, cap)
}

fn read_capped(file: File, metadata: &fs::Metadata, cap: u64) -> Result<Vec<u8>, ReadError> {
    if metadata.len() > cap {
        return Err(ReadError::TooLarge(cap));
    }
    let mut bytes = Vec::with_capacity(metadata.len() as usize);
    // The file may grow after the check: never read past the cap.
    file.take(cap + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > cap {
        return Err(ReadError::TooLarge(cap));
    }
    Ok(bytes)
}

fn check_regular(metadata: &fs::Metadata) -> Result<(), ReadError> {
    let kind = metadata.file_type();
    if kind.is_file() {
        return Ok(());
    }
    Err(ReadError::NotRegular(if kind.is_dir() {
        "directory"
    } else if kind.is_symlink() {
        "symbolic link"
    } else {
        special_kind(&kind)
    }))
}

#[cfg(unix)]
fn special_kind(kind: &fs::FileType) -> &'static str {
    use std::os::unix::fs::FileTypeExt;
    if kind.is_fifo() {
        "FIFO"
    } else if kind.is_char_device() {
        "character device"
    } else if kind.is_block_device() {
        "block device"
    } else if kind.is_socket() {
        "socket"
    } else {
        "special file"
    }
}

#[cfg(not(unix))]
fn special_kind(_kind: &fs::FileType) -> &'static str {
    "special file"
}

/// Opens for reading without blocking on a FIFO; with `no_follow`, a symlink as the
/// last component is refused.
fn open_read(path: &Path, no_follow: bool) -> Result<File, ReadError> {
    refuse_symlink_elsewhere(path, no_follow)?;
    let mut options = OpenOptions::new();
    options.read(true);
    set_open_flags(&mut options, no_follow, true);
    options.open(path).map_err(|err| symlink_error(err, no_follow))
}

/// `O_NOFOLLOW` reports a symlink as ELOOP: name it.
fn symlink_error(err: io::Error, no_follow: bool) -> ReadError {
    #[cfg(unix)]
    if no_follow && err.raw_os_error() == Some(rustix::io::Errno::LOOP.raw_os_error()) {
        return ReadError::Symlink;
    }
    let _ = no_follow;
    ReadError::from(err)
}

/// Where `O_NOFOLLOW` does not exist, a symlink is refused by looking first (a race
/// remains there, which Unix's flag closes).
#[cfg(not(unix))]
fn refuse_symlink_elsewhere(path: &Path, no_follow: bool) -> Result<(), ReadError> {
    if no_follow && fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        return Err(ReadError::Symlink);
    }
    Ok(())
}

#[cfg(unix)]
fn refuse_symlink_elsewhere(_path: &Path, _no_follow: bool) -> Result<(), ReadError> {
    Ok(())
}

#[cfg(unix)]
fn set_open_flags(options: &mut OpenOptions, no_follow: bool, non_blocking: bool) {
    use rustix::fs::OFlags;
    use std::os::unix::fs::OpenOptionsExt;
    let mut flags = OFlags::CLOEXEC;
    if no_follow {
        flags |= OFlags::NOFOLLOW;
    }
    if non_blocking {
        flags |= OFlags::NONBLOCK;
    }
    options.custom_flags(flags.bits() as i32);
}

#[cfg(not(unix))]
fn set_open_flags(_options: &mut OpenOptions, _no_follow: bool, _non_blocking: bool) {}

/// Why a directory is not trusted with the user's tokens.
#[derive(Debug, thiserror::Error)]
pub enum Untrusted {
    #[error("is owned by another user (uid {0})")]
    NotOwned(u32),
    #[error("is writable by group or others")]
    Writable,
    #[error("is not a directory")]
    NotDir,
}

/// A directory that holds the user's tokens must be the user's alone: owned by the
/// current user and writable by no one else (as ssh treats `~/.ssh`). `Ok(false)`
/// when it does not exist yet.
pub fn check_private_dir(dir: &Path) -> Result<bool, Untrusted> {
    let metadata = match fs::metadata(dir) {
        Ok(metadata) => metadata,
        Err(_) => return Ok(false),
    };
    if !metadata.is_dir() {
        return Err(Untrusted::NotDir);
    }
    if let Some(owner) = foreign_owner(&metadata) {
        return Err(Untrusted::NotOwned(owner));
    }
    if writable_by_others(&metadata) {
        return Err(Untrusted::Writable);
    }
    Ok(true)
}

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

/// Whose file a write leaves behind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ownership {
    /// The user's own state (cache entries): the current user's, always.
    Mine,
    /// A file the user edits (kubeconfig, profiles): a replaced file keeps its owner
    /// and group, so a `sudo -E` run does not hand the user's kubeconfig to root.
    Keep,
}

/// Writes `bytes` to `path` atomically: a new file with `mode` beside the target,
/// flushed to disk, then renamed over it. Readers see the old or the new content,
/// never a half-written file. The parent directory must exist.
///
/// Callers hold the target's lock, so a temporary file of the same target that is
/// already there belongs to a writer that died: it is removed first.
pub fn write_atomic(path: &Path, bytes: &[u8], mode: u32, ownership: Ownership) -> io::Result<()> {
    remove_stale_temps(path);
    write_atomic_unlocked(path, bytes, mode, ownership)
}

/// [`write_atomic`] for a caller that holds no lock on `path` (the remembered
/// endpoints): another writer's temporary file may be there, so none is removed.
pub fn write_atomic_unlocked(path: &Path, bytes: &[u8], mode: u32, ownership: Ownership) -> io::Result<()> {
    let owner = match ownership {
        Ownership::Keep => fs::metadata(path).ok().map(|m| owner_of(&m)),
        Ownership::Mine => None,
    };
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    // `.<name>.<random>.tmp`, created exclusively (never through a symlink) with the
    // mode already set: recognisable by remove_stale_temps and `cache clear`.
    let prefix = format!(".{name}.");
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(TEMP_SUFFIX).rand_bytes(8);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        builder.permissions(fs::Permissions::from_mode(mode));
    }
    #[cfg(not(unix))]
    let _ = mode;
    // Dropped on any error below, which removes the temporary file.
    let mut temp = builder.tempfile_in(dir)?;
    // The umask may have taken bits off `mode` (a 0664 kubeconfig would come back
    // 0644); the file is not visible under its name yet, so set it exactly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        temp.as_file().set_permissions(fs::Permissions::from_mode(mode))?;
    }
    if let Some(owner) = owner {
        keep_owner(temp.as_file(), owner)?;
    }
    temp.write_all(bytes)?;
    temp.as_file().sync_all()?;
    temp.persist(path).map_err(|err| err.error)?;
    Ok(())
}

const TEMP_SUFFIX: &str = ".tmp";

/// Removes temporary files of `path` left by a writer that was killed mid-write.
fn remove_stale_temps(path: &Path) {
    let (Some(dir), Some(name)) = (path.parent(), path.file_name()) else {
        return;
    };
    let prefix = format!(".{}.", name.to_string_lossy());
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    let Ok(items) = fs::read_dir(dir) else { return };
    for item in items.flatten() {
        let file_name = item.file_name();
        let file_name = file_name.to_string_lossy();
        let is_temp = file_name
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(TEMP_SUFFIX))
            // tempfile's random letters and digits (and older versions' `<pid>-<n>`).
            .is_some_and(|random| {
                !random.is_empty() && random.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            });
        if is_temp && item.file_type().is_ok_and(|t| t.is_file()) {
            let _ = fs::remove_file(item.path());
        }
    }
}

/// A file's owner and group (Unix).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

#[cfg(unix)]
fn owner_of(metadata: &fs::Metadata) -> Owner {
    use std::os::unix::fs::MetadataExt;
    Owner {
        uid: metadata.uid(),
        gid: metadata.gid(),
    }
}

#[cfg(not(unix))]
fn owner_of(_metadata: &fs::Metadata) -> Owner {
    Owner { uid: 0, gid: 0 }
}

/// Gives the new file the replaced file's owner and group. Only a privileged process
/// can give a file away; anyone else replacing another user's file is refused.
#[cfg(unix)]
fn keep_owner(file: &File, owner: Owner) -> io::Result<()> {
    let mine = owner_of(&file.metadata()?);
    if mine == owner {
        return Ok(());
    }
    if mine.uid == owner.uid {
        // The user's own file with a group they are not in (a `sudo cp` that was
        // chowned back): keep the group when allowed, else the user's default group.
        let _ = std::os::unix::fs::fchown(file, None, Some(owner.gid));
        return Ok(());
    }
    std::os::unix::fs::fchown(file, Some(owner.uid), Some(owner.gid)).map_err(|err| {
        io::Error::new(
            err.kind(),
            format!(
                "cannot keep the file's owner (uid {}, gid {}): {err}",
                owner.uid, owner.gid
            ),
        )
    })
}

#[cfg(not(unix))]
fn keep_owner(_file: &File, _owner: Owner) -> io::Result<()> {
    Ok(())
}

/// The owner's uid when it is not the current user (Unix); `None` elsewhere.
#[cfg(unix)]
fn foreign_owner(metadata: &fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    let me = rustix::process::geteuid().as_raw();
    (metadata.uid() != me).then_some(metadata.uid())
}

#[cfg(not(unix))]
fn foreign_owner(_metadata: &fs::Metadata) -> Option<u32> {
    None
}

/// An exclusive advisory lock on a lock file, released when dropped (or when the
/// process dies, however it dies).
#[derive(Debug)]
pub struct Lock {
    _file: File,
}

/// Takes the exclusive lock on `path` (creating the file, mode 0600, never through
/// a symlink), waiting at most `wait`. `Ok(None)` when another process still holds
/// it after `wait`.
pub fn lock(path: &Path, wait: Duration) -> io::Result<Option<Lock>> {
    if let Err(ReadError::Symlink) = refuse_symlink_elsewhere(path, true) {
        return Err(io::Error::other(format!("{} is a symbolic link", path.display())));
    }
    let mut options = OpenOptions::new();
    options.read(true).write(true).create(true).truncate(false);
    set_open_flags(&mut options, true, true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let file = options.open(path).map_err(|err| match symlink_error(err, true) {
        ReadError::Symlink => io::Error::other(format!("{} is a symbolic link", path.display())),
        ReadError::Io(err) => err,
        other => io::Error::other(other.to_string()),
    })?;
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(format!("{} is not a regular file", path.display())));
    }
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

/// Creates `path` exclusively (client-go's kubeconfig lock): never through a
/// symlink, since `O_EXCL` refuses one. `AlreadyExists` when it is there.
pub fn create_exclusive(path: &Path) -> io::Result<File> {
    let mut options = OpenOptions::new();
    options.write(true).create_new(true);
    set_open_flags(&mut options, true, false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// Whether group or others may read the file (Unix); always false elsewhere, where
/// mode bits mean nothing.
pub fn readable_by_others(metadata: &fs::Metadata) -> bool {
    mode(metadata) & 0o077 != 0 && cfg!(unix)
}

fn writable_by_others(metadata: &fs::Metadata) -> bool {
    mode(metadata) & 0o022 != 0 && cfg!(unix)
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
        write_atomic(&file, b"one", 0o600, Ownership::Mine).unwrap();
        write_atomic(&file, b"two", 0o600, Ownership::Keep).unwrap();
        assert_eq!(fs::read(&file).unwrap(), b"two");
        #[cfg(unix)]
        {
            assert_eq!(mode(&fs::metadata(&file).unwrap()) & 0o777, 0o600);
            assert_eq!(mode(&fs::metadata(&sub).unwrap()) & 0o777, 0o700);
        }
        let leftovers: Vec<_> = fs::read_dir(&sub).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn a_dead_writers_temporary_file_is_removed_by_the_next_write() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        let stale = dir.path().join(".config.4242-123456.tmp");
        let other = dir.path().join(".other.4242-1.tmp");
        fs::write(&stale, b"secret copy").unwrap();
        fs::write(&other, b"not ours").unwrap();
        write_atomic(&file, b"new", 0o600, Ownership::Keep).unwrap();
        assert!(!stale.exists(), "the stale copy is gone");
        assert!(other.exists(), "another file's temporary file stays");
    }

    #[test]
    fn a_temporary_file_as_write_atomic_names_it_is_removed_as_stale() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("config");
        let stale = tempfile::Builder::new()
            .prefix(".config.")
            .suffix(TEMP_SUFFIX)
            .rand_bytes(8)
            .tempfile_in(dir.path())
            .unwrap()
            .keep()
            .unwrap()
            .1;
        assert!(stale.exists());
        write_atomic(&file, b"new", 0o600, Ownership::Keep).unwrap();
        assert!(!stale.exists(), "{} is still there", stale.display());
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

    #[test]
    fn reads_are_capped_and_bom_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, "\u{feff}key: value\n").unwrap();
        assert_eq!(read_text(&path, 100).unwrap(), "key: value\n");
        assert!(matches!(read_regular(&path, 4), Err(ReadError::TooLarge(4))));
        assert!(matches!(
            read_regular(dir.path(), 4),
            Err(ReadError::NotRegular("directory"))
        ));
        assert!(matches!(
            read_regular(&dir.path().join("nope"), 4),
            Err(ReadError::NotFound)
        ));
    }

    #[cfg(unix)]
    #[test]
    fn symlinks_are_refused_where_they_could_redirect() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("target");
        fs::write(&target, b"x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(matches!(read_private(&link, 10), Err(ReadError::Symlink)));
        assert!(lock(&link, Duration::ZERO).is_err());
        assert_eq!(
            create_exclusive(&link).unwrap_err().kind(),
            io::ErrorKind::AlreadyExists
        );
        let dangling = dir.path().join("dangling");
        std::os::unix::fs::symlink(dir.path().join("created-through-link"), &dangling).unwrap();
        assert!(lock(&dangling, Duration::ZERO).is_err());
        assert!(create_exclusive(&dangling).is_err());
        assert!(!dir.path().join("created-through-link").exists());
    }

    #[cfg(unix)]
    #[test]
    fn private_reads_refuse_exposed_files() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("entry");
        fs::write(&path, b"tok").unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
        assert!(matches!(read_private(&path, 10), Err(ReadError::Exposed)));
        fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(read_private(&path, 10).unwrap(), b"tok");
    }

    #[cfg(unix)]
    #[test]
    fn private_dirs_must_not_be_writable_by_others() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let sub = dir.path().join("cache");
        assert!(
            !check_private_dir(&sub).unwrap(),
            "missing: not trusted yet, not refused"
        );
        create_private_dir(&sub).unwrap();
        assert!(check_private_dir(&sub).unwrap());
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o777)).unwrap();
        assert!(matches!(check_private_dir(&sub), Err(Untrusted::Writable)));
        fs::set_permissions(&sub, fs::Permissions::from_mode(0o755)).unwrap();
        assert!(check_private_dir(&sub).unwrap(), "readable is fine: entries are 0600");
    }
}
