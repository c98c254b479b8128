//! The profiles file as written: the serde model, keys in kubeconfig's kebab-case,
//! unknown keys refused (docs/profiles.md#profile-keys). Optional keys stay `None`, so
//! saving writes back only what the user wrote. No I/O, no YAML, no CLI here.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::time::GoDuration;

pub const API_VERSION: &str = "runai-token/v1";
pub const KIND: &str = "Profiles";
/// Default `timeout`: the whole token request, retries included.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
pub const DEFAULT_SCOPE: &str = "openid";

/// The whole profiles file.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct ProfilesFile {
    #[serde(rename = "apiVersion", default = "default_api_version")]
    pub api_version: String,
    #[serde(default = "default_kind")]
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_profile: Option<String>,
    #[serde(default)]
    pub profiles: Vec<Profile>,
}

fn default_api_version() -> String {
    API_VERSION.to_owned()
}

fn default_kind() -> String {
    KIND.to_owned()
}

impl Default for ProfilesFile {
    fn default() -> Self {
        Self {
            api_version: default_api_version(),
            kind: default_kind(),
            current_profile: None,
            profiles: Vec::new(),
        }
    }
}

/// Which Run:ai REST API the token is for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Api {
    /// The Administrator REST API, on the control plane (`url`).
    #[default]
    Admin,
    /// The Researcher REST API, on a cluster (`researcher-url`).
    Researcher,
}

impl Api {
    pub fn as_str(self) -> &'static str {
        match self {
            Api::Admin => "admin",
            Api::Researcher => "researcher",
        }
    }
}

/// Which token endpoint generation to speak to (docs/runai-versions.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthMode {
    /// Detect: v2, v1, app-token, then keycloak (with `realm`).
    #[default]
    Auto,
    /// `POST /api/v2/token`, OAuth2 form (Run:ai 2.24+, SaaS).
    V2,
    /// `POST /api/v1/token`, JSON client_credentials (Run:ai 2.20-2.23).
    V1,
    /// `POST /api/v1/token`, JSON app_token (Run:ai about 2.15-2.19).
    AppToken,
    /// The Keycloak realm's token endpoint (Run:ai 2.13 and older).
    Keycloak,
}

impl AuthMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AuthMode::Auto => "auto",
            AuthMode::V2 => "v2",
            AuthMode::V1 => "v1",
            AuthMode::AppToken => "app-token",
            AuthMode::Keycloak => "keycloak",
        }
    }
}

/// Which field of the token response is the token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenField {
    #[default]
    AccessToken,
    IdToken,
}

impl TokenField {
    pub fn as_str(self) -> &'static str {
        match self {
            TokenField::AccessToken => "access_token",
            TokenField::IdToken => "id_token",
        }
    }
}

/// How the profile gets its tokens: as an application, or as a person signing in
/// (docs/login.md).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum GrantType {
    /// The application's client id and secret (OAuth2 client credentials).
    #[default]
    ClientCredentials,
    /// The person's username and password, asked for at `login`, never stored.
    Password,
    /// A browser sign-in with PKCE, redirected to a loopback address.
    AuthorizationCode,
    /// A code shown here, entered on another device's browser (RFC 8628).
    DeviceCode,
}

impl GrantType {
    pub fn as_str(self) -> &'static str {
        match self {
            GrantType::ClientCredentials => "client-credentials",
            GrantType::Password => "password",
            GrantType::AuthorizationCode => "authorization-code",
            GrantType::DeviceCode => "device-code",
        }
    }

    /// A person signs in: a session with a refresh token, `login` and `logout`.
    pub fn is_user(self) -> bool {
        self != GrantType::ClientCredentials
    }
}

/// Scopes a user grant asks for unless `scopes` says otherwise: `offline_access` is
/// what makes the issuer hand out a refresh token.
pub const DEFAULT_USER_SCOPES: [&str; 2] = ["openid", "offline_access"];
/// Where the authorization-code flow listens for the browser's redirect: Run:ai's own
/// CLI port first, then any free port.
pub const DEFAULT_LISTEN_ADDRESSES: [&str; 2] = ["127.0.0.1:43121", "127.0.0.1:0"];

/// One profile as written in the file. Optional keys stay `None` so that saving
/// writes back only what the user wrote.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
pub struct Profile {
    pub name: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api: Option<Api>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub researcher_url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<AuthMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub realm: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_url: Option<String>,
    pub client_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_file: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_env: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret_command: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_field: Option<TokenField>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_authority_data: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub insecure_skip_tls_verify: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "duration_text")]
    pub timeout: Option<GoDuration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub grant: Option<GrantType>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub issuer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub listen_address: Option<Vec<String>>,
}

mod duration_text {
    use super::GoDuration;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &Option<GoDuration>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(duration) => s.serialize_str(&duration.to_string()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<GoDuration>, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map(Some).map_err(serde::de::Error::custom)
    }
}

