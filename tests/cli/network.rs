//! docs/security.md#network against the realm's scripted faults: retries only where allowed,
//! Retry-After, the 1 MiB cap, the timeout, TLS with the profile's CA, proxies.

use serde_json::json;

use crate::support::{TenantSpec, realm, v2_env};

#[test]
fn retries_a_503_then_succeeds() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    tenant.faults(json!([{"path": "/api/v2/token", "status": 503, "times": 2}]));
    let run = env.run(&["get", "-vv"]);
    run.ok();
    assert_eq!(tenant.token_requests().len(), 3);
    assert_eq!(
        run.stderr
            .matches("answered 503 Service Unavailable; retrying in")
            .count(),
        2,
        "{}",
        run.stderr
    );
}

#[test]
fn honours_retry_after_within_the_timeout() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    tenant.faults(json!([{"path": "/api/v2/token", "status": 429, "headers": {"Retry-After": "1"}}]));
    let run = env.run(&["get", "-vv"]);
    run.ok();
    run.stderr_has("answered 429 Too Many Requests; retrying in 1000 ms");
    assert_eq!(tenant.token_requests().len(), 2);

    // A Retry-After past the timeout is not waited for.
    let (tenant, env) = v2_env(TenantSpec::default(), "timeout: 3s");
    tenant.faults(json!([{"path": "/api/v2/token", "status": 429, "headers": {"Retry-After": "60"}, "times": 3}]));
    let run = env.run(&["get"]);
    run.failure(4);
    assert_eq!(tenant.token_requests().len(), 1);
    assert!(
        run.error_line().ends_with("answered 429 Too Many Requests"),
        "{}",
        run.stderr
    );
}

/// A Retry-After no clock can add is not waited for, and does not crash the plugin.
#[test]
fn an_absurd_retry_after_is_handled() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    tenant.faults(json!([{"path": "/api/v2/token", "status": 429, "headers": {"Retry-After": "18446744073709551615"}, "times": 3}]));
    let run = env.run(&["get"]);
    run.failure(4);
    assert_eq!(tenant.token_requests().len(), 1);
}

#[test]
fn never_retries_500_or_other_4xx() {
    for status in [500, 400, 422] {
        let (tenant, env) = v2_env(TenantSpec::default(), "");
        tenant.faults(
            json!([{"path": "/api/v2/token", "status": status, "times": 3, "body": "{\"error\":\"server_error\"}"}]),
        );
        env.run(&["get"]).failure(4);
        assert_eq!(tenant.token_requests().len(), 1, "{status}");
    }
}

#[test]
fn bad_answers_are_exit_4() {
    for (fault, message) in [
        (
            json!({"body": "{\"access_token\": \"abc"}),
            "answered 200 OK with application/json, not JSON",
        ),
        (
            json!({"body": "{\"token_type\":\"Bearer\"}"}),
            "answered without access_token in its JSON",
        ),
        (
            json!({"body": "{\"access_token\":\"", "bodyBytes": 2 * 1024 * 1024}),
            "answered with a body over 1 MiB",
        ),
        (
            json!({"body": "<html>", "contentType": "text/html", "headers": {"Content-Length": "10"}, "bodyBytes": 10}),
            "answered 200 OK with text/html, not JSON",
        ),
    ] {
        let (tenant, env) = v2_env(TenantSpec::default(), "");
        let mut fault = fault;
        fault["path"] = json!("/api/v2/token");
        tenant.faults(json!([fault]));
        let run = env.run(&["get"]);
        run.failure(4);
        assert_eq!(
            run.error_line(),
            format!("error: token endpoint {}/api/v2/token {message}", tenant.url)
        );
    }
}

#[test]
fn a_hanging_endpoint_hits_the_timeout() {
    let (tenant, env) = v2_env(TenantSpec::default(), "timeout: 1s");
    tenant.faults(json!([{"path": "/api/v2/token", "hang": true}]));
    let run = env.run(&["get"]);
    run.failure(4);
    assert_eq!(
        run.error_line(),
        format!(
            "error: token endpoint {}/api/v2/token did not answer within 1s",
            tenant.url
        )
    );
    assert_eq!(
        run.hint_line(),
        Some("hint: raise timeout in profile \"acme\" if the server is slow")
    );
}

