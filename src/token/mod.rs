//! The token endpoints (docs/runai-versions.md): one [`Generation`] per wire format, the
//! request each sends ([`Endpoint::request`]), the pure classification of each
//! answer ([`parse_response`]), and the errors that become exit codes 3 and 4.
//!
//! Nothing here does I/O: [`crate::net`] moves the bytes and picks the endpoints.

pub mod discovery;
mod error;
pub mod grant;
pub mod jwt;

pub use error::{Refused, TokenError};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::output::escape_untrusted;
use crate::profile::{AuthMode, ResolvedProfile, TokenField};
use crate::secret::{Secret, redact};
use crate::time::Timestamp;

/// A token endpoint's wire format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Generation {
    /// Run:ai 2.24+: `POST /api/v2/token`, OAuth2 form (RFC 6749 section 4.4).
    V2,
    /// Run:ai 2.20-2.23: `POST /api/v1/token`, JSON `client_credentials`.
    V1,
    /// Run:ai about 2.15-2.19: `POST /api/v1/token`, JSON `app_token`.
    AppToken,
    /// Run:ai 2.13 and older: the Keycloak realm's OpenID Connect token endpoint.
    Keycloak,
    /// `token-url` with `auth: auto`: plain OAuth2 client credentials with `scope`.
    OAuth2,
}

impl Generation {
    /// The `auth` value that selects this generation.
    pub fn auth(self) -> AuthMode {
        match self {
            Generation::V2 => AuthMode::V2,
            Generation::V1 => AuthMode::V1,
            Generation::AppToken => AuthMode::AppToken,
            Generation::Keycloak => AuthMode::Keycloak,
            Generation::OAuth2 => AuthMode::Auto,
        }
    }

    pub fn from_auth(auth: AuthMode) -> Option<Self> {
        match auth {
            AuthMode::Auto => None,
            AuthMode::V2 => Some(Generation::V2),
            AuthMode::V1 => Some(Generation::V1),
            AuthMode::AppToken => Some(Generation::AppToken),
            AuthMode::Keycloak => Some(Generation::Keycloak),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Generation::OAuth2 => "oauth2",
            other => other.auth().as_str(),
        }
    }

    /// The generation of [`Generation::name`].
    pub fn from_name(name: &str) -> Option<Self> {
        [
            Generation::V2,
            Generation::V1,
            Generation::AppToken,
            Generation::Keycloak,
            Generation::OAuth2,
        ]
        .into_iter()
        .find(|g| g.name() == name)
    }

    /// The order `auth: auto` tries, given whether a realm is configured.
    pub fn detection_order(with_realm: bool) -> Vec<Generation> {
        let mut order = vec![Generation::V2, Generation::V1, Generation::AppToken];
        if with_realm {
            order.push(Generation::Keycloak);
        }
        order
    }
}

/// A token endpoint: a generation at a URL.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoint {
    pub generation: Generation,
    pub url: String,
}

/// The bytes of one token request. The body holds the client secret.
#[derive(Debug)]
pub struct WireRequest {
    pub url: String,
    pub content_type: &'static str,
    pub body: Secret<String>,
    /// The body with the secret replaced, for `-vvv`.
    pub log_body: String,
}

/// Form content type of RFC 6749 requests.
pub const FORM: &str = "application/x-www-form-urlencoded";
pub const JSON: &str = "application/json";

impl Endpoint {
    /// The endpoint of `generation` for `profile`: `token-url` when set, else the
    /// path the generation implies under `url`.
    pub fn for_profile(profile: &ResolvedProfile, generation: Generation) -> Self {
        let url = match (&profile.token_url, generation) {
            (Some(token_url), _) => token_url.clone(),
            (None, Generation::V2) => format!("{}/api/v2/token", profile.url),
            (None, Generation::V1 | Generation::AppToken) => format!("{}/api/v1/token", profile.url),
            (None, Generation::Keycloak | Generation::OAuth2) => format!(
                "{}/auth/realms/{}/protocol/openid-connect/token",
                profile.url,
                profile.realm.as_deref().unwrap_or("runai")
            ),
        };
        Self { generation, url }
    }

