//! The HTTP client (docs/security.md#network): rustls with the OS trust store plus the
//! profile's CA, proxies from the environment, a 10 s connect timeout, a deadline for
//! the whole exchange, bounded retries with backoff and jitter, and a 1 MiB cap on
//! response bodies. Built only on a cache miss: a hit never gets here.
//!
//! It logs request lines at `-vv` and headers and redacted request bodies at `-vvv`;
//! response bodies are logged by the caller once it knows which token to protect.

use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use reqwest::header::{ACCEPT, CONTENT_TYPE, HeaderMap, HeaderName, HeaderValue, RETRY_AFTER, USER_AGENT};

use crate::config_error;
use crate::error::ConfigError;
use crate::log_at;
use crate::output::{HTTP, Log, WIRE};
use crate::profile::TlsSettings;
use crate::secret::Secret;
use crate::token::status_text;

/// Responses larger than this are refused (docs/security.md#network).
pub const MAX_BODY: usize = 1024 * 1024;
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts for requests that may be retried.
pub const ATTEMPTS: u32 = 3;
const BACKOFF_BASE: Duration = Duration::from_millis(200);

pub fn user_agent() -> String {
    format!("kubectl-runai-token/{}", env!("CARGO_PKG_VERSION"))
}

/// One answer, body read in full (up to [`MAX_BODY`]).
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub content_type: Option<String>,
    /// The `Date` header, as sent (for `doctor`'s clock check).
    pub date: Option<String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    /// How many requests it took (retries included).
    pub attempts: u32,
}

/// Why no answer came.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("did not answer within {}", crate::time::GoDuration(*.0))]
    Timeout(Duration),
    #[error("cannot be reached: {0}")]
    Connect(String),
    /// The TLS handshake failed (an unknown CA, a wrong name): not retried, it would
    /// fail the same way.
    #[error("cannot be reached: {0}")]
    Tls(String),
    #[error("answered with a body over {} MiB", .0 / (1024 * 1024))]
    TooLarge(usize),
    #[error("failed: {0}")]
    Other(String),
}

/// What a request carries.
pub struct Outgoing<'a> {
    pub method: reqwest::Method,
    pub url: &'a str,
    pub headers: Vec<(String, String)>,
    pub body: Option<Body<'a>>,
    /// Retry connect errors, 502, 503, 504 and 429 (token requests); `api` calls
    /// are sent once.
    pub retry: bool,
    /// The largest body accepted ([`MAX_BODY`] for token endpoints).
    pub max_body: usize,
}

/// A request body: a token request's (holding the secret, logged redacted) or an
/// `api` call's (logged as it is).
pub enum Body<'a> {
    Secret { bytes: &'a Secret<String>, log: &'a str },
    Plain(&'a [u8]),
}

/// A configured client.
pub struct Http {
    /// Extra CA certificates, checked once in [`Http::new`].
    certs: Vec<reqwest::Certificate>,
    insecure_skip_verify: bool,
    /// Through the proxies of the environment, for every host but loopback.
    proxied: std::sync::OnceLock<reqwest::Client>,
    /// Never through a proxy: loopback hosts (a port-forward), as client-go does.
    direct: std::sync::OnceLock<reqwest::Client>,
}

