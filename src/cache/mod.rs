//! The token cache (docs/security.md#the-token-cache): one file per token identity, named by a
//! versioned SHA-256 over a canonical encoding of everything that decides which token
//! the server would give; a lock file per identity held from the re-read to the
//! write-back on a miss, so N processes started together make one token request.
//!
//! A hit reads one file and returns: no lock, no HTTP client, no runtime. A miss
//! takes the lock (waiting at most [`LOCK_WAIT`]), reads again (another process may
//! have just written it), fetches, and writes the entry atomically with mode 0600 in a
//! 0700 directory. Nothing here is ever fatal: a cache that cannot be read, locked or
//! written only means fetching without caching, said at `-v`.

mod endpoints;
mod parsed;
mod session;

pub use endpoints::AuthMemory;
pub use parsed::ParsedProfiles;
pub use session::Session;

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::ConfigError;
use crate::fsutil;
use crate::log_at;
use crate::output::{DECISIONS, Log};
use crate::profile::ResolvedProfile;
use crate::secret::{Secret, hex};
use crate::time::{GoDuration, Timestamp};
use crate::token::Token;

/// Version of the key encoding and of the entry format. Changing either bumps it, so
/// old entries simply miss.
pub const FORMAT: u32 = 1;
/// A cached token with less left than this is renewed (`get --min-validity`).
pub const DEFAULT_MIN_VALIDITY: Duration = Duration::from_secs(60);
/// How long a process waits for another one's token request (docs/security.md#concurrency).
pub const LOCK_WAIT: Duration = Duration::from_secs(10);
const ENTRY_SUFFIX: &str = ".json";

/// The cache key: hex SHA-256 of the canonical identity.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Key(String);

impl Key {
    /// Everything that decides which token the server gives, length-prefixed in a
    /// fixed order: the endpoint (url, realm, token-url, auth), the client, a hash of
    /// the secret (rotating it misses), token-field, scope and the TLS settings.
    pub fn for_profile(profile: &ResolvedProfile) -> Self {
        let secret_hash = profile.secret_identity();
        let ca_data_hash = profile
            .tls
            .ca_data
            .as_deref()
            .map(|d| hex(&Sha256::digest(d.trim().as_bytes())));
        let ca_file = profile.tls.ca_file.as_ref().map(|p| p.to_string_lossy().into_owned());
        let fields: [(&str, &str); 11] = [
            ("url", &profile.url),
            ("realm", profile.realm.as_deref().unwrap_or("")),
            ("token-url", profile.token_url.as_deref().unwrap_or("")),
            ("auth", profile.auth.as_str()),
            ("client-id", &profile.client_id),
            ("client-secret-sha256", &secret_hash),
            ("token-field", profile.token_field.as_str()),
            ("scope", &profile.scope),
            ("certificate-authority", ca_file.as_deref().unwrap_or("")),
            (
                "certificate-authority-data-sha256",
                ca_data_hash.as_deref().unwrap_or(""),
            ),
            (
                "insecure-skip-tls-verify",
                if profile.tls.insecure_skip_verify {
                    "true"
                } else {
                    "false"
                },
            ),
        ];
        // A person's session: who signs in, where, and for what. Left out for
        // applications, whose keys stay as they were.
        let user_fields = profile.grant.is_user().then(|| {
            [
                ("grant", profile.grant.as_str().to_owned()),
                ("issuer", profile.issuer.clone().unwrap_or_default()),
                ("username", profile.username.clone().unwrap_or_default()),
                ("scopes", profile.scopes.join(" ")),
            ]
        });
        let mut hasher = Sha256::new();
        hasher.update(format!("kubectl-runai-token cache key v{FORMAT}\n").as_bytes());
        let user_fields = user_fields
            .iter()
            .flatten()
            .map(|(name, value)| (*name, value.as_str()));
        for (name, value) in fields.into_iter().chain(user_fields) {
            hasher.update((name.len() as u64).to_be_bytes());
            hasher.update(name.as_bytes());
            hasher.update((value.len() as u64).to_be_bytes());
            hasher.update(value.as_bytes());
        }
        Self(hex(&hasher.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One cached token, as stored. `profile`, `endpoint`, `auth` and `client_id` are
/// there for `cache list`; the key already covers them.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Entry {
    pub format: u32,
    pub profile: String,
    pub endpoint: String,
    pub auth: String,
    pub client_id: String,
    pub token: Secret<String>,
    pub token_type: String,
    pub obtained_at: Timestamp,
    pub expires_at: Timestamp,
}

impl Entry {
    /// The entry for `token`, when its expiry is known (an unknown one is not cached).
    pub fn for_token(profile: &ResolvedProfile, token: &Token) -> Option<Self> {
        Some(Entry {
            format: FORMAT,
            profile: profile.name.clone(),
            endpoint: profile.token_url.clone().unwrap_or_else(|| profile.url.clone()),
            auth: profile.auth.as_str().to_owned(),
            client_id: profile.client_id.clone(),
            token: token.value.clone(),
            token_type: token.token_type.clone(),
            obtained_at: token.obtained_at,
            expires_at: token.expires_at?,
        })
    }

    fn token(&self) -> Token {
        Token {
            value: self.token.clone(),
            token_type: self.token_type.clone(),
            obtained_at: self.obtained_at,
            expires_at: Some(self.expires_at),
        }
    }

    /// Usable: more than `min_validity` left.
    fn fresh(&self, now: Timestamp, min_validity: Duration) -> bool {
        now.plus(min_validity) < self.expires_at
    }
}

/// How a command uses the cache.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Skip a cached token and replace it.
    pub force_refresh: bool,
    /// Neither read nor write the cache.
    pub no_cache: bool,
    /// A cached token with less left than this is renewed.
    pub min_validity: Duration,
}

impl Default for Options {
    /// Read and write the cache; renew within [`DEFAULT_MIN_VALIDITY`].
    fn default() -> Self {
        Self {
            force_refresh: false,
            no_cache: false,
            min_validity: DEFAULT_MIN_VALIDITY,
        }
    }
}

/// Where a token came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    Cache,
    Server,
}

/// The cache directory.
pub struct Cache {
    dir: PathBuf,
    lock_wait: Duration,
}

impl Cache {
    pub fn new(dir: &Path) -> Self {
        Self {
            dir: dir.to_owned(),
            lock_wait: LOCK_WAIT,
        }
    }

