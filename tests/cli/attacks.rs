//! What trying to break the plugin found, one test per finding: a hostile co-user (the
//! cache directory, its entries, lock files), a hostile or broken server (echoed
//! secrets, tokens that are not header values, escape sequences), and a careless
//! operator (FIFOs, /dev/zero, huge files, deep YAML, `sudo -E`, `kill -9`).
//! The rules they check are in docs/security.md.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::json;

use crate::support::unix::{chmod, chown, mode, owner, run_as, symlink};
use crate::support::{Run, TenantSpec, TestEnv, realm, v2_env, write_private};

/// The uid and gid of another user (nobody): the tests run as root, which may give
/// files away, so an "attacker's" file is one chowned to this user.
const OTHER: u32 = 65534;

/// Runs `cmd` and fails the test if it has not finished within `limit`: a refusal
/// must be quick, never a hang.
fn run_within(mut cmd: Command, limit: Duration) -> Run {
    let what = format!("{cmd:?}");
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let deadline = Instant::now() + limit;
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    Run::from_output(child.wait_with_output().unwrap(), what)
}

fn only_file_ending(dir: &Path, suffix: &str) -> std::path::PathBuf {
    let found: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(suffix))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

// 1. The cache directory and its entries.

#[test]
fn a_cache_directory_another_user_owns_is_refused() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let dir = env.cache_dir();
    fs::create_dir_all(&dir).unwrap();
    chmod(&dir, 0o700);
    chown(&dir, OTHER, OTHER);
    let run = env.run(&["get"]);
    run.failure(2);
    assert_eq!(
        run.error_line(),
        format!(
            "error: cache directory {} is owned by another user (uid {OTHER})",
            dir.display()
        )
    );
    assert!(run.hint_line().unwrap().contains("--cache-dir"));
    assert!(tenant.token_requests().is_empty(), "nothing was sent");
    // --no-cache does not touch it.
    env.run(&["get", "--no-cache"]).success();
}

#[test]
fn a_cache_directory_others_may_write_to_is_refused() {
    let (_tenant, env) = v2_env(TenantSpec::default(), "");
    let dir = env.cache_dir();
    fs::create_dir_all(&dir).unwrap();
    chmod(&dir, 0o777);
    let run = env.run(&["get"]);
    run.failure(2);
    assert_eq!(
        run.error_line(),
        format!(
            "error: cache directory {} is writable by group or others",
            dir.display()
        )
    );
    assert_eq!(
        run.hint_line().unwrap(),
        format!(
            "hint: chmod 700 {}, or use a directory of your own (--cache-dir, $RUNAI_TOKEN_CACHE_DIR)",
            dir.display()
        )
    );
    chmod(&dir, 0o700);
    env.run(&["get"]).success();
}

#[test]
fn an_entry_the_user_did_not_write_is_never_handed_out() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let real = env.run(&["get"]);
    real.success();
    let entry = only_file_ending(&env.cache_dir(), ".json");
    let forged = fs::read_to_string(&entry)
        .unwrap()
        .replace(real.stdout.trim(), "forged-token");
    assert!(forged.contains("forged-token"));
    let evil = env.dir.path().join("evil.json");

    // Swapped in by another user.
    fs::write(&entry, &forged).unwrap();
    chown(&entry, OTHER, OTHER);
    let run = env.run(&["get"]);
    run.success();
    assert_ne!(run.stdout, "forged-token\n");
    assert_eq!(owner(&entry).0, 0, "replaced by the user's own entry");
    // Readable by others.
    fs::write(&entry, &forged).unwrap();
    chmod(&entry, 0o644);
    assert_ne!(env.run(&["get"]).stdout, "forged-token\n");
    // A symlink to a file of the attacker's choosing.
    write_private(&evil, &forged);
    fs::remove_file(&entry).unwrap();
    symlink(&evil, &entry);
    let run = env.run(&["get", "-v"]);
    run.ok();
    assert_ne!(run.stdout, "forged-token\n");
    assert!(
        run.stderr.contains("is a symbolic link: not trusted, a miss"),
        "{}",
        run.stderr
    );
    assert_eq!(tenant.token_requests().len(), 4);
}

#[test]
fn a_lock_file_that_is_a_symlink_is_not_followed() {
    let (_tenant, env) = v2_env(TenantSpec::default(), "");
    env.run(&["get"]).success();
    let lock = only_file_ending(&env.cache_dir(), ".lock");
    fs::remove_file(&lock).unwrap();
    fs::remove_file(only_file_ending(&env.cache_dir(), ".json")).unwrap();
    let target = env.dir.path().join("created-by-the-victim");
    symlink(&target, &lock);
    let run = env.run(&["get", "-v"]);
    run.ok();
    assert!(!run.stdout.is_empty());
    assert!(!target.exists(), "the link was followed");
    assert!(
        run.stderr.contains("is a symbolic link: fetching without caching"),
        "{}",
        run.stderr
    );
}

