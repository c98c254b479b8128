//! kubeconfig (docs/kubeconfig.md): pick the file to edit, upsert the exec user
//! and the context, and write it back so that nothing the plugin does not own is lost.
//!
//! Files are read with kube-rs's model ([`kube::config::Kubeconfig`]), which validates
//! them the way a Kubernetes client will and tells which credentials a user has. The
//! edit itself is made on the YAML document, whose maps keep their order, so every
//! entry and key the plugin does not own survives as it was and a second run writes
//! the same bytes. The write takes client-go's lock (`<kubeconfig>.lock`, created
//! exclusively), goes to a temporary file renamed over the target, and keeps the
//! file's mode (new files: 0600).
//!
//! The YAML library stays behind this module (and `profile.rs`).

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use kube::config::Kubeconfig;
use serde_yaml::{Mapping, Value};

use crate::config_error;
use anyhow::Context;

use crate::error::ConfigError;
use crate::exec_credential::ExecApiVersion;
use crate::fsutil;

/// The exec credential apiVersion `setup` writes unless told otherwise.
pub const EXEC_API_VERSION: &str = "client.authentication.k8s.io/v1";
/// How long `setup` waits for another writer's `<kubeconfig>.lock`.
pub const LOCK_WAIT: Duration = Duration::from_secs(10);

/// User keys that hold credentials: `setup` replaces them with its exec stanza.
const CREDENTIAL_KEYS: [&str; 10] = [
    "exec",
    "auth-provider",
    "token",
    "tokenFile",
    "client-certificate",
    "client-certificate-data",
    "client-key",
    "client-key-data",
    "username",
    "password",
];

/// What `setup` writes.
#[derive(Clone, Debug)]
pub struct ExecUser {
    pub user: String,
    pub command: String,
    pub profile: String,
    pub profiles_file: PathBuf,
    /// The exec credential apiVersion written, and printed by the plugin.
    pub api_version: ExecApiVersion,
    /// A person signs in: kubectl may connect the terminal (`interactiveMode:
    /// IfAvailable`) so that `get` can ask them to (docs/login.md#kubectl).
    pub interactive: bool,
}

impl ExecUser {
    /// The plugin's arguments. The output is named, not left to
    /// `KUBERNETES_EXEC_INFO`: client-node and other clients run the command without
    /// it, and would get a bare token (docs/kubeconfig.md#what-setup-writes).
    fn args(&self) -> Vec<String> {
        let mut args = vec![
            "get".to_owned(),
            "--profile".to_owned(),
            self.profile.clone(),
            "--profiles-file".to_owned(),
            self.profiles_file.to_string_lossy().into_owned(),
            "--output".to_owned(),
            "exec-credential".to_owned(),
        ];
        if self.api_version != ExecApiVersion::V1 {
            args.extend(["--exec-api-version".to_owned(), self.api_version.short().to_owned()]);
        }
        args
    }

    fn stanza(&self) -> Value {
        let mut exec = Mapping::new();
        exec.insert("apiVersion".into(), self.api_version.as_str().into());
        exec.insert("command".into(), self.command.clone().into());
        exec.insert(
            "args".into(),
            Value::Sequence(self.args().into_iter().map(Value::from).collect()),
        );
        let mode = if self.interactive { "IfAvailable" } else { "Never" };
        exec.insert("interactiveMode".into(), mode.into());
        exec.insert("installHint".into(), INSTALL_HINT.into());
        Value::Mapping(exec)
    }
}

/// Shown by kubectl when the command is not on PATH.
pub const INSTALL_HINT: &str = "kubectl-runai-token is not installed or not on PATH.\n\
Install it with krew: kubectl krew install runai-token\n\
(or install the binary and link it as kubectl-runai_token: see its README).\n";

/// The optional context `setup` upserts.
#[derive(Clone, Debug)]
pub struct ContextEdit {
    pub name: String,
    pub cluster: Option<String>,
    pub set_current: bool,
}

