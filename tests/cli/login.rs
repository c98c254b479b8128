//! Signing in as a person (docs/login.md), against the realm's real OpenID Connect
//! servers (oidc-provider: password, refresh with rotation, PKCE, device flow,
//! revocation), Run:ai's JSON endpoint of the realm, a real browser
//! (tests/realm/browser.mjs: Chromium) and real kubectl.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::Value;

use crate::support::realm::{USER_CLIENT, User};
use crate::support::{Run, Tenant, TenantSpec, TestEnv, jwt_claims, kubectls, realm, write_private};

/// A profile `alice` for the tenant's first user, with `extra` keys.
fn user_profile(tenant: &Tenant, extra: &str) -> String {
    let mut yaml = format!(
        "apiVersion: runai-token/v1\nkind: Profiles\ncurrent-profile: alice\nprofiles:\n- name: alice\n  url: {}\n  \
         client-id: {USER_CLIENT}\n  username: {}\n",
        tenant.url,
        tenant.user().username
    );
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        yaml.push_str("  ");
        yaml.push_str(line.trim());
        yaml.push('\n');
    }
    yaml
}

/// A test world with the profile `alice` (with `extra` keys) logged in with the
/// password grant.
fn logged_in(tenant: &Tenant, extra: &str) -> TestEnv {
    let env = TestEnv::new();
    env.write_profiles(&user_profile(tenant, extra));
    login_with_password(&env, tenant.user());
    env
}

/// Runs the plugin with `input` on its stdin.
fn run_with_stdin(env: &TestEnv, args: &[&str], input: &str) -> Run {
    let mut cmd = env.plugin(args);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(input.as_bytes()).unwrap();
    Run::from_output(child.wait_with_output().unwrap(), format!("{args:?}"))
}

fn login_with_password(env: &TestEnv, user: &User) -> Run {
    let run = run_with_stdin(env, &["login", "--password-stdin"], &format!("{}\n", user.password));
    assert_eq!(run.code, 0, "login: {}", run.stderr);
    run
}

fn session_file(env: &TestEnv) -> PathBuf {
    let found: Vec<PathBuf> = fs::read_dir(env.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".session"))
        .collect();
    assert_eq!(found.len(), 1, "one session: {found:?}");
    found[0].clone()
}

fn session(env: &TestEnv) -> Value {
    serde_json::from_str(&fs::read_to_string(session_file(env)).unwrap()).unwrap()
}

fn refresh_token(env: &TestEnv) -> String {
    session(env)["refreshToken"].as_str().unwrap().to_owned()
}

