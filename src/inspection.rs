//! What a token says about itself: its JWT header and claims, decoded without
//! verification, its expiry, its roles, and whether the roles fit the profile's
//! `api` (docs/commands.md#inspect). Shared by `inspect` and `doctor`; the token
//! itself is never part of it, and claims are escaped for the terminal.

use serde_json::{Value, json};

use crate::output::{self, table};
use crate::profile::{Api, ResolvedProfile};
use crate::time::{Timestamp, human_countdown};
use crate::token::{Token, jwt};

/// What `inspect` shows.
pub struct Report {
    profile: String,
    api: Api,
    api_url: Option<String>,
    length: usize,
    decoded: Option<jwt::Decoded>,
    expires_at: Option<Timestamp>,
    now: Timestamp,
    roles: Vec<String>,
    pub warnings: Vec<String>,
}

impl Report {
    pub fn new(profile: &ResolvedProfile, token: &Token, now: Timestamp) -> Self {
        let decoded = jwt::decode(token.value.expose());
        let roles = decoded.as_ref().map(jwt::Decoded::roles).unwrap_or_default();
        let expires_at = decoded
            .as_ref()
            .and_then(jwt::Decoded::exp)
            .map(Timestamp)
            .or(token.expires_at);
        let mut warnings = Vec::new();
        if let Some(problem) = roles_problem(profile.api, &roles) {
            warnings.push(problem);
        }
        if expires_at.is_some_and(|e| e <= now) {
            warnings.push("the token has expired".to_owned());
        }
        Self {
            profile: profile.name.clone(),
            api: profile.api,
            api_url: profile.api_url().map(str::to_owned),
            length: token.value.expose().len(),
            decoded,
            expires_at,
            now,
            roles,
            warnings,
        }
    }

    fn claim(&self, name: &str) -> Option<String> {
        let value = self.decoded.as_ref()?.claims.get(name)?;
        Some(match value {
            Value::String(text) => text.clone(),
            Value::Array(items) => items
                .iter()
                .map(|v| v.as_str().map(str::to_owned).unwrap_or_else(|| v.to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            other => other.to_string(),
        })
    }

    fn time_claim(&self, name: &str) -> Option<String> {
        let seconds = self.decoded.as_ref()?.claims.get(name)?.as_i64()?;
        Some(Timestamp(seconds).to_string())
    }

    pub fn table(&self) -> String {
        let mut rows: Vec<[String; 2]> = Vec::new();
        let mut row = |name: &str, value: Option<String>| {
            // Claims are the server's text: never raw control characters on a terminal.
            if let Some(value) = value {
                rows.push([name.to_owned(), output::escape_untrusted(&value)]);
            }
        };
        row("profile", Some(self.profile.clone()));
        row(
            "api",
            Some(match &self.api_url {
                Some(url) => format!("{} ({url})", self.api.as_str()),
                None => self.api.as_str().to_owned(),
            }),
        );
        match &self.decoded {
            None => row("token", Some(format!("opaque (not a JWT), {} bytes", self.length))),
            Some(decoded) => {
                let alg = decoded.header.get("alg").and_then(Value::as_str).unwrap_or("?");
                let typ = decoded
                    .header
                    .get("typ")
                    .and_then(Value::as_str)
                    .map(|t| format!(", typ {t}"))
                    .unwrap_or_default();
                let kid = decoded
                    .header
                    .get("kid")
                    .and_then(Value::as_str)
                    .map(|k| format!(", kid {k}"))
                    .unwrap_or_default();
                row("token", Some(format!("JWT, {} bytes, {alg}{typ}{kid}", self.length)));
            }
        }
        row("subject", self.claim("sub"));
        row("client", self.claim("azp").or_else(|| self.claim("client_id")));
        row("username", self.claim("preferred_username"));
        row("issuer", self.claim("iss"));
        row("audience", self.claim("aud"));
        row("scope", self.claim("scope"));
        row("issued", self.time_claim("iat"));
        row(
            "expires",
            Some(match self.expires_at {
                Some(at) => format!("{at} ({})", human_countdown(self.now.seconds_until(at))),
                None => "unknown".to_owned(),
            }),
        );
        if self.decoded.is_some() {
            row(
                "roles",
                Some(if self.roles.is_empty() {
                    "none in the token".to_owned()
                } else {
                    self.roles.join(", ")
                }),
            );
        }
        for warning in &self.warnings {
            row("warning", Some(warning.clone()));
        }
        table(&rows)
    }

    pub fn json(&self) -> Value {
        json!({
            "profile": self.profile,
            "api": self.api.as_str(),
            "apiUrl": self.api_url,
            "format": if self.decoded.is_some() { "jwt" } else { "opaque" },
            "length": self.length,
            "header": self.decoded.as_ref().map(|d| Value::Object(d.header.clone())),
            "claims": self.decoded.as_ref().map(|d| Value::Object(d.claims.clone())),
            "expiresAt": self.expires_at.map(|t| t.to_string()),
            "expiresInSeconds": self.expires_at.map(|t| self.now.seconds_until(t)),
            "roles": self.roles,
            "warnings": self.warnings,
        })
    }

    pub fn roles(&self) -> &[String] {
        &self.roles
    }
}

/// Which roles each API needs (the Run:ai application roles of the seed document).
pub fn required_roles(api: Api) -> &'static [&'static str] {
    match api {
        Api::Researcher => &["Researcher"],
        Api::Admin => &["Editor", "Administrator"],
    }
}

/// A warning when the token carries roles and none fits `api`. A token without role
/// claims gets none: newer Run:ai keeps access rules on the server.
pub fn roles_problem(api: Api, roles: &[String]) -> Option<String> {
    if roles.is_empty() {
        return None;
    }
    let needed = required_roles(api);
    let fits = roles.iter().any(|role| {
        let bare = role.rsplit(':').next().unwrap_or(role);
        needed.iter().any(|n| bare.eq_ignore_ascii_case(n))
    });
    (!fits).then(|| {
        let api_name = match api {
            Api::Researcher => "the Researcher API",
            Api::Admin => "the Administrator API",
        };
        format!(
            "the token's roles ({}) include none of {} needed for {api_name}",
            roles.join(", "),
            needed.join(" or ")
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_against_the_api() {
        let roles = |r: &[&str]| r.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(roles_problem(Api::Admin, &roles(&["Administrator"])), None);
        assert_eq!(roles_problem(Api::Admin, &roles(&["runai:editor"])), None);
        assert_eq!(roles_problem(Api::Researcher, &roles(&["Researcher", "x"])), None);
        assert_eq!(roles_problem(Api::Admin, &roles(&[])), None);
        assert_eq!(
            roles_problem(Api::Researcher, &roles(&["Editor"])).unwrap(),
            "the token's roles (Editor) include none of Researcher needed for the Researcher API"
        );
        assert_eq!(
            roles_problem(Api::Admin, &roles(&["Researcher"])).unwrap(),
            "the token's roles (Researcher) include none of Editor or Administrator needed for the Administrator API"
        );
    }
}
