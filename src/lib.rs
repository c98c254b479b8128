//! kubectl-runai-token: Run:ai REST API tokens for people, scripts and kubectl.
//!
//! # The flow
//!
//! command line ([`cli`]) -> [`paths::Paths`] -> profiles file ([`profile`]) ->
//! [`profile::ResolvedProfile`] -> token cache (hit) or token endpoint ([`token`], miss)
//! -> [`token::Token`] -> [`output`]. Each step takes its inputs as arguments (the
//! environment, the clock, the HTTP client); none reads globals.
//!
//! # The stdout contract
//!
//! stdout carries the requested output and nothing else, and nothing at all on
//! failure: kubectl parses an exec plugin's stdout. Diagnostics go to stderr, which
//! is empty on success at default verbosity (the `insecure-skip-tls-verify` warning
//! aside). No secret and no token reaches stderr at any verbosity.
//!
//! # Exit codes
//!
//! 0 success, 1 any other failure, 2 usage or configuration, 3 credentials rejected
//! by the token endpoint, 4 token endpoint unusable, 5 `api`: error status from the
//! Run:ai API. See [`error::Exit`].

pub mod cache;
pub mod cli;
pub mod cmd;
pub mod error;
pub mod exec_credential;
pub mod fleet;
pub mod fsutil;
pub mod inspection;
pub mod kubeconfig;
pub mod login;
pub mod nesting;
pub mod net;
pub mod output;
pub mod paths;
pub mod profile;
pub mod secret;
pub mod time;
pub mod token;

use std::ffi::OsString;

use clap::{CommandFactory, Parser};

use crate::cli::{Cli, Command, GlobalArgs, SecretCommand};
use crate::error::{ApiStatusError, ConfigError, Exit, Reported};
use crate::output::Log;
use crate::paths::{Env, Paths};
use crate::token::TokenError;

/// What every command gets: the global flags, the environment and the log.
pub struct Context<'a> {
    pub global: &'a GlobalArgs,
    pub env: &'a Env,
    pub log: &'a Log,
}

impl Context<'_> {
    /// The paths of docs/profiles.md#where-it-is.
    pub fn paths(&self) -> anyhow::Result<Paths> {
        Paths::resolve(
            self.global.profiles_file.as_deref(),
            self.global.cache_dir.as_deref(),
            self.env,
        )
    }
}

/// Parses `args` and runs the command. Errors are returned for `main` to print.
pub fn run(args: impl IntoIterator<Item = OsString>, env: &Env, log: &Log) -> anyhow::Result<Exit> {
    let args: Vec<OsString> = args.into_iter().collect();
    if let Some((global, get)) = cli::fast_get(&args, |name| std::env::var_os(name)) {
        log.set_level(global.verbose);
        return cmd::get::run(
            &Context {
                global: &global,
                env,
                log,
            },
            &get,
        );
    }
    let cli = match Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(err) => return clap_outcome(err, &args),
    };
    log.set_level(cli.global.verbose);
    let Some(command) = cli.command else {
        // Like kubectl: no command shows the help, on stdout.
        output::stdout(&format!("{}\n", Cli::command().render_long_help()))?;
        return Ok(Exit::Success);
    };
    let ctx = Context {
        global: &cli.global,
        env,
        log,
    };
    match command {
        Command::Get(args) => cmd::get::run(&ctx, &args),
        Command::Setup(args) => cmd::setup::run(&ctx, args),
        Command::Profile(command) => cmd::profile::run(&ctx, command),
        Command::Cache(command) => cmd::cache::run(&ctx, command),
        Command::Login(args) => cmd::login::run(&ctx, &args),
        Command::Logout(args) => cmd::login::logout(&ctx, &args),
        Command::Inspect(args) => cmd::inspect::run(&ctx, &args),
        Command::Api(args) => cmd::api::run(&ctx, args),
        Command::Doctor(args) => cmd::doctor::run(&ctx, &args),
        Command::Secret(SecretCommand::Apply(args)) => cmd::secret::apply(&ctx, &args),
        Command::Secret(SecretCommand::Run(args)) => cmd::secret::run(&ctx, &args),
        Command::Completion(args) => {
            let mut buffer = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "kubectl-runai_token", &mut buffer);
            output::stdout_bytes(&buffer)?;
            Ok(Exit::Success)
        }
        Command::Version => {
            output::stdout(&format!("{}\n", version_line()))?;
            Ok(Exit::Success)
        }
    }
}

/// The exit code and the hint for an error, from the first cause that names one.
pub fn classify(err: &anyhow::Error) -> (Exit, Option<String>) {
    for cause in err.chain() {
        if let Some(config) = cause.downcast_ref::<ConfigError>() {
            return (Exit::Usage, config.hint.clone());
        }
        if let Some(token) = cause.downcast_ref::<TokenError>() {
            let exit = match token {
                TokenError::Rejected { .. } | TokenError::LoginNeeded { .. } => Exit::Rejected,
                TokenError::Unavailable { .. } | TokenError::NotFound { .. } | TokenError::Pending { .. } => {
                    Exit::Unavailable
                }
            };
            return (exit, token.hint());
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

/// `kubectl-runai-token 0.1.0 (commit abc1234, x86_64-unknown-linux-gnu)`.
pub fn version_line() -> String {
    format!(
        "kubectl-runai-token {} (commit {}, {})",
        env!("CARGO_PKG_VERSION"),
        env!("RUNAI_TOKEN_COMMIT"),
        env!("RUNAI_TOKEN_TARGET")
    )
}

/// `--help` and `--version` print to stdout and succeed; every other clap error
/// becomes one `error:` line (exit 2) with clap's tip or the valid values as hint.
fn clap_outcome(err: clap::Error, args: &[OsString]) -> anyhow::Result<Exit> {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            output::stdout(&err.render().to_string())?;
            return Ok(Exit::Success);
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // `kubectl runai-token profile`: name the commands it takes.
            let mut command = Cli::command();
            let mut path = vec!["kubectl runai-token".to_owned()];
            for word in args
                .iter()
                .skip(1)
                .filter_map(|a| a.to_str())
                .filter(|a| !a.starts_with('-'))
            {
                let Some(sub) = command.find_subcommand(word).cloned() else {
                    break;
                };
                path.push(word.to_owned());
                command = sub;
            }
            let names: Vec<String> = command.get_subcommands().map(|c| c.get_name().to_owned()).collect();
            return Err(
                ConfigError::new(format!("{} needs a command: {}", path.join(" "), names.join(", ")))
                    .with_hint(format!("{} --help", path.join(" ")))
                    .into(),
            );
        }
        _ => {}
    }
    let rendered = err.render().to_string();
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or("invalid arguments");
    let mut message = first.strip_prefix("error: ").unwrap_or(first).to_owned();
    if message.ends_with(':') {
        // clap lists what it means on the next lines ("required arguments were not
        // provided:\n  <ARGS>..."): keep them on the one error line.
        let listed: Vec<&str> = lines.take_while(|l| !l.trim().is_empty()).map(str::trim).collect();
        message = format!("{message} {}", listed.join(", "));
    }
    let mut hints = Vec::new();
    if let Some(ContextValue::Strings(valid)) = err.get(ContextKind::ValidValue) {
        hints.push(format!("possible values: {}", valid.join(", ")));
    }
    for line in rendered.lines().skip(1) {
        if let Some(tip) = line.trim().strip_prefix("tip: ") {
            hints.push(tip.to_owned());
        }
    }
    let hint = if hints.is_empty() {
        "see --help".to_owned()
    } else {
        hints.join("; ")
    };
    Err(ConfigError::new(message).with_hint(hint).into())
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
