//! `doctor`: each problem on its own failing or warning line with a hint; a healthy
//! setup all `ok`, including `--context` against the API stand-in.

#[cfg(unix)]
use crate::support::unix::chmod;
use crate::support::{Run, TenantSpec, TestEnv, kube_env, realm};

/// The lines of a doctor report as (status, check, message, hint).
fn lines(run: &Run) -> Vec<(String, String, String, Option<String>)> {
    let mut out: Vec<(String, String, String, Option<String>)> = Vec::new();
    for line in run.stdout.lines() {
        if let Some(hint) = line.trim_start().strip_prefix("hint: ") {
            out.last_mut().expect("a hint follows a check").3 = Some(hint.to_owned());
            continue;
        }
        let (status, rest) = line.split_once(' ').unwrap();
        let rest = rest.trim_start();
        let (check, message) = rest.split_at(15.min(rest.len()));
        out.push((
            status.to_owned(),
            check.trim().to_owned(),
            message.trim().to_owned(),
            None,
        ));
    }
    out
}

#[test]
fn a_healthy_setup_is_all_ok() {
    let (tenant, env) = kube_env();
    let run = env.run(&["doctor", "--context", "runai"]);
    run.success();
    let report = lines(&run);
    let checks: Vec<&str> = report.iter().map(|l| l.1.as_str()).collect();
    assert_eq!(
        checks,
        [
            "profiles file",
            "profile",
            "token endpoint",
            "token",
            "clock",
            "kubeconfig",
            "command",
            "cluster"
        ],
        "{}",
        run.stdout
    );
    assert!(report.iter().all(|l| l.0 == "ok" && l.3.is_none()), "{}", run.stdout);
    assert!(
        report[2]
            .2
            .starts_with(&format!("{}/api/v2/token speaks auth v2 (", tenant.url)),
        "{}",
        report[2].2
    );
    assert!(
        report[3].2.contains("roles Administrator fit api: admin"),
        "{}",
        report[3].2
    );
    assert_eq!(
        report[7].2,
        "the cluster of context \"runai\" says you are \"service-account-ci-bot\" (groups system:authenticated, Administrator)"
    );
}

fn problem<'a>(
    report: &'a [(String, String, String, Option<String>)],
    check: &str,
) -> &'a (String, String, String, Option<String>) {
    report
        .iter()
        .find(|l| l.1 == check && l.0 != "ok")
        .unwrap_or_else(|| panic!("no problem reported for {check}: {report:?}"))
}

#[cfg(unix)]
#[test]
fn a_loose_profiles_file() {
    let (_tenant, env) = kube_env();
    chmod(&env.profiles_file(), 0o644);
    let run = env.run(&["doctor"]);
    assert_eq!(run.code, 1, "{}", run.stdout);
    assert_eq!(run.stderr, "");
    let report = lines(&run);
    let line = problem(&report, "profiles file");
    assert_eq!(line.0, "fail");
    assert!(
        line.2
            .ends_with("holds a client-secret and is readable by group or others"),
        "{}",
        line.2
    );
    assert_eq!(
        line.3.as_deref(),
        Some(format!("chmod 600 {}", env.profiles_file().display()).as_str())
    );
}

#[test]
fn an_unreachable_endpoint() {
    let (tenant, env) = kube_env();
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    env.write_profiles(
        &tenant
            .profile("acme", "")
            .replace(&tenant.url, &format!("http://127.0.0.1:{closed}")),
    );
    let run = env.run(&["doctor"]);
    assert_eq!(run.code, 1);
    let report = lines(&run);
    let line = problem(&report, "token endpoint");
    assert_eq!(line.0, "fail");
    assert!(line.2.contains("cannot be reached"), "{}", line.2);
    assert!(line.3.as_deref().unwrap().contains("check url"), "{line:?}");
}

#[test]
fn a_wrong_secret() {
    let (tenant, env) = kube_env();
    env.write_profiles(
        &tenant
            .profile("acme", "")
            .replace(&tenant.client().secret, "wrong-secret-value"),
    );
    let run = env.run(&["doctor"]);
    assert_eq!(run.code, 1);
    assert!(!run.stdout.contains("wrong-secret-value"));
    let report = lines(&run);
    assert_eq!(
        report.iter().find(|l| l.1 == "token endpoint").unwrap().0,
        "ok",
        "the endpoint answered"
    );
    let line = problem(&report, "token");
    assert_eq!(line.0, "fail");
    assert!(
        line.2.contains("rejected the credentials of client \"ci-bot\""),
        "{}",
        line.2
    );
    assert!(
        line.3
            .as_deref()
            .unwrap()
            .contains("check client-id and the client secret")
    );
}

