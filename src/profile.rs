//! The profiles file (docs/profiles.md): its model, loading with errors that name the
//! key and the line, saving (0600, atomic, under a lock), and resolution of one
//! profile into a [`ResolvedProfile`] whose values are validated and whose secret is
//! loaded. Nothing after this module sees raw YAML.
//!
//! The YAML library stays behind this module (and `kubeconfig.rs`).

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Serialize};

use crate::config_error;
use crate::error::ConfigError;
use crate::fsutil;
use crate::paths::{Env, expand};
use crate::secret::{Secret, redact};
use crate::time::GoDuration;

pub const API_VERSION: &str = "runai-token/v1";
pub const KIND: &str = "Profiles";
/// Default `timeout`: the whole token request, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_SCOPE: &str = "openid";

/// The whole profiles file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfilesFile {
    #[serde(rename = "apiVersion", default = "default_api_version")]
    pub api_version: String,
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_profile: Option<String>,
    #[serde(default)]
    pub profiles: Vec<Profile>,
}

fn default_api_version() -> String {
    API_VERSION.to_owned()
}

fn default_kind() -> String {
    KIND.to_owned()
}

impl Default for ProfilesFile {
    fn default() -> Self {
        Self {
            api_version: default_api_version(),
            kind: default_kind(),
            current_profile: None,
            profiles: Vec::new(),
        }
    }
}

/// Which Run:ai REST API the token is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    /// The Administrator REST API, on the control plane (`url`).
    #[default]
    Admin,
    /// The Researcher REST API, on a cluster (`researcher-url`).
    Researcher,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Admin => "admin",
            Api::Researcher => "researcher",
        }
    }
}

/// Which token endpoint generation to speak to (docs/runai-versions.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Detect: v2, v1, app-token, then keycloak (with `realm`).
    #[default]
    Auto,
    /// `POST /api/v2/token`, OAuth2 form (Run:ai 2.24+, SaaS).
    V2,
    /// `POST /api/v1/token`, JSON client_credentials (Run:ai 2.20-2.23).
    V1,
    /// `POST /api/v1/token`, JSON app_token (Run:ai about 2.15-2.19).
    AppToken,
    /// The Keycloak realm's token endpoint (Run:ai 2.13 and older).
    Keycloak,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Auto => "auto",
            AuthMode::V2 => "v2",
            AuthMode::V1 => "v1",
            AuthMode::AppToken => "app-token",
            AuthMode::Keycloak => "keycloak",
        }
    }
}

/// Which field of the token response is the token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum TokenField {
    #[default]
    #[value(name = "access_token")]
    AccessToken,
    #[value(name = "id_token")]
    IdToken,
}

impl TokenField {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenField::AccessToken => "access_token",
            TokenField::IdToken => "id_token",
        }
    }
}

/// One profile as written in the file. Optional keys stay `None` so that saving
/// writes back only what the user wrote.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Profile {
    pub name: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub researcher_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_field: Option<TokenField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls_verify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "duration_text")]
    pub timeout: Option<GoDuration>,
}

mod duration_text {
    use super::GoDuration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<GoDuration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => s.serialize_str(&duration.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GoDuration>, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

/// Where the secret comes from, for messages and `doctor` (never the secret itself).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    Inline,
    File(PathBuf),
    Env(String),
    Command(Vec<String>),
}

impl fmt::Display for SecretSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline => f.write_str("client-secret (inline)"),
            SecretSource::File(path) => write!(f, "client-secret-file {}", path.display()),
            SecretSource::Env(name) => write!(f, "client-secret-env ${name}"),
            SecretSource::Command(argv) => write!(f, "client-secret-command {argv:?}"),
        }
    }
}

/// TLS settings for the token endpoint and the Run:ai API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `certificate-authority`, expanded.
    pub ca_file: Option<PathBuf>,
    /// `certificate-authority-data`, as written (base64 of PEM).
    pub ca_data: Option<String>,
    pub insecure_skip_verify: bool,
}

/// A profile with defaults applied, values validated and the secret loaded.
#[derive(Clone, Debug)]
pub struct ResolvedProfile {
    pub name: String,
    /// The control plane URL, without a trailing `/`.
    pub url: String,
    pub api: Api,
    pub researcher_url: Option<String>,
    pub auth: AuthMode,
    pub realm: Option<String>,
    pub token_url: Option<String>,
    pub client_id: String,
    pub secret: Secret<String>,
    pub secret_source: SecretSource,
    pub token_field: TokenField,
    pub scope: String,
    pub tls: TlsSettings,
    pub timeout: Duration,
}

