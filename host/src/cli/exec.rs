//! `accounts exec`: lease a seat, run a command under it, and (with
//! `--rotate`) move it to the next seat when the agent hits its wall.

use super::{Context, PluginHost};
use crate::bind;
use crate::error::{Result, usage};
use crate::exec::{Options, Supervisor};
use crate::exit::ExitStatus;
use crate::holder::{self, Holder};
use crate::launch::ACCOUNT_VAR;
use crate::notice;
use crate::plugin::{Conversation, Plugin, builtin};
use crate::roster::Roster;
use crate::seats;
use crate::timefmt;

#[derive(clap::Args)]
pub struct Args {
    /// Take the seat on this account (a seat on it is leased)
    #[arg(long, value_name = "NAME", conflicts_with = "agent", add = super::completions::accounts())]
    account: Option<String>,
    /// Agent kind to pick a seat for [default: the roster's default_agent]
    #[arg(long, value_name = "KIND", add = super::completions::kinds())]
    agent: Option<String>,
    /// Watch the output for the agent's rate-limit wall; on one, wall the
    /// account and continue on the next seat, resuming the conversation
    #[arg(long)]
    rotate: bool,
    /// At a wall, start the command afresh instead of resuming the agent's
    /// conversation on the next account
    #[arg(long, requires = "rotate")]
    fresh: bool,
    #[command(flatten)]
    run: RunArgs,
    /// The command and its arguments, after `--`
    #[arg(required = true, last = true, value_name = "CMD")]
    command: Vec<String>,
}

// The flags `exec` and `resume` share (a plain comment: clap would take a
// doc comment of a flattened group for the command's summary).
#[derive(clap::Args)]
pub struct RunArgs {
    /// Worker id [default: <host>-<pid of this exec>]
    #[arg(long, value_name = "ID")]
    worker: Option<String>,
    /// Lease lifetime; renewed while the command runs, released when it ends
    #[arg(long, default_value = "12h", value_name = "DURATION")]
    ttl: String,
    /// Give up (exit 75) after this many rotations
    #[arg(long, value_name = "N")]
    max_rotations: Option<u32>,
    /// When no seat is free, wait for the first wall to lift instead of exiting 75
    #[arg(long)]
    wait: bool,
    /// Time a walled agent gets between SIGTERM and SIGKILL
    #[arg(long, default_value = "10s", value_name = "DURATION")]
    grace: String,
    /// Run even inside another accounts session ($ACCOUNTS_ACCOUNT is set)
    #[arg(long)]
    nested: bool,
    /// Do not say on stderr which account the run starts on
    #[arg(short, long)]
    quiet: bool,
}

/// The shortest lease `exec` can keep renewed.
const MIN_EXEC_TTL_SECS: i64 = 3;

pub fn run(ctx: &Context, args: Args) -> Result<ExitStatus> {
    if args.run.max_rotations.is_some() && !args.rotate {
        return Err(usage("--max-rotations goes with --rotate"));
    }
    let roster = ctx.roster()?;
    let plugins = ctx.plugin_host(Some(&roster))?;
    let agent = agent_of_run(&roster, &plugins, &args)?;
    let plugin = plugins.load(&agent)?;
    let job = Job { argv: args.command, account: args.account, rotate: args.rotate, fresh: args.fresh, resume: None };
    supervise(ctx, &roster, &plugin, &args.run, job)
}

/// The kind to run: `--account`'s, else `--agent`, else the kind whose
/// plugin claims the command's program (`exec -- claude ...`), else the
/// roster's default. A command another kind claims is refused on this
/// kind's seat: it would run under whatever login that agent finds, the
/// wrong identity.
fn agent_of_run(roster: &Roster, plugins: &PluginHost, args: &Args) -> Result<String> {
    let program = args.command.first().map_or("", String::as_str);
    let claimant = claimant_of(roster, plugins, program)?;
    let agent = match (&args.account, &args.agent, &claimant) {
        (Some(name), ..) => seats::account(roster, name)?.agent.clone(),
        (None, Some(agent), _) => seats::agent_for(roster, Some(agent))?.to_owned(),
        (None, None, Some(kind)) => seats::agent_for(roster, Some(kind))?.to_owned(),
        (None, None, None) => {
            seats::agent_for(roster, bind::here(&roster.bindings).and_then(|b| roster.bound_kind(b)))?.to_owned()
        }
    };
    match claimant {
        Some(kind) if kind != agent => Err(usage(format!(
            "`{program}` is the {kind} agent's program, but this run is for a {agent} seat{}: it would run under \
             whatever {kind} login it finds; drop {} or run a {agent} command",
            args.account.as_ref().map(|a| format!(" (account {a})")).unwrap_or_default(),
            if args.account.is_some() { "--account" } else { "--agent" },
        ))),
        _ => Ok(agent),
    }
}