#[test]
fn a_skewed_clock() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]).clock_skew(120));
    let mut env = TestEnv::new();
    env.install_plugin();
    env.write_profiles(&tenant.profile("acme", ""));
    env.run(&["setup"]).ok();
    let run = env.run(&["doctor"]);
    run.success(); // a warning is not a failure
    let report = lines(&run);
    let line = problem(&report, "clock");
    assert_eq!(line.0, "warn");
    assert!(
        (115..=125).any(|s| line.2 == format!("the server's clock is {s} s ahead of this machine's")),
        "{}",
        line.2
    );
    assert!(line.3.as_deref().unwrap().contains("NTP"));
}

#[test]
fn a_kubeconfig_user_whose_profile_is_gone() {
    let (_tenant, env) = kube_env();
    // The user's profile is deleted from the profiles file; another stays.
    env.run(&[
        "profile",
        "set",
        "other",
        "--url",
        "https://other.example",
        "--client-id",
        "x",
        "--client-secret-env",
        "X",
    ])
    .success();
    env.run(&["profile", "use", "acme"]).success();
    let mut yaml = std::fs::read_to_string(env.profiles_file()).unwrap();
    yaml = yaml.replace("- name: acme", "- name: renamed");
    yaml = yaml.replace("current-profile: acme", "current-profile: renamed");
    crate::support::write_private(&env.profiles_file(), &yaml);
    let run = env.run(&["doctor"]);
    assert_eq!(run.code, 1);
    let report = lines(&run);
    let line = problem(&report, "kubeconfig");
    assert_eq!(line.0, "fail");
    assert!(line.2.starts_with("user \"runai-acme\" in "), "{}", line.2);
    assert!(line.2.contains("profile \"acme\" not found"), "{}", line.2);
    assert!(
        line.3
            .as_deref()
            .unwrap()
            .starts_with("kubectl runai-token setup --user runai-acme")
    );
}

#[test]
fn a_missing_plugin_link() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new(); // nothing installed on PATH
    env.write_profiles(&tenant.profile("acme", ""));
    env.run(&["setup"]).ok();
    let run = env.run(&["doctor"]);
    assert_eq!(run.code, 1);
    let report = lines(&run);
    let command = problem(&report, "command");
    assert_eq!(command.0, "fail");
    assert_eq!(
        command.2,
        "kubectl-runai_token is not on PATH: kubectl runai-token and kubeconfig users cannot find the plugin"
    );
    assert!(
        command
            .3
            .as_deref()
            .unwrap()
            .contains("kubectl krew install runai-token")
    );
    let user = problem(&report, "kubeconfig");
    assert!(
        user.2.contains("runs \"kubectl-runai_token\", which is not on PATH"),
        "{}",
        user.2
    );
}

#[test]
fn no_kubeconfig_user_is_a_warning() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let mut env = TestEnv::new();
    env.install_plugin();
    env.write_profiles(&tenant.profile("acme", ""));
    let run = env.run(&["doctor"]);
    run.success();
    let report = lines(&run);
    let line = problem(&report, "kubeconfig");
    assert_eq!(
        (line.0.as_str(), line.2.as_str()),
        ("warn", "no kubeconfig user runs this plugin")
    );
}

#[test]
fn a_context_whose_cluster_refuses_us() {
    let (tenant, env) = kube_env();
    let other = realm().tenant(TenantSpec::default().endpoints(&["v2"]).kube());
    // Point the cluster at another tenant's API server: it does not accept our realm.
    let config = std::fs::read_to_string(env.kubeconfig()).unwrap();
    std::fs::write(
        env.kubeconfig(),
        config.replace(tenant.kube_url.as_deref().unwrap(), other.kube_url.as_deref().unwrap()),
    )
    .unwrap();
    let run = env.run(&["doctor", "--context", "runai"]);
    assert_eq!(run.code, 1);
    let report = lines(&run);
    let line = problem(&report, "cluster");
    assert_eq!(line.0, "fail");
    assert!(line.2.starts_with("context \"runai\": "), "{}", line.2);
    assert!(line.2.contains("401") || line.2.contains("Unauthorized"), "{}", line.2);
}