    /// The same cache, waiting at most `wait` for another process's lock.
    pub fn with_lock_wait(mut self, wait: Duration) -> Self {
        self.lock_wait = wait;
        self
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    pub(crate) fn entry_path(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{}{ENTRY_SUFFIX}", key.as_str()))
    }

    fn lock_path(&self, key: &Key) -> PathBuf {
        self.dir.join(format!("{}.lock", key.as_str()))
    }

    /// A valid, fresh entry for `key`, if there is one. Corrupt entries are misses,
    /// and so is an entry this user did not write: a symlink, a file owned by
    /// someone else or readable by others (docs/security.md#the-token-cache).
    fn read(&self, key: &Key, now: Timestamp, min_validity: Duration, log: &Log) -> Option<Entry> {
        let path = self.entry_path(key);
        let bytes = match fsutil::read_private(&path, fsutil::MAX_CACHE_FILE) {
            Ok(bytes) => bytes,
            Err(fsutil::ReadError::NotFound) => return None,
            Err(err) => {
                log_at!(log, DECISIONS, "cache: {} {err}: not trusted, a miss", path.display());
                return None;
            }
        };
        let entry = match serde_json::from_slice::<Entry>(&bytes) {
            Ok(entry) if entry.format == FORMAT && crate::token::is_header_safe(entry.token.expose()) => entry,
            _ => {
                log_at!(log, DECISIONS, "cache: {} is not a valid entry: a miss", path.display());
                return None;
            }
        };
        log.protect(entry.token.expose());
        if !entry.fresh(now, min_validity) {
            log_at!(
                log,
                DECISIONS,
                "cache: the token expires {} ({}), within --min-validity {}: renewing",
                entry.expires_at,
                crate::time::human_countdown(now.seconds_until(entry.expires_at)),
                GoDuration(min_validity)
            );
            return None;
        }
        Some(entry)
    }

    /// Refuses a cache directory that another user owns or may write to: whoever can
    /// write there can hand out their token as this user's, or point a lock file
    /// elsewhere (docs/security.md#the-token-cache). A missing one is fine: it is
    /// created 0700 on the first write.
    pub fn check_trusted(&self) -> anyhow::Result<()> {
        fsutil::check_private_dir(&self.dir).map(|_| ()).map_err(|why| {
            let hint = match why {
                fsutil::Untrusted::Writable => format!(
                    "chmod 700 {}, or use a directory of your own (--cache-dir, $RUNAI_TOKEN_CACHE_DIR)",
                    self.dir.display()
                ),
                _ => "use a directory of your own: --cache-dir or $RUNAI_TOKEN_CACHE_DIR".to_owned(),
            };
            ConfigError::new(format!("cache directory {} {why}", self.dir.display()))
                .with_hint(hint)
                .into()
        })
    }

    pub(crate) fn write(&self, key: &Key, entry: &Entry, log: &Log) {
        let path = self.entry_path(key);
        let result = serde_json::to_vec(entry)
            .map_err(std::io::Error::other)
            .and_then(|bytes| fsutil::write_atomic(&path, &bytes, 0o600, fsutil::Ownership::Mine));
        match result {
            Ok(()) => log_at!(log, DECISIONS, "cache: stored the token in {}", path.display()),
            Err(err) => log_at!(
                log,
                DECISIONS,
                "cache: cannot write {}: {err}: not cached",
                path.display()
            ),
        }
    }

    /// Every entry with its file name (for `cache list` and `cache clear`).
    pub fn entries(&self) -> std::io::Result<Vec<(PathBuf, Entry)>> {
        let mut entries = Vec::new();
        let dir = match fs::read_dir(&self.dir) {
            Ok(dir) => dir,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(entries),
            Err(err) => return Err(err),
        };
        for item in dir {
            let path = item?.path();
            if !path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(ENTRY_SUFFIX))
            {
                continue;
            }
            if let Ok(entry) = fsutil::read_private(&path, fsutil::MAX_CACHE_FILE)
                .map_err(|_| ())
                .and_then(|b| serde_json::from_slice::<Entry>(&b).map_err(|_| ()))
            {
                entries.push((path, entry));
            }
        }
        entries.sort_by(|a, b| (&a.1.profile, &a.1.endpoint).cmp(&(&b.1.profile, &b.1.endpoint)));
        Ok(entries)
    }