    /// The request this endpoint expects.
    pub fn request(&self, client_id: &str, secret: &Secret<String>, scope: &str) -> WireRequest {
        let body = |secret: &str| -> String {
            match self.generation {
                Generation::V2 => form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", client_id),
                    ("client_secret", secret),
                ]),
                Generation::V1 => json(&V1Request {
                    grant_type: "client_credentials",
                    client_id,
                    client_secret: secret,
                }),
                Generation::AppToken => json(&AppTokenRequest {
                    grant_type: "app_token",
                    app_id: client_id,
                    app_secret: secret,
                }),
                Generation::Keycloak => form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", scope),
                    ("response_type", "id_token"),
                    ("client_id", client_id),
                    ("client_secret", secret),
                ]),
                Generation::OAuth2 => form(&[
                    ("grant_type", "client_credentials"),
                    ("scope", scope),
                    ("client_id", client_id),
                    ("client_secret", secret),
                ]),
            }
        };
        let content_type = match self.generation {
            Generation::V1 | Generation::AppToken => JSON,
            _ => FORM,
        };
        WireRequest {
            url: self.url.clone(),
            content_type,
            body: Secret::new(body(secret.expose())),
            log_body: body("[redacted]"),
        }
    }
}

/// `/api/v1/token` with `client_credentials` (Run:ai 2.20+ `TokenRequest`).
#[derive(Serialize)]
struct V1Request<'a> {
    #[serde(rename = "grantType")]
    grant_type: &'a str,
    #[serde(rename = "clientId")]
    client_id: &'a str,
    #[serde(rename = "clientSecret")]
    client_secret: &'a str,
}

/// `/api/v1/token` with `app_token`, spelled as the Run:ai 2.18 documentation does.
#[derive(Serialize)]
struct AppTokenRequest<'a> {
    #[serde(rename = "grantType")]
    grant_type: &'a str,
    #[serde(rename = "AppId")]
    app_id: &'a str,
    #[serde(rename = "AppSecret")]
    app_secret: &'a str,
}

fn json<T: Serialize>(value: &T) -> String {
    // Invariant: the request structs hold only `&str` fields, which serde_json
    // serializes without fail (errors come only from maps with non-string keys and
    // from failing `Serialize` impls).
    serde_json::to_string(value).expect("a struct of strings serializes to JSON")
}

/// `application/x-www-form-urlencoded` (the WHATWG URL standard's serializer).
pub fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

/// Whether `token` can travel as an HTTP header value and be printed as one line:
/// visible ASCII only, no space, no control character (docs/security.md#tokens).
/// RFC 6750's `b64token` is a subset; real tokens (JWTs, opaque strings) pass.
pub fn is_header_safe(token: &str) -> bool {
    !token.is_empty() && token.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// A successful token response: both `snake_case` (OAuth2, Keycloak) and
/// `camelCase` (Run:ai `/api/v1/token`) spellings.
#[derive(Debug, Deserialize)]
struct WireResponse {
    #[serde(alias = "accessToken")]
    access_token: Option<String>,
    #[serde(alias = "idToken")]
    id_token: Option<String>,
    #[serde(alias = "tokenType")]
    token_type: Option<String>,
    /// Seconds; some servers send a string.
    #[serde(alias = "expiresIn")]
    expires_in: Option<Value>,
    #[serde(alias = "refreshToken")]
    refresh_token: Option<String>,
    /// Keycloak's refresh token lifetime, seconds.
    #[serde(alias = "refreshExpiresIn")]
    refresh_expires_in: Option<Value>,
}

/// What a token endpoint granted.
#[derive(Debug, PartialEq, Eq)]
pub struct Granted {
    pub token: Secret<String>,
    pub token_type: String,
    /// `expires_in` / `expiresIn`, seconds.
    pub expires_in: Option<u64>,
    /// A user grant's refresh token (`refresh_token` / `refreshToken`).
    pub refresh_token: Option<Secret<String>>,
    /// `refresh_expires_in` (Keycloak), seconds.
    pub refresh_expires_in: Option<u64>,
    /// The id token, when the token field is the access token and one came too.
    pub id_token: Option<Secret<String>>,
}

/// Why an answer is not a token.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The endpoint is plainly not there: `auth: auto` moves on, and skips other
    /// generations at the same URL.
    Absent(String),
    /// `/api/v1/token` exists but does not know this grant type: `auth: auto` moves
    /// on to the other grant type at the same URL.
    UnknownGrant(String),
    /// The credentials were refused: stop at once (exit 3).
    Rejected(String),
    /// Anything else (exit 4).
    Unavailable(String),
    /// A device-code poll before the person finished (RFC 8628 section 3.5):
    /// `authorization_pending`, or `slow_down` (true).
    Pending(bool),
}

