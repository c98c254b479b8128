//! A second real exec credential client: `@kubernetes/client-node` 1.x (through
//! tests/realm/kube-client.mjs) uses the kubeconfig `setup` wrote. Unlike client-go it
//! sets no KUBERNETES_EXEC_INFO (so the plugin relies on the `--output exec-credential`
//! that setup writes), caches the credential in memory until its expirationTimestamp,
//! and reports a failing plugin with the plugin's stderr as its error message.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::support::{Run, Tenant, TenantSpec, TestEnv};

fn realm_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests").join("realm")
}

/// `node tests/realm/kube-client.mjs ARGS` with the test's HOME, KUBECONFIG and PATH
/// (the installed plugin first). A missing Node or client-node is a failure.
fn kube_client(env: &TestEnv, args: &[&str]) -> Run {
    assert!(
        realm_dir()
            .join("node_modules")
            .join("@kubernetes")
            .join("client-node")
            .exists(),
        "@kubernetes/client-node is not installed: run `scripts/realm-install`"
    );
    let mut cmd = env.command("node");
    cmd.arg(realm_dir().join("kube-client.mjs")).args(args);
    let what = format!("{cmd:?}");
    let output = cmd
        .output()
        .unwrap_or_else(|err| panic!("cannot run node (Node.js 20+ is required for client-node): {err}: {what}"));
    Run::from_output(output, what)
}

/// The JSON lines kube-client printed, one per call.
fn calls(run: &Run) -> Vec<Value> {
    run.stdout
        .lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|err| panic!("not a JSON line ({err}): {line:?}\n{}", run.stderr))
        })
        .collect()
}

/// What `kube_env` builds, with the tenant's `spec` and `setup_args` added to the setup
/// run: a tenant with its API stand-in, the plugin installed, a profile `acme`, the
/// cluster in kubeconfig, and a current context `runai` whose user runs the plugin.
fn client_env(spec: TenantSpec, setup_args: &[&str]) -> (Tenant, TestEnv) {
    crate::support::kube_env_with(spec, setup_args)
}

/// The exec section of the kubeconfig's only user.
fn exec_of(env: &TestEnv) -> serde_yaml::Value {
    let config: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(env.kubeconfig()).unwrap()).unwrap();
    config["users"][0]["user"]["exec"].clone()
}

fn assert_all_authenticated(tenant: &Tenant, expected: usize) {
    let kube = tenant.kube_requests();
    assert_eq!(kube.len(), expected, "{kube:?}");
    assert!(
        kube.iter()
            .all(|r| r["authenticated"] == true && r["method"] == "POST" && r["status"] == 201),
        "{kube:?}"
    );
}

#[test]
fn client_node_authenticates_with_the_v1_exec_user() {
    let (tenant, env) = client_env(TenantSpec::default(), &[]);
    assert_eq!(exec_of(&env)["apiVersion"], "client.authentication.k8s.io/v1");
    let run = kube_client(&env, &["whoami"]);
    run.success();
    let calls = calls(&run);
    assert_eq!(calls.len(), 1, "{}", run.stdout);
    assert_eq!(calls[0]["username"], "service-account-ci-bot");
    assert!(calls[0]["groups"].as_array().unwrap().contains(&json!("Administrator")));
    assert_all_authenticated(&tenant, 1);
    assert_eq!(tenant.token_requests(), ["/api/v2/token"]);
}

#[test]
fn client_node_authenticates_with_a_v1beta1_exec_user() {
    let (tenant, env) = client_env(TenantSpec::default(), &["--exec-api-version", "v1beta1"]);
    let exec = exec_of(&env);
    assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1beta1");
    let args: Vec<&str> = exec["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(
        args.windows(2).any(|w| w == ["--exec-api-version", "v1beta1"]),
        "{args:?}"
    );
    // What client-node gets: the written command without KUBERNETES_EXEC_INFO (the env
    // has none) answers with a v1beta1 ExecCredential.
    let mut direct = env.command(exec["command"].as_str().unwrap());
    direct.args(&args);
    let direct = Run::of(direct);
    direct.success();
    let credential = direct.stdout_json();
    assert_eq!(credential["apiVersion"], "client.authentication.k8s.io/v1beta1");
    assert_eq!(credential["kind"], "ExecCredential");

    let run = kube_client(&env, &["whoami", "--calls", "2"]);
    run.success();
    let calls = calls(&run);
    assert_eq!(calls.len(), 2, "{}", run.stdout);
    assert!(
        calls.iter().all(|c| c["username"] == "service-account-ci-bot"),
        "{calls:?}"
    );
    assert_all_authenticated(&tenant, 2);
    // Both API calls and client-node's plugin run were served by the one token the
    // direct run cached.
    assert_eq!(tenant.token_requests().len(), 1);
}

