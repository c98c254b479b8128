//! The command line (docs/commands.md): clap derive, one args struct per command.
//! Raw values only: resolution (paths, profiles, defaults that depend on the
//! environment) happens after parsing, in the commands.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exec_credential::ExecApiVersion;
mod choices;
mod fast;
mod fleet;
mod get;

use crate::time::GoDuration;
pub use choices::{ApiChoice, AuthChoice, GrantChoice, TokenFieldChoice};
pub use fast::fast_get;
pub use fleet::{SecretApplyArgs, SecretArgs, SecretCommand, SecretRunArgs};
use get::parse_exec_api_version;
pub use get::{DEFAULT_MIN_VALIDITY, GetArgs, GlobalArgs, OutputFormat};

const ABOUT: &str = "Run:ai REST API tokens for people, scripts and kubectl";

const LONG_ABOUT: &str = "\
Gets Run:ai REST API tokens with an application's (service account's, access key's) \
client id and secret, caches them, and hands them out: to people and scripts \
(`get`), and to kubectl and every Kubernetes client as a kubeconfig exec credential \
provider (`setup`).

Profiles live in runai-profiles.yaml beside kubeconfig.";

#[derive(Debug, Parser)]
#[command(
    name = "kubectl-runai-token",
    bin_name = "kubectl runai-token",
    version,
    about = ABOUT,
    long_about = LONG_ABOUT,
    propagate_version = true,
    disable_help_subcommand = true,
    max_term_width = 100
)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print a token for the profile
    #[command(visible_alias = "get-token")]
    Get(GetArgs),

    /// Write an exec user (and optionally a context) into kubeconfig
    Setup(SetupArgs),

    /// Manage the profiles file
    #[command(subcommand)]
    Profile(ProfileCommand),

    /// Show or delete cached tokens
    #[command(subcommand)]
    Cache(CacheCommand),

    /// Sign in as a person (profiles with a user grant)
    Login(LoginArgs),

    /// Sign out: delete the session and its tokens, and revoke the refresh token
    Logout(LogoutArgs),

    /// Decode the token's JWT header and claims (no verification)
    Inspect(InspectArgs),

    /// Call the Run:ai API with the token
    Api(ApiArgs),

    /// Check everything between the profile and a working kubectl
    Doctor(DoctorArgs),

    /// Keep the token in a Kubernetes Secret, for pods that mount it
    #[command(subcommand)]
    Secret(SecretCommand),

    /// Print shell completion code
    Completion(CompletionArgs),

    /// Print the version, commit and target
    Version,
}

#[derive(Debug, Args)]
pub struct SetupArgs {
    /// kubeconfig user to write [default: runai-<profile>]
    #[arg(long, value_name = "NAME")]
    pub user: Option<String>,

    /// Also create or update this context, with the user
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,

    /// The context's cluster (required for a new context)
    #[arg(long, value_name = "NAME", requires = "context")]
    pub cluster: Option<String>,

    /// Make the context the current one
    #[arg(long, requires = "context")]
    pub set_current: bool,

    /// kubeconfig file to edit [default: the file in $KUBECONFIG that has the user,
    /// else the first one, else ~/.kube/config]
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,

    /// Exec credential apiVersion to write: v1 (kubectl 1.22+) or v1beta1
    #[arg(long, value_name = "VERSION", value_parser = parse_exec_api_version)]
    pub exec_api_version: Option<ExecApiVersion>,

    /// Command kubectl runs for credentials (krew installs kubectl-runai_token)
    #[arg(long, value_name = "CMD", default_value = "kubectl-runai_token")]
    pub command: String,

    /// Print the resulting kubeconfig instead of writing it
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Output format
    #[arg(short, long, value_enum, default_value = "table", value_name = "FORMAT")]
    pub output: InspectFormat,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum InspectFormat {
    /// Aligned fields for people
    Table,
    /// One JSON object
    Json,
}

#[derive(Debug, Args)]
#[command(after_help = "Examples:
  kubectl runai-token api /api/v1/clusters
  kubectl runai-token api POST /api/v1/org-unit/projects --data @project.json
  kubectl runai-token api --researcher /researcher/api/v1/projects")]
pub struct ApiArgs {
    /// [METHOD] PATH: the HTTP method (default GET, or POST with --data) and the path
    /// under the API's base URL
    #[arg(value_name = "ARGS", num_args = 1..=2, required = true)]
    pub args: Vec<String>,

    /// JSON request body: @FILE, - for stdin, or the JSON itself
    #[arg(short, long, value_name = "@FILE|-")]
    pub data: Option<String>,

