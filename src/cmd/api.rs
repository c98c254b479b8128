//! `api [METHOD] PATH`: call the Run:ai API with the profile's token (docs/commands.md#api).
//! The body goes to stdout as it came; an error status puts the body on stderr and
//! exits 5. A 401 with a cached token renews the token once and retries.

use std::io::Read;
use std::time::Instant;

use crate::Context;
use crate::cache::{self, Source};
use crate::cli::ApiArgs;
use crate::config_error;
use crate::error::{ApiStatusError, ConfigError, Exit};
use crate::log_at;
use crate::net::Online;
use crate::net::http::{Body, Outgoing, Response};
use crate::output::{self, DECISIONS};
use crate::profile::{Api, ResolvedProfile};
use crate::time::Timestamp;
use crate::token::{Token, status_text};

/// API responses can be large (a list of workloads); this only guards memory.
const MAX_API_BODY: usize = 256 * 1024 * 1024;

/// A request, as the command line describes it.
struct Call {
    method: reqwest::Method,
    path: String,
    headers: Vec<(String, String)>,
    body: Option<Vec<u8>>,
}

pub fn run(ctx: &Context<'_>, args: ApiArgs) -> anyhow::Result<Exit> {
    let now = Timestamp::now();
    let call = parse_call(&args, &mut std::io::stdin())?;
    let paths = ctx.paths()?;
    let profile = super::resolve_profile(ctx, &paths)?;
    let base = base_url(&profile, args.researcher)?;
    let url = format!("{base}{}", call.path);

    let online = Online::new(&profile, ctx.log)?;
    let token = |force_refresh| {
        let options = cache::Options {
            force_refresh,
            ..cache::Options::default()
        };
        super::cached_token(ctx, &paths, &profile, options, now, Some(&online))
    };
    let (first, source) = token(false)?;
    let mut response = send(&online, &call, &url, &first, &profile, ctx)?;
    if response.status == 401 && source == Source::Cache {
        log_at!(
            ctx.log,
            DECISIONS,
            "api: 401 with the cached token: renewing it once and retrying"
        );
        let (renewed, _) = token(true)?;
        response = send(&online, &call, &url, &renewed, &profile, ctx)?;
    }
    log_at!(
        ctx.log,
        DECISIONS,
        "{} {url}: {}",
        call.method,
        status_text(response.status)
    );
    if (200..300).contains(&response.status) {
        output::stdout_bytes(&response.body)?;
        return Ok(Exit::Success);
    }
    if !response.body.is_empty() {
        output::stderr_text(&ctx.log.redact(&String::from_utf8_lossy(&response.body)))?;
    }
    let hint = match response.status {
        401 => Some(
            "the API refused the token: check the application's access, or run kubectl runai-token doctor".to_owned(),
        ),
        403 => Some("the token lacks a role or scope for this: see kubectl runai-token inspect".to_owned()),
        404 if !args.researcher && profile.api == Api::Admin && call.path.starts_with("/researcher") => {
            Some("Researcher API paths live on the cluster: add --researcher".to_owned())
        }
        _ => None,
    };
    Err(ApiStatusError {
        method: call.method.to_string(),
        url,
        status: status_text(response.status),
        hint,
    }
    .into())
}

fn parse_call(args: &ApiArgs, stdin: &mut dyn Read) -> anyhow::Result<Call> {
    let (method, path) = match args.args.as_slice() {
        [path] => (None, path),
        [method, path] => (Some(method), path),
        _ => unreachable!("clap takes one or two"),
    };
    let method = match method {
        Some(method) => reqwest::Method::from_bytes(method.to_ascii_uppercase().as_bytes())
            .map_err(|_| config_error!("{method:?} is not an HTTP method"))?,
        None if args.data.is_some() => reqwest::Method::POST,
        None => reqwest::Method::GET,
    };
    if !path.starts_with('/') {
        return Err(ConfigError::new(format!("the path {path:?} must start with /"))
            .with_hint("give the path under the API's base URL, e.g. /api/v1/clusters")
            .into());
    }
    let mut headers = Vec::new();
    for header in &args.headers {
        let (name, value) = header
            .split_once(':')
            .map(|(n, v)| (n.trim(), v.trim()))
            .filter(|(n, _)| !n.is_empty() && !n.contains(' '))
            .ok_or_else(|| config_error!("header {header:?} is not 'Name: value'"))?;
        headers.push((name.to_owned(), value.to_owned()));
    }
    let body = match args.data.as_deref() {
        None => None,
        Some("-") => {
            let mut bytes = Vec::new();
            stdin
                .read_to_end(&mut bytes)
                .map_err(|err| config_error!("cannot read the body from stdin: {err}"))?;
            Some(bytes)
        }
        Some(data) => match data.strip_prefix('@') {
            Some(file) => Some(std::fs::read(file).map_err(|err| config_error!("--data @{file}: {err}"))?),
            None => Some(data.as_bytes().to_vec()),
        },
    };
    if body.is_some() && !headers.iter().any(|(n, _)| n.eq_ignore_ascii_case("content-type")) {
        headers.push(("Content-Type".to_owned(), "application/json".to_owned()));
    }
    Ok(Call {
        method,
        path: path.clone(),
        headers,
        body,
    })
}

