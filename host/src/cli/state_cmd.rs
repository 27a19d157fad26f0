//! `accounts state copy`: move walls and live leases between stores, so a
//! switch to the fleet's database (or back) loses no weekly wall.

use std::path::PathBuf;

use super::{Context, print};
use crate::error::{Result, usage};
use crate::exit::ExitStatus;
use crate::holder;
use crate::roster::StateConfig;
use crate::seats;
use crate::state::{FileStore, PgStore, State, StateStore, Store, check_state_url};

#[derive(clap::Subcommand)]
pub enum Command {
    /// Copy walls and live leases from this roster's store to another, or
    /// from another into it. A wall kept in both ends at the later time; a
    /// worker that already holds a lease at the destination keeps that one
    Copy(CopyArgs),
}

#[derive(clap::Args)]
#[group(required = true, multiple = false)]
pub struct CopyArgs {
    /// Copy into this store: a postgres:// URL or a state dir
    #[arg(long, value_name = "URL|DIR")]
    to: Option<String>,
    /// Copy from this store into the roster's
    #[arg(long, value_name = "URL|DIR")]
    from: Option<String>,
}

pub fn run(ctx: &Context, command: Command) -> Result<ExitStatus> {
    let Command::Copy(args) = command;
    let roster = ctx.roster()?;
    let config = ctx.state_config(Some(&roster))?;
    let here = ctx.store(Some(&roster))?;
    let (other_place, copy_out) = match (&args.to, &args.from) {
        (Some(to), _) => (to, true),
        (_, Some(from)) => (from, false),
        _ => unreachable!("clap requires one of --to and --from"),
    };
    let other = open(other_place, &config)?;
    let (from, to) = if copy_out { (&here, &other) } else { (&other, &here) };
    let host = holder::host_name();
    let now = from.now();
    let source = from.change(|state| {
        seats::prune(state, &host, now);
        state.clone()
    })?;
    let (walls, leases) = to.change(|state| {
        seats::prune(state, &host, to.now());
        merge(state, &source)
    })?;
    print(&format!(
        "copied {walls} wall{} and {leases} lease{} {} {}\n",
        plural(walls),
        plural(leases),
        if copy_out { "to" } else { "from" },
        describe(&other, other_place)
    ))
}

/// A store named on the command line; a database gets the roster's
/// namespace and timeouts.
fn open(place: &str, config: &StateConfig) -> Result<Store> {
    if place.contains("://") {
        check_state_url(place).map_err(|e| usage(format!("state copy: {e}")))?;
        Ok(Store::Postgres(Box::new(PgStore::open(place, config)?)))
    } else {
        Ok(Store::File(FileStore::open(&PathBuf::from(place))?))
    }
}

fn describe(store: &Store, place: &str) -> String {
    match store {
        Store::Postgres(db) => db.describe(),
        Store::File(_) => place.to_owned(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// Copy `source`'s walls and leases into `state`; returns how many of each
/// changed `state`. Pure.
fn merge(state: &mut State, source: &State) -> (usize, usize) {
    let mut walls = 0;
    for wall in &source.walls {
        if state.wall_of(&wall.account).is_none_or(|w| w.until < wall.until) {
            state.put_wall(wall.clone());
            walls += 1;
        }
    }
    let mut leases = 0;
    for lease in &source.leases {
        if state.lease_of(&lease.worker).is_none() {
            state.put_lease(lease.clone());
            leases += 1;
        }
    }
    for (account, &at) in &source.last_leased {
        let entry = state.last_leased.entry(account.clone()).or_insert(at);
        *entry = (*entry).max(at);
    }
    (walls, leases)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::holder::Holder;
    use crate::state::{Lease, WallRecord};

    fn wall(account: &str, until: i64) -> WallRecord {
        WallRecord { account: account.into(), until, since: 0, reason: None }
    }

    fn lease(worker: &str, account: &str) -> Lease {
        Lease {
            account: account.into(),
            worker: worker.into(),
            host: "h".into(),
            holder: Holder { pid: 1, start: None },
            acquired_at: 1,
            expires_at: 9,
        }
    }

    #[test]
    fn merge_keeps_the_later_wall_and_the_leases_already_there() {
        let mut into = State { walls: vec![wall("a", 50)], leases: vec![lease("w1", "x")], ..State::default() };
        let source = State {
            walls: vec![wall("a", 40), wall("b", 60)],
            leases: vec![lease("w1", "y"), lease("w2", "y")],
            ..State::default()
        };
        assert_eq!(merge(&mut into, &source), (1, 1));
        assert_eq!(into.wall_of("a").unwrap().until, 50);
        assert_eq!(into.wall_of("b").unwrap().until, 60);
        assert_eq!(into.lease_of("w1").unwrap().account, "x");
        assert_eq!(into.lease_of("w2").unwrap().account, "y");
    }
}
