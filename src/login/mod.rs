//! Signing in as a person (docs/login.md): the user grants run with the person
//! (password, authorization code with PKCE, device code), and the session they
//! leave, renewed silently with its refresh token under the identity's lock.

mod issuer;
pub mod loopback;
pub mod terminal;

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::cache::{Cache, FORMAT, Held, Key, Session};
use crate::log_at;
use crate::net::{Fetched, Online, fetch};
use crate::output::{DECISIONS, Log};
use crate::profile::{GrantType, ResolvedProfile};
use crate::secret::Secret;
use crate::time::{GoDuration, Timestamp};
use crate::token::discovery::{DeviceAuthorization, pkce, random_word};
use crate::token::grant::Grant;
use crate::token::{Endpoint, Generation, Token, TokenError, form, jwt};

pub use issuer::{discovered, revoke};
pub use terminal::Browser;

use issuer::{body_of_ok, checked_endpoint, discover, form_post, form_with_secrets, required};

/// How long a browser or device sign-in may take (`login --timeout`).
pub const DEFAULT_WAIT: Duration = Duration::from_secs(180);

/// How a sign-in may reach the person.
#[derive(Clone, Debug)]
pub struct Interaction {
    pub browser: Browser,
    /// `--listen-address`, instead of the profile's.
    pub listen: Option<Vec<SocketAddr>>,
    /// `--password-stdin`.
    pub password_stdin: bool,
    /// How long to wait for the browser or the device.
    pub wait: Duration,
}

impl Default for Interaction {
    fn default() -> Self {
        Self {
            browser: Browser::Platform,
            listen: None,
            password_stdin: false,
            wait: DEFAULT_WAIT,
        }
    }
}

/// Runs the profile's grant with the person and returns what the server granted,
/// refresh token included.
pub fn sign_in(
    profile: &ResolvedProfile,
    online: &Online,
    how: &Interaction,
    cache_dir: Option<&Path>,
    log: &Log,
) -> anyhow::Result<Fetched> {
    let client_secret = profile.user_client_secret()?;
    match profile.grant {
        GrantType::ClientCredentials => unreachable_grant(profile),
        GrantType::Password => {
            let username = match &profile.username {
                Some(username) => username.clone(),
                None if how.password_stdin => {
                    return Err(crate::config_error!(
                        "profile {:?} has no username: --password-stdin needs one",
                        profile.name
                    ));
                }
                None => terminal::ask("Username: ")?,
            };
            let password = Secret::new(if how.password_stdin {
                terminal::password_from_stdin()?
            } else {
                terminal::ask_password(&format!("Password for {username}: "))?
            });
            log.protect(password.expose());
            let grant = Grant::Password {
                username: &username,
                password: &password,
            };
            Ok(online.fetch_grant(profile, grant, client_secret, cache_dir, log, Timestamp::now())?)
        }
        GrantType::AuthorizationCode => online.block_on(code_flow(profile, online, how, client_secret, log)),
        GrantType::DeviceCode => online.block_on(device_flow(profile, online, how, client_secret, log)),
    }
}

fn unreachable_grant(profile: &ResolvedProfile) -> anyhow::Result<Fetched> {
    Err(crate::config_error!(
        "profile {:?} is an application's (grant: client-credentials): there is nobody to log in",
        profile.name
    )
    .context("login"))
}

fn random<const N: usize>() -> anyhow::Result<[u8; N]> {
    let mut bytes = [0u8; N];
    getrandom::fill(&mut bytes).map_err(|err| anyhow::anyhow!("cannot get random bytes: {err}"))?;
    Ok(bytes)
}

