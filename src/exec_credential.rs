//! The client-go exec credential protocol: the `KUBERNETES_EXEC_INFO` input and the
//! `ExecCredential` this plugin prints. Field names and rules follow
//! <https://kubernetes.io/docs/reference/config-api/client-authentication.v1/> and
//! client-go `pkg/apis/clientauthentication/v1/types.go`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::ConfigError;
use crate::time::Timestamp;

pub const KIND: &str = "ExecCredential";

/// The two versions client-go accepts (`v1alpha1` was removed in Kubernetes 1.24).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum ExecApiVersion {
    #[default]
    V1,
    V1Beta1,
}

impl ExecApiVersion {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecApiVersion::V1 => "client.authentication.k8s.io/v1",
            ExecApiVersion::V1Beta1 => "client.authentication.k8s.io/v1beta1",
        }
    }

    /// `v1` or `v1beta1`, as `--exec-api-version` takes it.
    pub fn short(self) -> &'static str {
        match self {
            ExecApiVersion::V1 => "v1",
            ExecApiVersion::V1Beta1 => "v1beta1",
        }
    }

    const SUPPORTED: &'static str = "client.authentication.k8s.io/v1, client.authentication.k8s.io/v1beta1";
}

impl fmt::Display for ExecApiVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for ExecApiVersion {
    type Err = String;

    /// The full apiVersion, or `v1` / `v1beta1` for short.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "client.authentication.k8s.io/v1" | "v1" => Ok(ExecApiVersion::V1),
            "client.authentication.k8s.io/v1beta1" | "v1beta1" => Ok(ExecApiVersion::V1Beta1),
            other => Err(format!(
                "unsupported exec credential apiVersion {other:?} (supported: {})",
                Self::SUPPORTED
            )),
        }
    }
}

/// What client-go passes in `KUBERNETES_EXEC_INFO`: an `ExecCredential` with a
/// `spec` (`interactive`, and `cluster` with provideClusterInfo) and never a `status`.
/// The version, and whether a person can answer a prompt (a user grant's login).
#[derive(Debug, Deserialize)]
struct ExecInfo {
    #[serde(rename = "apiVersion")]
    api_version: Option<String>,
    kind: Option<String>,
    spec: Option<ExecInfoSpec>,
}

#[derive(Debug, Deserialize)]
struct ExecInfoSpec {
    interactive: Option<bool>,
}

/// Whether `KUBERNETES_EXEC_INFO` says the client connected a person's terminal
/// (`spec.interactive: true`). Anything else, or text that does not parse, is no.
pub fn interactive_from_exec_info(text: &str) -> bool {
    serde_json::from_str::<ExecInfo>(text)
        .ok()
        .and_then(|info| info.spec?.interactive)
        .unwrap_or(false)
}

/// The apiVersion to answer with, from `KUBERNETES_EXEC_INFO`.
pub fn version_from_exec_info(text: &str) -> Result<ExecApiVersion, ConfigError> {
    let info: ExecInfo = serde_json::from_str(text)
        .map_err(|err| ConfigError::new(format!("KUBERNETES_EXEC_INFO is not an ExecCredential: {err}")))?;
    if let Some(kind) = info.kind.as_deref().filter(|k| *k != KIND) {
        return Err(ConfigError::new(format!(
            "KUBERNETES_EXEC_INFO has kind {kind:?}, not {KIND:?}"
        )));
    }
    let version = info
        .api_version
        .ok_or_else(|| ConfigError::new("KUBERNETES_EXEC_INFO has no apiVersion"))?;
    version.parse().map_err(|err: String| {
        ConfigError::new(format!("KUBERNETES_EXEC_INFO: {err}"))
            .with_hint("set users[].user.exec.apiVersion in kubeconfig to client.authentication.k8s.io/v1")
    })
}

