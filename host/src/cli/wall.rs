//! `accounts wall` and `accounts unwall`.

use std::io::Read;
use std::path::{Path, PathBuf};

use super::{Context, print};
use crate::bounded;
use crate::error::{Error, Result, usage};
use crate::exec::{self, feed::WallFeed, settle::Settle};
use crate::exit::ExitStatus;
use crate::holder;
use crate::plugin::Wall;
use crate::roster::Roster;
use crate::seats;
use crate::state::StateStore;
use crate::timefmt;
use crate::untrusted::Redactor;

// When a wall lifts: an instant or a duration from now.
// (Not a doc comment: see `defer` on `cli::Command`.)
#[derive(clap::Args, Clone)]
#[group(multiple = false)]
pub struct WallTime {
    /// Reset time, RFC 3339 (e.g. 2026-11-23T15:00:00Z)
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Reset after this long (e.g. 90m, 5h, 2d)
    #[arg(long = "for", value_name = "DURATION")]
    pub for_: Option<String>,
}

/// The longest wall set by hand: longer than any vendor's limit window (a
/// plugin's resets are capped at 35 days); an account kept out for good is
/// `disabled = true` in the roster.
const MAX_HAND_WALL_SECS: i64 = 366 * 86_400;

impl WallTime {
    /// The reset instant, or `None` when neither flag was given.
    pub fn resolve(&self, now: i64) -> Result<Option<i64>> {
        let too_far = |flag: &str, value: &str| {
            usage(format!(
                "{flag} {value} is more than a year away; wall for at most 366d, or keep the account out with \
                 disabled = true in the roster"
            ))
        };
        if let Some(until) = &self.until {
            let at = timefmt::parse_instant(until).map_err(|e| usage(format!("--until: {e}")))?;
            if at <= now {
                return Err(usage(format!("--until {until} is not in the future")));
            }
            if at - now > MAX_HAND_WALL_SECS {
                return Err(too_far("--until", until));
            }
            return Ok(Some(at));
        }
        if let Some(d) = &self.for_ {
            let secs = timefmt::parse_duration(d).map_err(|e| usage(format!("--for: {e}")))?;
            if secs > MAX_HAND_WALL_SECS {
                return Err(too_far("--for", d));
            }
            return Ok(Some(now + secs));
        }
        Ok(None)
    }
}

#[derive(clap::Args)]
pub struct WallArgs {
    /// The account that hit its limit
    #[arg(add = super::completions::accounts())]
    account: String,
    #[command(flatten)]
    time: WallTime,
    /// Find the wall (and its reset time) in this captured agent output, `-` for stdin;
    /// exit 1 and record nothing when there is none
    #[arg(long, value_name = "FILE", conflicts_with_all = ["until", "for_", "reason"])]
    from_output: Option<PathBuf>,
    /// Why, for `status`
    #[arg(long)]
    reason: Option<String>,
}

#[derive(clap::Args)]
pub struct UnwallArgs {
    #[arg(add = super::completions::accounts())]
    account: String,
}

pub fn run_wall(ctx: &Context, args: WallArgs) -> Result<ExitStatus> {
    let roster = ctx.roster()?;
    let account = seats::account(&roster, &args.account)?;
    let store = ctx.store(Some(&roster))?;
    let now = store.now();
    let (resets_at, reason) = match &args.from_output {
        Some(path) => {
            let (wall, redactor) = wall_in_output(ctx, &roster, &account.agent, path)?;
            (wall.resets_at, exec::reason(&wall, &redactor))
        }
        None => {
            let until = args.time.resolve(now)?.ok_or_else(|| {
                usage("wall needs --until TIME, --for DURATION, or --from-output FILE to find it in the agent's output")
            })?;
            // A reason is kept in the state (and a fleet's database): a
            // token pasted into it is masked like one in agent output.
            let reason = match &args.reason {
                Some(reason) => {
                    let plugins = ctx.plugin_host(Some(&roster))?;
                    let plugin = plugins.load(&account.agent)?;
                    Some(ctx.redactor(&roster, &plugin).scrub_str(reason))
                }
                None => None,
            };
            (Some(until), reason)
        }
    };
    let host = holder::host_name();
    let end = store.change(|state| {
        seats::prune(state, &host, now);
        seats::wall_account(&roster, state, &account.name, resets_at, now, reason)
    })?;
    let source = if end.by_cooldown { ", no reset time in the message: wall_cooldown" } else { "" };
    print(&format!(
        "walled {} until {} (in {}{source})\n",
        account.name,
        timefmt::format_local_short(end.until, now),
        timefmt::format_span(end.until - now)
    ))
}

/// The wall the agent's plugin finds in captured output at `path` (`-` for
/// stdin), or the error that says none was found; and the redactor that
/// masks tokens in it. The output is streamed in pieces, so memory stays
/// bounded however much there is; only a regular file is read (a FIFO or a
/// device would hang or never end).
fn wall_in_output(ctx: &Context, roster: &Roster, agent: &str, path: &Path) -> Result<(Wall, Redactor)> {
    let from_stdin = path == Path::new("-");
    let shown = if from_stdin { "stdin".to_owned() } else { path.display().to_string() };
    let unreadable = |e: &dyn std::fmt::Display| usage(format!("--from-output: cannot read {shown}: {e}"));
    let mut source: Box<dyn Read> = if from_stdin {
        Box::new(std::io::stdin().lock())
    } else {
        Box::new(bounded::open_regular(path).map_err(|e| unreadable(&e))?)
    };
    let plugins = ctx.plugin_host(Some(roster))?;
    let plugin = plugins.load(agent)?;
    let zone = timefmt::local_zone_name();
    let mut feed = WallFeed::default();
    let mut settle = Settle::default();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = match source.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(unreadable(&e)),
        };
        // A wall without a reset waits one more read for the line that
        // gives it (see `exec::settle`).
        let was_pending = settle.is_pending();
        let seen = exec::observe(&plugin, feed.push(&buf[..n]), &zone)?;
        if seen.retrying.is_some() {
            settle.withdraw();
        }
        let was_pending = was_pending && settle.is_pending();
        if let Some(wall) = settle.found(seen.wall).or_else(|| was_pending.then(|| settle.take()).flatten()) {
            return Ok((wall, ctx.redactor(roster, &plugin)));
        }
    }
    if let Some(wall) = settle.take() {
        return Ok((wall, ctx.redactor(roster, &plugin)));
    }
    Err(Error::Other(anyhow::anyhow!(
        "no {agent} rate-limit message found in {shown}; nothing recorded \
         (use --until or --for to wall the account by hand)"
    )))
}

pub fn run_unwall(ctx: &Context, args: UnwallArgs) -> Result<ExitStatus> {
    let roster = ctx.roster()?;
    let account = seats::account(&roster, &args.account)?;
    let store = ctx.store(Some(&roster))?;
    let now = store.now();
    let host = holder::host_name();
    let removed = store.change(|state| {
        seats::prune(state, &host, now);
        state.remove_wall(&account.name)
    })?;
    print(&if removed { format!("unwalled {}\n", account.name) } else { format!("{} was not walled\n", account.name) })
}