impl ResolvedProfile {
    /// The base URL of the API that `api` names, when it is known.
    pub fn api_url(&self) -> Option<&str> {
        match self.api {
            Api::Admin => Some(&self.url),
            Api::Researcher => self.researcher_url.as_deref(),
        }
    }
}

#[cfg(test)]
impl ResolvedProfile {
    /// A resolved profile for unit tests: `acme` at https://acme.run.ai, client
    /// `ci-bot`, secret `s3cret`, every other key at its default.
    pub fn example() -> Self {
        Self {
            name: "acme".into(),
            url: "https://acme.run.ai".into(),
            api: Api::Admin,
            researcher_url: None,
            auth: AuthMode::Auto,
            realm: None,
            token_url: None,
            client_id: "ci-bot".into(),
            secret: Secret::new("s3cret".into()),
            secret_source: SecretSource::Inline,
            token_field: TokenField::AccessToken,
            scope: DEFAULT_SCOPE.into(),
            tls: TlsSettings::default(),
            timeout: DEFAULT_TIMEOUT,
        }
    }
}

/// A profiles file as read from disk: the model, its path and its text (for lines).
#[derive(Debug)]
pub struct LoadedFile {
    pub path: PathBuf,
    pub file: ProfilesFile,
    text: String,
}

impl LoadedFile {
    /// Reads and parses `path`. A missing file is a configuration error with a hint.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = match fsutil::read_text(path, fsutil::MAX_CONFIG_FILE) {
            Ok(text) => text,
            Err(fsutil::ReadError::NotFound) => {
                return Err(ConfigError::new(format!("profiles file {} not found", path.display()))
                    .with_hint(
                        "create a profile: kubectl runai-token profile set NAME --url URL \
                         --client-id ID --client-secret-file PATH",
                    )
                    .into());
            }
            Err(err) => {
                return Err(config_error!("profiles file {} {err}", path.display()));
            }
        };
        let file = parse(&text).map_err(|err| {
            let mut error = ConfigError::new(format!("profiles file {}: {}", path.display(), err.message));
            error.hint = err.hint;
            anyhow::Error::new(error)
        })?;
        let loaded = Self {
            path: path.to_owned(),
            file,
            text,
        };
        loaded.check_permissions()?;
        Ok(loaded)
    }

    /// Like [`LoadedFile::load`], but a missing file is an empty one (`profile set`).
    pub fn load_or_default(path: &Path) -> anyhow::Result<Self> {
        if !path.exists() {
            return Ok(Self {
                path: path.to_owned(),
                file: ProfilesFile::default(),
                text: String::new(),
            });
        }
        Self::load(path)
    }

    /// Refuses a file holding an inline secret that group or others can read.
    fn check_permissions(&self) -> anyhow::Result<()> {
        if !self.file.profiles.iter().any(|p| p.client_secret.is_some()) {
            return Ok(());
        }
        let metadata =
            fs::metadata(&self.path).with_context(|| format!("cannot read profiles file {}", self.path.display()))?;
        if fsutil::readable_by_others(&metadata) {
            return Err(ConfigError::new(format!(
                "profiles file {} holds a client-secret and is readable by group or others",
                self.path.display()
            ))
            .with_hint(format!("chmod 600 {}", self.path.display()))
            .into());
        }
        Ok(())
    }

    /// The profile to use: `--profile`/`$RUNAI_PROFILE`, else `current-profile`, else
    /// the only profile.
    pub fn select(&self, requested: Option<&str>) -> anyhow::Result<&Profile> {
        let profiles = &self.file.profiles;
        if profiles.is_empty() {
            return Err(
                ConfigError::new(format!("profiles file {} has no profiles", self.path.display()))
                    .with_hint("create one: kubectl runai-token profile set NAME --url URL --client-id ID ...")
                    .into(),
            );
        }
        let (name, origin) = match (requested, &self.file.current_profile) {
            (Some(name), _) => (name, "requested"),
            (None, Some(current)) => (current.as_str(), "current-profile"),
            (None, None) if profiles.len() == 1 => return Ok(&profiles[0]),
            (None, None) => {
                return Err(ConfigError::new(format!(
                    "no profile selected: {} has {} profiles and no current-profile",
                    self.path.display(),
                    profiles.len()
                ))
                .with_hint(format!(
                    "pass --profile NAME or run: kubectl runai-token profile use NAME (known: {})",
                    self.names().join(", ")
                ))
                .into());
            }
        };
        self.find(name).ok_or_else(|| {
            let what = if origin == "requested" {
                "profile"
            } else {
                "current-profile"
            };
            ConfigError::new(format!(
                "{what} {name:?} not found in {} (known profiles: {})",
                self.path.display(),
                self.names().join(", ")
            ))
            .into()
        })
    }

    pub fn find(&self, name: &str) -> Option<&Profile> {
        self.file.profiles.iter().find(|p| p.name == name)
    }

    pub fn names(&self) -> Vec<&str> {
        self.file.profiles.iter().map(|p| p.name.as_str()).collect()
    }

    /// Resolves `profile` (which belongs to this file): validates every value and
    /// loads the secret.
    pub fn resolve(&self, profile: &Profile, env: &Env) -> anyhow::Result<ResolvedProfile> {
        let at = |key: &str| -> String {
            match key_line(&self.text, &profile.name, key) {
                Some(line) => format!("{} line {line}: profile {:?}: {key}", self.path.display(), profile.name),
                None => format!("{}: profile {:?}: {key}", self.path.display(), profile.name),
            }
        };
        let base = self.path.parent().unwrap_or(Path::new("."));

        let checked = check_values(profile).map_err(|bad| {
            let mut error = ConfigError::new(format!("{}: {}", at(bad.key), bad.message));
            error.hint = bad.hint;
            anyhow::Error::new(error)
        })?;
        let ca_file = match &profile.certificate_authority {
            Some(path) => {
                Some(expand(path, base, env).map_err(|e| config_error!("{}: {e}", at("certificate-authority")))?)
            }
            None => None,
        };
        let (secret, secret_source) = self.load_secret(profile, env, base, checked.timeout, &at)?;
        Ok(ResolvedProfile {
            name: profile.name.clone(),
            url: checked.url,
            api: profile.api.unwrap_or_default(),
            researcher_url: checked.researcher_url,
            auth: profile.auth.unwrap_or_default(),
            realm: profile.realm.clone().filter(|r| !r.is_empty()),
            token_url: checked.token_url,
            client_id: profile.client_id.clone(),
            secret,
            secret_source,
            token_field: profile.token_field.unwrap_or_default(),
            scope: profile.scope.clone().unwrap_or_else(|| DEFAULT_SCOPE.to_owned()),
            tls: TlsSettings {
                ca_file,
                ca_data: profile.certificate_authority_data.clone(),
                insecure_skip_verify: profile.insecure_skip_tls_verify.unwrap_or(false),
            },
            timeout: checked.timeout,
        })
    }

    fn load_secret(
        &self,
        profile: &Profile,
        env: &Env,
        base: &Path,
        timeout: Duration,
        at: &dyn Fn(&str) -> String,
    ) -> anyhow::Result<(Secret<String>, SecretSource)> {
        let sources = profile.secret_sources();
        match sources.as_slice() {
            [] => {
                return Err(ConfigError::new(format!(
                    "{}: profile {:?} has no secret source",
                    self.path.display(),
                    profile.name
                ))
                .with_hint(
                    "set exactly one of client-secret-file, client-secret-env, \
                     client-secret-command or client-secret",
                )
                .into());
            }
            [_] => {}
            several => {
                return Err(config_error!(
                    "{}: profile {:?} has {} secret sources ({}): keep exactly one",
                    self.path.display(),
                    profile.name,
                    several.len(),
                    several.join(", ")
                ));
            }
        }
        let (value, source) = if let Some(inline) = &profile.client_secret {
            (inline.expose().clone(), SecretSource::Inline)
        } else if let Some(file) = &profile.client_secret_file {
            let path = expand(file, base, env).map_err(|e| config_error!("{}: {e}", at("client-secret-file")))?;
            (
                read_secret_file(&path).map_err(|e| e.context(at("client-secret-file")))?,
                SecretSource::File(path),
            )
        } else if let Some(name) = &profile.client_secret_env {
            let value = env.var(name).ok_or_else(|| {
                ConfigError::new(format!("{}: ${name} is not set", at("client-secret-env"))).with_hint(format!(
                    "export {name} with the client secret, or choose another secret source"
                ))
            })?;
            (value, SecretSource::Env(name.clone()))
        } else if let Some(argv) = &profile.client_secret_command {
            (
                run_secret_command(argv, timeout).map_err(|e| e.context(at("client-secret-command")))?,
                SecretSource::Command(argv.clone()),
            )
        } else {
            unreachable!("secret_sources() returned one source")
        };
        let value = value.trim().to_owned();
        if value.is_empty() {
            return Err(config_error!(
                "{}: the client secret from {source} is empty",
                self.path.display()
            ));
        }
        Ok((Secret::new(value), source))
    }

    /// Saves `file` to `path` atomically with mode 0600, creating the directory
    /// (0700) when needed. Callers hold [`lock_for_update`] around load and save.
    pub fn save(path: &Path, file: &ProfilesFile) -> anyhow::Result<()> {
        let text = serde_yaml::to_string(file).context("cannot serialize the profiles file")?;
        if let Some(dir) = path.parent() {
            fsutil::create_private_dir(dir)
                .map_err(|err| config_error!("cannot create directory {}: {err}", dir.display()))?;
        }
        fsutil::write_atomic(path, text.as_bytes(), 0o600, fsutil::Ownership::Keep)
            .map_err(|err| config_error!("cannot write profiles file {}: {err}", path.display()))
    }
}