impl Profile {
    /// The secret keys this profile sets.
    pub fn secret_sources(&self) -> Vec<&'static str> {
        let mut sources = Vec::new();
        if self.client_secret.is_some() {
            sources.push("client-secret");
        }
        if self.client_secret_file.is_some() {
            sources.push("client-secret-file");
        }
        if self.client_secret_env.is_some() {
            sources.push("client-secret-env");
        }
        if self.client_secret_command.is_some() {
            sources.push("client-secret-command");
        }
        sources
    }

    /// Drops every secret source (before `profile set` puts in a new one).
    pub fn clear_secret_sources(&mut self) {
        self.client_secret = None;
        self.client_secret_file = None;
        self.client_secret_env = None;
        self.client_secret_command = None;
    }
}

/// Every key a profile may hold, as the file spells it: the one list `profile set`,
/// `--unset` and their messages are checked against (a unit test fails when the
/// model gains a key that is not here).
pub const KEYS: [&str; 23] = [
    "name",
    "url",
    "api",
    "researcher-url",
    "auth",
    "realm",
    "token-url",
    "client-id",
    "client-secret",
    "client-secret-file",
    "client-secret-env",
    "client-secret-command",
    "token-field",
    "scope",
    "certificate-authority",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "timeout",
    "grant",
    "issuer",
    "username",
    "scopes",
    "listen-address",
];

/// The keys that `profile set --unset` removes: the optional ones that are not a
/// secret source (those are replaced by setting another).
pub const UNSETTABLE: [&str; 16] = [
    "api",
    "researcher-url",
    "auth",
    "realm",
    "token-url",
    "token-field",
    "scope",
    "certificate-authority",
    "certificate-authority-data",
    "insecure-skip-tls-verify",
    "timeout",
    "grant",
    "issuer",
    "username",
    "scopes",
    "listen-address",
];

impl Profile {
    /// Removes optional `key`; `false` when it is not one of [`UNSETTABLE`].
    pub fn unset(&mut self, key: &str) -> bool {
        match key {
            "api" => self.api = None,
            "researcher-url" => self.researcher_url = None,
            "auth" => self.auth = None,
            "realm" => self.realm = None,
            "token-url" => self.token_url = None,
            "token-field" => self.token_field = None,
            "scope" => self.scope = None,
            "certificate-authority" => self.certificate_authority = None,
            "certificate-authority-data" => self.certificate_authority_data = None,
            "insecure-skip-tls-verify" => self.insecure_skip_tls_verify = None,
            "timeout" => self.timeout = None,
            "grant" => self.grant = None,
            "issuer" => self.issuer = None,
            "username" => self.username = None,
            "scopes" => self.scopes = None,
            "listen-address" => self.listen_address = None,
            _ => return false,
        }
        true
    }
}

/// Profile names end up in kubeconfig user names and command lines: keep them plain.
pub fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = !name.is_empty()
        && name.len() <= 63
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(crate::config_error!(
            "invalid profile name {name:?}: use letters, digits, '-', '_' and '.' (at most 63)"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A profile with every key set, serialized: the keys serde knows.
    fn every_key() -> Vec<String> {
        let full = Profile {
            name: "n".into(),
            url: "u".into(),
            api: Some(Api::Admin),
            researcher_url: Some("r".into()),
            auth: Some(AuthMode::Auto),
            realm: Some("r".into()),
            token_url: Some("t".into()),
            client_id: "c".into(),
            client_secret: Some(Secret::new("s".into())),
            client_secret_file: Some("f".into()),
            client_secret_env: Some("e".into()),
            client_secret_command: Some(vec!["c".into()]),
            token_field: Some(TokenField::AccessToken),
            scope: Some("s".into()),
            certificate_authority: Some("c".into()),
            certificate_authority_data: Some("d".into()),
            insecure_skip_tls_verify: Some(false),
            timeout: Some(GoDuration(Duration::from_secs(1))),
            grant: Some(GrantType::Password),
            issuer: Some("i".into()),
            username: Some("u".into()),
            scopes: Some(vec!["s".into()]),
            listen_address: Some(vec!["127.0.0.1:0".into()]),
        };
        let value = serde_json::to_value(&full).unwrap();
        value.as_object().unwrap().keys().cloned().collect()
    }

    #[test]
    fn keys_lists_every_key_of_the_model() {
        let mut model = every_key();
        let mut listed: Vec<String> = KEYS.iter().map(|k| (*k).to_owned()).collect();
        model.sort();
        listed.sort();
        assert_eq!(model, listed, "profile::KEYS and the Profile model disagree");
    }

    #[test]
    fn every_optional_key_can_be_unset() {
        let secrets = [
            "client-secret",
            "client-secret-file",
            "client-secret-env",
            "client-secret-command",
        ];
        let required = ["name", "url", "client-id"];
        for key in KEYS {
            let optional = !secrets.contains(&key) && !required.contains(&key);
            assert_eq!(UNSETTABLE.contains(&key), optional, "{key}");
            assert_eq!(Profile::default().unset(key), optional, "{key}");
        }
    }
}
