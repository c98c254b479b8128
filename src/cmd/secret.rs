//! `secret apply` and `secret run` (docs/commands.md#secret-apply-and-secret-run, docs/fleet.md): the
//! profile's token, got as `get` gets it, kept in a Kubernetes Secret by server-side
//! apply. The decisions are [`crate::fleet`]'s; this module does the talking.

use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};

use crate::Context;
use crate::cache::Options;
use crate::cli::{SecretApplyArgs, SecretArgs, SecretRunArgs};
use crate::error::{ConfigError, Exit};
use crate::fleet::{self, Held, Issued, MinValidity, Observed, Plan, Provenance, Target};
use crate::log_at;
use crate::net::cluster::{Access, Cluster, Interrupted, Signals};
use crate::output::{self, DECISIONS};
use crate::paths::Paths;
use crate::profile::ResolvedProfile;
use crate::time::Timestamp;
use crate::token::Token;

/// A write that lost the race to another writer is judged again this many times.
const ATTEMPTS: usize = 3;

pub fn apply(ctx: &Context<'_>, args: &SecretApplyArgs) -> anyhow::Result<Exit> {
    let job = Job::new(ctx, &args.secret, crate::net::runtime()?)?;
    let min_validity = args
        .secret
        .min_validity
        .map_or(MinValidity::DEFAULT, |d| MinValidity::Fixed(d.0));
    let outcome = if args.dry_run {
        job.prepare(min_validity, None)
    } else {
        job.once(min_validity, None)
    };
    match outcome {
        Ok(Step::Keep(held)) => {
            let message = format!(
                "{} holds a token valid until {}: nothing to write",
                job.target, held.expires_at
            );
            if args.dry_run {
                ctx.log.note(format_args!("{message}"));
            } else {
                log_at!(ctx.log, DECISIONS, "{message}");
            }
        }
        // Only --dry-run stops at a Write: once() has written it.
        Ok(Step::Write(write)) if args.dry_run => output::stdout(&show(&write.secret)?)?,
        Ok(Step::Write(write)) => {
            log_at!(
                ctx.log,
                DECISIONS,
                "applied {}, expires {}",
                job.target,
                write.held.expires_at
            );
        }
        Err(Failure::Stopped) => unreachable!("without Signals, no request is stopped"),
        Err(Failure::Error(err)) => return Err(err),
    }
    Ok(Exit::Success)
}

pub fn run(ctx: &Context<'_>, args: &SecretRunArgs) -> anyhow::Result<Exit> {
    // Listening before anything else: a SIGTERM while the profile resolves or a
    // kubeconfig exec plugin runs is seen at the first wait, and ends it with exit 0.
    let runtime = crate::net::runtime()?;
    let mut signals = Signals::on(&runtime)?;
    let job = Job::new(ctx, &args.secret, runtime)?;
    // The token is renewed when `interval_fraction` of its lifetime has passed: it
    // is kept while more than the rest is left (docs/commands.md#secret-run).
    let min_validity = match args.secret.min_validity {
        Some(fixed) => MinValidity::Fixed(fixed.0),
        None => MinValidity::OfLifetime(1.0 - args.interval_fraction),
    };
    let mut backoff = fleet::Backoff::default();
    let mut last_known: Option<Held> = None;
    let mut first = true;
    loop {
        let wake = match job.once(min_validity, Some(&mut signals)) {
            Ok(outcome) => {
                backoff.reset();
                let held = match outcome {
                    Step::Write(write) => {
                        ctx.log.note(format_args!(
                            "renewed {}, expires {}",
                            job.target, write.held.expires_at
                        ));
                        write.held
                    }
                    Step::Keep(held) => {
                        let due = min_validity.due_at(&held);
                        if first {
                            ctx.log.note(format_args!(
                                "{} holds a token valid until {}; renewing it at {due}",
                                job.target, held.expires_at
                            ));
                        } else {
                            log_at!(ctx.log, DECISIONS, "{} is up to date; renewing it at {due}", job.target);
                        }
                        held
                    }
                };
                last_known = Some(held);
                let due = min_validity.due_at(&held);
                match Timestamp::now().seconds_until(due) {
                    // A token that is due as soon as it is written (it lives no longer
                    // than --min-validity): renewing at once would be a busy loop.
                    wait if wait <= 0 => {
                        let err = anyhow::Error::new(
                            ConfigError::new(format!(
                                "the new token of {} expires at {}, within --min-validity of being written",
                                job.target, held.expires_at
                            ))
                            .with_hint("choose a --min-validity shorter than the token's lifetime, or leave it out"),
                        );
                        Instant::now() + warn_and_back_off(ctx, &job, &err, &mut backoff, last_known)
                    }
                    wait => Instant::now() + Duration::from_secs(wait as u64),
                }
            }
            Err(Failure::Stopped) => break,
            Err(Failure::Error(err)) => Instant::now() + warn_and_back_off(ctx, &job, &err, &mut backoff, last_known),
        };
        first = false;
        if !job.cluster.sleep_until(wake, &mut signals) {
            break;
        }
    }
    log_at!(ctx.log, DECISIONS, "stopping: signal received");
    Ok(Exit::Success)
}

