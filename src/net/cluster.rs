//! Reaching a Kubernetes API server as every client does (docs/fleet.md#cluster-access):
//! `--kubeconfig`, else the `$KUBECONFIG` list, else `~/.kube/config`, with
//! `--context` or the current context; with no kubeconfig file at all, the pod's
//! service account. kube-rs does the rest (TLS, exec plugins, proxies), and runs on
//! its own single-threaded runtime, apart from the token fetch's.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::error::ConfigError;
use crate::fsutil;
use crate::kubeconfig;
use crate::paths::Paths;

/// How long one request to the API server may take, connecting included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Which kubeconfig and context, as the flags say.
#[derive(Clone, Copy, Debug, Default)]
pub struct Access<'a> {
    pub kubeconfig: Option<&'a Path>,
    pub context: Option<&'a str>,
}

/// A connected client, and who we are to the cluster, in words for error messages.
pub struct Cluster {
    runtime: tokio::runtime::Runtime,
    pub client: kube::Client,
    pub identity: String,
}

/// Why a call did not finish.
#[derive(Debug)]
pub enum Interrupted {
    /// SIGTERM or SIGINT arrived first.
    Stopped,
    /// The API server's error, or the transport's.
    Failed(kube::Error),
    /// No answer within [`REQUEST_TIMEOUT`].
    TimedOut,
}

/// SIGTERM and SIGINT (Ctrl-C elsewhere), registered once: a signal that arrives
/// while the process is busy elsewhere is kept until the next wait looks.
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(not(unix))]
    ctrl_c: tokio::signal::windows::CtrlC,
}

impl Signals {
    /// Listens for SIGTERM and SIGINT from now on, on `runtime`.
    pub fn on(runtime: &tokio::runtime::Runtime) -> anyhow::Result<Self> {
        let _entered = runtime.enter();
        Self::register().context("cannot listen for SIGTERM and SIGINT")
    }

    fn register() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Self {
                ctrl_c: tokio::signal::windows::ctrl_c()?,
            })
        }
    }

    async fn any(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        #[cfg(not(unix))]
        self.ctrl_c.recv().await;
    }
}

impl Cluster {
    pub fn connect(paths: &Paths, access: Access<'_>) -> anyhow::Result<Self> {
        Self::connect_on(super::runtime()?, paths, access)
    }

    /// [`Cluster::connect`] on `runtime`, where [`Signals`] may already listen.
    pub fn connect_on(runtime: tokio::runtime::Runtime, paths: &Paths, access: Access<'_>) -> anyhow::Result<Self> {
        let (mut config, identity) = runtime.block_on(configure(paths, access))?;
        // As client-go: a loopback API server is never reached through a proxy
        // (docs/security.md#proxies-and-loopback).
        if config
            .cluster_url
            .host()
            .is_some_and(crate::net::http::is_loopback_host)
        {
            config.proxy_url = None;
        }
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        config.read_timeout = Some(REQUEST_TIMEOUT);
        config.write_timeout = Some(REQUEST_TIMEOUT);
        let client = runtime
            .block_on(async { kube::Client::try_from(config) })
            .map_err(|err| anyhow::Error::new(err).context("cannot set up the Kubernetes client"))?;
        Ok(Self {
            runtime,
            client,
            identity,
        })
    }

    /// Runs one request, bounded by [`REQUEST_TIMEOUT`], and abandoned when a signal
    /// arrives (the API server applies a write whole or not at all).
    pub fn call<T>(
        &self,
        request: impl Future<Output = kube::Result<T>>,
        signals: Option<&mut Signals>,
    ) -> Result<T, Interrupted> {
        self.runtime.block_on(async {
            let request = async {
                match tokio::time::timeout(REQUEST_TIMEOUT, request).await {
                    Ok(Ok(value)) => Ok(value),
                    Ok(Err(err)) => Err(Interrupted::Failed(err)),
                    Err(_) => Err(Interrupted::TimedOut),
                }
            };
            match signals {
                None => request.await,
                Some(signals) => tokio::select! {
                    biased;
                    () = signals.any() => Err(Interrupted::Stopped),
                    result = request => result,
                },
            }
        })
    }

