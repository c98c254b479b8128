//! Where a profile's client secret comes from (docs/profiles.md#secret-sources): one
//! [`SecretSource`] per profile, and loading it. A `client-secret-command` runs only
//! when the secret is needed (a cache miss), never on a hit.

use std::fmt;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use crate::config_error;
use crate::error::ConfigError;
use crate::fsutil;
use crate::paths::{Env, expand};
use crate::secret::{Secret, redact};
use crate::time::GoDuration;

use super::model::Profile;

/// The one secret source of a profile.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// `client-secret`, in the profiles file.
    Inline(Secret<String>),
    /// `client-secret-file`, expanded.
    File(PathBuf),
    /// `client-secret-env`: the variable's name.
    Env(String),
    /// `client-secret-command`: run without a shell, bounded by the profile's timeout.
    Command { argv: Vec<String>, timeout: Duration },
    /// None: a user grant's public client (docs/login.md).
    None,
}

impl fmt::Display for SecretSource {
    /// For messages and `doctor`: where the secret comes from, never the secret.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretSource::Inline(_) => f.write_str("client-secret (inline)"),
            SecretSource::None => f.write_str("none (a public client)"),
            SecretSource::File(path) => write!(f, "client-secret-file {}", path.display()),
            SecretSource::Env(name) => write!(f, "client-secret-env ${name}"),
            // The program alone: its arguments may hold anything, and the command
            // has not run yet, so nothing it printed is known to redact.
            SecretSource::Command { argv, .. } => {
                let program = argv.first().map(String::as_str).unwrap_or_default();
                match argv.len() {
                    0 | 1 => write!(f, "client-secret-command {program:?}"),
                    n => write!(f, "client-secret-command {program:?} with {} argument(s)", n - 1),
                }
            }
        }
    }
}

impl SecretSource {
    /// The profile's one source. `at(key)` names the key and its line for messages;
    /// `base` is the profiles file's directory (relative paths are relative to it).
    pub fn of(
        profile: &Profile,
        optional: bool,
        base: &Path,
        env: &Env,
        timeout: Duration,
        file: &Path,
        at: &dyn Fn(&str) -> String,
    ) -> anyhow::Result<Self> {
        let sources = profile.secret_sources();
        if sources.len() > 1 {
            return Err(config_error!(
                "{}: profile {:?} has {} secret sources ({}): keep exactly one",
                file.display(),
                profile.name,
                sources.len(),
                sources.join(", ")
            ));
        }
        if let Some(inline) = &profile.client_secret {
            return Ok(SecretSource::Inline(inline.clone()));
        }
        if let Some(path) = &profile.client_secret_file {
            let path = expand(path, base, env).map_err(|e| config_error!("{}: {e}", at("client-secret-file")))?;
            return Ok(SecretSource::File(path));
        }
        if let Some(name) = &profile.client_secret_env {
            return Ok(SecretSource::Env(name.clone()));
        }
        if let Some(argv) = &profile.client_secret_command {
            return Ok(SecretSource::Command {
                argv: argv.clone(),
                timeout,
            });
        }
        if optional {
            return Ok(SecretSource::None);
        }
        Err(ConfigError::new(format!(
            "{}: profile {:?} has no secret source",
            file.display(),
            profile.name
        ))
        .with_hint(
            "set exactly one of client-secret-file, client-secret-env, \
             client-secret-command or client-secret",
        )
        .into())
    }

    /// What identifies the secret for the token cache without loading it: for a
    /// command, the command itself (so a hit runs nothing); for the others, `None`
    /// (the key hashes the secret, so rotating it misses).
    pub fn identity_without_loading(&self) -> Option<String> {
        match self {
            SecretSource::Command { argv, .. } => Some(format!("{argv:?}")),
            SecretSource::None => Some("none".to_owned()),
            _ => None,
        }
    }

    /// Reads the secret. `at(key)` names the key and its line for messages.
    pub fn load(&self, env: &Env, at: &dyn Fn(&str) -> String) -> anyhow::Result<Secret<String>> {
        let value = match self {
            SecretSource::Inline(secret) => secret.expose().clone(),
            SecretSource::File(path) => read_secret_file(path).map_err(|e| e.context(at("client-secret-file")))?,
            SecretSource::Env(name) => env.var(name).ok_or_else(|| {
                ConfigError::new(format!("{}: ${name} is not set", at("client-secret-env"))).with_hint(format!(
                    "export {name} with the client secret, or choose another secret source"
                ))
            })?,
            SecretSource::Command { argv, timeout } => {
                run_secret_command(argv, *timeout).map_err(|e| e.context(at("client-secret-command")))?
            }
            SecretSource::None => {
                return Err(config_error!("{}: the profile has no client secret", at("client-id")));
            }
        };
        let value = value.trim().to_owned();
        if value.is_empty() {
            return Err(config_error!(
                "{}: the client secret from {self} is empty",
                at("secret")
            ));
        }
        Ok(Secret::new(value))
    }
}

pub fn read_secret_file(path: &Path) -> anyhow::Result<String> {
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

fn left_of(deadline: std::time::Instant) -> Duration {
    deadline.saturating_duration_since(std::time::Instant::now())
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
        .map_err(|err| ConfigError::caused_by(format!("cannot run {program:?}"), err))?;
    // Each pipe is read up to a cap and then closed: a command that prints without
    // end gets EPIPE instead of growing this process's memory.
    // The bytes arrive on a channel, so that waiting for them is bounded too: a
    // grandchild that inherited the pipes must not hold the plugin past the timeout.
    let read_capped = |pipe: Option<Box<dyn Read + Send>>, cap: u64| {
        let (send, receive) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(cap + 1).read_to_end(&mut bytes);
            }
            let _ = send.send(bytes);
        });
        receive
    };
    let deadline = std::time::Instant::now() + timeout;
    let stdout = read_capped(
        child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        fsutil::MAX_SECRET,
    );
    let stderr = read_capped(
        child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>),
        fsutil::MAX_SECRET,
    );
    use wait_timeout::ChildExt;
    let status = match child
        .wait_timeout(left_of(deadline))
        .map_err(|err| ConfigError::caused_by(format!("waiting for {program:?}"), err))?
    {
        Some(status) => status,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            return Err(config_error!(
                "{program:?} did not finish within {}",
                GoDuration(timeout)
            ));
        }
    };
    let timed_out = || config_error!("{program:?} did not finish within {}", GoDuration(timeout));
    let left = || deadline.saturating_duration_since(std::time::Instant::now());
    let stdout = stdout.recv_timeout(left()).map_err(|_| timed_out())?;
    let stderr = stderr.recv_timeout(left()).unwrap_or_default();
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