    /// Extra request header (repeatable), e.g. -H 'Accept: text/csv'
    #[arg(short = 'H', long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Call the Researcher API (the profile's researcher-url) whatever `api` says
    #[arg(long)]
    pub researcher: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Also ask the cluster of this kubeconfig context who it thinks you are
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum CacheCommand {
    /// List cached tokens: profile, endpoint, expiry (never the token)
    List,
    /// Delete the cached tokens of the profile, or all of them
    Clear(CacheClearArgs),
}

#[derive(Debug, Args)]
pub struct CacheClearArgs {
    /// Delete every cached token and every remembered endpoint
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Subcommand)]
pub enum ProfileCommand {
    /// List the profiles
    List,
    /// Show a profile (never its secret)
    Show(ProfileNameArg),
    /// Create a profile or change some of its keys
    Set(Box<ProfileSetArgs>),
    /// Delete a profile
    Delete(ProfileNameArg),
    /// Make a profile the current one
    Use(ProfileNameArg),
}

#[derive(Debug, Args)]
pub struct ProfileNameArg {
    /// Profile name
    pub name: String,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("secret").multiple(false)))]
pub struct ProfileSetArgs {
    /// Profile name
    pub name: String,

    /// Run:ai control plane URL (the UI's URL)
    #[arg(long, value_name = "URL")]
    pub url: Option<String>,

    /// Which API the token is for
    #[arg(long, value_enum)]
    pub api: Option<ApiChoice>,

    /// Cluster endpoint of the Researcher REST API
    #[arg(long, value_name = "URL")]
    pub researcher_url: Option<String>,

    /// Token endpoint generation
    #[arg(long, value_enum)]
    pub auth: Option<AuthChoice>,

    /// Keycloak realm (auth: keycloak)
    #[arg(long)]
    pub realm: Option<String>,

    /// Token endpoint URL, overriding the one auth implies
    #[arg(long, value_name = "URL")]
    pub token_url: Option<String>,

    /// Client id (application name, service account or access key id)
    #[arg(long, value_name = "ID")]
    pub client_id: Option<String>,

    /// Read the secret from this file (mode 600)
    #[arg(long, group = "secret", value_name = "PATH")]
    pub client_secret_file: Option<String>,

    /// Read the secret from this environment variable
    #[arg(long, group = "secret", value_name = "VAR")]
    pub client_secret_env: Option<String>,

    /// Run this command for the secret (split like a shell would; no shell runs it)
    #[arg(long, group = "secret", value_name = "COMMAND")]
    pub client_secret_command: Option<String>,

    /// Read the secret from stdin and keep it in the profiles file (mode 600)
    #[arg(long, group = "secret")]
    pub client_secret_stdin: bool,

    /// Which response field is the token
    #[arg(long, value_enum)]
    pub token_field: Option<TokenFieldChoice>,

    /// OAuth2 scope (auth: keycloak and token-url)
    #[arg(long)]
    pub scope: Option<String>,

    /// CA certificate file (PEM) trusted besides the OS trust store
    #[arg(long, value_name = "PATH")]
    pub certificate_authority: Option<String>,

    /// CA certificate (base64 of PEM) trusted besides the OS trust store
    #[arg(long, value_name = "BASE64")]
    pub certificate_authority_data: Option<String>,

    /// Skip TLS verification (insecure; warns on every use)
    #[arg(long, value_name = "BOOL", num_args = 0..=1, default_missing_value = "true")]
    pub insecure_skip_tls_verify: Option<bool>,

    /// Time limit for a whole token request, retries included (e.g. 30s)
    #[arg(long, value_name = "DURATION")]
    pub timeout: Option<GoDuration>,

    /// How tokens are had: an application's credentials, or a person's sign-in
    #[arg(long, value_enum)]
    pub grant: Option<GrantChoice>,

    /// OpenID Connect issuer of the user grants (authorization-code, device-code)
    #[arg(long, value_name = "URL")]
    pub issuer: Option<String>,

    /// The password grant's username (the password is asked for at login)
    #[arg(long)]
    pub username: Option<String>,

    /// The user grants' scopes, comma-separated [default: openid,offline_access]
    #[arg(long, value_name = "SCOPES", value_delimiter = ',')]
    pub scopes: Option<Vec<String>>,

    /// Loopback address:port for the browser's redirect, comma-separated, first free wins
    #[arg(long, value_name = "ADDRS", value_delimiter = ',')]
    pub listen_address: Option<Vec<String>>,

    /// Remove a key from the profile (repeatable), e.g. --unset researcher-url
    #[arg(long, value_name = "KEY")]
    pub unset: Vec<String>,
}

/// `login` (docs/commands.md#login).
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Do not open a browser: print the URL to open elsewhere
    #[arg(long, conflicts_with = "browser_command")]
    pub no_browser: bool,

    /// Open the URL with this command instead of the system's (split like a shell would)
    #[arg(long, value_name = "COMMAND")]
    pub browser_command: Option<String>,

    /// Loopback address:port for the browser's redirect, instead of the profile's
    #[arg(long, value_name = "ADDRS", value_delimiter = ',')]
    pub listen_address: Option<Vec<String>>,

    /// Read the password from stdin (grant: password)
    #[arg(long)]
    pub password_stdin: bool,

    /// How long to wait for the browser or the device code (e.g. 3m)
    #[arg(long, value_name = "DURATION", default_value = "3m")]
    pub timeout: GoDuration,
}

