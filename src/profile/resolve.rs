//! Resolution of one profile into a [`ResolvedProfile`]: defaults applied, every
//! value validated, paths expanded, the secret source chosen (docs/profiles.md#rules).
//! Everything after this sees validated values, never raw YAML.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::config_error;
use crate::error::ConfigError;
use crate::paths::{Env, expand};
use crate::secret::{Secret, hex};

use super::model::{
    Api, AuthMode, DEFAULT_LISTEN_ADDRESSES, DEFAULT_SCOPE, DEFAULT_TIMEOUT, DEFAULT_USER_SCOPES, GrantType, Profile,
    TokenField, check_name,
};
use super::secret_source::SecretSource;

/// TLS settings for the token endpoint and the Run:ai API.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// `certificate-authority`, expanded.
    pub ca_file: Option<PathBuf>,
    /// `certificate-authority-data`, as written (base64 of PEM).
    pub ca_data: Option<String>,
    pub insecure_skip_verify: bool,
}

/// A profile with defaults applied and values validated. The secret is loaded at
/// resolution from an inline value, a file or a variable; a `client-secret-command`
/// runs only when [`ResolvedProfile::secret`] is first called (a cache miss), so a
/// cache hit never runs the user's password manager.
#[derive(Clone, Debug)]
pub struct ResolvedProfile {
    pub name: String,
    /// The control plane URL, without a trailing `/`.
    pub url: String,
    pub api: Api,
    pub researcher_url: Option<String>,
    pub auth: AuthMode,
    pub realm: Option<String>,
    pub token_url: Option<String>,
    pub client_id: String,
    pub secret_source: SecretSource,
    /// The loaded secret (set at resolution unless the source is a command).
    secret: OnceLock<Secret<String>>,
    /// `<file> line N: profile "P": client-secret-command`, for a deferred load's errors.
    secret_at: String,
    pub token_field: TokenField,
    pub scope: String,
    pub tls: TlsSettings,
    pub timeout: Duration,
    /// How tokens are had: the application's credentials, or a person's sign-in.
    pub grant: GrantType,
    /// The user grants' OpenID Connect issuer (`issuer`, else the Keycloak realm's).
    pub issuer: Option<String>,
    /// The password grant's username.
    pub username: Option<String>,
    /// The user grants' scopes.
    pub scopes: Vec<String>,
    /// Where the authorization-code flow listens, first free one first.
    pub listen_addresses: Vec<std::net::SocketAddr>,
}

impl ResolvedProfile {
    /// The base URL of the API that `api` names, when it is known.
    pub fn api_url(&self) -> Option<&str> {
        match self.api {
            Api::Admin => Some(&self.url),
            Api::Researcher => self.researcher_url.as_deref(),
        }
    }

    /// The client secret, running `client-secret-command` the first time it is needed.
    pub fn secret(&self) -> anyhow::Result<&Secret<String>> {
        if let Some(secret) = self.secret.get() {
            return Ok(secret);
        }
        // Only a command source gets here: the others were loaded at resolution, and
        // a command needs no environment.
        let at = |_: &str| self.secret_at.clone();
        let loaded = self.secret_source.load(&Env::from_pairs([]), &at)?;
        Ok(self.secret.get_or_init(|| loaded))
    }

    /// The client secret of a user grant's client, if it has one (most are public).
    pub fn user_client_secret(&self) -> anyhow::Result<Option<&Secret<String>>> {
        match self.secret_source {
            SecretSource::None => Ok(None),
            _ => self.secret().map(Some),
        }
    }

    /// The secret if it is loaded already (never runs a command).
    pub fn loaded_secret(&self) -> Option<&Secret<String>> {
        self.secret.get()
    }

    /// What identifies the secret in the cache key: the command for a command source
    /// (a hit must not run it), else a SHA-256 of the secret (rotating it misses).
    pub fn secret_identity(&self) -> String {
        match self.secret_source.identity_without_loading() {
            Some(_) if self.secret_source == SecretSource::None => "none".to_owned(),
            Some(command) => format!("command {command}"),
            None => {
                let secret = self.secret.get().map(|s| s.expose().as_str()).unwrap_or_default();
                hex(&Sha256::digest(secret.as_bytes()))
            }
        }
    }

    /// The same profile with `secret` as its inline secret.
    #[cfg(test)]
    pub fn with_secret(mut self, secret: &str) -> Self {
        self.secret_source = SecretSource::Inline(Secret::new(secret.to_owned()));
        self.secret = OnceLock::from(Secret::new(secret.to_owned()));
        self
    }
}

