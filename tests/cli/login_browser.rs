//! Signing in in a browser (docs/login.md#in-the-browser): a real Chromium
//! (tests/realm/browser.mjs) completes the authorization-code and device flows on the
//! realm's login pages, and real kubectl then runs through the user `setup` wrote;
//! a scripted "browser" probes the loopback listener.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::support::realm::USER_CLIENT;
use crate::support::{Run, Tenant, TenantSpec, TestEnv, kubectls, poll, realm, write_private};

fn browser_script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/realm/browser.mjs")
}

/// A profile `alice` with `grant` at the tenant's plain issuer, listening on any port.
fn browser_env(tenant: &Tenant, grant: &str) -> (TestEnv, PathBuf) {
    let mut env = TestEnv::new();
    env.write_profiles(&format!(
        "apiVersion: runai-token/v1\nkind: Profiles\ncurrent-profile: alice\nprofiles:\n- name: alice\n  url: {}\n  \
         client-id: {USER_CLIENT}\n  grant: {grant}\n  issuer: {}\n  listen-address: ['127.0.0.1:0']\n",
        tenant.url, tenant.plain_issuer
    ));
    let opened = env.kube_dir().join("browser.log");
    env.env("REALM_BROWSER_USER", &tenant.user().username)
        .env("REALM_BROWSER_PASSWORD", &tenant.user().password)
        .env("REALM_BROWSER_LOG", &opened.to_string_lossy());
    (env, opened)
}

fn browser_command() -> String {
    format!("node {}", browser_script().display())
}

/// What `-vvv` shows of a browser or device sign-in: the requests' secret fields only
/// as `[redacted]` (the code, the PKCE verifier, the device code, the refresh token),
/// and neither the access token nor the refresh token the session holds.
fn assert_no_secret_at_wire_level(run: &Run, env: &TestEnv) {
    let text = &run.stderr;
    assert!(text.contains("POST"), "-vvv shows the requests: {text}");
    for field in [
        "code",
        "code_verifier",
        "device_code",
        "refresh_token",
        "client_secret",
        "password",
    ] {
        for (at, _) in text.match_indices(&format!("{field}=")) {
            let before = text[..at].chars().last();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue;
            }
            let value: String = text[at + field.len() + 1..]
                .chars()
                .take_while(|c| !matches!(c, '&' | ' ' | '\n' | '"'))
                .collect();
            assert_eq!(value, "%5Bredacted%5D", "{field} shown at -vvv: {text}");
        }
    }
    let session = fs::read_dir(env.cache_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".session"))
        .expect("a session");
    let session: Value = serde_json::from_str(&fs::read_to_string(session).unwrap()).unwrap();
    let refresh = session["refreshToken"].as_str().unwrap();
    assert!(!text.contains(refresh), "the refresh token at -vvv: {text}");
    let token = Run::of(env.plugin(&["get"])).stdout.trim().to_owned();
    assert!(
        !token.is_empty() && !text.contains(&token),
        "the access token at -vvv: {text}"
    );
}

fn invocations(log: &Path) -> usize {
    fs::read_to_string(log).map(|t| t.lines().count()).unwrap_or(0)
}

#[test]
fn a_real_browser_signs_in_with_pkce_and_kubectl_runs_as_the_person() {
    let tenant = realm().tenant(TenantSpec::default().kube());
    let (mut env, opened) = browser_env(&tenant, "authorization-code");
    env.install_plugin();
    let login = Run::of(env.plugin(&["-vvv", "login", "--browser-command", &browser_command()]));
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert_no_secret_at_wire_level(&login, &env);
    assert!(
        login
            .stdout
            .starts_with("Logged in to profile \"alice\" as alice@acme.com."),
        "{}",
        login.stdout
    );
    assert_eq!(invocations(&opened), 1);
    let grants = tenant.grants();
    assert_eq!(grants, ["authorization_code"], "one code exchange");
    let authorize = tenant
        .requests()
        .into_iter()
        .find(|r| r["path"] == "/oidc/auth")
        .expect("the browser asked the issuer to sign in");
    assert_eq!(authorize["method"], "GET");

    env.write_cluster(&tenant);
    env.setup_runai_context(&[]);
    let all = kubectls();
    let mut versions = vec![all[0].clone()];
    if all.len() > 1 {
        versions.push(all[all.len() - 1].clone());
    }
    for kubectl in versions {
        let output = env.command(&kubectl).args(["auth", "whoami"]).output().unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success(),
            "{}: {}",
            kubectl.display(),
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(stdout.contains("alice@acme.com"), "{}: {stdout}", kubectl.display());
    }
    // kubectl used the session's token: no new sign-in, no browser.
    assert_eq!(invocations(&opened), 1);
    assert_eq!(tenant.grants(), ["authorization_code"]);
}