/// `url` for the Administrator API; `researcher-url` for the Researcher API.
fn base_url(profile: &ResolvedProfile, researcher: bool) -> anyhow::Result<String> {
    if !researcher && profile.api == Api::Admin {
        return Ok(profile.url.clone());
    }
    profile.researcher_url.clone().ok_or_else(|| {
        ConfigError::new(format!(
            "profile {:?} has no researcher-url: the Researcher API lives on the cluster",
            profile.name
        ))
        .with_hint(format!(
            "kubectl runai-token profile set {} --researcher-url https://CLUSTER-ENDPOINT (see the Run:ai UI under Clusters)",
            profile.name
        ))
        .into()
    })
}

fn send(
    online: &Online,
    call: &Call,
    url: &str,
    token: &Token,
    profile: &ResolvedProfile,
    ctx: &Context<'_>,
) -> anyhow::Result<Response> {
    let mut headers = vec![("Authorization".to_owned(), format!("Bearer {}", token.value.expose()))];
    headers.extend(call.headers.iter().cloned());
    let request = Outgoing {
        method: call.method.clone(),
        url,
        headers,
        body: call.body.as_deref().map(Body::Plain),
        retry: false,
        max_body: MAX_API_BODY,
    };
    let deadline = Instant::now() + profile.timeout;
    online
        .block_on(online.http.send(request, deadline, ctx.log))
        .map_err(|err| anyhow::anyhow!("{} {url} {err}", call.method))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::Parser;

    fn call(argv: &[&str], stdin: &str) -> anyhow::Result<Call> {
        let mut full = vec!["k", "api"];
        full.extend_from_slice(argv);
        let Some(crate::cli::Command::Api(args)) = Cli::try_parse_from(full).unwrap().command else {
            unreachable!()
        };
        parse_call(&args, &mut stdin.as_bytes())
    }

    #[test]
    fn method_defaults_and_bodies() {
        let get = call(&["/api/v1/clusters"], "").unwrap();
        assert_eq!((get.method, get.body), (reqwest::Method::GET, None));
        let post = call(&["/api/v1/x", "--data", "-"], "{\"a\":1}").unwrap();
        assert_eq!(post.method, reqwest::Method::POST);
        assert_eq!(post.body.as_deref(), Some(&b"{\"a\":1}"[..]));
        assert_eq!(
            post.headers,
            [("Content-Type".to_owned(), "application/json".to_owned())]
        );
        let put = call(&["put", "/api/v1/x", "-H", "X-Trace: 1", "-d", "{}"], "").unwrap();
        assert_eq!(put.method, reqwest::Method::PUT);
        assert_eq!(put.headers[0], ("X-Trace".to_owned(), "1".to_owned()));
    }

    #[test]
    fn bad_calls_are_usage_errors() {
        assert_eq!(
            call(&["api/v1"], "").err().unwrap().to_string(),
            "the path \"api/v1\" must start with /"
        );
        assert_eq!(
            call(&["/a", "-H", "nocolon"], "").err().unwrap().to_string(),
            "header \"nocolon\" is not 'Name: value'"
        );
        assert!(call(&["G E T", "/a"], "").is_err());
        assert!(call(&["/a", "--data", "@/nonexistent/file"], "").is_err());
    }
}