/// Redeems `refresh` at `url` directly (a form endpoint): the server's status.
fn redeem(url: &str, refresh: &str) -> u16 {
    let body = format!("grant_type=refresh_token&client_id={USER_CLIENT}&refresh_token={refresh}");
    let output = Command::new("curl")
        .args([
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-X",
            "POST",
            "--data",
            &body,
            url,
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).parse().unwrap()
}

/// The four generations a person signs in with the password grant: `auth` lines and
/// the endpoint a refresh token can be redeemed at directly (`None` for v1's JSON).
fn generations(tenant: &Tenant) -> Vec<(&'static str, String, Option<String>)> {
    let keycloak_token = format!("{}/protocol/openid-connect/token", tenant.issuer);
    vec![
        (
            "v2",
            "auth: v2".to_owned(),
            Some(format!("{}/api/v2/token", tenant.url)),
        ),
        ("v1", "auth: v1".to_owned(), None),
        (
            "keycloak",
            format!("auth: keycloak\nrealm: {}", tenant.realm),
            Some(keycloak_token),
        ),
        (
            "issuer",
            format!(
                "token-url: {}/token\nissuer: {}",
                tenant.plain_issuer, tenant.plain_issuer
            ),
            Some(format!("{}/token", tenant.plain_issuer)),
        ),
    ]
}

#[test]
fn the_password_grant_then_silent_renewal_with_a_rotated_refresh_token_for_each_generation() {
    let tenant = realm().tenant(TenantSpec::default());
    for (name, auth, direct) in generations(&tenant) {
        let env = TestEnv::new();
        env.write_profiles(&user_profile(&tenant, &format!("grant: password\n{auth}")));
        let before = tenant.grants().len();
        let login = login_with_password(&env, tenant.user());
        assert!(
            login
                .stdout
                .contains("Logged in to profile \"alice\" as alice@acme.com"),
            "{name}: {}",
            login.stdout
        );
        assert_eq!(login.stderr, "", "{name}");
        // Every output, from the cache.
        let token = env.run(&["get"]).ok().stdout.trim().to_owned();
        assert_eq!(jwt_claims(&token)["preferred_username"], "alice@acme.com", "{name}");
        let exec = env.run(&["get", "-o", "exec-credential"]).ok().stdout_json();
        assert_eq!(exec["status"]["token"], token.as_str(), "{name}");
        let json = env.run(&["get", "-o", "json"]).ok().stdout_json();
        assert_eq!(json["accessToken"], token.as_str(), "{name}: {json}");
        assert_eq!(
            tenant.grants()[before..],
            ["password"],
            "{name}: one password request, then hits"
        );

        // The access token "expires" (renewed within --min-validity): one refresh
        // request, no prompt, and the refresh token is replaced by the rotated one.
        let first = refresh_token(&env);
        let renewed = env.run(&["get", "--min-validity", "2h"]).ok().stdout.trim().to_owned();
        assert_ne!(renewed, token, "{name}");
        assert_eq!(tenant.grants()[before..], ["password", "refresh_token"], "{name}");
        let second = refresh_token(&env);
        assert_ne!(first, second, "{name}: the rotated refresh token replaces the old one");
        // The next renewal uses the new one: the old one is spent at the server.
        env.run(&["get", "--min-validity", "2h"]).ok();
        assert_eq!(
            tenant.grants()[before..],
            ["password", "refresh_token", "refresh_token"],
            "{name}"
        );
        if let Some(url) = direct {
            assert_eq!(redeem(&url, &first), 400, "{name}: the first refresh token is spent");
        }
    }
}

#[test]
fn without_a_session_and_without_a_terminal_get_says_login_and_opens_no_browser() {
    let tenant = realm().tenant(TenantSpec::default());
    let mut env = TestEnv::new();
    env.write_profiles(&user_profile(
        &tenant,
        &format!("grant: authorization-code\nissuer: {}", tenant.plain_issuer),
    ));
    // The platform opener, replaced by one that counts its invocations.
    let bin = env.kube_dir().join("opener");
    fs::create_dir_all(&bin).unwrap();
    let count = env.kube_dir().join("opened");
    write_private(
        &bin.join("xdg-open"),
        &format!("#!/bin/sh\necho \"$1\" >> {}\n", count.display()),
    );
    make_executable(&bin.join("xdg-open"));
    env.prepend_path(&bin);
    for info in [
        None,
        Some(
            r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":false}}"#,
        ),
        Some(r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":true}}"#),
    ] {
        let run = match info {
            Some(info) => env.run_with_env(&["get"], &[("KUBERNETES_EXEC_INFO", info)]),
            None => env.run(&["get"]),
        };
        run.failure(3);
        assert_eq!(run.error_line(), "error: profile \"alice\" is not logged in");
        assert_eq!(run.hint_line(), Some("hint: kubectl runai-token login -p alice"));
        assert_eq!(run.stdout, "");
    }
    assert!(
        !count.exists(),
        "the browser was opened: {:?}",
        fs::read_to_string(&count)
    );
    assert!(
        tenant.requests().iter().all(|r| r["listener"] != "tenant"),
        "nothing was sent"
    );
}

#[cfg(unix)]
fn make_executable(path: &Path) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).unwrap();
}

#[test]
fn a_refused_refresh_token_is_deleted_and_login_is_needed() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = logged_in(&tenant, "grant: password\nauth: v2");
    // The realm ends every session (Keycloak's "revoke sessions").
    tenant.revoke();
    let run = env.run(&["get", "--min-validity", "2h"]);
    run.failure(3);
    assert_eq!(
        run.error_line(),
        "error: the session of profile \"alice\" has ended (its refresh token was refused)"
    );
    assert_eq!(run.hint_line(), Some("hint: kubectl runai-token login -p alice"));
    assert!(
        !fs::read_dir(env.cache_dir())
            .unwrap()
            .any(|e| e.unwrap().path().to_string_lossy().ends_with(".session")),
        "the refused session is deleted"
    );
    // A new login starts afresh.
    login_with_password(&env, tenant.user());
    env.run(&["get", "--min-validity", "2h"]).ok();
}

