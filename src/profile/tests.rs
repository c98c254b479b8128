//! Unit tests of the profiles file: parsing, resolution and secret sources.

use std::path::PathBuf;
use std::time::Duration;

use super::parse::parse;
use super::resolve::check_url;
use super::*;
use crate::paths::Env;

const FULL: &str = "\
apiVersion: runai-token/v1
kind: Profiles
current-profile: acme-admin
profiles:
- name: acme-admin
  url: https://acme.run.ai
  api: admin
  researcher-url: https://gpu1.acme.com
  auth: auto
  realm: acme
  token-url: https://sso.acme.com/token
  client-id: ci-bot
  client-secret-env: ACME_SECRET
  token-field: access_token
  scope: openid
  certificate-authority: ca.pem
  certificate-authority-data: LS0t
  insecure-skip-tls-verify: false
  timeout: 30s
- name: local
  url: http://127.0.0.1:8080/
  client-id: dev
  client-secret: inline-secret
";

fn loaded(text: &str) -> LoadedFile {
    LoadedFile {
        path: PathBuf::from("/etc/kube/runai-profiles.yaml"),
        file: parse(text).ok().unwrap(),
        text: text.to_owned(),
    }
}

#[test]
fn parses_every_key_of_the_spec() {
    let file = loaded(FULL);
    let env = Env::from_pairs([("ACME_SECRET", " s3cret\n")]);
    let profile = file.select(None).unwrap();
    let resolved = file.resolve(profile, &env).unwrap();
    assert_eq!(resolved.name, "acme-admin");
    assert_eq!(resolved.url, "https://acme.run.ai");
    assert_eq!(resolved.api, Api::Admin);
    assert_eq!(resolved.researcher_url.as_deref(), Some("https://gpu1.acme.com"));
    assert_eq!(resolved.token_url.as_deref(), Some("https://sso.acme.com/token"));
    assert_eq!(resolved.secret().unwrap().expose(), "s3cret");
    assert_eq!(resolved.secret_source, SecretSource::Env("ACME_SECRET".into()));
    assert_eq!(resolved.tls.ca_file, Some(PathBuf::from("/etc/kube/ca.pem")));
    assert_eq!(resolved.tls.ca_data.as_deref(), Some("LS0t"));
    assert_eq!(resolved.timeout, Duration::from_secs(30));
    assert_eq!(resolved.scope, "openid");
}

#[test]
fn defaults_apply() {
    let file = loaded(FULL);
    let resolved = file.resolve(file.find("local").unwrap(), &Env::from_pairs([])).unwrap();
    assert_eq!(resolved.url, "http://127.0.0.1:8080");
    assert_eq!(
        (resolved.api, resolved.auth, resolved.token_field),
        (Api::Admin, AuthMode::Auto, TokenField::AccessToken)
    );
    assert_eq!(resolved.timeout, DEFAULT_TIMEOUT);
    assert!(matches!(resolved.secret_source, SecretSource::Inline(_)));
}

#[test]
fn unknown_keys_name_the_key_and_line() {
    let err = parse("profiles:\n- name: a\n  url: https://x\n  client-id: c\n  clientsecret: s\n")
        .err()
        .unwrap();
    assert_eq!(
        err.message,
        "unknown key \"clientsecret\" in profiles[0] at line 5 column 3"
    );
    assert!(err.hint.unwrap().starts_with("valid keys here: name, url, api,"));
    let err = parse("apiVersion: runai-token/v1\nkinds: Profiles\n").err().unwrap();
    assert_eq!(err.message, "unknown key \"kinds\" at line 2 column 1");
}

#[test]
fn bad_values_name_the_line() {
    let text = "profiles:\n- name: a\n  client-id: c\n  url: http://acme.run.ai\n  client-secret-env: X\n";
    let err = loaded(text)
        .resolve(loaded(text).find("a").unwrap(), &Env::from_pairs([("X", "y")]))
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/kube/runai-profiles.yaml line 4: profile \"a\": url: \"http://acme.run.ai\" must be https:// \
         (plain http is allowed only for loopback hosts)"
    );
    let err = parse("profiles:\n- name: a\n  url: https://x\n  client-id: c\n  auth: v3\n")
        .err()
        .unwrap();
    assert!(
        err.message.starts_with("profiles[0].auth: unknown variant `v3`"),
        "{}",
        err.message
    );
}