/// `logout` (docs/commands.md#logout).
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// Every session in the cache directory, not only the profile's
    #[arg(long)]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// Shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[cfg(test)]
mod tests {
    use super::fast::tests::{argv, no_env};
    use super::*;
    use clap::CommandFactory;

    /// Every key of the profile model has its `profile set` flag (a secret key as
    /// one of the secret flags), so adding a key to the model fails here until the
    /// CLI takes it.
    #[test]
    fn profile_set_takes_every_key() {
        let command = Cli::command();
        let set = command
            .find_subcommand("profile")
            .and_then(|p| p.find_subcommand("set"))
            .unwrap();
        let flags: Vec<&str> = set.get_arguments().filter_map(|a| a.get_long()).collect();
        for key in crate::profile::KEYS {
            let flag = match key {
                "name" => continue, // the positional NAME
                "client-secret" => "client-secret-stdin",
                other => other,
            };
            assert!(flags.contains(&flag), "profile set has no --{flag} for key {key}");
        }
    }

    #[test]
    fn verify_cli() {
        Cli::command().debug_assert();
    }

    #[test]
    fn global_flags_go_before_or_after_the_command() {
        let before = Cli::try_parse_from(["k", "-p", "a", "-vv", "get"]).unwrap();
        let after = Cli::try_parse_from(["k", "get", "--profile", "a", "-v", "-v"]).unwrap();
        for cli in [before, after] {
            assert_eq!(cli.global.profile.as_deref(), Some("a"));
            assert_eq!(cli.global.verbose, 2);
        }
    }

    /// The fast parser and the full one agree wherever the fast one answers, on every command line of up to
    /// four words drawn from their flags, values and commands that starts with
    /// `get`, and on every one of up to three words.
    #[test]
    fn it_agrees_with_the_full_parser() {
        const WORDS: &[&str] = &[
            "get",
            "get-token",
            "profile",
            "-p",
            "--profile",
            "acme",
            "--profile=acme",
            "-pacme",
            "--profiles-file",
            "/p.yaml",
            "",
            "--cache-dir",
            "-v",
            "-vv",
            "-o",
            "--output",
            "json",
            "exec-credential",
            "Token",
            "--no-cache",
            "--force-refresh",
            "--min-validity",
            "5m",
            "--exec-api-version",
            "v1beta1",
            "--bogus",
            "--",
            "-",
            "-h",
        ];
        // Clap reads these variables; this parser declines where they would matter.
        for flag in &fast::FLAGS {
            if let Some(name) = flag.env {
                assert!(std::env::var_os(name).is_none(), "unset {name} to run this test");
            }
        }
        let mut lines: Vec<Vec<&str>> = vec![vec![]];
        for length in 1..=4 {
            let mut line = vec![0; length];
            loop {
                let words: Vec<&str> = line.iter().map(|&i| WORDS[i]).collect();
                if length < 4 || words[0] == "get" {
                    lines.push(words);
                }
                let Some(last) = line.iter().rposition(|&i| i + 1 < WORDS.len()) else {
                    break;
                };
                line[last] += 1;
                line[last + 1..].fill(0);
            }
        }
        let mut answered = 0;
        for words in &lines {
            let argv = argv(words);
            let Some((global, get)) = fast_get(&argv, no_env) else {
                continue;
            };
            answered += 1;
            let full = Cli::try_parse_from(&argv)
                .unwrap_or_else(|err| panic!("{words:?}: only the fast path accepts it: {err}"));
            let Some(Command::Get(full_get)) = full.command else {
                panic!("{words:?}: the full parser runs another command")
            };
            assert_eq!(format!("{get:?}"), format!("{full_get:?}"), "{words:?}");
            assert_eq!(format!("{global:?}"), format!("{:?}", full.global), "{words:?}");
        }
        assert!(answered > 350, "{answered} lines took the fast path");
        // Every output format clap knows, by its name.
        for format in OutputFormat::value_variants() {
            let name = format.to_possible_value().unwrap().get_name().to_owned();
            let (_, get) = fast_get(&argv(&["get", "-o", &name]), no_env).expect(&name);
            assert_eq!(get.output, Some(*format));
        }
    }

    #[test]
    fn get_token_is_an_alias() {
        let cli = Cli::try_parse_from(["k", "get-token", "-o", "exec-credential"]).unwrap();
        let Some(Command::Get(args)) = cli.command else {
            panic!("not get")
        };
        assert_eq!(args.output, Some(OutputFormat::ExecCredential));
    }

    #[test]
    fn one_secret_source_per_set() {
        let err = Cli::try_parse_from([
            "k",
            "profile",
            "set",
            "a",
            "--client-secret-env",
            "X",
            "--client-secret-stdin",
        ])
        .unwrap_err();
        assert_eq!(err.kind(), clap::error::ErrorKind::ArgumentConflict);
    }
}
