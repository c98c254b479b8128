//! `login` and `logout` (docs/commands.md#login): a person's session, started and
//! ended by hand.

use crate::Context;
use crate::cache::{Entry, Key};
use crate::cli::{LoginArgs, LogoutArgs};
use crate::error::{ConfigError, Exit};
use crate::login::{self, Browser, Interaction};
use crate::net::Online;
use crate::output;
use crate::profile::{ResolvedProfile, check_listen_address};
use crate::time::Timestamp;
use crate::token::TokenError;

use super::profile::split_words;

pub fn run(ctx: &Context<'_>, args: &LoginArgs) -> anyhow::Result<Exit> {
    let browser = match (&args.browser_command, args.no_browser) {
        (_, true) => Browser::None,
        (Some(command), false) => {
            Browser::Command(split_words(command).map_err(|err| crate::config_error!("--browser-command: {err}"))?)
        }
        (None, false) => Browser::Platform,
    };
    let listen = match &args.listen_address {
        Some(addresses) => Some(
            addresses
                .iter()
                .map(|a| check_listen_address(a))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|err| crate::config_error!("--listen-address: {err}"))?,
        ),
        None => None,
    };
    let how = Interaction {
        browser,
        listen,
        password_stdin: args.password_stdin,
        wait: args.timeout.0,
    };
    let paths = ctx.paths()?;
    let profile = super::resolve_profile(ctx, &paths)?;
    require_user_grant(&profile)?;
    let cache = super::cache_of(&paths);
    cache.check_trusted()?;
    let key = Key::for_profile(&profile);
    let online = Online::new(&profile, ctx.log)?;
    // Under the identity's lock: one sign-in at a time, and no refresh racing it.
    let signed_in = cache.locked(&key, || -> anyhow::Result<_> {
        let fetched = login::sign_in(&profile, &online, &how, Some(cache.dir()), ctx.log)?;
        let now = Timestamp::now();
        if let Some(entry) = Entry::for_token(&profile, &fetched.token) {
            cache.write(&key, &entry, ctx.log);
        }
        let session = login::session_after(&profile, &fetched, None, now);
        let stored = match &session {
            Some(session) => cache.write_session(&key, session, ctx.log),
            // An older session (perhaps someone else's, for a browser grant) must not
            // outlive this sign-in.
            None => std::fs::remove_file(cache.session_file(&key)).or_else(|err| match err.kind() {
                std::io::ErrorKind::NotFound => Ok(()),
                _ => Err(err),
            }),
        };
        stored.map_err(|err| {
            anyhow::Error::new(err).context(format!("cannot store the session in {}", cache.dir().display()))
        })?;
        Ok((fetched, session))
    });
    let (fetched, session) = match signed_in {
        Ok(Some(outcome)) => outcome?,
        Ok(None) => {
            return Err(TokenError::LoginNeeded {
                profile: profile.name.clone(),
                reason: format!("another process is logging in to profile {:?}", profile.name),
            }
            .into());
        }
        Err(err) => {
            return Err(anyhow::Error::new(err).context(format!("cannot lock in {}", cache.dir().display())));
        }
    };
    let who = session
        .as_ref()
        .and_then(|s| s.subject.clone())
        .or_else(|| {
            let claims = crate::token::jwt::decode(fetched.token.value.expose())?.claims;
            claims
                .get("preferred_username")
                .or(claims.get("sub"))?
                .as_str()
                .map(str::to_owned)
        })
        .map(|who| output::escape_untrusted(&who))
        .unwrap_or_else(|| "you".to_owned());
    let until = |at: Option<Timestamp>| {
        at.map(|t| t.to_string())
            .unwrap_or_else(|| "an unknown time".to_owned())
    };
    let text = match &session {
        Some(session) => format!(
            "Logged in to profile {:?} as {who}. Tokens are renewed without asking until the session ends ({}).\n",
            profile.name,
            match session.refresh_expires_at {
                Some(at) => format!("at {at}"),
                None => "when the issuer ends it".to_owned(),
            }
        ),
        None => format!(
            "Logged in to profile {:?} as {who} until {}. The issuer gave no refresh token, so log in again then \
             (add offline_access to scopes for a longer session).\n",
            profile.name,
            until(fetched.token.expires_at)
        ),
    };
    output::stdout(&text)?;
    Ok(Exit::Success)
}

