//! `cache list` (profile, endpoint, expiry; never a token) and `cache clear [--all]`.

use anyhow::Context as _;

use crate::Context;
use crate::cache::Cache;
use crate::cli::{CacheClearArgs, CacheCommand};
use crate::error::Exit;
use crate::output::{self, table};
use crate::profile::LoadedFile;
use crate::time::{Timestamp, human_countdown};

pub fn run(ctx: &Context<'_>, command: CacheCommand) -> anyhow::Result<Exit> {
    let paths = ctx.paths()?;
    let cache = Cache::new(&paths.cache_dir);
    let entries = cache
        .entries()
        .with_context(|| format!("cannot read the cache directory {}", paths.cache_dir.display()))?;
    match command {
        CacheCommand::List => {
            let sessions = cache
                .sessions()
                .with_context(|| format!("cannot read the cache directory {}", paths.cache_dir.display()))?;
            if entries.is_empty() && sessions.is_empty() {
                output::stdout(&format!("no cached tokens in {}\n", paths.cache_dir.display()))?;
                return Ok(Exit::Success);
            }
            let now = Timestamp::now();
            let mut text = String::new();
            let mut rows = vec![["PROFILE", "ENDPOINT", "AUTH", "CLIENT-ID", "EXPIRES"].map(str::to_owned)];
            for (_, entry) in &entries {
                rows.push([
                    entry.profile.clone(),
                    entry.endpoint.clone(),
                    entry.auth.clone(),
                    entry.client_id.clone(),
                    format!(
                        "{} ({})",
                        entry.expires_at,
                        human_countdown(now.seconds_until(entry.expires_at))
                    ),
                ]);
            }
            if !entries.is_empty() {
                text.push_str(&table(&rows));
            }
            // People's sessions: who is logged in and until when, never a token.
            if !sessions.is_empty() {
                if !text.is_empty() {
                    text.push('\n');
                }
                let mut rows = vec![["PROFILE", "USER", "GRANT", "LOGGED-IN", "SESSION-ENDS"].map(str::to_owned)];
                for (_, session) in &sessions {
                    rows.push([
                        session.profile.clone(),
                        output::escape_untrusted(session.subject.as_deref().unwrap_or("-")),
                        session.grant.clone(),
                        session.logged_in_at.to_string(),
                        match session.refresh_expires_at {
                            Some(at) => format!("{at} ({})", human_countdown(now.seconds_until(at))),
                            None => "when the issuer ends it".to_owned(),
                        },
                    ]);
                }
                text.push_str(&table(&rows));
            }
            output::stdout(&text)?;
        }
        CacheCommand::Clear(CacheClearArgs { all }) => {
            let (removed, whose) = if all {
                let count = cache
                    .clear_all()
                    .with_context(|| format!("cannot clear the cache directory {}", paths.cache_dir.display()))?;
                (count, String::new())
            } else {
                let file = LoadedFile::load(&paths.profiles_file)?;
                let name = file.select(ctx.global.profile.as_deref())?.name.clone();
                let mut count = 0;
                for (path, _) in entries.iter().filter(|(_, e)| e.profile == name) {
                    cache
                        .remove(path)
                        .with_context(|| format!("cannot delete {}", path.display()))?;
                    count += 1;
                }
                (count, format!(" of profile {name:?}"))
            };
            let plural = if removed == 1 { "" } else { "s" };
            output::stdout(&format!("deleted {removed} cached token{plural}{whose}\n"))?;
        }
    }
    Ok(Exit::Success)
}
