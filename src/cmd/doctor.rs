//! `doctor`: every check between the profile and a working kubectl (docs/commands.md#doctor),
//! one line each, `ok`, `warn` or `fail`, every `warn` and `fail` with a hint. Exit 1
//! when a check fails. A failing check never stops the others that do not need it.

use std::path::Path;
use std::time::{Instant, SystemTime};

use crate::Context;
use crate::classify;
use crate::cli::DoctorArgs;
use crate::error::{Exit, Reported};
use crate::fsutil;
use crate::inspection;
use crate::kubeconfig;
use crate::net::Online;
use crate::net::cluster::{Access, Cluster, Interrupted};
use crate::output;
use crate::paths::Paths;
use crate::profile::LoadedFile;
use crate::time::{Timestamp, human_countdown};
use crate::token::TokenError;

/// Past this much, the server's clock and this machine's disagree enough to matter.
const CLOCK_SKEW_WARN: i64 = 30;
/// The name kubectl looks for to run `kubectl runai-token`.
const PLUGIN_COMMAND: &str = "kubectl-runai_token";

#[derive(Clone, Copy, PartialEq, Eq)]
enum Status {
    Ok,
    Warn,
    Fail,
}

#[derive(Default)]
struct Report {
    lines: Vec<(Status, &'static str, String, Option<String>)>,
}

impl Report {
    fn ok(&mut self, check: &'static str, message: impl Into<String>) {
        self.lines.push((Status::Ok, check, message.into(), None));
    }

    fn warn(&mut self, check: &'static str, message: impl Into<String>, hint: impl Into<String>) {
        self.lines
            .push((Status::Warn, check, message.into(), Some(hint.into())));
    }

    fn fail(&mut self, check: &'static str, message: impl Into<String>, hint: impl Into<String>) {
        self.lines
            .push((Status::Fail, check, message.into(), Some(hint.into())));
    }

    /// A failed step, its message the error chain, its hint the error's own.
    fn fail_with(&mut self, check: &'static str, err: &anyhow::Error, fallback: &str) {
        let (_, hint) = classify(err);
        self.fail(check, format!("{err:#}"), hint.unwrap_or_else(|| fallback.to_owned()));
    }

    fn failed(&self) -> usize {
        self.lines.iter().filter(|l| l.0 == Status::Fail).count()
    }

