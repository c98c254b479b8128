//! Getting a token from the server: the endpoint `auth` names, or detection for
//! `auth: auto` (v2, v1, app-token, then keycloak with a realm), moving on only when
//! an endpoint is plainly absent, and remembering per `url` what was found.

use std::time::Instant;

use crate::cache::AuthMemory;
use crate::log_at;
use crate::net::http::{Body, Http, Outgoing, TransportError};
use crate::output::{DECISIONS, Log, WIRE};
use crate::profile::ResolvedProfile;
use crate::secret::Secret;
use crate::time::{GoDuration, Timestamp};
use crate::token::grant::Grant;
use crate::token::{Endpoint, Generation, Refusal, Token, TokenError, parse_response};

/// A token fresh from the server, and what `doctor` wants to know about the exchange.
#[derive(Debug)]
pub struct Fetched {
    pub token: Token,
    /// The endpoint that granted it.
    pub endpoint: Endpoint,
    /// The server's `Date` header.
    pub date: Option<String>,
    /// A user grant's refresh token, and when it expires if the server said.
    pub refresh: Option<(Secret<String>, Option<Timestamp>)>,
    /// The `nonce` claim of the id token, when one came (the code flow checks it).
    pub nonce: Option<String>,
    /// Whether an id token came at all.
    pub has_id_token: bool,
}

/// Gets a token for `profile` from the server with `grant` (the application's
/// client credentials, or a person's grant), the client's secret when it has one.
pub async fn fetch(
    profile: &ResolvedProfile,
    grant: Grant<'_>,
    client_secret: Option<&Secret<String>>,
    http: &Http,
    memory: Option<&AuthMemory>,
    log: &Log,
    now: Timestamp,
) -> Result<Fetched, TokenError> {
    let deadline = Instant::now() + profile.timeout;
    let fixed = match (Generation::from_auth(profile.auth), &profile.token_url) {
        (Some(generation), _) => Some(generation),
        (None, Some(_)) => Some(Generation::OAuth2),
        (None, None) => None,
    };
    if let Some(generation) = fixed {
        let endpoint = Endpoint::for_profile(profile, generation);
        log_at!(log, DECISIONS, "auth: {}: {}", profile.auth.as_str(), endpoint.url);
        return match attempt(profile, grant, client_secret, &endpoint, http, log, now, deadline).await {
            Err(Refused::Absent { reason, .. }) => Err(TokenError::Unavailable {
                url: endpoint.url,
                detail: reason,
                hint: Some(format!(
                    "profile {:?} says auth: {}; check url, or set auth: auto to detect the endpoint",
                    profile.name,
                    profile.auth.as_str()
                )),
            }),
            Err(Refused::Fatal(err)) => Err(err),
            Ok(fetched) => Ok(fetched),
        };
    }

    // A remembered Keycloak endpoint is of no use to a profile without a realm.
    let remembered = memory
        .and_then(|memory| memory.recall(&profile.url))
        .filter(|g| *g != Generation::Keycloak || profile.realm.is_some());
    let mut order = Generation::detection_order(profile.realm.is_some());
    if !matches!(grant, Grant::ClientCredentials { .. }) {
        // A person's grants speak one JSON at /api/v1/token (Run:ai 2.15 and later).
        order.retain(|g| *g != Generation::AppToken);
    }
    if let Some(known) = remembered {
        order.retain(|g| *g != known);
        order.insert(0, known);
        log_at!(
            log,
            DECISIONS,
            "auth: auto: trying the remembered {} first",
            known.name()
        );
    }
    let mut tried = Vec::new();
    // URLs that are not there at all: v1 and app-token share /api/v1/token.
    let mut missing_urls: Vec<String> = Vec::new();
    for generation in order {
        let endpoint = Endpoint::for_profile(profile, generation);
        if missing_urls.contains(&endpoint.url) {
            continue;
        }
        log_at!(
            log,
            DECISIONS,
            "auth: auto: trying {} at {}",
            generation.name(),
            endpoint.url
        );
        match attempt(profile, grant, client_secret, &endpoint, http, log, now, deadline).await {
            Ok(fetched) => {
                if remembered != Some(generation)
                    && let Some(memory) = memory
                {
                    memory.remember(&profile.url, generation, log);
                }
                return Ok(fetched);
            }
            Err(Refused::Absent { reason, url_missing }) => {
                log_at!(log, DECISIONS, "auth: auto: {} {reason}: moving on", endpoint.url);
                if url_missing {
                    missing_urls.push(endpoint.url.clone());
                }
                if remembered == Some(generation) {
                    log_at!(
                        log,
                        DECISIONS,
                        "auth: auto: the remembered endpoint looks absent now: detecting again"
                    );
                    if let Some(memory) = memory {
                        memory.forget(&profile.url);
                    }
                }
                let path = endpoint
                    .url
                    .strip_prefix(&profile.url)
                    .unwrap_or(&endpoint.url)
                    .to_owned();
                tried.push(format!("{path} {reason}"));
            }
            Err(Refused::Fatal(err)) => return Err(err),
        }
    }
    Err(TokenError::NotFound {
        url: profile.url.clone(),
        tried: tried.join("; "),
        has_realm: profile.realm.is_some(),
    })
}

