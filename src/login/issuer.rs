//! What the plugin asks an OpenID Connect issuer besides tokens: its discovery
//! document, and the revocation of a refresh token (`logout`). Every endpoint it
//! names is held to the plugin's URL rule (docs/security.md#signing-in).

use std::time::Instant;

use crate::cache::Session;
use crate::log_at;
use crate::net::Online;
use crate::net::http::{Body, Outgoing};
use crate::output::{DECISIONS, Log};
use crate::profile::ResolvedProfile;
use crate::secret::Secret;
use crate::token::discovery::Discovery;
use crate::token::{TokenError, form};

/// The issuer's discovery document URL, when it is there (`doctor`).
pub fn discovered(profile: &ResolvedProfile, online: &Online, log: &Log) -> anyhow::Result<String> {
    online.block_on(discover(profile, online, log))?;
    Ok(Discovery::url(profile.issuer.as_deref().unwrap_or_default()))
}

pub(super) async fn discover(profile: &ResolvedProfile, online: &Online, log: &Log) -> anyhow::Result<Discovery> {
    let issuer = profile
        .issuer
        .as_deref()
        .ok_or_else(|| crate::config_error!("profile {:?} has no issuer", profile.name))?;
    let url = Discovery::url(issuer);
    let outgoing = Outgoing {
        method: reqwest::Method::GET,
        url: &url,
        headers: vec![("Accept".to_owned(), "application/json".to_owned())],
        body: None,
        retry: true,
        max_body: crate::net::http::MAX_BODY,
    };
    let unavailable = |detail: String| TokenError::Unavailable {
        url: url.clone(),
        detail,
        hint: Some(format!(
            "check issuer in profile {:?}: its discovery document is this URL",
            profile.name
        )),
    };
    let body = body_of_ok(online, outgoing, profile, log, &unavailable).await?;
    let discovery = Discovery::parse(&body)
        .ok_or_else(|| unavailable("answered something that is not an OpenID Connect discovery document".to_owned()))?;
    log_at!(log, DECISIONS, "issuer: discovered {url}");
    Ok(discovery)
}

pub(super) fn required(value: &Option<String>, what: &str, issuer: &str) -> anyhow::Result<String> {
    let url = value.as_deref().ok_or_else(|| TokenError::Unavailable {
        url: Discovery::url(issuer),
        detail: format!("names no {what}"),
        hint: Some("this issuer does not offer the profile's grant: choose another grant".to_owned()),
    })?;
    checked_endpoint(url, what)
}

/// An endpoint from the issuer, held to the rule of every URL the plugin uses:
/// `https://`, or `http://` to a loopback host (docs/security.md#signing-in).
pub(super) fn checked_endpoint(url: &str, what: &str) -> anyhow::Result<String> {
    let parsed = reqwest::Url::parse(url).ok();
    let allowed = parsed.as_ref().is_some_and(|parsed| match parsed.scheme() {
        "https" => true,
        "http" => crate::net::http::is_loopback(parsed),
        _ => false,
    });
    if allowed {
        return Ok(url.to_owned());
    }
    Err(TokenError::Unavailable {
        url: crate::output::escape_untrusted(url),
        detail: format!("is the issuer's {what}, and not https:// (plain http is allowed only for loopback hosts)"),
        hint: None,
    }
    .into())
}

/// Sends `outgoing` and returns the body of its 200 answer; a transport failure or
/// any other status is `unavailable(what happened)`.
pub(super) async fn body_of_ok(
    online: &Online,
    outgoing: Outgoing<'_>,
    profile: &ResolvedProfile,
    log: &Log,
    unavailable: &dyn Fn(String) -> TokenError,
) -> Result<Vec<u8>, TokenError> {
    let response = online
        .http
        .send(outgoing, Instant::now() + profile.timeout, log)
        .await
        .map_err(|err| unavailable(err.to_string()))?;
    if response.status != 200 {
        // The issuer's own words, when it gave them as OAuth2 does: escaped and cut,
        // and never the body itself.
        let said = serde_json::from_slice::<serde_json::Value>(&response.body)
            .ok()
            .map(|value| {
                let text = |key: &str| value.get(key).and_then(|v| v.as_str()).unwrap_or("").trim().to_owned();
                [text("error"), text("error_description")]
                    .into_iter()
                    .filter(|t| !t.is_empty())
                    .collect::<Vec<_>>()
                    .join(": ")
            })
            .filter(|said| !said.is_empty())
            .map(|said| {
                // Redacted whole, then cut: a secret cut in two is no longer recognised.
                let cut: String = log.redact(&said).chars().take(200).collect();
                format!(" ({})", crate::output::escape_untrusted(&cut))
            })
            .unwrap_or_default();
        return Err(unavailable(format!(
            "answered {}{said}",
            crate::token::status_text(response.status)
        )));
    }
    Ok(response.body)
}

/// A form POST whose fields named in `secret` are sent as they are and logged as
/// `[redacted]`: the body and its log line.
pub(super) fn form_with_secrets(pairs: &[(&str, &str)], secret: &[&str]) -> (Secret<String>, String) {
    let shown: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (*k, if secret.contains(k) { "[redacted]" } else { *v }))
        .collect();
    (Secret::new(form(pairs)), form(&shown))
}

pub(super) fn form_post<'a>(url: &'a str, body: &'a Secret<String>, log_body: &'a str) -> Outgoing<'a> {
    Outgoing {
        method: reqwest::Method::POST,
        url,
        headers: vec![("Content-Type".to_owned(), crate::token::FORM.to_owned())],
        body: Some(Body::Secret {
            bytes: body,
            log: log_body,
        }),
        retry: true,
        max_body: crate::net::http::MAX_BODY,
    }
}

/// Revokes a session's refresh token at the issuer's `revocation_endpoint`, when it
/// advertises one (RFC 7009). Whether the issuer took it.
pub fn revoke(profile: &ResolvedProfile, session: &Session, online: &Online, log: &Log) -> anyhow::Result<bool> {
    if profile.issuer.is_none() {
        return Ok(false);
    }
    online.block_on(async {
        let discovery = discover(profile, online, log).await?;
        let Some(url) = discovery.revocation_endpoint.as_deref() else {
            return Ok(false);
        };
        let url = checked_endpoint(url, "revocation_endpoint")?;
        let url = url.as_str();
        let client_secret = profile.user_client_secret()?;
        let secret_text = client_secret.map(|s| s.expose().clone());
        let mut pairs = vec![
            ("token", session.refresh_token.expose().as_str()),
            ("token_type_hint", "refresh_token"),
            ("client_id", profile.client_id.as_str()),
        ];
        if let Some(secret) = &secret_text {
            pairs.push(("client_secret", secret));
        }
        let (body, log_body) = form_with_secrets(&pairs, &["token", "client_secret"]);
        let outgoing = form_post(url, &body, &log_body);
        let response = online
            .http
            .send(outgoing, Instant::now() + profile.timeout, log)
            .await
            .map_err(|err| anyhow::anyhow!("revocation endpoint {url} {err}"))?;
        // RFC 7009: 200 whether or not the token was still valid.
        Ok(response.status == 200)
    })
}
