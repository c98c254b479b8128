//! The test harness: [`TestEnv`] gives each test its own HOME, profiles file, cache
//! dir and KUBECONFIG and runs the real binary with a clean environment; [`realm`]
//! starts the test realm (tests/realm, a real OpenID Connect server) once per test
//! process and gives each test its own tenant.

pub mod http;
pub mod realm;
#[cfg(unix)]
pub mod unix;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

pub use realm::{Tenant, TenantSpec, realm};

pub const BIN: &str = env!("CARGO_BIN_EXE_kubectl-runai-token");

/// One test's private world.
pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub home: PathBuf,
    extra_env: Vec<(String, String)>,
    path_prefix: Vec<PathBuf>,
}

impl TestEnv {
    pub fn new() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("runai-token-test")
            .tempdir()
            .expect("tempdir");
        let home = dir.path().join("home");
        fs::create_dir_all(home.join(".kube")).unwrap();
        Self {
            dir,
            home,
            extra_env: Vec::new(),
            path_prefix: Vec::new(),
        }
    }

    pub fn kube_dir(&self) -> PathBuf {
        self.home.join(".kube")
    }

    pub fn profiles_file(&self) -> PathBuf {
        self.kube_dir().join("runai-profiles.yaml")
    }

    pub fn kubeconfig(&self) -> PathBuf {
        self.kube_dir().join("config")
    }

    pub fn cache_dir(&self) -> PathBuf {
        self.kube_dir().join("cache").join("runai-token")
    }

    /// Writes the profiles file with mode 0600.
    pub fn write_profiles(&self, yaml: &str) {
        write_private(&self.profiles_file(), yaml);
    }

    /// Adds an environment variable to every command this env runs.
    pub fn env(&mut self, name: &str, value: &str) -> &mut Self {
        self.extra_env.push((name.to_owned(), value.to_owned()));
        self
    }

    /// Puts `dir` first on PATH for every command.
    pub fn prepend_path(&mut self, dir: &Path) -> &mut Self {
        self.path_prefix.push(dir.to_owned());
        self
    }

    /// A command with a clean environment: only PATH, HOME, KUBECONFIG and what the
    /// test added. No KUBERNETES_EXEC_INFO, no RUNAI_*, no proxies.
    pub fn command(&self, program: impl AsRef<std::ffi::OsStr>) -> Command {
        let mut cmd = Command::new(program);
        cmd.env_clear();
        let mut path: Vec<PathBuf> = self.path_prefix.clone();
        path.extend(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()));
        cmd.env("PATH", std::env::join_paths(path).unwrap());
        cmd.env("HOME", &self.home);
        cmd.env("KUBECONFIG", self.kubeconfig());
        for (name, value) in &self.extra_env {
            cmd.env(name, value);
        }
        cmd.current_dir(self.dir.path());
        cmd.stdin(Stdio::null());
        cmd
    }

    /// The plugin with `args`.
    pub fn plugin(&self, args: &[&str]) -> Command {
        let mut cmd = self.command(BIN);
        cmd.args(args);
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        Run::of(self.plugin(args))
    }

    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.plugin(args);
        for (name, value) in env {
            cmd.env(name, value);
        }
        Run::of(cmd)
    }
}

/// A finished process.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub what: String,
}

impl Run {
    pub fn of(mut cmd: Command) -> Self {
        let what = format!("{cmd:?}");
        let output = cmd.output().unwrap_or_else(|err| panic!("cannot run {what}: {err}"));
        Self::from_output(output, what)
    }

    pub fn from_output(output: Output, what: String) -> Self {
        Self {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            what,
        }
    }

    fn describe(&self) -> String {
        format!(
            "{}\nexit {}\n--- stdout\n{}--- stderr\n{}---",
            self.what, self.code, self.stdout, self.stderr
        )
    }

    /// Exit 0 and an empty stderr (docs/commands.md#exit-codes).
    pub fn success(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success:\n{}", self.describe());
        assert_eq!(self.stderr, "", "stderr must be empty on success:\n{}", self.describe());
        self
    }

    /// Exit 0, stderr allowed (-v runs).
    pub fn ok(&self) -> &Self {
        assert_eq!(self.code, 0, "expected success:\n{}", self.describe());
        self
    }