#[test]
fn loopback_urls_may_be_http() {
    for ok in [
        "https://a.b",
        "http://127.0.0.1:1",
        "http://127.8.9.1",
        "http://[::1]:80",
        "http://localhost",
    ] {
        assert!(check_url(ok).is_ok(), "{ok}");
    }
    for bad in ["http://10.0.0.1", "ftp://x", "https://u:p@x", "nope", "https://x/?a=b"] {
        assert!(check_url(bad).is_err(), "{bad}");
    }
    // Credentials in a URL are refused without being quoted.
    assert_eq!(
        check_url("https://u:hunter22@x/?q=1").unwrap_err(),
        "\"https://x/?q=1\" must not contain credentials"
    );
}

#[test]
fn selection_rules() {
    let two = "profiles:\n- {name: a, url: 'https://x', client-id: c, client-secret-env: X}\n\
               - {name: b, url: 'https://x', client-id: c, client-secret-env: X}\n";
    let file = loaded(two);
    assert_eq!(file.select(Some("b")).unwrap().name, "b");
    let err = file.select(Some("zz")).unwrap_err();
    assert_eq!(
        err.to_string(),
        "profile \"zz\" not found in /etc/kube/runai-profiles.yaml (known profiles: a, b)"
    );
    let err = file.select(None).unwrap_err();
    assert!(err.to_string().starts_with("no profile selected"), "{err}");
    let one = loaded("profiles:\n- {name: solo, url: 'https://x', client-id: c, client-secret-env: X}\n");
    assert_eq!(one.select(None).unwrap().name, "solo");
}

#[test]
fn exactly_one_secret_source() {
    let none = loaded("profiles:\n- {name: a, url: 'https://x', client-id: c}\n");
    let err = none.resolve(none.find("a").unwrap(), &Env::from_pairs([])).unwrap_err();
    assert_eq!(
        err.to_string(),
        "/etc/kube/runai-profiles.yaml: profile \"a\" has no secret source"
    );
    let two =
        loaded("profiles:\n- {name: a, url: 'https://x', client-id: c, client-secret: s, client-secret-env: X}\n");
    let err = two.resolve(two.find("a").unwrap(), &Env::from_pairs([])).unwrap_err();
    assert!(
        err.to_string()
            .contains("has 2 secret sources (client-secret, client-secret-env)"),
        "{err}"
    );
    let unset = loaded("profiles:\n- {name: a, url: 'https://x', client-id: c, client-secret-env: NOPE}\n");
    let err = unset
        .resolve(unset.find("a").unwrap(), &Env::from_pairs([]))
        .unwrap_err();
    assert!(
        err.to_string().ends_with("client-secret-env: $NOPE is not set"),
        "{err}"
    );
}

#[cfg(unix)]
#[test]
fn secret_command_runs_without_a_shell() {
    let file = loaded(
        "profiles:\n- name: a\n  url: https://x\n  client-id: c\n  client-secret-command: [echo, ' from-command ']\n",
    );
    let resolved = file.resolve(file.find("a").unwrap(), &Env::from_pairs([])).unwrap();
    assert_eq!(resolved.secret().unwrap().expose(), "from-command");
    let failing = loaded(
        "profiles:\n- name: a\n  url: https://x\n  client-id: c\n  client-secret-command: [sh, -c, 'echo nope >&2; exit 3']\n",
    );
    let resolved = failing.resolve(failing.find("a").unwrap(), &Env::from_pairs([]));
    let err = resolved.unwrap().secret().unwrap_err();
    assert!(
        format!("{err:#}").ends_with("failed (exit status: 3): \"nope\""),
        "{err:#}"
    );
}

#[cfg(unix)]
#[test]
fn a_secret_command_is_bounded_and_scrubbed() {
    let slow = loaded(
        "profiles:\n- name: a\n  url: https://x\n  client-id: c\n  timeout: 200ms\n  client-secret-command: [sleep, '5']\n",
    );
    let started = std::time::Instant::now();
    let resolved = slow.resolve(slow.find("a").unwrap(), &Env::from_pairs([])).unwrap();
    let err = resolved.secret().unwrap_err();
    assert!(
        format!("{err:#}").ends_with("\"sleep\" did not finish within 200ms"),
        "{err:#}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "the command was killed at the timeout"
    );
    let leaky = loaded(
        "profiles:\n- name: a\n  url: https://x\n  client-id: c\n  client-secret-command: [sh, -c, 'printf \"line1\\nsecret-two\\n\"; echo secret-two >&2; exit 1']\n",
    );
    let resolved = leaky.resolve(leaky.find("a").unwrap(), &Env::from_pairs([]));
    let err = resolved.unwrap().secret().unwrap_err();
    assert!(
        format!("{err:#}").ends_with("failed (exit status: 1): \"[redacted]\""),
        "{err:#}"
    );
}

