//! Where things live (docs/profiles.md#where-it-is, docs/commands.md). The only module that reads environment
//! variables or asks `dirs` for the home directory; everything else receives the
//! resolved [`Paths`] and an [`Env`] to look variables up through.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::config_error;

/// Environment lookup. [`Env::os`] reads the process environment; tests build one
/// from a map, so nothing depends on the environment the test runner has.
pub struct Env {
    vars: Option<BTreeMap<String, OsString>>,
}

impl Env {
    /// The process environment.
    pub fn os() -> Self {
        Self { vars: None }
    }

    /// A fixed environment (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        let vars = pairs
            .into_iter()
            .map(|(k, v)| (k.to_owned(), OsString::from(v)))
            .collect();
        Self { vars: Some(vars) }
    }

    pub fn var_os(&self, name: &str) -> Option<OsString> {
        match &self.vars {
            None => std::env::var_os(name),
            Some(vars) => vars.get(name).cloned(),
        }
        .filter(|value| !value.is_empty())
    }

    /// Whether `name` is set at all, even to the empty string.
    pub fn is_set(&self, name: &str) -> bool {
        match &self.vars {
            None => std::env::var_os(name).is_some(),
            Some(vars) => vars.contains_key(name),
        }
    }

    /// A variable as UTF-8; a non-UTF-8 value counts as unset.
    pub fn var(&self, name: &str) -> Option<String> {
        self.var_os(name).and_then(|value| value.into_string().ok())
    }

    /// The home directory: `$HOME` first (no NSS lookup on the hot path), then the
    /// platform's answer.
    pub fn home(&self) -> Option<PathBuf> {
        if let Some(home) = self.var_os("HOME") {
            return Some(PathBuf::from(home));
        }
        if self.vars.is_some() {
            return None;
        }
        dirs::home_dir()
    }

    /// The first executable named `command` on `$PATH` (or `command` itself when it
    /// holds a path separator), found as the shell finds it (`which`).
    pub fn which(&self, command: &str) -> Option<PathBuf> {
        let cwd = std::env::current_dir().ok()?;
        which::which_in(command, self.var_os("PATH"), cwd).ok()
    }

    /// The `KUBECONFIG` list, split as the OS splits paths, empty entries dropped.
    pub fn kubeconfig_list(&self) -> Vec<PathBuf> {
        self.var_os("KUBECONFIG")
            .map(|list| {
                std::env::split_paths(&list)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The files and directories one run works with.
#[derive(Clone, Debug)]
pub struct Paths {
    /// The profiles file.
    pub profiles_file: PathBuf,
    /// The token cache directory (created on first write, mode 0700).
    pub cache_dir: PathBuf,
    /// `$KUBECONFIG` split, or `~/.kube/config` alone; empty without either.
    pub kubeconfigs: Vec<PathBuf>,
    /// `$RUNAI_TOKEN_TEST_LOCK_WAIT` (a duration), which replaces the cache's lock
    /// wait: for the test suite only, so a test of the timeout need not wait 10 s.
    pub lock_wait: Option<std::time::Duration>,
}

impl Paths {
    /// Resolves every path by the first-match-wins rules of docs/profiles.md#where-it-is
    /// and docs/commands.md (global flags).
    /// `profiles_file` and `cache_dir` are the flags (clap already folded in
    /// `RUNAI_PROFILES_FILE` and `RUNAI_TOKEN_CACHE_DIR`).
    pub fn resolve(profiles_file: Option<&Path>, cache_dir: Option<&Path>, env: &Env) -> anyhow::Result<Self> {
        let home = env.home();
        // The home directory is needed only for a default that uses it.
        let no_home = || config_error!("cannot find the home directory: HOME is not set");
        let kubeconfigs = match env.kubeconfig_list() {
            list if !list.is_empty() => list,
            _ => home.iter().map(|h| h.join(".kube").join("config")).collect(),
        };
        let profiles_file = match profiles_file {
            Some(path) => absolute(path)?,
            None => {
                let first = absolute(kubeconfigs.first().ok_or_else(no_home)?)?;
                first.parent().unwrap_or(Path::new("/")).join("runai-profiles.yaml")
            }
        };
        let cache_dir = match cache_dir {
            Some(path) => absolute(path)?,
            None => match env.var_os("KUBECACHEDIR") {
                Some(dir) => absolute(Path::new(&dir))?.join("runai-token"),
                None => home
                    .ok_or_else(no_home)?
                    .join(".kube")
                    .join("cache")
                    .join("runai-token"),
            },
        };
        // Honoured by debug builds only (the test suite's): a release build always
        // waits the documented 10 s.
        let lock_wait = env
            .var("RUNAI_TOKEN_TEST_LOCK_WAIT")
            .filter(|_| cfg!(debug_assertions))
            .and_then(|text| text.parse::<crate::time::GoDuration>().ok())
            .map(|d| d.0);
        Ok(Self {
            profiles_file,
            cache_dir,
            kubeconfigs,
            lock_wait,
        })
    }
}

/// `path` made absolute against the current directory, without touching the file
/// system otherwise (no symlink resolution: the user's spelling is kept).
pub fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    if path.is_absolute() {
        return Ok(path.to_owned());
    }
    let cwd = std::env::current_dir().map_err(|err| config_error!("cannot resolve {}: {err}", path.display()))?;
    Ok(normalize(&cwd.join(path)))
}

/// Removes `.` components and folds `dir/..` lexically.
fn normalize(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Expands `~` (at the start) and `$VAR` / `${VAR}` in a path from the profiles file;
/// a relative result is taken relative to `base` (the profiles file's directory).
pub fn expand(text: &str, base: &Path, env: &Env) -> Result<PathBuf, String> {
    let mut expanded = String::with_capacity(text.len());
    let rest = if text == "~" || text.starts_with("~/") || text.starts_with("~\\") {
        let home = env.home().ok_or("cannot expand ~: HOME is not set")?;
        expanded.push_str(&home.to_string_lossy());
        &text[1..]
    } else {
        text
    };
    let mut rest = rest;
    while let Some(dollar) = rest.find('$') {
        expanded.push_str(&rest[..dollar]);
        let after = &rest[dollar + 1..];
        let (name, consumed) = match after.strip_prefix('{') {
            Some(braced) => {
                let end = braced.find('}').ok_or_else(|| format!("unclosed ${{ in {text:?}"))?;
                (&braced[..end], end + 2)
            }
            None => {
                let end = after
                    .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .unwrap_or(after.len());
                (&after[..end], end)
            }
        };
        if name.is_empty() {
            expanded.push('$');
            rest = after;
            continue;
        }
        let value = env.var(name).ok_or_else(|| format!("${name} is not set"))?;
        expanded.push_str(&value);
        rest = &after[consumed..];
    }
    expanded.push_str(rest);
    let path = PathBuf::from(expanded);
    Ok(if path.is_absolute() {
        path
    } else {
        normalize(&base.join(path))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn profiles_file_sits_beside_the_first_kubeconfig() {
        let sep = if cfg!(windows) { ";" } else { ":" };
        let list = format!("/a/one{sep}/b/two");
        let env = Env::from_pairs([("HOME", "/home/u"), ("KUBECONFIG", list.as_str())]);
        let paths = Paths::resolve(None, None, &env).unwrap();
        assert_eq!(paths.profiles_file, PathBuf::from("/a/runai-profiles.yaml"));
        assert_eq!(
            paths.kubeconfigs,
            vec![PathBuf::from("/a/one"), PathBuf::from("/b/two")]
        );
        assert_eq!(paths.cache_dir, PathBuf::from("/home/u/.kube/cache/runai-token"));
    }

    #[test]
    fn defaults_under_home_and_kubecachedir() {
        let env = Env::from_pairs([("HOME", "/home/u"), ("KUBECACHEDIR", "/c")]);
        let paths = Paths::resolve(None, None, &env).unwrap();
        assert_eq!(paths.profiles_file, PathBuf::from("/home/u/.kube/runai-profiles.yaml"));
        assert_eq!(paths.cache_dir, PathBuf::from("/c/runai-token"));
        let flags = Paths::resolve(Some(Path::new("/p.yaml")), Some(Path::new("/d")), &env).unwrap();
        assert_eq!(flags.profiles_file, PathBuf::from("/p.yaml"));
        assert_eq!(flags.cache_dir, PathBuf::from("/d"));
    }

    #[test]
    fn missing_home_is_an_error_not_a_panic() {
        let err = Paths::resolve(None, None, &Env::from_pairs([])).unwrap_err();
        assert_eq!(err.to_string(), "cannot find the home directory: HOME is not set");
        // Everything given explicitly: no home needed.
        let env = Env::from_pairs([("KUBECONFIG", "/k/config")]);
        assert!(Paths::resolve(None, Some(Path::new("/c")), &env).is_ok());
        let none = Env::from_pairs([]);
        let paths = Paths::resolve(Some(Path::new("/p.yaml")), Some(Path::new("/c")), &none).unwrap();
        assert!(paths.kubeconfigs.is_empty());
    }

    #[test]
    fn expands_home_variables_and_relative_paths() {
        let env = Env::from_pairs([("HOME", "/home/u"), ("DIR", "/secrets"), ("N", "bot")]);
        let base = Path::new("/etc/kube");
        assert_eq!(expand("~/x", base, &env).unwrap(), PathBuf::from("/home/u/x"));
        assert_eq!(
            expand("$DIR/${N}.secret", base, &env).unwrap(),
            PathBuf::from("/secrets/bot.secret")
        );
        assert_eq!(expand("../s/a", base, &env).unwrap(), PathBuf::from("/etc/s/a"));
        assert_eq!(expand("a$", base, &env).unwrap(), PathBuf::from("/etc/kube/a$"));
        assert_eq!(expand("$NOPE/x", base, &env).unwrap_err(), "$NOPE is not set");
        assert_eq!(
            expand("/x/${N}é/ü$N", base, &env).unwrap(),
            PathBuf::from("/x/boté/übot")
        );
    }
}