#[test]
fn logout_deletes_the_session_and_the_issuer_revokes_its_refresh_token() {
    let tenant = realm().tenant(TenantSpec::default());
    let env = logged_in(
        &tenant,
        &format!("grant: password\nauth: keycloak\nrealm: {}", tenant.realm),
    );
    let refresh = refresh_token(&env);
    // `cache list` shows who is logged in, never a token.
    let list = env.run(&["cache", "list"]).ok().stdout.clone();
    assert!(
        list.lines()
            .any(|l| l.starts_with("alice ") && l.contains("alice@acme.com") && l.contains("password")),
        "{list}"
    );
    assert!(!list.contains(&refresh), "{list}");
    let run = env.run(&["logout"]).ok().stdout.clone();
    assert_eq!(
        run,
        "Logged out of profile \"alice\". The issuer revoked its refresh token.\n"
    );
    assert!(fs::read_dir(env.cache_dir()).unwrap().all(|e| {
        let name = e.unwrap().file_name().to_string_lossy().into_owned();
        !name.ends_with(".session") && !name.ends_with(".json")
    }));
    let token_url = format!("{}/protocol/openid-connect/token", tenant.issuer);
    assert_eq!(
        redeem(&token_url, &refresh),
        400,
        "the server sees the refresh token revoked"
    );
    assert!(
        tenant
            .requests()
            .iter()
            .any(|r| r["path"].as_str().unwrap().ends_with("/revoke"))
    );
    let again = env.run(&["get"]);
    again.failure(3);
    assert_eq!(
        env.run(&["logout"]).ok().stdout,
        "Profile \"alice\" was not logged in.\n"
    );
}

#[test]
fn sixteen_kubectl_processes_with_an_expired_access_token_make_one_refresh_request() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]).kube());
    let mut env = TestEnv::new();
    env.install_plugin();
    env.write_profiles(&user_profile(&tenant, "grant: password\nauth: v2"));
    env.write_cluster(&tenant);
    env.setup_runai_context(&[]);
    let kubeconfig = fs::read_to_string(env.kubeconfig()).unwrap();
    assert!(kubeconfig.contains("interactiveMode: IfAvailable"), "{kubeconfig}");
    login_with_password(&env, tenant.user());
    // The access token is gone; the session stays.
    for entry in fs::read_dir(env.cache_dir()).unwrap() {
        let path = entry.unwrap().path();
        if path.to_string_lossy().ends_with(".json") {
            fs::remove_file(path).unwrap();
        }
    }
    let before = tenant.grants().len();
    let kubectl = kubectls().pop().unwrap();
    let children: Vec<_> = (0..16)
        .map(|_| {
            env.command(&kubectl)
                .args(["get", "--raw", "/version"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    }
    assert_eq!(
        tenant.grants()[before..],
        ["refresh_token"],
        "exactly one refresh request"
    );
}

#[test]
fn a_wrong_password_is_exit_3_and_shows_no_password() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    env.write_profiles(&user_profile(&tenant, "grant: password\nauth: v2"));
    let wrong = format!("{}-wrong", tenant.user().password);
    let plain = run_with_stdin(&env, &["login", "--password-stdin"], &format!("{wrong}\n"));
    plain.failure(3);
    assert!(
        plain
            .error_line()
            .contains("rejected the sign-in of client \"runai-cli\""),
        "{}",
        plain.stderr
    );
    assert_eq!(
        plain.hint_line(),
        Some("hint: check the username and password, then run: kubectl runai-token login -p alice")
    );
    let run = run_with_stdin(&env, &["-vvv", "login", "--password-stdin"], &format!("{wrong}\n"));
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        !run.stderr.contains(&wrong) && !run.stdout.contains(&wrong),
        "{}",
        run.stderr
    );
    let encoded: String = url_encode(&wrong);
    assert!(!run.stderr.contains(&encoded), "{}", run.stderr);
}

