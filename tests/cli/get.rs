//! `get` against the realm: every generation, every output.

use serde_json::json;

use crate::support::{Tenant, TenantSpec, TestEnv, jwt_claims, realm};

/// A token from each of the four generations, asked for explicitly.
#[test]
fn a_token_from_each_generation() {
    for (auth, endpoint, expiry_from_response) in [
        ("v2", "/api/v2/token", true),
        ("v1", "/api/v1/token", true),
        ("app-token", "/api/v1/token", false),
        ("keycloak", "/auth/realms/acme/protocol/openid-connect/token", true),
    ] {
        let tenant = realm().tenant(TenantSpec::default().endpoints(&[auth]).ttl(1800));
        let env = TestEnv::new();
        env.write_profiles(&tenant.profile("acme", &format!("auth: {auth}")));
        let run = env.run(&["get", "-o", "json"]);
        run.success();
        let json = run.stdout_json();
        let token = json["accessToken"].as_str().unwrap();
        let claims = jwt_claims(token);
        assert_eq!(claims["azp"], "ci-bot", "{auth}");
        assert_eq!(claims["iss"], tenant.issuer.as_str(), "{auth}");
        assert_eq!(claims["realm_access"]["roles"][0], "Administrator", "{auth}");
        let exp = claims["exp"].as_i64().unwrap();
        let expires_at = json["expiresAt"].as_str().unwrap();
        let expires_at = parse_utc(expires_at);
        if expiry_from_response {
            // expires_in counts from when the request was sent: within a few seconds of exp.
            assert!(
                (exp - expires_at).abs() <= 5,
                "{auth}: exp {exp} vs expiresAt {expires_at}"
            );
        } else {
            assert_eq!(
                expires_at, exp,
                "{auth}: app-token gives no lifetime: the JWT exp is the expiry"
            );
        }
        assert_eq!(json["source"], "server");
        assert_eq!(json["profile"], "acme");
        assert_eq!(json["api"], "admin");
        assert_eq!(json["apiUrl"], tenant.url.as_str());
        assert_eq!(tenant.token_requests(), [endpoint], "{auth}");
        let request = &tenant.requests()[0];
        assert_eq!(
            request["userAgent"],
            format!("kubectl-runai-token/{}", env!("CARGO_PKG_VERSION"))
        );
    }
}

/// Without expires_in the expiry comes from the JWT's exp.
#[test]
fn expiry_falls_back_to_the_jwt_exp() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]).no_expires_in().ttl(900));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", "auth: v2"));
    let run = env.run(&["get", "-o", "json"]);
    run.success();
    let json = run.stdout_json();
    let exp = jwt_claims(json["accessToken"].as_str().unwrap())["exp"]
        .as_i64()
        .unwrap();
    assert_eq!(parse_utc(json["expiresAt"].as_str().unwrap()), exp);
}

#[test]
fn every_output_format() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let mut env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", "auth: v2\nresearcher-url: https://gpu1.acme.example"));

    let token = env.run(&["get"]);
    token.success();
    let lines: Vec<&str> = token.stdout.lines().collect();
    assert_eq!(lines.len(), 1);
    let value = lines[0];
    assert_eq!(value.split('.').count(), 3, "a JWT");

    let header = env.run(&["get", "-o", "header"]);
    header.success();
    assert!(header.stdout.starts_with("Authorization: Bearer ey") && header.stdout.ends_with('\n'));
    assert_eq!(header.stdout.lines().count(), 1);

    let shell = env.run(&["get", "-o", "env"]);
    shell.success();
    let shell_lines: Vec<&str> = shell.stdout.lines().collect();
    assert_eq!(shell_lines.len(), 2, "{}", shell.stdout);
    assert!(shell_lines[0].starts_with("export RUNAI_TOKEN='ey") && shell_lines[0].ends_with('\''));
    assert_eq!(shell_lines[1], format!("export RUNAI_API_URL='{}'", tenant.url));

    // api: researcher hands out the Researcher API's URL.
    env.write_profiles(&tenant.profile(
        "acme",
        "auth: v2\napi: researcher\nresearcher-url: https://gpu1.acme.example",
    ));
    let researcher = env.run(&["get", "-o", "env"]);
    researcher.success();
    assert_eq!(
        researcher.stdout.lines().nth(1),
        Some("export RUNAI_API_URL='https://gpu1.acme.example'")
    );
    env.write_profiles(&tenant.profile("acme", "auth: v2\nresearcher-url: https://gpu1.acme.example"));

    let exec = env.run(&["get", "-o", "exec-credential"]);
    exec.success();
    assert_exec_credential(&exec.stdout, "client.authentication.k8s.io/v1");

    let beta = env.run(&[
        "get",
        "-o",
        "exec-credential",
        "--exec-api-version",
        "client.authentication.k8s.io/v1beta1",
    ]);
    beta.success();
    assert_exec_credential(&beta.stdout, "client.authentication.k8s.io/v1beta1");

    // KUBERNETES_EXEC_INFO makes exec-credential the default and names the version.
    env.env(
        "KUBERNETES_EXEC_INFO",
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1beta1","spec":{"interactive":false}}"#,
    );
    let negotiated = env.run(&["get", "--exec-api-version", "v1"]);
    negotiated.success();
    assert_exec_credential(&negotiated.stdout, "client.authentication.k8s.io/v1beta1");
    let forced = env.run(&["get", "-o", "token"]);
    forced.success();
    assert_eq!(forced.stdout.lines().count(), 1);
    assert!(!forced.stdout.contains('{'));
}

