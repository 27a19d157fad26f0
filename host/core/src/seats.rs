//! Seats over a roster: turns the roster and the stored state into the pure
//! allocator's view, and its answers into leases and clear errors. Runs inside
//! a state update, so everything here sees and edits one locked snapshot.

use std::collections::{BTreeMap, BTreeSet};

use crate::alloc::{self, NoSeat, Seat};
use crate::credentials;
use crate::error::{Error, Result, usage};
use crate::holder::Holder;
use crate::plugin::Spec;
use crate::roster::{Account, Roster};
use crate::state::{Lease, State, WallRecord};
use crate::timefmt;
use crate::usage;

/// Who asks for a seat, for how long.
#[derive(Debug, Clone)]
pub struct Claim<'a> {
    pub agent: &'a str,
    pub worker: &'a str,
    pub host: &'a str,
    pub holder: Holder,
    pub ttl_secs: i64,
    pub now: i64,
    /// The agent's spec, to tell an account with nothing to log in with
    /// ([`credentials::missing`], asked of an account about to be picked):
    /// a free account with a credential wins. `None`: not told.
    pub spec: Option<&'a Spec>,
    /// The account the directory is bound to (`[[bind]]`): taken first
    /// when it serves and has room, unless the worker holds a seat already.
    pub prefer: Option<&'a str>,
}

impl Claim<'_> {
    fn missing_credential(&self, account: &Account) -> bool {
        self.spec.is_some_and(|spec| credentials::missing(account, spec))
    }
}

/// Drop dead and expired leases and lifted walls. Every update starts here.
pub fn prune(state: &mut State, host: &str, now: i64) {
    state.prune(now, host, Holder::is_alive);
}

/// The allocator's view of the agent's accounts, in roster order. Leases
/// and walls are counted in one pass each, so this stays linear in accounts
/// plus leases however large the roster and the state grow. Accounts of one
/// login share their walls, soft walls and readings ([`usage::quotas`]).
pub fn seats_of<'r>(roster: &'r Roster, agent: &str, state: &State, now: i64) -> (Vec<&'r Account>, Vec<Seat<'r>>) {
    let accounts: Vec<&Account> = roster.accounts.iter().filter(|a| a.agent == agent).collect();
    let mut used: BTreeMap<&str, u32> = BTreeMap::new();
    for lease in &state.leases {
        *used.entry(lease.account.as_str()).or_default() += 1;
    }
    let walls: BTreeMap<&str, i64> = state.walls.iter().map(|w| (w.account.as_str(), w.until)).collect();
    let quotas = usage::quotas(&accounts, state, now);
    // A login's wall is the latest of its accounts' walls.
    let mut group_wall: BTreeMap<usize, i64> = BTreeMap::new();
    for (account, quota) in accounts.iter().zip(&quotas) {
        if let Some(&until) = walls.get(account.name.as_str()) {
            let wall = group_wall.entry(quota.group).or_insert(until);
            *wall = (*wall).max(until);
        }
    }
    let seats = accounts
        .iter()
        .zip(&quotas)
        .map(|(a, quota)| Seat {
            name: &a.name,
            seats: a.seats,
            priority: a.priority,
            disabled: a.disabled,
            walled_until: group_wall.get(&quota.group).copied(),
            soft_walled_until: quota.soft_wall.as_ref().map(|w| w.until),
            headroom: quota.headroom,
            used: used.get(a.name.as_str()).copied().unwrap_or(0),
            last_leased: state.last_leased.get(&a.name).copied().unwrap_or(0),
            group: quota.group,
            missing_credential: false,
        })
        .collect();
    (accounts, seats)
}

/// Give `worker` a lease on `account` for the claim's TTL, keeping its
/// original acquisition time when it already held this account.
fn grant(state: &mut State, account: &Account, worker: &str, claim: &Claim<'_>) {
    let acquired_at = state.lease_of(worker).filter(|l| l.account == account.name).map_or(claim.now, |l| l.acquired_at);
    state.put_lease(Lease {
        account: account.name.clone(),
        worker: worker.to_owned(),
        host: claim.host.to_owned(),
        holder: claim.holder,
        acquired_at,
        expires_at: claim.now + claim.ttl_secs,
    });
}

/// Pick a seat for `claim.worker` and record its lease (sticky when its
/// current lease still serves). Returns the account.
pub fn lease_seat<'r>(roster: &'r Roster, state: &mut State, claim: &Claim<'_>) -> Result<&'r Account> {
    lease_seat_on(roster, state, claim, None)
}

