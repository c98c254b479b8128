//! What a token request asks for (docs/login.md#what-is-sent): the application's
//! client credentials, or one of a person's grants, and the bytes each generation of
//! token endpoint expects for it. Pure: no I/O.

use serde::Serialize;

use crate::secret::Secret;

use super::{Endpoint, FORM, Generation, JSON, WireRequest, form, json};

/// RFC 8628's grant type for polling the token endpoint.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// One grant, with the secrets it carries.
#[derive(Clone, Copy, Debug)]
pub enum Grant<'a> {
    /// The application's client id and secret.
    ClientCredentials { secret: &'a Secret<String> },
    /// A person's username and password (Run:ai's `password`, OAuth2's ROPC).
    Password {
        username: &'a str,
        password: &'a Secret<String>,
    },
    /// A refresh token from an earlier grant.
    Refresh { refresh_token: &'a Secret<String> },
    /// The code the browser brought back, with the PKCE verifier (RFC 7636).
    AuthorizationCode {
        code: &'a Secret<String>,
        verifier: &'a Secret<String>,
        redirect_uri: &'a str,
    },
    /// RFC 8628's device code, polled for.
    DeviceCode { device_code: &'a Secret<String> },
}

impl Grant<'_> {
    /// The grant's name in the request log and messages.
    pub fn name(&self) -> &'static str {
        match self {
            Grant::ClientCredentials { .. } => "client_credentials",
            Grant::Password { .. } => "password",
            Grant::Refresh { .. } => "refresh_token",
            Grant::AuthorizationCode { .. } => "authorization_code",
            Grant::DeviceCode { .. } => DEVICE_CODE_GRANT,
        }
    }

    /// Every secret the request carries, for the log to protect.
    pub fn secrets(&self) -> Vec<&Secret<String>> {
        match *self {
            Grant::ClientCredentials { secret } => vec![secret],
            Grant::Password { password, .. } => vec![password],
            Grant::Refresh { refresh_token } => vec![refresh_token],
            Grant::AuthorizationCode { code, verifier, .. } => vec![code, verifier],
            Grant::DeviceCode { device_code } => vec![device_code],
        }
    }
}

/// A request body's fields, with every secret a closure's choice: the real value for
/// the wire, `[redacted]` for `-vvv`.
struct Fields<'a> {
    generation: Generation,
    client_id: &'a str,
    scope: &'a str,
    grant: Grant<'a>,
    client_secret: Option<&'a Secret<String>>,
}

/// `/api/v1/token` user grants, as Run:ai 2.15 and later spell them (`clientID`).
#[derive(Serialize)]
struct V1UserRequest<'a> {
    #[serde(rename = "grantType")]
    grant_type: &'a str,
    #[serde(rename = "clientID")]
    client_id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    username: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    password: Option<&'a str>,
    #[serde(rename = "refreshToken", skip_serializing_if = "Option::is_none")]
    refresh_token: Option<&'a str>,
}

impl Fields<'_> {
    fn body(&self, show: &dyn Fn(&Secret<String>) -> String) -> (String, &'static str) {
        let client_secret = self.client_secret.map(show);
        match (self.generation, self.grant) {
            (Generation::V1 | Generation::AppToken, Grant::Password { username, password }) => {
                let password = show(password);
                let request = V1UserRequest {
                    grant_type: "password",
                    client_id: self.client_id,
                    username: Some(username),
                    password: Some(&password),
                    refresh_token: None,
                };
                (json(&request), JSON)
            }
            (Generation::V1 | Generation::AppToken, Grant::Refresh { refresh_token }) => {
                let refresh_token = show(refresh_token);
                let request = V1UserRequest {
                    grant_type: "refresh_token",
                    client_id: self.client_id,
                    username: None,
                    password: None,
                    refresh_token: Some(&refresh_token),
                };
                (json(&request), JSON)
            }
            (generation, grant) => {
                let mut pairs: Vec<(&str, String)> = vec![("grant_type", grant.name().to_owned())];
                match grant {
                    Grant::ClientCredentials { .. } => {}
                    Grant::Password { username, password } => {
                        pairs.push(("username", username.to_owned()));
                        pairs.push(("password", show(password)));
                    }
                    Grant::Refresh { refresh_token } => pairs.push(("refresh_token", show(refresh_token))),
                    Grant::AuthorizationCode {
                        code,
                        verifier,
                        redirect_uri,
                    } => {
                        pairs.push(("code", show(code)));
                        pairs.push(("redirect_uri", redirect_uri.to_owned()));
                        pairs.push(("code_verifier", show(verifier)));
                    }
                    Grant::DeviceCode { device_code } => pairs.push(("device_code", show(device_code))),
                }
                // Run:ai's v2 form documents no scope; OAuth2 servers want one for a
                // refresh token (`offline_access`) and an id token (`openid`).
                let with_scope = generation != Generation::V2 && !matches!(grant, Grant::Refresh { .. });
                if with_scope && !self.scope.is_empty() {
                    pairs.push(("scope", self.scope.to_owned()));
                }
                pairs.push(("client_id", self.client_id.to_owned()));
                if let Some(secret) = client_secret {
                    pairs.push(("client_secret", secret));
                }
                let pairs: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
                (form(&pairs), FORM)
            }
        }
    }
}