impl Http {
    /// Builds the client for a profile's TLS settings. A CA that cannot be read or
    /// parsed is a configuration error.
    pub fn new(tls: &TlsSettings, log: &Log) -> anyhow::Result<Self> {
        let mut certs = Vec::new();
        if let Some(path) = &tls.ca_file {
            let pem = crate::fsutil::read_regular(path, crate::fsutil::MAX_CONFIG_FILE)
                .map_err(|err| config_error!("certificate-authority {}: {err}", path.display()))?;
            certs.extend(reqwest::Certificate::from_pem_bundle(&pem).map_err(|err| {
                ConfigError::caused_by(format!("certificate-authority {}: not PEM", path.display()), err)
            })?);
        }
        if let Some(data) = &tls.ca_data {
            let pem = base64::engine::general_purpose::STANDARD
                .decode(data.trim())
                .map_err(|err| ConfigError::caused_by("certificate-authority-data is not base64", err))?;
            certs.extend(
                reqwest::Certificate::from_pem_bundle(&pem)
                    .map_err(|err| ConfigError::caused_by("certificate-authority-data is not PEM", err))?,
            );
        }
        if tls.ca_file.is_some() || tls.ca_data.is_some() {
            if certs.is_empty() {
                return Err(config_error!("certificate-authority holds no certificate"));
            }
            log_at!(
                log,
                HTTP,
                "trusting {} extra CA certificate(s) besides the OS trust store",
                certs.len()
            );
        }
        let http = Self {
            certs,
            insecure_skip_verify: tls.insecure_skip_verify,
            proxied: std::sync::OnceLock::new(),
            direct: std::sync::OnceLock::new(),
        };
        // Fail now, as a configuration error, rather than on the first request.
        http.build(true).context("cannot build the HTTP client")?;
        Ok(http)
    }

    fn build(&self, proxied: bool) -> reqwest::Result<reqwest::Client> {
        let mut builder = reqwest::Client::builder()
            .user_agent(user_agent())
            .connect_timeout(CONNECT_TIMEOUT)
            .http1_only()
            .redirect(reqwest::redirect::Policy::none());
        if !proxied {
            builder = builder.no_proxy();
        }
        if !self.certs.is_empty() {
            builder = builder.tls_certs_merge(self.certs.iter().cloned());
        }
        if self.insecure_skip_verify {
            builder = builder.tls_danger_accept_invalid_certs(true);
        }
        builder.build()
    }

    /// The client for `url`: loopback hosts are never proxied, so a secret sent over
    /// plain http to a port-forward never crosses the network to a proxy
    /// (docs/security.md#proxies-and-loopback).
    fn client_for(&self, url: &reqwest::Url) -> Result<&reqwest::Client, TransportError> {
        let (cell, proxied) = if is_loopback(url) {
            (&self.direct, false)
        } else {
            (&self.proxied, true)
        };
        if let Some(client) = cell.get() {
            return Ok(client);
        }
        let client = self
            .build(proxied)
            .map_err(|e| TransportError::Other(error_chain(&e)))?;
        Ok(cell.get_or_init(|| client))
    }

    /// Sends `request`, retrying as it allows, until `deadline`.
    pub async fn send(&self, request: Outgoing<'_>, deadline: Instant, log: &Log) -> Result<Response, TransportError> {
        let total = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout_at(deadline.into(), self.send_with_retries(&request, deadline, log)).await {
            Ok(result) => result,
            Err(_) => Err(TransportError::Timeout(total)),
        }
    }

    async fn send_with_retries(
        &self,
        request: &Outgoing<'_>,
        deadline: Instant,
        log: &Log,
    ) -> Result<Response, TransportError> {
        let attempts = if request.retry { ATTEMPTS } else { 1 };
        let mut attempt = 1;
        loop {
            let result = self.send_once(request, log).await;
            let retry_after = match &result {
                Ok(response) if matches!(response.status, 429 | 502 | 503 | 504) => {
                    Some(retry_after(&response.headers).unwrap_or_default())
                }
                Err(TransportError::Connect(_)) => Some(Duration::ZERO),
                _ => None,
            };
            let Some(server_wait) = retry_after.filter(|_| attempt < attempts) else {
                return result.map(|mut response| {
                    response.attempts = attempt;
                    response
                });
            };
            let wait = backoff(attempt).max(server_wait);
            if Instant::now().checked_add(wait).is_none_or(|at| at >= deadline) {
                log_at!(
                    log,
                    HTTP,
                    "not retrying: waiting {} would pass the timeout",
                    crate::time::GoDuration(wait)
                );
                return result.map(|mut response| {
                    response.attempts = attempt;
                    response
                });
            }
            match &result {
                Ok(response) => log_at!(
                    log,
                    HTTP,
                    "{} answered {}; retrying in {} ms",
                    request.url,
                    status_text(response.status),
                    wait.as_millis()
                ),
                Err(err) => log_at!(log, HTTP, "{} {err}; retrying in {} ms", request.url, wait.as_millis()),
            }
            tokio::time::sleep(wait).await;
            attempt += 1;
        }
    }

