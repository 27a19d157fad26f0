//! `accounts allocate`: lease seats for a fleet of workers in one go.

use super::{Context, LeaseFlags, no_seat_as_json, print};
use crate::error::{Result, usage};
use crate::exit::ExitStatus;
use crate::holder;
use crate::learn;
use crate::seats::{self, Claim};
use crate::state::StateStore;

#[derive(clap::Args)]
pub struct Args {
    /// Agent kind [default: the roster's default_agent]
    #[arg(long, value_name = "KIND", add = super::completions::kinds())]
    agent: Option<String>,
    /// How many workers, named w1..wN unless names are given
    #[arg(long, value_name = "N")]
    workers: Option<usize>,
    /// Worker names
    names: Vec<String>,
    #[command(flatten)]
    lease: LeaseFlags,
    /// Print JSON
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    let workers: Vec<String> = match (args.workers, args.names.is_empty()) {
        (Some(n), true) => (1..=n).map(|i| format!("w{i}")).collect(),
        (None, false) => args.names.clone(),
        (Some(n), false) if n == args.names.len() => args.names.clone(),
        (Some(n), false) => return Err(usage(format!("--workers {n} but {} names given", args.names.len()))),
        (None, true) => return Err(usage("allocate needs --workers N or worker names")),
    };
    if workers.is_empty() {
        return Err(usage("allocate needs at least one worker"));
    }
    for worker in &workers {
        seats::check_worker_id(worker)?;
    }
    let mut seen = std::collections::BTreeSet::new();
    if let Some(dup) = workers.iter().find(|w| !seen.insert(*w)) {
        return Err(usage(format!("worker {dup:?} is named twice")));
    }
    let roster = ctx.roster()?;
    let agent = seats::agent_for(&roster, args.agent.as_deref())?;
    let (holder, ttl_secs) = (args.lease.holder()?, args.lease.ttl_secs()?);
    // Whose login each account is, asked before the lock: accounts of one
    // login share its seats, so twins never get more than one of them has.
    let plugins = ctx.plugin_host(Some(&roster))?;
    let plugin = plugins.load(agent)?;
    let logins = learn::ask_logins(&roster, &plugin, agent, crate::clock::now());
    let store = ctx.store(Some(&roster))?;
    let now = store.now();
    let host = holder::host_name();
    let claim =
        Claim { agent, worker: "", host: &host, holder, ttl_secs, now, spec: Some(plugin.spec()), prefer: None };
    store
        .update_and_publish(
            |state| {
                seats::prune(state, &host, now);
                learn::keep_logins(state, &roster, &logins, now);
                let placed = seats::lease_many(&roster, state, &claim, &workers)?;
                Ok(if args.json {
                    let rows: Vec<_> =
                        placed.iter().map(|(w, a)| serde_json::json!({"worker": w, "account": a})).collect();
                    format!("{}\n", serde_json::Value::from(rows))
                } else {
                    placed.iter().map(|(w, a)| format!("{w}\t{a}\n")).collect()
                })
            },
            // Leases nobody was told about are not kept.
            |text| print(text).map(drop),
        )
        .map(|_| ExitStatus::Success)
        .map_err(|e| no_seat_as_json(e, args.json))
}