/// Holds `<profiles file>.lock` so that concurrent `profile set` runs do not lose
/// each other's changes.
pub fn lock_for_update(path: &Path) -> anyhow::Result<fsutil::Lock> {
    if let Some(dir) = path.parent() {
        fsutil::create_private_dir(dir)
            .map_err(|err| config_error!("cannot create directory {}: {err}", dir.display()))?;
    }
    let lock_path = path.with_file_name(format!(
        "{}.lock",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    fsutil::lock(&lock_path, Duration::from_secs(10))
        .map_err(|err| config_error!("cannot lock {}: {err}", lock_path.display()))?
        .ok_or_else(|| config_error!("{} is locked by another process", lock_path.display()))
}

impl Profile {
    /// The secret keys this profile sets.
    pub fn secret_sources(&self) -> Vec<&'static str> {
        let mut sources = Vec::new();
        if self.client_secret.is_some() {
            sources.push("client-secret");
        }
        if self.client_secret_file.is_some() {
            sources.push("client-secret-file");
        }
        if self.client_secret_env.is_some() {
            sources.push("client-secret-env");
        }
        if self.client_secret_command.is_some() {
            sources.push("client-secret-command");
        }
        sources
    }

    /// Drops every secret source (before `profile set` puts in a new one).
    pub fn clear_secret_sources(&mut self) {
        self.client_secret = None;
        self.client_secret_file = None;
        self.client_secret_env = None;
        self.client_secret_command = None;
    }
}

/// A value that fails the checks of [`check_values`]: its key, what is wrong, a fix.
struct BadValue {
    key: &'static str,
    message: String,
    hint: Option<String>,
}

/// What [`check_values`] normalizes.
struct Checked {
    url: String,
    researcher_url: Option<String>,
    token_url: Option<String>,
    timeout: Duration,
}

/// The checks that need nothing but the profile itself.
fn check_values(profile: &Profile) -> Result<Checked, BadValue> {
    let bad = |key, message| BadValue {
        key,
        message,
        hint: None,
    };
    let optional_url = |key, value: &Option<String>| match value {
        Some(url) => check_url(url).map(Some).map_err(|e| bad(key, e)),
        None => Ok(None),
    };
    let url = check_url(&profile.url).map_err(|e| bad("url", e))?;
    let researcher_url = optional_url("researcher-url", &profile.researcher_url)?;
    let token_url = optional_url("token-url", &profile.token_url)?;
    let realm = profile.realm.as_deref().filter(|r| !r.is_empty());
    if profile.auth == Some(AuthMode::Keycloak) && realm.is_none() && token_url.is_none() {
        return Err(BadValue {
            key: "realm",
            message: "auth: keycloak needs a realm".to_owned(),
            hint: Some("set realm: the Keycloak realm from the Run:ai UI (self-hosted: runai)".to_owned()),
        });
    }
    if profile.client_id.is_empty() {
        return Err(bad("client-id", "must not be empty".to_owned()));
    }
    let timeout = profile.timeout.map(|d| d.0).unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        return Err(bad("timeout", "must be more than 0s".to_owned()));
    }
    Ok(Checked {
        url,
        researcher_url,
        token_url,
        timeout,
    })
}

