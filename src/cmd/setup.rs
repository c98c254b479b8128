//! `setup`: an exec user that runs this plugin, and optionally a context, written into
//! kubeconfig (docs/kubeconfig.md#what-setup-writes). No secret ever goes into kubeconfig: the user's args
//! name the profile and the absolute path of the profiles file, nothing else.

use crate::Context;
use crate::cli::SetupArgs;
use crate::config_error;
use crate::error::Exit;
use crate::kubeconfig::{self, ContextEdit, ExecUser, Outcome};
use crate::output;
use crate::paths::absolute;
use crate::profile::LoadedFile;

pub fn run(ctx: &Context<'_>, args: SetupArgs) -> anyhow::Result<Exit> {
    let paths = ctx.paths()?;
    let file = LoadedFile::load(&paths.profiles_file)?;
    let profile = file.select(ctx.global.profile.as_deref())?;
    let user = args.user.unwrap_or_else(|| format!("runai-{}", profile.name));
    let target = absolute(&kubeconfig::choose_file(
        args.kubeconfig.as_deref(),
        &paths.kubeconfigs,
        &user,
    )?)?;
    let exec_user = ExecUser {
        user: user.clone(),
        command: args.command.clone(),
        profile: profile.name.clone(),
        profiles_file: paths.profiles_file.clone(),
        api_version: args.exec_api_version.unwrap_or_default(),
        interactive: profile.grant.unwrap_or_default().is_user(),
    };
    let context = args.context.map(|name| ContextEdit {
        name,
        cluster: args.cluster,
        set_current: args.set_current,
    });
    let apply = |text: &str| -> anyhow::Result<Outcome> {
        // Refuse what a Kubernetes client would refuse before changing anything.
        if !text.trim().is_empty() {
            kubeconfig::parse_model(text, &target)?;
        }
        kubeconfig::edit(text, &exec_user, context.as_ref())
            .map_err(|err| config_error!("kubeconfig {}: {err}", target.display()))
    };

    let outcome = if args.dry_run {
        apply(&kubeconfig::read_text(&target)?.unwrap_or_default())?
    } else {
        kubeconfig::update(&target, apply)?
    };

    for replaced in &outcome.replaced {
        ctx.log.note(format_args!(
            "user {user:?} had {}; replaced it with the exec credential plugin",
            describe_credential(replaced)
        ));
    }
    if let Some(context) = &context {
        notice_missing_cluster(ctx, &paths.kubeconfigs, &target, context, &outcome);
    }
    if ctx.env.which(&args.command).is_none() {
        ctx.log.note(format_args!(
            "{} is not on PATH yet: kubectl will show how to install it",
            args.command
        ));
    }
    if args.dry_run {
        output::stdout(&outcome.text)?;
        return Ok(Exit::Success);
    }
    let mut text = format!(
        "user {user:?} {} in {}: runs {} get --profile {}\n",
        if outcome.user_existed { "updated" } else { "created" },
        target.display(),
        args.command,
        profile.name
    );
    if let Some(context) = &context {
        text.push_str(&format!(
            "context {:?} {}{}\n",
            context.name,
            if outcome.context_existed { "updated" } else { "created" },
            if context.set_current { ", now current" } else { "" }
        ));
    }
    output::stdout(&text)?;
    Ok(Exit::Success)
}

fn describe_credential(key: &str) -> String {
    match key {
        "exec" => "another exec plugin".to_owned(),
        "auth-provider" => "an auth-provider".to_owned(),
        "token" | "tokenFile" => format!("a static token ({key})"),
        "username" | "password" => format!("basic auth ({key})"),
        other => format!("a client certificate ({other})"),
    }
}

/// Says so when the context's cluster is defined in no kubeconfig file.
fn notice_missing_cluster(
    ctx: &Context<'_>,
    files: &[std::path::PathBuf],
    target: &std::path::Path,
    context: &ContextEdit,
    outcome: &Outcome,
) {
    let Some(cluster) = &context.cluster else { return };
    let in_target =
        kube::config::Kubeconfig::from_yaml(&outcome.text).is_ok_and(|k| k.clusters.iter().any(|c| &c.name == cluster));
    let elsewhere = files.iter().filter(|f| f.as_path() != target).any(|f| {
        kubeconfig::read_model(f)
            .ok()
            .flatten()
            .is_some_and(|k| k.clusters.iter().any(|c| &c.name == cluster))
    });
    if !in_target && !elsewhere {
        ctx.log.note(format_args!(
            "cluster {cluster:?} is not defined in kubeconfig yet: add it with kubectl config set-cluster {cluster} --server URL"
        ));
    }
}