/// The kubeconfig file to edit: `--kubeconfig`, else the file in the list that
/// already has the user, else the first in the list.
pub fn choose_file(explicit: Option<&Path>, list: &[PathBuf], user: &str) -> anyhow::Result<PathBuf> {
    if let Some(path) = explicit {
        return Ok(path.to_owned());
    }
    for path in list {
        if let Some(config) = read_model(path)?
            && config.auth_infos.iter().any(|u| u.name == user)
        {
            return Ok(path.clone());
        }
    }
    list.first().cloned().ok_or_else(|| {
        ConfigError::new("no kubeconfig file to edit: HOME is not set")
            .with_hint("pass --kubeconfig PATH, or set KUBECONFIG")
            .into()
    })
}

/// The text of kubeconfig `path`, `None` when it does not exist: a regular file of
/// at most [`fsutil::MAX_KUBECONFIG`], its byte-order mark dropped.
pub fn read_text(path: &Path) -> anyhow::Result<Option<String>> {
    match fsutil::read_text(path, fsutil::MAX_KUBECONFIG) {
        Ok(text) => Ok(Some(text)),
        Err(fsutil::ReadError::NotFound) => Ok(None),
        Err(err) => Err(config_error!("kubeconfig {} {err}", path.display())),
    }
}

/// Parses `path` with kube-rs's model; `None` when it does not exist.
pub fn read_model(path: &Path) -> anyhow::Result<Option<Kubeconfig>> {
    let Some(text) = read_text(path)? else {
        return Ok(None);
    };
    if text.trim().is_empty() {
        return Ok(Some(Kubeconfig::default()));
    }
    parse_model(&text, path).map(Some)
}

/// Parses kubeconfig text with kube-rs's model. Its YAML errors come with a
/// multi-line source excerpt; the first line says it all and keeps `error:` one line.
pub fn parse_model(text: &str, path: &Path) -> anyhow::Result<Kubeconfig> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    crate::nesting::check(text).map_err(|err| config_error!("kubeconfig {} is not valid: {err}", path.display()))?;
    Kubeconfig::from_yaml(text).map_err(|err| {
        let text = err.to_string();
        let first = text.lines().next().unwrap_or_default().trim().to_owned();
        config_error!("kubeconfig {} is not valid: {first}", path.display())
    })
}

/// What an edit changed, for the messages `setup` prints.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    /// The new file content.
    pub text: String,
    /// Credentials the user had before, now replaced (`token`, `auth-provider`, ...).
    pub replaced: Vec<String>,
    pub user_existed: bool,
    pub context_existed: bool,
}