impl Refusal {
    /// The same refusal with its text changed.
    pub fn map_detail(self, change: impl FnOnce(String) -> String) -> Self {
        match self {
            Refusal::Absent(text) => Refusal::Absent(change(text)),
            Refusal::UnknownGrant(text) => Refusal::UnknownGrant(change(text)),
            Refusal::Rejected(text) => Refusal::Rejected(change(text)),
            Refusal::Unavailable(text) => Refusal::Unavailable(change(text)),
            Refusal::Pending(slow_down) => Refusal::Pending(slow_down),
        }
    }
}

/// Classifies one answer of a token endpoint. Pure: status, content type and body in,
/// the token or the reason out. Reasons never quote a token.
pub fn parse_response(
    generation: Generation,
    status: u16,
    content_type: Option<&str>,
    body: &[u8],
    field: TokenField,
) -> Result<Granted, Refusal> {
    let parsed: Option<Value> = serde_json::from_slice(body).ok().filter(Value::is_object);
    let kind = content_type
        .and_then(|c| c.split(';').next())
        .unwrap_or("no content type")
        .trim();
    if status == 429 || status >= 500 {
        let detail = parsed.as_ref().map(error_detail).filter(|d| !d.is_empty());
        return Err(Refusal::Unavailable(match detail {
            Some(detail) => format!("answered {} ({detail})", status_text(status)),
            None => format!("answered {}", status_text(status)),
        }));
    }
    if status == 404 || status == 405 {
        return Err(Refusal::Absent(format!("answered {}", status_text(status))));
    }
    let detail = parsed.as_ref().map(error_detail).unwrap_or_default();
    let described = |what: &str| {
        if detail.is_empty() {
            format!("{what} {}", status_text(status))
        } else {
            format!("{what} {} ({detail})", status_text(status))
        }
    };
    // A refusal of the credentials, whatever the body looks like: auth: auto must
    // stop here rather than offer the secret to the next endpoint.
    if status == 401 || status == 403 {
        return Err(Refusal::Rejected(described("answered")));
    }
    let Some(value) = parsed else {
        return Err(Refusal::Absent(format!(
            "answered {} with {kind}, not JSON",
            status_text(status)
        )));
    };
    if (200..300).contains(&status) {
        return granted(value, field);
    }
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    match text("error").as_str() {
        "authorization_pending" => return Err(Refusal::Pending(false)),
        "slow_down" => return Err(Refusal::Pending(true)),
        _ => {}
    }
    if matches!(
        text("error").as_str(),
        "invalid_client" | "unauthorized_client" | "invalid_grant" | "access_denied" | "expired_token"
    ) {
        return Err(Refusal::Rejected(described("answered")));
    }
    let message = text("message");
    let v1 = matches!(generation, Generation::V1 | Generation::AppToken);
    let names_grant_type = ["grant type", "granttype", "grant_type"]
        .iter()
        .any(|w| message.contains(w));
    let refuses_it = ["unknown", "unsupported", "not supported"]
        .iter()
        .any(|w| message.contains(w));
    if v1 && status == 400 && names_grant_type && refuses_it {
        return Err(Refusal::UnknownGrant(described("does not know this grant type:")));
    }
    if status == 400
        && ["credential", "secret", "unauthorized", "invalid client"]
            .iter()
            .any(|w| message.contains(w))
    {
        return Err(Refusal::Rejected(described("answered")));
    }
    Err(Refusal::Unavailable(described("answered")))
}

