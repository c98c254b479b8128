//! The krew manifest against every rule krew and krew-index apply (one broken case
//! per rule), and the release archive installed the way krew installs it, then used
//! through real kubectl.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;
use sha2::{Digest, Sha256};

use crate::support::{BIN, Run, TenantSpec, TestEnv, realm};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const API_VERSION: &str = "krew.googlecontainertools.github.com/v1alpha2";
/// The platforms krew-index CI installs (validate-krew-manifest).
const KNOWN: [(&str, &str); 13] = [
    ("windows", "386"),
    ("windows", "amd64"),
    ("windows", "arm64"),
    ("linux", "386"),
    ("linux", "amd64"),
    ("linux", "arm"),
    ("linux", "arm64"),
    ("linux", "ppc64le"),
    ("darwin", "386"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("linux", "s390x"),
    ("darwin", "ppc64"),
];
/// The platforms this project ships.
const SHIPPED: [(&str, &str); 6] = [
    ("linux", "amd64"),
    ("linux", "arm64"),
    ("darwin", "amd64"),
    ("darwin", "arm64"),
    ("windows", "amd64"),
    ("windows", "arm64"),
];

/// Every rule of krew's validator (internal/index/validation), krew-index's CI and
/// this project's release conventions. Returns the broken rules.
fn validate(manifest: &Value, file_name: &str) -> Vec<String> {
    let mut errors = Vec::new();
    let mut fail = |rule: &str| errors.push(rule.to_owned());
    let text = |value: &Value| value.as_str().map(str::to_owned);
    if text(&manifest["apiVersion"]).as_deref() != Some(API_VERSION) {
        fail("apiVersion");
    }
    if text(&manifest["kind"]).as_deref() != Some("Plugin") {
        fail("kind");
    }
    let name = text(&manifest["metadata"]["name"]).unwrap_or_default();
    let reserved = ["CON", "PRN", "AUX", "NUL"].contains(&name.to_uppercase().as_str())
        || (name.len() == 4
            && ["COM", "LPT"].contains(&name[..3].to_uppercase().as_str())
            && name.as_bytes()[3].is_ascii_digit()
            && name.as_bytes()[3] != b'0');
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') || reserved {
        fail("name");
    }
    match file_name.strip_suffix(".yaml") {
        Some(stem) if stem == name => {}
        _ => fail("file name"),
    }
    let spec = &manifest["spec"];
    let short = text(&spec["shortDescription"]).unwrap_or_default();
    if short.is_empty() || short.contains('\n') || short.contains('\r') {
        fail("shortDescription");
    }
    let version = text(&spec["version"]).unwrap_or_default();
    if !is_krew_semver(&version) {
        fail("version semver");
    }
    if version.trim_start_matches('v').split(['-', '+']).next() != Some(env!("CARGO_PKG_VERSION")) {
        fail("version equals Cargo's");
    }
    let platforms = spec["platforms"].as_sequence().cloned().unwrap_or_default();
    if platforms.is_empty() {
        fail("platforms");
    }
    let mut matched: Vec<(&str, &str)> = Vec::new();
    for platform in &platforms {
        let uri = text(&platform["uri"]).unwrap_or_default();
        if !uri.starts_with("https://") {
            fail("uri https");
        }
        if !(uri.ends_with(".tar.gz") || uri.ends_with(".zip")) {
            fail("uri archive");
        }
        let sha = text(&platform["sha256"]).unwrap_or_default();
        if sha.len() != 64 || !sha.chars().all(|c| matches!(c, '0'..='9' | 'a'..='f')) {
            fail("sha256");
        }
        let bin = text(&platform["bin"]).unwrap_or_default();
        if bin.is_empty() {
            fail("bin");
        }
        if let Some(files) = platform.get("files") {
            let files = files.as_sequence().cloned().unwrap_or_default();
            let clean = |to: &str| {
                !to.is_empty()
                    && to != "./"
                    && !to.starts_with("./")
                    && !to.ends_with('/')
                    && !to.contains("//")
                    && !to.split('/').any(|p| p == ".." || (p == "." && to != "."))
            };
            if files.is_empty()
                || files
                    .iter()
                    .any(|f| text(&f["from"]).is_none() || !text(&f["to"]).is_some_and(|to| clean(&to)))
            {
                fail("files");
            }
        }
        let selector = &platform["selector"];
        let labels = selector.get("matchLabels");
        let expressions = selector.get("matchExpressions");
        let empty = |v: Option<&Value>| {
            v.is_some_and(|v| {
                v.as_mapping().is_some_and(|m| m.is_empty())
                    || v.as_sequence().is_some_and(|s| s.is_empty())
                    || v.is_null()
            })
        };
        let selector_keys: BTreeSet<String> = labels
            .and_then(Value::as_mapping)
            .map(|m| {
                m.keys()
                    .filter_map(|k| k.as_str().map(str::to_owned))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default()
            .into_iter()
            .chain(
                expressions
                    .and_then(Value::as_sequence)
                    .into_iter()
                    .flatten()
                    .filter_map(|e| text(&e["key"])),
            )
            .collect();
        if (labels.is_none() && expressions.is_none())
            || empty(labels)
            || empty(expressions)
            || selector_keys.is_empty()
        {
            fail("selector");
        }
        if selector_keys.iter().any(|k| k != "os" && k != "arch") {
            fail("selector keys");
        }
        let hits: Vec<(&str, &str)> = KNOWN
            .iter()
            .copied()
            .filter(|(os, arch)| selects(selector, os, arch))
            .collect();
        if hits.is_empty() {
            fail("selector matches a platform");
        }
        for hit in &hits {
            if matched.contains(hit) {
                fail("no two platforms match one machine");
            }
        }
        if hits.iter().any(|(os, _)| *os == "windows") && !bin.ends_with(".exe") {
            fail("windows bin .exe");
        }
        matched.extend(hits);
    }
    for shipped in SHIPPED {
        if !matched.contains(&shipped) {
            fail("every shipped platform");
        }
    }
    errors
}

/// `v` + semver as apimachinery's ParseSemantic takes it.
fn is_krew_semver(version: &str) -> bool {
    let Some(rest) = version.strip_prefix('v') else {
        return false;
    };
    let core = rest.split(['-', '+']).next().unwrap_or_default();
    let parts: Vec<&str> = core.split('.').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()) && (p.len() == 1 || !p.starts_with('0')))
}

