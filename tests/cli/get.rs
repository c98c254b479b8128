//! `get` against the realm: every generation, every output.

use crate::support::{TenantSpec, TestEnv, jwt_claims, realm};

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

/// `2006-01-02T15:04:05Z` to seconds since the epoch: an oracle written apart from the
/// program's own formatter, so the tests never check it against itself.
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

/// Seconds since the epoch to `2006-01-02T15:04:05Z` (the inverse of [`parse_utc`]).
pub fn parse_utc_inverse(seconds: i64) -> String {
    let days = seconds.div_euclid(86_400);
    let secs = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[test]
fn utc_helpers_agree() {
    for text in ["1970-01-01T00:00:00Z", "2006-01-02T15:04:05Z", "2000-02-29T23:59:59Z"] {
        assert_eq!(parse_utc_inverse(parse_utc(text)), text);
    }
}