#[cfg(test)]
impl ResolvedProfile {
    /// A resolved profile for unit tests: `acme` at https://acme.run.ai, client
    /// `ci-bot`, secret `s3cret`, every other key at its default.
    pub fn example() -> Self {
        Self {
            name: "acme".into(),
            url: "https://acme.run.ai".into(),
            api: Api::Admin,
            researcher_url: None,
            auth: AuthMode::Auto,
            realm: None,
            token_url: None,
            client_id: "ci-bot".into(),
            secret_source: SecretSource::Inline(Secret::new(String::new())),
            secret: OnceLock::new(),
            secret_at: String::new(),
            token_field: TokenField::AccessToken,
            scope: DEFAULT_SCOPE.into(),
            tls: TlsSettings::default(),
            timeout: DEFAULT_TIMEOUT,
            grant: GrantType::ClientCredentials,
            issuer: None,
            username: None,
            scopes: DEFAULT_USER_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            listen_addresses: Vec::new(),
        }
        .with_secret("s3cret")
    }
}

/// Resolves `profile` of the profiles file at `file`: validates every value and
/// loads the secret unless it comes from a command. `at(key)` names the key and its
/// line for messages.
pub(super) fn resolve(
    profile: &Profile,
    file: &Path,
    env: &Env,
    at: &dyn Fn(&str) -> String,
) -> anyhow::Result<ResolvedProfile> {
    let base = file.parent().unwrap_or(Path::new("."));
    let checked = check_values(profile).map_err(|bad| {
        let mut error = ConfigError::new(format!("{}: {}", at(bad.key), bad.message));
        error.hint = bad.hint;
        anyhow::Error::new(error)
    })?;
    let ca_file = match &profile.certificate_authority {
        Some(path) => Some(expand(path, base, env).map_err(|e| config_error!("{}: {e}", at("certificate-authority")))?),
        None => None,
    };
    let grant = profile.grant.unwrap_or_default();
    let secret_source = SecretSource::of(profile, grant.is_user(), base, env, checked.timeout, file, at)?;
    let secret = OnceLock::new();
    if secret_source.identity_without_loading().is_none() {
        let _ = secret.set(secret_source.load(env, at)?);
    }
    Ok(ResolvedProfile {
        name: profile.name.clone(),
        url: checked.url,
        api: profile.api.unwrap_or_default(),
        researcher_url: checked.researcher_url,
        auth: profile.auth.unwrap_or_default(),
        realm: profile.realm.clone().filter(|r| !r.is_empty()),
        token_url: checked.token_url,
        client_id: profile.client_id.clone(),
        secret_source,
        secret,
        secret_at: at("client-secret-command"),
        token_field: profile.token_field.unwrap_or_default(),
        scope: profile.scope.clone().unwrap_or_else(|| DEFAULT_SCOPE.to_owned()),
        tls: TlsSettings {
            ca_file,
            ca_data: profile.certificate_authority_data.clone(),
            insecure_skip_verify: profile.insecure_skip_tls_verify.unwrap_or(false),
        },
        timeout: checked.timeout,
        grant,
        issuer: checked.issuer,
        username: profile.username.clone().filter(|u| !u.is_empty()),
        scopes: profile
            .scopes
            .clone()
            .unwrap_or_else(|| DEFAULT_USER_SCOPES.iter().map(|s| (*s).to_owned()).collect()),
        listen_addresses: checked.listen_addresses,
    })
}

/// A value that fails the checks of [`check_values`]: its key, what is wrong, a fix.
struct BadValue {
    key: &'static str,
    message: String,
    hint: Option<String>,
}

/// What [`check_values`] normalizes.
struct Checked {
    url: String,
    researcher_url: Option<String>,
    token_url: Option<String>,
    timeout: Duration,
    issuer: Option<String>,
    listen_addresses: Vec<std::net::SocketAddr>,
}

