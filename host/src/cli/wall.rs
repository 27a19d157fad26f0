//! `accounts wall` and `accounts unwall`.

use super::{Context, print};
use crate::error::{Result, usage};
use crate::holder;
use crate::seats;
use crate::state::{StateStore, WallRecord};
use crate::timefmt;

/// When a wall lifts: an instant or a duration from now.
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

impl WallTime {
    /// The reset instant, or `None` when neither flag was given.
    pub fn resolve(&self, now: i64) -> Result<Option<i64>> {
        if let Some(until) = &self.until {
            let at = timefmt::parse_instant(until).map_err(|e| usage(format!("--until: {e}")))?;
            if at <= now {
                return Err(usage(format!("--until {until} is not in the future")));
            }
            return Ok(Some(at));
        }
        if let Some(d) = &self.for_ {
            return Ok(Some(now + timefmt::parse_duration(d).map_err(|e| usage(format!("--for: {e}")))?));
        }
        Ok(None)
    }
}

#[derive(clap::Args)]
pub struct WallArgs {
    /// The account that hit its limit
    account: String,
    #[command(flatten)]
    time: WallTime,
    /// Why, for `status`
    #[arg(long)]
    reason: Option<String>,
}

#[derive(clap::Args)]
pub struct UnwallArgs {
    account: String,
}

pub fn run_wall(ctx: &Context, args: WallArgs) -> Result<()> {
    let roster = ctx.roster()?;
    let account = seats::account(&roster, &args.account)?;
    let now = timefmt::now();
    let until = args.time.resolve(now)?.ok_or_else(|| usage("wall needs --until TIME or --for DURATION"))?;
    let host = holder::host_name();
    ctx.store()?.update(|state| {
        seats::prune(state, &host, now);
        state.put_wall(WallRecord { account: account.name.clone(), until, since: now, reason: args.reason.clone() });
        Ok(())
    })?;
    print(&format!(
        "walled {} until {} (in {})\n",
        account.name,
        timefmt::format_instant(until),
        timefmt::format_span(until - now)
    ))
}

pub fn run_unwall(ctx: &Context, args: UnwallArgs) -> Result<()> {
    let roster = ctx.roster()?;
    let account = seats::account(&roster, &args.account)?;
    let now = timefmt::now();
    let host = holder::host_name();
    let removed = ctx.store()?.update(|state| {
        seats::prune(state, &host, now);
        Ok(state.remove_wall(&account.name))
    })?;
    print(&if removed { format!("unwalled {}\n", account.name) } else { format!("{} was not walled\n", account.name) })
}
