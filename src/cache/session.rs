//! A person's session (docs/login.md#the-session): the refresh token a user grant
//! gave, beside the identity's cache entry as `<key>.session`, mode 0600, written
//! and replaced only under the identity's lock, so that of N processes with an
//! expired access token one refreshes and the others read what it wrote.

use serde::{Deserialize, Serialize};

use crate::fsutil;
use crate::log_at;
use crate::output::{DECISIONS, Log};
use crate::secret::Secret;
use crate::time::Timestamp;

use super::{Cache, FORMAT, Key};

pub(super) const SESSION_SUFFIX: &str = ".session";

/// One session, as stored.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    pub format: u32,
    pub profile: String,
    /// `password`, `authorization-code` or `device-code`.
    pub grant: String,
    /// The token endpoint that issued the refresh token, where it is redeemed, and
    /// that endpoint's wire format (`v2`, `v1`, `keycloak`, `oauth2`).
    pub endpoint: String,
    pub generation: String,
    pub refresh_token: Secret<String>,
    /// When the refresh token expires, if the server said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_expires_at: Option<Timestamp>,
    /// Who signed in: the access token's `preferred_username`, else its `sub`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    pub logged_in_at: Timestamp,
    /// When the refresh token was last used and replaced.
    pub refreshed_at: Timestamp,
}

impl Session {
    /// Whether the refresh token is known to have expired.
    pub fn expired(&self, now: Timestamp) -> bool {
        self.refresh_expires_at.is_some_and(|at| at <= now)
    }
}

impl Cache {
    /// Where `key`'s session lives.
    pub fn session_file(&self, key: &Key) -> std::path::PathBuf {
        self.dir.join(format!("{}{SESSION_SUFFIX}", key.as_str()))
    }

    /// The session of `key`, if there is a valid one this user wrote (the same trust
    /// rules as entries: docs/security.md#the-token-cache).
    pub fn read_session(&self, key: &Key, log: &Log) -> Option<Session> {
        let path = self.session_file(key);
        let bytes = match fsutil::read_private(&path, fsutil::MAX_CACHE_FILE) {
            Ok(bytes) => bytes,
            Err(fsutil::ReadError::NotFound) => return None,
            Err(err) => {
                log_at!(
                    log,
                    DECISIONS,
                    "session: {} {err}: not trusted, ignored",
                    path.display()
                );
                return None;
            }
        };
        match serde_json::from_slice::<Session>(&bytes) {
            Ok(session) if session.format == FORMAT && crate::token::is_header_safe(session.refresh_token.expose()) => {
                log.protect(session.refresh_token.expose());
                Some(session)
            }
            _ => {
                log_at!(
                    log,
                    DECISIONS,
                    "session: {} is not a valid session: ignored",
                    path.display()
                );
                None
            }
        }
    }

    /// Stores `session` for `key`, replacing the old one whole.
    pub fn write_session(&self, key: &Key, session: &Session, log: &Log) -> std::io::Result<()> {
        fsutil::create_private_dir(&self.dir)?;
        let path = self.session_file(key);
        let bytes = serde_json::to_vec(session).map_err(std::io::Error::other)?;
        fsutil::write_atomic(&path, &bytes, 0o600, fsutil::Ownership::Mine)?;
        log_at!(log, DECISIONS, "session: stored in {}", path.display());
        Ok(())
    }

    /// Deletes the session and the cached token of `key`; whether a session was there.
    pub fn remove_session(&self, key: &Key) -> std::io::Result<bool> {
        let removed = match std::fs::remove_file(self.session_file(key)) {
            Ok(()) => true,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => false,
            Err(err) => return Err(err),
        };
        match std::fs::remove_file(self.entry_path(key)) {
            Ok(()) => {}
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
            Err(err) => return Err(err),
        }
        Ok(removed)
    }

    /// Every session with its path (for `cache list` and `logout --all`).
    pub fn sessions(&self) -> std::io::Result<Vec<(std::path::PathBuf, Session)>> {
        let mut sessions = Vec::new();
        let dir = match std::fs::read_dir(&self.dir) {
            Ok(dir) => dir,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(sessions),
            Err(err) => return Err(err),
        };
        for item in dir {
            let path = item?.path();
            if !path.to_string_lossy().ends_with(SESSION_SUFFIX) {
                continue;
            }
            if let Ok(session) = fsutil::read_private(&path, fsutil::MAX_CACHE_FILE)
                .map_err(|_| ())
                .and_then(|b| serde_json::from_slice::<Session>(&b).map_err(|_| ()))
            {
                sessions.push((path, session));
            }
        }
        sessions.sort_by(|a, b| a.1.profile.cmp(&b.1.profile));
        Ok(sessions)
    }

    /// Runs `work` holding `key`'s lock (waiting for it as a token request does);
    /// `None` when the lock stayed taken.
    pub fn locked<T>(&self, key: &Key, work: impl FnOnce() -> T) -> std::io::Result<Option<T>> {
        fsutil::create_private_dir(&self.dir)?;
        match fsutil::lock(&self.lock_path(key), self.lock_wait)? {
            Some(_lock) => Ok(Some(work())),
            None => Ok(None),
        }
    }
}