    /// Deletes every file the plugin keeps here but lock files (see `remove`):
    /// entries, sessions, temporary files left by a crash, remembered endpoints and
    /// parsed profiles files. Files named otherwise stay, since
    /// the directory may be one the user shares with other things.
    pub fn clear_all(&self) -> std::io::Result<usize> {
        let mut removed = 0;
        for (dir, hex_len) in [
            (self.dir.clone(), 64),
            (self.dir.join(endpoints::DIR), endpoints::NAME_HEX),
            (self.dir.join(parsed::DIR), parsed::NAME_HEX),
        ] {
            let items = match fs::read_dir(&dir) {
                Ok(items) => items,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(err),
            };
            for item in items {
                let path = item?.path();
                let name = path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                // Lock files stay (see `remove`).
                if path.is_file() && is_own_file(&name, hex_len) && !name.ends_with(".lock") {
                    fs::remove_file(&path)?;
                    removed += usize::from(name.ends_with(ENTRY_SUFFIX) && hex_len == 64);
                }
            }
        }
        Ok(removed)
    }

    /// Removes an entry. Its lock file stays: another process may hold it, and a
    /// lock file unlinked under a holder lets the next process lock a new one beside
    /// it (two renewals at once, a rotated refresh token lost).
    pub fn remove(&self, entry_path: &Path) -> std::io::Result<()> {
        fs::remove_file(entry_path)
    }
}

/// `<hex>.json`, `<hex>.lock`, or a temporary `.<hex>.json.<pid>-<nanos>.tmp`, with
/// `hex_len` lowercase hex digits: the names this module and `fsutil` create.
/// Writes `value` as JSON to `path`, a file of `dir` (created 0700 when missing):
/// 0600, atomically, without a lock. For the small records that hold nothing secret
/// and that any process may rewrite with the same content (remembered endpoints,
/// kept parses of profiles files).
fn write_record(dir: &Path, path: &Path, value: &impl Serialize) -> std::io::Result<()> {
    let bytes = serde_json::to_vec(value).map_err(std::io::Error::other)?;
    fsutil::create_private_dir(dir)?;
    fsutil::write_atomic_unlocked(path, &bytes, 0o600, fsutil::Ownership::Mine)
}

fn is_own_file(name: &str, hex_len: usize) -> bool {
    let hex_name = |stem: &str| stem.len() == hex_len && stem.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    if let Some(temp) = name.strip_prefix('.').and_then(|n| n.strip_suffix(".tmp")) {
        return [".json.", ".session."]
            .iter()
            .any(|infix| temp.split_once(infix).is_some_and(|(stem, _)| hex_name(stem)));
    }
    [ENTRY_SUFFIX, ".lock", session::SESSION_SUFFIX]
        .iter()
        .any(|suffix| name.strip_suffix(suffix).is_some_and(hex_name))
}

/// Whether `get_or_fetch`'s `fetch` runs under the identity's lock: only then may a
/// person's session be refreshed or a login started (docs/login.md#the-session).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Held {
    /// The lock is held: this process is the one that renews.
    Lock,
    /// `--no-cache`: no lock, by request.
    NoCache,
    /// Another process still held the lock after the wait.
    Busy,
    /// The lock could not be taken at all (no directory, an I/O error): why.
    Unusable(String),
}

