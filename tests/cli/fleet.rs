//! Fleet mode (docs/fleet.md): `secret apply` and `secret run` write the profile's
//! token into a Secret of the realm's Kubernetes API stand-in through kube-rs, with
//! the Role that `deploy/` ships; real kubectl reads back what they wrote and parses
//! the manifests.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde_json::{Value, json};

use crate::support::{
    Run, Tenant, TenantSpec, TestEnv, http, kubectls, poll, realm, shows_base64_jwt, shows_jwt, write_private,
};

/// Where the pods that mount the token run, and the Secret they mount.
const NS: &str = "ml-pipelines";
const NAME: &str = "runai-token";
/// Where the writer runs, beside its credentials.
const WRITER_NS: &str = "runai-token";
const WRITER: &str = "system:serviceaccount:runai-token:runai-token-writer";

/// A tenant with the API stand-in, the namespace of `deploy/`, and two identities
/// on it: the writer's service account with exactly the Role of deploy/rbac.yaml,
/// and an administrator (all of secrets) for kubectl and for set-up.
struct Fleet {
    tenant: Tenant,
    env: TestEnv,
    admin_kubeconfig: PathBuf,
    writer_token: String,
}

fn deploy(file: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy").join(file)
}

/// The documents of a deploy/ file, as JSON.
fn documents(file: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(deploy(file)).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|doc| {
            let value: serde_yaml::Value = serde::Deserialize::deserialize(doc).unwrap();
            serde_json::to_value(value).unwrap()
        })
        .filter(|doc| !doc.is_null())
        .collect()
}

/// The one document of `kind` in a deploy/ file.
fn document(file: &str, kind: &str) -> Value {
    documents(file)
        .into_iter()
        .find(|d| d["kind"] == kind)
        .unwrap_or_else(|| panic!("deploy/{file} has a {kind}"))
}

fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNT: AtomicU32 = AtomicU32::new(0);
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNT.fetch_add(1, Ordering::Relaxed)
    )
}

