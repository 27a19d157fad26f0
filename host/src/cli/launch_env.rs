//! `accounts launch-env`: print one account's env for `eval`.

use std::io::IsTerminal;

use super::{Context, print};
use crate::error::{Result, usage};
use crate::launch;
use crate::render::{Format, render};

#[derive(clap::Args)]
pub struct Args {
    /// Launch this account (no seat is leased)
    #[arg(long, value_name = "NAME")]
    account: Option<String>,
    /// Output format
    #[arg(long, value_enum, default_value = "sh")]
    format: Format,
    /// Print a token even when stdout is a terminal
    #[arg(long)]
    reveal: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<()> {
    let roster = ctx.roster()?;
    let Some(name) = &args.account else {
        return Err(usage("launch-env needs --account NAME"));
    };
    let account = roster.account(name).ok_or_else(|| {
        let names: Vec<&str> = roster.accounts.iter().map(|a| a.name.as_str()).collect();
        usage(format!("no account {name:?} in {}; accounts: {}", roster.path.display(), names.join(", ")))
    })?;
    let registry = ctx.registry(Some(&roster));
    let runtime = ctx.runtime()?;
    let plugin = ctx.plugin(&registry, &runtime, &account.agent)?;
    let launch = launch::launch_env(account, &plugin, None, crate::timefmt::now())?;
    refuse_token_on_terminal(launch.token.is_some(), args.reveal)?;
    print(&render(&launch.env, args.format))
}

/// A token printed to a terminal ends up in scrollback and screen shares;
/// print it only to a pipe, or when asked to.
pub fn refuse_token_on_terminal(has_token: bool, reveal: bool) -> Result<()> {
    if has_token && !reveal && std::io::stdout().is_terminal() {
        return Err(usage(
            "refusing to print a token to a terminal; capture it (out=$(accounts launch-env ...)) or pass --reveal",
        ));
    }
    Ok(())
}
