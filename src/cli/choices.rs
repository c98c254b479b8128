//! The CLI's spellings of the profile model's enums: the model knows no clap, and
//! each value's help text is the CLI's.

use clap::ValueEnum;

use crate::profile::{Api, AuthMode, GrantType, TokenField};

/// `--api`: the CLI's spelling of [`Api`] (the profile model knows no clap).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ApiChoice {
    /// The Administrator REST API, on the control plane (`url`)
    Admin,
    /// The Researcher REST API, on a cluster (`researcher-url`)
    Researcher,
}

impl From<ApiChoice> for Api {
    fn from(choice: ApiChoice) -> Self {
        match choice {
            ApiChoice::Admin => Api::Admin,
            ApiChoice::Researcher => Api::Researcher,
        }
    }
}

/// `--auth`: the CLI's spelling of [`AuthMode`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum AuthChoice {
    /// Detect: v2, v1, app-token, then keycloak (with realm)
    Auto,
    /// POST /api/v2/token, OAuth2 form (Run:ai 2.24+, SaaS)
    V2,
    /// POST /api/v1/token, JSON client_credentials (Run:ai 2.20-2.23)
    V1,
    /// POST /api/v1/token, JSON app_token (Run:ai about 2.15-2.19)
    AppToken,
    /// The Keycloak realm's token endpoint (Run:ai 2.13 and older)
    Keycloak,
}

impl From<AuthChoice> for AuthMode {
    fn from(choice: AuthChoice) -> Self {
        match choice {
            AuthChoice::Auto => AuthMode::Auto,
            AuthChoice::V2 => AuthMode::V2,
            AuthChoice::V1 => AuthMode::V1,
            AuthChoice::AppToken => AuthMode::AppToken,
            AuthChoice::Keycloak => AuthMode::Keycloak,
        }
    }
}

/// `--token-field`: the CLI's spelling of [`TokenField`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TokenFieldChoice {
    #[value(name = "access_token")]
    AccessToken,
    #[value(name = "id_token")]
    IdToken,
}

impl From<TokenFieldChoice> for TokenField {
    fn from(choice: TokenFieldChoice) -> Self {
        match choice {
            TokenFieldChoice::AccessToken => TokenField::AccessToken,
            TokenFieldChoice::IdToken => TokenField::IdToken,
        }
    }
}

/// `--grant`: the CLI's spelling of [`GrantType`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GrantChoice {
    /// The application's client id and secret
    ClientCredentials,
    /// A person's username and password, asked for at login
    Password,
    /// A browser sign-in (PKCE), redirected to a loopback address
    AuthorizationCode,
    /// A code entered in a browser anywhere (RFC 8628)
    DeviceCode,
}

impl From<GrantChoice> for GrantType {
    fn from(choice: GrantChoice) -> Self {
        match choice {
            GrantChoice::ClientCredentials => GrantType::ClientCredentials,
            GrantChoice::Password => GrantType::Password,
            GrantChoice::AuthorizationCode => GrantType::AuthorizationCode,
            GrantChoice::DeviceCode => GrantType::DeviceCode,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn choices_spell_the_models_values() {
        for choice in ApiChoice::value_variants() {
            let name = choice.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(Api::from(*choice).as_str(), name);
        }
        for choice in AuthChoice::value_variants() {
            let name = choice.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(AuthMode::from(*choice).as_str(), name);
        }
        for choice in TokenFieldChoice::value_variants() {
            let name = choice.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(TokenField::from(*choice).as_str(), name);
        }
        for choice in GrantChoice::value_variants() {
            let name = choice.to_possible_value().unwrap().get_name().to_owned();
            assert_eq!(GrantType::from(*choice).as_str(), name);
        }
    }
}
