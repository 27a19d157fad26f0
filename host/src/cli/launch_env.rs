//! `accounts launch-env`: pick a seat (or take a named account) and print
//! its env for `eval`.

use std::io::IsTerminal;

use std::sync::mpsc;

use super::{Context, SeatFlags, no_seat_as_json, print};
use crate::error::{Result, usage};
use crate::holder;
use crate::launch::{self, Launch};
use crate::plugin::Registry;
use crate::render::{Format, render};
use crate::roster::{Account, Roster};
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
    let now = timefmt::now();
    let launch = match &args.account {
        Some(name) => {
            let account = seats::account(&roster, name)?;
            let runtime = ctx.runtime(Some(&roster))?;
            let plugin = ctx.plugin(&registry, &runtime, &account.agent)?;
            let launch = launch::launch_env(account, &plugin, None, now)?;
            refuse_token_on_terminal(&launch, args.reveal)?;
            launch
        }
        None => lease_and_launch(ctx, &args, &roster, &registry, now)?,
    };
    print(&render(&launch.env, args.format))
}

/// Lease a seat and build its env. Starting the plugin runtime and loading
/// the plugin (engine, map, verify, link: about a millisecond) and leasing
/// the seat (lock, fsync, rename: about as long) do not depend on each other,
/// so they run side by side; the loader then launches the account the lease
/// picked. If the launch fails, the lease is undone: no state is lost.
fn lease_and_launch(ctx: &Context, args: &Args, roster: &Roster, registry: &Registry, now: i64) -> Result<Launch> {
    let agent = seats::agent_for(roster, args.agent.as_deref())?;
    let host = holder::host_name();
    let holder = args.seat.holder()?;
    let worker = args.seat.worker(&host, &holder);
    let claim = Claim { agent, worker: &worker, host: &host, holder, ttl_secs: args.seat.ttl_secs()?, now };
    let store = ctx.store()?;
    std::thread::scope(|scope| {
        let (leased_account, picked) = mpsc::channel::<&Account>();
        let worker = &worker;
        let loader = scope.spawn(move || -> Result<Option<Launch>> {
            let runtime = ctx.runtime(Some(roster))?;
            let plugin = ctx.plugin(registry, &runtime, agent)?;
            // No account arrives when leasing failed; the lease error wins.
            let Ok(account) = picked.recv() else { return Ok(None) };
            let launch = launch::launch_env(account, &plugin, Some(worker), now)?;
            refuse_token_on_terminal(&launch, args.reveal)?;
            Ok(Some(launch))
        });
        let leased = store.update(|state| {
            seats::prune(state, &host, now);
            seats::lease_seat_undoable(roster, state, &claim)
        });
        let (account, undo) = match leased {
            Ok(leased) => leased,
            Err(e) => {
                drop(leased_account);
                let _ = loader.join();
                return Err(no_seat_as_json(e, args.format == Format::Json));
            }
        };
        let _ = leased_account.send(account);
        let launch = loader.join().expect("plugin loader thread panicked");
        match launch {
            Ok(Some(launch)) => Ok(launch),
            Ok(None) => unreachable!("the loader got the account"),
            Err(e) => {
                store.update(|state| {
                    seats::undo_lease(state, undo);
                    Ok(())
                })?;
                Err(e)
            }
        }
    })
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