fn granted(value: Value, field: TokenField) -> Result<Granted, Refusal> {
    let wire: WireResponse = serde_json::from_value(value)
        .map_err(|err| Refusal::Unavailable(format!("answered JSON that is not a token response: {err}")))?;
    let (token, id_token) = match field {
        TokenField::AccessToken => (wire.access_token, wire.id_token),
        TokenField::IdToken => (wire.id_token, None),
    };
    let token = token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| Refusal::Unavailable(format!("answered without {} in its JSON", field.as_str())))?;
    if !is_header_safe(&token) {
        // Printed as a header line or sent as one, it would let the server choose
        // what else goes on the wire or the terminal.
        return Err(Refusal::Unavailable(format!(
            "answered an {} that is not a valid HTTP header value (spaces or control characters)",
            field.as_str()
        )));
    }
    let refresh_token = wire.refresh_token.filter(|t| !t.is_empty());
    if refresh_token.as_deref().is_some_and(|t| !is_header_safe(t)) {
        return Err(Refusal::Unavailable(
            "answered a refresh_token with spaces or control characters".to_owned(),
        ));
    }
    Ok(Granted {
        token: Secret::new(token),
        token_type: wire.token_type.unwrap_or_else(|| "Bearer".to_owned()),
        expires_in: seconds(wire.expires_in),
        refresh_token: refresh_token.map(Secret::new),
        refresh_expires_in: seconds(wire.refresh_expires_in),
        id_token: id_token.filter(|t| !t.is_empty()).map(Secret::new),
    })
}

/// A lifetime in seconds, as a number or a string. 0 or less says nothing: unknown.
fn seconds(value: Option<Value>) -> Option<u64> {
    match value {
        Some(Value::Number(n)) => n
            .as_u64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite() && *f >= 1.0).map(|f| f as u64)),
        Some(Value::String(s)) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|seconds| *seconds > 0)
}

/// What a server said about an error: its `error` code and its description
/// (`error_description`, else `message`), bounded to [`MAX_DETAIL`] characters, with
/// tokens redacted and control characters escaped. Whatever else the body holds is
/// never shown. It is not cut short here: whoever knows the secret must look at the
/// whole text first (a secret cut in two would no longer be recognised), and then
/// shortens it with [`shorten_detail`] (docs/security.md#redaction).
fn error_detail(value: &Value) -> String {
    let text = |key: &str| {
        value
            .get(key)
            .and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty())
    };
    let description = text("error_description").or_else(|| text("message"));
    let detail = match (text("error"), description) {
        (Some(error), Some(description)) => format!("{error}: {description}"),
        (Some(error), None) => error.to_owned(),
        (None, Some(description)) => description.to_owned(),
        (None, None) => String::new(),
    };
    escape_untrusted(&redact(&cut(&detail, MAX_DETAIL), &[]))
}

/// Server text longer than this is not kept at all.
const MAX_DETAIL: usize = 4096;
/// How much of a server's text an error line shows.
const SHOWN_DETAIL: usize = 200;

/// `answered 400 Bad Request (server text)` with the server text cut to 200
/// characters: call it once the text is known to hold no secret.
pub fn shorten_detail(detail: &str) -> String {
    match detail.split_once(" (") {
        Some((status, server)) if server.chars().count() > SHOWN_DETAIL + 1 => {
            format!("{status} ({})", cut(server.trim_end_matches(')'), SHOWN_DETAIL))
        }
        _ => detail.to_owned(),
    }
}

fn cut(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((at, _)) => format!("{}...", &text[..at]),
        None => text.to_owned(),
    }
}

/// `503 Service Unavailable`.
pub fn status_text(status: u16) -> String {
    match reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

/// A token and what is known about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Token {
    pub value: Secret<String>,
    pub token_type: String,
    pub obtained_at: Timestamp,
    /// `None` when neither the response nor a JWT `exp` says.
    pub expires_at: Option<Timestamp>,
}

