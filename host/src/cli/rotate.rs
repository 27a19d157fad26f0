//! `accounts rotate`: the worker's account hit a wall; wall it, release the
//! seat, and print the env of the next seat.

use super::wall::WallTime;
use super::{Context, EnvOutput, LeaseFlags, no_seat_as_json, print};
use crate::error::{Error, Result, usage};
use crate::exit::ExitStatus;
use crate::holder;
use crate::launch;
use crate::seats::{self, Claim};
use crate::state::StateStore;
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
    worker: Option<String>,
    /// --holder-pid defaults to the old lease's holder while it runs
    #[command(flatten)]
    lease: LeaseFlags,
    #[command(flatten)]
    output: EnvOutput,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    // Optional to clap, so that `--help` does not show it as required.
    let Some(worker) = args.worker.clone() else {
        return Err(usage(
            "which worker? pass --worker ID, or run it where launch-env's env is (it sets $ACCOUNTS_WORKER)",
        ));
    };
    seats::check_worker_id(&worker)?;
    let roster = ctx.roster()?;
    let plugins = ctx.plugin_host(Some(&roster))?;
    let ttl_secs = args.lease.ttl_secs()?;
    let explicit_holder = args.lease.holder_pid.map(|_| args.lease.holder()).transpose()?;
    let store = ctx.store(Some(&roster))?;
    let now = store.now();
    let explicit_until = args.time.resolve(now)?;
    let host = holder::host_name();

    // Find the worker's account first, to load its plugin outside the lock.
    let current = store.change(|state| {
        seats::prune(state, &host, now);
        state.lease_of(&worker).cloned()
    })?;
    let Some(current) = current else {
        return Err(usage(format!(
            "worker {:?} holds no lease; start it with `accounts launch-env --worker {}`",
            worker, worker
        )));
    };
    let agent = seats::account(&roster, &current.account)?.agent.clone();
    let plugin = plugins.load(&agent)?;
    // Kept in the state: a token pasted into the reason is masked.
    let reason = args.reason.as_deref().map(|r| ctx.redactor(&roster, &plugin).scrub_str(r));

    let outcome = store.update_and_publish(
        |state| {
            seats::prune(state, &host, now);
            let Some(lease) = state.lease_of(&worker).cloned() else {
                return Err(usage(format!("worker {:?} lost its lease meanwhile; launch it again", worker)));
            };
            let until = seats::wall_account(&roster, state, &lease.account, explicit_until, now, reason.clone()).until;
            state.release(|l| l.worker == worker);
            let holder = explicit_holder.unwrap_or_else(|| {
                if lease.host == host && lease.holder.is_alive() { lease.holder } else { holder::default_holder() }
            });
            let claim = Claim {
                agent: &agent,
                worker: &worker,
                host: &host,
                holder,
                ttl_secs,
                now,
                spec: Some(plugin.spec()),
                prefer: None,
            };
            // The wall and the release stand even when no seat is left: they are
            // facts about the account, and the worker must not stay on it.
            match seats::lease_seat(&roster, state, &claim) {
                Ok(account) => {
                    let launch = launch::launch_env(account, &plugin, Some(&worker), now)?;
                    Ok(Ok((args.output.render(&launch)?, launch.env.account, until)))
                }
                Err(e @ Error::NoSeat { .. }) => Ok(Err(e)),
                Err(e) => Err(e),
            }
        },
        // When the env cannot reach the caller, the rotation changes nothing
        // (the wall too; run it again).
        |outcome| match outcome {
            Ok((env, ..)) => print(env).map(drop),
            Err(_) => Ok(()),
        },
    )?;
    let (_, moved_to, until) = outcome.map_err(|e| no_seat_as_json(e, args.output.json()))?;
    crate::notice::note(format!(
        "walled {} until {}; {} moved to {}",
        current.account,
        timefmt::format_local_until(until, now),
        worker,
        moved_to
    ));
    Ok(ExitStatus::Success)
}