/// The checks `profile set` runs before it writes: everything but the secret.
pub fn check_static(profile: &Profile) -> anyhow::Result<()> {
    check_name(&profile.name)?;
    check_values(profile).map(|_| ()).map_err(|bad| {
        let mut error = ConfigError::new(format!("{}: {}", bad.key, bad.message));
        error.hint = bad.hint;
        error.into()
    })
}

/// Profile names end up in kubeconfig user names and command lines: keep them plain.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(config_error!(
            "invalid profile name {name:?}: use letters, digits, '-', '_' and '.' (at most 63)"
        ))
    }
}

struct ParseError {
    message: String,
    hint: Option<String>,
}

/// Parses the text of a profiles file (no file system, no resolution): the entry
/// point for fuzzing what a user or an editor wrote.
pub fn parse_text(text: &str) -> anyhow::Result<ProfilesFile> {
    parse(text).map_err(|err| config_error!("{}", err.message))
}

fn parse(text: &str) -> Result<ProfilesFile, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    crate::nesting::check(text).map_err(|message| ParseError { message, hint: None })?;
    let file: ProfilesFile = if text.trim().is_empty() {
        ProfilesFile::default()
    } else {
        serde_yaml::from_str(text).map_err(|err| yaml_error(&err))?
    };
    if file.api_version != API_VERSION {
        return Err(ParseError {
            message: format!(
                "apiVersion {:?} is not supported (want {API_VERSION:?})",
                file.api_version
            ),
            hint: None,
        });
    }
    if file.kind != KIND {
        return Err(ParseError {
            message: format!("kind {:?} is not {KIND:?}", file.kind),
            hint: None,
        });
    }
    let mut seen = std::collections::BTreeSet::new();
    for profile in &file.profiles {
        if let Err(err) = check_name(&profile.name) {
            return Err(ParseError {
                message: err.to_string(),
                hint: None,
            });
        }
        if !seen.insert(profile.name.as_str()) {
            let line = key_line(text, &profile.name, "name")
                .map(|l| format!(" (line {l})"))
                .unwrap_or_default();
            return Err(ParseError {
                message: format!("profile {:?} is defined twice{line}", profile.name),
                hint: None,
            });
        }
    }
    Ok(file)
}

