//! `get`: a token for the profile, in the output asked for (docs/commands.md#get).

use serde::Serialize;

use std::time::Duration;

use crate::Context;
use crate::cache::{self, Source};
use crate::cli::{GetArgs, OutputFormat};
use crate::error::{ConfigError, Exit};
use crate::exec_credential::{self, ExecApiVersion};
use crate::output;
use crate::profile::ResolvedProfile;
use crate::time::Timestamp;
use crate::token::Token;

const EXEC_INFO: &str = "KUBERNETES_EXEC_INFO";

pub fn run(ctx: &Context<'_>, args: &GetArgs) -> anyhow::Result<Exit> {
    let now = Timestamp::now();
    // Everything that can be a usage error is decided before any file or network work.
    // Set at all, KUBERNETES_EXEC_INFO means an exec client runs us: even empty, it
    // gets an ExecCredential, never a bare token it cannot parse.
    let under_exec_client = ctx.env.is_set(EXEC_INFO);
    let exec_info = ctx.env.var_os(EXEC_INFO);
    let format = args.output.unwrap_or(if under_exec_client {
        OutputFormat::ExecCredential
    } else {
        OutputFormat::Token
    });
    // KUBERNETES_EXEC_INFO matters only to the ExecCredential: `-o token` inside an
    // exec plugin's environment must not fail on it.
    let exec_version = match (exec_info, format) {
        (Some(info), OutputFormat::ExecCredential) => {
            let info = info
                .into_string()
                .map_err(|_| ConfigError::new("KUBERNETES_EXEC_INFO is not UTF-8"))?;
            exec_credential::version_from_exec_info(&info)?
        }
        _ => args.exec_api_version.unwrap_or_default(),
    };
    let paths = ctx.paths()?;
    // The parse of an unchanged profiles file comes from the cache directory, unless
    // the cache is not to be touched.
    let parsed = (!args.no_cache)
        .then(|| cache::ParsedProfiles::trusted(&paths.cache_dir))
        .flatten();
    let profile = super::resolve_profile_with(ctx, &paths, parsed.as_ref())?;
    let options = cache::Options {
        force_refresh: args.force_refresh,
        no_cache: args.no_cache,
        min_validity: args.min_validity.0,
    };
    // A person may be asked to sign in only where they can answer: a terminal, and
    // an exec client that connected it (docs/login.md#kubectl).
    // Worked out on a miss only: a hit costs what an application's does.
    let interaction = || crate::login::terminal::can_interact(ctx.env).then(crate::login::Interaction::default);
    let (token, source) = super::cached_token_with(ctx, &paths, &profile, options, now, None, &interaction)?;
    let text = render(format, exec_version, &profile, &token, source, args.min_validity.0, now)?;
    output::stdout(&text)?;
    Ok(Exit::Success)
}

/// The text `get` prints.
pub fn render(
    format: OutputFormat,
    version: ExecApiVersion,
    profile: &ResolvedProfile,
    token: &Token,
    source: Source,
    min_validity: Duration,
    now: Timestamp,
) -> anyhow::Result<String> {
    let value = token.value.expose();
    Ok(match format {
        OutputFormat::Token => format!("{value}\n"),
        OutputFormat::ExecCredential => {
            exec_credential::render(version, value, token.expires_at.map(|e| renew_at(e, min_validity, now)))?
        }
        OutputFormat::Header => format!("Authorization: Bearer {value}\n"),
        OutputFormat::Env => {
            let mut text = format!("export RUNAI_TOKEN={}\n", shell_quote(value));
            if let Some(url) = profile.api_url() {
                text.push_str(&format!("export RUNAI_API_URL={}\n", shell_quote(url)));
            }
            text
        }
        OutputFormat::Json => {
            let json = JsonOutput {
                profile: &profile.name,
                api: profile.api.as_str(),
                api_url: profile.api_url(),
                token_type: &token.token_type,
                access_token: value,
                expires_at: token.expires_at.map(|t| t.to_string()),
                source: match source {
                    Source::Cache => "cache",
                    Source::Server => "server",
                },
            };
            let mut line = serde_json::to_string(&json)?;
            line.push('\n');
            line
        }
    })
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct JsonOutput<'a> {
    profile: &'a str,
    api: &'a str,
    api_url: Option<&'a str>,
    token_type: &'a str,
    access_token: &'a str,
    expires_at: Option<String>,
    source: &'a str,
}

