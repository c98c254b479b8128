//! The profiles file (docs/profiles.md): its model ([`model`]), parsing ([`parse`],
//! the only user of the YAML library here), resolution of one profile into a
//! [`ResolvedProfile`] ([`resolve`]) and where its secret comes from
//! ([`secret_source`]). This file holds the file as a whole: loading with errors that
//! name the key and the line, selecting a profile, and saving (0600, atomic, under a
//! lock). Nothing after this module sees raw YAML.

mod model;
mod parse;
mod resolve;
mod secret_source;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;

use crate::config_error;
use crate::error::ConfigError;
use crate::fsutil;
use crate::paths::Env;

pub use model::check_name;
pub use model::{
    API_VERSION, Api, AuthMode, DEFAULT_LISTEN_ADDRESSES, DEFAULT_SCOPE, DEFAULT_TIMEOUT, DEFAULT_USER_SCOPES,
    GrantType, KEYS, KIND, Profile, ProfilesFile, TokenField, UNSETTABLE,
};
pub use parse::{parse_text, to_yaml};
pub use resolve::{ResolvedProfile, TlsSettings, check_listen_address, check_static};
pub use secret_source::SecretSource;

use parse::{key_line, parse};

#[derive(Debug)]
pub struct LoadedFile {
    pub path: PathBuf,
    pub file: ProfilesFile,
    text: String,
}

impl LoadedFile {
    /// Reads and parses `path`. A missing file is a configuration error with a hint.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        Self::parse(path, Self::read(path)?)
    }

    /// The text of the profiles file at `path`. A missing file is a configuration
    /// error with a hint.
    pub fn read(path: &Path) -> anyhow::Result<String> {
        match fsutil::read_text(path, fsutil::MAX_CONFIG_FILE) {
            Ok(text) => Ok(text),
            Err(fsutil::ReadError::NotFound) => {
                Err(ConfigError::new(format!("profiles file {} not found", path.display()))
                    .with_hint(
                        "create a profile: kubectl runai-token profile set NAME --url URL \
                 --client-id ID --client-secret-file PATH",
                    )
                    .into())
            }
            Err(err) => Err(config_error!("profiles file {} {err}", path.display())),
        }
    }

    /// `text`, read from `path`, parsed.
    pub fn parse(path: &Path, text: String) -> anyhow::Result<Self> {
        let file = parse(&text).map_err(|err| {
            let mut error = ConfigError::new(format!("profiles file {}: {}", path.display(), err.message));
            error.hint = err.hint;
            anyhow::Error::new(error)
        })?;
        Self::parsed(path, text, file)
    }

    /// `text`, read from `path`, with `file`, what these very bytes parsed to before
    /// (kept in the cache directory: `cache::ParsedProfiles`).
    pub fn parsed(path: &Path, text: String, file: ProfilesFile) -> anyhow::Result<Self> {
        let loaded = Self {
            path: path.to_owned(),
            file,
            text,
        };
        loaded.check_permissions()?;
        Ok(loaded)
    }

    /// The file's text, as read.
    pub fn text(&self) -> &str {
        &self.text
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

    /// The profile `requested` (or the default one, see [`LoadedFile::select`]),
    /// resolved: what `get`, `doctor` and every other command use.
    pub fn resolve_selected(&self, requested: Option<&str>, env: &Env) -> anyhow::Result<ResolvedProfile> {
        self.resolve(self.select(requested)?, env)
    }

    /// Resolves `profile` (which belongs to this file): validates every value and
    /// loads the secret unless it comes from a command.
    pub fn resolve(&self, profile: &Profile, env: &Env) -> anyhow::Result<ResolvedProfile> {
        resolve::resolve(profile, &self.path, env, &|key| self.at(profile, key))
    }

    /// `<file> line N: profile "P": key`, for messages about `key` of `profile`.
    fn at(&self, profile: &Profile, key: &str) -> String {
        match key_line(&self.text, &profile.name, key) {
            Some(line) => format!("{} line {line}: profile {:?}: {key}", self.path.display(), profile.name),
            None => format!("{}: profile {:?}: {key}", self.path.display(), profile.name),
        }
    }

    /// Saves `file` to `path` atomically with mode 0600, creating the directory
    /// (0700) when needed. Callers hold [`lock_for_update`] around load and save.
    pub fn save(path: &Path, file: &ProfilesFile) -> anyhow::Result<()> {
        let text = to_yaml(file)?;
        if let Some(dir) = path.parent() {
            fsutil::create_private_dir(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
        }
        // Not the user's mistake (a full disk, a read-only directory): exit 1 with
        // the OS error, not a usage error.
        fsutil::write_atomic(path, text.as_bytes(), 0o600, fsutil::Ownership::Keep)
            .with_context(|| format!("cannot write profiles file {}", path.display()))
    }
}

/// Holds `<profiles file>.lock` so that concurrent `profile set` runs do not lose
/// each other's changes.
pub fn lock_for_update(path: &Path) -> anyhow::Result<fsutil::Lock> {
    if let Some(dir) = path.parent() {
        fsutil::create_private_dir(dir).with_context(|| format!("cannot create directory {}", dir.display()))?;
    }
    let lock_path = path.with_file_name(format!(
        "{}.lock",
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    ));
    fsutil::lock(&lock_path, Duration::from_secs(10))
        .with_context(|| format!("cannot lock {}", lock_path.display()))?
        .ok_or_else(|| config_error!("{} is locked by another process", lock_path.display()))
}

#[cfg(test)]
mod tests;