fn url_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => char::from(b).to_string(),
            b' ' => "+".to_owned(),
            other => format!("%{other:02X}"),
        })
        .collect()
}

/// Every command of a session at -vvv: no password, refresh token or access token in
/// any output.
#[test]
fn no_secret_of_a_session_is_shown_at_any_verbosity() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2", "v1", "keycloak"]));
    for auth in ["auth: v2", "auth: v1"] {
        let env = TestEnv::new();
        env.write_profiles(&user_profile(&tenant, &format!("grant: password\n{auth}")));
        let password = tenant.user().password.clone();
        let mut runs = vec![run_with_stdin(
            &env,
            &["-vvv", "login", "--password-stdin"],
            &format!("{password}\n"),
        )];
        let refresh = refresh_token(&env);
        let token = env.run(&["get"]).ok().stdout.trim().to_owned();
        runs.push(env.run(&["-vvv", "get", "--min-validity", "2h"]));
        let renewed_refresh = refresh_token(&env);
        let renewed = env.run(&["get"]).ok().stdout.trim().to_owned();
        runs.push(env.run(&["-vvv", "cache", "list"]));
        runs.push(env.run(&["-vvv", "logout"]));
        for run in &runs {
            assert_eq!(run.code, 0, "{auth}: {}", run.stderr);
            for secret in [&password, &refresh, &renewed_refresh, &renewed, &token] {
                assert!(
                    !run.stderr.contains(secret.as_str()),
                    "{auth}: stderr shows a secret: {}",
                    run.stderr
                );
            }
            for secret in [&password, &refresh, &renewed_refresh] {
                assert!(!run.stdout.contains(secret.as_str()), "{auth}: {}", run.stdout);
                assert!(!run.stderr.contains(&url_encode(secret)), "{auth}: {}", run.stderr);
            }
        }
    }
}

/// `auth: auto` finds a person's endpoint as it finds an application's: on a Run:ai
/// 2.20-2.23 (v1 only), the password goes to /api/v2/token (absent), then /api/v1/token.
#[test]
fn auth_auto_finds_the_endpoint_for_a_person_too() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v1"]));
    let env = logged_in(&tenant, "grant: password");
    let paths: Vec<String> = tenant.token_requests();
    assert_eq!(paths, ["/api/v2/token", "/api/v1/token"], "{paths:?}");
    assert_eq!(session(&env)["generation"], "v1");
    env.run(&["get", "--min-validity", "2h"]).ok();
    assert_eq!(
        tenant.token_requests().last().map(String::as_str),
        Some("/api/v1/token")
    );
    assert_eq!(tenant.grants().last().map(String::as_str), Some("refresh_token"));
}

/// `doctor` on a person's profile: the issuer's discovery, the session, and whether
/// its refresh token still works.
#[test]
fn doctor_checks_the_session_and_its_refresh_token() {
    let tenant = realm().tenant(TenantSpec::default());
    let env = TestEnv::new();
    env.write_profiles(&user_profile(
        &tenant,
        &format!("grant: device-code\nissuer: {}", tenant.plain_issuer),
    ));
    let before = env.run(&["doctor"]);
    assert_ne!(before.code, 0);
    assert!(
        before.stdout.contains("issuer") && before.stdout.contains("an OpenID Connect discovery document"),
        "{}",
        before.stdout
    );
    assert!(
        before.stdout.contains("profile \"alice\" is not logged in"),
        "{}",
        before.stdout
    );

    // A session made by the password grant at the same issuer's token endpoint.
    env.write_profiles(&user_profile(
        &tenant,
        &format!(
            "grant: password\ntoken-url: {}/token\nissuer: {}",
            tenant.plain_issuer, tenant.plain_issuer
        ),
    ));
    login_with_password(&env, tenant.user());
    let refreshes = tenant.grants().iter().filter(|g| *g == "refresh_token").count();
    let after = env.run(&["doctor"]);
    assert!(after.stdout.contains("alice@acme.com logged in at"), "{}", after.stdout);
    assert!(after.stdout.contains("works: renewed"), "{}", after.stdout);
    assert_eq!(
        tenant.grants().iter().filter(|g| *g == "refresh_token").count(),
        refreshes + 1
    );
    // A refresh token the issuer no longer takes fails the check.
    tenant.revoke();
    let ended = env.run(&["doctor"]);
    assert_ne!(ended.code, 0);
    assert!(
        ended.stdout.contains("is not logged in") || ended.stdout.contains("has ended"),
        "{}",
        ended.stdout
    );
}

