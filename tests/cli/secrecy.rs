//! No secret and no token in any output, at any verbosity, on success and failure.

use serde_json::json;

use crate::support::{Run, TenantSpec, TestEnv, realm, shows_base64_jwt, shows_jwt};

/// The token in `get`'s output, whatever the format.
fn printed_token(stdout: &str) -> String {
    let line = stdout.lines().next().unwrap_or_default();
    if let Ok(json) = serde_json::from_str::<serde_json::Value>(line) {
        let token = json["accessToken"].as_str().or(json["status"]["token"].as_str());
        return token.unwrap_or_default().to_owned();
    }
    let line = line.strip_prefix("Authorization: Bearer ").unwrap_or(line);
    let line = line
        .strip_prefix("export RUNAI_TOKEN='")
        .map(|l| l.trim_end_matches('\''))
        .unwrap_or(line);
    line.trim().to_owned()
}

/// Asserts that `run` shows neither `secret` nor any token: not the token it printed
/// (when stdout may hold one), not any JWT (every realm token is one).
fn assert_clean(run: &Run, secret: &str, stdout_may_hold_token: bool) {
    let token = printed_token(&run.stdout);
    if stdout_may_hold_token {
        assert!(
            token.len() > 20,
            "no token found in the output of {}:\n{}",
            run.what,
            run.stdout
        );
    }
    let token = token.as_str();
    for (name, text) in [("stderr", &run.stderr), ("stdout", &run.stdout)] {
        assert!(!text.contains(secret), "{name} shows the secret:\n{}\n{text}", run.what);
        if name == "stdout" && stdout_may_hold_token {
            continue;
        }
        assert!(!shows_jwt(text), "{name} shows a JWT:\n{}\n{text}", run.what);
        if !token.is_empty() && stdout_may_hold_token {
            assert!(!text.contains(token), "{name} shows the token:\n{text}");
        }
    }
}

#[test]
fn every_command_at_vvv_on_success() {
    for endpoints in [&["v2"][..], &["v1"], &["app-token"], &["keycloak"]] {
        let tenant = realm().tenant(TenantSpec::default().endpoints(endpoints).html());
        let env = TestEnv::new();
        let secret = tenant.client().secret.clone();
        env.write_profiles(&tenant.profile("acme", ""));
        for output in ["token", "exec-credential", "json", "header", "env"] {
            let run = env.run(&["get", "-vvv", "-o", output, "--force-refresh"]);
            run.ok();
            // -vvv really shows the exchange (so this test can see a leak).
            run.stderr_has("\nPOST http").stderr_has("< 200 OK");
            assert!(
                run.stderr.contains("[redacted]"),
                "bodies are shown redacted:\n{}",
                run.stderr
            );
            assert_clean(&run, &secret, true);
        }
        // The cache-hit path, and the cache commands.
        let hit = env.run(&["get", "-vvv", "-o", "json"]);
        hit.ok();
        hit.stderr_has("cache: hit");
        assert_eq!(hit.stdout_json()["source"], "cache");
        assert_clean(&hit, &secret, true);
        for args in [
            &["api", "/api/v1/clusters", "-vvv"][..],
            &["api", "/api/v1/echo", "--data", "{}", "-vvv"],
            &["inspect", "-vvv"],
            &["inspect", "-o", "json", "-vvv"],
            &["doctor", "-vvv"],
            &["setup", "-vvv"],
            &["setup", "--dry-run", "-vvv"],
            &["cache", "list", "-vvv"],
            &["cache", "clear", "-vvv"],
            &["profile", "list", "-vvv"],
            &["profile", "show", "acme", "-vvv"],
            &["version", "-vvv"],
            &["completion", "bash", "-vvv"],
        ] {
            let run = env.run(args);
            assert!(run.code == 0 || args[0] == "doctor", "{}: {}", run.what, run.stderr);
            assert_clean(&run, &secret, false);
        }
        let kubeconfig = std::fs::read_to_string(env.kubeconfig()).unwrap();
        assert!(!kubeconfig.contains(&secret) && !shows_jwt(&kubeconfig), "{kubeconfig}");
    }
}

