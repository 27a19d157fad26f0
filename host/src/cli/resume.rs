//! `accounts resume [SESSION] [--agent KIND] [-- ARGS]`: continue a
//! conversation that ended at a wall (or in a run that was killed) on a
//! free seat. The conversation is looked for in every config dir of the
//! kind's accounts (newest first when no id is given, in the current
//! directory's conversations), carried to the seat's config dir, and the
//! agent runs under `exec --rotate`, so a wall moves it on again.

use super::Context;
use super::exec::{Job, RunArgs, supervise};
use crate::error::{Result, usage};
use crate::exit::ExitStatus;
use crate::launch;
use crate::plugin::{Conversation, ConversationQuery, Plugin};
use crate::roster::{Account, Roster};
use crate::seats;

#[derive(clap::Args)]
pub struct Args {
    /// The agent's id for the conversation [default: the newest of this directory's]
    #[arg(value_name = "SESSION")]
    session: Option<String>,
    /// Agent kind whose accounts to search [default: the roster's default_agent]
    #[arg(long, value_name = "KIND", add = super::completions::kinds())]
    agent: Option<String>,
    #[command(flatten)]
    run: RunArgs,
    /// More arguments for the agent, after `--` (e.g. `-p` for a one-shot run)
    #[arg(last = true, value_name = "ARGS")]
    extra: Vec<String>,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    let roster = ctx.roster()?;
    let kind = seats::agent_for(&roster, args.agent.as_deref())?.to_owned();
    let plugins = ctx.plugin_host(Some(&roster))?;
    let plugin = plugins.load(&kind)?;
    let (from, found) = newest(&roster, &plugin, &kind, args.session.as_deref())?;
    let argv = std::iter::once(plugin.spec().program()).chain(args.extra).collect();
    let job = Job { argv, account: None, rotate: true, fresh: false, resume: Some((from.name.clone(), found)) };
    supervise(ctx, &roster, &plugin, &args.run, job)
}

/// The newest conversation `session` names (or of the current directory)
/// in any config dir of `kind`'s accounts.
fn newest<'r>(
    roster: &'r Roster,
    plugin: &Plugin<'_>,
    kind: &str,
    session: Option<&str>,
) -> Result<(&'r Account, Conversation)> {
    let cwd = std::env::current_dir().ok().and_then(|d| d.to_str().map(str::to_owned));
    let query = ConversationQuery {
        id: session.map(str::to_owned),
        cwd: if session.is_some() { None } else { cwd },
        since: None,
        output: String::new(),
    };
    let now = crate::clock::now();
    let accounts: Vec<&Account> = roster.accounts.iter().filter(|a| a.agent == kind).collect();
    let mut best: Option<(i64, &Account, Conversation)> = None;
    for account in &accounts {
        let Some(found) = plugin.find_conversation(&launch::request(account, None, now), &query)? else { continue };
        let written = found.files.first().and_then(|f| modified(&account.config_dir.join(f))).unwrap_or(0);
        if best.as_ref().is_none_or(|(at, ..)| written > *at) {
            best = Some((written, account, found));
        }
    }
    let names: Vec<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    match best {
        Some((_, account, found)) => Ok((account, found)),
        None => Err(usage(match session {
            Some(id) => format!(
                "no conversation {id:?} in the config dir of any {kind} account ({}); check the id, or run \
                 `accounts resume` in the directory the conversation ran in",
                names.join(", ")
            ),
            None => format!(
                "no {kind} conversation of this directory in any account's config dir ({}); give its id: \
                 accounts resume SESSION",
                names.join(", ")
            ),
        })),
    }
}

fn modified(path: &std::path::Path) -> Option<i64> {
    let at = std::fs::symlink_metadata(path).ok()?.modified().ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_secs() as i64)
}