/// The exact shape of docs/commands.md#get: one line, these keys in this order.
fn assert_exec_credential(stdout: &str, version: &str) {
    assert_eq!(stdout.lines().count(), 1, "exactly one line: {stdout}");
    let value: serde_json::Value = serde_json::from_str(stdout).unwrap();
    let token = value["status"]["token"].as_str().unwrap();
    let expiry = value["status"]["expirationTimestamp"].as_str().unwrap();
    assert_eq!(
        stdout,
        format!(
            "{{\"apiVersion\":\"{version}\",\"kind\":\"ExecCredential\",\"status\":{{\"token\":\"{token}\",\"expirationTimestamp\":\"{expiry}\"}}}}\n"
        )
    );
    assert_eq!(expiry.len(), 20, "YYYY-MM-DDTHH:MM:SSZ: {expiry}");
    assert!(expiry.ends_with('Z'));
}

/// Profile selection through $RUNAI_PROFILE and -p, and the only-profile rule.
#[test]
fn profile_selection() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    let client = tenant.client();
    let yaml = format!(
        "profiles:\n- name: one\n  url: {u}\n  auth: v2\n  client-id: {c}\n  client-secret: {s}\n- name: two\n  url: {u}\n  auth: v2\n  client-id: nobody\n  client-secret: wrong\n",
        u = tenant.url,
        c = client.id,
        s = client.secret
    );
    env.write_profiles(&yaml);
    env.run(&["get"]).failure(2);
    env.run(&["get", "-p", "one"]).success();
    env.run_with_env(&["get"], &[("RUNAI_PROFILE", "one")]).success();
    // The flag wins over the variable.
    env.run_with_env(&["get", "-p", "one"], &[("RUNAI_PROFILE", "two")])
        .success();
    env.run_with_env(&["get"], &[("RUNAI_PROFILE", "two")]).failure(3);
}

/// `--profiles-file` and `$RUNAI_PROFILES_FILE`, and the file beside `$KUBECONFIG`.
#[test]
fn profiles_file_location() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    let elsewhere = env.dir.path().join("elsewhere.yaml");
    crate::support::write_private(&elsewhere, &tenant.profile("acme", "auth: v2"));
    env.run(&["get"]).failure(2);
    env.run(&["get", "--profiles-file", elsewhere.to_str().unwrap()])
        .success();
    env.run_with_env(&["get"], &[("RUNAI_PROFILES_FILE", elsewhere.to_str().unwrap())])
        .success();
    let kube_dir = env.dir.path().join("kube-a");
    crate::support::write_private(
        &kube_dir.join("runai-profiles.yaml"),
        &tenant.profile("acme", "auth: v2"),
    );
    let list = std::env::join_paths([kube_dir.join("config"), env.kubeconfig()]).unwrap();
    env.run_with_env(&["get"], &[("KUBECONFIG", list.to_str().unwrap())])
        .success();
}