impl Fleet {
    fn new(spec: TenantSpec) -> Self {
        let tenant = realm().tenant(spec.endpoints(&["v2"]).kube());
        let admin = |path: &str, body: Value| {
            let (status, reply) = realm().call("POST", &format!("/tenants/{}/kube/{path}", tenant.id), Some(&body));
            assert_eq!(status, 204, "{path}: {reply}");
        };
        admin("namespaces", json!({"name": NS}));
        admin("namespaces", json!({"name": WRITER_NS}));
        let role = document("rbac.yaml", "Role");
        let rules: Vec<Value> = role["rules"]
            .as_array()
            .unwrap()
            .iter()
            .map(|rule| {
                let mut rule = rule.clone();
                rule["namespace"] = role["metadata"]["namespace"].clone();
                rule
            })
            .collect();
        let writer_token = unique("writer-sa-token");
        admin(
            "accounts",
            json!({"token": writer_token, "username": WRITER, "rules": rules}),
        );
        let admin_token = unique("admin-token");
        admin(
            "accounts",
            json!({"token": admin_token, "username": "kubernetes-admin", "groups": ["system:masters"],
                   "rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]}),
        );
        let env = TestEnv::new();
        env.write_profiles(&tenant.profile("acme", "auth: v2"));
        let fleet = Self {
            admin_kubeconfig: env.dir.path().join("admin.kubeconfig"),
            writer_token,
            tenant,
            env,
        };
        write_private(&fleet.env.kubeconfig(), &fleet.kubeconfig_for(&fleet.writer_token));
        write_private(&fleet.admin_kubeconfig, &fleet.kubeconfig_for(&admin_token));
        fleet
    }

    /// A kubeconfig for the stand-in with a static token, its context in NS.
    fn kubeconfig_for(&self, token: &str) -> String {
        let ca = BASE64.encode(&self.tenant.ca);
        let server = self.tenant.kube_url.as_deref().unwrap();
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: fleet\nclusters:\n- name: stand-in\n  cluster:\n    server: {server}\n    \
             certificate-authority-data: {ca}\nusers:\n- name: writer\n  user:\n    token: {token}\ncontexts:\n- name: fleet\n  \
             context:\n    cluster: stand-in\n    user: writer\n    namespace: {NS}\n"
        )
    }

    /// deploy/secret.yaml, created by the administrator (`kubectl-create`).
    fn create_deployed_secret(&self) {
        let secret = documents("secret.yaml").remove(0);
        self.put_secret(&secret, "kubectl-create");
    }

    fn put_secret(&self, secret: &Value, manager: &str) {
        let name = secret["metadata"]["name"].as_str().unwrap();
        let (status, reply) = realm().call(
            "PUT",
            &format!(
                "/tenants/{}/kube/secrets/{NS}/{name}?fieldManager={manager}",
                self.tenant.id
            ),
            Some(secret),
        );
        assert!(status == 200 || status == 201, "PUT secret: {status} {reply}");
    }

    /// The Secret as the stand-in stores it.
    fn secret(&self, name: &str) -> Option<Value> {
        let (status, body) = realm().call(
            "GET",
            &format!("/tenants/{}/kube/secrets/{NS}/{name}", self.tenant.id),
            None,
        );
        match status {
            200 => Some(body),
            404 => None,
            _ => panic!("GET secret: {status} {body}"),
        }
    }

    /// The token in the Secret's `token` key, decoded.
    fn token(&self) -> Option<String> {
        let data = self.secret(NAME)?["data"]["token"].as_str()?.to_owned();
        Some(String::from_utf8(BASE64.decode(data).expect("base64 data")).unwrap())
    }

    /// Whether the realm's Run:ai API accepts `token`.
    fn accepted(&self, token: &str) -> bool {
        http::get_with_bearer(&format!("{}/api/v1/clusters", self.tenant.url), token) == 200
    }

    fn kube_requests(&self, method: &str) -> Vec<Value> {
        self.tenant
            .kube_requests()
            .into_iter()
            .filter(|r| r["method"] == method)
            .collect()
    }

    fn apply(&self, extra: &[&str]) -> Run {
        let mut args = vec!["secret", "apply", "-n", NS, "--name", NAME];
        args.extend_from_slice(extra);
        self.env.run(&args)
    }

    /// `secret run` in the background, its stderr to a file.
    fn spawn_run(&self, extra: &[&str], cache: &str) -> Background {
        let log = self.env.dir.path().join(format!("{cache}.log"));
        let mut cmd = self.env.plugin(&["secret", "run", "-n", NS, "--name", NAME]);
        cmd.args(extra)
            .env("RUNAI_TOKEN_CACHE_DIR", self.env.dir.path().join(cache))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        Background {
            child: cmd.spawn().unwrap(),
            log,
        }
    }

    fn kubectl(&self, kubectl: &Path, args: &[&str]) -> Run {
        let mut cmd = self.env.command(kubectl);
        cmd.env("KUBECONFIG", &self.admin_kubeconfig).args(args);
        Run::of(cmd)
    }
}

struct Background {
    child: Child,
    log: PathBuf,
}

impl Background {
    fn stderr(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGTERM, then the exit code, within a deadline.
    fn terminate(mut self) -> (i32, String) {
        let pid = self.child.id().to_string();
        assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        let status = poll(Duration::from_secs(10), "secret run to stop on SIGTERM", || {
            self.child.try_wait().unwrap()
        });
        (status.code().expect("an exit code, not a signal"), self.stderr())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Every value that must never be shown: the client secret and each token the
/// realm issued to this test, raw and as the Secret carries it.
fn assert_nothing_secret(fleet: &Fleet, text: &str, tokens: &BTreeSet<String>) {
    let secret = &fleet.tenant.client().secret;
    for value in tokens.iter().chain(std::iter::once(secret)) {
        assert!(!text.contains(value.as_str()), "a token or secret in:\n{text}");
        assert!(
            !text.contains(&BASE64.encode(value)),
            "a base64 token or secret in:\n{text}"
        );
    }
    // The realm's tokens are JWTs: none at all, raw or as base64.
    assert!(!shows_jwt(text) && !shows_base64_jwt(text), "a JWT in:\n{text}");
}

#[test]
fn apply_creates_then_leaves_a_valid_token_alone_then_updates() {
    let fleet = Fleet::new(TenantSpec::default());
    // An identity allowed to create: the first apply creates the Secret.
    std::fs::copy(&fleet.admin_kubeconfig, fleet.env.kubeconfig()).unwrap();
    let first = fleet.apply(&[]);
    first.success();
    assert_eq!(first.stderr, "", "apply is silent on success");
    assert_eq!(first.stdout, "");
    let secret = fleet.secret(NAME).expect("created");
    let token = fleet.token().unwrap();
    assert!(fleet.accepted(&token));
    let annotations = &secret["metadata"]["annotations"];
    assert_eq!(annotations["runai-token/profile"], "acme");
    assert_eq!(annotations["runai-token/api-url"], fleet.tenant.url.as_str());
    // The expiry is the token's own: its JWT's exp, written as RFC 3339.
    let exp = crate::support::jwt_claims(&token)["exp"].as_i64().unwrap();
    let expires_at = annotations["runai-token/expires-at"].as_str().unwrap();
    let date = Command::new("date")
        .args(["-u", "-d", &format!("@{exp}"), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .unwrap();
    assert_eq!(expires_at, String::from_utf8_lossy(&date.stdout).trim());
    assert_eq!(
        secret["metadata"]["labels"]["app.kubernetes.io/managed-by"],
        "kubectl-runai-token"
    );
    let managers: Vec<&Value> = secret["metadata"]["managedFields"].as_array().unwrap().iter().collect();
    assert!(
        managers
            .iter()
            .any(|m| m["manager"] == "kubectl-runai-token" && m["operation"] == "Apply"),
        "{managers:?}"
    );
    let patches = fleet.kube_requests("PATCH");
    assert_eq!(patches.len(), 1);
    assert!(
        patches[0]["query"]
            .as_str()
            .unwrap()
            .contains("fieldManager=kubectl-runai-token")
    );

    // Real kubectl reads back what the plugin wrote.
    let kubectl = kubectls().pop().unwrap();
    let read = fleet.kubectl(
        &kubectl,
        &["get", "secret", NAME, "-n", NS, "-o", "jsonpath={.data.token}"],
    );
    read.success();
    assert_eq!(BASE64.decode(read.stdout.trim()).unwrap(), token.as_bytes());

    // Valid for an hour, more than a third of its lifetime left: nothing is written.
    fleet.apply(&[]).success();
    assert_eq!(fleet.kube_requests("PATCH").len(), 1, "a second apply wrote");
    let version = fleet.secret(NAME).unwrap()["metadata"]["resourceVersion"].clone();

    // Asked for more validity than it has: a new token replaces it.
    fleet.apply(&["--min-validity", "2h"]).success();
    assert_eq!(fleet.kube_requests("PATCH").len(), 2);
    let updated = fleet.secret(NAME).unwrap();
    assert_ne!(updated["metadata"]["resourceVersion"], version);
    let new_token = fleet.token().unwrap();
    assert_ne!(new_token, token);
    assert!(fleet.accepted(&new_token));
    assert_eq!(fleet.tenant.token_requests().len(), 2);
}

/// Pointed at another client, the writer replaces a token that is still valid: the
/// Secret says whose token it holds.
#[test]
fn a_token_of_another_client_is_replaced_at_once() {
    let fleet = Fleet::new(TenantSpec::default());
    fleet.create_deployed_secret();
    fleet.apply(&[]).success();
    let first = fleet.token().unwrap();
    let annotations = fleet.secret(NAME).unwrap()["metadata"]["annotations"].clone();
    assert_eq!(annotations["runai-token/client-id"], "ci-bot");
    let other = crate::support::realm::client("pipelines", &["Administrator"]);
    fleet.tenant.put_client(&other);
    let profile = fleet
        .tenant
        .profile("acme", "auth: v2")
        .replace("client-id: ci-bot", "client-id: pipelines")
        .replace(&fleet.tenant.client().secret, &other.secret);
    fleet.env.write_profiles(&profile);
    fleet.apply(&[]).success();
    let token = fleet.token().unwrap();
    assert_ne!(token, first, "a valid token of the old client was kept");
    assert_eq!(crate::support::jwt_claims(&token)["client_id"], "pipelines");
    assert_eq!(
        fleet.secret(NAME).unwrap()["metadata"]["annotations"]["runai-token/client-id"],
        "pipelines"
    );
}

#[test]
fn the_deployed_role_gets_and_patches_its_secret_and_nothing_else() {
    let fleet = Fleet::new(TenantSpec::default());
    fleet.create_deployed_secret();
    let apply = fleet.apply(&[]);
    apply.success();
    assert!(fleet.accepted(&fleet.token().unwrap()));
    // The label of deploy/secret.yaml handed it over; the admin's fields stay.
    let secret = fleet.secret(NAME).unwrap();
    let managers: BTreeSet<&str> = secret["metadata"]["managedFields"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["manager"].as_str())
        .collect();
    assert_eq!(managers, BTreeSet::from(["kubectl-create", "kubectl-runai-token"]));

    // Another name: the Role does not cover it, and says so with exit 2.
    let other = fleet.env.run(&["secret", "apply", "-n", NS, "--name", "other-token"]);
    other.failure(2);
    let error = other.error_line();
    assert!(
        error.contains("service account") || error.contains("user \"writer\""),
        "names who asked: {error}"
    );
    assert!(
        error.contains("is not allowed to get secret ml-pipelines/other-token"),
        "{error}"
    );
    assert!(error.contains("forbidden"), "the API server's words: {error}");
    assert!(other.hint_line().unwrap().contains("docs/fleet.md#permissions"));
    // Another namespace: the same.
    let elsewhere = fleet.env.run(&["secret", "apply", "--name", NAME, "-n", "default"]);
    elsewhere.failure(2);
    assert!(
        elsewhere
            .error_line()
            .contains("is not allowed to get secret default/runai-token")
    );
    assert_eq!(fleet.kube_requests("PATCH").len(), 1);
}

#[test]
fn a_secret_that_does_not_exist_cannot_be_created_by_the_deployed_role() {
    let fleet = Fleet::new(TenantSpec::default());
    let run = fleet.apply(&[]);
    run.failure(2);
    assert!(
        run.error_line()
            .contains("is not allowed to create secret ml-pipelines/runai-token"),
        "{}",
        run.stderr
    );
    assert!(
        run.hint_line()
            .unwrap()
            .contains("kubectl create secret generic runai-token -n ml-pipelines"),
        "{}",
        run.stderr
    );
    assert!(fleet.secret(NAME).is_none());
    // A namespace that does not exist, for an identity that may create: exit 2 too.
    std::fs::copy(&fleet.admin_kubeconfig, fleet.env.kubeconfig()).unwrap();
    let missing = fleet.env.run(&["secret", "apply", "--name", NAME, "-n", "nowhere"]);
    missing.failure(2);
    assert!(
        missing
            .error_line()
            .starts_with("error: cannot patch secret nowhere/runai-token: namespace \"nowhere\" does not exist: "),
        "{}",
        missing.stderr
    );
    assert_eq!(
        missing.hint_line(),
        Some("hint: check the namespace: kubectl get namespace nowhere")
    );
}

#[test]
fn a_secret_not_managed_by_the_plugin_is_left_alone_unless_forced() {
    let fleet = Fleet::new(TenantSpec::default());
    let theirs = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": NAME, "namespace": NS},
                        "data": {"token": BASE64.encode("their-own-value")}});
    fleet.put_secret(&theirs, "helm");
    let refused = fleet.apply(&[]);
    refused.failure(2);
    assert!(
        refused.error_line().contains(
            "secret ml-pipelines/runai-token exists and is not managed by kubectl-runai-token (written by \"helm\")"
        ),
        "{}",
        refused.stderr
    );
    assert!(refused.hint_line().unwrap().contains("--force"));
    assert_eq!(fleet.kube_requests("PATCH").len(), 0);
    assert_eq!(fleet.token().unwrap(), "their-own-value");
    assert!(
        fleet.tenant.token_requests().is_empty(),
        "no token is fetched for a refused Secret"
    );

    fleet.apply(&["--force"]).success();
    let token = fleet.token().unwrap();
    assert_ne!(token, "their-own-value");
    assert!(fleet.accepted(&token));
}

#[test]
fn dry_run_prints_the_secret_redacted_and_writes_nothing() {
    let fleet = Fleet::new(TenantSpec::default());
    fleet.create_deployed_secret();
    let run = fleet.apply(&["--dry-run"]);
    run.success();
    let printed: serde_yaml::Value = serde_yaml::from_str(&run.stdout).unwrap();
    assert_eq!(printed["kind"], "Secret");
    assert_eq!(printed["metadata"]["name"], NAME);
    assert_eq!(printed["data"]["token"], "[redacted]");
    assert!(printed["metadata"]["annotations"]["runai-token/expires-at"].is_string());
    assert_eq!(fleet.kube_requests("PATCH").len(), 0);
    let tokens = issued_tokens(&fleet);
    assert_nothing_secret(&fleet, &run.stdout, &tokens);
    assert!(fleet.secret(NAME).unwrap().get("data").is_none_or(Value::is_null));
}

/// The tokens the plugin got: those in its cache, and the one in the Secret.
fn issued_tokens(fleet: &Fleet) -> BTreeSet<String> {
    let mut tokens = BTreeSet::new();
    for dir in [
        fleet.env.cache_dir(),
        fleet.env.dir.path().join("a"),
        fleet.env.dir.path().join("b"),
    ] {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            if let Ok(json) = serde_json::from_str::<Value>(&text) {
                for key in ["token", "accessToken", "refreshToken"] {
                    if let Some(t) = json[key].as_str() {
                        tokens.insert(t.to_owned());
                    }
                }
            }
        }
    }
    tokens.extend(fleet.token());
    tokens
}

/// Samples the Secret until it has held `count` different tokens, checking at every
/// sample, not only the new ones, that the realm accepts the token it holds.
fn watch_tokens(fleet: &Fleet, count: usize) -> Vec<String> {
    let mut seen: Vec<String> = Vec::new();
    poll(
        Duration::from_secs(60),
        &format!("{count} tokens in the Secret"),
        || {
            if let Some(token) = fleet.token() {
                assert!(fleet.accepted(&token), "the Secret holds a token the realm refuses");
                if seen.last() != Some(&token) {
                    seen.push(token);
                }
            }
            (seen.len() >= count).then_some(())
        },
    );
    seen
}

#[test]
fn run_renews_twenty_second_tokens_and_the_secret_always_holds_an_accepted_one() {
    let fleet = Fleet::new(TenantSpec::default().ttl(20));
    fleet.create_deployed_secret();
    let run = fleet.spawn_run(&["-v"], "a");
    let seen = watch_tokens(&fleet, 3);
    // The realm has the third token; the log line follows the answer to the write.
    poll(Duration::from_secs(10), "three renewals logged", || {
        (run.stderr().matches("renewed ").count() >= 3).then_some(())
    });
    let (code, stderr) = run.terminate();
    assert_eq!(code, 0, "{stderr}");
    let renewed = stderr
        .lines()
        .filter(|l| l.starts_with("renewed ml-pipelines/runai-token, expires "))
        .count();
    assert!(renewed >= 3, "{stderr}");
    let mut tokens = issued_tokens(&fleet);
    tokens.extend(seen);
    assert_nothing_secret(&fleet, &stderr, &tokens);
}

/// A fleet with 20-second tokens, the deployed Secret, and `secret run` once it
/// has written its first token.
fn running_with_short_tokens() -> (Fleet, Background, String) {
    let fleet = Fleet::new(TenantSpec::default().ttl(20));
    fleet.create_deployed_secret();
    let run = fleet.spawn_run(&[], "a");
    let first = poll(Duration::from_secs(20), "the first token", || fleet.token());
    (fleet, run, first)
}

#[test]
fn run_keeps_the_valid_token_while_runai_is_down_and_renews_when_it_is_back() {
    let (fleet, run, first) = running_with_short_tokens();
    // The next two renewals fail: each is three requests (the plugin's own retries).
    fleet
        .tenant
        .faults(json!({"path": "/api/v2/token", "status": 503, "times": 6,
                               "body": "{\"error\":\"temporarily_unavailable\"}"}));
    poll(Duration::from_secs(30), "two failed renewals", || {
        let failures = run
            .stderr()
            .matches("warning: cannot renew ml-pipelines/runai-token")
            .count();
        if failures >= 2 {
            return Some(());
        }
        // Meanwhile the Secret keeps the valid token.
        assert_eq!(fleet.token().as_ref(), Some(&first));
        assert!(fleet.accepted(&first));
        None
    });
    let renewed = poll(Duration::from_secs(20), "a renewal after the recovery", || {
        fleet.token().filter(|t| *t != first)
    });
    assert!(fleet.accepted(&renewed));
    let (code, stderr) = run.terminate();
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("the token last seen in the Secret is valid until "),
        "{stderr}"
    );
    assert!(stderr.contains("retrying in "), "{stderr}");
    let mut tokens = issued_tokens(&fleet);
    tokens.extend([first, renewed]);
    assert_nothing_secret(&fleet, &stderr, &tokens);
}

#[test]
fn sigterm_in_the_middle_of_a_write_exits_at_once_and_the_secret_keeps_its_token() {
    let (fleet, run, first) = running_with_short_tokens();
    let path = format!("/api/v1/namespaces/{NS}/secrets/{NAME}");
    fleet
        .tenant
        .faults(json!({"path": path, "method": "PATCH", "hang": true}));
    poll(Duration::from_secs(30), "the renewal's write to be in flight", || {
        fleet
            .kube_requests("PATCH")
            .iter()
            .any(|r| r["status"] == 0)
            .then_some(())
    });
    let (code, stderr) = run.terminate();
    assert_eq!(code, 0, "{stderr}");
    let secret = fleet.secret(NAME).unwrap();
    assert_eq!(fleet.token(), Some(first.clone()), "the Secret is as it was");
    assert!(fleet.accepted(&first));
    let annotations = &secret["metadata"]["annotations"];
    assert!(annotations["runai-token/expires-at"].is_string() && annotations["runai-token/issued-at"].is_string());
}

/// A token request in flight when SIGTERM comes is finished (up to the profile's
/// timeout), then nothing is written and the process exits 0.
#[test]
fn sigterm_while_a_token_is_being_fetched_ends_it_cleanly() {
    let fleet = Fleet::new(TenantSpec::default().ttl(20));
    fleet
        .env
        .write_profiles(&fleet.tenant.profile("acme", "auth: v2\ntimeout: 3s"));
    fleet.create_deployed_secret();
    let run = fleet.spawn_run(&[], "a");
    let first = poll(Duration::from_secs(20), "the first token", || fleet.token());
    fleet
        .tenant
        .faults(json!({"path": "/api/v2/token", "hang": true, "times": 5}));
    poll(
        Duration::from_secs(30),
        "the renewal's token request to be in flight",
        || {
            fleet
                .tenant
                .requests()
                .iter()
                .any(|r| r["path"] == "/api/v2/token" && r["status"] == 0)
                .then_some(())
        },
    );
    let patches = fleet.kube_requests("PATCH").len();
    let (code, stderr) = run.terminate();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        fleet.kube_requests("PATCH").len(),
        patches,
        "nothing written after SIGTERM"
    );
    assert_eq!(fleet.token(), Some(first));
}

/// `--min-validity` as long as the token lives: every token is due when written. The
/// loop backs off and says why, instead of renewing every second.
#[test]
fn a_min_validity_longer_than_the_token_backs_off_instead_of_spinning() {
    let fleet = Fleet::new(TenantSpec::default().ttl(20));
    fleet.create_deployed_secret();
    let run = fleet.spawn_run(&["--min-validity", "30s"], "a");
    let warning = "within --min-validity of being written";
    poll(Duration::from_secs(30), "two warnings", || {
        (run.stderr().matches(warning).count() >= 2).then_some(())
    });
    let (code, stderr) = run.terminate();
    assert_eq!(code, 0, "{stderr}");
    let warnings = stderr.matches(warning).count();
    // One write per pass, each followed by its warning and a longer wait.
    assert!(fleet.kube_requests("PATCH").len() <= warnings + 1, "{stderr}");
    assert!(
        stderr.contains("hint: choose a --min-validity shorter than the token's lifetime"),
        "{stderr}"
    );
}

#[test]
fn two_runs_at_once_leave_a_valid_token() {
    let fleet = Fleet::new(TenantSpec::default().ttl(20));
    fleet.create_deployed_secret();
    // Two replicas: each its own cache, as two pods would have.
    let a = fleet.spawn_run(&["-v"], "a");
    let b = fleet.spawn_run(&["-v"], "b");
    watch_tokens(&fleet, 3);
    let (code_a, stderr_a) = a.terminate();
    let (code_b, stderr_b) = b.terminate();
    assert_eq!((code_a, code_b), (0, 0), "{stderr_a}\n{stderr_b}");
    assert!(fleet.accepted(&fleet.token().unwrap()));
    for stderr in [&stderr_a, &stderr_b] {
        assert!(!stderr.contains("warning:"), "a replica failed: {stderr}");
    }
}

#[test]
fn no_token_or_secret_in_any_line_at_any_verbosity() {
    let fleet = Fleet::new(TenantSpec::default().ttl(20));
    fleet.create_deployed_secret();
    let mut stderr = String::new();
    for verbosity in ["-v", "-vv", "-vvv"] {
        let run = fleet.apply(&[verbosity, "--min-validity", "1h"]);
        run.ok();
        stderr.push_str(&run.stderr);
    }
    // A refusal and an API server error at -vvv too.
    let theirs = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "theirs", "namespace": NS}});
    fleet.put_secret(&theirs, "helm");
    stderr.push_str(
        &fleet
            .env
            .run(&["secret", "apply", "-n", NS, "--name", "theirs", "-vvv"])
            .stderr,
    );
    let forbidden = fleet
        .env
        .run(&["secret", "apply", "-n", NS, "--name", "not-covered", "-vvv"]);
    assert_eq!(forbidden.code, 2, "{}", forbidden.stderr);
    stderr.push_str(&forbidden.stderr);
    let run = fleet.spawn_run(&["-vvv"], "b");
    poll(Duration::from_secs(30), "a renewal by secret run -vvv", || {
        run.stderr().contains("renewed ").then_some(())
    });
    let (code, run_stderr) = run.terminate();
    assert_eq!(code, 0);
    stderr.push_str(&run_stderr);
    assert!(
        stderr.contains("secret ml-pipelines/runai-token"),
        "the lines are there: {stderr}"
    );
    assert_nothing_secret(&fleet, &stderr, &issued_tokens(&fleet));
}

