//! The status report: every account with its seats, holders, wall and token
//! source (masked). Pure: roster, state and `now` in, JSON rows out; the
//! caller reads files and prints.

use std::collections::BTreeMap;

use serde_json::json;

use crate::roster::{Account, Roster};
use crate::state::{Lease, State, UsageRecord, WallRecord};
use crate::timefmt;
use crate::untrusted::Untrusted;
use crate::usage;

/// Where an account's token comes from (`file PATH`, `env VAR`, `none`) and
/// the token masked to its public prefix, when it could be read.
pub struct TokenInfo {
    pub source: String,
    pub masked: Option<String>,
}

/// One JSON object per roster account, in roster order. `token_of` describes
/// each account's token (the caller reads it). Leases are grouped once, so
/// the report is linear in accounts + leases.
pub fn rows(
    roster: &Roster,
    state: &State,
    now: i64,
    token_of: impl Fn(&Account) -> TokenInfo,
) -> Vec<serde_json::Value> {
    let mut leases: BTreeMap<&str, Vec<&Lease>> = BTreeMap::new();
    for lease in &state.leases {
        leases.entry(lease.account.as_str()).or_default().push(lease);
    }
    let walls: BTreeMap<&str, _> = state.walls.iter().map(|w| (w.account.as_str(), w)).collect();
    let quotas = quotas_by_account(roster, state, now);
    let logins = logins(roster, &quotas);
    roster
        .accounts
        .iter()
        .map(|a| {
            let held = leases.get(a.name.as_str()).map_or(&[][..], Vec::as_slice);
            let mut row = account_json(a, held, walls.get(a.name.as_str()).copied(), now, token_of(a));
            let quota = &quotas[a.name.as_str()];
            row["usage"] = quota.readings.iter().map(|r| reading_json(r, now)).collect();
            row["soft_wall"] = quota.soft_wall.as_ref().map_or(serde_json::Value::Null, |w| {
                json!({
                    "window": w.window,
                    "used_percent": f64::from(w.used_permille) / 10.0,
                    "wall_at_percent": a.wall_at.map(|m| f64::from(m) / 10.0),
                    "until": timefmt::format_instant(w.until),
                    "in_seconds": w.until - now,
                })
            });
            let login = &logins[&(a.agent.as_str(), quota.group)];
            row["same_quota_as"] = login.iter().filter(|n| **n != a.name).copied().collect::<Vec<_>>().into();
            row
        })
        .collect()
}

/// Every account's quota, each agent's accounts grouped by login.
fn quotas_by_account<'r>(roster: &'r Roster, state: &State, now: i64) -> BTreeMap<&'r str, usage::Quota> {
    let mut out = BTreeMap::new();
    let kinds: std::collections::BTreeSet<&str> = roster.accounts.iter().map(|a| a.agent.as_str()).collect();
    for kind in kinds {
        let accounts: Vec<&Account> = roster.accounts.iter().filter(|a| a.agent == kind).collect();
        for (account, quota) in accounts.iter().zip(usage::quotas(&accounts, state, now)) {
            // Group indexes are per kind (`quota_twins` compares within one).
            out.insert(account.name.as_str(), quota);
        }
    }
    out
}

/// The accounts of each login: (kind, group) to names, in roster order.
fn logins<'r>(roster: &'r Roster, quotas: &BTreeMap<&str, usage::Quota>) -> BTreeMap<(&'r str, usize), Vec<&'r str>> {
    let mut out: BTreeMap<(&str, usize), Vec<&str>> = BTreeMap::new();
    for a in &roster.accounts {
        out.entry((a.agent.as_str(), quotas[a.name.as_str()].group)).or_default().push(a.name.as_str());
    }
    out
}

fn reading_json(r: &UsageRecord, now: i64) -> serde_json::Value {
    json!({
        "window": r.window,
        "used_percent": f64::from(r.used_permille) / 10.0,
        "resets_at": r.resets_at.map(timefmt::format_instant),
        "resets_in_seconds": r.resets_at.map(|t| t - now),
        "seen_at": timefmt::format_instant(r.seen_at),
        "seen_on": r.host,
    })
}

fn account_json(
    account: &Account,
    held: &[&Lease],
    wall: Option<&WallRecord>,
    now: i64,
    token: TokenInfo,
) -> serde_json::Value {
    let leases: Vec<_> = held
        .iter()
        .map(|l| {
            json!({
                "worker": l.worker,
                "host": l.host,
                "pid": l.holder.pid,
                "acquired_at": timefmt::format_instant(l.acquired_at),
                "expires_at": timefmt::format_instant(l.expires_at),
                "expires_in_seconds": l.expires_at - now,
            })
        })
        .collect();
    let wall = wall.map(|w| {
        json!({
            "until": timefmt::format_instant(w.until),
            "in_seconds": w.until - now,
            "since": timefmt::format_instant(w.since),
            // Stored escaped; escaped again (a no-op) for state written by
            // older versions.
            "reason": w.reason.as_deref().map(Untrusted::new),
        })
    });
    json!({
        "name": account.name,
        "agent": account.agent,
        "config_dir": account.config_dir,
        "seats": account.seats,
        "used": leases.len(),
        "priority": account.priority,
        "disabled": account.disabled,
        "wall": wall,
        "leases": leases,
        "token_source": token.source,
        "token": token.masked,
    })
}
