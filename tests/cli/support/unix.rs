//! What only Unix has: permission bits, owners, symbolic links, running as another
//! user. The module exists only under `#[cfg(unix)]` (support/mod.rs), so a test that
//! calls into it is Unix-only by construction: it must be `#[cfg(unix)]` itself, or
//! the test binary does not build for Windows. Every `std::os::unix` of the tests is
//! here.

use std::fs;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// Sets the permission bits of `path`.
pub fn chmod(path: &Path, mode: u32) {
    fs::set_permissions(path, fs::Permissions::from_mode(mode)).unwrap();
}

/// Makes `options` create a new file with the permission bits `mode` (an existing
/// file keeps its own).
pub fn create_with_mode(options: &mut fs::OpenOptions, mode: u32) {
    options.mode(mode);
}

/// The permission bits of `path` (`0o600`).
pub fn mode(path: &Path) -> u32 {
    fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A symbolic link at `link` to `original` (relative to the link's directory, as
/// symbolic links resolve).
pub fn symlink(original: impl AsRef<Path>, link: impl AsRef<Path>) {
    let (original, link) = (original.as_ref(), link.as_ref());
    std::os::unix::fs::symlink(original, link)
        .unwrap_or_else(|err| panic!("symlink {} -> {}: {err}", link.display(), original.display()));
}

/// Gives `path` to `uid` and `gid` (the tests run as root, which may).
pub fn chown(path: &Path, uid: u32, gid: u32) {
    std::os::unix::fs::chown(path, Some(uid), Some(gid))
        .unwrap_or_else(|err| panic!("chown {uid}:{gid} {}: {err}", path.display()));
}

/// The uid and gid that own `path`.
pub fn owner(path: &Path) -> (u32, u32) {
    let meta = fs::metadata(path).unwrap();
    (meta.uid(), meta.gid())
}

/// Makes `cmd` run as `uid` and `gid`.
pub fn run_as(cmd: &mut Command, uid: u32, gid: u32) -> &mut Command {
    cmd.uid(uid).gid(gid)
}
