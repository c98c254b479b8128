//! Every exit code of docs/commands.md#exit-codes, each with nothing on stdout and one `error:`
//! line (and at most one `hint:` line).

use std::process::Stdio;

#[cfg(unix)]
use crate::support::unix::chmod;
use crate::support::{Run, TenantSpec, TestEnv, realm};

#[test]
fn exit_0_success_has_empty_stderr() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    env.run(&["get"]).success();
}

/// 1: a failure that is neither usage nor the token endpoint: stdout cannot be written.
#[test]
fn exit_1_when_stdout_cannot_be_written() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let mut cmd = env.plugin(&["get"]);
    cmd.stdout(std::fs::File::create("/dev/full").unwrap())
        .stderr(Stdio::piped());
    let run = Run::of(cmd);
    run.failure(1);
    assert!(run.error_line().contains("No space left on device"), "{}", run.stderr);
}

#[test]
fn exit_2_usage_and_configuration() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();

    // No profiles file at all.
    let missing = env.run(&["get"]);
    missing.failure(2);
    assert_eq!(
        missing.error_line(),
        format!("error: profiles file {} not found", env.profiles_file().display())
    );
    assert!(missing.hint_line().unwrap().contains("profile set NAME --url URL"));

    env.write_profiles(&tenant.profile("acme", ""));
    // Bad flags and values.
    let flag = env.run(&["get", "--bogus"]);
    flag.failure(2);
    assert_eq!(flag.error_line(), "error: unexpected argument '--bogus' found");
    let value = env.run(&["get", "-o", "yaml"]);
    value.failure(2);
    assert_eq!(
        value.error_line(),
        "error: invalid value 'yaml' for '--output <FORMAT>'"
    );
    assert_eq!(
        value.hint_line(),
        Some("hint: possible values: token, exec-credential, json, header, env")
    );
    let version = env.run(&["get", "--exec-api-version", "client.authentication.k8s.io/v1alpha1"]);
    version.failure(2);
    assert!(
        version
            .error_line()
            .contains("supported: client.authentication.k8s.io/v1, client.authentication.k8s.io/v1beta1")
    );

    // An apiVersion from KUBERNETES_EXEC_INFO that client-go no longer speaks.
    let info = env.run_with_env(
        &["get"],
        &[(
            "KUBERNETES_EXEC_INFO",
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1alpha1","spec":{}}"#,
        )],
    );
    info.failure(2);
    assert!(
        info.error_line()
            .starts_with("error: KUBERNETES_EXEC_INFO: unsupported exec credential apiVersion")
    );

    // Unknown profile: the error lists the known ones.
    let unknown = env.run(&["get", "-p", "nope"]);
    unknown.failure(2);
    assert_eq!(
        unknown.error_line(),
        format!(
            "error: profile \"nope\" not found in {} (known profiles: acme)",
            env.profiles_file().display()
        )
    );

    // An unknown key, named with its line.
    env.write_profiles(&tenant.profile("acme", "clientid: oops"));
    let key = env.run(&["get"]);
    key.failure(2);
    assert_eq!(
        key.error_line(),
        format!(
            "error: profiles file {}: unknown key \"clientid\" in profiles[0] at line 10 column 3",
            env.profiles_file().display()
        )
    );

    // Modes: Unix only (support::unix).
    #[cfg(unix)]
    {
        // A loose profiles file holding a secret.
        env.write_profiles(&tenant.profile("acme", ""));
        chmod(&env.profiles_file(), 0o644);
        let loose = env.run(&["get"]);
        loose.failure(2);
        assert_eq!(
            loose.error_line(),
            format!(
                "error: profiles file {} holds a client-secret and is readable by group or others",
                env.profiles_file().display()
            )
        );
        assert_eq!(
            loose.hint_line(),
            Some(format!("hint: chmod 600 {}", env.profiles_file().display()).as_str())
        );

        // A loose secret file.
        let secret_file = env.dir.path().join("bot.secret");
        std::fs::write(&secret_file, &tenant.client().secret).unwrap();
        chmod(&secret_file, 0o640);
        let yaml = tenant.profile("acme", "").replace(
            &format!("client-secret: {}", tenant.client().secret),
            &format!("client-secret-file: {}", secret_file.display()),
        );
        env.write_profiles(&yaml);
        chmod(&env.profiles_file(), 0o644); // no inline secret: the profiles file itself may be readable
        let loose_secret = env.run(&["get"]);
        loose_secret.failure(2);
        assert!(loose_secret.error_line().ends_with(&format!(
            "secret file {} is readable by group or others",
            secret_file.display()
        )));
        chmod(&secret_file, 0o600);
        env.run(&["get"]).success();
    }

    // A missing secret source.
    let no_secret = tenant
        .profile("acme", "")
        .replace(&format!("  client-secret: {}\n", tenant.client().secret), "");
    env.write_profiles(&no_secret);
    let none = env.run(&["get"]);
    none.failure(2);
    assert!(none.error_line().ends_with("profile \"acme\" has no secret source"));

    // An environment variable that is not set.
    let by_env = tenant.profile("acme", "").replace(
        &format!("client-secret: {}", tenant.client().secret),
        "client-secret-env: ACME_SECRET",
    );
    env.write_profiles(&by_env);
    let unset = env.run(&["get"]);
    unset.failure(2);
    assert!(
        unset
            .error_line()
            .ends_with("client-secret-env: $ACME_SECRET is not set"),
        "{}",
        unset.stderr
    );
    env.run_with_env(&["get"], &[("ACME_SECRET", &tenant.client().secret)])
        .success();

    // A failing secret command: its stderr is quoted.
    let by_command = tenant.profile("acme", "").replace(
        &format!("client-secret: {}", tenant.client().secret),
        "client-secret-command: [sh, -c, 'echo vault is sealed >&2; exit 7']",
    );
    env.write_profiles(&by_command);
    let command = env.run(&["get"]);
    command.failure(2);
    assert!(
        command
            .error_line()
            .ends_with("\"sh\" failed (exit status: 7): \"vault is sealed\""),
        "{}",
        command.stderr
    );

    // Plain http to a host that is not loopback.
    env.write_profiles(
        &tenant
            .profile("acme", "")
            .replace(&tenant.url, "http://runai.example.com"),
    );
    let http = env.run(&["get"]);
    http.failure(2);
    assert!(
        http.error_line()
            .contains("url: \"http://runai.example.com\" must be https://"),
        "{}",
        http.stderr
    );

    // No HOME but every path given: no home directory is needed at all. (With no
    // home and no path, the error is unit-tested in paths.rs: the machine's password
    // database always knows one here.)
    env.write_profiles(&tenant.profile("acme", ""));
    let cache_dir = env.dir.path().join("cache");
    let mut cmd = env.plugin(&["get", "--cache-dir", cache_dir.to_str().unwrap()]);
    cmd.env_remove("HOME");
    Run::of(cmd).success();
    assert!(cache_dir.exists());
}

