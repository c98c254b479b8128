//! The arguments of `get` and the flags every command takes: what both parsers
//! fill, the full one ([`super::Cli`]) and `get`'s fast one ([`super::fast`]).

use std::path::PathBuf;

#[cfg(test)]
use clap::Parser;
use clap::{ArgAction, Args, ValueEnum};

use crate::exec_credential::ExecApiVersion;
use crate::time::GoDuration;

/// `get` alone, as the fast parser's tests see clap's definition of it
/// ([`super::fast`]).
#[cfg(test)]
#[derive(Debug, Parser)]
#[command(name = "kubectl-runai-token", bin_name = "kubectl runai-token")]
pub(super) struct GetOnly {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(flatten)]
    pub get: GetArgs,
}

/// Flags every command accepts, before or after the command name.
#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// Profiles file [default: runai-profiles.yaml beside the first kubeconfig]
    #[arg(long, global = true, env = "RUNAI_PROFILES_FILE", value_name = "PATH")]
    pub profiles_file: Option<PathBuf>,

    /// Token cache directory [default: $KUBECACHEDIR/runai-token or ~/.kube/cache/runai-token]
    #[arg(long, global = true, env = "RUNAI_TOKEN_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,

    /// Profile to use [default: the file's current-profile, or its only profile]
    #[arg(short, long, global = true, env = "RUNAI_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,

    /// More output on stderr: -v decisions, -vv HTTP exchanges, -vvv headers and bodies
    /// (secrets and tokens are always redacted)
    #[arg(short, long, global = true, action = ArgAction::Count)]
    pub verbose: u8,
}

/// How `get` prints the token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// The bare token and a newline
    Token,
    /// A client-go ExecCredential (one line of JSON)
    ExecCredential,
    /// profile, api, apiUrl, tokenType, accessToken, expiresAt, source
    Json,
    /// Authorization: Bearer TOKEN
    Header,
    /// export RUNAI_TOKEN=... and RUNAI_API_URL=... for a shell
    Env,
}

#[derive(Debug, Args)]
pub struct GetArgs {
    /// Output format [default: exec-credential when KUBERNETES_EXEC_INFO is set, else token]
    #[arg(short, long, value_enum, value_name = "FORMAT")]
    pub output: Option<OutputFormat>,

    /// ExecCredential apiVersion when KUBERNETES_EXEC_INFO does not name one
    /// (client.authentication.k8s.io/v1 or /v1beta1) [default: v1]
    #[arg(long, value_name = "VERSION", value_parser = parse_exec_api_version)]
    pub exec_api_version: Option<ExecApiVersion>,

    /// Get a new token even if a cached one is still valid, and cache it
    #[arg(long)]
    pub force_refresh: bool,

    /// Neither read nor write the token cache
    #[arg(long, conflicts_with = "force_refresh")]
    pub no_cache: bool,

    /// Renew a cached token with less than this left; the ExecCredential expires this
    /// much before the token does, so clients renew in time
    #[arg(long, value_name = "DURATION", default_value = DEFAULT_MIN_VALIDITY)]
    pub min_validity: GoDuration,
}

/// `get --min-validity`'s default.
pub const DEFAULT_MIN_VALIDITY: &str = "60s";

/// The value parser of `--exec-api-version` (here and in `setup`).
pub(super) fn parse_exec_api_version(text: &str) -> Result<ExecApiVersion, String> {
    text.parse()
}