async fn code_flow(
    profile: &ResolvedProfile,
    online: &Online,
    how: &Interaction,
    client_secret: Option<&Secret<String>>,
    log: &Log,
) -> anyhow::Result<Fetched> {
    let discovery = discover(profile, online, log).await?;
    let issuer = profile.issuer.as_deref().unwrap_or_default();
    let authorize = required(&discovery.authorization_endpoint, "authorization_endpoint", issuer)?;
    let token_url = required(&discovery.token_endpoint, "token_endpoint", issuer)?;
    if !discovery.code_challenge_methods_supported.is_empty()
        && !discovery.code_challenge_methods_supported.iter().any(|m| m == "S256")
    {
        return Err(crate::config_error!(
            "issuer {issuer} does not support PKCE with S256, which the authorization-code grant needs"
        ));
    }
    let (verifier, challenge) = pkce(random()?);
    let state = random_word(random()?);
    let nonce = random_word(random()?);
    let addresses = how.listen.as_deref().unwrap_or(&profile.listen_addresses);
    let loopback = loopback::Loopback::bind(addresses)?;
    let query = form(&[
        ("response_type", "code"),
        ("client_id", &profile.client_id),
        ("redirect_uri", &loopback.redirect_uri),
        ("scope", &profile.scopes.join(" ")),
        ("state", &state),
        ("nonce", &nonce),
        ("code_challenge", &challenge),
        ("code_challenge_method", "S256"),
    ]);
    let separator = if authorize.contains('?') { '&' } else { '?' };
    let url = format!("{authorize}{separator}{query}");
    log_at!(
        log,
        DECISIONS,
        "login: waiting for the browser at {}",
        loopback.redirect_uri
    );
    let redirect_uri = loopback.redirect_uri.clone();
    how.browser.open(&url);
    let code = loopback.callback(&state, how.wait, &profile.name).await?;
    log.protect(code.expose());
    log.protect(verifier.expose());
    let endpoint = Endpoint {
        generation: Generation::OAuth2,
        url: token_url.to_owned(),
    };
    let grant = Grant::AuthorizationCode {
        code: &code,
        verifier: &verifier,
        redirect_uri: &redirect_uri,
    };
    // Times count from the answer, not from before the person took their time.
    let fetched = fetch::fetch_at(
        profile,
        grant,
        client_secret,
        &endpoint,
        &online.http,
        log,
        Timestamp::now(),
    )
    .await?;
    // OpenID Connect core 3.1.3.7: an id token of this sign-in carries its nonce.
    if fetched.has_id_token && fetched.nonce.as_deref() != Some(nonce.as_str()) {
        return Err(TokenError::LoginNeeded {
            profile: profile.name.clone(),
            reason: "the issuer's id token carries another sign-in's nonce: refused".to_owned(),
        }
        .into());
    }
    Ok(fetched)
}

async fn device_flow(
    profile: &ResolvedProfile,
    online: &Online,
    how: &Interaction,
    client_secret: Option<&Secret<String>>,
    log: &Log,
) -> anyhow::Result<Fetched> {
    let discovery = discover(profile, online, log).await?;
    let issuer = profile.issuer.as_deref().unwrap_or_default();
    let device_url = required(
        &discovery.device_authorization_endpoint,
        "device_authorization_endpoint",
        issuer,
    )?;
    let token_url = required(&discovery.token_endpoint, "token_endpoint", issuer)?;
    let mut pairs = vec![("client_id", profile.client_id.as_str())];
    let scope = profile.scopes.join(" ");
    if !scope.is_empty() {
        pairs.push(("scope", &scope));
    }
    let secret_text;
    if let Some(secret) = client_secret {
        secret_text = secret.expose().clone();
        pairs.push(("client_secret", &secret_text));
    }
    let (body, log_body) = form_with_secrets(&pairs, &["client_secret"]);
    let outgoing = form_post(device_url.as_str(), &body, &log_body);
    let unavailable = |detail: String| TokenError::Unavailable {
        url: device_url.to_owned(),
        detail,
        hint: None,
    };
    let body = body_of_ok(online, outgoing, profile, log, &unavailable).await?;
    let device = DeviceAuthorization::parse(&body)
        .ok_or_else(|| unavailable("answered something that is not a device authorization".to_owned()))?;
    log.protect(device.device_code.expose());
    eprint_code(&device);
    let verification = device
        .verification_uri_complete
        .as_deref()
        .unwrap_or(&device.verification_uri);
    how.browser.open(&checked_endpoint(verification, "verification_uri")?);

    let endpoint = Endpoint {
        generation: Generation::OAuth2,
        url: token_url.to_owned(),
    };
    let lifetime = device
        .expires_in
        .map(Duration::from_secs)
        .unwrap_or(how.wait)
        .min(how.wait);
    let deadline = Instant::now() + lifetime;
    let mut interval = Duration::from_secs(device.interval.unwrap_or(5).clamp(1, 60));
    loop {
        let grant = Grant::DeviceCode {
            device_code: &device.device_code,
        };
        match poll_once(profile, grant, client_secret, &endpoint, online, log, Timestamp::now()).await? {
            Poll::Done(fetched) => return Ok(*fetched),
            Poll::SlowDown => interval += Duration::from_secs(5),
            Poll::Wait => {}
        }
        if Instant::now() + interval >= deadline {
            return Err(TokenError::LoginNeeded {
                profile: profile.name.clone(),
                reason: format!(
                    "the device code was not entered in time (waited {})",
                    GoDuration(lifetime)
                ),
            }
            .into());
        }
        // RFC 8628 section 3.5: the client waits `interval` between polls.
        tokio::time::sleep(interval).await;
    }
}