/// The checks that need nothing but the profile itself.
fn check_values(profile: &Profile) -> Result<Checked, BadValue> {
    let bad = |key, message| BadValue {
        key,
        message,
        hint: None,
    };
    let optional_url = |key, value: &Option<String>| match value {
        Some(url) => check_url(url).map(Some).map_err(|e| bad(key, e)),
        None => Ok(None),
    };
    let url = check_url(&profile.url).map_err(|e| bad("url", e))?;
    let researcher_url = optional_url("researcher-url", &profile.researcher_url)?;
    let token_url = optional_url("token-url", &profile.token_url)?;
    let realm = profile.realm.as_deref().filter(|r| !r.is_empty());
    if profile.auth == Some(AuthMode::Keycloak) && realm.is_none() && token_url.is_none() {
        return Err(BadValue {
            key: "realm",
            message: "auth: keycloak needs a realm".to_owned(),
            hint: Some("set realm: the Keycloak realm from the Run:ai UI (self-hosted: runai)".to_owned()),
        });
    }
    if profile.client_id.is_empty() {
        return Err(bad("client-id", "must not be empty".to_owned()));
    }
    let timeout = profile.timeout.map(|d| d.0).unwrap_or(DEFAULT_TIMEOUT);
    if timeout.is_zero() {
        return Err(bad("timeout", "must be more than 0s".to_owned()));
    }
    let grant = profile.grant.unwrap_or_default();
    let issuer = match optional_url("issuer", &profile.issuer)? {
        Some(issuer) => Some(issuer),
        // Keycloak's realm is an issuer at a known place.
        None if realm.is_some() && matches!(profile.auth, Some(AuthMode::Keycloak) | None | Some(AuthMode::Auto)) => {
            realm.map(|realm| format!("{url}/auth/realms/{realm}"))
        }
        None => None,
    };
    if matches!(grant, GrantType::AuthorizationCode | GrantType::DeviceCode) && issuer.is_none() {
        return Err(BadValue {
            key: "issuer",
            message: format!("grant: {} needs an issuer", grant.as_str()),
            hint: Some(
                "set issuer to the OpenID Connect issuer URL (its discovery document is at \
                 {issuer}/.well-known/openid-configuration), or realm for Run:ai 2.13 and older"
                    .to_owned(),
            ),
        });
    }
    if !grant.is_user() {
        for (key, set) in [
            ("username", profile.username.is_some()),
            ("scopes", profile.scopes.is_some()),
            ("listen-address", profile.listen_address.is_some()),
        ] {
            if set {
                return Err(BadValue {
                    key,
                    message: "is for user grants only".to_owned(),
                    hint: Some("set grant: password, authorization-code or device-code, or remove it".to_owned()),
                });
            }
        }
    }
    if profile
        .scopes
        .as_ref()
        .is_some_and(|scopes| scopes.iter().any(|s| s.is_empty() || s.contains(char::is_whitespace)))
    {
        return Err(bad("scopes", "a scope must be one word".to_owned()));
    }
    let listen_addresses = match &profile.listen_address {
        Some(addresses) if addresses.is_empty() => return Err(bad("listen-address", "must not be empty".to_owned())),
        Some(addresses) => addresses
            .iter()
            .map(String::as_str)
            .map(check_listen_address)
            .collect::<Result<_, _>>(),
        None => DEFAULT_LISTEN_ADDRESSES
            .iter()
            .copied()
            .map(check_listen_address)
            .collect(),
    }
    .map_err(|e| bad("listen-address", e))?;
    Ok(Checked {
        url,
        researcher_url,
        token_url,
        timeout,
        issuer,
        listen_addresses,
    })
}

/// A loopback `address:port`: the browser's redirect must never reach another host,
/// nor this one from the network (docs/security.md#signing-in).
pub fn check_listen_address(text: &str) -> Result<std::net::SocketAddr, String> {
    let address: std::net::SocketAddr = text
        .parse()
        .map_err(|_| format!("{text:?} is not an address:port (such as 127.0.0.1:43121)"))?;
    if !address.ip().is_loopback() {
        return Err(format!("{text:?} is not a loopback address (127.0.0.1 or [::1])"));
    }
    Ok(address)
}

/// The checks `profile set` runs before it writes: everything but the secret.
pub fn check_static(profile: &Profile) -> anyhow::Result<()> {
    check_name(&profile.name)?;
    check_values(profile).map(|_| ()).map_err(|bad| {
        let mut error = ConfigError::new(format!("{}: {}", bad.key, bad.message));
        error.hint = bad.hint;
        error.into()
    })
}

/// `https://`, or `http://` to a loopback host. Returns the URL without trailing `/`.
pub(super) fn check_url(text: &str) -> Result<String, String> {
    // Checked first, and never quoted: a password in a URL must not reach an error.
    let shown = match text
        .split_once("://")
        .and_then(|(scheme, rest)| rest.split_once('@').map(|(_, host)| (scheme, host)))
    {
        Some((scheme, host)) => format!("{scheme}://{host}"),
        None => text.to_owned(),
    };
    let url = reqwest::Url::parse(text).map_err(|err| format!("{shown:?} is not a URL: {err}"))?;
    if !url.username().is_empty() || url.password().is_some() {
        return Err(format!("{shown:?} must not contain credentials"));
    }
    let text = shown.as_str();
    let loopback = match url.host() {
        Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => return Err(format!("{text:?} has no host")),
    };
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => {
            return Err(format!(
                "{text:?} must be https:// (plain http is allowed only for loopback hosts)"
            ));
        }
        other => return Err(format!("{text:?}: scheme {other:?} is not supported, use https://")),
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(format!("{text:?} must not have a query or fragment"));
    }
    Ok(text.trim_end_matches('/').to_owned())
}
