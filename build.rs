//! Build metadata for `version`: the commit (from `RUNAI_TOKEN_COMMIT` when a release
//! pipeline sets it, else `git rev-parse`) and the target triple.

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
    println!(
        "cargo:rustc-env=RUNAI_TOKEN_TARGET={}",
        std::env::var("TARGET").unwrap_or_default()
    );
}