/// Applies the edit to a kubeconfig's text (empty for a new file). Pure.
pub fn edit(text: &str, user: &ExecUser, context: Option<&ContextEdit>) -> Result<Outcome, String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    crate::nesting::check(text)?;
    let mut doc: Value = if text.trim().is_empty() {
        Value::Mapping(Mapping::new())
    } else {
        serde_yaml::from_str(text).map_err(|err| err.to_string())?
    };
    let root = doc.as_mapping_mut().ok_or("the document is not a YAML map")?;
    if !root.contains_key("apiVersion") {
        root.insert("apiVersion".into(), "v1".into());
    }
    if !root.contains_key("kind") {
        root.insert("kind".into(), "Config".into());
    }
    let mut outcome = Outcome::default();

    let users = list(root, "users")?;
    let entry = match users.iter().position(|u| name_of(u) == Some(user.user.as_str())) {
        Some(index) => {
            outcome.user_existed = true;
            &mut users[index]
        }
        None => {
            let mut fresh = Mapping::new();
            fresh.insert("name".into(), user.user.clone().into());
            users.push(Value::Mapping(fresh));
            let last = users.len() - 1;
            &mut users[last]
        }
    };
    let entry = entry.as_mapping_mut().ok_or("a users entry is not a map")?;
    let body = entry
        .entry("user".into())
        .or_insert_with(|| Value::Mapping(Mapping::new()));
    if body.is_null() {
        *body = Value::Mapping(Mapping::new());
    }
    let body = body.as_mapping_mut().ok_or("a user is not a map")?;
    let new_exec = user.stanza();
    for key in CREDENTIAL_KEYS {
        if let Some(old) = body.remove(key)
            && !(key == "exec" && old == new_exec)
        {
            outcome.replaced.push(key.to_owned());
        }
    }
    body.insert("exec".into(), new_exec);

    if let Some(context) = context {
        let contexts = list(root, "contexts")?;
        let index = contexts.iter().position(|c| name_of(c) == Some(context.name.as_str()));
        outcome.context_existed = index.is_some();
        let entry = match index {
            Some(index) => &mut contexts[index],
            None => {
                let cluster = context
                    .cluster
                    .as_ref()
                    .ok_or_else(|| format!("context {:?} does not exist yet: give --cluster for it", context.name))?;
                let mut fresh = Mapping::new();
                fresh.insert("name".into(), context.name.clone().into());
                let mut body = Mapping::new();
                body.insert("cluster".into(), cluster.clone().into());
                fresh.insert("context".into(), Value::Mapping(body));
                contexts.push(Value::Mapping(fresh));
                let last = contexts.len() - 1;
                &mut contexts[last]
            }
        };
        let entry = entry.as_mapping_mut().ok_or("a contexts entry is not a map")?;
        let body = entry
            .entry("context".into())
            .or_insert_with(|| Value::Mapping(Mapping::new()));
        if body.is_null() {
            *body = Value::Mapping(Mapping::new());
        }
        let body = body.as_mapping_mut().ok_or("a context is not a map")?;
        match &context.cluster {
            Some(cluster) => {
                body.insert("cluster".into(), cluster.clone().into());
            }
            // A context without a cluster is one no Kubernetes client accepts
            // (found by fuzzing: fuzz/regressions/kubeconfig).
            None if !body.get("cluster").is_some_and(Value::is_string) => {
                return Err(format!(
                    "context {:?} has no cluster: give --cluster for it",
                    context.name
                ));
            }
            None => {}
        }
        body.insert("user".into(), user.user.clone().into());
        if context.set_current {
            root.insert("current-context".into(), context.name.clone().into());
        }
    }
    outcome.text = serde_yaml::to_string(&doc).map_err(|err| err.to_string())?;
    Ok(outcome)
}

/// The sequence under `key`, created when missing or null.
fn list<'a>(root: &'a mut Mapping, key: &str) -> Result<&'a mut Vec<Value>, String> {
    let value = root.entry(key.into()).or_insert_with(|| Value::Sequence(Vec::new()));
    if value.is_null() {
        *value = Value::Sequence(Vec::new());
    }
    value.as_sequence_mut().ok_or_else(|| format!("{key} is not a list"))
}

fn name_of(entry: &Value) -> Option<&str> {
    entry.get("name")?.as_str()
}

/// Reads `path` (empty when missing), edits it with `apply`, and writes it back under
/// client-go's lock, atomically, keeping its mode. Returns what `apply` returned.
pub fn update(path: &Path, apply: impl FnOnce(&str) -> anyhow::Result<Outcome>) -> anyhow::Result<Outcome> {
    let target = resolve_symlink(path);
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        fsutil::create_private_dir(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    // client-go locks the path it was given, not a symlink's target: so do we.
    let _lock = KubeconfigLock::acquire(path)?;
    let (text, mode) = match read_text(&target)? {
        Some(text) => {
            let metadata = fs::metadata(&target).with_context(|| format!("cannot read {}", target.display()))?;
            (text, fsutil::mode(&metadata))
        }
        None => (String::new(), 0o600),
    };
    let outcome = apply(&text)?;
    if outcome.text != text {
        fsutil::write_atomic(&target, outcome.text.as_bytes(), mode, fsutil::Ownership::Keep)
            .with_context(|| format!("cannot write kubeconfig {}", target.display()))?;
    }
    Ok(outcome)
}

/// A kubeconfig kept as a symlink (dotfile managers do this) is written through.
fn resolve_symlink(path: &Path) -> PathBuf {
    match fs::symlink_metadata(path) {
        Ok(meta) if meta.file_type().is_symlink() => fs::canonicalize(path).unwrap_or_else(|_| path.to_owned()),
        _ => path.to_owned(),
    }
}

/// client-go's kubeconfig lock: `<file>.lock`, created exclusively (never through a
/// symlink), removed after the write. kubectl fails at once when it finds one;
/// `setup` waits a bounded time.
///
/// A lock left behind would break every `kubectl config` command, and the release
/// build aborts on panic, so `Drop` would not run: a held lock is also registered
/// with a panic hook that removes it (docs/security.md#locks).
struct KubeconfigLock {
    path: PathBuf,
}

/// Lock files this process holds, for the panic hook.
static HELD: std::sync::Mutex<Vec<PathBuf>> = std::sync::Mutex::new(Vec::new());

fn remove_held_locks_on_panic() {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if let Ok(held) = HELD.lock() {
                for path in held.iter() {
                    let _ = fs::remove_file(path);
                }
            }
            previous(info);
        }));
    });
}