/// The plugin's answer.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecCredential {
    #[serde(rename = "apiVersion")]
    pub api_version: String,
    pub kind: String,
    pub status: ExecCredentialStatus,
}

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct ExecCredentialStatus {
    /// The bearer token.
    pub token: String,
    /// When client-go must run the plugin again; RFC 3339, UTC. Omitted when the
    /// expiry is unknown (client-go then keeps the token for the process's life).
    #[serde(rename = "expirationTimestamp", default, skip_serializing_if = "Option::is_none")]
    pub expiration_timestamp: Option<String>,
}

/// One line of JSON, newline-terminated. An error (never seen: the fields are
/// strings) propagates: an empty ExecCredential must never be printed with exit 0.
pub fn render(version: ExecApiVersion, token: &str, expiration: Option<Timestamp>) -> serde_json::Result<String> {
    let credential = ExecCredential {
        api_version: version.as_str().to_owned(),
        kind: KIND.to_owned(),
        status: ExecCredentialStatus {
            token: token.to_owned(),
            expiration_timestamp: expiration.map(|t| t.to_string()),
        },
    };
    let mut line = serde_json::to_string(&credential)?;
    line.push('\n');
    Ok(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_exactly_one_line() {
        assert_eq!(
            render(ExecApiVersion::V1, "T0k", Some(Timestamp(1_520_271_020))).unwrap(),
            "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"status\":{\"token\":\"T0k\",\"expirationTimestamp\":\"2018-03-05T17:30:20Z\"}}\n"
        );
        assert_eq!(
            render(ExecApiVersion::V1Beta1, "T", None).unwrap(),
            "{\"apiVersion\":\"client.authentication.k8s.io/v1beta1\",\"kind\":\"ExecCredential\",\"status\":{\"token\":\"T\"}}\n"
        );
    }

    #[test]
    fn reads_back_what_client_go_reads() {
        let text = r#"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"T","expirationTimestamp":"2018-03-05T17:30:20Z"}}"#;
        let parsed: ExecCredential = serde_json::from_str(text).unwrap();
        assert_eq!(parsed.status.token, "T");
        assert_eq!(
            parsed.status.expiration_timestamp.as_deref(),
            Some("2018-03-05T17:30:20Z")
        );
        assert_eq!(
            render(ExecApiVersion::V1, "T", Some(Timestamp(1_520_271_020)))
                .unwrap()
                .trim_end(),
            text
        );
    }

    #[test]
    fn negotiates_from_exec_info() {
        let v1 =
            r#"{"kind":"ExecCredential","apiVersion":"client.authentication.k8s.io/v1","spec":{"interactive":false}}"#;
        assert_eq!(version_from_exec_info(v1).unwrap(), ExecApiVersion::V1);
        let beta = r#"{"apiVersion":"client.authentication.k8s.io/v1beta1","kind":"ExecCredential","spec":{"cluster":{"server":"https://172.17.4.100:6443","certificate-authority-data":"LS0t","config":{"arbitrary":"config"}},"interactive":true}}"#;
        assert!(interactive_from_exec_info(beta));
        assert!(!interactive_from_exec_info(v1));
        assert!(!interactive_from_exec_info("not json"));
        assert_eq!(version_from_exec_info(beta).unwrap(), ExecApiVersion::V1Beta1);
        let alpha = r#"{"apiVersion":"client.authentication.k8s.io/v1alpha1","kind":"ExecCredential"}"#;
        assert_eq!(
            version_from_exec_info(alpha).unwrap_err().to_string(),
            "KUBERNETES_EXEC_INFO: unsupported exec credential apiVersion \"client.authentication.k8s.io/v1alpha1\" \
             (supported: client.authentication.k8s.io/v1, client.authentication.k8s.io/v1beta1)"
        );
        assert!(version_from_exec_info("not json").is_err());
    }

    #[test]
    fn short_names_parse() {
        assert_eq!("v1beta1".parse(), Ok(ExecApiVersion::V1Beta1));
        assert!("v2".parse::<ExecApiVersion>().is_err());
    }
}
