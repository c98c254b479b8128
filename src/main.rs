//! `kubectl-runai-token`: parse, run, print the error once, pick the exit code.
//!
//! On Linux the program starts at the C `main`, not at Rust's: kubectl runs the
//! plugin before every command, and Rust's start-up reads `/proc/self/maps` and sets
//! up a signal stack only to name a stack overflow in a message, which was an eighth
//! of a cache hit (docs/performance.md#where-the-time-goes). What else Rust's start-up
//! does that the plugin relies on is done here: SIGPIPE is ignored (a closed pipe is
//! an error to report, not a silent death) and standard descriptors that were closed
//! are reopened on `/dev/null`, so that no file the plugin opens becomes its stdout.

#![cfg_attr(target_os = "linux", no_main)]

use std::ffi::OsString;

use runai_token::error::Exit;
use runai_token::output::{Log, report_error};
use runai_token::paths::Env;
use runai_token::{classify, is_reported};

fn run(args: impl Iterator<Item = OsString>) -> Exit {
    runai_token::secret::keep_out_of_core_dumps();
    let log = Log::default();
    match runai_token::run(args, &Env::os(), &log) {
        Ok(exit) => exit,
        Err(err) => {
            let (exit, hint) = classify(&err);
            if !is_reported(&err) {
                report_error(&log, &format!("{err:#}"), hint.as_deref());
            }
            exit
        }
    }
}

#[cfg(not(target_os = "linux"))]
fn main() -> std::process::ExitCode {
    run(std::env::args_os()).into()
}

/// The C entry point.
///
/// # Safety
/// Called once by the C runtime with the process's `argc` and `argv`: `argv` holds
/// `argc` pointers to NUL-terminated strings that live as long as the process.
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
#[unsafe(no_mangle)]
extern "C" fn main(argc: std::ffi::c_int, argv: *const *const std::ffi::c_char) -> std::ffi::c_int {
    use std::ffi::CStr;
    use std::os::unix::ffi::OsStrExt;

    // SAFETY: ignoring a signal installs no handler; nothing else runs yet.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    reopen_closed_standard_descriptors();
    let count = usize::try_from(argc).unwrap_or(0);
    // SAFETY: the C runtime's contract for `main`, stated above.
    let args = (0..count).map(|i| {
        let arg = unsafe { CStr::from_ptr(*argv.add(i)) };
        std::ffi::OsStr::from_bytes(arg.to_bytes()).to_owned()
    });
    let exit = run(args.collect::<Vec<_>>().into_iter());
    // Rust's own `main` would flush stdout on return; every write here already did.
    exit as std::ffi::c_int
}

/// Opens `/dev/null` until it lands above stderr: the lowest free descriptor is the
/// one `open` returns, so each closed standard descriptor is filled in turn.
#[cfg(target_os = "linux")]
fn reopen_closed_standard_descriptors() {
    use std::os::fd::{AsRawFd, IntoRawFd};
    while let Ok(null) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/null") {
        if null.as_raw_fd() > 2 {
            break;
        }
        // Like a descriptor the process was given, it stays open in children.
        let _ = rustix::io::fcntl_setfd(&null, rustix::io::FdFlags::empty());
        let _kept_open = null.into_raw_fd();
    }
}