// 2. A server that echoes the request back.

/// A secret with every character that form and JSON encoding change.
const ODD_SECRET: &str = r#"q9Zx+7Lm/"a b\c%&=é"#;

/// A secret that a short description would cut in two is recognised before the cut.
#[test]
fn a_secret_cut_at_the_shown_length_is_still_withheld() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let secret = &tenant.client().secret;
    for padding in [150, 170, 190, 200] {
        let description = format!("{} the secret {secret} is unknown", "x".repeat(padding));
        let body = json!({"error": "invalid_client", "error_description": description}).to_string();
        tenant.faults(json!([{"path": "/api/v2/token", "status": 400, "body": body}]));
        let run = env.run(&["get"]);
        run.failure(3);
        let start = &secret[..12];
        assert!(!run.stderr.contains(start), "padding {padding}: {}", run.stderr);
    }
}

#[test]
fn an_echoed_secret_is_shown_in_no_encoding_at_any_verbosity() {
    for (auth, path) in [
        ("v2", "/api/v2/token"),
        ("v1", "/api/v1/token"),
        ("keycloak", "/auth/realms/acme/protocol/openid-connect/token"),
    ] {
        for status in [400, 401, 500] {
            let tenant = realm().tenant(TenantSpec::default());
            let env = TestEnv::new();
            let yaml = format!(
                "profiles:\n- name: acme\n  url: {}\n  auth: {auth}\n  realm: acme\n  client-id: ci-bot\n  client-secret: '{}'\n",
                tenant.url,
                ODD_SECRET.replace('\'', "''")
            );
            env.write_profiles(&yaml);
            for verbosity in [None, Some("-vvv")] {
                tenant.faults(json!([{"path": path, "status": status, "echo": true, "times": 3}]));
                let mut args = vec!["get"];
                args.extend(verbosity);
                let run = env.run(&args);
                assert_ne!(run.code, 0);
                assert!(
                    !run.stderr.contains("q9Zx"),
                    "{auth} {status} {verbosity:?}: the secret leaked:\n{}",
                    run.stderr
                );
                if verbosity.is_none() {
                    assert!(
                        run.stderr.contains("quotes the request, so it is not shown"),
                        "{}",
                        run.stderr
                    );
                }
            }
        }
    }
}

// 3. Tokens that are not header values, and text with escape sequences.

#[test]
fn a_token_that_is_not_a_header_value_is_refused_and_not_cached() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    for token in ["abc\r\nX-Injected: 1", "abc\u{0}def", "abc\u{1b}[2Jdef", "two words"] {
        let body = json!({"access_token": token, "token_type": "Bearer", "expires_in": 3600}).to_string();
        tenant.faults(json!([{"path": "/api/v2/token", "body": body}]));
        let run = env.run(&["get", "-o", "header"]);
        run.failure(4);
        assert!(
            run.error_line().contains("not a valid HTTP header value"),
            "{}",
            run.stderr
        );
        assert!(!run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{0}'));
    }
    // Nothing was cached: the next get asks the server, and gets a real token.
    let good = env.run(&["get", "-o", "header"]);
    good.success();
    assert_eq!(good.stdout.lines().count(), 1);
    assert_eq!(tenant.token_requests().len(), 5);
}

#[test]
fn a_servers_escape_sequences_never_reach_the_terminal() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let body = json!({"error": "invalid_request", "error_description": "\u{1b}]0;owned\u{7}\u{1b}[2J\r\nerror: fake"})
        .to_string();
    tenant.faults(json!([{"path": "/api/v2/token", "status": 400, "body": body}]));
    let run = env.run(&["get"]);
    run.failure(4);
    assert!(
        !run.stderr.contains('\u{1b}') && !run.stderr.contains('\u{7}'),
        "{:?}",
        run.stderr
    );
    assert!(
        run.error_line()
            .contains(r"\u{1b}]0;owned\u{7}\u{1b}[2J\r\nerror: fake"),
        "{}",
        run.stderr
    );
}

#[test]
fn claims_with_escape_sequences_are_shown_escaped() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let claims = json!({"sub": "\u{1b}[31mroot\u{1b}[0m", "exp": 4_000_000_000u64});
    let encode = |v: &serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let token = format!("{}.{}.c2ln", encode(&json!({"alg": "none"})), encode(&claims));
    let body = json!({"access_token": token, "expires_in": 3600}).to_string();
    tenant.faults(json!([{"path": "/api/v2/token", "body": body}]));
    let run = env.run(&["inspect"]);
    run.success();
    assert!(!run.stdout.contains('\u{1b}'), "{:?}", run.stdout);
    assert!(run.stdout.contains(r"\u{1b}[31mroot\u{1b}[0m"), "{}", run.stdout);
}