impl Token {
    /// Expiry from `expires_in` if given, else the JWT `exp` claim, else unknown.
    pub fn from_granted(granted: Granted, now: Timestamp) -> Self {
        let expires_at = match granted.expires_in {
            Some(seconds) => Some(now.plus(std::time::Duration::from_secs(seconds))),
            None => jwt::decode(granted.token.expose()).and_then(|d| d.exp()).map(Timestamp),
        }
        .map(|at| at.min(Timestamp::MAX));
        Self {
            value: granted.token,
            token_type: granted.token_type,
            obtained_at: now,
            expires_at,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(token_url: Option<&str>, realm: Option<&str>) -> ResolvedProfile {
        let mut profile = ResolvedProfile::example();
        profile.token_url = token_url.map(str::to_owned);
        profile.realm = realm.map(str::to_owned);
        // A client id and a secret that need form-encoding.
        profile.client_id = "ci bot".into();
        profile.with_secret("s3c&ret")
    }

    fn request(generation: Generation, p: &ResolvedProfile) -> WireRequest {
        Endpoint::for_profile(p, generation).request(&p.client_id, p.secret().unwrap(), &p.scope)
    }

    #[test]
    fn v2_request_is_an_oauth2_form() {
        let r = request(Generation::V2, &profile(None, None));
        assert_eq!(r.url, "https://acme.run.ai/api/v2/token");
        assert_eq!(r.content_type, "application/x-www-form-urlencoded");
        assert_eq!(
            r.body.expose(),
            "grant_type=client_credentials&client_id=ci+bot&client_secret=s3c%26ret"
        );
        assert_eq!(
            r.log_body,
            "grant_type=client_credentials&client_id=ci+bot&client_secret=%5Bredacted%5D"
        );
    }

    #[test]
    fn v1_request_is_json_client_credentials() {
        let r = request(Generation::V1, &profile(None, None));
        assert_eq!(r.url, "https://acme.run.ai/api/v1/token");
        assert_eq!(r.content_type, "application/json");
        assert_eq!(
            r.body.expose(),
            r#"{"grantType":"client_credentials","clientId":"ci bot","clientSecret":"s3c&ret"}"#
        );
        assert_eq!(
            r.log_body,
            r#"{"grantType":"client_credentials","clientId":"ci bot","clientSecret":"[redacted]"}"#
        );
    }

    #[test]
    fn app_token_request_uses_the_documented_spelling() {
        let r = request(Generation::AppToken, &profile(None, None));
        assert_eq!(r.url, "https://acme.run.ai/api/v1/token");
        assert_eq!(
            r.body.expose(),
            r#"{"grantType":"app_token","AppId":"ci bot","AppSecret":"s3c&ret"}"#
        );
    }

    #[test]
    fn keycloak_request_is_the_seed_documents_form() {
        let r = request(Generation::Keycloak, &profile(None, Some("acme")));
        assert_eq!(
            r.url,
            "https://acme.run.ai/auth/realms/acme/protocol/openid-connect/token"
        );
        assert_eq!(
            r.body.expose(),
            "grant_type=client_credentials&scope=openid&response_type=id_token&client_id=ci+bot&client_secret=s3c%26ret"
        );
    }

    #[test]
    fn token_url_replaces_the_url_and_auto_speaks_plain_oauth2() {
        let p = profile(Some("https://sso.acme.com/t"), None);
        let r = request(Generation::OAuth2, &p);
        assert_eq!(r.url, "https://sso.acme.com/t");
        assert_eq!(
            r.body.expose(),
            "grant_type=client_credentials&scope=openid&client_id=ci+bot&client_secret=s3c%26ret"
        );
        assert_eq!(request(Generation::V1, &p).url, "https://sso.acme.com/t");
    }

    fn parse(generation: Generation, status: u16, body: &str) -> Result<Granted, Refusal> {
        parse_response(
            generation,
            status,
            Some("application/json"),
            body.as_bytes(),
            TokenField::AccessToken,
        )
    }

    #[test]
    fn parses_oauth2_and_keycloak_responses() {
        let body = r#"{"access_token":"AT","token_type":"bearer","expires_in":36000,"id_token":"IT","scope":"openid"}"#;
        assert_eq!(
            parse(Generation::Keycloak, 200, body),
            Ok(Granted {
                token: Secret::new("AT".into()),
                token_type: "bearer".into(),
                expires_in: Some(36000),
                refresh_token: None,
                refresh_expires_in: None,
                id_token: Some(Secret::new("IT".into()))
            })
        );
        let id = parse_response(Generation::Keycloak, 200, None, body.as_bytes(), TokenField::IdToken).unwrap();
        assert_eq!(id.token.expose(), "IT");
    }

    #[test]
    fn parses_run_ai_v1_responses_in_camel_case() {
        assert_eq!(
            parse(
                Generation::V1,
                200,
                r#"{"accessToken":"AT","idToken":"IT","refreshToken":"RT","expiresIn":"3600"}"#
            ),
            Ok(Granted {
                token: Secret::new("AT".into()),
                token_type: "Bearer".into(),
                expires_in: Some(3600),
                refresh_token: Some(Secret::new("RT".into())),
                refresh_expires_in: None,
                id_token: Some(Secret::new("IT".into()))
            })
        );
        assert_eq!(
            parse(Generation::AppToken, 200, r#"{"accessToken":"AT"}"#),
            Ok(Granted {
                token: Secret::new("AT".into()),
                token_type: "Bearer".into(),
                expires_in: None,
                refresh_token: None,
                refresh_expires_in: None,
                id_token: None
            })
        );
    }

    #[test]
    fn absent_endpoints_are_told_apart_from_rejections() {
        assert_eq!(
            parse(Generation::V2, 404, "{}"),
            Err(Refusal::Absent("answered 404 Not Found".into()))
        );
        assert_eq!(
            parse(Generation::V2, 405, ""),
            Err(Refusal::Absent("answered 405 Method Not Allowed".into()))
        );
        assert_eq!(
            parse_response(
                Generation::V2,
                200,
                Some("text/html; charset=utf-8"),
                b"<!doctype html>",
                TokenField::AccessToken
            ),
            Err(Refusal::Absent("answered 200 OK with text/html, not JSON".into()))
        );
        assert_eq!(
            parse(
                Generation::V1,
                400,
                r#"{"code":400,"message":"grantType \"client_credentials\" is not supported"}"#
            ),
            Err(Refusal::UnknownGrant(
                "does not know this grant type: 400 Bad Request (grantType \"client_credentials\" is not supported)"
                    .into()
            ))
        );
        assert_eq!(
            parse(
                Generation::V2,
                401,
                r#"{"error":"invalid_client","error_description":"Client authentication failed"}"#
            ),
            Err(Refusal::Rejected(
                "answered 401 Unauthorized (invalid_client: Client authentication failed)".into()
            ))
        );
        assert_eq!(
            parse(
                Generation::Keycloak,
                400,
                r#"{"error":"unauthorized_client","error_description":"Invalid client secret"}"#
            ),
            Err(Refusal::Rejected(
                "answered 400 Bad Request (unauthorized_client: Invalid client secret)".into()
            ))
        );
        assert_eq!(
            parse(
                Generation::V1,
                401,
                r#"{"code":401,"message":"invalid client credentials"}"#
            ),
            Err(Refusal::Rejected(
                "answered 401 Unauthorized (invalid client credentials)".into()
            ))
        );
        assert_eq!(
            parse(
                Generation::V1,
                400,
                r#"{"code":400,"message":"Required parameter is missing"}"#
            ),
            Err(Refusal::Unavailable(
                "answered 400 Bad Request (Required parameter is missing)".into()
            ))
        );
    }

    #[test]
    fn a_401_or_403_is_a_rejection_whatever_the_body() {
        for (status, body) in [(401, &b"<html>Unauthorized</html>"[..]), (403, b""), (401, b"{}")] {
            let parsed = parse_response(Generation::V2, status, Some("text/html"), body, TokenField::AccessToken);
            assert!(matches!(parsed, Err(Refusal::Rejected(_))), "{status}: {parsed:?}");
        }
        // "invalid grant" in a v1 message is a rejection, not an unknown grant type.
        assert_eq!(
            parse(
                Generation::V1,
                400,
                r#"{"code":400,"message":"invalid grant: bad credentials"}"#
            ),
            Err(Refusal::Rejected(
                "answered 400 Bad Request (invalid grant: bad credentials)".into()
            ))
        );
    }

    #[test]
    fn server_trouble_is_never_absence() {
        assert_eq!(
            parse_response(
                Generation::V2,
                503,
                Some("text/html"),
                b"<html>",
                TokenField::AccessToken
            ),
            Err(Refusal::Unavailable("answered 503 Service Unavailable".into()))
        );
        assert_eq!(
            parse(
                Generation::V1,
                503,
                r#"{"code":503,"message":"Please try again in few minutes."}"#
            ),
            Err(Refusal::Unavailable(
                "answered 503 Service Unavailable (Please try again in few minutes.)".into()
            ))
        );
        assert_eq!(
            parse(Generation::V2, 429, "{}"),
            Err(Refusal::Unavailable("answered 429 Too Many Requests".into()))
        );
    }

    #[test]
    fn malformed_success_is_unavailable() {
        assert_eq!(
            parse(Generation::V2, 200, r#"{"token_type":"Bearer"}"#),
            Err(Refusal::Unavailable("answered without access_token in its JSON".into()))
        );
        assert_eq!(
            parse(Generation::V2, 200, r#"{"access_token":"AT"#),
            Err(Refusal::Absent(
                "answered 200 OK with application/json, not JSON".into()
            ))
        );
    }

    #[test]
    fn a_token_that_is_not_a_header_value_is_refused() {
        for bad in ["AT\r\nX-Evil: 1", "AT\u{0}", "A T", "AT\u{1b}[2J", "AT\u{e9}"] {
            let body = serde_json::json!({"access_token": bad, "expires_in": 60}).to_string();
            assert_eq!(
                parse(Generation::V2, 200, &body),
                Err(Refusal::Unavailable(
                    "answered an access_token that is not a valid HTTP header value (spaces or control characters)"
                        .into()
                )),
                "{bad:?}"
            );
        }
        assert!(is_header_safe("eyJ.a-b_c~d+e/f=="));
    }

    #[test]
    fn a_lifetime_of_zero_or_less_is_unknown() {
        for expires_in in ["0", "-5", "0.4", "-1e9", "\"0\"", "\"-3\""] {
            let body = format!(r#"{{"access_token":"AT","expires_in":{expires_in}}}"#);
            let granted = parse(Generation::V2, 200, &body).unwrap();
            assert_eq!(granted.expires_in, None, "{expires_in}");
        }
    }

    #[test]
    fn error_details_are_short_and_escaped() {
        let body = serde_json::json!({
            "error": "invalid_request",
            "error_description": format!("bad\u{1b}]0;pwned\u{7}\r\n{}", "x".repeat(500)),
            "debug": "everything else stays out",
        })
        .to_string();
        let Err(Refusal::Unavailable(reason)) = parse(Generation::V2, 400, &body) else {
            panic!()
        };
        assert!(
            reason.starts_with("answered 400 Bad Request (invalid_request: bad\\u{1b}]0;pwned\\u{7}\\r\\nxxx"),
            "{reason}"
        );
        assert!(reason.len() > 500, "kept whole for the redaction to look at");
        let shown = shorten_detail(&reason);
        assert!(shown.ends_with("...)") && shown.len() < 260, "{shown}");
        assert!(!reason.contains("everything else"));
    }

    #[test]
    fn error_details_never_quote_a_jwt() {
        let jwt = jwt::encode_unsigned(&serde_json::json!({"sub": "x"}));
        let body = format!(r#"{{"error":"invalid_grant","error_description":"token {jwt} is bad"}}"#);
        let Err(Refusal::Rejected(reason)) = parse(Generation::V2, 400, &body) else {
            panic!()
        };
        assert!(!reason.contains(&jwt) && reason.contains("[redacted]"), "{reason}");
    }

    #[test]
    fn expiry_from_expires_in_else_jwt_exp_else_unknown() {
        let now = Timestamp(1_000);
        let with = Granted {
            token: Secret::new("opaque".into()),
            token_type: "Bearer".into(),
            expires_in: Some(60),
            refresh_token: None,
            refresh_expires_in: None,
            id_token: None,
        };
        assert_eq!(Token::from_granted(with, now).expires_at, Some(Timestamp(1_060)));
        let jwt = jwt::encode_unsigned(&serde_json::json!({"exp": 5_000}));
        let from_jwt = Granted {
            token: Secret::new(jwt),
            token_type: "Bearer".into(),
            expires_in: None,
            refresh_token: None,
            refresh_expires_in: None,
            id_token: None,
        };
        assert_eq!(Token::from_granted(from_jwt, now).expires_at, Some(Timestamp(5_000)));
        let unknown = Granted {
            token: Secret::new("opaque".into()),
            token_type: "Bearer".into(),
            expires_in: None,
            refresh_token: None,
            refresh_expires_in: None,
            id_token: None,
        };
        assert_eq!(Token::from_granted(unknown, now).expires_at, None);
    }
}