/// The kind whose plugin claims `program`, among the roster's kinds and the
/// built-ins; several claimants are an error, never a guess. A plugin that
/// fails to load is named on stderr and passed over.
fn claimant_of(roster: &Roster, plugins: &PluginHost, program: &str) -> Result<Option<String>> {
    let mut kinds: Vec<String> = roster.accounts.iter().map(|a| a.agent.clone()).collect();
    kinds.extend(builtin::BUILTINS.iter().map(|(kind, _, _)| (*kind).to_owned()));
    kinds.sort();
    kinds.dedup();
    let mut claimants = Vec::new();
    for kind in kinds {
        match plugins.load(&kind) {
            Ok(plugin) if plugin.spec().claims(program) => claimants.push(kind),
            Ok(_) => {}
            Err(e) => notice::warn(format!("passing over the {kind} plugin to find whose `{program}` is: {e}")),
        }
    }
    match claimants.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.clone())),
        several => {
            Err(usage(format!("`{program}` is claimed by the plugins of {}; pass --agent KIND", several.join(" and "))))
        }
    }
}

/// What to run, besides the shared flags.
pub struct Job {
    pub argv: Vec<String>,
    pub account: Option<String>,
    pub rotate: bool,
    pub fresh: bool,
    pub resume: Option<(String, Conversation)>,
}

/// Lease a seat and run `job` on it under the supervisor.
pub fn supervise(ctx: &Context, roster: &Roster, plugin: &Plugin<'_>, args: &RunArgs, job: Job) -> Result<ExitStatus> {
    if let Some(outer) = std::env::var_os(ACCOUNT_VAR)
        && !args.nested
    {
        return Err(usage(format!(
            "already running under account {:?} ({ACCOUNT_VAR} is set): a nested exec would take a second seat; \
             pass --nested if that is what you want",
            outer.to_string_lossy()
        )));
    }
    let ttl_secs = timefmt::parse_duration(&args.ttl).map_err(|e| usage(format!("--ttl: {e}")))?;
    // Renewed every third of the TTL, at least a second apart, with
    // expiries counted in whole seconds: below 3 s a renewal can come after
    // the lease has already ended.
    if ttl_secs < MIN_EXEC_TTL_SECS {
        return Err(usage(format!(
            "--ttl {} is too short for exec to renew its lease in time (it renews every third of it); \
             use at least {MIN_EXEC_TTL_SECS}s",
            args.ttl
        )));
    }
    let grace_ms = timefmt::parse_duration_ms(&args.grace).map_err(|e| usage(format!("--grace: {e}")))?;
    let store = ctx.store(Some(roster))?;
    let host = holder::host_name();
    // The lease lives as long as this process, which outlives the child.
    let holder = Holder::of(std::process::id());
    let worker = args.worker.clone().unwrap_or_else(|| format!("{host}-{}", holder.pid));
    seats::check_worker_id(&worker)?;
    let supervisor = Supervisor {
        roster,
        plugin,
        store: &store,
        host,
        holder,
        redactor: ctx.redactor(roster, plugin),
        options: Options {
            argv: job.argv,
            agent: plugin.spec().kind.clone(),
            account: job.account,
            worker,
            ttl_secs,
            rotate: job.rotate,
            max_rotations: args.max_rotations,
            wait: args.wait,
            grace: std::time::Duration::from_millis(grace_ms),
            fresh: job.fresh,
            resume: job.resume,
            quiet: args.quiet,
            // A bound directory's account first (a resumed or named run has its own).
            prefer: bind::here(&roster.bindings)
                .and_then(|b| b.account())
                .filter(|a| roster.account(a).is_some_and(|a| a.agent == plugin.spec().kind))
                .map(str::to_owned),
        },
        handled_walls: Default::default(),
    };
    supervisor.run().map(ExitStatus::Agent)
}