/// One line for a failed pass, and the wait before the next: what went wrong, its
/// hint, and whether the token last seen in the Secret still holds.
fn warn_and_back_off(
    ctx: &Context<'_>,
    job: &Job<'_>,
    err: &anyhow::Error,
    backoff: &mut fleet::Backoff,
    last_known: Option<Held>,
) -> Duration {
    let wait = backoff.next(crate::time::jitter_seed());
    let kept = match last_known {
        Some(held) if Timestamp::now() < held.expires_at => {
            format!("the token last seen in the Secret is valid until {}", held.expires_at)
        }
        _ => "no valid token is known to be in the Secret".to_owned(),
    };
    let hint = crate::classify(err)
        .1
        .map(|hint| format!(" (hint: {hint})"))
        .unwrap_or_default();
    ctx.log.warn(format_args!(
        "cannot renew {}: {}{hint}; {kept}; retrying in {}",
        job.target,
        output::one_line(&format!("{err:#}")),
        crate::time::GoDuration(Duration::from_secs(wait.as_secs().max(1)))
    ));
    wait
}

/// What the Secret needs.
enum Step {
    /// Nothing: it holds this token, valid long enough.
    Keep(Held),
    /// This Secret applied (or, by the time `once` returns it, written).
    Write(Box<Write>),
}

struct Write {
    secret: Secret,
    held: Held,
    /// Whether the Secret existed when it was read (a create needs `create`).
    existed: bool,
}

enum Failure {
    Stopped,
    Error(anyhow::Error),
}

impl From<anyhow::Error> for Failure {
    fn from(err: anyhow::Error) -> Self {
        Self::Error(err)
    }
}

struct Job<'a> {
    ctx: &'a Context<'a>,
    paths: Paths,
    profile: ResolvedProfile,
    cluster: Cluster,
    target: Target,
    force: bool,
}

impl<'a> Job<'a> {
    fn new(ctx: &'a Context<'a>, args: &SecretArgs, runtime: tokio::runtime::Runtime) -> anyhow::Result<Self> {
        let paths = ctx.paths()?;
        let profile = super::resolve_profile(ctx, &paths)?;
        let cluster = Cluster::connect_on(
            runtime,
            &paths,
            Access {
                kubeconfig: args.kubeconfig.as_deref(),
                context: args.context.as_deref(),
            },
        )?;
        let target = Target {
            namespace: args.namespace.clone(),
            name: args.name.clone(),
            key: args.key.clone(),
        };
        log_at!(
            ctx.log,
            DECISIONS,
            "secret {} key {:?}, as {}",
            target,
            target.key,
            cluster.identity
        );
        Ok(Self {
            ctx,
            paths,
            profile,
            cluster,
            target,
            force: args.force,
        })
    }

    /// Whose token this writer puts in the Secret.
    fn provenance(&self) -> Provenance {
        Provenance {
            profile: self.profile.name.clone(),
            api_url: self.profile.api_url().map(str::to_owned),
            client_id: self.profile.client_id.clone(),
            username: self.profile.username.clone().filter(|_| self.profile.grant.is_user()),
        }
    }