impl KubeconfigLock {
    fn acquire(kubeconfig: &Path) -> anyhow::Result<Self> {
        let mut name = kubeconfig.as_os_str().to_owned();
        name.push(".lock");
        let path = PathBuf::from(name);
        remove_held_locks_on_panic();
        let deadline = Instant::now() + LOCK_WAIT;
        loop {
            match fsutil::create_exclusive(&path) {
                Ok(_) => {
                    HELD.lock().unwrap_or_else(|e| e.into_inner()).push(path.clone());
                    return Ok(Self { path });
                }
                Err(err) if err.kind() == ErrorKind::AlreadyExists && Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10));
                }
                Err(err) if err.kind() == ErrorKind::AlreadyExists => {
                    return Err(ConfigError::new(format!(
                        "kubeconfig {} is locked by another process ({} exists)",
                        kubeconfig.display(),
                        path.display()
                    ))
                    .with_hint(format!("if no kubectl is running, remove {}", path.display()))
                    .into());
                }
                Err(err) => return Err(anyhow::Error::new(err).context(format!("cannot create {}", path.display()))),
            }
        }
    }
}

impl Drop for KubeconfigLock {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
        HELD.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|p| p != &self.path);
    }
}

/// A kubeconfig user that runs this plugin (for `doctor`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PluginUser {
    pub user: String,
    pub command: String,
    pub profile: Option<String>,
    pub profiles_file: Option<String>,
    /// The `--output` it asks for: `None` leaves it to `KUBERNETES_EXEC_INFO`,
    /// which not every exec client sets (users written by `setup` before 0.2).
    pub output: Option<String>,
}

