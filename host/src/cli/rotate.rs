//! `accounts rotate`: the worker's account hit a wall; wall it, release the
//! seat, and print the env of the next seat.

use super::wall::WallTime;
use super::{Context, SeatFlags, no_seat_as_json, print};
use crate::error::{Error, Result, usage};
use crate::holder;
use crate::launch;
use crate::render::{Format, render};
use crate::seats::{self, Claim};
use crate::state::{StateStore, WallRecord};
use crate::timefmt;

#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    time: WallTime,
    /// Why, for `status`
    #[arg(long)]
    reason: Option<String>,
    /// The worker to move [default: $ACCOUNTS_WORKER, set by launch-env]
    #[arg(long, env = "ACCOUNTS_WORKER", value_name = "ID", hide_env = true)]
    worker: String,
    /// Keep the new lease while this process runs [default: the old lease's
    /// holder while it runs, else the calling shell]
    #[arg(long, value_name = "PID")]
    holder_pid: Option<u32>,
    /// Lease lifetime
    #[arg(long, default_value = "12h", value_name = "DURATION")]
    ttl: String,
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
    let explicit_until = args.time.resolve(now)?;
    let host = holder::host_name();
    let seat = SeatFlags { worker: Some(args.worker.clone()), holder_pid: args.holder_pid, ttl: args.ttl.clone() };
    let ttl_secs = seat.ttl_secs()?;
    let explicit_holder = args.holder_pid.map(|_| seat.holder()).transpose()?;
    let store = ctx.store()?;

    // Find the worker's account first, to load its plugin outside the lock.
    let current = store.update(|state| {
        seats::prune(state, &host, now);
        Ok(state.lease_of(&args.worker).cloned())
    })?;
    let Some(current) = current else {
        return Err(usage(format!(
            "worker {:?} holds no lease; start it with `accounts launch-env --worker {}`",
            args.worker, args.worker
        )));
    };
    let agent = seats::account(&roster, &current.account)?.agent.clone();
    let plugin = ctx.plugin(&registry, &runtime, &agent)?;

    let outcome = store.update(|state| {
        seats::prune(state, &host, now);
        let Some(lease) = state.lease_of(&args.worker).cloned() else {
            return Err(usage(format!("worker {:?} lost its lease meanwhile; launch it again", args.worker)));
        };
        // Without an explicit reset the roster's cooldown applies, but it never
        // shortens a longer wall already recorded for the account.
        let until = explicit_until.unwrap_or_else(|| {
            let cooldown = now + roster.wall_cooldown_secs;
            state.wall_of(&lease.account).map_or(cooldown, |w| w.until.max(cooldown))
        });
        state.put_wall(WallRecord { account: lease.account.clone(), until, since: now, reason: args.reason.clone() });
        state.release(|l| l.worker == args.worker);
        let holder = explicit_holder.unwrap_or_else(|| {
            if lease.host == host && lease.holder.is_alive() { lease.holder } else { holder::default_holder() }
        });
        let claim = Claim { agent: &agent, worker: &args.worker, host: &host, holder, ttl_secs, now };
        // The wall and the release stand even when no seat is left: they are
        // facts about the account, and the worker must not stay on it.
        match seats::lease_seat(&roster, state, &claim) {
            Ok(account) => {
                let launch = launch::launch_env(account, &plugin, Some(&args.worker), now)?;
                super::launch_env::refuse_token_on_terminal(&launch, args.reveal)?;
                Ok(Ok((launch, until)))
            }
            Err(e @ Error::NoSeat { .. }) => Ok(Err(e)),
            Err(e) => Err(e),
        }
    })?;
    let (launch, until) = outcome.map_err(|e| no_seat_as_json(e, args.format == Format::Json))?;
    eprintln!(
        "accounts: walled {} until {}; {} moved to {}",
        current.account,
        timefmt::format_instant(until),
        args.worker,
        launch.env.account
    );
    print(&render(&launch.env, args.format))
}
