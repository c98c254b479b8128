//! Exit codes (docs/commands.md#exit-codes) and the error types callers branch on.
//!
//! A leaf: it knows no subsystem. Everything else travels as `anyhow::Error` with
//! context; [`crate::classify`], at the command boundary, is the one place that maps
//! an error to an exit code and a `hint:` line.

use std::process::ExitCode;

/// The exit codes of docs/commands.md#exit-codes.
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

/// A usage or configuration error (exit 2), with an optional hint that fixes it and
/// an optional typed cause (shown after the message, as `message: cause`).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ConfigError {
    pub message: String,
    pub hint: Option<String>,
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
}

impl ConfigError {
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            hint: None,
            source: None,
        }
    }

    /// A configuration error caused by `source`, which stays typed and chained.
    pub fn caused_by(message: impl Into<String>, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self {
            source: Some(Box::new(source)),
            ..Self::new(message)
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

/// `bail!` for configuration errors: `return Err(config_error!("..."))`.
#[macro_export]
macro_rules! config_error {
    ($($arg:tt)*) => {
        anyhow::Error::new($crate::error::ConfigError::new(format!($($arg)*)))
    };
}
