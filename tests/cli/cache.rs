//! The token cache: one request for any number of processes, renewal, corruption,
//! locks left by killed processes, unwritable directories, modes.

use std::process::Stdio;
use std::time::Duration;

use serde_json::json;

use crate::get::parse_utc;
#[cfg(unix)]
use crate::support::unix::mode;
use crate::support::{Run, TenantSpec, poll, v2_env};

#[test]
fn a_second_get_makes_no_request_and_force_refresh_makes_one() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let first = env.run(&["get", "-o", "json"]);
    first.success();
    assert_eq!(first.stdout_json()["source"], "server");
    let second = env.run(&["get", "-o", "json"]);
    second.success();
    assert_eq!(second.stdout_json()["source"], "cache");
    assert_eq!(second.stdout_json()["accessToken"], first.stdout_json()["accessToken"]);
    assert_eq!(tenant.token_requests().len(), 1);

    let forced = env.run(&["get", "-o", "json", "--force-refresh"]);
    forced.success();
    assert_eq!(forced.stdout_json()["source"], "server");
    assert_eq!(tenant.token_requests().len(), 2);
    // The forced token replaced the cached one.
    let after = env.run(&["get", "-o", "json"]);
    assert_eq!(after.stdout_json()["accessToken"], forced.stdout_json()["accessToken"]);
    assert_eq!(tenant.token_requests().len(), 2);

    env.run(&["get", "--no-cache"]).success();
    assert_eq!(tenant.token_requests().len(), 3);
    let still = env.run(&["get", "-o", "json"]);
    assert_eq!(
        still.stdout_json()["accessToken"],
        forced.stdout_json()["accessToken"],
        "--no-cache wrote nothing"
    );
}

#[test]
fn a_token_within_min_validity_is_renewed() {
    // Tokens live 100 s.
    let (tenant, env) = v2_env(TenantSpec::default().ttl(100), "");
    env.run(&["get"]).success();
    // 100 s left > 60 s (the default): a hit.
    env.run(&["get"]).success();
    assert_eq!(tenant.token_requests().len(), 1);
    // Asking for 150 s of validity renews it.
    let renewed = env.run(&["get", "-o", "json", "--min-validity", "150s"]);
    renewed.success();
    assert_eq!(renewed.stdout_json()["source"], "server");
    assert_eq!(tenant.token_requests().len(), 2);
}

#[test]
fn the_exec_credential_expires_min_validity_early() {
    let (_tenant, env) = v2_env(TenantSpec::default().ttl(3600), "");
    let json = env.run(&["get", "-o", "json"]);
    json.success();
    let expires_at = parse_utc(json.stdout_json()["expiresAt"].as_str().unwrap());
    for (flag, margin) in [("60s", 60), ("5m", 300)] {
        let exec = env.run(&["get", "-o", "exec-credential", "--min-validity", flag]);
        exec.success();
        let value: serde_json::Value = serde_json::from_str(&exec.stdout).unwrap();
        let expiration = parse_utc(value["status"]["expirationTimestamp"].as_str().unwrap());
        assert_eq!(expiration, expires_at - margin, "--min-validity {flag}");
    }
}

#[test]
fn thirty_two_processes_make_one_request() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let children: Vec<_> = (0..32)
        .map(|_| {
            let mut cmd = env.plugin(&["get", "-o", "exec-credential"]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    let outputs: Vec<Run> = children
        .into_iter()
        .map(|c| Run::from_output(c.wait_with_output().unwrap(), "get".into()))
        .collect();
    for run in &outputs {
        run.success();
    }
    assert!(
        outputs.iter().all(|r| r.stdout == outputs[0].stdout),
        "every process prints the same token"
    );
    assert_eq!(tenant.token_requests().len(), 1);
}

#[test]
fn a_killed_lock_holder_does_not_block_the_next_process() {
    let (tenant, env) = v2_env(TenantSpec::default(), "timeout: 60s");
    tenant.faults(json!([{"path": "/api/v2/token", "hang": true}]));
    let mut holder = env
        .plugin(&["get"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // It holds the lock from before its request until it dies.
    poll(Duration::from_secs(10), "the hung token request", || {
        (!tenant.requests().is_empty()).then_some(())
    });
    holder.kill().unwrap();
    holder.wait().unwrap();
    let next = env.run(&["get", "-v"]);
    next.ok();
    assert!(!next.stderr.contains("still locked"), "{}", next.stderr);
    assert_eq!(tenant.token_requests().len(), 2);
    env.run(&["get", "-o", "json"]).success();
    assert_eq!(tenant.token_requests().len(), 2, "and its token was cached");
}

#[test]
fn a_lock_held_too_long_means_fetching_without_caching() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    // Find the lock file's name: one get creates it.
    env.run(&["get", "--force-refresh"]).success();
    let lock = std::fs::read_dir(env.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "lock"))
        .expect("a lock file");
    let held = std::fs::OpenOptions::new().write(true).open(&lock).unwrap();
    held.lock().unwrap();
    // The 10 s wait, shortened through the variable kept for tests.
    let run = env.run_with_env(
        &["get", "-v", "--force-refresh", "-o", "json"],
        &[("RUNAI_TOKEN_TEST_LOCK_WAIT", "300ms")],
    );
    run.ok();
    run.stderr_has("is still locked after 300ms: fetching without caching");
    assert_eq!(tenant.token_requests().len(), 2);
    drop(held);
    let cached = env.run(&["get", "-o", "json"]);
    assert_ne!(
        cached.stdout_json()["accessToken"],
        run.stdout_json()["accessToken"],
        "the uncached token was not stored"
    );
}

#[test]
fn a_corrupt_entry_is_replaced_silently() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    env.run(&["get"]).success();
    let entry = std::fs::read_dir(env.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "json"))
        .expect("an entry");
    for garbage in [&b"{\"format\":1,\"profile\":\"ac"[..], b"\x00\xff garbage", b""] {
        std::fs::write(&entry, garbage).unwrap();
        env.run(&["get"]).success();
        let replaced: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&entry).unwrap()).expect("a valid entry again");
        assert_eq!(replaced["profile"], "acme");
    }
    assert_eq!(tenant.token_requests().len(), 4);
}