/// serde_yaml's message, with the long "expected one of" list moved to the hint.
fn yaml_error(err: &serde_yaml::Error) -> ParseError {
    let message = err.to_string();
    let location = err
        .location()
        .map(|l| format!(" at line {} column {}", l.line(), l.column()))
        .unwrap_or_default();
    if let Some(start) = message.find("unknown field `") {
        let rest = &message[start + "unknown field `".len()..];
        if let Some(end) = rest.find('`') {
            let key = &rest[..end];
            let prefix = message[..start].trim_end_matches(": ").to_owned();
            let expected = rest[end..]
                .split_once("expected one of ")
                .map(|(_, list)| list.split(" at line").next().unwrap_or(list).replace('`', ""));
            let place = if prefix.is_empty() {
                String::new()
            } else {
                format!(" in {prefix}")
            };
            return ParseError {
                message: format!("unknown key {key:?}{place}{location}"),
                hint: expected.map(|list| format!("valid keys here: {list}")),
            };
        }
    }
    if message.contains(" at line ") || location.is_empty() {
        ParseError { message, hint: None }
    } else {
        ParseError {
            message: format!("{message}{location}"),
            hint: None,
        }
    }
}

/// The 1-based line of `key:` inside the profile named `name`, if it can be found.
fn key_line(text: &str, name: &str, key: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let is_name_line = |line: &str| {
        let trimmed = line.trim_start().trim_start_matches('-').trim_start();
        trimmed.strip_prefix("name:").is_some_and(|value| {
            let value = value.split(" #").next().unwrap_or(value).trim();
            value.trim_matches(|c| c == '"' || c == '\'') == name
        })
    };
    let start = lines.iter().position(|l| is_name_line(l))?;
    // The entry's extent: from its `- ` line back up, to the next `- ` at that indent.
    let entry_start = (0..=start).rev().find(|&i| lines[i].trim_start().starts_with('-'))?;
    let indent = lines[entry_start].len() - lines[entry_start].trim_start().len();
    for (i, line) in lines.iter().enumerate().skip(entry_start) {
        let this_indent = line.len() - line.trim_start().len();
        let ends_entry = this_indent < indent || (this_indent == indent && line.trim_start().starts_with('-'));
        if i > entry_start && !line.trim().is_empty() && ends_entry {
            break;
        }
        let trimmed = line.trim_start().trim_start_matches('-').trim_start();
        if trimmed.strip_prefix(key).is_some_and(|rest| rest.starts_with(':')) {
            return Some(i + 1);
        }
    }
    Some(start + 1)
}

/// `https://`, or `http://` to a loopback host. Returns the URL without trailing `/`.
fn check_url(text: &str) -> Result<String, String> {
    // Checked first, and never quoted: a password in a URL must not reach an error.
    let shown = match text
        .split_once("://")
        .and_then(|(scheme, rest)| rest.split_once('@').map(|(_, host)| (scheme, host)))
    {
        Some((scheme, host)) => format!("{scheme}://{host}"),
        None => text.to_owned(),
    };
    let url = reqwest::Url::parse(text).map_err(|err| format!("{shown:?} is not a URL: {err}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{shown:?} must not contain credentials"));
    }
    let text = shown.as_str();
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(format!("{text:?} has no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{text:?} must be https:// (plain http is allowed only for loopback hosts)"
            ));
        }
        other => return Err(format!("{text:?}: scheme {other:?} is not supported, use https://")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must not have a query or fragment"));
    }
    Ok(text.trim_end_matches('/').to_owned())
}