fn require_user_grant(profile: &ResolvedProfile) -> anyhow::Result<()> {
    if profile.grant.is_user() {
        return Ok(());
    }
    Err(ConfigError::new(format!(
        "profile {:?} is an application's (grant: client-credentials): it needs no login",
        profile.name
    ))
    .with_hint("`get` fetches its tokens; for a person, set grant: password, authorization-code or device-code")
    .into())
}

pub fn logout(ctx: &Context<'_>, args: &LogoutArgs) -> anyhow::Result<Exit> {
    let paths = ctx.paths()?;
    let cache = super::cache_of(&paths);
    cache.check_trusted()?;
    if args.all {
        // Each session is revoked through its profile when the profiles file still
        // has it (a session outlives a deleted profile: it is then only deleted).
        let file = crate::profile::LoadedFile::load(&paths.profiles_file).ok();
        let sessions = cache.sessions()?;
        let mut revoked = 0;
        for (path, session) in &sessions {
            ctx.log.protect(session.refresh_token.expose());
            let profile = file.as_ref().and_then(|file| {
                let profile = file.file.profiles.iter().find(|p| p.name == session.profile)?;
                file.resolve(profile, ctx.env).ok()
            });
            // Only through the profile that made it: a profile of that name that now
            // names another issuer or client must not receive this refresh token.
            let profile = profile.filter(|p| cache.session_file(&Key::for_profile(p)) == *path);
            if let Some(profile) = profile {
                match Online::new(&profile, ctx.log)
                    .and_then(|online| login::revoke(&profile, session, &online, ctx.log))
                {
                    Ok(true) => revoked += 1,
                    Ok(false) => {}
                    Err(err) => ctx.log.warn(format_args!(
                        "the refresh token of profile {:?} could not be revoked: {err:#}",
                        session.profile
                    )),
                }
            }
            std::fs::remove_file(path)?;
            let _ = std::fs::remove_file(path.with_extension("json"));
        }
        output::stdout(&format!(
            "Logged out of {} session(s); the issuer revoked {revoked} refresh token(s).\n",
            sessions.len()
        ))?;
        return Ok(Exit::Success);
    }
    let profile = super::resolve_profile(ctx, &paths)?;
    require_user_grant(&profile)?;
    let key = Key::for_profile(&profile);
    // Under the identity's lock: a renewal running beside it would write a new,
    // unrevoked session after this one is gone.
    let ended = cache.locked(&key, || -> anyhow::Result<_> {
        let Some(session) = cache.read_session(&key, ctx.log) else {
            cache.remove_session(&key)?;
            return Ok(None);
        };
        // Revoked first, deleted whatever the issuer says: a session must end here
        // even when the issuer cannot be reached.
        let revoked =
            Online::new(&profile, ctx.log).and_then(|online| login::revoke(&profile, &session, &online, ctx.log));
        cache.remove_session(&key)?;
        Ok(Some(revoked))
    });
    let revoked = match ended {
        Ok(Some(outcome)) => match outcome? {
            Some(revoked) => revoked,
            None => {
                output::stdout(&format!("Profile {:?} was not logged in.\n", profile.name))?;
                return Ok(Exit::Success);
            }
        },
        Ok(None) => {
            return Err(TokenError::LoginNeeded {
                profile: profile.name.clone(),
                reason: format!(
                    "another process is renewing or logging in to profile {:?}",
                    profile.name
                ),
            }
            .into());
        }
        Err(err) => return Err(anyhow::Error::new(err).context(format!("cannot lock in {}", cache.dir().display()))),
    };
    let note = match revoked {
        Ok(true) => " The issuer revoked its refresh token.",
        Ok(false) => "",
        Err(err) => {
            ctx.log
                .warn(format_args!("the refresh token could not be revoked: {err:#}"));
            ""
        }
    };
    output::stdout(&format!("Logged out of profile {:?}.{note}\n", profile.name))?;
    Ok(Exit::Success)
}
