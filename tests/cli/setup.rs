//! `setup` writes kubeconfig safely: everything else survives, credentials are
//! replaced and said so, the right file of $KUBECONFIG is edited, a second run is
//! byte-identical, --dry-run writes nothing, concurrent runs lose nothing.

use std::process::Stdio;

#[cfg(unix)]
use crate::support::unix::{chmod, mode, symlink};
use crate::support::{Run, TenantSpec, TestEnv, realm, write_private};

const OTHER: &str = "\
apiVersion: v1
kind: Config
x-top-level: {kept: true}
preferences: {}
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
    insecure-skip-tls-verify: true
    extensions:
    - name: client.authentication.k8s.io/exec
      extension: {audience: runai}
    x-cluster-unknown: 1
users:
- name: admin
  user:
    client-certificate-data: Y2VydA==
    client-key-data: a2V5
- name: runai-acme
  user:
    token: old-static-token
contexts:
- name: prod
  context: {cluster: prod, user: admin, namespace: team-a}
current-context: prod
extensions:
- name: some.vendor/ext
  extension: {x: 1}
";

fn with_profile() -> TestEnv {
    let env = TestEnv::new();
    env.write_profiles(
        "profiles:\n- name: acme\n  url: https://acme.run.ai\n  client-id: ci-bot\n  client-secret-env: ACME_SECRET\n",
    );
    env
}

/// The strings of a YAML list.
fn strings(list: &serde_yaml::Value) -> Vec<&str> {
    list.as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect()
}

