//! The profiles file as last parsed: what the YAML parse of a profiles file gave,
//! keyed by the SHA-256 of the file's bytes, one small file per profiles file under
//! `<cache dir>/profiles/`. kubectl runs `get` before every command, and libyaml's
//! parse is most of the plugin's own work on a cache hit, growing with every profile
//! in the file (docs/performance.md#where-the-time-goes): while the file is
//! unchanged, a hit reads this copy instead. Any change to the file's bytes, or
//! another build of the plugin, is a miss, so the copy is never stale, and parsing
//! the YAML is what a miss does.
//!
//! Only a file with no inline `client-secret` is kept: the copy never holds a secret
//! (references to a secret file, variable or command are not secrets).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsutil;
use crate::log_at;
use crate::output::{DECISIONS, Log};
use crate::profile::ProfilesFile;
use crate::secret::hex;

/// The subdirectory of the cache directory.
pub(super) const DIR: &str = "profiles";
/// Hex digits of a kept file's name (a hash of the profiles file's path).
pub(super) const NAME_HEX: usize = 32;
/// The layout of a kept file; another one is a miss.
const FORMAT: u32 = 1;
/// The build that parsed: another build may parse the same bytes differently, so its
/// copy is a miss.
const PARSER: &str = concat!(env!("CARGO_PKG_VERSION"), " ", env!("RUNAI_TOKEN_COMMIT"));

/// Parsed profiles files, kept per path in `<cache dir>/profiles/`.
pub struct ParsedProfiles {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Kept {
    format: u32,
    parser: String,
    path: PathBuf,
    sha256: String,
    file: ProfilesFile,
}

impl ParsedProfiles {
    /// The copies in `cache_dir`, unless the directory is one another user owns or
    /// may write to (then nothing is kept or read).
    pub fn trusted(cache_dir: &Path) -> Option<Self> {
        fsutil::check_private_dir(cache_dir).ok()?;
        Some(Self::new(cache_dir))
    }

    pub fn new(cache_dir: &Path) -> Self {
        Self {
            dir: cache_dir.join(DIR),
        }
    }

    fn path(&self, profiles_file: &Path) -> PathBuf {
        let digest = Sha256::digest(profiles_file.as_os_str().as_encoded_bytes());
        self.dir.join(format!("{}.json", &hex(&digest)[..NAME_HEX]))
    }

    /// What `text`, the bytes of `profiles_file`, parsed to when they were last
    /// parsed, if a copy of exactly these bytes' parse is kept.
    pub fn recall(&self, profiles_file: &Path, text: &str, log: &Log) -> Option<ProfilesFile> {
        // What another user could have put there is not trusted (docs/security.md).
        let kept = fsutil::read_private(&self.path(profiles_file), fsutil::MAX_CONFIG_FILE)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Kept>(&bytes).ok());
        let fresh = kept.filter(|kept| {
            kept.format == FORMAT
                && kept.parser == PARSER
                && kept.path == profiles_file
                && kept.sha256 == hex(&Sha256::digest(text.as_bytes()))
                && !holds_a_secret(&kept.file)
        });
        log_at!(
            log,
            DECISIONS,
            "profiles file {}: {}",
            profiles_file.display(),
            if fresh.is_some() {
                "unchanged since parsed"
            } else {
                "changed or not parsed before, parsing it"
            }
        );
        fresh.map(|kept| kept.file)
    }

    /// Keeps what `text`, the bytes of `profiles_file`, parsed to, unless it holds
    /// an inline secret. A failure only costs the next hit a parse.
    pub fn remember(&self, profiles_file: &Path, text: &str, file: &ProfilesFile, log: &Log) {
        if holds_a_secret(file) {
            return;
        }
        let kept = Kept {
            format: FORMAT,
            parser: PARSER.to_owned(),
            path: profiles_file.to_owned(),
            sha256: hex(&Sha256::digest(text.as_bytes())),
            file: file.clone(),
        };
        if let Err(err) = super::write_record(&self.dir, &self.path(profiles_file), &kept) {
            log_at!(
                log,
                DECISIONS,
                "cannot keep the parsed profiles file in {}: {err}",
                self.dir.display()
            );
        }
    }
}