    fn api(&self) -> Api<Secret> {
        Api::namespaced(self.cluster.client.clone(), &self.target.namespace)
    }

    /// Reads the Secret, decides, and writes when it must. A write that finds the
    /// Secret changed since it was read (409) starts over: another writer may just
    /// have put a fresh token there.
    fn once(&self, min_validity: MinValidity, mut signals: Option<&mut Signals>) -> Result<Step, Failure> {
        let mut attempt = 1;
        loop {
            let write = match self.prepare(min_validity, signals.as_deref_mut())? {
                Step::Write(write) => write,
                keep => return Ok(keep),
            };
            // Forced over fields of other managers only in a Secret judged the
            // plugin's (or --force): one created by someone else since it was read
            // conflicts instead (409), and is judged again.
            let params = PatchParams::apply(fleet::FIELD_MANAGER);
            let params = if write.existed { params.force() } else { params };
            match self.cluster.call(
                self.api()
                    .patch(&self.target.name, &params, &Patch::Apply(&write.secret)),
                signals.as_deref_mut(),
            ) {
                Ok(_) => return Ok(Step::Write(write)),
                Err(Interrupted::Failed(kube::Error::Api(status))) if status.code == 409 && attempt < ATTEMPTS => {
                    log_at!(
                        self.ctx.log,
                        DECISIONS,
                        "{} changed while being written: reading it again",
                        self.target
                    );
                    attempt += 1;
                }
                Err(stop) => return Err(self.failure(stop, "patch", write.existed)),
            }
        }
    }

    /// Reads the Secret and decides; for a write, gets the token and builds the
    /// Secret to apply.
    fn prepare(&self, min_validity: MinValidity, signals: Option<&mut Signals>) -> Result<Step, Failure> {
        let current = self
            .cluster
            .call(self.api().get_opt(&self.target.name), signals)
            .map_err(|stop| self.failure(stop, "get", true))?;
        // After the GET, which may have taken seconds.
        let now = Timestamp::now();
        let observed = current.as_ref().map(|s| Observed::of(s, &self.target.key));
        let resource_version = match fleet::plan(observed.as_ref(), &self.provenance(), min_validity, self.force, now) {
            Plan::Keep(held) => return Ok(Step::Keep(held)),
            Plan::Refuse(managers) => return Err(self.not_ours(&managers).into()),
            Plan::Write { resource_version } => resource_version,
        };
        let lifetime = observed.as_ref().and_then(|o| o.held).and_then(|h| h.lifetime());
        let (token, expires_at) = self.token(min_validity, lifetime, now)?;
        let held = Held {
            issued_at: Some(token.obtained_at),
            expires_at,
        };
        let secret = fleet::desired(
            &self.target,
            &self.provenance(),
            &Issued {
                value: token.value.expose(),
                held,
            },
            resource_version.as_deref(),
        );
        Ok(Step::Write(Box::new(Write {
            secret,
            held,
            existed: current.is_some(),
        })))
    }

    /// A token valid long enough for the Secret, through the cache as `get` gets it;
    /// renewed once more when the cached one is not.
    fn token(
        &self,
        min_validity: MinValidity,
        held_lifetime: Option<Duration>,
        now: Timestamp,
    ) -> anyhow::Result<(Token, Timestamp)> {
        let mut options = Options {
            force_refresh: false,
            no_cache: false,
            min_validity: min_validity.for_lifetime(held_lifetime),
        };
        loop {
            let (token, source) = super::cached_token(self.ctx, &self.paths, &self.profile, options, now, None)?;
            self.ctx.log.protect(token.value.expose());
            // The token's own expiry when it says (a JWT's exp), not one worked out
            // from expires_in and this process's clock.
            let own = crate::token::jwt::decode(token.value.expose())
                .and_then(|jwt| jwt.exp())
                .map(Timestamp);
            let expires_at = own.or(token.expires_at).ok_or_else(|| {
                anyhow::anyhow!(
                    "the token of profile {:?} has no expiry (no expires_in, no JWT exp): a Secret cannot say when to renew it",
                    self.profile.name
                )
            })?;
            let lifetime = Duration::from_secs(token.obtained_at.seconds_until(expires_at).max(0) as u64);
            if options.force_refresh
                || source == crate::cache::Source::Server
                || min_validity.satisfied(expires_at, Some(lifetime), now)
            {
                return Ok((token, expires_at));
            }
            log_at!(
                self.ctx.log,
                DECISIONS,
                "the cached token is too close to its expiry for the Secret"
            );
            options.force_refresh = true;
        }
    }

