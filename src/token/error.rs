//! Why no token could be had, and the hint that goes with it: exit 3 or 4
//! (docs/commands.md#exit-codes).

/// Why no token could be had: exit 3 or 4.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The endpoint refused the client's credentials, or the person's.
    #[error("{}", rejected_text(url, client_id, detail, *by))]
    Rejected {
        url: String,
        client_id: String,
        profile: String,
        detail: String,
        /// Whose grant was refused.
        by: Refused,
    },
    /// The endpoint could not be used (network, TLS, timeout, 5xx, bad answer).
    #[error("token endpoint {url} {detail}")]
    Unavailable {
        url: String,
        detail: String,
        hint: Option<String>,
    },
    /// `auth: auto` found no endpoint.
    #[error("no Run:ai token endpoint found at {url}: {tried}")]
    NotFound {
        url: String,
        tried: String,
        has_realm: bool,
    },
    /// A person must sign in, and this process cannot ask them to (docs/login.md).
    #[error("{reason}")]
    LoginNeeded { profile: String, reason: String },
    /// A device-code poll before the person finished; `slow_down` asks for longer
    /// intervals. The device flow polls again; it is never shown.
    #[error("token endpoint {url}: the sign-in is not finished yet")]
    Pending { url: String, slow_down: bool },
}

/// Whose grant a token endpoint refused: the hint differs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refused {
    /// The application's client id and secret.
    Application,
    /// A person's username and password.
    Password,
    /// A person's other grants: a code, a device code, a refresh token.
    SignIn,
}

fn rejected_text(url: &str, client_id: &str, detail: &str, by: Refused) -> String {
    if by != Refused::Application {
        format!("token endpoint {url} rejected the sign-in of client {client_id:?}: {detail}")
    } else {
        format!("token endpoint {url} rejected the credentials of client {client_id:?}: {detail}")
    }
}

impl TokenError {
    pub fn hint(&self) -> Option<String> {
        match self {
            TokenError::Rejected {
                profile,
                by: Refused::Password,
                ..
            } => Some(format!(
                "check the username and password, then run: kubectl runai-token login -p {profile}"
            )),
            TokenError::Rejected {
                profile,
                by: Refused::SignIn,
                ..
            } => Some(format!("sign in again: kubectl runai-token login -p {profile}")),
            TokenError::Rejected { profile, .. } => Some(format!(
                "check client-id and the client secret of profile {profile:?}; regenerating a secret in Run:ai revokes the old one"
            )),
            TokenError::LoginNeeded { profile, .. } => Some(format!("kubectl runai-token login -p {profile}")),
            TokenError::Pending { .. } => None,
            TokenError::Unavailable { hint, .. } => hint.clone(),
            TokenError::NotFound { has_realm, .. } => Some(if *has_realm {
                "check that url is the Run:ai control plane URL, or set auth explicitly".to_owned()
            } else {
                "check that url is the Run:ai control plane URL; for Run:ai 2.13 and older set realm".to_owned()
            }),
        }
    }
}