#[test]
fn the_manifests_parse_with_kubectl_and_every_field_is_known() {
    let fleet = Fleet::new(TenantSpec::default());
    let files = ["rbac.yaml", "secret.yaml", "cronjob.yaml", "deployment.yaml"];
    for kubectl in [kubectls().remove(0), kubectls().pop().unwrap()] {
        for file in files {
            let path = deploy(file);
            let path = path.to_str().unwrap();
            for args in [
                vec![
                    "create",
                    "--dry-run=client",
                    "-o",
                    "yaml",
                    "--validate=false",
                    "-f",
                    path,
                ],
                vec!["apply", "--dry-run=client", "--validate=false", "-f", path],
            ] {
                let run = fleet.kubectl(&kubectl, &args);
                assert_eq!(run.code, 0, "{} {args:?}: {}", kubectl.display(), run.stderr);
            }
        }
    }
    // kubectl parsed them; the typed Kubernetes API model knows every field.
    let mut kinds = Vec::new();
    for file in files {
        for doc in documents(file) {
            kinds.push(doc["kind"].as_str().unwrap().to_owned());
            // The writer and its credentials in their own namespace; what it may
            // touch in the pipelines' namespace.
            let namespace = match doc["kind"].as_str().unwrap() {
                "Role" | "RoleBinding" | "Secret" => NS,
                _ => WRITER_NS,
            };
            assert_eq!(doc["metadata"]["namespace"], namespace, "{file}");
            let round_trip = typed_round_trip(&doc);
            assert_eq!(round_trip, doc, "{file}: a field the API does not know");
        }
    }
    kinds.sort();
    assert_eq!(
        kinds,
        [
            "CronJob",
            "Deployment",
            "Role",
            "RoleBinding",
            "Secret",
            "ServiceAccount"
        ]
    );

    // The Role: get and patch on the one Secret, nothing else.
    let role = document("rbac.yaml", "Role");
    assert_eq!(
        role["rules"],
        json!([{"apiGroups": [""], "resources": ["secrets"], "resourceNames": [NAME], "verbs": ["get", "patch"]}])
    );
    // Bound to the writer's account, in the writer's namespace.
    let binding = document("rbac.yaml", "RoleBinding");
    assert_eq!(
        binding["roleRef"],
        json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": role["metadata"]["name"]})
    );
    assert_eq!(
        binding["subjects"],
        json!([{"kind": "ServiceAccount", "name": "runai-token-writer", "namespace": WRITER_NS}])
    );
    // The workloads run as that account, write that Secret, read their own credentials.
    for file in ["cronjob.yaml", "deployment.yaml"] {
        let doc = documents(file).remove(0);
        let pod = if doc["kind"] == "CronJob" {
            &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
        } else {
            &doc["spec"]["template"]["spec"]
        };
        assert_eq!(pod["serviceAccountName"], "runai-token-writer", "{file}");
        let container = &pod["containers"][0];
        let args: Vec<&str> = container["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert_eq!(
            args[..2],
            ["secret", if file == "cronjob.yaml" { "apply" } else { "run" }]
        );
        assert_eq!(args[2..6], ["--namespace", NS, "--name", NAME], "{file}");
        let env: Vec<&Value> = container["env"].as_array().unwrap().iter().collect();
        let var = |name: &str| {
            env.iter()
                .find(|e| e["name"] == name)
                .unwrap_or_else(|| panic!("{file}: {name}"))
        };
        let profiles = var("RUNAI_PROFILES_FILE")["value"].as_str().unwrap();
        let mount = container["volumeMounts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["name"] == "credentials")
            .unwrap();
        let item = &pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["name"] == "credentials")
            .unwrap()["secret"];
        assert_eq!(item["secretName"], "runai-token-credentials");
        assert_eq!(
            profiles,
            format!(
                "{}/{}",
                mount["mountPath"].as_str().unwrap(),
                item["items"][0]["path"].as_str().unwrap()
            )
        );
        assert_eq!(
            var("RUNAI_CLIENT_SECRET")["valueFrom"]["secretKeyRef"]["name"],
            "runai-token-credentials"
        );
        // The profile the docs show reads the secret from that variable.
        let example: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(deploy("profiles.example.yaml")).unwrap()).unwrap();
        assert_eq!(example["profiles"][0]["client-secret-env"], "RUNAI_CLIENT_SECRET");
    }
    // No cluster-wide permission anywhere.
    for file in files {
        for doc in documents(file) {
            assert!(!doc["kind"].as_str().unwrap().starts_with("Cluster"), "{file}");
        }
    }
}