#[test]
fn a_secret_command_that_prints_without_end_is_cut_off() {
    let endless =
        loaded("profiles:\n- name: a\n  url: https://x\n  client-id: c\n  client-secret-command: [yes, abc]\n");
    let resolved = endless.resolve(endless.find("a").unwrap(), &Env::from_pairs([]));
    let err = resolved.unwrap().secret().unwrap_err();
    assert!(
        format!("{err:#}").ends_with("\"yes\" printed more than 16 KiB: a client secret is a short string"),
        "{err:#}"
    );
}

#[test]
fn a_byte_order_mark_is_accepted_and_deep_nesting_refused() {
    let file = parse("\u{feff}apiVersion: runai-token/v1\nkind: Profiles\n")
        .ok()
        .unwrap();
    assert_eq!(file.kind, KIND);
    let deep = format!("profiles: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
    let err = parse(&deep).err().unwrap();
    assert!(
        err.message.contains("nesting this deep is not supported"),
        "{}",
        err.message
    );
}

#[test]
fn credentials_in_urls_are_refused_unquoted() {
    assert_eq!(
        check_url("https://u:hunter22@x/?q=1").unwrap_err(),
        "\"https://x/?q=1\" must not contain credentials"
    );
    assert!(!check_url("https://u:hunter22@[bad").unwrap_err().contains("hunter22"));
}

#[test]
fn keycloak_needs_a_realm() {
    let file = loaded("profiles:\n- {name: a, url: 'https://x', client-id: c, client-secret: s, auth: keycloak}\n");
    let err = file.resolve(file.find("a").unwrap(), &Env::from_pairs([])).unwrap_err();
    assert!(
        err.to_string().ends_with("realm: auth: keycloak needs a realm"),
        "{err}"
    );
}

#[test]
fn saving_round_trips_and_keeps_only_written_keys() {
    let file = parse(FULL).ok().unwrap();
    let text = serde_yaml::to_string(&file).unwrap();
    assert_eq!(parse(&text).ok().unwrap().profiles.len(), 2);
    assert!(text.contains("client-secret: inline-secret"));
    assert!(!text.contains("api: null"), "unset keys are left out:\n{text}");
}

#[test]
fn key_line_finds_keys_in_block_entries() {
    assert_eq!(key_line(FULL, "acme-admin", "timeout"), Some(19));
    assert_eq!(key_line(FULL, "local", "client-id"), Some(22));
    // A key the entry lacks points at the entry's name.
    assert_eq!(key_line(FULL, "local", "realm"), Some(20));
}

/// A cache hit must not run the user's password manager: a command source runs
/// only when the secret is asked for.
#[cfg(unix)]
#[test]
fn a_secret_command_runs_only_when_the_secret_is_needed() {
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("ran");
    let file = loaded(&format!(
        "profiles:\n- name: a\n  url: https://x\n  client-id: c\n  client-secret-command: [sh, -c, 'touch {}; echo s3cret']\n",
        marker.display()
    ));
    let resolved = file.resolve(file.find("a").unwrap(), &Env::from_pairs([])).unwrap();
    assert!(resolved.loaded_secret().is_none());
    let identity = resolved.secret_identity();
    assert!(!marker.exists(), "resolving ran the command");
    assert_eq!(resolved.secret().unwrap().expose(), "s3cret");
    assert!(marker.exists());
    assert_eq!(
        resolved.secret_identity(),
        identity,
        "the key does not depend on the output"
    );
}

/// A grandchild that keeps the pipes open must not hold the plugin past the timeout.
#[cfg(unix)]
#[test]
fn a_secret_commands_background_child_does_not_outlive_the_timeout() {
    let file = loaded(
        "profiles:\n- name: a\n  url: https://x\n  client-id: c\n  timeout: 500ms\n  client-secret-command: [sh, -c, 'echo s3cret; sleep 5 &']\n",
    );
    let started = std::time::Instant::now();
    let resolved = file.resolve(file.find("a").unwrap(), &Env::from_pairs([])).unwrap();
    let result = resolved.secret().map(|s| s.expose().clone());
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(format!("{:#}", result.unwrap_err()).ends_with("did not finish within 500ms"));
}
