//! Replays what fuzzing found (fuzz/regressions/TARGET/*, see scripts/fuzz) through the
//! very checks the fuzz targets run (fuzz/src/lib.rs), and a few tricky inputs of our
//! own for each target: none may panic, and each must return within 5 seconds.

#[path = "../../fuzz/src/lib.rs"]
mod harness;

use std::fs;
use std::path::Path;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::thread;
use std::time::Duration;

// Debug builds (the test suite's) are slow: kube-rs takes about 2 s to refuse a
// "billion laughs" kubeconfig at its node budget on an idle 2-core machine, and more
// than twice that while the rest of the suite runs beside it (5 s was seen to fail).
// What this catches is a hang: an unbounded expansion runs for hours.
const LIMIT: Duration = Duration::from_secs(30);

/// Runs `run` on each of `fixed` and on every file in fuzz/regressions/`target`/.
fn replay(target: &str, run: fn(&[u8]), fixed: &[Vec<u8>]) {
    let mut inputs: Vec<(String, Vec<u8>)> = fixed
        .iter()
        .enumerate()
        .map(|(i, input)| (format!("fixed input {i}"), input.clone()))
        .collect();
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fuzz/regressions")
        .join(target);
    if let Ok(entries) = fs::read_dir(&dir) {
        for entry in entries {
            let path = entry.expect("read fuzz/regressions").path();
            if path.is_file() && !path.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.')) {
                let bytes = fs::read(&path).expect("read a regression input");
                inputs.push((path.display().to_string(), bytes));
            }
        }
    }
    let mut failures = Vec::new();
    for (name, input) in inputs {
        let (done, finished) = mpsc::channel();
        let runner = thread::spawn(move || {
            run(&input);
            let _ = done.send(());
        });
        match finished.recv_timeout(LIMIT) {
            Ok(()) => {}
            Err(RecvTimeoutError::Timeout) => failures.push(format!("{name} took more than {LIMIT:?}")),
            Err(RecvTimeoutError::Disconnected) => {
                let payload = runner.join().expect_err("the runner ended without a result");
                let message = payload
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                    .unwrap_or_default();
                failures.push(format!("{name} panicked: {message}"));
            }
        }
    }
    assert!(failures.is_empty(), "{target}:\n{}", failures.join("\n\n"));
}

/// `depth` levels of `open`, then `close` as many times.
fn nested(open: &str, close: &str, depth: usize) -> String {
    format!("{}{}", open.repeat(depth), close.repeat(depth))
}

/// YAML whose aliases expand to 9^9 nodes (a "billion laughs").
fn laughs() -> String {
    let mut text = "a: &a [x,x,x,x,x,x,x,x,x]\n".to_owned();
    for (name, prev) in ["b", "c", "d", "e", "f", "g", "h", "i"]
        .iter()
        .zip(["a", "b", "c", "d", "e", "f", "g", "h"])
    {
        let refs = vec![format!("*{prev}"); 9].join(",");
        text.push_str(&format!("{name}: &{name} [{refs}]\n"));
    }
    text
}

fn b64(text: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
}

#[test]
fn profiles() {
    let header = "apiVersion: runai-token/v1\nkind: Profiles\n";
    replay(
        "profiles",
        harness::profiles,
        &[
            String::new().into_bytes(),
            format!("{header}profiles: {}", nested("[", "]", 200)).into_bytes(),
            format!("{header}{}", laughs()).into_bytes(),
            format!("{header}profiles:\n- {{name: a, url: 'https://a', client-id: c, timeout: 1e308h}}\n").into_bytes(),
            format!("{header}profiles:\n- {{name: a, url: 'https://a', client-id: c, timeout: 0.0000001ms}}\n")
                .into_bytes(),
            format!("{header}profiles:\n- &p {{name: a, url: 'https://a', client-id: c}}\n- *p\n").into_bytes(),
            format!("\u{feff}{header}current-profile: \"\\u0085\\t\"\n---\n{header}").into_bytes(),
        ],
    );
}

#[test]
fn kubeconfig() {
    let with = |flags: u8, text: &str| [&[flags][..], text.as_bytes()].concat();
    replay(
        "kubeconfig",
        harness::kubeconfig,
        &[
            with(0x07, ""),
            with(0x07, "users: 5\n"),
            with(
                0x07,
                "users: [~, 5, {name: runai-acme, user: ~}]\ncontexts: [{name: prod, context: ~}]\n",
            ),
            with(0x17, "\u{85}\t'\t\"\t#\nusers: []\n"),
            with(0x17, "123\tnull\t~\n"),
            with(0x07, &format!("users: {}", nested("[", "]", 200))),
            with(0x07, "apiVersion: v1\nkind: Config\n---\napiVersion: v1\n"),
        ],
    );
}

#[test]
fn token_response() {
    let with = |flags: u8, status: u16, content_type: &str, body: &str| {
        [
            &[flags][..],
            &(status - 100).to_be_bytes(),
            content_type.as_bytes(),
            b"\n",
            body.as_bytes(),
        ]
        .concat()
    };
    let long = format!("{{\"error\": \"x\", \"error_description\": \"{}\"}}", "é".repeat(500));
    replay(
        "token_response",
        harness::token_response,
        &[
            with(
                0x10,
                200,
                "application/json",
                r#"{"access_token": "t", "expires_in": 1e400}"#,
            ),
            with(
                0x11,
                200,
                "application/json",
                r#"{"accessToken": "t", "expiresIn": "-1"}"#,
            ),
            with(0x18, 200, "", r#"{"id_token": "", "access_token": "t"}"#),
            with(0x11, 400, "text/plain;;", r#"{"message": "Unknown grant_type"}"#),
            with(0x10, 599, "\u{fffd}", &long),
            with(0x10, 429, "application/json", &nested("[", "]", 10_000)),
            vec![0xff, 0xff, 0xff],
        ],
    );
}

#[test]
fn exec_info() {
    replay(
        "exec_info",
        harness::exec_info,
        &[
            br#"{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential"}"#.to_vec(),
            br#"{"apiVersion": null, "kind": "\ud800"}"#.to_vec(),
            br#"{"apiVersion": "v1", "apiVersion": "v1beta1"}"#.to_vec(),
            format!("{{\"spec\": {}}}", nested("[", "]", 10_000)).into_bytes(),
        ],
    );
}

#[test]
fn jwt() {
    let deep = nested("{\"a\":", "}", 10_000).replacen("{\"a\":}", "{\"a\":1}", 1);
    replay(
        "jwt",
        harness::jwt,
        &[
            b"..".to_vec(),
            format!("{}.{}.", b64("{}"), b64(r#"{"exp": 1e300}"#)).into_bytes(),
            format!(
                "{}.{}.",
                b64("{}"),
                b64(r#"{"exp": -1e300, "realm_access": [1], "resource_access": 5}"#)
            )
            .into_bytes(),
            format!(
                "{}.{}.s",
                b64("{}"),
                b64(r#"{"resource_access": {"c": {"roles": ["r", 1, null]}, "d": []}}"#)
            )
            .into_bytes(),
            format!("{}.{}.", b64("{}"), b64(&deep)).into_bytes(),
        ],
    );
}