/// The users in `config` whose exec command is this plugin.
pub fn plugin_users(config: &Kubeconfig) -> Vec<PluginUser> {
    let mut users = Vec::new();
    for named in &config.auth_infos {
        let Some(exec) = named.auth_info.as_ref().and_then(|a| a.exec.as_ref()) else {
            continue;
        };
        let Some(command) = exec.command.as_deref() else {
            continue;
        };
        let base = Path::new(command)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let args = exec.args.clone().unwrap_or_default();
        let direct = base.starts_with("kubectl-runai-token") || base.starts_with("kubectl-runai_token");
        let via_kubectl = base == "kubectl" && args.first().is_some_and(|a| a == "runai-token" || a == "runai_token");
        if !(direct || via_kubectl) {
            continue;
        }
        let flag = |long: &str, short: Option<&str>| {
            args.iter().enumerate().find_map(|(i, a)| {
                if a == long || Some(a.as_str()) == short {
                    args.get(i + 1).cloned()
                } else {
                    a.strip_prefix(&format!("{long}=")).map(str::to_owned)
                }
            })
        };
        users.push(PluginUser {
            user: named.name.clone(),
            command: command.to_owned(),
            profile: flag("--profile", Some("-p")),
            profiles_file: flag("--profiles-file", None),
            output: flag("--output", Some("-o")),
        });
    }
    users
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> ExecUser {
        ExecUser {
            user: "runai-acme".into(),
            command: "kubectl-runai_token".into(),
            profile: "acme".into(),
            profiles_file: PathBuf::from("/home/u/.kube/runai-profiles.yaml"),
            api_version: ExecApiVersion::V1,
            interactive: false,
        }
    }

    const EXISTING: &str = "\
apiVersion: v1
kind: Config
x-top-level: kept
preferences:
  colors: true
clusters:
- name: prod
  cluster:
    server: https://prod.example:6443
    certificate-authority-data: LS0t
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
    as: someone
    x-user-unknown: [a, b]
contexts:
- name: prod
  context: {cluster: prod, user: admin, namespace: team-a}
current-context: prod
extensions:
- name: some.vendor/ext
  extension: {x: 1}
";

    #[test]
    fn new_file_gets_a_minimal_config() {
        let outcome = edit("", &user(), None).unwrap();
        assert_eq!(
            outcome.text,
            "apiVersion: v1\nkind: Config\nusers:\n- name: runai-acme\n  user:\n    exec:\n      \
             apiVersion: client.authentication.k8s.io/v1\n      command: kubectl-runai_token\n      args:\n      \
             - get\n      - --profile\n      - acme\n      - --profiles-file\n      - /home/u/.kube/runai-profiles.yaml\n      \
             - --output\n      - exec-credential\n      interactiveMode: Never\n      installHint: |\n        kubectl-runai-token is not installed or not on PATH.\n        \
             Install it with krew: kubectl krew install runai-token\n        \
             (or install the binary and link it as kubectl-runai_token: see its README).\n"
        );
        // kube-rs reads back what was written.
        let model = Kubeconfig::from_yaml(&outcome.text).unwrap();
        let exec = model.auth_infos[0].auth_info.as_ref().unwrap().exec.as_ref().unwrap();
        assert_eq!(exec.api_version.as_deref(), Some(EXEC_API_VERSION));
        assert_eq!(exec.interactive_mode, Some(kube::config::ExecInteractiveMode::Never));
    }

    #[test]
    fn everything_else_survives_and_credentials_are_replaced() {
        let context = ContextEdit {
            name: "acme".into(),
            cluster: Some("prod".into()),
            set_current: true,
        };
        let outcome = edit(EXISTING, &user(), Some(&context)).unwrap();
        assert_eq!(outcome.replaced, ["token"]);
        assert!(outcome.user_existed && !outcome.context_existed);
        let before: Value = serde_yaml::from_str(EXISTING).unwrap();
        let after: Value = serde_yaml::from_str(&outcome.text).unwrap();
        for key in ["x-top-level", "preferences", "clusters", "extensions"] {
            assert_eq!(before[key], after[key], "{key}");
        }
        assert_eq!(before["users"][0], after["users"][0], "the other user");
        assert_eq!(before["contexts"][0], after["contexts"][0], "the other context");
        let ours = &after["users"][1]["user"];
        assert_eq!(ours["as"], "someone", "impersonation is not a credential");
        assert_eq!(ours["x-user-unknown"], before["users"][1]["user"]["x-user-unknown"]);
        assert!(ours.get("token").is_none());
        assert_eq!(ours["exec"]["command"], "kubectl-runai_token");
        assert_eq!(after["contexts"][1]["context"]["cluster"], "prod");
        assert_eq!(after["contexts"][1]["context"]["user"], "runai-acme");
        assert_eq!(after["current-context"], "acme");
        // And a second run changes nothing, byte for byte.
        let again = edit(&outcome.text, &user(), Some(&context)).unwrap();
        assert_eq!(again.text, outcome.text);
        assert!(again.replaced.is_empty());
    }

    #[test]
    fn auth_provider_users_are_converted() {
        let text = "users:\n- name: runai-acme\n  user:\n    auth-provider:\n      name: oidc\n      config: {client-id: runai-cli, id-token: x}\n";
        let outcome = edit(text, &user(), None).unwrap();
        assert_eq!(outcome.replaced, ["auth-provider"]);
        assert!(!outcome.text.contains("id-token"));
        assert!(Kubeconfig::from_yaml(&outcome.text).is_ok());
    }

    #[test]
    fn an_existing_context_keeps_its_cluster_and_namespace() {
        let context = ContextEdit {
            name: "prod".into(),
            cluster: None,
            set_current: false,
        };
        let outcome = edit(EXISTING, &user(), Some(&context)).unwrap();
        let after: Value = serde_yaml::from_str(&outcome.text).unwrap();
        assert_eq!(after["contexts"][0]["context"]["namespace"], "team-a");
        assert_eq!(after["contexts"][0]["context"]["cluster"], "prod");
        assert_eq!(after["contexts"][0]["context"]["user"], "runai-acme");
        assert_eq!(after["current-context"], "prod");
        let missing = ContextEdit {
            name: "new".into(),
            cluster: None,
            set_current: false,
        };
        assert_eq!(
            edit(EXISTING, &user(), Some(&missing)).unwrap_err(),
            "context \"new\" does not exist yet: give --cluster for it"
        );
    }

    #[test]
    fn finds_plugin_users() {
        let outcome = edit(EXISTING, &user(), None).unwrap();
        let via_kubectl = "users:\n- name: k\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      \
                           command: kubectl\n      args: [runai-token, get, -p, other]\n      interactiveMode: Never\n";
        let mut users = plugin_users(&Kubeconfig::from_yaml(&outcome.text).unwrap());
        users.extend(plugin_users(&Kubeconfig::from_yaml(via_kubectl).unwrap()));
        assert_eq!(
            users,
            [
                PluginUser {
                    user: "runai-acme".into(),
                    command: "kubectl-runai_token".into(),
                    profile: Some("acme".into()),
                    profiles_file: Some("/home/u/.kube/runai-profiles.yaml".into()),
                    output: Some("exec-credential".into()),
                },
                PluginUser {
                    user: "k".into(),
                    command: "kubectl".into(),
                    profile: Some("other".into()),
                    profiles_file: None,
                    output: None,
                },
            ]
        );
    }

    /// The release build aborts on panic, so `Drop` never runs: the hook alone must
    /// take the lock away, or every later `kubectl config` fails on it.
    #[test]
    fn a_panic_while_holding_the_lock_leaves_no_lock_file() {
        let dir = tempfile::tempdir().unwrap();
        let config = dir.path().join("config");
        let lock_file = dir.path().join("config.lock");
        let result = std::panic::catch_unwind(|| {
            let lock = KubeconfigLock::acquire(&config).unwrap();
            assert!(lock_file.exists());
            std::mem::forget(lock); // as under panic = "abort": no Drop
            panic!("a bug between taking and releasing the lock");
        });
        assert!(result.is_err());
        assert!(!lock_file.exists(), "the panic hook removed the lock");
    }

    #[test]
    fn a_context_without_a_cluster_needs_one() {
        let context = ContextEdit {
            name: "prod".into(),
            cluster: None,
            set_current: false,
        };
        assert_eq!(
            edit("contexts:\n- name: prod\n", &user(), Some(&context)).unwrap_err(),
            "context \"prod\" has no cluster: give --cluster for it"
        );
        let with = ContextEdit {
            cluster: Some("c".into()),
            ..context
        };
        let outcome = edit("contexts:\n- name: prod\n", &user(), Some(&with)).unwrap();
        assert!(Kubeconfig::from_yaml(&outcome.text).is_ok());
    }

    #[test]
    fn chooses_the_file_that_has_the_user() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        fs::write(&a, "users:\n- name: other\n  user: {token: t}\n").unwrap();
        fs::write(&b, "users:\n- name: runai-acme\n  user: {token: t}\n").unwrap();
        let list = [a.clone(), b.clone()];
        assert_eq!(choose_file(None, &list, "runai-acme").unwrap(), b);
        assert_eq!(choose_file(None, &list, "runai-new").unwrap(), a);
        assert_eq!(
            choose_file(Some(Path::new("/x")), &list, "runai-acme").unwrap(),
            PathBuf::from("/x")
        );
        fs::write(&a, "users: [").unwrap();
        assert!(
            choose_file(None, &list, "runai-acme")
                .unwrap_err()
                .to_string()
                .contains("is not valid")
        );
    }
}
