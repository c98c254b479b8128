//! The remembered `auth: auto` detections: per control plane `url`, which token
//! endpoint generation was found there, one small file per URL under
//! `<cache dir>/endpoints/`. Owned by the cache module like every file in the cache
//! directory (`cache clear --all` removes them).

use std::fs;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::fsutil;
use crate::log_at;
use crate::output::{DECISIONS, Log};
use crate::profile::AuthMode;
use crate::secret::hex;
use crate::token::Generation;

/// The subdirectory of the cache directory.
pub(super) const DIR: &str = "endpoints";
/// Hex digits of a remembered URL's file name.
pub(super) const NAME_HEX: usize = 32;

/// Remembers, per control plane `url`, which generation `auth: auto` found there.
/// One small file per URL under `<cache dir>/endpoints/`.
pub struct AuthMemory {
    dir: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct Remembered {
    url: String,
    auth: AuthMode,
}

impl AuthMemory {
    /// The memory in `cache_dir`, unless the directory is one another user owns or
    /// may write to (then nothing is remembered or recalled).
    pub fn trusted(cache_dir: &std::path::Path) -> Option<Self> {
        fsutil::check_private_dir(cache_dir).ok()?;
        Some(Self::new(cache_dir))
    }

    pub fn new(cache_dir: &std::path::Path) -> Self {
        Self {
            dir: cache_dir.join(DIR),
        }
    }

    fn path(&self, url: &str) -> PathBuf {
        let digest = Sha256::digest(url.as_bytes());
        self.dir.join(format!("{}.json", &hex(&digest)[..NAME_HEX]))
    }

    /// What was found at `url` before, if anything.
    pub fn recall(&self, url: &str) -> Option<Generation> {
        // What another user could have put there is not trusted (docs/security.md).
        let text = fsutil::read_private(&self.path(url), fsutil::MAX_CACHE_FILE).ok()?;
        let remembered: Remembered = serde_json::from_slice(&text).ok()?;
        (remembered.url == url).then_some(())?;
        Generation::from_auth(remembered.auth)
    }

    pub fn remember(&self, url: &str, generation: Generation, log: &Log) {
        let record = Remembered {
            url: url.to_owned(),
            auth: generation.auth(),
        };
        match super::write_record(&self.dir, &self.path(url), &record) {
            Ok(()) => log_at!(log, DECISIONS, "remembered auth: {} for {url}", generation.name()),
            Err(err) => log_at!(
                log,
                DECISIONS,
                "cannot remember the endpoint in {}: {err}",
                self.dir.display()
            ),
        }
    }

    pub fn forget(&self, url: &str) {
        let _ = fs::remove_file(self.path(url));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_round_trips_per_url() {
        let dir = tempfile::tempdir().unwrap();
        let memory = AuthMemory::new(dir.path());
        let log = Log::default();
        assert_eq!(memory.recall("https://a"), None);
        memory.remember("https://a", Generation::AppToken, &log);
        assert_eq!(memory.recall("https://a"), Some(Generation::AppToken));
        assert_eq!(memory.recall("https://b"), None);
        memory.forget("https://a");
        assert_eq!(memory.recall("https://a"), None);
    }
}
