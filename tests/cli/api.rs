//! `api`: the Run:ai API called with the profile's token.

use std::io::Write;
use std::process::Stdio;

use crate::support::{Run, TenantSpec, TestEnv, realm};

#[test]
fn get_prints_the_body_as_it_came() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let run = env.run(&["api", "/api/v1/clusters"]);
    run.success();
    let clusters: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(clusters[0]["name"], "test-cluster");
    assert_eq!(clusters[0]["domain"], tenant.url.as_str());
    let get = env.run(&["api", "GET", "/api/v1/clusters"]);
    get.success();
    assert_eq!(get.stdout, run.stdout);
    let verbose = env.run(&["api", "/api/v1/clusters", "-v"]);
    verbose.ok();
    verbose.stderr_has(&format!("GET {}/api/v1/clusters: 200 OK", tenant.url));
    // The bearer token was checked by the server each time; one token served all.
    let calls: Vec<_> = tenant
        .requests()
        .into_iter()
        .filter(|r| r["path"] == "/api/v1/clusters")
        .collect();
    assert_eq!(calls.len(), 3);
    assert!(calls.iter().all(|c| c["authorization"] == true && c["status"] == 200));
    assert_eq!(tenant.token_requests().len(), 1);
}

#[test]
fn data_headers_and_methods() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let body = env.dir.path().join("project.json");
    std::fs::write(&body, r#"{"name":"team-b"}"#).unwrap();
    let run = env.run(&[
        "api",
        "/api/v1/echo",
        "--data",
        &format!("@{}", body.display()),
        "-H",
        "X-Trace: abc",
    ]);
    run.success();
    let echo: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(echo["method"], "POST");
    assert_eq!(echo["contentType"], "application/json");
    assert_eq!(echo["body"], r#"{"name":"team-b"}"#);
    assert_eq!(echo["headers"]["x-trace"], "abc");

    let mut cmd = env.plugin(&["api", "PUT", "/api/v1/echo", "--data", "-"]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child.stdin.take().unwrap().write_all(br#"{"from":"stdin"}"#).unwrap();
    let run = Run::from_output(child.wait_with_output().unwrap(), "api PUT --data -".into());
    run.success();
    let echo: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        (echo["method"].as_str(), echo["body"].as_str()),
        (Some("PUT"), Some(r#"{"from":"stdin"}"#))
    );

    let delete = env.run(&["api", "delete", "/api/v1/echo"]);
    delete.success();
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&delete.stdout).unwrap()["method"],
        "DELETE"
    );
}

#[test]
fn an_error_status_is_exit_5_with_the_body_on_stderr() {
    // A client without the Administrator or Editor role.
    let tenant = realm().tenant(
        TenantSpec::default()
            .endpoints(&["v2"])
            .only_client("viewer", &["Researcher"]),
    );
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let run = env.run(&["api", "/api/v1/clusters"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert_eq!(run.stdout, "");
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(
        lines,
        [
            r#"{"code":403,"message":"forbidden: missing role"}"#,
            &format!("error: GET {}/api/v1/clusters answered 403 Forbidden", tenant.url),
            "hint: the token lacks a role or scope for this: see kubectl runai-token inspect",
        ]
    );
    let teapot = env.run(&["api", "/api/v1/status/418"]);
    assert_eq!(teapot.code, 5);
    assert!(teapot.stderr.contains("answered 418 I'm a teapot"), "{}", teapot.stderr);
}

#[test]
fn a_revoked_cached_token_is_renewed_once() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    env.run(&["api", "/api/v1/clusters"]).success();
    tenant.revoke();
    let run = env.run(&["api", "/api/v1/clusters", "-v"]);
    run.ok();
    run.stderr_has("api: 401 with the cached token: renewing it once and retrying");
    assert_eq!(tenant.token_requests().len(), 2);
    let statuses: Vec<i64> = tenant
        .requests()
        .iter()
        .filter(|r| r["path"] == "/api/v1/clusters")
        .map(|r| r["status"].as_i64().unwrap())
        .collect();
    assert_eq!(statuses, [200, 401, 200]);
    // The renewed token was cached.
    env.run(&["api", "/api/v1/clusters"]).success();
    assert_eq!(tenant.token_requests().len(), 2);
}

#[test]
fn a_401_with_a_fresh_token_is_not_retried() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    tenant.faults(serde_json::json!([{"path": "/api/v1/clusters", "status": 401, "body": "{\"code\":401,\"message\":\"unauthorized\"}"}]));
    let run = env.run(&["api", "/api/v1/clusters"]);
    assert_eq!(run.code, 5, "{}", run.stderr);
    assert_eq!(tenant.token_requests().len(), 1);
}

#[test]
fn the_researcher_api() {
    let tenant = realm().tenant(
        TenantSpec::default()
            .endpoints(&["v2"])
            .only_client("ci-bot", &["Researcher"]),
    );
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let missing = env.run(&["api", "--researcher", "/researcher/api/v1/projects"]);
    missing.failure(2);
    assert_eq!(
        missing.error_line(),
        "error: profile \"acme\" has no researcher-url: the Researcher API lives on the cluster"
    );
    assert!(missing.hint_line().unwrap().contains("--researcher-url"));
    assert_eq!(
        tenant.token_requests().len(),
        0,
        "no token is fetched for a call that cannot be made"
    );

    // The stand-in serves the Researcher API on the same host.
    env.write_profiles(&tenant.profile("acme", &format!("researcher-url: {}", tenant.url)));
    let run = env.run(&["api", "--researcher", "/researcher/api/v1/projects"]);
    run.success();
    assert_eq!(run.stdout, r#"{"data":[{"name":"team-a"}]}"#);
    env.write_profiles(&tenant.profile("acme", &format!("api: researcher\nresearcher-url: {}", tenant.url)));
    env.run(&["api", "/researcher/api/v1/projects"]).success();
}
