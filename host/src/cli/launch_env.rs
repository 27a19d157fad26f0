//! `accounts launch-env`: pick a seat (or take a named account) and print
//! its env for `eval`.

use std::io::IsTerminal;

use super::{Context, SeatFlags, no_seat_as_json, print};
use crate::error::{Result, usage};
use crate::holder;
use crate::launch::{self, Launch};
use crate::render::{Format, render};
use crate::seats::{self, Claim};
use crate::state::StateStore;
use crate::timefmt;

#[derive(clap::Args)]
pub struct Args {
    /// Launch this account directly: no seat is leased
    #[arg(long, value_name = "NAME", conflicts_with_all = ["agent", "worker", "holder_pid"])]
    account: Option<String>,
    /// Agent kind to pick a seat for [default: the roster's default_agent]
    #[arg(long, value_name = "KIND")]
    agent: Option<String>,
    #[command(flatten)]
    seat: SeatFlags,
    /// Output format
    #[arg(long, value_enum, default_value = "sh")]
    format: Format,
    /// Print a token even when stdout is a terminal
    #[arg(long)]
    reveal: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<()> {
    let roster = ctx.roster()?;
    let registry = ctx.registry(Some(&roster));
    let runtime = ctx.runtime(Some(&roster))?;
    let now = timefmt::now();
    let launch = match &args.account {
        Some(name) => {
            let account = seats::account(&roster, name)?;
            let plugin = ctx.plugin(&registry, &runtime, &account.agent)?;
            let launch = launch::launch_env(account, &plugin, None, now)?;
            refuse_token_on_terminal(&launch, args.reveal)?;
            launch
        }
        None => {
            let agent = seats::agent_for(&roster, args.agent.as_deref())?;
            // Load the plugin before taking the lock: a broken plugin must not
            // hold up other workers, and fails before any state changes.
            let plugin = ctx.plugin(&registry, &runtime, agent)?;
            let host = holder::host_name();
            let holder = args.seat.holder()?;
            let worker = args.seat.worker(&host, &holder);
            let claim = Claim { agent, worker: &worker, host: &host, holder, ttl_secs: args.seat.ttl_secs()?, now };
            let store = ctx.store()?;
            store
                .update(|state| {
                    seats::prune(state, &host, now);
                    let account = seats::lease_seat(&roster, state, &claim)?;
                    let launch = launch::launch_env(account, &plugin, Some(&worker), now)?;
                    // Checked before the lease is written, so a refusal loses nothing.
                    refuse_token_on_terminal(&launch, args.reveal)?;
                    Ok(launch)
                })
                .map_err(|e| no_seat_as_json(e, args.format == Format::Json))?
        }
    };
    print(&render(&launch.env, args.format))
}

/// A token printed to a terminal ends up in scrollback and screen shares;
/// print it only to a pipe or file, or when asked to.
pub fn refuse_token_on_terminal(launch: &Launch, reveal: bool) -> Result<()> {
    if launch.token.is_some() && !reveal && std::io::stdout().is_terminal() {
        return Err(usage(
            "refusing to print a token to a terminal; capture it (out=$(accounts launch-env ...)) or pass --reveal",
        ));
    }
    Ok(())
}