/// Whether a LabelSelector (matchLabels and matchExpressions) selects os/arch.
fn selects(selector: &Value, os: &str, arch: &str) -> bool {
    let labels = |key: &str| match key {
        "os" => Some(os),
        "arch" => Some(arch),
        _ => None,
    };
    let by_labels = selector
        .get("matchLabels")
        .and_then(Value::as_mapping)
        .is_none_or(|m| m.iter().all(|(k, v)| k.as_str().and_then(labels) == v.as_str()));
    let by_expressions = selector
        .get("matchExpressions")
        .and_then(Value::as_sequence)
        .is_none_or(|list| {
            list.iter().all(|e| {
                let value = e["key"].as_str().and_then(labels);
                let values: Vec<&str> = e["values"]
                    .as_sequence()
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_str)
                    .collect();
                match e["operator"].as_str() {
                    Some("In") => value.is_some_and(|v| values.contains(&v)),
                    Some("NotIn") => value.is_none_or(|v| !values.contains(&v)),
                    Some("Exists") => value.is_some(),
                    Some("DoesNotExist") => value.is_none(),
                    _ => false,
                }
            })
        });
    by_labels && by_expressions
}

fn real_manifest() -> Value {
    let path = Path::new(ROOT).join("plugin-manifest").join("runai-token.yaml");
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

#[test]
fn the_manifest_passes_every_rule() {
    assert_eq!(validate(&real_manifest(), "runai-token.yaml"), Vec::<String>::new());
}

#[test]
fn each_broken_rule_is_caught() {
    type Break = fn(&mut Value);
    let cases: Vec<(&str, &str, Break)> = vec![
        ("apiVersion", "runai-token.yaml", |m| {
            m["apiVersion"] = "krew.googlecontainertools.github.com/v1alpha1".into()
        }),
        ("kind", "runai-token.yaml", |m| m["kind"] = "Plugins".into()),
        ("name", "runai token.yaml", |m| {
            m["metadata"]["name"] = "runai token".into()
        }),
        ("name", "COM1.yaml", |m| m["metadata"]["name"] = "COM1".into()),
        ("file name", "runai-tokens.yaml", |_| {}),
        ("file name", "runai-token.yml", |_| {}),
        ("shortDescription", "runai-token.yaml", |m| {
            m["spec"]["shortDescription"] = "two\nlines".into()
        }),
        ("shortDescription", "runai-token.yaml", |m| {
            m["spec"]["shortDescription"] = "".into()
        }),
        ("version semver", "runai-token.yaml", |m| {
            m["spec"]["version"] = env!("CARGO_PKG_VERSION").into()
        }),
        ("version semver", "runai-token.yaml", |m| {
            m["spec"]["version"] = "v0.1".into()
        }),
        ("version semver", "runai-token.yaml", |m| {
            m["spec"]["version"] = "v00.1.0".into()
        }),
        ("version equals Cargo's", "runai-token.yaml", |m| {
            m["spec"]["version"] = "v9.9.9".into()
        }),
        ("platforms", "runai-token.yaml", |m| {
            m["spec"]["platforms"] = Value::Sequence(vec![])
        }),
        ("uri https", "runai-token.yaml", |m| {
            m["spec"]["platforms"][0]["uri"] = "http://example.com/a.tar.gz".into()
        }),
        ("uri archive", "runai-token.yaml", |m| {
            m["spec"]["platforms"][0]["uri"] = "https://example.com/a.tar.xz".into()
        }),
        ("sha256", "runai-token.yaml", |m| {
            let upper = m["spec"]["platforms"][0]["sha256"].as_str().unwrap().to_uppercase();
            m["spec"]["platforms"][0]["sha256"] = upper.into();
        }),
        ("sha256", "runai-token.yaml", |m| {
            m["spec"]["platforms"][0]["sha256"] = "abc".into()
        }),
        ("bin", "runai-token.yaml", |m| {
            m["spec"]["platforms"][0]["bin"] = "".into()
        }),
        ("files", "runai-token.yaml", |m| {
            m["spec"]["platforms"][0]["files"] = Value::Sequence(vec![])
        }),
        ("files", "runai-token.yaml", |m| {
            m["spec"]["platforms"][0]["files"] = serde_yaml::from_str("[{from: '*', to: ./bin}]").unwrap();
        }),
        ("selector", "runai-token.yaml", |m| {
            m["spec"]["platforms"][0]["selector"] = serde_yaml::from_str("{}").unwrap()
        }),
        ("selector", "runai-token.yaml", |m| {
            m["spec"]["platforms"][0]["selector"] =
                serde_yaml::from_str("{matchLabels: {os: linux, arch: amd64}, matchExpressions: []}").unwrap();
        }),
        ("selector keys", "runai-token.yaml", |m| {
            m["spec"]["platforms"][0]["selector"]["matchLabels"]["distro"] = "debian".into()
        }),
        ("selector matches a platform", "runai-token.yaml", |m| {
            m["spec"]["platforms"][0]["selector"]["matchLabels"]["arch"] = "riscv64".into()
        }),
        ("no two platforms match one machine", "runai-token.yaml", |m| {
            m["spec"]["platforms"][1]["selector"] =
                serde_yaml::from_str("{matchExpressions: [{key: os, operator: In, values: [linux]}]}").unwrap();
        }),
        ("windows bin .exe", "runai-token.yaml", |m| {
            let platforms = m["spec"]["platforms"].as_sequence_mut().unwrap();
            let windows = platforms
                .iter_mut()
                .find(|p| p["selector"]["matchLabels"]["os"] == "windows")
                .unwrap();
            windows["bin"] = "kubectl-runai-token".into();
        }),
        ("every shipped platform", "runai-token.yaml", |m| {
            m["spec"]["platforms"]
                .as_sequence_mut()
                .unwrap()
                .retain(|p| p["selector"]["matchLabels"]["arch"] != "arm64");
        }),
    ];
    for (rule, file_name, break_it) in cases {
        let mut manifest = real_manifest();
        break_it(&mut manifest);
        let errors = validate(&manifest, file_name);
        assert!(
            errors.iter().any(|e| e == rule),
            "breaking {rule:?} was not caught: {errors:?}"
        );
    }
    assert!(is_krew_semver("v1.2.3-rc.1+build.5") && !is_krew_semver("v1.2.03"));
}

/// The template krew-release-bot renders lists the same platforms and binaries.
#[test]
fn the_krew_release_bot_template_matches() {
    let template = std::fs::read_to_string(Path::new(ROOT).join(".krew.yaml")).unwrap();
    for (os, arch) in SHIPPED {
        let ext = if os == "windows" { "zip" } else { "tar.gz" };
        let archive = format!("kubectl-runai-token_{{{{ .TagName }}}}_{os}_{arch}.{ext}\" .TagName }}}}");
        assert!(template.contains(&archive), "{os}/{arch} missing from .krew.yaml");
    }
    assert_eq!(template.matches("{{addURIAndSha ").count(), 6);
    assert!(template.contains("version: {{ .TagName }}"));
    assert!(template.contains("name: runai-token"));
}

/// Packs the binary with the release script, checks the rendered manifest, and
/// installs it the way krew does: verify the checksum, refuse anything but regular
/// files, extract into the store, link kubectl-runai_token into a bin directory on
/// PATH. Then real kubectl runs it, and lists it without a warning.
#[test]
fn the_archive_installs_like_krew_installs_it() {
    let tenant = realm().tenant(TenantSpec::default().endpoints(&["v2"]));
    let mut env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", ""));
    let dist = env.dir.path().join("dist");
    let version = format!("v{}", env!("CARGO_PKG_VERSION"));
    let script = Path::new(ROOT).join("scripts").join("release");
    let mut package = Command::new("python3");
    package
        .arg(&script)
        .args(["package", "--binary", BIN, "--os", "linux", "--arch", "amd64", "--dist"])
        .arg(&dist);
    let packed = Run::of(package);
    assert_eq!(packed.code, 0, "{}", packed.stderr);
    let manifest_path = env.dir.path().join("runai-token.yaml");
    let mut render = Command::new("python3");
    render
        .arg(&script)
        .args(["manifest", "--pending", "--dist"])
        .arg(&dist)
        .arg("--out")
        .arg(&manifest_path);
    let rendered = Run::of(render);
    assert_eq!(rendered.code, 0, "{}", rendered.stderr);
    let manifest: Value = serde_yaml::from_str(&std::fs::read_to_string(&manifest_path).unwrap()).unwrap();
    assert_eq!(validate(&manifest, "runai-token.yaml"), Vec::<String>::new());

    // krew: the first platform whose selector matches this machine.
    let platform = manifest["spec"]["platforms"]
        .as_sequence()
        .unwrap()
        .iter()
        .find(|p| selects(&p["selector"], "linux", "amd64"))
        .expect("a linux/amd64 platform")
        .clone();
    let uri = platform["uri"].as_str().unwrap();
    assert_eq!(
        uri,
        format!(
            "https://github.com/kubectl-runai-token/kubectl-runai-token/releases/download/{version}/kubectl-runai-token_{version}_linux_amd64.tar.gz"
        )
    );
    let archive = dist.join(uri.rsplit('/').next().unwrap());
    let bytes = std::fs::read(&archive).unwrap();
    assert_eq!(&bytes[..2], b"\x1f\x8b", "krew sniffs application/x-gzip");
    assert_eq!(
        platform["sha256"].as_str().unwrap(),
        runai_token::secret::hex(&Sha256::digest(&bytes))
    );

    // Regular files only, no paths that leave the install directory.
    let list = Run::of({
        let mut tar = Command::new("tar");
        tar.arg("-tvzf").arg(&archive);
        tar
    });
    assert_eq!(list.code, 0, "{}", list.stderr);
    let mut names = Vec::new();
    for line in list.stdout.lines() {
        assert!(line.starts_with('-'), "not a regular file: {line}");
        let name = line.split_whitespace().last().unwrap();
        assert!(!name.starts_with('/') && !name.contains(".."), "{name}");
        names.push(name.to_owned());
    }
    names.sort();
    assert_eq!(names, ["LICENSE", "README.md", "kubectl-runai-token"]);
    let krew_root = env.dir.path().join("krew");
    let store = krew_root.join("store").join("runai-token").join(&version);
    std::fs::create_dir_all(&store).unwrap();
    let extract = Run::of({
        let mut tar = Command::new("tar");
        tar.arg("-xzf").arg(&archive).arg("-C").arg(&store);
        tar
    });
    assert_eq!(extract.code, 0, "{}", extract.stderr);
    // krew-index requires a license among the installed files.
    let licenses = [
        "license",
        "license.txt",
        "license.md",
        "licenses",
        "licenses.txt",
        "licenses.md",
        "copying",
        "copying.txt",
    ];
    assert!(names.iter().any(|n| licenses.contains(&n.to_lowercase().as_str())));
    let bin_path: PathBuf = store.join(platform["bin"].as_str().unwrap());
    assert!(bin_path.is_file());
    let bin_dir = krew_root.join("bin");
    std::fs::create_dir_all(&bin_dir).unwrap();
    crate::support::link_executable(&bin_path, &bin_dir.join("kubectl-runai_token"));
    env.prepend_path(&bin_dir);

    let mut version_cmd = env.command("kubectl");
    version_cmd.args(["runai-token", "version"]);
    let shown = Run::of(version_cmd);
    shown.success();
    assert!(
        shown
            .stdout
            .starts_with(&format!("kubectl-runai-token {} (commit ", env!("CARGO_PKG_VERSION")))
    );

    let mut list_cmd = env.command("kubectl");
    list_cmd.args(["plugin", "list"]);
    let listed = Run::of(list_cmd);
    assert_eq!(listed.code, 0, "{}\n{}", listed.stdout, listed.stderr);
    assert!(
        !listed.stdout.contains("warning") && !listed.stderr.contains("warning"),
        "{}\n{}",
        listed.stdout,
        listed.stderr
    );
    assert!(
        listed
            .stdout
            .contains(&bin_dir.join("kubectl-runai_token").display().to_string()),
        "{}",
        listed.stdout
    );

    let mut get = env.command("kubectl");
    get.args(["runai-token", "get", "-o", "json"]);
    let token = Run::of(get);
    token.success();
    assert_eq!(token.stdout_json()["profile"], "acme");
}