#[test]
fn an_unwritable_cache_dir_still_yields_a_token() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let blocker = env.dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let cache_dir = blocker.join("cache");
    let quiet = env.run(&["get", "--cache-dir", cache_dir.to_str().unwrap()]);
    quiet.success();
    let noisy = env.run(&["get", "-v", "--cache-dir", cache_dir.to_str().unwrap()]);
    noisy.ok();
    noisy.stderr_has("fetching without caching");
    assert_eq!(noisy.stdout.lines().count(), 1);
    assert_eq!(tenant.token_requests().len(), 2);
}

#[cfg(unix)]
#[test]
fn modes_are_0600_and_0700() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    env.write_profiles(&tenant.profile("acme", "")); // auth: auto remembers the endpoint too
    env.run(&["get"]).success();
    assert_eq!(mode(&env.cache_dir()), 0o700);
    let mut files = 0;
    for item in walk(&env.cache_dir()) {
        if item.is_dir() {
            assert_eq!(mode(&item), 0o700, "{}", item.display());
        } else {
            assert_eq!(mode(&item), 0o600, "{}", item.display());
            files += 1;
        }
    }
    assert_eq!(files, 4, "entry, lock, remembered endpoint, kept parse");
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for item in std::fs::read_dir(dir).unwrap() {
        let path = item.unwrap().path();
        if path.is_dir() {
            out.extend(walk(&path));
        }
        out.push(path);
    }
    out
}

#[test]
fn rotating_the_secret_misses_the_cache() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    env.run(&["get"]).success();
    let mut rotated = tenant.client().clone();
    rotated.secret = format!("{}-rotated", rotated.secret);
    tenant.put_client(&rotated);
    env.write_profiles(
        &tenant
            .profile("acme", "auth: v2")
            .replace(&tenant.client().secret, &rotated.secret),
    );
    env.run(&["get"]).success();
    assert_eq!(tenant.token_requests().len(), 2);
}

#[test]
fn an_unknown_expiry_is_handed_out_but_not_cached() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let opaque = json!({"path": "/api/v2/token", "body": "{\"access_token\":\"opaque-token-value\",\"token_type\":\"Bearer\"}", "times": 2});
    tenant.faults(json!([opaque]));
    for _ in 0..2 {
        let run = env.run(&["get", "-o", "exec-credential"]);
        run.success();
        assert_eq!(
            run.stdout,
            "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"opaque-token-value\"}}\n"
        );
    }
    assert_eq!(tenant.token_requests().len(), 2);
}

#[test]
fn cache_list_and_clear() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let empty = env.run(&["cache", "list"]);
    empty.success();
    assert_eq!(
        empty.stdout,
        format!("no cached tokens in {}\n", env.cache_dir().display())
    );
    let token = env.run(&["get"]);
    token.success();
    let list = env.run(&["cache", "list"]);
    list.success();
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", list.stdout);
    assert!(lines[0].starts_with("PROFILE   ENDPOINT"), "{}", list.stdout);
    assert!(
        lines[1].starts_with(&format!("acme      {}   v2     ci-bot      20", tenant.url)),
        "{}",
        list.stdout
    );
    assert!(
        lines[1].ends_with("(in 1h0m)") || lines[1].contains("(in 59m"),
        "{}",
        lines[1]
    );
    assert!(!list.stdout.contains(token.stdout.trim()));

    let clear = env.run(&["cache", "clear"]);
    clear.success();
    assert_eq!(clear.stdout, "deleted 1 cached token of profile \"acme\"\n");
    env.run(&["get"]).success();
    assert_eq!(tenant.token_requests().len(), 2);
    let all = env.run(&["cache", "clear", "--all"]);
    all.success();
    assert_eq!(all.stdout, "deleted 1 cached token\n");
    // Only the empty lock files stay: another process may hold one.
    let left: Vec<_> = walk(&env.cache_dir())
        .into_iter()
        .filter(|p| {
            p.is_file() && !(p.to_string_lossy().ends_with(".lock") && std::fs::metadata(p).unwrap().len() == 0)
        })
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