#[test]
fn every_failure_at_vvv() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v1", "v2"]));
    let env = TestEnv::new();
    let secret = tenant.client().secret.clone();
    let profile = tenant.profile("acme", "timeout: 2s\nauth: v2");

    // Rejected: the server got a wrong secret, which must not show either.
    let wrong = "wrong-but-still-secret-42";
    env.write_profiles(&profile.replace(&secret, wrong));
    let run = env.run(&["get", "-vvv"]);
    run.failure_at_verbosity(3);
    assert_clean(&run, wrong, false);

    // Faults that echo what looks like a token back in an error body.
    env.write_profiles(&profile);
    let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2ln";
    tenant.faults(json!([
        {"path": "/api/v2/token", "status": 400, "body": format!("{{\"error\":\"invalid_grant\",\"error_description\":\"token {jwt} expired\"}}")},
        {"path": "/api/v2/token", "status": 503, "times": 3, "body": format!("{{\"code\":503,\"message\":\"{jwt}\"}}")},
        {"path": "/api/v2/token", "status": 200, "body": format!("{{\"access_token\":\"{jwt}")},
    ]));
    for expected in [3, 4, 4] {
        let run = env.run(&["get", "-vvv", "-p", "acme"]);
        run.failure_at_verbosity(expected);
        assert_clean(&run, &secret, false);
    }

    // A secret command that prints the secret and then fails.
    let leaky = profile.replace(
        &format!("client-secret: {secret}"),
        &format!("client-secret-command: [sh, -c, 'echo {secret}; echo {secret} >&2; exit 1']"),
    );
    env.write_profiles(&leaky);
    let run = env.run(&["get", "-vvv"]);
    run.failure_at_verbosity(2);
    assert_clean(&run, &secret, false);

    // The API refusing the token, and API calls that cannot be made.
    env.write_profiles(&profile);
    tenant.faults(json!([{"path": "/api/v1/clusters", "status": 403, "body": format!("{{\"token\":\"{jwt}\"}}")}]));
    let run = env.run(&["api", "/api/v1/clusters", "-vvv"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert_clean(&run, &secret, false);
    let run = env.run(&["api", "--researcher", "/x", "-vvv"]);
    run.failure_at_verbosity(2);
    assert_clean(&run, &secret, false);
    let run = env.run(&["doctor", "-vvv"]);
    assert_eq!(run.code, 1, "doctor fails without a plugin link: {}", run.stdout);
    assert_clean(&run, &secret, false);

    // Usage errors.
    for args in [
        &["get", "-vvv", "-p", "missing"][..],
        &["profile", "show", "nope", "-vvv"],
        &["get", "-vvv", "--bogus"],
    ] {
        let run = env.run(args);
        run.failure_at_verbosity(2);
        assert_clean(&run, &secret, false);
    }
}

impl Run {
    /// The exit code, and nothing on stdout (stderr has -v lines besides the error).
    fn failure_at_verbosity(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "{}\n{}", self.what, self.stderr);
        assert_eq!(self.stdout, "", "{}", self.what);
        assert_eq!(
            self.stderr.lines().filter(|l| l.starts_with("error: ")).count(),
            1,
            "{}",
            self.stderr
        );
        self
    }
}

/// The leak checks look for JWT-shaped words: a random id that happens to hold `eyJ`
/// (a `jti` of the realm once did) is no JWT, and a JWT quoted in any text is one.
#[test]
fn a_jwt_is_a_word_not_a_substring() {
    let jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJlc2ln";
    assert!(shows_jwt(jwt) && shows_jwt(&format!("Bearer {jwt}\n")) && shows_jwt(&format!("\"token\":\"{jwt}\"")));
    assert!(!shows_jwt("\"jti\":\"kaGjJxogCreyJAMCxYxrzPL8wo8viJMdgemReaKaAVK\""));
    assert!(!shows_jwt("eyJhbGciOiJFUzI1NiJ9 alone"));
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(jwt);
    assert!(shows_base64_jwt(&format!("data: {{token: {encoded}}}")));
    assert!(!shows_base64_jwt("tmp dir runai-token-testZXlKab"));
}