/// `doc` through the k8s-openapi type of its kind and back: a misspelled or unknown
/// field is dropped on the way, so the round trip differs.
fn typed_round_trip(doc: &Value) -> Value {
    use k8s_openapi::api::{apps, batch, core, rbac};
    fn via<T: serde::de::DeserializeOwned + serde::Serialize>(doc: &Value) -> Value {
        serde_json::to_value(serde_json::from_value::<T>(doc.clone()).unwrap()).unwrap()
    }
    match doc["kind"].as_str().unwrap() {
        "ServiceAccount" => via::<core::v1::ServiceAccount>(doc),
        "Secret" => via::<core::v1::Secret>(doc),
        "Role" => via::<rbac::v1::Role>(doc),
        "RoleBinding" => via::<rbac::v1::RoleBinding>(doc),
        "CronJob" => via::<batch::v1::CronJob>(doc),
        "Deployment" => via::<apps::v1::Deployment>(doc),
        other => panic!("unexpected kind {other}"),
    }
}

#[test]
fn without_a_kubeconfig_or_a_service_account_it_says_so() {
    let env = TestEnv::new();
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    env.write_profiles(&tenant.profile("acme", "auth: v2"));
    // KUBECONFIG names a file that does not exist, and no in-cluster variables.
    let run = env.run(&["secret", "apply", "-n", NS, "--name", NAME]);
    run.failure(2);
    assert!(run.error_line().contains("no kubeconfig file"), "{}", run.stderr);
    assert!(run.hint_line().unwrap().contains("--kubeconfig"));
    let bad = env.run(&["secret", "apply", "-n", NS, "--name", "Not_A_Name"]);
    bad.failure(2);
    assert_eq!(bad.stdout, "");
    let bad = env.run(&["secret", "run", "-n", NS, "--name", NAME, "--interval-fraction", "1"]);
    bad.failure(2);
    assert!(tenant.token_requests().is_empty());
}