fn read_secret_file(path: &Path) -> anyhow::Result<String> {
    let bytes = fsutil::read_regular(path, fsutil::MAX_SECRET).map_err(|err| match err {
        fsutil::ReadError::NotFound => ConfigError::new(format!("secret file {} not found", path.display()))
            .with_hint("create the file with the client secret, mode 600"),
        fsutil::ReadError::TooLarge(_) => ConfigError::new(format!("secret file {} {err}", path.display()))
            .with_hint("the file must hold the client secret alone"),
        other => ConfigError::new(format!("secret file {} {other}", path.display())),
    })?;
    let metadata = fs::metadata(path).map_err(|err| config_error!("cannot read {}: {err}", path.display()))?;
    if fsutil::readable_by_others(&metadata) {
        return Err(
            ConfigError::new(format!("secret file {} is readable by group or others", path.display()))
                .with_hint(format!("chmod 600 {}", path.display()))
                .into(),
        );
    }
    String::from_utf8(bytes).map_err(|_| config_error!("secret file {} is not UTF-8 text", path.display()))
}

/// Runs `argv` without a shell and returns its stdout, waiting at most `timeout` (a
/// password manager waiting for a touch must not hang every kubectl command).
fn run_secret_command(argv: &[String], timeout: Duration) -> anyhow::Result<String> {
    use std::io::Read;
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| config_error!("the command is empty"))?;
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| config_error!("cannot run {program:?}: {err}"))?;
    // Each pipe is read up to a cap and then closed: a command that prints without
    // end gets EPIPE instead of growing this process's memory.
    let read_capped = |pipe: Option<Box<dyn Read + Send>>, cap: u64| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(cap + 1).read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = read_capped(
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        fsutil::MAX_SECRET,
    );
    let stderr = read_capped(
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        fsutil::MAX_SECRET,
    );
    let deadline = std::time::Instant::now() + timeout;
    // Polls from 0.2 ms up to 20 ms: a fast command costs little extra wall time.
    let mut pause = Duration::from_micros(200);
    let status = loop {
        if let Some(status) = child
            .try_wait()
            .map_err(|err| config_error!("waiting for {program:?}: {err}"))?
        {
            break status;
        }
        if std::time::Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(config_error!(
                "{program:?} did not finish within {}",
                GoDuration(timeout)
            ));
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if stdout.len() as u64 > fsutil::MAX_SECRET {
        return Err(config_error!(
            "{program:?} printed more than {} KiB: a client secret is a short string",
            fsutil::MAX_SECRET / 1024
        ));
    }
    let stdout =
        String::from_utf8(stdout).map_err(|_| config_error!("{program:?} printed a secret that is not UTF-8"))?;
    if !status.success() {
        // The command's stderr is quoted to help the user; anything it printed on
        // stdout (a secret, perhaps), whole or line by line, is scrubbed from it.
        let printed: Vec<&str> = std::iter::once(stdout.trim())
            .chain(stdout.lines().map(str::trim))
            .collect();
        let stderr = redact(String::from_utf8_lossy(&stderr).trim(), &printed);
        // Quoted with `{:?}`, which escapes control characters for the terminal.
        let stderr: String = stderr.chars().take(300).collect();
        return Err(config_error!("{program:?} failed ({status}): {stderr:?}"));
    }
    Ok(stdout)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = "\
apiVersion: runai-token/v1
kind: Profiles
current-profile: acme-admin
profiles:
- name: acme-admin
  url: https://acme.run.ai
  api: admin
  researcher-url: https://gpu1.acme.com
  auth: auto
  realm: acme
  token-url: https://sso.acme.com/token
  client-id: ci-bot
  client-secret-env: ACME_SECRET
  token-field: access_token
  scope: openid
  certificate-authority: ca.pem
  certificate-authority-data: LS0t
  insecure-skip-tls-verify: false
  timeout: 30s
- name: local
  url: http://127.0.0.1:8080/
  client-id: dev
  client-secret: inline-secret
";

    fn loaded(text: &str) -> LoadedFile {
        LoadedFile {
            path: PathBuf::from("/etc/kube/runai-profiles.yaml"),
            file: parse(text).ok().unwrap(),
            text: text.to_owned(),
        }
    }

    #[test]
    fn parses_every_key_of_the_spec() {
        let file = loaded(FULL);
        let env = Env::from_pairs([("ACME_SECRET", " s3cret\n")]);
        let profile = file.select(None).unwrap();
        let resolved = file.resolve(profile, &env).unwrap();
        assert_eq!(resolved.name, "acme-admin");
        assert_eq!(resolved.url, "https://acme.run.ai");
        assert_eq!(resolved.api, Api::Admin);
        assert_eq!(resolved.researcher_url.as_deref(), Some("https://gpu1.acme.com"));
        assert_eq!(resolved.token_url.as_deref(), Some("https://sso.acme.com/token"));
        assert_eq!(resolved.secret.expose(), "s3cret");
        assert_eq!(resolved.secret_source, SecretSource::Env("ACME_SECRET".into()));
        assert_eq!(resolved.tls.ca_file, Some(PathBuf::from("/etc/kube/ca.pem")));
        assert_eq!(resolved.tls.ca_data.as_deref(), Some("LS0t"));
        assert_eq!(resolved.timeout, Duration::from_secs(30));
        assert_eq!(resolved.scope, "openid");
    }

    #[test]
    fn defaults_apply() {
        let file = loaded(FULL);
        let resolved = file.resolve(file.find("local").unwrap(), &Env::from_pairs([])).unwrap();
        assert_eq!(resolved.url, "http://127.0.0.1:8080");
        assert_eq!(
            (resolved.api, resolved.auth, resolved.token_field),
            (Api::Admin, AuthMode::Auto, TokenField::AccessToken)
        );
        assert_eq!(resolved.timeout, DEFAULT_TIMEOUT);
        assert_eq!(resolved.secret_source, SecretSource::Inline);
    }

    #[test]
    fn unknown_keys_name_the_key_and_line() {
        let err = parse("profiles:\n- name: a\n  url: https://x\n  client-id: c\n  clientsecret: s\n")
            .err()
            .unwrap();
        assert_eq!(
            err.message,
            "unknown key \"clientsecret\" in profiles[0] at line 5 column 3"
        );
        assert!(err.hint.unwrap().starts_with("valid keys here: name, url, api,"));
        let err = parse("apiVersion: runai-token/v1\nkinds: Profiles\n").err().unwrap();
        assert_eq!(err.message, "unknown key \"kinds\" at line 2 column 1");
    }

    #[test]
    fn bad_values_name_the_line() {
        let text = "profiles:\n- name: a\n  client-id: c\n  url: http://acme.run.ai\n  client-secret-env: X\n";
        let err = loaded(text)
            .resolve(loaded(text).find("a").unwrap(), &Env::from_pairs([("X", "y")]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/kube/runai-profiles.yaml line 4: profile \"a\": url: \"http://acme.run.ai\" must be https:// \
             (plain http is allowed only for loopback hosts)"
        );
        let err = parse("profiles:\n- name: a\n  url: https://x\n  client-id: c\n  auth: v3\n")
            .err()
            .unwrap();
        assert!(
            err.message.starts_with("profiles[0].auth: unknown variant `v3`"),
            "{}",
            err.message
        );
    }

    #[test]
    fn loopback_urls_may_be_http() {
        for ok in [
            "https://a.b",
            "http://127.0.0.1:1",
            "http://127.8.9.1",
            "http://[::1]:80",
            "http://localhost",
        ] {
            assert!(check_url(ok).is_ok(), "{ok}");
        }
        for bad in ["http://10.0.0.1", "ftp://x", "https://u:p@x", "nope", "https://x/?a=b"] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        // Credentials in a URL are refused without being quoted.
        assert_eq!(
            check_url("https://u:hunter22@x/?q=1").unwrap_err(),
            "\"https://x/?q=1\" must not contain credentials"
        );
    }

    #[test]
    fn selection_rules() {
        let two = "profiles:\n- {name: a, url: 'https://x', client-id: c, client-secret-env: X}\n\
                   - {name: b, url: 'https://x', client-id: c, client-secret-env: X}\n";
        let file = loaded(two);
        assert_eq!(file.select(Some("b")).unwrap().name, "b");
        let err = file.select(Some("zz")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "profile \"zz\" not found in /etc/kube/runai-profiles.yaml (known profiles: a, b)"
        );
        let err = file.select(None).unwrap_err();
        assert!(err.to_string().starts_with("no profile selected"), "{err}");
        let one = loaded("profiles:\n- {name: solo, url: 'https://x', client-id: c, client-secret-env: X}\n");
        assert_eq!(one.select(None).unwrap().name, "solo");
    }

    #[test]
    fn exactly_one_secret_source() {
        let none = loaded("profiles:\n- {name: a, url: 'https://x', client-id: c}\n");
        let err = none.resolve(none.find("a").unwrap(), &Env::from_pairs([])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "/etc/kube/runai-profiles.yaml: profile \"a\" has no secret source"
        );
        let two =
            loaded("profiles:\n- {name: a, url: 'https://x', client-id: c, client-secret: s, client-secret-env: X}\n");
        let err = two.resolve(two.find("a").unwrap(), &Env::from_pairs([])).unwrap_err();
        assert!(
            err.to_string()
                .contains("has 2 secret sources (client-secret, client-secret-env)"),
            "{err}"
        );
        let unset = loaded("profiles:\n- {name: a, url: 'https://x', client-id: c, client-secret-env: NOPE}\n");
        let err = unset
            .resolve(unset.find("a").unwrap(), &Env::from_pairs([]))
            .unwrap_err();
        assert!(
            err.to_string().ends_with("client-secret-env: $NOPE is not set"),
            "{err}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn secret_command_runs_without_a_shell() {
        let file = loaded(
            "profiles:\n- name: a\n  url: https://x\n  client-id: c\n  client-secret-command: [echo, ' from-command ']\n",
        );
        let resolved = file.resolve(file.find("a").unwrap(), &Env::from_pairs([])).unwrap();
        assert_eq!(resolved.secret.expose(), "from-command");
        let failing = loaded(
            "profiles:\n- name: a\n  url: https://x\n  client-id: c\n  client-secret-command: [sh, -c, 'echo nope >&2; exit 3']\n",
        );
        let err = failing
            .resolve(failing.find("a").unwrap(), &Env::from_pairs([]))
            .unwrap_err();
        assert!(
            format!("{err:#}").ends_with("failed (exit status: 3): \"nope\""),
            "{err:#}"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_secret_command_is_bounded_and_scrubbed() {
        let slow = loaded(
            "profiles:\n- name: a\n  url: https://x\n  client-id: c\n  timeout: 200ms\n  client-secret-command: [sleep, '5']\n",
        );
        let started = std::time::Instant::now();
        let err = slow.resolve(slow.find("a").unwrap(), &Env::from_pairs([])).unwrap_err();
        assert!(
            format!("{err:#}").ends_with("\"sleep\" did not finish within 200ms"),
            "{err:#}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(4),
            "the command was killed at the timeout"
        );
        let leaky = loaded(
            "profiles:\n- name: a\n  url: https://x\n  client-id: c\n  client-secret-command: [sh, -c, 'printf \"line1\\nsecret-two\\n\"; echo secret-two >&2; exit 1']\n",
        );
        let err = leaky
            .resolve(leaky.find("a").unwrap(), &Env::from_pairs([]))
            .unwrap_err();
        assert!(
            format!("{err:#}").ends_with("failed (exit status: 1): \"[redacted]\""),
            "{err:#}"
        );
    }

    #[test]
    fn a_secret_command_that_prints_without_end_is_cut_off() {
        let endless =
            loaded("profiles:\n- name: a\n  url: https://x\n  client-id: c\n  client-secret-command: [yes, abc]\n");
        let err = endless
            .resolve(endless.find("a").unwrap(), &Env::from_pairs([]))
            .unwrap_err();
        assert!(
            format!("{err:#}").ends_with("\"yes\" printed more than 16 KiB: a client secret is a short string"),
            "{err:#}"
        );
    }

    #[test]
    fn a_byte_order_mark_is_accepted_and_deep_nesting_refused() {
        let file = parse("\u{feff}apiVersion: runai-token/v1\nkind: Profiles\n")
            .ok()
            .unwrap();
        assert_eq!(file.kind, KIND);
        let deep = format!("profiles: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let err = parse(&deep).err().unwrap();
        assert!(
            err.message.contains("nesting this deep is not supported"),
            "{}",
            err.message
        );
    }

    #[test]
    fn credentials_in_urls_are_refused_unquoted() {
        assert_eq!(
            check_url("https://u:hunter22@x/?q=1").unwrap_err(),
            "\"https://x/?q=1\" must not contain credentials"
        );
        assert!(!check_url("https://u:hunter22@[bad").unwrap_err().contains("hunter22"));
    }

    #[test]
    fn keycloak_needs_a_realm() {
        let file = loaded("profiles:\n- {name: a, url: 'https://x', client-id: c, client-secret: s, auth: keycloak}\n");
        let err = file.resolve(file.find("a").unwrap(), &Env::from_pairs([])).unwrap_err();
        assert!(
            err.to_string().ends_with("realm: auth: keycloak needs a realm"),
            "{err}"
        );
    }

    #[test]
    fn saving_round_trips_and_keeps_only_written_keys() {
        let file = parse(FULL).ok().unwrap();
        let text = serde_yaml::to_string(&file).unwrap();
        assert_eq!(parse(&text).ok().unwrap().profiles.len(), 2);
        assert!(text.contains("client-secret: inline-secret"));
        assert!(!text.contains("api: null"), "unset keys are left out:\n{text}");
    }

    #[test]
    fn key_line_finds_keys_in_block_entries() {
        assert_eq!(key_line(FULL, "acme-admin", "timeout"), Some(19));
        assert_eq!(key_line(FULL, "local", "client-id"), Some(22));
        // A key the entry lacks points at the entry's name.
        assert_eq!(key_line(FULL, "local", "realm"), Some(20));
    }
}