/// Instants whose RFC 3339 form is known without computing it (each checked with
/// `date -u -d @N`): the epoch, the leap day of a year divisible by 400, an ordinary
/// leap day, a century year that is no leap year, the last second with a four-digit
/// year (the plugin clamps later expiries to it), and the minute before the last two
/// (an ExecCredential's expiry, `--min-validity 60s` early).
const KNOWN_DATES: [(i64, &str); 8] = [
    (0, "1970-01-01T00:00:00Z"),
    (951_782_400, "2000-02-29T00:00:00Z"),
    (1_136_214_245, "2006-01-02T15:04:05Z"),
    (1_709_164_800, "2024-02-29T00:00:00Z"),
    (4_102_444_800, "2100-01-01T00:00:00Z"),
    (4_102_444_740, "2099-12-31T23:59:00Z"),
    (253_402_300_799, "9999-12-31T23:59:59Z"),
    (253_402_300_739, "9999-12-31T23:58:59Z"),
];

/// A tenant whose token endpoint answers twice with an unsigned JWT expiring at `exp`
/// and no `expires_in`, so the plugin's expiry is exactly `exp`.
fn tenant_with_token_expiring_at(exp: i64) -> Tenant {
    use base64::Engine;
    let b64 = |json: serde_json::Value| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json.to_string());
    let jwt = format!(
        "{}.{}.c2lnbmF0dXJl",
        b64(json!({"alg": "ES256", "typ": "JWT"})),
        b64(json!({"sub": "ci-bot", "exp": exp}))
    );
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let body = json!({"access_token": jwt, "token_type": "Bearer"}).to_string();
    tenant.faults(json!([{"path": "/api/v2/token", "times": 2, "body": body}]));
    tenant
}

/// The plugin writes known instants as their known text, in `-o json` and in the
/// ExecCredential, and clamps an expiry past year 9999 to its last second.
#[test]
fn expiry_is_written_as_rfc3339_utc_for_known_dates() {
    // (the JWT's exp, expiresAt, the ExecCredential's expirationTimestamp)
    for (exp, expires_at, exec_expiry) in [
        // Already past: the ExecCredential carries the real expiry, not a minute before.
        (0, "1970-01-01T00:00:00Z", "1970-01-01T00:00:00Z"),
        (951_782_400, "2000-02-29T00:00:00Z", "2000-02-29T00:00:00Z"),
        (1_709_164_800, "2024-02-29T00:00:00Z", "2024-02-29T00:00:00Z"),
        // Ahead: the ExecCredential expires --min-validity (60s) early.
        (4_102_444_800, "2100-01-01T00:00:00Z", "2099-12-31T23:59:00Z"),
        (253_402_300_799, "9999-12-31T23:59:59Z", "9999-12-31T23:58:59Z"),
        // Past year 9999: clamped, so clients can parse it.
        (253_402_300_800, "9999-12-31T23:59:59Z", "9999-12-31T23:58:59Z"),
    ] {
        let tenant = tenant_with_token_expiring_at(exp);
        let env = TestEnv::new();
        env.write_profiles(&tenant.profile("acme", "auth: v2"));
        let json = env.run(&["get", "-o", "json", "--no-cache"]);
        json.success();
        assert_eq!(json.stdout_json()["expiresAt"], expires_at, "exp {exp}");
        let exec = env.run(&["get", "-o", "exec-credential", "--no-cache"]);
        exec.success();
        assert_exec_credential(&exec.stdout, "client.authentication.k8s.io/v1");
        let value: serde_json::Value = serde_json::from_str(&exec.stdout).unwrap();
        assert_eq!(value["status"]["expirationTimestamp"], exec_expiry, "exp {exp}");
    }
}

/// `2006-01-02T15:04:05Z` to seconds since the epoch, for the tests that compare the
/// plugin's expiry with a JWT's `exp`. Pinned to [`KNOWN_DATES`], not to the
/// program's formatter (src/time.rs only formats; this only reads).
pub fn parse_utc(text: &str) -> i64 {
    let num = |r: std::ops::Range<usize>| text[r].parse::<i64>().unwrap();
    let (y, m, d) = (num(0..4), num(5..7), num(8..10));
    let (hh, mm, ss) = (num(11..13), num(14..16), num(17..19));
    let y2 = if m <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let doy = (153 * ((m + 9) % 12) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    days * 86_400 + hh * 3600 + mm * 60 + ss
}

#[test]
fn parse_utc_reads_known_dates() {
    for (seconds, text) in KNOWN_DATES {
        assert_eq!(parse_utc(text), seconds, "{text}");
    }
}
