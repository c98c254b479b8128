//! Decoding a JSON Web Token's header and claims, without verifying anything: the
//! plugin only reads `exp` (expiry when the endpoint gives no lifetime) and shows
//! claims to the user (`inspect`). Verification is the API server's job.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Map, Value};

/// A token's decoded header and claims.
#[derive(Clone, Debug, PartialEq)]
pub struct Decoded {
    pub header: Map<String, Value>,
    pub claims: Map<String, Value>,
}

/// Decodes `token` as a JWS compact serialization (`header.claims.signature`).
/// `None` for anything else: an opaque token is not an error.
pub fn decode(token: &str) -> Option<Decoded> {
    let mut parts = token.split('.');
    let (header, claims, _signature) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() {
        return None;
    }
    Some(Decoded {
        header: json_object(header)?,
        claims: json_object(claims)?,
    })
}

fn json_object(part: &str) -> Option<Map<String, Value>> {
    // Padding is not allowed in JWS, but some issuers add it anyway.
    let bytes = URL_SAFE_NO_PAD.decode(part.trim_end_matches('=')).ok()?;
    match serde_json::from_slice(&bytes).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

impl Decoded {
    /// The `exp` claim, seconds since the epoch.
    pub fn exp(&self) -> Option<i64> {
        numeric(self.claims.get("exp")?)
    }

    /// Keycloak roles: `realm_access.roles`, and `resource_access.<client>.roles`
    /// as `<client>:<role>`.
    pub fn roles(&self) -> Vec<String> {
        let list = |value: Option<&Value>| -> Vec<String> {
            value
                .and_then(|v| v.get("roles"))
                .and_then(Value::as_array)
                .map(|roles| roles.iter().filter_map(|r| r.as_str().map(str::to_owned)).collect())
                .unwrap_or_default()
        };
        let mut roles = list(self.claims.get("realm_access"));
        if let Some(Value::Object(resources)) = self.claims.get("resource_access") {
            for (client, access) in resources {
                roles.extend(list(Some(access)).into_iter().map(|role| format!("{client}:{role}")));
            }
        }
        roles
    }
}

fn numeric(value: &Value) -> Option<i64> {
    value.as_i64().or_else(|| value.as_f64().map(|f| f as i64))
}

#[cfg(test)]
pub(crate) fn encode_unsigned(claims: &Value) -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"ES256","typ":"JWT"}"#);
    let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{header}.{claims}.c2lnbmF0dXJl")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn decodes_claims_and_roles() {
        let token = encode_unsigned(&json!({
            "exp": 1_900_000_000, "iat": 1_899_996_400, "sub": "ci-bot", "aud": ["runai", "x"],
            "realm_access": {"roles": ["Researcher", "Editor"]},
            "resource_access": {"runai": {"roles": ["viewer"]}}
        }));
        let decoded = decode(&token).unwrap();
        assert_eq!(decoded.header["alg"], "ES256");
        assert_eq!(decoded.exp(), Some(1_900_000_000));
        assert_eq!(decoded.claims["aud"], serde_json::json!(["runai", "x"]));
        assert_eq!(decoded.roles(), ["Researcher", "Editor", "runai:viewer"]);
    }

    #[test]
    fn opaque_tokens_are_not_jwts() {
        for opaque in ["abc", "a.b.c", "a.b", "", "eyJ.eyJ.x.y"] {
            assert_eq!(decode(opaque), None, "{opaque}");
        }
    }
}