/// [`lease_seat`], limited to the account named `only` when given (it must
/// be one of the claim's agent's accounts).
pub fn lease_seat_on<'r>(
    roster: &'r Roster,
    state: &mut State,
    claim: &Claim<'_>,
    only: Option<&str>,
) -> Result<&'r Account> {
    lease(roster, state, claim, only, false)
}

/// A seat again on `account` for a running worker whose lease went missing
/// (its TTL passed, or it was released elsewhere): the account's usage mark
/// keeps new work off it, not this worker, which goes on to its own wall.
pub fn relet_seat<'r>(roster: &'r Roster, state: &mut State, claim: &Claim<'_>, account: &str) -> Result<&'r Account> {
    lease(roster, state, claim, Some(account), true)
}

fn lease<'r>(
    roster: &'r Roster,
    state: &mut State,
    claim: &Claim<'_>,
    only: Option<&str>,
    running: bool,
) -> Result<&'r Account> {
    let (accounts, mut seats) = seats_of(roster, claim.agent, state, claim.now);
    if running {
        seats.iter_mut().for_each(|s| s.soft_walled_until = None);
    }
    let current = state.lease_of(claim.worker).map(|l| l.account.clone());
    // Other accounts stay in the view (a twin's leases fill the login), but
    // only `only` may be picked.
    let allowed = |i: usize| only.is_none_or(|name| accounts[i].name == name);
    let preferred = match (&current, claim.prefer) {
        (None, Some(name)) => alloc::pick_among(&seats, None, |i| allowed(i) && accounts[i].name == name),
        _ => None,
    };
    // Asked lazily, of the pick only (a stat or two): one found without a
    // credential ranks last and the pick is made again.
    let i = loop {
        if let Some(i) = preferred {
            break i;
        }
        let Some(i) = alloc::pick_among(&seats, current.as_deref(), allowed) else {
            let mut shown: Vec<alloc::Seat<'_>> =
                seats.iter().enumerate().filter(|(i, _)| allowed(*i)).map(|(_, s)| s.clone()).collect();
            shown.iter_mut().enumerate().for_each(|(i, s)| s.group = i);
            return Err(no_seat(&NoSeat::from_seats(claim.agent, &shown), claim.now));
        };
        if seats[i].missing_credential || !claim.missing_credential(accounts[i]) {
            break i;
        }
        seats[i].missing_credential = true;
    };
    let account = accounts[i];
    grant(state, account, claim.worker, claim);
    Ok(account)
}

/// When a wall recorded by [`wall_account`] lifts, and why then.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WallEnd {
    pub until: i64,
    /// The reset given was missing or past, so the roster's cooldown applies.
    pub by_cooldown: bool,
}

/// Wall `account` until `resets_at` when the agent said when its limit
/// resets, else for the roster's cooldown (which never shortens a longer
/// wall already recorded).
pub fn wall_account(
    roster: &Roster,
    state: &mut State,
    account: &str,
    resets_at: Option<i64>,
    now: i64,
    reason: Option<String>,
) -> WallEnd {
    let end = match resets_at.filter(|&t| t > now) {
        Some(until) => WallEnd { until, by_cooldown: false },
        None => {
            let cooldown = now + roster.wall_cooldown_secs;
            let until = state.wall_of(account).map_or(cooldown, |w| w.until.max(cooldown));
            WallEnd { until, by_cooldown: true }
        }
    };
    state.put_wall(WallRecord { account: account.to_owned(), until: end.until, since: now, reason });
    end
}

/// Lease seats for several workers at once: all of them, or none (the
/// error says how many fit). Returns `(worker, account)` pairs.
pub fn lease_many(
    roster: &Roster,
    state: &mut State,
    claim: &Claim<'_>,
    workers: &[String],
) -> Result<Vec<(String, String)>> {
    let (accounts, mut seats) = seats_of(roster, claim.agent, state, claim.now);
    for (seat, account) in seats.iter_mut().zip(&accounts) {
        seat.missing_credential = claim.missing_credential(account);
    }
    let agent_accounts: BTreeSet<&str> = accounts.iter().map(|a| a.name.as_str()).collect();
    let current: BTreeMap<&str, &str> = state
        .leases
        .iter()
        .filter(|l| agent_accounts.contains(l.account.as_str()))
        .map(|l| (l.worker.as_str(), l.account.as_str()))
        .collect();
    let names: Vec<&str> = workers.iter().map(String::as_str).collect();
    let picks = alloc::allocate(&seats, &names, &current, claim.now);
    let placed = picks.iter().flatten().count();
    if placed < workers.len() {
        let why = NoSeat::from_seats(claim.agent, &seats);
        let free = alloc::free_seats(&seats);
        let mut message = format!(
            "only {placed} of {} {} workers fit ({free} free seats), nothing was leased",
            workers.len(),
            claim.agent
        );
        if let Some((account, at)) = &why.first_reset {
            message += &format!(
                "; {} walled, first reset: {account} at {} (in {})",
                why.walled,
                timefmt::format_local_short(*at, claim.now),
                timefmt::format_span(at - claim.now)
            );
        }
        let mut json = no_seat_json(&why, claim.now);
        json["message"] = message.clone().into();
        return Err(Error::NoSeat { message, json, first_reset: why.first_reset.map(|(_, at)| at) });
    }
    let mut out = Vec::new();
    for (worker, pick) in workers.iter().zip(picks) {
        let account = accounts[pick.expect("all placed")];
        grant(state, account, worker, claim);
        out.push((worker.clone(), account.name.clone()));
    }
    Ok(out)
}