#[allow(clippy::print_stderr)]
fn eprint_code(device: &DeviceAuthorization) {
    eprintln!("Your code: {}", crate::output::escape_untrusted(&device.user_code));
}

/// One device-code poll.
enum Poll {
    Done(Box<Fetched>),
    Wait,
    SlowDown,
}

async fn poll_once(
    profile: &ResolvedProfile,
    grant: Grant<'_>,
    client_secret: Option<&Secret<String>>,
    endpoint: &Endpoint,
    online: &Online,
    log: &Log,
    now: Timestamp,
) -> anyhow::Result<Poll> {
    // Every answer is classified as a token answer is: the token, "not yet"
    // (authorization_pending, slow_down), or the refusal (access_denied, expired_token).
    match fetch::fetch_at(profile, grant, client_secret, endpoint, &online.http, log, now).await {
        Ok(fetched) => Ok(Poll::Done(Box::new(fetched))),
        Err(TokenError::Pending { slow_down: false, .. }) => Ok(Poll::Wait),
        Err(TokenError::Pending { slow_down: true, .. }) => Ok(Poll::SlowDown),
        Err(other) => Err(other.into()),
    }
}

/// The session a grant or a refresh leaves: the new refresh token (or, when the
/// server did not rotate it, the old one), at the endpoint that issued it.
pub fn session_after(
    profile: &ResolvedProfile,
    fetched: &Fetched,
    previous: Option<&Session>,
    now: Timestamp,
) -> Option<Session> {
    let (refresh_token, refresh_expires_at) = match (&fetched.refresh, previous) {
        (Some((token, expires_at)), _) => (token.clone(), *expires_at),
        (None, Some(previous)) => (previous.refresh_token.clone(), previous.refresh_expires_at),
        (None, None) => return None,
    };
    let claims = jwt::decode(fetched.token.value.expose()).map(|d| d.claims);
    let claim = |name: &str| {
        claims
            .as_ref()
            .and_then(|c| c.get(name))
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    Some(Session {
        format: FORMAT,
        profile: profile.name.clone(),
        grant: profile.grant.as_str().to_owned(),
        endpoint: fetched.endpoint.url.clone(),
        generation: fetched.endpoint.generation.name().to_owned(),
        refresh_token,
        refresh_expires_at,
        subject: claim("preferred_username")
            .or_else(|| claim("sub"))
            .or_else(|| previous.and_then(|p| p.subject.clone())),
        logged_in_at: previous.map(|p| p.logged_in_at).unwrap_or(now),
        refreshed_at: now,
    })
}

/// A token for a person's profile, called by the cache on a miss: the session's
/// refresh token first (silently), else a sign-in when `interaction` allows one and
/// this process holds the identity's lock, else exit 3 with the `login` hint.
#[allow(clippy::too_many_arguments)]
pub fn user_token(
    profile: &ResolvedProfile,
    cache: &Cache,
    held: Held,
    online: &Online,
    interaction: Option<&Interaction>,
    log: &Log,
    now: Timestamp,
) -> anyhow::Result<Token> {
    let key = Key::for_profile(profile);
    let busy = || -> anyhow::Error {
        // Another process holds the lock for longer than the wait: a sign-in in
        // progress. Neither refresh (a rotated token would be lost) nor prompt.
        TokenError::LoginNeeded {
            profile: profile.name.clone(),
            reason: format!(
                "another process is renewing or logging in to profile {:?}; try again when it is done",
                profile.name
            ),
        }
        .into()
    };
    match held {
        Held::Lock => renew_or_sign_in(profile, cache, &key, online, interaction, log, now),
        Held::Busy => Err(busy()),
        // A session is never renewed without its lock: a rotated refresh token could
        // be lost to a process renewing beside this one.
        Held::Unusable(why) => Err(anyhow::anyhow!("{why}: a session is renewed only under its lock")),
        // `--no-cache` skips the cached token, not the session: it is renewed under
        // the lock like any other, or a rotated refresh token could be lost.
        Held::NoCache => match cache.check_trusted().and_then(|()| {
            cache
                .locked(&key, || {
                    renew_or_sign_in(profile, cache, &key, online, interaction, log, now)
                })
                .map_err(anyhow::Error::from)
        }) {
            Ok(Some(result)) => result,
            Ok(None) => Err(busy()),
            Err(err) => Err(err.context(format!("cannot lock in {}", cache.dir().display()))),
        },
    }
}

#[allow(clippy::too_many_arguments)]
fn renew_or_sign_in(
    profile: &ResolvedProfile,
    cache: &Cache,
    key: &Key,
    online: &Online,
    interaction: Option<&Interaction>,
    log: &Log,
    now: Timestamp,
) -> anyhow::Result<Token> {
    let previous = cache.read_session(key, log);
    let mut reason = format!("profile {:?} is not logged in", profile.name);
    if let Some(session) = previous.as_ref().filter(|s| !s.expired(now)) {
        match refresh(profile, session, online, log, now).map_err(|err| err.downcast::<TokenError>()) {
            Ok(fetched) => {
                if let Some(next) = session_after(profile, &fetched, Some(session), now)
                    && let Err(err) = cache.write_session(key, &next, log)
                {
                    // The server has spent the old refresh token: say so at every verbosity.
                    log.warn(format_args!(
                        "the renewed session could not be stored ({err}): the next renewal will need a login"
                    ));
                }
                return Ok(fetched.token);
            }
            Err(Ok(TokenError::Rejected { detail, .. }))
                if detail.contains("invalid_client") || detail.contains("unauthorized_client") =>
            {
                // The client is refused, not the refresh token: the session stays.
                return Err(TokenError::Rejected {
                    url: session.endpoint.clone(),
                    client_id: profile.client_id.clone(),
                    profile: profile.name.clone(),
                    detail,
                    by: crate::token::Refused::Application,
                }
                .into());
            }
            Err(Ok(TokenError::Rejected { detail, .. })) => {
                log_at!(
                    log,
                    DECISIONS,
                    "session: the refresh token was refused ({detail}): deleted"
                );
                let _ = cache.remove_session(key);
                reason = format!(
                    "the session of profile {:?} has ended (its refresh token was refused)",
                    profile.name
                );
            }
            Err(Ok(other)) => return Err(other.into()),
            Err(Err(other)) => return Err(other),
        }
    } else if previous.is_some() {
        let _ = cache.remove_session(key);
        reason = format!("the session of profile {:?} has expired", profile.name);
    }
    let Some(how) = interaction else {
        return Err(TokenError::LoginNeeded {
            profile: profile.name.clone(),
            reason,
        }
        .into());
    };
    log_at!(log, DECISIONS, "login: {reason}: signing in");
    let fetched = sign_in(profile, online, how, Some(cache.dir()), log)?;
    let now = Timestamp::now();
    if let Some(session) = session_after(profile, &fetched, None, now) {
        cache.write_session(key, &session, log).map_err(|err| {
            anyhow::Error::new(err).context(format!("cannot store the session in {}", cache.dir().display()))
        })?;
    }
    Ok(fetched.token)
}

/// Redeems the session's refresh token where it was issued.
fn refresh(
    profile: &ResolvedProfile,
    session: &Session,
    online: &Online,
    log: &Log,
    now: Timestamp,
) -> anyhow::Result<Fetched> {
    let generation = Generation::from_name(&session.generation).unwrap_or(Generation::OAuth2);
    let endpoint = Endpoint {
        generation,
        url: session.endpoint.clone(),
    };
    log_at!(log, DECISIONS, "session: refreshing at {}", endpoint.url);
    // A confidential client's secret that cannot be had is its own error (exit 2),
    // not a refresh sent without it, refused, and the session lost.
    let client_secret = profile.user_client_secret()?;
    let grant = Grant::Refresh {
        refresh_token: &session.refresh_token,
    };
    Ok(online.block_on(fetch::fetch_at(
        profile,
        grant,
        client_secret,
        &endpoint,
        &online.http,
        log,
        now,
    ))?)
}