/// A token for `profile`: from the cache when a fresh one is there, else from `fetch`
/// (called at most once, told whether it holds the lock), stored when its expiry is
/// known.
pub fn get_or_fetch(
    cache: &Cache,
    profile: &ResolvedProfile,
    options: Options,
    log: &Log,
    now: Timestamp,
    fetch: impl FnOnce(Held) -> anyhow::Result<Token>,
) -> anyhow::Result<(Token, Source)> {
    if options.no_cache {
        log_at!(log, DECISIONS, "cache: not used (--no-cache)");
        return Ok((fetch(Held::NoCache)?, Source::Server));
    }
    cache.check_trusted()?;
    let key = Key::for_profile(profile);
    // The hot path: a lock-free read. Entries are replaced by rename, so a reader
    // sees a whole old entry or a whole new one.
    if !options.force_refresh
        && let Some(entry) = cache.read(&key, now, options.min_validity, log)
    {
        log_at!(log, DECISIONS, "cache: hit, the token expires {}", entry.expires_at);
        return Ok((entry.token(), Source::Cache));
    }

    if let Err(err) = fsutil::create_private_dir(&cache.dir) {
        log_at!(
            log,
            DECISIONS,
            "cache: cannot create {}: {err}: fetching without caching",
            cache.dir.display()
        );
        let why = format!("cannot create the cache directory {}: {err}", cache.dir.display());
        return Ok((fetch(Held::Unusable(why))?, Source::Server));
    }
    // It may have been created by someone else since the first check.
    cache.check_trusted()?;
    let lock_path = cache.lock_path(&key);
    let waiting = std::time::Instant::now();
    let _lock = match fsutil::lock(&lock_path, cache.lock_wait) {
        Ok(Some(lock)) => lock,
        Ok(None) => {
            log_at!(
                log,
                DECISIONS,
                "cache: {} is still locked after {}: fetching without caching",
                lock_path.display(),
                GoDuration(cache.lock_wait)
            );
            return Ok((fetch(Held::Busy)?, Source::Server));
        }
        Err(err) => {
            log_at!(
                log,
                DECISIONS,
                "cache: cannot lock {}: {err}: fetching without caching",
                lock_path.display()
            );
            let why = format!("cannot lock {}: {err}", lock_path.display());
            return Ok((fetch(Held::Unusable(why))?, Source::Server));
        }
    };
    // Another process may have fetched while this one waited for the lock; the wait
    // counts against what is left of that token.
    let now = now.plus(waiting.elapsed());
    if !options.force_refresh
        && let Some(entry) = cache.read(&key, now, options.min_validity, log)
    {
        log_at!(log, DECISIONS, "cache: hit after waiting for the lock");
        return Ok((entry.token(), Source::Cache));
    }
    let token = fetch(Held::Lock)?;
    match Entry::for_token(profile, &token) {
        Some(entry) => cache.write(&key, &entry, log),
        None => log_at!(log, DECISIONS, "cache: the token's expiry is unknown: not cached"),
    }
    Ok((token, Source::Server))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::{Api, AuthMode, TokenField};

    fn profile() -> ResolvedProfile {
        ResolvedProfile::example()
    }

    fn token(expires_at: Option<i64>) -> Token {
        Token {
            value: Secret::new("tok".into()),
            token_type: "Bearer".into(),
            obtained_at: Timestamp(1_000),
            expires_at: expires_at.map(Timestamp),
        }
    }

    const OPTIONS: Options = Options {
        force_refresh: false,
        no_cache: false,
        min_validity: Duration::from_secs(60),
    };

    #[test]
    fn a_command_source_is_keyed_by_its_command() {
        use crate::profile::SecretSource;
        let command = |argv: &[&str]| {
            let mut p = profile();
            p.secret_source = SecretSource::Command {
                argv: argv.iter().map(|a| (*a).to_owned()).collect(),
                timeout: Duration::from_secs(1),
            };
            Key::for_profile(&p)
        };
        assert_eq!(command(&["pass", "show", "a"]), command(&["pass", "show", "a"]));
        assert_ne!(command(&["pass", "show", "a"]), command(&["pass", "show", "b"]));
        assert_ne!(command(&["pass", "show", "a"]), Key::for_profile(&profile()));
    }

    #[test]
    fn every_identity_field_changes_the_key() {
        let base = Key::for_profile(&profile());
        let variants: [fn(&mut ResolvedProfile); 11] = [
            |p| p.url.push('x'),
            |p| p.realm = Some("r".into()),
            |p| p.token_url = Some("https://t".into()),
            |p| p.auth = AuthMode::V2,
            |p| p.client_id.push('x'),
            |p| *p = p.clone().with_secret("rotated"),
            |p| p.token_field = TokenField::IdToken,
            |p| p.scope = "openid email".into(),
            |p| p.tls.ca_file = Some("/ca.pem".into()),
            |p| p.tls.ca_data = Some("LS0t".into()),
            |p| p.tls.insecure_skip_verify = true,
        ];
        for (i, change) in variants.iter().enumerate() {
            let mut changed = profile();
            change(&mut changed);
            assert_ne!(Key::for_profile(&changed), base, "variant {i}");
        }
        // The profile's name, api and timeout do not change which token it gets.
        let mut same = profile();
        same.name = "other".into();
        same.api = Api::Researcher;
        same.timeout = Duration::from_secs(1);
        assert_eq!(Key::for_profile(&same), base);
        // Pinned: changing the encoding without bumping FORMAT would make old entries
        // hit under a new meaning.
        assert_eq!(
            base.as_str(),
            "f7c5770c9566637574badab536a0856efe156f69c2595ce35e414e0531a13193"
        );
    }

    #[test]
    fn a_miss_fetches_stores_and_then_hits() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(&dir.path().join("c"));
        let log = Log::default();
        let now = Timestamp(1_000);
        let (first, source) = get_or_fetch(&cache, &profile(), OPTIONS, &log, now, |_| Ok(token(Some(5_000)))).unwrap();
        assert_eq!((first.value.expose().as_str(), source), ("tok", Source::Server));
        let (second, source) = get_or_fetch(&cache, &profile(), OPTIONS, &log, now, |_| {
            panic!("a hit must not fetch")
        })
        .unwrap();
        assert_eq!(source, Source::Cache);
        assert_eq!(second, first);
        let entries = cache.entries().unwrap();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].1.profile, "acme");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(fs::metadata(&entries[0].0).unwrap().permissions().mode() & 0o777, 0o600);
            assert_eq!(fs::metadata(cache.dir()).unwrap().permissions().mode() & 0o777, 0o700);
        }
    }

    #[test]
    fn min_validity_force_refresh_and_no_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let log = Log::default();
        get_or_fetch(&cache, &profile(), OPTIONS, &log, Timestamp(1_000), |_| {
            Ok(token(Some(1_100)))
        })
        .unwrap();
        // 100 s left > 60 s: a hit. 50 s later only 50 s are left: renewed.
        let (_, hit) = get_or_fetch(&cache, &profile(), OPTIONS, &log, Timestamp(1_000), |_| unreachable!()).unwrap();
        assert_eq!(hit, Source::Cache);
        let (_, renewed) = get_or_fetch(&cache, &profile(), OPTIONS, &log, Timestamp(1_050), |_| {
            Ok(token(Some(9_000)))
        })
        .unwrap();
        assert_eq!(renewed, Source::Server);
        let force = Options {
            force_refresh: true,
            ..OPTIONS
        };
        let (_, forced) = get_or_fetch(&cache, &profile(), force, &log, Timestamp(1_050), |_| {
            Ok(token(Some(9_500)))
        })
        .unwrap();
        assert_eq!(forced, Source::Server);
        assert_eq!(
            cache.entries().unwrap()[0].1.expires_at,
            Timestamp(9_500),
            "--force-refresh replaces the entry"
        );
        let none = Options {
            no_cache: true,
            ..OPTIONS
        };
        let (_, bypass) =
            get_or_fetch(&cache, &profile(), none, &log, Timestamp(1_050), |_| Ok(token(Some(1)))).unwrap();
        assert_eq!(bypass, Source::Server);
        assert_eq!(
            cache.entries().unwrap()[0].1.expires_at,
            Timestamp(9_500),
            "--no-cache writes nothing"
        );
    }

    #[test]
    fn clear_all_deletes_only_the_plugins_files() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        get_or_fetch(&cache, &profile(), OPTIONS, &Log::default(), Timestamp(1_000), |_| {
            Ok(token(Some(5_000)))
        })
        .unwrap();
        let key = Key::for_profile(&profile());
        let others = [
            "notes.json",
            "x.lock",
            "build.tmp",
            &format!("{}.json.bak", key.as_str()),
        ];
        for other in others {
            fs::write(dir.path().join(other), b"keep").unwrap();
        }
        fs::write(dir.path().join(format!(".{}.json.12-34.tmp", key.as_str())), b"").unwrap();
        fs::create_dir_all(dir.path().join("endpoints")).unwrap();
        fs::write(
            dir.path()
                .join("endpoints")
                .join(format!("{}.json", &key.as_str()[..32])),
            b"{}",
        )
        .unwrap();
        fs::write(dir.path().join("endpoints").join("mine.json"), b"keep").unwrap();
        assert_eq!(cache.clear_all().unwrap(), 1);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        // The lock file stays: a process may hold it.
        let mut expected: Vec<String> = others
            .iter()
            .map(|s| s.to_string())
            .chain(["endpoints".to_owned(), format!("{}.lock", key.as_str())])
            .collect();
        expected.sort();
        assert_eq!(left, expected);
        assert!(dir.path().join("endpoints").join("mine.json").exists());
    }

    #[test]
    fn unknown_expiry_is_not_cached_and_garbage_is_a_miss() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let log = Log::default();
        get_or_fetch(&cache, &profile(), OPTIONS, &log, Timestamp(1_000), |_| Ok(token(None))).unwrap();
        assert!(cache.entries().unwrap().is_empty());
        let key = Key::for_profile(&profile());
        fs::write(cache.entry_path(&key), b"{\"format\":1,\"tok").unwrap();
        let (_, source) = get_or_fetch(&cache, &profile(), OPTIONS, &log, Timestamp(1_000), |_| {
            Ok(token(Some(5_000)))
        })
        .unwrap();
        assert_eq!(source, Source::Server);
        assert_eq!(cache.entries().unwrap().len(), 1, "the garbage was replaced");
    }
}