/// The static Linux binary (what deploy/Dockerfile ships) in an empty root holding
/// only itself, CA certificates, and what Kubernetes mounts into a pod: the service
/// account's token, CA and namespace, the credentials Secret, an emptyDir. It finds
/// the API server from KUBERNETES_SERVICE_HOST/PORT, as in a pod.
#[test]
fn the_static_binary_runs_in_an_empty_root_as_a_pod_would_run_it() {
    // Built by scripts/test (and so in CI); by hand:
    //   RUSTFLAGS="-C target-feature=+crt-static -C relocation-model=static" \
    //     cargo build --target x86_64-unknown-linux-gnu --features hickory-dns
    let binary = PathBuf::from(
        std::env::var_os("RUNAI_TOKEN_STATIC_BIN")
            .expect("RUNAI_TOKEN_STATIC_BIN names the static binary: run scripts/test, which builds it"),
    );
    assert!(binary.is_file(), "{}", binary.display());
    let uid = Command::new("id").arg("-u").output().unwrap().stdout;
    assert_eq!(
        uid, b"0\n",
        "the empty-root test runs chroot, which needs root (as CI runs)"
    );
    let fleet = Fleet::new(TenantSpec::default());
    fleet.create_deployed_secret();
    let root = fleet.env.dir.path().join("root");
    let put = |path: &str, bytes: &[u8], mode: u32| {
        use std::os::unix::fs::PermissionsExt;
        let target = root.join(path.trim_start_matches('/'));
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(&target, bytes).unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(mode)).unwrap();
    };
    put("/kubectl-runai-token", &std::fs::read(&binary).unwrap(), 0o755);
    put(
        "/etc/ssl/certs/ca-certificates.crt",
        &std::fs::read("/etc/ssl/certs/ca-certificates.crt").unwrap(),
        0o644,
    );
    let sa = "/var/run/secrets/kubernetes.io/serviceaccount";
    put(&format!("{sa}/token"), fleet.writer_token.as_bytes(), 0o644);
    put(&format!("{sa}/ca.crt"), fleet.tenant.ca.as_bytes(), 0o644);
    put(&format!("{sa}/namespace"), WRITER_NS.as_bytes(), 0o644);
    let profiles = std::fs::read_to_string(fleet.env.profiles_file()).unwrap().replace(
        &format!("client-secret: {}", fleet.tenant.client().secret),
        "client-secret-env: RUNAI_CLIENT_SECRET",
    );
    assert!(profiles.contains("client-secret-env"));
    put("/etc/runai-token/profiles.yaml", profiles.as_bytes(), 0o644);
    let cache = root.join("var/cache/runai-token");
    std::fs::create_dir_all(&cache).unwrap();
    crate::support::unix::chmod(&cache, 0o777);
    let mut listing = Vec::new();
    collect(&root, &root, &mut listing);
    listing.sort();
    assert_eq!(
        listing,
        [
            "etc/runai-token/profiles.yaml",
            "etc/ssl/certs/ca-certificates.crt",
            "kubectl-runai-token",
            "var/run/secrets/kubernetes.io/serviceaccount/ca.crt",
            "var/run/secrets/kubernetes.io/serviceaccount/namespace",
            "var/run/secrets/kubernetes.io/serviceaccount/token",
        ],
        "nothing else in the root: no libc, no loader, no shell"
    );
    let port = fleet
        .tenant
        .kube_url
        .as_deref()
        .unwrap()
        .rsplit(':')
        .next()
        .unwrap()
        .to_owned();
    let chroot = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("chroot"))
        .find(|p| p.is_file())
        .expect("chroot (coreutils) on PATH");
    let mut cmd = Command::new(chroot);
    cmd.env_clear()
        .args(["--userspec=65532:65532"])
        .arg(&root)
        .args([
            "/kubectl-runai-token",
            "secret",
            "apply",
            "--namespace",
            NS,
            "--name",
            NAME,
        ])
        .env("KUBERNETES_SERVICE_HOST", "127.0.0.1")
        .env("KUBERNETES_SERVICE_PORT", &port)
        .env("RUNAI_PROFILES_FILE", "/etc/runai-token/profiles.yaml")
        .env("RUNAI_TOKEN_CACHE_DIR", "/var/cache/runai-token/tokens")
        .env("RUNAI_CLIENT_SECRET", &fleet.tenant.client().secret)
        .stdin(Stdio::null());
    let run = Run::of(cmd);
    run.success();
    assert_eq!(run.stderr, "");
    let token = fleet.token().expect("written from the empty root");
    assert!(fleet.accepted(&token));
    // In the namespace the service account's files name, as the service account.
    let patch = fleet.kube_requests("PATCH").pop().unwrap();
    assert_eq!(patch["user"], WRITER);
    assert_eq!(patch["path"], format!("/api/v1/namespaces/{NS}/secrets/{NAME}"));
}

/// Every file under `dir`, relative to `root`.
fn collect(root: &Path, dir: &Path, out: &mut Vec<String>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(root, &path, out);
        } else {
            out.push(path.strip_prefix(root).unwrap().to_string_lossy().into_owned());
        }
    }
}