/// One token request to a known endpoint: the issuer's discovered one, or the one
/// that issued a session's refresh token.
pub async fn fetch_at(
    profile: &ResolvedProfile,
    grant: Grant<'_>,
    client_secret: Option<&Secret<String>>,
    endpoint: &Endpoint,
    http: &Http,
    log: &Log,
    now: Timestamp,
) -> Result<Fetched, TokenError> {
    let deadline = Instant::now() + profile.timeout;
    match attempt(profile, grant, client_secret, endpoint, http, log, now, deadline).await {
        Ok(fetched) => Ok(fetched),
        Err(Refused::Absent { reason, .. }) => Err(TokenError::Unavailable {
            url: endpoint.url.clone(),
            detail: reason,
            hint: None,
        }),
        Err(Refused::Fatal(err)) => Err(err),
    }
}

enum Refused {
    /// Not there: the URL itself (`url_missing`), or only this grant type.
    Absent {
        reason: String,
        url_missing: bool,
    },
    Fatal(TokenError),
}

/// One token request to one endpoint.
#[allow(clippy::too_many_arguments)]
async fn attempt(
    profile: &ResolvedProfile,
    grant: Grant<'_>,
    client_secret: Option<&Secret<String>>,
    endpoint: &Endpoint,
    http: &Http,
    log: &Log,
    now: Timestamp,
    deadline: Instant,
) -> Result<Fetched, Refused> {
    for secret in grant.secrets().into_iter().chain(client_secret) {
        log.protect(secret.expose());
    }
    let request = match grant {
        Grant::ClientCredentials { secret } => endpoint.request(&profile.client_id, secret, &profile.scope),
        user => endpoint.user_request(&profile.client_id, &profile.scopes.join(" "), user, client_secret),
    };
    let unavailable = |detail: String, hint: Option<String>| {
        Refused::Fatal(TokenError::Unavailable {
            url: endpoint.url.clone(),
            detail,
            hint,
        })
    };
    let outgoing = Outgoing {
        method: reqwest::Method::POST,
        url: &request.url,
        headers: vec![("Content-Type".to_owned(), request.content_type.to_owned())],
        body: Some(Body::Secret {
            bytes: &request.body,
            log: &request.log_body,
        }),
        retry: true,
        max_body: crate::net::http::MAX_BODY,
    };
    let response = http.send(outgoing, deadline, log).await.map_err(|err| {
        let hint = match &err {
            TransportError::Tls(_) => Some(
                "set certificate-authority (or certificate-authority-data) to the CA that signed the server's certificate".to_owned(),
            ),
            TransportError::Connect(_) => Some("check url and your network; HTTPS_PROXY and NO_PROXY are honoured".to_owned()),
            TransportError::Timeout(_) => Some(format!("raise timeout in profile {:?} if the server is slow", profile.name)),
            _ => None,
        };
        let detail = match err {
            // The profile's timeout bounds the whole token request: name it as configured.
            TransportError::Timeout(_) => format!("did not answer within {}", GoDuration(profile.timeout)),
            other => other.to_string(),
        };
        unavailable(detail, hint)
    })?;
    let parsed = parse_response(
        endpoint.generation,
        response.status,
        response.content_type.as_deref(),
        &response.body,
        profile.token_field,
    )
    .map_err(|refusal| refusal.map_detail(|detail| withhold_echo(detail, log)));
    if let Ok(granted) = &parsed {
        log.protect(granted.token.expose());
        for other in granted.refresh_token.iter().chain(&granted.id_token) {
            log.protect(other.expose());
        }
    }
    if log.enabled(WIRE) {
        log_at!(log, WIRE, "< {}", redact_body(&response.body, log));
    }
    let after = if response.attempts > 1 {
        format!(" after {} attempts", response.attempts)
    } else {
        String::new()
    };
    match parsed {
        Ok(mut granted) => {
            let refresh = granted.refresh_token.take().map(|token| {
                let expires_at = granted
                    .refresh_expires_in
                    .map(|seconds| now.plus(std::time::Duration::from_secs(seconds)));
                (token, expires_at)
            });
            // The id token is the extra field, or the token itself (`token-field: id_token`).
            let id_token = match profile.token_field {
                crate::profile::TokenField::IdToken => Some(granted.token.clone()),
                crate::profile::TokenField::AccessToken => granted.id_token.take(),
            };
            let has_id_token = id_token.is_some();
            let nonce = id_token
                .and_then(|id| crate::token::jwt::decode(id.expose()))
                .and_then(|d| d.claims.get("nonce").and_then(|n| n.as_str()).map(str::to_owned));
            let token = Token::from_granted(granted, now);
            log_at!(
                log,
                DECISIONS,
                "got a token from {} ({}), expires {}",
                endpoint.url,
                token.value.fingerprint(),
                token
                    .expires_at
                    .map(|t| t.to_string())
                    .unwrap_or_else(|| "unknown".into())
            );
            Ok(Fetched {
                token,
                endpoint: endpoint.clone(),
                date: response.date,
                refresh,
                nonce,
                has_id_token,
            })
        }
        Err(Refusal::Absent(reason)) => Err(Refused::Absent {
            reason,
            url_missing: true,
        }),
        Err(Refusal::UnknownGrant(reason)) => Err(Refused::Absent {
            reason,
            url_missing: false,
        }),
        Err(Refusal::Rejected(detail)) => Err(Refused::Fatal(TokenError::Rejected {
            url: endpoint.url.clone(),
            client_id: profile.client_id.clone(),
            profile: profile.name.clone(),
            detail,
            by: match grant {
                Grant::ClientCredentials { .. } => crate::token::Refused::Application,
                Grant::Password { .. } => crate::token::Refused::Password,
                _ => crate::token::Refused::SignIn,
            },
        })),
        Err(Refusal::Unavailable(detail)) => Err(unavailable(format!("{detail}{after}"), None)),
        Err(Refusal::Pending(slow_down)) => Err(Refused::Fatal(TokenError::Pending {
            url: endpoint.url.clone(),
            slow_down,
        })),
    }
}