#[test]
fn tls_with_the_profiles_ca() {
    let (tenant, env) = v2_env(TenantSpec::default().tls(), "");
    assert!(tenant.url.starts_with("https://"));
    // The test CA is not in the OS trust store.
    let untrusted = env.run(&["get"]);
    untrusted.failure(4);
    assert!(
        untrusted.error_line().contains("cannot be reached"),
        "{}",
        untrusted.stderr
    );
    assert!(
        untrusted.hint_line().unwrap().contains("set certificate-authority"),
        "{}",
        untrusted.stderr
    );

    let ca_file = env.dir.path().join("ca.pem");
    std::fs::write(&ca_file, &tenant.ca).unwrap();
    env.write_profiles(&tenant.profile(
        "acme",
        &format!("auth: v2\ncertificate-authority: {}", ca_file.display()),
    ));
    env.run(&["get"]).success();

    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(&tenant.ca);
    env.write_profiles(&tenant.profile("acme", &format!("auth: v2\ncertificate-authority-data: {data}")));
    env.run(&["get"]).success();

    // Relative to the profiles file.
    std::fs::write(env.kube_dir().join("acme-ca.pem"), &tenant.ca).unwrap();
    env.write_profiles(&tenant.profile("acme", "auth: v2\ncertificate-authority: acme-ca.pem"));
    env.run(&["get"]).success();

    env.write_profiles(&tenant.profile("acme", "auth: v2\ninsecure-skip-tls-verify: true"));
    let insecure = env.run(&["get"]);
    insecure.ok();
    assert_eq!(
        insecure.stderr,
        "warning: profile \"acme\" has insecure-skip-tls-verify: TLS certificates are not verified\n"
    );

    env.write_profiles(&tenant.profile("acme", "auth: v2\ncertificate-authority-data: bm90IGEgY2VydA=="));
    let bad_ca = env.run(&["get"]);
    bad_ca.failure(2);
}

#[test]
fn proxies_from_the_environment() {
    // A host that is not loopback: only the test proxy knows where acme.runai.test is.
    let (tenant, env) = v2_env(TenantSpec::default().tls(), "");
    let (proxy, proxy_url) = realm().proxy();
    use base64::Engine;
    let data = base64::engine::general_purpose::STANDARD.encode(&tenant.ca);
    let port = tenant.url.rsplit(':').next().unwrap();
    let client = tenant.client();
    env.write_profiles(&format!(
        "profiles:\n- name: acme\n  url: https://acme.runai.test:{port}\n  auth: v2\n  client-id: {}\n  \
         client-secret: {}\n  certificate-authority-data: {data}\n  timeout: 5s\n",
        client.id, client.secret
    ));
    // https:// goes through a CONNECT tunnel.
    env.run_with_env(&["get"], &[("HTTPS_PROXY", &proxy_url)]).success();
    let seen = realm().proxy_requests(&proxy);
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert_eq!(seen[0]["method"], "CONNECT");
    assert_eq!(seen[0]["target"], format!("acme.runai.test:{port}"));
    assert_eq!(tenant.token_requests(), ["/api/v2/token"]);

    // NO_PROXY sends it direct, where the name resolves nowhere.
    let direct = env.run_with_env(
        &["get", "--no-cache"],
        &[("HTTPS_PROXY", &proxy_url), ("NO_PROXY", "runai.test")],
    );
    direct.failure(4);
    assert_eq!(realm().proxy_requests(&proxy).len(), 1, "NO_PROXY bypasses the proxy");
}

/// A port-forward (`http://127.0.0.1:PORT`) carries the secret in clear: it must never
/// go to a proxy, whatever the environment says (client-go never proxies loopback).
#[test]
fn loopback_is_never_proxied() {
    let (tenant, env) = v2_env(TenantSpec::default(), "");
    let (proxy, proxy_url) = realm().proxy();
    for variable in ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"] {
        env.run_with_env(&["get", "--no-cache"], &[(variable, &proxy_url)])
            .success();
    }
    let seen = realm().proxy_requests(&proxy);
    assert!(seen.is_empty(), "the secret went to the proxy: {seen:?}");
    assert_eq!(tenant.token_requests().len(), 4);
    let localhost = tenant.url.replace("127.0.0.1", "localhost");
    let yaml = tenant.profile("acme", "auth: v2").replace(&tenant.url, &localhost);
    env.write_profiles(&yaml);
    env.run_with_env(&["get", "--no-cache"], &[("HTTP_PROXY", &proxy_url)])
        .success();
    assert!(realm().proxy_requests(&proxy).is_empty());
}
