//! `inspect`: claims, roles and expiry of the token, never the token itself.

use serde_json::json;

use crate::get::parse_utc;
use crate::support::{Run, Tenant, TenantSpec, TestEnv, jwt_claims, realm};

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
    let (at, countdown) = expires
        .split_once(" (in ")
        .unwrap_or_else(|| panic!("not `TIME (in ...)`: {expires}"));
    assert_eq!(parse_utc(at), exp, "{expires}");
    assert!(countdown.ends_with(')'), "{expires}");

    let json = env.run(&["inspect", "-o", "json"]);
    json.success();
    let report = json.stdout_json();
    assert_eq!(report["format"], "jwt");
    assert_eq!(report["claims"], claims);
    assert_eq!(report["roles"], json!(["Editor", "Researcher"]));
    assert_eq!(report["warnings"], json!([]));
    assert!(report["expiresInSeconds"].as_i64().unwrap() > 3500);
}

/// The rows of `inspect`'s table named `name`, each value without the padding.
fn rows<'a>(run: &'a Run, name: &str) -> Vec<&'a str> {
    run.stdout
        .lines()
        .filter(|l| l.split_whitespace().next() == Some(name))
        .map(|l| l[name.len()..].trim())
        .collect()
}

/// `inspect` with the profile `acme` of `extra` keys: a success whose report lists
/// `roles` and exactly the `warnings` (stderr stays empty: warnings are part of the
/// report), in the table and in `-o json`. Returns the table's run.
fn assert_report(tenant: &Tenant, env: &TestEnv, extra: &str, roles: &str, warnings: &[&str]) -> Run {
    env.write_profiles(&tenant.profile("acme", extra));
    let run = env.run(&["inspect"]);
    run.success();
    assert_eq!(rows(&run, "roles"), [roles], "{extra:?}:\n{}", run.stdout);
    assert_eq!(rows(&run, "warning"), warnings, "{extra:?}:\n{}", run.stdout);
    let json = env.run(&["inspect", "-o", "json"]);
    json.success();
    let report = json.stdout_json();
    assert_eq!(
        report["roles"],
        json!(roles.split(", ").collect::<Vec<_>>()),
        "{extra:?}"
    );
    assert_eq!(report["warnings"], json!(warnings), "{extra:?}");
    run
}

#[test]
fn warns_when_the_roles_do_not_fit_the_api() {
    let tenant = realm().tenant(
        TenantSpec::default()
            .endpoints(&["v2"])
            .only_client("ci-bot", &["Researcher"]),
    );
    let env = TestEnv::new();
    let run = assert_report(
        &tenant,
        &env,
        "",
        "Researcher",
        &["the token's roles (Researcher) include none of Editor or Administrator needed for the Administrator API"],
    );
    // A row like the others: the name padded to the widest (`username`, `audience`).
    assert!(
        run.stdout.lines().any(|l| l
            == "warning    the token's roles (Researcher) include none of Editor or Administrator needed for the \
                Administrator API"),
        "{}",
        run.stdout
    );
    // The same token fits the Researcher API: its roles, and no warning row.
    assert_report(&tenant, &env, "api: researcher", "Researcher", &[]);
}

#[test]
fn warns_when_the_roles_do_not_fit_the_researcher_api() {
    let tenant = realm().tenant(
        TenantSpec::default()
            .endpoints(&["v2"])
            .only_client("ci-bot", &["Editor"]),
    );
    let env = TestEnv::new();
    assert_report(
        &tenant,
        &env,
        "api: researcher",
        "Editor",
        &["the token's roles (Editor) include none of Researcher needed for the Researcher API"],
    );
    // The same token fits the Administrator API: its roles, and no warning row.
    assert_report(&tenant, &env, "", "Editor", &[]);
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
