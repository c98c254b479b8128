//! Build metadata for `version`: the commit (from `RUNAI_TOKEN_COMMIT` when a release
//! pipeline sets it, else `git rev-parse`) and the target triple.
//!
//! And, on Linux, how the binary is linked. kubectl runs the plugin before every
//! command, and in a plain `cargo build --release` (what `cargo install` gives) most
//! of a cache hit was the loader's and the kernel's work, not the plugin's
//! (docs/performance.md#where-the-time-goes):
//! - `-no-pie`: a position-independent binary has tens of thousands of relative
//!   relocations (Rust's vtables and string tables), and applying them writes to
//!   every page of `.data.rel.ro` at start-up, a hundred page faults before `main`.
//!   Linked at a fixed address there is nothing to relocate. The price is that the
//!   binary's own code is not randomised (ASLR still places the stack and heap); the
//!   shipped static binary is linked this way too.
//! - On x86_64 glibc, the C library linked statically, as in the release archives,
//!   so that no loader runs at all. rustc asks for `-lc` and its siblings as shared
//!   libraries unless `crt-static` is set, which only `RUSTFLAGS` can do; so this
//!   script writes small linker scripts named `libc.so`, `libm.so`, ... that name the
//!   static archives, puts their directory first on the binary's library path and
//!   links with `-static`. This needs the C library's static archives (`libc.a`,
//!   from `libc6-dev` on Debian and Ubuntu, `glibc-static` on Fedora); without them,
//!   or with `RUNAI_TOKEN_LINK=dynamic`, the binary is dynamic, with libgcc's
//!   unwinder linked in (`libgcc_eh.a`) rather than one more library to load
//!   (`panic = "abort"`: the unwinder only walks the stack for a backtrace).
//! - On x86_64 with the default linker, the code and constants a cache hit runs,
//!   first: `link/hot-path.ld` is a linker script that collects their sections,
//!   named by pattern (without the hashes that change from build to build), into
//!   `.text.hot` and `.rodata.hot` ahead of the rest. A hit then touches a few
//!   contiguous pages instead of a few hundred spread over the binary. The release
//!   build (`scripts/build-release`) instead orders the exact symbols it has just
//!   traced, and writes a fresh `link/hot-path.ld` beside them
//!   (docs/performance.md#how-to-measure). A stale script costs only speed.
//!
//! `rustc-link-arg-bins` reaches the binary alone: the tests and the library keep
//! the defaults. A Linux binary is statically linked in the C library; DNS is then
//! resolved in Rust (reqwest's `hickory-dns`, on for every Linux glibc build in
//! Cargo.toml), since a static glibc cannot load name-service modules reliably.

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
    println!("cargo:rerun-if-env-changed=RUNAI_TOKEN_LINK");
    println!("cargo:rerun-if-env-changed=RUSTC_LINKER");
    if let Ok(map) = std::env::var("RUNAI_TOKEN_LINK_MAP") {
        println!("cargo:rustc-link-arg-bins=-Wl,-Map={map},--no-demangle");
    }
    let x86_64 = target == "x86_64-unknown-linux-gnu";
    if let Ok(order) = std::env::var("RUNAI_TOKEN_SYMBOL_ORDER") {
        println!("cargo:rerun-if-changed={order}");
        println!("cargo:rustc-link-arg-bins=-Wl,--symbol-ordering-file={order},--no-warn-symbol-ordering");
    } else if x86_64 && default_linker() {
        let script = std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("link/hot-path.ld");
        println!("cargo:rerun-if-changed={}", script.display());
        if script.is_file() && !script.to_string_lossy().contains(',') {
            println!("cargo:rustc-link-arg-bins=-Wl,-T,{}", script.display());
        }
    }
    let static_crt =
        std::env::var("CARGO_CFG_TARGET_FEATURE").is_ok_and(|features| features.split(',').any(|f| f == "crt-static"));
    if !target.ends_with("-gnu") || static_crt {
        // musl and static glibc builds link the C library statically already.
        return;
    }
    if x86_64
        && std::env::var("RUNAI_TOKEN_LINK").as_deref() != Ok("dynamic")
        && let Some(dir) = static_glibc()
    {
        println!("cargo:rustc-link-arg-bins=-L{}", dir.display());
        println!("cargo:rustc-link-arg-bins=-static");
        return;
    }
    if let Some(unwinder) = c_library_file("libgcc_eh.a") {
        // A definition from an object file wins over a shared library's, wherever
        // it comes on the command line, and `--as-needed` (rustc's default) then
        // drops libgcc_s, which nothing uses any more.
        println!(
            "cargo:rustc-link-arg-bins=-Wl,--push-state,--whole-archive,{},--pop-state",
            unwinder.display()
        );
    }
}

/// Whether the binary is linked by rustc's default linker (rust-lld through `cc` on
/// x86_64 Linux), which reads `link/hot-path.ld`. Another one (mold, say) may not
/// accept a linker script that places sections, so the script is left out.
fn default_linker() -> bool {
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    std::env::var_os("RUSTC_LINKER").is_none() && !flags.contains("linker") && !flags.contains("fuse-ld")
}

/// A directory of linker scripts that stand in for the C library's shared objects
/// and name its static archives, or `None` when an archive is missing. rustc links
/// `-lgcc_s -lutil -lrt -lpthread -lm -ldl -lc`; each `lib<name>.so` here is found
/// first on the library path.
fn static_glibc() -> Option<std::path::PathBuf> {
    let archive = |name: &str| c_library_file(name).filter(|path| !path.to_string_lossy().contains('"'));
    let group = |names: &[&str]| -> Option<String> {
        let paths: Option<Vec<String>> = names
            .iter()
            .map(|name| archive(name).map(|path| format!("\"{}\"", path.display())))
            .collect();
        Some(format!(
            "/* kubectl-runai-token's build.rs: the static archive */\nGROUP ( {} )\n",
            paths?.join(" ")
        ))
    };
    let scripts = [
        ("libc.so", group(&["libc.a", "libgcc.a"])?),
        ("libgcc_s.so", group(&["libgcc_eh.a", "libgcc.a"])?),
        ("libm.so", group(&["libm.a"])?),
        ("libpthread.so", group(&["libpthread.a"])?),
        ("libdl.so", group(&["libdl.a"])?),
        ("librt.so", group(&["librt.a"])?),
        ("libutil.so", group(&["libutil.a"])?),
    ];
    let dir = std::path::Path::new(&std::env::var_os("OUT_DIR")?).join("static-glibc");
    std::fs::create_dir_all(&dir).ok()?;
    for (name, text) in scripts {
        std::fs::write(dir.join(name), text).ok()?;
    }
    (!dir.to_string_lossy().contains(',')).then_some(dir)
}

/// A file of the C compiler's libraries, if it has it (`cc -print-file-name` prints
/// the bare name when it has not).
fn c_library_file(name: &str) -> Option<std::path::PathBuf> {
    let cc = std::env::var("RUSTC_LINKER").unwrap_or_else(|_| "cc".to_owned());
    let output = Command::new(cc).arg(format!("-print-file-name={name}")).output().ok()?;
    let path = std::path::PathBuf::from(String::from_utf8(output.stdout).ok()?.trim());
    (output.status.success() && path.is_absolute() && path.is_file() && !path.to_string_lossy().contains(','))
        .then_some(path)
}
