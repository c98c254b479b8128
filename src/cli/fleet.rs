//! `secret apply` and `secret run` (docs/commands.md#secret-apply-and-secret-run): a profile's token kept
//! in a Kubernetes Secret (docs/fleet.md).

use std::path::PathBuf;

use clap::{Args, Subcommand};

use crate::time::GoDuration;

#[derive(Debug, Subcommand)]
pub enum SecretCommand {
    /// Write the profile's token into a Secret (server-side apply), unless it holds one valid long enough
    Apply(SecretApplyArgs),
    /// Keep the Secret's token fresh until SIGTERM: apply, then renew at a fraction of each token's lifetime
    Run(SecretRunArgs),
}

/// What `apply` and `run` share: the Secret, and how to reach its cluster.
#[derive(Debug, Args)]
pub struct SecretArgs {
    /// Namespace of the Secret (where the pods that mount it run)
    #[arg(short, long, value_name = "NS", value_parser = parse_namespace)]
    pub namespace: String,

    /// Name of the Secret
    #[arg(long, value_name = "NAME", value_parser = parse_name)]
    pub name: String,

    /// Key of the Secret's data that holds the token
    #[arg(long, value_name = "KEY", default_value = "token", value_parser = parse_key)]
    pub key: String,

    /// Leave a token in place that is valid at least this long [default: apply, a third of its lifetime; run, 1 - F of it]
    #[arg(long, value_name = "DURATION")]
    pub min_validity: Option<GoDuration>,

    /// Take over a Secret that exists and is not managed by the plugin
    #[arg(long)]
    pub force: bool,

    /// Kubeconfig context of the cluster [default: the current context]
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// Kubeconfig file [default: $KUBECONFIG, ~/.kube/config, else the pod's service account]
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SecretApplyArgs {
    #[command(flatten)]
    pub secret: SecretArgs,

    /// Print the Secret that would be applied (the token redacted) and write nothing
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct SecretRunArgs {
    #[command(flatten)]
    pub secret: SecretArgs,

    /// Renew when this fraction of the token's lifetime has passed (between 0 and 1)
    #[arg(long, value_name = "F", default_value = "0.5", value_parser = parse_fraction)]
    pub interval_fraction: f64,
}

/// `text` when `valid` says so, else the rule it breaks.
fn checked(text: &str, valid: fn(&str) -> bool, rule: &str) -> Result<String, String> {
    if valid(text) {
        Ok(text.to_owned())
    } else {
        Err(rule.to_owned())
    }
}

fn parse_name(text: &str) -> Result<String, String> {
    checked(
        text,
        crate::fleet::valid_name,
        "a Secret's name is lowercase letters, digits, '-' and '.' (RFC 1123), at most 253 characters",
    )
}

fn parse_namespace(text: &str) -> Result<String, String> {
    checked(
        text,
        crate::fleet::valid_namespace,
        "a namespace is lowercase letters, digits and '-' (RFC 1123 label), at most 63 characters",
    )
}

fn parse_key(text: &str) -> Result<String, String> {
    checked(
        text,
        crate::fleet::valid_key,
        "a Secret's key is letters, digits, '-', '_' and '.', at most 253 characters",
    )
}

fn parse_fraction(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(f) if f > 0.0 && f < 1.0 => Ok(f),
        _ => Err("a fraction between 0 and 1, such as 0.5".into()),
    }
}