    /// The failure shape of docs/commands.md#exit-codes: `code`, nothing on stdout, one
    /// `error:` line, optionally followed by one `hint:` line.
    pub fn failure(&self, code: i32) -> &Self {
        assert_eq!(self.code, code, "expected exit {code}:\n{}", self.describe());
        assert_eq!(self.stdout, "", "stdout must be empty on failure:\n{}", self.describe());
        let lines: Vec<&str> = self.stderr.lines().collect();
        assert!(
            matches!(lines.as_slice(), [e] if e.starts_with("error: "))
                || matches!(lines.as_slice(), [e, h] if e.starts_with("error: ") && h.starts_with("hint: ")),
            "stderr must be one error: line and at most one hint: line:\n{}",
            self.describe()
        );
        self
    }

    /// The `error:` line.
    pub fn error_line(&self) -> &str {
        self.stderr
            .lines()
            .find(|l| l.starts_with("error: "))
            .unwrap_or_else(|| panic!("no error line:\n{}", self.describe()))
    }

    pub fn hint_line(&self) -> Option<&str> {
        self.stderr.lines().find(|l| l.starts_with("hint: "))
    }

    pub fn stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.describe()
        );
        self
    }

    pub fn stdout_json(&self) -> serde_json::Value {
        serde_json::from_str(self.stdout.trim())
            .unwrap_or_else(|err| panic!("stdout is not JSON ({err}):\n{}", self.describe()))
    }
}

/// Writes a file with mode 0600.
pub fn write_private(path: &Path, text: &str) {
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).unwrap();
    }
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    unix::create_with_mode(&mut options, 0o600);
    options.open(path).unwrap().write_all(text.as_bytes()).unwrap();
    #[cfg(unix)]
    unix::chmod(path, 0o600); // an existing file keeps its mode on open: reset it
}

/// Makes `link` run the executable `target` (a path relative to the link's directory,
/// or absolute): on Unix a symbolic link, as the README installs the plugin; elsewhere
/// a copy with the platform's executable suffix, as krew installs it on Windows.
pub fn link_executable(target: &Path, link: &Path) {
    #[cfg(unix)]
    unix::symlink(target, link);
    #[cfg(not(unix))]
    {
        let mut name = link.as_os_str().to_owned();
        name.push(std::env::consts::EXE_SUFFIX);
        fs::copy(link.parent().unwrap().join(target), PathBuf::from(name)).unwrap();
    }
}

/// Polls `check` until it returns `Some` or `limit` passes.
pub fn poll<T>(limit: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Decodes a JWT's claims (no verification).
pub fn jwt_claims(token: &str) -> serde_json::Value {
    use base64::Engine;
    let part = token
        .split('.')
        .nth(1)
        .unwrap_or_else(|| panic!("not a JWT: {} chars", token.len()));
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .expect("base64url claims");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// Whether `text` shows a JSON Web Token: a word (a run of base64url characters and
/// dots) that starts as every JWT does, `eyJ` (`{"` encoded), with at least two dots.
/// Words, not substrings: a random id (a `jti`) may hold `eyJ` by chance.
pub fn shows_jwt(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        .any(|word| word.starts_with("eyJ") && word.matches('.').count() >= 2)
}

/// Whether `text` shows a JWT as base64 (how a Kubernetes Secret carries one): a word
/// of base64 characters that starts `ZXlK` (`eyJ` encoded) and is long enough to be one.
pub fn shows_base64_jwt(text: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '+' | '/' | '=')))
        .any(|word| word.starts_with("ZXlK") && word.len() >= 40)
}

/// Whether CI asked for strictness: a missing peer fails instead of being reported.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false")
}

/// The profile YAML for a tenant and a client.
pub fn profile_yaml(name: &str, tenant: &Tenant, client: &str, secret_key: &str, extra: &str) -> String {
    let mut yaml = format!(
        "apiVersion: runai-token/v1\nkind: Profiles\ncurrent-profile: {name}\nprofiles:\n- name: {name}\n  url: {url}\n  client-id: {client}\n  {secret_key}\n  realm: {realm}\n",
        url = tenant.url,
        realm = tenant.realm,
    );
    for line in extra.lines().filter(|l| !l.trim().is_empty()) {
        yaml.push_str("  ");
        yaml.push_str(line.trim());
        yaml.push('\n');
    }
    yaml
}

