//! `profile list / show / set / delete / use`.

use std::io::Write;
use std::process::Stdio;

#[cfg(unix)]
use crate::support::unix::mode;
use crate::support::{Run, TenantSpec, TestEnv, realm};

#[test]
fn set_creates_a_private_file_that_works() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    let secret_file = env.kube_dir().join("ci-bot.secret");
    crate::support::write_private(&secret_file, &format!("{}\n", tenant.client().secret));

    let run = env.run(&[
        "profile",
        "set",
        "acme",
        "--url",
        &tenant.url,
        "--client-id",
        "ci-bot",
        "--client-secret-file",
        "ci-bot.secret",
        "--auth",
        "v2",
    ]);
    run.success();
    assert_eq!(
        run.stdout,
        format!("profile \"acme\" created in {}\n", env.profiles_file().display())
    );
    #[cfg(unix)]
    assert_eq!(mode(&env.profiles_file()), 0o600);
    assert_eq!(
        std::fs::read_to_string(env.profiles_file()).unwrap(),
        format!(
            "apiVersion: runai-token/v1\nkind: Profiles\ncurrent-profile: acme\nprofiles:\n- name: acme\n  url: {}\n  \
             auth: v2\n  client-id: ci-bot\n  client-secret-file: ci-bot.secret\n",
            tenant.url
        )
    );
    env.run(&["get"]).success();

    // Update one key; the rest stays.
    env.run(&[
        "profile",
        "set",
        "acme",
        "--timeout",
        "45s",
        "--researcher-url",
        "https://gpu1.example",
    ])
    .success();
    let show = env.run(&["profile", "show", "acme"]);
    show.success();
    assert_eq!(
        show.stdout,
        format!(
            "name: acme\nurl: {}\nresearcher-url: https://gpu1.example\nauth: v2\nclient-id: ci-bot\n\
             client-secret-file: ci-bot.secret\ntimeout: 45s\n",
            tenant.url
        )
    );
}

#[test]
fn secret_from_stdin_is_stored_privately_and_never_shown() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let env = TestEnv::new();
    let secret = tenant.client().secret.clone();
    let mut cmd = env.plugin(&[
        "profile",
        "set",
        "acme",
        "--url",
        &tenant.url,
        "--client-id",
        "ci-bot",
        "--client-secret-stdin",
    ]);
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    let run = Run::from_output(
        child.wait_with_output().unwrap(),
        "profile set --client-secret-stdin".into(),
    );
    run.success();
    assert!(!run.stdout.contains(&secret));
    #[cfg(unix)]
    assert_eq!(mode(&env.profiles_file()), 0o600);
    env.run(&["get"]).success();
    let show = env.run(&["profile", "show", "acme"]);
    show.success();
    assert!(!show.stdout.contains(&secret), "{}", show.stdout);
    assert!(
        show.stdout
            .contains("# client-secret: set inline in the profiles file (not shown)")
    );
}

#[test]
fn list_use_delete() {
    let env = TestEnv::new();
    for (name, url) in [("a", "https://a.example"), ("b", "https://b.example")] {
        env.run(&[
            "profile",
            "set",
            name,
            "--url",
            url,
            "--client-id",
            "x",
            "--client-secret-env",
            "X",
        ])
        .success();
    }
    let list = env.run(&["profile", "list"]);
    list.success();
    assert_eq!(
        list.stdout,
        "CURRENT   NAME   URL                 API     AUTH   CLIENT-ID\n\
         *         a      https://a.example   admin   auto   x\n          \
         b      https://b.example   admin   auto   x\n"
    );
    env.run(&["profile", "use", "b"]).success();
    assert!(env.run(&["profile", "list"]).stdout.contains("*         b"));
    let unknown = env.run(&["profile", "use", "c"]);
    unknown.failure(2);
    assert!(unknown.error_line().ends_with("(known profiles: a, b)"));
    env.run(&["profile", "delete", "b"]).success();
    let after = std::fs::read_to_string(env.profiles_file()).unwrap();
    assert!(!after.contains("current-profile"), "{after}");
    assert!(!after.contains("b.example"), "{after}");
}

#[test]
fn set_refuses_bad_input_without_touching_the_file() {
    let env = TestEnv::new();
    env.run(&[
        "profile",
        "set",
        "a",
        "--url",
        "https://a.example",
        "--client-id",
        "x",
        "--client-secret-env",
        "X",
    ])
    .success();
    let before = std::fs::read(env.profiles_file()).unwrap();
    for args in [
        &["profile", "set", "a", "--url", "http://a.example"][..],
        &["profile", "set", "b", "--url", "https://b.example"],
        &[
            "profile",
            "set",
            "bad/name",
            "--url",
            "https://b.example",
            "--client-id",
            "x",
            "--client-secret-env",
            "X",
        ],
        &["profile", "set", "a", "--auth", "keycloak"],
        &["profile", "set", "a", "--unset", "url"],
        &["profile", "set", "a", "--timeout", "soon"],
        &[
            "profile",
            "set",
            "a",
            "--client-secret-env",
            "X",
            "--client-secret-file",
            "f",
        ],
    ] {
        env.run(args).failure(2);
        assert_eq!(
            std::fs::read(env.profiles_file()).unwrap(),
            before,
            "{args:?} changed the file"
        );
    }
}

#[test]
fn concurrent_sets_lose_nothing() {
    let env = TestEnv::new();
    let children: Vec<_> = (0..16)
        .map(|i| {
            let mut cmd = env.plugin(&[
                "profile",
                "set",
                &format!("p{i}"),
                "--url",
                "https://a.example",
                "--client-id",
                "x",
                "--client-secret-env",
                "X",
            ]);
            cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for child in children {
        Run::from_output(child.wait_with_output().unwrap(), "profile set".into()).success();
    }
    let list = env.run(&["profile", "list"]);
    assert_eq!(list.stdout.lines().count(), 17, "{}", list.stdout);
}