    fn render(&self) -> String {
        let mut out = String::new();
        for (status, check, message, hint) in &self.lines {
            let status = match status {
                Status::Ok => "ok",
                Status::Warn => "warn",
                Status::Fail => "fail",
            };
            // Messages quote servers, claims and commands: one escaped line each.
            let message = output::escape_untrusted(message);
            out.push_str(&format!("{status:<5} {check:<15} {message}\n"));
            if let Some(hint) = hint {
                out.push_str(&format!("{:<22}hint: {}\n", "", output::escape_untrusted(hint)));
            }
        }
        out
    }
}

pub fn run(ctx: &Context<'_>, args: &DoctorArgs) -> anyhow::Result<Exit> {
    let mut report = Report::default();
    match ctx.paths() {
        Ok(paths) => {
            check_profile_and_token(ctx, &paths, &mut report);
            check_kubeconfig(ctx, &paths, &mut report);
            check_command(ctx, &mut report);
            if let Some(context) = &args.context {
                check_context(&paths, context, &mut report);
            }
        }
        Err(err) => report.fail_with("paths", &err, "set HOME, or pass --profiles-file and --cache-dir"),
    }
    // The report is what was asked for: stdout, with the redaction of every line.
    output::stdout(&ctx.log.redact(&report.render()))?;
    match report.failed() {
        0 => Ok(Exit::Success),
        n => Err(Reported {
            summary: format!("{n} check(s) failed"),
        }
        .into()),
    }
}

fn check_profile_and_token(ctx: &Context<'_>, paths: &Paths, report: &mut Report) {
    let file = match LoadedFile::load(&paths.profiles_file) {
        Ok(file) => file,
        Err(err) => return report.fail_with("profiles file", &err, "kubectl runai-token profile set NAME ..."),
    };
    let count = file.file.profiles.len();
    let mode = std::fs::metadata(&file.path).map(|m| fsutil::mode(&m)).unwrap_or(0);
    report.ok(
        "profiles file",
        format!(
            "{}: {count} profile{}, mode {mode:04o}",
            file.path.display(),
            if count == 1 { "" } else { "s" }
        ),
    );
    // The same resolution as every other command; then the secret, which doctor
    // checks even when it comes from a command.
    let profile = match file.resolve_selected(ctx.global.profile.as_deref(), ctx.env) {
        Ok(profile) => profile,
        Err(err) => return report.fail_with("profile", &err, "pass --profile NAME, or fix the profile"),
    };
    if profile.grant.is_user() {
        return check_session(ctx, paths, &profile, report);
    }
    let secret = match profile.secret() {
        Ok(secret) => secret,
        Err(err) => return report.fail_with("profile", &err, "fix the profile's secret source"),
    };
    ctx.log.protect(secret.expose());
    if profile.tls.insecure_skip_verify {
        report.warn(
            "tls",
            format!(
                "profile {:?} has insecure-skip-tls-verify: certificates are not verified",
                profile.name
            ),
            "remove insecure-skip-tls-verify and set certificate-authority to the server's CA",
        );
    }
    report.ok(
        "profile",
        format!(
            "{:?}: client {:?}, secret from {}",
            profile.name, profile.client_id, profile.secret_source
        ),
    );

    let online = match Online::new(&profile, ctx.log) {
        Ok(online) => online,
        Err(err) => return report.fail_with("token endpoint", &err, "fix the profile's TLS settings"),
    };
    let started = Instant::now();
    let now = Timestamp::now();
    let result = online.fetch(&profile, secret, Some(&paths.cache_dir), ctx.log, now);
    let took = started.elapsed().as_millis();
    let fetched = match result {
        Ok(fetched) => fetched,
        Err(err) => {
            let hint = err.hint().unwrap_or_default();
            if let TokenError::Rejected { url, .. } = &err {
                report.ok("token endpoint", format!("{url} answered ({took} ms)"));
                report.fail("token", err.to_string(), hint);
            } else {
                report.fail("token endpoint", err.to_string(), hint);
            }
            return;
        }
    };
    report.ok(
        "token endpoint",
        format!(
            "{} speaks auth {} ({took} ms)",
            fetched.endpoint.url,
            fetched.endpoint.generation.name()
        ),
    );

    let token = &fetched.token;
    let inspection = inspection::Report::new(&profile, token, now);
    let expiry = match token.expires_at {
        Some(at) => format!("expires {at} ({})", human_countdown(now.seconds_until(at))),
        None => "expiry unknown (it will not be cached)".to_owned(),
    };
    let roles = inspection.roles();
    match inspection.warnings.first() {
        Some(problem) => report.warn(
            "token",
            format!("obtained, {expiry}; {problem}"),
            format!(
                "give the application the role {} needs in the Run:ai UI",
                profile.api.as_str()
            ),
        ),
        None if roles.is_empty() => report.ok("token", format!("obtained, {expiry}; no roles in the token")),
        None => report.ok(
            "token",
            format!(
                "obtained, {expiry}; roles {} fit api: {}",
                roles.join(", "),
                profile.api.as_str()
            ),
        ),
    }

    match fetched.date.as_deref().and_then(|d| httpdate::parse_http_date(d).ok()) {
        Some(server) => {
            let local = SystemTime::now();
            let skew = Timestamp::from_system(server).0 - Timestamp::from_system(local).0;
            let side = if skew > 0 { "ahead of" } else { "behind" };
            if skew.abs() > CLOCK_SKEW_WARN {
                report.warn(
                    "clock",
                    format!("the server's clock is {} s {side} this machine's", skew.abs()),
                    "synchronise this machine's clock (NTP): a skewed clock makes tokens look expired or not yet valid",
                );
            } else {
                report.ok("clock", format!("within {} s of the server's", skew.abs().max(1)));
            }
        }
        None => report.warn(
            "clock",
            "the token endpoint sent no Date header",
            "nothing to do unless tokens look expired early",
        ),
    }
}

/// A person's profile (docs/login.md): the issuer's discovery for the browser and
/// device grants, the session, and whether its refresh token still works (renewed
/// now, under the identity's lock, as `get` would).
fn check_session(ctx: &Context<'_>, paths: &Paths, profile: &crate::profile::ResolvedProfile, report: &mut Report) {
    report.ok(
        "profile",
        format!(
            "{:?}: grant {}, client {:?}, client secret from {}",
            profile.name,
            profile.grant.as_str(),
            profile.client_id,
            profile.secret_source
        ),
    );
    let online = match Online::new(profile, ctx.log) {
        Ok(online) => online,
        Err(err) => return report.fail_with("issuer", &err, "fix the profile's TLS settings"),
    };
    if matches!(
        profile.grant,
        crate::profile::GrantType::AuthorizationCode | crate::profile::GrantType::DeviceCode
    ) {
        match crate::login::discovered(profile, &online, ctx.log) {
            Ok(url) => report.ok("issuer", format!("{url}: an OpenID Connect discovery document")),
            Err(err) => return report.fail_with("issuer", &err, "check issuer in the profile"),
        }
    }
    let key = crate::cache::Key::for_profile(profile);
    let Some(session) = super::cache_of(paths).read_session(&key, ctx.log) else {
        return report.fail(
            "session",
            format!("profile {:?} is not logged in", profile.name),
            format!("kubectl runai-token login -p {}", profile.name),
        );
    };
    report.ok(
        "session",
        format!(
            "{} logged in at {} ({})",
            output::escape_untrusted(session.subject.as_deref().unwrap_or("someone")),
            session.logged_in_at,
            session.grant
        ),
    );
    let options = crate::cache::Options {
        force_refresh: true,
        ..crate::cache::Options::default()
    };
    let now = Timestamp::now();
    match super::cached_token(ctx, paths, profile, options, now, Some(&online)) {
        Ok((token, _)) => report.ok(
            "refresh token",
            match token.expires_at {
                Some(at) => format!("works: renewed, the new token expires {at}"),
                None => "works: renewed".to_owned(),
            },
        ),
        Err(err) => report.fail_with("refresh token", &err, "kubectl runai-token login"),
    }
}

fn check_kubeconfig(ctx: &Context<'_>, paths: &Paths, report: &mut Report) {
    let mut found = 0;
    for path in &paths.kubeconfigs {
        let config = match kubeconfig::read_model(path) {
            Ok(Some(config)) => config,
            Ok(None) => continue,
            Err(err) => {
                report.fail_with("kubeconfig", &err, "fix the file, or take it out of KUBECONFIG");
                continue;
            }
        };
        for user in kubeconfig::plugin_users(&config) {
            found += 1;
            let problem = user_problem(ctx, path, &user, paths);
            if problem.is_none() && user.output.as_deref() != Some("exec-credential") {
                report.warn(
                    "kubeconfig",
                    format!(
                        "user {:?} in {} does not ask for --output exec-credential: clients that do not set \
                         KUBERNETES_EXEC_INFO (client-node, older Python clients) get a bare token",
                        user.user,
                        path.display()
                    ),
                    format!(
                        "kubectl runai-token setup --user {} --profile {} (rewrites it)",
                        user.user,
                        user.profile.as_deref().unwrap_or("PROFILE")
                    ),
                );
                continue;
            }
            match problem {
                None => report.ok(
                    "kubeconfig",
                    format!(
                        "user {:?} in {} runs this plugin (profile {:?})",
                        user.user,
                        path.display(),
                        user.profile.as_deref().unwrap_or("default")
                    ),
                ),
                Some((message, hint)) => report.fail("kubeconfig", message, hint),
            }
        }
    }
    if found == 0 {
        report.warn(
            "kubeconfig",
            "no kubeconfig user runs this plugin",
            "kubectl runai-token setup --context NAME --cluster CLUSTER",
        );
    }
}

/// Why a kubeconfig user that runs the plugin would fail, if it would.
fn user_problem(
    ctx: &Context<'_>,
    kubeconfig: &Path,
    user: &kubeconfig::PluginUser,
    paths: &Paths,
) -> Option<(String, String)> {
    let profiles_file = user
        .profiles_file
        .as_deref()
        .map(Path::new)
        .unwrap_or(&paths.profiles_file);
    let fix = format!("kubectl runai-token setup --user {} --profile PROFILE", user.user);
    let loaded = match LoadedFile::load(profiles_file) {
        Ok(loaded) => loaded,
        Err(err) => {
            return Some((
                format!("user {:?} in {}: {err:#}", user.user, kubeconfig.display()),
                fix,
            ));
        }
    };
    if let Err(err) = loaded.select(user.profile.as_deref()) {
        return Some((
            format!("user {:?} in {}: {err:#}", user.user, kubeconfig.display()),
            fix,
        ));
    }
    if ctx.env.which(&user.command).is_none() {
        return Some((
            format!(
                "user {:?} in {} runs {:?}, which is not on PATH",
                user.user,
                kubeconfig.display(),
                user.command
            ),
            "install the plugin (kubectl krew install runai-token) or fix the user's command".to_owned(),
        ));
    }
    None
}

fn check_command(ctx: &Context<'_>, report: &mut Report) {
    match ctx.env.which(PLUGIN_COMMAND) {
        Some(path) => report.ok("command", format!("{PLUGIN_COMMAND} is {}: kubectl runai-token works", path.display())),
        None => report.fail(
            "command",
            format!("{PLUGIN_COMMAND} is not on PATH: kubectl runai-token and kubeconfig users cannot find the plugin"),
            "kubectl krew install runai-token, or link it: ln -s kubectl-runai-token \"$(dirname \"$(command -v kubectl-runai-token)\")/kubectl-runai_token\"",
        ),
    }
}

/// Asks the cluster of `context` who it thinks we are: a SelfSubjectReview through
/// kube-rs, which runs the context's exec plugin like any client would.
fn check_context(paths: &Paths, context: &str, report: &mut Report) {
    use k8s_openapi::api::authentication::v1::SelfSubjectReview;
    use kube::api::{Api, PostParams};

    let result = (|| -> anyhow::Result<String> {
        let cluster = Cluster::connect(
            paths,
            Access {
                kubeconfig: None,
                context: Some(context),
            },
        )?;
        let reviews: Api<SelfSubjectReview> = Api::all(cluster.client.clone());
        let review = cluster
            .call(
                reviews.create(&PostParams::default(), &SelfSubjectReview::default()),
                None,
            )
            .map_err(|stop| match stop {
                Interrupted::Failed(err) => anyhow::anyhow!("{}", first_line(&err)),
                Interrupted::TimedOut => anyhow::anyhow!("the API server did not answer in time"),
                Interrupted::Stopped => anyhow::anyhow!("interrupted"),
            })?;
        let user = review.status.and_then(|s| s.user_info).unwrap_or_default();
        let groups = user.groups.unwrap_or_default();
        Ok(format!(
            "the cluster of context {context:?} says you are {:?}{}",
            user.username.unwrap_or_default(),
            if groups.is_empty() {
                String::new()
            } else {
                format!(" (groups {})", groups.join(", "))
            }
        ))
    })();
    match result {
        Ok(message) => report.ok("cluster", message),
        Err(err) => report.fail(
            "cluster",
            format!("context {context:?}: {err:#}"),
            "check the context's cluster and user (kubectl config view --minify --context NAME)",
        ),
    }
}

fn first_line(err: &dyn std::fmt::Display) -> String {
    err.to_string().lines().next().unwrap_or_default().to_owned()
}
