//! A cache hit needs no secret from a command: kubectl runs the plugin before every
//! command, and a `client-secret-command` may be a password manager that asks for a
//! touch. File, variable and inline secrets are still part of the cache key, so
//! rotating one misses (docs/security.md#the-token-cache).

#[cfg(unix)]
use std::fs;

#[cfg(unix)]
use crate::support::unix::chmod;
use crate::support::{TenantSpec, TestEnv, realm, write_private};

#[cfg(unix)]
#[test]
fn a_secret_command_runs_once_for_ten_gets_on_a_warm_cache() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    let client = tenant.client();
    let count = env.dir.path().join("runs");
    let script = env.dir.path().join("secret.sh");
    fs::write(
        &script,
        format!(
            "#!/bin/sh\necho run >> '{}'\necho '{}'\n",
            count.display(),
            client.secret
        ),
    )
    .unwrap();
    chmod(&script, 0o700);
    env.write_profiles(&format!(
        "profiles:\n- name: acme\n  url: {}\n  auth: v2\n  client-id: {}\n  client-secret-command: ['{}']\n",
        tenant.url,
        client.id,
        script.display()
    ));
    let first = env.run(&["get"]);
    first.success();
    for _ in 0..9 {
        let hit = env.run(&["get"]);
        hit.success();
        assert_eq!(hit.stdout, first.stdout);
    }
    assert_eq!(
        fs::read_to_string(&count).unwrap().lines().count(),
        1,
        "the command ran on a hit"
    );
    assert_eq!(tenant.token_requests().len(), 1);
    // A miss (forced) runs it again.
    env.run(&["get", "--force-refresh"]).success();
    assert_eq!(fs::read_to_string(&count).unwrap().lines().count(), 2);
}

#[test]
fn rotating_a_file_secret_still_misses() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    let mut client = tenant.client().clone();
    let secret_file = env.kube_dir().join("ci-bot.secret");
    write_private(&secret_file, &client.secret);
    env.write_profiles(&format!(
        "profiles:\n- name: acme\n  url: {}\n  auth: v2\n  client-id: {}\n  client-secret-file: ci-bot.secret\n",
        tenant.url, client.id
    ));
    env.run(&["get"]).success();
    env.run(&["get"]).success();
    assert_eq!(tenant.token_requests().len(), 1);
    client.secret.push_str("-rotated");
    tenant.put_client(&client);
    write_private(&secret_file, &client.secret);
    env.run(&["get"]).success();
    assert_eq!(tenant.token_requests().len(), 2, "the new secret missed the cache");
}