fn yaml(path: &std::path::Path) -> serde_yaml::Value {
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn keeps_everything_and_replaces_the_old_credential() {
    let env = with_profile();
    write_private(&env.kubeconfig(), OTHER);
    #[cfg(unix)]
    chmod(&env.kubeconfig(), 0o640);
    let run = env.run(&["setup", "--context", "acme", "--cluster", "prod", "--set-current"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(
        run.stdout,
        format!(
            "user \"runai-acme\" updated in {}: runs kubectl-runai_token get --profile acme\ncontext \"acme\" created, now current\n",
            env.kubeconfig().display()
        )
    );
    assert!(
        run.stderr
            .contains("user \"runai-acme\" had a static token (token); replaced it with the exec credential plugin"),
        "{}",
        run.stderr
    );
    #[cfg(unix)]
    assert_eq!(mode(&env.kubeconfig()), 0o640, "the file keeps its mode");
    let before: serde_yaml::Value = serde_yaml::from_str(OTHER).unwrap();
    let after = yaml(&env.kubeconfig());
    for key in ["x-top-level", "preferences", "clusters", "extensions"] {
        assert_eq!(before[key], after[key], "{key}");
    }
    assert_eq!(before["users"][0], after["users"][0]);
    assert_eq!(before["contexts"][0], after["contexts"][0]);
    assert_eq!(after["current-context"], "acme");
    let exec = &after["users"][1]["user"]["exec"];
    assert_eq!(exec["apiVersion"], "client.authentication.k8s.io/v1");
    assert_eq!(exec["command"], "kubectl-runai_token");
    assert_eq!(exec["interactiveMode"], "Never");
    let args = strings(&exec["args"]);
    assert_eq!(
        args,
        [
            "get",
            "--profile",
            "acme",
            "--profiles-file",
            env.profiles_file().to_str().unwrap(),
            "--output",
            "exec-credential"
        ]
    );
    assert!(
        exec["installHint"]
            .as_str()
            .unwrap()
            .contains("kubectl krew install runai-token")
    );
    assert!(after["users"][1]["user"].get("token").is_none());
    // kubectl reads it.
    let mut view = env.command("kubectl");
    view.args(["config", "view", "-o", "jsonpath={.users[1].user.exec.command}"]);
    let viewed = Run::of(view);
    assert_eq!(viewed.stdout, "kubectl-runai_token", "{}", viewed.stderr);

    // A second run: byte-identical, and nothing to say about replaced credentials.
    let first = std::fs::read(env.kubeconfig()).unwrap();
    let again = env.run(&["setup", "--context", "acme", "--cluster", "prod", "--set-current"]);
    assert_eq!(again.code, 0);
    assert!(!again.stderr.contains("replaced"), "{}", again.stderr);
    assert_eq!(std::fs::read(env.kubeconfig()).unwrap(), first);
}

#[test]
fn an_oidc_auth_provider_user_is_converted_and_said_so() {
    let env = with_profile();
    write_private(
        &env.kubeconfig(),
        "apiVersion: v1\nkind: Config\nusers:\n- name: runai-authenticated-user\n  user:\n    auth-provider:\n      \
         name: oidc\n      config: {airgapped: 'true', auth-flow: remote-browser, client-id: runai-cli, \
         idp-issuer-url: 'https://app.run.ai/auth/realms/acme', id-token: eyJhbGciOi.x.y, refresh-token: r}\n",
    );
    let run = env.run(&["setup", "--user", "runai-authenticated-user"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    run.stderr_has("user \"runai-authenticated-user\" had an auth-provider; replaced it");
    let text = std::fs::read_to_string(env.kubeconfig()).unwrap();
    assert!(
        !text.contains("id-token") && !text.contains("refresh-token") && !text.contains("auth-provider"),
        "{text}"
    );
}

#[test]
fn a_new_kubeconfig_is_private() {
    let env = with_profile();
    let run = env.run(&["setup"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    #[cfg(unix)]
    assert_eq!(mode(&env.kubeconfig()), 0o600);
    assert!(
        !std::fs::read_to_string(env.kubeconfig())
            .unwrap()
            .contains("ACME_SECRET")
    );
}

#[test]
fn kubeconfig_list_edits_the_file_that_has_the_user() {
    let env = with_profile();
    let (a, b) = (env.dir.path().join("a.yaml"), env.dir.path().join("b.yaml"));
    write_private(
        &a,
        "apiVersion: v1\nkind: Config\nusers:\n- name: someone\n  user: {token: t}\n",
    );
    write_private(
        &b,
        "apiVersion: v1\nkind: Config\nusers:\n- name: runai-acme\n  user: {token: t}\n",
    );
    let list = std::env::join_paths([&a, &b]).unwrap();
    let list = list.to_str().unwrap();
    // The profiles file sits beside the first kubeconfig in the list.
    write_private(
        &env.dir.path().join("runai-profiles.yaml"),
        &std::fs::read_to_string(env.profiles_file()).unwrap(),
    );
    let a_before = std::fs::read(&a).unwrap();
    let run = env.run_with_env(&["setup"], &[("KUBECONFIG", list)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(&a).unwrap(), a_before, "a.yaml is untouched");
    assert_eq!(yaml(&b)["users"][0]["user"]["exec"]["command"], "kubectl-runai_token");
    // A new user goes to the first file.
    let run = env.run_with_env(&["setup", "--user", "new-user"], &[("KUBECONFIG", list)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(yaml(&a)["users"][1]["name"], "new-user");
    // --kubeconfig wins.
    let c = env.dir.path().join("c.yaml");
    let run = env.run_with_env(&["setup", "--kubeconfig", c.to_str().unwrap()], &[("KUBECONFIG", list)]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(yaml(&c)["users"][0]["name"], "runai-acme");
}

/// A kubeconfig kept as a symlink (dotfile managers) is written through, and locked
/// where client-go locks it: beside the path as given.
#[cfg(unix)]
#[test]
fn a_symlinked_kubeconfig_is_written_through_and_locked_as_given() {
    let env = with_profile();
    let real = env.dir.path().join("dotfiles").join("kubeconfig");
    write_private(&real, OTHER);
    symlink(&real, env.kubeconfig());
    std::fs::write(env.kube_dir().join("config.lock"), "").unwrap();
    let locked = env.run(&["setup"]);
    locked.failure(2);
    assert!(locked.error_line().contains("is locked by another process"));
    std::fs::remove_file(env.kube_dir().join("config.lock")).unwrap();
    let run = env.run(&["setup"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        std::fs::symlink_metadata(env.kubeconfig())
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(
        yaml(&real)["users"][1]["user"]["exec"]["command"],
        "kubectl-runai_token"
    );
    assert_eq!(mode(&real), 0o600);
}

#[test]
fn dry_run_writes_nothing() {
    let env = with_profile();
    write_private(&env.kubeconfig(), OTHER);
    let before = std::fs::read(env.kubeconfig()).unwrap();
    let run = env.run(&["setup", "--dry-run", "--context", "acme", "--cluster", "prod"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert_eq!(std::fs::read(env.kubeconfig()).unwrap(), before);
    let printed: serde_yaml::Value = serde_yaml::from_str(&run.stdout).unwrap();
    assert_eq!(printed["users"][1]["user"]["exec"]["command"], "kubectl-runai_token");
    assert!(!env.kube_dir().join("config.lock").exists());
    let fresh = with_profile();
    fresh.run(&["setup", "--dry-run"]).ok();
    assert!(!fresh.kubeconfig().exists());
}

#[test]
fn bad_kubeconfigs_and_flags_are_usage_errors() {
    let env = with_profile();
    write_private(&env.kubeconfig(), "users: [");
    let run = env.run(&["setup"]);
    run.failure(2);
    assert!(run.error_line().contains("is not valid"), "{}", run.stderr);
    write_private(&env.kubeconfig(), OTHER);
    let run = env.run(&["setup", "--context", "brand-new"]);
    run.failure(2);
    assert!(
        run.error_line()
            .ends_with("context \"brand-new\" does not exist yet: give --cluster for it")
    );
    env.run(&["setup", "--set-current"]).failure(2);
    env.run(&["setup", "-p", "nope"]).failure(2);
    // A lock left by another writer: bounded wait, then a clear error.
    std::fs::write(env.kube_dir().join("config.lock"), "").unwrap();
    let locked = env.run(&["setup"]);
    locked.failure(2);
    assert!(locked.error_line().contains("is locked by another process"));
    assert!(locked.hint_line().unwrap().contains("remove"));
}

#[test]
fn twenty_concurrent_setups_lose_nothing() {
    let env = with_profile();
    write_private(&env.kubeconfig(), OTHER);
    let children: Vec<_> = (0..20)
        .map(|i| {
            let mut cmd = env.plugin(&["setup", "--user", &format!("user-{i}")]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let run = Run::from_output(child.wait_with_output().unwrap(), "setup".into());
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    let after = yaml(&env.kubeconfig());
    let names: Vec<&str> = after["users"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|u| u["name"].as_str().unwrap())
        .collect();
    for i in 0..20 {
        assert!(
            names.contains(&format!("user-{i}").as_str()),
            "user-{i} lost: {names:?}"
        );
    }
    assert_eq!(names.len(), 22);
}

/// The exec user setup writes works for a token through the realm (no kubectl yet).
#[test]
fn the_written_user_runs_the_plugin() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    env.run(&["setup", "--command", crate::support::BIN]).ok();
    let config = yaml(&env.kubeconfig());
    let exec = &config["users"][0]["user"]["exec"];
    let args = strings(&exec["args"]);
    let mut cmd = env.command(exec["command"].as_str().unwrap());
    cmd.args(&args).env(
        "KUBERNETES_EXEC_INFO",
        r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#,
    );
    let run = Run::of(cmd);
    run.success();
    assert!(
        run.stdout
            .starts_with("{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\"")
    );
}