#[test]
fn exit_3_credentials_rejected() {
    for (auth, endpoints) in [
        ("v2", "v2"),
        ("v1", "v1"),
        ("app-token", "app-token"),
        ("keycloak", "keycloak"),
        ("auto", "keycloak"),
    ] {
        let tenant = realm().tenant(TenantSpec::default().endpoints(&[endpoints]).html());
        let env = TestEnv::new();
        let yaml = tenant
            .profile("acme", &format!("auth: {auth}"))
            .replace(&tenant.client().secret, "wrong-secret-value");
        env.write_profiles(&yaml);
        let run = env.run(&["get"]);
        run.failure(3);
        assert!(
            run.error_line()
                .contains("rejected the credentials of client \"ci-bot\""),
            "{auth}: {}",
            run.stderr
        );
        assert!(
            run.hint_line()
                .unwrap()
                .contains("check client-id and the client secret of profile \"acme\"")
        );
    }
}

#[test]
fn exit_4_endpoint_unusable() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]).html());
    let env = TestEnv::new();
    // The UI's HTML page where a token endpoint should be, with auth named explicitly.
    env.write_profiles(&tenant.profile("acme", "auth: v1"));
    let html = env.run(&["get"]);
    html.failure(4);
    assert_eq!(
        html.error_line(),
        format!(
            "error: token endpoint {}/api/v1/token answered 200 OK with text/html, not JSON",
            tenant.url
        )
    );
    assert!(html.hint_line().unwrap().contains("says auth: v1"));

    // Nothing listens.
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    env.write_profiles(
        &tenant
            .profile("acme", "auth: v2")
            .replace(&tenant.url, &format!("http://127.0.0.1:{closed}")),
    );
    let refused = env.run(&["get"]);
    refused.failure(4);
    assert!(refused.error_line().contains("cannot be reached"), "{}", refused.stderr);
}

#[test]
fn exit_5_the_api_answers_an_error_status() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let run = env.run(&["api", "/api/v1/status/404"]);
    assert_eq!(run.code, 5);
    assert_eq!(run.stdout, "");
    // The body, then exactly one error line.
    let lines: Vec<&str> = run.stderr.lines().collect();
    assert_eq!(lines[0], r#"{"code":404,"message":"status 404"}"#);
    assert_eq!(
        lines[1..],
        [format!(
            "error: GET {}/api/v1/status/404 answered 404 Not Found",
            tenant.url
        )]
    );
}
