//! The plugin as kubectl finds it, `version`, `completion`, `--help`.

use std::path::Path;

use crate::support::{BIN, Run, TenantSpec, TestEnv, link_executable, realm};

/// The README's install: the binary plus a `kubectl-runai_token` link on PATH, and
/// `kubectl runai-token` works through kubectl's plugin discovery.
#[test]
fn kubectl_finds_the_plugin() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let mut env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::fs::copy(BIN, bin.join("kubectl-runai-token")).unwrap();
    link_executable(Path::new("kubectl-runai-token"), &bin.join("kubectl-runai_token"));
    env.prepend_path(&bin);

    let mut get = env.command("kubectl");
    get.args(["runai-token", "get", "-o", "json"]);
    let run = Run::of(get);
    run.success();
    assert_eq!(run.stdout_json()["profile"], "acme");

    let mut alias = env.command("kubectl");
    alias.args(["runai-token", "get-token"]);
    Run::of(alias).success();

    let mut list = env.command("kubectl");
    list.args(["plugin", "list", "--name-only"]);
    let listed = Run::of(list);
    assert!(
        listed.stdout.lines().any(|l| l == "kubectl-runai_token"),
        "{}",
        listed.stdout
    );
}

#[test]
fn version_help_and_completion() {
    let env = TestEnv::new();
    let version = env.run(&["version"]);
    version.success();
    let line = version.stdout.trim_end();
    assert!(
        line.starts_with(&format!("kubectl-runai-token {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{line}"
    );
    assert!(
        line.ends_with("x86_64-unknown-linux-gnu)") || line.contains("-linux-") || line.contains("-darwin"),
        "{line}"
    );
    let short = env.run(&["-V"]);
    short.success();
    assert_eq!(
        short.stdout,
        format!("kubectl-runai-token {}\n", env!("CARGO_PKG_VERSION"))
    );

    let help = env.run(&["--help"]);
    help.success();
    assert!(
        help.stdout.contains("Usage: kubectl runai-token [OPTIONS] [COMMAND]"),
        "{}",
        help.stdout
    );
    let get_help = env.run(&["get", "--help"]);
    get_help.success();
    for env_var in ["RUNAI_PROFILES_FILE", "RUNAI_TOKEN_CACHE_DIR", "RUNAI_PROFILE"] {
        assert!(
            get_help.stdout.contains(&format!("[env: {env_var}=]")),
            "{env_var} not in --help"
        );
    }
    assert!(get_help.stdout.contains("KUBERNETES_EXEC_INFO"));
    let bare = env.run(&[]);
    bare.success();
    assert!(bare.stdout.contains("Commands:"));

    for shell in ["bash", "zsh", "fish", "powershell"] {
        let run = env.run(&["completion", shell]);
        run.success();
        assert!(
            run.stdout.contains("kubectl-runai_token") || run.stdout.contains("kubectl_runai_token"),
            "{shell}"
        );
    }
}