/// A token of 62 s: the plugin's ExecCredential expires 60 s (--min-validity) before
/// the token does, about 2 s after it was issued. client-node keeps the credential
/// until then, then runs the plugin again, which renews (its cache, too, treats a
/// token with less than 60 s left as stale). kube-client polls (every 100 ms, up to a
/// 10 s deadline) until a call carries a new token.
#[test]
fn client_node_runs_the_plugin_again_when_the_credential_expires() {
    let (tenant, env) = client_env(TenantSpec::default().ttl(62), &[]);
    let run = kube_client(&env, &["whoami", "--until-renewed", "--deadline-ms", "10000"]);
    run.success();
    let calls = calls(&run);
    assert!(
        calls.iter().all(|c| c["username"] == "service-account-ci-bot"),
        "{calls:?}"
    );
    let (renewed, kept) = calls.split_last().unwrap();
    let first = &kept[0];
    assert!(
        kept.iter().all(|c| c["jti"] == first["jti"]),
        "only the last call has a new token: {calls:?}"
    );
    assert_ne!(renewed["jti"], first["jti"]);
    // client-node honoured expirationTimestamp: it reused the first credential for
    // later calls, and ran the plugin again only about 2 s after it was issued, long
    // before the token itself expired.
    assert!(kept.len() >= 2, "the first credential was not reused: {calls:?}");
    let at = |c: &Value| c["at"].as_i64().unwrap();
    let first_exp_ms = first["exp"].as_i64().unwrap() * 1000;
    assert!(
        at(renewed) - at(first) >= 900,
        "renewed before the credential expired: {calls:?}"
    );
    assert!(
        at(renewed) < first_exp_ms - 55_000,
        "renewed at the token's own expiry, not --min-validity before it: {calls:?}"
    );
    assert_eq!(tenant.token_requests(), ["/api/v2/token", "/api/v2/token"]);
    assert_all_authenticated(&tenant, calls.len());
}

#[test]
fn a_wrong_secret_fails_client_node_with_the_plugins_error() {
    let (tenant, env) = client_env(TenantSpec::default(), &[]);
    let wrong = "wrong-secret-Kx7fQ2pLm9";
    env.write_profiles(&tenant.profile("acme", "").replace(&tenant.client().secret, wrong));
    let run = kube_client(&env, &["whoami"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "");
    // client-node's error message is the plugin's stderr, as is.
    let error = run
        .stderr
        .lines()
        .find(|l| l.starts_with("error: "))
        .unwrap_or_else(|| panic!("no error: line from the plugin:\n{}", run.stderr));
    assert!(
        error.starts_with("error: token endpoint") && error.contains("rejected the credentials of client \"ci-bot\""),
        "{}",
        run.stderr
    );
    assert!(!run.stderr.contains(wrong) && !run.stdout.contains(wrong));
    assert!(!run.stderr.contains(&tenant.client().secret), "{}", run.stderr);
    // client-node gave up before sending the request: the API stand-in saw nothing.
    assert_eq!(tenant.kube_requests(), Vec::<Value>::new());
    assert_eq!(tenant.token_requests().len(), 1);
}

/// A broken token endpoint that quotes the request, secret included, in its error: the
/// plugin's redaction keeps the secret out of what client-node reports.
#[test]
fn an_echoed_secret_does_not_reach_client_node() {
    let (tenant, env) = client_env(TenantSpec::default(), &[]);
    let secret = &tenant.client().secret;
    tenant.faults(json!({"path": "/api/v2/token", "status": 400, "echo": true, "times": 2}));
    // The fault does quote the request.
    let (status, echoed) = crate::support::http::request(
        "POST",
        &format!("{}/api/v2/token", tenant.url),
        Some(&format!("client_secret={secret}")),
    );
    assert_eq!(status, 400);
    let echoed: Value = serde_json::from_str(&echoed).unwrap();
    assert_eq!(
        echoed["error_description"],
        format!("cannot parse client_secret={secret}")
    );
    assert_eq!(echoed["message"], echoed["error_description"]);

    // A secret that form and JSON encoding change, so only a redaction that knows
    // every encoding the plugin sent it in can hide it.
    let yaml = std::fs::read_to_string(env.profiles_file()).unwrap().replace(
        &format!("client-secret: {secret}"),
        r#"client-secret: 'Zq9x+7Lm/"a b\c%&=é'"#,
    );
    crate::support::write_private(&env.profiles_file(), &yaml);
    let run = kube_client(&env, &["whoami"]);
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    assert_eq!(run.stdout, "");
    assert!(run.stderr.lines().any(|l| l.starts_with("error: ")), "{}", run.stderr);
    assert!(!run.stderr.contains("Zq9x"), "{}", run.stderr);
    assert_eq!(tenant.kube_requests(), Vec::<Value>::new());
    // The plugin's one token request was answered by the fault.
    let requests = tenant.requests();
    assert_eq!(requests.len(), 2, "{requests:?}");
    assert_eq!(requests[1]["status"], 400);
    assert_eq!(requests[1]["grantType"], "client_credentials");
}