    async fn send_once(&self, request: &Outgoing<'_>, log: &Log) -> Result<Response, TransportError> {
        let started = Instant::now();
        let url =
            reqwest::Url::parse(request.url).map_err(|e| TransportError::Other(format!("{}: {e}", request.url)))?;
        let client = self.client_for(&url)?;
        let mut builder = client
            .request(request.method.clone(), url)
            .header(ACCEPT, "application/json");
        for (name, value) in &request.headers {
            let name = HeaderName::from_bytes(name.as_bytes())
                .map_err(|e| TransportError::Other(format!("header {name:?}: {e}")))?;
            let value =
                HeaderValue::from_str(value).map_err(|e| TransportError::Other(format!("header {name}: {e}")))?;
            builder = builder.header(name, value);
        }
        let (bytes, log_body): (Vec<u8>, String) = match &request.body {
            Some(Body::Secret { bytes, log }) => (bytes.expose().as_bytes().to_vec(), (*log).to_owned()),
            Some(Body::Plain(bytes)) => (bytes.to_vec(), String::from_utf8_lossy(bytes).into_owned()),
            None => (Vec::new(), String::new()),
        };
        if request.body.is_some() {
            builder = builder.body(bytes);
        }
        let built = builder.build().map_err(|e| TransportError::Other(error_chain(&e)))?;
        log_at!(log, HTTP, "{} {}", built.method(), built.url());
        if log.enabled(WIRE) {
            log_at!(log, WIRE, "> {}: {}", USER_AGENT, user_agent());
            for (name, value) in built.headers() {
                log_at!(log, WIRE, "> {name}: {}", shown_header(name, value));
            }
            if !log_body.is_empty() {
                log_at!(log, WIRE, "> {log_body}");
            }
        }
        let mut response = client.execute(built).await.map_err(|err| {
            if is_tls(&err) {
                TransportError::Tls(error_chain(&err))
            } else if err.is_connect() {
                TransportError::Connect(error_chain(&err))
            } else if err.is_timeout() {
                TransportError::Timeout(started.elapsed())
            } else {
                TransportError::Other(error_chain(&err))
            }
        })?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        log_at!(
            log,
            HTTP,
            "< {} in {} ms",
            status_text(status),
            started.elapsed().as_millis()
        );
        if log.enabled(WIRE) {
            for (name, value) in &headers {
                log_at!(log, WIRE, "< {name}: {}", shown_header(name, value));
            }
        }
        let max = request.max_body;
        if response.content_length().is_some_and(|len| len > max as u64) {
            return Err(TransportError::TooLarge(max));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| TransportError::Other(error_chain(&e)))?
        {
            if body.len() + chunk.len() > max {
                return Err(TransportError::TooLarge(max));
            }
            body.extend_from_slice(&chunk);
        }
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .map(str::to_owned)
        };
        Ok(Response {
            status,
            content_type: text(CONTENT_TYPE),
            date: text(reqwest::header::DATE),
            headers: headers.clone(),
            body,
            attempts: 1,
        })
    }
}

/// `localhost`, 127.0.0.0/8 or ::1.
pub fn is_loopback(url: &reqwest::Url) -> bool {
    url.host_str().is_some_and(is_loopback_host)
}

/// [`is_loopback`] for a URL's host as written (`[::1]` with its brackets too).
pub fn is_loopback_host(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => ip.is_loopback(),
        Err(_) => host.trim_end_matches('.').eq_ignore_ascii_case("localhost"),
    }
}

