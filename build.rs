//! Build metadata for `version`: the commit (from `RUNAI_TOKEN_COMMIT` when a release
//! pipeline sets it, else `git rev-parse`) and the target triple.
//!
//! And, on Linux, how the binary is linked. kubectl runs the plugin before every
//! command, and in a plain `cargo build --release` most of a cache hit is the
//! dynamic loader's work, not the plugin's (docs/performance.md#where-the-time-goes):
//! - `-no-pie`: a position-independent binary has tens of thousands of relative
//!   relocations (Rust's vtables and string tables), and applying them writes to
//!   every page of `.data.rel.ro` at start-up, a hundred page faults before `main`.
//!   Linked at a fixed address there is nothing to relocate. The price is that the
//!   binary's own code is not randomised (ASLR still places the stack, heap and
//!   libraries); the shipped static binary was already linked this way.
//! - libgcc's unwinder linked in (`libgcc_eh.a`) instead of loading `libgcc_s.so.1`:
//!   one library fewer for the loader to open, map, relocate and search for every
//!   symbol. The plugin is built with `panic = "abort"`; the unwinder only walks
//!   the stack for a backtrace. When the C compiler has no `libgcc_eh.a`, the build
//!   keeps `libgcc_s`.
//!
//! `rustc-link-arg-bins` reaches the binary alone: the tests and the library keep
//! the defaults.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=RUNAI_TOKEN_COMMIT");
    println!("cargo:rerun-if-changed=.git/HEAD");
    println!("cargo:rerun-if-changed=.git/refs/heads");
    let commit = std::env::var("RUNAI_TOKEN_COMMIT")
        .ok()
        .filter(|c| !c.is_empty())
        .or_else(|| {
            let output = Command::new("git")
                .args(["rev-parse", "--short=12", "HEAD"])
                .output()
                .ok()?;
            output
                .status
                .success()
                .then(|| String::from_utf8_lossy(&output.stdout).trim().to_owned())
        });
    println!(
        "cargo:rustc-env=RUNAI_TOKEN_COMMIT={}",
        commit.unwrap_or_else(|| "unknown".to_owned())
    );
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("-linux-") {
        link_for_a_fast_start(&target);
    }
    println!("cargo:rustc-env=RUNAI_TOKEN_TARGET={target}");
}

fn link_for_a_fast_start(target: &str) {
    println!("cargo:rustc-link-arg-bins=-no-pie");
    // scripts/build-release: a link map to learn where the hot path's code landed,
    // then the order to put it in (see that script).
    println!("cargo:rerun-if-env-changed=RUNAI_TOKEN_LINK_MAP");
    println!("cargo:rerun-if-env-changed=RUNAI_TOKEN_SYMBOL_ORDER");
    if let Ok(map) = std::env::var("RUNAI_TOKEN_LINK_MAP") {
        println!("cargo:rustc-link-arg-bins=-Wl,-Map={map},--no-demangle");
    }
    if let Ok(order) = std::env::var("RUNAI_TOKEN_SYMBOL_ORDER") {
        println!("cargo:rerun-if-changed={order}");
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={order},--no-warn-symbol-ordering");
    }
    let static_crt =
        std::env::var("CARGO_CFG_TARGET_FEATURE").is_ok_and(|features| features.split(',').any(|f| f == "crt-static"));
    if !target.ends_with("-gnu") || static_crt {
        // musl and static glibc builds link the unwinder statically already.
        return;
    }
    if let Some(unwinder) = libgcc_eh() {
        // A definition from an object file wins over a shared library's, wherever
        // it comes on the command line, and `--as-needed` (rustc's default) then
        // drops libgcc_s, which nothing uses any more.
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--push-state,--whole-archive,{},--pop-state",
            unwinder.display()
        );
    }
}

/// The C compiler's `libgcc_eh.a`, if it has one (`cc -print-file-name` prints the
/// bare name when it has not).
fn libgcc_eh() -> Option<std::path::PathBuf> {
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    let cc = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_owned());
    let output = Command::new(cc).arg("-print-file-name=libgcc_eh.a").output().ok()?;
    let path = std::path::PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    (output.status.success() && path.is_absolute() && path.is_file() && !path.to_string_lossy().contains(','))
        .then_some(path)
}