impl Endpoint {
    /// The request for a person's `grant` (or an application's): the generation's
    /// wire format, scopes as one space-separated `scope`, and the client secret
    /// when the client has one.
    pub fn user_request(
        &self,
        client_id: &str,
        scope: &str,
        grant: Grant<'_>,
        client_secret: Option<&Secret<String>>,
    ) -> WireRequest {
        let fields = Fields {
            generation: self.generation,
            client_id,
            scope,
            grant,
            client_secret,
        };
        let (body, content_type) = fields.body(&|secret| secret.expose().clone());
        let (log_body, _) = fields.body(&|_| "[redacted]".to_owned());
        WireRequest {
            url: self.url.clone(),
            content_type,
            body: Secret::new(body),
            log_body,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(generation: Generation) -> Endpoint {
        Endpoint {
            generation,
            url: "https://acme.run.ai/t".into(),
        }
    }

    #[test]
    fn the_password_grant_in_each_wire_format() {
        let password = Secret::new("p&ss word".to_owned());
        let grant = Grant::Password {
            username: "alice@acme.com",
            password: &password,
        };
        let v2 = endpoint(Generation::V2).user_request("runai-cli", "openid offline_access", grant, None);
        assert_eq!(v2.content_type, FORM);
        assert_eq!(
            v2.body.expose(),
            "grant_type=password&username=alice%40acme.com&password=p%26ss+word&client_id=runai-cli"
        );
        assert_eq!(
            v2.log_body,
            "grant_type=password&username=alice%40acme.com&password=%5Bredacted%5D&client_id=runai-cli"
        );
        let v1 = endpoint(Generation::V1).user_request("runai-cli", "openid", grant, None);
        assert_eq!(v1.content_type, JSON);
        assert_eq!(
            v1.body.expose(),
            r#"{"grantType":"password","clientID":"runai-cli","username":"alice@acme.com","password":"p&ss word"}"#
        );
        let keycloak = endpoint(Generation::Keycloak).user_request("runai-cli", "openid offline_access", grant, None);
        assert_eq!(
            keycloak.body.expose(),
            "grant_type=password&username=alice%40acme.com&password=p%26ss+word&scope=openid+offline_access&client_id=runai-cli"
        );
    }

    #[test]
    fn the_refresh_grant_in_each_wire_format() {
        let refresh = Secret::new("rt-1".to_owned());
        let grant = Grant::Refresh {
            refresh_token: &refresh,
        };
        assert_eq!(
            endpoint(Generation::V2)
                .user_request("c", "openid", grant, None)
                .body
                .expose(),
            "grant_type=refresh_token&refresh_token=rt-1&client_id=c"
        );
        assert_eq!(
            endpoint(Generation::V1)
                .user_request("c", "openid", grant, None)
                .body
                .expose(),
            r#"{"grantType":"refresh_token","clientID":"c","refreshToken":"rt-1"}"#
        );
        let secret = Secret::new("cs".to_owned());
        let confidential = endpoint(Generation::OAuth2).user_request("c", "openid", grant, Some(&secret));
        assert_eq!(
            confidential.body.expose(),
            "grant_type=refresh_token&refresh_token=rt-1&client_id=c&client_secret=cs"
        );
        assert_eq!(
            confidential.log_body,
            "grant_type=refresh_token&refresh_token=%5Bredacted%5D&client_id=c&client_secret=%5Bredacted%5D"
        );
    }

    #[test]
    fn the_code_and_device_grants_are_oauth2_forms() {
        let code = Secret::new("c0de".to_owned());
        let verifier = Secret::new("v3rifier".to_owned());
        let grant = Grant::AuthorizationCode {
            code: &code,
            verifier: &verifier,
            redirect_uri: "http://127.0.0.1:43121/callback",
        };
        let request = endpoint(Generation::OAuth2).user_request("c", "openid", grant, None);
        assert_eq!(
            request.body.expose(),
            "grant_type=authorization_code&code=c0de&redirect_uri=http%3A%2F%2F127.0.0.1%3A43121%2Fcallback\
             &code_verifier=v3rifier&scope=openid&client_id=c"
        );
        assert!(!request.log_body.contains("c0de") && !request.log_body.contains("v3rifier"));
        let device = Secret::new("dev1ce".to_owned());
        let polled =
            endpoint(Generation::OAuth2).user_request("c", "", Grant::DeviceCode { device_code: &device }, None);
        assert_eq!(
            polled.body.expose(),
            "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Adevice_code&device_code=dev1ce&client_id=c"
        );
    }
}
