//! OpenID Connect discovery, RFC 8628's device authorization answer and PKCE
//! (RFC 7636): what the interactive grants need from an issuer, parsed. Pure.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::secret::Secret;

/// The endpoints of an issuer's `/.well-known/openid-configuration`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Discovery {
    pub issuer: Option<String>,
    pub authorization_endpoint: Option<String>,
    pub token_endpoint: Option<String>,
    pub device_authorization_endpoint: Option<String>,
    pub revocation_endpoint: Option<String>,
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
}

impl Discovery {
    /// The discovery document's URL for `issuer`.
    pub fn url(issuer: &str) -> String {
        format!("{}/.well-known/openid-configuration", issuer.trim_end_matches('/'))
    }

    /// Parses a discovery document; `None` when it is not one.
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<Discovery>(body)
            .ok()
            .filter(|d| d.token_endpoint.is_some() || d.authorization_endpoint.is_some())
    }
}

/// A device authorization answer (RFC 8628 section 3.2).
#[derive(Debug, Deserialize)]
pub struct DeviceAuthorization {
    pub device_code: Secret<String>,
    pub user_code: String,
    pub verification_uri: String,
    pub verification_uri_complete: Option<String>,
    /// Seconds the codes are good for.
    pub expires_in: Option<u64>,
    /// Seconds between polls (default 5).
    pub interval: Option<u64>,
}

impl DeviceAuthorization {
    pub fn parse(body: &[u8]) -> Option<Self> {
        serde_json::from_slice::<DeviceAuthorization>(body)
            .ok()
            .filter(|d| !d.device_code.expose().is_empty() && !d.user_code.is_empty())
    }
}

/// What a token endpoint said to one device-code poll that was not a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Pending {
    /// Not yet: poll again after the interval.
    Wait,
    /// Not yet, and poll 5 s less often from now on.
    SlowDown,
}

/// Reads RFC 8628's `authorization_pending` and `slow_down` from an error answer.
pub fn pending(status: u16, body: &[u8]) -> Option<Pending> {
    if status != 400 {
        return None;
    }
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    match value.get("error")?.as_str()? {
        "authorization_pending" => Some(Pending::Wait),
        "slow_down" => Some(Pending::SlowDown),
        _ => None,
    }
}

/// A PKCE verifier (43 characters of base64url, from 32 random bytes) and its S256
/// challenge.
pub fn pkce(random: [u8; 32]) -> (Secret<String>, String) {
    let verifier = URL_SAFE_NO_PAD.encode(random);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    (Secret::new(verifier), challenge)
}

/// 16 random bytes as base64url: `state` and `nonce`.
pub fn random_word(random: [u8; 16]) -> String {
    URL_SAFE_NO_PAD.encode(random)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 7636 appendix B: the verifier of those 32 bytes and its S256 challenge.
    #[test]
    fn pkce_matches_rfc_7636_appendix_b() {
        let random = [
            116, 24, 223, 180, 151, 153, 224, 37, 79, 250, 96, 125, 216, 173, 187, 186, 22, 212, 37, 77, 105, 214, 191,
            240, 91, 88, 5, 88, 83, 132, 141, 121,
        ];
        let (verifier, challenge) = pkce(random);
        assert_eq!(verifier.expose(), "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk");
        assert_eq!(challenge, "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM");
    }

    #[test]
    fn discovery_and_device_answers_parse() {
        let doc =
            br#"{"issuer":"https://i","authorization_endpoint":"https://i/auth","token_endpoint":"https://i/token",
            "device_authorization_endpoint":"https://i/device","code_challenge_methods_supported":["S256"]}"#;
        let parsed = Discovery::parse(doc).unwrap();
        assert_eq!(parsed.token_endpoint.as_deref(), Some("https://i/token"));
        assert_eq!(parsed.revocation_endpoint, None);
        assert_eq!(Discovery::parse(b"<html>"), None);
        assert_eq!(
            Discovery::url("https://i/realms/r/"),
            "https://i/realms/r/.well-known/openid-configuration"
        );
        let device = DeviceAuthorization::parse(
            br#"{"device_code":"d","user_code":"ABCD-EFGH","verification_uri":"https://i/device","interval":2}"#,
        )
        .unwrap();
        assert_eq!((device.user_code.as_str(), device.interval), ("ABCD-EFGH", Some(2)));
        assert_eq!(
            pending(400, br#"{"error":"authorization_pending"}"#),
            Some(Pending::Wait)
        );
        assert_eq!(pending(400, br#"{"error":"slow_down"}"#), Some(Pending::SlowDown));
        assert_eq!(pending(400, br#"{"error":"access_denied"}"#), None);
    }
}