/// The profiles file's parse is kept in the cache directory while the file is
/// unchanged (src/cache/parsed.rs): the next `get` reads it instead of the YAML, and
/// the first `get` after a change sees the change.
#[test]
#[cfg(unix)]
fn an_unchanged_profiles_file_is_parsed_once_and_a_change_is_seen_at_once() {
    let tenant = crate::support::realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = crate::support::TestEnv::new();
    let client = tenant.client();
    let secret_file = env.dir.path().join("client-secret");
    crate::support::write_private(&secret_file, &client.secret);
    let source = format!("client-secret-file: {}", secret_file.display());
    let yaml = crate::support::profile_yaml("acme", &tenant, &client.id, &source, "auth: v2");
    env.write_profiles(&yaml);

    env.run(&["get", "-v"]).ok().stderr_has("parsing it");
    let kept_dir = env.cache_dir().join("profiles");
    let kept: Vec<_> = std::fs::read_dir(&kept_dir)
        .unwrap_or_else(|e| panic!("{}: {e}", kept_dir.display()))
        .map(|item| item.unwrap().path())
        .collect();
    assert_eq!(kept.len(), 1, "one copy per profiles file: {kept:?}");
    assert_eq!(mode(&kept[0]), 0o600);
    assert_eq!(mode(&kept_dir), 0o700);
    let text = std::fs::read_to_string(&kept[0]).unwrap();
    assert!(text.contains("client-secret-file"), "the copy is the parse: {text}");
    assert!(!text.contains(&client.secret), "no secret in the copy");

    let hit = env.run(&["get", "-v"]);
    hit.ok().stderr_has("unchanged since parsed");
    assert_eq!(tenant.token_requests().len(), 1);

    // The next get sees a change: here, a client the realm does not know.
    env.write_profiles(&yaml.replace(&format!("client-id: {}", client.id), "client-id: nobody"));
    let changed = env.run(&["get", "-v"]);
    changed.stderr_has("parsing it");
    assert_ne!(changed.code, 0, "the changed profile was used");
    assert_eq!(tenant.token_requests().len(), 2);

    // An inline secret is kept as where it lies in the file, never as the secret.
    // The same secret inline: the same cache entry, a hit.
    env.write_profiles(&tenant.profile("acme", "auth: v2"));
    env.run(&["get", "-v"]).ok().stderr_has("parsing it");
    let text = std::fs::read_to_string(&kept[0]).unwrap();
    assert!(!text.contains("nobody"), "the copy is of the new file: {text}");
    assert!(!text.contains(&client.secret), "no secret in the copy: {text}");
    env.run(&["get", "-v"]).ok().stderr_has("unchanged since parsed");
    assert_eq!(tenant.token_requests().len(), 2);
    // The secret a kept parse reads back from the file is the one the realm knows.
    env.run(&["get", "--force-refresh", "-v"])
        .ok()
        .stderr_has("unchanged since parsed");
    assert_eq!(tenant.token_requests().len(), 3);
    // A rotated inline secret is a change, and a miss.
    let mut rotated = client.clone();
    rotated.secret = format!("{}-rotated", client.secret);
    tenant.put_client(&rotated);
    let source = format!("client-secret: {}", rotated.secret);
    env.write_profiles(&crate::support::profile_yaml(
        "acme", &tenant, &client.id, &source, "auth: v2",
    ));
    env.run(&["get", "-v"]).ok().stderr_has("parsing it");
    assert_eq!(tenant.token_requests().len(), 4);
    env.run(&["get", "-v"]).ok().stderr_has("unchanged since parsed");
    assert_eq!(tenant.token_requests().len(), 4);

    env.run(&["cache", "clear", "--all"]).success();
    assert_eq!(
        std::fs::read_dir(&kept_dir).unwrap().count(),
        0,
        "cache clear --all removes the copies"
    );

    // --no-cache neither reads nor writes it.
    crate::support::write_private(&secret_file, &rotated.secret);
    env.write_profiles(&yaml);
    let no_cache = env.run(&["get", "--no-cache", "-v"]);
    no_cache.ok();
    assert!(!no_cache.stderr.contains("parsed") && !no_cache.stderr.contains("parsing it"));
    assert_eq!(std::fs::read_dir(&kept_dir).unwrap().count(), 0);
}