/// A header value as `-vvv` shows it: credentials never.
fn shown_header(name: &HeaderName, value: &HeaderValue) -> String {
    // Credentials, and any header that names a token or a secret (a gateway may
    // send one before the body says which token to protect).
    let lower = name.as_str();
    if matches!(lower, "authorization" | "proxy-authorization" | "cookie" | "set-cookie")
        || lower.contains("token")
        || lower.contains("secret")
    {
        let scheme = value.to_str().ok().and_then(|v| v.split(' ').next()).unwrap_or("");
        format!("{scheme} [redacted]")
    } else {
        String::from_utf8_lossy(value.as_bytes()).into_owned()
    }
}

/// `Retry-After` in seconds or as an HTTP date.
fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let value = headers.get(RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        // A day is longer than any timeout: no need to carry larger values around.
        return Some(Duration::from_secs(seconds.min(86_400)));
    }
    let when = httpdate::parse_http_date(value).ok()?;
    Some(when.duration_since(std::time::SystemTime::now()).unwrap_or_default())
}

/// Exponential backoff with jitter: 200 ms, 400 ms, ... each drawn between half and
/// all of its step so that many clients do not retry in step.
fn backoff(attempt: u32) -> Duration {
    let base = BACKOFF_BASE * 2u32.saturating_pow(attempt.saturating_sub(1));
    crate::time::jittered(base, crate::time::jitter_seed())
}

/// Whether a TLS error (rustls's own type) is in `err`'s chain of causes. An
/// `io::Error` hides its inner error from `source()`, so it is opened by hand.
fn is_tls(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(err);
    while let Some(current) = cause {
        if current.downcast_ref::<rustls::Error>().is_some() {
            return true;
        }
        if let Some(inner) = current.downcast_ref::<std::io::Error>().and_then(|io| io.get_ref())
            && is_tls(inner)
        {
            return true;
        }
        cause = current.source();
    }
    false
}

/// An error and its causes, `outer: inner: innermost`, without repeats.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut parts: Vec<String> = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_with_jitter() {
        for attempt in 1..=3 {
            let base = BACKOFF_BASE * 2u32.pow(attempt - 1);
            let wait = backoff(attempt);
            assert!(wait >= base / 2 && wait <= base, "attempt {attempt}: {wait:?}");
        }
    }

    #[test]
    fn retry_after_seconds_and_dates() {
        let mut headers = HeaderMap::new();
        headers.insert(RETRY_AFTER, HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(2)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("Wed, 21 Oct 2015 07:28:00 GMT"));
        assert_eq!(retry_after(&headers), Some(Duration::ZERO));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("18446744073709551615"));
        assert_eq!(retry_after(&headers), Some(Duration::from_secs(86_400)));
        headers.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&headers), None);
    }

    #[test]
    fn loopback_hosts_are_told_apart() {
        for (url, loopback) in [
            ("http://127.0.0.1:8080/x", true),
            ("http://127.1.2.3/", true),
            ("http://[::1]:9/", true),
            ("http://localhost/", true),
            ("http://LocalHost./", true),
            ("https://api.localhost/", false),
            ("https://acme.run.ai/", false),
            ("http://10.0.0.1/", false),
            ("http://localhost.evil.com/", false),
        ] {
            assert_eq!(is_loopback(&reqwest::Url::parse(url).unwrap()), loopback, "{url}");
        }
    }

    #[test]
    fn credentials_are_never_shown_in_headers() {
        let value = HeaderValue::from_static("Bearer abc.def.ghi");
        assert_eq!(
            shown_header(&reqwest::header::AUTHORIZATION, &value),
            "Bearer [redacted]"
        );
        assert_eq!(
            shown_header(&CONTENT_TYPE, &HeaderValue::from_static("text/html")),
            "text/html"
        );
    }
}