/// `profile set` writes a person's profile: the new keys, and no secret needed.
#[test]
fn profile_set_makes_a_persons_profile() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    let url = tenant.url.clone();
    env.run(&[
        "profile",
        "set",
        "alice",
        "--url",
        &url,
        "--client-id",
        USER_CLIENT,
        "--auth",
        "v2",
        "--grant",
        "password",
        "--username",
        "alice@acme.com",
        "--scopes",
        "openid,offline_access",
        "--listen-address",
        "127.0.0.1:0",
    ])
    .ok();
    let text = fs::read_to_string(env.profiles_file()).unwrap();
    for line in [
        "grant: password",
        "username: alice@acme.com",
        "- offline_access",
        "- 127.0.0.1:0",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
    assert!(!text.contains("client-secret"), "{text}");
    login_with_password(&env, tenant.user());
    let bad = env.run(&["profile", "set", "alice", "--listen-address", "0.0.0.0:8000"]);
    bad.failure(2);
    assert!(bad.error_line().contains("is not a loopback address"), "{}", bad.stderr);
    let app_only = env.run(&["profile", "set", "alice", "--grant", "client-credentials"]);
    app_only.failure(2);
}

/// The first free `listen-address` wins: a taken port is passed over.
#[test]
fn the_first_free_listen_address_is_used() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let tenant = realm().tenant(TenantSpec::default());
    let env = TestEnv::new();
    env.write_profiles(&user_profile(
        &tenant,
        &format!(
            "grant: authorization-code\nissuer: {}\nlisten-address: ['127.0.0.1:{port}', '127.0.0.1:0']",
            tenant.plain_issuer
        ),
    ));
    let run = env.run(&["login", "--no-browser", "--timeout", "1s"]);
    assert_eq!(run.code, 3, "{}", run.stderr);
    let redirect = run
        .stderr
        .split("redirect_uri=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .unwrap_or_default()
        .to_owned();
    assert!(redirect.starts_with("http%3A%2F%2F127.0.0.1%3A"), "{}", run.stderr);
    assert!(
        !redirect.contains(&format!("%3A{port}%2F")),
        "the taken port {port} was used: {redirect}"
    );
    drop(taken);
}

/// `inspect` reads a person's token through the session, and `logout --all` ends
/// every session, revoking each refresh token at its issuer.
#[test]
fn inspect_shows_the_person_and_logout_all_revokes_every_session() {
    let tenant = realm().tenant(TenantSpec::default());
    let env = logged_in(
        &tenant,
        &format!("grant: password\nauth: keycloak\nrealm: {}", tenant.realm),
    );
    let refresh = refresh_token(&env);
    let inspect = env.run(&["inspect"]).ok().stdout.clone();
    assert!(inspect.contains("alice@acme.com"), "{inspect}");
    let out = env.run(&["logout", "--all"]).ok().stdout.clone();
    assert_eq!(
        out,
        "Logged out of 1 session(s); the issuer revoked 1 refresh token(s).\n"
    );
    let token_url = format!("{}/protocol/openid-connect/token", tenant.issuer);
    assert_eq!(redeem(&token_url, &refresh), 400, "revoked");
    env.run(&["get"]).failure(3);
}

/// `--no-cache` skips the cached token, not the cache directory's trust rules: a
/// session is never read from, nor renewed in, a directory others may write.
#[cfg(unix)]
#[test]
fn no_cache_renews_a_session_only_in_a_trusted_directory() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = logged_in(&tenant, "grant: password\nauth: v2");
    env.run(&["get", "--no-cache"]).ok();
    assert_eq!(tenant.grants().last().map(String::as_str), Some("refresh_token"));
    crate::support::unix::chmod(&env.cache_dir(), 0o777);
    let run = env.run(&["get", "--no-cache"]);
    run.failure(2);
    assert!(
        run.error_line().contains("is writable by others") || run.error_line().contains("writable"),
        "{}",
        run.stderr
    );
}