#[test]
fn a_real_browser_enters_the_device_code() {
    let tenant = realm().tenant(TenantSpec::default());
    let (env, opened) = browser_env(&tenant, "device-code");
    let login = Run::of(env.plugin(&["-vvv", "login", "--browser-command", &browser_command()]));
    assert_eq!(login.code, 0, "{}", login.stderr);
    assert_no_secret_at_wire_level(&login, &env);
    assert!(login.stdout.contains("as alice@acme.com"), "{}", login.stdout);
    assert!(login.stderr.contains("Your code: "), "{}", login.stderr);
    assert_eq!(invocations(&opened), 1);
    let grants = tenant.grants();
    assert_eq!(
        grants.last().map(String::as_str),
        Some("urn:ietf:params:oauth:grant-type:device_code")
    );
    assert!(
        grants
            .iter()
            .all(|g| g == "urn:ietf:params:oauth:grant-type:device_code")
    );
    // The session renews as any other.
    env.run(&["get", "--min-validity", "2h"]).ok();
    assert_eq!(tenant.grants().last().map(String::as_str), Some("refresh_token"));
}

/// A "browser" that probes the loopback listener instead of signing in: it checks
/// the listener is bound to 127.0.0.1 alone, opens a connection that never speaks
/// (the callback must be answered within 5 s all the same), sends one callback with `state`
/// (`right` or `wrong`) and a made-up code, then tries a second one. What it saw is
/// written as JSON to `out`.
fn probe(env: &TestEnv, which: &str) -> (Run, Value) {
    let script = env.kube_dir().join("probe.py");
    let out = env.kube_dir().join("probe.json");
    write_private(
        &script,
        &format!(
            r#"import json, socket, sys, urllib.parse, urllib.request, urllib.error
query = urllib.parse.parse_qs(urllib.parse.urlsplit(sys.argv[1]).query)
redirect = query["redirect_uri"][0]
state = query["state"][0] if "{which}" == "right" else "not-the-state"
port = urllib.parse.urlsplit(redirect).port
listening = []
for line in open("/proc/net/tcp").read().splitlines()[1:] + open("/proc/net/tcp6").read().splitlines()[1:]:
    local, st = line.split()[1], line.split()[3]
    if st == "0A" and int(local.rsplit(":", 1)[1], 16) == port:
        listening.append(local.rsplit(":", 1)[0])
# A spare connection that never speaks, as browsers keep: the callback must not wait for it.
idle = socket.create_connection(("127.0.0.1", port))
def call():
    try:
        with urllib.request.urlopen(redirect + "?" + urllib.parse.urlencode({{"code": "made-up", "state": state}}), timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError as e:
        return str(e)
first = call()
second = call()
report = json.dumps({{"redirect": redirect, "listening": listening, "first": first, "second": second}})
open("{out}.part", "w").write(report)
import os
os.rename("{out}.part", "{out}")
"#,
            out = out.display()
        ),
    );
    let run = Run::of(env.plugin(&["login", "--browser-command", &format!("python3 {}", script.display())]));
    // The plugin may be done before the probe's second call: wait for its report.
    let seen = poll(Duration::from_secs(20), "the probe's report", || {
        serde_json::from_str::<Value>(&fs::read_to_string(&out).ok()?).ok()
    });
    (run, seen)
}

#[test]
fn the_loopback_listener_takes_one_callback_on_127_0_0_1_with_this_sign_ins_state() {
    let tenant = realm().tenant(TenantSpec::default());
    let (env, _) = browser_env(&tenant, "authorization-code");

    let (run, seen) = probe(&env, "wrong");
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert_eq!(
        run.stderr.lines().last(),
        Some("hint: kubectl runai-token login -p alice")
    );
    assert!(
        run.stderr.contains(
            "error: the browser's redirect does not carry this sign-in's state: refused (a stale tab, or a forged \
             request)"
        ),
        "{}",
        run.stderr
    );
    assert_eq!(seen["first"], 400, "{seen}");
    assert!(
        seen["redirect"].as_str().unwrap().starts_with("http://127.0.0.1:"),
        "{seen}"
    );
    assert_eq!(
        seen["listening"],
        serde_json::json!(["0100007F"]),
        "127.0.0.1 only: {seen}"
    );
    assert!(
        seen["second"].is_string(),
        "a second callback must not be served: {seen}"
    );

    // The right state with a code the issuer never gave: the callback is taken, the
    // listener is gone, and the issuer refuses the code.
    let (run, seen) = probe(&env, "right");
    assert_eq!(seen["first"], 200, "{seen}");
    // Refused, reset or closed unanswered: not served (no HTTP status).
    assert!(
        seen["second"].is_string(),
        "a second callback must not be served: {seen}"
    );
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(run.stderr.contains("rejected the sign-in"), "{}", run.stderr);
    assert!(!run.stderr.contains("made-up"), "the code is not shown: {}", run.stderr);
}

#[test]
fn the_wait_for_the_browser_is_bounded() {
    let tenant = realm().tenant(TenantSpec::default());
    let (env, _) = browser_env(&tenant, "authorization-code");
    let run = Run::of(env.plugin(&["login", "--no-browser", "--timeout", "1s"]));
    assert_eq!(run.code, 3, "{}", run.stderr);
    assert!(
        run.stderr.contains("/oidc/auth?response_type=code"),
        "the URL is printed: {}",
        run.stderr
    );
    assert!(
        run.stderr
            .contains("error: the browser sign-in did not come back in time (waited 1s)"),
        "{}",
        run.stderr
    );
    assert_eq!(
        run.stderr.lines().last(),
        Some("hint: kubectl runai-token login -p alice")
    );
}

/// Under kubectl with a terminal (`KUBERNETES_EXEC_INFO` says `interactive: true`,
/// stdin and stderr are a terminal: `script` gives it one), `get` signs the person in
/// itself, through the platform's opener (here one that runs the real browser), and
/// answers with the ExecCredential.
#[cfg(unix)]
#[test]
fn get_signs_in_where_a_person_can_answer() {
    let tenant = realm().tenant(TenantSpec::default());
    let (mut env, opened) = browser_env(&tenant, "authorization-code");
    let bin = env.kube_dir().join("opener");
    fs::create_dir_all(&bin).unwrap();
    let opener = bin.join("xdg-open");
    write_private(&opener, &format!("#!/bin/sh\nexec {} \"$1\"\n", browser_command()));
    crate::support::unix::chmod(&opener, 0o755);
    env.prepend_path(&bin);
    let out = env.kube_dir().join("credential.json");
    let info =
        r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","spec":{"interactive":true}}"#;
    env.env("KUBERNETES_EXEC_INFO", info);
    let mut cmd = env.command("script");
    cmd.args([
        "-qec",
        &format!("{} get > {}", crate::support::BIN, out.display()),
        "/dev/null",
    ]);
    let run = Run::of(cmd);
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    let credential: Value = serde_json::from_str(&fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(credential["kind"], "ExecCredential", "{credential}");
    assert_eq!(invocations(&opened), 1);
    assert_eq!(tenant.grants(), ["authorization_code"]);
}