/// When client-go should run the plugin again: `min_validity` before the token
/// expires, so a request never goes out with a token about to be refused. A token
/// that lives shorter than that is handed out until its real expiry instead of one
/// already in the past.
fn renew_at(expires_at: Timestamp, min_validity: Duration, now: Timestamp) -> Timestamp {
    let early = expires_at.minus(min_validity);
    if early > now { early } else { expires_at }
}

/// `'text'` for POSIX shells, with `'` written as `'\''`.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::profile::Api;
    use crate::secret::Secret;

    fn fixture() -> (ResolvedProfile, Token) {
        let profile = ResolvedProfile::example();
        let token = Token {
            value: Secret::new("T'k".into()),
            token_type: "Bearer".into(),
            obtained_at: Timestamp(1_000),
            expires_at: Some(Timestamp(1_136_214_245)),
        };
        (profile, token)
    }

    #[test]
    fn every_output_format() {
        let (profile, token) = fixture();
        let show = |format| {
            render(
                format,
                ExecApiVersion::V1,
                &profile,
                &token,
                Source::Server,
                MIN,
                Timestamp(0),
            )
            .unwrap()
        };
        assert_eq!(show(OutputFormat::Token), "T'k\n");
        assert_eq!(show(OutputFormat::Header), "Authorization: Bearer T'k\n");
        assert_eq!(
            show(OutputFormat::Env),
            "export RUNAI_TOKEN='T'\\''k'\nexport RUNAI_API_URL='https://acme.run.ai'\n"
        );
        assert_eq!(
            show(OutputFormat::Json),
            "{\"profile\":\"acme\",\"api\":\"admin\",\"apiUrl\":\"https://acme.run.ai\",\"tokenType\":\"Bearer\",\
             \"accessToken\":\"T'k\",\"expiresAt\":\"2006-01-02T15:04:05Z\",\"source\":\"server\"}\n"
        );
        assert_eq!(
            show(OutputFormat::ExecCredential),
            "{\"apiVersion\":\"client.authentication.k8s.io/v1\",\"kind\":\"ExecCredential\",\
             \"status\":{\"token\":\"T'k\",\"expirationTimestamp\":\"2006-01-02T15:03:05Z\"}}\n"
        );
    }

    const MIN: Duration = Duration::from_secs(60);

    #[test]
    fn exec_credential_expires_min_validity_early() {
        assert_eq!(renew_at(Timestamp(1_000), MIN, Timestamp(100)), Timestamp(940));
        // A token shorter-lived than --min-validity keeps its real expiry.
        assert_eq!(renew_at(Timestamp(1_000), MIN, Timestamp(950)), Timestamp(1_000));
    }

    #[test]
    fn researcher_without_url_leaves_the_api_url_out() {
        let (mut profile, token) = fixture();
        profile.api = Api::Researcher;
        let env = render(
            OutputFormat::Env,
            ExecApiVersion::V1,
            &profile,
            &token,
            Source::Cache,
            MIN,
            Timestamp(0),
        )
        .unwrap();
        assert_eq!(env, "export RUNAI_TOKEN='T'\\''k'\n");
        let json = render(
            OutputFormat::Json,
            ExecApiVersion::V1,
            &profile,
            &token,
            Source::Cache,
            MIN,
            Timestamp(0),
        )
        .unwrap();
        assert!(
            json.contains("\"apiUrl\":null") && json.contains("\"source\":\"cache\""),
            "{json}"
        );
    }
}