/// Every kubectl on the machine: the versioned `kubectl.1.NN` beside the real
/// kubectl (google-cloud-sdk ships 1.27 to 1.33), else `kubectl` itself. No kubectl
/// at all is a failure: the exec credential path is only proven by the real client.
pub fn kubectls() -> Vec<PathBuf> {
    let kubectl = std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())
        .map(|dir| dir.join("kubectl"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| panic!("kubectl is not on PATH: the tests run the plugin through real kubectl"));
    let real = fs::canonicalize(&kubectl).unwrap();
    let mut versioned: Vec<PathBuf> = fs::read_dir(real.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("kubectl.1."))
        .collect();
    versioned.sort_by_key(|p| {
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        name.rsplit('.')
            .next()
            .and_then(|minor| minor.parse::<u32>().ok())
            .unwrap_or(0)
    });
    if versioned.is_empty() {
        assert!(
            !in_ci(),
            "CI=true: no versioned kubectl (kubectl.1.NN) beside {}",
            real.display()
        );
        versioned.push(kubectl);
    }
    versioned
}

impl TestEnv {
    /// Installs the plugin as the README says: the binary and a `kubectl-runai_token`
    /// link, in a bin directory put first on PATH. Returns the directory.
    pub fn install_plugin(&mut self) -> PathBuf {
        let bin = self.dir.path().join("bin");
        fs::create_dir_all(&bin).unwrap();
        fs::copy(BIN, bin.join("kubectl-runai-token")).unwrap();
        link_executable(Path::new("kubectl-runai-token"), &bin.join("kubectl-runai_token"));
        self.prepend_path(&bin);
        bin
    }

    /// `setup` of a current context `runai` for the cluster `runai-test` (see
    /// [`TestEnv::write_cluster`]), with `extra` arguments; it must succeed.
    pub fn setup_runai_context(&self, extra: &[&str]) {
        let mut args = vec![
            "setup",
            "--context",
            "runai",
            "--cluster",
            "runai-test",
            "--set-current",
        ];
        args.extend_from_slice(extra);
        let setup = self.run(&args);
        assert_eq!(setup.code, 0, "{}", setup.stderr);
    }

    /// A kubeconfig with one cluster, `runai-test`, for the tenant's API stand-in.
    pub fn write_cluster(&self, tenant: &Tenant) {
        use base64::Engine;
        let ca = base64::engine::general_purpose::STANDARD.encode(&tenant.ca);
        let server = tenant.kube_url.as_deref().expect("a tenant with kube: true");
        write_private(
            &self.kubeconfig(),
            &format!(
                "apiVersion: v1\nkind: Config\nclusters:\n- name: runai-test\n  cluster:\n    server: {server}\n    \
                 certificate-authority-data: {ca}\n"
            ),
        );
    }
}

/// A tenant with its Kubernetes API stand-in, and a test world wired to it as a user
/// would: the plugin installed, a profile, the cluster in kubeconfig, and `setup`
/// run for a current context `runai`.
pub fn kube_env() -> (Tenant, TestEnv) {
    kube_env_with(TenantSpec::default(), &[])
}

/// [`kube_env`] with the tenant's `spec` (its endpoints become v2 alone, with the API
/// stand-in) and `setup_args` added to the setup run.
pub fn kube_env_with(spec: TenantSpec, setup_args: &[&str]) -> (Tenant, TestEnv) {
    let tenant = realm().tenant(spec.endpoints(&["v2"]).kube());
    let mut env = TestEnv::new();
    env.install_plugin();
    env.write_profiles(&tenant.profile("acme", ""));
    env.write_cluster(&tenant);
    env.setup_runai_context(setup_args);
    (tenant, env)
}

/// A tenant serving only `/api/v2/token`, and a test world with a profile `acme` for
/// it (`auth: v2`, plus the `extra` profile keys).
pub fn v2_env(spec: TenantSpec, extra: &str) -> (Tenant, TestEnv) {
    let tenant = realm().tenant(spec.endpoints(&["v2"]));
    let env = TestEnv::new();
    env.write_profiles(&tenant.profile("acme", &format!("auth: v2\n{extra}")));
    (tenant, env)
}
