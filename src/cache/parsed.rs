//! The profiles file as last parsed: what the YAML parse of a profiles file gave,
//! keyed by the SHA-256 of the file's bytes, one small file per profiles file under
//! `<cache dir>/profiles/`. kubectl runs `get` before every command, and libyaml's
//! parse is most of the plugin's own work on a cache hit, growing with every profile
//! in the file (docs/performance.md#where-the-time-goes): while the file is
//! unchanged, a hit reads this copy instead. Any change to the file's bytes, or
//! another build of the plugin, is a miss, so the copy is never stale, and parsing
//! the YAML is what a miss does.
//!
//! The copy never holds a secret. References to a secret file, variable or command
//! are not secrets; an inline `client-secret` is kept as where it lies in the file's
//! text, two byte offsets, and read from the text on every hit, as a parse would:
//! the text is the one hashed, so those bytes are the secret the parse gave. A secret
//! that is not written verbatim in the text (an escape in a quoted scalar) leaves
//! its file unkept, parsed on every hit.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsutil;
use crate::log_at;
use crate::output::{DECISIONS, Log};
use crate::profile::ProfilesFile;
use crate::secret::{Secret, hex};

/// The subdirectory of the cache directory.
pub(super) const DIR: &str = "profiles";
/// Hex digits of a kept file's name (a hash of the profiles file's path).
pub(super) const NAME_HEX: usize = 32;
/// The layout of a kept file; another one is a miss.
const FORMAT: u32 = 2;
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
    /// The parse, with no inline secret.
    file: ProfilesFile,
    /// Where each profile's inline secret lies in the text.
    inline_secrets: Vec<Span>,
}

/// The bytes `start..end` of the text are the inline `client-secret` of the
/// `profile`th profile.
#[derive(Serialize, Deserialize)]
struct Span {
    profile: usize,
    start: usize,
    end: usize,
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
        let fresh = kept
            .filter(|kept| {
                kept.format == FORMAT
                    && kept.parser == PARSER
                    && kept.path == profiles_file
                    && kept.sha256 == hex(&Sha256::digest(text.as_bytes()))
                    && !holds_a_secret(&kept.file)
            })
            .and_then(|kept| with_inline_secrets(kept, text));
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
        fresh
    }

    /// Keeps what `text`, the bytes of `profiles_file`, parsed to, unless an inline
    /// secret in it is not written verbatim. A failure only costs the next hit a parse.
    pub fn remember(&self, profiles_file: &Path, text: &str, file: &ProfilesFile, log: &Log) {
        let mut file = file.clone();
        let mut inline_secrets = Vec::new();
        for (index, profile) in file.profiles.iter_mut().enumerate() {
            let Some(secret) = profile.client_secret.take() else {
                continue;
            };
            // Any occurrence will do, not only the one after `client-secret:`: what
            // a hit reads back is these very bytes of these very bytes' text.
            let Some(start) = text.find(secret.expose().as_str()) else {
                return;
            };
            inline_secrets.push(Span {
                profile: index,
                start,
                end: start + secret.expose().len(),
            });
        }
        let kept = Kept {
            format: FORMAT,
            parser: PARSER.to_owned(),
            path: profiles_file.to_owned(),
            sha256: hex(&Sha256::digest(text.as_bytes())),
            file,
            inline_secrets,
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

/// The kept parse with its inline secrets read back from `text`, the bytes it was
/// kept for; `None` for spans that do not fit the text (a copy not written here).
fn with_inline_secrets(kept: Kept, text: &str) -> Option<ProfilesFile> {
    let mut file = kept.file;
    for Span { profile, start, end } in kept.inline_secrets {
        let secret = text.get(start..end)?;
        let profile = file.profiles.get_mut(profile)?;
        if profile.client_secret.is_some() {
            return None;
        }
        profile.client_secret = Some(Secret::new(secret.to_owned()));
    }
    Some(file)
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

    /// The secret the parse gave each profile, in order.
    fn secrets(file: &ProfilesFile) -> Vec<Option<String>> {
        file.profiles
            .iter()
            .map(|profile| profile.client_secret.as_ref().map(|s| s.expose().clone()))
            .collect()
    }

    #[test]
    fn an_inline_secret_is_kept_as_where_it_lies_and_read_back_from_the_text() {
        let dir = tempfile::tempdir().unwrap();
        let kept = ParsedProfiles::new(dir.path());
        let path = Path::new("/p.yaml");
        let log = Log::default();
        // Quoted and plain, one profile without an inline secret between them.
        let text = "apiVersion: runai-token/v1\nkind: Profiles\nprofiles:\n\
            - name: a\n  url: https://a.example.com\n  client-id: a\n  client-secret: 'hunter2 a'\n\
            - name: b\n  url: https://b.example.com\n  client-id: b\n  client-secret-env: B\n\
            - name: c\n  url: https://c.example.com\n  client-id: c\n  client-secret: s3cr3t-c\n";
        let parsed = crate::profile::parse_text(text).unwrap();
        kept.remember(path, text, &parsed, &log);
        let copy = std::fs::read_to_string(kept.path(path)).expect("kept");
        assert!(
            !copy.contains("hunter2") && !copy.contains("s3cr3t"),
            "no secret in {copy}"
        );
        let recalled = kept.recall(path, text, &log).expect("the copy of these bytes");
        assert_eq!(
            secrets(&recalled),
            [Some("hunter2 a".to_owned()), None, Some("s3cr3t-c".to_owned())]
        );
        assert_eq!(format!("{recalled:?}"), format!("{parsed:?}"));
        // A rotated secret is other bytes: a miss.
        let rotated = text.replace("s3cr3t-c", "s3cr3t-d");
        assert!(kept.recall(path, &rotated, &log).is_none());
    }

    /// `text`, one profile with `secret_line`, parsed and remembered as `/p.yaml`.
    fn remembered(secret_line: &str) -> (tempfile::TempDir, ParsedProfiles, String, ProfilesFile) {
        let dir = tempfile::tempdir().unwrap();
        let kept = ParsedProfiles::new(dir.path());
        let text = format!(
            "apiVersion: runai-token/v1\nkind: Profiles\nprofiles:\n\
            - name: a\n  url: https://a.example.com\n  client-id: a\n  {secret_line}\n"
        );
        let parsed = crate::profile::parse_text(&text).unwrap();
        kept.remember(Path::new("/p.yaml"), &text, &parsed, &Log::default());
        (dir, kept, text, parsed)
    }

    #[test]
    fn a_secret_not_written_verbatim_leaves_its_file_unkept() {
        let (dir, kept, text, parsed) = remembered("client-secret: \"hunter\\x32\"");
        let (path, text) = (Path::new("/p.yaml"), text.as_str());
        assert_eq!(secrets(&parsed), [Some("hunter2".to_owned())]);
        assert!(kept.recall(path, text, &Log::default()).is_none());
        assert!(!dir.path().join(DIR).exists(), "nothing written");
    }

    #[test]
    fn a_span_outside_the_text_is_a_miss() {
        let (_dir, kept, text, _) = remembered("client-secret: hunter2");
        let (path, text) = (Path::new("/p.yaml"), text.as_str());
        let file = kept.path(path);
        let copy = std::fs::read_to_string(&file).unwrap();
        let start = text.find("hunter2").unwrap();
        let span = format!("\"start\":{start},\"end\":{}", start + 7);
        assert!(copy.contains(&span), "{copy}");
        std::fs::write(&file, copy.replace(&span, "\"start\":0,\"end\":100000")).unwrap();
        assert!(kept.recall(path, text, &Log::default()).is_none());
    }
}
