//! Talking to servers: the single-threaded async runtime, the HTTP client
//! ([`http`], docs/security.md#network) and getting a token from a token endpoint
//! ([`fetch`], with `auth: auto` detection). Built only on a cache miss or for `api`
//! and `doctor`: a cache hit never gets here. What the bytes mean is [`crate::token`]'s.

pub mod cluster;
pub mod fetch;
pub mod http;

use std::path::Path;

use anyhow::Context;

use crate::cache::AuthMemory;
use crate::output::Log;
use crate::profile::ResolvedProfile;
use crate::secret::Secret;
use crate::time::Timestamp;
use crate::token::TokenError;
use crate::token::grant::Grant;

pub use fetch::Fetched;

/// A single-threaded runtime for one command's network work.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .context("cannot start the async runtime")
}

/// What talking to a server needs: a single-threaded async runtime and the HTTP
/// client for a profile's TLS settings.
pub struct Online {
    runtime: tokio::runtime::Runtime,
    pub http: http::Http,
}

impl Online {
    pub fn new(profile: &ResolvedProfile, log: &Log) -> anyhow::Result<Self> {
        Ok(Self {
            runtime: runtime()?,
            http: http::Http::new(&profile.tls, log)?,
        })
    }

    /// Fetches a token from the server (no cache involved), remembering what
    /// `auth: auto` found in `cache_dir` when there is one (not under `--no-cache`)
    /// and it is trusted (docs/security.md#the-token-cache).
    pub fn fetch(
        &self,
        profile: &ResolvedProfile,
        secret: &Secret<String>,
        cache_dir: Option<&Path>,
        log: &Log,
        now: Timestamp,
    ) -> Result<Fetched, TokenError> {
        self.fetch_grant(profile, Grant::ClientCredentials { secret }, None, cache_dir, log, now)
    }

    /// [`Online::fetch`] with any grant.
    pub fn fetch_grant(
        &self,
        profile: &ResolvedProfile,
        grant: Grant<'_>,
        client_secret: Option<&Secret<String>>,
        cache_dir: Option<&Path>,
        log: &Log,
        now: Timestamp,
    ) -> Result<Fetched, TokenError> {
        let memory = cache_dir.and_then(AuthMemory::trusted);
        self.runtime.block_on(fetch::fetch(
            profile,
            grant,
            client_secret,
            &self.http,
            memory.as_ref(),
            log,
            now,
        ))
    }

    pub fn block_on<F: std::future::Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}