    /// Waits until `deadline`; `false` when a signal came first.
    pub fn sleep_until(&self, deadline: Instant, signals: &mut Signals) -> bool {
        self.runtime.block_on(async {
            tokio::select! {
                biased;
                () = signals.any() => false,
                () = tokio::time::sleep_until(deadline.into()) => true,
            }
        })
    }
}

async fn configure(paths: &Paths, access: Access<'_>) -> anyhow::Result<(kube::Config, String)> {
    let files: Vec<PathBuf> = match access.kubeconfig {
        Some(path) => {
            if !path.exists() {
                return Err(
                    ConfigError::new(format!("kubeconfig {} does not exist", path.display()))
                        .with_hint("pass an existing file to --kubeconfig")
                        .into(),
                );
            }
            vec![path.to_owned()]
        }
        None => paths.kubeconfigs.iter().filter(|p| p.exists()).cloned().collect(),
    };
    if files.is_empty() {
        return in_cluster(access.context);
    }
    let mut merged: Option<Kubeconfig> = None;
    for path in &files {
        // Bounded and checked first; kube-rs then reads it as every client does.
        kubeconfig::read_model(path)?;
        let config = Kubeconfig::read_from(path)
            .map_err(|err| ConfigError::caused_by(format!("cannot read kubeconfig {}", path.display()), err))?;
        merged = Some(match merged {
            Some(first) => first
                .merge(config)
                .map_err(|err| ConfigError::caused_by("cannot merge the kubeconfig files", err))?,
            None => config,
        });
    }
    let merged = merged.expect("at least one file was read");
    let context = access
        .context
        .map(str::to_owned)
        .or_else(|| merged.current_context.clone());
    let user = context.as_deref().and_then(|name| {
        merged
            .contexts
            .iter()
            .find(|c| c.name == name)
            .and_then(|c| c.context.as_ref())
            .and_then(|c| c.user.clone())
    });
    let identity = match (&user, &context) {
        (Some(user), Some(context)) => format!("user {user:?} of context {context:?}"),
        _ => "the kubeconfig's user".to_owned(),
    };
    let options = KubeConfigOptions {
        context: access.context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let config = kube::Config::from_custom_kubeconfig(merged, &options)
        .await
        .map_err(|err| {
            ConfigError::caused_by(
                match &context {
                    Some(name) => format!("cannot use kubeconfig context {name:?}"),
                    None => "the kubeconfig has no current context".to_owned(),
                },
                err,
            )
            .with_hint("pick one with --context NAME (kubectl config get-contexts)")
        })?;
    Ok((config, identity))
}

/// The pod's service account, named by its token's subject.
fn in_cluster(context: Option<&str>) -> anyhow::Result<(kube::Config, String)> {
    if let Some(context) = context {
        return Err(
            ConfigError::new(format!("context {context:?}: no kubeconfig file exists"))
                .with_hint("pass --kubeconfig PATH, or set KUBECONFIG")
                .into(),
        );
    }
    let config = kube::Config::incluster().map_err(|err| {
        ConfigError::caused_by(
            "no kubeconfig file ($KUBECONFIG, ~/.kube/config) and no in-cluster service account",
            err,
        )
        .with_hint("pass --kubeconfig PATH, or run in a pod with a service account token")
    })?;
    let subject = fsutil::read_regular(Path::new(SERVICE_ACCOUNT_TOKEN), 64 * 1024)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|token| crate::token::jwt::decode(token.trim()))
        .and_then(|jwt| jwt.claims.get("sub")?.as_str().map(str::to_owned));
    let identity = match subject {
        Some(subject) => format!("service account {subject:?}"),
        None => "the pod's service account".to_owned(),
    };
    Ok((config, identity))
}
