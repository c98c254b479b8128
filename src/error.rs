//! Exit codes (SPEC section 9) and the error types callers branch on.
//!
//! Everything else travels as `anyhow::Error` with context. `main` asks [`classify`]
//! for the exit code and the optional `hint:` line; nothing else picks exit codes.

use std::process::ExitCode;

use crate::token::TokenError;

/// The exit codes of SPEC section 9.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Success = 0,
    /// Any other failure.
    Failure = 1,
    /// Usage or configuration: bad flags, unknown profile, unsafe profiles file,
    /// missing secret source, kubeconfig that cannot be read or written.
    Usage = 2,
    /// The token endpoint rejected the credentials.
    Rejected = 3,
    /// The token endpoint could not be used.
    Unavailable = 4,
    /// `api`: the Run:ai API answered with an error status.
    ApiStatus = 5,
}

impl From<Exit> for ExitCode {
    fn from(exit: Exit) -> Self {
        ExitCode::from(exit as u8)
    }
}

/// A usage or configuration error (exit 2), with an optional hint that fixes it.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: String,
    pub hint: Option<String>,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// `api`: the Run:ai API answered with a status that is not 2xx (exit 5).
#[derive(Debug, thiserror::Error)]
#[error("{method} {url} answered {status}")]
pub struct ApiStatusError {
    pub method: String,
    pub url: String,
    pub status: String,
    pub hint: Option<String>,
}

/// An error that has already been reported in full on stderr (doctor's failing
/// checks): `main` prints no `error:` line for it, only exits with its code.
#[derive(Debug, thiserror::Error)]
#[error("{summary}")]
pub struct Reported {
    pub summary: String,
}

/// The exit code and the hint for an error, from the first cause that names one.
pub fn classify(err: &anyhow::Error) -> (Exit, Option<String>) {
    for cause in err.chain() {
        if let Some(config) = cause.downcast_ref::<ConfigError>() {
            return (Exit::Usage, config.hint.clone());
        }
        if let Some(token) = cause.downcast_ref::<TokenError>() {
            return (token.exit(), token.hint());
        }
        if let Some(api) = cause.downcast_ref::<ApiStatusError>() {
            return (Exit::ApiStatus, api.hint.clone());
        }
        if cause.downcast_ref::<Reported>().is_some() {
            return (Exit::Failure, None);
        }
    }
    (Exit::Failure, None)
}

/// Whether `main` should print the `error:` line for this error.
pub fn is_reported(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| cause.downcast_ref::<Reported>().is_some())
}

/// `bail!` for configuration errors: `return Err(config_error!("..."))`.
#[macro_export]
macro_rules! config_error {
    ($($arg:tt)*) => {
        anyhow::Error::new($crate::error::ConfigError::new(format!($($arg)*)))
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    #[test]
    fn classify_finds_the_config_error_under_context() {
        let err = Err::<(), _>(ConfigError::new("bad key").with_hint("fix it"))
            .context("loading profiles")
            .unwrap_err();
        assert_eq!(classify(&err), (Exit::Usage, Some("fix it".to_owned())));
        assert_eq!(format!("{err:#}"), "loading profiles: bad key");
    }

    #[test]
    fn plain_errors_exit_1() {
        assert_eq!(classify(&anyhow::anyhow!("boom")), (Exit::Failure, None));
    }
}
