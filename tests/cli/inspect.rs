//! `inspect`: claims, roles and expiry of the token, never the token itself.

use serde_json::json;

use crate::support::{TenantSpec, TestEnv, jwt_claims, realm};

#[test]
fn shows_roles_and_expiry_of_a_realm_token() {
    let tenant = realm().tenant(
        TenantSpec::default()
            .endpoints(&["v2"])
            .only_client("ci-bot", &["Editor", "Researcher"]),
    );
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let token = env.run(&["get"]);
    token.success();
    let claims = jwt_claims(token.stdout.trim());

    let run = env.run(&["inspect"]);
    run.success();
    assert!(!run.stdout.contains(token.stdout.trim()));
    let field = |name: &str| {
        run.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(name))
            .map(|l| l[name.len()..].trim().to_owned())
            .unwrap_or_else(|| panic!("no {name} line:\n{}", run.stdout))
    };
    assert_eq!(field("profile"), "acme");
    assert_eq!(field("api"), format!("admin ({})", tenant.url));
    assert!(
        field("token").starts_with("JWT, ") && field("token").contains("ES256"),
        "{}",
        field("token")
    );
    assert_eq!(field("client"), "ci-bot");
    assert_eq!(field("username"), "service-account-ci-bot");
    assert_eq!(field("issuer"), tenant.issuer);
    assert_eq!(field("audience"), "runai");
    assert_eq!(field("roles"), "Editor, Researcher");
    let exp = claims["exp"].as_i64().unwrap();
    let expires = field("expires");
    assert!(
        expires.starts_with(&format!("{} (in ", crate::get::parse_utc_inverse(exp))),
        "{expires}"
    );

    let json = env.run(&["inspect", "-o", "json"]);
    json.success();
    let report = json.stdout_json();
    assert_eq!(report["format"], "jwt");
    assert_eq!(report["claims"], claims);
    assert_eq!(report["roles"], json!(["Editor", "Researcher"]));
    assert_eq!(report["warnings"], json!([]));
    assert!(report["expiresInSeconds"].as_i64().unwrap() > 3500);
}

#[test]
fn warns_when_the_roles_do_not_fit_the_api() {
    let tenant = realm().tenant(
        TenantSpec::default()
            .endpoints(&["v2"])
            .only_client("ci-bot", &["Researcher"]),
    );
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let run = env.run(&["inspect"]);
    run.success(); // the warning is part of the report: stderr stays empty
    assert!(
        run.stdout.contains("warning    the token's roles (Researcher)"),
        "{}",
        run.stdout
    );
    let json = env.run(&["inspect", "-o", "json"]);
    assert_eq!(
        json.stdout_json()["warnings"],
        json!([
            "the token's roles (Researcher) include none of Editor or Administrator needed for the Administrator API"
        ])
    );
    // The same token fits the Researcher API.
    env.write_profiles(&tenant.profile("acme", "api: researcher"));
    env.run(&["inspect"]).success();
}

#[test]
fn an_opaque_token_is_reported_not_an_error() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    tenant.faults(
        json!([{"path": "/api/v2/token", "body": "{\"access_token\":\"opaque-0123456789\",\"expires_in\":600}"}]),
    );
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let run = env.run(&["inspect"]);
    run.success();
    assert!(
        run.stdout
            .lines()
            .any(|l| l.starts_with("token ") && l.ends_with("   opaque (not a JWT), 17 bytes")),
        "{}",
        run.stdout
    );
    let expires = run
        .stdout
        .lines()
        .find(|l| l.starts_with("expires "))
        .expect("an expires line");
    assert!(
        ["(in 10m0s)", "(in 9m59s)", "(in 9m58s)"]
            .iter()
            .any(|c| expires.ends_with(c)),
        "{expires}"
    );
    assert!(!run.stdout.contains("opaque-0123456789"));
    let json = env.run(&["inspect", "-o", "json"]);
    assert_eq!(json.stdout_json()["format"], "opaque");
}