/// The agent to use: `--agent`, else the roster's `default_agent`, else
/// the one agent all the roster's accounts use; it must have accounts in
/// the roster. With several agents and no choice made, it is an error, never
/// a guess.
pub fn agent_for<'a>(roster: &'a Roster, agent: Option<&'a str>) -> Result<&'a str> {
    let only_one = || {
        let first = roster.accounts.first()?.agent.as_str();
        roster.accounts.iter().all(|a| a.agent == first).then_some(first)
    };
    if roster.accounts.is_empty() {
        return Err(usage(format!(
            "{} has no accounts yet; add one: accounts add NAME --agent KIND",
            roster.path.display()
        )));
    }
    let agent = agent.or(roster.default_agent.as_deref()).or_else(only_one).ok_or_else(|| {
        usage(format!(
            "no agent given and the roster has accounts of several agents; pass --agent KIND or set default_agent in {}",
            roster.path.display()
        ))
    })?;
    if !roster.accounts.iter().any(|a| a.agent == agent) {
        return Err(usage(format!(
            "no {agent} accounts in {}; add one: accounts add NAME --agent {agent}",
            roster.path.display()
        )));
    }
    Ok(agent)
}

/// Longest worker id: ids are shown in `status` and kept in the state.
pub const MAX_WORKER_ID_BYTES: usize = 128;

/// A worker id the user gave: non-empty, at most [`MAX_WORKER_ID_BYTES`],
/// no control characters (a newline would forge a line in `status`).
pub fn check_worker_id(id: &str) -> Result<()> {
    let problem = if id.is_empty() {
        "is empty"
    } else if id.len() > MAX_WORKER_ID_BYTES {
        "is longer than 128 bytes"
    } else if id.chars().any(char::is_control) {
        "contains a control character (a line break, tab or escape)"
    } else {
        return Ok(());
    };
    let shown: String = id.chars().take(40).flat_map(char::escape_debug).collect();
    Err(usage(format!("worker id \"{shown}\" {problem}; use a short printable name such as w1 or host-7")))
}

/// The account called `name`, or an error listing the names.
pub fn account<'r>(roster: &'r Roster, name: &str) -> Result<&'r Account> {
    roster.account(name).ok_or_else(|| {
        let names: Vec<&str> = roster.accounts.iter().map(|a| a.name.as_str()).collect();
        usage(format!("no account {name:?} in {}; accounts: {}", roster.path.display(), names.join(", ")))
    })
}

pub fn no_seat(why: &NoSeat, now: i64) -> Error {
    Error::NoSeat {
        message: why.message(now, |at| timefmt::format_local_short(at, now), timefmt::format_span),
        json: no_seat_json(why, now),
        first_reset: why.first_reset.as_ref().map(|(_, at)| *at),
    }
}

fn no_seat_json(why: &NoSeat, now: i64) -> serde_json::Value {
    serde_json::json!({
        "error": "no_seat",
        "agent": why.agent,
        "reason": why.reason(),
        "message": why.message(now, |at| timefmt::format_local_short(at, now), timefmt::format_span),
        "accounts": why.accounts,
        "walled": why.walled,
        "full": why.full,
        "disabled": why.disabled,
        "seats_used": why.seats_used,
        "seats_total": why.seats_total,
        "seats_open_used": why.open_used,
        "seats_open_total": why.open_total,
        "first_reset": why.first_reset.as_ref().map(|(account, at)| serde_json::json!({
            "account": account,
            "at": timefmt::format_instant(*at),
            "in_seconds": at - now,
        })),
    })
}