// 5. Reads without bounds.

#[test]
fn special_and_huge_files_are_refused_at_once() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let fifo = env.dir.path().join("fifo");
    assert!(Command::new("mkfifo").arg(&fifo).status().unwrap().success());
    let fifo_text = fifo.to_str().unwrap();
    let limit = Duration::from_secs(5);

    for profiles in [fifo_text, "/dev/zero"] {
        let run = run_within(env.plugin(&["get", "--profiles-file", profiles]), limit);
        run.failure(2);
        assert!(run.error_line().contains("not a regular file"), "{}", run.stderr);
    }
    let mut setup = env.plugin(&["setup", "--kubeconfig", fifo_text]);
    setup.stdin(Stdio::null());
    let run = run_within(setup, limit);
    run.failure(2);
    assert_eq!(
        run.error_line(),
        format!("error: kubeconfig {fifo_text} is a FIFO, not a regular file")
    );

    let big = env.dir.path().join("big.secret");
    let file = fs::File::create(&big).unwrap();
    file.set_len(200 * 1024 * 1024).unwrap();
    chmod(&big, 0o600);
    let client = tenant.client();
    for (source, message) in [
        (
            format!("client-secret-file: {fifo_text}"),
            "is a FIFO, not a regular file",
        ),
        (
            format!("client-secret-file: {}", big.display()),
            "is larger than 16 KiB",
        ),
        (
            "client-secret-command: [yes, abc]".to_owned(),
            "printed more than 16 KiB",
        ),
    ] {
        let yaml = format!(
            "profiles:\n- name: acme\n  url: {}\n  auth: v2\n  client-id: {}\n  {source}\n",
            tenant.url, client.id
        );
        env.write_profiles(&yaml);
        let run = run_within(env.plugin(&["get"]), limit);
        run.failure(2);
        assert!(run.error_line().contains(message), "{source}: {}", run.stderr);
    }
    env.write_profiles(&tenant.profile("acme", &format!("auth: v2\ncertificate-authority: {fifo_text}")));
    let run = run_within(env.plugin(&["get"]), limit);
    run.failure(2);
    assert!(
        run.error_line().contains("is a FIFO, not a regular file"),
        "{}",
        run.stderr
    );
    assert!(tenant.token_requests().is_empty(), "nothing was sent");
}

