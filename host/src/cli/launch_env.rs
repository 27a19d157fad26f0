//! `accounts launch-env`: pick a seat (or take a named account) and print
//! its env for `eval`.

use super::{Context, EnvOutput, LeaseFlags, no_seat_as_json, print};
use crate::bind;
use crate::error::Result;
use crate::exit::ExitStatus;
use crate::holder;
use crate::launch;
use crate::learn;
use crate::seats::{self, Claim};
use crate::state::StateStore;

#[derive(clap::Args)]
pub struct Args {
    /// Launch this account directly: no seat is leased
    #[arg(long, value_name = "NAME", conflicts_with_all = ["agent", "worker", "holder_pid"], add = super::completions::accounts())]
    account: Option<String>,
    /// Agent kind to pick a seat for [default: the roster's default_agent]
    #[arg(long, value_name = "KIND", add = super::completions::kinds())]
    agent: Option<String>,
    /// Worker id [default: <host>-<holder pid>]
    #[arg(long, value_name = "ID")]
    worker: Option<String>,
    #[command(flatten)]
    lease: LeaseFlags,
    #[command(flatten)]
    output: EnvOutput,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    let roster = ctx.roster()?;
    let plugins = ctx.plugin_host(Some(&roster))?;
    match &args.account {
        Some(name) => {
            let account = seats::account(&roster, name)?;
            let plugin = plugins.load(&account.agent)?;
            print(&args.output.render(&launch::launch_env(account, &plugin, None, crate::clock::now())?)?)
        }
        None => {
            // A bound directory's kind, when no --agent; its account first.
            let here = bind::here(&roster.bindings);
            let agent = seats::agent_for(&roster, args.agent.as_deref().or(here.and_then(|b| roster.bound_kind(b))))?;
            let prefer = here.and_then(|b| b.account()).filter(|a| roster.account(a).is_some_and(|a| a.agent == agent));
            // Load the plugin before taking the lock: a broken plugin must not
            // hold up other workers, and fails before any state changes.
            let plugin = plugins.load(agent)?;
            let host = holder::host_name();
            let holder = args.lease.holder()?;
            let worker = args.worker.clone().unwrap_or_else(|| format!("{host}-{}", holder.pid));
            seats::check_worker_id(&worker)?;
            let ttl_secs = args.lease.ttl_secs()?;
            let store = ctx.store(Some(&roster))?;
            let now = store.now();
            let claim =
                Claim { agent, worker: &worker, host: &host, holder, ttl_secs, now, spec: Some(plugin.spec()), prefer };
            store
                .update_and_publish(
                    |state| {
                        seats::prune(state, &host, now);
                        // Twins share a quota: a first launch learns whose
                        // login each account is (later ones ask nothing).
                        learn::learn_unknown_logins(state, &roster, &plugin, agent, now);
                        let account = seats::lease_seat(&roster, state, &claim)?;
                        args.output.render(&launch::launch_env(account, &plugin, Some(&worker), now)?)
                    },
                    // When the env cannot reach the caller (refused on a
                    // terminal, a full disk, a closed pipe), the lease is not kept.
                    |env| print(env).map(drop),
                )
                .map(|_| ExitStatus::Success)
                .map_err(|e| no_seat_as_json(e, args.output.json()))
        }
    }
}