/// A server's error text that quotes the request (a secret, in any encoding the
/// plugin sent it in, or the name of a secret field) is cut to its status: the
/// server's words are not worth a leak (docs/security.md#redaction).
fn withhold_echo(detail: String, log: &Log) -> String {
    let lower = detail.to_ascii_lowercase();
    // A form field (`client_secret=`) or a JSON key (`"clientSecret"`) quoted back.
    let names_a_secret = [
        "client_secret",
        "clientsecret",
        "appsecret",
        "password",
        "refresh_token",
        "refreshtoken",
    ]
    .iter()
    .any(|name| lower.contains(&format!("{name}=")) || lower.contains(&format!("\"{name}\"")));
    if !names_a_secret && !log.reveals(&detail) {
        return crate::token::shorten_detail(&detail);
    }
    let status = detail.split(" (").next().unwrap_or("answered");
    format!("{status} (its message quotes the request, so it is not shown)")
}

/// A token response body for `-vvv`: every value under a key that names a token or a
/// secret is replaced; anything else that looks like a JWT too.
pub fn redact_body(body: &[u8], log: &Log) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut map)) => {
            for (key, value) in map.iter_mut() {
                let key = key.to_ascii_lowercase();
                if key.ends_with("token") || key.contains("secret") {
                    *value = serde_json::Value::String("[redacted]".to_owned());
                }
            }
            crate::secret::redact(&serde_json::Value::Object(map).to_string(), &[])
        }
        _ => {
            // Redacted whole first (by the log, which knows the secret), then cut.
            let text = crate::output::escape_untrusted(&String::from_utf8_lossy(body));
            let text = log.redact(&text);
            text.chars().take(2048).collect()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_bodies_are_redacted_for_logs() {
        let body = br#"{"access_token":"opaque-1","refresh_token":"opaque-2","expires_in":60,"token_type":"Bearer"}"#;
        assert_eq!(
            redact_body(body, &Log::default()),
            r#"{"access_token":"[redacted]","expires_in":60,"refresh_token":"[redacted]","token_type":"Bearer"}"#
        );
        assert_eq!(redact_body(b"<html>", &Log::default()), "<html>");
    }

    #[test]
    fn a_message_that_echoes_the_request_is_withheld() {
        let log = Log::default();
        log.protect("q9Zx+7Lm/Q");
        let echoed = "answered 400 Bad Request (invalid_request: cannot parse x=q9Zx%2B7Lm%2FQ)".to_owned();
        assert_eq!(
            withhold_echo(echoed, &log),
            "answered 400 Bad Request (its message quotes the request, so it is not shown)"
        );
        let named = r#"answered 500 Internal Server Error (bad {"clientSecret":"[not ours]"})"#.to_owned();
        assert!(withhold_echo(named, &log).ends_with("so it is not shown)"));
        let plain = "answered 400 Bad Request (invalid_scope)".to_owned();
        assert_eq!(withhold_echo(plain.clone(), &log), plain);
    }
}