#[test]
fn deep_yaml_is_refused_at_once() {
    let env = TestEnv::new();
    let deep = format!("profiles: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    env.write_profiles(&deep);
    let run = run_within(env.plugin(&["get"]), Duration::from_secs(5));
    run.failure(2);
    assert!(
        run.error_line().contains("nesting this deep is not supported"),
        "{}",
        run.stderr
    );
    write_private(
        &env.kubeconfig(),
        &format!("a: {}{}\n", "{a: ".repeat(100_000), "}".repeat(100_000)),
    );
    env.write_profiles("profiles:\n- {name: a, url: 'https://x', client-id: c, client-secret-env: X}\n");
    let run = run_within(env.plugin(&["setup"]), Duration::from_secs(5));
    run.failure(2);
    assert!(
        run.error_line().contains("nesting this deep is not supported"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_byte_order_mark_is_accepted() {
    let (_tenant, env) = v2_env(TenantSpec::default(), "");
    let profiles = fs::read_to_string(env.profiles_file()).unwrap();
    write_private(&env.profiles_file(), &format!("\u{feff}{profiles}"));
    env.run(&["get"]).success();
    write_private(
        &env.kubeconfig(),
        "\u{feff}apiVersion: v1\nkind: Config\nclusters: []\n",
    );
    env.run(&["setup"]).ok();
    let mut view = env.command("kubectl");
    view.args(["config", "view", "-o", "jsonpath={.users[0].name}"]);
    let viewed = Run::of(view);
    assert_eq!(viewed.stdout, "runai-acme", "{}", viewed.stderr);
}

// 6. Owners, leftovers and memory.

#[test]
fn files_replaced_as_root_keep_their_owner() {
    let (_tenant, env) = v2_env(TenantSpec::default(), "");
    write_private(&env.kubeconfig(), "apiVersion: v1\nkind: Config\n");
    for file in [env.kubeconfig(), env.profiles_file()] {
        chown(&file, OTHER, OTHER);
    }
    env.run(&["setup"]).ok();
    env.run(&["profile", "set", "acme", "--timeout", "20s"]).ok();
    for file in [env.kubeconfig(), env.profiles_file()] {
        assert_eq!(owner(&file), (OTHER, OTHER), "{}", file.display());
        assert_eq!(mode(&file), 0o600);
    }
    assert!(
        fs::read_to_string(env.profiles_file())
            .unwrap()
            .contains("timeout: 20s")
    );
}

#[test]
fn temporary_files_of_killed_writers_are_cleaned_up() {
    let (_tenant, env) = v2_env(TenantSpec::default(), "");
    let stale = [
        env.kube_dir().join(".config.4242-17.tmp"),
        env.kube_dir().join(".runai-profiles.yaml.4242-18.tmp"),
    ];
    for file in &stale {
        write_private(file, "client-secret: copy-left-by-kill-9");
    }
    env.run(&["setup"]).ok();
    env.run(&["profile", "set", "acme", "--timeout", "20s"]).ok();
    for file in &stale {
        assert!(!file.exists(), "{} is still there", file.display());
    }
}

#[test]
fn the_process_is_not_dumpable() {
    // Run as another user: the /proc files of a non-dumpable process belong to root,
    // those of a dumpable one to its user. The secret command looks at its parent's.
    let dir = tempfile::tempdir().unwrap();
    chmod(dir.path(), 0o755);
    let home = dir.path().join("home");
    fs::create_dir_all(&home).unwrap();
    let profiles = home.join("runai-profiles.yaml");
    write_private(
        &profiles,
        "profiles:\n- name: a\n  url: https://x\n  client-id: c\n  \
         client-secret-command: [sh, -c, 'stat -c %u /proc/$PPID/environ >&2; exit 1']\n",
    );
    for path in [&home, &profiles] {
        chown(path, OTHER, OTHER);
    }
    let mut cmd = Command::new(crate::support::BIN);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("HOME", &home)
        .args(["get", "--profiles-file", profiles.to_str().unwrap(), "--no-cache"])
        .current_dir(&home);
    run_as(&mut cmd, OTHER, OTHER);
    let run = Run::of(cmd);
    run.failure(2);
    assert!(
        run.error_line().ends_with("failed (exit status: 1): \"0\""),
        "{}",
        run.stderr
    );
}

// 7. Exec credential clients.

#[test]
fn an_empty_exec_info_still_gets_an_exec_credential() {
    let (_tenant, env) = v2_env(TenantSpec::default(), "");
    let run = env.run_with_env(&["get"], &[("KUBERNETES_EXEC_INFO", "")]);
    run.success();
    assert_eq!(run.stdout_json()["apiVersion"], "client.authentication.k8s.io/v1");
    let garbage = env.run_with_env(&["get"], &[("KUBERNETES_EXEC_INFO", "{not json")]);
    garbage.failure(2);
}

#[test]
fn a_lifetime_of_zero_is_an_unknown_expiry() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    for lifetime in [0, -30] {
        let body = json!({"access_token": "opaque-token", "expires_in": lifetime}).to_string();
        tenant.faults(json!([{"path": "/api/v2/token", "body": body, "times": 2}]));
        for _ in 0..2 {
            let run = env.run(&["get", "-o", "exec-credential"]);
            run.success();
            assert!(
                run.stdout_json()["status"].get("expirationTimestamp").is_none(),
                "{}",
                run.stdout
            );
        }
    }
    assert_eq!(
        tenant.token_requests().len(),
        4,
        "a token of unknown lifetime is not cached"
    );
}

#[test]
fn doctor_flags_users_written_without_the_output() {
    let (_tenant, mut env) = v2_env(TenantSpec::default(), "");
    env.install_plugin();
    write_private(
        &env.kubeconfig(),
        &format!(
            "apiVersion: v1\nkind: Config\nusers:\n- name: old\n  user:\n    exec:\n      apiVersion: \
             client.authentication.k8s.io/v1\n      command: kubectl-runai_token\n      args: [get, --profile, acme, \
             --profiles-file, {}]\n",
            env.profiles_file().display()
        ),
    );
    let run = env.run(&["doctor"]);
    assert!(
        run.stdout.contains("warn  kubeconfig      user \"old\"")
            && run.stdout.contains("does not ask for --output exec-credential"),
        "{}",
        run.stdout
    );
    env.run(&["setup", "--user", "old"]).ok();
    let again = env.run(&["doctor"]);
    assert!(!again.stdout.contains("does not ask for --output"), "{}", again.stdout);
}

// 8. Standard descriptors the plugin was not given as expected. It starts at the C
// entry point (src/main.rs), so what Rust's own start-up did is its job.

/// A reader that went away (`get | head -c0`) is no error: no signal death, no
/// message, exit 0.
#[test]
fn a_closed_pipe_on_stdout_is_not_an_error() {
    let (_tenant, env) = v2_env(TenantSpec::default(), "");
    env.run(&["get"]).ok();
    let mut cmd = env.plugin(&["get", "-o", "exec-credential"]);
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(0), "{:?}", output.status);
    assert_eq!(String::from_utf8_lossy(&output.stderr), "");
}
