//! `inspect`: the token's JWT header and claims, decoded without verification, its
//! expiry, its roles, and a warning when the roles do not fit the profile's `api`.
//! The token itself is never printed.

use crate::Context;
use crate::cache;
use crate::cli::{InspectArgs, InspectFormat};
use crate::error::Exit;
use crate::inspection::Report;
use crate::output;
use crate::time::Timestamp;

pub fn run(ctx: &Context<'_>, args: &InspectArgs) -> anyhow::Result<Exit> {
    let now = Timestamp::now();
    let paths = ctx.paths()?;
    let profile = super::resolve_profile(ctx, &paths)?;
    let (token, _) = super::cached_token(ctx, &paths, &profile, cache::Options::default(), now, None)?;
    // Warnings go in the report: stderr stays empty on success.
    let report = Report::new(&profile, &token, now);
    let text = match args.output {
        InspectFormat::Table => report.table(),
        InspectFormat::Json => format!("{}\n", report.json()),
    };
    output::stdout(&text)?;
    Ok(Exit::Success)
}
