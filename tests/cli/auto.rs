//! `auth: auto`: detection on tenants of every generation, the remembered result, and
//! what does and does not count as an absent endpoint.

use serde_json::json;

use crate::support::{TenantSpec, TestEnv, realm};

const KEYCLOAK: &str = "/auth/realms/acme/protocol/openid-connect/token";

#[test]
fn finds_the_endpoint_of_each_generation() {
    for (endpoints, html, expected) in [
        (vec!["v2"], false, vec!["/api/v2/token"]),
        (vec!["v1"], false, vec!["/api/v2/token", "/api/v1/token"]),
        // v1 is tried first and says it does not know client_credentials; then app_token.
        (
            vec!["app-token"],
            false,
            vec!["/api/v2/token", "/api/v1/token", "/api/v1/token"],
        ),
        // Only the Keycloak realm, with the UI's HTML page answering everywhere else;
        // /api/v1/token is not there at all, so app_token is not tried at it again.
        (vec!["keycloak"], true, vec!["/api/v2/token", "/api/v1/token", KEYCLOAK]),
    ] {
        let spec = TenantSpec::default().endpoints(&endpoints);
        let tenant = realm().tenant(if html { spec.html() } else { spec });
        let env = TestEnv::new();
        env.write_profiles(&tenant.profile("acme", ""));
        let run = env.run(&["get", "-v"]);
        run.ok();
        assert_eq!(run.stdout.lines().count(), 1);
        assert_eq!(tenant.token_requests(), expected, "{endpoints:?}");
        // -v tells every endpoint tried and why it moved on.
        let moved_on = run.stderr.lines().filter(|l| l.contains("moving on")).count();
        assert_eq!(moved_on, expected.len() - 1, "{endpoints:?}:\n{}", run.stderr);
        if html {
            run.stderr_has("with text/html, not JSON: moving on");
        }

        // The result is remembered per url: the next fetch goes straight there.
        let again = env.run(&["get", "-v", "--force-refresh"]);
        again.ok();
        again.stderr_has("trying the remembered");
        let requests = tenant.token_requests();
        assert_eq!(requests.len(), expected.len() + 1, "{endpoints:?}: {requests:?}");
        assert_eq!(
            requests.last().map(String::as_str),
            expected.last().copied(),
            "{endpoints:?}"
        );
    }
}

#[test]
fn keycloak_is_tried_only_with_a_realm() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["keycloak"]));
    let env = TestEnv::new();
    let client = tenant.client();
    env.write_profiles(&format!(
        "profiles:\n- name: acme\n  url: {}\n  client-id: {}\n  client-secret: {}\n",
        tenant.url, client.id, client.secret
    ));
    let run = env.run(&["get"]);
    run.failure(4);
    assert_eq!(
        run.error_line(),
        format!(
            "error: no Run:ai token endpoint found at {}: /api/v2/token answered 404 Not Found; \
             /api/v1/token answered 404 Not Found",
            tenant.url
        )
    );
    assert_eq!(
        run.hint_line(),
        Some("hint: check that url is the Run:ai control plane URL; for Run:ai 2.13 and older set realm")
    );
}

/// A credential rejection stops detection at once: the secret is not offered to the
/// endpoints after it.
#[test]
fn a_rejection_stops_detection() {
    let tenant = realm().tenant(TenantSpec::default());
    let env = TestEnv::new();
    let yaml = tenant
        .profile("acme", "")
        .replace(&tenant.client().secret, "wrong-secret-value");
    env.write_profiles(&yaml);
    let run = env.run(&["get"]);
    run.failure(3);
    assert_eq!(tenant.token_requests(), ["/api/v2/token"]);
}

/// A 401 is a rejection whatever its body: an HTML or empty 401 from a proxy in front
/// of Run:ai stops detection too.
#[test]
fn a_rejection_without_json_still_stops_detection() {
    for (content_type, body) in [
        ("text/html", "<html><body>401 Unauthorized</body></html>"),
        ("text/plain", ""),
    ] {
        let tenant = realm().tenant(TenantSpec::default());
        tenant.faults(json!([{"path": "/api/v2/token", "status": 401, "contentType": content_type, "body": body}]));
        let env = TestEnv::new();
        env.write_profiles(&tenant.profile("acme", ""));
        let run = env.run(&["get"]);
        run.failure(3);
        assert_eq!(tenant.token_requests(), ["/api/v2/token"], "{content_type}");
    }
}

/// 503s are not absence: three attempts at the first endpoint, then exit 4.
#[test]
fn a_failing_endpoint_is_not_taken_for_an_absent_one() {
    let tenant = realm().tenant(TenantSpec::default());
    tenant.faults(json!([{"path": "/api/v2/token", "status": 503, "times": 5, "body": "{\"code\":503,\"message\":\"Please try again in few minutes.\"}"}]));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let run = env.run(&["get"]);
    run.failure(4);
    assert_eq!(tenant.token_requests(), ["/api/v2/token"; 3]);
    assert_eq!(
        run.error_line(),
        format!(
            "error: token endpoint {}/api/v2/token answered 503 Service Unavailable (Please try again in few minutes.) after 3 attempts",
            tenant.url
        )
    );
}

/// A remembered endpoint that later looks absent is detected again.
#[test]
fn a_remembered_endpoint_that_disappears_is_detected_again() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v1", "keycloak"]));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    env.run(&["get"]).success();
    assert_eq!(tenant.token_requests(), ["/api/v2/token", "/api/v1/token"]);
    // The control plane is "downgraded": /api/v1/token answers 404 from now on.
    tenant.faults(json!([{"path": "/api/v1/token", "status": 404, "times": 100, "body": "{}"}]));
    let run = env.run(&["get", "-v", "--force-refresh"]);
    run.ok();
    run.stderr_has("the remembered endpoint looks absent now: detecting again");
    assert_eq!(
        tenant.token_requests(),
        // /api/v1/token is gone: neither grant type is tried at it again this run.
        [
            "/api/v2/token",
            "/api/v1/token",
            "/api/v1/token",
            "/api/v2/token",
            KEYCLOAK
        ]
    );
    // And the new finding is remembered.
    let third = env.run(&["get", "-v", "--no-cache"]);
    third.ok();
    assert_eq!(tenant.token_requests().last().map(String::as_str), Some(KEYCLOAK));
    assert_eq!(tenant.token_requests().len(), 6);
}

/// `token-url` with `auth: auto` is plain OAuth2, and no detection happens.
#[test]
fn token_url_is_spoken_to_as_plain_oauth2() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["keycloak"]));
    let env = TestEnv::new();
    let token_url = format!("{}{KEYCLOAK}", tenant.url);
    env.write_profiles(&tenant.profile("acme", &format!("token-url: {token_url}")));
    env.run(&["get"]).success();
    assert_eq!(tenant.token_requests(), [KEYCLOAK]);
}