fn holds_a_secret(file: &ProfilesFile) -> bool {
    file.profiles.iter().any(|profile| profile.client_secret.is_some())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "apiVersion: runai-token/v1\nkind: Profiles\ncurrent-profile: b\nprofiles:\n\
        - name: a\n  url: https://a.example.com\n  client-id: a\n  client-secret-file: /s/a\n  timeout: 5s\n\
        - name: b\n  url: https://b.example.com\n  researcher-url: https://r.example.com\n  auth: v1\n  \
        client-id: b\n  client-secret-env: B_SECRET\n  insecure-skip-tls-verify: true\n";

    #[test]
    fn a_copy_reads_back_as_the_parse_of_the_same_bytes_only() {
        let dir = tempfile::tempdir().unwrap();
        let kept = ParsedProfiles::new(dir.path());
        let path = Path::new("/home/u/.kube/runai-profiles.yaml");
        let log = Log::default();
        let parsed = crate::profile::parse_text(TEXT).unwrap();
        assert!(kept.recall(path, TEXT, &log).is_none());
        kept.remember(path, TEXT, &parsed, &log);
        let recalled = kept.recall(path, TEXT, &log).expect("the copy of these bytes");
        assert_eq!(format!("{recalled:?}"), format!("{parsed:?}"));
        // One byte more, or another file with the same bytes: a miss.
        assert!(kept.recall(path, &format!("{TEXT}\n"), &log).is_none());
        assert!(kept.recall(Path::new("/elsewhere.yaml"), TEXT, &log).is_none());
        // So is the copy another build wrote.
        let file = kept.path(path);
        let other = std::fs::read_to_string(&file).unwrap().replace(PARSER, "0.0.0 another");
        std::fs::write(&file, other).unwrap();
        assert!(kept.recall(path, TEXT, &log).is_none());
    }

    /// Every key a profile may have but an inline secret, each one set: the copy
    /// must give back what the YAML gave (a key the model's serialisation dropped or
    /// renamed would fail here).
    const EVERY_KEY: &str = "apiVersion: runai-token/v1\nkind: Profiles\nprofiles:\n\
        - name: every\n  url: https://every.example.com\n  api: admin\n  researcher-url: https://r.example.com\n  \
        auth: keycloak\n  realm: acme\n  token-url: https://sso.example.com/token\n  client-id: runai-cli\n  \
        client-secret-file: /s/f\n  client-secret-env: S\n  client-secret-command: [pass, show, runai]\n  \
        token-field: id_token\n  scope: openid\n  certificate-authority: ca.pem\n  \
        certificate-authority-data: LS0t\n  insecure-skip-tls-verify: false\n  timeout: 1m30s\n  \
        grant: device-code\n  issuer: https://sso.example.com/realms/acme\n  username: alice\n  \
        scopes: [openid, offline_access]\n  listen-address: [\"127.0.0.1:8000\", \"127.0.0.1:18000\"]\n";

    #[test]
    fn every_key_survives_the_copy() {
        for key in crate::profile::KEYS.iter().filter(|key| **key != "client-secret") {
            assert!(
                EVERY_KEY.contains(&format!("\n  {key}: ")) || EVERY_KEY.contains(&format!("- {key}: ")),
                "{key} is not in the test's file"
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let kept = ParsedProfiles::new(dir.path());
        let path = Path::new("/p.yaml");
        let parsed = crate::profile::parse_text(EVERY_KEY).unwrap();
        kept.remember(path, EVERY_KEY, &parsed, &Log::default());
        let recalled = kept.recall(path, EVERY_KEY, &Log::default()).expect("kept");
        assert_eq!(format!("{recalled:?}"), format!("{parsed:?}"));
        // And the same file once written out as YAML, as `profile set` does.
        assert_eq!(
            crate::profile::to_yaml(&recalled).unwrap(),
            crate::profile::to_yaml(&parsed).unwrap()
        );
    }

    #[test]
    fn a_file_with_an_inline_secret_is_never_kept() {
        let dir = tempfile::tempdir().unwrap();
        let kept = ParsedProfiles::new(dir.path());
        let path = Path::new("/p.yaml");
        let text = "apiVersion: runai-token/v1\nkind: Profiles\nprofiles:\n\
            - name: a\n  url: https://a.example.com\n  client-id: a\n  client-secret: hunter2-inline\n";
        let parsed = crate::profile::parse_text(text).unwrap();
        kept.remember(path, text, &parsed, &Log::default());
        assert!(kept.recall(path, text, &Log::default()).is_none());
        assert!(!dir.path().join(DIR).exists(), "nothing written");
    }
}
