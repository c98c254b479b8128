//! Real kubectl (every version on the machine) and kube-rs use the plugin as their
//! credential provider, against the realm's TLS Kubernetes API stand-in.

use std::process::Stdio;

use crate::support::{Run, TestEnv, kube_env, kubectls};

fn kubectl(env: &TestEnv, kubectl: &std::path::Path, args: &[&str]) -> Run {
    let mut cmd = env.command(kubectl);
    cmd.args(args);
    Run::of(cmd)
}

#[test]
fn every_kubectl_version_authenticates_through_the_plugin() {
    let (tenant, env) = kube_env();
    let config = env.kubeconfig();
    let v1 = std::fs::read_to_string(&config).unwrap();
    for exec_version in [
        "client.authentication.k8s.io/v1",
        "client.authentication.k8s.io/v1beta1",
    ] {
        std::fs::write(&config, v1.replace("client.authentication.k8s.io/v1", exec_version)).unwrap();
        for kubectl_bin in kubectls() {
            let what = format!("{} with {exec_version}", kubectl_bin.display());
            let version = kubectl(&env, &kubectl_bin, &["get", "--raw", "/version"]);
            assert_eq!(version.code, 0, "{what}: {}", version.stderr);
            assert_eq!(version.stderr, "", "{what}: the plugin is silent on success");
            let info: serde_json::Value = serde_json::from_str(&version.stdout).unwrap();
            assert_eq!(info["gitVersion"], "v1.33.0", "{what}");

            let whoami = kubectl(&env, &kubectl_bin, &["auth", "whoami"]);
            assert_eq!(whoami.code, 0, "{what}: {}", whoami.stderr);
            assert!(
                whoami.stdout.contains("service-account-ci-bot"),
                "{what}: {}",
                whoami.stdout
            );
        }
    }
    // Every request to the API stand-in was authenticated with the realm's token.
    let kube_requests: Vec<_> = tenant
        .requests()
        .into_iter()
        .filter(|r| r["listener"] == "kube")
        .collect();
    assert!(kube_requests.len() >= 2 * 2 * kubectls().len());
    assert!(
        kube_requests.iter().all(|r| r["authenticated"] == true),
        "{kube_requests:?}"
    );
    // And the plugin's cache served every kubectl after the first.
    assert_eq!(tenant.token_requests().len(), 1);
}

#[test]
fn a_wrong_secret_fails_kubectl_with_the_plugins_error() {
    let (tenant, env) = kube_env();
    env.write_profiles(
        &tenant
            .profile("acme", "")
            .replace(&tenant.client().secret, "wrong-secret-value"),
    );
    for kubectl_bin in kubectls() {
        let run = kubectl(&env, &kubectl_bin, &["get", "--raw", "/version"]);
        assert_ne!(run.code, 0, "{}", kubectl_bin.display());
        assert!(
            run.stderr.contains("error: token endpoint")
                && run.stderr.contains("rejected the credentials of client \"ci-bot\""),
            "{}: {}",
            kubectl_bin.display(),
            run.stderr
        );
        assert!(!run.stderr.contains("wrong-secret-value"));
    }
}

#[test]
fn thirty_two_kubectls_make_one_token_request() {
    let (tenant, env) = kube_env();
    let kubectl_bin = kubectls().pop().unwrap();
    let children: Vec<_> = (0..32)
        .map(|_| {
            let mut cmd = env.command(&kubectl_bin);
            cmd.args(["get", "--raw", "/version"])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        let run = Run::from_output(child.wait_with_output().unwrap(), "kubectl get --raw /version".into());
        assert_eq!(run.code, 0, "{}", run.stderr);
    }
    assert_eq!(tenant.token_requests().len(), 1);
}

/// kube-rs builds a client from the kubeconfig `setup` wrote and sends a
/// SelfSubjectReview through the plugin.
#[test]
fn kube_rs_uses_the_plugin() {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    use kube::api::{Api, PostParams};
    use kube::config::{KubeConfigOptions, Kubeconfig};

    let (tenant, env) = kube_env();
    // kube-rs runs the command from this test process: give it the plugin's path and
    // keep the plugin's cache inside the test's directory.
    let bin = env.dir.path().join("bin").join("kubectl-runai_token");
    env.run(&["setup", "--command", bin.to_str().unwrap()]).ok();
    let mut config: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(env.kubeconfig()).unwrap()).unwrap();
    config["users"][0]["user"]["exec"]["env"] = serde_yaml::from_str(&format!(
        "[{{name: RUNAI_TOKEN_CACHE_DIR, value: '{}'}}]",
        env.cache_dir().display()
    ))
    .unwrap();
    let kubeconfig = Kubeconfig::from_yaml(&serde_yaml::to_string(&config).unwrap()).unwrap();

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let review = runtime.block_on(async {
        let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .unwrap();
        let client = kube::Client::try_from(config).unwrap();
        let reviews: Api<SelfSubjectReview> = Api::all(client);
        reviews
            .create(&PostParams::default(), &SelfSubjectReview::default())
            .await
            .unwrap()
    });
    let user = review.status.unwrap().user_info.unwrap();
    assert_eq!(user.username.as_deref(), Some("service-account-ci-bot"));
    assert!(user.groups.unwrap().contains(&"Administrator".to_owned()));
    let reviews: Vec<_> = tenant
        .requests()
        .into_iter()
        .filter(|r| r["listener"] == "kube" && r["method"] == "POST")
        .collect();
    assert_eq!(reviews.len(), 1);
    assert_eq!(reviews[0]["authenticated"], true);
}
