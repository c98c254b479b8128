//! One module per command that outgrew `lib.rs`, and what several of them share.

pub mod api;
pub mod cache;
pub mod doctor;
pub mod get;
pub mod inspect;
pub mod login;
pub mod profile;
pub mod secret;
pub mod setup;

use crate::Context;
use crate::cache::{Cache, Options, Source, get_or_fetch};
use crate::log_at;
use crate::net::Online;
use crate::output::DECISIONS;
use crate::paths::Paths;
use crate::profile::{LoadedFile, ResolvedProfile};
use crate::time::Timestamp;
use crate::token::Token;

/// Loads the profiles file, selects the profile (`-p`, `$RUNAI_PROFILE`,
/// `current-profile`, the only one) and resolves it. From here on the secret is
/// registered with the log, so nothing this process writes to stderr can show it.
pub fn resolve_profile(ctx: &Context<'_>, paths: &Paths) -> anyhow::Result<ResolvedProfile> {
    resolve_profile_with(ctx, paths, None)
}

/// [`resolve_profile`], reading the profiles file's parse from `parsed` while the
/// file is unchanged and keeping it there after a parse: `get`'s, on the hot path
/// (docs/performance.md#where-the-time-goes).
pub fn resolve_profile_with(
    ctx: &Context<'_>,
    paths: &Paths,
    parsed: Option<&crate::cache::ParsedProfiles>,
) -> anyhow::Result<ResolvedProfile> {
    let path = &paths.profiles_file;
    let text = LoadedFile::read(path)?;
    let file = match parsed.and_then(|kept| kept.recall(path, &text, ctx.log)) {
        Some(file) => LoadedFile::parsed(path, text, file)?,
        None => {
            let loaded = LoadedFile::parse(path, text)?;
            if let Some(kept) = parsed {
                kept.remember(path, loaded.text(), &loaded.file, ctx.log);
            }
            loaded
        }
    };
    let resolved = file.resolve_selected(ctx.global.profile.as_deref(), ctx.env)?;
    if let Some(secret) = resolved.loaded_secret() {
        ctx.log.protect(secret.expose());
    }
    log_at!(
        ctx.log,
        DECISIONS,
        "profile {:?} from {} (auth: {}, client {:?}, secret from {})",
        resolved.name,
        paths.profiles_file.display(),
        resolved.auth.as_str(),
        resolved.client_id,
        resolved.secret_source
    );
    if resolved.tls.insecure_skip_verify {
        ctx.log.warn(format_args!(
            "profile {:?} has insecure-skip-tls-verify: TLS certificates are not verified",
            resolved.name
        ));
    }
    Ok(resolved)
}

/// The cache directory of `paths`, with the test-only lock wait when it is set.
pub fn cache_of(paths: &Paths) -> Cache {
    let cache = Cache::new(&paths.cache_dir);
    match paths.lock_wait {
        Some(wait) => cache.with_lock_wait(wait),
        None => cache,
    }
}

/// A token for `profile` through the cache: the cached one when it is fresh, else one
/// from the server, through `online` when the command has one, else through one built
/// here, on the miss only. A person's profile renews its session, and signs in when
/// `interaction` allows it (docs/login.md).
pub fn cached_token(
    ctx: &Context<'_>,
    paths: &Paths,
    profile: &ResolvedProfile,
    options: Options,
    now: Timestamp,
    online: Option<&Online>,
) -> anyhow::Result<(Token, Source)> {
    cached_token_with(ctx, paths, profile, options, now, online, &|| None)
}

/// [`cached_token`], with a sign-in allowed as `interaction` says.
pub fn cached_token_with(
    ctx: &Context<'_>,
    paths: &Paths,
    profile: &ResolvedProfile,
    options: Options,
    now: Timestamp,
    online: Option<&Online>,
    interaction: &dyn Fn() -> Option<crate::login::Interaction>,
) -> anyhow::Result<(Token, Source)> {
    let cache = cache_of(paths);
    get_or_fetch(&cache, profile, options, ctx.log, now, |held| {
        let built;
        let online = match online {
            Some(online) => online,
            None => {
                built = Online::new(profile, ctx.log)?;
                &built
            }
        };
        if profile.grant.is_user() {
            return crate::login::user_token(profile, &cache, held, online, interaction().as_ref(), ctx.log, now);
        }
        // A client-secret-command runs here, on a miss only.
        let secret = profile.secret()?;
        ctx.log.protect(secret.expose());
        // The remembered endpoints (even under --no-cache, which is about tokens),
        // when the cache directory is trusted.
        Ok(online
            .fetch(profile, secret, Some(&paths.cache_dir), ctx.log, now)?
            .token)
    })
}