    fn not_ours(&self, managers: &[String]) -> anyhow::Error {
        let by = if managers.is_empty() {
            String::new()
        } else {
            format!(
                " (written by {})",
                managers.iter().map(|m| format!("{m:?}")).collect::<Vec<_>>().join(", ")
            )
        };
        ConfigError::new(format!(
            "secret {} exists and is not managed by kubectl-runai-token{by}",
            self.target
        ))
        .with_hint(format!(
            "pass --force to take it over, label it (kubectl label secret {} -n {} {}={}), or choose another --name",
            self.target.name,
            self.target.namespace,
            fleet::MANAGED_BY,
            fleet::FIELD_MANAGER
        ))
        .into()
    }

    /// The error for a request that did not succeed: the API server's 403 and 404
    /// are the configuration's (exit 2), naming the verb, the Secret and who asked.
    fn failure(&self, stop: Interrupted, verb: &str, existed: bool) -> Failure {
        let target = &self.target;
        let who = &self.cluster.identity;
        let err = match stop {
            Interrupted::Stopped => return Failure::Stopped,
            Interrupted::TimedOut => anyhow::anyhow!(
                "cannot {verb} secret {target}: the API server did not answer within {}s",
                crate::net::cluster::REQUEST_TIMEOUT.as_secs()
            ),
            Interrupted::Failed(kube::Error::Api(status)) if status.code == 403 => {
                let hint = if existed {
                    format!(
                        "let {who} get and patch it: a Role with resources [secrets], resourceNames [{}] in namespace {} (docs/fleet.md#permissions)",
                        target.name, target.namespace
                    )
                } else {
                    format!(
                        "create the Secret first (kubectl create secret generic {} -n {}): create cannot be limited to one name (docs/fleet.md#permissions)",
                        target.name, target.namespace
                    )
                };
                let verb = if existed { verb } else { "create" };
                ConfigError::caused_by(format!("{who} is not allowed to {verb} secret {target}"), *status)
                    .with_hint(hint)
                    .into()
            }
            Interrupted::Failed(kube::Error::Api(status)) if status.code == 404 && !namespace_missing(&status) => {
                ConfigError::caused_by(format!("cannot {verb} secret {target} as {who}: not found"), *status)
                    .with_hint("check the cluster's address in kubeconfig (kubectl cluster-info)")
                    .into()
            }
            Interrupted::Failed(kube::Error::Api(status)) if status.code == 404 => {
                // A missing Secret is no error (it is created): its namespace is missing.
                ConfigError::caused_by(
                    format!(
                        "cannot {verb} secret {target}: namespace {:?} does not exist",
                        target.namespace
                    ),
                    *status,
                )
                .with_hint(format!(
                    "check the namespace: kubectl get namespace {}",
                    target.namespace
                ))
                .into()
            }
            Interrupted::Failed(err) => {
                anyhow::Error::new(err).context(format!("cannot {verb} secret {target} as {who}"))
            }
        };
        Failure::Error(err)
    }
}

/// Whether a 404 says the namespace is missing (`details.kind: namespaces`).
fn namespace_missing(status: &kube::core::Status) -> bool {
    status.details.as_ref().is_some_and(|d| d.kind == "namespaces")
}

/// The Secret as `--dry-run` prints it: YAML, the token redacted.
fn show(secret: &Secret) -> anyhow::Result<String> {
    let mut value = serde_json::to_value(secret)?;
    if let Some(data) = value.get_mut("data").and_then(|d| d.as_object_mut()) {
        for entry in data.values_mut() {
            *entry = serde_json::Value::String("[redacted]".into());
        }
    }
    Ok(serde_yaml::to_string(&value)?)
}
